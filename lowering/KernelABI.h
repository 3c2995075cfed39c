//===- KernelABI.h - Launch contract of the generated kernels ----*- C++ -*-===//
//
// What a launcher must know about the kernels attnres-lower-to-gpu emits
// beyond their metadata: the shape of the backward's reduce kernel. Plain
// C++, shared by the lowering, the runtime and the GPU checker.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_LOWERING_KERNELABI_H
#define ATTNRES_LOWERING_KERNELABI_H

#include <cstdint>

namespace attnres {

/// The reduce kernel (dq, dg from the per-CTA partial rows of c): CTAs of
/// kReduceThreads threads, each summing kReduceColumns columns. Its grid is
/// ceil(D / kReduceColumns) CTAs.
constexpr int64_t kReduceThreads = 256;
constexpr int64_t kReduceColumns = 32;

/// Grid of the reduce kernel for rows of `width` elements.
constexpr int64_t reduceBlocks(int64_t width) {
  return (width + kReduceColumns - 1) / kReduceColumns;
}

} // namespace attnres

#endif // ATTNRES_LOWERING_KERNELABI_H
