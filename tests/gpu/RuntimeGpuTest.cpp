//===- RuntimeGpuTest.cpp - The runtime API on a GPU vs a float64 reference ===//
//
// Forward and backward through runtime/AttnRes.h for N in {1, 3, 8, 17},
// D in {64, 100, 4096}, every dtype, stacked and list sources; outputs are
// poisoned (NaN bytes) before each call. Also: many streams and threads at
// once, caller and runtime workspaces, M == 0, misaligned device pointers,
// the primary-context fallback, and the disk cache cold -> warm -> corrupt
// -> rebuilt. Every test skips without a GPU.
//
//===----------------------------------------------------------------------===//

#include "codegen/Tuning.h"
#include "reference/Reference.h"
#include "runtime/AttnRes.h"
#include "runtime/CudaDriver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <tuple>
#include <unistd.h>

using namespace attnres;
namespace fs = std::filesystem;

namespace {

const CudaDriver *cu = nullptr;

void check(CUresult result, const char *what) {
  if (result != CUDA_SUCCESS)
    throw std::runtime_error(std::string(what) + ": " + cu->describe(result));
}

/// Skips the test unless a GPU is usable; makes the runtime's context
/// current so the test can allocate.
#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    std::string why;                                                           \
    if (!Runtime::get().available(&why))                                       \
      GTEST_SKIP() << why;                                                     \
    std::string error;                                                         \
    cu = CudaDriver::load(error);                                              \
    Runtime::get().deviceArch();                                               \
  } while (0)

std::vector<uint8_t> encode(DType dtype, const float *values, size_t count) {
  return reference::encode(toString(dtype),
                           std::vector<float>(values, values + count));
}

std::vector<float> decode(DType dtype, const std::vector<uint8_t> &bytes) {
  return reference::decode(toString(dtype), bytes);
}

/// Device memory freed on scope exit.
struct Buffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  explicit Buffer(size_t size) : bytes(std::max<size_t>(size, 16)) {
    check(cu->cuMemAlloc(&ptr, bytes), "cuMemAlloc");
  }
  ~Buffer() {
    if (ptr)
      cu->cuMemFree(ptr);
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  void *p() const { return reinterpret_cast<void *>(ptr); }
  float *f() const { return reinterpret_cast<float *>(ptr); }
  void upload(const std::vector<uint8_t> &data, size_t offset = 0) {
    if (data.empty())
      return;
    check(cu->cuMemcpyHtoD(ptr + offset, data.data(), data.size()), "upload");
  }
  void poison() { check(cu->cuMemsetD8(ptr, 0xff, bytes), "poison"); }
  std::vector<uint8_t> download(size_t size, size_t offset = 0) const {
    std::vector<uint8_t> data(size);
    check(cu->cuMemcpyDtoH(data.data(), ptr + offset, size), "download");
    return data;
  }
};

/// Inputs of one problem, rounded to their storage types.
/// A problem of the float64 reference plus its storage type.
struct Problem : reference::Problem {
  DType dtype;
};

/// Fresh random inputs (the seed only separates problems made together).
Problem makeProblem(int n, int m, int d, DType dtype, uint64_t seed) {
  std::mt19937_64 rng(std::random_device{}() ^ seed);
  Problem p;
  static_cast<reference::Problem &>(p) =
      reference::makeProblem(n, m, d, toString(dtype), rng);
  p.dtype = dtype;
  return p;
}

using reference::Reference;
Reference referenceOf(const Problem &p, const std::vector<float> &alphaIn,
                      const std::vector<float> &rstdIn) {
  return reference::compute(p, alphaIn, rstdIn);
}

/// Rounded outputs within 2x the reference's own rounding error plus
/// `slack`; f32 outputs within `slack`.
void expectClose(const char *what, const std::vector<float> &out,
                 const std::vector<double> &ref, DType dtype, double slack) {
  double err;
  EXPECT_TRUE(reference::withinRounding(out, ref, toString(dtype), slack, &err))
      << what << ": relative error " << err;
}

/// Long f32 sums (dq, dg) within 1e-5 of the magnitude of their terms.
void expectCloseSum(const char *what, const std::vector<float> &out,
                    const std::vector<double> &ref,
                    const std::vector<double> &scale) {
  double err;
  EXPECT_TRUE(reference::withinSumBound(out, ref, scale, 1e-5, &err))
      << what << ": relative error " << err;
}

/// Device buffers of one problem, in stacked or list layout.
struct DeviceProblem {
  const Problem &p;
  bool stacked;
  size_t rowBytes;
  std::unique_ptr<Buffer> all, allGrad; // stacked
  std::vector<std::unique_ptr<Buffer>> each, eachGrad; // list
  Buffer q, g, h, alpha, rstd, dh, dq, dg;

