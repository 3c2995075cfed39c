//===- Specialize.cpp - Pin N, D and dtype of attnres functions -----------===//
//
// Every operand and result of an attnres op has a layout over the symbols N
// (sources), M (tokens) and D (width). The pass collects those layouts,
// extends them through shape-preserving elementwise ops (arith.addf,
// arith.truncf, ... as attnres-decompose emits), and refines each N and D
// dimension to the spec. M stays as it is. Values are retyped in place where
// that is safe (function arguments, results of attnres and elementwise ops);
// other producers get a tensor.cast to the refined type, and users outside
// the attnres graph keep seeing the old type through a tensor.cast back.
// Function types follow their arguments and returned values.
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attnres {
#define GEN_PASS_DEF_ATTNRESSPECIALIZEPASS
#include "lowering/Passes.h.inc"
} // namespace mlir::attnres

using namespace mlir;
using namespace mlir::attnres;

namespace {

/// One operand or result of an attnres op: its layout over N, M, D and
/// whether it holds the storage type of the values.
struct Role {
  Value value;
  StringRef layout;
  bool storage;
};

/// `type` as the user writes it (diagnostics quote types otherwise).
std::string spell(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  return text;
}

StringRef queryLayout(Value query) {
  return cast<RankedTensorType>(query.getType()).getRank() == 2 ? "MD" : "D";
}

/// The roles of the operands and results of `op`; empty for other ops.
SmallVector<Role> rolesOf(Operation *op) {
  using R = SmallVector<Role>;
  return TypeSwitch<Operation *, R>(op)
      .Case([](ForwardOp o) -> R {
        return {{o.getValues(), "NMD", true},
                {o.getQuery(), queryLayout(o.getQuery()), false},
                {o.getNormWeight(), "D", false},
                {o.getH(), "MD", true},
                {o.getAlpha(), "MN", false},
                {o.getRstd(), "MN", false}};
      })
      .Case([](BackwardOp o) -> R {
        return {{o.getGradH(), "MD", true},
                {o.getValues(), "NMD", true},
                {o.getQuery(), queryLayout(o.getQuery()), false},
                {o.getNormWeight(), "D", false},
                {o.getAlpha(), "MN", false},
                {o.getRstd(), "MN", false},
                {o.getGradValues(), "NMD", true},
                {o.getGradQuery(), queryLayout(o.getQuery()), false},
                {o.getGradNormWeight(), "D", false}};
      })
      .Case([](RmsRstdOp o) -> R {
        return {{o.getValues(), "NMD", true}, {o.getRstd(), "MN", false}};
      })
      .Case([](ScoreOp o) -> R {
        return {{o.getValues(), "NMD", true},
                {o.getRstd(), "MN", false},
                {o.getQuery(), queryLayout(o.getQuery()), false},
                {o.getNormWeight(), "D", false},
                {o.getScores(), "MN", false}};
      })
      .Case([](DepthSoftmaxOp o) -> R {
        return {{o.getScores(), "MN", false}, {o.getAlpha(), "MN", false}};
      })
      .Case([](MixOp o) -> R {
        return {{o.getAlpha(), "MN", false},
                {o.getValues(), "NMD", true},
                {o.getH(), "MD", true}};
      })
      .Case([](MixGradOp o) -> R {
        return {{o.getGradH(), "MD", true},
                {o.getAlpha(), "MN", false},
                {o.getValues(), "NMD", true},
                {o.getGradAlpha(), "MN", false},
                {o.getGradValues(), "NMD", false}};
      })
      .Case([](DepthSoftmaxGradOp o) -> R {
        return {{o.getAlpha(), "MN", false},
                {o.getGradAlpha(), "MN", false},
                {o.getGradScores(), "MN", false}};
      })
      .Case([](ScoreGradOp o) -> R {
        return {{o.getGradScores(), "MN", false},
                {o.getValues(), "NMD", true},
                {o.getRstd(), "MN", false},
                {o.getQuery(), queryLayout(o.getQuery()), false},
                {o.getNormWeight(), "D", false},
                {o.getGradValues(), "NMD", false},
                {o.getGradRstd(), "MN", false},
                {o.getGradQuery(), queryLayout(o.getQuery()), false},
                {o.getGradNormWeight(), "D", false}};
      })
      .Case([](RmsRstdGradOp o) -> R {
        return {{o.getGradRstd(), "MN", false},
                {o.getValues(), "NMD", true},
                {o.getRstd(), "MN", false},
                {o.getGradValues(), "NMD", false}};
      })
      .Default([](Operation *) -> R { return {}; });
}

bool isAttnResOp(Operation *op) {
  return op->getName().getDialectNamespace() ==
         AttnResDialect::getDialectNamespace();
}

/// Elementwise ops on same-shaped tensors carry the refinement through.
bool propagatesShape(Operation *op) {
  if (!op->hasTrait<OpTrait::Elementwise>() &&
      !op->hasTrait<OpTrait::SameOperandsAndResultShape>())
    return false;
  auto ranked = [](Type type) { return isa<RankedTensorType>(type); };
  return op->getNumResults() > 0 &&
         llvm::all_of(op->getOperandTypes(), ranked) &&
         llvm::all_of(op->getResultTypes(), ranked);
}

/// Specializes one function.
class FunctionSpecializer {
public:
  FunctionSpecializer(func::FuncOp func, int64_t numSources, int64_t width,
                      Type dtype)
      : func(func), numSources(numSources), width(width), dtype(dtype) {}

