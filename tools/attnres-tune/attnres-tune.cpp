//===- attnres-tune.cpp - Sweep the tuning knobs on the GPU, keep the best ===//
//
//   attnres-tune --sources 2,8,32 --width 4096 --dtype bf16 --direction all
//                [--tokens 16384] [--reps 50] [--warmup 5]
//                [--set threads=128,256 ...] [--list]
//                [--json sweep.json] [--db tuning/sm_90a.json] [--plot out.svg]
//
// For every spec: compiles the heuristic default (Tuning{}) and every
// candidate of tuningCandidates() through the runtime (in parallel, ptxas
// report included), then times each on the GPU through Runtime::forward /
// backward with CUDA events: warm-up calls, then the median of --reps calls,
// rotating among enough input sets that their total exceeds twice the L2,
// so the L2 is not what gets measured. Bandwidth counts the fewest bytes the
// operator must move; "%copy" is against a device-to-device copy measured
// once at start (read + write counted).
//
// A config is infeasible, never fatal, when it fails to compile, spills
// (when ptxas is there to say), cannot launch, or gives results that differ
// from the heuristic's. Configs whose PTX equals an earlier one's share its
// time. Exit codes: 0 done, 1 error or a spec with no feasible config,
// 2 bad arguments, 3 no GPU.
//
//===----------------------------------------------------------------------===//

#include "codegen/PTXCodegen.h"
#include "codegen/Tuning.h"
#include "reference/HalfFloat.h"
#include "runtime/AttnRes.h"
#include "runtime/CudaDriver.h"
#include "runtime/TuningDatabase.h"

#include "tools/ListOptions.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <unistd.h>

using namespace attnres;
using namespace llvm;

