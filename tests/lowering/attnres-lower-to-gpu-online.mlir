// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s --check-prefix=AUTO
// RUN: attnres-opt %s --attnres-lower-to-gpu="stages=1" -split-input-file | FileCheck %s
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=online rows=3" -split-input-file | FileCheck %s --check-prefix=ROWS3
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=online rows=2 stages=4" -split-input-file | FileCheck %s --check-prefix=RING
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=online rows=4 stages=8" 2>&1 | FileCheck %s --check-prefix=RING-TOO-BIG

// The forward default: the online form with a ring in shared memory, four
// vectors per thread and row (128 threads for D = 4096 bf16), two slots of
// four rows, one group in flight while the other is reduced.
// AUTO-LABEL: gpu.func @online(
// AUTO-SAME: attnres.dynamic_shared_bytes = 65536 : i64
// AUTO-SAME: known_block_size = array<i32: 128, 1, 1>
// AUTO: nvvm.cp.async.wait.group 1

// Online form with the next group in registers (stages = 1): two vectors
// per thread and row (256 threads for D = 4096 bf16); the token loop
// carries the next group's raw vectors, the group loop carries h, the
// running max and sum and the next group; the next group is loaded before
// the group's reduction; one barrier per group, alternating partial-sum
// buffers.
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
// A ring of 4 slots of 2 rows (4 x 2 x 8192 bytes of dynamic shared
// memory): groups 0-2 copied before the token loop, one commit group each;
// each iteration copies the group 3 ahead, waits until at most 3 are in
// flight and reads its group back; only the counter is carried. A ring
// past the shared memory is an error naming it.
// RING-TOO-BIG: stages = 8: the ring (8 x 4 rows of 8192 bytes) does not fit 232448 bytes of shared memory
// RING: llvm.mlir.global external @attnres_tile() {addr_space = 3 : i32, alignment = 32 : i64}
// RING-LABEL: gpu.func @online(
// RING-SAME: attnres.dynamic_shared_bytes = 65536 : i64
// RING: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
// RING: nvvm.cp.async.commit.group
// RING: nvvm.cp.async.commit.group
// RING: nvvm.cp.async.commit.group
// RING: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (i64) {
// RING: scf.for
// RING: nvvm.cp.async.shared.global
// RING: nvvm.cp.async.commit.group
// RING-NEXT: nvvm.cp.async.wait.group 3
// RING: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<8xbf16>
// RING: gpu.barrier
// RING-NOT: llvm.load %{{.*}} : !llvm.ptr<1> -> vector<8xbf16>
// RING: scf.yield
func.func @online(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %a, %r : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}

