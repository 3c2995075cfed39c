// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=online rows=3" -split-input-file | FileCheck %s --check-prefix=ROWS3

// Online form (the forward default past N = 4): two vectors per thread and
// row (256 threads for D = 4096 bf16); the token loop carries the next
// group's raw vectors, the group loop carries h, the running max and sum and
// the next group; the next group is loaded before the group's reduction; one
// barrier per group, alternating partial-sum buffers.
// CHECK-LABEL: gpu.module @online
// CHECK: gpu.func @online(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xbf16>
// CHECK: scf.for {{.*}} -> (vector<8xbf16>, {{.*}}, i64) {
// CHECK: scf.for {{.*}} -> (f32, {{.*}}, vector<8xbf16>, {{.*}}, i64) {
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xbf16>
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: scf.yield
// CHECK: } {llvm.loop_annotation = #{{.*}}}
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"

// A partial last group (8 rows in groups of 3): rows clamped into range,
// scores of rows past N forced to -inf.
// ROWS3-LABEL: gpu.func @online(
// ROWS3: arith.minsi
// ROWS3: arith.cmpi slt
// ROWS3: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
func.func @online(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %a, %r : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}
