func.func @f(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  %r:3 = "attnres.forward"(%v, %q, %g) <{eps = "tiny", num_valid = 2.5 : f32}> : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}
