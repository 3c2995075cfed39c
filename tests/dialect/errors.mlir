// Every verifier rule of every attnres op, one case each.
// RUN: attnres-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// attnres.forward
//===----------------------------------------------------------------------===//

// Values must be [N, M, D].
func.func @forward_values_rank(%v: tensor<8x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<8x64xbf16>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_query_rank3(%v: tensor<8x?x64xbf16>, %q: tensor<2x?x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'query' must be a rank-1 tensor [D] or a rank-2 tensor [M, D], got 'tensor<2x?x64xf32>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<2x?x64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_query_rank0(%v: tensor<8x?x64xbf16>, %q: tensor<f32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'query' must be a rank-1 tensor [D] or a rank-2 tensor [M, D], got 'tensor<f32>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<f32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_norm_weight_rank(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<1x64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'norm_weight' must be a rank-1 tensor [D], got 'tensor<1x64xf32>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<1x64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_h_rank(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'h' must be a rank-2 tensor [M, D], got 'tensor<1x?x64xbf16>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<1x?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_alpha_rank(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'alpha' must be a rank-2 tensor [M, N], got 'tensor<8xf32>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_rstd_rank(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'rstd' must be a rank-2 tensor [M, N], got 'tensor<?x8x1xf32>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8x1xf32>)
  return
}

// -----

// N of alpha differs from N of values.
func.func @forward_alpha_n(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'alpha' has N = 4 in dimension 1, but 'values' has N = 8}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x8xf32>)
  return
}

// -----

// With N dynamic in the values, alpha binds N and rstd must agree.
func.func @forward_rstd_n_vs_alpha(%v: tensor<?x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'rstd' has N = 5 in dimension 1, but 'alpha' has N = 4}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<?x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x5xf32>)
  return
}

// -----

func.func @forward_h_m(%v: tensor<8x16x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'h' has M = 17 in dimension 0, but 'values' has M = 16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x16x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<17x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_rstd_m(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'rstd' has M = 4 in dimension 0, but 'alpha' has M = 3}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<3x8xf32>, tensor<4x8xf32>)
  return
}

// -----

