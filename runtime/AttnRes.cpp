//===- AttnRes.cpp - The JIT runtime: contexts, modules, launches ---------===//
//
// A call goes: argument checks (no GPU needed) -> driver -> current context
// -> launch table (one POD hash lookup under a shared lock) -> pointer
// alignment against the kernel's vector width -> cuLaunchKernel. A miss
// compiles or finds the kernel in the KernelCache, loads its module into the
// context and computes its grid once.
//
//===----------------------------------------------------------------------===//

#include "runtime/AttnRes.h"

#include "lowering/KernelABI.h"

#include "runtime/CallChecks.h"
#include "runtime/CudaDriver.h"
#include "runtime/KernelCache.h"
#include "runtime/LaunchCache.h"
#include "runtime/TuningDatabase.h"

#include "codegen/Tuning.h"

#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace attnres {

//===----------------------------------------------------------------------===//
// Errors, sources, origins
//===----------------------------------------------------------------------===//

const char *toString(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::InvalidArgument:
    return "invalid argument";
  case ErrorKind::Unsupported:
    return "unsupported";
  case ErrorKind::NoDevice:
    return "no device";
  case ErrorKind::Driver:
    return "driver error";
  case ErrorKind::Compile:
    return "compile error";
  case ErrorKind::Cache:
    return "cache error";
  }
  return "?";
}

Error::Error(ErrorKind kind, const std::string &message)
    : std::runtime_error(message), errorKind(kind) {}

Sources Sources::stacked(const void *base, int64_t count, int64_t sourceStride,
                         int64_t tokenStride) {
  Sources s;
  s.stackedForm = true;
  s.stackedBase = base;
  s.numSources = count;
  s.stride = sourceStride;
  s.rowStride = tokenStride;
  return s;
}

Sources Sources::list(std::vector<const void *> pointers, int64_t tokenStride) {
  Sources s;
  s.numSources = int64_t(pointers.size());
  s.list_ = std::move(pointers);
  s.rowStride = tokenStride;
  return s;
}

Sources Sources::list(const void *const *pointers, int64_t count,
                      int64_t tokenStride) {
  if (!pointers && count > 0)
    throw Error(ErrorKind::InvalidArgument,
                "attnres: the list of source pointers is null (count " +
                    std::to_string(count) + ")");
  return list(std::vector<const void *>(pointers, pointers + std::max<int64_t>(
                                                                  count, 0)),
              tokenStride);
}

const void *Sources::pointer(int64_t i, int64_t tokens, int64_t width,
                             int64_t elementBytes) const {
  if (!stackedForm)
    return list_[size_t(i)];
  int64_t step = stride == kDense ? tokens * width : stride;
  return static_cast<const char *>(stackedBase) + i * step * elementBytes;
}

const char *toString(TuningChoice::Source source) {
  switch (source) {
  case TuningChoice::Source::Explicit:
    return "explicit";
  case TuningChoice::Source::Database:
    return "database";
  case TuningChoice::Source::Builtin:
    return "built-in database";
  case TuningChoice::Source::Heuristic:
    return "heuristic";
  }
  return "?";
}

