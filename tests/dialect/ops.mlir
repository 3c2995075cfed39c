// Round trip of every attnres op: custom form, and generic form re-parsed.
// RUN: attnres-opt %s | attnres-opt | FileCheck %s
// RUN: attnres-opt %s --mlir-print-op-generic | attnres-opt | FileCheck %s
// RUN: attnres-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

//===----------------------------------------------------------------------===//
// attnres.forward
//===----------------------------------------------------------------------===//

// The default eps (1e-6) and the default variant are elided when printed.
// CHECK-LABEL: func.func @forward_bf16_dynamic
// CHECK-SAME: (%[[V:.+]]: tensor<8x?x4096xbf16>, %[[Q:.+]]: tensor<4096xf32>, %[[G:.+]]: tensor<4096xf32>)
// CHECK: %[[H:.+]], %[[A:.+]], %[[R:.+]] = attnres.forward %[[V]], %[[Q]], %[[G]] :
// CHECK-SAME: (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
// CHECK: return %[[H]], %[[A]], %[[R]]
// GENERIC-LABEL: sym_name = "forward_bf16_dynamic"
// GENERIC: "attnres.forward"(%{{.+}}, %{{.+}}, %{{.+}}) <{eps = 9.99999997E-7 : f32, norm_target = #attnres.norm_target<keys>, normalizer = #attnres.normalizer<softmax>}>
func.func @forward_bf16_dynamic(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                                %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-06 : f32}
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}

// CHECK-LABEL: func.func @forward_f32_static
// CHECK-SAME: (%[[V:.+]]: tensor<3x16x64xf32>, %[[Q:.+]]: tensor<64xf32>, %[[G:.+]]: tensor<64xf32>)
// CHECK: attnres.forward %[[V]], %[[Q]], %[[G]] {eps = 2.500000e-01 : f32} :
// CHECK-SAME: -> (tensor<16x64xf32>, tensor<16x3xf32>, tensor<16x3xf32>)
func.func @forward_f32_static(%v: tensor<3x16x64xf32>, %q: tensor<64xf32>,
                              %g: tensor<64xf32>)
    -> (tensor<16x64xf32>, tensor<16x3xf32>, tensor<16x3xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 0.25 : f32}
      : (tensor<3x16x64xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<16x64xf32>, tensor<16x3xf32>, tensor<16x3xf32>)
  return %h, %alpha, %rstd : tensor<16x64xf32>, tensor<16x3xf32>, tensor<16x3xf32>
}