namespace {

enum ExitCode { kOk = 0, kFailed = 1, kUsage = 2, kNoGpu = 3 };

cl::OptionCategory category("attnres-tune options");
cl::list<int64_t> numSources("sources", cl::desc("numbers of sources N"),
                             cl::CommaSeparated, cl::cat(category));
cl::list<int64_t> widths("width", cl::desc("feature widths D"),
                         cl::CommaSeparated, cl::cat(category));
cl::list<std::string> dtypes("dtype", cl::desc("f32, f16, bf16 or all"),
                             cl::CommaSeparated, cl::cat(category));
cl::list<std::string> directions("direction", cl::desc("fwd, bwd or all"),
                                 cl::CommaSeparated, cl::cat(category));
cl::opt<int64_t> tokens("tokens", cl::desc("tokens M per call"),
                        cl::init(16384), cl::cat(category));
cl::opt<int> reps("reps", cl::desc("timed calls per config (median)"),
                  cl::init(50), cl::cat(category));
cl::opt<int> warmup("warmup", cl::desc("untimed calls per config first"),
                    cl::init(5), cl::cat(category));
cl::opt<float> epsOption("eps", cl::desc("RMSNorm epsilon"), cl::init(1e-6f),
                         cl::cat(category));
cl::list<std::string>
    onlyKnobs("set",
              cl::desc("replace one knob's candidates: name=v1,v2 "
                       "(repeatable; see --list for the knobs)"),
              cl::cat(category));
cl::opt<bool> listOnly("list",
                       cl::desc("print the sweep space per spec and exit "
                                "(no GPU needed)"),
                       cl::cat(category));
cl::opt<std::string>
    archOption("arch",
               cl::desc("arch for --list without a GPU (default sm_90a)"),
               cl::init("sm_90a"), cl::cat(category));
cl::opt<int> jobs("jobs", cl::desc("parallel compiles (0: one per core)"),
                  cl::init(0), cl::cat(category));
cl::opt<std::string> jsonPath("json", cl::desc("write the whole sweep here"),
                              cl::cat(category));
cl::opt<std::string> dbPath("db",
                            cl::desc("merge the winners into this tuning "
                                     "database (created if missing)"),
                            cl::cat(category));
cl::opt<std::string> plotPath("plot",
                              cl::desc("write an SVG bar chart of bandwidth "
                                       "per config"),
                              cl::cat(category));

double median(std::vector<double> v) {
  if (v.empty())
    return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool progressIsTerminal() { return ::isatty(2); }

/// One line of progress on stderr, rewritten in place on a terminal.
void progress(const std::string &text, bool done = false) {
  if (progressIsTerminal())
    errs() << "\r\033[K" << text << (done ? "\n" : "");
  else if (done)
    errs() << text << "\n";
  errs().flush();
}

//===----------------------------------------------------------------------===//
// Results
//===----------------------------------------------------------------------===//

struct ConfigResult {
  Tuning tuning;
  bool heuristic = false; ///< the default Tuning{}, timed untuned
  bool feasible = false;
  std::string reason; ///< why infeasible
  int sameAs = -1;    ///< index of a config with identical PTX
  std::string ptx;
  int64_t ctaThreads = 0;
  std::string layout; ///< what the lowering chose (form, rows, stages, ...)
  int registers = -1, spillBytes = -1;
  double ms = NAN, tbps = NAN;
};

struct SpecResult {
  KernelSpec spec;
  double floorBytes = 0;
  int sets = 0;
  std::vector<ConfigResult> configs; ///< [0] is the heuristic
  int best = -1;
  std::string skipped; ///< the whole spec could not be timed
  /// The heuristic timed again after the sweep: the run-to-run spread.
  double heuristicAgainMs = NAN;
  double heuristicMs() const { return configs.empty() ? NAN : configs[0].ms; }
  double bestMs() const { return best < 0 ? NAN : configs[size_t(best)].ms; }
};

struct Device {
  const CudaDriver *cu = nullptr;
  std::string name, arch;
  int64_t l2Bytes = 50 << 20;
  double copyTbps = NAN;
};

void check(const Device &device, CUresult result, const std::string &what) {
  if (result != CUDA_SUCCESS)
    throw attnres::Error(ErrorKind::Driver,
                         what + " failed: " + device.cu->describe(result));
}

//===----------------------------------------------------------------------===//
// Device memory and timing
//===----------------------------------------------------------------------===//

/// Device allocations freed together.
class Buffers {
public:
  explicit Buffers(const Device &device) : device(device) {}
  ~Buffers() {
    for (CUdeviceptr p : owned)
      device.cu->cuMemFree(p);
  }
  CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    check(device, device.cu->cuMemAlloc(&p, std::max<size_t>(bytes, 256)),
          "cuMemAlloc(" + std::to_string(bytes) + " bytes)");
    owned.push_back(p);
    return p;
  }

private:
  const Device &device;
  std::vector<CUdeviceptr> owned;
};

/// Events around each of `count` calls of `body(i)` on `stream`; the median
/// time in ms.
double timeCalls(const Device &device, CUstream stream, int count,
                 const std::function<void(int)> &body) {
  const CudaDriver &cu = *device.cu;
  std::vector<CUevent> start(static_cast<size_t>(count), nullptr);
  std::vector<CUevent> stop(static_cast<size_t>(count), nullptr);
  auto destroy = [&] {
    for (CUevent e : start)
      if (e)
        cu.cuEventDestroy(e);
    for (CUevent e : stop)
      if (e)
        cu.cuEventDestroy(e);
  };
  try {
    for (int i = 0; i < count; ++i) {
      check(device, cu.cuEventCreate(&start[size_t(i)], CU_EVENT_DEFAULT),
            "cuEventCreate");
      check(device, cu.cuEventCreate(&stop[size_t(i)], CU_EVENT_DEFAULT),
            "cuEventCreate");
    }
    for (int i = 0; i < count; ++i) {
      check(device, cu.cuEventRecord(start[size_t(i)], stream),
            "cuEventRecord");
      body(i);
      check(device, cu.cuEventRecord(stop[size_t(i)], stream), "cuEventRecord");
    }
    check(device, cu.cuEventSynchronize(stop.back()), "cuEventSynchronize");
    std::vector<double> times;
    for (int i = 0; i < count; ++i) {
      float ms = 0;
      check(device,
            cu.cuEventElapsedTime(&ms, start[size_t(i)], stop[size_t(i)]),
            "cuEventElapsedTime");
      times.push_back(ms);
    }
    destroy();
    return median(times);
  } catch (...) {
    destroy();
    throw;
  }
}

/// Device-to-device copy bandwidth, read + write counted, in TB/s.
double measureCopy(const Device &device, CUstream stream) {
  const size_t bytes = std::max<size_t>(size_t(1) << 30, 8 * device.l2Bytes);
  Buffers buffers(device);
  CUdeviceptr a = buffers.alloc(bytes), b = buffers.alloc(bytes);
  check(device, device.cu->cuMemsetD8(a, 1, bytes), "cuMemsetD8");
  auto copy = [&](int) {
    check(device, device.cu->cuMemcpyDtoDAsync(b, a, bytes, stream),
          "cuMemcpyDtoDAsync");
  };
  timeCalls(device, stream, 3, copy);
  double ms = timeCalls(device, stream, 20, copy);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e12;
}

/// Fills `bytes` at `p` with `chunk` repeated (a copy of it, then doubling
/// device-to-device copies).
void fill(const Device &device, CUdeviceptr p, size_t bytes,
          const std::vector<uint8_t> &chunk) {
  size_t done = std::min(bytes, chunk.size());
  check(device, device.cu->cuMemcpyHtoD(p, chunk.data(), done), "cuMemcpyHtoD");
  while (done < bytes) {
    size_t n = std::min(done, bytes - done);
    check(device, device.cu->cuMemcpyDtoDAsync(p + done, p, n, nullptr),
          "cuMemcpyDtoDAsync");
    done += n;
  }
  check(device, device.cu->cuCtxSynchronize(), "cuCtxSynchronize");
}

/// `count` random values in [lo, hi) stored as `dtype`.
std::vector<uint8_t> randomBytes(size_t count, DType dtype, float lo, float hi,
                                 uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<uint8_t> out(count * size_t(elementBytes(dtype)));
  for (size_t i = 0; i < count; ++i) {
    float x = dist(rng);
    if (dtype == DType::F32) {
      std::memcpy(&out[i * 4], &x, 4);
    } else {
      uint16_t h = dtype == DType::BF16 ? half::toBF16(x) : half::toF16(x);
      std::memcpy(&out[i * 2], &h, 2);
    }
  }
  return out;
}

std::vector<double> toDoubles(const std::vector<uint8_t> &bytes, DType dtype) {
  size_t e = size_t(elementBytes(dtype)), n = bytes.size() / e;
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (dtype == DType::F32) {
      float x;
      std::memcpy(&x, &bytes[i * 4], 4);
      out[i] = x;
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      out[i] = dtype == DType::BF16 ? half::fromBF16(h) : half::fromF16(h);
    }
  }
  return out;
}

/// ||a - b|| / ||b||; infinity for NaN or a size mismatch.
double relativeError(const std::vector<double> &a,
                     const std::vector<double> &b) {
  if (a.size() != b.size())
    return INFINITY;
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]))
      return INFINITY;
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    ref += b[i] * b[i];
  }
  return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

//===----------------------------------------------------------------------===//
// One spec on the GPU
//===----------------------------------------------------------------------===//

/// Input and output buffers of one call.
struct Set {
  CUdeviceptr v = 0, h = 0, alpha = 0, rstd = 0, gradH = 0, dv = 0;
};

class SpecBench {
public:
  SpecBench(const Device &device, const KernelSpec &spec, int64_t m,
            CUstream stream)
      : device(device), spec(spec), m(m), stream(stream), buffers(device) {}