const char *toString(CompileResult::Origin origin) {
  switch (origin) {
  case CompileResult::Origin::Memory:
    return "memory";
  case CompileResult::Origin::Disk:
    return "disk";
  case CompileResult::Origin::Compiler:
    return "compiler";
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// Runtime::Impl
//===----------------------------------------------------------------------===//

namespace {

/// One kernel loaded into one context, ready to launch.
struct LoadedKernel {
  std::string name;
  CUmodule module = nullptr;
  CUfunction main = nullptr, reduce = nullptr;
  unsigned mainThreads = 0, reduceThreads = 0;
  unsigned mainShared = 0; // dynamic shared memory of the main entry
  int64_t vectorElems = 1;
  int64_t maxGrid = 1; // CTAs resident at once (whole clusters): more queue
  int64_t width = 0;

  int64_t clusterSize = 1; // the grid is a multiple of it
  bool perToken = false;   // one CTA per token instead of maxGrid
  int64_t grid(int64_t tokens) const {
    return perToken ? CudaDriver::perTokenGrid(clusterSize, tokens)
                    : CudaDriver::persistentGrid(maxGrid, clusterSize, tokens);
  }
};

struct DeviceInfo {
  CUdevice device = 0;
  std::string name;
  std::string arch;
  int major = 0, minor = 0;
  int multiprocessors = 1;
};

/// A runtime-owned backward workspace of one (context, stream). Its mutex
/// is held from growing to launching, so a buffer in use is never freed
/// under another thread's launch.
struct Workspace {
  std::mutex mutex;
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
};

struct Current {
  CUcontext context = nullptr;
  uint64_t id = 0;
};

} // namespace

class Runtime::Impl {
public:
  const CudaDriver &driver();
  Current currentContext();
  const DeviceInfo &deviceInfo(const Current &current);
  LoadedKernel &kernelFor(const Current &current, const CallArgs &args);
  std::shared_ptr<KernelCache> cache();
  Workspace &workspaceFor(const Current &current, CUstream stream);
  TuningChoice chooseTuning(const KernelSpec &spec);
  void retireLoadedKernels();

  void check(CUresult result, const std::string &what) {
    if (result != CUDA_SUCCESS)
      throw Error(ErrorKind::Driver, "attnres: " + what + " failed: " +
                                         cu.load()->describe(result));
  }

  std::atomic<const CudaDriver *> cu{nullptr};

  std::mutex cacheMutex;
  std::shared_ptr<KernelCache> kernelCache;

  LaunchTable<LoadedKernel> kernels;
  std::mutex loadMutex; // module loads (misses only); guards `retired`
  std::vector<std::unique_ptr<LoadedKernel>> retired;

  std::shared_mutex deviceMutex;
  std::unordered_map<uint64_t, std::unique_ptr<DeviceInfo>> devices;

  std::mutex workspaceMutex;
  std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<Workspace>>
      workspaces;

  std::mutex primaryMutex;
  CUcontext primary = nullptr;

  // The tuning database that overrides the built-in one: set through
  // setTuningDatabase, else read from $ATTNRES_TUNING_DB at first use.
  std::mutex tuningMutex;
  bool tuningEnabled = true;
  bool tuningEnvChecked = false;
  std::shared_ptr<const TuningDatabase> tuningOverride;
};

TuningChoice Runtime::Impl::chooseTuning(const KernelSpec &spec) {
  TuningChoice choice;
  choice.tuning = spec.tuning;
  if (!isDefaultTuning(spec.tuning)) {
    choice.source = TuningChoice::Source::Explicit;
    return choice;
  }
  std::shared_ptr<const TuningDatabase> file;
  {
    std::lock_guard<std::mutex> lock(tuningMutex);
    if (!tuningEnabled)
      return choice;
    if (!tuningEnvChecked) {
      tuningEnvChecked = true;
      const char *path = std::getenv("ATTNRES_TUNING_DB");
      if (path && *path) {
        // Calls cannot report this: warn and go on with the built-in one.
        std::string error;
        std::vector<std::string> warnings;
        std::optional<TuningDatabase> db =
            TuningDatabase::load(path, error, warnings);
        for (const std::string &warning : warnings)
          std::fprintf(stderr, "attnres: warning: %s\n", warning.c_str());
        if (db)
          tuningOverride = std::make_shared<TuningDatabase>(std::move(*db));
        else
          std::fprintf(stderr,
                       "attnres: warning: %s (from ATTNRES_TUNING_DB); "
                       "using the built-in tuning database\n",
                       error.c_str());
      }
    }
    file = tuningOverride;
  }
  const TuningKey key = TuningKey::of(spec);
  if (file)
    if (const TuningEntry *entry = file->find(key)) {
      choice.tuning = entry->tuning;
      choice.source = TuningChoice::Source::Database;
      choice.origin = entry->origin;
      return choice;
    }
  if (const TuningEntry *entry = builtinTuningDatabase().find(key)) {
    choice.tuning = entry->tuning;
    choice.source = TuningChoice::Source::Builtin;
    choice.origin = entry->origin;
  }
  return choice;
}

void Runtime::Impl::retireLoadedKernels() {
  auto old = kernels.clear();
  std::lock_guard<std::mutex> lock(loadMutex);
  for (auto &kernel : old)
    retired.push_back(std::move(kernel));
}

const CudaDriver &Runtime::Impl::driver() {
  if (const CudaDriver *loaded = cu.load(std::memory_order_acquire))
    return *loaded;
  std::string error;
  const CudaDriver *loaded = CudaDriver::load(error);
  if (!loaded)
    throw Error(ErrorKind::NoDevice, "attnres: no GPU: " + error);
  int count = 0;
  CUresult result = loaded->cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS)
    throw Error(ErrorKind::NoDevice,
                "attnres: no GPU: cuDeviceGetCount failed: " +
                    loaded->describe(result));
  if (count == 0)
    throw Error(ErrorKind::NoDevice, "attnres: no GPU: the CUDA driver "
                                     "reports no device");
  cu.store(loaded, std::memory_order_release);
  return *loaded;
}

Current Runtime::Impl::currentContext() {
  const CudaDriver &d = driver();
  Current current;
  check(d.cuCtxGetCurrent(&current.context), "cuCtxGetCurrent");
  if (!current.context) {
    // No context on this thread: use device 0's primary context, the one
    // PyTorch and the CUDA runtime use.
    std::lock_guard<std::mutex> lock(primaryMutex);
    if (!primary) {
      CUdevice device;
      check(d.cuDeviceGet(&device, 0), "cuDeviceGet(0)");
      check(d.cuDevicePrimaryCtxRetain(&primary, device),
            "cuDevicePrimaryCtxRetain");
    }
    check(d.cuCtxSetCurrent(primary), "cuCtxSetCurrent");
    current.context = primary;
  }
  unsigned long long id = 0;
  check(d.cuCtxGetId(current.context, &id), "cuCtxGetId");
  current.id = id;
  return current;
}

const DeviceInfo &Runtime::Impl::deviceInfo(const Current &current) {
  {
    std::shared_lock<std::shared_mutex> lock(deviceMutex);
    auto it = devices.find(current.id);
    if (it != devices.end())
      return *it->second;
  }
  const CudaDriver &d = driver();
  auto info = std::make_unique<DeviceInfo>();
  check(d.cuCtxGetDevice(&info->device), "cuCtxGetDevice");
  check(d.cuDeviceGetAttribute(&info->major,
                               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                               info->device),
        "cuDeviceGetAttribute(compute capability)");
  check(d.cuDeviceGetAttribute(&info->minor,
                               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                               info->device),
        "cuDeviceGetAttribute(compute capability)");
  check(d.cuDeviceGetAttribute(&info->multiprocessors,
                               CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                               info->device),
        "cuDeviceGetAttribute(multiprocessor count)");
  char name[256] = {0};
  if (d.cuDeviceGetName(name, sizeof name - 1, info->device) == CUDA_SUCCESS)
    info->name = name;
  const std::string cc =
      std::to_string(info->major) + "." + std::to_string(info->minor);
  if (info->major < 8)
    throw Error(ErrorKind::Unsupported,
                "attnres: device " + std::to_string(info->device) + " (" +
                    info->name + ") has compute capability " + cc +
                    "; attnres kernels need 8.0 or newer");
  // sm_90a only runs on 9.0; newer devices compile sm_90 PTX forward.
  info->arch = info->major == 8                       ? "sm_80"
               : info->major == 9 && info->minor == 0 ? "sm_90a"
                                                      : "sm_90";
  std::unique_lock<std::shared_mutex> lock(deviceMutex);
  auto &slot = devices[current.id];
  if (!slot)
    slot = std::move(info);
  return *slot;
}

std::shared_ptr<KernelCache> Runtime::Impl::cache() {
  std::lock_guard<std::mutex> lock(cacheMutex);
  if (!kernelCache) {
    std::string dir = defaultCacheDirectory();
    if (dir.empty())
      std::fprintf(stderr, "attnres: warning: no kernel cache directory "
                           "(neither ATTNRES_CACHE_DIR nor HOME is set); "
                           "caching kernels in memory only\n");
    kernelCache = std::make_shared<KernelCache>(dir);
  }
  return kernelCache;
}

LoadedKernel &Runtime::Impl::kernelFor(const Current &current,
                                       const CallArgs &args) {
  const int64_t n = args.sources->count();
  LaunchKey key = makeLaunchKey(current.id, n, args.width, args.dtype,
                                args.direction, args.eps, *args.tuning);
  if (LoadedKernel *hit = kernels.find(key))
    return *hit;

  const DeviceInfo &device = deviceInfo(current);
  KernelSpec spec;
  spec.numSources = n;
  spec.width = args.width;
  spec.dtype = args.dtype;
  spec.direction = args.direction;
  spec.arch = device.arch;
  spec.eps = args.eps;
  spec.tuning = *args.tuning;
  // The launch key holds the caller's tuning; a default one resolves here,
  // once per key, through the tuning databases (changing them empties the
  // launch table).
  spec.tuning = chooseTuning(spec).tuning;
  // Compiling happens outside loadMutex; the cache compiles a key once.
  CacheLookup lookup = cache()->get(spec);
  const CompiledKernel &compiled = *lookup.kernel;

  std::lock_guard<std::mutex> lock(loadMutex);
  if (LoadedKernel *hit = kernels.find(key))
    return *hit;
  const size_t wanted = args.direction == Direction::Forward ? 1 : 2;
  if (compiled.entries.size() < wanted)
    throw Error(ErrorKind::Compile, "attnres: kernel " + kernelName(spec) +
                                        " has " +
                                        std::to_string(compiled.entries.size()) +
                                        " entries, expected " +
                                        std::to_string(wanted));
  const CudaDriver &d = driver();
  auto loaded = std::make_unique<LoadedKernel>();
  loaded->name = compiled.entries[0].name;
  loaded->width = args.width;
  loaded->vectorElems = compiled.entries[0].vectorElems;
  loaded->mainThreads = unsigned(compiled.entries[0].threads);
  loaded->mainShared = unsigned(compiled.entries[0].dynamicSharedBytes);
  loaded->clusterSize = std::max<int64_t>(1, compiled.entries[0].clusterSize);
  loaded->perToken = launchesPerToken(spec);
  char log[8192] = {0};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(sizeof log - 1)};
  CUresult result = d.cuModuleLoadDataEx(&loaded->module, compiled.ptx.c_str(),
                                         2, options, values);
  if (result != CUDA_SUCCESS)
    throw Error(ErrorKind::Driver,
                "attnres: loading kernel " + loaded->name + " (" + spec.arch +
                    ", on " + device.name + ") failed: " + d.describe(result) +
                    (log[0] ? std::string("\n") + log : std::string()));
  auto unload = [&] { d.cuModuleUnload(loaded->module); };
  try {
    check(d.cuModuleGetFunction(&loaded->main, loaded->module,
                                loaded->name.c_str()),
          "cuModuleGetFunction(" + loaded->name + ")");
    if (wanted == 2) {
      loaded->reduceThreads = unsigned(compiled.entries[1].threads);
      check(d.cuModuleGetFunction(&loaded->reduce, loaded->module,
                                  compiled.entries[1].name.c_str()),
            "cuModuleGetFunction(" + compiled.entries[1].name + ")");
    }
    // A kernel gets more than 48 KiB of shared memory (static and dynamic
    // together), or clusters past 8 CTAs, only after opting in.
    check(d.prepareFunction(loaded->main, unsigned(loaded->mainShared),
                            int(loaded->clusterSize)),
          "cuFuncSetAttribute(" + loaded->name + ", dynamic shared memory " +
              std::to_string(loaded->mainShared) +
              (loaded->clusterSize > 1
                   ? ", clusters of " + std::to_string(loaded->clusterSize)
                   : std::string()) +
              ")");
    check(d.residentCtas(loaded->main, loaded->mainThreads, loaded->mainShared,
                         int(loaded->clusterSize), device.multiprocessors,
                         loaded->maxGrid),
          "occupancy of " + loaded->name);
    if (loaded->maxGrid < loaded->clusterSize)
      throw Error(
          ErrorKind::Driver,
          "attnres: kernel " + loaded->name + " cannot run on " + device.name +
              " (" + std::to_string(loaded->mainThreads) +
              " threads per block" +
              (loaded->clusterSize > 1
                   ? " in clusters of " + std::to_string(loaded->clusterSize)
                   : std::string()) +
              " do not fit)");
  } catch (...) {
    unload();
    throw;
  }
  return *kernels.insert(key, std::move(loaded));
}

