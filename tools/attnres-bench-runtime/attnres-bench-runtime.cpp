//===- attnres-bench-runtime.cpp - Costs of the JIT runtime's paths -------===//
//
//   attnres-bench-runtime [--sources 1,2,3,5,9,17,32] [--width 4096]
//                         [--dtype bf16] [--repeats 3] [--json FILE]
//
// Per spec (forward and backward): a cold compile into an empty cache
// directory, a disk hit (a fresh cache finds the entry) and, with a GPU, the
// first call of a process with a warm disk (disk hit + module load). Then a
// memory hit (the launch table lookup every call makes) and, with a GPU, the
// host cost of one forward/backward call. Prints a table against the
// targets and writes the numbers as JSON.
//
//===----------------------------------------------------------------------===//

#include "runtime/AttnRes.h"
#include "runtime/CallChecks.h"
#include "runtime/CudaDriver.h"
#include "runtime/KernelCache.h"
#include "runtime/LaunchCache.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace attnres;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty())
    return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int64_t> parseList(const char *text) {
  std::vector<int64_t> values;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ','))
    values.push_back(std::atoll(item.c_str()));
  return values;
}

fs::path freshDir(const char *tag) {
  std::string pattern =
      (fs::temp_directory_path() / (std::string(tag) + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data()))
    throw std::runtime_error("cannot create a temporary directory");
  return pattern;
}

struct SpecTimes {
  std::string name;
  double coldMs = NAN, diskMs = NAN, firstCallMs = NAN;
};

std::string number(double v, const char *format = "%.3f") {
  if (std::isnan(v))
    return "null";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

std::string cell(double v, const char *unit, bool gpu) {
  if (std::isnan(v))
    return gpu ? "n/a" : "n/a (no GPU)";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f %s", v, unit);
  return buffer;
}

/// Device buffers big enough for every call the launch benchmark makes.
struct LaunchBench {
  const CudaDriver *cu;
  std::vector<CUdeviceptr> buffers;
  CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    if (cu->cuMemAlloc(&p, bytes) != CUDA_SUCCESS)
      throw std::runtime_error("cuMemAlloc failed");
    cu->cuMemsetD8(p, 0, bytes);
    buffers.push_back(p);
    return p;
  }
  ~LaunchBench() {
    for (CUdeviceptr p : buffers)
      cu->cuMemFree(p);
  }
};

} // namespace

