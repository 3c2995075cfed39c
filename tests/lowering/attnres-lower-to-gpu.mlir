// RUN: attnres-opt %s --attnres-lower-to-gpu="form=resident" -split-input-file | FileCheck %s

// Forward, resident tile (form=resident; the default is online): N = 4,
// D = 4096, bf16 -> 256 threads, 16-byte
// loads, warp shuffles and one shared-memory exchange; the func is replaced.
// CHECK: module attributes {gpu.container_module}
// CHECK-NOT: func.func
// CHECK-LABEL: gpu.module @fwd
// CHECK: gpu.func @fwd(%{{.*}}: !llvm.ptr<1>
// CHECK-SAME: i64) workgroup(%{{.*}} : memref<64xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK-SAME: attnres.vector_elems = 8 : i64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-SAME: nvvm.maxnreg = 248 : i32
// CHECK: scf.for
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<8xbf16>
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.sqrt.rn.f"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
func.func @fwd(%v: tensor<4x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x4xf32>, tensor<?x4xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<4x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x4xf32>, tensor<?x4xf32>)
  return %h, %a, %r : tensor<?x4096xbf16>, tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// Backward: the per-token kernel writes partial rows of c, and a separate
// reduce kernel sums them in a fixed order (no atomics anywhere).
// CHECK-LABEL: gpu.module @bwd
// CHECK: gpu.func @bwd(
// CHECK-NOT: llvm.atomicrmw
// CHECK: gpu.func @bwd_reduce(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: scf.for
// CHECK-NOT: llvm.atomicrmw
func.func @bwd(%dh: tensor<?x100xf16>, %v: tensor<3x?x100xf16>, %q: tensor<100xf32>,
               %g: tensor<100xf32>, %a: tensor<?x3xf32>, %r: tensor<?x3xf32>)
    -> (tensor<3x?x100xf16>, tensor<100xf32>, tensor<100xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x100xf16>, tensor<3x?x100xf16>, tensor<100xf32>, tensor<100xf32>,
         tensor<?x3xf32>, tensor<?x3xf32>)
      -> (tensor<3x?x100xf16>, tensor<100xf32>, tensor<100xf32>)
  return %dv, %dq, %dg : tensor<3x?x100xf16>, tensor<100xf32>, tensor<100xf32>
}

