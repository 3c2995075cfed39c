//===- Limits.h - The N and D range of AttnRes, for every layer -*- C++ -*-===//
//
// Plain C++ (no MLIR include) so that the dialect, the kernel specs and the
// runtime share one definition; in the dialect's namespace, where MLIR code
// finds it unqualified.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_DIALECT_LIMITS_H
#define ATTNRES_DIALECT_LIMITS_H

#include <cstdint>

namespace mlir::attnres {

/// Largest number of sources N and feature width D.
inline constexpr int64_t kMaxSources = 64;
inline constexpr int64_t kMaxWidth = 16384;

} // namespace mlir::attnres

#endif // ATTNRES_DIALECT_LIMITS_H
