// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file -verify-diagnostics

func.func @dynamic_width(%v: tensor<8x?x?xbf16>, %q: tensor<?xf32>, %g: tensor<?xf32>)
    -> tensor<?x?xbf16> {
  // expected-error @+1 {{needs static N and D; run attnres-specialize first}}
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<8x?x?xbf16>, tensor<?xf32>, tensor<?xf32>)
      -> (tensor<?x?xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x?xbf16>
}

// -----

func.func @sigmoid(%v: tensor<2x?x64xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> tensor<?x64xf32> {
  // expected-error @+1 {{the sigmoid normalizer is declared but not lowered yet}}
  %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<sigmoid>}
      : (tensor<2x?x64xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %h : tensor<?x64xf32>
}

// -----

// expected-error @+1 {{function must hold exactly one attnres.forward or attnres.backward and a return}}
func.func @graph(%v: tensor<2x?x64xf32>) -> tensor<?x2xf32> {
  %r = attnres.rms_rstd %v : (tensor<2x?x64xf32>) -> tensor<?x2xf32>
  return %r : tensor<?x2xf32>
}
