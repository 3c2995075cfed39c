//===- Pipelines.cpp - attnres-to-ptx, attnres-to-cpu and attnres-dump-ptx ===//

#include "lowering/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
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

void mlir::attnres::buildToPTXPipeline(OpPassManager &pm,
                                       const ToPTXPipelineOptions &options) {
  AttnResSpecializePassOptions specialize;
  specialize.numSources = options.numSources;
  specialize.width = options.width;
  specialize.dtype = options.dtype;
  pm.addPass(createAttnResSpecializePass(specialize));
  pm.addPass(createCanonicalizerPass());

  AttnResLowerToGPUPassOptions lower;
  lower.threadsPerBlock = options.threadsPerBlock;
  lower.vectorBytes = options.vectorBytes;
  lower.resident = options.resident;
  pm.addPass(createAttnResLowerToGPUPass(lower));

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

void mlir::attnres::buildToCPUPipeline(OpPassManager &pm) {
  pm.addPass(createAttnResDecomposePass());
  pm.addPass(createAttnResLowerToCPUPass());
  pm.addPass(createCanonicalizerPass());
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