  DeviceProblem(const Problem &p, bool stacked)
      : p(p), stacked(stacked),
        rowBytes(size_t(p.m) * p.d * elementBytes(p.dtype)), q(p.d * 4),
        g(p.d * 4), h(rowBytes), alpha(size_t(p.m) * p.n * 4),
        rstd(size_t(p.m) * p.n * 4), dh(rowBytes), dq(p.d * 4), dg(p.d * 4) {
    std::vector<uint8_t> v = encode(p.dtype, p.v.data(), p.v.size());
    if (stacked) {
      all = std::make_unique<Buffer>(rowBytes * p.n);
      allGrad = std::make_unique<Buffer>(rowBytes * p.n);
      all->upload(v);
    } else {
      for (int i = 0; i < p.n; ++i) {
        each.push_back(std::make_unique<Buffer>(rowBytes));
        eachGrad.push_back(std::make_unique<Buffer>(rowBytes));
        each.back()->upload(std::vector<uint8_t>(
            v.begin() + i * rowBytes, v.begin() + (i + 1) * rowBytes));
      }
    }
    q.upload(encode(DType::F32, p.q.data(), p.d));
    g.upload(encode(DType::F32, p.g.data(), p.d));
    dh.upload(encode(p.dtype, p.dh.data(), p.dh.size()));
  }

