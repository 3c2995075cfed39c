//===- runtime_example.cpp - Forward and backward through runtime/AttnRes.h ===//
//
// Any device memory works (torch tensors' data pointers, cudaMalloc); the
// driver loader allocates here so the example needs no CUDA toolkit.
//
//===----------------------------------------------------------------------===//

#include "runtime/AttnRes.h"
#include "runtime/CudaDriver.h"

#include <cstdio>

int main() {
  using namespace attnres;
  Runtime &rt = Runtime::get();
  std::string why;
  if (!rt.available(&why))
    return std::printf("no GPU, nothing to run (%s)\n", why.c_str()), 0;
  std::printf("device arch: %s\n", rt.deviceArch().c_str()); // makes a context current
  const CudaDriver *cu = CudaDriver::load(why);
  const int64_t n = 4, m = 1000, d = 4096;
  auto alloc = [&](size_t bytes) {
    CUdeviceptr p = 0;
    cu->cuMemAlloc(&p, bytes);
    cu->cuMemsetD8(p, 0x3c, bytes); // every bf16 0x3c3c = 0.0115, f32 ~0.0115
    return reinterpret_cast<float *>(p);
  };
  float *v = alloc(n * m * d * 2), *h = alloc(m * d * 2), *dh = alloc(m * d * 2),
        *dv = alloc(n * m * d * 2), *q = alloc(d * 4), *g = alloc(d * 4),
        *alpha = alloc(m * n * 4), *rstd = alloc(m * n * 4), *dq = alloc(d * 4),
        *dg = alloc(d * 4);
  try {
    rt.forward(Sources::stacked(v, n), q, g, h, alpha, rstd, m, d, DType::BF16,
               1e-6f, /*stream=*/nullptr);
    rt.backward(dh, Sources::stacked(v, n), q, g, alpha, rstd,
                Sources::stacked(dv, n), dq, dg, m, d, DType::BF16, 1e-6f,
                nullptr);
  } catch (const Error &e) {
    return std::fprintf(stderr, "%s\n", e.what()), 1;
  }
  float a = 0;
  cu->cuMemcpyDtoH(&a, reinterpret_cast<CUdeviceptr>(alpha), 4); // synchronizes
  std::printf("alpha[0][0] = %g (expected 1/N = %g)\n", a, 1.0 / n);
  return a > 0.2499f && a < 0.2501f ? 0 : 1;
}
