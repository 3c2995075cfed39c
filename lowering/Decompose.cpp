//===- Decompose.cpp - attnres-decompose pass (placeholder) ---===//

#include "lowering/Passes.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESDECOMPOSEPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;

namespace {
struct AttnResDecomposePass
    : attnres::impl::AttnResDecomposePassBase<AttnResDecomposePass> {
  using AttnResDecomposePassBase::AttnResDecomposePassBase;
  void runOnOperation() override {
    getOperation().emitError("attnres-decompose is not implemented yet");
    signalPassFailure();
  }
};
} // namespace
