// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s

// The rule at other widths: D = 8192 bf16 takes 256 threads (4 vectors a
// thread, 32 lanes) and groups of four rows in two slots (128 KB); f32 at
// D = 8192 halves the rows until the ring fits 128 KB (one row, three
// slots of 32 KB); D = 7168 bf16 (56 lanes a thread) takes one row a group
// in three slots.
// CHECK-LABEL: gpu.func @wide(
// CHECK-SAME: attnres.dynamic_shared_bytes = 131072 : i64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: nvvm.cp.async.wait.group 1
func.func @wide(%v: tensor<8x?x8192xbf16>, %q: tensor<8192xf32>, %g: tensor<8192xf32>)
    -> tensor<?x8192xbf16> {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<8x?x8192xbf16>, tensor<8192xf32>, tensor<8192xf32>)
      -> (tensor<?x8192xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x8192xbf16>
}

// -----

// CHECK-LABEL: gpu.func @wide_f32(
// CHECK-SAME: attnres.dynamic_shared_bytes = 98304 : i64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: nvvm.cp.async.wait.group 2
func.func @wide_f32(%v: tensor<8x?x8192xf32>, %q: tensor<8192xf32>, %g: tensor<8192xf32>)
    -> tensor<?x8192xf32> {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<8x?x8192xf32>, tensor<8192xf32>, tensor<8192xf32>)
      -> (tensor<?x8192xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h : tensor<?x8192xf32>
}

// -----

// CHECK-LABEL: gpu.func @d7168(
// CHECK-SAME: attnres.dynamic_shared_bytes = 43008 : i64
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: nvvm.cp.async.wait.group 2
func.func @d7168(%v: tensor<4x?x7168xbf16>, %q: tensor<7168xf32>, %g: tensor<7168xf32>)
    -> tensor<?x7168xbf16> {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<4x?x7168xbf16>, tensor<7168xf32>, tensor<7168xf32>)
      -> (tensor<?x7168xbf16>, tensor<?x4xf32>, tensor<?x4xf32>)
  return %h : tensor<?x7168xbf16>
}
