//===- AttnResOps.cpp - attnres op verifiers and canonicalizations --------===//

#include "dialect/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attnres;

bool mlir::attnres::isSupportedElementType(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

ProblemShape mlir::attnres::getProblemShape(Value values) {
  auto type = cast<RankedTensorType>(values.getType());
  return {type.getDimSize(0), type.getDimSize(1), type.getDimSize(2)};
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

namespace {

/// Element type rule of one operand or result.
enum class ElementRule { Storage, F32, SameAsValues, Parameter };

/// Checks the operands and results of one op against the symbolic shapes
/// [N, M, D] of an AttnRes problem. Every static size seen binds its symbol,
/// so a mismatch names both the value at fault and the one that set the size.
class ProblemVerifier {
public:
  explicit ProblemVerifier(Operation *op) : op(op) {}

  /// Checks `value` (called `name` in messages) against `layout`, a string of
  /// the symbols 'N', 'M', 'D', one per dimension.
  LogicalResult check(Value value, StringRef name, StringRef layout,
                      ElementRule rule) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || type.getRank() != static_cast<int64_t>(layout.size()))
      return op->emitOpError() << "'" << name << "' must be a rank-"
                               << layout.size() << " tensor " << pretty(layout)
                               << ", got " << value.getType();
    for (auto [dim, symbol] : llvm::enumerate(layout))
      if (failed(bind(symbol, type.getDimSize(dim), name, dim)))
        return failure();
    return checkElement(type.getElementType(), name, rule);
  }

  /// The query is a learned vector [D] or one query per token [M, D].
  LogicalResult checkQuery(Value value, StringRef name, ElementRule rule) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (type && type.getRank() == 2)
      return check(value, name, "MD", rule);
    if (type && type.getRank() == 1)
      return check(value, name, "D", rule);
    return op->emitOpError()
           << "'" << name
           << "' must be a rank-1 tensor [D] or a rank-2 tensor [M, D], got "
           << value.getType();
  }

  /// Checks that `value` has exactly the type of `reference`.
  LogicalResult checkSameType(Value value, StringRef name, Value reference,
                              StringRef referenceName) {
    if (value.getType() == reference.getType())
      return success();
    return op->emitOpError() << "'" << name << "' must have the type of '"
                             << referenceName << "' (" << reference.getType()
                             << "), got " << value.getType();
  }

  int64_t numSources() const { return sizes[0].size; }

private:
  struct Binding {
    int64_t size = ShapedType::kDynamic;
    std::string from;
  };

  static std::string pretty(StringRef layout) {
    SmallVector<std::string> parts;
    for (char c : layout)
      parts.push_back(std::string(1, c));
    return "[" + llvm::join(parts, ", ") + "]";
  }

  LogicalResult bind(char symbol, int64_t size, StringRef name, size_t dim) {
    Binding &binding = sizes[symbol == 'N' ? 0 : symbol == 'M' ? 1 : 2];
    if (ShapedType::isDynamic(size))
      return success();
    if (size < 1 && symbol != 'M')
      return op->emitOpError()
             << "'" << name << "' has " << symbol << " = " << size
             << " in dimension " << dim << "; "
             << (symbol == 'N' ? "AttnRes needs at least one source"
                               : "the feature width must be at least 1");
    // The dialect's documented bounds; beyond them index arithmetic in the
    // lowerings is not checked for overflow.
    int64_t limit = symbol == 'N' ? kMaxSources : kMaxWidth;
    if (symbol != 'M' && size > limit)
      return op->emitOpError()
             << "'" << name << "' has " << symbol << " = " << size
             << " in dimension " << dim << "; at most " << limit
             << (symbol == 'N' ? " sources" : " features")
             << " are supported";
    if (ShapedType::isDynamic(binding.size)) {
      binding = {size, name.str()};
      return success();
    }
    if (binding.size == size)
      return success();
    return op->emitOpError() << "'" << name << "' has " << symbol << " = "
                             << size << " in dimension " << dim << ", but '"
                             << binding.from << "' has " << symbol << " = "
                             << binding.size;
  }

  LogicalResult checkElement(Type element, StringRef name, ElementRule rule) {
    switch (rule) {
    case ElementRule::Storage:
    case ElementRule::Parameter:
      if (!isSupportedElementType(element))
        return op->emitOpError() << "'" << name << "' has element type "
                                 << element << "; supported are f32, f16, bf16";
      if (rule == ElementRule::Storage)
        valuesElement = element;
      return success();
    case ElementRule::F32:
      if (!element.isF32())
        return op->emitOpError() << "'" << name
                                 << "' must have element type f32, got "
                                 << element;
      return success();
    case ElementRule::SameAsValues:
      if (element != valuesElement)
        return op->emitOpError()
               << "'" << name << "' must have the element type of 'values' ("
               << valuesElement << "), got " << element;
      return success();
    }
    llvm_unreachable("unknown element rule");
  }

  Operation *op;
  Binding sizes[3];
  Type valuesElement;
};

