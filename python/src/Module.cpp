//===- Module.cpp - attnres._C: Python bindings of the attnres runtime ---===//

#include "Bindings.h"

#include "dialect/Limits.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "attnres: the Attention Residuals compiler and CUDA runtime";
  m.attr("max_sources") = mlir::attnres::kMaxSources;
  m.attr("max_width") = mlir::attnres::kMaxWidth;
  attnres::python::initErrors(m);
  attnres::python::initCompile(m);
  attnres::python::initRuntime(m);
  attnres::python::initCpu(m);
}
