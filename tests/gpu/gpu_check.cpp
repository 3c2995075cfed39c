//===- gpu_check.cpp - Run generated PTX on a GPU against a float64 reference ===//
//
//   attnres-gpu-check DIR [--tokens M] [--time]
//
// For every kernel DIR/<name>.ptx with its DIR/<name>.json (as written by
// attnres-compile), loads the PTX through the driver, runs it on fresh random
// inputs with every output poisoned (NaN bytes) before the launch, and
// compares each output with a float64 reference computed from the same
// rounded inputs. With --time it also times forward and backward for
// M = 16384 tokens against the measured device-to-device copy bandwidth.
// Exits non-zero if any check fails; skips (exit 0, "SKIP") without a GPU.
//
//===----------------------------------------------------------------------===//

#include "runtime/CudaDriver.h"
#include "tests/gpu/HalfFloat.h"

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
  std::string ptx;
};

int elementBytes(const std::string &dtype) { return dtype == "f32" ? 4 : 2; }

/// Rounds to the storage type and back (what the kernel sees).
float roundTo(const std::string &dtype, float x) {
  if (dtype == "bf16")
    return half::fromBF16(half::toBF16(x));
  if (dtype == "f16")
    return half::fromF16(half::toF16(x));
  return x;
}

std::vector<uint8_t> encode(const std::string &dtype,
                            const std::vector<float> &values) {
  std::vector<uint8_t> bytes(values.size() * elementBytes(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == "f32") {
      std::memcpy(&bytes[4 * i], &values[i], 4);
    } else {
      uint16_t h = dtype == "bf16" ? half::toBF16(values[i])
                                   : half::toF16(values[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

std::vector<float> decode(const std::string &dtype,
                          const std::vector<uint8_t> &bytes) {
  size_t count = bytes.size() / elementBytes(dtype);
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    if (dtype == "f32") {
      std::memcpy(&values[i], &bytes[4 * i], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[2 * i], 2);
      values[i] = dtype == "bf16" ? half::fromBF16(h) : half::fromF16(h);
    }
  }
  return values;
}

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

std::vector<float> upload(DeviceBuffer &buffer, const std::string &dtype,
                          const std::vector<float> &values) {
  buffer.upload(encode(dtype, values));
  return values;
}

/// Inputs of one problem, already rounded to their storage types.
struct Problem {
  int n, m, d;
  float eps = 1e-6f;
  std::vector<float> v;      // [N, M, D]
  std::vector<float> q, g;   // [D] f32
  std::vector<float> dh;     // [M, D]
};

Problem makeProblem(int n, int m, int d, const std::string &dtype,
                    std::mt19937_64 &rng) {
  Problem p{n, m, d};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.25f, 4.0f);
  p.v.resize(size_t(n) * m * d);
  for (int i = 0; i < n; ++i)
    for (int t = 0; t < m; ++t) {
      float s = scale(rng); // rows of different norms
      for (int k = 0; k < d; ++k)
        p.v[(size_t(i) * m + t) * d + k] = roundTo(dtype, s * normal(rng));
    }
  p.q.resize(d);
  p.g.resize(d);
  for (int k = 0; k < d; ++k) {
    p.q[k] = 2.0f * normal(rng) / std::sqrt(float(d)); // scores of order 1
    p.g[k] = 1.0f + 0.2f * normal(rng);
  }
  p.dh.resize(size_t(m) * d);
  for (float &x : p.dh)
    x = roundTo(dtype, normal(rng));
  return p;
}

struct Reference {
  std::vector<double> h, alpha, rstd, dv, dq, dg;
  /// |g| * sum |ds r v| and |q| * sum |ds r v|: the magnitude of the terms
  /// summed into dq and dg, which bounds their rounding error (the sums
  /// themselves can cancel to almost nothing, e.g. at D = 1).
  std::vector<double> dqScale, dgScale;
};

/// DESIGN §1 in float64. The backward uses `alphaIn`/`rstdIn` (what the
/// kernel is given) so that it checks the backward alone.
Reference reference(const Problem &p, const std::vector<float> &alphaIn,
                    const std::vector<float> &rstdIn) {
  const int n = p.n, m = p.m, d = p.d;
  Reference r;
  r.h.assign(size_t(m) * d, 0);
  r.alpha.assign(size_t(m) * n, 0);
  r.rstd.assign(size_t(m) * n, 0);
  r.dv.assign(size_t(n) * m * d, 0);
  std::vector<double> c(d, 0.0), cAbs(d, 0.0), w(d);
  for (int k = 0; k < d; ++k)
    w[k] = double(p.q[k]) * p.g[k];
  auto V = [&](int i, int t, int k) { return double(p.v[(size_t(i) * m + t) * d + k]); };
  std::vector<double> s(n), u(n), da(n);
  for (int t = 0; t < m; ++t) {
    double maxS = -INFINITY;
    for (int i = 0; i < n; ++i) {
      double ss = 0, dot = 0;
      for (int k = 0; k < d; ++k) {
        ss += V(i, t, k) * V(i, t, k);
        dot += w[k] * V(i, t, k);
      }
      r.rstd[size_t(t) * n + i] = 1.0 / std::sqrt(ss / d + double(p.eps));
      u[i] = dot;
      s[i] = r.rstd[size_t(t) * n + i] * dot;
      maxS = std::max(maxS, s[i]);
    }
    double total = 0;
    for (int i = 0; i < n; ++i)
      total += std::exp(s[i] - maxS);
    for (int i = 0; i < n; ++i)
      r.alpha[size_t(t) * n + i] = std::exp(s[i] - maxS) / total;
    for (int k = 0; k < d; ++k) {
      double acc = 0;
      for (int i = 0; i < n; ++i)
        acc += r.alpha[size_t(t) * n + i] * V(i, t, k);
      r.h[size_t(t) * d + k] = acc;
    }
    // Backward with the given statistics.
    double mean = 0;
    for (int i = 0; i < n; ++i) {
      double dot = 0;
      for (int k = 0; k < d; ++k)
        dot += double(p.dh[size_t(t) * d + k]) * V(i, t, k);
      da[i] = dot;
      mean += double(alphaIn[size_t(t) * n + i]) * dot;
    }
    for (int i = 0; i < n; ++i) {
      double a = alphaIn[size_t(t) * n + i], rs = rstdIn[size_t(t) * n + i];
      double ds = a * (da[i] - mean);
      double score = rs * u[i];
      for (int k = 0; k < d; ++k) {
        double x = V(i, t, k);
        r.dv[(size_t(i) * m + t) * d + k] =
            a * p.dh[size_t(t) * d + k] + ds * (rs * w[k] - score * rs * rs * x / d);
        c[k] += ds * rs * x;
        cAbs[k] += std::abs(ds * rs * x);
      }
    }
  }
  r.dq.resize(d);
  r.dg.resize(d);
  for (int k = 0; k < d; ++k) {
    r.dq[k] = double(p.g[k]) * c[k];
    r.dqScale.push_back(std::abs(double(p.g[k])) * cAbs[k]);
    r.dgScale.push_back(std::abs(double(p.q[k])) * cAbs[k]);
    r.dg[k] = double(p.q[k]) * c[k];
  }
  return r;
}

/// Relative L2 error; NaN if any output element is NaN (unwritten).
double relativeError(const std::vector<float> &out,
                     const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i]))
      return NAN;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

/// The error of rounding the reference itself to `dtype`.
double roundingError(const std::string &dtype, const std::vector<double> &ref) {
  std::vector<float> rounded(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    rounded[i] = roundTo(dtype, float(ref[i]));
  return relativeError(rounded, ref);
}

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
  if (!spec.forward)
    check(cu->cuModuleGetFunction(&out.functions[1], out.module,
                                  (spec.name + "_reduce").c_str()),
          "cuModuleGetFunction(_reduce)");
}

int gridFor(CUfunction function, int threads, int tokens) {
  int perSM = 0, sms = 0, device = 0;
  CUdevice dev;
  check(cu->cuCtxGetDevice(&dev), "cuCtxGetDevice");
  (void)device;
  check(cu->cuOccupancyMaxActiveBlocksPerMultiprocessor(&perSM, function,
                                                        threads, 0),
        "occupancy");
  check(cu->cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                                 dev),
        "multiprocessor count");
  return std::max(1, std::min(tokens, std::max(perSM, 1) * sms));
}

