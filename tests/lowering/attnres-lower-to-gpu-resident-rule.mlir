// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s

// The backward keeps the tile in registers first at N <= 2 and D <= 4096,
// where the resident mapping (two vectors a thread) needs at most 256
// threads: bf16 at D = 4096 (512 vectors of 8).
// CHECK-LABEL: gpu.func @bf16_d4096(
// CHECK-SAME: attnres.layout = "resident"
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
func.func @bf16_d4096(%dh: tensor<?x4096xbf16>, %v: tensor<2x?x4096xbf16>, %q: tensor<4096xbf16>,
                      %g: tensor<4096xbf16>, %a: tensor<?x2xf32>, %r: tensor<?x2xf32>)
    -> (tensor<2x?x4096xbf16>, tensor<4096xbf16>, tensor<4096xbf16>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x4096xbf16>, tensor<2x?x4096xbf16>, tensor<4096xbf16>, tensor<4096xbf16>,
         tensor<?x2xf32>, tensor<?x2xf32>)
      -> (tensor<2x?x4096xbf16>, tensor<4096xbf16>, tensor<4096xbf16>)
  return %dv, %dq, %dg : tensor<2x?x4096xbf16>, tensor<4096xbf16>, tensor<4096xbf16>
}

// -----

// f32 at D = 4096 (1024 vectors of 4) would take 512 threads resident: the
// tile goes to shared memory instead, four vectors a thread.
// CHECK-LABEL: gpu.func @f32_d4096(
// CHECK-SAME: attnres.layout = "smem ring=3"
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
func.func @f32_d4096(%dh: tensor<?x4096xf32>, %v: tensor<2x?x4096xf32>, %q: tensor<4096xf32>,
                     %g: tensor<4096xf32>, %a: tensor<?x2xf32>, %r: tensor<?x2xf32>)
    -> (tensor<2x?x4096xf32>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x4096xf32>, tensor<2x?x4096xf32>, tensor<4096xf32>, tensor<4096xf32>,
         tensor<?x2xf32>, tensor<?x2xf32>)
      -> (tensor<2x?x4096xf32>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<2x?x4096xf32>, tensor<4096xf32>, tensor<4096xf32>
}

// -----

// f32 at D = 2048 (512 vectors): resident with 256 threads, as before.
// CHECK-LABEL: gpu.func @f32_d2048(
// CHECK-SAME: attnres.layout = "resident"
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
func.func @f32_d2048(%dh: tensor<?x2048xf32>, %v: tensor<2x?x2048xf32>, %q: tensor<2048xf32>,
                     %g: tensor<2048xf32>, %a: tensor<?x2xf32>, %r: tensor<?x2xf32>)
    -> (tensor<2x?x2048xf32>, tensor<2048xf32>, tensor<2048xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x2048xf32>, tensor<2x?x2048xf32>, tensor<2048xf32>, tensor<2048xf32>,
         tensor<?x2xf32>, tensor<?x2xf32>)
      -> (tensor<2x?x2048xf32>, tensor<2048xf32>, tensor<2048xf32>)
  return %dv, %dq, %dg : tensor<2x?x2048xf32>, tensor<2048xf32>, tensor<2048xf32>
}
