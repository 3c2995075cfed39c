//===- gpu_check.cpp - Generated PTX on a GPU against float64 -------------===//
//
//   attnres-gpu-check DIR [--tokens M] [--time] [--waves W]
//
// For every kernel DIR/<name>.ptx with its DIR/<name>.json (as written by
// attnres-compile), loads the PTX through the driver, runs it on fresh random
// inputs with every output poisoned (NaN bytes) before the launch, and
// compares each output with a float64 reference computed from the same
// rounded inputs. With --time it also times forward and backward for
// M = 16384 tokens against the measured device-to-device copy bandwidth.
// --waves W launches the forward with W times the CTAs an SM holds at once
// (capped at one per token) instead of the persistent grid, to compare the
// two; the backward keeps the persistent grid (its partial sums are one row
// a CTA).
// Exits non-zero if any check fails; skips (exit 0, "SKIP") without a GPU.
//
//===----------------------------------------------------------------------===//

#include "lowering/KernelABI.h"
#include "runtime/CudaDriver.h"
#include "reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace attnres;
using reference::decode;
using reference::elementBytes;
using reference::encode;
using reference::makeProblem;
using reference::Problem;
using reference::Reference;

namespace {

const CudaDriver *cu = nullptr;

void check(CUresult result, const char *what) {
  if (result != CUDA_SUCCESS)
    throw std::runtime_error(std::string(what) + ": " + cu->describe(result));
}

struct Spec {
  std::string name;
  bool forward = true;
  int n = 0, d = 0;
  std::string dtype;
  std::vector<int> threads; // per entry: main, reduce
  int sharedBytes = 0;      // dynamic shared memory of the main entry
  int clusterSize = 1;      // CTAs per cluster of the main entry
  bool perToken = false;    // metadata "grid": "tokens": one CTA per token
  std::string ptx;
};

/// A device buffer freed on scope exit.
struct DeviceBuffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t size) : bytes(std::max<size_t>(size, 16)) {
    check(cu->cuMemAlloc(&ptr, bytes), "cuMemAlloc");
  }
  ~DeviceBuffer() {
    if (ptr)
      cu->cuMemFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  void upload(const std::vector<uint8_t> &data) {
    check(cu->cuMemcpyHtoD(ptr, data.data(), data.size()), "cuMemcpyHtoD");
  }
  void poison() { check(cu->cuMemsetD8(ptr, 0xff, bytes), "cuMemsetD8"); }
  std::vector<uint8_t> download(size_t size) const {
    std::vector<uint8_t> data(size);
    check(cu->cuMemcpyDtoH(data.data(), ptr, size), "cuMemcpyDtoH");
    return data;
  }
};

struct Module {
  CUmodule module = nullptr;
  std::vector<CUfunction> functions;
  ~Module() {
    if (module)
      cu->cuModuleUnload(module);
  }
};

void loadModule(const Spec &spec, Module &out) {
  char log[8192] = {0};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
  CUresult result =
      cu->cuModuleLoadDataEx(&out.module, spec.ptx.c_str(), 2, options, values);
  if (result != CUDA_SUCCESS)
    throw std::runtime_error("loading " + spec.name + ": " +
                             cu->describe(result) + "\n" + log);
  out.functions.resize(spec.forward ? 1 : 2);
  check(cu->cuModuleGetFunction(&out.functions[0], out.module,
                                spec.name.c_str()),
        "cuModuleGetFunction");
  // Shared memory past 48 KiB and clusters past 8 CTAs need the opt-in.
  check(cu->prepareFunction(out.functions[0], unsigned(spec.sharedBytes),
                            spec.clusterSize),
        "cuFuncSetAttribute(dynamic shared memory, cluster size)");
  if (!spec.forward)
    check(cu->cuModuleGetFunction(&out.functions[1], out.module,
                                  (spec.name + "_reduce").c_str()),
          "cuModuleGetFunction(_reduce)");
}