  /// Allocates and fills the sets; false with `why` if memory is short.
  bool prepare(int &sets, std::string &why);
  /// Launches one call of `tuning` on set `s`.
  void call(const Tuning &tuning, int s);
  /// Fills set 0's outputs (and dq, dg) with NaN, so that a config which
  /// leaves part of them unwritten fails its check instead of showing the
  /// previous config's results.
  void poisonOutputs();
  /// The outputs a config is checked on, from set 0: the first and last
  /// token rows of h, alpha and rstd (forward); of dv of the first, middle
  /// and last source, and dq, dg (backward).
  std::vector<std::vector<double>> outputs();

private:
  const Device &device;
  KernelSpec spec;
  int64_t m;
  CUstream stream;
  Buffers buffers;
  std::vector<Set> sets;
  CUdeviceptr q = 0, g = 0, dq = 0, dg = 0;
};

bool SpecBench::prepare(int &count, std::string &why) {
  const size_t e = size_t(elementBytes(spec.dtype));
  const size_t n = size_t(spec.numSources), d = size_t(spec.width);
  const size_t rowBytes = size_t(m) * d * e, statBytes = size_t(m) * n * 4;
  const bool backward = spec.direction == Direction::Backward;
  size_t setBytes = n * rowBytes + rowBytes + 2 * statBytes;
  if (backward)
    setBytes += rowBytes + n * rowBytes;
  size_t freeBytes = 0, totalBytes = 0;
  check(device, device.cu->cuMemGetInfo(&freeBytes, &totalBytes),
        "cuMemGetInfo");
  // Enough sets that one rotation exceeds twice the L2 (at least two), in
  // at most 70% of the free memory.
  int64_t wanted = std::max<int64_t>(
      2, int64_t((2 * size_t(device.l2Bytes) + setBytes - 1) / setBytes) + 1);
  int64_t fits = int64_t(0.7 * double(freeBytes) / double(setBytes));
  count = int(std::min<int64_t>({wanted, fits, 64}));
  if (count < 1) {
    why = "one input set needs " + std::to_string(setBytes >> 20) + " MiB; " +
          std::to_string(freeBytes >> 20) + " MiB are free";
    return false;
  }
  // The data repeats with the chunk's period. An odd period keeps the
  // sources (M * D elements apart) and the tokens distinct: with equal
  // sources alpha is uniform, h = v and dq = dg = 0, and a check against
  // the heuristic's outputs could not fail.
  const size_t chunkElems = std::min<size_t>(n * size_t(m) * d, (1 << 22) + 9973);
  std::vector<uint8_t> values = randomBytes(chunkElems, spec.dtype, -2, 2, 1);
  std::vector<uint8_t> grads = randomBytes(chunkElems, spec.dtype, -1, 1, 2);
  const float qScale = 1.0f / std::sqrt(float(d));
  std::vector<uint8_t> query = randomBytes(d, DType::F32, -qScale, qScale, 3);
  std::vector<uint8_t> weight = randomBytes(d, DType::F32, 0.5f, 1.5f, 4);
  q = buffers.alloc(d * 4);
  g = buffers.alloc(d * 4);
  dq = buffers.alloc(d * 4);
  dg = buffers.alloc(d * 4);
  fill(device, q, d * 4, query);
  fill(device, g, d * 4, weight);
  for (int s = 0; s < count; ++s) {
    Set set;
    set.v = buffers.alloc(n * rowBytes);
    set.h = buffers.alloc(rowBytes);
    set.alpha = buffers.alloc(statBytes);
    set.rstd = buffers.alloc(statBytes);
    fill(device, set.v, n * rowBytes, values);
    if (backward) {
      set.gradH = buffers.alloc(rowBytes);
      set.dv = buffers.alloc(n * rowBytes);
      fill(device, set.gradH, rowBytes, grads);
    }
    sets.push_back(set);
  }
  if (backward) {
    // The backward reads the forward's alpha and rstd.
    for (const Set &set : sets) {
      auto f = [](CUdeviceptr p) { return reinterpret_cast<float *>(p); };
      Runtime::get().forward(Sources::stacked(f(set.v), spec.numSources), f(q),
                             f(g), f(set.h), f(set.alpha), f(set.rstd), m,
                             spec.width, spec.dtype, spec.eps, stream);
    }
    check(device, device.cu->cuStreamSynchronize(stream),
          "cuStreamSynchronize");
  }
  return true;
}

void SpecBench::call(const Tuning &tuning, int s) {
  const Set &set = sets[size_t(s) % sets.size()];
  auto f = [](CUdeviceptr p) { return reinterpret_cast<float *>(p); };
  Sources v = Sources::stacked(f(set.v), spec.numSources);
  if (spec.direction == Direction::Forward)
    Runtime::get().forward(v, f(q), f(g), f(set.h), f(set.alpha), f(set.rstd),
                           m, spec.width, spec.dtype, spec.eps, stream, tuning);
  else
    Runtime::get().backward(
        f(set.gradH), v, f(q), f(g), f(set.alpha), f(set.rstd),
        Sources::stacked(f(set.dv), spec.numSources), f(dq), f(dg), m,
        spec.width, spec.dtype, spec.eps, stream, nullptr, 0, tuning);
}

void SpecBench::poisonOutputs() {
  // 0xff bytes are NaN in f32, f16 and bf16 alike.
  const size_t e = size_t(elementBytes(spec.dtype)), d = size_t(spec.width);
  const size_t rowBytes = size_t(m) * d * e;
  const Set &set = sets.front();
  auto poison = [&](CUdeviceptr p, size_t bytes) {
    check(device, device.cu->cuMemsetD8Async(p, 0xff, bytes, stream),
          "cuMemsetD8Async");
  };
  if (spec.direction == Direction::Forward) {
    const size_t statBytes = size_t(m) * size_t(spec.numSources) * 4;
    poison(set.h, rowBytes);
    poison(set.alpha, statBytes);
    poison(set.rstd, statBytes);
    return;
  }
  poison(set.dv, size_t(spec.numSources) * rowBytes);
  poison(dq, d * 4);
  poison(dg, d * 4);
}

