//===- Decompose.cpp - Fused attnres ops to graph ops ---------------------===//
//
// attnres.forward  -> rms_rstd, score, depth_softmax, mix.
// attnres.backward -> mix_grad, depth_softmax_grad, score_grad, rms_rstd_grad,
//                     then dV = truncf((dV_mix + dV_score) + dV_rstd).
//
// The backward chain uses the saved alpha and rstd operands; score_grad
// recomputes the scores itself. The exact op order and the left-leaning sum
// are the structure that attnres-fuse recognizes and attnres-derive-backward
// emits.
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESDECOMPOSEPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// Reports the first variant of `op` that the graph ops cannot express yet.
template <typename FusedOp>
LogicalResult checkKimiVariant(FusedOp op) {
  auto reject = [&](const Twine &variant) {
    return op.emitOpError()
           << "variant " << variant << " is declared but not lowered yet";
  };
  if (op.getNormalizer() != Normalizer::softmax)
    return reject("normalizer = " + stringifyNormalizer(op.getNormalizer()));
  if (op.getNormTarget() != NormTarget::keys)
    return reject("norm_target = " + stringifyNormTarget(op.getNormTarget()));
  if (std::optional<uint64_t> valid = op.getNumValid())
    return reject("num_valid = " + Twine(*valid) + " (valid prefix)");
  if (cast<RankedTensorType>(op.getQuery().getType()).getRank() != 1)
    return reject("per-token query [M, D]");
  return success();
}

/// `type` with element type f32: the partial value gradients of the graph ops.
RankedTensorType asF32(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return RankedTensorType::get(tensor.getShape(),
                               Float32Type::get(type.getContext()));
}

void decomposeForward(ForwardOp op, RewriterBase &rewriter) {
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  Type statsType = op.getAlpha().getType();
  Value rstd = RmsRstdOp::create(rewriter, loc, op.getRstd().getType(),
                                 op.getValues(), op.getEpsAttr());
  Value scores = ScoreOp::create(rewriter, loc, statsType, op.getValues(), rstd,
                                 op.getQuery(), op.getNormWeight());
  Value alpha = DepthSoftmaxOp::create(rewriter, loc, statsType, scores);
  Value h =
      MixOp::create(rewriter, loc, op.getH().getType(), alpha, op.getValues());
  rewriter.replaceOp(op, {h, alpha, rstd});
}

void decomposeBackward(BackwardOp op, RewriterBase &rewriter) {
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  Value values = op.getValues();
  RankedTensorType partialType = asF32(values.getType());
  auto mixGrad =
      MixGradOp::create(rewriter, loc, op.getAlpha().getType(), partialType,
                        op.getGradH(), op.getAlpha(), values);
  Value gradScores =
      DepthSoftmaxGradOp::create(rewriter, loc, op.getAlpha().getType(),
                                 op.getAlpha(), mixGrad.getGradAlpha());
  auto scoreGrad = ScoreGradOp::create(
      rewriter, loc, partialType, op.getRstd().getType(),
      op.getGradQuery().getType(), op.getGradNormWeight().getType(), gradScores,
      values, op.getRstd(), op.getQuery(), op.getNormWeight());
  Value rstdGrad =
      RmsRstdGradOp::create(rewriter, loc, partialType, scoreGrad.getGradRstd(),
                            values, op.getRstd());
  // Sum in f32 in the order the chain produced the partials, round once.
  Value sum = arith::AddFOp::create(rewriter, loc, mixGrad.getGradValues(),
                                    scoreGrad.getGradValues());
  sum = arith::AddFOp::create(rewriter, loc, sum, rstdGrad);
  Type gradType = op.getGradValues().getType();
  if (sum.getType() != gradType)
    sum = arith::TruncFOp::create(rewriter, loc, gradType, sum);
  rewriter.replaceOp(
      op, {sum, scoreGrad.getGradQuery(), scoreGrad.getGradNormWeight()});
}

struct AttnResDecomposePass
    : attnres::impl::AttnResDecomposePassBase<AttnResDecomposePass> {
  using AttnResDecomposePassBase::AttnResDecomposePassBase;

  void runOnOperation() override {
    SmallVector<Operation *> fused;
    bool rejected = false;
    getOperation().walk([&](Operation *op) {
      if (auto forward = dyn_cast<ForwardOp>(op)) {
        rejected |= failed(checkKimiVariant(forward));
        fused.push_back(op);
      } else if (auto backward = dyn_cast<BackwardOp>(op)) {
        rejected |= failed(checkKimiVariant(backward));
        fused.push_back(op);
      }
    });
    // All-or-nothing: report every unsupported op before rewriting any.
    if (rejected)
      return signalPassFailure();

    IRRewriter rewriter(&getContext());
    for (Operation *op : fused) {
      if (auto forward = dyn_cast<ForwardOp>(op))
        decomposeForward(forward, rewriter);
      else
        decomposeBackward(cast<BackwardOp>(op), rewriter);
    }
  }
};

} // namespace
