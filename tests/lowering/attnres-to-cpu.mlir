// RUN: attnres-opt %s --attnres-to-cpu -split-input-file | FileCheck %s \
// RUN:   --implicit-check-not='{{(attnres|linalg|tensor|memref|bufferization|arith|math|scf)\.|llvm\.fpext|llvm\.fptrunc}}'

// The whole CPU pipeline on the fused ops: only the llvm dialect remains,
// temporaries are freed, results are malloc'd for the caller, and each
// function has a C wrapper taking the result struct by pointer first, then
// one memref descriptor pointer per tensor argument. bf16 conversions are
// integer code: no fpext/fptrunc that would need a runtime library.

// CHECK-DAG:   llvm.func @free(!llvm.ptr)
// CHECK-DAG:   llvm.func @malloc(i64) -> !llvm.ptr
// CHECK-LABEL: llvm.func @attnres_forward(
// CHECK-SAME:    -> !llvm.struct<(struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>, struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>, struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>)>
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         llvm.call @malloc
// CHECK:         llvm.intr.sqrt
// CHECK:         llvm.intr.exp
// CHECK:         llvm.call @free
// CHECK-LABEL: llvm.func @_mlir_ciface_attnres_forward(
// CHECK-SAME:    %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr)
// CHECK:         llvm.call @attnres_forward(
// CHECK-LABEL: llvm.func @attnres_backward(
// CHECK-SAME:    -> !llvm.struct<(struct<(ptr, ptr, i64, array<3 x i64>, array<3 x i64>)>, struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>, struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>)>
// CHECK:         llvm.call @free
// CHECK-LABEL: llvm.func @_mlir_ciface_attnres_backward(
// CHECK-SAME:    %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr)
func.func @attnres_forward(%v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %h, %alpha, %rstd = attnres.forward %v, %q, %g {eps = 1.0e-06 : f32}
      : (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>)
  return %h, %alpha, %rstd : tensor<?x4096xbf16>, tensor<?x8xf32>, tensor<?x8xf32>
}
func.func @attnres_backward(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>,
                            %q: tensor<4096xf32>, %g: tensor<4096xf32>,
                            %alpha: tensor<?x8xf32>, %rstd: tensor<?x8xf32>)
    -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %alpha, %rstd {eps = 1.0e-06 : f32}
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>,
         tensor<4096xf32>, tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv, %dq, %dg : tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>
}

// -----

// A result that is an argument comes back as a copy the caller owns.
// CHECK-LABEL: llvm.func @identity(
// CHECK:         %[[COPY:.+]] = llvm.call @malloc
// CHECK:         "llvm.intr.memcpy"(%{{.+}}, %{{.+}}, %{{.+}}) <{isVolatile = false}>
// CHECK:         llvm.return
func.func @identity(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}
