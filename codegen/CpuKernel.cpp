//===- CpuKernel.cpp - attnres programs JIT-compiled for the host --------===//

#include "codegen/CpuKernel.h"

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/ControlFlow/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Linalg/Transforms/AllInterfaces.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>

using namespace mlir;

namespace attnres {

namespace {

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "attnres cpu: " + message);
}

int64_t bytesOf(DType dtype) { return elementBytes(dtype); }

std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (auto [i, extent] : llvm::enumerate(shape))
    text += (i ? ", " : "") +
            (extent < 0 ? std::string("?") : std::to_string(extent));
  return text + "]";
}

/// Records a function's tensor signature; fails on any other type.
llvm::Expected<CpuTensorType> tensorTypeOf(Type type, StringRef function,
                                           StringRef what) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  std::string typeText;
  llvm::raw_string_ostream os(typeText);
  type.print(os);
  if (!tensor)
    return error("function '" + function + "': " + what + " has type " +
                 typeText + "; only ranked tensors can cross the boundary");
  CpuTensorType result;
  Type element = tensor.getElementType();
  if (element.isF32())
    result.dtype = DType::F32;
  else if (element.isF16())
    result.dtype = DType::F16;
  else if (element.isBF16())
    result.dtype = DType::BF16;
  else
    return error("function '" + function + "': " + what + " has type " +
                 typeText + "; element types are f32, f16 or bf16");
  for (int64_t extent : tensor.getShape())
    result.shape.push_back(ShapedType::isDynamic(extent) ? -1 : extent);
  return result;
}

void registerDialects(DialectRegistry &registry) {
  registry
      .insert<mlir::attnres::AttnResDialect, affine::AffineDialect,
              arith::ArithDialect, bufferization::BufferizationDialect,
              cf::ControlFlowDialect, func::FuncDialect, linalg::LinalgDialect,
              LLVM::LLVMDialect, math::MathDialect, memref::MemRefDialect,
              scf::SCFDialect, tensor::TensorDialect, ub::UBDialect>();
  // One-shot bufferization and the ownership-based deallocation find their
  // per-op behaviour through these external models.
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  arith::registerBufferDeallocationOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  cf::registerBufferizableOpInterfaceExternalModels(registry);
  cf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  linalg::registerAllDialectInterfaceImplementations(registry);
  memref::registerAllocationOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  scf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
}

/// A memref descriptor as the C interface lays it out: allocated pointer,
/// aligned pointer, offset, sizes[rank], strides[rank], all 8 bytes wide
/// (StridedMemRefType<T, rank> of CRunnerUtils.h).
constexpr size_t descriptorWords(size_t rank) { return 3 + 2 * rank; }

void *wordToPointer(int64_t word) {
  void *pointer;
  std::memcpy(&pointer, &word, sizeof(pointer));
  return pointer;
}

int64_t pointerToWord(const void *pointer) {
  int64_t word;
  std::memcpy(&word, &pointer, sizeof(word));
  return word;
}

/// Copies a strided source of `sizes` into a contiguous row-major target.
void copyStrided(const char *source, llvm::ArrayRef<int64_t> sizes,
                 llvm::ArrayRef<int64_t> strides, int64_t elementBytes,
                 char *target) {
  size_t rank = sizes.size();
  int64_t count = 1;
  bool rowMajor = true;
  for (size_t dim = rank; dim-- > 0;) {
    rowMajor &= sizes[dim] == 1 || strides[dim] == count;
    count *= sizes[dim];
  }
  if (count == 0)
    return;
  if (rowMajor) {
    std::memcpy(target, source, count * elementBytes);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  for (int64_t linear = 0; linear < count; ++linear) {
    int64_t offset = 0;
    for (size_t dim = 0; dim < rank; ++dim)
      offset += index[dim] * strides[dim];
    std::memcpy(target + linear * elementBytes, source + offset * elementBytes,
                elementBytes);
    for (size_t dim = rank; dim-- > 0;) {
      if (++index[dim] < sizes[dim])
        break;
      index[dim] = 0;
    }
  }
}

} // namespace

CpuKernel::~CpuKernel() = default;

llvm::Expected<std::unique_ptr<CpuKernel>>
CpuKernel::compile(const KernelSpec &spec) {
  // The GPU fields do not matter here: validate N, D, dtype and eps only.
  KernelSpec cpuFields = spec;
  cpuFields.arch = KernelSpec().arch;
  cpuFields.tuning = Tuning();
  std::string invalid = validate(cpuFields);
  if (!invalid.empty())
    return error("invalid spec: " + invalid);
  auto kernel = compileSource(buildProgram(spec));
  if (!kernel)
    return kernel.takeError();
  (*kernel)->spec = std::make_unique<KernelSpec>(spec);
  return kernel;
}