  LogicalResult run() {
    collect();
    if (failed(checkStorageTypes()) || failed(computeClassShapes()) ||
        failed(checkStaticSizes()))
      return failure();
    return apply();
  }

private:
  Value find(Value value) {
    auto it = parent.find(value);
    if (it == parent.end()) {
      parent[value] = value;
      return value;
    }
    if (it->second == value)
      return value;
    Value root = find(it->second);
    parent[value] = root;
    return root;
  }
  void unite(Value a, Value b) { parent[find(a)] = find(b); }

  void collect() {
    func.walk([&](Operation *op) {
      for (Role &role : rolesOf(op)) {
        roles.push_back(role);
        find(role.value);
        participating.insert(op);
      }
      if (!isAttnResOp(op) && propagatesShape(op)) {
        participating.insert(op);
        Value first = op->getResult(0);
        for (Value value : op->getOperands())
          unite(value, first);
        for (Value value : op->getResults())
          unite(value, first);
      }
    });
  }

  /// "argument #0" or "result #1 of 'attnres.score'".
  std::string describe(Value value) {
    std::string text;
    llvm::raw_string_ostream os(text);
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      if (arg.getOwner() == &func.getBody().front())
        os << "argument #" << arg.getArgNumber();
      else
        os << "a block argument";
    } else {
      auto result = cast<OpResult>(value);
      os << "result #" << result.getResultNumber() << " of '"
         << result.getOwner()->getName() << "'";
    }
    return text;
  }

  InFlightDiagnostic errorAt(Value value) {
    if (Operation *op = value.getDefiningOp())
      return op->emitError();
    return func.emitError();
  }

  LogicalResult checkStorageTypes() {
    if (!dtype)
      return success();
    for (Role &role : roles) {
      Type element = getElementTypeOrSelf(role.value.getType());
      if (role.storage && element != dtype)
        return errorAt(role.value)
               << "spec says dtype = " << spell(dtype) << " but function @"
               << func.getName() << " has element type " << spell(element)
               << " in " << describe(role.value);
    }
    return success();
  }

  /// The refined size of every N and D dimension, per equivalence class.
  LogicalResult computeClassShapes() {
    for (Role &role : roles) {
      SmallVector<Dim> &shape = classShapes[find(role.value)];
      if (shape.empty())
        shape.resize(role.layout.size());
      if (shape.size() != role.layout.size())
        continue; // Rank clash across an elementwise op: verified elsewhere.
      for (auto [dim, symbol] : llvm::enumerate(role.layout)) {
        int64_t size = symbol == 'N' ? numSources : symbol == 'D' ? width : 0;
        if (size == 0)
          continue;
        Dim &slot = shape[dim];
        if (slot.symbol && slot.size != size)
          return errorAt(role.value)
                 << "spec gives " << slot.symbol << " = " << slot.size
                 << " and " << symbol << " = " << size << " to dimension "
                 << dim << " of " << describe(role.value) << " in function @"
                 << func.getName();
        slot = {size, symbol};
      }
    }
    return success();
  }

  /// Every value of the graph, arguments first, then results in op order,
  /// so that errors and rewrites do not depend on hash order.
  SmallVector<Value> orderedValues() {
    SmallVector<Value> values;
    auto consider = [&](Value value) {
      if (parent.count(value))
        values.push_back(value);
    };
    for (BlockArgument arg : func.getArguments())
      consider(arg);
    func.walk([&](Operation *op) {
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            consider(arg);
      for (Value result : op->getResults())
        consider(result);
    });
    return values;
  }

  /// Static sizes must agree with the spec.
  LogicalResult checkStaticSizes() {
    for (Value value : orderedValues()) {
      auto it = classShapes.find(find(value));
      if (it == classShapes.end())
        continue;
      auto type = cast<RankedTensorType>(value.getType());
      if (type.getRank() != static_cast<int64_t>(it->second.size()))
        continue;
      for (auto [dim, slot] : llvm::enumerate(it->second)) {
        int64_t size = type.getDimSize(dim);
        if (slot.symbol && !ShapedType::isDynamic(size) && size != slot.size)
          return errorAt(value)
                 << "spec says " << slot.symbol << " = " << slot.size
                 << " but function @" << func.getName() << " has "
                 << slot.symbol << " = " << size << " in " << describe(value);
      }
    }
    return success();
  }

