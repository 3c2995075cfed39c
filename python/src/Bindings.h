//===- Bindings.h - The areas of the attnres._C module --------*- C++ -*-===//
//
// One PYBIND11_MODULE (Module.cpp) calls one init function per area.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_PYTHON_BINDINGS_H
#define ATTNRES_PYTHON_BINDINGS_H

#include "codegen/KernelSpec.h"

#include <pybind11/pybind11.h>

#include <string>

namespace attnres::python {

/// attnres.Error (a RuntimeError with a `kind`) and the translation of
/// attnres::Error into it.
void initErrors(pybind11::module_ &m);
/// KernelSpec, Tuning, compile() and the IR stages: no GPU needed.
void initCompile(pybind11::module_ &m);
/// The CUDA runtime: availability, forward and backward on device pointers.
void initRuntime(pybind11::module_ &m);
/// The host JIT on numpy arrays (has_cpu is False without it).
void initCpu(pybind11::module_ &m);

/// The DType named "f32", "f16" or "bf16"; raises ValueError otherwise.
DType dtypeFromName(const std::string &name);

} // namespace attnres::python

#endif // ATTNRES_PYTHON_BINDINGS_H