Workspace &Runtime::Impl::workspaceFor(const Current &current,
                                       CUstream stream) {
  // Stream ids are unique for the process lifetime (a handle may be reused
  // by a new stream); the per-thread default stream differs per thread.
  unsigned long long id = 0;
  const bool perThread = stream == CU_STREAM_PER_THREAD;
  if (perThread || driver().cuStreamGetId(stream, &id) != CUDA_SUCCESS) {
    static thread_local char threadTag;
    id = perThread ? reinterpret_cast<uintptr_t>(&threadTag)
                   : reinterpret_cast<uintptr_t>(stream);
  }
  std::lock_guard<std::mutex> lock(workspaceMutex);
  auto &slot = workspaces[{current.id, uint64_t(id)}];
  if (!slot)
    slot = std::make_unique<Workspace>();
  return *slot;
}

//===----------------------------------------------------------------------===//
// Runtime
//===----------------------------------------------------------------------===//

Runtime::Runtime() : impl(std::make_unique<Impl>()) {}
Runtime::~Runtime() = default;

Runtime &Runtime::get() {
  // Never destroyed: at process exit the driver may already be gone.
  static Runtime *runtime = new Runtime();
  return *runtime;
}

bool Runtime::available(std::string *reason) {
  try {
    impl->driver();
    return true;
  } catch (const Error &error) {
    if (reason)
      *reason = error.what();
    return false;
  }
}

