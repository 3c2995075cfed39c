func.func @f(%v: tensor<99999999999x?x64xbf16>, %q: tensor<64xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %q : (tensor<99999999999x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x99999999999xf32>, tensor<?x99999999999xf32>)
  return
}
