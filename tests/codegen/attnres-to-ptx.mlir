// The canonical example through the whole pipeline: dynamic-free N, D from
// the options, PTX in a gpu.binary and as .ptx files that ptxas accepts.
// RUN: rm -rf %t && mkdir -p %t
// RUN: attnres-opt %S/../../examples/attnres.mlir \
// RUN:   --attnres-to-ptx="n=8 d=4096 dtype=bf16 chip=sm_90a dump-ptx=%t" | FileCheck %s
// RUN: FileCheck %s --check-prefix=PTX < %t/attnres_forward.ptx
// RUN: FileCheck %s --check-prefix=BWD < %t/attnres_backward.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_90a %t/attnres_forward.ptx -o %t/fwd.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90a %t/attnres_backward.ptx -o %t/bwd.cubin %}

// CHECK-NOT: attnres.
// CHECK: gpu.binary @attnres_forward
// CHECK-SAME: #gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}assembly = "
// CHECK: gpu.binary @attnres_backward

// PTX: .target sm_90a
// PTX: .extern .shared .align 32 .b8 attnres_tile[];
// PTX: .entry attnres_forward(
// PTX: .maxntid 128, 1, 1
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: cp.async.wait_group 1
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: bar.sync
// PTX-DAG: sqrt.rn.f32
// PTX-DAG: ex2.approx.f32
// PTX-DAG: st.global.v4.b32

// BWD: .entry attnres_backward(
// BWD: .entry attnres_backward_reduce(
// BWD-NOT: {{[[:space:]]}}atom.
// BWD-NOT: {{[[:space:]]}}red.
