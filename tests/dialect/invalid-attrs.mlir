// Parser and property errors of the attnres attributes: misspelled enum
// cases, wrong attribute kinds, bad generic-form properties.
// RUN: attnres-opt %s -split-input-file -verify-diagnostics

func.func @normalizer_unknown_case(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+2 {{expected ::mlir::attnres::Normalizer to be one of: softmax, sigmoid}}
  // expected-error @+1 {{failed to parse AttnRes_NormalizerAttr parameter 'value'}}
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<relu>} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// Enum cases are case-sensitive.
func.func @norm_target_capitalized(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+2 {{expected ::mlir::attnres::NormTarget to be one of: keys, values}}
  // expected-error @+1 {{failed to parse AttnRes_NormTargetAttr parameter 'value'}}
  %h, %a, %r = attnres.forward %v, %q, %g {norm_target = #attnres.norm_target<Keys>} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @normalizer_empty(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+2 {{expected valid keyword or string}}
  // expected-error @+1 {{failed to parse AttnRes_NormalizerAttr parameter 'value'}}
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<>} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @normalizer_unbalanced(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{unbalanced '<' character in pretty dialect name}}
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<softmax} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @unknown_attribute(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{unknown attribute `gate` in dialect `attnres`}}
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.gate<sigmoid>} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

// A valid attribute of the wrong enum in the slot.
func.func @normalizer_holds_norm_target(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{attribute 'normalizer' failed to satisfy constraint: normalizer of the scores over depth}}
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.norm_target<keys>} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @normalizer_as_string(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{attribute 'normalizer' failed to satisfy constraint: normalizer of the scores over depth}}
  %h, %a, %r = attnres.backward %v, %v, %q, %g, %q, %q {normalizer = "sigmoid"} : (tensor<8x?x64xbf16>, tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @eps_as_string(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{attribute 'eps' failed to satisfy constraint: 32-bit float attribute}}
  %h, %a, %r = attnres.forward %v, %q, %g {eps = "small"} : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @eps_as_integer(%v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{attribute 'eps' failed to satisfy constraint: 32-bit float attribute}}
  %r = attnres.rms_rstd %v {eps = 1} : (tensor<8x?x64xbf16>) -> tensor<?x8xf32>
  return
}

// -----

// Generic form: properties are converted before the op is verified.
func.func @generic_normalizer_integer(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{invalid properties {normalizer = 1 : i32} for op attnres.forward: Invalid attribute `normalizer` in property conversion: 1 : i32}}
  %h:3 = "attnres.forward"(%v, %q, %g) <{normalizer = 1 : i32}> : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @generic_eps_string(%v: tensor<8x?x64xbf16>) {
  // expected-error @+1 {{invalid properties {eps = "x"} for op attnres.rms_rstd}}
  %r = "attnres.rms_rstd"(%v) <{eps = "x"}> : (tensor<8x?x64xbf16>) -> tensor<?x8xf32>
  return
}

// -----

func.func @generic_eps_f64(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{'attnres.forward' op attribute 'eps' failed to satisfy constraint: 32-bit float attribute}}
  %h:3 = "attnres.forward"(%v, %q, %g) <{eps = 1.0 : f64}> : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @generic_num_valid_float(%v: tensor<8x?x64xbf16>, %q: tensor<64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{Invalid attribute `num_valid` in property conversion: 2.000000e+00 : f32}}
  %h:3 = "attnres.forward"(%v, %q, %g) <{num_valid = 2.0 : f32}> : (tensor<8x?x64xbf16>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return
}
