//===- attnres-run.cpp - Compile one AttnRes spec and run it, checked -----===//
//
//   attnres-run [--sources N] [--width D] [--dtype bf16] [--tokens M]
//
// Compiles the forward and backward kernels of the spec and runs them on
// fresh random inputs: through the runtime on the GPU if there is one, else
// through the CPU path (the same attnres program, JIT-compiled for the
// host). Every output is checked against the float64 reference; the exit
// status says whether all passed.
//
//===----------------------------------------------------------------------===//

#ifdef ATTNRES_HAVE_CPU_PATH
#include "codegen/CpuKernel.h"
#endif
#include "reference/Reference.h"
#include "runtime/AttnRes.h"
#include "runtime/CudaDriver.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

using namespace attnres;
namespace ref = attnres::reference;

namespace {

struct Outputs {
  std::vector<float> h, alpha, rstd, dv, dq, dg;
};

#ifdef ATTNRES_HAVE_CPU_PATH
/// The CPU path: the spec's attnres program JIT-compiled for the host.
bool runOnCpu(const KernelSpec &spec, const ref::Problem &p,
              const std::vector<float> &alpha, const std::vector<float> &rstd,
              Outputs &out) {
  KernelSpec bwd = spec;
  bwd.direction = Direction::Backward;
  auto forward = CpuKernel::compile(spec);
  auto backward = forward ? CpuKernel::compile(bwd) : std::move(forward);
  if (!forward || !backward) {
    std::fprintf(stderr, "error: %s\n",
                 llvm::toString(forward ? backward.takeError()
                                        : forward.takeError())
                     .c_str());
    return false;
  }
  std::printf("CPU path: compiled forward in %.0f ms, backward in %.0f ms\n",
              (*forward)->compileSeconds() * 1e3,
              (*backward)->compileSeconds() * 1e3);
  const std::string dtype = toString(spec.dtype);
  std::vector<uint8_t> v = ref::encode(dtype, p.v), dh = ref::encode(dtype, p.dh);
  std::vector<uint8_t> h(size_t(p.m) * p.d * ref::elementBytes(dtype)),
      dv(v.size());
  out.alpha.assign(size_t(p.m) * p.n, NAN);
  out.rstd = out.alpha;
  out.dq.assign(p.d, NAN);
  out.dg = out.dq;
  std::memset(h.data(), 0xff, h.size()); // poisoned: NaN in every type
  std::memset(dv.data(), 0xff, dv.size());
  auto t0 = std::chrono::steady_clock::now();
  if (llvm::Error e = (*forward)->forward(p.m, v.data(), p.q.data(), p.g.data(),
                                          h.data(), out.alpha.data(),
                                          out.rstd.data())) {
    std::fprintf(stderr, "error: %s\n", llvm::toString(std::move(e)).c_str());
    return false;
  }
  auto t1 = std::chrono::steady_clock::now();
  if (llvm::Error e = (*backward)->backward(
          p.m, dh.data(), v.data(), p.q.data(), p.g.data(), alpha.data(),
          rstd.data(), dv.data(), out.dq.data(), out.dg.data())) {
    std::fprintf(stderr, "error: %s\n", llvm::toString(std::move(e)).c_str());
    return false;
  }
  auto t2 = std::chrono::steady_clock::now();
  std::printf("CPU path: forward %.2f ms, backward %.2f ms\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count(),
              std::chrono::duration<double, std::milli>(t2 - t1).count());
  out.h = ref::decode(dtype, h);
  out.dv = ref::decode(dtype, dv);
  return true;
}
#else
/// Builds without the host JIT (the static GPU build) have no CPU path.
bool runOnCpu(const KernelSpec &, const ref::Problem &,
              const std::vector<float> &, const std::vector<float> &,
              Outputs &) {
  std::fprintf(stderr, "error: this build has no CPU path\n");
  return false;
}
#endif

/// The GPU path through the runtime (JIT, cache, launch).
bool runOnGpu(const KernelSpec &spec, const ref::Problem &p,
              const std::vector<float> &alpha, const std::vector<float> &rstd,
              Outputs &out) {
  Runtime &rt = Runtime::get();
  std::string why;
  const CudaDriver *cu = CudaDriver::load(why);
  std::printf("GPU path: %s, kernels for %s, cache %s\n", "CUDA driver",
              rt.deviceArch().c_str(), rt.cacheDirectory().c_str());
  const std::string dtype = toString(spec.dtype);
  std::vector<CUdeviceptr> buffers;
  auto check = [&](CUresult result, const char *what) {
    if (result != CUDA_SUCCESS)
      throw Error(ErrorKind::Driver,
                  std::string(what) + ": " + cu->describe(result));
  };
  auto upload = [&](const std::vector<uint8_t> &bytes) {
    CUdeviceptr ptr = 0;
    check(cu->cuMemAlloc(&ptr, std::max<size_t>(bytes.size(), 16)),
          "cuMemAlloc");
    buffers.push_back(ptr);
    check(cu->cuMemcpyHtoD(ptr, bytes.data(), bytes.size()), "cuMemcpyHtoD");
    return reinterpret_cast<void *>(ptr);
  };
  auto poisoned = [&](size_t bytes) {
    return upload(std::vector<uint8_t>(bytes, 0xff));
  };
  auto download = [&](void *ptr, size_t bytes) {
    std::vector<uint8_t> data(bytes);
    check(cu->cuMemcpyDtoH(data.data(), reinterpret_cast<CUdeviceptr>(ptr),
                           bytes),
          "cuMemcpyDtoH");
    return data;
  };
  const size_t rowBytes = size_t(p.m) * p.d * ref::elementBytes(dtype);
  const size_t statBytes = size_t(p.m) * p.n * 4;
  void *v = upload(ref::encode(dtype, p.v)), *dh = upload(ref::encode(dtype, p.dh));
  auto *q = static_cast<float *>(upload(ref::encode("f32", p.q)));
  auto *g = static_cast<float *>(upload(ref::encode("f32", p.g)));
  auto *a = static_cast<float *>(upload(ref::encode("f32", alpha)));
  auto *r = static_cast<float *>(upload(ref::encode("f32", rstd)));
  void *h = poisoned(rowBytes), *dv = poisoned(rowBytes * p.n);
  auto *alphaOut = static_cast<float *>(poisoned(statBytes));
  auto *rstdOut = static_cast<float *>(poisoned(statBytes));
  auto *dq = static_cast<float *>(poisoned(p.d * 4));
  auto *dg = static_cast<float *>(poisoned(p.d * 4));
  auto t0 = std::chrono::steady_clock::now();
  rt.forward(Sources::stacked(v, p.n), q, g, h, alphaOut, rstdOut, p.m, p.d,
             spec.dtype, spec.eps, nullptr);
  rt.backward(dh, Sources::stacked(v, p.n), q, g, a, r, Sources::stacked(dv, p.n),
              dq, dg, p.m, p.d, spec.dtype, spec.eps, nullptr);
  check(cu->cuCtxSynchronize(), "forward + backward");
  auto t1 = std::chrono::steady_clock::now();
  std::printf("GPU path: first forward + backward (compile or cache load "
              "included) %.1f ms\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count());
  out.h = ref::decode(dtype, download(h, rowBytes));
  out.alpha = ref::decode("f32", download(alphaOut, statBytes));
  out.rstd = ref::decode("f32", download(rstdOut, statBytes));
  out.dv = ref::decode(dtype, download(dv, rowBytes * p.n));
  out.dq = ref::decode("f32", download(dq, p.d * 4));
  out.dg = ref::decode("f32", download(dg, p.d * 4));
  for (CUdeviceptr ptr : buffers)
    cu->cuMemFree(ptr);
  return true;
}

} // namespace

int main(int argc, char **argv) {
  KernelSpec spec;
  spec.numSources = 8;
  spec.width = 4096;
  int tokens = 256;
  const char *usage = "usage: attnres-run [--sources N] [--width D] "
                      "[--dtype f32|f16|bf16] [--tokens M]\n";
  if (argc % 2 == 0)
    return std::fprintf(stderr, "error: every flag needs a value\n%s", usage), 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    try {
      if (flag == "--sources")
        spec.numSources = std::stoll(value);
      else if (flag == "--width")
        spec.width = std::stoll(value);
      else if (flag == "--tokens")
        tokens = std::stoi(value);
      else if (flag == "--dtype" && parseDType(value))
        spec.dtype = *parseDType(value);
      else
        throw std::invalid_argument(flag);
    } catch (const std::exception &) {
      return std::fprintf(stderr, "error: bad argument '%s %s'\n%s",
                          flag.c_str(), value.c_str(), usage),
             2;
    }
  }
  if (tokens < 1 || tokens > 1 << 20)
    return std::fprintf(stderr, "error: --tokens must be in [1, 1048576], got %d\n",
                        tokens),
           2;
  if (std::string invalid = validate(spec); !invalid.empty())
    return std::fprintf(stderr, "error: %s\n", invalid.c_str()), 2;
  const std::string dtype = toString(spec.dtype);
  std::printf("AttnRes N=%lld D=%lld %s, M=%d tokens\n",
              (long long)spec.numSources, (long long)spec.width, dtype.c_str(),
              tokens);
  std::mt19937_64 rng(std::random_device{}());
  ref::Problem p = ref::makeProblem(int(spec.numSources), tokens,
                                    int(spec.width), dtype, rng);
  std::vector<float> alpha, rstd;
  ref::savedStatistics(p, alpha, rstd);
  ref::Reference want = ref::compute(p, alpha, rstd);

