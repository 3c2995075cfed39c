//===- LowerToCPU.cpp - attnres graph ops to linalg on tensors ------------===//
//
// Each graph op becomes a few linalg.generic ops on tensors: reductions into
// f32 accumulators (tensor.empty + linalg.fill), then an elementwise epilogue
// that rounds once to the result type. Loops run (m, n, d), so the innermost
// loop walks a contiguous row of D elements of the values [N, M, D].
//
// The pass also fixes the host ABI of every function: `llvm.emit_c_interface`
// (callers get `_mlir_ciface_<name>`) and read-only tensor arguments
// (`bufferization.writable = false`), so that bufferization never writes into
// a caller's input buffer.
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESLOWERTOCPUPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

using utils::IteratorType;
constexpr IteratorType kPar = IteratorType::parallel;
constexpr IteratorType kRed = IteratorType::reduction;

/// Builds the linalg form of one graph op at the op's position. Loop
/// dimensions are named m, n, d (tokens, sources, features) throughout.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  /// Affine map of `numDims` loops selecting `dims` in order.
  AffineMap map(unsigned numDims, ArrayRef<unsigned> dims) {
    SmallVector<AffineExpr> exprs;
    for (unsigned dim : dims)
      exprs.push_back(b.getAffineDimExpr(dim));
    return AffineMap::get(numDims, 0, exprs, b.getContext());
  }

  /// Extends (or truncates) a scalar float to f32, the type of all math.
  Value toF32(OpBuilder &nested, Value x) {
    auto type = cast<FloatType>(x.getType());
    if (type.isF32())
      return x;
    if (type.getWidth() < 32)
      return arith::ExtFOp::create(nested, loc, nested.getF32Type(), x);
    return arith::TruncFOp::create(nested, loc, nested.getF32Type(), x);
  }

  /// Rounds an f32 scalar to `type` (the storage type of a result).
  Value fromF32(OpBuilder &nested, Value x, Type type) {
    auto floatType = cast<FloatType>(type);
    if (floatType.isF32())
      return x;
    if (floatType.getWidth() < 32)
      return arith::TruncFOp::create(nested, loc, type, x);
    return arith::ExtFOp::create(nested, loc, type, x);
  }

  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }

  /// tensor.empty of `type`, dynamic extents taken from `sizes`.
  Value empty(RankedTensorType type, ArrayRef<OpFoldResult> sizes) {
    SmallVector<Value> dynamic;
    for (int64_t dim = 0; dim < type.getRank(); ++dim)
      if (type.isDynamicDim(dim))
        dynamic.push_back(getValueOrCreateConstantIndexOp(b, loc, sizes[dim]));
    return tensor::EmptyOp::create(b, loc, type, dynamic);
  }

  /// The type of an f32 tensor of `sizes`, static where a size is known.
  RankedTensorType f32Type(ArrayRef<OpFoldResult> sizes) {
    SmallVector<int64_t> shape;
    for (OpFoldResult size : sizes)
      shape.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
    return RankedTensorType::get(shape, b.getF32Type());
  }

  /// An f32 accumulator of `type` (or of `sizes`) filled with `init`.
  Value filled(RankedTensorType type, ArrayRef<OpFoldResult> sizes,
               double init) {
    Value tensor = empty(type, sizes);
    return linalg::FillOp::create(b, loc, ValueRange{f32(init)},
                                  ValueRange{tensor})
        .getResult(0);
  }
  Value filled(ArrayRef<OpFoldResult> sizes, double init) {
    return filled(f32Type(sizes), sizes, init);
  }

  /// One linalg.generic with a single output `init`; `body` gets the scalar
  /// block arguments (inputs, then the output) and returns the value to
  /// yield. `maps` lists the inputs' maps, then the output's.
  Value generic(ValueRange inputs, Value init, ArrayRef<AffineMap> maps,
                ArrayRef<IteratorType> iterators,
                function_ref<Value(OpBuilder &, ValueRange)> body) {
    auto op = linalg::GenericOp::create(
        b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &nested, Location, ValueRange args) {
          linalg::YieldOp::create(nested, loc, body(nested, args));
        });
    return op.getResult(0);
  }

  /// The f32 number of features D of `values` [N, M, D].
  Value widthAsF32(Value values) {
    auto type = cast<RankedTensorType>(values.getType());
    if (!type.isDynamicDim(2))
      return f32(static_cast<double>(type.getDimSize(2)));
    Value width = tensor::DimOp::create(b, loc, values, 2);
    Value asInt = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), width);
    return arith::UIToFPOp::create(b, loc, b.getF32Type(), asInt);
  }

  OpBuilder &b;
  Location loc;
};

