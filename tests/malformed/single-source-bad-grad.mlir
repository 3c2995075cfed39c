func.func @f(%h: tensor<?x64xbf16>, %v: tensor<1x?x64xbf16>, %q: tensor<64xf32>, %a: tensor<?x1xf32>) {
  %dv, %dq, %dg = attnres.backward %h, %v, %q, %q, %a, %a : (tensor<?x64xbf16>, tensor<1x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x1xf32>, tensor<?x1xf32>) -> (tensor<1x?x32xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}
