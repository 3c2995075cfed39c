// The exact N = 1 simplifications (alpha = 1, h = v_0, ds = 0, zero weight
// gradients) and the cases that must stay untouched.
// RUN: attnres-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @forward_n1(
// CHECK-SAME: %[[V:[^:]+]]: tensor<1x?x64xbf16>
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[H:.+]] = tensor.collapse_shape %[[V]] {{\[\[}}0, 1], [2]] : tensor<1x?x64xbf16> into tensor<?x64xbf16>
// CHECK-DAG: %[[R:.+]] = attnres.rms_rstd %[[V]] {eps = 5.000000e-01 : f32} : (tensor<1x?x64xbf16>) -> tensor<?x1xf32>
// CHECK-DAG: %[[M:.+]] = tensor.dim %[[R]], %[[C0]] : tensor<?x1xf32>
// CHECK-DAG: %[[A:.+]] = tensor.splat %[[ONE]][%[[M]]] : tensor<?x1xf32>
// CHECK-NOT: attnres.forward
// CHECK: return %[[H]], %[[A]], %[[R]] : tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xf32>
func.func @forward_n1(%v: tensor<1x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> (tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g {eps = 0.5 : f32}
      : (tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xf32>)
  return %h, %a, %r : tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xf32>
}

// -----

// Static alpha folds to a dense constant; result types that are less static
// than the values get a tensor.cast.
// CHECK-LABEL: func.func @forward_n1_static_token_query(
// CHECK-SAME: %[[V:[^:]+]]: tensor<1x5x7xf16>
// CHECK-DAG: %[[A:.+]] = arith.constant dense<1.000000e+00> : tensor<5x1xf32>
// CHECK-DAG: %[[C:.+]] = tensor.collapse_shape %[[V]] {{\[\[}}0, 1], [2]] : tensor<1x5x7xf16> into tensor<5x7xf16>
// CHECK-DAG: %[[H:.+]] = tensor.cast %[[C]] : tensor<5x7xf16> to tensor<?x?xf16>
// CHECK-DAG: %[[R:.+]] = attnres.rms_rstd %[[V]] : (tensor<1x5x7xf16>) -> tensor<?x?xf32>
// CHECK-NOT: attnres.forward
// CHECK: return %[[H]], %[[A]], %[[R]]
func.func @forward_n1_static_token_query(%v: tensor<1x5x7xf16>, %q: tensor<5x7xf16>,
                                         %g: tensor<7xf32>)
    -> (tensor<?x?xf16>, tensor<5x1xf32>, tensor<?x?xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<1x5x7xf16>, tensor<5x7xf16>, tensor<7xf32>)
      -> (tensor<?x?xf16>, tensor<5x1xf32>, tensor<?x?xf32>)
  return %h, %a, %r : tensor<?x?xf16>, tensor<5x1xf32>, tensor<?x?xf32>
}

// -----