/// The grid the runtime would launch: one cluster per token, else `waves`
/// times the resident CTAs (1: the persistent grid), at most one per token.
int gridFor(CUfunction function, int threads, int shared, int cluster,
            int tokens, bool perToken, int waves) {
  int sms = 0;
  CUdevice dev;
  check(cu->cuCtxGetDevice(&dev), "cuCtxGetDevice");
  check(cu->cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                                 dev),
        "multiprocessor count");
  int64_t resident = 0;
  check(cu->residentCtas(function, unsigned(threads), unsigned(shared), cluster,
                         sms, resident),
        "occupancy");
  if (resident < cluster)
    throw std::runtime_error(
        "no " +
        (cluster > 1 ? "cluster of " + std::to_string(cluster) + " " : "") +
        "CTA of " + std::to_string(threads) + " threads fits the device");
  if (perToken)
    return int(CudaDriver::perTokenGrid(cluster, tokens));
  return int(CudaDriver::persistentGrid(resident * waves, cluster, tokens));
}

void launch(CUfunction f, int grid, int threads, int shared,
            std::vector<void *> args, CUstream stream = nullptr) {
  check(cu->cuLaunchKernel(f, grid, 1, 1, threads, 1, 1, shared, stream,
                           args.data(), nullptr),
        "cuLaunchKernel");
}

/// Device buffers and launch closures of one problem.
struct Run {
  const Spec &spec;
  int m;
  std::vector<std::unique_ptr<DeviceBuffer>> sources, gradSources;
  std::unique_ptr<DeviceBuffer> q, g, h, alpha, rstd, dh, partials, dq, dg;
  int grid = 0;
  int64_t tokens;
  int waves; // forward: grid of this many times the resident CTAs

  Run(const Spec &spec, int m, int waves = 1)
      : spec(spec), m(m), tokens(m), waves(spec.forward ? waves : 1) {
    size_t row = size_t(m) * spec.d * elementBytes(spec.dtype);
    for (int i = 0; i < spec.n; ++i) {
      sources.push_back(std::make_unique<DeviceBuffer>(row));
      if (!spec.forward)
        gradSources.push_back(std::make_unique<DeviceBuffer>(row));
    }
    q = std::make_unique<DeviceBuffer>(spec.d * 4);
    g = std::make_unique<DeviceBuffer>(spec.d * 4);
    alpha = std::make_unique<DeviceBuffer>(size_t(m) * spec.n * 4);
    rstd = std::make_unique<DeviceBuffer>(size_t(m) * spec.n * 4);
    if (spec.forward) {
      h = std::make_unique<DeviceBuffer>(row);
    } else {
      dh = std::make_unique<DeviceBuffer>(row);
      dq = std::make_unique<DeviceBuffer>(spec.d * 4);
      dg = std::make_unique<DeviceBuffer>(spec.d * 4);
    }
  }

  void start(Module &module) {
    grid = gridFor(module.functions[0], spec.threads[0], spec.sharedBytes,
                   spec.clusterSize, m, spec.perToken, waves);
    if (!spec.forward)
      partials = std::make_unique<DeviceBuffer>(size_t(grid) * spec.d * 4);
  }

  void launchAll(Module &module, CUstream stream = nullptr) {
    std::vector<void *> args;
    if (!spec.forward)
      args.push_back(&dh->ptr);
    for (auto &s : sources)
      args.push_back(&s->ptr);
    args.push_back(&q->ptr);
    args.push_back(&g->ptr);
    if (spec.forward) {
      args.push_back(&h->ptr);
      args.push_back(&alpha->ptr);
      args.push_back(&rstd->ptr);
    } else {
      args.push_back(&alpha->ptr);
      args.push_back(&rstd->ptr);
      for (auto &s : gradSources)
        args.push_back(&s->ptr);
      args.push_back(&partials->ptr);
    }
    args.push_back(&tokens);
    launch(module.functions[0], grid, spec.threads[0], spec.sharedBytes, args,
           stream);
    if (spec.forward)
      return;
    int64_t numPartials = grid;
    int reduceThreads = spec.threads[1];
    launch(module.functions[1], int(attnres::reduceBlocks(spec.d)),
           reduceThreads, 0,
           {&partials->ptr, &q->ptr, &g->ptr, &dq->ptr, &dg->ptr, &numPartials},
           stream);
  }
};

struct Outcome {
  bool ok = true;
  std::string line;
};

/// Appends " what=error" to the outcome line and records pass or fail.
void record(Outcome &o, const char *what, bool pass, double error) {
  char buf[128];
  std::snprintf(buf, sizeof buf, " %s=%.2e%s", what, error, pass ? "" : "(FAIL)");
  o.line += buf;
  o.ok = o.ok && pass;
}

