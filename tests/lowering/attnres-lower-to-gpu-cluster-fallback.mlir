// RUN: attnres-opt %s --attnres-lower-to-gpu | FileCheck %s --check-prefix=AUTO
// RUN: attnres-opt %s --attnres-lower-to-gpu="cluster-limit=16" | FileCheck %s --check-prefix=WIDE
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=cluster" | FileCheck %s --check-prefix=ASKED
// RUN: attnres-opt %s --attnres-lower-to-gpu="cluster=4" | FileCheck %s --check-prefix=AUTO
// RUN: attnres-opt %s --attnres-lower-to-gpu="cluster=4 cluster-limit=1" | FileCheck %s --check-prefix=AUTO

// f32, N = 48, D = 6000 (1500 vectors of 4): of the sizes up to 8 only six
// split D into whole vectors and fit (1000 columns, 196 KB), and six leave
// one CTA an SM, where a GPC holds whole clusters only of powers of two
// well: the automatic form streams. Where sizes past 8 may run, twelve
// leave two CTAs an SM. Asked for by name, the cluster form takes the
// smallest size that holds the tile: six. An explicit size the rule does
// not reach (here four, which does not fit) changes nothing where the form
// is automatic and does not take clusters.
// AUTO: gpu.func @fallback(
// AUTO-SAME: attnres.layout = "streaming"
// WIDE: gpu.func @fallback(
// WIDE-SAME: attnres.cluster_size = 12 : i64
// ASKED: gpu.func @fallback(
// ASKED-SAME: attnres.cluster_size = 6 : i64
func.func @fallback(%dh: tensor<?x6000xf32>, %v: tensor<48x?x6000xf32>, %q: tensor<6000xf32>,
                    %g: tensor<6000xf32>, %a: tensor<?x48xf32>, %r: tensor<?x48xf32>)
    -> (tensor<48x?x6000xf32>, tensor<6000xf32>, tensor<6000xf32>) {
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x6000xf32>, tensor<48x?x6000xf32>, tensor<6000xf32>, tensor<6000xf32>,
         tensor<?x48xf32>, tensor<?x48xf32>)
      -> (tensor<48x?x6000xf32>, tensor<6000xf32>, tensor<6000xf32>)
  return %dv, %dq, %dg : tensor<48x?x6000xf32>, tensor<6000xf32>, tensor<6000xf32>
}
