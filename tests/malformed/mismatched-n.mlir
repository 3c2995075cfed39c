func.func @f(%v: tensor<8x?x64xbf16>, %a: tensor<?x4xf32>) {
  %dv = attnres.rms_rstd_grad %a, %v, %a : (tensor<?x4xf32>, tensor<8x?x64xbf16>, tensor<?x4xf32>) -> tensor<8x?x64xf32>
  return
}