// A per-token query [M, D] must have the token count of the values.
func.func @forward_token_query_m(%v: tensor<8x16x64xbf16>, %q: tensor<32x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'query' has M = 32 in dimension 0, but 'values' has M = 16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x16x64xbf16>, tensor<32x64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_query_d(%v: tensor<8x?x64xbf16>, %q: tensor<128xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'query' has D = 128 in dimension 0, but 'values' has D = 64}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<128xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// D bound by the query when the values leave it dynamic.
func.func @forward_norm_weight_d(%v: tensor<8x?x?xbf16>, %q: tensor<64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'norm_weight' has D = 32 in dimension 0, but 'query' has D = 64}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x?xbf16>, tensor<64xf32>, tensor<32xf32>) -> (tensor<?x?xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_h_d(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'h' has D = 65 in dimension 1, but 'values' has D = 64}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x65xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_values_i32(%v: tensor<8x?x64xi32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has element type 'i32'; supported are f32, f16, bf16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xi32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xi32>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_values_f64(%v: tensor<8x?x64xf64>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has element type 'f64'; supported are f32, f16, bf16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xf64>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xf64>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_values_f8(%v: tensor<8x?x64xf8E4M3FN>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has element type 'f8E4M3FN'; supported are f32, f16, bf16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xf8E4M3FN>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xf8E4M3FN>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_values_complex(%v: tensor<8x?x64xcomplex<f32>>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has element type 'complex<f32>'; supported are f32, f16, bf16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xcomplex<f32>>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xcomplex<f32>>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_query_f64(%v: tensor<8x?x64xbf16>, %q: tensor<64xf64>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'query' has element type 'f64'; supported are f32, f16, bf16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf64>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_norm_weight_i8(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xi8>) {
  // expected-error @+1 {{'attnres.forward' op 'norm_weight' has element type 'i8'; supported are f32, f16, bf16}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xi8>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// h is stored in the element type of the values.
func.func @forward_h_element(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'h' must have the element type of 'values' ('bf16'), got 'f32'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// The saved statistics are f32 whatever the storage type.
func.func @forward_alpha_bf16(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'alpha' must have element type f32, got 'bf16'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xbf16>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_rstd_f16(%v: tensor<8x?x64xf16>, %q: tensor<64xf16>, %g: tensor<64xf16>) {
  // expected-error @+1 {{'attnres.forward' op 'rstd' must have element type f32, got 'f16'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x64xf16>, tensor<64xf16>, tensor<64xf16>) -> (tensor<?x64xf16>, tensor<?x8xf32>, tensor<?x8xf16>)
  return
}

// -----

func.func @forward_n_zero(%v: tensor<0x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has N = 0 in dimension 0; AttnRes needs at least one source}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<0x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return
}

// -----

// N = 0 caught on a statistic when the values leave N dynamic.
func.func @forward_alpha_n_zero(%v: tensor<?x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'alpha' has N = 0 in dimension 1; AttnRes needs at least one source}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<?x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x0xf32>, tensor<?x?xf32>)
  return
}

// -----

func.func @forward_d_zero(%v: tensor<8x?x0xbf16>, %q: tensor<0xf32>, %g: tensor<0xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has D = 0 in dimension 2; the feature width must be at least 1}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x0xbf16>, tensor<0xf32>, tensor<0xf32>) -> (tensor<?x0xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_norm_weight_d_zero(%v: tensor<8x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<0xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'norm_weight' has D = 0 in dimension 0; the feature width must be at least 1}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x?xbf16>, tensor<?xf32>, tensor<0xf32>) -> (tensor<?x?xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_n_above_limit(%v: tensor<65x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has N = 65 in dimension 0; at most 64 sources are supported}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<65x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x65xf32>, tensor<?x65xf32>)
  return
}

// -----

func.func @forward_d_above_limit(%v: tensor<8x?x16385xbf16>, %q: tensor<16385xf32>, %g: tensor<16385xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'values' has D = 16385 in dimension 2; at most 16384 features are supported}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x16385xbf16>, tensor<16385xf32>, tensor<16385xf32>) -> (tensor<?x16385xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// A huge width on a parameter alone is caught as well.
func.func @forward_norm_weight_huge(%v: tensor<8x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<99999999999xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'norm_weight' has D = 99999999999 in dimension 0; at most 16384 features are supported}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<8x?x?xbf16>, tensor<?xf32>, tensor<99999999999xf32>) -> (tensor<?x?xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_eps_zero(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'eps' must be positive and finite, got 0.000000e+00}}
  %h, %a, %r = attnres.forward %v, %q, %g {eps = 0.0 : f32} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_eps_negative(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'eps' must be positive and finite, got -1.000000e-06}}
  %h, %a, %r = attnres.forward %v, %q, %g {eps = -1.0e-06 : f32} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_eps_inf(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'eps' must be positive and finite, got INF}}
  %h, %a, %r = attnres.forward %v, %q, %g {eps = 0x7F800000 : f32} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_eps_nan(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'eps' must be positive and finite, got nan}}
  %h, %a, %r = attnres.forward %v, %q, %g {eps = 0x7FC00000 : f32} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// eps is an f32 attribute (ODS constraint).
func.func @forward_eps_f64(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{attribute 'eps' failed to satisfy constraint: 32-bit float attribute}}
  %h, %a, %r = attnres.forward %v, %q, %g {eps = 1.0e-06 : f64} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_num_valid_zero(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'num_valid' must be in [1, N] with N = 8, got 0}}
  %h, %a, %r = attnres.forward %v, %q, %g {num_valid = 0} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_num_valid_above_n(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'num_valid' must be in [1, N] with N = 8, got 9}}
  %h, %a, %r = attnres.forward %v, %q, %g {num_valid = 9} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// N known only from a result still bounds num_valid.
func.func @forward_num_valid_above_result_n(%v: tensor<?x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'num_valid' must be in [1, N] with N = 4, got 5}}
  %h, %a, %r = attnres.forward %v, %q, %g {num_valid = 5} : (tensor<?x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<?x?xf32>)
  return
}

// -----

func.func @forward_num_valid_negative(%v: tensor<?x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'num_valid' must be in [1, 64] (N is dynamic), got -1}}
  %h, %a, %r = attnres.forward %v, %q, %g {num_valid = -1} : (tensor<?x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return
}

