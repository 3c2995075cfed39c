//===- Reference.h - The AttnRes operator in float64, and error metrics -*- C++ -*-===//
//
// The ground truth every numerical check compares with (DESIGN section 1),
// plain C++: used by the GPU checker, the runtime's GPU tests and the
// attnres-run tool. Storage types are named "f32", "f16", "bf16".
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_REFERENCE_REFERENCE_H
#define ATTNRES_REFERENCE_REFERENCE_H

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace attnres::reference {

int elementBytes(const std::string &dtype);

/// Rounds to the storage type and back (what a kernel sees).
float roundTo(const std::string &dtype, float x);

/// Values <-> raw storage bytes.
std::vector<uint8_t> encode(const std::string &dtype,
                            const std::vector<float> &values);
std::vector<float> decode(const std::string &dtype,
                          const std::vector<uint8_t> &bytes);

/// Inputs of one problem, already rounded to their storage types.
struct Problem {
  int n, m, d;
  float eps = 1e-6f;
  std::vector<float> v;    // [N, M, D]
  std::vector<float> q, g; // [D] f32
  std::vector<float> dh;   // [M, D]
};

/// Fresh random inputs (never zeros): rows of different norms, q scaled so
/// that scores are of order one.
Problem makeProblem(int n, int m, int d, const std::string &dtype,
                    std::mt19937_64 &rng);

struct Reference {
  std::vector<double> h, alpha, rstd, dv, dq, dg;
  /// |g| * sum |ds r v| and |q| * sum |ds r v|: the magnitude of the terms
  /// summed into dq and dg, which bounds their rounding error (the sums
  /// themselves can cancel to almost nothing, e.g. at D = 1).
  std::vector<double> dqScale, dgScale;
};

/// Forward and backward in float64. The backward uses `alphaIn`/`rstdIn`
/// (what a kernel is given) so that it checks the backward alone.
Reference compute(const Problem &p, const std::vector<float> &alphaIn,
                  const std::vector<float> &rstdIn);

/// The forward statistics of `p` rounded to f32, as a backward receives them.
void savedStatistics(const Problem &p, std::vector<float> &alpha,
                     std::vector<float> &rstd);

/// Relative L2 error; NaN if any output element is NaN (unwritten).
double relativeError(const std::vector<float> &out,
                     const std::vector<double> &ref);

/// The error of rounding the reference itself to `dtype`.
double roundingError(const std::string &dtype, const std::vector<double> &ref);

/// True if a rounded output is within twice the rounding error of the
/// reference plus `slack` (relative L2).
bool withinRounding(const std::vector<float> &out,
                    const std::vector<double> &ref, const std::string &dtype,
                    double slack, double *error = nullptr);

/// True if a long f32 sum is within `slack` of the norm of its terms'
/// magnitudes; `error` gets the plain relative error.
bool withinSumBound(const std::vector<float> &out,
                    const std::vector<double> &ref,
                    const std::vector<double> &scale, double slack,
                    double *error = nullptr);

} // namespace attnres::reference

#endif // ATTNRES_REFERENCE_REFERENCE_H