// Per-token query [M, D], f16 storage, bf16 parameters, every variant knob.
// CHECK-LABEL: func.func @forward_f16_token_query_variants
// CHECK-SAME: (%[[V:.+]]: tensor<4x?x?xf16>, %[[Q:.+]]: tensor<?x?xf16>, %[[G:.+]]: tensor<?xbf16>)
// CHECK: attnres.forward %[[V]], %[[Q]], %[[G]]
// CHECK-SAME: {norm_target = #attnres.norm_target<values>, normalizer = #attnres.normalizer<sigmoid>, num_valid = 3 : i64}
// CHECK-SAME: : (tensor<4x?x?xf16>, tensor<?x?xf16>, tensor<?xbf16>) -> (tensor<?x?xf16>, tensor<?x4xf32>, tensor<?x4xf32>)
// GENERIC-LABEL: sym_name = "forward_f16_token_query_variants"
// GENERIC: "attnres.forward"{{.+}}norm_target = #attnres.norm_target<values>, normalizer = #attnres.normalizer<sigmoid>, num_valid = 3 : i64}>
func.func @forward_f16_token_query_variants(%v: tensor<4x?x?xf16>, %q: tensor<?x?xf16>,
                                            %g: tensor<?xbf16>)
    -> (tensor<?x?xf16>, tensor<?x4xf32>, tensor<?x4xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      {normalizer = #attnres.normalizer<sigmoid>,
       norm_target = #attnres.norm_target<values>, num_valid = 3}
      : (tensor<4x?x?xf16>, tensor<?x?xf16>, tensor<?xbf16>)
      -> (tensor<?x?xf16>, tensor<?x4xf32>, tensor<?x4xf32>)
  return %h, %alpha, %rstd : tensor<?x?xf16>, tensor<?x4xf32>, tensor<?x4xf32>
}

// Every dimension dynamic, N = 1 (the canonicalizer is not run here).
// CHECK-LABEL: func.func @forward_all_dynamic
// CHECK: attnres.forward %{{.+}} : (tensor<?x?x?xbf16>, tensor<?x?xf32>, tensor<?xf32>) -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK-LABEL: func.func @forward_single_source
// CHECK: attnres.forward %{{.+}} : (tensor<1x5x7xf16>, tensor<7xf16>, tensor<7xf16>)
func.func @forward_all_dynamic(%v: tensor<?x?x?xbf16>, %q: tensor<?x?xf32>,
                               %g: tensor<?xf32>)
    -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<?x?x?xbf16>, tensor<?x?xf32>, tensor<?xf32>)
      -> (tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
  return %h, %alpha, %rstd : tensor<?x?xbf16>, tensor<?x?xf32>, tensor<?x?xf32>
}
func.func @forward_single_source(%v: tensor<1x5x7xf16>, %q: tensor<7xf16>,
                                 %g: tensor<7xf16>)
    -> (tensor<5x7xf16>, tensor<5x1xf32>, tensor<5x1xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g
      : (tensor<1x5x7xf16>, tensor<7xf16>, tensor<7xf16>)
      -> (tensor<5x7xf16>, tensor<5x1xf32>, tensor<5x1xf32>)
  return %h, %alpha, %rstd : tensor<5x7xf16>, tensor<5x1xf32>, tensor<5x1xf32>
}

// Bounds: M = 0 (an empty batch) and a huge M are fine, N = 64 and D = 16384
// are the largest accepted, num_valid up to 64 with N dynamic.
// CHECK-LABEL: func.func @forward_bounds
// CHECK: attnres.forward %{{.+}} : (tensor<2x0x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<0x8xf32>, tensor<0x2xf32>, tensor<0x2xf32>)
// CHECK: attnres.forward %{{.+}} : (tensor<64x99999999999x16384xbf16>, tensor<16384xf32>, tensor<16384xf32>) -> (tensor<99999999999x16384xbf16>, tensor<?x64xf32>, tensor<?x?xf32>)
// CHECK: attnres.forward %{{.+}} {num_valid = 64 : i64} : (tensor<?x?x8xf32>,
func.func @forward_bounds(%v0: tensor<2x0x8xf32>, %q: tensor<8xf32>,
                          %v1: tensor<64x99999999999x16384xbf16>,
                          %q1: tensor<16384xf32>, %v2: tensor<?x?x8xf32>) {
  %h0, %a0, %r0 = attnres.forward %v0, %q, %q
      : (tensor<2x0x8xf32>, tensor<8xf32>, tensor<8xf32>)
      -> (tensor<0x8xf32>, tensor<0x2xf32>, tensor<0x2xf32>)
  %h1, %a1, %r1 = attnres.forward %v1, %q1, %q1
      : (tensor<64x99999999999x16384xbf16>, tensor<16384xf32>, tensor<16384xf32>)
      -> (tensor<99999999999x16384xbf16>, tensor<?x64xf32>, tensor<?x?xf32>)
  %h2, %a2, %r2 = attnres.forward %v2, %q, %q {num_valid = 64}
      : (tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>)
      -> (tensor<?x8xf32>, tensor<?x?xf32>, tensor<?x?xf32>)
  return
}

