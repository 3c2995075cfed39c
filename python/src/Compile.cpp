//===- Compile.cpp - Kernel specs, compile() and the IR stages -----------===//

#include "Bindings.h"

#include "runtime/AttnRes.h"

#include <pybind11/stl.h>

namespace py = pybind11;

namespace attnres::python {
namespace {

Direction directionFromName(const std::string &name) {
  if (std::optional<Direction> direction = parseDirection(name))
    return *direction;
  throw py::value_error("unknown direction '" + name +
                        "': expected 'forward' or 'backward'");
}

/// A spec from keyword arguments; an empty arch means the current device's
/// (sm_90a without a GPU, so that inspection works anywhere).
KernelSpec makeSpec(int64_t numSources, int64_t width, const std::string &dtype,
                    const std::string &direction, std::string arch, float eps,
                    const Tuning &tuning) {
  KernelSpec spec;
  spec.numSources = numSources;
  spec.width = width;
  spec.dtype = dtypeFromName(dtype);
  spec.direction = directionFromName(direction);
  if (arch.empty()) {
    Runtime &rt = Runtime::get();
    arch = rt.available() ? rt.deviceArch() : "sm_90a";
  }
  spec.arch = arch;
  spec.eps = eps;
  spec.tuning = tuning;
  // Refused here with the spec's own message, before any work.
  if (std::string invalid = validate(spec); !invalid.empty())
    throw py::value_error("unsupported kernel spec: " + invalid);
  return spec;
}

py::dict entryDict(const KernelEntry &entry) {
  py::dict d;
  d["name"] = entry.name;
  d["threads"] = entry.threads;
  d["vector_elems"] = entry.vectorElems;
  d["dynamic_shared_bytes"] = entry.dynamicSharedBytes;
  d["cluster_size"] = entry.clusterSize;
  d["layout"] = entry.layout;
  return d;
}

py::dict resourceDict(const ResourceReport &r) {
  py::dict d;
  d["entry"] = r.entry;
  d["registers"] = r.registers;
  d["stack_frame_bytes"] = r.stackFrameBytes;
  d["spill_store_bytes"] = r.spillStoreBytes;
  d["spill_load_bytes"] = r.spillLoadBytes;
  d["shared_bytes"] = r.sharedBytes;
  return d;
}

} // namespace

void initCompile(py::module_ &m) {
  // The fields of attnres::Tuning (codegen/KernelSpec.h documents each).
  py::class_<Tuning>(m, "Tuning", "Tuning knobs of the GPU lowering.")
      .def(py::init([](int64_t threads, int64_t vectorBytes,
                       const std::string &resident, const std::string &form,
                       int64_t rows, int64_t stages, int64_t cluster,
                       int64_t ctasPerSM, const std::string &grid) {
             Tuning t;
             t.threads = threads;
             t.vectorBytes = vectorBytes;
             t.resident = resident;
             t.form = form;
             t.rows = rows;
             t.stages = stages;
             t.cluster = cluster;
             t.ctasPerSM = ctasPerSM;
             t.grid = grid;
             return t;
           }),
           py::arg("threads") = 0, py::arg("vector_bytes") = 16,
           py::arg("resident") = "auto", py::arg("form") = "auto",
           py::arg("rows") = 0, py::arg("stages") = 0, py::arg("cluster") = 0,
           py::arg("ctas_per_sm") = 0, py::arg("grid") = "auto")
      .def_readwrite("threads", &Tuning::threads)
      .def_readwrite("vector_bytes", &Tuning::vectorBytes)
      .def_readwrite("resident", &Tuning::resident)
      .def_readwrite("form", &Tuning::form)
      .def_readwrite("rows", &Tuning::rows)
      .def_readwrite("stages", &Tuning::stages)
      .def_readwrite("cluster", &Tuning::cluster)
      .def_readwrite("ctas_per_sm", &Tuning::ctasPerSM)
      .def_readwrite("grid", &Tuning::grid)
      .def("__repr__", [](const Tuning &t) {
        return "Tuning(threads=" + std::to_string(t.threads) +
               ", vector_bytes=" + std::to_string(t.vectorBytes) +
               ", resident='" + t.resident + "', form='" + t.form +
               "', rows=" + std::to_string(t.rows) +
               ", stages=" + std::to_string(t.stages) +
               ", cluster=" + std::to_string(t.cluster) +
               ", ctas_per_sm=" + std::to_string(t.ctasPerSM) + ", grid='" +
               t.grid + "')";
      });

  py::class_<KernelSpec>(m, "KernelSpec", "One kernel specialization.")
      .def(py::init(&makeSpec), py::arg("n"), py::arg("d"),
           py::arg("dtype") = "bf16", py::arg("direction") = "forward",
           py::arg("arch") = "", py::arg("eps") = 1e-6f,
           py::arg("tuning") = Tuning())
      .def_readonly("n", &KernelSpec::numSources)
      .def_readonly("d", &KernelSpec::width)
      .def_property_readonly("dtype",
                             [](const KernelSpec &s) { return toString(s.dtype); })
      .def_property_readonly(
          "direction",
          [](const KernelSpec &s) {
            return s.direction == Direction::Forward ? "forward" : "backward";
          })
      .def_readonly("arch", &KernelSpec::arch)
      .def_readonly("eps", &KernelSpec::eps)
      .def_readonly("tuning", &KernelSpec::tuning)
      .def_property_readonly("name", &kernelName)
      .def_property_readonly("program", &buildProgram,
                             "the attnres-dialect program of the spec")
      .def_property_readonly("fingerprint", &fingerprint)
      .def("__repr__", [](const KernelSpec &s) {
        return "KernelSpec(" + kernelName(s) + ", arch=" + s.arch + ")";
      });

  py::class_<CompileResult>(m, "CompileResult",
                            "What compile() found or built for one spec.")
      .def_readonly("spec", &CompileResult::spec)
      .def_readonly("ptx", &CompileResult::ptx)
      .def_readonly("kernel_ir", &CompileResult::kernelIR)
      .def_property_readonly("entries",
                             [](const CompileResult &r) {
                               py::list out;
                               for (const KernelEntry &e : r.entries)
                                 out.append(entryDict(e));
                               return out;
                             })
      .def_property_readonly("resources",
                             [](const CompileResult &r) {
                               py::list out;
                               for (const ResourceReport &x : r.resources)
                                 out.append(resourceDict(x));
                               return out;
                             })
      .def_readonly("ptxas_error", &CompileResult::ptxasError)
      .def_readonly("cache_dir", &CompileResult::cacheDirectory)
      .def_readonly("cache_key", &CompileResult::cacheKey)
      .def_readonly("cache_key_text", &CompileResult::cacheKeyText)
      .def_property_readonly(
          "origin", [](const CompileResult &r) { return toString(r.origin); });

  m.def(
      "compile",
      [](const KernelSpec &spec, bool ptxas) {
        py::gil_scoped_release release;
        return Runtime::get().compile(spec, ptxas);
      },
      py::arg("spec"), py::arg("ptxas") = true,
      "Compiles (or finds in the cache) one spec; needs no GPU.");

  m.def(
      "compile_stages",
      [](const KernelSpec &spec) {
        std::vector<IRStage> stages;
        std::string error;
        {
          py::gil_scoped_release release;
          if (!compileToPTXWithStages(spec, stages, error))
            throw Error(ErrorKind::Compile, error);
        }
        py::list out;
        for (IRStage &stage : stages)
          out.append(py::make_tuple(stage.pass, stage.ir));
        return out;
      },
      py::arg("spec"),
      "The program and the module after every pass of the pipeline, as "
      "(pass, ir) pairs; bypasses the cache.");

  m.def("find_ptxas", &findPtxas, "ptxas of the CUDA toolkit, or ''.");
}

} // namespace attnres::python