llvm::Expected<std::unique_ptr<CpuKernel>>
CpuKernel::compileSource(llvm::StringRef source) {
  auto start = std::chrono::steady_clock::now();
  static std::once_flag nativeTarget;
  std::call_once(nativeTarget, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });

  DialectRegistry registry;
  registerDialects(registry);
  // One kernel is a handful of small functions: threads cost more than
  // they save, and callers may compile from several threads of their own.
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream(diagnostics);
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    diagnosticStream << "\n  " << diagnostic.getLocation() << ": "
                     << diagnostic;
    for (const Diagnostic &note : diagnostic.getNotes())
      diagnosticStream << "\n    note: " << note;
    return success();
  });

  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
  if (!module)
    return error("cannot parse the program:" + diagnostics);

  std::unique_ptr<CpuKernel> kernel(new CpuKernel());
  kernel->sourceText = source.str();
  for (auto function : module->getOps<func::FuncOp>()) {
    if (function.isDeclaration())
      continue;
    CpuFunction signature;
    signature.name = function.getSymName().str();
    for (auto [i, type] : llvm::enumerate(function.getArgumentTypes())) {
      auto tensor =
          tensorTypeOf(type, signature.name, "argument #" + std::to_string(i));
      if (!tensor)
        return tensor.takeError();
      signature.arguments.push_back(*tensor);
    }
    for (auto [i, type] : llvm::enumerate(function.getResultTypes())) {
      auto tensor =
          tensorTypeOf(type, signature.name, "result #" + std::to_string(i));
      if (!tensor)
        return tensor.takeError();
      signature.results.push_back(*tensor);
    }
    kernel->functionList.push_back(std::move(signature));
  }
  if (kernel->functionList.empty())
    return error("the program defines no function");

  PassManager pm(&context);
  mlir::attnres::buildToCPUPipeline(pm);
  if (failed(pm.run(*module)))
    return error("the attnres-to-cpu pipeline failed:" + diagnostics);

  auto hostBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!hostBuilder)
    return hostBuilder.takeError();
  auto optimizerMachine = hostBuilder->createTargetMachine();
  if (!optimizerMachine)
    return optimizerMachine.takeError();
  auto codegenMachine = hostBuilder->createTargetMachine();
  if (!codegenMachine)
    return codegenMachine.takeError();
  auto optimizer = makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0,
                                             optimizerMachine->get());
  ExecutionEngineOptions options;
  options.transformer = optimizer;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
  // No debugger or profiler hooks: they register every object globally.
  options.enableGDBNotificationListener = false;
  options.enablePerfNotificationListener = false;
  auto engine =
      ExecutionEngine::create(*module, options, std::move(*codegenMachine));
  if (!engine)
    return engine.takeError();
  kernel->engine = std::move(*engine);
  kernel->engine->initialize();
  for (const CpuFunction &function : kernel->functionList) {
    auto entry = kernel->engine->lookupPacked("_mlir_ciface_" + function.name);
    if (!entry)
      return entry.takeError();
    kernel->entries.push_back(*entry);
  }
  kernel->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return kernel;
}

const CpuFunction *CpuKernel::find(llvm::StringRef name) const {
  for (const CpuFunction &function : functionList)
    if (function.name == name)
      return &function;
  return nullptr;
}