// A sigmoid gate gives alpha = sigmoid(s) != 1 even for one source, and
// normalized values give h = RMSNorm(v_0) != v_0: no rewrite.
// CHECK-LABEL: func.func @forward_n1_variants_kept(
// CHECK: attnres.forward {{.+}}normalizer = #attnres.normalizer<sigmoid>
// CHECK: attnres.forward {{.+}}norm_target = #attnres.norm_target<values>
// CHECK-NOT: tensor.collapse_shape
// CHECK: return
func.func @forward_n1_variants_kept(%v: tensor<1x?x64xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<sigmoid>}
      : (tensor<1x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xf32>, tensor<?x1xf32>, tensor<?x1xf32>)
  %h2, %a2, %r2 = attnres.forward %v, %q, %g {norm_target = #attnres.norm_target<values>}
      : (tensor<1x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xf32>, tensor<?x1xf32>, tensor<?x1xf32>)
  return %h, %h2 : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @forward_n8_kept(
// CHECK: %[[H:.+]], %[[A:.+]], %[[R:.+]] = attnres.forward
// CHECK-SAME: -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK: return %[[H]], %[[A]], %[[R]]
// CHECK-LABEL: func.func @forward_dynamic_n_kept(
// CHECK: attnres.forward
// CHECK-NOT: tensor.collapse_shape
func.func @forward_n8_kept(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %a, %r : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}
func.func @forward_dynamic_n_kept(%v: tensor<?x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> tensor<?x64xbf16> {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<?x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xbf16>, tensor<?x1xf32>, tensor<?x1xf32>)
  return %h : tensor<?x64xbf16>
}

// -----

// CHECK-LABEL: func.func @backward_n1(
// CHECK-SAME: %[[DH:[^:]+]]: tensor<?x64xbf16>
// CHECK-DAG: %[[ZERO:.+]] = arith.constant dense<0.000000e+00> : tensor<64xf32>
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[M:.+]] = tensor.dim %[[DH]], %[[C0]] : tensor<?x64xbf16>
// CHECK-DAG: %[[DV:.+]] = tensor.expand_shape %[[DH]] {{\[\[}}0, 1], [2]] output_shape [1, %[[M]], 64] : tensor<?x64xbf16> into tensor<1x?x64xbf16>
// CHECK-NOT: attnres.backward
// CHECK: return %[[DV]], %[[ZERO]], %[[ZERO]] : tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>
func.func @backward_n1(%dh: tensor<?x64xbf16>, %v: tensor<1x?x64xbf16>, %q: tensor<64xf32>,
                       %g: tensor<64xf32>, %a: tensor<?x1xf32>, %r: tensor<?x1xf32>)
    -> (tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x64xbf16>, tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>,
         tensor<?x1xf32>, tensor<?x1xf32>)
      -> (tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return %dv, %dq, %dg : tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>
}

// -----

// Dynamic parameter shapes: the zero gradients are splats sized like the
// parameters, in their own element types; the gradient of the values is cast
// back to its more static type.
// CHECK-LABEL: func.func @backward_n1_dynamic_token_query(
// CHECK-SAME: %[[DH:[^:]+]]: tensor<?x?xf16>, %{{[^:]+}}: tensor<1x3x?xf16>, %[[Q:[^:]+]]: tensor<?x?xbf16>, %[[G:[^:]+]]: tensor<?xf32>
// CHECK-DAG: %[[ZF:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[ZB:.+]] = arith.constant 0.000000e+00 : bf16
// CHECK-DAG: %[[E:.+]] = tensor.expand_shape %[[DH]] {{\[\[}}0, 1], [2]] output_shape [1, %{{.+}}, %{{.+}}] : tensor<?x?xf16> into tensor<1x?x?xf16>
// CHECK-DAG: %[[QM:.+]] = tensor.dim %[[Q]], %{{.+}} : tensor<?x?xbf16>
// CHECK-DAG: %[[DQ:.+]] = tensor.splat %[[ZB]][%{{.+}}, %{{.+}}] : tensor<?x?xbf16>
// CHECK-DAG: %[[GD:.+]] = tensor.dim %[[G]], %{{.+}} : tensor<?xf32>
// CHECK-DAG: %[[DG:.+]] = tensor.splat %[[ZF]][%[[GD]]] : tensor<?xf32>
// CHECK-DAG: %[[DV:.+]] = tensor.cast %[[E]] : tensor<1x?x?xf16> to tensor<1x3x?xf16>
// CHECK-NOT: attnres.backward
// CHECK: return %[[DV]], %[[DQ]], %[[DG]]
func.func @backward_n1_dynamic_token_query(%dh: tensor<?x?xf16>, %v: tensor<1x3x?xf16>,
                                           %q: tensor<?x?xbf16>, %g: tensor<?xf32>,
                                           %a: tensor<?x?xf32>, %r: tensor<?x?xf32>)
    -> (tensor<1x3x?xf16>, tensor<?x?xbf16>, tensor<?xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x?xf16>, tensor<1x3x?xf16>, tensor<?x?xbf16>, tensor<?xf32>,
         tensor<?x?xf32>, tensor<?x?xf32>)
      -> (tensor<1x3x?xf16>, tensor<?x?xbf16>, tensor<?xf32>)
  return %dv, %dq, %dg : tensor<1x3x?xf16>, tensor<?x?xbf16>, tensor<?xf32>
}

// -----