LogicalResult verifyEps(Operation *op, APFloat epsAttr) {
  float eps = epsAttr.convertToFloat();
  if (!(eps > 0.0f) || !std::isfinite(eps))
    return op->emitOpError() << "'eps' must be positive and finite, got "
                             << eps;
  return success();
}

/// Checks eps and the variant attributes of the fused ops.
template <typename FusedOp>
LogicalResult verifyFusedAttributes(FusedOp op, int64_t numSources) {
  if (failed(verifyEps(op, op.getEps())))
    return failure();
  if (std::optional<int64_t> valid = op.getNumValid()) {
    if (ShapedType::isDynamic(numSources)) {
      if (*valid < 1 || *valid > kMaxSources)
        return op.emitOpError() << "'num_valid' must be in [1, " << kMaxSources
                                << "] (N is dynamic), got " << *valid;
    } else if (*valid < 1 || *valid > numSources) {
      return op.emitOpError()
             << "'num_valid' must be in [1, N] with N = " << numSources
             << ", got " << *valid;
    }
  }
  return success();
}

} // namespace

LogicalResult ForwardOp::verify() {
  ProblemVerifier v(*this);
  if (failed(v.check(getValues(), "values", "NMD", ElementRule::Storage)) ||
      failed(v.checkQuery(getQuery(), "query", ElementRule::Parameter)) ||
      failed(v.check(getNormWeight(), "norm_weight", "D",
                     ElementRule::Parameter)) ||
      failed(v.check(getH(), "h", "MD", ElementRule::SameAsValues)) ||
      failed(v.check(getAlpha(), "alpha", "MN", ElementRule::F32)) ||
      failed(v.check(getRstd(), "rstd", "MN", ElementRule::F32)))
    return failure();
  return verifyFusedAttributes(*this, v.numSources());
}

LogicalResult BackwardOp::verify() {
  ProblemVerifier v(*this);
  if (failed(v.check(getValues(), "values", "NMD", ElementRule::Storage)) ||
      failed(v.check(getGradH(), "grad_h", "MD", ElementRule::SameAsValues)) ||
      failed(v.checkQuery(getQuery(), "query", ElementRule::Parameter)) ||
      failed(v.check(getNormWeight(), "norm_weight", "D",
                     ElementRule::Parameter)) ||
      failed(v.check(getAlpha(), "alpha", "MN", ElementRule::F32)) ||
      failed(v.check(getRstd(), "rstd", "MN", ElementRule::F32)) ||
      failed(v.checkSameType(getGradValues(), "grad_values", getValues(),
                             "values")) ||
      failed(v.checkSameType(getGradQuery(), "grad_query", getQuery(),
                             "query")) ||
      failed(v.checkSameType(getGradNormWeight(), "grad_norm_weight",
                             getNormWeight(), "norm_weight")))
    return failure();
  return verifyFusedAttributes(*this, v.numSources());
}

LogicalResult RmsRstdOp::verify() {
  ProblemVerifier v(*this);
  if (failed(v.check(getValues(), "values", "NMD", ElementRule::Storage)) ||
      failed(v.check(getRstd(), "rstd", "MN", ElementRule::F32)))
    return failure();
  return verifyEps(*this, getEps());
}

LogicalResult ScoreOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getValues(), "values", "NMD", ElementRule::Storage)) &&
      succeeded(v.check(getRstd(), "rstd", "MN", ElementRule::F32)) &&
      succeeded(v.checkQuery(getQuery(), "query", ElementRule::Parameter)) &&
      succeeded(v.check(getNormWeight(), "norm_weight", "D",
                        ElementRule::Parameter)) &&
      succeeded(v.check(getScores(), "scores", "MN", ElementRule::F32)));
}