//===----------------------------------------------------------------------===//
// attnres.backward
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @backward_bf16_dynamic
// CHECK-SAME: (%[[DH:.+]]: tensor<?x4096xbf16>, %[[V:.+]]: tensor<8x?x4096xbf16>, %[[Q:.+]]: tensor<4096xf32>, %[[G:.+]]: tensor<4096xf32>, %[[A:.+]]: tensor<?x8xf32>, %[[R:.+]]: tensor<?x8xf32>)
// CHECK: %[[DV:.+]], %[[DQ:.+]], %[[DG:.+]] = attnres.backward %[[DH]], %[[V]], %[[Q]], %[[G]], %[[A]], %[[R]] :
// CHECK-SAME: -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
// CHECK: return %[[DV]], %[[DQ]], %[[DG]]
func.func @backward_bf16_dynamic(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>,
                                 %q: tensor<4096xf32>, %g: tensor<4096xf32>,
                                 %alpha: tensor<?x8xf32>, %rstd: tensor<?x8xf32>)
    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>,
         tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
}

// CHECK-LABEL: func.func @backward_f32_static_variants
// CHECK: attnres.backward %{{.+}} {eps = 1.250000e-01 : f32, norm_target = #attnres.norm_target<values>, normalizer = #attnres.normalizer<sigmoid>, num_valid = 2 : i64}
// CHECK-SAME: : (tensor<16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<16x2xf32>, tensor<16x2xf32>) -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>)
func.func @backward_f32_static_variants(%dh: tensor<16x64xf32>, %v: tensor<2x16x64xf32>,
                                        %q: tensor<64xf32>, %g: tensor<64xf32>,
                                        %alpha: tensor<16x2xf32>, %rstd: tensor<16x2xf32>)
    -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd
      {eps = 0.125 : f32, normalizer = #attnres.normalizer<sigmoid>,
       norm_target = #attnres.norm_target<values>, num_valid = 2}
      : (tensor<16x64xf32>, tensor<2x16x64xf32>, tensor<64xf32>,
         tensor<64xf32>, tensor<16x2xf32>, tensor<16x2xf32>)
      -> (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>)
  return %dv, %dq, %dg : tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>
}

// CHECK-LABEL: func.func @backward_f16_token_query
// CHECK: attnres.backward %{{.+}} : (tensor<?x128xf16>, tensor<?x?x128xf16>, tensor<?x128xf16>, tensor<128xbf16>, tensor<?x?xf32>, tensor<?x?xf32>) -> (tensor<?x?x128xf16>, tensor<?x128xf16>, tensor<128xbf16>)
func.func @backward_f16_token_query(%dh: tensor<?x128xf16>, %v: tensor<?x?x128xf16>,
                                    %q: tensor<?x128xf16>, %g: tensor<128xbf16>,
                                    %alpha: tensor<?x?xf32>, %rstd: tensor<?x?xf32>)
    -> (tensor<?x?x128xf16>, tensor<?x128xf16>, tensor<128xbf16>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd
      : (tensor<?x128xf16>, tensor<?x?x128xf16>, tensor<?x128xf16>,
         tensor<128xbf16>, tensor<?x?xf32>, tensor<?x?xf32>)
      -> (tensor<?x?x128xf16>, tensor<?x128xf16>, tensor<128xbf16>)
  return %dv, %dq, %dg : tensor<?x?x128xf16>, tensor<?x128xf16>, tensor<128xbf16>
}

