//===- DeriveBackward.cpp - Reverse-mode differentiation of attnres graphs ===//
//
// For every `func.func @f` marked `attnres.differentiate`, builds
//
//   func.func @f_vjp(<args of @f>, <one cotangent per float-tensor result>)
//       -> (<one gradient per float-tensor argument>)
//
// The body recomputes the forward (a clone of @f's body), then sweeps its ops
// in reverse; each op whose results received a cotangent adds its
// vector-Jacobian product. Contributions to one value are collected and
// summed only when the value's gradient is needed: in f32, left to right in
// the order they arrived, rounded once to the value's type. For the graph
// forward this yields exactly the chain attnres-decompose emits for
// attnres.backward (mix_grad, depth_softmax_grad, score_grad, rms_rstd_grad,
// addf, addf, truncf), so attnres-fuse folds either one.
//
// A result carrying the unit result attribute `attnres.no_grad` is a saved
// statistic: its cotangent argument exists but is ignored (as PyTorch does
// for outputs marked non-differentiable). The alpha and rstd results of the
// graph forward are such statistics when the caller saves them for the
// backward.
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESDERIVEBACKWARDPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

constexpr StringLiteral kDifferentiateAttr = "attnres.differentiate";
constexpr StringLiteral kNoGradAttr = "attnres.no_grad";

bool isFloatTensor(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && isa<FloatType>(tensor.getElementType());
}

/// `type` with element type f32 (tensors) or f32 itself (scalars).
Type f32Like(Type type) {
  Type f32 = Float32Type::get(type.getContext());
  if (auto tensor = dyn_cast<RankedTensorType>(type))
    return RankedTensorType::get(tensor.getShape(), f32);
  return f32;
}

/// The reverse sweep over one cloned forward body.
class Adjoint {
public:
  Adjoint(OpBuilder &builder) : builder(builder) {}

  /// Adds `contribution` (of `value`'s type or its f32 counterpart) to the
  /// cotangent of `value`.
  void add(Value value, Value contribution) {
    if (contribution)
      contributions[value].push_back(contribution);
  }

  bool hasCotangent(Value value) const {
    auto it = contributions.find(value);
    return it != contributions.end() && !it->second.empty();
  }

  /// The cotangent of `value` in `value`'s type, or null if none arrived:
  /// a single contribution is used as is (rounded if it is an f32 partial);
  /// several are summed in f32 and rounded once.
  Value get(Value value, Location loc) {
    auto it = contributions.find(value);
    if (it == contributions.end() || it->second.empty())
      return nullptr;
    SmallVectorImpl<Value> &parts = it->second;
    Type type = value.getType();
    Type wide = f32Like(type);
    Value sum;
    if (parts.size() == 1) {
      sum = parts.front();
    } else {
      for (Value part : parts) {
        if (part.getType() != wide)
          part = arith::ExtFOp::create(builder, loc, wide, part);
        sum = sum ? arith::AddFOp::create(builder, loc, sum, part) : part;
      }
    }
    if (sum.getType() != type)
      sum = arith::TruncFOp::create(builder, loc, type, sum);
    // Later requests reuse the materialized sum.
    parts.assign({sum});
    return sum;
  }

  /// Zeros of `type`, sized like `like` where dynamic.
  Value zerosLike(Value like, Location loc) {
    auto type = cast<RankedTensorType>(like.getType());
    Value zero = arith::ConstantOp::create(
        builder, loc, builder.getFloatAttr(type.getElementType(), 0.0));
    SmallVector<Value> sizes;
    for (int64_t dim = 0; dim < type.getRank(); ++dim)
      if (type.isDynamicDim(dim))
        sizes.push_back(tensor::DimOp::create(builder, loc, like, dim));
    return tensor::SplatOp::create(builder, loc, zero, type, sizes);
  }