LogicalResult DepthSoftmaxOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getScores(), "scores", "MN", ElementRule::F32)) &&
      succeeded(v.check(getAlpha(), "alpha", "MN", ElementRule::F32)));
}

LogicalResult MixOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getValues(), "values", "NMD", ElementRule::Storage)) &&
      succeeded(v.check(getAlpha(), "alpha", "MN", ElementRule::F32)) &&
      succeeded(v.check(getH(), "h", "MD", ElementRule::SameAsValues)));
}

LogicalResult MixGradOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getValues(), "values", "NMD", ElementRule::Storage)) &&
      succeeded(
          v.check(getGradH(), "grad_h", "MD", ElementRule::SameAsValues)) &&
      succeeded(v.check(getAlpha(), "alpha", "MN", ElementRule::F32)) &&
      succeeded(
          v.check(getGradAlpha(), "grad_alpha", "MN", ElementRule::F32)) &&
      succeeded(
          v.check(getGradValues(), "grad_values", "NMD", ElementRule::F32)));
}

LogicalResult DepthSoftmaxGradOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getAlpha(), "alpha", "MN", ElementRule::F32)) &&
      succeeded(
          v.check(getGradAlpha(), "grad_alpha", "MN", ElementRule::F32)) &&
      succeeded(
          v.check(getGradScores(), "grad_scores", "MN", ElementRule::F32)));
}

LogicalResult ScoreGradOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getValues(), "values", "NMD", ElementRule::Storage)) &&
      succeeded(
          v.check(getGradScores(), "grad_scores", "MN", ElementRule::F32)) &&
      succeeded(v.check(getRstd(), "rstd", "MN", ElementRule::F32)) &&
      succeeded(v.checkQuery(getQuery(), "query", ElementRule::Parameter)) &&
      succeeded(v.check(getNormWeight(), "norm_weight", "D",
                        ElementRule::Parameter)) &&
      succeeded(
          v.check(getGradValues(), "grad_values", "NMD", ElementRule::F32)) &&
      succeeded(v.check(getGradRstd(), "grad_rstd", "MN", ElementRule::F32)) &&
      succeeded(v.checkSameType(getGradQuery(), "grad_query", getQuery(),
                                "query")) &&
      succeeded(v.checkSameType(getGradNormWeight(), "grad_norm_weight",
                                getNormWeight(), "norm_weight")));
}

LogicalResult RmsRstdGradOp::verify() {
  ProblemVerifier v(*this);
  return success(
      succeeded(v.check(getValues(), "values", "NMD", ElementRule::Storage)) &&
      succeeded(v.check(getGradRstd(), "grad_rstd", "MN", ElementRule::F32)) &&
      succeeded(v.check(getRstd(), "rstd", "MN", ElementRule::F32)) &&
      succeeded(
          v.check(getGradValues(), "grad_values", "NMD", ElementRule::F32)));
}

//===----------------------------------------------------------------------===//
// Canonicalization: the exact simplifications of a single source (N = 1),
// where alpha = 1, h = v_0, ds = 0 and the weight gradients vanish.
//===----------------------------------------------------------------------===//

namespace {

bool hasSingleSource(Value values) {
  return getProblemShape(values).numSources == 1;
}

/// alpha = 1 and h = v_0 hold for one source only with a softmax over depth
/// and raw values: a sigmoid gate gives alpha = sigmoid(s), and normalized
/// values give h = RMSNorm(v_0).
template <typename FusedOp>
bool isSoftmaxOverRawValues(FusedOp op) {
  return op.getNormalizer() == Normalizer::softmax &&
         op.getNormTarget() == NormTarget::keys;
}

/// A tensor of `type` (sized like `like`) filled with the constant `value`.
Value splatLike(PatternRewriter &rewriter, Location loc, Value like,
                RankedTensorType type, double value) {
  Value scalar = arith::ConstantOp::create(
      rewriter, loc, rewriter.getFloatAttr(type.getElementType(), value));
  SmallVector<Value> dynamicSizes;
  for (int64_t dim = 0; dim < type.getRank(); ++dim)
    if (type.isDynamicDim(dim))
      dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, like, dim));
  return tensor::SplatOp::create(rewriter, loc, scalar, type, dynamicSizes);
}