std::vector<std::vector<double>> SpecBench::outputs() {
  check(device, device.cu->cuStreamSynchronize(stream), "cuStreamSynchronize");
  const size_t e = size_t(elementBytes(spec.dtype)), d = size_t(spec.width);
  // The first and last token rows: a wrong grid-stride tail shows in the
  // latter. `rowBytes`: one token's bytes of the tensor at `base`.
  const size_t rows = std::min<size_t>(size_t(m), 256);
  auto firstAndLast = [&](CUdeviceptr base, size_t rowBytes, DType dtype) {
    std::vector<uint8_t> bytes(2 * rows * rowBytes);
    check(device, device.cu->cuMemcpyDtoH(bytes.data(), base, rows * rowBytes),
          "cuMemcpyDtoH");
    check(device,
          device.cu->cuMemcpyDtoH(bytes.data() + rows * rowBytes,
                                  base + (size_t(m) - rows) * rowBytes,
                                  rows * rowBytes),
          "cuMemcpyDtoH");
    return toDoubles(bytes, dtype);
  };
  auto rowsOf = [&](CUdeviceptr base) {
    return firstAndLast(base, d * e, spec.dtype);
  };
  // alpha and rstd: N floats per token.
  auto statsOf = [&](CUdeviceptr base) {
    return firstAndLast(base, size_t(spec.numSources) * 4, DType::F32);
  };
  auto params = [&](CUdeviceptr p) {
    std::vector<uint8_t> bytes(d * 4);
    check(device, device.cu->cuMemcpyDtoH(bytes.data(), p, d * 4),
          "cuMemcpyDtoH");
    return toDoubles(bytes, DType::F32);
  };
  const Set &set = sets.front();
  if (spec.direction == Direction::Forward)
    return {rowsOf(set.h), statsOf(set.alpha), statsOf(set.rstd)};
  const size_t sourceBytes = size_t(m) * d * e;
  const size_t last = size_t(spec.numSources) - 1;
  return {rowsOf(set.dv), rowsOf(set.dv + (last / 2) * sourceBytes),
          rowsOf(set.dv + last * sourceBytes), params(dq), params(dg)};
}

//===----------------------------------------------------------------------===//
// The sweep
//===----------------------------------------------------------------------===//

using KnobOverrides =
    std::vector<std::pair<const TuningKnob *, std::vector<KnobValue>>>;

std::string label(const ConfigResult &config) {
  return config.heuristic ? "heuristic" : describe(config.tuning);
}

/// Compiles every config of `result` through the runtime, in parallel.
void compileAll(SpecResult &result, bool havePtxas) {
  std::atomic<size_t> next{0}, done{0};
  const size_t count = result.configs.size();
  auto work = [&] {
    for (size_t i; (i = next++) < count;) {
      ConfigResult &config = result.configs[i];
      KernelSpec spec = result.spec;
      spec.tuning = config.tuning;
      try {
        CompileResult compiled = Runtime::get().compile(spec, havePtxas);
        if (compiled.entries.empty())
          throw attnres::Error(ErrorKind::Compile, "no kernel entry");
        config.ptx = compiled.ptx;
        config.ctaThreads = compiled.entries[0].threads;
        config.layout = compiled.entries[0].layout;
        config.feasible = true;
        if (havePtxas && compiled.resources.empty()) {
          config.feasible = false;
          config.reason = "ptxas: " + compiled.ptxasError;
        }
        for (const ResourceReport &r : compiled.resources) {
          if (r.entry != compiled.entries[0].name)
            continue;
          config.registers = r.registers;
          config.spillBytes = r.spillStoreBytes + r.spillLoadBytes;
          if (config.spillBytes || r.stackFrameBytes) {
            config.feasible = false;
            config.reason = "spills (" + std::to_string(r.spillStoreBytes) +
                            "+" + std::to_string(r.spillLoadBytes) +
                            " bytes, " + std::to_string(r.stackFrameBytes) +
                            " stack)";
          }
        }
      } catch (const std::exception &e) {
        config.feasible = false;
        std::string text = e.what();
        config.reason = "compile: " + text.substr(0, text.find('\n'));
      }
      ++done;
    }
  };
  unsigned threads = jobs > 0
                         ? unsigned(jobs)
                         : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::min<unsigned>(threads, unsigned(count)); ++t)
    pool.emplace_back(work);
  while (done < count) {
    progress(kernelName(result.spec) + ": compiled " + std::to_string(done) +
             "/" + std::to_string(count));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (std::thread &t : pool)
    t.join();
  // Identical PTX launched alike runs identically: time it once.
  std::map<std::pair<std::string, bool>, int> first;
  for (size_t i = 0; i < count; ++i) {
    ConfigResult &config = result.configs[i];
    if (!config.feasible)
      continue;
    KernelSpec spec = result.spec;
    spec.tuning = config.tuning;
    auto [it, inserted] = first.emplace(
        std::make_pair(config.ptx, launchesPerToken(spec)), int(i));
    if (!inserted)
      config.sameAs = it->second;
  }
}

double floorBytes(const KernelSpec &spec, int64_t m) {
  double e = double(elementBytes(spec.dtype)), n = double(spec.numSources);
  double rows = spec.direction == Direction::Forward ? n + 1 : 2 * n + 1;
  // Token rows, plus alpha and rstd (written forward, read backward).
  return double(m) * (rows * double(spec.width) * e + 2 * n * 4);
}