void launch(CUfunction f, int grid, int threads, std::vector<void *> args,
            CUstream stream = nullptr) {
  check(cu->cuLaunchKernel(f, grid, 1, 1, threads, 1, 1, 0, stream, args.data(),
                           nullptr),
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

  Run(const Spec &spec, int m) : spec(spec), m(m), tokens(m) {
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
    grid = gridFor(module.functions[0], spec.threads[0], m);
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
    launch(module.functions[0], grid, spec.threads[0], args, stream);
    if (spec.forward)
      return;
    int64_t numPartials = grid;
    int reduceThreads = spec.threads[1];
    launch(module.functions[1], (spec.d + reduceThreads - 1) / reduceThreads,
           reduceThreads,
           {&partials->ptr, &q->ptr, &g->ptr, &dq->ptr, &dg->ptr, &numPartials},
           stream);
  }
};

struct Outcome {
  bool ok = true;
  std::string line;
};

/// Checks one output: rounded outputs within 2x the rounding error of the
/// reference plus `slack`; f32 outputs within `slack`.
void judge(Outcome &o, const char *what, const std::vector<float> &out,
           const std::vector<double> &ref, const std::string &dtype,
           double slack) {
  double err = relativeError(out, ref);
  double bound = 2.0 * roundingError(dtype, ref) + slack;
  bool pass = !std::isnan(err) && err <= bound;
  char buf[128];
  std::snprintf(buf, sizeof buf, " %s=%.2e%s", what, err, pass ? "" : "(FAIL)");
  o.line += buf;
  o.ok = o.ok && pass;
}

/// Checks a long f32 sum: ||out - ref|| within 1e-5 of the norm of the
/// summed terms' magnitudes (f32 accumulation over M N terms in a fixed
/// order). Prints the plain relative error.
void judgeSum(Outcome &o, const char *what, const std::vector<float> &out,
              const std::vector<double> &ref, const std::vector<double> &scale) {
  double diff = 0, refNorm = 0, scaleNorm = 0;
  bool nan = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nan = nan || std::isnan(out[i]);
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    refNorm += ref[i] * ref[i];
    scaleNorm += scale[i] * scale[i];
  }
  bool pass = !nan && std::sqrt(diff) <= 1e-5 * std::sqrt(scaleNorm);
  char buf[128];
  std::snprintf(buf, sizeof buf, " %s=%.2e%s", what,
                nan ? NAN : std::sqrt(diff / std::max(refNorm, 1e-300)),
                pass ? "" : "(FAIL)");
  o.line += buf;
  o.ok = o.ok && pass;
}