std::string Runtime::deviceArch() {
  return impl->deviceInfo(impl->currentContext()).arch;
}

CompileResult Runtime::compile(const KernelSpec &spec, bool ptxasReport) {
  CacheLookup lookup = impl->cache()->get(spec);
  CompileResult result;
  result.spec = spec;
  result.ptx = lookup.kernel->ptx;
  result.kernelIR = lookup.kernel->kernelIR;
  result.entries = lookup.kernel->entries;
  result.cacheDirectory = lookup.directory;
  result.cacheKey = lookup.key;
  result.cacheKeyText = lookup.keyText;
  result.origin = lookup.origin == CacheOrigin::Memory
                      ? CompileResult::Origin::Memory
                  : lookup.origin == CacheOrigin::Disk
                      ? CompileResult::Origin::Disk
                      : CompileResult::Origin::Compiler;
  if (!ptxasReport) {
    result.ptxasError = "not requested";
  } else if (auto reports =
                 assembleWithPtxas(result.ptx, spec.arch, result.ptxasError)) {
    result.resources = std::move(*reports);
  }
  return result;
}

namespace {

/// Kernel parameters: each argument's value and the pointer cuLaunchKernel
/// reads it through.
struct Params {
  llvm::SmallVector<const void *, 80> values;
  llvm::SmallVector<void *, 80> pointers;

