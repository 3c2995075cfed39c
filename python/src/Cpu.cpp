//===- Cpu.cpp - The host JIT (CpuKernel) on numpy arrays -----------------===//
//
// Only in the normal build (ATTNRES_HAVE_CPU): the static core has no host
// JIT, and the module then says so with has_cpu = False.
//
// Storage: f32 as float32, f16 as float16, bf16 as uint16 bit patterns (or
// any 2-byte dtype named bfloat16); q and g float32. Shapes: values
// [N, *batch, D], h [*batch, D], alpha and rstd [M, N] with M = prod(batch).
//
//===----------------------------------------------------------------------===//

#include "Bindings.h"

#include "runtime/AttnRes.h"

#ifdef ATTNRES_HAVE_CPU
#include "codegen/CpuKernel.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <mutex>
#endif

namespace py = pybind11;

namespace attnres::python {

#ifdef ATTNRES_HAVE_CPU
namespace {

/// One compiled kernel per spec. Deliberately never freed: a JIT must not be
/// torn down from a static destructor at exit (see CpuKernel.h).
const CpuKernel &cpuKernel(const KernelSpec &spec) {
  static std::mutex mutex;
  static auto *kernels = new std::map<std::string, std::unique_ptr<CpuKernel>>();
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<CpuKernel> &slot = (*kernels)[fingerprint(spec)];
  if (!slot) {
    llvm::Expected<std::unique_ptr<CpuKernel>> kernel = CpuKernel::compile(spec);
    if (!kernel) {
      kernels->erase(fingerprint(spec));
      throw Error(ErrorKind::Compile, "CPU compile of " + kernelName(spec) +
                                          " failed: " +
                                          llvm::toString(kernel.takeError()));
    }
    slot = std::move(*kernel);
  }
  return *slot;
}

void check(llvm::Error error) {
  if (error)
    throw Error(ErrorKind::InvalidArgument, llvm::toString(std::move(error)));
}

/// The storage dtype of a values-like array; `name` ("" to infer) decides
/// between bf16 and f16 bits.
DType storageDType(const py::array &a, const std::string &what,
                   const std::string &name) {
  std::string kind = py::str(a.dtype()).cast<std::string>();
  if (!name.empty()) {
    DType dtype = dtypeFromName(name);
    bool ok = dtype == DType::F32 ? kind == "float32"
              : dtype == DType::F16
                  ? kind == "float16"
                  : (kind == "uint16" || kind == "bfloat16");
    if (!ok)
      throw py::type_error(what + " has dtype " + kind + ", which does not hold " +
                           name + " (bf16 is passed as uint16 bits)");
    return dtype;
  }
  if (kind == "float32")
    return DType::F32;
  if (kind == "float16")
    return DType::F16;
  if (kind == "bfloat16")
    return DType::BF16;
  throw py::type_error(what + " must be float32, float16 or bf16 bits (uint16 "
                       "with dtype='bf16'), got " + kind);
}

void requireContiguous(const py::array &a, const std::string &what) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(what + " must be C-contiguous (np.ascontiguousarray)");
}

void requireF32(const py::array &a, const std::string &what,
                const std::vector<int64_t> &shape) {
  if (py::str(a.dtype()).cast<std::string>() != "float32")
    throw py::type_error(what + " must be float32, got " +
                         py::str(a.dtype()).cast<std::string>());
  requireContiguous(a, what);
  std::vector<int64_t> got(a.shape(), a.shape() + a.ndim());
  if (got != shape) {
    std::string want, have;
    for (int64_t s : shape)
      want += (want.empty() ? "" : ", ") + std::to_string(s);
    for (int64_t s : got)
      have += (have.empty() ? "" : ", ") + std::to_string(s);
    throw py::value_error(what + " must have shape [" + want + "], got [" +
                          have + "]");
  }
}

/// A new C-contiguous array. The strides are spelled out, from the dtype's
/// Python-level itemsize: pybind11 before 2.12 reads the item size from the
/// numpy 1 struct layout, which numpy 2 changed (zero strides otherwise).
py::array newArray(const py::dtype &dtype, const std::vector<int64_t> &shape) {
  std::vector<py::ssize_t> extents(shape.begin(), shape.end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = dtype.attr("itemsize").cast<py::ssize_t>();
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= extents[i];
  }
  return py::array(dtype, extents, strides);
}

struct Shape {
  int64_t n = 0, tokens = 1, width = 0;
  std::vector<int64_t> batch; ///< the extents between N and D
};

Shape valuesShape(const py::array &values) {
  if (values.ndim() < 2)
    throw py::value_error("values must be [N, ..., D] (at least 2-D), got " +
                          std::to_string(values.ndim()) + "-D");
  Shape s;
  s.n = values.shape(0);
  s.width = values.shape(values.ndim() - 1);
  for (py::ssize_t i = 1; i + 1 < values.ndim(); ++i) {
    s.batch.push_back(values.shape(i));
    s.tokens *= values.shape(i);
  }
  return s;
}

KernelSpec cpuSpec(const Shape &s, DType dtype, Direction direction, float eps) {
  KernelSpec spec;
  spec.numSources = s.n;
  spec.width = s.width;
  spec.dtype = dtype;
  spec.direction = direction;
  spec.eps = eps;
  if (std::string invalid = validate(spec); !invalid.empty())
    throw py::value_error(invalid);
  return spec;
}

py::tuple cpuForward(const py::array &values, const py::array &query,
                     const py::array &normWeight, float eps,
                     const std::string &dtypeName) {
  DType dtype = storageDType(values, "values", dtypeName);
  requireContiguous(values, "values");
  Shape s = valuesShape(values);
  requireF32(query, "query", {s.width});
  requireF32(normWeight, "norm_weight", {s.width});
  KernelSpec spec = cpuSpec(s, dtype, Direction::Forward, eps);

  std::vector<int64_t> hShape = s.batch;
  hShape.push_back(s.width);
  py::array h = newArray(values.dtype(), hShape);
  py::array alpha = newArray(py::dtype::of<float>(), {s.tokens, s.n});
  py::array rstd = newArray(py::dtype::of<float>(), {s.tokens, s.n});
  const CpuKernel &kernel = cpuKernel(spec);
  {
    py::gil_scoped_release release;
    check(kernel.forward(s.tokens, values.data(),
                         static_cast<const float *>(query.data()),
                         static_cast<const float *>(normWeight.data()),
                         h.mutable_data(),
                         static_cast<float *>(alpha.mutable_data()),
                         static_cast<float *>(rstd.mutable_data())));
  }
  return py::make_tuple(h, alpha, rstd);
}

py::tuple cpuBackward(const py::array &gradH, const py::array &values,
                      const py::array &query, const py::array &normWeight,
                      const py::array &alpha, const py::array &rstd, float eps,
                      const std::string &dtypeName) {
  DType dtype = storageDType(values, "values", dtypeName);
  requireContiguous(values, "values");
  Shape s = valuesShape(values);
  if (!py::str(gradH.dtype()).equal(py::str(values.dtype())))
    throw py::type_error("grad_h must have the dtype of values");
  requireContiguous(gradH, "grad_h");
  std::vector<int64_t> hShape = s.batch;
  hShape.push_back(s.width);
  if (std::vector<int64_t>(gradH.shape(), gradH.shape() + gradH.ndim()) != hShape)
    throw py::value_error("grad_h must have the shape of values without N");
  requireF32(query, "query", {s.width});
  requireF32(normWeight, "norm_weight", {s.width});
  requireF32(alpha, "alpha", {s.tokens, s.n});
  requireF32(rstd, "rstd", {s.tokens, s.n});
  KernelSpec spec = cpuSpec(s, dtype, Direction::Backward, eps);

  std::vector<int64_t> vShape(values.shape(), values.shape() + values.ndim());
  py::array gradValues = newArray(values.dtype(), vShape);
  py::array gradQuery = newArray(py::dtype::of<float>(), {s.width});
  py::array gradNormWeight = newArray(py::dtype::of<float>(), {s.width});
  const CpuKernel &kernel = cpuKernel(spec);
  {
    py::gil_scoped_release release;
    check(kernel.backward(
        s.tokens, gradH.data(), values.data(),
        static_cast<const float *>(query.data()),
        static_cast<const float *>(normWeight.data()),
        static_cast<const float *>(alpha.data()),
        static_cast<const float *>(rstd.data()), gradValues.mutable_data(),
        static_cast<float *>(gradQuery.mutable_data()),
        static_cast<float *>(gradNormWeight.mutable_data())));
  }
  return py::make_tuple(gradValues, gradQuery, gradNormWeight);
}

} // namespace
#endif // ATTNRES_HAVE_CPU

void initCpu(py::module_ &m) {
#ifdef ATTNRES_HAVE_CPU
  m.attr("has_cpu") = true;
  m.def("cpu_forward", &cpuForward, py::arg("values"), py::arg("query"),
        py::arg("norm_weight"), py::arg("eps") = 1e-6f, py::arg("dtype") = "",
        "(h, alpha, rstd) of values [N, ..., D] on the host JIT.");
  m.def("cpu_backward", &cpuBackward, py::arg("grad_h"), py::arg("values"),
        py::arg("query"), py::arg("norm_weight"), py::arg("alpha"),
        py::arg("rstd"), py::arg("eps") = 1e-6f, py::arg("dtype") = "",
        "(grad_values, grad_query, grad_norm_weight) on the host JIT.");
#else
  m.attr("has_cpu") = false;
#endif
}

} // namespace attnres::python
