//===- LowerToGPU.cpp - attnres-lower-to-gpu pass (placeholder) ---===//

#include "lowering/Passes.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESLOWERTOGPUPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct AttnResLowerToGPUPass
    : attnres::impl::AttnResLowerToGPUPassBase<AttnResLowerToGPUPass> {
  using AttnResLowerToGPUPassBase::AttnResLowerToGPUPassBase;
  void runOnOperation() override {
    getOperation().emitError("attnres-lower-to-gpu is not implemented yet");
    signalPassFailure();
  }
};
} // namespace