/// Times every feasible config of `result`; throws only when the GPU is
/// unusable afterwards (a fault that poisons the context).
void timeAll(const Device &device, SpecResult &result, CUstream stream) {
  const std::string name = kernelName(result.spec);
  result.floorBytes = floorBytes(result.spec, tokens);
  SpecBench bench(device, result.spec, tokens, stream);
  std::string why;
  progress(name + ": preparing inputs");
  if (!bench.prepare(result.sets, why)) {
    result.skipped = why;
    for (ConfigResult &config : result.configs)
      if (config.feasible) {
        config.feasible = false;
        config.reason = why;
      }
    return;
  }
  const double tolerance = result.spec.dtype == DType::F32 ? 1e-4 : 2e-2;
  std::vector<std::vector<double>> reference;
  for (size_t i = 0; i < result.configs.size(); ++i) {
    ConfigResult &config = result.configs[i];
    progress(name + ": timing " + std::to_string(i + 1) + "/" +
             std::to_string(result.configs.size()) + " " + label(config));
    if (!config.feasible || config.sameAs >= 0)
      continue;
    try {
      for (int w = 0; w < std::max(1, int(warmup)); ++w)
        bench.call(config.tuning, w);
      check(device, device.cu->cuStreamSynchronize(stream),
            "cuStreamSynchronize");
      // Check the results on set 0 against the heuristic's, on outputs
      // poisoned first.
      bench.poisonOutputs();
      bench.call(config.tuning, 0);
      std::vector<std::vector<double>> out = bench.outputs();
      if (config.heuristic) {
        bool finite = true;
        for (const std::vector<double> &o : out)
          finite = finite && std::all_of(o.begin(), o.end(), [](double x) {
                     return std::isfinite(x);
                   });
        if (!finite) {
          config.feasible = false;
          config.reason = "its outputs are not finite: nothing to check against";
          continue;
        }
        reference = out;
      } else if (reference.empty()) {
        // Without the heuristic's results nothing could be checked: no
        // config of this spec may win unchecked.
        config.feasible = false;
        config.reason = "not checked: the heuristic default gave no result";
        continue;
      } else {
        for (size_t k = 0; k < out.size(); ++k) {
          double error = relativeError(out[k], reference[k]);
          if (!(error <= tolerance)) {
            config.feasible = false;
            config.reason = llvm::formatv(
                "results differ from the heuristic's (output {0}: relative "
                "error {1:e2} > {2:e0})",
                k, error, tolerance);
            break;
          }
        }
        if (!config.feasible)
          continue;
      }
      config.ms = timeCalls(device, stream, std::max(1, int(reps)),
                            [&](int r) { bench.call(config.tuning, r); });
      config.tbps = result.floorBytes / (config.ms * 1e-3) / 1e12;
    } catch (const attnres::Error &e) {
      config.feasible = false;
      std::string text = e.what();
      config.reason = "launch: " + text.substr(0, text.find('\n'));
      // A launch refused for resources leaves the context usable; a fault
      // does not, and nothing after it could be trusted.
      CUresult state = device.cu->cuCtxSynchronize();
      if (state != CUDA_SUCCESS)
        throw attnres::Error(ErrorKind::Driver,
                             name + " with " + label(config) +
                                 " left the GPU context unusable (" +
                                 device.cu->describe(state) + "): " + text);
    }
  }
  // Time the heuristic once more: a difference between configs smaller than
  // this spread is noise.
  const ConfigResult &heuristic = result.configs.front();
  if (heuristic.feasible && std::isfinite(heuristic.ms))
    result.heuristicAgainMs =
        timeCalls(device, stream, std::max(1, int(reps)),
                  [&](int r) { bench.call(heuristic.tuning, r); });
  for (ConfigResult &config : result.configs)
    if (config.sameAs >= 0) {
      const ConfigResult &twin = result.configs[size_t(config.sameAs)];
      config.feasible = twin.feasible;
      config.ms = twin.ms;
      config.tbps = twin.tbps;
      if (!twin.feasible)
        config.reason = twin.reason;
    }
  for (size_t i = 0; i < result.configs.size(); ++i) {
    const ConfigResult &config = result.configs[i];
    if (config.feasible && std::isfinite(config.ms) &&
        (result.best < 0 || config.ms < result.bestMs()))
      result.best = int(i);
  }
  progress(name + ": done", true);
}

//===----------------------------------------------------------------------===//
// Output: table, JSON, database, plot
//===----------------------------------------------------------------------===//

void printTable(const Device &device, const SpecResult &result) {
  const KernelSpec &spec = result.spec;
  outs() << "\n"
         << kernelName(spec) << " " << spec.arch << ": M=" << tokens
         << ", floor "
         << formatv("{0:f3}",
                    result.floorBytes / (device.copyTbps * 1e12) * 1e3)
         << " ms at the copy bandwidth, " << result.sets
         << " input sets rotated; heuristic timed again after the sweep: "
         << formatv("{0:f4}", result.heuristicAgainMs) << " ms\n";
  if (!result.skipped.empty()) {
    outs() << "  not timed: " << result.skipped << "\n";
    return;
  }
  outs() << formatv("  {0,3} ", "#");
  for (const TuningKnob &knob : tuningKnobs())
    outs() << formatv("{0,-13}", knob.name);
  outs() << formatv("{0,-24} {1,5} {2,5} {3,9} {4,7} {5,7}  {6}\n", "layout",
                    "cta", "regs", "ms", "TB/s", "%copy", "note");
  for (size_t i = 0; i < result.configs.size(); ++i) {
    const ConfigResult &c = result.configs[i];
    outs() << formatv("  {0,3} ", i);
    for (const TuningKnob &knob : tuningKnobs())
      outs() << formatv("{0,-13}", toString(knob.get(c.tuning)));
    std::string note = c.heuristic ? "heuristic default" : "";
    if (c.sameAs >= 0)
      note += (note.empty() ? "" : "; ") +
              ("same PTX as #" + std::to_string(c.sameAs));
    if (!c.feasible)
      note += (note.empty() ? "" : "; ") + ("infeasible: " + c.reason);
    if (int(i) == result.best)
      note += (note.empty() ? "" : "; ") + std::string("BEST");
    std::string regs = c.registers >= 0 ? std::to_string(c.registers) : "-";
    std::string layout = c.layout.empty() ? "-" : c.layout;
    if (c.feasible && std::isfinite(c.ms))
      outs() << formatv("{0,-24} {1,5} {2,5} {3,9:f4} {4,7:f3} {5,6:f1}%  {6}\n",
                        layout, c.ctaThreads, regs, c.ms, c.tbps,
                        100 * c.tbps / device.copyTbps, note);
    else
      outs() << formatv("{0,-24} {1,5} {2,5} {3,9} {4,7} {5,7}  {6}\n", layout,
                        c.ctaThreads, regs, "-", "-", "-", note);
  }
}

