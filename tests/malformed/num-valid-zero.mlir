func.func @f(%h: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>) {
  %dv, %dq, %dg = attnres.backward %h, %v, %q, %g, %a, %a {num_valid = 0} : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}
