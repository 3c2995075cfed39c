//===- Specialize.cpp - attnres-specialize pass (placeholder) ---===//

#include "lowering/Passes.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESSPECIALIZEPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct AttnResSpecializePass
    : attnres::impl::AttnResSpecializePassBase<AttnResSpecializePass> {
  using AttnResSpecializePassBase::AttnResSpecializePassBase;
  void runOnOperation() override {
    getOperation().emitError("attnres-specialize is not implemented yet");
    signalPassFailure();
  }
};
} // namespace