// -----

func.func @forward_num_valid_above_limit(%v: tensor<?x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op 'num_valid' must be in [1, 64] (N is dynamic), got 65}}
  %h, %a, %r = attnres.forward %v, %q, %g {num_valid = 65} : (tensor<?x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return
}

// -----

func.func @forward_num_valid_i32(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{attribute 'num_valid' failed to satisfy constraint: 64-bit signless integer attribute}}
  %h, %a, %r = attnres.forward %v, %q, %g {num_valid = 2 : i32} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_unranked(%v: tensor<*xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op operand #0 must be ranked tensor of any type values, but got 'tensor<*xbf16>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (tensor<*xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_memref(%v: memref<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op operand #0 must be ranked tensor of any type values, but got 'memref<8x?x64xbf16>'}}
  %h, %a, %r = attnres.forward %v, %q, %g : (memref<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// Generic form with a result missing.
func.func @forward_result_count(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op expected 3 results}}
  %h:2 = "attnres.forward"(%v, %q, %g) : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>)
  return
}

// -----

func.func @forward_operand_count(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op expected 3 operands, but found 2}}
  %h:3 = "attnres.forward"(%v, %q) : (tensor<8x?x64xbf16>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.backward
//===----------------------------------------------------------------------===//

func.func @backward_values_rank(%dh: tensor<?x64xbf16>, %v: tensor<?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<?x64xbf16>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_h_rank(%dh: tensor<64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_h' must be a rank-2 tensor [M, D], got 'tensor<64xbf16>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_h_element(%dh: tensor<?x64xf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_h' must have the element type of 'values' ('bf16'), got 'f16'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_h_m(%dh: tensor<4x64xbf16>, %v: tensor<8x5x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_h' has M = 4 in dimension 0, but 'values' has M = 5}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<4x64xbf16>, tensor<8x5x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x5x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_h_d(%dh: tensor<?x32xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_h' has D = 32 in dimension 1, but 'values' has D = 64}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x32xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_query_rank3(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<1x1x64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'query' must be a rank-1 tensor [D] or a rank-2 tensor [M, D], got 'tensor<1x1x64xf32>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<1x1x64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<1x1x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_token_query_m(%dh: tensor<4x64xbf16>, %v: tensor<8x4x64xbf16>, %q: tensor<3x64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'query' has M = 3 in dimension 0, but 'values' has M = 4}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<4x64xbf16>, tensor<8x4x64xbf16>, tensor<3x64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x4x64xbf16>, tensor<3x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_norm_weight_d(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<65xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'norm_weight' has D = 65 in dimension 0, but 'values' has D = 64}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<65xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<65xf32>)
  return
}

// -----

func.func @backward_alpha_f16(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf16>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'alpha' must have element type f32, got 'f16'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf16>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_rstd_bf16(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xbf16>) {
  // expected-error @+1 {{'attnres.backward' op 'rstd' must have element type f32, got 'bf16'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xbf16>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_rstd_n(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x7xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'rstd' has N = 7 in dimension 1, but 'values' has N = 8}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x7xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_values_element(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_values' must have the type of 'values' ('tensor<8x?x64xbf16>'), got 'tensor<8x?x64xf32>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

// The gradient has exactly the type of the values: no refined sizes either.
func.func @backward_grad_values_shape(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_values' must have the type of 'values' ('tensor<8x?x64xbf16>'), got 'tensor<8x16x64xbf16>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x16x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_query_type(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_query' must have the type of 'query' ('tensor<64xf32>'), got 'tensor<64xbf16>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xbf16>, tensor<64xf32>)
  return
}

// -----

func.func @backward_grad_norm_weight_type(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'grad_norm_weight' must have the type of 'norm_weight' ('tensor<64xf32>'), got 'tensor<?xf32>'}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<?xf32>)
  return
}

// -----

func.func @backward_n_zero(%dh: tensor<?x64xbf16>, %v: tensor<0x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x?xf32>, %r: tensor<?x?xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'values' has N = 0 in dimension 0; AttnRes needs at least one source}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r : (tensor<?x64xbf16>, tensor<0x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> (tensor<0x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_eps_negative(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'eps' must be positive and finite, got -2.000000e+00}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r {eps = -2.0 : f32} : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @backward_num_valid_above_n(%dh: tensor<?x64xbf16>, %v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.backward' op 'num_valid' must be in [1, N] with N = 8, got 100}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r {num_valid = 100} : (tensor<?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.rms_rstd
//===----------------------------------------------------------------------===//

func.func @rms_rstd_values_rank(%v: tensor<?x64xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<?x64xf32>'}}
  %r = attnres.rms_rstd %v : (tensor<?x64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @rms_rstd_rstd_rank(%v: tensor<8x?x64xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'rstd' must be a rank-2 tensor [M, N], got 'tensor<8x?x1xf32>'}}
  %r = attnres.rms_rstd %v : (tensor<8x?x64xf32>) -> tensor<8x?x1xf32>
  return
}

// -----

func.func @rms_rstd_n(%v: tensor<8x?x64xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'rstd' has N = 2 in dimension 1, but 'values' has N = 8}}
  %r = attnres.rms_rstd %v : (tensor<8x?x64xf32>) -> tensor<?x2xf32>
  return
}

// -----

func.func @rms_rstd_m(%v: tensor<8x3x64xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'rstd' has M = 4 in dimension 0, but 'values' has M = 3}}
  %r = attnres.rms_rstd %v : (tensor<8x3x64xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @rms_rstd_bf16(%v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'rstd' must have element type f32, got 'bf16'}}
  %r = attnres.rms_rstd %v : (tensor<8x?x64xbf16>) -> tensor<?x8xbf16>
  return
}

// -----

func.func @rms_rstd_i32(%v: tensor<8x?x64xi32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'values' has element type 'i32'; supported are f32, f16, bf16}}
  %r = attnres.rms_rstd %v : (tensor<8x?x64xi32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @rms_rstd_d_zero(%v: tensor<8x?x0xf16>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'values' has D = 0 in dimension 2; the feature width must be at least 1}}
  %r = attnres.rms_rstd %v : (tensor<8x?x0xf16>) -> tensor<?x8xf32>
  return
}

