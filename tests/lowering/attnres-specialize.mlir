// RUN: split-file %s %t
// RUN: attnres-opt %t/spec.mlir --attnres-specialize="n=8 d=4096 dtype=bf16" -split-input-file -verify-diagnostics | FileCheck %t/spec.mlir
// RUN: attnres-opt %t/partial.mlir --attnres-specialize="n=4" | FileCheck %t/partial.mlir
// RUN: attnres-opt %t/partial.mlir --attnres-specialize | FileCheck %t/partial.mlir --check-prefix=NOOP
// RUN: attnres-opt %t/bad-n.mlir --attnres-specialize="n=100" -verify-diagnostics
// RUN: attnres-opt %t/bad-d.mlir --attnres-specialize="d=20000" -verify-diagnostics
// RUN: attnres-opt %t/bad-dtype.mlir --attnres-specialize="dtype=f64" -verify-diagnostics

//--- spec.mlir

// Dynamic N and D become the spec's; M stays dynamic, everywhere: the
// signature, the op and the returned values.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>)
// CHECK-SAME:    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK-NEXT:    attnres.forward %[[V]], %[[Q]], %[[G]] : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
func.func @forward(%v: tensor<?x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
    -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<?x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return %h, %alpha, %rstd : tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>
}

// -----

// The decomposed backward: the refinement flows through the f32 sums and
// the rounding into the result type. A static M stays.
// CHECK-LABEL: func.func @backward_graph(
// CHECK-SAME:    -> tensor<8x16x4096xbf16>
// CHECK:         attnres.mix_grad {{.*}} -> (tensor<16x8xf32>, tensor<8x16x4096xf32>)
// CHECK:         attnres.rms_rstd_grad {{.*}} -> tensor<8x16x4096xf32>
// CHECK-NEXT:    arith.addf {{.*}} : tensor<8x16x4096xf32>
// CHECK-NEXT:    arith.addf {{.*}} : tensor<8x16x4096xf32>
// CHECK-NEXT:    %[[DV:.+]] = arith.truncf {{.*}} : tensor<8x16x4096xf32> to tensor<8x16x4096xbf16>
// CHECK-NEXT:    return %[[DV]] : tensor<8x16x4096xbf16>
func.func @backward_graph(%dh: tensor<16x?xbf16>, %v: tensor<?x16x?xbf16>,
                          %q: tensor<?xf32>, %g: tensor<?xf32>,
                          %alpha: tensor<16x?xf32>, %rstd: tensor<16x?xf32>)
    -> tensor<?x16x?xbf16> {
  %da, %dv1 = attnres.mix_grad %dh, %alpha, %v
      : (tensor<16x?xbf16>, tensor<16x?xf32>, tensor<?x16x?xbf16>) -> (tensor<16x?xf32>, tensor<?x16x?xf32>)
  %ds = attnres.depth_softmax_grad %alpha, %da : (tensor<16x?xf32>, tensor<16x?xf32>) -> tensor<16x?xf32>
  %dv2, %dr, %dq, %dg = attnres.score_grad %ds, %v, %rstd, %q, %g
      : (tensor<16x?xf32>, tensor<?x16x?xbf16>, tensor<16x?xf32>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x16x?xf32>, tensor<16x?xf32>, tensor<?xf32>, tensor<?xf32>)
  %dv3 = attnres.rms_rstd_grad %dr, %v, %rstd
      : (tensor<16x?xf32>, tensor<?x16x?xbf16>, tensor<16x?xf32>) -> tensor<?x16x?xf32>
  %s12 = arith.addf %dv1, %dv2 : tensor<?x16x?xf32>
  %sum = arith.addf %s12, %dv3 : tensor<?x16x?xf32>
  %dv = arith.truncf %sum : tensor<?x16x?xf32> to tensor<?x16x?xbf16>
  return %dv : tensor<?x16x?xbf16>
}

// -----

// Values and dims unrelated to attnres stay: %w keeps its type, a foreign
// producer of g is cast to the refined type for the attnres op only, and
// a non-attnres user of V keeps seeing the type it was written for.
// CHECK-LABEL: func.func @unrelated(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[W:[^:]+]]: tensor<?x?xf32>, %[[D:[^:]+]]: index)
// CHECK-SAME:    -> (tensor<?x4096xbf16>, tensor<?x?xf32>, index, tensor<?xf32>)
// CHECK:         %[[G0:.+]] = tensor.splat %{{.+}}[%[[D]]] : tensor<?xf32>
// CHECK-NEXT:    %[[G:.+]] = tensor.cast %[[G0]] : tensor<?xf32> to tensor<4096xf32>
// CHECK-NEXT:    %[[H:[^ ,]+]], %{{.+}} = attnres.forward %[[V]], %[[Q]], %[[G]]
// CHECK-NEXT:    %[[NW:.+]] = arith.negf %[[W]] : tensor<?x?xf32>
// CHECK:         %[[VD:.+]] = tensor.cast %[[V]] : tensor<8x?x4096xbf16> to tensor<?x?x?xbf16>
// CHECK-NEXT:    %[[M:.+]] = tensor.dim %[[VD]],
// CHECK-NEXT:    return %[[H]], %[[NW]], %[[M]], %[[G0]] : tensor<?x4096xbf16>, tensor<?x?xf32>, index, tensor<?xf32>
func.func @unrelated(%v: tensor<?x?x?xbf16>, %q: tensor<?xf32>, %w: tensor<?x?xf32>, %d: index)
    -> (tensor<?x?xbf16>, tensor<?x?xf32>, index, tensor<?xf32>) {
  %one = arith.constant 1.0 : f32
  %g = tensor.splat %one[%d] : tensor<?xf32>
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<?x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  %nw = arith.negf %w : tensor<?x?xf32>
  %c1 = arith.constant 1 : index
  %m = tensor.dim %v, %c1 : tensor<?x?x?xbf16>
  return %h, %nw, %m, %g : tensor<?x?xbf16>, tensor<?x?xf32>, index, tensor<?xf32>
}

