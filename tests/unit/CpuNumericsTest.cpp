//===- CpuNumericsTest.cpp - CPU path against a float64 reference ---------===//
//
// The fused forward and backward, through attnres-to-cpu and the JIT, against
// a float64 implementation of the math in the design notes, evaluated on the
// same rounded inputs the kernel sees. Outputs are poisoned with NaN before
// every call, so a value that is not written fails the test.
//
//===----------------------------------------------------------------------===//

#include "codegen/CpuKernel.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <tuple>

using namespace attnres;

namespace {

constexpr float kEps = 1e-6f;

//===----------------------------------------------------------------------===//
// Storage types: f16 and bf16 as raw bits, round to nearest even.
//===----------------------------------------------------------------------===//

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t toBF16(float f) {
  uint32_t u = bitsOf(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u)
    return 0x7FC0;
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float fromBF16(uint16_t h) { return floatOf(static_cast<uint32_t>(h) << 16); }

uint16_t toF16(float f) {
  uint32_t x = bitsOf(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7FFFFFFFu;
  if (x > 0x7F800000u)
    return sign | 0x7E00;
  if (x >= 0x477FF000u) // 65520 and up round to infinity
    return sign | 0x7C00;
  if (x < 0x38800000u) { // below 2^-14: a multiple of 2^-24, exact scaling
    float scaled = floatOf(x) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  x += 0xFFFu + ((x >> 13) & 1u);
  return sign | static_cast<uint16_t>((x - 0x38000000u) >> 13);
}

float fromF16(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  if (exponent == 0)
    return floatOf(sign) + (sign ? -1.0f : 1.0f) * mantissa / 16777216.0f;
  if (exponent == 31)
    return floatOf(sign | 0x7F800000u | (mantissa << 13));
  return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/// The value of `x` after a round trip through `dtype`.
float roundTo(DType dtype, double x) {
  float f = static_cast<float>(x);
  switch (dtype) {
  case DType::F32:
    return f;
  case DType::F16:
    return fromF16(toF16(f));
  case DType::BF16:
    return fromBF16(toBF16(f));
  }
  return f;
}

/// A tensor in a storage type: raw bytes and their values as doubles.
struct Stored {
  DType dtype = DType::F32;
  std::vector<uint8_t> bytes;

  Stored() = default;
  Stored(DType dtype, size_t count)
      : dtype(dtype), bytes(count * elementBytes(dtype)) {}
  static Stored of(DType dtype, const std::vector<double> &values) {
    Stored s(dtype, values.size());
    for (size_t i = 0; i < values.size(); ++i)
      s.set(i, values[i]);
    return s;
  }
  size_t size() const { return bytes.size() / elementBytes(dtype); }
  void *data() { return bytes.data(); }
  double get(size_t i) const {
    if (dtype == DType::F32) {
      float f;
      std::memcpy(&f, &bytes[4 * i], 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, &bytes[2 * i], 2);
    return dtype == DType::F16 ? fromF16(h) : fromBF16(h);
  }
  void set(size_t i, double x) {
    float f = static_cast<float>(x);
    if (dtype == DType::F32) {
      std::memcpy(&bytes[4 * i], &f, 4);
      return;
    }
    uint16_t h = dtype == DType::F16 ? toF16(f) : toBF16(f);
    std::memcpy(&bytes[2 * i], &h, 2);
  }
  std::vector<double> values() const {
    std::vector<double> out(size());
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = get(i);
    return out;
  }
  /// NaN everywhere: whatever the kernel does not write stays NaN.
  void poison() {
    for (size_t i = 0; i < size(); ++i)
      set(i, std::nan(""));
  }
};

std::vector<float> toFloats(const std::vector<double> &values) {
  return std::vector<float>(values.begin(), values.end());
}
std::vector<double> toDoubles(const std::vector<float> &values) {
  return std::vector<double>(values.begin(), values.end());
}
std::vector<float> poisoned(size_t count) {
  return std::vector<float>(count, std::nanf(""));
}

//===----------------------------------------------------------------------===//
// float64 reference (design notes, section 1). The query is [D] (learned) or
// [M, D] (one per token); dq has the query's shape.
//===----------------------------------------------------------------------===//

struct Problem {
  int64_t n = 0, m = 0, d = 0;
  bool perTokenQuery = false;
  std::vector<double> v, q, g; // [N, M, D]; [D] or [M, D]; [D]
  double eps = kEps;

  double query(int64_t token, int64_t k) const {
    return perTokenQuery ? q[token * d + k] : q[k];
  }
};

struct ForwardResult {
  std::vector<double> h, alpha, rstd; // [M, D], [M, N], [M, N]
};

struct BackwardResult {
  std::vector<double> dv, dq, dg; // [N, M, D], query's shape, [D]
  /// The scale of the rounding error of dq and dg: |g| (or |q|) times the
  /// L2 norm, over tokens and sources, of the terms of c with ds replaced by
  /// its bound a_i (|dalpha_i| + |sum_j a_j dalpha_j|). Rounding errors of
  /// random sign add up like that norm; where the terms do not cancel it is
  /// about |dq|, and where c cancels to almost nothing (D = 1, where
  /// r v = +-1 and sum_i ds_i = 0) it stays at the size of the terms.
  std::vector<double> dqScale, dgScale;
};

ForwardResult referenceForward(const Problem &p) {
  ForwardResult out{std::vector<double>(p.m * p.d, 0.0),
                    std::vector<double>(p.m * p.n),
                    std::vector<double>(p.m * p.n)};
  std::vector<double> s(p.n);
  for (int64_t t = 0; t < p.m; ++t) {
    for (int64_t i = 0; i < p.n; ++i) {
      const double *row = &p.v[(i * p.m + t) * p.d];
      double sumSq = 0.0, u = 0.0;
      for (int64_t k = 0; k < p.d; ++k) {
        sumSq += row[k] * row[k];
        u += p.query(t, k) * p.g[k] * row[k];
      }
      double r = 1.0 / std::sqrt(sumSq / p.d + p.eps);
      out.rstd[t * p.n + i] = r;
      s[i] = r * u;
    }
    double max = *std::max_element(s.begin(), s.end()), sum = 0.0;
    for (int64_t i = 0; i < p.n; ++i)
      sum += std::exp(s[i] - max);
    for (int64_t i = 0; i < p.n; ++i) {
      double a = std::exp(s[i] - max) / sum;
      out.alpha[t * p.n + i] = a;
      const double *row = &p.v[(i * p.m + t) * p.d];
      for (int64_t k = 0; k < p.d; ++k)
        out.h[t * p.d + k] += a * row[k];
    }
  }
  return out;
}

/// The backward on the given statistics (the kernel's own alpha and rstd),
/// with s recomputed as rstd * u.
BackwardResult referenceBackward(const Problem &p,
                                 const std::vector<double> &dh,
                                 const std::vector<double> &alpha,
                                 const std::vector<double> &rstd) {
  BackwardResult out{
      std::vector<double>(p.n * p.m * p.d),
      std::vector<double>(p.q.size(), 0.0), std::vector<double>(p.d, 0.0),
      std::vector<double>(p.q.size(), 0.0), std::vector<double>(p.d, 0.0)};
  std::vector<double> dalpha(p.n), s(p.n), c(p.d), cSquares(p.d);
  for (int64_t t = 0; t < p.m; ++t) {
    double dot = 0.0;
    for (int64_t i = 0; i < p.n; ++i) {
      const double *row = &p.v[(i * p.m + t) * p.d];
      double da = 0.0, u = 0.0;
      for (int64_t k = 0; k < p.d; ++k) {
        da += dh[t * p.d + k] * row[k];
        u += p.query(t, k) * p.g[k] * row[k];
      }
      dalpha[i] = da;
      s[i] = rstd[t * p.n + i] * u;
      dot += alpha[t * p.n + i] * da;
    }
    std::fill(c.begin(), c.end(), 0.0);
    std::fill(cSquares.begin(), cSquares.end(), 0.0);
    for (int64_t i = 0; i < p.n; ++i) {
      double a = alpha[t * p.n + i], r = rstd[t * p.n + i];
      double ds = a * (dalpha[i] - dot);
      double dsBound = a * (std::abs(dalpha[i]) + std::abs(dot));
      const double *row = &p.v[(i * p.m + t) * p.d];
      double *dvRow = &out.dv[(i * p.m + t) * p.d];
      for (int64_t k = 0; k < p.d; ++k) {
        double w = p.query(t, k) * p.g[k];
        dvRow[k] =
            a * dh[t * p.d + k] + ds * (r * w - s[i] * r * r * row[k] / p.d);
        c[k] += ds * r * row[k];
        double term = dsBound * r * row[k];
        cSquares[k] += term * term;
      }
    }
    for (int64_t k = 0; k < p.d; ++k) {
      size_t at = p.perTokenQuery ? t * p.d + k : k;
      out.dq[at] += p.g[k] * c[k];
      out.dg[k] += p.query(t, k) * c[k];
      // Squares accumulate over tokens; the root is taken below.
      out.dqScale[at] += p.g[k] * p.g[k] * cSquares[k];
      out.dgScale[k] += p.query(t, k) * p.query(t, k) * cSquares[k];
    }
  }
  for (double &x : out.dqScale)
    x = std::sqrt(x);
  for (double &x : out.dgScale)
    x = std::sqrt(x);
  return out;
}

//===----------------------------------------------------------------------===//
// Error measures
//===----------------------------------------------------------------------===//

double norm(const std::vector<double> &x) {
  double sum = 0.0;
  for (double e : x)
    sum += e * e;
  return std::sqrt(sum);
}

/// ||x - ref|| / ||ref||; 0 when both are zero, infinite when x holds a
/// non-finite value.
double relativeL2(const std::vector<double> &x,
                  const std::vector<double> &ref) {
  double diff = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]))
      return INFINITY;
    diff += (x[i] - ref[i]) * (x[i] - ref[i]);
  }
  double scale = norm(ref);
  if (scale == 0.0)
    return diff == 0.0 ? 0.0 : INFINITY;
  return std::sqrt(diff) / scale;
}

/// The relative L2 error that rounding the exact result to `dtype` alone
/// makes: the floor of any kernel that stores in `dtype`.
double roundingError(DType dtype, const std::vector<double> &ref) {
  std::vector<double> rounded(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    rounded[i] = roundTo(dtype, ref[i]);
  return relativeL2(rounded, ref);
}

/// ||x - ref|| / ||scale||, for outputs whose natural error scale is not
/// the result itself (see BackwardResult::dqScale).
double scaledL2(const std::vector<double> &x, const std::vector<double> &ref,
                const std::vector<double> &scale) {
  double diff = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]))
      return INFINITY;
    diff += (x[i] - ref[i]) * (x[i] - ref[i]);
  }
  double s = norm(scale);
  if (s == 0.0)
    return diff == 0.0 ? 0.0 : INFINITY;
  return std::sqrt(diff) / s;
}