// CHECK-LABEL: func.func @backward_kept(
// CHECK: attnres.backward {{.+}}normalizer = #attnres.normalizer<sigmoid>
// CHECK-SAME: tensor<1x?x64xf32>
// CHECK: attnres.backward
// CHECK-SAME: tensor<2x?x64xf32>
// CHECK-NOT: tensor.expand_shape
// CHECK: return
func.func @backward_kept(%dh: tensor<?x64xf32>, %v: tensor<1x?x64xf32>, %v2: tensor<2x?x64xf32>,
                         %q: tensor<64xf32>, %a: tensor<?x1xf32>, %a2: tensor<?x2xf32>)
    -> (tensor<64xf32>, tensor<64xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %q, %a, %a {normalizer = #attnres.normalizer<sigmoid>}
      : (tensor<?x64xf32>, tensor<1x?x64xf32>, tensor<64xf32>, tensor<64xf32>,
         tensor<?x1xf32>, tensor<?x1xf32>)
      -> (tensor<1x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
  %dv2, %dq2, %dg2 = attnres.backward %dh, %v2, %q, %q, %a2, %a2
      : (tensor<?x64xf32>, tensor<2x?x64xf32>, tensor<64xf32>, tensor<64xf32>,
         tensor<?x2xf32>, tensor<?x2xf32>)
      -> (tensor<2x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return %dq, %dq2 : tensor<64xf32>, tensor<64xf32>
}

// -----

// CHECK-LABEL: func.func @depth_softmax_n1(
// CHECK-SAME: %[[S:[^:]+]]: tensor<?x1xf32>
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[M:.+]] = tensor.dim %[[S]], %[[C0]] : tensor<?x1xf32>
// CHECK-DAG: %[[A:.+]] = tensor.splat %[[ONE]][%[[M]]] : tensor<?x1xf32>
// CHECK-NOT: attnres.depth_softmax
// CHECK: return %[[A]]
// CHECK-LABEL: func.func @depth_softmax_n1_static(
// CHECK: %[[A:.+]] = arith.constant dense<1.000000e+00> : tensor<3x1xf32>
// CHECK-NEXT: return %[[A]]
// CHECK-LABEL: func.func @depth_softmax_kept(
// CHECK: attnres.depth_softmax %{{.+}} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: attnres.depth_softmax %{{.+}} : (tensor<?x?xf32>) -> tensor<?x1xf32>
func.func @depth_softmax_n1(%s: tensor<?x1xf32>) -> tensor<?x1xf32> {
  %a = attnres.depth_softmax %s : (tensor<?x1xf32>) -> tensor<?x1xf32>
  return %a : tensor<?x1xf32>
}
func.func @depth_softmax_n1_static(%s: tensor<3x1xf32>) -> tensor<3x1xf32> {
  %a = attnres.depth_softmax %s : (tensor<3x1xf32>) -> tensor<3x1xf32>
  return %a : tensor<3x1xf32>
}
// N = 1 known only from the result: not matched (the pattern reads the scores).
func.func @depth_softmax_kept(%s: tensor<?x4xf32>, %t: tensor<?x?xf32>)
    -> (tensor<?x4xf32>, tensor<?x1xf32>) {
  %a = attnres.depth_softmax %s : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %b = attnres.depth_softmax %t : (tensor<?x?xf32>) -> tensor<?x1xf32>
  return %a, %b : tensor<?x4xf32>, tensor<?x1xf32>
}

// -----

// CHECK-LABEL: func.func @depth_softmax_grad_n1(
// CHECK: %[[Z:.+]] = arith.constant dense<0.000000e+00> : tensor<4x1xf32>
// CHECK-NEXT: return %[[Z]]
// CHECK-LABEL: func.func @depth_softmax_grad_n1_dynamic(
// CHECK-SAME: %[[A:[^:]+]]: tensor<?x1xf32>
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[M:.+]] = tensor.dim %[[A]], %{{.+}} : tensor<?x1xf32>
// CHECK-DAG: %[[DS:.+]] = tensor.splat %[[ZERO]][%[[M]]] : tensor<?x1xf32>
// CHECK-NOT: attnres.depth_softmax_grad
// CHECK: return %[[DS]]
// CHECK-LABEL: func.func @depth_softmax_grad_kept(
// CHECK: attnres.depth_softmax_grad %{{.+}} : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
func.func @depth_softmax_grad_n1(%a: tensor<4x1xf32>, %da: tensor<4x1xf32>) -> tensor<4x1xf32> {
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<4x1xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  return %ds : tensor<4x1xf32>
}
func.func @depth_softmax_grad_n1_dynamic(%a: tensor<?x1xf32>, %da: tensor<?x1xf32>) -> tensor<?x1xf32> {
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x1xf32>, tensor<?x1xf32>) -> tensor<?x1xf32>
  return %ds : tensor<?x1xf32>
}
func.func @depth_softmax_grad_kept(%a: tensor<?x2xf32>, %da: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %ds : tensor<?x2xf32>
}

