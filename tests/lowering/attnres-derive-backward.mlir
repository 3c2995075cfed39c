// RUN: attnres-opt %s --attnres-derive-backward -split-input-file -verify-diagnostics | FileCheck %s
// RUN: attnres-opt %s --attnres-derive-backward --attnres-fuse -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FUSE

// examples/attnres_graph.mlir, with alpha and rstd marked as the saved
// statistics they are: the derived backward is exactly the chain of the
// operator's backward (the one attnres-decompose emits), and fuses into one
// attnres.backward next to the recomputed statistics.
// CHECK-LABEL: func.func @attnres_forward_graph(
// CHECK-LABEL: func.func @attnres_forward_graph_vjp(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>, %[[DH:[^:]+]]: tensor<?x4096xbf16>, %{{[^:]+}}: tensor<?x8xf32>, %{{[^:]+}}: tensor<?x8xf32>)
// CHECK-SAME:    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
// CHECK-NEXT:    %[[R:.+]] = attnres.rms_rstd %[[V]] : (tensor<8x?x4096xbf16>) -> tensor<?x8xf32>
// CHECK-NEXT:    %[[S:.+]] = attnres.score %[[V]], %[[R]], %[[Q]], %[[G]]
// CHECK-NEXT:    %[[A:.+]] = attnres.depth_softmax %[[S]]
// CHECK-NEXT:    %[[DA:[^ ,]+]], %[[DV1:[^ ,]+]] = attnres.mix_grad %[[DH]], %[[A]], %[[V]] : {{.*}} -> (tensor<?x8xf32>, tensor<8x?x4096xf32>)
// CHECK-NEXT:    %[[DS:.+]] = attnres.depth_softmax_grad %[[A]], %[[DA]]
// CHECK-NEXT:    %[[DV2:[^ ,]+]], %[[DR:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.score_grad %[[DS]], %[[V]], %[[R]], %[[Q]], %[[G]]
// CHECK-NEXT:    %[[DV3:.+]] = attnres.rms_rstd_grad %[[DR]], %[[V]], %[[R]]
// CHECK-NEXT:    %[[S1:.+]] = arith.addf %[[DV1]], %[[DV2]] : tensor<8x?x4096xf32>
// CHECK-NEXT:    %[[S2:.+]] = arith.addf %[[S1]], %[[DV3]] : tensor<8x?x4096xf32>
// CHECK-NEXT:    %[[DV:.+]] = arith.truncf %[[S2]] : tensor<8x?x4096xf32> to tensor<8x?x4096xbf16>
// CHECK-NEXT:    return %[[DV]], %[[DQ]], %[[DG]] : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
// FUSE-LABEL:  func.func @attnres_forward_graph_vjp(
// FUSE-SAME:     %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>, %[[DH:[^:]+]]: tensor<?x4096xbf16>,
// FUSE-NEXT:     %[[R:.+]] = attnres.rms_rstd %[[V]]
// FUSE-NEXT:     %[[S:.+]] = attnres.score %[[V]], %[[R]], %[[Q]], %[[G]]
// FUSE-NEXT:     %[[A:.+]] = attnres.depth_softmax %[[S]]
// FUSE-NEXT:     %[[DV:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.backward %[[DH]], %[[V]], %[[Q]], %[[G]], %[[A]], %[[R]] : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
// FUSE-NEXT:     return %[[DV]], %[[DQ]], %[[DG]]
func.func @attnres_forward_graph(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                                 %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32> {attnres.no_grad},
        tensor<?x8xf32> {attnres.no_grad}) attributes {attnres.differentiate} {
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

// The same function without the marks: alpha and rstd are differentiable
// results, so their cotangents are added to dalpha and drstd inside the
// chain, which attnres.backward cannot express: fuse leaves the chain alone.
// CHECK-LABEL: func.func @graph_all_results_vjp(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<8x?x64xbf16>, %[[Q:[^:]+]]: tensor<64xf32>, %[[G:[^:]+]]: tensor<64xf32>, %[[DH:[^:]+]]: tensor<?x64xbf16>, %[[CA:[^:]+]]: tensor<?x8xf32>, %[[CR:[^:]+]]: tensor<?x8xf32>)
// CHECK:         %[[A:.+]] = attnres.depth_softmax
// CHECK-NEXT:    %[[DA:[^ ,]+]], %[[DV1:[^ ,]+]] = attnres.mix_grad %[[DH]], %[[A]], %[[V]]
// CHECK-NEXT:    %[[DAT:.+]] = arith.addf %[[CA]], %[[DA]] : tensor<?x8xf32>
// CHECK-NEXT:    %[[DS:.+]] = attnres.depth_softmax_grad %[[A]], %[[DAT]]
// CHECK-NEXT:    %[[DV2:[^ ,]+]], %[[DR:[^ ,]+]], %{{[^ ,]+}}, %{{[^ ,]+}} = attnres.score_grad %[[DS]]
// CHECK-NEXT:    %[[DRT:.+]] = arith.addf %[[CR]], %[[DR]] : tensor<?x8xf32>
// CHECK-NEXT:    attnres.rms_rstd_grad %[[DRT]], %[[V]],
// FUSE-LABEL:  func.func @graph_all_results_vjp(
// FUSE-NOT:      attnres.backward
// FUSE:          attnres.mix_grad
// FUSE:          return
func.func @graph_all_results(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) attributes {attnres.differentiate} {
  %rstd = attnres.rms_rstd %v : (tensor<8x?x64xbf16>) -> tensor<?x8xf32>
  %s = attnres.score %v, %rstd, %q, %g
      : (tensor<8x?x64xbf16>, tensor<?x8xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  %alpha = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %h = attnres.mix %alpha, %v : (tensor<?x8xf32>, tensor<8x?x64xbf16>) -> tensor<?x64xbf16>
  return %h, %alpha, %rstd : tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// The fused forward differentiates to attnres.backward with its own saved
// statistics; its variant attributes carry over. The h computed by the
// recomputed forward is unused but comes with alpha and rstd.
// CHECK-LABEL: func.func @fused_vjp(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<8x?x4096xbf16>, %[[Q:[^:]+]]: tensor<4096xf32>, %[[G:[^:]+]]: tensor<4096xf32>, %[[DH:[^:]+]]: tensor<?x4096xbf16>)
// CHECK-NEXT:    %{{[^ ,]+}}, %[[A:[^ ,]+]], %[[R:[^ ,]+]] = attnres.forward %[[V]], %[[Q]], %[[G]] {eps = 9.99999974E-6 : f32}
// CHECK-NEXT:    %[[DV:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.backward %[[DH]], %[[V]], %[[Q]], %[[G]], %[[A]], %[[R]] {eps = 9.99999974E-6 : f32}
// CHECK-NEXT:    return %[[DV]], %[[DQ]], %[[DG]]
func.func @fused(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> tensor<?x4096xbf16> attributes {attnres.differentiate} {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-05 : f32}
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x4096xbf16>
}

// -----

// A residual add: the cotangent of the output reaches h and the residual
// input; V gets the attnres.backward dV plus nothing else, x gets dout
// directly, and the non-tensor argument gets no gradient. An unused float
// argument gets zeros.
// CHECK-LABEL: func.func @residual_vjp(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<2x?x16xf32>, %[[Q:[^:]+]]: tensor<16xf32>, %[[G:[^:]+]]: tensor<16xf32>, %[[X:[^:]+]]: tensor<?x16xf32>, %[[N:[^:]+]]: index, %[[U:[^:]+]]: tensor<?xf32>, %[[DOUT:[^:]+]]: tensor<?x16xf32>)
// CHECK-SAME:    -> (tensor<2x?x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<?x16xf32>, tensor<?xf32>)
// CHECK-DAG:     %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG:     %[[C0:.+]] = arith.constant 0 : index
// CHECK:         %[[DV:[^ ,]+]], %[[DQ:[^ ,]+]], %[[DG:[^ ,]+]] = attnres.backward %[[DOUT]], %[[V]], %[[Q]], %[[G]],
// CHECK-NEXT:    %[[DIM:.+]] = tensor.dim %[[U]], %[[C0]]
// CHECK-NEXT:    %[[DU:.+]] = tensor.splat %[[ZERO]][%[[DIM]]] : tensor<?xf32>
// CHECK-NEXT:    return %[[DV]], %[[DQ]], %[[DG]], %[[DOUT]], %[[DU]]
func.func @residual(%v: tensor<2x?x16xf32>, %q: tensor<16xf32>, %g: tensor<16xf32>,
                    %x: tensor<?x16xf32>, %n: index, %unused: tensor<?xf32>)
    -> tensor<?x16xf32> attributes {attnres.differentiate} {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<2x?x16xf32>, tensor<16xf32>, tensor<16xf32>)
      -> (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  %out = arith.addf %h, %x : tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}

// -----

// V reaches the output twice (through AttnRes and as a bf16 residual of
// the widened values): the contributions are summed in f32 and
// rounded once.
// CHECK-LABEL: func.func @two_paths_vjp(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<2x?x8xbf16>, %[[Q:[^:]+]]: tensor<8xf32>, %[[G:[^:]+]]: tensor<8xf32>, %[[DH:[^:]+]]: tensor<?x8xbf16>, %[[DOUT:[^:]+]]: tensor<2x?x8xf32>)
// CHECK:         %[[DVB:[^ ,]+]], %{{[^ ,]+}}, %{{[^ ,]+}} = attnres.backward %[[DH]], %[[V]],
// CHECK-NEXT:    %[[DVW:.+]] = arith.extf %[[DVB]] : tensor<2x?x8xbf16> to tensor<2x?x8xf32>
// CHECK-NEXT:    %[[SUM:.+]] = arith.addf %[[DOUT]], %[[DVW]] : tensor<2x?x8xf32>
// CHECK-NEXT:    %[[DV:.+]] = arith.truncf %[[SUM]] : tensor<2x?x8xf32> to tensor<2x?x8xbf16>
// CHECK-NEXT:    return %[[DV]],
func.func @two_paths(%v: tensor<2x?x8xbf16>, %q: tensor<8xf32>, %g: tensor<8xf32>)
    -> (tensor<?x8xbf16>, tensor<2x?x8xf32>) attributes {attnres.differentiate} {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<2x?x8xbf16>, tensor<8xf32>, tensor<8xf32>)
      -> (tensor<?x8xbf16>, tensor<?x2xf32>, tensor<?x2xf32>)
  %wide = arith.extf %v : tensor<2x?x8xbf16> to tensor<2x?x8xf32>
  return %h, %wide : tensor<?x8xbf16>, tensor<2x?x8xf32>
}

// -----

func.func @exp(%v: tensor<2x?x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>)
    -> tensor<?x8xf32> attributes {attnres.differentiate} {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<2x?x8xf32>, tensor<8xf32>, tensor<8xf32>)
      -> (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  // expected-error @+1 {{attnres-derive-backward: cannot differentiate 'math.exp'}}
  %e = math.exp %h : tensor<?x8xf32>
  return %e : tensor<?x8xf32>
}

// -----

// expected-error @+1 {{attnres-derive-backward: symbol @taken_vjp already exists}}
func.func @taken(%x: tensor<4xf32>) -> tensor<4xf32> attributes {attnres.differentiate} {
  return %x : tensor<4xf32>
}
func.func @taken_vjp() {
  return
}

// -----

// expected-error @+1 {{attnres-derive-backward: @external has no body to differentiate}}
func.func private @external(tensor<4xf32>) -> tensor<4xf32> attributes {attnres.differentiate}

// -----

// expected-error @+1 {{attnres-derive-backward: @branchy has control flow (more than one block)}}
func.func @branchy(%x: tensor<4xf32>) -> tensor<4xf32> attributes {attnres.differentiate} {
  cf.br ^bb1(%x : tensor<4xf32>)
^bb1(%y: tensor<4xf32>):
  return %y : tensor<4xf32>
}

// -----

func.func @stats_of_a_variant(%v: tensor<2x?x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>)
    -> tensor<?x2xf32> attributes {attnres.differentiate} {
  // expected-error @+1 {{cotangents of 'alpha' or 'rstd' are supported for the Kimi variant only}}
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<sigmoid>}
      : (tensor<2x?x8xf32>, tensor<8xf32>, tensor<8xf32>)
      -> (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %alpha : tensor<?x2xf32>
}