/// Tolerance of values computed in f32 through reductions of up to
/// `terms` terms and stored as f32. The rounding errors of a sum of K terms
/// of random sign grow like u sqrt(K) (u = 2^-24); over the whole matrix
/// the measured errors of alpha, rstd and f32 h (relative L2) and of dq and
/// dg (against their rounding scale) stay below 1.7 u sqrt(K), so
/// 8 u sqrt(K) leaves a margin of about 5 (D = 5120: 3.4e-5; D = 64:
/// 3.8e-6).
double f32Tolerance(int64_t terms) {
  return 8.0 * std::ldexp(1.0, -24) *
         std::sqrt(static_cast<double>(std::max<int64_t>(terms, 1)));
}

/// Tolerance of an output stored in `dtype`: twice the error of rounding
/// the exact result to `dtype` (the kernel rounds a slightly different f32
/// value, so some roundings go the other way; measured: 1.0x to 1.05x),
/// plus the f32 math.
double storageTolerance(DType dtype, const std::vector<double> &ref,
                        int64_t terms) {
  return 2.0 * roundingError(dtype, ref) + f32Tolerance(terms);
}

//===----------------------------------------------------------------------===//
// Kernels, compiled once per (N, D, dtype, direction) for the whole binary.
//===----------------------------------------------------------------------===//