/// Rounded outputs within 2x the rounding error of the reference plus
/// `slack`; f32 outputs within `slack`.
void judge(Outcome &o, const char *what, const std::vector<float> &out,
           const std::vector<double> &ref, const std::string &dtype,
           double slack) {
  double error;
  bool pass = reference::withinRounding(out, ref, dtype, slack, &error);
  record(o, what, pass, error);
}

/// Long f32 sums (dq, dg): within 1e-5 of the magnitude of their terms.
void judgeSum(Outcome &o, const char *what, const std::vector<float> &out,
              const std::vector<double> &ref, const std::vector<double> &scale) {
  double error;
  bool pass = reference::withinSumBound(out, ref, scale, 1e-5, &error);
  record(o, what, pass, error);
}

Outcome checkSpec(const Spec &spec, int m, int waves, std::mt19937_64 &rng) {
  Module module;
  loadModule(spec, module);
  Problem p = makeProblem(spec.n, m, spec.d, spec.dtype, rng);
  Run run(spec, m, waves);
  run.start(module);
  for (int i = 0; i < spec.n; ++i)
    run.sources[i]->upload(encode(
        spec.dtype, std::vector<float>(p.v.begin() + size_t(i) * m * spec.d,
                                       p.v.begin() + size_t(i + 1) * m * spec.d)));
  run.q->upload(encode("f32", p.q));
  run.g->upload(encode("f32", p.g));
  Outcome o;
  // The backward is given the reference statistics rounded to f32.
  std::vector<float> alpha32, rstd32;
  reference::savedStatistics(p, alpha32, rstd32);
  Reference ref = reference::compute(p, alpha32, rstd32);
  size_t rowBytes = size_t(m) * spec.d * elementBytes(spec.dtype);
  if (spec.forward) {
    run.h->poison();
    run.alpha->poison();
    run.rstd->poison();
    run.launchAll(module);
    check(cu->cuCtxSynchronize(), "forward");
    judge(o, "h", decode(spec.dtype, run.h->download(rowBytes)), ref.h,
          spec.dtype, 1e-5);
    judge(o, "alpha", decode("f32", run.alpha->download(size_t(m) * spec.n * 4)),
          ref.alpha, "f32", 1e-5);
    judge(o, "rstd", decode("f32", run.rstd->download(size_t(m) * spec.n * 4)),
          ref.rstd, "f32", 1e-5);
  } else {
    run.dh->upload(encode(spec.dtype, p.dh));
    run.alpha->upload(encode("f32", alpha32));
    run.rstd->upload(encode("f32", rstd32));
    for (auto &s : run.gradSources)
      s->poison();
    run.partials->poison();
    run.dq->poison();
    run.dg->poison();
    run.launchAll(module);
    check(cu->cuCtxSynchronize(), "backward");
    std::vector<float> dv;
    for (auto &s : run.gradSources) {
      auto part = decode(spec.dtype, s->download(rowBytes));
      dv.insert(dv.end(), part.begin(), part.end());
    }
    judge(o, "dV", dv, ref.dv, spec.dtype, 1e-5);
    judgeSum(o, "dq", decode("f32", run.dq->download(spec.d * 4)), ref.dq,
             ref.dqScale);
    judgeSum(o, "dg", decode("f32", run.dg->download(spec.d * 4)), ref.dg,
             ref.dgScale);
    // Determinism: a second run gives bit-identical weight gradients.
    auto dq1 = run.dq->download(spec.d * 4);
    run.dq->poison();
    run.launchAll(module);
    check(cu->cuCtxSynchronize(), "backward (repeat)");
    bool same = run.dq->download(spec.d * 4) == dq1;
    o.line += same ? " deterministic" : " NONDETERMINISTIC(FAIL)";
    o.ok = o.ok && same;
  }
  return o;
}

