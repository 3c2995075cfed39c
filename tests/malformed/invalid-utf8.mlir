func.func @fÿþ(%v: tensor<8x?x64xbf16>) {
  return
}