/// Extents of the values [N, M, D] and of the statistics [M, N].
struct Extents {
  OpFoldResult n, m, d;
  SmallVector<OpFoldResult> nmd() const { return {n, m, d}; }
  SmallVector<OpFoldResult> mn() const { return {m, n}; }
  SmallVector<OpFoldResult> md() const { return {m, d}; }
};

Extents extentsOf(OpBuilder &b, Location loc, Value values) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, values);
  return {sizes[0], sizes[1], sizes[2]};
}

RankedTensorType tensorType(Value value) {
  return cast<RankedTensorType>(value.getType());
}

/// Maps of the query operand in (m, n, d) loops: [D] or one query per token
/// [M, D].
AffineMap queryMap(Emitter &e, Value query) {
  return tensorType(query).getRank() == 2 ? e.map(3, {0, 2}) : e.map(3, {2});
}

/// u[m, n] = sum_d q[(m,) d] g[d] v[n, m, d] in f32.
Value emitWeightedSum(Emitter &e, const Extents &x, Value values, Value query,
                      Value normWeight) {
  Value acc = e.filled(x.mn(), 0.0);
  return e.generic(
      {values, query, normWeight}, acc,
      {e.map(3, {1, 0, 2}), queryMap(e, query), e.map(3, {2}),
       e.map(3, {0, 1})},
      {kPar, kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
        Value w = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[1]),
                                        e.toF32(nb, a[2]));
        Value wv = arith::MulFOp::create(nb, e.loc, w, e.toF32(nb, a[0]));
        return arith::AddFOp::create(nb, e.loc, a[3], wv);
      });
}

/// Elementwise over [M, N]: result[m, n] = fn(inputs...) rounded to `type`.
Value emitStatEpilogue(Emitter &e, RankedTensorType type, const Extents &x,
                       ValueRange inputs,
                       function_ref<Value(OpBuilder &, ValueRange)> fn) {
  SmallVector<AffineMap> maps(inputs.size() + 1, e.map(2, {0, 1}));
  return e.generic(inputs, e.empty(type, x.mn()), maps, {kPar, kPar},
                   [&](OpBuilder &nb, ValueRange a) {
                     return e.fromF32(nb, fn(nb, a.drop_back()),
                                      type.getElementType());
                   });
}

// rstd[m, n] = 1 / sqrt(sum_d v^2 / D + eps)
SmallVector<Value> lower(RmsRstdOp op, Emitter &e) {
  Extents x = extentsOf(e.b, e.loc, op.getValues());
  Value sumSq =
      e.generic({op.getValues()}, e.filled(x.mn(), 0.0),
                {e.map(3, {1, 0, 2}), e.map(3, {0, 1})}, {kPar, kPar, kRed},
                [&](OpBuilder &nb, ValueRange a) -> Value {
                  Value v = e.toF32(nb, a[0]);
                  Value sq = arith::MulFOp::create(nb, e.loc, v, v);
                  return arith::AddFOp::create(nb, e.loc, a[1], sq);
                });
  Value width = e.widthAsF32(op.getValues());
  Value eps = e.f32(op.getEpsAttr().getValueAsDouble());
  Value one = e.f32(1.0);
  return {emitStatEpilogue(
      e, tensorType(op.getRstd()), x, {sumSq},
      [&](OpBuilder &nb, ValueRange a) -> Value {
        Value mean = arith::DivFOp::create(nb, e.loc, a[0], width);
        Value shifted = arith::AddFOp::create(nb, e.loc, mean, eps);
        Value root = math::SqrtOp::create(nb, e.loc, shifted);
        return arith::DivFOp::create(nb, e.loc, one, root);
      })};
}

// s[m, n] = rstd[m, n] * sum_d q[d] g[d] v[n, m, d]
SmallVector<Value> lower(ScoreOp op, Emitter &e) {
  Extents x = extentsOf(e.b, e.loc, op.getValues());
  Value u =
      emitWeightedSum(e, x, op.getValues(), op.getQuery(), op.getNormWeight());
  return {emitStatEpilogue(e, tensorType(op.getScores()), x, {op.getRstd(), u},
                           [&](OpBuilder &nb, ValueRange a) -> Value {
                             return arith::MulFOp::create(
                                 nb, e.loc, e.toF32(nb, a[0]), a[1]);
                           })};
}