/// Median milliseconds of `reps` launches of `body` timed with events.
double timeMs(const std::function<void()> &body, int reps = 30) {
  CUevent start, stop;
  check(cu->cuEventCreate(&start, 0), "cuEventCreate");
  check(cu->cuEventCreate(&stop, 0), "cuEventCreate");
  for (int i = 0; i < 3; ++i)
    body();
  std::vector<float> times;
  for (int i = 0; i < reps; ++i) {
    check(cu->cuEventRecord(start, nullptr), "cuEventRecord");
    body();
    check(cu->cuEventRecord(stop, nullptr), "cuEventRecord");
    check(cu->cuEventSynchronize(stop), "cuEventSynchronize");
    float ms = 0;
    check(cu->cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    times.push_back(ms);
  }
  cu->cuEventDestroy(start);
  cu->cuEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<Spec> readSpecs(const std::string &dir) {
  std::vector<Spec> specs;
  DIR *d = opendir(dir.c_str());
  if (!d)
    throw std::runtime_error("cannot open directory " + dir);
  std::vector<std::string> names;
  while (dirent *e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".json")
      names.push_back(name.substr(0, name.size() - 5));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::regex nameRe("attnres_(fwd|bwd)_n([0-9]+)_d([0-9]+)_(f32|f16|bf16)");
  std::regex threadsRe("\"threads\": ([0-9]+)");
  std::regex sharedRe("\"dynamic_shared_bytes\": ([0-9]+)");
  std::regex clusterRe("\"cluster_size\": ([0-9]+)");
  for (const std::string &base : names) {
    std::smatch m;
    if (!std::regex_search(base, m, nameRe))
      continue;
    Spec s;
    s.name = m[0];
    s.forward = m[1] == "fwd";
    s.n = std::stoi(m[2]);
    s.d = std::stoi(m[3]);
    s.dtype = m[4];
    std::string json = readFile(dir + "/" + base + ".json");
    for (std::sregex_iterator it(json.begin(), json.end(), threadsRe), end;
         it != end; ++it)
      s.threads.push_back(std::stoi((*it)[1]));
    std::smatch shared;
    if (std::regex_search(json, shared, sharedRe))
      s.sharedBytes = std::stoi(shared[1]);
    if (std::regex_search(json, shared, clusterRe))
      s.clusterSize = std::max(1, std::stoi(shared[1]));
    s.perToken = json.find("\"grid\": \"tokens\"") != std::string::npos;
    s.ptx = readFile(dir + "/" + base + ".ptx");
    if (s.threads.size() != (s.forward ? 1u : 2u) || s.ptx.empty())
      throw std::runtime_error("incomplete kernel files for " + base);
    specs.push_back(s);
  }
  return specs;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--tokens M] [--time] [--waves W]\n",
                 argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  // Line by line, so that a log cut short by a time limit keeps its lines.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int tokens = 300;
  bool time = false;
  int waves = 1;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc)
      tokens = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--time"))
      time = true;
    else if (!std::strcmp(argv[i], "--waves") && i + 1 < argc)
      waves = std::max(1, std::atoi(argv[++i]));
  }
  std::string error;
  cu = CudaDriver::load(error);
  int count = 0;
  if (cu)
    check(cu->cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (!cu || count == 0) {
    std::printf("SKIP: no GPU (%s)\n", cu ? "no device" : error.c_str());
    return 0;
  }
  try {
    CUdevice device;
    CUcontext context;
    check(cu->cuDeviceGet(&device, 0), "cuDeviceGet");
    check(cu->cuDevicePrimaryCtxRetain(&context, device), "primary context");
    check(cu->cuCtxSetCurrent(context), "cuCtxSetCurrent");
    char deviceName[256];
    cu->cuDeviceGetName(deviceName, sizeof deviceName, device);
    std::printf("device: %s\n", deviceName);

    std::vector<Spec> specs = readSpecs(dir);
    std::mt19937_64 rng(std::random_device{}());
    int failures = 0;
    for (const Spec &spec : specs) {
      // Odd token counts so that grid-stride tails are exercised.
      int m = tokens + (spec.n * 7 + spec.d) % 13;
      Outcome o;
      try {
        o = checkSpec(spec, m, waves, rng);
      } catch (const std::exception &e) {
        o.ok = false;
        o.line = std::string(" error: ") + e.what();
        cu->cuCtxSynchronize(); // a failed launch must not leak into the next
      }
      std::printf("%-6s %-32s M=%-4d threads=%-4d%s\n", o.ok ? "PASS" : "FAIL",
                  spec.name.c_str(), m, spec.threads[0], o.line.c_str());
      failures += !o.ok;
    }
    std::printf("%zu kernels checked, %d failed\n", specs.size(), failures);

    if (time) {
      const size_t copyBytes = size_t(1) << 30;
      DeviceBuffer a(copyBytes), b(copyBytes);
      check(cu->cuMemsetD8(a.ptr, 1, copyBytes), "memset");
      double copyMs = timeMs([&] {
        check(cu->cuMemcpyDtoDAsync(b.ptr, a.ptr, copyBytes, nullptr), "copy");
      });
      double copyTBps = 2.0 * copyBytes / (copyMs * 1e-3) / 1e12;
      std::printf("\ncopy bandwidth: %.3f TB/s (1 GiB device-to-device, read + write)\n",
                  copyTBps);
      std::printf("%-30s %8s %6s %9s %9s %8s %7s\n", "kernel", "M", "grid",
                  "ms", "floor_ms", "TB/s", "%copy");
      for (const Spec &spec : specs) {
        if (spec.d < 2048)
          continue;
        // M = 16384 tokens, fewer where the buffers would pass 4 GiB.
        const double perToken = double(spec.d) * elementBytes(spec.dtype) *
                                spec.n * (spec.forward ? 1 : 2);
        const int m = int(std::min(16384.0, double(1ull << 32) / perToken));
        Module module;
        loadModule(spec, module);
        Run run(spec, m, waves);
        run.start(module);
        // Random data (never constants): a random [M, D] block tiled from a
        // shorter random run, rotated differently for every source.
        Problem p = makeProblem(1, std::min(m, 257), spec.d, spec.dtype, rng);
        std::vector<uint8_t> run0 = encode(spec.dtype, p.v);
        std::vector<uint8_t> block(size_t(m) * spec.d * elementBytes(spec.dtype));
        for (size_t i = 0; i < block.size(); i += run0.size())
          std::memcpy(&block[i], run0.data(), std::min(run0.size(), block.size() - i));
        p.dh.resize(size_t(m) * spec.d);
        for (size_t i = 0; i < p.dh.size(); ++i)
          p.dh[i] = p.v[i % p.v.size()] * 0.5f;
        // Each source a different rotation of the block, by whole 16-byte
        // vectors (f32 values stay intact), copied on the device.
        DeviceBuffer staging(block.size());
        staging.upload(block);
        for (size_t i = 0; i < run.sources.size(); ++i) {
          size_t shift = (12352 * (i + 1)) % block.size();
          shift -= shift % 16;
          size_t rest = block.size() - shift;
          check(cu->cuMemcpyDtoDAsync(run.sources[i]->ptr, staging.ptr + shift,
                                      rest, nullptr),
                "copy");
          if (shift)
            check(cu->cuMemcpyDtoDAsync(run.sources[i]->ptr + rest,
                                        staging.ptr, shift, nullptr),
                  "copy");
        }
        check(cu->cuCtxSynchronize(), "copies");
        run.q->upload(encode("f32", p.q));
        run.g->upload(encode("f32", p.g));
        if (!spec.forward) {
          run.dh->upload(encode(spec.dtype, p.dh));
          std::vector<float> alpha(size_t(m) * spec.n), rstd(alpha.size());
          std::uniform_real_distribution<float> unit(0.1f, 1.0f);
          for (size_t i = 0; i < alpha.size(); ++i) {
            alpha[i] = unit(rng) / spec.n;
            rstd[i] = unit(rng);
          }
          run.alpha->upload(encode("f32", alpha));
          run.rstd->upload(encode("f32", rstd));
        }
        double ms;
        try {
          ms = timeMs([&] { run.launchAll(module); });
        } catch (const std::exception &e) {
          std::printf("%-30s error: %s\n", spec.name.c_str(), e.what());
          continue;
        }
        double e = elementBytes(spec.dtype);
        double bytes = double(m) * spec.d * e *
                       (spec.forward ? spec.n + 1 : 2 * spec.n + 1);
        double floorMs = bytes / (copyTBps * 1e12) * 1e3;
        std::printf("%-30s %8d %6d %9.4f %9.4f %8.3f %6.1f%%\n",
                    spec.name.c_str(), m, run.grid, ms, floorMs,
                    bytes / (ms * 1e-3) / 1e12, 100.0 * floorMs / ms);
      }
    }
    return failures ? 1 : 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
