// RUN: attnres-opt %s --attnres-decompose -split-input-file -verify-diagnostics | FileCheck %s
// RUN: attnres-opt %s --attnres-decompose --attnres-fuse -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FUSE

// CHECK-LABEL: func.func @forward(
// CHECK-SAME:    %[[V:.+]]: tensor<8x?x4096xbf16>, %[[Q:.+]]: tensor<4096xf32>, %[[G:.+]]: tensor<4096xf32>)
// CHECK:         %[[R:.+]] = attnres.rms_rstd %[[V]] {eps = 9.99999974E-6 : f32} : (tensor<8x?x4096xbf16>) -> tensor<?x8xf32>
// CHECK-NEXT:    %[[S:.+]] = attnres.score %[[V]], %[[R]], %[[Q]], %[[G]] : {{.*}} -> tensor<?x8xf32>
// CHECK-NEXT:    %[[A:.+]] = attnres.depth_softmax %[[S]] : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT:    %[[H:.+]] = attnres.mix %[[A]], %[[V]] : (tensor<?x8xf32>, tensor<8x?x4096xbf16>) -> tensor<?x4096xbf16>
// CHECK-NEXT:    return %[[H]], %[[A]], %[[R]]
// FUSE-LABEL:  func.func @forward(
// FUSE-NEXT:     attnres.forward %{{.+}}, %{{.+}}, %{{.+}} {eps = 9.99999974E-6 : f32}
// FUSE-NEXT:     return
func.func @forward(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-05 : f32}
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// The backward uses the saved alpha and rstd; the three f32 value partials
// are summed left to right and rounded once.
// CHECK-LABEL: func.func @backward(
// CHECK-SAME:    %[[DH:[^:]+]]: tensor<?x4096xbf16>, %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>, %[[A:[^:]+]]: tensor<?x8xf32>, %[[R:[^:]+]]: tensor<?x8xf32>)
// CHECK:         %[[DA:[^ ,]+]], %[[DV1:[^ ,]+]] = attnres.mix_grad %[[DH]], %[[A]], %[[V]] : {{.*}} -> (tensor<?x8xf32>, tensor<8x?x4096xf32>)
// CHECK-NEXT:    %[[DS:.+]] = attnres.depth_softmax_grad %[[A]], %[[DA]] : {{.*}} -> tensor<?x8xf32>
// CHECK-NEXT:    %[[DV2:[^ ,]+]], %[[DR:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.score_grad %[[DS]], %[[V]], %[[R]], %[[Q]], %[[G]] : {{.*}} -> (tensor<8x?x4096xf32>, tensor<?x8xf32>, tensor<4096xf32>, tensor<4096xf32>)
// CHECK-NEXT:    %[[DV3:.+]] = attnres.rms_rstd_grad %[[DR]], %[[V]], %[[R]] : {{.*}} -> tensor<8x?x4096xf32>
// CHECK-NEXT:    %[[S1:.+]] = arith.addf %[[DV1]], %[[DV2]] : tensor<8x?x4096xf32>
// CHECK-NEXT:    %[[S2:.+]] = arith.addf %[[S1]], %[[DV3]] : tensor<8x?x4096xf32>
// CHECK-NEXT:    %[[DV:.+]] = arith.truncf %[[S2]] : tensor<8x?x4096xf32> to tensor<8x?x4096xbf16>
// CHECK-NEXT:    return %[[DV]], %[[DQ]], %[[DG]]
// FUSE-LABEL:  func.func @backward(
// FUSE-SAME:     %[[DH:[^:]+]]: tensor<?x4096xbf16>, %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>, %[[A:[^:]+]]: tensor<?x8xf32>, %[[R:[^:]+]]: tensor<?x8xf32>)
// FUSE-NEXT:     %[[DV:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.backward %[[DH]], %[[V]], %[[Q]], %[[G]], %[[A]], %[[R]] :
// FUSE-NEXT:     return %[[DV]], %[[DQ]], %[[DG]]
func.func @backward(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>,
                    %q: tensor<4096xf32>, %g: tensor<4096xf32>,
                    %alpha: tensor<?x8xf32>, %rstd: tensor<?x8xf32>)
    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>,
         tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
}

// -----

// f32 storage: no rounding at the end.
// CHECK-LABEL: func.func @backward_f32(
// CHECK:         attnres.mix_grad
// CHECK:         %[[S1:.+]] = arith.addf
// CHECK-NEXT:    %[[S2:.+]] = arith.addf %[[S1]], %{{.+}} : tensor<4x?x64xf32>
// CHECK-NOT:     arith.truncf
// CHECK:         return %[[S2]],
func.func @backward_f32(%dh: tensor<?x64xf32>, %v: tensor<4x?x64xf32>,
                        %q: tensor<64xf32>, %g: tensor<64xf32>,
                        %alpha: tensor<?x4xf32>, %rstd: tensor<?x4xf32>)
    -> (tensor<4x?x64xf32>, tensor<64xf32>, tensor<64xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd
      : (tensor<?x64xf32>, tensor<4x?x64xf32>, tensor<64xf32>,
         tensor<64xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
      -> (tensor<4x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return %dv, %dq, %dg : tensor<4x?x64xf32>, tensor<64xf32>, tensor<64xf32>
}

// -----

// Static token counts and f16 parameters carry through.
// CHECK-LABEL: func.func @static_tokens(
// CHECK:         attnres.rms_rstd %{{.+}} : (tensor<2x16x8xf16>) -> tensor<16x2xf32>
// CHECK:         attnres.mix %{{.+}}, %{{.+}} : (tensor<16x2xf32>, tensor<2x16x8xf16>) -> tensor<16x8xf16>
func.func @static_tokens(%v: tensor<2x16x8xf16>, %q: tensor<8xf16>, %g: tensor<8xf16>)
    -> tensor<16x8xf16> {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<2x16x8xf16>, tensor<8xf16>, tensor<8xf16>)
      -> (tensor<16x8xf16>, tensor<16x2xf32>, tensor<16x2xf32>)
  return %h : tensor<16x8xf16>
}

// -----

func.func @sigmoid(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> tensor<?x64xbf16> {
  // expected-error @+1 {{variant normalizer = sigmoid is declared but not lowered yet}}
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<sigmoid>}
      : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x64xbf16>
}

// -----

func.func @value_norm(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>,
                      %q: tensor<64xf32>, %g: tensor<64xf32>,
                      %alpha: tensor<?x8xf32>, %rstd: tensor<?x8xf32>) -> tensor<8x?x64xbf16> {
  // expected-error @+1 {{variant norm_target = values is declared but not lowered yet}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd {norm_target = #attnres.norm_target<values>}
      : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>,
         tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return %dv : tensor<8x?x64xbf16>
}

// -----

func.func @valid_prefix(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> tensor<?x64xbf16> {
  // expected-error @+1 {{variant num_valid = 3 (valid prefix) is declared but not lowered yet}}
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {num_valid = 3 : i64}
      : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x64xbf16>
}

// -----

func.func @token_query(%v: tensor<8x?x64xbf16>, %q: tensor<?x64xf32>, %g: tensor<64xf32>)
    -> tensor<?x64xbf16> {
  // expected-error @+1 {{variant per-token query [M, D] is declared but not lowered yet}}
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<8x?x64xbf16>, tensor<?x64xf32>, tensor<64xf32>)
      -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x64xbf16>
}
