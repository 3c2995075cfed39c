// RUN: attnres-opt %s --attnres-lower-to-gpu | FileCheck %s --check-prefixes=SEVEN,F32EIGHT
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=cluster cluster=8" | FileCheck %s --check-prefix=ASKED
// RUN: attnres-opt %s --attnres-lower-to-gpu="cluster-limit=16" | FileCheck %s --check-prefixes=SEVEN,F32FOURTEEN
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=cluster cluster=9" 2>&1 | FileCheck %s --check-prefix=NINE
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=cluster cluster=17 cluster-limit=16" 2>&1 | FileCheck %s --check-prefix=SEVENTEEN

// The size of an automatic cluster (the widths where a pair does not fit):
// of 3 to 8 CTAs, the size leaving the most CTAs an SM, ties to the fewest
// idle vector slots, then the larger; sizes other than 4 and 8 only where
// two or more CTAs share an SM; past 8 (non-portable sizes, up to
// cluster-limit) only where no size up to 8 leaves two CTAs an SM.

// ASKED: attnres.cluster_size = 8 : i64
// ASKED: attnres.cluster_size = 8 : i64

// N = 32, D = 7168: clusters of seven and of eight both leave three CTAs
// an SM; seven split D into 1024-column slices, one vector for each of 128
// threads, where eight leave 16 of 112 slots idle: seven.
// SEVEN: gpu.func @seven(
// SEVEN-SAME: attnres.cluster_size = 7 : i64
// SEVEN-SAME: attnres.dynamic_shared_bytes = 67840 : i64
// SEVEN-SAME: known_block_size = array<i32: 128, 1, 1>
// SEVEN-SAME: nvvm.cluster_dim = array<i32: 7, 1, 1>
// NINE: cluster = 9 exceeds the chip's largest cluster (8 CTAs, cluster-limit)
// SEVENTEEN: cluster must be 0 (auto) or in [2, 16], got 17
func.func @seven(%dh: tensor<?x7168xbf16>, %v: tensor<32x?x7168xbf16>, %q: tensor<7168xf32>,
                 %g: tensor<7168xf32>, %a: tensor<?x32xf32>, %r: tensor<?x32xf32>)
    -> (tensor<32x?x7168xbf16>, tensor<7168xf32>, tensor<7168xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x7168xbf16>, tensor<32x?x7168xbf16>, tensor<7168xf32>, tensor<7168xf32>,
         tensor<?x32xf32>, tensor<?x32xf32>)
      -> (tensor<32x?x7168xbf16>, tensor<7168xf32>, tensor<7168xf32>)
  return %dv, %dq, %dg : tensor<32x?x7168xbf16>, tensor<7168xf32>, tensor<7168xf32>
}

// The same in f32: seven and eight each leave one CTA an SM, where a GPC
// holds only whole clusters (the H200's held 15 of seven, 105 CTAs): eight.
// Where clusters of up to 16 may run (sm_90), fourteen: 512-column slices,
// one vector for each of 128 threads, three CTAs an SM.
// F32FOURTEEN: gpu.func @one_an_sm(
// F32FOURTEEN-SAME: attnres.cluster_size = 14 : i64
// F32FOURTEEN-SAME: attnres.dynamic_shared_bytes = 67840 : i64
// F32FOURTEEN-SAME: known_block_size = array<i32: 128, 1, 1>
// F32FOURTEEN-SAME: nvvm.cluster_dim = array<i32: 14, 1, 1>
// F32EIGHT: gpu.func @one_an_sm(
// F32EIGHT-SAME: attnres.cluster_size = 8 : i64
// F32EIGHT-SAME: known_block_size = array<i32: 224, 1, 1>
func.func @one_an_sm(%dh: tensor<?x7168xf32>, %v: tensor<32x?x7168xf32>, %q: tensor<7168xf32>,
                     %g: tensor<7168xf32>, %a: tensor<?x32xf32>, %r: tensor<?x32xf32>)
    -> (tensor<32x?x7168xf32>, tensor<7168xf32>, tensor<7168xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x7168xf32>, tensor<32x?x7168xf32>, tensor<7168xf32>, tensor<7168xf32>,
         tensor<?x32xf32>, tensor<?x32xf32>)
      -> (tensor<32x?x7168xf32>, tensor<7168xf32>, tensor<7168xf32>)
  return %dv, %dq, %dg : tensor<32x?x7168xf32>, tensor<7168xf32>, tensor<7168xf32>
}