// alpha[m, n] = exp(s - max_n s) / sum_n exp(s - max_n s)
SmallVector<Value> lower(DepthSoftmaxOp op, Emitter &e) {
  Value scores = op.getScores();
  SmallVector<OpFoldResult> mn = tensor::getMixedSizes(e.b, e.loc, scores);
  Extents x{mn[1], mn[0], OpFoldResult()};
  SmallVector<OpFoldResult> m{mn[0]};
  AffineMap row = e.map(2, {0, 1}), token = e.map(2, {0});
  Value max = e.generic(
      {scores}, e.filled(m, -std::numeric_limits<double>::infinity()),
      {row, token}, {kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
        return arith::MaximumFOp::create(nb, e.loc, a[1], e.toF32(nb, a[0]));
      });
  auto shiftedExp = [&](OpBuilder &nb, Value s, Value rowMax) -> Value {
    Value shifted = arith::SubFOp::create(nb, e.loc, e.toF32(nb, s), rowMax);
    return math::ExpOp::create(nb, e.loc, shifted);
  };
  Value sum =
      e.generic({scores, max}, e.filled(m, 0.0), {row, token, token},
                {kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
                  return arith::AddFOp::create(nb, e.loc, a[2],
                                               shiftedExp(nb, a[0], a[1]));
                });
  auto type = tensorType(op.getAlpha());
  return {e.generic(
      {scores, max, sum}, e.empty(type, x.mn()), {row, token, token, row},
      {kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
        Value p =
            arith::DivFOp::create(nb, e.loc, shiftedExp(nb, a[0], a[1]), a[2]);
        return e.fromF32(nb, p, type.getElementType());
      })};
}

/// Rounds an f32 tensor of `sizes` elementwise to `type`; returns `acc`
/// itself when it already has that type.
Value roundTo(Emitter &e, Value acc, RankedTensorType type,
              ArrayRef<OpFoldResult> sizes) {
  if (acc.getType() == type)
    return acc;
  unsigned rank = type.getRank();
  SmallVector<unsigned> identity;
  for (unsigned i = 0; i < rank; ++i)
    identity.push_back(i);
  SmallVector<IteratorType> iterators(rank, kPar);
  AffineMap map = e.map(rank, identity);
  return e.generic({acc}, e.empty(type, sizes), {map, map}, iterators,
                   [&](OpBuilder &nb, ValueRange a) {
                     return e.fromF32(nb, a[0], type.getElementType());
                   });
}

// h[m, d] = sum_n alpha[m, n] v[n, m, d], accumulated in f32
SmallVector<Value> lower(MixOp op, Emitter &e) {
  Extents x = extentsOf(e.b, e.loc, op.getValues());
  auto type = tensorType(op.getH());
  Value acc = e.filled(type.clone(e.b.getF32Type()), x.md(), 0.0);
  acc =
      e.generic({op.getAlpha(), op.getValues()}, acc,
                {e.map(3, {0, 1}), e.map(3, {1, 0, 2}), e.map(3, {0, 2})},
                {kPar, kRed, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
                  Value av = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]),
                                                   e.toF32(nb, a[1]));
                  return arith::AddFOp::create(nb, e.loc, a[2], av);
                });
  return {roundTo(e, acc, type, x.md())};
}

// dalpha[m, n] = sum_d dh[m, d] v[n, m, d];  dv[n, m, d] = alpha[m, n] dh[m, d]
SmallVector<Value> lower(MixGradOp op, Emitter &e) {
  Extents x = extentsOf(e.b, e.loc, op.getValues());
  auto gradAlphaType = tensorType(op.getGradAlpha());
  Value dot =
      e.generic({op.getGradH(), op.getValues()},
                e.filled(gradAlphaType.clone(e.b.getF32Type()), x.mn(), 0.0),
                {e.map(3, {0, 2}), e.map(3, {1, 0, 2}), e.map(3, {0, 1})},
                {kPar, kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
                  Value dv = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]),
                                                   e.toF32(nb, a[1]));
                  return arith::AddFOp::create(nb, e.loc, a[2], dv);
                });
  auto gradValuesType = tensorType(op.getGradValues());
  Value gradValues = e.generic(
      {op.getAlpha(), op.getGradH()}, e.empty(gradValuesType, x.nmd()),
      {e.map(3, {0, 1}), e.map(3, {0, 2}), e.map(3, {1, 0, 2})},
      {kPar, kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
        Value g = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]),
                                        e.toF32(nb, a[1]));
        return e.fromF32(nb, g, gradValuesType.getElementType());
      });
  return {roundTo(e, dot, gradAlphaType, x.mn()), gradValues};
}