  /// Emits the VJP of `op`; fails (with an error) if `op` has none.
  LogicalResult differentiate(Operation *op) {
    if (llvm::none_of(op->getResults(),
                      [&](Value result) { return hasCotangent(result); }))
      return success();
    Location loc = op->getLoc();
    return TypeSwitch<Operation *, LogicalResult>(op)
        .Case([&](MixOp mix) {
          Value grad = get(mix.getH(), loc);
          auto vjp = MixGradOp::create(builder, loc, mix.getAlpha().getType(),
                                       f32Like(mix.getValues().getType()), grad,
                                       mix.getAlpha(), mix.getValues());
          add(mix.getAlpha(), vjp.getGradAlpha());
          add(mix.getValues(), vjp.getGradValues());
          return success();
        })
        .Case([&](DepthSoftmaxOp softmax) {
          Value grad = get(softmax.getAlpha(), loc);
          add(softmax.getScores(),
              DepthSoftmaxGradOp::create(builder, loc,
                                         softmax.getScores().getType(),
                                         softmax.getAlpha(), grad));
          return success();
        })
        .Case([&](ScoreOp score) {
          Value grad = get(score.getScores(), loc);
          auto vjp = ScoreGradOp::create(
              builder, loc, f32Like(score.getValues().getType()),
              score.getRstd().getType(), score.getQuery().getType(),
              score.getNormWeight().getType(), grad, score.getValues(),
              score.getRstd(), score.getQuery(), score.getNormWeight());
          add(score.getValues(), vjp.getGradValues());
          add(score.getRstd(), vjp.getGradRstd());
          add(score.getQuery(), vjp.getGradQuery());
          add(score.getNormWeight(), vjp.getGradNormWeight());
          return success();
        })
        .Case([&](RmsRstdOp rms) {
          Value grad = get(rms.getRstd(), loc);
          add(rms.getValues(),
              RmsRstdGradOp::create(builder, loc,
                                    f32Like(rms.getValues().getType()), grad,
                                    rms.getValues(), rms.getRstd()));
          return success();
        })
        .Case([&](ForwardOp forward) { return differentiateForward(forward); })
        .Case([&](arith::AddFOp add2) {
          Value grad = get(add2.getResult(), loc);
          add(add2.getLhs(), grad);
          add(add2.getRhs(), grad);
          return success();
        })
        .Case([&](arith::SubFOp sub) {
          Value grad = get(sub.getResult(), loc);
          add(sub.getLhs(), grad);
          add(sub.getRhs(), arith::NegFOp::create(builder, loc, grad));
          return success();
        })
        .Case([&](arith::NegFOp neg) {
          Value grad = get(neg.getResult(), loc);
          add(neg.getOperand(), arith::NegFOp::create(builder, loc, grad));
          return success();
        })
        .Case([&](arith::MulFOp mul) {
          Value grad = get(mul.getResult(), loc);
          add(mul.getLhs(),
              arith::MulFOp::create(builder, loc, grad, mul.getRhs()));
          add(mul.getRhs(),
              arith::MulFOp::create(builder, loc, grad, mul.getLhs()));
          return success();
        })
        .Case([&](arith::ExtFOp ext) {
          // The f32 cotangent is the input's f32 partial.
          Value grad = get(ext.getResult(), loc);
          if (grad.getType() == f32Like(ext.getIn().getType()))
            add(ext.getIn(), grad);
          else
            add(ext.getIn(), arith::TruncFOp::create(
                                 builder, loc, ext.getIn().getType(), grad));
          return success();
        })
        .Case([&](arith::TruncFOp trunc) {
          Value grad = get(trunc.getResult(), loc);
          add(trunc.getIn(), arith::ExtFOp::create(
                                 builder, loc, trunc.getIn().getType(), grad));
          return success();
        })
        .Default([&](Operation *other) {
          return other->emitError()
                 << "attnres-derive-backward: cannot differentiate '"
                 << other->getName() << "'";
        });
  }

private:
  /// attnres.forward: attnres.backward with the op's own alpha and rstd.
  /// Cotangents reaching alpha or rstd directly are outside what
  /// attnres.backward computes; then the graph-level chain is emitted with
  /// those cotangents added in.
  LogicalResult differentiateForward(ForwardOp forward) {
    Location loc = forward.getLoc();
    Value gradH = get(forward.getH(), loc);
    Value gradAlpha = get(forward.getAlpha(), loc);
    Value gradRstd = get(forward.getRstd(), loc);
    if (!gradH)
      gradH = zerosLike(forward.getH(), loc);
    Value values = forward.getValues();
    if (!gradAlpha && !gradRstd) {
      auto backward = BackwardOp::create(
          builder, loc,
          TypeRange{values.getType(), forward.getQuery().getType(),
                    forward.getNormWeight().getType()},
          gradH, values, forward.getQuery(), forward.getNormWeight(),
          forward.getAlpha(), forward.getRstd(), forward.getEpsAttr(),
          forward.getNormalizerAttr(), forward.getNormTargetAttr(),
          forward.getNumValidAttr());
      add(values, backward.getGradValues());
      add(forward.getQuery(), backward.getGradQuery());
      add(forward.getNormWeight(), backward.getGradNormWeight());
      return success();
    }
    if (forward.getNormalizer() != Normalizer::softmax ||
        forward.getNormTarget() != NormTarget::keys || forward.getNumValid() ||
        cast<RankedTensorType>(forward.getQuery().getType()).getRank() != 1)
      return forward.emitOpError()
             << "attnres-derive-backward: cotangents of 'alpha' or 'rstd' "
                "are supported for the Kimi variant only";
    Type partial = f32Like(values.getType());
    Value alpha = forward.getAlpha(), rstd = forward.getRstd();
    auto mixGrad = MixGradOp::create(builder, loc, alpha.getType(), partial,
                                     gradH, alpha, values);
    Value da = mixGrad.getGradAlpha();
    if (gradAlpha)
      da = arith::AddFOp::create(builder, loc, da, gradAlpha);
    Value ds =
        DepthSoftmaxGradOp::create(builder, loc, alpha.getType(), alpha, da);
    auto scoreGrad = ScoreGradOp::create(
        builder, loc, partial, rstd.getType(), forward.getQuery().getType(),
        forward.getNormWeight().getType(), ds, values, rstd, forward.getQuery(),
        forward.getNormWeight());
    Value dr = scoreGrad.getGradRstd();
    if (gradRstd)
      dr = arith::AddFOp::create(builder, loc, dr, gradRstd);
    Value rstdGrad =
        RmsRstdGradOp::create(builder, loc, partial, dr, values, rstd);
    add(values, mixGrad.getGradValues());
    add(values, scoreGrad.getGradValues());
    add(values, rstdGrad);
    add(forward.getQuery(), scoreGrad.getGradQuery());
    add(forward.getNormWeight(), scoreGrad.getGradNormWeight());
    return success();
  }

