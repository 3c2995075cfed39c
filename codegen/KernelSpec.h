//===- KernelSpec.h - What one specialized AttnRes kernel is ----*- C++ -*-===//
//
// Plain C++ (no MLIR types): shared by the compiler, the runtime and tools.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_CODEGEN_KERNELSPEC_H
#define ATTNRES_CODEGEN_KERNELSPEC_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attnres {

enum class DType { F32, F16, BF16 };
enum class Direction { Forward, Backward };

/// Tuning knobs of the GPU lowering (see attnres-lower-to-gpu). Each field
/// also has a line in tuningKnobs() (codegen/Tuning.cpp): sweep space, JSON.
struct Tuning {
  int64_t threads = 0;      ///< threads per CTA; 0 picks by heuristic
  int64_t vectorBytes = 16; ///< bytes per vector access: 4, 8 or 16
  /// Legacy switch of the resident form: on forces it, off excludes it from
  /// the heuristic; ignored when `form` names a form.
  std::string resident = "auto";
  /// Kernel form: auto (heuristic), resident (tile in registers), online
  /// (forward: one pass, online softmax over groups of rows), smem (backward:
  /// tile in dynamic shared memory, one read of V), cluster (backward,
  /// sm_90: smem with D split over a thread-block cluster; auto takes it
  /// where one CTA cannot hold the tile), streaming (two passes).
  std::string form = "auto";
  /// Online form: rows per group (one CTA reduction each; the next group's
  /// loads are in flight meanwhile). 0 picks by heuristic.
  int64_t rows = 0;
  /// Ring in shared memory (cp.async). Online form: slots of groups,
  /// stages - 1 groups in flight; 1 keeps the next group in registers
  /// instead. Smem and cluster forms: whole tiles (dh and the N rows of a
  /// token). 0 picks by heuristic.
  int64_t stages = 0;
  /// Cluster form: CTAs per thread-block cluster (2 to 16; past 8 where the
  /// chip allows non-portable sizes); 0 picks a pair where it holds the
  /// tile, else the size of 3 to 8 that leaves the most CTAs an SM (sizes
  /// other than 4 and 8 only at two or more), past 8 only where none
  /// leaves two.
  int64_t cluster = 0;
  /// CTAs an SM the registers are budgeted for: ptxas caps a thread at the
  /// register file's share of that many CTAs (it otherwise takes up to one
  /// CTA's share, and fewer CTAs an SM keep fewer loads in flight). 0 is
  /// one CTA's share.
  int64_t ctasPerSM = 0;
  /// Forward grid: persistent (the CTAs an SM holds at once, each looping
  /// over tokens), tokens (one CTA per token, the hardware refilling each
  /// SM as CTAs finish; same PTX), or auto (persistent). The backward is
  /// always persistent: it writes one row of partial sums a CTA.
  std::string grid = "auto";
};

/// One kernel specialization: the cache key and the compiler's input.
struct KernelSpec {
  int64_t numSources = 0; ///< N, 1..64
  int64_t width = 0;      ///< D, 1..16384
  DType dtype = DType::BF16;
  Direction direction = Direction::Forward;
  std::string arch = "sm_90a"; ///< sm_80, sm_86, sm_89, sm_90, sm_90a
  float eps = 1e-6f;
  Tuning tuning;
};

const char *toString(DType dtype);
const char *toString(Direction direction);
std::optional<DType> parseDType(const std::string &name);
std::optional<Direction> parseDirection(const std::string &name);
int64_t elementBytes(DType dtype);

/// Empty if `spec` is supported, else a message naming the bad field.
std::string validate(const KernelSpec &spec);

/// The function (and kernel) name of a spec, e.g. attnres_fwd_n8_d4096_bf16.
std::string kernelName(const KernelSpec &spec);

/// The attnres-dialect program of a spec: one function holding one fused op,
/// q and g f32, M dynamic.
std::string buildProgram(const KernelSpec &spec);

/// Stable text of every field that changes the generated code or its
/// launch.
std::string fingerprint(const KernelSpec &spec);

/// Whether the main kernel of `spec` runs one CTA per token instead of the
/// persistent grid (Tuning::grid).
bool launchesPerToken(const KernelSpec &spec);

} // namespace attnres

#endif // ATTNRES_CODEGEN_KERNELSPEC_H