  void add(const void *p) { values.push_back(p); }
  void **finish(int64_t *count) {
    for (const void *&v : values)
      pointers.push_back(&v);
    pointers.push_back(count);
    return pointers.data();
  }
};

} // namespace

void Runtime::forward(const Sources &sources, const float *query,
                      const float *normWeight, void *h, float *alpha,
                      float *rstd, int64_t tokens, int64_t width, DType dtype,
                      float eps, void *stream, const Tuning &tuning) {
  CallArgs args;
  args.direction = Direction::Forward;
  args.sources = &sources;
  args.query = query;
  args.normWeight = normWeight;
  args.h = h;
  args.alpha = alpha;
  args.rstd = rstd;
  args.tokens = tokens;
  args.width = width;
  args.dtype = dtype;
  args.eps = eps;
  args.tuning = &tuning;
  checkCall(args);
  if (tokens == 0)
    return;
  const CudaDriver &d = impl->driver();
  Current current = impl->currentContext();
  LoadedKernel &kernel = impl->kernelFor(current, args);
  checkVectorAlignment(args, kernel.vectorElems, kernel.name);

  const int64_t e = elementBytes(dtype);
  Params params;
  for (int64_t i = 0; i < sources.count(); ++i)
    params.add(sources.pointer(i, tokens, width, e));
  params.add(query);
  params.add(normWeight);
  params.add(h);
  params.add(alpha);
  params.add(rstd);
  int64_t m = tokens;
  void **kernelParams = params.finish(&m);
  impl->check(d.cuLaunchKernel(kernel.main, unsigned(kernel.grid(tokens)), 1, 1,
                               kernel.mainThreads, 1, 1, kernel.mainShared,
                               static_cast<CUstream>(stream), kernelParams,
                               nullptr),
              "launching " + kernel.name);
}