  OpBuilder &builder;
  DenseMap<Value, SmallVector<Value, 3>> contributions;
};

/// Builds @<name>_vjp next to `func`; returns null after reporting an error.
func::FuncOp deriveVJP(func::FuncOp func, SymbolTable &symbols) {
  if (func.isExternal()) {
    func.emitError() << "attnres-derive-backward: @" << func.getName()
                     << " has no body to differentiate";
    return nullptr;
  }
  if (!func.getBody().hasOneBlock()) {
    func.emitError() << "attnres-derive-backward: @" << func.getName()
                     << " has control flow (more than one block)";
    return nullptr;
  }
  std::string name = (func.getName() + "_vjp").str();
  if (symbols.lookup(name)) {
    func.emitError() << "attnres-derive-backward: symbol @" << name
                     << " already exists";
    return nullptr;
  }

  FunctionType type = func.getFunctionType();
  SmallVector<Type> inputs(type.getInputs());
  SmallVector<unsigned> cotangentResults;
  for (auto [index, result] : llvm::enumerate(type.getResults()))
    if (isFloatTensor(result)) {
      inputs.push_back(result);
      cotangentResults.push_back(index);
    }
  SmallVector<Type> outputs;
  for (Type input : type.getInputs())
    if (isFloatTensor(input))
      outputs.push_back(input);

  OpBuilder builder(func);
  builder.setInsertionPointAfter(func);
  Location loc = func.getLoc();
  auto vjp = func::FuncOp::create(builder, loc, name,
                                  builder.getFunctionType(inputs, outputs));
  vjp.setVisibility(func.getVisibility());
  Block *entry = vjp.addEntryBlock();

  // Recompute the forward.
  Block &body = func.getBody().front();
  IRMapping mapping;
  for (auto [from, to] :
       llvm::zip(body.getArguments(),
                 entry->getArguments().take_front(body.getNumArguments())))
    mapping.map(from, to);
  builder.setInsertionPointToEnd(entry);
  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(builder.clone(op, mapping));

  // Seed the cotangents of the results, then sweep in reverse.
  Adjoint adjoint(builder);
  auto terminator = cast<func::ReturnOp>(body.getTerminator());
  for (auto [position, index] : llvm::enumerate(cotangentResults)) {
    if (func.getResultAttr(index, kNoGradAttr))
      continue;
    adjoint.add(mapping.lookup(terminator.getOperand(index)),
                entry->getArgument(body.getNumArguments() + position));
  }
  for (Operation *op : llvm::reverse(forward)) {
    if (failed(adjoint.differentiate(op))) {
      vjp.erase();
      return nullptr;
    }
  }

  SmallVector<Value> gradients;
  for (BlockArgument arg :
       entry->getArguments().take_front(body.getNumArguments())) {
    if (!isFloatTensor(arg.getType()))
      continue;
    Value grad = adjoint.get(arg, loc);
    gradients.push_back(grad ? grad : adjoint.zerosLike(arg, loc));
  }
  func::ReturnOp::create(builder, loc, gradients);
  return vjp;
}

struct AttnResDeriveBackwardPass
    : attnres::impl::AttnResDeriveBackwardPassBase<AttnResDeriveBackwardPass> {
  using AttnResDeriveBackwardPassBase::AttnResDeriveBackwardPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> marked;
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr(kDifferentiateAttr))
        marked.push_back(func);

    bool failedAny = false;
    SmallVector<func::FuncOp> derived;
    for (func::FuncOp func : marked) {
      func::FuncOp vjp = deriveVJP(func, symbols);
      if (!vjp) {
        failedAny = true;
        continue;
      }
      symbols.insert(vjp);
      derived.push_back(vjp);
    }
    if (failedAny)
      return signalPassFailure();

    // Drop the parts of the recomputed forward the backward does not read
    // and merge duplicates.
    OpPassManager cleanup(func::FuncOp::getOperationName());
    cleanup.addPass(createCanonicalizerPass());
    cleanup.addPass(createCSEPass());
    for (func::FuncOp vjp : derived)
      if (failed(runPipeline(cleanup, vjp)))
        return signalPassFailure();
  }
};

} // namespace
