// The canonical AttnRes program: N = 8 sources, D = 4096, bf16 storage,
// M tokens (dynamic). The pseudo-query and the RMSNorm weight are f32.
//
//   attnres-opt examples/attnres.mlir                       # verify and print
//   attnres-opt examples/attnres.mlir --attnres-decompose   # graph ops
//   attnres-opt examples/attnres.mlir \
//       --attnres-to-ptx="n=8 d=4096 dtype=bf16 chip=sm_90a dump-ptx=."

// Forward: h [M, D] and the saved statistics alpha, rstd [M, N] f32.
func.func @attnres_forward(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                           %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-06 : f32}
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}

// Backward: gradients of the values, the pseudo-query and the norm weight.
func.func @attnres_backward(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>,
                            %q: tensor<4096xf32>, %g: tensor<4096xf32>,
                            %alpha: tensor<?x8xf32>, %rstd: tensor<?x8xf32>)
    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd {eps = 1.0e-06 : f32}
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>,
         tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
}