/// Compiled kernels, one per (N, D, dtype, direction), shared by all tests.
/// The gtest environment frees them after the last test: destroying a JIT
/// during exit would run after LLVM's own statics are gone.
class KernelCache : public ::testing::Environment {
public:
  static KernelCache &get() {
    static KernelCache *cache = [] {
      auto *created = new KernelCache();
      ::testing::AddGlobalTestEnvironment(created);
      return created;
    }();
    return *cache;
  }

  const CpuKernel *kernel(int64_t n, int64_t d, DType dtype,
                          Direction direction) {
    auto key = std::make_tuple(n, d, dtype, direction);
    auto it = kernels.find(key);
    if (it != kernels.end())
      return it->second.get();
    KernelSpec spec;
    spec.numSources = n;
    spec.width = d;
    spec.dtype = dtype;
    spec.direction = direction;
    spec.eps = kEps;
    auto compiled = CpuKernel::compile(spec);
    if (!compiled) {
      ADD_FAILURE() << "compiling " << kernelName(spec) << ": "
                    << llvm::toString(compiled.takeError());
      return nullptr;
    }
    ++count;
    seconds += (*compiled)->compileSeconds();
    slowest = std::max(slowest, (*compiled)->compileSeconds());
    return (kernels[key] = std::move(*compiled)).get();
  }

  void TearDown() override {
    if (count)
      std::printf("[ cpu jit  ] %d kernels compiled, %.2f s in all, "
                  "%.3f s mean, %.3f s slowest\n",
                  count, seconds, seconds / count, slowest);
    kernels.clear();
  }

private:
  std::map<std::tuple<int64_t, int64_t, DType, Direction>,
           std::unique_ptr<CpuKernel>>
      kernels;
  int count = 0;
  double seconds = 0.0, slowest = 0.0;
};

// Registered before main() runs the tests.
[[maybe_unused]] KernelCache &kernelCacheRegistration = KernelCache::get();

const CpuKernel *kernelFor(int64_t n, int64_t d, DType dtype,
                           Direction direction) {
  return KernelCache::get().kernel(n, d, dtype, direction);
}

/// Random inputs: per-source scales spread over e^{+-1}, g around 1 and q
/// scaled by 1/sqrt(D) so scores are O(1) (softmax neither flat nor one-hot).
Problem randomProblem(int64_t n, int64_t m, int64_t d, DType dtype,
                      uint64_t seed, bool perTokenQuery = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Problem p;
  p.n = n, p.m = m, p.d = d, p.perTokenQuery = perTokenQuery;
  p.v.resize(n * m * d);
  for (int64_t i = 0; i < n; ++i) {
    double scale = std::exp(0.5 * normal(rng));
    for (int64_t k = 0; k < m * d; ++k)
      p.v[i * m * d + k] = roundTo(dtype, scale * normal(rng));
  }
  double queryScale = 2.0 / std::sqrt(static_cast<double>(d));
  p.q.resize(perTokenQuery ? m * d : d);
  for (double &x : p.q)
    x = roundTo(DType::F32, queryScale * normal(rng));
  p.g.resize(d);
  for (double &x : p.g)
    x = roundTo(DType::F32, 1.0 + 0.2 * normal(rng));
  return p;
}

std::vector<double> randomTokens(int64_t count, DType dtype, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> x(count);
  for (double &e : x)
    e = roundTo(dtype, normal(rng));
  return x;
}

/// Kernel outputs of one forward call, as doubles.
struct KernelForward {
  std::vector<double> h, alpha, rstd;
  std::vector<float> alpha32, rstd32;
};

::testing::AssertionResult runForward(const CpuKernel &kernel, const Problem &p,
                                      DType dtype, KernelForward &out) {
  Stored v = Stored::of(dtype, p.v), h(dtype, p.m * p.d);
  Stored vBefore = v;
  std::vector<float> q = toFloats(p.q), g = toFloats(p.g);
  h.poison();
  out.alpha32 = poisoned(p.m * p.n);
  out.rstd32 = poisoned(p.m * p.n);
  if (llvm::Error e =
          kernel.forward(p.m, v.data(), q.data(), g.data(), h.data(),
                         out.alpha32.data(), out.rstd32.data()))
    return ::testing::AssertionFailure() << llvm::toString(std::move(e));
  if (v.bytes != vBefore.bytes || q != toFloats(p.q))
    return ::testing::AssertionFailure() << "the forward wrote to an input";
  out.h = h.values();
  out.alpha = toDoubles(out.alpha32);
  out.rstd = toDoubles(out.rstd32);
  return ::testing::AssertionSuccess();
}

struct KernelBackward {
  std::vector<double> dv, dq, dg;
};