// -----

func.func @rms_rstd_n_zero(%v: tensor<?x?x4xf16>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'rstd' has N = 0 in dimension 1; AttnRes needs at least one source}}
  %r = attnres.rms_rstd %v : (tensor<?x?x4xf16>) -> tensor<?x0xf32>
  return
}

// -----

func.func @rms_rstd_eps_zero(%v: tensor<8x?x64xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'eps' must be positive and finite, got 0.000000e+00}}
  %r = attnres.rms_rstd %v {eps = 0.0 : f32} : (tensor<8x?x64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @rms_rstd_eps_negative_inf(%v: tensor<8x?x64xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd' op 'eps' must be positive and finite, got -INF}}
  %r = attnres.rms_rstd %v {eps = 0xFF800000 : f32} : (tensor<8x?x64xf32>) -> tensor<?x8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.score
//===----------------------------------------------------------------------===//

func.func @score_values_rank(%v: tensor<8x?x64x1xbf16>, %r: tensor<?x8xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<8x?x64x1xbf16>'}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64x1xbf16>, tensor<?x8xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @score_rstd_n(%v: tensor<8x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'rstd' has N = 4 in dimension 1, but 'values' has N = 8}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @score_rstd_f16(%v: tensor<8x?x64xbf16>, %r: tensor<?x8xf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'rstd' must have element type f32, got 'f16'}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<?x8xf16>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @score_query_rank3(%v: tensor<8x?x64xbf16>, %r: tensor<?x8xf32>, %q: tensor<8x?x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'query' must be a rank-1 tensor [D] or a rank-2 tensor [M, D], got 'tensor<8x?x64xf32>'}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<?x8xf32>, tensor<8x?x64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  return
}

// -----

// M of a per-token query bound against the statistics' M.
func.func @score_token_query_m(%v: tensor<8x?x64xbf16>, %r: tensor<16x8xf32>, %q: tensor<15x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'query' has M = 15 in dimension 0, but 'rstd' has M = 16}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<16x8xf32>, tensor<15x64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @score_query_f64(%v: tensor<8x?x64xbf16>, %r: tensor<?x8xf32>, %q: tensor<64xf64>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'query' has element type 'f64'; supported are f32, f16, bf16}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<?x8xf32>, tensor<64xf64>, tensor<64xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @score_norm_weight_d(%v: tensor<8x?x64xbf16>, %r: tensor<?x8xf32>, %q: tensor<64xf32>, %g: tensor<63xf32>) {
  // expected-error @+1 {{'attnres.score' op 'norm_weight' has D = 63 in dimension 0, but 'values' has D = 64}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<?x8xf32>, tensor<64xf32>, tensor<63xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @score_scores_m(%v: tensor<8x2x64xbf16>, %r: tensor<?x8xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'scores' has M = 3 in dimension 0, but 'values' has M = 2}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x2x64xbf16>, tensor<?x8xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<3x8xf32>
  return
}

// -----

func.func @score_scores_bf16(%v: tensor<8x?x64xbf16>, %r: tensor<?x8xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score' op 'scores' must have element type f32, got 'bf16'}}
  %s = attnres.score %v, %r, %q, %g : (tensor<8x?x64xbf16>, tensor<?x8xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x8xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.depth_softmax
//===----------------------------------------------------------------------===//

func.func @depth_softmax_rank(%s: tensor<8xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax' op 'scores' must be a rank-2 tensor [M, N], got 'tensor<8xf32>'}}
  %a = attnres.depth_softmax %s : (tensor<8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @depth_softmax_scores_bf16(%s: tensor<?x8xbf16>) {
  // expected-error @+1 {{'attnres.depth_softmax' op 'scores' must have element type f32, got 'bf16'}}
  %a = attnres.depth_softmax %s : (tensor<?x8xbf16>) -> tensor<?x8xf32>
  return
}

// -----

func.func @depth_softmax_alpha_f16(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax' op 'alpha' must have element type f32, got 'f16'}}
  %a = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x8xf16>
  return
}

// -----

func.func @depth_softmax_n(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax' op 'alpha' has N = 9 in dimension 1, but 'scores' has N = 8}}
  %a = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x9xf32>
  return
}

// -----

func.func @depth_softmax_m(%s: tensor<4x8xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax' op 'alpha' has M = 5 in dimension 0, but 'scores' has M = 4}}
  %a = attnres.depth_softmax %s : (tensor<4x8xf32>) -> tensor<5x?xf32>
  return
}

// -----

func.func @depth_softmax_n_zero(%s: tensor<4x0xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax' op 'scores' has N = 0 in dimension 1; AttnRes needs at least one source}}
  %a = attnres.depth_softmax %s : (tensor<4x0xf32>) -> tensor<4x0xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.mix
//===----------------------------------------------------------------------===//

func.func @mix_alpha_rank(%a: tensor<?x8x1xf32>, %v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix' op 'alpha' must be a rank-2 tensor [M, N], got 'tensor<?x8x1xf32>'}}
  %h = attnres.mix %a, %v : (tensor<?x8x1xf32>, tensor<8x?x64xbf16>) -> tensor<?x64xbf16>
  return
}

// -----

func.func @mix_values_rank(%a: tensor<?x8xf32>, %v: tensor<8x64xbf16>) {
  // expected-error @+1 {{'attnres.mix' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<8x64xbf16>'}}
  %h = attnres.mix %a, %v : (tensor<?x8xf32>, tensor<8x64xbf16>) -> tensor<?x64xbf16>
  return
}

// -----

func.func @mix_alpha_n(%a: tensor<?x7xf32>, %v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix' op 'alpha' has N = 7 in dimension 1, but 'values' has N = 8}}
  %h = attnres.mix %a, %v : (tensor<?x7xf32>, tensor<8x?x64xbf16>) -> tensor<?x64xbf16>
  return
}

// -----

func.func @mix_alpha_bf16(%a: tensor<?x8xbf16>, %v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix' op 'alpha' must have element type f32, got 'bf16'}}
  %h = attnres.mix %a, %v : (tensor<?x8xbf16>, tensor<8x?x64xbf16>) -> tensor<?x64xbf16>
  return
}

// -----

func.func @mix_h_element(%a: tensor<?x8xf32>, %v: tensor<8x?x64xf16>) {
  // expected-error @+1 {{'attnres.mix' op 'h' must have the element type of 'values' ('f16'), got 'bf16'}}
  %h = attnres.mix %a, %v : (tensor<?x8xf32>, tensor<8x?x64xf16>) -> tensor<?x64xbf16>
  return
}

// -----

func.func @mix_h_d(%a: tensor<?x8xf32>, %v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix' op 'h' has D = 128 in dimension 1, but 'values' has D = 64}}
  %h = attnres.mix %a, %v : (tensor<?x8xf32>, tensor<8x?x64xbf16>) -> tensor<?x128xbf16>
  return
}

// -----

func.func @mix_h_m(%a: tensor<3x8xf32>, %v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix' op 'h' has M = 2 in dimension 0, but 'alpha' has M = 3}}
  %h = attnres.mix %a, %v : (tensor<3x8xf32>, tensor<8x?x64xbf16>) -> tensor<2x64xbf16>
  return
}

// -----

func.func @mix_values_f64(%a: tensor<?x8xf32>, %v: tensor<8x?x64xf64>) {
  // expected-error @+1 {{'attnres.mix' op 'values' has element type 'f64'; supported are f32, f16, bf16}}
  %h = attnres.mix %a, %v : (tensor<?x8xf32>, tensor<8x?x64xf64>) -> tensor<?x64xf64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.mix_grad
//===----------------------------------------------------------------------===//

func.func @mix_grad_grad_h_rank(%dh: tensor<64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'grad_h' must be a rank-2 tensor [M, D], got 'tensor<64xbf16>'}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  return
}

// -----

func.func @mix_grad_grad_h_element(%dh: tensor<?x64xf32>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'grad_h' must have the element type of 'values' ('bf16'), got 'f32'}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xf32>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  return
}

// -----

func.func @mix_grad_alpha_f16(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf16>, %v: tensor<4x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'alpha' must have element type f32, got 'f16'}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xbf16>, tensor<?x4xf16>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  return
}

// -----

func.func @mix_grad_grad_alpha_n(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'grad_alpha' has N = 3 in dimension 1, but 'values' has N = 4}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x3xf32>, tensor<4x?x64xf32>)
  return
}

// -----

// Value gradients are f32 partial sums.
func.func @mix_grad_grad_values_bf16(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'grad_values' must have element type f32, got 'bf16'}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xbf16>)
  return
}

// -----

func.func @mix_grad_grad_values_n(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'grad_values' has N = 5 in dimension 0, but 'values' has N = 4}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<5x?x64xf32>)
  return
}

