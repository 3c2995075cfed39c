// RUN: attnres-opt %s --attnres-lower-to-cpu -split-input-file -verify-diagnostics --mlir-print-local-scope | FileCheck %s

// Loops are (m, n, d): tokens, sources, features. The values [N, M, D] are
// read through (d0, d1, d2) -> (d1, d0, d2); f32 accumulators start from a
// linalg.fill; storage types are extended before any math. Every function
// gets the C interface and read-only tensor arguments.

// CHECK-LABEL: func.func @rms_rstd(
// CHECK-SAME:    %[[V:.+]]: tensor<4x?x64xbf16> {bufferization.writable = false})
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<?x4xf32>)
// CHECK:         %[[SUM:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[V]] : tensor<4x?x64xbf16>) outs(%[[ZERO]] : tensor<?x4xf32>)
// CHECK:           %[[X:.+]] = arith.extf %{{.+}} : bf16 to f32
// CHECK:           %[[SQ:.+]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK:           arith.addf %{{.+}}, %[[SQ]] : f32
// CHECK-DAG:     %[[WIDTH:.+]] = arith.constant 6.400000e+01 : f32
// CHECK-DAG:     %[[EPS:.+]] = arith.constant 9.99999997E-7 : f32
// CHECK:         %[[R:.+]] = linalg.generic {{.+}} ins(%[[SUM]] : tensor<?x4xf32>)
// CHECK:           %[[MEAN:.+]] = arith.divf %{{.+}}, %[[WIDTH]] : f32
// CHECK:           %[[SHIFTED:.+]] = arith.addf %[[MEAN]], %[[EPS]] : f32
// CHECK:           %[[ROOT:.+]] = math.sqrt %[[SHIFTED]] : f32
// CHECK:           arith.divf %{{.+}}, %[[ROOT]] : f32
// CHECK:         return %[[R]] : tensor<?x4xf32>
func.func @rms_rstd(%v: tensor<4x?x64xbf16>) -> tensor<?x4xf32> {
  %r = attnres.rms_rstd %v {eps = 1.0e-06 : f32} : (tensor<4x?x64xbf16>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @score(
// CHECK-SAME:    %[[V:[^:]+]]: tensor<4x?x64xf16> {{.+}}, %[[R:[^:]+]]: tensor<?x4xf32> {{.+}}, %[[Q:[^:]+]]: tensor<64xf32> {{.+}}, %[[G:[^:]+]]: tensor<64xf32>
// CHECK:         %[[U:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:      ins(%[[V]], %[[Q]], %[[G]] :
// CHECK:           %[[W:.+]] = arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK:           %[[X:.+]] = arith.extf %{{.+}} : f16 to f32
// CHECK:           %[[WX:.+]] = arith.mulf %[[W]], %[[X]] : f32
// CHECK:           arith.addf %{{.+}}, %[[WX]] : f32
// CHECK:         %[[S:.+]] = linalg.generic {{.+}} ins(%[[R]], %[[U]] : tensor<?x4xf32>, tensor<?x4xf32>)
// CHECK:           arith.mulf
// CHECK:         return %[[S]]
func.func @score(%v: tensor<4x?x64xf16>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>) -> tensor<?x4xf32> {
  %s = attnres.score %v, %r, %q, %g : (tensor<4x?x64xf16>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x4xf32>
  return %s : tensor<?x4xf32>
}

// -----

// One query per token [M, D] is read at (m, d).
// CHECK-LABEL: func.func @score_per_token_query(
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
func.func @score_per_token_query(%v: tensor<4x?x64xf32>, %r: tensor<?x4xf32>, %q: tensor<?x64xf32>, %g: tensor<64xf32>) -> tensor<?x4xf32> {
  %s = attnres.score %v, %r, %q, %g : (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x4xf32>
  return %s : tensor<?x4xf32>
}

// -----

// Softmax over N with the row maximum subtracted: max, sum of exp, divide.
// CHECK-LABEL: func.func @depth_softmax(
// CHECK-SAME:    %[[S:[^:]+]]: tensor<?x4xf32>
// CHECK:         %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK:         %[[INIT:.+]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.+}} : tensor<?xf32>)
// CHECK:         %[[MAX:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%[[S]] : tensor<?x4xf32>) outs(%[[INIT]] : tensor<?xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[SUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]} ins(%[[S]], %[[MAX]] :
// CHECK:           %[[D:.+]] = arith.subf
// CHECK:           %[[E:.+]] = math.exp %[[D]] : f32
// CHECK:           arith.addf %{{.+}}, %[[E]] : f32
// CHECK:         %[[A:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} ins(%[[S]], %[[MAX]], %[[SUM]] :
// CHECK:           %[[D2:.+]] = arith.subf
// CHECK:           %[[E2:.+]] = math.exp %[[D2]] : f32
// CHECK:           arith.divf %[[E2]], %{{.+}} : f32
// CHECK:         return %[[A]]
func.func @depth_softmax(%s: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %a = attnres.depth_softmax %s : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

// Accumulate in f32 over n (the middle loop), round once to the storage type.
// CHECK-LABEL: func.func @mix(
// CHECK:         %[[ACC:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME:      outs(%{{.+}} : tensor<?x64xf32>)
// CHECK:         %[[H:.+]] = linalg.generic {{.+}} ins(%[[ACC]] : tensor<?x64xf32>) outs(%{{.+}} : tensor<?x64xbf16>)
// CHECK:           arith.truncf %{{.+}} : f32 to bf16
// CHECK:         return %[[H]] : tensor<?x64xbf16>
func.func @mix(%a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) -> tensor<?x64xbf16> {
  %h = attnres.mix %a, %v : (tensor<?x4xf32>, tensor<4x?x64xbf16>) -> tensor<?x64xbf16>
  return %h : tensor<?x64xbf16>
}

// -----

// With f32 storage the accumulator is the result: no rounding op.
// CHECK-LABEL: func.func @mix_f32(
// CHECK:         %[[ACC:.+]] = linalg.generic
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[ACC]] : tensor<?x64xf32>
func.func @mix_f32(%a: tensor<?x4xf32>, %v: tensor<4x?x64xf32>) -> tensor<?x64xf32> {
  %h = attnres.mix %a, %v : (tensor<?x4xf32>, tensor<4x?x64xf32>) -> tensor<?x64xf32>
  return %h : tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @mix_grad(
// CHECK-SAME:    %[[DH:[^:]+]]: tensor<?x64xbf16> {{.+}}, %[[A:[^:]+]]: tensor<?x4xf32> {{.+}}, %[[V:[^:]+]]: tensor<4x?x64xbf16>
// CHECK:         %[[DA:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[DH]], %[[V]] :
// CHECK:         %[[DV:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d0, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[A]], %[[DH]] :
// CHECK:         return %[[DA]], %[[DV]] : tensor<?x4xf32>, tensor<4x?x64xf32>
func.func @mix_grad(%dh: tensor<?x64xbf16>, %a: tensor<?x4xf32>, %v: tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>) {
  %da, %dv = attnres.mix_grad %dh, %a, %v : (tensor<?x64xbf16>, tensor<?x4xf32>, tensor<4x?x64xbf16>) -> (tensor<?x4xf32>, tensor<4x?x64xf32>)
  return %da, %dv : tensor<?x4xf32>, tensor<4x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @depth_softmax_grad(
// CHECK-SAME:    %[[A:[^:]+]]: tensor<?x4xf32> {{.+}}, %[[DA:[^:]+]]: tensor<?x4xf32>
// CHECK:         %[[DOT:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]} ins(%[[A]], %[[DA]] :
// CHECK:         %[[DS:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} ins(%[[A]], %[[DA]], %[[DOT]] :
// CHECK:         ^bb0(%[[AI:.+]]: f32, %[[DAI:.+]]: f32, %[[DOTI:.+]]: f32, %{{.+}}: f32):
// CHECK:           %[[DIFF:.+]] = arith.subf %[[DAI]], %[[DOTI]] : f32
// CHECK:           arith.mulf %[[AI]], %[[DIFF]] : f32
// CHECK:         return %[[DS]]
func.func @depth_softmax_grad(%a: tensor<?x4xf32>, %da: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %ds : tensor<?x4xf32>
}

// -----

// c reduces over tokens and sources at once: iterators (reduction,
// reduction, parallel); dq = g * c and dg = q * c.
// CHECK-LABEL: func.func @score_grad(
// CHECK-SAME:    %[[DS:[^:]+]]: tensor<?x4xf32> {{.+}}, %[[V:[^:]+]]: tensor<4x?x64xf32> {{.+}}, %[[R:[^:]+]]: tensor<?x4xf32> {{.+}}, %[[Q:[^:]+]]: tensor<64xf32> {{.+}}, %[[G:[^:]+]]: tensor<64xf32>
// CHECK:         %[[DV:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[DS]], %[[R]], %[[Q]], %[[G]] :
// CHECK:         %[[U:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[V]], %[[Q]], %[[G]] :
// CHECK:         %[[DR:.+]] = linalg.generic {{.+}} ins(%[[DS]], %[[U]] :
// CHECK:         %[[C:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d2)>], iterator_types = ["reduction", "reduction", "parallel"]} ins(%[[DS]], %[[R]], %[[V]] :
// CHECK:         %[[DQ:.+]] = linalg.generic {{.+}} ins(%[[G]], %[[C]] :
// CHECK:         %[[DG:.+]] = linalg.generic {{.+}} ins(%[[Q]], %[[C]] :
// CHECK:         return %[[DV]], %[[DR]], %[[DQ]], %[[DG]]
func.func @score_grad(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xf32>, %r: tensor<?x4xf32>, %q: tensor<64xf32>, %g: tensor<64xf32>)
    -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>) {
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>)
  return %dv, %dr, %dq, %dg : tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<64xf32>, tensor<64xf32>
}

// -----

// One query per token: c keeps the token (parallel m), dq is [M, D] and dg
// reduces q * c over the tokens.
// CHECK-LABEL: func.func @score_grad_per_token_query(
// CHECK:         %[[C:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK:         %[[DQ:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%{{.+}}, %[[C]] : tensor<64xf32>, tensor<?x64xf32>)
// CHECK:         %[[DG:.+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>], iterator_types = ["reduction", "parallel"]} ins(%{{.+}}, %[[C]] : tensor<?x64xf32>, tensor<?x64xf32>)
// CHECK:         return %{{.+}}, %{{.+}}, %[[DQ]], %[[DG]]
func.func @score_grad_per_token_query(%ds: tensor<?x4xf32>, %v: tensor<4x?x64xf32>, %r: tensor<?x4xf32>, %q: tensor<?x64xf32>, %g: tensor<64xf32>)
    -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<64xf32>) {
  %dv, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g
      : (tensor<?x4xf32>, tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<64xf32>)
      -> (tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<64xf32>)
  return %dv, %dr, %dq, %dg : tensor<4x?x64xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<64xf32>
}

// -----

// A dynamic D is read from the values at run time.
// CHECK-LABEL: func.func @rms_rstd_grad(
// CHECK-SAME:    %[[DR:[^:]+]]: tensor<?x4xf32> {{.+}}, %[[V:[^:]+]]: tensor<4x?x?xf32> {{.+}}, %[[R:[^:]+]]: tensor<?x4xf32>
// CHECK:         %[[DI:.+]] = arith.index_castui %{{.+}} : index to i64
// CHECK:         %[[DF:.+]] = arith.uitofp %[[DI]] : i64 to f32
// CHECK:         %[[DV:.+]] = linalg.generic {{.+}} ins(%[[DR]], %[[R]], %[[V]] :
// CHECK:           arith.divf %{{.+}}, %[[DF]] : f32
// CHECK:           arith.negf
// CHECK:         return %[[DV]]
func.func @rms_rstd_grad(%dr: tensor<?x4xf32>, %v: tensor<4x?x?xf32>, %r: tensor<?x4xf32>) -> tensor<4x?x?xf32> {
  %dv = attnres.rms_rstd_grad %dr, %v, %r : (tensor<?x4xf32>, tensor<4x?x?xf32>, tensor<?x4xf32>) -> tensor<4x?x?xf32>
  return %dv : tensor<4x?x?xf32>
}

// -----

func.func @fused(%v: tensor<2x?x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{attnres-lower-to-cpu: 'attnres.forward' is a fused op; run attnres-decompose first (the attnres-to-cpu pipeline does)}}
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<2x?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %h : tensor<?x8xf32>
}
