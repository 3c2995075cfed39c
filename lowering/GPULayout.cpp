//===- GPULayout.cpp - Form, threads and groups of a GPU kernel -----------===//

#include "lowering/GPULayout.h"

#include "dialect/AttnResOps.h"

#include "llvm/ADT/bit.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <limits>
#include <optional>

namespace mlir::attnres {

/// Registers per thread that still let one CTA of `threads` launch: the
/// 64 K register file shared by warps allocated in groups of four, granted
/// in steps of 8. (An uneven warp count at the full 65536 / threads share
/// fails to launch with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES on an H100.)
int64_t registerBudget(int64_t threads) {
  return std::min<int64_t>(248, 65536 / llvm::alignTo(threads, 4 * kWarpSize)) /
         8 * 8;
}

namespace {

/// `l` with `threads` threads, each taking every threads-th vector.
TileLayout withThreads(TileLayout l, int64_t threads) {
  int64_t vectors = l.width / l.vectorElems;
  l.threads = threads;
  l.chunks = llvm::divideCeil(vectors, threads);
  l.fullChunks = vectors / threads;
  return l;
}

/// The online form's threads (with the ring), rows per group and ring slots,
/// on a layout whose threads were chosen for two vectors a row.
LogicalResult chooseOnlineGroups(Operation *op, TileLayout &layout,
                                 int64_t threadsOption, int64_t rowsOption,
                                 int64_t stagesOption, int64_t sharedLimit) {
  const int64_t elemBytes = layout.elementBytes();
  const int64_t vectors = layout.width / layout.vectorElems;
  // A ring of `stages` slots of `rows` rows next to the static scratch.
  auto ringFits = [&](const TileLayout &l, int64_t stages, int64_t rows) {
    int64_t staticBytes = llvm::alignTo(
        OnlineScratch{l.numSources, l.numWarps(), rows}.size() * 4 +
            l.numSources * 8 + 64,
        tileAlignment(Form::Online));
    return l.vectorElems * elemBytes >= 4 &&
           stages * rows * l.paddedRowBytes() + staticBytes <= sharedLimit;
  };
  // Measured on the H200 (bf16, N 2-32, D 2048-8192, and f32 at N = 2
  // and 4): with the ring, four or more vectors per thread and row ran
  // 5-25 points faster than two (more, smaller CTAs per SM, fewer warps
  // to synchronize per group). So threads: the power of two under a
  // quarter of the vectors (32-256). Rows and slots: groups of four rows
  // (two slots) beat two and one by 2-12 points while a thread holds at
  // most 32 lanes a row; two rows fit up to 48 lanes (two rows of 56 bf16
  // lanes spilled), one past that. A group of four rows, or a whole
  // token, needs two slots; smaller groups ran best with three. Rows are
  // halved while a CTA's ring would pass 128 KB (f32 at D = 8192).
  constexpr int64_t kRingBytesPerCta = 128 * 1024;
  TileLayout ringLayout = layout;
  if (threadsOption == 0)
    ringLayout = withThreads(
        layout, std::clamp<int64_t>(llvm::bit_floor(uint64_t(vectors / 4)),
                                    kWarpSize, 8 * kWarpSize));
  // The ring unless asked for registers (stages = 1) or two slots of one
  // row do not fit.
  const bool ring = stagesOption >= 2 ||
                    (stagesOption == 0 && ringFits(ringLayout, 2, 1));
  if (ring)
    layout = ringLayout;
  const int64_t lanes = layout.lanes();
  if (rowsOption != 0) {
    layout.groupRows = rowsOption;
  } else if (ring) {
    layout.groupRows = std::min<int64_t>(
        layout.numSources, lanes <= 32 ? 4 : lanes <= 48 ? 2 : 1);
  } else {
    // Registers ptxas allocated (sm_90a, bf16 and f32, D 2048-8192):
    // about 40 + 2 L (h, w, addresses) + rows (2 L + packed) for L f32
    // lanes and `packed` registers of one row as loaded: the current group
    // widened and the next group in flight. Pick the rows that keep the
    // most bytes in flight per SM (CTAs per SM x rows), the larger on
    // ties.
    int64_t packed = layout.chunks *
                     std::max<int64_t>(1, layout.vectorElems * elemBytes / 4);
    int64_t cap = layout.registerLimit();
    int64_t warps = llvm::alignTo(layout.threads, 4 * kWarpSize) / kWarpSize;
    layout.groupRows = 1;
    int64_t best = 0;
    for (int64_t rows = 1; rows <= 8 && rows <= layout.numSources;
         rows *= 2) {
      int64_t regs = 40 + 2 * lanes + rows * (2 * lanes + packed);
      // Measured with up to two 16-byte vectors of 16-bit elements per
      // thread and row: ptxas allocated at most 104, 148 and 168
      // registers for 1, 2 and 4 rows (the model says 232 for 4), and
      // fits two rows into 128 registers (448-512 threads) without
      // spilling; those shapes ran 7-9 (two rows) and 8-16 (four rows at
      // 320 threads) points faster than with fewer rows.
      bool twoWideVectors =
          layout.chunks <= 2 && layout.vectorElems * elemBytes == 16;
      if (twoWideVectors && elemBytes == 2 && rows <= 4)
        regs = std::min<int64_t>(regs, rows == 1 ? 104 : rows == 2 ? 148 : 168);
      if (regs > cap && rows == 2 && twoWideVectors)
        regs = cap;
      if (regs > cap && rows > 1)
        break;
      int64_t ctas = std::min<int64_t>(
          65536 / (llvm::alignTo(regs, 8) * warps * kWarpSize), 64 / warps);
      if (ctas * rows >= best) {
        best = ctas * rows;
        layout.groupRows = rows;
      }
    }
  }
  layout.groupRows = std::min(layout.groupRows, layout.numSources);
  auto ringStages = [&](int64_t rows) {
    return rows >= 4 || rows == layout.numSources ? 2 : 3;
  };
  auto ringBytes = [&](int64_t stages, int64_t rows) {
    return stages * rows * layout.paddedRowBytes();
  };
  if (ring && rowsOption == 0 && stagesOption == 0) {
    // Halve the rows until the ring fits a CTA's share.
    while (layout.groupRows > 1 &&
           ringBytes(ringStages(layout.groupRows), layout.groupRows) >
               kRingBytesPerCta)
      layout.groupRows /= 2;
  }
  layout.stages = !ring            ? 1
                  : stagesOption   ? stagesOption
                                   : ringStages(layout.groupRows);
  if (ring && stagesOption == 0 &&
      ringBytes(layout.stages, layout.groupRows) > kRingBytesPerCta)
    layout.stages = 2;
  if (ring) {
    layout.tileBytes = ringBytes(layout.stages, layout.groupRows);
    if (!ringFits(layout, layout.stages, layout.groupRows))
      return op->emitError()
                 << "stages = " << layout.stages << ": the ring ("
                 << layout.stages << " x " << layout.groupRows
                 << " rows of " << layout.paddedRowBytes()
                 << " bytes) does not fit " << sharedLimit
                 << " bytes of shared memory, or vectors are narrower "
                    "than 4 bytes",
             failure();
  }
  return success();
}

} // namespace

std::string describe(const TileLayout &layout) {
  if (layout.ctasPerSM > 1) {
    TileLayout one = layout;
    one.ctasPerSM = 1;
    return describe(one) + " ctas=" + std::to_string(layout.ctasPerSM);
  }
  switch (layout.form) {
  case Form::Resident:
    return "resident";
  case Form::Online:
    return "online rows=" + std::to_string(layout.groupRows) +
           " stages=" + std::to_string(layout.stages);
  case Form::Smem:
    return "smem ring=" + std::to_string(layout.ringRows);
  case Form::Cluster:
    return "cluster=" + std::to_string(layout.clusterSize) +
           " ring=" + std::to_string(layout.ringRows);
  case Form::Streaming:
    return "streaming";
  }
  llvm_unreachable("unknown form");
}

/// The widest vector that divides D and fits `vectorBytes`; then the form
/// and its threads, groups and tiles (each form's rule below).
FailureOr<TileLayout> chooseLayout(Operation *op, Value values, Type queryType,
                                   Type normType,
                                   const LayoutOptions &options) {
  const int64_t threadsOption = options.threads;
  const int64_t vectorBytes = options.vectorBytes;
  const StringRef resident = options.resident;
  const StringRef formOption = options.form;
  const int64_t rowsOption = options.rows;
  const int64_t stagesOption = options.stages;
  const int64_t sharedLimit = options.sharedLimit;
  const int64_t clusterOption = options.cluster;
  const int64_t clusterLimit = options.clusterLimit;
  const bool backward = isa<BackwardOp>(op);
  ProblemShape shape = getProblemShape(values);
  if (ShapedType::isDynamic(shape.numSources) ||
      ShapedType::isDynamic(shape.width))
    return op->emitError("attnres-lower-to-gpu needs static N and D; run "
                         "attnres-specialize first"),
           failure();
  if (vectorBytes != 4 && vectorBytes != 8 && vectorBytes != 16)
    return op->emitError() << "vector-bytes must be 4, 8 or 16, got "
                           << vectorBytes,
           failure();
  if (threadsOption != 0 &&
      (threadsOption % kWarpSize != 0 || threadsOption < kWarpSize ||
       threadsOption > 1024))
    return op->emitError() << "threads must be a multiple of 32 in [32, 1024], "
                              "got "
                           << threadsOption,
           failure();
  if (resident != "auto" && resident != "on" && resident != "off")
    return op->emitError() << "resident must be auto, on or off, got '"
                           << resident << "'",
           failure();
  if (formOption != "auto" && formOption != "resident" &&
      formOption != "online" && formOption != "smem" &&
      formOption != "cluster" && formOption != "streaming")
    return op->emitError() << "form must be auto, resident, online, smem, "
                              "cluster or streaming, got '"
                           << formOption << "'",
           failure();
  if (formOption == "online" && backward)
    return op->emitError("form = online is a forward form (the backward "
                         "needs the whole tile: use smem or streaming)"),
           failure();
  if (formOption == "cluster" && !backward)
    return op->emitError("form = cluster is a backward form (the forward "
                         "uses online)"),
           failure();
  if (formOption == "cluster" && clusterLimit < 2)
    return op->emitError("form = cluster needs thread-block clusters "
                         "(sm_90 or newer)"),
           failure();
  if (clusterOption != 0 &&
      (clusterOption < 2 || clusterOption > kMaxClusterSize))
    return op->emitError() << "cluster must be 0 (auto) or in [2, "
                           << kMaxClusterSize << "], got " << clusterOption,
           failure();
  // The sizes the cluster rules may take on this chip.
  const int64_t largestCluster = std::min(clusterLimit, kMaxClusterSize);
  // Without clusters (cluster-limit 1) the option is unused unless the form
  // asks for clusters, which fails above.
  if (clusterLimit >= 2 && clusterOption > clusterLimit)
    return op->emitError() << "cluster = " << clusterOption
                           << " exceeds the chip's largest cluster ("
                           << clusterLimit << " CTAs, cluster-limit)",
           failure();
  if (formOption == "smem" && !backward)
    return op->emitError("form = smem is a backward form (the forward uses "
                         "online)"),
           failure();
  if (rowsOption < 0 || rowsOption > 16)
    return op->emitError() << "rows must be 0 (auto) or in [1, 16], got "
                           << rowsOption,
           failure();
  if (stagesOption < 0 || stagesOption > 16)
    return op->emitError() << "stages must be 0 (auto) or in [1, 16], got "
                           << stagesOption,
           failure();
  if (options.ctasPerSM < 0 || options.ctasPerSM > kMaxCtasPerSM)
    return op->emitError() << "ctas-per-sm must be 0 (one CTA's registers) or "
                              "in [1, "
                           << kMaxCtasPerSM << "], got " << options.ctasPerSM,
           failure();

  TileLayout layout;
  // Register budgets below (the resident form's fit, the online rows) are
  // for this many CTAs an SM.
  layout.ctasPerSM = std::max<int64_t>(1, options.ctasPerSM);
  layout.numSources = shape.numSources;
  layout.width = shape.width;
  layout.fullWidth = shape.width;
  layout.storage = cast<ShapedType>(values.getType()).getElementType();
  layout.queryType = queryType;
  layout.normType = normType;
  int64_t elemBytes = layout.storage.getIntOrFloatBitWidth() / 8;
  layout.vectorElems = std::max<int64_t>(1, vectorBytes / elemBytes);
  while (shape.width % layout.vectorElems != 0)
    layout.vectorElems /= 2;
  int64_t vectors = shape.width / layout.vectorElems;
  // The resident mapping: two vectors per thread, whole warps, up to 512.
  const int64_t residentThreads = std::clamp<int64_t>(
      llvm::alignTo(llvm::divideCeil(vectors, 2), kWarpSize), kWarpSize, 512);
  layout = withThreads(layout, threadsOption ? threadsOption : residentThreads);
  // The resident form keeps, per thread, the f32 tile (N rows of its lanes),
  // w, (backward) dh and the c accumulators, and 2N partial sums. Use it
  // while that fits the registers a thread of this CTA size can have.
  int64_t lanes = layout.chunks * layout.vectorElems;
  int64_t registerCap = layout.registerLimit();
  // Partial sums: 2N; addresses, indices, softmax temporaries: 32.
  int64_t need = layout.numSources * lanes + lanes * (backward ? 3 : 1) +
                 2 * layout.numSources + 32;
  // Past 16 sources the 2N partial sums and their shuffles crowd the tile.
  bool residentFits = need <= registerCap && layout.numSources <= 16;
  // Shared memory of the smem and cluster forms besides the tile rows:
  // scratch, pointer table, the cluster's exchange area.
  auto sharedTileStaticBytes = [&](const TileLayout &l) {
    int64_t n = l.numSources;
    return llvm::alignTo((l.numWarps() * 2 * n + 5 * n) * 4 + (2 * n + 1) * 8 +
                             llvm::alignTo(2 * n * 4, 16) + 64,
                         tileAlignment(Form::Smem));
  };
  // The smem form copies whole vectors with cp.async (4, 8 or 16 bytes).
  auto smemFits = [&](const TileLayout &l) {
    int64_t bytes = l.vectorElems * elemBytes;
    return bytes >= 4 &&
           (l.numSources + 1) * l.paddedRowBytes() + sharedTileStaticBytes(l) <=
               sharedLimit;
  };
  // Lanes per thread and row that ptxas kept without spilling on sm_80 and
  // sm_90a in the backward (16-bit types keep dh packed; 48 past two
  // sources).
  const int64_t maxSharedTileLanes = elemBytes == 4 ? 32 : 56;
  const int64_t maxTileLanes =
      std::min<int64_t>(maxSharedTileLanes, layout.numSources <= 2 ? 56 : 48);
  // Each of a cluster's K CTAs keeps a D / K slice of dh and the N rows:
  // the slice layout, where D splits into whole vectors and it fits.
  // Its threads: of the whole warps up to 512 that keep a thread's lanes
  // within what it holds without spilling, the most that leave no vector
  // slot of a row idle, else the fewest idle (512 where none keeps the
  // lanes). Measured on the H200 (bf16,
  // N = 16 and 32): idle slots cost far more than their share, since every
  // warp takes part in the per-token reductions (N = 32, D = 5120, pairs:
  // 320 threads of one vector 92.9% of copy bandwidth, 128 threads of three
  // with 64 slots idle 81.7%; N = 16, D = 7168: 448 threads 88.5%).
  auto clusterLayout = [&](int64_t k) -> std::optional<TileLayout> {
    TileLayout slice = layout;
    if (shape.width % (k * layout.vectorElems) != 0)
      return std::nullopt;
    slice.width = shape.width / k;
    if (threadsOption == 0) {
      int64_t leastIdle = std::numeric_limits<int64_t>::max();
      slice.threads = 512;
      for (int64_t t = kWarpSize; t <= 512; t += kWarpSize) {
        TileLayout c = withThreads(slice, t);
        if (c.lanes() <= maxTileLanes && c.idleSlots() <= leastIdle) {
          slice.threads = t;
          leastIdle = c.idleSlots();
        }
      }
    }
    slice = withThreads(slice, slice.threads);
    slice.clusterSize = k;
    if (smemFits(slice))
      return slice;
    return std::nullopt;
  };
  // Threads for the smem form's tile: each CTA works on
  // one token at a time, so what counts is the CTAs an SM holds (tokens in
  // flight), then warps. Of 64, 128 and 256 threads, the count with the most
  // resident CTAs, ties to the larger, skipping counts that leave more than
  // half of the last vector round idle or give a thread more lanes per row
  // than it keeps without spilling (48 past two sources). Registers: ~40 +
  // 5.5 per lane a thread owns (c and dh), as ptxas allocated them on
  // sm_90a; measured on the H100 within 2-6 points of the best thread count
  // at every target shape (docs/PERFORMANCE.md, v4).
  auto sharedTileCtas = [&](const TileLayout &c) {
    int64_t regs = std::min<int64_t>(40 + c.lanes() * 11 / 2, 248);
    int64_t bytes = (c.numSources + 1) * c.paddedRowBytes() + 1024;
    return std::min<int64_t>(
        {int64_t(65536 / (llvm::alignTo(regs, 8) * c.threads)),
         2048 / c.threads, (sharedLimit + 1024) / bytes});
  };
  auto sharedTileThreads = [&](const TileLayout &l) -> std::optional<int64_t> {
    std::optional<int64_t> best;
    int64_t bestCtas = 0;
    for (int64_t t : {64, 128, 256}) {
      TileLayout c = withThreads(l, t);
      if (t > 64 && c.idleSlots() > t / 2)
        continue;
      if (c.lanes() > maxTileLanes || !smemFits(c))
        continue;
      int64_t ctas = sharedTileCtas(c);
      if (ctas >= bestCtas) {
        best = t;
        bestCtas = ctas;
      }
    }
    return best;
  };
  // The cluster for a tile that one CTA cannot hold: a pair where the
  // pair's slices fit, else of the sizes 3 to 8 whose slices fit, the one
  // leaving the most CTAs an SM, ties to the fewest idle vector slots, then
  // to the larger cluster. Sizes other than powers of two only where two or
  // more CTAs share an SM: a GPC holds whole clusters, and at one CTA an SM
  // the H200's held 15 clusters of seven (105 CTAs). Past 8 (non-portable,
  // up to cluster-limit) only where no size up to 8 leaves two CTAs an SM.
  // Measured on the H200 (N = 32): a pair 89-93% at D = 4096-6144; at
  // D = 7168, seven CTAs of 128 threads 87.3% (bf16) against eight with 16
  // of 112 slots idle 84.0% and four (one CTA an SM) 75.4%; at D = 8192
  // eight 89.6%, four 82.2%; in f32 at D = 7168 (one CTA an SM) eight
  // 83.7%, seven 78.6%, and past 8 (three CTAs an SM) fourteen 87.0%; at
  // D = 8192 sixteen 89.5% against eight 85.6%.
  auto chooseCluster = [&]() -> std::optional<TileLayout> {
    if (std::optional<TileLayout> pair = clusterLayout(2))
      return pair;
    std::optional<TileLayout> best;
    int64_t bestCtas = 0, bestIdle = 0;
    auto consider = [&](int64_t k, int64_t leastCtas) {
      std::optional<TileLayout> slice = clusterLayout(k);
      if (!slice)
        return;
      int64_t ctas = sharedTileCtas(*slice);
      if (ctas < leastCtas)
        return;
      int64_t idle = slice->idleSlots();
      if (!best || ctas > bestCtas || (ctas == bestCtas && idle <= bestIdle)) {
        best = slice;
        bestCtas = ctas;
        bestIdle = idle;
      }
    };
    for (int64_t k = 3; k <= std::min<int64_t>(clusterLimit, 8); ++k)
      consider(k, llvm::isPowerOf2_64(k) ? 1 : 2);
    if (bestCtas < 2)
      for (int64_t k = 9; k <= largestCluster; ++k)
        consider(k, 2);
    return best;
  };
  Form form;
  if (formOption == "resident" || (formOption == "auto" && resident == "on")) {
    form = Form::Resident;
  } else if (formOption == "online") {
    form = Form::Online;
  } else if (formOption == "smem") {
    form = Form::Smem;
  } else if (formOption == "cluster") {
    form = Form::Cluster;
  } else if (formOption == "streaming") {
    form = Form::Streaming;
  } else if (!backward) {
    // Measured on the H100: online matched or beat resident at N = 2 and 4
    // (its loads stay in flight across the reductions) and reads V once for
    // any N; resident only where asked for.
    form = Form::Online;
  } else {
    form = Form::Streaming; // refined below once the smem layout is known
  }
  if (threadsOption == 0 && form != Form::Resident) {
    // The online form holds the current and the next group: two vectors per
    // thread and row leave room for several rows. The smem and streaming
    // forms hold no tile in registers: four vectors per thread and row.
    // Whole groups of four warps past 128 threads: with an uneven warp count
    // ptxas spilled.
    int64_t perThread = form == Form::Online ? 2 : 4;
    int64_t threads =
        llvm::alignTo(llvm::divideCeil(vectors, perThread), kWarpSize);
    if (threads > 4 * kWarpSize && form != Form::Online)
      threads = llvm::alignTo(threads, 4 * kWarpSize);
    layout.threads = std::min<int64_t>(threads, 512);
    layout.chunks = llvm::divideCeil(vectors, layout.threads);
    layout.fullChunks = vectors / layout.threads;
  }
  if (backward && formOption == "auto") {
    // One read of V from shared memory where the tile fits a CTA. At N = 2
    // and D <= 4096 the resident form measured faster on the H100 (87-88%
    // against 80-85% for smem); at D = 5120 smem with 128 threads was
    // (86% against 70%). Not at 512 threads: f32 at N = 2, D = 4096 ran
    // 83.6% resident against 89.8% for smem's 256 threads (H200), where
    // resident with 128 or 256 threads ran 90%.
    bool residentFirst = resident == "auto" && residentFits &&
                         layout.numSources <= 2 && layout.width <= 4096 &&
                         residentThreads <= 256;
    // Where it does not fit, a cluster's CTAs hold it (sm_90): measured
    // 83-93% at N = 16 and 32 against 49-57% for streaming, which reads V
    // twice.
    form = residentFirst                          ? Form::Resident
           : smemFits(layout)                     ? Form::Smem
           : clusterLimit >= 2 && chooseCluster() ? Form::Cluster
           : resident == "auto" && residentFits   ? Form::Resident
                                                  : Form::Streaming;
    if (form == Form::Resident && threadsOption == 0)
      layout = withThreads(layout, residentThreads);
  }
  if (form == Form::Smem && !smemFits(layout))
    return op->emitError() << "form = smem: the tile (" << layout.numSources + 1
                           << " rows of " << layout.paddedRowBytes()
                           << " bytes) does not fit " << sharedLimit
                           << " bytes of shared memory, or vectors are "
                              "narrower than 4 bytes",
           failure();
  if (form == Form::Cluster) {
    std::optional<TileLayout> slice =
        clusterOption ? clusterLayout(clusterOption) : chooseCluster();
    // Asked for by name, the cluster form takes the smallest size that holds
    // the tile where the rule allows none (it leaves the auto form to
    // streaming there).
    for (int64_t k = 2; !slice && !clusterOption && k <= largestCluster; ++k)
      slice = clusterLayout(k);
    if (!slice)
      return op->emitError()
                 << "form = cluster: no cluster of "
                 << (clusterOption ? std::to_string(clusterOption)
                                   : "up to " + std::to_string(largestCluster))
                 << " CTAs holds the tile in shared memory with D divisible "
                    "into whole vectors per CTA",
             failure();
    layout = *slice;
  }
  if (threadsOption == 0 && form == Form::Smem) {
    if (std::optional<int64_t> threads = sharedTileThreads(layout))
      layout = withThreads(layout, *threads);
  }
  if (threadsOption == 0 && form == Form::Streaming &&
      layout.width / layout.vectorElems >= 128) {
    // Measured on the H100: 128 threads streamed 2-12 points faster than
    // 256 at N >= 16 and within 1-7 points at smaller N, up to the lanes a
    // thread keeps without spilling (64 bf16 lanes at D = 8192 spilled).
    TileLayout narrow = withThreads(layout, 128);
    if (narrow.lanes() <= maxSharedTileLanes)
      layout = narrow;
  }
  layout.form = form;
  layout.resident = form == Form::Resident;
  if (form == Form::Smem || form == Form::Cluster) {
    // The tile is a ring of row slots that the token rows (dh, v_0, ...,
    // v_{N-1}, then the next token's) fill in turn, each slot refilled as
    // soon as its row is consumed. `stages` whole tiles when asked. Else
    // one: measured on the H200 (bf16, N 2-32, D 2048-8192, threads as
    // above), one tile ran as fast as deeper rings, or up to 6 points
    // faster, wherever the SM holds two or more CTAs or the tile passes
    // 64 KB; where a single CTA holds a smaller tile (N = 2, D = 8192:
    // 48 KB), a second tile kept more bytes in flight (89% against 84%).
    constexpr int64_t kBytesInFlightPerSm = 64 * 1024;
    const int64_t tileRows = layout.numSources + 1;
    const int64_t rowBytes = layout.paddedRowBytes();
    const int64_t otherBytes = sharedTileStaticBytes(layout);
    int64_t tiles = stagesOption;
    if (tiles == 0) {
      bool lone = sharedTileCtas(layout) <= 1 &&
                  tileRows * rowBytes < kBytesInFlightPerSm;
      tiles =
          lone && 2 * tileRows * rowBytes + otherBytes <= sharedLimit ? 2 : 1;
    }
    layout.ringRows = tiles * tileRows;
    if (layout.ringRows * rowBytes + otherBytes > sharedLimit)
      return op->emitError() << "stages = " << tiles << ": the ring (" << tiles
                             << " x " << tileRows << " rows of " << rowBytes
                             << " bytes) does not fit " << sharedLimit
                             << " bytes of shared memory",
             failure();
    layout.tileBytes = layout.ringRows * rowBytes;
  }
  if (form == Form::Cluster) // the exchange area for per-row partial sums
    layout.tileBytes += llvm::alignTo(2 * layout.numSources * 4, 16);
  if (form == Form::Online &&
      failed(chooseOnlineGroups(op, layout, threadsOption, rowsOption,
                                stagesOption, sharedLimit)))
    return failure();
  if (layout.ctasPerSM * layout.threads > kMaxThreadsPerSM)
    return op->emitError() << "ctas-per-sm = " << layout.ctasPerSM
                           << ": that many CTAs of " << layout.threads
                           << " threads exceed the " << kMaxThreadsPerSM
                           << " threads an SM holds",
           failure();
  return layout;
}

} // namespace mlir::attnres
