func.func @f(%v: tensor<8x?x64xbf16>, %r: tensor<?x8xf32>, %q: tensor<1x?x64xf32>) {
  %s = attnres.score %v, %r, %q, %q : (tensor<8x?x64xbf16>, tensor<?x8xf32>, tensor<1x?x64xf32>, tensor<1x?x64xf32>) -> tensor<?x8xf32>
  return
}
