//===- AttnResDialect.cpp - attnres dialect registration ------------------===//

#include "dialect/AttnResOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attnres;

#include "dialect/AttnResOpsDialect.cpp.inc"
#include "dialect/AttnResEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/AttnResAttrs.cpp.inc"

void AttnResDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/AttnResAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/AttnResOps.cpp.inc"
      >();
}
