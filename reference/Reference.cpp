//===- Reference.cpp - The AttnRes operator in float64, and error metrics -===//

#include "reference/Reference.h"
#include "reference/HalfFloat.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace attnres::reference {

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

/// DESIGN §1 in float64. The backward uses `alphaIn`/`rstdIn` (what the
/// kernel is given) so that it checks the backward alone.
Reference compute(const Problem &p, const std::vector<float> &alphaIn,
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

void savedStatistics(const Problem &p, std::vector<float> &alpha,
                     std::vector<float> &rstd) {
  size_t count = size_t(p.m) * p.n;
  Reference pre = compute(p, std::vector<float>(count, 0.0f),
                          std::vector<float>(count, 1.0f));
  alpha.assign(pre.alpha.begin(), pre.alpha.end());
  rstd.assign(pre.rstd.begin(), pre.rstd.end());
}

bool withinRounding(const std::vector<float> &out,
                    const std::vector<double> &ref, const std::string &dtype,
                    double slack, double *error) {
  double err = relativeError(out, ref);
  if (error)
    *error = err;
  return !std::isnan(err) && err <= 2.0 * roundingError(dtype, ref) + slack;
}

bool withinSumBound(const std::vector<float> &out,
                    const std::vector<double> &ref,
                    const std::vector<double> &scale, double slack,
                    double *error) {
  double diff = 0, refNorm = 0, scaleNorm = 0;
  bool nan = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nan = nan || std::isnan(out[i]);
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    refNorm += ref[i] * ref[i];
    scaleNorm += scale[i] * scale[i];
  }
  if (error)
    *error = nan ? NAN : std::sqrt(diff / std::max(refNorm, 1e-300));
  return !nan && std::sqrt(diff) <= slack * std::sqrt(scaleNorm);
}

} // namespace attnres::reference
