//===- AttnRes.h - The attnres JIT runtime: compile, cache, launch -*- C++ -*-===//
//
// The public C++ API of the runtime. Plain C++17: no CUDA, MLIR or LLVM
// headers. Kernels are specialized per (N, D, dtype, direction, eps, tuning)
// and the current device's arch, compiled on first use, cached on disk
// ($ATTNRES_CACHE_DIR, default ~/.cache/attnres) and in memory per CUDA
// context, and launched on the caller's stream.
//
//   attnres::Runtime &rt = attnres::Runtime::get();
//   rt.forward(attnres::Sources::stacked(v, n), q, g, h, alpha, rstd,
//              tokens, width, attnres::DType::BF16, 1e-6f, stream);
//
// Device pointers are plain addresses (a CUdeviceptr cast to void *, or a
// tensor's data pointer); streams are CUstream / cudaStream_t as void *
// (nullptr: the legacy default stream). The calling thread's current CUDA
// context is used; if it has none, the primary context of device 0 is made
// current (the one PyTorch and the runtime API use).
//
// Every failure throws attnres::Error; nothing is launched or written when
// arguments are refused. Memory a call writes (h, alpha, rstd; the
// gradients) must not be any other argument of the call: such calls are
// refused. Arguments that are only read may share memory.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_ATTNRES_H
#define ATTNRES_RUNTIME_ATTNRES_H

#include "codegen/KernelSpec.h"
#include "codegen/PTXCodegen.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnres {

enum class ErrorKind {
  InvalidArgument, ///< null or misaligned pointer, bad shape, stride, eps
  Unsupported,     ///< valid but outside what the compiler supports
  NoDevice,        ///< no CUDA driver or no device
  Driver,          ///< a CUDA driver call failed
  Compile,         ///< the kernel compiler failed
  Cache,           ///< the kernel cache cannot be used
};
const char *toString(ErrorKind kind);

/// The one exception type of the runtime; what() names the problem.
class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string &message);
  ErrorKind kind() const noexcept { return errorKind; }

private:
  ErrorKind errorKind;
};

/// The N source tensors of one call (or their gradients, which are written).
/// Each source is [M, D] with rows contiguous: the token stride must be D
/// elements (pass the tensor's real stride; anything else is refused).
class Sources {
public:
  /// "Use the dense value": M * D for the source stride, D for the token
  /// stride.
  static constexpr int64_t kDense = -1;

  /// A stacked [N, M, D] tensor: source i starts `sourceStride` elements
  /// after source i - 1.
  static Sources stacked(const void *base, int64_t count,
                         int64_t sourceStride = kDense,
                         int64_t tokenStride = kDense);
  /// N separate [M, D] tensors (no stacking copy).
  static Sources list(std::vector<const void *> pointers,
                      int64_t tokenStride = kDense);
  static Sources list(const void *const *pointers, int64_t count,
                      int64_t tokenStride = kDense);

  int64_t count() const { return numSources; }
  bool isStacked() const { return stackedForm; }
  const void *base() const { return stackedBase; }
  int64_t sourceStride() const { return stride; }
  int64_t tokenStride() const { return rowStride; }
  const std::vector<const void *> &pointers() const { return list_; }

  /// Address of source `i` for rows of `width` elements of `elementBytes`.
  const void *pointer(int64_t i, int64_t tokens, int64_t width,
                      int64_t elementBytes) const;

private:
  bool stackedForm = false;
  const void *stackedBase = nullptr;
  int64_t numSources = 0;
  int64_t stride = kDense;
  int64_t rowStride = kDense;
  std::vector<const void *> list_;
};

/// What `Runtime::compile` found or built for one spec.
struct CompileResult {
  KernelSpec spec;
  std::string ptx;
  std::string kernelIR;             ///< the gpu.module before NVVM lowering
  std::vector<KernelEntry> entries; ///< main kernel, then reduce (backward)
  /// ptxas -v figures per entry; empty with `ptxasError` set when ptxas is
  /// not available or was not asked for.
  std::vector<ResourceReport> resources;
  std::string ptxasError;
  std::string cacheDirectory; ///< the entry's directory; empty: memory only
  std::string cacheKey;       ///< hex SHA-256 of cacheKeyText
  std::string cacheKeyText;
  enum class Origin { Memory, Disk, Compiler } origin = Origin::Compiler;
};
const char *toString(CompileResult::Origin origin);

/// The tuning the runtime uses for one kernel and where it came from.
struct TuningChoice {
  Tuning tuning;
  enum class Source {
    Explicit,  ///< the caller passed a tuning other than Tuning{}
    Database,  ///< setTuningDatabase() or $ATTNRES_TUNING_DB
    Builtin,   ///< the database compiled in from the repository's tuning/
    Heuristic, ///< no entry: Tuning{} (the lowering's own choices)
  } source = Source::Heuristic;
  std::string origin; ///< the database's path or built-in name, else empty
};
const char *toString(TuningChoice::Source source);