/// `value` as `type`, through a tensor.cast where only static sizes differ.
Value castTo(PatternRewriter &rewriter, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(rewriter, loc, type, value);
}

/// values [1, M, D] -> [M, D].
Value dropSourceDim(PatternRewriter &rewriter, Location loc, Value values,
                    Type resultType) {
  Value collapsed = tensor::CollapseShapeOp::create(
      rewriter, loc, values, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  return castTo(rewriter, loc, collapsed, resultType);
}

bool isSplatOfOne(Value value) {
  if (auto splat = value.getDefiningOp<tensor::SplatOp>())
    return matchPattern(splat.getInput(), m_OneFloat());
  return matchPattern(value, m_OneFloat());
}

struct SingleSourceForward : OpRewritePattern<ForwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ForwardOp op,
                                PatternRewriter &rewriter) const override {
    if (!hasSingleSource(op.getValues()) || !isSoftmaxOverRawValues(op))
      return failure();
    Location loc = op.getLoc();
    Value h = dropSourceDim(rewriter, loc, op.getValues(), op.getH().getType());
    Value rstd = RmsRstdOp::create(rewriter, loc, op.getRstd().getType(),
                                   op.getValues(), op.getEpsAttr());
    Value alpha = splatLike(rewriter, loc, rstd, op.getAlpha().getType(), 1.0);
    rewriter.replaceOp(op, {h, alpha, rstd});
    return success();
  }
};

struct SingleSourceBackward : OpRewritePattern<BackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(BackwardOp op,
                                PatternRewriter &rewriter) const override {
    if (!hasSingleSource(op.getValues()) || !isSoftmaxOverRawValues(op))
      return failure();
    Location loc = op.getLoc();
    auto gradType = op.getGradValues().getType();
    Value expanded = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({1, op.getGradH().getType().getDimSize(0),
                               op.getGradH().getType().getDimSize(1)},
                              gradType.getElementType()),
        op.getGradH(), ArrayRef<ReassociationIndices>{{0, 1}, {2}});
    Value dq = splatLike(rewriter, loc, op.getQuery(),
                         op.getGradQuery().getType(), 0.0);
    Value dg = splatLike(rewriter, loc, op.getNormWeight(),
                         op.getGradNormWeight().getType(), 0.0);
    rewriter.replaceOp(op, {castTo(rewriter, loc, expanded, gradType), dq, dg});
    return success();
  }
};

struct SingleSourceSoftmax : OpRewritePattern<DepthSoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DepthSoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getScores().getType().getDimSize(1) != 1)
      return failure();
    rewriter.replaceOp(op, splatLike(rewriter, op.getLoc(), op.getScores(),
                                     op.getAlpha().getType(), 1.0));
    return success();
  }
};

struct SingleSourceSoftmaxGrad : OpRewritePattern<DepthSoftmaxGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DepthSoftmaxGradOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getAlpha().getType().getDimSize(1) != 1)
      return failure();
    rewriter.replaceOp(op, splatLike(rewriter, op.getLoc(), op.getAlpha(),
                                     op.getGradScores().getType(), 0.0));
    return success();
  }
};

struct SingleSourceMix : OpRewritePattern<MixOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MixOp op,
                                PatternRewriter &rewriter) const override {
    if (!hasSingleSource(op.getValues()) || !isSplatOfOne(op.getAlpha()))
      return failure();
    rewriter.replaceOp(op, dropSourceDim(rewriter, op.getLoc(), op.getValues(),
                                         op.getH().getType()));
    return success();
  }
};

} // namespace

void ForwardOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *context) {
  results.add<SingleSourceForward>(context);
}
void BackwardOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results.add<SingleSourceBackward>(context);
}
void DepthSoftmaxOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                 MLIRContext *context) {
  results.add<SingleSourceSoftmax>(context);
}
void DepthSoftmaxGradOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                     MLIRContext *context) {
  results.add<SingleSourceSoftmaxGrad>(context);
}
void MixOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                        MLIRContext *context) {
  results.add<SingleSourceMix>(context);
}

#define GET_OP_CLASSES
#include "dialect/AttnResOps.cpp.inc"
