//===- GPULayout.h - How a kernel spreads a token over a CTA ----*- C++ -*-===//
//
// The choices attnres-lower-to-gpu makes before emitting a kernel: the form,
// threads per CTA, vector width, rows per group and ring slots (online),
// shared-memory tile (smem, cluster). The heuristics and the measurements
// behind them are here; LowerToGPU.cpp emits what they choose.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_LOWERING_GPULAYOUT_H
#define ATTNRES_LOWERING_GPULAYOUT_H

#include "dialect/Limits.h"

#include "mlir/IR/Operation.h"
#include "mlir/IR/Types.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>

namespace mlir::attnres {

constexpr int64_t kWarpSize = 32;
/// Largest thread-block cluster of any chip (sm_90's non-portable size).
constexpr int64_t kMaxClusterSize = 16;

enum class Form { Resident, Online, Smem, Cluster, Streaming };

/// Alignment of the dynamic shared-memory tile of `form`, which starts
/// where the static shared memory (its size varies with N) ends. A tile
/// that starts mid-sector makes every cp.async move each 32-byte global
/// sector as two shared-memory sectors (twice the L2 traffic): the smem
/// backward at N = 8, D = 4096 ran at 80% of copy bandwidth 16-byte
/// aligned, 87% at 32 and 89.5% at 128. The online forward ran 5-7 points
/// slower at N = 2, D = 7168 and 8192 at 128 than at 32 (cause not found),
/// so it keeps sector alignment.
inline int64_t tileAlignment(Form form) {
  return form == Form::Online ? 32 : 128;
}

/// Registers per thread that still let `threads` threads launch on one SM
/// (one CTA of that size, or the threads of several CTAs together).
int64_t registerBudget(int64_t threads);

/// How one token's [N, D] tile is spread over a CTA.
struct TileLayout {
  int64_t numSources;
  int64_t width;
  int64_t threads;
  int64_t vectorElems; // elements per vector access
  int64_t chunks;      // vectors per thread per row
  int64_t fullChunks;  // leading chunks that are in bounds for every thread
  bool resident;
  Form form = Form::Resident;
  int64_t groupRows = 1;   // online form: rows per group
  int64_t stages = 1;      // online form: ring slots (1: next group in registers)
  int64_t tileBytes = 0;   // dynamic shared memory (online ring, smem tile)
  int64_t ringRows = 0;    // smem, cluster: row slots of the ring (whole tiles)
  int64_t clusterSize = 1; // cluster form: CTAs sharing a token, each a slice
  int64_t fullWidth = 0;   // D (width is the slice of one CTA)
  int64_t ctasPerSM = 1;   // CTAs an SM the registers are budgeted for
  Type storage; // element type of values, h, grad_h, dv
  Type queryType;
  Type normType;

  int64_t numWarps() const { return threads / kWarpSize; }
  int64_t lanes() const { return chunks * vectorElems; }
  /// Vector slots of a row that no vector of D fills (the last round's).
  int64_t idleSlots() const { return threads * chunks - width / vectorElems; }
  int64_t elementBytes() const { return storage.getIntOrFloatBitWidth() / 8; }
  /// Registers a thread may use (nvvm.maxnreg).
  int64_t registerLimit() const { return registerBudget(threads * ctasPerSM); }
  /// Bytes of one row as the threads hold it (chunks past D included).
  int64_t paddedRowBytes() const {
    return threads * chunks * vectorElems * elementBytes();
  }
};

/// Shared-memory layout of the online kernel (f32 words).
struct OnlineScratch {
  int64_t numSources, numWarps, rows;
  int64_t partials(int64_t parity) const { return parity * numWarps * 2 * rows; }
  int64_t scores() const { return 2 * numWarps * 2 * rows; }
  int64_t rstds() const { return scores() + numSources; }
  int64_t size() const { return rstds() + numSources; }
};

/// The lowering's options that shape a kernel (see the pass options).
struct LayoutOptions {
  int64_t threads = 0; ///< 0: heuristic
  int64_t vectorBytes = 16;
  std::string resident = "auto";
  std::string form = "auto";
  int64_t rows = 0;
  int64_t stages = 0;
  int64_t sharedLimit = 0; ///< bytes of shared memory a CTA may use
  int64_t cluster = 0;
  int64_t clusterLimit = 1; ///< largest cluster of the chip (1: none)
  int64_t ctasPerSM = 0;    ///< CTAs an SM the registers are for (0: one)
};

/// What the layout chose, for people: the form and its groups, ring rows or
/// cluster, e.g. "online rows=4 stages=2", "smem ring=9", "cluster=2
/// ring=17".
std::string describe(const TileLayout &layout);

/// Picks the form and the thread mapping of D for the fused op `op` over
/// `values` ([N, M, D]); an error on `op` names a bad or unsatisfiable
/// option.
FailureOr<TileLayout> chooseLayout(Operation *op, Value values, Type queryType,
                                   Type normType,
                                   const LayoutOptions &options);

} // namespace mlir::attnres

#endif // ATTNRES_LOWERING_GPULAYOUT_H