void Runtime::backward(const void *gradH, const Sources &sources,
                       const float *query, const float *normWeight,
                       const float *alpha, const float *rstd,
                       const Sources &gradSources, float *gradQuery,
                       float *gradNormWeight, int64_t tokens, int64_t width,
                       DType dtype, float eps, void *stream, void *workspace,
                       size_t workspaceBytes, const Tuning &tuning) {
  CallArgs args;
  args.direction = Direction::Backward;
  args.sources = &sources;
  args.gradSources = &gradSources;
  args.gradH = gradH;
  args.query = query;
  args.normWeight = normWeight;
  args.alpha = alpha;
  args.rstd = rstd;
  args.gradQuery = gradQuery;
  args.gradNormWeight = gradNormWeight;
  args.workspace = workspace;
  args.workspaceBytes = workspace ? workspaceBytes : 0;
  args.tokens = tokens;
  args.width = width;
  args.dtype = dtype;
  args.eps = eps;
  args.tuning = &tuning;
  checkCall(args);
  const CudaDriver &d = impl->driver();
  Current current = impl->currentContext();
  CUstream cuStream = static_cast<CUstream>(stream);
  if (tokens == 0) {
    // No tokens: the weight gradients are zero.
    impl->check(d.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(gradQuery), 0,
                                  size_t(width) * 4, cuStream),
                "zeroing grad_query");
    impl->check(d.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(gradNormWeight),
                                  0, size_t(width) * 4, cuStream),
                "zeroing grad_norm_weight");
    return;
  }
  LoadedKernel &kernel = impl->kernelFor(current, args);
  checkVectorAlignment(args, kernel.vectorElems, kernel.name);
  const int64_t grid = kernel.grid(tokens);
  const size_t needed = size_t(grid) * size_t(width) * 4;
  if (workspace && workspaceBytes < needed)
    throw Error(ErrorKind::InvalidArgument,
                "attnres backward: workspace has " +
                    std::to_string(workspaceBytes) + " bytes; this call needs " +
                    std::to_string(needed) + " (see backwardWorkspaceBytes)");

  const int64_t e = elementBytes(dtype);
  auto launch = [&](CUdeviceptr partials) {
    Params params;
    params.add(gradH);
    for (int64_t i = 0; i < sources.count(); ++i)
      params.add(sources.pointer(i, tokens, width, e));
    params.add(query);
    params.add(normWeight);
    params.add(alpha);
    params.add(rstd);
    for (int64_t i = 0; i < gradSources.count(); ++i)
      params.add(gradSources.pointer(i, tokens, width, e));
    params.add(reinterpret_cast<const void *>(partials));
    int64_t m = tokens;
    impl->check(d.cuLaunchKernel(kernel.main, unsigned(grid), 1, 1,
                                 kernel.mainThreads, 1, 1, kernel.mainShared, cuStream,
                                 params.finish(&m), nullptr),
                "launching " + kernel.name);
    int64_t numPartials = grid;
    const void *reduceArgs[] = {reinterpret_cast<const void *>(partials), query,
                                normWeight, gradQuery, gradNormWeight};
    void *reduceParams[] = {&reduceArgs[0], &reduceArgs[1], &reduceArgs[2],
                            &reduceArgs[3], &reduceArgs[4], &numPartials};
    unsigned blocks = unsigned(reduceBlocks(width));
    impl->check(d.cuLaunchKernel(kernel.reduce, blocks, 1, 1,
                                 kernel.reduceThreads, 1, 1, 0, cuStream,
                                 reduceParams, nullptr),
                "launching " + kernel.name + "_reduce");
  };
  if (workspace)
    return launch(reinterpret_cast<CUdeviceptr>(workspace));

  Workspace &owned = impl->workspaceFor(current, cuStream);
  std::lock_guard<std::mutex> lock(owned.mutex);
  if (owned.bytes < needed) {
    if (owned.ptr) {
      // Earlier launches on this stream may still read the old buffer.
      impl->check(d.cuStreamSynchronize(cuStream),
                  "cuStreamSynchronize (growing the workspace)");
      d.cuMemFree(owned.ptr);
      owned.ptr = 0;
      owned.bytes = 0;
    }
    // Room for this kernel's largest grid: more tokens need no regrowth.
    size_t bytes = std::max(needed, size_t(kernel.maxGrid) * size_t(width) * 4);
    impl->check(d.cuMemAlloc(&owned.ptr, bytes),
                "allocating a " + std::to_string(bytes) +
                    "-byte backward workspace");
    owned.bytes = bytes;
  }
  launch(owned.ptr);
}

