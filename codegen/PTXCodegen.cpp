//===- PTXCodegen.cpp - KernelSpec -> PTX, and ptxas reports --------------===//

#include "codegen/PTXCodegen.h"

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

using namespace mlir;

namespace attnres {
namespace {

/// Exactly what the attnres-to-ptx pipeline needs, not registerAll*: the
/// static build then links only these dialects, conversions and
/// translations.
const DialectRegistry &compilerRegistry() {
  static DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    r->insert<mlir::attnres::AttnResDialect, arith::ArithDialect,
              cf::ControlFlowDialect, func::FuncDialect, gpu::GPUDialect,
              index::IndexDialect, LLVM::LLVMDialect, math::MathDialect,
              memref::MemRefDialect, NVVM::NVVMDialect, scf::SCFDialect,
              tensor::TensorDialect, ub::UBDialect>();
    // convert-gpu-to-nvvm lowers every loaded dialect through its
    // ConvertToLLVMPatternInterface.
    arith::registerConvertArithToLLVMInterface(*r);
    cf::registerConvertControlFlowToLLVMInterface(*r);
    registerConvertFuncToLLVMInterface(*r);
    index::registerConvertIndexToLLVMInterface(*r);
    registerConvertMathToLLVMInterface(*r);
    registerConvertMemRefToLLVMInterface(*r);
    registerConvertNVVMToLLVMInterface(*r);
    ub::registerConvertUBToLLVMInterface(*r);
    // nvvm-attach-target and gpu-module-to-binary.
    NVVM::registerNVVMTargetInterfaceExternalModels(*r);
    registerBuiltinDialectTranslation(*r);
    registerGPUDialectTranslation(*r);
    registerLLVMDialectTranslation(*r);
    registerNVVMDialectTranslation(*r);
    return r;
  }();
  return *registry;
}

/// The PTX ISA version a chip needs at least (CUDA 13 accepts 7.8 to 9.0).
std::string ptxFeatures(const std::string &arch) {
  return arch.rfind("sm_90", 0) == 0 || arch.rfind("sm_10", 0) == 0 ? "+ptx80"
                                                                    : "+ptx78";
}

/// Records the whole module after every pass (nested ones included). The
/// adaptors that run a nested pipeline have no argument and are skipped:
/// their passes are recorded one by one.
class StageRecorder : public PassInstrumentation {
public:
  explicit StageRecorder(std::vector<IRStage> &stages) : stages(stages) {}

  void runAfterPass(Pass *pass, Operation *op) override {
    if (pass->getArgument().empty())
      return;
    Operation *top = op;
    while (Operation *parent = top->getParentOp())
      top = parent;
    IRStage stage;
    stage.pass = pass->getArgument().str();
    llvm::raw_string_ostream os(stage.ir);
    top->print(os);
    stages.push_back(std::move(stage));
  }

private:
  std::vector<IRStage> &stages;
};

std::optional<CompiledKernel> compile(const KernelSpec &spec,
                                      std::string &error,
                                      std::vector<IRStage> *stages) {
  if (std::string invalid = validate(spec); !invalid.empty()) {
    error = "unsupported kernel spec: " + invalid;
    return std::nullopt;
  }
  MLIRContext context(compilerRegistry(), MLIRContext::Threading::DISABLED);
  std::string diagnostics;
  llvm::raw_string_ostream diagStream(diagnostics);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context, diagStream);

  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(buildProgram(spec), &context);
  if (!module) {
    error = "internal error: generated program does not parse:\n" + diagnostics;
    return std::nullopt;
  }
  if (stages)
    stages->push_back({"input", buildProgram(spec)});

  mlir::attnres::ToPTXPipelineOptions options;
  // buildProgram() pins N, D and dtype already: no specialize step.
  options.chip = spec.arch;
  options.features = ptxFeatures(spec.arch);
  options.threadsPerBlock = spec.tuning.threads;
  options.vectorBytes = spec.tuning.vectorBytes;
  options.resident = spec.tuning.resident;
  options.form = spec.tuning.form;
  options.rows = spec.tuning.rows;
  options.stages = spec.tuning.stages;
  options.cluster = spec.tuning.cluster;
  options.ctasPerSM = spec.tuning.ctasPerSM;