  Sources sources() const {
    if (stacked)
      return Sources::stacked(all->p(), p.n);
    std::vector<const void *> list;
    for (auto &b : each)
      list.push_back(b->p());
    return Sources::list(list, p.d);
  }
  Sources grads() const {
    if (stacked)
      return Sources::stacked(allGrad->p(), p.n, int64_t(p.m) * p.d, p.d);
    std::vector<const void *> list;
    for (auto &b : eachGrad)
      list.push_back(b->p());
    return Sources::list(list);
  }
  void poisonGrads() {
    if (stacked)
      allGrad->poison();
    for (auto &b : eachGrad)
      b->poison();
    dq.poison();
    dg.poison();
  }
  std::vector<float> gradSources() const {
    std::vector<float> out;
    for (int i = 0; i < p.n; ++i) {
      auto part = stacked ? decode(p.dtype, allGrad->download(rowBytes, i * rowBytes))
                          : decode(p.dtype, eachGrad[i]->download(rowBytes));
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

  void forward(CUstream stream, const Tuning &tuning = Tuning()) {
    Runtime::get().forward(sources(), q.f(), g.f(), h.p(), alpha.f(), rstd.f(),
                           p.m, p.d, p.dtype, p.eps, stream, tuning);
  }
  void backward(CUstream stream, void *workspace = nullptr,
                size_t workspaceBytes = 0) {
    Runtime::get().backward(dh.p(), sources(), q.f(), g.f(), alpha.f(),
                            rstd.f(), grads(), dq.f(), dg.f(), p.m, p.d,
                            p.dtype, p.eps, stream, workspace, workspaceBytes);
  }
};

/// Forward then backward on `stream`, each checked against the reference.
void checkProblem(const Problem &p, bool stacked, CUstream stream,
                  bool callerWorkspace) {
  DeviceProblem dp(p, stacked);
  dp.h.poison();
  dp.alpha.poison();
  dp.rstd.poison();
  dp.forward(stream);
  check(cu->cuStreamSynchronize(stream), "forward");
  std::vector<float> alpha = decode(DType::F32, dp.alpha.download(dp.alpha.bytes));
  std::vector<float> rstd = decode(DType::F32, dp.rstd.download(dp.rstd.bytes));
  alpha.resize(size_t(p.m) * p.n);
  rstd.resize(size_t(p.m) * p.n);
  // The backward gets the kernel's own statistics; the reference too.
  Reference ref = referenceOf(p, alpha, rstd);
  expectClose("h", decode(p.dtype, dp.h.download(dp.rowBytes)), ref.h, p.dtype,
              1e-5);
  expectClose("alpha", alpha, ref.alpha, DType::F32, 1e-5);
  expectClose("rstd", rstd, ref.rstd, DType::F32, 1e-5);

  dp.poisonGrads();
  std::unique_ptr<Buffer> workspace;
  if (callerWorkspace) {
    size_t bytes = Runtime::get().backwardWorkspaceBytes(p.n, p.m, p.d,
                                                         p.dtype, p.eps);
    EXPECT_GE(bytes, size_t(p.d) * 4);
    workspace = std::make_unique<Buffer>(bytes);
    workspace->poison();
    dp.backward(stream, workspace->p(), bytes);
  } else {
    dp.backward(stream);
  }
  check(cu->cuStreamSynchronize(stream), "backward");
  expectClose("dV", dp.gradSources(), ref.dv, p.dtype, 1e-5);
  expectCloseSum("dq", decode(DType::F32, dp.dq.download(p.d * 4)), ref.dq,
                 ref.dqScale);
  expectCloseSum("dg", decode(DType::F32, dp.dg.download(p.d * 4)), ref.dg,
                 ref.dgScale);
}

/// A fresh cache directory for the whole run (removed at exit).
class CacheDirEnvironment : public testing::Environment {
public:
  void SetUp() override {
    std::string pattern =
        (fs::temp_directory_path() / "attnres-gpu-test-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    Runtime::get().setCacheDirectory(dir.string());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static inline fs::path dir;
};

const char *dtypeName(DType t) { return toString(t); }

} // namespace

//===----------------------------------------------------------------------===//
// Numerics
//===----------------------------------------------------------------------===//

using Shape = std::tuple<int, int, DType, bool>; // N, D, dtype, stacked

class RuntimeGpuNumerics : public testing::TestWithParam<Shape> {};

TEST_P(RuntimeGpuNumerics, ForwardAndBackwardMatchFloat64) {
  REQUIRE_GPU();
  auto [n, d, dtype, stacked] = GetParam();
  // Odd token counts past one CTA per SM exercise grid-stride tails.
  int m = 300 + (n * 7 + d) % 13;
  Problem p = makeProblem(n, m, d, dtype, 1000 * n + d);
  CUstream stream;
  check(cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "stream");
  checkProblem(p, stacked, stream, /*callerWorkspace=*/!stacked);
  cu->cuStreamDestroy(stream);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RuntimeGpuNumerics,
    testing::Combine(testing::Values(1, 3, 8, 17), testing::Values(64, 100, 4096),
                     testing::Values(DType::F32, DType::F16, DType::BF16),
                     testing::Bool()),
    [](const testing::TestParamInfo<Shape> &info) {
      return "n" + std::to_string(std::get<0>(info.param)) + "_d" +
             std::to_string(std::get<1>(info.param)) + "_" +
             dtypeName(std::get<2>(info.param)) +
             (std::get<3>(info.param) ? "_stacked" : "_list");
    });

TEST(RuntimeGpu, ForwardOneCtaPerTokenMatchesThePersistentGrid) {
  REQUIRE_GPU();
  // Tokens past several waves of resident CTAs; registers budgeted for
  // two CTAs an SM in one of the variants.
  for (DType dtype : {DType::F32, DType::BF16}) {
    Problem p = makeProblem(8, 4099, 4096, dtype, 77 + int(dtype));
    DeviceProblem dp(p, /*stacked=*/true);
    auto run = [&](const Tuning &tuning) {
      dp.h.poison();
      dp.alpha.poison();
      dp.rstd.poison();
      dp.forward(nullptr, tuning);
      check(cu->cuCtxSynchronize(), "forward");
      return std::make_tuple(dp.h.download(dp.rowBytes),
                             dp.alpha.download(dp.alpha.bytes),
                             dp.rstd.download(dp.rstd.bytes));
    };
    // Explicit knobs on both sides (a default Tuning{} would take the
    // database's entry): the same PTX launched two ways, and a variant
    // with fewer registers.
    Tuning form;
    form.form = "online";
    auto persistent = run(form);
    Tuning perToken = form;
    perToken.grid = "tokens";
    Tuning perTokenTwoCtas = perToken;
    perTokenTwoCtas.ctasPerSM = 2;
    for (const Tuning &t : {perToken, perTokenTwoCtas}) {
      // Each token's arithmetic does not depend on the CTA that runs it.
      EXPECT_TRUE(run(t) == persistent)
          << toString(dtype) << " " << describe(t);
    }
    std::vector<float> alpha = decode(DType::F32, std::get<1>(persistent));
    std::vector<float> rstd = decode(DType::F32, std::get<2>(persistent));
    Reference ref = referenceOf(p, alpha, rstd);
    expectClose("h", decode(p.dtype, std::get<0>(persistent)), ref.h, p.dtype,
                1e-5);
  }
}

TEST(RuntimeGpu, EdgeCasesOneSourceZeroQueryZeroRows) {
  REQUIRE_GPU();
  for (int n : {1, 4}) {
    Problem p = makeProblem(n, 50, 256, DType::BF16, 7);
    std::fill(p.q.begin(), p.q.end(), 0.0f);   // uniform alpha = 1/N
    std::fill(p.v.begin(), p.v.begin() + 256, 0.0f); // a row of zeros
    checkProblem(p, true, nullptr, false);
  }
}

//===----------------------------------------------------------------------===//
// Streams, threads, workspaces
//===----------------------------------------------------------------------===//

TEST(RuntimeGpu, ManyStreamsAndThreadsAgreeBitForBit) {
  REQUIRE_GPU();
  constexpr int kThreads = 8, kRepeats = 10;
  // Two specs shared by every thread, one per thread: cold lookups race.
  std::vector<Problem> problems;
  for (int t = 0; t < kThreads; ++t)
    problems.push_back(makeProblem(t % 2 ? 5 : 2, 200 + t, 512 + 64 * (t % 3),
                                   DType::BF16, 99 + t));
  CUcontext context;
  check(cu->cuCtxGetCurrent(&context), "cuCtxGetCurrent");
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        check(cu->cuCtxSetCurrent(context), "cuCtxSetCurrent");
        const Problem &p = problems[t];
        CUstream stream;
        check(cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "stream");
        DeviceProblem dp(p, t % 2 == 0);
        std::vector<uint8_t> firstH, firstDq, firstDv;
        for (int r = 0; r < kRepeats; ++r) {
          dp.h.poison();
          dp.poisonGrads();
          dp.forward(stream);
          dp.backward(stream); // runtime-owned workspace of this stream
          check(cu->cuStreamSynchronize(stream), "sync");
          auto h = dp.h.download(dp.rowBytes);
          auto dq = dp.dq.download(p.d * 4);
          auto dv = encode(DType::F32, dp.gradSources().data(),
                           size_t(p.n) * p.m * p.d);
          if (r == 0) {
            firstH = h, firstDq = dq, firstDv = dv;
          } else if (h != firstH || dq != firstDq || dv != firstDv) {
            failures[t] = "repeat " + std::to_string(r) + " differs";
            break;
          }
        }
        cu->cuStreamDestroy(stream);
      } catch (const std::exception &e) {
        failures[t] = e.what();
      }
    });
  for (auto &t : threads)
    t.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], "") << "thread " << t;
  // And the results are right.
  checkProblem(problems[1], true, nullptr, false);
}