::testing::AssertionResult
runBackward(const CpuKernel &kernel, const Problem &p, DType dtype,
            const std::vector<double> &dh, const std::vector<float> &alpha,
            const std::vector<float> &rstd, KernelBackward &out) {
  Stored v = Stored::of(dtype, p.v), dhStored = Stored::of(dtype, dh);
  Stored dv(dtype, p.n * p.m * p.d);
  Stored vBefore = v, dhBefore = dhStored;
  std::vector<float> q = toFloats(p.q), g = toFloats(p.g);
  std::vector<float> alphaIn = alpha, rstdIn = rstd;
  std::vector<float> dq = poisoned(p.d), dg = poisoned(p.d);
  dv.poison();
  if (llvm::Error e = kernel.backward(p.m, dhStored.data(), v.data(), q.data(),
                                      g.data(), alphaIn.data(), rstdIn.data(),
                                      dv.data(), dq.data(), dg.data()))
    return ::testing::AssertionFailure() << llvm::toString(std::move(e));
  if (v.bytes != vBefore.bytes || dhStored.bytes != dhBefore.bytes ||
      alphaIn != alpha || rstdIn != rstd)
    return ::testing::AssertionFailure() << "the backward wrote to an input";
  out.dv = dv.values();
  out.dq = toDoubles(dq);
  out.dg = toDoubles(dg);
  return ::testing::AssertionSuccess();
}

//===----------------------------------------------------------------------===//
// Conversion helpers against APFloat, so the storage rounding is trusted.
//===----------------------------------------------------------------------===//

TEST(CpuNumericsHelpers, StorageRoundingMatchesAPFloat) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  auto check = [](float f) {
    for (auto [dtype, semantics] :
         {std::pair{DType::F16, &llvm::APFloat::IEEEhalf()},
          std::pair{DType::BF16, &llvm::APFloat::BFloat()}}) {
      llvm::APFloat ap(f);
      bool lost;
      ap.convert(*semantics, llvm::APFloat::rmNearestTiesToEven, &lost);
      uint16_t expected =
          static_cast<uint16_t>(ap.bitcastToAPInt().getZExtValue());
      uint16_t got = dtype == DType::F16 ? toF16(f) : toBF16(f);
      if (std::isnan(f))
        EXPECT_TRUE(
            std::isnan(dtype == DType::F16 ? fromF16(got) : fromBF16(got)));
      else
        EXPECT_EQ(got, expected) << toString(dtype) << " of " << f;
      if (::testing::Test::HasFailure())
        return;
    }
  };
  for (int i = 0; i < 200000 && !::testing::Test::HasFailure(); ++i)
    check(floatOf(bits(rng)));
  for (float f : {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 6.0e-8f, 2.9e-8f,
                  3.0e-8f, 6.1e-5f, 1e-40f, INFINITY, -INFINITY})
    check(f);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    llvm::APFloat half(llvm::APFloat::IEEEhalf(), llvm::APInt(16, h));
    if (half.isNaN())
      continue;
    ASSERT_EQ(fromF16(static_cast<uint16_t>(h)), half.convertToFloat()) << h;
  }
}

//===----------------------------------------------------------------------===//
// Checks against the reference
//===----------------------------------------------------------------------===//

/// Errors of one forward + backward run; tolerances beside them.
struct Errors {
  double h = 0, alpha = 0, rstd = 0, dv = 0, dq = 0, dg = 0;
  double dqRelative = 0; ///< plain ||dq - ref|| / ||ref||, for the report
  double hTol = 0, statsTol = 0, dvTol = 0, weightTol = 0;
};

/// Runs the forward and the backward of `p` (the backward on the kernel's
/// own alpha and rstd, as in training) and checks every output against the
/// float64 reference computed from the same rounded inputs.
Errors checkAgainstReference(const CpuKernel &forward,
                             const CpuKernel &backward, const Problem &p,
                             DType dtype, const std::vector<double> &dh,
                             KernelForward *forwardOut = nullptr,
                             KernelBackward *backwardOut = nullptr) {
  Errors e;
  ForwardResult ref = referenceForward(p);
  KernelForward got;
  EXPECT_TRUE(runForward(forward, p, dtype, got));
  if (::testing::Test::HasFailure())
    return e;
  // Reductions: D terms (rstd, scores, dalpha), N terms (softmax, mix),
  // M * N terms (c, summed over tokens and sources).
  e.statsTol = f32Tolerance(std::max(p.d, p.n));
  e.weightTol = f32Tolerance(std::max(p.d, p.m * p.n));
  e.hTol = storageTolerance(dtype, ref.h, std::max(p.d, p.n));
  e.h = relativeL2(got.h, ref.h);
  e.alpha = relativeL2(got.alpha, ref.alpha);
  e.rstd = relativeL2(got.rstd, ref.rstd);
  EXPECT_LE(e.h, e.hTol) << "h";
  EXPECT_LE(e.alpha, e.statsTol) << "alpha";
  EXPECT_LE(e.rstd, e.statsTol) << "rstd";

  BackwardResult refBack = referenceBackward(p, dh, got.alpha, got.rstd);
  KernelBackward gotBack;
  EXPECT_TRUE(
      runBackward(backward, p, dtype, dh, got.alpha32, got.rstd32, gotBack));
  if (::testing::Test::HasFailure())
    return e;
  e.dvTol = storageTolerance(dtype, refBack.dv, std::max(p.d, p.n));
  e.dv = relativeL2(gotBack.dv, refBack.dv);
  e.dq = scaledL2(gotBack.dq, refBack.dq, refBack.dqScale);
  e.dg = scaledL2(gotBack.dg, refBack.dg, refBack.dgScale);
  e.dqRelative = relativeL2(gotBack.dq, refBack.dq);
  EXPECT_LE(e.dv, e.dvTol) << "dV";
  EXPECT_LE(e.dq, e.weightTol) << "dq";
  EXPECT_LE(e.dg, e.weightTol) << "dg";
  if (forwardOut)
    *forwardOut = got;
  if (backwardOut)
    *backwardOut = gotBack;
  return e;
}

//===----------------------------------------------------------------------===//
// The matrix: every N, every D, every dtype, forward and backward
//===----------------------------------------------------------------------===//

struct Case {
  int64_t n, d;
  DType dtype;
};

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  std::ostringstream name;
  name << "N" << info.param.n << "_D" << info.param.d << "_"
       << toString(info.param.dtype);
  return name.str();
}

class CpuNumerics : public ::testing::TestWithParam<Case> {};

