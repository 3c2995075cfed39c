//===- CudaDriver.h - The CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// libcuda is opened with dlopen, so everything that uses this builds, links
// and starts on machines without a GPU driver; `load()` then reports why no
// GPU is usable.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_CUDADRIVER_H
#define ATTNRES_RUNTIME_CUDADRIVER_H

#include <cuda.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace attnres {

/// Driver entry points, resolved through cuGetProcAddress.
struct CudaDriver {
  template <typename T> using Entry = T;

#define ATTNRES_DRIVER_FUNCTIONS(X)                                            \
  X(cuInit, CUresult (*)(unsigned))                                            \
  X(cuDriverGetVersion, CUresult (*)(int *))                                   \
  X(cuDeviceGet, CUresult (*)(CUdevice *, int))                                \
  X(cuDeviceGetCount, CUresult (*)(int *))                                     \
  X(cuDeviceGetName, CUresult (*)(char *, int, CUdevice))                      \
  X(cuDeviceGetAttribute, CUresult (*)(int *, CUdevice_attribute, CUdevice))   \
  X(cuDevicePrimaryCtxRetain, CUresult (*)(CUcontext *, CUdevice))             \
  X(cuCtxGetCurrent, CUresult (*)(CUcontext *))                                \
  X(cuCtxSetCurrent, CUresult (*)(CUcontext))                                  \
  X(cuCtxGetDevice, CUresult (*)(CUdevice *))                                  \
  X(cuCtxGetId, CUresult (*)(CUcontext, unsigned long long *))                 \
  X(cuCtxSynchronize, CUresult (*)(void))                                      \
  X(cuModuleLoadDataEx,                                                        \
    CUresult (*)(CUmodule *, const void *, unsigned, CUjit_option *, void **)) \
  X(cuModuleUnload, CUresult (*)(CUmodule))                                    \
  X(cuModuleGetFunction, CUresult (*)(CUfunction *, CUmodule, const char *))   \
  X(cuFuncGetAttribute, CUresult (*)(int *, CUfunction_attribute, CUfunction)) \
  X(cuFuncSetAttribute, CUresult (*)(CUfunction, CUfunction_attribute, int))   \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor,                               \
    CUresult (*)(int *, CUfunction, int, size_t))                              \
  X(cuOccupancyMaxActiveClusters,                                              \
    CUresult (*)(int *, CUfunction, const CUlaunchConfig *))                   \
  X(cuLaunchKernel,                                                            \
    CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, \
                 unsigned, unsigned, CUstream, void **, void **))              \
  X(cuMemAlloc, CUresult (*)(CUdeviceptr *, size_t))                           \
  X(cuMemFree, CUresult (*)(CUdeviceptr))                                      \
  X(cuMemGetInfo, CUresult (*)(size_t *, size_t *))                            \
  X(cuMemcpyHtoD, CUresult (*)(CUdeviceptr, const void *, size_t))             \
  X(cuMemcpyDtoH, CUresult (*)(void *, CUdeviceptr, size_t))                   \
  X(cuMemcpyDtoDAsync,                                                         \
    CUresult (*)(CUdeviceptr, CUdeviceptr, size_t, CUstream))                  \
  X(cuMemsetD8, CUresult (*)(CUdeviceptr, unsigned char, size_t))              \
  X(cuMemsetD8Async,                                                           \
    CUresult (*)(CUdeviceptr, unsigned char, size_t, CUstream))                \
  X(cuStreamCreate, CUresult (*)(CUstream *, unsigned))                        \
  X(cuStreamDestroy, CUresult (*)(CUstream))                                   \
  X(cuStreamSynchronize, CUresult (*)(CUstream))                               \
  X(cuStreamGetId, CUresult (*)(CUstream, unsigned long long *))               \
  X(cuEventCreate, CUresult (*)(CUevent *, unsigned))                          \
  X(cuEventDestroy, CUresult (*)(CUevent))                                     \
  X(cuEventRecord, CUresult (*)(CUevent, CUstream))                            \
  X(cuEventSynchronize, CUresult (*)(CUevent))                                 \
  X(cuEventElapsedTime, CUresult (*)(float *, CUevent, CUevent))               \
  X(cuGetErrorName, CUresult (*)(CUresult, const char **))                     \
  X(cuGetErrorString, CUresult (*)(CUresult, const char **))

#define ATTNRES_DECLARE(name, type) Entry<type> name = nullptr;
  ATTNRES_DRIVER_FUNCTIONS(ATTNRES_DECLARE)
#undef ATTNRES_DECLARE

  /// Loads libcuda and resolves every entry point once per process. Returns
  /// the driver, or nullptr with `error` saying why (no driver, too old...).
  static const CudaDriver *load(std::string &error);

  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for a result code.
  std::string describe(CUresult result) const;

  /// Opts `function` in to what its launches need past the defaults:
  /// `dynamicSharedBytes` of dynamic shared memory (past 48 KiB with the
  /// static part) and, for clusters of more than the portable 8 CTAs, a
  /// non-portable cluster size (sm_90 allows 16).
  CUresult prepareFunction(CUfunction function, unsigned dynamicSharedBytes,
                           int clusterSize) const;

  /// CTAs of `function` (blocks of `threads`, `sharedBytes` of dynamic
  /// shared memory, clusters of `clusterSize`) that the current context's
  /// device runs at once, into `ctas` (0: none fits): blocks per SM x
  /// `multiprocessors` without clusters; with them, whole clusters as the
  /// driver places them (`multiprocessors` unused). A cluster's CTAs must
  /// share a GPC, so not every SM can hold one: a grid past what is resident
  /// runs its last clusters as a second wave, which doubled the time of
  /// clusters of four on the H200 (132 SMs hold 30 such clusters, not 33).
  CUresult residentCtas(CUfunction function, unsigned threads,
                        unsigned sharedBytes, int clusterSize,
                        int multiprocessors, int64_t &ctas) const;

  /// The persistent grid of a kernel whose CTAs loop over tokens: the
  /// resident CTAs in whole clusters, at most a cluster per token, at
  /// least one cluster (callers check that one fits first).
  static int64_t persistentGrid(int64_t residentCtas, int64_t clusterSize,
                                int64_t tokens) {
    return clusterSize *
           std::max<int64_t>(1, std::min(tokens, residentCtas / clusterSize));
  }

  /// The grid of one cluster per token (Tuning::grid = tokens), at most the
  /// largest x-dimension of a grid: past it the kernel's grid-stride loop
  /// takes the rest.
  static int64_t perTokenGrid(int64_t clusterSize, int64_t tokens) {
    constexpr int64_t kMaxGridX = 2147483647;
    return persistentGrid(kMaxGridX / clusterSize * clusterSize, clusterSize,
                          tokens);
  }
};

} // namespace attnres

#endif // ATTNRES_RUNTIME_CUDADRIVER_H