//===----------------------------------------------------------------------===//
// Graph ops, forward
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @rms_rstd(
// CHECK-SAME: %[[V16:.+]]: tensor<4x?x64xf16>, %[[VB:.+]]: tensor<2x8x32xbf16>, %[[V32:.+]]: tensor<?x?x?xf32>)
// CHECK: %[[R16:.+]] = attnres.rms_rstd %[[V16]] : (tensor<4x?x64xf16>) -> tensor<?x4xf32>
// CHECK: %[[RB:.+]] = attnres.rms_rstd %[[VB]] {eps = 5.000000e-01 : f32} : (tensor<2x8x32xbf16>) -> tensor<8x2xf32>
// CHECK: %[[R32:.+]] = attnres.rms_rstd %[[V32]] : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
// CHECK: return %[[R16]], %[[RB]], %[[R32]]
func.func @rms_rstd(%v16: tensor<4x?x64xf16>, %vb: tensor<2x8x32xbf16>,
                    %v32: tensor<?x?x?xf32>)
    -> (tensor<?x4xf32>, tensor<8x2xf32>, tensor<?x?xf32>) {
  %r16 = attnres.rms_rstd %v16 : (tensor<4x?x64xf16>) -> tensor<?x4xf32>
  %rb = attnres.rms_rstd %vb {eps = 0.5 : f32} : (tensor<2x8x32xbf16>) -> tensor<8x2xf32>
  %r32 = attnres.rms_rstd %v32 : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
  return %r16, %rb, %r32 : tensor<?x4xf32>, tensor<8x2xf32>, tensor<?x?xf32>
}

// CHECK-LABEL: func.func @score(
// CHECK-SAME: %[[V:.+]]: tensor<4x?x64xbf16>, %[[R:.+]]: tensor<?x4xf32>, %[[Q:.+]]: tensor<64xf32>, %[[QM:.+]]: tensor<?x64xf16>, %[[G:.+]]: tensor<64xf32>)
// CHECK: %[[S1:.+]] = attnres.score %[[V]], %[[R]], %[[Q]], %[[G]] : (tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x4xf32>
// CHECK: %[[S2:.+]] = attnres.score %[[V]], %[[R]], %[[QM]], %[[G]] : (tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<?x64xf16>, tensor<64xf32>) -> tensor<?x4xf32>
// CHECK: return %[[S1]], %[[S2]]
func.func @score(%v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>,
                 %qm: tensor<?x64xf16>, %g: tensor<64xf32>)
    -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %s1 = attnres.score %v, %r, %q, %g
      : (tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> tensor<?x4xf32>
  %s2 = attnres.score %v, %r, %qm, %g
      : (tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<?x64xf16>, tensor<64xf32>)
      -> tensor<?x4xf32>
  return %s1, %s2 : tensor<?x4xf32>, tensor<?x4xf32>
}

// CHECK-LABEL: func.func @score_static_f32_f16
// CHECK: attnres.score %{{.+}} : (tensor<3x10x16xf32>, tensor<10x3xf32>, tensor<10x16xf32>, tensor<16xf32>) -> tensor<10x3xf32>
// CHECK: attnres.score %{{.+}} : (tensor<3x10x16xf16>, tensor<10x3xf32>, tensor<16xf16>, tensor<16xf16>) -> tensor<10x3xf32>
func.func @score_static_f32_f16(%v: tensor<3x10x16xf32>, %vh: tensor<3x10x16xf16>,
                                %r: tensor<10x3xf32>, %qm: tensor<10x16xf32>,
                                %q: tensor<16xf16>, %g: tensor<16xf32>,
                                %gh: tensor<16xf16>)
    -> (tensor<10x3xf32>, tensor<10x3xf32>) {
  %s1 = attnres.score %v, %r, %qm, %g
      : (tensor<3x10x16xf32>, tensor<10x3xf32>, tensor<10x16xf32>, tensor<16xf32>)
      -> tensor<10x3xf32>
  %s2 = attnres.score %vh, %r, %q, %gh
      : (tensor<3x10x16xf16>, tensor<10x3xf32>, tensor<16xf16>, tensor<16xf16>)
      -> tensor<10x3xf32>
  return %s1, %s2 : tensor<10x3xf32>, tensor<10x3xf32>
}

// CHECK-LABEL: func.func @depth_softmax(
// CHECK-SAME: %[[S:.+]]: tensor<?x8xf32>, %[[T:.+]]: tensor<4x2xf32>)
// CHECK: %[[A:.+]] = attnres.depth_softmax %[[S]] : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: %[[B:.+]] = attnres.depth_softmax %[[T]] : (tensor<4x2xf32>) -> tensor<4x2xf32>
// CHECK: return %[[A]], %[[B]]
func.func @depth_softmax(%s: tensor<?x8xf32>, %t: tensor<4x2xf32>)
    -> (tensor<?x8xf32>, tensor<4x2xf32>) {
  %a = attnres.depth_softmax %s : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %b = attnres.depth_softmax %t : (tensor<4x2xf32>) -> tensor<4x2xf32>
  return %a, %b : tensor<?x8xf32>, tensor<4x2xf32>
}

// CHECK-LABEL: func.func @mix(
// CHECK-SAME: %[[A:.+]]: tensor<?x8xf32>, %[[V:.+]]: tensor<8x?x4096xbf16>, %[[AS:.+]]: tensor<6x2xf32>, %[[VH:.+]]: tensor<2x6x5xf16>, %[[VF:.+]]: tensor<2x6x5xf32>)
// CHECK: %[[H1:.+]] = attnres.mix %[[A]], %[[V]] : (tensor<?x8xf32>, tensor<8x?x4096xbf16>) -> tensor<?x4096xbf16>
// CHECK: %[[H2:.+]] = attnres.mix %[[AS]], %[[VH]] : (tensor<6x2xf32>, tensor<2x6x5xf16>) -> tensor<6x5xf16>
// CHECK: %[[H3:.+]] = attnres.mix %[[AS]], %[[VF]] : (tensor<6x2xf32>, tensor<2x6x5xf32>) -> tensor<?x?xf32>
// CHECK: return %[[H1]], %[[H2]], %[[H3]]
func.func @mix(%a: tensor<?x8xf32>, %v: tensor<8x?x4096xbf16>, %as: tensor<6x2xf32>,
               %vh: tensor<2x6x5xf16>, %vf: tensor<2x6x5xf32>)
    -> (tensor<?x4096xbf16>, tensor<6x5xf16>, tensor<?x?xf32>) {
  %h1 = attnres.mix %a, %v : (tensor<?x8xf32>, tensor<8x?x4096xbf16>) -> tensor<?x4096xbf16>
  %h2 = attnres.mix %as, %vh : (tensor<6x2xf32>, tensor<2x6x5xf16>) -> tensor<6x5xf16>
  %h3 = attnres.mix %as, %vf : (tensor<6x2xf32>, tensor<2x6x5xf32>) -> tensor<?x?xf32>
  return %h1, %h2, %h3 : tensor<?x4096xbf16>, tensor<6x5xf16>, tensor<?x?xf32>
}

//===----------------------------------------------------------------------===//
// Graph ops, vector-Jacobian products
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @mix_grad(
// CHECK-SAME: %[[DH:.+]]: tensor<?x64xbf16>, %[[A:.+]]: tensor<?x4xf32>, %[[V:.+]]: tensor<4x?x64xbf16>, %[[DHS:.+]]: tensor<3x8xf16>, %[[AS:.+]]: tensor<3x2xf32>, %[[VS:.+]]: tensor<2x3x8xf16>)
// CHECK: %[[DA:.+]], %[[DV:.+]] = attnres.mix_grad %[[DH]], %[[A]], %[[V]] : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
// CHECK: %[[DA2:.+]], %[[DV2:.+]] = attnres.mix_grad %[[DHS]], %[[AS]], %[[VS]] : (tensor<3x8xf16>, tensor<3x2xf32>, tensor<2x3x8xf16>) -> (tensor<3x2xf32>, tensor<2x3x8xf32>)
// CHECK: return %[[DA]], %[[DV]], %[[DA2]], %[[DV2]]
func.func @mix_grad(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>,
                    %dhs: tensor<3x8xf16>, %as: tensor<3x2xf32>, %vs: tensor<2x3x8xf16>)
    -> (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<3x2xf32>, tensor<2x3x8xf32>) {
  %da, %dv = attnres.mix_grad %dh, %a, %v
      : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>)
      -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  %da2, %dv2 = attnres.mix_grad %dhs, %as, %vs
      : (tensor<3x8xf16>, tensor<3x2xf32>, tensor<2x3x8xf16>)
      -> (tensor<3x2xf32>, tensor<2x3x8xf32>)
  return %da, %dv, %da2, %dv2
      : tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<3x2xf32>, tensor<2x3x8xf32>
}

// CHECK-LABEL: func.func @mix_grad_f32
// CHECK: attnres.mix_grad %{{.+}} : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?xf32>, tensor<?x?x?xf32>)
func.func @mix_grad_f32(%dh: tensor<?x?xf32>, %a: tensor<?x?xf32>, %v: tensor<?x?x?xf32>)
    -> (tensor<?x?xf32>, tensor<?x?x?xf32>) {
  %da, %dv = attnres.mix_grad %dh, %a, %v
      : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>)
      -> (tensor<?x?xf32>, tensor<?x?x?xf32>)
  return %da, %dv : tensor<?x?xf32>, tensor<?x?x?xf32>
}