  Outputs got;
  std::string why;
  bool ok;
  try {
    ok = Runtime::get().available(&why) ? runOnGpu(spec, p, alpha, rstd, got)
                                        : (std::printf("no GPU (%s): using the "
                                                       "CPU path\n",
                                                       why.c_str()),
                                           runOnCpu(spec, p, alpha, rstd, got));
  } catch (const Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  if (!ok)
    return 1;
  int failures = 0;
  // Each check computes its error before the line is printed.
  auto show = [&](const char *what, auto check) {
    double error = NAN;
    bool pass = check(&error);
    std::printf("  %-6s rel. L2 error %.2e  %s\n", what, error,
                pass ? "ok" : "FAIL");
    failures += !pass;
  };
  show("h", [&](double *e) { return ref::withinRounding(got.h, want.h, dtype, 1e-5, e); });
  show("alpha", [&](double *e) { return ref::withinRounding(got.alpha, want.alpha, "f32", 1e-5, e); });
  show("rstd", [&](double *e) { return ref::withinRounding(got.rstd, want.rstd, "f32", 1e-5, e); });
  show("dV", [&](double *e) { return ref::withinRounding(got.dv, want.dv, dtype, 1e-5, e); });
  show("dq", [&](double *e) { return ref::withinSumBound(got.dq, want.dq, want.dqScale, 1e-5, e); });
  show("dg", [&](double *e) { return ref::withinSumBound(got.dg, want.dg, want.dgScale, 1e-5, e); });
  std::printf(failures ? "FAILED\n" : "all outputs match the float64 reference\n");
  return failures ? 1 : 0;
}
