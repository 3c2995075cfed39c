//===- AttnResOps.h - attnres dialect, attributes and ops -------*- C++ -*-===//

#ifndef ATTNRES_DIALECT_ATTNRESOPS_H
#define ATTNRES_DIALECT_ATTNRESOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/Limits.h"

#include "dialect/AttnResOpsDialect.h.inc"
#include "dialect/AttnResEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/AttnResAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/AttnResOps.h.inc"

namespace mlir::attnres {


/// True for the storage element types AttnRes supports: f32, f16, bf16.
bool isSupportedElementType(Type type);

/// Static dimensions of an AttnRes problem (ShapedType::kDynamic where unknown).
struct ProblemShape {
  int64_t numSources;
  int64_t numTokens;
  int64_t width;
};

/// The shape of the stacked values tensor<N x M x D x T> of `op`'s operand.
ProblemShape getProblemShape(Value values);

} // namespace mlir::attnres

#endif // ATTNRES_DIALECT_ATTNRESOPS_H