// CHECK-LABEL: func.func @depth_softmax_grad(
// CHECK-SAME: %[[A:.+]]: tensor<?x4xf32>, %[[DA:.+]]: tensor<?x4xf32>, %[[AS:.+]]: tensor<7x1xf32>)
// CHECK: %[[DS:.+]] = attnres.depth_softmax_grad %[[A]], %[[DA]] : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: %[[DS2:.+]] = attnres.depth_softmax_grad %[[AS]], %[[AS]] : (tensor<7x1xf32>, tensor<7x1xf32>) -> tensor<?x?xf32>
// CHECK: return %[[DS]], %[[DS2]]
func.func @depth_softmax_grad(%a: tensor<?x4xf32>, %da: tensor<?x4xf32>, %as: tensor<7x1xf32>)
    -> (tensor<?x4xf32>, tensor<?x?xf32>) {
  %ds = attnres.depth_softmax_grad %a, %da
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %ds2 = attnres.depth_softmax_grad %as, %as
      : (tensor<7x1xf32>, tensor<7x1xf32>) -> tensor<?x?xf32>
  return %ds, %ds2 : tensor<?x4xf32>, tensor<?x?xf32>
}

// CHECK-LABEL: func.func @score_grad(
// CHECK-SAME: %[[DS:.+]]: tensor<?x4xf32>, %[[V:.+]]: tensor<4x?x64xbf16>, %[[R:.+]]: tensor<?x4xf32>, %[[Q:.+]]: tensor<64xf32>, %[[G:.+]]: tensor<64xf32>)
// CHECK: %[[DV:.+]], %[[DR:.+]], %[[DQ:.+]], %[[DG:.+]] = attnres.score_grad %[[DS]], %[[V]], %[[R]], %[[Q]], %[[G]] :
// CHECK-SAME: -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
// CHECK: return %[[DV]], %[[DR]], %[[DQ]], %[[DG]]
func.func @score_grad(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>,
                      %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) {
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return %dv, %dr, %dq, %dg
      : tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>
}