/// The process-wide runtime. All members are thread-safe.
class Runtime {
public:
  static Runtime &get();

  /// True if a CUDA driver and at least one device are usable; otherwise
  /// false with `reason` (if given) saying why.
  bool available(std::string *reason = nullptr);

  /// The arch kernels are built for on the current context's device:
  /// sm_80 for compute capability 8.x, sm_90a for 9.0, sm_90 (PTX the
  /// driver compiles forward) for newer devices.
  std::string deviceArch();

  /// Compiles (or finds in the cache) `spec` exactly as given, arch
  /// included; needs no GPU. For ahead-of-time warm-up and inspection.
  /// With `ptxasReport`, also assembles the PTX with ptxas (if found).
  CompileResult compile(const KernelSpec &spec, bool ptxasReport = true);

  /// h = AttnRes(sources) for `tokens` tokens of `width` features.
  ///   sources: N x [M, D] in `dtype`; query, normWeight: f32 [D];
  ///   h: [M, D] in `dtype`; alpha, rstd: f32 [M, N] (saved for backward).
  /// Launches on `stream` and returns without waiting. M == 0 does nothing.
  void forward(const Sources &sources, const float *query,
               const float *normWeight, void *h, float *alpha, float *rstd,
               int64_t tokens, int64_t width, DType dtype, float eps,
               void *stream, const Tuning &tuning = Tuning());

  /// Gradients of forward: gradSources (N x [M, D] in `dtype`, overwritten),
  /// gradQuery and gradNormWeight (f32 [D], overwritten; zero when M == 0),
  /// from gradH ([M, D] in `dtype`) and the forward's alpha and rstd.
  /// `workspace` holds the per-CTA partial sums (f32); it must have at
  /// least backwardWorkspaceBytes(...) bytes. If null, a buffer the runtime
  /// owns per (context, stream) is used and grown on demand.
  void backward(const void *gradH, const Sources &sources, const float *query,
                const float *normWeight, const float *alpha, const float *rstd,
                const Sources &gradSources, float *gradQuery,
                float *gradNormWeight, int64_t tokens, int64_t width,
                DType dtype, float eps, void *stream,
                void *workspace = nullptr, size_t workspaceBytes = 0,
                const Tuning &tuning = Tuning());

  /// Bytes of workspace backward needs for these arguments on the current
  /// device (loads the kernel if needed).
  size_t backwardWorkspaceBytes(int64_t numSources, int64_t tokens,
                                int64_t width, DType dtype, float eps,
                                const Tuning &tuning = Tuning());

  /// Tuning databases (written by attnres-tune) are consulted when a call
  /// passes the default Tuning{}: first the file set here or named by
  /// $ATTNRES_TUNING_DB, then the database built into the runtime, else
  /// the heuristic. Keys are exact: {arch, N, D, dtype, direction}.
  ///
  /// Reads `path` and uses it instead of $ATTNRES_TUNING_DB's file from now
  /// on ("" = none: only the built-in database). An unreadable or
  /// malformed file throws Error (InvalidArgument) naming it and the
  /// problem, and changes nothing; entries it refuses (bad fields, a
  /// tuning validate() rejects) are left out and described in the result.
  std::vector<std::string> setTuningDatabase(const std::string &path);
  /// Back to the start-up state: databases enabled, $ATTNRES_TUNING_DB read
  /// again at the next use, then the built-in database.
  void resetTuningDatabase();
  /// false: ignore every database and use the heuristic (what attnres-tune
  /// times as the untuned default); true (the default): use them.
  void setTuningDatabaseEnabled(bool enabled);
  /// The tuning a call with `tuning` would use for this kernel on `arch`
  /// ("" = the current device's, which needs a GPU), and its source.
  TuningChoice tuningFor(int64_t numSources, int64_t width, DType dtype,
                         Direction direction, const std::string &arch = "",
                         const Tuning &tuning = Tuning());

  /// Uses `directory` for the disk cache from now on ("" = memory only)
  /// and forgets the in-memory kernels; see clearMemoryCache.
  void setCacheDirectory(const std::string &directory);
  /// The disk cache directory; empty when caching in memory only.
  std::string cacheDirectory();

  /// Forgets every compiled and loaded kernel, so the next call finds them
  /// on disk again. Loaded modules are kept alive (other threads may still
  /// be launching them), so this is for tests and benchmarks, not a loop.
  void clearMemoryCache();

  Runtime(const Runtime &) = delete;
  Runtime &operator=(const Runtime &) = delete;

private:
  Runtime();
  ~Runtime();
  class Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace attnres

#endif // ATTNRES_RUNTIME_ATTNRES_H