/// The issue's bar: the untuned (heuristic) spec within 10% of the best.
constexpr double kHeuristicSlack = 1.10;

void printSummary(const Device &device, const std::vector<SpecResult> &all) {
  outs() << "\nsummary: " << device.name << " (" << device.arch
         << "), copy bandwidth " << formatv("{0:f3}", device.copyTbps)
         << " TB/s, M=" << tokens << ", median of " << reps << "\n";
  outs() << formatv("{0,-30} {1,10} {2,8} {3,10} {4,8} {5,7} {6,7}  {7}\n",
                    "kernel", "heuristic", "%copy", "tuned", "%copy", "h/t",
                    "rerun", "best");
  for (const SpecResult &r : all) {
    double h = r.heuristicMs(), b = r.bestMs();
    double hPct = 100 * r.floorBytes / (h * 1e-3) / 1e12 / device.copyTbps;
    double bPct = 100 * r.floorBytes / (b * 1e-3) / 1e12 / device.copyTbps;
    std::string verdict = !std::isfinite(b)          ? "no feasible config"
                          : !std::isfinite(h)        ? "heuristic infeasible"
                          : h / b <= kHeuristicSlack ? "ok"
                                                     : "heuristic > 10% slower";
    std::string best = r.best < 0 ? "-" : label(r.configs[size_t(r.best)]);
    // rerun: the heuristic's second timing over its first (noise).
    outs() << formatv("{0,-30} {1,8:f4}ms {2,7:f1}% {3,8:f4}ms {4,7:f1}% "
                      "{5,7:f3} {6,7:f3}  {7} ({8})\n",
                      kernelName(r.spec), h, hPct, b, bPct, h / b,
                      r.heuristicAgainMs / h, best, verdict);
  }
}

json::Value resultJSON(const Device &device, const SpecResult &r) {
  json::Array configs;
  for (size_t i = 0; i < r.configs.size(); ++i) {
    const ConfigResult &c = r.configs[i];
    json::Object o{{"index", int64_t(i)},
                   {"tuning", toJSON(c.tuning)},
                   {"heuristic", c.heuristic},
                   {"feasible", c.feasible},
                   {"cta_threads", c.ctaThreads}};
    if (!c.layout.empty())
      o["layout"] = c.layout;
    if (c.registers >= 0)
      o["registers"] = c.registers;
    if (c.spillBytes >= 0)
      o["spill_bytes"] = c.spillBytes;
    if (c.sameAs >= 0)
      o["same_ptx_as"] = c.sameAs;
    if (!c.feasible)
      o["reason"] = c.reason;
    if (std::isfinite(c.ms)) {
      o["ms"] = c.ms;
      o["tbps"] = c.tbps;
      o["pct_copy"] = 100 * c.tbps / device.copyTbps;
    }
    configs.push_back(std::move(o));
  }
  json::Object o{{"kernel", kernelName(r.spec)},
                 {"arch", r.spec.arch},
                 {"n", r.spec.numSources},
                 {"d", r.spec.width},
                 {"dtype", toString(r.spec.dtype)},
                 {"direction", toString(r.spec.direction)},
                 {"floor_bytes", r.floorBytes},
                 {"input_sets", r.sets},
                 {"configs", std::move(configs)}};
  if (!r.skipped.empty())
    o["skipped"] = r.skipped;
  if (r.best >= 0) {
    o["best"] = r.best;
    o["best_ms"] = r.bestMs();
    if (std::isfinite(r.heuristicMs())) {
      o["heuristic_ms"] = r.heuristicMs();
      o["heuristic_over_best"] = r.heuristicMs() / r.bestMs();
      if (std::isfinite(r.heuristicAgainMs))
        o["heuristic_again_ms"] = r.heuristicAgainMs;
    }
  }
  return o;
}

bool writeText(const std::string &path, const std::string &text) {
  std::error_code ec;
  raw_fd_ostream out(path, ec, sys::fs::OF_Text);
  if (!ec) {
    out << text;
    out.close();
    if (!out.has_error())
      return true;
    ec = out.error();
    out.clear_error();
  }
  errs() << "attnres-tune: error: cannot write " << path << ": " << ec.message()
         << "\n";
  return false;
}

bool writeJSON(const Device &device, const std::vector<SpecResult> &all) {
  json::Array specs;
  for (const SpecResult &r : all)
    specs.push_back(resultJSON(device, r));
  json::Object root{
      {"device", device.name},        {"arch", device.arch},
      {"copy_tbps", device.copyTbps}, {"l2_bytes", device.l2Bytes},
      {"tokens", int64_t(tokens)},    {"reps", int64_t(reps)},
      {"warmup", int64_t(warmup)},    {"specs", std::move(specs)}};
  std::string text;
  raw_string_ostream os(text);
  os << formatv("{0:2}", json::Value(std::move(root))) << "\n";
  return writeText(jsonPath, text);
}

void addWinners(TuningDatabase &db, const Device &device,
                const std::vector<SpecResult> &all) {
  for (const SpecResult &r : all) {
    if (r.best < 0)
      continue;
    const ConfigResult &best = r.configs[size_t(r.best)];
    TuningEntry entry;
    entry.key = TuningKey::of(r.spec);
    entry.tuning = best.tuning;
    entry.info["ms"] = best.ms;
    entry.info["tbps"] = best.tbps;
    entry.info["pct_copy"] = 100 * best.tbps / device.copyTbps;
    if (std::isfinite(r.heuristicMs()))
      entry.info["heuristic_ms"] = r.heuristicMs();
    entry.info["tokens"] = int64_t(tokens);
    entry.info["device"] = device.name;
    db.insert(std::move(entry));
  }
}

