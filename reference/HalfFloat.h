//===- HalfFloat.h - f16 / bf16 <-> f32 conversions on the host -*- C++ -*-===//

#ifndef ATTNRES_REFERENCE_HALFFLOAT_H
#define ATTNRES_REFERENCE_HALFFLOAT_H

#include <cmath>
#include <cstdint>
#include <cstring>

namespace attnres::half {

inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// f32 -> bf16, round to nearest even (NaN stays NaN).
inline uint16_t toBF16(float f) {
  uint32_t u = bits(f);
  if (std::isnan(f))
    return 0x7fc0;
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}
inline float fromBF16(uint16_t h) { return fromBits(uint32_t(h) << 16); }

/// f32 -> IEEE f16, round to nearest even, with subnormals and overflow.
inline uint16_t toF16(float f) {
  uint32_t u = bits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t absBits = u & 0x7fffffff;
  if (absBits > 0x7f800000)
    return static_cast<uint16_t>(sign | 0x7e00);
  if (absBits >= 0x477ff000) // rounds to >= 65520: infinity
    return static_cast<uint16_t>(sign | 0x7c00);
  if (absBits < 0x38800000) { // subnormal or zero in f16
    float a = fromBits(absBits);
    uint32_t m = static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)); // 2^24
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mant = absBits & 0x7fffff;
  uint32_t exp = (absBits >> 23) - 127 + 15;
  uint32_t result = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (result & 1)))
    ++result;
  return static_cast<uint16_t>(sign | result);
}
inline float fromF16(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0)
    return (sign ? -1.0f : 1.0f) * std::ldexp(static_cast<float>(mant), -24);
  if (exp == 31)
    return fromBits(sign | 0x7f800000 | (mant << 13));
  return fromBits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

} // namespace attnres::half

#endif // ATTNRES_REFERENCE_HALFFLOAT_H