size_t Runtime::backwardWorkspaceBytes(int64_t numSources, int64_t tokens,
                                       int64_t width, DType dtype, float eps,
                                       const Tuning &tuning) {
  // Only the shape matters here: stand-in pointers pass the checks.
  static const double stand[4] = {0, 0, 0, 0};
  const void *fake = stand;
  Sources sources = Sources::stacked(fake, numSources);
  CallArgs args;
  args.direction = Direction::Backward;
  args.sources = &sources;
  args.gradSources = &sources;
  args.tokens = tokens;
  args.width = width;
  args.dtype = dtype;
  args.eps = eps;
  args.tuning = &tuning;
  args.gradH = args.query = args.normWeight = args.alpha = args.rstd =
      args.gradQuery = args.gradNormWeight = static_cast<const float *>(fake);
  args.standInPointers = true;
  checkCall(args);
  if (tokens == 0)
    return 0;
  Current current = impl->currentContext();
  LoadedKernel &kernel = impl->kernelFor(current, args);
  return size_t(kernel.grid(tokens)) * size_t(width) * 4;
}

void Runtime::setCacheDirectory(const std::string &directory) {
  {
    std::lock_guard<std::mutex> lock(impl->cacheMutex);
    impl->kernelCache = std::make_shared<KernelCache>(directory);
  }
  clearMemoryCache();
}

std::string Runtime::cacheDirectory() { return impl->cache()->root(); }

void Runtime::clearMemoryCache() {
  impl->cache()->clearMemory();
  impl->retireLoadedKernels();
}

std::vector<std::string> Runtime::setTuningDatabase(const std::string &path) {
  std::vector<std::string> warnings;
  std::shared_ptr<const TuningDatabase> db;
  if (!path.empty()) {
    std::string error;
    std::optional<TuningDatabase> loaded =
        TuningDatabase::load(path, error, warnings);
    if (!loaded)
      throw Error(ErrorKind::InvalidArgument, "attnres: " + error);
    db = std::make_shared<TuningDatabase>(std::move(*loaded));
  }
  {
    std::lock_guard<std::mutex> lock(impl->tuningMutex);
    impl->tuningOverride = std::move(db);
    impl->tuningEnvChecked = true;
  }
  impl->retireLoadedKernels();
  return warnings;
}

void Runtime::resetTuningDatabase() {
  {
    std::lock_guard<std::mutex> lock(impl->tuningMutex);
    impl->tuningOverride.reset();
    impl->tuningEnvChecked = false;
    impl->tuningEnabled = true;
  }
  impl->retireLoadedKernels();
}

void Runtime::setTuningDatabaseEnabled(bool enabled) {
  {
    std::lock_guard<std::mutex> lock(impl->tuningMutex);
    if (impl->tuningEnabled == enabled)
      return;
    impl->tuningEnabled = enabled;
  }
  impl->retireLoadedKernels();
}

TuningChoice Runtime::tuningFor(int64_t numSources, int64_t width, DType dtype,
                                Direction direction, const std::string &arch,
                                const Tuning &tuning) {
  KernelSpec spec;
  spec.numSources = numSources;
  spec.width = width;
  spec.dtype = dtype;
  spec.direction = direction;
  spec.arch = arch.empty() ? deviceArch() : arch;
  spec.tuning = tuning;
  if (std::string invalid = validate(spec); !invalid.empty())
    throw Error(ErrorKind::InvalidArgument,
                "attnres: tuningFor: " + invalid);
  return impl->chooseTuning(spec);
}

} // namespace attnres
