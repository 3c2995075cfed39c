//===- CudaDriver.cpp - dlopen libcuda and resolve its entry points -------===//

#include "runtime/CudaDriver.h"

#include <dlfcn.h>

#include <mutex>

namespace attnres {

namespace {
// Entry points are requested at this API version (CUDA 12.0 semantics; the
// driver returns the matching _v2/_v3 variants).
constexpr int kApiVersion = 12000;

using GetProcAddress = CUresult (*)(const char *, void **, int, cuuint64_t,
                                    CUdriverProcAddressQueryResult *);
} // namespace

const CudaDriver *CudaDriver::load(std::string &error) {
  static CudaDriver driver;
  static std::string loadError;
  static std::once_flag once;
  std::call_once(once, [] {
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      loadError = std::string("no CUDA driver: cannot load libcuda.so.1 (") +
                  dlerror() + ")";
      return;
    }
    auto getProc = reinterpret_cast<GetProcAddress>(
        dlsym(library, "cuGetProcAddress_v2"));
    if (!getProc) {
      loadError = "the CUDA driver is too old: no cuGetProcAddress_v2 "
                  "(driver 12.0 or newer is needed)";
      return;
    }
#define ATTNRES_RESOLVE(name, type)                                            \
  {                                                                            \
    void *fn = nullptr;                                                        \
    CUdriverProcAddressQueryResult status;                                     \
    if (getProc(#name, &fn, kApiVersion, CU_GET_PROC_ADDRESS_DEFAULT,          \
                &status) != CUDA_SUCCESS ||                                    \
        !fn) {                                                                 \
      loadError = "the CUDA driver lacks " #name;                              \
      return;                                                                  \
    }                                                                          \
    driver.name = reinterpret_cast<type>(fn);                                  \
  }
    ATTNRES_DRIVER_FUNCTIONS(ATTNRES_RESOLVE)
#undef ATTNRES_RESOLVE
    CUresult init = driver.cuInit(0);
    if (init != CUDA_SUCCESS) {
      loadError = "cuInit failed: " + driver.describe(init);
      return;
    }
  });
  if (!loadError.empty()) {
    error = loadError;
    return nullptr;
  }
  return &driver;
}

std::string CudaDriver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(result, &name);
  if (cuGetErrorString)
    cuGetErrorString(result, &text);
  return std::string(name ? name : "CUDA error " + std::to_string(result)) +
         " (" + (text ? text : "unknown") + ")";
}

CUresult CudaDriver::prepareFunction(CUfunction function,
                                     unsigned dynamicSharedBytes,
                                     int clusterSize) const {
  if (dynamicSharedBytes > 0) {
    CUresult result = cuFuncSetAttribute(
        function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
        int(dynamicSharedBytes));
    if (result != CUDA_SUCCESS)
      return result;
  }
  if (clusterSize > 8)
    return cuFuncSetAttribute(
        function, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);
  return CUDA_SUCCESS;
}

CUresult CudaDriver::residentCtas(CUfunction function, unsigned threads,
                                  unsigned sharedBytes, int clusterSize,
                                  int multiprocessors, int64_t &ctas) const {
  ctas = 0;
  if (clusterSize <= 1) {
    int perSM = 0;
    CUresult result = cuOccupancyMaxActiveBlocksPerMultiprocessor(
        &perSM, function, int(threads), sharedBytes);
    ctas = int64_t(perSM) * multiprocessors;
    return result;
  }
  CUlaunchAttribute cluster{};
  cluster.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  cluster.value.clusterDim.x = unsigned(clusterSize);
  cluster.value.clusterDim.y = cluster.value.clusterDim.z = 1;
  CUlaunchConfig config{};
  config.gridDimX = unsigned(clusterSize);
  config.gridDimY = config.gridDimZ = 1;
  config.blockDimX = threads;
  config.blockDimY = config.blockDimZ = 1;
  config.sharedMemBytes = sharedBytes;
  config.attrs = &cluster;
  config.numAttrs = 1;
  int clusters = 0;
  CUresult result = cuOccupancyMaxActiveClusters(&clusters, function, &config);
  ctas = int64_t(clusters) * clusterSize;
  return result;
}

} // namespace attnres