  PassManager toKernels(&context);
  if (stages)
    toKernels.addInstrumentation(std::make_unique<StageRecorder>(*stages));
  mlir::attnres::buildToGPUKernelsPipeline(toKernels, options);
  if (failed(toKernels.run(*module))) {
    error = "lowering to GPU kernels failed:\n" + diagnostics;
    return std::nullopt;
  }

  CompiledKernel kernel;
  kernel.spec = spec;
  llvm::raw_string_ostream irStream(kernel.kernelIR);
  module->walk([&](gpu::GPUFuncOp func) {
    KernelEntry entry;
    entry.name = func.getName().str();
    if (std::optional<ArrayRef<int32_t>> block = func.getKnownBlockSize())
      entry.threads = (*block)[0];
    if (auto elems = func->getAttrOfType<IntegerAttr>("attnres.vector_elems"))
      entry.vectorElems = elems.getInt();
    if (auto bytes =
            func->getAttrOfType<IntegerAttr>("attnres.dynamic_shared_bytes"))
      entry.dynamicSharedBytes = bytes.getInt();
    if (auto size = func->getAttrOfType<IntegerAttr>("attnres.cluster_size"))
      entry.clusterSize = size.getInt();
    if (auto layout = func->getAttrOfType<StringAttr>("attnres.layout"))
      entry.layout = layout.str();
    kernel.entries.push_back(entry);
  });
  module->print(irStream);

  PassManager toPTX(&context);
  if (stages)
    toPTX.addInstrumentation(std::make_unique<StageRecorder>(*stages));
  mlir::attnres::buildGPUKernelsToPTXPipeline(toPTX, options);
  if (failed(toPTX.run(*module))) {
    error = "lowering to PTX failed:\n" + diagnostics;
    return std::nullopt;
  }
  module->walk([&](gpu::BinaryOp binary) {
    for (Attribute attr : binary.getObjects())
      kernel.ptx += cast<gpu::ObjectAttr>(attr).getObject().getValue().str();
  });
  if (kernel.ptx.empty()) {
    error = "internal error: the pipeline produced no PTX";
    return std::nullopt;
  }
  // An unresolved external would only fail at load time on the GPU.
  if (kernel.ptx.find(".extern .func") != std::string::npos) {
    error = "internal error: PTX calls an unresolved external function";
    return std::nullopt;
  }
  return kernel;
}

} // namespace

std::optional<CompiledKernel> compileToPTX(const KernelSpec &spec,
                                           std::string &error) {
  return compile(spec, error, nullptr);
}

std::optional<CompiledKernel>
compileToPTXWithStages(const KernelSpec &spec, std::vector<IRStage> &stages,
                       std::string &error) {
  stages.clear();
  return compile(spec, error, &stages);
}

std::string findPtxas() {
  if (const char *env = std::getenv("ATTNRES_PTXAS"))
    return env;
  std::string configured = std::string(ATTNRES_CUDA_ROOT) + "/bin/ptxas";
  if (llvm::sys::fs::can_execute(configured))
    return configured;
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  return "";
}