// ds[m, n] = alpha[m, n] (dalpha[m, n] - sum_j alpha[m, j] dalpha[m, j])
SmallVector<Value> lower(DepthSoftmaxGradOp op, Emitter &e) {
  Value alpha = op.getAlpha(), gradAlpha = op.getGradAlpha();
  SmallVector<OpFoldResult> mn = tensor::getMixedSizes(e.b, e.loc, alpha);
  Extents x{mn[1], mn[0], OpFoldResult()};
  AffineMap row = e.map(2, {0, 1}), token = e.map(2, {0});
  Value dot =
      e.generic({alpha, gradAlpha}, e.filled({mn[0]}, 0.0), {row, row, token},
                {kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
                  Value p = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]),
                                                  e.toF32(nb, a[1]));
                  return arith::AddFOp::create(nb, e.loc, a[2], p);
                });
  auto type = tensorType(op.getGradScores());
  return {e.generic(
      {alpha, gradAlpha, dot}, e.empty(type, x.mn()), {row, row, token, row},
      {kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
        Value diff = arith::SubFOp::create(nb, e.loc, e.toF32(nb, a[1]), a[2]);
        Value ds = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]), diff);
        return e.fromF32(nb, ds, type.getElementType());
      })};
}

// dv[n, m, d] = ds r w[d];  dr = ds u;  c[d] = sum_m sum_n ds r v;
// dq = g c, dg = q c. With one query per token [M, D], dq[m, d] keeps the
// token: dq[m, d] = g[d] sum_n ds r v and dg[d] = sum_m q[m, d] sum_n ds r v.
SmallVector<Value> lower(ScoreGradOp op, Emitter &e) {
  Value values = op.getValues(), ds = op.getGradScores(), rstd = op.getRstd();
  Value query = op.getQuery(), normWeight = op.getNormWeight();
  Extents x = extentsOf(e.b, e.loc, values);
  auto gradValuesType = tensorType(op.getGradValues());
  Value gradValues =
      e.generic({ds, rstd, query, normWeight}, e.empty(gradValuesType, x.nmd()),
                {e.map(3, {0, 1}), e.map(3, {0, 1}), queryMap(e, query),
                 e.map(3, {2}), e.map(3, {1, 0, 2})},
                {kPar, kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
                  Value dsr = arith::MulFOp::create(
                      nb, e.loc, e.toF32(nb, a[0]), e.toF32(nb, a[1]));
                  Value w = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[2]),
                                                  e.toF32(nb, a[3]));
                  return e.fromF32(nb, arith::MulFOp::create(nb, e.loc, dsr, w),
                                   gradValuesType.getElementType());
                });

  Value u = emitWeightedSum(e, x, values, query, normWeight);
  Value gradRstd = emitStatEpilogue(e, tensorType(op.getGradRstd()), x, {ds, u},
                                    [&](OpBuilder &nb, ValueRange a) -> Value {
                                      return arith::MulFOp::create(
                                          nb, e.loc, e.toF32(nb, a[0]), a[1]);
                                    });

  // c over the tokens: reduce m too for a learned query [D]; keep m for one
  // query per token [M, D] and reduce it in dg only.
  bool perToken = tensorType(query).getRank() == 2;
  SmallVector<OpFoldResult> cSizes =
      perToken ? x.md() : SmallVector<OpFoldResult>{x.d};
  AffineMap cMap = perToken ? e.map(3, {0, 2}) : e.map(3, {2});
  Value c = e.generic(
      {ds, rstd, values}, e.filled(cSizes, 0.0),
      {e.map(3, {0, 1}), e.map(3, {0, 1}), e.map(3, {1, 0, 2}), cMap},
      {perToken ? kPar : kRed, kRed, kPar},
      [&](OpBuilder &nb, ValueRange a) -> Value {
        Value dsr = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]),
                                          e.toF32(nb, a[1]));
        Value t = arith::MulFOp::create(nb, e.loc, dsr, e.toF32(nb, a[2]));
        return arith::AddFOp::create(nb, e.loc, a[3], t);
      });

  auto gradQueryType = tensorType(op.getGradQuery());
  auto gradNormType = tensorType(op.getGradNormWeight());
  unsigned cRank = cSizes.size();
  AffineMap cId = perToken ? e.map(2, {0, 1}) : e.map(1, {0});
  AffineMap lastDim = perToken ? e.map(2, {1}) : e.map(1, {0});
  SmallVector<IteratorType> parallel(cRank, kPar);
  Value gradQuery = e.generic(
      {normWeight, c}, e.empty(gradQueryType, cSizes), {lastDim, cId, cId},
      parallel, [&](OpBuilder &nb, ValueRange a) -> Value {
        Value p = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]), a[1]);
        return e.fromF32(nb, p, gradQueryType.getElementType());
      });
  Value gradNorm;
  if (!perToken) {
    gradNorm = e.generic(
        {query, c}, e.empty(gradNormType, cSizes), {cId, cId, cId}, parallel,
        [&](OpBuilder &nb, ValueRange a) -> Value {
          Value p = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]), a[1]);
          return e.fromF32(nb, p, gradNormType.getElementType());
        });
  } else {
    SmallVector<OpFoldResult> d{x.d};
    Value acc = e.filled(gradNormType.clone(e.b.getF32Type()), d, 0.0);
    acc = e.generic({query, c}, acc, {cId, cId, e.map(2, {1})}, {kRed, kPar},
                    [&](OpBuilder &nb, ValueRange a) -> Value {
                      Value p = arith::MulFOp::create(nb, e.loc,
                                                      e.toF32(nb, a[0]), a[1]);
                      return arith::AddFOp::create(nb, e.loc, a[2], p);
                    });
    gradNorm = roundTo(e, acc, gradNormType, d);
  }
  return {gradValues, gradRstd, gradQuery, gradNorm};
}