// -----

// expected-error @+1 {{spec says N = 8 but function @four_sources has N = 4 in argument #0}}
func.func @four_sources(%v: tensor<4x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
    -> tensor<?x?xbf16> {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<4x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x?xbf16>, tensor<?x4xf32>, tensor<?x4xf32>)
  return %h : tensor<?x?xbf16>
}

// -----

func.func @narrow_result(%v: tensor<?x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
    -> tensor<?x1024xbf16> {
  // expected-error @+1 {{spec says D = 4096 but function @narrow_result has D = 1024 in result #0 of 'attnres.forward'}}
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<?x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x1024xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return %h : tensor<?x1024xbf16>
}

// -----

// expected-error @+1 {{spec says dtype = bf16 but function @half has element type f16 in argument #0}}
func.func @half(%v: tensor<?x?x?xf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
    -> tensor<?x?xf16> {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<?x?x?xf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x?xf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return %h : tensor<?x?xf16>
}

// -----

// expected-error @+1 {{attnres-specialize: cannot change the signature of @callee because it has callers}}
func.func @callee(%v: tensor<?x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
    -> tensor<?x?xbf16> {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<?x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return %h : tensor<?x?xbf16>
}
func.func @caller(%v: tensor<?x?x?xbf16>, %q: tensor<?xf32>) -> tensor<?x?xbf16> {
  %h = func.call @callee(%v, %q, %q)
      : (tensor<?x?x?xbf16>, tensor<?xf32>, tensor<?xf32>) -> tensor<?x?xbf16>
  return %h : tensor<?x?xbf16>
}

// -----

// One tensor used as alpha [M, N] and as a per-token query [M, D].
// expected-error @+1 {{spec gives N = 8 and D = 4096 to dimension 1 of argument #1 in function @n_and_d}}
func.func @n_and_d(%v: tensor<?x?x?xbf16>, %a: tensor<?x?xf32>, %g: tensor<?xf32>)
    -> (tensor<?x?xbf16>, tensor<?x?xf32>) {
  %h = attnres.mix %a, %v : (tensor<?x?xf32>, tensor<?x?x?xbf16>) -> tensor<?x?xbf16>
  %r = attnres.rms_rstd %v : (tensor<?x?x?xbf16>) -> tensor<?x?xf32>
  %s = attnres.score %v, %r, %a, %g
      : (tensor<?x?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  return %h, %s : tensor<?x?xbf16>, tensor<?x?xf32>
}

//--- partial.mlir

// Only N is given: D and the element type stay as they are.
// CHECK-LABEL: func.func @graph(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<4x?x?xf16>, %{{[^:]+}}: tensor<?xf16>, %{{[^:]+}}: tensor<?xf16>)
// CHECK-SAME:    -> (tensor<?x?xf16>, tensor<?x4xf32>)
// CHECK-NEXT:    attnres.rms_rstd %[[V]] {{.*}} -> tensor<?x4xf32>
// CHECK-NEXT:    attnres.score {{.*}} -> tensor<?x4xf32>
// CHECK-NEXT:    attnres.depth_softmax {{.*}} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT:    attnres.mix {{.*}} : (tensor<?x4xf32>, tensor<4x?x?xf16>) -> tensor<?x?xf16>
// NOOP-LABEL:  func.func @graph(
// NOOP-SAME:     tensor<?x?x?xf16>, %{{[^:]+}}: tensor<?xf16>, %{{[^:]+}}: tensor<?xf16>)
// NOOP-SAME:     -> (tensor<?x?xf16>, tensor<?x?xf32>)
// NOOP:          attnres.mix {{.*}} : (tensor<?x?xf32>, tensor<?x?x?xf16>) -> tensor<?x?xf16>
func.func @graph(%v: tensor<?x?x?xf16>, %q: tensor<?xf16>, %g: tensor<?xf16>)
    -> (tensor<?x?xf16>, tensor<?x?xf32>) {
  %rstd = attnres.rms_rstd %v : (tensor<?x?x?xf16>) -> tensor<?x?xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<?x?x?xf16>, tensor<?x?xf32>, tensor<?xf16>, tensor<?xf16>) -> tensor<?x?xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %h = attnres.mix %alpha, %v : (tensor<?x?xf32>, tensor<?x?x?xf16>) -> tensor<?x?xf16>
  return %h, %alpha : tensor<?x?xf16>, tensor<?x?xf32>
}

//--- bad-n.mlir

// expected-error @+1 {{attnres-specialize: n = 100 is outside [1, 64]}}
module {
}

//--- bad-d.mlir

// expected-error @+1 {{attnres-specialize: d = 20000 is outside [1, 16384]}}
module {
}

//--- bad-dtype.mlir

// expected-error @+1 {{attnres-specialize: dtype = 'f64' is not one of f32, f16, bf16}}
module {
}