std::optional<std::vector<ResourceReport>>
assembleWithPtxas(const std::string &ptx, const std::string &arch,
                  std::string &error, const std::string &ptxasPath) {
  std::string ptxas = ptxasPath.empty() ? findPtxas() : ptxasPath;
  if (ptxas.empty()) {
    error = "ptxas not found (set ATTNRES_PTXAS or install the CUDA toolkit)";
    return std::nullopt;
  }
  SmallString<128> input, output, log;
  if (llvm::sys::fs::createTemporaryFile("attnres", "ptx", input) ||
      llvm::sys::fs::createTemporaryFile("attnres", "cubin", output) ||
      llvm::sys::fs::createTemporaryFile("attnres", "log", log)) {
    error = "cannot create temporary files for ptxas";
    return std::nullopt;
  }
  llvm::scope_exit cleanup([&] {
    llvm::sys::fs::remove(input);
    llvm::sys::fs::remove(output);
    llvm::sys::fs::remove(log);
  });
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(input, ec);
    out << ptx;
  }
  std::string archFlag = "-arch=" + arch;
  SmallVector<StringRef> args = {ptxas, "-v", archFlag, input, "-o", output};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string execError;
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/120, 0, &execError);
  auto text = llvm::MemoryBuffer::getFile(log);
  std::string report = text ? (*text)->getBuffer().str() : "";
  if (status != 0) {
    error = "ptxas failed (" + std::to_string(status) + "): " + execError +
            "\n" + report;
    return std::nullopt;
  }
  // ptxas -v prints, per entry: "Compiling entry function 'name'", then
  // "N bytes stack frame, N bytes spill stores, N bytes spill loads" and
  // "Used N registers, ... N bytes smem".
  std::vector<ResourceReport> reports;
  llvm::Regex entryRe("Compiling entry function '([A-Za-z0-9_]+)'");
  llvm::Regex frameRe("([0-9]+) bytes stack frame, ([0-9]+) bytes spill "
                      "stores, ([0-9]+) bytes spill loads");
  llvm::Regex regsRe("Used ([0-9]+) registers");
  llvm::Regex smemRe("([0-9]+) bytes smem");
  SmallVector<StringRef> lines;
  StringRef(report).split(lines, '\n');
  for (StringRef line : lines) {
    SmallVector<StringRef> m;
    if (entryRe.match(line, &m)) {
      reports.emplace_back();
      reports.back().entry = m[1].str();
    } else if (reports.empty()) {
      continue;
    } else if (frameRe.match(line, &m)) {
      m[1].getAsInteger(10, reports.back().stackFrameBytes);
      m[2].getAsInteger(10, reports.back().spillStoreBytes);
      m[3].getAsInteger(10, reports.back().spillLoadBytes);
    } else if (regsRe.match(line, &m)) {
      m[1].getAsInteger(10, reports.back().registers);
      SmallVector<StringRef> s;
      if (smemRe.match(line, &s))
        s[1].getAsInteger(10, reports.back().sharedBytes);
    }
  }
  if (reports.empty()) {
    error = "could not read the ptxas report:\n" + report;
    return std::nullopt;
  }
  return reports;
}

std::string toJSON(const CompiledKernel &kernel) {
  const KernelSpec &spec = kernel.spec;
  llvm::json::Array entries;
  for (const KernelEntry &entry : kernel.entries)
    entries.push_back(llvm::json::Object{{"name", entry.name},
                                         {"threads", entry.threads},
                                         {"vector_elems", entry.vectorElems},
                                         {"dynamic_shared_bytes",
                                          entry.dynamicSharedBytes},
                                         {"cluster_size", entry.clusterSize},
                                         {"layout", entry.layout}});
  llvm::json::Object root{
      {"format", "attnres-kernel-1"},
      {"attnres_version", ATTNRES_VERSION},
      {"llvm_version", ATTNRES_LLVM_VERSION},
      {"name", kernelName(spec)},
      {"n", spec.numSources},
      {"d", spec.width},
      {"dtype", toString(spec.dtype)},
      {"direction", toString(spec.direction)},
      {"arch", spec.arch},
      {"eps", static_cast<double>(spec.eps)},
      {"threads_option", spec.tuning.threads},
      {"vector_bytes", spec.tuning.vectorBytes},
      {"resident", spec.tuning.resident},
      {"form", spec.tuning.form},
      {"rows", spec.tuning.rows},
      {"stages", spec.tuning.stages},
      {"cluster", spec.tuning.cluster},
      {"ctas_per_sm", spec.tuning.ctasPerSM},
      {"grid", launchesPerToken(spec) ? "tokens" : "persistent"},
      {"fingerprint", fingerprint(spec)},
      {"entries", std::move(entries)},
  };
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root)));
  return text;
}

} // namespace attnres