std::string escapeXML(const std::string &text) {
  std::string out;
  for (char c : text)
    out += c == '<'   ? "&lt;"
           : c == '>' ? "&gt;"
           : c == '&' ? "&amp;"
                      : std::string(1, c);
  return out;
}

/// Horizontal bars of TB/s per config, one group per spec, with the copy
/// bandwidth as a dashed line.
bool writePlot(const Device &device, const std::vector<SpecResult> &all) {
  const int barH = 12, gap = 2, left = 330, width = 520, top = 40;
  double maxTbps = device.copyTbps;
  int rows = 0;
  for (const SpecResult &r : all) {
    rows += 2 + int(r.configs.size());
    for (const ConfigResult &c : r.configs)
      if (std::isfinite(c.tbps))
        maxTbps = std::max(maxTbps, c.tbps);
  }
  auto x = [&](double tbps) { return left + tbps / maxTbps * width; };
  const int height = top + rows * (barH + gap) + 30;
  std::string svg;
  raw_string_ostream os(svg);
  os << formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                "height=\"{1}\" font-family=\"monospace\" font-size=\"10\">\n",
                left + width + 80, height);
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << formatv("<text x=\"10\" y=\"18\" font-size=\"13\">attnres-tune: "
                "{0} ({1}), M={2}; TB/s (read + write) per config; dashed: "
                "copy {3:f2} TB/s</text>\n",
                escapeXML(device.name), device.arch, int64_t(tokens),
                device.copyTbps);
  int y = top;
  for (const SpecResult &r : all) {
    os << formatv("<text x=\"10\" y=\"{0}\" font-weight=\"bold\">{1}</text>\n",
                  y + barH - 2, kernelName(r.spec));
    y += barH + gap;
    for (size_t i = 0; i < r.configs.size(); ++i) {
      const ConfigResult &c = r.configs[i];
      const char *color = int(i) == r.best ? "#d62728"
                          : c.heuristic    ? "#ff7f0e"
                                           : "#1f77b4";
      os << formatv("<text x=\"10\" y=\"{0}\">{1}</text>\n", y + barH - 2,
                    escapeXML(std::to_string(i) + " " + label(c)));
      if (c.feasible && std::isfinite(c.tbps))
        os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"{2:f1}\" "
                      "height=\"{3}\" fill=\"{4}\"/><text x=\"{5:f1}\" "
                      "y=\"{6}\">{7:f2}</text>\n",
                      left, y, x(c.tbps) - left, barH, color, x(c.tbps) + 3,
                      y + barH - 2, c.tbps);
      else
        os << formatv("<text x=\"{0}\" y=\"{1}\" fill=\"gray\">infeasible"
                      "</text>\n",
                      left + 3, y + barH - 2);
      y += barH + gap;
    }
    y += barH + gap;
  }
  os << formatv("<line x1=\"{0:f1}\" y1=\"{1}\" x2=\"{0:f1}\" y2=\"{2}\" "
                "stroke=\"black\" stroke-dasharray=\"4 3\"/>\n",
                x(device.copyTbps), top - 8, y);
  os << "</svg>\n";
  return writeText(plotPath, svg);
}

//===----------------------------------------------------------------------===//
// Arguments
//===----------------------------------------------------------------------===//


/// The specs the flags name (arch filled in later); "" or a message.
std::string buildSpecs(const std::string &arch, std::vector<KernelSpec> &out) {
  if (numSources.empty() || widths.empty())
    return "--sources and --width are required";
  if (tokens < 1)
    return "--tokens must be positive";
  for (const std::string &dir :
       expandListOption(directions, {"fwd", "bwd"}, "fwd"))
    for (const std::string &dt :
         expandListOption(dtypes, {"f32", "f16", "bf16"}, "bf16"))
      for (int64_t n : numSources)
        for (int64_t d : widths) {
          std::optional<DType> dtype = parseDType(dt);
          std::optional<Direction> direction = parseDirection(dir);
          if (!dtype)
            return "unknown dtype '" + dt + "' (f32, f16, bf16 or all)";
          if (!direction)
            return "unknown direction '" + dir + "' (fwd, bwd or all)";
          KernelSpec spec;
          spec.numSources = n;
          spec.width = d;
          spec.dtype = *dtype;
          spec.direction = *direction;
          spec.arch = arch;
          spec.eps = epsOption;
          if (std::string invalid = validate(spec); !invalid.empty())
            return kernelName(spec) + ": " + invalid;
          out.push_back(spec);
        }
  return "";
}

std::string parseOverrides(KnobOverrides &out) {
  for (const std::string &item : onlyKnobs) {
    size_t eq = item.find('=');
    const TuningKnob *knob =
        eq == std::string::npos ? nullptr : findKnob(item.substr(0, eq));
    if (!knob)
      return "--set " + item +
             ": expected knob=v1,v2 with a knob of: " + describe(Tuning());
    std::vector<KnobValue> values;
    StringRef rest = StringRef(item).drop_front(eq + 1);
    while (!rest.empty()) {
      auto [word, tail] = rest.split(',');
      std::optional<KnobValue> value = parseKnobValue(*knob, word.str());
      if (!value)
        return "--set " + item + ": '" + word.str() + "' is not a value of " +
               knob->name;
      values.push_back(*value);
      rest = tail;
    }
    if (values.empty())
      return "--set " + item + ": no values";
    out.emplace_back(knob, std::move(values));
  }
  return "";
}

/// Empty if `overrides` leave `spec` a config to time, else why not: the
/// first value the spec refuses (e.g. grid = tokens for a backward).
std::string checkOverrides(const KernelSpec &spec,
                           const KnobOverrides &overrides) {
  if (overrides.empty() || !tuningCandidates(spec, overrides).empty())
    return "";
  std::string why = "no valid combination of the --set values";
  for (const auto &[knob, values] : overrides)
    for (const KnobValue &value : values) {
      KernelSpec candidate = spec;
      knob->set(candidate.tuning, value);
      if (std::string invalid = validate(candidate); !invalid.empty()) {
        why = invalid;
        break;
      }
    }
  return kernelName(spec) + ": --set leaves no config to time (" + why + ")";
}