// CHECK-LABEL: func.func @score_grad_token_query
// CHECK: attnres.score_grad %{{.+}} : (tensor<5x2xf32>, tensor<2x5x8xf16>, tensor<5x2xf32>, tensor<5x8xf16>, tensor<8xbf16>) -> (tensor<2x5x8xf32>, tensor<5x2xf32>, tensor<5x8xf16>, tensor<8xbf16>)
// CHECK: attnres.score_grad %{{.+}} : (tensor<?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) -> (tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>)
func.func @score_grad_token_query(%ds: tensor<5x2xf32>, %v: tensor<2x5x8xf16>,
                                  %r: tensor<5x2xf32>, %q: tensor<5x8xf16>,
                                  %g: tensor<8xbf16>, %dsd: tensor<?x?xf32>,
                                  %vd: tensor<?x?x?xf32>, %qd: tensor<?x?xf32>,
                                  %gd: tensor<?xf32>)
    -> (tensor<5x8xf16>, tensor<?x?xf32>) {
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g
      : (tensor<5x2xf32>, tensor<2x5x8xf16>, tensor<5x2xf32>, tensor<5x8xf16>, tensor<8xbf16>)
      -> (tensor<2x5x8xf32>, tensor<5x2xf32>, tensor<5x8xf16>, tensor<8xbf16>)
  %dv2, %dr2, %dq2, %dg2 = attnres.score_grad %dsd, %vd, %dsd, %qd, %gd
      : (tensor<?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>)
      -> (tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>)
  return %dq, %dq2 : tensor<5x8xf16>, tensor<?x?xf32>
}

