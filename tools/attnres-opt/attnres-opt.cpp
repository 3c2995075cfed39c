//===- attnres-opt.cpp - mlir-opt style driver for the attnres dialect ----===//

#include "dialect/AttnResOps.h"
#include "lowering/Passes.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::attnres::registerPassesAndPipelines();

  mlir::DialectRegistry registry;
  registry.insert<mlir::attnres::AttnResDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "attnres optimizer driver: the attnres dialect and its "
                  "lowerings to PTX and to the CPU\n",
      registry));
}