std::vector<ConfigResult> configsOf(const KernelSpec &spec,
                                    const KnobOverrides &overrides) {
  std::vector<ConfigResult> configs(1);
  configs[0].heuristic = true;
  for (const Tuning &tuning : tuningCandidates(spec, overrides)) {
    configs.emplace_back();
    configs.back().tuning = tuning;
  }
  return configs;
}

} // namespace

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attnres-tune: sweeps the tuning knobs of attnres kernels on the GPU "
      "and records the fastest in a tuning database\n\n"
      "  attnres-tune --sources 2,8,32 --width 4096 --dtype bf16 "
      "--direction all --db tuning/sm_90a.json\n\n"
      "Exit codes: 0 done, 1 error or a spec without a feasible config, 2 "
      "bad arguments, 3 no GPU.\n");

  KnobOverrides overrides;
  std::string problem = parseOverrides(overrides);
  std::vector<KernelSpec> specs;
  if (problem.empty())
    problem = buildSpecs(archOption, specs);
  for (const KernelSpec &spec : specs)
    if (problem.empty())
      problem = checkOverrides(spec, overrides);
  if (!problem.empty()) {
    errs() << "attnres-tune: error: " << problem << "\n";
    return kUsage;
  }

  if (listOnly) {
    for (const KernelSpec &spec : specs) {
      std::vector<ConfigResult> configs = configsOf(spec, overrides);
      outs() << kernelName(spec) << " " << spec.arch << ": " << configs.size()
             << " configs\n";
      for (size_t i = 0; i < configs.size(); ++i)
        outs() << "  " << i << " "
               << (configs[i].heuristic
                       ? "heuristic (" + describe(configs[i].tuning) + ")"
                       : describe(configs[i].tuning))
               << "\n";
    }
    return kOk;
  }

  // An existing database must be readable before any GPU time is spent.
  TuningDatabase db;
  if (!dbPath.empty() && sys::fs::exists(dbPath.getValue())) {
    std::string error;
    std::vector<std::string> warnings;
    std::optional<TuningDatabase> existing =
        TuningDatabase::load(dbPath, error, warnings);
    if (!existing) {
      errs() << "attnres-tune: error: " << error
             << " (not overwritten; fix or remove it)\n";
      return kFailed;
    }
    for (const std::string &warning : warnings)
      errs() << "attnres-tune: warning: " << warning << "\n";
    db = std::move(*existing);
  }

  Runtime &rt = Runtime::get();
  std::string noGpu;
  if (!rt.available(&noGpu)) {
    errs() << "attnres-tune: no GPU, nothing timed: " << noGpu << "\n";
    return kNoGpu;
  }

  Device device;
  std::vector<SpecResult> results;
  int status = kOk;
  CUstream stream = nullptr;
  // Written after every spec, so a run that is stopped keeps what it did.
  auto writeOutputs = [&] {
    if (!jsonPath.empty() && !writeJSON(device, results))
      status = kFailed;
    if (!plotPath.empty() && !writePlot(device, results))
      status = kFailed;
    if (!dbPath.empty()) {
      addWinners(db, device, {results.back()});
      std::string error;
      if (!db.save(dbPath, error)) {
        errs() << "attnres-tune: error: " << error << "\n";
        status = kFailed;
      }
    }
  };
  try {
    // The heuristic must be timed untuned, whatever databases exist.
    rt.setTuningDatabaseEnabled(false);
    device.arch = rt.deviceArch();
    std::string error;
    device.cu = CudaDriver::load(error);
    CUdevice dev;
    check(device, device.cu->cuCtxGetDevice(&dev), "cuCtxGetDevice");
    char name[256] = {0};
    check(device, device.cu->cuDeviceGetName(name, sizeof name - 1, dev),
          "cuDeviceGetName");
    device.name = name;
    int l2 = 0;
    check(device,
          device.cu->cuDeviceGetAttribute(
              &l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, dev),
          "cuDeviceGetAttribute(L2)");
    if (l2 > 0)
      device.l2Bytes = l2;
    check(device, device.cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING),
          "cuStreamCreate");
    progress("measuring the copy bandwidth");
    device.copyTbps = measureCopy(device, stream);
    progress("copy bandwidth: " + formatv("{0:f3}", device.copyTbps).str() +
                 " TB/s (" + device.name + ", L2 " +
                 std::to_string(device.l2Bytes >> 20) + " MiB)",
             true);
    const bool havePtxas = !findPtxas().empty();
    if (!havePtxas)
      errs() << "attnres-tune: warning: no ptxas found (set ATTNRES_PTXAS): "
                "spills are not checked\n";

    for (size_t s = 0; s < specs.size(); ++s) {
      SpecResult result;
      result.spec = specs[s];
      result.spec.arch = device.arch;
      result.configs = configsOf(result.spec, overrides);
      progress("[" + std::to_string(s + 1) + "/" +
                   std::to_string(specs.size()) + "] " +
                   kernelName(result.spec) + ": " +
                   std::to_string(result.configs.size()) + " configs",
               true);
      compileAll(result, havePtxas);
      results.push_back(std::move(result));
      timeAll(device, results.back(), stream);
      printTable(device, results.back());
      outs().flush();
      writeOutputs();
    }
  } catch (const std::exception &e) {
    errs() << "attnres-tune: error: " << e.what() << "\n";
    status = kFailed;
  }
  if (stream)
    device.cu->cuStreamDestroy(stream);

  if (!results.empty())
    printSummary(device, results);
  for (const SpecResult &r : results)
    if (r.best < 0)
      status = kFailed;
  return status;
}
