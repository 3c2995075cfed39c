// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s
// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s --check-prefix=LOOP
// RUN: attnres-opt %s --attnres-lower-to-gpu -split-input-file | FileCheck %s --check-prefix=SUMS
// RUN: attnres-opt %s --attnres-lower-to-gpu="shared-bytes=49152 cluster-limit=1" -split-input-file | FileCheck %s --check-prefix=SMALL
// RUN: attnres-opt %s --attnres-lower-to-gpu="shared-bytes=49152" -split-input-file | FileCheck %s --check-prefix=PAIR
// RUN: attnres-opt %s --attnres-lower-to-gpu="stages=2" -split-input-file | FileCheck %s --check-prefix=TWO
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=smem stages=4 shared-bytes=131072" -split-input-file 2>&1 | FileCheck %s --check-prefix=FOUR

// Shared-memory form (the backward default where the tile fits): an
// external zero-length shared array for the tile, a ring of row slots,
// here one tile (two CTAs per SM): 9 rows of 256 threads x 2 vectors x 16
// bytes (dh and the 8 sources). The first 9 rows are copied with cp.async
// before the token loop, one commit group per row; pass 1 waits for dh with
// 8 copies in flight, refills its slot with the next token's dh, and waits
// row by row (v_0 with 8 in flight, v_7 with one); pass 2 refills each
// consumed row's slot.
// CHECK-LABEL: gpu.module @smem
// CHECK: llvm.mlir.global external @attnres_tile() {addr_space = 3 : i32, alignment = 128 : i64} : !llvm.array<0 x i8>
// CHECK: gpu.func @smem(
// CHECK-SAME: attnres.dynamic_shared_bytes = 73728 : i64
// CHECK-SAME: attnres.layout = "smem ring=9"
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: llvm.mlir.addressof @attnres_tile : !llvm.ptr<3>
// CHECK: scf.for %{{.*}} = %{{.*}} to %c9 step
// CHECK: arith.divui %{{.*}}, %c9_i64
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 8
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<8xbf16>
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 8
// CHECK: nvvm.cp.async.wait.group 7
// CHECK: nvvm.cp.async.wait.group 1
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<8xbf16>
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.func @smem_reduce(

// In the token loop, ring slots and the rows a ring ahead advance without
// division (the prologue's row indices are the only ones divided).
// LOOP: nvvm.cp.async.wait.group 8
// LOOP-NOT: arith.divui
// LOOP-NOT: arith.remui
// LOOP: gpu.func @smem_reduce(

// Pass 1 multiplies and adds with fma and reduces the rows' two sums
// (dalpha_i, u_i) over the warp four rows at a time: a reduce-scatter of 8
// values (four traded at offset 16, two at 8, one at 4, then plain steps at
// 2 and 1: 9 shuffles, not 40), after which lane l holds sum l / 4 and one
// lane of each four stores it.
// SUMS: gpu.func @smem(
// SUMS: nvvm.cp.async.wait.group 7
// SUMS: llvm.intr.fma
// SUMS-NOT: gpu.shuffle
// SUMS: nvvm.cp.async.wait.group 5
// SUMS-COUNT-9: gpu.shuffle  xor
// SUMS-NOT: gpu.shuffle
// SUMS: arith.shrui %{{.*}}, %c2_i64
// SUMS: arith.andi %{{.*}}, %c3_i64
// SUMS: memref.store
// SUMS-NOT: gpu.shuffle
// SUMS: nvvm.cp.async.wait.group 4

// Two tiles (stages = 2): 18 slots; dh waits with 17 copies in flight, v_0
// too (dh's slot was refilled with row 9 ahead), v_7 with 10.
// TWO: gpu.func @smem(
// TWO-SAME: attnres.dynamic_shared_bytes = 147456 : i64
// TWO-SAME: attnres.layout = "smem ring=18"
// TWO: nvvm.cp.async.wait.group 17
// TWO: nvvm.cp.async.wait.group 17
// TWO: nvvm.cp.async.wait.group 10
// TWO-NOT: nvvm.cp.async.wait.group 9
// TWO: gpu.barrier

// Four tiles do not fit 128 KiB: a clear error.
// FOUR: error: stages = 4: the ring (4 x 9 rows of 8192 bytes) does not fit 131072 bytes of shared memory

// A chip with 48 KiB per CTA and no clusters: the 72 KiB tile does not fit,
// the backward streams instead (no dynamic shared memory).
// SMALL-LABEL: gpu.func @smem(
// SMALL-NOT: attnres.dynamic_shared_bytes
// SMALL-NOT: nvvm.cp.async
// SMALL: gpu.func @smem_reduce(

// With clusters, a pair of CTAs holds it: 2048 columns each (9 rows x 256
// threads x 1 vector x 16 bytes after 64 bytes for the exchange).
// PAIR-LABEL: gpu.func @smem(
// PAIR-SAME: attnres.cluster_size = 2 : i64
// PAIR-SAME: attnres.dynamic_shared_bytes = 36928 : i64
// PAIR-SAME: attnres.layout = "cluster=2 ring=9"
// PAIR-SAME: nvvm.cluster_dim = array<i32: 2, 1, 1>
func.func @smem(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
               %g: tensor<4096xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>)
    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>,
         tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
}
