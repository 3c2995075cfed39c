// RUN: attnres-opt %s --attnres-lower-to-gpu="form=streaming" | FileCheck %s

// Streaming form for a large N: rows are visited in loops through a pointer
// table in shared memory; odd D = 100 f16 narrows vectors to 4 elements.
// CHECK-LABEL: gpu.module @stream
// CHECK: gpu.func @stream(
// CHECK-SAME: workgroup(%{{.*}} : memref<{{[0-9]+}}xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[TABLE:.+]] : memref<64xi64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attnres.vector_elems = 4 : i64
// CHECK: llvm.ptrtoint
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.load %[[TABLE]]
// CHECK: llvm.inttoptr
// CHECK: llvm.load %{{.*}} {alignment = 8 : i64} : !llvm.ptr<1> -> vector<4xf16>
func.func @stream(%v: tensor<64x?x100xf16>, %q: tensor<100xf32>, %g: tensor<100xf32>)
    -> (tensor<?x100xf16>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<64x?x100xf16>, tensor<100xf32>, tensor<100xf32>)
      -> (tensor<?x100xf16>, tensor<?x64xf32>, tensor<?x64xf32>)
  return %h, %a, %r : tensor<?x100xf16>, tensor<?x64xf32>, tensor<?x64xf32>
}
