func.func @f(%v: tensor<8x?x64xf32>) -> tensor<?x8xf32> {
  %r = attnres.rms_rstd %v : (tensor<8x?x64xf32>) -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