llvm::Error CpuKernel::run(llvm::StringRef name,
                           llvm::ArrayRef<CpuInput> inputs,
                           llvm::ArrayRef<CpuOutput> outputs) const {
  const CpuFunction *function = find(name);
  if (!function)
    return error("no function '" + name + "' in the program");
  auto entry = entries[function - functionList.data()];
  if (inputs.size() != function->arguments.size() ||
      outputs.size() != function->results.size())
    return error(
        "'" + name + "' takes " + std::to_string(function->arguments.size()) +
        " inputs and returns " + std::to_string(function->results.size()) +
        " results; got " + std::to_string(inputs.size()) + " inputs and " +
        std::to_string(outputs.size()) + " outputs");

  auto check = [&](const CpuTensorType &expected, DType dtype,
                   llvm::ArrayRef<int64_t> shape, const void *data,
                   const std::string &what) -> llvm::Error {
    if (dtype != expected.dtype)
      return error("'" + name + "' " + what + ": element type " +
                   toString(dtype) + ", expected " + toString(expected.dtype));
    bool matches = shape.size() == expected.shape.size();
    for (size_t dim = 0; matches && dim < shape.size(); ++dim)
      matches = shape[dim] >= 0 &&
                (expected.shape[dim] < 0 || expected.shape[dim] == shape[dim]);
    if (!matches)
      return error("'" + name + "' " + what + ": shape " + shapeText(shape) +
                   " does not fit " + shapeText(expected.shape));
    int64_t count = 1;
    for (int64_t extent : shape)
      count *= extent;
    if (!data && count != 0)
      return error("'" + name + "' " + what + ": null data pointer");
    return llvm::Error::success();
  };

  // Argument descriptors, row-major and contiguous.
  std::vector<std::vector<int64_t>> descriptors;
  for (auto [i, input] : llvm::enumerate(inputs)) {
    if (llvm::Error e = check(function->arguments[i], input.dtype, input.shape,
                              input.data, "input #" + std::to_string(i)))
      return e;
    size_t rank = input.shape.size();
    std::vector<int64_t> words(descriptorWords(rank));
    words[0] = words[1] = pointerToWord(input.data);
    words[2] = 0;
    int64_t stride = 1;
    for (size_t dim = rank; dim-- > 0;) {
      words[3 + dim] = input.shape[dim];
      words[3 + rank + dim] = stride;
      stride *= input.shape[dim];
    }
    descriptors.push_back(std::move(words));
  }
  for (auto [i, output] : llvm::enumerate(outputs))
    if (llvm::Error e = check(function->results[i], output.dtype, output.shape,
                              output.data, "output #" + std::to_string(i)))
      return e;

  // The results come back as one struct of descriptors, passed by pointer
  // ahead of the arguments.
  size_t resultWords = 0;
  for (const CpuTensorType &result : function->results)
    resultWords += descriptorWords(result.shape.size());
  std::vector<int64_t> results(resultWords, 0);
  void *resultPointer = results.data();
  std::vector<void *> descriptorPointers;
  for (auto &words : descriptors)
    descriptorPointers.push_back(words.data());
  std::vector<void *> packed;
  if (!function->results.empty())
    packed.push_back(&resultPointer);
  for (void *&pointer : descriptorPointers)
    packed.push_back(&pointer);
  entry(packed.data());

  // Copy out, then free every buffer the code allocated, once: two results
  // may share one buffer. The pipeline clones results that would alias an
  // argument or a constant, so every allocated pointer belongs to us.
  llvm::Error status = llvm::Error::success();
  std::vector<void *> allocations;
  size_t at = 0;
  for (auto [i, output] : llvm::enumerate(outputs)) {
    size_t rank = output.shape.size();
    const int64_t *words = results.data() + at;
    at += descriptorWords(rank);
    void *allocated = wordToPointer(words[0]);
    if (allocated && !llvm::is_contained(allocations, allocated))
      allocations.push_back(allocated);
    llvm::ArrayRef<int64_t> sizes(words + 3, rank);
    llvm::ArrayRef<int64_t> strides(words + 3 + rank, rank);
    if (sizes != llvm::ArrayRef<int64_t>(output.shape)) {
      if (!status)
        status = error("'" + name + "' result #" + std::to_string(i) +
                       " has shape " + shapeText(sizes) +
                       ", the output buffer " + shapeText(output.shape));
      continue;
    }
    int64_t bytes = bytesOf(output.dtype);
    const char *base =
        static_cast<const char *>(wordToPointer(words[1])) + words[2] * bytes;
    copyStrided(base, sizes, strides, bytes, static_cast<char *>(output.data));
  }
  for (void *allocated : allocations)
    std::free(allocated);
  return status;
}

llvm::Error CpuKernel::forward(int64_t numTokens, const void *values,
                               const float *query, const float *normWeight,
                               void *h, float *alpha, float *rstd) const {
  if (!spec || spec->direction != Direction::Forward)
    return error("forward() needs a kernel compiled from a forward spec");
  int64_t n = spec->numSources, d = spec->width;
  return run(kernelName(*spec),
             {{values, spec->dtype, {n, numTokens, d}},
              {query, DType::F32, {d}},
              {normWeight, DType::F32, {d}}},
             {{h, spec->dtype, {numTokens, d}},
              {alpha, DType::F32, {numTokens, n}},
              {rstd, DType::F32, {numTokens, n}}});
}

llvm::Error CpuKernel::backward(int64_t numTokens, const void *gradH,
                                const void *values, const float *query,
                                const float *normWeight, const float *alpha,
                                const float *rstd, void *gradValues,
                                float *gradQuery, float *gradNormWeight) const {
  if (!spec || spec->direction != Direction::Backward)
    return error("backward() needs a kernel compiled from a backward spec");
  int64_t n = spec->numSources, d = spec->width;
  return run(kernelName(*spec),
             {{gradH, spec->dtype, {numTokens, d}},
              {values, spec->dtype, {n, numTokens, d}},
              {query, DType::F32, {d}},
              {normWeight, DType::F32, {d}},
              {alpha, DType::F32, {numTokens, n}},
              {rstd, DType::F32, {numTokens, n}}},
             {{gradValues, spec->dtype, {n, numTokens, d}},
              {gradQuery, DType::F32, {d}},
              {gradNormWeight, DType::F32, {d}}});
}

} // namespace attnres