TEST_P(CpuNumerics, ForwardAndBackwardMatchFloat64) {
  auto [n, d, dtype] = GetParam();
  int64_t m = 3 + (n + d) % 3;
  uint64_t seed =
      static_cast<uint64_t>(n * 1000003 + d * 31 + static_cast<int>(dtype));
  const CpuKernel *forward = kernelFor(n, d, dtype, Direction::Forward);
  const CpuKernel *backward = kernelFor(n, d, dtype, Direction::Backward);
  ASSERT_TRUE(forward && backward);
  Problem p = randomProblem(n, m, d, dtype, seed);
  std::vector<double> dh = randomTokens(m * d, dtype, seed + 1);
  Errors e = checkAgainstReference(*forward, *backward, p, dtype, dh);
  std::printf("[ errors   ] N=%-2lld D=%-4lld %-4s M=%lld | h %.1e (%.1e) "
              "alpha %.1e rstd %.1e (%.1e) | dV %.1e (%.1e) dq %.1e dg %.1e "
              "(%.1e) dq/|dq| %.1e\n",
              static_cast<long long>(n), static_cast<long long>(d),
              toString(dtype), static_cast<long long>(m), e.h, e.hTol, e.alpha,
              e.rstd, e.statsTol, e.dv, e.dvTol, e.dq, e.dg, e.weightTol,
              e.dqRelative);
}

std::vector<Case> fullMatrix() {
  std::vector<Case> cases;
  for (int64_t n : {1, 2, 3, 8, 17, 32, 64})
    for (int64_t d : {1, 64, 100, 4096, 5120})
      for (DType dtype : {DType::F32, DType::F16, DType::BF16})
        cases.push_back({n, d, dtype});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Matrix, CpuNumerics, ::testing::ValuesIn(fullMatrix()),
                         caseName);