  Type refinedType(Value value) {
    auto type = cast<RankedTensorType>(value.getType());
    auto it = classShapes.find(find(value));
    if (it == classShapes.end() ||
        type.getRank() != static_cast<int64_t>(it->second.size()))
      return type;
    SmallVector<int64_t> shape(type.getShape());
    for (auto [dim, slot] : llvm::enumerate(it->second))
      if (slot.symbol)
        shape[dim] = slot.size;
    return type.clone(shape);
  }

  bool isRetypable(Value value) {
    if (auto arg = dyn_cast<BlockArgument>(value))
      return arg.getOwner() == &func.getBody().front();
    return participating.contains(value.getDefiningOp());
  }

  LogicalResult apply() {
    OpBuilder builder(func.getContext());
    for (Value value : orderedValues()) {
      Type oldType = value.getType();
      Type newType = refinedType(value);
      if (newType == oldType)
        continue;
      if (!isRetypable(value)) {
        // Refine a foreign producer's value for the attnres graph only.
        builder.setInsertionPointAfterValue(value);
        Value refined =
            tensor::CastOp::create(builder, value.getLoc(), newType, value);
        value.replaceUsesWithIf(refined, [&](OpOperand &use) {
          return participating.contains(use.getOwner());
        });
        continue;
      }
      value.setType(newType);
      for (OpOperand &use : llvm::make_early_inc_range(value.getUses())) {
        Operation *user = use.getOwner();
        if (participating.contains(user) || isa<func::ReturnOp>(user))
          continue;
        // Users outside the attnres graph keep the type they were built for.
        builder.setInsertionPoint(user);
        use.set(
            tensor::CastOp::create(builder, value.getLoc(), oldType, value));
      }
    }
    return updateSignature();
  }

  LogicalResult updateSignature() {
    FunctionType oldType = func.getFunctionType();
    SmallVector<Type> results(oldType.getResults());
    SmallVector<func::ReturnOp> returns;
    func.walk([&](func::ReturnOp op) {
      if (op->getParentOp() == func)
        returns.push_back(op);
    });
    for (unsigned index = 0; index < results.size(); ++index) {
      Type common;
      bool agree = true;
      for (func::ReturnOp ret : returns) {
        Type type = ret.getOperand(index).getType();
        agree &= !common || common == type;
        common = type;
      }
      if (agree && common) {
        results[index] = common;
        continue;
      }
      // Returns disagree: all return the old type.
      OpBuilder builder(func.getContext());
      for (func::ReturnOp ret : returns) {
        Value operand = ret.getOperand(index);
        if (operand.getType() == results[index])
          continue;
        builder.setInsertionPoint(ret);
        ret.setOperand(index, tensor::CastOp::create(builder, ret.getLoc(),
                                                     results[index], operand));
      }
    }
    auto newType = FunctionType::get(
        func.getContext(), func.getBody().front().getArgumentTypes(), results);
    if (newType == oldType)
      return success();
    auto module = func->getParentOfType<ModuleOp>();
    if (module && !SymbolTable::symbolKnownUseEmpty(func, module))
      return func.emitError()
             << "attnres-specialize: cannot change the signature of @"
             << func.getName() << " because it has callers";
    func.setType(newType);
    return success();
  }

  struct Dim {
    int64_t size = ShapedType::kDynamic;
    char symbol = 0;
  };

  func::FuncOp func;
  int64_t numSources, width;
  Type dtype;
  SmallVector<Role> roles;
  DenseMap<Value, Value> parent;
  DenseMap<Value, SmallVector<Dim>> classShapes;
  DenseSet<Operation *> participating;
};

struct AttnResSpecializePass
    : attnres::impl::AttnResSpecializePassBase<AttnResSpecializePass> {
  using AttnResSpecializePassBase::AttnResSpecializePassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    int64_t n = numSources, d = width;
    StringRef dtypeName = dtype;
    if (n != 0 && (n < 1 || n > kMaxSources)) {
      module.emitError() << "attnres-specialize: n = " << n
                         << " is outside [1, " << kMaxSources << "]";
      return signalPassFailure();
    }
    if (d != 0 && (d < 1 || d > kMaxWidth)) {
      module.emitError() << "attnres-specialize: d = " << d
                         << " is outside [1, " << kMaxWidth << "]";
      return signalPassFailure();
    }
    Type element = llvm::StringSwitch<Type>(dtypeName)
                       .Case("f32", Float32Type::get(context))
                       .Case("f16", Float16Type::get(context))
                       .Case("bf16", BFloat16Type::get(context))
                       .Default(nullptr);
    if (!dtypeName.empty() && !element) {
      module.emitError() << "attnres-specialize: dtype = '" << dtypeName
                         << "' is not one of f32, f16, bf16";
      return signalPassFailure();
    }
    if (n == 0 && d == 0 && !element)
      return;

    bool failedAny = false;
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isExternal())
        continue;
      FunctionSpecializer specializer(func, n, d, element);
      failedAny |= failed(specializer.run());
    }
    if (failedAny)
      signalPassFailure();
  }
};

} // namespace
