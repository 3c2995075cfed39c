//===- Limits.h - N, D and launch limits, for every layer -------*- C++ -*-===//
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

/// Threads an SM holds (sm_80, sm_90; fewer on sm_86 and sm_89, where the
/// driver's occupancy then counts fewer CTAs), and the most CTAs an SM the
/// registers may be budgeted for (Tuning::ctasPerSM).
inline constexpr int64_t kMaxThreadsPerSM = 2048;
inline constexpr int64_t kMaxCtasPerSM = 32;

} // namespace mlir::attnres

#endif // ATTNRES_DIALECT_LIMITS_H