TEST(RuntimeGpu, WorkspaceTooSmallIsRefused) {
  REQUIRE_GPU();
  Problem p = makeProblem(3, 1000, 256, DType::F16, 5);
  DeviceProblem dp(p, true);
  dp.forward(nullptr);
  size_t bytes =
      Runtime::get().backwardWorkspaceBytes(p.n, p.m, p.d, p.dtype, p.eps);
  ASSERT_GT(bytes, 0u);
  EXPECT_EQ(Runtime::get().backwardWorkspaceBytes(p.n, 0, p.d, p.dtype, p.eps),
            0u);
  Buffer small(bytes - 4);
  dp.poisonGrads();
  try {
    dp.backward(nullptr, small.p(), bytes - 4);
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("workspace"), std::string::npos);
  }
  check(cu->cuCtxSynchronize(), "sync");
  // Nothing was launched: the outputs still hold the poison.
  auto dq = decode(DType::F32, dp.dq.download(p.d * 4));
  EXPECT_TRUE(std::all_of(dq.begin(), dq.end(),
                          [](float x) { return std::isnan(x); }));
}

TEST(RuntimeGpu, NoTokens) {
  REQUIRE_GPU();
  Problem p = makeProblem(2, 0, 128, DType::BF16, 3);
  DeviceProblem dp(p, true);
  dp.h.poison();
  dp.forward(nullptr);
  dp.poisonGrads();
  dp.backward(nullptr);
  check(cu->cuCtxSynchronize(), "sync");
  auto h = decode(DType::F32, dp.h.download(16));
  EXPECT_TRUE(std::isnan(h[0])); // forward wrote nothing
  auto dq = decode(DType::F32, dp.dq.download(p.d * 4));
  auto dg = decode(DType::F32, dp.dg.download(p.d * 4));
  EXPECT_TRUE(std::all_of(dq.begin(), dq.end(), [](float x) { return x == 0; }));
  EXPECT_TRUE(std::all_of(dg.begin(), dg.end(), [](float x) { return x == 0; }));
}

