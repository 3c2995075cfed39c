//===- Fuse.cpp - Graph-op chains back to fused attnres ops ---------------===//
//
// The inverse of attnres-decompose:
//   mix(depth_softmax(score(V, rms_rstd(V), q, g)), V)      -> attnres.forward
//   mix_grad -> depth_softmax_grad -> score_grad -> rms_rstd_grad, with the
//   three f32 value partials summed by arith.addf (any order or association)
//   and, below f32 storage, one arith.truncf                -> attnres.backward
//
// A chain is fused only when the fused op provides every value used outside
// it: the forward exposes h, alpha and rstd (not the scores), the backward
// dV, dq and dg (not dalpha, ds, drstd or the partial sums).
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESFUSEPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// The fused ops and the graph lowerings cover the learned [D] query only.
bool hasVectorQuery(Value query) {
  return cast<RankedTensorType>(query.getType()).getRank() == 1;
}

/// True if every op of `ops` lies in the block of the first one.
bool inOneBlock(ArrayRef<Operation *> ops) {
  return llvm::all_of(ops, [&](Operation *op) {
    return op->getBlock() == ops.front()->getBlock();
  });
}

/// True if every use of `value` other than by `except` sits after `anchor`
/// (so a fused op placed at `anchor` dominates it).
bool usesFollow(Value value, Operation *except, Operation *anchor) {
  Block *block = anchor->getBlock();
  for (Operation *user : value.getUsers()) {
    if (user == except)
      continue;
    Operation *ancestor = block->findAncestorOpInBlock(*user);
    if (!ancestor || ancestor->isBeforeInBlock(anchor))
      return false;
  }
  return true;
}

/// True if every value of `values` is defined before `anchor`.
bool definedBefore(ValueRange values, Operation *anchor,
                   DominanceInfo &dominance) {
  return llvm::all_of(values, [&](Value value) {
    return dominance.properlyDominates(value, anchor);
  });
}

/// eps of the rms_rstd or forward that produced `rstd`, else the default. The
/// backward math does not read eps (rstd is an input), so this only keeps it
/// visible.
FloatAttr epsOf(Value rstd, Builder &builder) {
  if (auto producer = rstd.getDefiningOp<RmsRstdOp>())
    return producer.getEpsAttr();
  if (auto producer = rstd.getDefiningOp<ForwardOp>())
    return producer.getEpsAttr();
  return builder.getF32FloatAttr(1.0e-6f);
}

/// mix(depth_softmax(score(V, rms_rstd(V), q, g)), V) -> attnres.forward.
LogicalResult fuseForward(MixOp mix, RewriterBase &rewriter,
                          DominanceInfo &dominance) {
  Value values = mix.getValues();
  auto softmax = mix.getAlpha().getDefiningOp<DepthSoftmaxOp>();
  if (!softmax)
    return failure();
  auto score = softmax.getScores().getDefiningOp<ScoreOp>();
  if (!score || score.getValues() != values ||
      !hasVectorQuery(score.getQuery()))
    return failure();
  auto rms = score.getRstd().getDefiningOp<RmsRstdOp>();
  if (!rms || rms.getValues() != values)
    return failure();
  // The scores are not a result of attnres.forward.
  if (!score.getScores().hasOneUse())
    return failure();
  if (!inOneBlock({rms, score, softmax, mix}))
    return failure();
  // The fused op replaces rms_rstd, whose users all follow it, if q and g
  // are defined there already; else it goes where the scores were computed,
  // if rstd has no other user before that.
  Value query = score.getQuery(), normWeight = score.getNormWeight();
  Operation *anchor = rms;
  if (!definedBefore({query, normWeight}, rms, dominance)) {
    if (!usesFollow(rms.getRstd(), score, score))
      return failure();
    anchor = score;
  }

  rewriter.setInsertionPoint(anchor);
  auto forward = ForwardOp::create(
      rewriter, mix.getLoc(),
      TypeRange{mix.getH().getType(), softmax.getAlpha().getType(),
                rms.getRstd().getType()},
      values, query, normWeight, rms.getEpsAttr(), NormalizerAttr(),
      NormTargetAttr(), IntegerAttr());
  rewriter.replaceOp(mix, forward.getH());
  rewriter.replaceOp(softmax, forward.getAlpha());
  rewriter.eraseOp(score);
  rewriter.replaceOp(rms, forward.getRstd());
  return success();
}

/// Collects the leaves of the arith.addf tree rooted at `root`; inner sums
/// must have no other use.
void collectSumLeaves(Value value, bool isRoot, SmallVectorImpl<Value> &leaves,
                      SmallVectorImpl<Operation *> &adds) {
  auto add = value.getDefiningOp<arith::AddFOp>();
  if (!add || (!isRoot && !value.hasOneUse())) {
    leaves.push_back(value);
    return;
  }
  adds.push_back(add);
  collectSumLeaves(add.getLhs(), /*isRoot=*/false, leaves, adds);
  collectSumLeaves(add.getRhs(), /*isRoot=*/false, leaves, adds);
}

