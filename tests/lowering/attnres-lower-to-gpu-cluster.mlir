// RUN: attnres-opt %s --attnres-lower-to-gpu="form=cluster cluster=4" | FileCheck %s
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=cluster" | FileCheck %s --check-prefix=EIGHT
// RUN: attnres-opt %s --attnres-lower-to-gpu | FileCheck %s --check-prefixes=EIGHT,PAIR,WIDE
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=cluster cluster-limit=1" 2>&1 | FileCheck %s --check-prefix=NOCLUSTER

// Cluster form (backward, asked for with clusters of four): N = 32,
// D = 8192 bf16 is 528 KiB with dh; four CTAs each keep a 2048-column slice (33 rows x 256
// threads x 1 vector x 16 bytes, one tile of the ring), after 256 bytes
// for the exchange. The
// cluster shape is a kernel attribute (.reqnctapercluster), tokens go to
// clusters, and the per-row partial sums are summed in rank order from every
// CTA's exchange area between two cluster barriers.
// CHECK: llvm.mlir.global external @attnres_tile() {addr_space = 3 : i32, alignment = 128 : i64}
// CHECK: gpu.func @cluster(
// CHECK-SAME: attnres.cluster_size = 4 : i64
// CHECK-SAME: attnres.dynamic_shared_bytes = 135424 : i64
// CHECK-SAME: attnres.layout = "cluster=4 ring=33"
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-SAME: nvvm.cluster_dim = array<i32: 4, 1, 1>
// CHECK: nvvm.read.ptx.sreg.clusterid.x
// CHECK: nvvm.read.ptx.sreg.nclusterid.x
// CHECK: nvvm.read.ptx.sreg.cluster.ctarank
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.wait.group 32
// CHECK: nvvm.cluster.arrive {aligned}
// CHECK-NEXT: nvvm.cluster.wait {aligned}
// CHECK: nvvm.mapa %{{.*}}, %{{.*}} : !llvm.ptr<3> -> !llvm.ptr<7>
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<7> -> f32
// CHECK: nvvm.cluster.arrive {aligned}
// CHECK-NEXT: nvvm.cluster.wait {aligned}
// The reduce sums whole partial rows of D = 8192 columns (each CTA wrote
// its slice and zeros elsewhere), not rows of one CTA's slice.
// CHECK: gpu.func @cluster_reduce(
// CHECK: %[[D:.+]] = arith.constant 8192 : i64
// CHECK-NEXT: arith.cmpi slt, %{{.*}}, %[[D]] : i64
// CHECK: scf.for
// CHECK: arith.constant 8192 : i64
// CHECK-NEXT: arith.muli

// Left to choose (form = cluster or auto): a pair does not fit and four
// leave one CTA an SM, so eight, each a 1024-column slice of one vector for
// each of 128 threads (no slot idle), three CTAs an SM.
// EIGHT: gpu.func @cluster(
// EIGHT-SAME: attnres.cluster_size = 8 : i64
// EIGHT-SAME: attnres.dynamic_shared_bytes = 67840 : i64
// EIGHT-SAME: attnres.layout = "cluster=8 ring=33"
// EIGHT-SAME: known_block_size = array<i32: 128, 1, 1>
// EIGHT-SAME: nvvm.cluster_dim = array<i32: 8, 1, 1>

// NOCLUSTER: form = cluster needs thread-block clusters (sm_90 or newer)
func.func @cluster(%dh: tensor<?x8192xbf16>, %v: tensor<32x?x8192xbf16>, %q: tensor<8192xf32>,
                   %g: tensor<8192xf32>, %a: tensor<?x32xf32>, %r: tensor<?x32xf32>)
    -> (tensor<32x?x8192xbf16>, tensor<8192xf32>, tensor<8192xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x8192xbf16>, tensor<32x?x8192xbf16>, tensor<8192xf32>, tensor<8192xf32>,
         tensor<?x32xf32>, tensor<?x32xf32>)
      -> (tensor<32x?x8192xbf16>, tensor<8192xf32>, tensor<8192xf32>)
  return %dv, %dq, %dg : tensor<32x?x8192xbf16>, tensor<8192xf32>, tensor<8192xf32>
}

// N = 32, D = 5120: a pair fits (2560-column slices, 320 vectors), and 320
// threads of one vector each leave no slot idle (128 threads of three
// would leave 64).
// PAIR: gpu.func @pair(
// PAIR-SAME: attnres.cluster_size = 2 : i64
// PAIR-SAME: attnres.layout = "cluster=2 ring=33"
// PAIR-SAME: known_block_size = array<i32: 320, 1, 1>
func.func @pair(%dh: tensor<?x5120xbf16>, %v: tensor<32x?x5120xbf16>, %q: tensor<5120xf32>,
                %g: tensor<5120xf32>, %a: tensor<?x32xf32>, %r: tensor<?x32xf32>)
    -> (tensor<32x?x5120xbf16>, tensor<5120xf32>, tensor<5120xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x5120xbf16>, tensor<32x?x5120xbf16>, tensor<5120xf32>, tensor<5120xf32>,
         tensor<?x32xf32>, tensor<?x32xf32>)
      -> (tensor<32x?x5120xbf16>, tensor<5120xf32>, tensor<5120xf32>)
  return %dv, %dq, %dg : tensor<32x?x5120xbf16>, tensor<5120xf32>, tensor<5120xf32>
}

// N = 16, D = 8704: no thread count leaves every slot of the pair's 544
// vectors busy; of those that keep a thread's lanes within 48 (no spill),
// 96, 192 and 288 leave the fewest idle (32): the most, 288. (Idle slots
// alone would pick 32 threads of 17 vectors each, which spilled.)
// WIDE: gpu.func @wide(
// WIDE-SAME: attnres.cluster_size = 2 : i64
// WIDE-SAME: known_block_size = array<i32: 288, 1, 1>
func.func @wide(%dh: tensor<?x8704xbf16>, %v: tensor<16x?x8704xbf16>, %q: tensor<8704xf32>,
                %g: tensor<8704xf32>, %a: tensor<?x16xf32>, %r: tensor<?x16xf32>)
    -> (tensor<16x?x8704xbf16>, tensor<8704xf32>, tensor<8704xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x8704xbf16>, tensor<16x?x8704xbf16>, tensor<8704xf32>, tensor<8704xf32>,
         tensor<?x16xf32>, tensor<?x16xf32>)
      -> (tensor<16x?x8704xbf16>, tensor<8704xf32>, tensor<8704xf32>)
  return %dv, %dq, %dg : tensor<16x?x8704xbf16>, tensor<8704xf32>, tensor<8704xf32>
}
