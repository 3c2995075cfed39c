// RUN: attnres-opt %s --attnres-fuse -split-input-file -verify-diagnostics | FileCheck %s

// The graph forward of examples/attnres_graph.mlir: alpha and rstd are
// returned, so the fused op's statistics replace them.
// CHECK-LABEL: func.func @attnres_forward_graph(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>)
// CHECK-NEXT:    %[[H:[^ ,]+]], %[[A:[^ ,]+]], %[[R:[^ ,]+]] = attnres.forward %[[V]], %[[Q]], %[[G]] : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK-NEXT:    return %[[H]], %[[A]], %[[R]]
func.func @attnres_forward_graph(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                                 %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %rstd = attnres.rms_rstd %v {eps = 1.0e-06 : f32}
      : (tensor<8x?x4096xbf16>) -> tensor<?x8xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<8x?x4096xbf16>, tensor<?x8xf32>, tensor<4096xf32>, tensor<4096xf32>)
      -> tensor<?x8xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %h = attnres.mix %alpha, %v
      : (tensor<?x8xf32>, tensor<8x?x4096xbf16>) -> tensor<?x4096xbf16>
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Forward and backward in one function; the backward's sum is associated
// differently from what attnres-decompose emits, and eps comes from the
// rms_rstd that produced rstd. q is computed after rstd, so the fused
// forward goes where the scores were.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<4x?x64xf16>, %[[Q0:[^:]+]]: tensor<64xf32>, %[[G:[^:]+]]: tensor<64xf32>, %[[DH:[^:]+]]: tensor<?x64xf16>)
// CHECK-NEXT:    %[[Q:.+]] = arith.negf %[[Q0]]
// CHECK-NEXT:    %[[H:[^ ,]+]], %[[A:[^ ,]+]], %[[R:[^ ,]+]] = attnres.forward %[[V]], %[[Q]], %[[G]] {eps = 9.99999974E-6 : f32}
// CHECK-NEXT:    %[[DV:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.backward %[[DH]], %[[V]], %[[Q]], %[[G]], %[[A]], %[[R]] {eps = 9.99999974E-6 : f32} : (tensor<?x64xf16>, tensor<4x?x64xf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<4x?x64xf16>, tensor<64xf32>, tensor<64xf32>)
// CHECK-NEXT:    return %[[H]], %[[DV]], %[[DQ]], %[[DG]]
func.func @train_step(%v: tensor<4x?x64xf16>, %q0: tensor<64xf32>, %g: tensor<64xf32>,
                      %dh: tensor<?x64xf16>)
    -> (tensor<?x64xf16>, tensor<4x?x64xf16>, tensor<64xf32>, tensor<64xf32>) {
  %rstd = attnres.rms_rstd %v {eps = 1.0e-05 : f32} : (tensor<4x?x64xf16>) -> tensor<?x4xf32>
  %q = arith.negf %q0 : tensor<64xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<4x?x64xf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x4xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %h = attnres.mix %alpha, %v : (tensor<?x4xf32>, tensor<4x?x64xf16>) -> tensor<?x64xf16>
  %da, %dv1 = attnres.mix_grad %dh, %alpha, %v
      : (tensor<?x64xf16>, tensor<?x4xf32>, tensor<4x?x64xf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  %ds = attnres.depth_softmax_grad %alpha, %da : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %dv2, %dr, %dq, %dg = attnres.score_grad %ds, %v, %rstd, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  %dv3 = attnres.rms_rstd_grad %dr, %v, %rstd
      : (tensor<?x4xf32>, tensor<4x?x64xf16>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  %s23 = arith.addf %dv3, %dv2 : tensor<4x?x64xf32>
  %sum = arith.addf %s23, %dv1 : tensor<4x?x64xf32>
  %dv = arith.truncf %sum : tensor<4x?x64xf32> to tensor<4x?x64xf16>
  return %h, %dv, %dq, %dg : tensor<?x64xf16>, tensor<4x?x64xf16>, tensor<64xf32>, tensor<64xf32>
}

// -----

// f32 storage: the sum itself is dV.
// CHECK-LABEL: func.func @backward_f32(
// CHECK-NEXT:    %[[DV:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.backward
// CHECK-NEXT:    return %[[DV]], %[[DQ]], %[[DG]]
func.func @backward_f32(%dh: tensor<?x64xf32>, %v: tensor<4x?x64xf32>,
                        %q: tensor<64xf32>, %g: tensor<64xf32>,
                        %alpha: tensor<?x4xf32>, %rstd: tensor<?x4xf32>)
    -> (tensor<4x?x64xf32>, tensor<64xf32>, tensor<64xf32>) {
  %da, %dv1 = attnres.mix_grad %dh, %alpha, %v
      : (tensor<?x64xf32>, tensor<?x4xf32>, tensor<4x?x64xf32>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  %ds = attnres.depth_softmax_grad %alpha, %da : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %dv2, %dr, %dq, %dg = attnres.score_grad %ds, %v, %rstd, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  %dv3 = attnres.rms_rstd_grad %dr, %v, %rstd
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  %s12 = arith.addf %dv1, %dv2 : tensor<4x?x64xf32>
  %sum = arith.addf %s12, %dv3 : tensor<4x?x64xf32>
  return %sum, %dq, %dg : tensor<4x?x64xf32>, tensor<64xf32>, tensor<64xf32>
}

// -----

// The scores are returned: attnres.forward cannot provide them.
// CHECK-LABEL: func.func @scores_escape(
// CHECK-NOT:     attnres.forward
// CHECK:         attnres.rms_rstd
// CHECK:         attnres.score
// CHECK:         attnres.depth_softmax
// CHECK:         attnres.mix
func.func @scores_escape(%v: tensor<2x?x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>)
    -> (tensor<?x8xf32>, tensor<?x2xf32>) {
  %rstd = attnres.rms_rstd %v : (tensor<2x?x8xf32>) -> tensor<?x2xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<2x?x8xf32>, tensor<?x2xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x2xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %h = attnres.mix %alpha, %v : (tensor<?x2xf32>, tensor<2x?x8xf32>) -> tensor<?x8xf32>
  return %h, %s : tensor<?x8xf32>, tensor<?x2xf32>
}

// -----

// The mix reads other values than the scores did: not one AttnRes.
// CHECK-LABEL: func.func @two_value_sets(
// CHECK-NOT:     attnres.forward
// CHECK:         attnres.mix
func.func @two_value_sets(%v: tensor<2x?x8xf32>, %w: tensor<2x?x8xf32>,
                          %q: tensor<8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  %rstd = attnres.rms_rstd %v : (tensor<2x?x8xf32>) -> tensor<?x2xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<2x?x8xf32>, tensor<?x2xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x2xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %h = attnres.mix %alpha, %w : (tensor<?x2xf32>, tensor<2x?x8xf32>) -> tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}

// -----

// rstd is read before q exists, so the fused op has no place to go.
// CHECK-LABEL: func.func @rstd_read_early(
// CHECK-NOT:     attnres.forward
// CHECK:         attnres.mix
func.func @rstd_read_early(%v: tensor<2x?x8xf32>, %q0: tensor<8xf32>, %g: tensor<8xf32>)
    -> (tensor<?x8xf32>, tensor<?x2xf32>) {
  %rstd = attnres.rms_rstd %v : (tensor<2x?x8xf32>) -> tensor<?x2xf32>
  %r2 = arith.mulf %rstd, %rstd : tensor<?x2xf32>
  %q = arith.negf %q0 : tensor<8xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<2x?x8xf32>, tensor<?x2xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x2xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %h = attnres.mix %alpha, %v : (tensor<?x2xf32>, tensor<2x?x8xf32>) -> tensor<?x8xf32>
  return %h, %r2 : tensor<?x8xf32>, tensor<?x2xf32>
}

// -----

// A partial value gradient is also returned: attnres.backward cannot
// provide it, so the chain stays.
// CHECK-LABEL: func.func @partial_escapes(
// CHECK-NOT:     attnres.backward
// CHECK:         attnres.mix_grad
// CHECK:         attnres.rms_rstd_grad
func.func @partial_escapes(%dh: tensor<?x64xf32>, %v: tensor<4x?x64xf32>,
                           %q: tensor<64xf32>, %g: tensor<64xf32>,
                           %alpha: tensor<?x4xf32>, %rstd: tensor<?x4xf32>)
    -> (tensor<4x?x64xf32>, tensor<4x?x64xf32>) {
  %da, %dv1 = attnres.mix_grad %dh, %alpha, %v
      : (tensor<?x64xf32>, tensor<?x4xf32>, tensor<4x?x64xf32>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  %ds = attnres.depth_softmax_grad %alpha, %da : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %dv2, %dr, %dq, %dg = attnres.score_grad %ds, %v, %rstd, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  %dv3 = attnres.rms_rstd_grad %dr, %v, %rstd
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  %s12 = arith.addf %dv1, %dv2 : tensor<4x?x64xf32>
  %sum = arith.addf %s12, %dv3 : tensor<4x?x64xf32>
  return %sum, %s12 : tensor<4x?x64xf32>, tensor<4x?x64xf32>
}

// -----

// The sum misses the rms_rstd partial: not the AttnRes backward.
// CHECK-LABEL: func.func @missing_partial(
// CHECK-NOT:     attnres.backward
// CHECK:         attnres.mix_grad
func.func @missing_partial(%dh: tensor<?x64xf32>, %v: tensor<4x?x64xf32>,
                           %q: tensor<64xf32>, %g: tensor<64xf32>,
                           %alpha: tensor<?x4xf32>, %rstd: tensor<?x4xf32>)
    -> (tensor<4x?x64xf32>, tensor<4x?x64xf32>) {
  %da, %dv1 = attnres.mix_grad %dh, %alpha, %v
      : (tensor<?x64xf32>, tensor<?x4xf32>, tensor<4x?x64xf32>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  %ds = attnres.depth_softmax_grad %alpha, %da : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %dv2, %dr, %dq, %dg = attnres.score_grad %ds, %v, %rstd, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  %dv3 = attnres.rms_rstd_grad %dr, %v, %rstd
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  %s12 = arith.addf %dv1, %dv2 : tensor<4x?x64xf32>
  return %s12, %dv3 : tensor<4x?x64xf32>, tensor<4x?x64xf32>
}
