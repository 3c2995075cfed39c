//===- Fuse.cpp - attnres-fuse pass (placeholder) ---===//

#include "lowering/Passes.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESFUSEPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct AttnResFusePass
    : attnres::impl::AttnResFusePassBase<AttnResFusePass> {
  using AttnResFusePassBase::AttnResFusePassBase;
  void runOnOperation() override {
    getOperation().emitError("attnres-fuse is not implemented yet");
    signalPassFailure();
  }
};
} // namespace
