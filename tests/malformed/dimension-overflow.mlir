func.func @f(%v: tensor<99999999999999999999999x4x4xf32>) {

  return
}
