func.func @f(%v: tensor<8x?x64xbf16>) {
  %r = attnres.rms_rstd %v {eps = 1.0e-