// CHECK-LABEL: func.func @rms_rstd_grad(
// CHECK-SAME: %[[DR:.+]]: tensor<?x4xf32>, %[[V:.+]]: tensor<4x?x64xbf16>, %[[R:.+]]: tensor<?x4xf32>, %[[VH:.+]]: tensor<4x3x2xf16>, %[[VF:.+]]: tensor<?x?x?xf32>)
// CHECK: %[[DV:.+]] = attnres.rms_rstd_grad %[[DR]], %[[V]], %[[R]] : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
// CHECK: %[[DVH:.+]] = attnres.rms_rstd_grad %[[DR]], %[[VH]], %[[R]] : (tensor<?x4xf32>, tensor<4x3x2xf16>, tensor<?x4xf32>) -> tensor<4x3x2xf32>
// CHECK: %[[DVF:.+]] = attnres.rms_rstd_grad %[[DR]], %[[VF]], %[[R]] : (tensor<?x4xf32>, tensor<?x?x?xf32>, tensor<?x4xf32>) -> tensor<?x?x?xf32>
// CHECK: return %[[DV]], %[[DVH]], %[[DVF]]
func.func @rms_rstd_grad(%dr: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>, %r: tensor<?x4xf32>,
                         %vh: tensor<4x3x2xf16>, %vf: tensor<?x?x?xf32>)
    -> (tensor<4x?x64xf32>, tensor<4x3x2xf32>, tensor<?x?x?xf32>) {
  %dv = attnres.rms_rstd_grad %dr, %v, %r
      : (tensor<?x4xf32>, tensor<4x?x64xbf16>, tensor<?x4xf32>) -> tensor<4x?x64xf32>
  %dvh = attnres.rms_rstd_grad %dr, %vh, %r
      : (tensor<?x4xf32>, tensor<4x3x2xf16>, tensor<?x4xf32>) -> tensor<4x3x2xf32>
  %dvf = attnres.rms_rstd_grad %dr, %vf, %r
      : (tensor<?x4xf32>, tensor<?x?x?xf32>, tensor<?x4xf32>) -> tensor<?x?x?xf32>
  return %dv, %dvh, %dvf : tensor<4x?x64xf32>, tensor<4x3x2xf32>, tensor<?x?x?xf32>
}

// The graph ops in the generic form carry their eps as a property.
// GENERIC-LABEL: sym_name = "rms_rstd"
// GENERIC: "attnres.rms_rstd"(%{{.+}}) <{eps = 9.99999997E-7 : f32}> : (tensor<4x?x64xf16>) -> tensor<?x4xf32>
// GENERIC: "attnres.rms_rstd"(%{{.+}}) <{eps = 5.000000e-01 : f32}>
// GENERIC-LABEL: sym_name = "mix_grad"
// GENERIC: %{{.+}}:2 = "attnres.mix_grad"(%{{.+}}, %{{.+}}, %{{.+}}) : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
// GENERIC-LABEL: sym_name = "score_grad"
// GENERIC: %{{.+}}:4 = "attnres.score_grad"