// dv[n, m, d] = -dr[m, n] rstd[m, n]^3 v[n, m, d] / D
SmallVector<Value> lower(RmsRstdGradOp op, Emitter &e) {
  Value values = op.getValues();
  Extents x = extentsOf(e.b, e.loc, values);
  Value width = e.widthAsF32(values);
  auto type = tensorType(op.getGradValues());
  return {e.generic(
      {op.getGradRstd(), op.getRstd(), values}, e.empty(type, x.nmd()),
      {e.map(3, {0, 1}), e.map(3, {0, 1}), e.map(3, {1, 0, 2}),
       e.map(3, {1, 0, 2})},
      {kPar, kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
        Value r = e.toF32(nb, a[1]);
        Value r3 = arith::MulFOp::create(
            nb, e.loc, arith::MulFOp::create(nb, e.loc, r, r), r);
        Value k = arith::MulFOp::create(nb, e.loc, e.toF32(nb, a[0]), r3);
        Value kv = arith::MulFOp::create(nb, e.loc, k, e.toF32(nb, a[2]));
        Value scaled = arith::DivFOp::create(nb, e.loc, kv, width);
        return e.fromF32(nb, arith::NegFOp::create(nb, e.loc, scaled),
                         type.getElementType());
      })};
}

struct AttnResLowerToCPUPass
    : attnres::impl::AttnResLowerToCPUPassBase<AttnResLowerToCPUPass> {
  using AttnResLowerToCPUPassBase::AttnResLowerToCPUPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The fused ops have no CPU lowering of their own: their meaning lives in
    // attnres-decompose, and duplicating it here would let the two drift.
    WalkResult fused = module.walk([](Operation *op) {
      if (isa<ForwardOp, BackwardOp>(op)) {
        op->emitError() << "attnres-lower-to-cpu: '" << op->getName()
                        << "' is a fused op; run attnres-decompose first "
                           "(the attnres-to-cpu pipeline does)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (fused.wasInterrupted())
      return signalPassFailure();

    IRRewriter rewriter(&getContext());
    SmallVector<Operation *> graphOps;
    module.walk([&](Operation *op) {
      if (isa<RmsRstdOp, ScoreOp, DepthSoftmaxOp, MixOp, MixGradOp,
              DepthSoftmaxGradOp, ScoreGradOp, RmsRstdGradOp>(op))
        graphOps.push_back(op);
    });
    for (Operation *op : graphOps) {
      rewriter.setInsertionPoint(op);
      Emitter e(rewriter, op->getLoc());
      SmallVector<Value> results =
          TypeSwitch<Operation *, SmallVector<Value>>(op)
              .Case<RmsRstdOp, ScoreOp, DepthSoftmaxOp, MixOp, MixGradOp,
                    DepthSoftmaxGradOp, ScoreGradOp, RmsRstdGradOp>(
                  [&](auto typed) { return lower(typed, e); });
      rewriter.replaceOp(op, results);
    }

    WalkResult left = module.walk([](Operation *op) {
      if (isa<AttnResDialect>(op->getDialect())) {
        op->emitError() << "attnres-lower-to-cpu: no CPU lowering for '"
                        << op->getName() << "'";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (left.wasInterrupted())
      return signalPassFailure();

    // Host ABI: C wrappers for callers, and inputs that stay untouched.
    Builder builder(&getContext());
    module.walk([&](func::FuncOp func) {
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    builder.getUnitAttr());
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (isa<TensorType>(func.getArgument(i).getType()))
          func.setArgAttr(
              i, bufferization::BufferizationDialect::kWritableAttrName,
              builder.getBoolAttr(false));
    });
  }
};

} // namespace
