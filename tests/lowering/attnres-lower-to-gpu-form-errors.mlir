// RUN: attnres-opt %s --attnres-lower-to-gpu="form=online" -verify-diagnostics
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=smem shared-bytes=16384" 2>&1 | FileCheck %s --check-prefix=SMEM
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=fast" 2>&1 | FileCheck %s --check-prefix=FORM
// RUN: not attnres-opt %s --attnres-lower-to-gpu="rows=17" 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not attnres-opt %s --attnres-lower-to-gpu="stages=17" 2>&1 | FileCheck %s --check-prefix=STAGES

// SMEM: form = smem: the tile (9 rows of 8192 bytes) does not fit 16384 bytes of shared memory
// FORM: form must be auto, resident, online, smem, cluster or streaming, got 'fast'
// ROWS: rows must be 0 (auto) or in [1, 16], got 17
// STAGES: stages must be 0 (auto) or in [1, 16], got 17

func.func @online_backward(%dh: tensor<?x4096xbf16>, %v: tensor<8x?x4096xbf16>, %q: tensor<4096xf32>,
                           %g: tensor<4096xf32>, %a: tensor<?x8xf32>, %r: tensor<?x8xf32>)
    -> tensor<8x?x4096xbf16> {
  // expected-error @+1 {{form = online is a forward form}}
  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r
      : (tensor<?x4096xbf16>, tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>,
         tensor<?x8xf32>, tensor<?x8xf32>)
      -> (tensor<8x?x4096xbf16>, tensor<4096xf32>, tensor<4096xf32>)
  return %dv : tensor<8x?x4096xbf16>
}