int main(int argc, char **argv) {
  std::vector<int64_t> sources = {1, 2, 3, 5, 9, 17, 32};
  std::vector<int64_t> widths = {4096};
  DType dtype = DType::BF16;
  int repeats = 3;
  std::string jsonPath = "attnres-bench-runtime.json";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--sources" && value)
      sources = parseList(argv[++i]);
    else if (arg == "--width" && value)
      widths = parseList(argv[++i]);
    else if (arg == "--dtype" && value && parseDType(value))
      dtype = *parseDType(argv[++i]);
    else if (arg == "--repeats" && value)
      repeats = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--json" && value)
      jsonPath = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--sources 1,2,...] [--width 4096,...] "
                   "[--dtype f32|f16|bf16] [--repeats N] [--json FILE]\n",
                   argv[0]);
      return 2;
    }
  }

  Runtime &rt = Runtime::get();
  std::string noGpu;
  const bool gpu = rt.available(&noGpu);
  std::string arch = "sm_90a", deviceName = "no GPU";
  const CudaDriver *cu = nullptr;
  try {
    if (gpu) {
      arch = rt.deviceArch();
      std::string error;
      cu = CudaDriver::load(error);
      CUdevice device;
      cu->cuCtxGetDevice(&device);
      char name[256] = {0};
      cu->cuDeviceGetName(name, sizeof name - 1, device);
      deviceName = std::string(name) + " (" + arch + ")";
    }

    std::vector<KernelSpec> specs;
    for (Direction direction : {Direction::Forward, Direction::Backward})
      for (int64_t d : widths)
        for (int64_t n : sources) {
          KernelSpec spec;
          spec.numSources = n;
          spec.width = d;
          spec.dtype = dtype;
          spec.direction = direction;
          spec.arch = arch;
          specs.push_back(spec);
        }

    // Cold compiles, each into its own empty directory; the last one of
    // each spec stays as the warm disk cache.
    fs::path warmDir = freshDir("attnres-bench-warm");
    std::vector<SpecTimes> times;
    for (const KernelSpec &spec : specs) {
      SpecTimes t;
      t.name = kernelName(spec);
      std::vector<double> cold, disk;
      for (int r = 0; r < repeats; ++r) {
        fs::path dir = r + 1 == repeats ? warmDir : freshDir("attnres-bench-cold");
        Clock::time_point start = Clock::now();
        KernelCache cache(dir.string());
        CacheLookup found = cache.get(spec);
        cold.push_back(msSince(start));
        if (found.origin != CacheOrigin::Compiler)
          throw std::runtime_error("expected a cold compile of " + t.name);
        if (dir != warmDir)
          fs::remove_all(dir);
      }
      for (int r = 0; r < std::max(repeats, 5); ++r) {
        Clock::time_point start = Clock::now();
        KernelCache cache(warmDir.string());
        CacheLookup found = cache.get(spec);
        disk.push_back(msSince(start));
        if (found.origin != CacheOrigin::Disk)
          throw std::runtime_error("expected a disk hit for " + t.name);
      }
      t.coldMs = median(cold);
      t.diskMs = median(disk);
      times.push_back(t);
    }

    // First call of a process with a warm disk: disk hit + module load.
    std::unique_ptr<LaunchBench> bench;
    if (gpu) {
      bench = std::make_unique<LaunchBench>();
      bench->cu = cu;
      rt.setCacheDirectory(warmDir.string());
      int64_t maxN = *std::max_element(sources.begin(), sources.end());
      int64_t maxD = *std::max_element(widths.begin(), widths.end());
      const int64_t m = 1;
      size_t e = elementBytes(dtype);
      CUdeviceptr v = bench->alloc(maxN * m * maxD * e),
                  dv = bench->alloc(maxN * m * maxD * e),
                  h = bench->alloc(m * maxD * e), q = bench->alloc(maxD * 4),
                  g = bench->alloc(maxD * 4), st = bench->alloc(maxN * m * 8),
                  dq = bench->alloc(maxD * 4), dg = bench->alloc(maxD * 4);
      auto call = [&](const KernelSpec &spec) {
        auto f = [](CUdeviceptr p) { return reinterpret_cast<float *>(p); };
        Sources s = Sources::stacked(f(v), spec.numSources);
        if (spec.direction == Direction::Forward)
          rt.forward(s, f(q), f(g), f(h), f(st), f(st) + maxN, m, spec.width,
                     dtype, spec.eps, nullptr);
        else
          rt.backward(f(h), s, f(q), f(g), f(st), f(st) + maxN,
                      Sources::stacked(f(dv), spec.numSources), f(dq), f(dg),
                      m, spec.width, dtype, spec.eps, nullptr);
      };
      for (size_t i = 0; i < specs.size(); ++i) {
        rt.clearMemoryCache();
        Clock::time_point start = Clock::now();
        call(specs[i]);
        times[i].firstCallMs = msSince(start);
      }
      cu->cuCtxSynchronize();
    }

    // Memory hit: the launch-table lookup of every call (key + hash + find
    // under a shared lock), over as many entries as specs and two contexts.
    LaunchTable<int> table;
    for (uint64_t context : {1, 2})
      for (const KernelSpec &spec : specs)
        table.insert(makeLaunchKey(context, spec.numSources, spec.width,
                                   spec.dtype, spec.direction, spec.eps,
                                   spec.tuning),
                     std::make_unique<int>(1));
    const int lookups = 2000000;
    int found = 0;
    Clock::time_point start = Clock::now();
    for (int i = 0; i < lookups; ++i) {
      const KernelSpec &spec = specs[size_t(i) % specs.size()];
      LaunchKey key = makeLaunchKey(2, spec.numSources, spec.width, spec.dtype,
                                    spec.direction, spec.eps, spec.tuning);
      found += table.find(key) != nullptr;
    }
    const double memoryHitUs = msSince(start) * 1e3 / lookups;
    if (found != lookups)
      throw std::runtime_error("launch table lookups missed");

    // The argument checks every call makes before the lookup.
    double checksUs;
    {
      static float arena[1 << 14];
      Sources s = Sources::stacked(arena, 8, 0);
      Tuning tuning;
      CallArgs args;
      args.sources = &s;
      args.query = args.normWeight = args.alpha = args.rstd = arena;
      args.h = arena;
      args.tokens = 1;
      args.width = 4096;
      args.dtype = dtype;
      args.eps = 1e-6f;
      args.tuning = &tuning;
      const int calls = 200000;
      start = Clock::now();
      for (int i = 0; i < calls; ++i)
        checkCall(args);
      checksUs = msSince(start) * 1e3 / calls;
    }

    // compile(spec) when the kernel is in memory (builds the key text).
    KernelCache warm(warmDir.string());
    for (const KernelSpec &spec : specs)
      warm.get(spec);
    start = Clock::now();
    const int compileHits = 20000;
    for (int i = 0; i < compileHits; ++i)
      warm.get(specs[size_t(i) % specs.size()]);
    const double compileHitUs = msSince(start) * 1e3 / compileHits;

    // Host cost of a call (kernel cached and loaded): batches small enough
    // that the launch queue never fills, synchronized between batches.
    double launchFwdUs = NAN, launchBwdUs = NAN, rawFwdUs = NAN, rawBwdUs = NAN;
    if (gpu) {
      const int64_t maxN = *std::max_element(sources.begin(), sources.end());
      const int64_t maxD = *std::max_element(widths.begin(), widths.end());
      size_t e = elementBytes(dtype);
      CUdeviceptr v = bench->alloc(maxN * maxD * e), dv = bench->alloc(maxN * maxD * e),
                  h = bench->alloc(maxD * e), q = bench->alloc(maxD * 4),
                  g = bench->alloc(maxD * 4), st = bench->alloc(maxN * 8),
                  dq = bench->alloc(maxD * 4), dg = bench->alloc(maxD * 4);
      auto f = [](CUdeviceptr p) { return reinterpret_cast<float *>(p); };
      const int64_t n = 8 <= maxN ? 8 : maxN, d = widths.front();
      Sources s = Sources::stacked(f(v), n), ds = Sources::stacked(f(dv), n);
      auto timeCalls = [&](const std::function<void()> &body) {
        body();
        cu->cuCtxSynchronize();
        double total = 0;
        const int batches = 50, perBatch = 200;
        for (int b = 0; b < batches; ++b) {
          Clock::time_point t0 = Clock::now();
          for (int i = 0; i < perBatch; ++i)
            body();
          total += msSince(t0);
          cu->cuCtxSynchronize();
        }
        return total * 1e3 / (batches * perBatch);
      };
      launchFwdUs = timeCalls([&] {
        rt.forward(s, f(q), f(g), f(h), f(st), f(st) + maxN, 1, d, dtype,
                   1e-6f, nullptr);
      });
      launchBwdUs = timeCalls([&] {
        rt.backward(f(h), s, f(q), f(g), f(st), f(st) + maxN, ds, f(dq),
                    f(dg), 1, d, dtype, 1e-6f, nullptr);
      });

      // The floor: cuLaunchKernel alone with the same kernels and arguments.
      auto load = [&](Direction direction, CUmodule &module) {
        KernelSpec spec;
        spec.numSources = n;
        spec.width = d;
        spec.dtype = dtype;
        spec.direction = direction;
        spec.arch = arch;
        CompileResult c = rt.compile(spec, false);
        if (cu->cuModuleLoadDataEx(&module, c.ptx.c_str(), 0, nullptr,
                                   nullptr) != CUDA_SUCCESS)
          throw std::runtime_error("cuModuleLoadDataEx failed");
        return c.entries;
      };
      CUmodule fwdModule, bwdModule;
      std::vector<KernelEntry> fwdEntries = load(Direction::Forward, fwdModule);
      std::vector<KernelEntry> bwdEntries = load(Direction::Backward, bwdModule);
      CUfunction fwdFn, bwdFn, reduceFn;
      cu->cuModuleGetFunction(&fwdFn, fwdModule, fwdEntries[0].name.c_str());
      cu->cuModuleGetFunction(&bwdFn, bwdModule, bwdEntries[0].name.c_str());
      cu->cuModuleGetFunction(&reduceFn, bwdModule, bwdEntries[1].name.c_str());
      CUdeviceptr partials = bench->alloc(size_t(d) * 4);
      int64_t one = 1;
      CUdeviceptr alpha = st, rstd = st + maxN * 4;
      std::vector<CUdeviceptr> fwdArgs, bwdArgs;
      for (int64_t i = 0; i < n; ++i)
        fwdArgs.push_back(v + i * d * e);
      fwdArgs.insert(fwdArgs.end(), {q, g, h, alpha, rstd});
      bwdArgs.push_back(h);
      for (int64_t i = 0; i < n; ++i)
        bwdArgs.push_back(v + i * d * e);
      bwdArgs.insert(bwdArgs.end(), {q, g, alpha, rstd});
      for (int64_t i = 0; i < n; ++i)
        bwdArgs.push_back(dv + i * d * e);
      bwdArgs.push_back(partials);
      std::vector<CUdeviceptr> reduceArgs = {partials, q, g, dq, dg};
      auto params = [&](std::vector<CUdeviceptr> &args) {
        std::vector<void *> p;
        for (CUdeviceptr &a : args)
          p.push_back(&a);
        p.push_back(&one);
        return p;
      };
      std::vector<void *> fwdParams = params(fwdArgs),
                          bwdParams = params(bwdArgs),
                          reduceParams = params(reduceArgs);
      unsigned reduceBlocks = unsigned((d + bwdEntries[1].threads - 1) /
                                       bwdEntries[1].threads);
      rawFwdUs = timeCalls([&] {
        cu->cuLaunchKernel(fwdFn, 1, 1, 1, unsigned(fwdEntries[0].threads), 1,
                           1, 0, nullptr, fwdParams.data(), nullptr);
      });
      rawBwdUs = timeCalls([&] {
        cu->cuLaunchKernel(bwdFn, 1, 1, 1, unsigned(bwdEntries[0].threads), 1,
                           1, 0, nullptr, bwdParams.data(), nullptr);
        cu->cuLaunchKernel(reduceFn, reduceBlocks, 1, 1,
                           unsigned(bwdEntries[1].threads), 1, 1, 0, nullptr,
                           reduceParams.data(), nullptr);
      });
      cu->cuCtxSynchronize();
      cu->cuModuleUnload(fwdModule);
      cu->cuModuleUnload(bwdModule);
    }
    fs::remove_all(warmDir);

    // Report.
    std::vector<double> cold, disk, first;
    std::printf("attnres runtime benchmark: %s, %zu specs, %s, median of %d\n\n",
                deviceName.c_str(), specs.size(), toString(dtype), repeats);
    std::printf("%-30s %14s %12s %26s\n", "kernel", "cold compile", "disk hit",
                "first call (disk + load)");
    for (const SpecTimes &t : times) {
      std::printf("%-30s %11.2f ms %9.3f ms %26s\n", t.name.c_str(), t.coldMs,
                  t.diskMs, cell(t.firstCallMs, "ms", gpu).c_str());
      cold.push_back(t.coldMs);
      disk.push_back(t.diskMs);
      if (!std::isnan(t.firstCallMs))
        first.push_back(t.firstCallMs);
    }
    struct Row {
      const char *what;
      double value;
      const char *unit;
      double target;
    };
    const double maxCold = *std::max_element(cold.begin(), cold.end());
    const double maxDisk = *std::max_element(disk.begin(), disk.end());
    Row rows[] = {
        {"cold compile (max)", maxCold, "ms", 300},
        {"cold compile (median)", median(cold), "ms", 300},
        {"disk hit (max)", maxDisk, "ms", 10},
        {"disk hit (median)", median(disk), "ms", 10},
        {"first call, warm disk (median)", median(first), "ms", NAN},
        {"memory hit (launch table)", memoryHitUs, "us", 1},
        {"argument checks per call", checksUs, "us", NAN},
        {"compile() memory hit", compileHitUs, "us", NAN},
        {"launch overhead forward", launchFwdUs, "us", 5},
        {"launch overhead backward", launchBwdUs, "us", 5},
        {"  raw cuLaunchKernel forward", rawFwdUs, "us", NAN},
        {"  raw cuLaunchKernel backward (2)", rawBwdUs, "us", NAN},
    };
    std::printf("\n%-32s %16s %10s %s\n", "", "value", "target", "");
    for (const Row &r : rows) {
      std::string target =
          std::isnan(r.target) ? "" : "<= " + number(r.target, "%g") + " " + r.unit;
      const char *status = std::isnan(r.value) || std::isnan(r.target) ? ""
                           : r.value <= r.target                     ? "ok"
                                                                     : "MISSED";
      std::printf("%-32s %16s %10s %s\n", r.what, cell(r.value, r.unit, gpu).c_str(),
                  target.c_str(), status);
    }
    if (!gpu)
      std::printf("\n(%s)\n", noGpu.c_str());

    std::ofstream json(jsonPath);
    json << "{\n  \"device\": \"" << deviceName << "\",\n  \"dtype\": \""
         << toString(dtype) << "\",\n  \"specs\": [\n";
    for (size_t i = 0; i < times.size(); ++i)
      json << "    {\"name\": \"" << times[i].name
           << "\", \"cold_compile_ms\": " << number(times[i].coldMs)
           << ", \"disk_hit_ms\": " << number(times[i].diskMs)
           << ", \"first_call_ms\": " << number(times[i].firstCallMs) << "}"
           << (i + 1 < times.size() ? ",\n" : "\n");
    json << "  ],\n  \"summary\": {\n"
         << "    \"cold_compile_max_ms\": " << number(maxCold) << ",\n"
         << "    \"cold_compile_median_ms\": " << number(median(cold)) << ",\n"
         << "    \"disk_hit_max_ms\": " << number(maxDisk) << ",\n"
         << "    \"disk_hit_median_ms\": " << number(median(disk)) << ",\n"
         << "    \"first_call_median_ms\": " << number(median(first)) << ",\n"
         << "    \"memory_hit_us\": " << number(memoryHitUs, "%.4f") << ",\n"
         << "    \"argument_checks_us\": " << number(checksUs, "%.4f") << ",\n"
         << "    \"compile_memory_hit_us\": " << number(compileHitUs) << ",\n"
         << "    \"launch_forward_us\": " << number(launchFwdUs) << ",\n"
         << "    \"launch_backward_us\": " << number(launchBwdUs) << ",\n"
         << "    \"raw_launch_forward_us\": " << number(rawFwdUs) << ",\n"
         << "    \"raw_launch_backward_us\": " << number(rawBwdUs) << "\n"
         << "  }\n}\n";
    std::printf("\nwrote %s\n", jsonPath.c_str());
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