/// The backward chain anchored at its mix_grad -> attnres.backward.
LogicalResult fuseBackward(MixGradOp mixGrad, RewriterBase &rewriter) {
  Value values = mixGrad.getValues();
  Value alpha = mixGrad.getAlpha();
  auto singleUser = [](Value value) -> Operation * {
    return value.hasOneUse() ? *value.getUsers().begin() : nullptr;
  };

  auto softmaxGrad =
      dyn_cast_or_null<DepthSoftmaxGradOp>(singleUser(mixGrad.getGradAlpha()));
  if (!softmaxGrad || softmaxGrad.getAlpha() != alpha ||
      softmaxGrad.getGradAlpha() != mixGrad.getGradAlpha())
    return failure();
  auto scoreGrad =
      dyn_cast_or_null<ScoreGradOp>(singleUser(softmaxGrad.getGradScores()));
  if (!scoreGrad || scoreGrad.getValues() != values ||
      scoreGrad.getGradScores() != softmaxGrad.getGradScores() ||
      !hasVectorQuery(scoreGrad.getQuery()))
    return failure();
  Value rstd = scoreGrad.getRstd();
  auto rstdGrad =
      dyn_cast_or_null<RmsRstdGradOp>(singleUser(scoreGrad.getGradRstd()));
  if (!rstdGrad || rstdGrad.getValues() != values || rstdGrad.getRstd() != rstd)
    return failure();

  // Climb from the mix partial to the top of its sum, then check that the
  // sum adds exactly the three partials.
  Value top = mixGrad.getGradValues();
  while (Operation *user = singleUser(top)) {
    auto add = dyn_cast<arith::AddFOp>(user);
    if (!add || add.getType() != top.getType())
      break;
    top = add.getResult();
  }
  SmallVector<Value> leaves;
  SmallVector<Operation *> adds;
  collectSumLeaves(top, /*isRoot=*/true, leaves, adds);
  SmallVector<Value> partials = {mixGrad.getGradValues(),
                                 scoreGrad.getGradValues(),
                                 rstdGrad.getGradValues()};
  if (leaves.size() != 3 || !llvm::all_of(partials, [&](Value partial) {
        return partial.hasOneUse() && llvm::is_contained(leaves, partial);
      }))
    return failure();

  // Below f32 the sum is rounded once to the storage type.
  Type valuesType = values.getType();
  Operation *root = top.getDefiningOp();
  Value gradValues = top;
  if (top.getType() != valuesType) {
    auto trunc = dyn_cast_or_null<arith::TruncFOp>(singleUser(top));
    if (!trunc || trunc.getType() != valuesType)
      return failure();
    root = trunc;
    gradValues = trunc.getResult();
  }

  SmallVector<Operation *> chain = {mixGrad, softmaxGrad, scoreGrad, rstdGrad};
  chain.append(adds.begin(), adds.end());
  chain.push_back(root);
  if (!inOneBlock(chain))
    return failure();

  // At the score_grad every operand is defined; dq, dg and dV are used
  // after it.
  rewriter.setInsertionPoint(scoreGrad);
  auto backward = BackwardOp::create(
      rewriter, root->getLoc(),
      TypeRange{valuesType, scoreGrad.getGradQuery().getType(),
                scoreGrad.getGradNormWeight().getType()},
      mixGrad.getGradH(), values, scoreGrad.getQuery(),
      scoreGrad.getNormWeight(), alpha, rstd, epsOf(rstd, rewriter),
      NormalizerAttr(), NormTargetAttr(), IntegerAttr());
  rewriter.replaceAllUsesWith(gradValues, backward.getGradValues());
  rewriter.replaceAllUsesWith(scoreGrad.getGradQuery(),
                              backward.getGradQuery());
  rewriter.replaceAllUsesWith(scoreGrad.getGradNormWeight(),
                              backward.getGradNormWeight());
  // Erase users before producers.
  if (root != top.getDefiningOp())
    rewriter.eraseOp(root);
  for (Operation *add : adds)
    rewriter.eraseOp(add);
  rewriter.eraseOp(rstdGrad);
  rewriter.eraseOp(scoreGrad);
  rewriter.eraseOp(softmaxGrad);
  rewriter.eraseOp(mixGrad);
  return success();
}

struct AttnResFusePass : attnres::impl::AttnResFusePassBase<AttnResFusePass> {
  using AttnResFusePassBase::AttnResFusePassBase;

  void runOnOperation() override {
    SmallVector<MixOp> mixes;
    SmallVector<MixGradOp> mixGrads;
    getOperation().walk([&](Operation *op) {
      if (auto mix = dyn_cast<MixOp>(op))
        mixes.push_back(mix);
      else if (auto mixGrad = dyn_cast<MixGradOp>(op))
        mixGrads.push_back(mixGrad);
    });
    // Each chain owns its anchor and erases only its own ops, so the anchors
    // collected above stay valid.
    IRRewriter rewriter(&getContext());
    DominanceInfo dominance(getOperation());
    for (MixOp mix : mixes)
      (void)fuseForward(mix, rewriter, dominance);
    for (MixGradOp mixGrad : mixGrads)
      (void)fuseBackward(mixGrad, rewriter);
  }
};

} // namespace