Outcome checkSpec(const Spec &spec, int m, std::mt19937_64 &rng) {
  Module module;
  loadModule(spec, module);
  Problem p = makeProblem(spec.n, m, spec.d, spec.dtype, rng);
  Run run(spec, m);
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
  {
    Reference pre = reference(p, std::vector<float>(size_t(m) * spec.n, 0.0f),
                              std::vector<float>(size_t(m) * spec.n, 1.0f));
    for (double a : pre.alpha)
      alpha32.push_back(float(a));
    for (double r : pre.rstd)
      rstd32.push_back(float(r));
  }
  Reference ref = reference(p, alpha32, rstd32);
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
    std::fprintf(stderr, "usage: %s DIR [--tokens M] [--time]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  int tokens = 300;
  bool time = false;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc)
      tokens = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--time"))
      time = true;
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
        o = checkSpec(spec, m, rng);
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
      std::printf("%-30s %8s %9s %9s %8s %7s\n", "kernel", "M", "ms",
                  "floor_ms", "TB/s", "%copy");
      for (const Spec &spec : specs) {
        if (spec.d < 2048)
          continue;
        // M = 16384 tokens, fewer where the buffers would pass 4 GiB.
        const double perToken = double(spec.d) * elementBytes(spec.dtype) *
                                spec.n * (spec.forward ? 1 : 2);
        const int m = int(std::min(16384.0, double(1ull << 32) / perToken));
        Module module;
        loadModule(spec, module);
        Run run(spec, m);
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
        for (auto &s : run.sources) {
          std::rotate(block.begin(), block.begin() + 12346, block.end());
          s->upload(block);
        }
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
        std::printf("%-30s %8d %9.4f %9.4f %8.3f %6.1f%%\n", spec.name.c_str(),
                    m, ms, floorMs, bytes / (ms * 1e-3) / 1e12,
                    100.0 * floorMs / ms);
      }
    }
    return failures ? 1 : 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
