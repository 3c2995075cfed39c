//===- Pipelines.cpp - attnres-to-ptx, attnres-to-cpu and attnres-dump-ptx ===//

#include "lowering/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESDUMPPTXPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

struct AttnResDumpPTXPass
    : attnres::impl::AttnResDumpPTXPassBase<AttnResDumpPTXPass> {
  using AttnResDumpPTXPassBase::AttnResDumpPTXPassBase;

  void runOnOperation() override {
    getOperation().walk([&](gpu::BinaryOp binary) {
      for (Attribute attr : binary.getObjects()) {
        auto object = cast<gpu::ObjectAttr>(attr);
        if (object.getFormat() != gpu::CompilationTarget::Assembly) {
          binary.emitError("attnres-dump-ptx: binary holds no PTX assembly "
                           "(serialize with format=isa)");
          return signalPassFailure();
        }
        SmallString<256> path(directory);
        llvm::sys::path::append(path, binary.getSymName() + ".ptx");
        std::error_code error;
        llvm::raw_fd_ostream out(path, error, llvm::sys::fs::OF_Text);
        if (error) {
          binary.emitError() << "attnres-dump-ptx: cannot write '" << path
                             << "': " << error.message();
          return signalPassFailure();
        }
        out << object.getObject().getValue();
      }
    });
  }
};

} // namespace

/// Shared memory one CTA may opt into on `chip` (CUDA programming guide,
/// compute capabilities table).
static int64_t sharedMemoryLimit(StringRef chip) {
  if (chip.starts_with("sm_90"))
    return 227 * 1024;
  if (chip == "sm_80" || chip == "sm_87")
    return 163 * 1024;
  if (chip == "sm_86" || chip == "sm_89")
    return 99 * 1024;
  return 48 * 1024;
}

void mlir::attnres::buildToGPUKernelsPipeline(
    OpPassManager &pm, const ToPTXPipelineOptions &options) {
  // Programs built from a KernelSpec are static already; specialize those
  // that a user wrote with dynamic N or D.
  if (options.numSources || options.width || !options.dtype.empty()) {
    AttnResSpecializePassOptions specialize;
    specialize.numSources = options.numSources;
    specialize.width = options.width;
    specialize.dtype = options.dtype;
    pm.addPass(createAttnResSpecializePass(specialize));
  }
  // No canonicalization here: the N = 1 folds would dissolve the fused op,
  // and the runtime needs a kernel for every N.

  AttnResLowerToGPUPassOptions lower;
  lower.threadsPerBlock = options.threadsPerBlock;
  lower.vectorBytes = options.vectorBytes;
  lower.resident = options.resident;
  lower.form = options.form;
  lower.rows = options.rows;
  lower.stages = options.stages;
  lower.sharedBytes = sharedMemoryLimit(options.chip);
  lower.cluster = options.cluster;
  lower.ctasPerSM = options.ctasPerSM;
  // Thread-block clusters from sm_90 on: 8 CTAs portably, 16 as a
  // non-portable size on sm_90 and sm_100 (the runtime opts the kernel in).
  StringRef chip = options.chip;
  lower.clusterLimit = chip.starts_with("sm_9") || chip.starts_with("sm_10")
                           ? 16
                       : chip.starts_with("sm_12") ? 8
                                                   : 1;
  pm.addPass(createAttnResLowerToGPUPass(lower));
}

void mlir::attnres::buildGPUKernelsToPTXPipeline(
    OpPassManager &pm, const ToPTXPipelineOptions &options) {
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));

  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());

  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
  if (!options.dumpPTX.empty()) {
    AttnResDumpPTXPassOptions dump;
    dump.directory = options.dumpPTX;
    pm.addPass(createAttnResDumpPTXPass(dump));
  }
}

void mlir::attnres::buildToPTXPipeline(OpPassManager &pm,
                                       const ToPTXPipelineOptions &options) {
  buildToGPUKernelsPipeline(pm, options);
  buildGPUKernelsToPTXPipeline(pm, options);
}

// attnres-to-cpu. Post-conditions: no attnres, tensor, linalg, scf, memref
// or arith op remains, only llvm dialect; every function takes its tensors
// as memref descriptors (never written to) and returns freshly allocated
// memrefs (malloc) that the caller owns and frees, also where the value is a
// constant or aliases an argument (the ownership-based deallocation clones
// those); `_mlir_ciface_<name>` wrappers exist for every function; bf16
// conversions are integer code, so the JIT needs no runtime library.
void mlir::attnres::buildToCPUPipeline(OpPassManager &pm) {
  pm.addPass(createAttnResDecomposePass());
  pm.addPass(createAttnResLowerToCPUPass());
  pm.addPass(createCanonicalizerPass());
  // Tensor-level arith the decomposition leaves (sums of f32 gradients,
  // rounding to storage) becomes linalg so that it bufferizes.
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCSEPass());

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // The individual conversions, not convert-to-llvm: they need no
  // ConvertToLLVM interfaces in the context's registry.
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::attnres::registerPassesAndPipelines() {
  registerAttnResPasses();
  PassPipelineRegistration<ToPTXPipelineOptions>(
      "attnres-to-ptx",
      "Lower attnres ops to PTX kernels specialized for N, D, dtype and chip",
      buildToPTXPipeline);
  PassPipelineRegistration<>(
      "attnres-to-cpu",
      "Lower attnres ops to LLVM dialect host code for the ExecutionEngine",
      buildToCPUPipeline);
}