TEST(RuntimeGpu, MisalignedDevicePointersAreRefusedBeforeLaunch) {
  REQUIRE_GPU();
  Problem p = makeProblem(2, 64, 4096, DType::BF16, 11);
  DeviceProblem dp(p, true);
  dp.h.poison();
  // 2-byte aligned (one bf16) but not 16: the kernel reads 8 x bf16.
  Sources shifted = Sources::list({static_cast<char *>(dp.all->p()) + 2,
                                   dp.all->p()});
  try {
    Runtime::get().forward(shifted, dp.q.f(), dp.g.f(), dp.h.p(), dp.alpha.f(),
                           dp.rstd.f(), p.m, p.d, p.dtype, p.eps, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("sources[0]"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("16 bytes"), std::string::npos)
        << e.what();
  }
  check(cu->cuCtxSynchronize(), "sync");
  auto h = decode(DType::F32, dp.h.download(16));
  EXPECT_TRUE(std::isnan(h[0]));
}

TEST(RuntimeGpu, ThreadWithoutContextUsesThePrimaryContext) {
  REQUIRE_GPU();
  CUdevice device;
  CUcontext primary;
  check(cu->cuDeviceGet(&device, 0), "cuDeviceGet");
  check(cu->cuDevicePrimaryCtxRetain(&primary, device), "retain");
  std::string failure = "not run";
  std::thread([&] {
    try {
      CUcontext before = nullptr;
      check(cu->cuCtxGetCurrent(&before), "cuCtxGetCurrent");
      if (before) {
        failure = "a new thread already had a context";
        return;
      }
      std::string arch = Runtime::get().deviceArch();
      CUcontext after = nullptr;
      check(cu->cuCtxGetCurrent(&after), "cuCtxGetCurrent");
      failure = after == primary ? "" : "the runtime made another context current";
      int major = 0, minor = 0;
      cu->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
      cu->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
      std::string expected = major == 8 ? "sm_80"
                             : major == 9 && minor == 0 ? "sm_90a" : "sm_90";
      if (arch != expected)
        failure = "arch " + arch + ", expected " + expected;
      Problem p = makeProblem(3, 40, 64, DType::F32, 1);
      DeviceProblem dp(p, true);
      dp.forward(nullptr);
      check(cu->cuCtxSynchronize(), "sync");
    } catch (const std::exception &e) {
      failure = e.what();
    }
  }).join();
  EXPECT_EQ(failure, "");
}

//===----------------------------------------------------------------------===//
// Cache: cold -> warm -> corrupt -> rebuilt
//===----------------------------------------------------------------------===//

TEST(RuntimeGpu, CacheColdWarmCorruptRebuilt) {
  REQUIRE_GPU();
  Runtime &rt = Runtime::get();
  std::string pattern =
      (fs::temp_directory_path() / "attnres-gpu-cache-XXXXXX").string();
  fs::path dir = ::mkdtemp(pattern.data());
  rt.setCacheDirectory(dir.string());
  Problem p = makeProblem(6, 123, 320, DType::F16, 21);
  p.eps = 3e-6f; // a spec no other test uses
  KernelSpec spec;
  spec.numSources = p.n;
  spec.width = p.d;
  spec.dtype = p.dtype;
  spec.direction = Direction::Forward;
  spec.arch = rt.deviceArch();
  spec.eps = p.eps;

  // Cold: compiled on first use, then in memory.
  checkProblem(p, true, nullptr, false);
  CompileResult warm = rt.compile(spec, false);
  EXPECT_EQ(warm.origin, CompileResult::Origin::Memory);
  ASSERT_TRUE(fs::exists(fs::path(warm.cacheDirectory) / "kernel.ptx"));

  // Warm: a fresh process (in effect) finds it on disk.
  rt.clearMemoryCache();
  EXPECT_EQ(rt.compile(spec, false).origin, CompileResult::Origin::Disk);
  rt.clearMemoryCache();
  checkProblem(p, false, nullptr, true);

  // Corrupt: a truncated kernel.ptx is reported, rebuilt and runs.
  fs::path ptx = fs::path(warm.cacheDirectory) / "kernel.ptx";
  fs::resize_file(ptx, fs::file_size(ptx) / 2);
  rt.clearMemoryCache();
  testing::internal::CaptureStderr();
  checkProblem(p, true, nullptr, false);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(warm.cacheDirectory), std::string::npos) << err;
  EXPECT_NE(err.find("checksum"), std::string::npos) << err;
  rt.clearMemoryCache();
  EXPECT_EQ(rt.compile(spec, false).origin, CompileResult::Origin::Disk);

  rt.setCacheDirectory(CacheDirEnvironment::dir.string());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

int main(int argc, char **argv) {
  testing::InitGoogleTest(&argc, argv);
  testing::AddGlobalTestEnvironment(new CacheDirEnvironment);
  return RUN_ALL_TESTS();
}
