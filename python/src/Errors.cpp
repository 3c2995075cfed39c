//===- Errors.cpp - attnres::Error as the Python class attnres.Error -----===//

#include "Bindings.h"

#include "runtime/AttnRes.h"

namespace py = pybind11;

namespace attnres::python {

DType dtypeFromName(const std::string &name) {
  if (std::optional<DType> dtype = parseDType(name))
    return *dtype;
  throw py::value_error("unknown dtype '" + name +
                        "': expected 'f32', 'f16' or 'bf16'");
}

void initErrors(py::module_ &m) {
  // A RuntimeError subclass, so callers that catch RuntimeError keep working;
  // `kind` says which ErrorKind it was (invalid-argument, no-device, ...).
  // Never destroyed: a static Python object's destructor would run after
  // the interpreter has finalized.
  static auto *errorType =
      new py::exception<Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown)
        std::rethrow_exception(thrown);
    } catch (const Error &e) {
      auto type = py::reinterpret_borrow<py::object>(*errorType);
      py::object error = type(py::str(e.what()));
      error.attr("kind") = py::str(toString(e.kind()));
      PyErr_SetObject(errorType->ptr(), error.ptr());
    }
  });
}

} // namespace attnres::python
