// The forward of examples/attnres.mlir written with the graph-level ops:
// what `attnres-decompose` produces and `attnres-fuse` folds back.
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