// Widths of published AttnRes models (odd multiples of 16 and 128 that a
// power-of-two padding would waste), each dtype, a small and a mid N.
std::vector<Case> publishedWidths() {
  std::vector<Case> cases;
  for (int64_t d : {896, 1168, 2304, 7168})
    for (int64_t n : {2, 9})
      for (DType dtype : {DType::F32, DType::F16, DType::BF16})
        cases.push_back({n, d, dtype});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(PublishedWidths, CpuNumerics,
                         ::testing::ValuesIn(publishedWidths()), caseName);

//===----------------------------------------------------------------------===//
// Gradients against finite differences of the loss L = sum(h * R)
//===----------------------------------------------------------------------===//

/// Entries to probe: a few random indices of a tensor of `size` elements.
std::vector<size_t> probes(size_t size, size_t count, std::mt19937_64 &rng) {
  std::uniform_int_distribution<size_t> pick(0, size - 1);
  std::vector<size_t> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(pick(rng));
  return out;
}

double rms(const std::vector<double> &x) {
  return norm(x) / std::sqrt(static_cast<double>(x.size()));
}

class CpuGradients : public ::testing::Test {
protected:
  static constexpr int64_t n = 3, m = 3, d = 64;

  void SetUp() override {
    forward = kernelFor(n, d, DType::F32, Direction::Forward);
    backward = kernelFor(n, d, DType::F32, Direction::Backward);
    ASSERT_TRUE(forward && backward);
    p = randomProblem(n, m, d, DType::F32, 4242);
    r = randomTokens(m * d, DType::F32, 4343);
    KernelForward stats;
    ASSERT_TRUE(runForward(*forward, p, DType::F32, stats));
    ASSERT_TRUE(runBackward(*backward, p, DType::F32, r, stats.alpha32,
                            stats.rstd32, grads));
  }

  /// The three inputs with gradients and the kernel's gradient of each.
  std::vector<std::pair<std::vector<double> Problem::*,
                        std::vector<double> KernelBackward::*>>
  inputs() const {
    return {{&Problem::v, &KernelBackward::dv},
            {&Problem::q, &KernelBackward::dq},
            {&Problem::g, &KernelBackward::dg}};
  }

  double loss(const std::vector<double> &h) const {
    double sum = 0.0;
    for (size_t i = 0; i < h.size(); ++i)
      sum += h[i] * r[i];
    return sum;
  }

  const CpuKernel *forward = nullptr, *backward = nullptr;
  Problem p;
  std::vector<double> r;
  KernelBackward grads;
};

// Central differences of the float64 reference forward (step 1e-6, error
// ~1e-9) check the backward formula itself, which the matrix takes as given.
TEST_F(CpuGradients, BackwardMatchesFiniteDifferencesOfFloat64Forward) {
  std::mt19937_64 rng(1);
  const char *names[] = {"V", "q", "g"};
  int which = 0;
  for (auto [input, grad] : inputs()) {
    double scale = rms(grads.*grad);
    ASSERT_GT(scale, 0.0);
    for (size_t i : probes((p.*input).size(), 6, rng)) {
      Problem plus = p, minus = p;
      double step = 1e-6 * std::max(1.0, std::abs((p.*input)[i]));
      (plus.*input)[i] += step;
      (minus.*input)[i] -= step;
      double fd =
          (loss(referenceForward(plus).h) - loss(referenceForward(minus).h)) /
          (2 * step);
      EXPECT_NEAR((grads.*grad)[i], fd, 1e-5 * scale + 1e-5 * std::abs(fd))
          << "d" << names[which] << "[" << i << "]";
    }
    ++which;
  }
}

// Central differences of the compiled f32 forward: the compiled forward and
// backward agree with each other. The step 2^-6 keeps the f32 noise of the
// loss (~1e-6 / 2^-5) and the truncation error (~step^2) near 1e-4 of the
// gradient's scale; 2e-3 leaves a margin.
TEST_F(CpuGradients, BackwardMatchesFiniteDifferencesOfCompiledForward) {
  std::mt19937_64 rng(2);
  const char *names[] = {"V", "q", "g"};
  int which = 0;
  for (auto [input, grad] : inputs()) {
    double scale = rms(grads.*grad);
    for (size_t i : probes((p.*input).size(), 6, rng)) {
      Problem plus = p, minus = p;
      (plus.*input)[i] = roundTo(DType::F32, (p.*input)[i] + 0x1p-6);
      (minus.*input)[i] = roundTo(DType::F32, (p.*input)[i] - 0x1p-6);
      KernelForward hPlus, hMinus;
      ASSERT_TRUE(runForward(*forward, plus, DType::F32, hPlus));
      ASSERT_TRUE(runForward(*forward, minus, DType::F32, hMinus));
      double fd = (loss(hPlus.h) - loss(hMinus.h)) /
                  ((plus.*input)[i] - (minus.*input)[i]);
      EXPECT_NEAR((grads.*grad)[i], fd, 2e-3 * scale)
          << "d" << names[which] << "[" << i << "]";
    }
    ++which;
  }
}

//===----------------------------------------------------------------------===//
// Edge cases that must be exact
//===----------------------------------------------------------------------===//

class CpuEdgeCases : public ::testing::TestWithParam<DType> {};

std::string dtypeName(const ::testing::TestParamInfo<DType> &info) {
  return toString(info.param);
}

// q = 0: every score is 0, alpha is exactly 1/N (exp(0) = 1, a sum of N
// ones, one correctly rounded division), h is the plain average, and
// dg = q * c is exactly 0.
TEST_P(CpuEdgeCases, ZeroQueryIsThePlainAverage) {
  DType dtype = GetParam();
  for (int64_t n : {3, 8}) {
    SCOPED_TRACE("N = " + std::to_string(n));
    const int64_t m = 4, d = 100;
    const CpuKernel *forward = kernelFor(n, d, dtype, Direction::Forward);
    const CpuKernel *backward = kernelFor(n, d, dtype, Direction::Backward);
    ASSERT_TRUE(forward && backward);
    Problem p = randomProblem(n, m, d, dtype, 77 + n);
    std::fill(p.q.begin(), p.q.end(), 0.0);
    KernelForward got;
    KernelBackward gotBack;
    checkAgainstReference(*forward, *backward, p, dtype,
                          randomTokens(m * d, dtype, 78), &got, &gotBack);
    ASSERT_FALSE(HasFailure());
    for (float a : got.alpha32)
      ASSERT_EQ(a, 1.0f / static_cast<float>(n));
    std::vector<double> average(m * d, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < m * d; ++k)
        average[k] += p.v[i * m * d + k] / n;
    EXPECT_LE(relativeL2(got.h, average),
              storageTolerance(dtype, average, std::max(d, n)));
    for (double x : gotBack.dg)
      ASSERT_EQ(x, 0.0);
  }
}

// Rows of zeros: rstd = 1/sqrt(eps) exactly as f32 computes it, scores 0,
// every output finite and matching the reference.
TEST_P(CpuEdgeCases, ZeroRowsStayFinite) {
  DType dtype = GetParam();
  const int64_t n = 3, m = 4, d = 64;
  const CpuKernel *forward = kernelFor(n, d, dtype, Direction::Forward);
  const CpuKernel *backward = kernelFor(n, d, dtype, Direction::Backward);
  ASSERT_TRUE(forward && backward);
  Problem p = randomProblem(n, m, d, dtype, 99);
  auto zeroRow = [&](int64_t source, int64_t token) {
    std::fill_n(p.v.begin() + (source * m + token) * d, d, 0.0);
  };
  for (int64_t i = 0; i < n; ++i)
    zeroRow(i, 0); // token 0: every source zero
  zeroRow(1, 2);   // token 2: one source zero
  KernelForward got;
  KernelBackward gotBack;
  checkAgainstReference(*forward, *backward, p, dtype,
                        randomTokens(m * d, dtype, 100), &got, &gotBack);
  ASSERT_FALSE(HasFailure());
  const float expected = 1.0f / std::sqrt(0.0f + kEps);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_EQ(got.rstd32[0 * n + i], expected);
  EXPECT_EQ(got.rstd32[2 * n + 1], expected);
  for (int64_t k = 0; k < d; ++k)
    EXPECT_EQ(got.h[k], 0.0); // token 0 mixes zeros
  for (const auto *values : {&got.h, &gotBack.dv, &gotBack.dq, &gotBack.dg})
    for (double x : *values)
      ASSERT_TRUE(std::isfinite(x));
}

// N = 1: alpha = 1, h = v and dV = dh bit for bit, ds = 0 so dq = dg = 0.
TEST_P(CpuEdgeCases, SingleSourceIsExact) {
  DType dtype = GetParam();
  const int64_t n = 1, m = 5, d = 100;
  const CpuKernel *forward = kernelFor(n, d, dtype, Direction::Forward);
  const CpuKernel *backward = kernelFor(n, d, dtype, Direction::Backward);
  ASSERT_TRUE(forward && backward);
  Problem p = randomProblem(n, m, d, dtype, 5);
  std::vector<double> dh = randomTokens(m * d, dtype, 6);
  KernelForward got;
  KernelBackward gotBack;
  checkAgainstReference(*forward, *backward, p, dtype, dh, &got, &gotBack);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(got.h, p.v);
  EXPECT_EQ(got.alpha, std::vector<double>(m, 1.0));
  EXPECT_EQ(gotBack.dv, dh);
  EXPECT_EQ(gotBack.dq, std::vector<double>(d, 0.0));
  EXPECT_EQ(gotBack.dg, std::vector<double>(d, 0.0));
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, CpuEdgeCases,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         dtypeName);

//===----------------------------------------------------------------------===//
// MLIR text through compileSource() and run()
//===----------------------------------------------------------------------===//

// The graph ops with one query per token [M, D] (which the fused ops do not
// take yet): forward and backward written out, against the reference.
TEST(CpuKernelSource, PerTokenQueryGraph) {
  const char *source = R"mlir(
    func.func @fwd(%v: tensor<3x?x64xf32>, %q: tensor<?x64xf32>, %g: tensor<64xf32>)
        -> (tensor<?x64xf32>, tensor<?x3xf32>, tensor<?x3xf32>) {
      %r = attnres.rms_rstd %v {eps = 1.0e-06 : f32} : (tensor<3x?x64xf32>) -> tensor<?x3xf32>
      %s = attnres.score %v, %r, %q, %g
          : (tensor<3x?x64xf32>, tensor<?x3xf32>, tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x3xf32>
      %a = attnres.depth_softmax %s : (tensor<?x3xf32>) -> tensor<?x3xf32>
      %h = attnres.mix %a, %v : (tensor<?x3xf32>, tensor<3x?x64xf32>) -> tensor<?x64xf32>
      return %h, %a, %r : tensor<?x64xf32>, tensor<?x3xf32>, tensor<?x3xf32>
    }
    func.func @bwd(%dh: tensor<?x64xf32>, %v: tensor<3x?x64xf32>, %q: tensor<?x64xf32>,
                   %g: tensor<64xf32>, %a: tensor<?x3xf32>, %r: tensor<?x3xf32>)
        -> (tensor<3x?x64xf32>, tensor<?x64xf32>, tensor<64xf32>) {
      %da, %dv0 = attnres.mix_grad %dh, %a, %v
          : (tensor<?x64xf32>, tensor<?x3xf32>, tensor<3x?x64xf32>) -> (tensor<?x3xf32>, tensor<3x?x64xf32>)
      %ds = attnres.depth_softmax_grad %a, %da : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
      %dv1, %dr, %dq, %dg = attnres.score_grad %ds, %v, %r, %q, %g
          : (tensor<?x3xf32>, tensor<3x?x64xf32>, tensor<?x3xf32>, tensor<?x64xf32>, tensor<64xf32>)
          -> (tensor<3x?x64xf32>, tensor<?x3xf32>, tensor<?x64xf32>, tensor<64xf32>)
      %dv2 = attnres.rms_rstd_grad %dr, %v, %r
          : (tensor<?x3xf32>, tensor<3x?x64xf32>, tensor<?x3xf32>) -> tensor<3x?x64xf32>
      %sum = arith.addf %dv0, %dv1 : tensor<3x?x64xf32>
      %dv = arith.addf %sum, %dv2 : tensor<3x?x64xf32>
      return %dv, %dq, %dg : tensor<3x?x64xf32>, tensor<?x64xf32>, tensor<64xf32>
    })mlir";
  auto kernel = CpuKernel::compileSource(source);
  ASSERT_TRUE(!!kernel) << llvm::toString(kernel.takeError());
  ASSERT_EQ((*kernel)->functions().size(), 2u);
  EXPECT_EQ((*kernel)->functions()[1].results[1].shape,
            (std::vector<int64_t>{-1, 64}));

  const int64_t n = 3, m = 4, d = 64;
  Problem p = randomProblem(n, m, d, DType::F32, 11, /*perTokenQuery=*/true);
  std::vector<float> v = toFloats(p.v), q = toFloats(p.q), g = toFloats(p.g);
  std::vector<float> h = poisoned(m * d), alpha = poisoned(m * n),
                     rstd = poisoned(m * n);
  ASSERT_FALSE(!!(*kernel)->run("fwd",
                                {{v.data(), DType::F32, {n, m, d}},
                                 {q.data(), DType::F32, {m, d}},
                                 {g.data(), DType::F32, {d}}},
                                {{h.data(), DType::F32, {m, d}},
                                 {alpha.data(), DType::F32, {m, n}},
                                 {rstd.data(), DType::F32, {m, n}}}));
  ForwardResult ref = referenceForward(p);
  EXPECT_LE(relativeL2(toDoubles(h), ref.h), f32Tolerance(d));
  EXPECT_LE(relativeL2(toDoubles(alpha), ref.alpha), f32Tolerance(d));

  std::vector<float> dh = toFloats(randomTokens(m * d, DType::F32, 12));
  std::vector<float> dv = poisoned(n * m * d), dq = poisoned(m * d),
                     dg = poisoned(d);
  ASSERT_FALSE(!!(*kernel)->run("bwd",
                                {{dh.data(), DType::F32, {m, d}},
                                 {v.data(), DType::F32, {n, m, d}},
                                 {q.data(), DType::F32, {m, d}},
                                 {g.data(), DType::F32, {d}},
                                 {alpha.data(), DType::F32, {m, n}},
                                 {rstd.data(), DType::F32, {m, n}}},
                                {{dv.data(), DType::F32, {n, m, d}},
                                 {dq.data(), DType::F32, {m, d}},
                                 {dg.data(), DType::F32, {d}}}));
  BackwardResult refBack =
      referenceBackward(p, toDoubles(dh), toDoubles(alpha), toDoubles(rstd));
  double tol = f32Tolerance(d);
  EXPECT_LE(relativeL2(toDoubles(dv), refBack.dv), tol);
  EXPECT_LE(scaledL2(toDoubles(dq), refBack.dq, refBack.dqScale), tol);
  EXPECT_LE(scaledL2(toDoubles(dg), refBack.dg, refBack.dgScale), tol);
}

// Results that alias an argument, each other or a constant come back as
// copies the caller can use; run() frees each JIT buffer exactly once (a
// double free or a free of the caller's memory would abort here).
TEST(CpuKernelSource, AliasedAndConstantResults) {
  auto kernel = CpuKernel::compileSource(R"mlir(
    func.func @f(%x: tensor<4xbf16>) -> (tensor<4xbf16>, tensor<4xbf16>, tensor<2xf32>) {
      %c = arith.constant dense<[1.5, -2.0]> : tensor<2xf32>
      return %x, %x, %c : tensor<4xbf16>, tensor<4xbf16>, tensor<2xf32>
    })mlir");
  ASSERT_TRUE(!!kernel) << llvm::toString(kernel.takeError());
  std::vector<uint16_t> x = {toBF16(1.0f), toBF16(-3.0f), toBF16(0.5f),
                             toBF16(7.0f)};
  for (int call = 0; call < 3; ++call) {
    std::vector<uint16_t> a(4, 0x7FC0), b(4, 0x7FC0);
    std::vector<float> c = poisoned(2);
    ASSERT_FALSE(!!(*kernel)->run("f", {{x.data(), DType::BF16, {4}}},
                                  {{a.data(), DType::BF16, {4}},
                                   {b.data(), DType::BF16, {4}},
                                   {c.data(), DType::F32, {2}}}));
    EXPECT_EQ(a, x);
    EXPECT_EQ(b, x);
    EXPECT_EQ(c, (std::vector<float>{1.5f, -2.0f}));
  }
}

// No tokens: nothing to read or write, null buffers allowed. The GPU
// fields of the spec (arch here) do not matter to the CPU path.
TEST(CpuKernelSource, ZeroTokens) {
  KernelSpec spec;
  spec.numSources = 2;
  spec.width = 8;
  spec.dtype = DType::F16;
  spec.arch = "";
  auto kernel = CpuKernel::compile(spec);
  ASSERT_TRUE(!!kernel) << llvm::toString(kernel.takeError());
  std::vector<float> q(8, 1.0f), g(8, 1.0f);
  llvm::Error e = (*kernel)->forward(0, nullptr, q.data(), g.data(), nullptr,
                                     nullptr, nullptr);
  EXPECT_FALSE(!!e) << llvm::toString(std::move(e));
}

std::string errorOf(llvm::Error error) {
  return error ? llvm::toString(std::move(error)) : std::string();
}

TEST(CpuKernelErrors, ReportsBadSpecsSourcesAndCalls) {
  KernelSpec spec;
  spec.numSources = 0;
  spec.width = 64;
  auto bad = CpuKernel::compile(spec);
  ASSERT_FALSE(!!bad);
  EXPECT_NE(errorOf(bad.takeError()).find("number of sources"),
            std::string::npos);

  auto garbage = CpuKernel::compileSource("func.func @f(");
  ASSERT_FALSE(!!garbage);
  EXPECT_NE(errorOf(garbage.takeError()).find("cannot parse"),
            std::string::npos);

  auto variant = CpuKernel::compileSource(R"mlir(
    func.func @f(%v: tensor<2x?x8xf32>, %q: tensor<8xf32>, %g: tensor<8xf32>)
        -> tensor<?x8xf32> {
      %h, %a, %r = attnres.forward %v, %q, %g {normalizer = #attnres.normalizer<sigmoid>}
          : (tensor<2x?x8xf32>, tensor<8xf32>, tensor<8xf32>)
          -> (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xf32>)
      return %h : tensor<?x8xf32>
    })mlir");
  ASSERT_FALSE(!!variant);
  std::string message = errorOf(variant.takeError());
  EXPECT_NE(message.find("pipeline failed"), std::string::npos) << message;
  EXPECT_NE(message.find("sigmoid"), std::string::npos) << message;

  auto scalar = CpuKernel::compileSource(
      "func.func @f(%x: f32) -> f32 { return %x : f32 }");
  ASSERT_FALSE(!!scalar);
  EXPECT_NE(errorOf(scalar.takeError()).find("only ranked tensors"),
            std::string::npos);

  const CpuKernel *forward = kernelFor(2, 64, DType::BF16, Direction::Forward);
  ASSERT_TRUE(forward);
  std::vector<uint16_t> v(2 * 3 * 64), h(3 * 64);
  std::vector<float> q(64), g(64), alpha(6), rstd(6);
  EXPECT_NE(errorOf(forward->run("nope", {}, {})).find("no function 'nope'"),
            std::string::npos);
  EXPECT_NE(errorOf(forward->run(forward->functions()[0].name, {}, {}))
                .find("takes 3 inputs"),
            std::string::npos);
  std::string shape =
      errorOf(forward->run(forward->functions()[0].name,
                           {{v.data(), DType::BF16, {2, 3, 63}},
                            {q.data(), DType::F32, {64}},
                            {g.data(), DType::F32, {64}}},
                           {{h.data(), DType::BF16, {3, 64}},
                            {alpha.data(), DType::F32, {3, 2}},
                            {rstd.data(), DType::F32, {3, 2}}}));
  EXPECT_NE(shape.find("shape [2, 3, 63] does not fit [2, ?, 64]"),
            std::string::npos)
      << shape;
  std::string dtype =
      errorOf(forward->run(forward->functions()[0].name,
                           {{v.data(), DType::F16, {2, 3, 64}},
                            {q.data(), DType::F32, {64}},
                            {g.data(), DType::F32, {64}}},
                           {{h.data(), DType::BF16, {3, 64}},
                            {alpha.data(), DType::F32, {3, 2}},
                            {rstd.data(), DType::F32, {3, 2}}}));
  EXPECT_NE(dtype.find("element type f16, expected bf16"), std::string::npos)
      << dtype;
  std::string outputShape =
      errorOf(forward->run(forward->functions()[0].name,
                           {{v.data(), DType::BF16, {2, 3, 64}},
                            {q.data(), DType::F32, {64}},
                            {g.data(), DType::F32, {64}}},
                           {{h.data(), DType::BF16, {2, 64}},
                            {alpha.data(), DType::F32, {3, 2}},
                            {rstd.data(), DType::F32, {3, 2}}}));
  EXPECT_NE(outputShape.find("result #0 has shape [3, 64]"), std::string::npos)
      << outputShape;
  EXPECT_NE(errorOf(forward->backward(3, h.data(), v.data(), q.data(), g.data(),
                                      alpha.data(), rstd.data(), v.data(),
                                      q.data(), g.data()))
                .find("backward spec"),
            std::string::npos);
}

} // namespace
