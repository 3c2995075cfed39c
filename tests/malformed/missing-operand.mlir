func.func @f(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  %h, %a, %r = attnres.forward %v, %q : (tensor<8x?x64xbf16>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}