// -----

func.func @mix_grad_grad_values_d(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x?xbf16>) {
  // expected-error @+1 {{'attnres.mix_grad' op 'grad_values' has D = 32 in dimension 2, but 'grad_h' has D = 64}}
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x?xbf16>) -> (tensor<?x4xf32>, tensor<4x?x32xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.depth_softmax_grad
//===----------------------------------------------------------------------===//

func.func @depth_softmax_grad_alpha_rank(%a: tensor<4x?x1xf32>, %da: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax_grad' op 'alpha' must be a rank-2 tensor [M, N], got 'tensor<4x?x1xf32>'}}
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<4x?x1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @depth_softmax_grad_n(%a: tensor<?x4xf32>, %da: tensor<?x5xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax_grad' op 'grad_alpha' has N = 5 in dimension 1, but 'alpha' has N = 4}}
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x4xf32>, tensor<?x5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @depth_softmax_grad_m(%a: tensor<2x4xf32>, %da: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax_grad' op 'grad_scores' has M = 3 in dimension 0, but 'alpha' has M = 2}}
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<2x4xf32>, tensor<?x4xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @depth_softmax_grad_grad_alpha_bf16(%a: tensor<?x4xf32>, %da: tensor<?x4xbf16>) {
  // expected-error @+1 {{'attnres.depth_softmax_grad' op 'grad_alpha' must have element type f32, got 'bf16'}}
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x4xf32>, tensor<?x4xbf16>) -> tensor<?x4xf32>
  return
}

// -----

func.func @depth_softmax_grad_grad_scores_f16(%a: tensor<?x4xf32>, %da: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.depth_softmax_grad' op 'grad_scores' must have element type f32, got 'f16'}}
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.score_grad
//===----------------------------------------------------------------------===//

func.func @score_grad_values_rank(%ds: tensor<?x4xf32>, %v: tensor<?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<?x64xbf16>'}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_grad_scores_f16(%ds: tensor<?x4xf16>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'grad_scores' must have element type f32, got 'f16'}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf16>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_grad_scores_n(%ds: tensor<?x3xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'grad_scores' has N = 3 in dimension 1, but 'values' has N = 4}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x3xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_rstd_m(%ds: tensor<5x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<6x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'rstd' has M = 6 in dimension 0, but 'grad_scores' has M = 5}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<5x4xf32>, tensor<4x?x64xbf16>, tensor<6x4xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_query_rank3(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<4x?x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'query' must be a rank-1 tensor [D] or a rank-2 tensor [M, D], got 'tensor<4x?x64xf32>'}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_norm_weight_i32(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xi32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'norm_weight' has element type 'i32'; supported are f32, f16, bf16}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xi32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xi32>)
  return
}

// -----

func.func @score_grad_grad_values_bf16(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'grad_values' must have element type f32, got 'bf16'}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_grad_rstd_n(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'grad_rstd' has N = 2 in dimension 1, but 'values' has N = 4}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x2xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_grad_query_type(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<?x64xf16>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.score_grad' op 'grad_query' must have the type of 'query' ('tensor<?x64xf16>'), got 'tensor<?x64xf32>'}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<?x64xf16>, tensor<64xf32>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @score_grad_grad_norm_weight_type(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xbf16>) {
  // expected-error @+1 {{'attnres.score_grad' op 'grad_norm_weight' must have the type of 'norm_weight' ('tensor<64xbf16>'), got 'tensor<64xf32>'}}
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xbf16>) -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// attnres.rms_rstd_grad
//===----------------------------------------------------------------------===//

func.func @rms_rstd_grad_values_rank(%dr: tensor<?x4xf32>, %v: tensor<4x?xbf16>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'values' must be a rank-3 tensor [N, M, D], got 'tensor<4x?xbf16>'}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?xbf16>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  return
}

// -----

func.func @rms_rstd_grad_values_i32(%dr: tensor<?x4xf32>, %v: tensor<4x?x64xi32>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'values' has element type 'i32'; supported are f32, f16, bf16}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?x64xi32>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  return
}

// -----

func.func @rms_rstd_grad_grad_rstd_n(%dr: tensor<?x3xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'grad_rstd' has N = 3 in dimension 1, but 'values' has N = 4}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x3xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  return
}

// -----

func.func @rms_rstd_grad_rstd_f16(%dr: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf16>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'rstd' must have element type f32, got 'f16'}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf16>) -> tensor<4x?x64xf32>
  return
}

// -----

func.func @rms_rstd_grad_rstd_m(%dr: tensor<2x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<3x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'rstd' has M = 3 in dimension 0, but 'grad_rstd' has M = 2}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<2x4xf32>, tensor<4x?x64xbf16>, tensor<3x4xf32>) -> tensor<4x?x64xf32>
  return
}

// -----

func.func @rms_rstd_grad_grad_values_bf16(%dr: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'grad_values' must have element type f32, got 'bf16'}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>) -> tensor<4x?x64xbf16>
  return
}

// -----

func.func @rms_rstd_grad_grad_values_d(%dr: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'grad_values' has D = 16 in dimension 2, but 'values' has D = 64}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>) -> tensor<4x?x16xf32>
  return
}

// -----

func.func @rms_rstd_grad_d_zero(%dr: tensor<?x4xf32>, %v: tensor<4x?x?xbf16>, %r: tensor<?x4xf32>) {
  // expected-error @+1 {{'attnres.rms_rstd_grad' op 'grad_values' has D = 0 in dimension 2; the feature width must be at least 1}}
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?x?xbf16>, tensor<?x4xf32>) -> tensor<4x?x0xf32>
  return
}
