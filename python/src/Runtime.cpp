//===- Runtime.cpp - forward and backward on device pointers -------------===//
//
// Pointers and streams are Python ints (tensor.data_ptr(), stream.cuda_stream),
// so the module needs no torch headers; the runtime checks every argument and
// raises attnres.Error before launching anything.
//
//===----------------------------------------------------------------------===//

#include "Bindings.h"

#include "runtime/AttnRes.h"

#include <pybind11/stl.h>

#include <cstdint>

namespace py = pybind11;

namespace attnres::python {
namespace {

template <typename T = void> T *ptr(uintptr_t address) {
  return reinterpret_cast<T *>(address);
}

} // namespace

void initRuntime(py::module_ &m) {
  py::class_<Sources>(m, "Sources",
                      "The N sources of one call: stacked or a list.")
      .def_static(
          "stacked",
          [](uintptr_t base, int64_t count, int64_t sourceStride,
             int64_t tokenStride) {
            return Sources::stacked(ptr(base), count, sourceStride, tokenStride);
          },
          py::arg("base"), py::arg("count"),
          py::arg("source_stride") = Sources::kDense,
          py::arg("token_stride") = Sources::kDense)
      .def_static(
          "list",
          [](const std::vector<uintptr_t> &pointers, int64_t tokenStride) {
            std::vector<const void *> list;
            list.reserve(pointers.size());
            for (uintptr_t p : pointers)
              list.push_back(ptr(p));
            return Sources::list(std::move(list), tokenStride);
          },
          py::arg("pointers"), py::arg("token_stride") = Sources::kDense)
      .def_property_readonly("count", &Sources::count)
      .def_property_readonly("is_stacked", &Sources::isStacked);

  m.def(
      "available", [] { return Runtime::get().available(); },
      "True if a CUDA driver and a device are usable.");
  m.def(
      "unavailable_reason",
      [] {
        std::string reason;
        return Runtime::get().available(&reason) ? std::string() : reason;
      },
      "Why available() is False ('' when it is True).");
  m.def(
      "device_arch", [] { return Runtime::get().deviceArch(); },
      "The arch kernels are built for on the current device (sm_90a, ...).");
  m.def(
      "cache_dir", [] { return Runtime::get().cacheDirectory(); },
      "The disk cache directory ('' when caching in memory only).");
  m.def(
      "set_cache_dir",
      [](const std::string &dir) { Runtime::get().setCacheDirectory(dir); },
      py::arg("directory"));
  m.def("clear_memory_cache", [] { Runtime::get().clearMemoryCache(); });

  m.def(
      "forward",
      [](const Sources &sources, uintptr_t query, uintptr_t normWeight,
         uintptr_t h, uintptr_t alpha, uintptr_t rstd, int64_t tokens,
         int64_t width, const std::string &dtype, float eps, uintptr_t stream,
         const Tuning &tuning) {
        DType type = dtypeFromName(dtype);
        py::gil_scoped_release release;
        Runtime::get().forward(sources, ptr<const float>(query),
                               ptr<const float>(normWeight), ptr(h),
                               ptr<float>(alpha), ptr<float>(rstd), tokens,
                               width, type, eps, ptr(stream), tuning);
      },
      py::arg("sources"), py::arg("query"), py::arg("norm_weight"),
      py::arg("h"), py::arg("alpha"), py::arg("rstd"), py::arg("tokens"),
      py::arg("width"), py::arg("dtype"), py::arg("eps"), py::arg("stream"),
      py::arg("tuning") = Tuning(),
      "h = AttnRes(sources); launches on `stream` and returns at once.");

  m.def(
      "backward",
      [](uintptr_t gradH, const Sources &sources, uintptr_t query,
         uintptr_t normWeight, uintptr_t alpha, uintptr_t rstd,
         const Sources &gradSources, uintptr_t gradQuery,
         uintptr_t gradNormWeight, int64_t tokens, int64_t width,
         const std::string &dtype, float eps, uintptr_t stream,
         uintptr_t workspace, size_t workspaceBytes, const Tuning &tuning) {
        DType type = dtypeFromName(dtype);
        py::gil_scoped_release release;
        Runtime::get().backward(
            ptr<const void>(gradH), sources, ptr<const float>(query),
            ptr<const float>(normWeight), ptr<const float>(alpha),
            ptr<const float>(rstd), gradSources, ptr<float>(gradQuery),
            ptr<float>(gradNormWeight), tokens, width, type, eps, ptr(stream),
            ptr(workspace), workspaceBytes, tuning);
      },
      py::arg("grad_h"), py::arg("sources"), py::arg("query"),
      py::arg("norm_weight"), py::arg("alpha"), py::arg("rstd"),
      py::arg("grad_sources"), py::arg("grad_query"),
      py::arg("grad_norm_weight"), py::arg("tokens"), py::arg("width"),
      py::arg("dtype"), py::arg("eps"), py::arg("stream"),
      py::arg("workspace") = 0, py::arg("workspace_bytes") = 0,
      py::arg("tuning") = Tuning(),
      "Gradients of forward; workspace 0 uses a runtime-owned buffer.");

  m.def(
      "backward_workspace_bytes",
      [](int64_t numSources, int64_t tokens, int64_t width,
         const std::string &dtype, float eps, const Tuning &tuning) {
        DType type = dtypeFromName(dtype);
        py::gil_scoped_release release;
        return Runtime::get().backwardWorkspaceBytes(numSources, tokens, width,
                                                     type, eps, tuning);
      },
      py::arg("n"), py::arg("tokens"), py::arg("width"), py::arg("dtype"),
      py::arg("eps"), py::arg("tuning") = Tuning());
}

} // namespace attnres::python
