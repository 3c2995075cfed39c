// RUN: attnres-opt %s --attnres-lower-to-gpu="form=resident threads=512" | FileCheck %s --check-prefix=ONE
// RUN: attnres-opt %s --attnres-lower-to-gpu="form=resident threads=512 ctas-per-sm=3" | FileCheck %s --check-prefix=THREE
// RUN: not attnres-opt %s --attnres-lower-to-gpu="form=resident threads=1024 ctas-per-sm=3" 2>&1 | FileCheck %s --check-prefix=TOOMANY
// RUN: not attnres-opt %s --attnres-lower-to-gpu="ctas-per-sm=33" 2>&1 | FileCheck %s --check-prefix=RANGE

// ctas-per-sm caps the registers of a thread at the register file's share
// of that many CTAs: 65536 / (3 x 512), rounded down to a multiple of 8.
// By default one CTA's share (128 at 512 threads).
// ONE: attnres.layout = "resident"
// ONE-SAME: nvvm.maxnreg = 128 : i32
// THREE: attnres.layout = "resident ctas=3"
// THREE-SAME: nvvm.maxnreg = 40 : i32
// TOOMANY: ctas-per-sm = 3: that many CTAs of 1024 threads exceed the 2048 threads an SM holds
// RANGE: ctas-per-sm must be 0 (one CTA's registers) or in [1, 32], got 33

func.func @f32_n2_d4096(%v: tensor<2x?x4096xf32>, %q: tensor<4096xf32>, %g: tensor<4096xf32>)
    -> (tensor<?x4096xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %h, %a, %r = attnres.forward %v, %q, %g
      : (tensor<2x?x4096xf32>, tensor<4096xf32>, tensor<4096xf32>)
      -> (tensor<?x4096xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
  return %h, %a, %r : tensor<?x4096xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}