// -----

// CHECK-LABEL: func.func @mix_n1_splat_of_ones(
// CHECK-SAME: %[[V:[^:]+]]: tensor<1x?x64xbf16>
// CHECK-NEXT: %[[H:.+]] = tensor.collapse_shape %[[V]] {{\[\[}}0, 1], [2]] : tensor<1x?x64xbf16> into tensor<?x64xbf16>
// CHECK-NEXT: return %[[H]]
// CHECK-LABEL: func.func @mix_n1_dense_ones(
// CHECK-SAME: %[[V:[^:]+]]: tensor<1x4x8xf32>
// CHECK-NEXT: %[[H:.+]] = tensor.collapse_shape %[[V]] {{\[\[}}0, 1], [2]] : tensor<1x4x8xf32> into tensor<4x8xf32>
// CHECK-NEXT: %[[C:.+]] = tensor.cast %[[H]] : tensor<4x8xf32> to tensor<?x8xf32>
// CHECK-NEXT: return %[[C]]
func.func @mix_n1_splat_of_ones(%v: tensor<1x?x64xbf16>, %m: index) -> tensor<?x64xbf16> {
  %one = arith.constant 1.0 : f32
  %a = tensor.splat %one[%m] : tensor<?x1xf32>
  %h = attnres.mix %a, %v : (tensor<?x1xf32>, tensor<1x?x64xbf16>) -> tensor<?x64xbf16>
  return %h : tensor<?x64xbf16>
}
func.func @mix_n1_dense_ones(%v: tensor<1x4x8xf32>) -> tensor<?x8xf32> {
  %a = arith.constant dense<1.0> : tensor<4x1xf32>
  %h = attnres.mix %a, %v : (tensor<4x1xf32>, tensor<1x4x8xf32>) -> tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}

// -----

// Alpha not known to be one, or more than one source: h stays a mix.
// CHECK-LABEL: func.func @mix_kept(
// CHECK-COUNT-4: attnres.mix
// CHECK-NOT: tensor.collapse_shape
// CHECK: return
func.func @mix_kept(%v1: tensor<1x4x8xf32>, %v2: tensor<2x4x8xf32>, %a: tensor<4x1xf32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %half = arith.constant dense<0.5> : tensor<4x1xf32>
  %h1 = attnres.mix %half, %v1 : (tensor<4x1xf32>, tensor<1x4x8xf32>) -> tensor<4x8xf32>
  %h2 = attnres.mix %a, %v1 : (tensor<4x1xf32>, tensor<1x4x8xf32>) -> tensor<4x8xf32>
  %ones = arith.constant dense<1.0> : tensor<4x2xf32>
  %h3 = attnres.mix %ones, %v2 : (tensor<4x2xf32>, tensor<2x4x8xf32>) -> tensor<4x8xf32>
  %mixed = arith.constant dense<[[1.0], [1.0], [0.0], [1.0]]> : tensor<4x1xf32>
  %h4 = attnres.mix %mixed, %v1 : (tensor<4x1xf32>, tensor<1x4x8xf32>) -> tensor<4x8xf32>
  return %h1, %h2, %h3, %h4 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// The graph-level forward with one source: softmax becomes ones, the mix a
// reshape, and the now unused rstd and score ops are erased.
// CHECK-LABEL: func.func @graph_forward_n1(
// CHECK-SAME: %[[V:[^:]+]]: tensor<1x?x64xbf16>
// CHECK-NEXT: %[[H:.+]] = tensor.collapse_shape %[[V]]
// CHECK-NEXT: return %[[H]] : tensor<?x64xbf16>
func.func @graph_forward_n1(%v: tensor<1x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> tensor<?x64xbf16> {
  %r = attnres.rms_rstd %v : (tensor<1x?x64xbf16>) -> tensor<?x1xf32>
  %s = attnres.score %v, %r, %q, %g
      : (tensor<1x?x64xbf16>, tensor<?x1xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x1xf32>
  %a = attnres.depth_softmax %s : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %h = attnres.mix %a, %v : (tensor<?x1xf32>, tensor<1x?x64xbf16>) -> tensor<?x64xbf16>
  return %h : tensor<?x64xbf16>
}
