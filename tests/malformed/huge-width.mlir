func.func @f(%v: tensor<1x99999999999x99999999999xf32>, %q: tensor<99999999999xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %q : (tensor<1x99999999999x99999999999xf32>, tensor<99999999999xf32>, tensor<99999999999xf32>) -> (tensor<99999999999x99999999999xf32>, tensor<99999999999x1xf32>, tensor<99999999999x1xf32>)
  return
}
