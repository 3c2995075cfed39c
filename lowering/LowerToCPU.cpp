//===- LowerToCPU.cpp - attnres-lower-to-cpu pass (placeholder) ---===//

#include "lowering/Passes.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESLOWERTOCPUPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct AttnResLowerToCPUPass
    : attnres::impl::AttnResLowerToCPUPassBase<AttnResLowerToCPUPass> {
  using AttnResLowerToCPUPassBase::AttnResLowerToCPUPassBase;
  void runOnOperation() override {
    getOperation().emitError("attnres-lower-to-cpu is not implemented yet");
    signalPassFailure();
  }
};
} // namespace
