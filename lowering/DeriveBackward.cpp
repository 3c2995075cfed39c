//===- DeriveBackward.cpp - attnres-derive-backward pass (placeholder) ---===//

#include "lowering/Passes.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESDERIVEBACKWARDPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct AttnResDeriveBackwardPass
    : attnres::impl::AttnResDeriveBackwardPassBase<AttnResDeriveBackwardPass> {
  using AttnResDeriveBackwardPassBase::AttnResDeriveBackwardPassBase;
  void runOnOperation() override {
    getOperation().emitError("attnres-derive-backward is not implemented yet");
    signalPassFailure();
  }
};
} // namespace
