//===- Passes.h - attnres passes and pipelines ------------------*- C++ -*-===//

#ifndef ATTNRES_LOWERING_PASSES_H
#define ATTNRES_LOWERING_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::attnres {

#define GEN_PASS_DECL
#include "lowering/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowering/Passes.h.inc"

/// Options of the `attnres-to-ptx` pipeline.
struct ToPTXPipelineOptions : PassPipelineOptions<ToPTXPipelineOptions> {
  Option<int64_t> numSources{*this, "n", llvm::cl::desc("number of sources N"),
                             llvm::cl::init(0)};
  Option<int64_t> width{*this, "d", llvm::cl::desc("feature width D"),
                        llvm::cl::init(0)};
  Option<std::string> dtype{*this, "dtype",
                            llvm::cl::desc("storage type: f32, f16, bf16"),
                            llvm::cl::init("")};
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("target SM, e.g. sm_80, sm_90a"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX ISA feature, e.g. +ptx80"),
                               llvm::cl::init("+ptx80")};
  Option<int64_t> threadsPerBlock{*this, "threads",
                                  llvm::cl::desc("threads per CTA (0: auto)"),
                                  llvm::cl::init(0)};
  Option<int64_t> vectorBytes{*this, "vector-bytes",
                              llvm::cl::desc("bytes per vector access"),
                              llvm::cl::init(16)};
  Option<std::string> resident{*this, "resident",
                               llvm::cl::desc("tile in registers: auto|on|off"),
                               llvm::cl::init("auto")};
  Option<std::string> form{
      *this, "form",
      llvm::cl::desc("kernel form: auto|resident|online|smem|cluster|streaming"),
      llvm::cl::init("auto")};
  Option<int64_t> rows{*this, "rows",
                       llvm::cl::desc("online form: rows per group (0: auto)"),
                       llvm::cl::init(0)};
  Option<int64_t> stages{
      *this, "stages",
      llvm::cl::desc("online form: ring slots in shared memory (1: none, "
                     "0: auto)"),
      llvm::cl::init(0)};
  Option<int64_t> cluster{
      *this, "cluster",
      llvm::cl::desc("cluster form: CTAs per cluster (0: auto)"),
      llvm::cl::init(0)};
  Option<int64_t> ctasPerSM{
      *this, "ctas-per-sm",
      llvm::cl::desc("CTAs an SM the registers are budgeted for (0: one)"),
      llvm::cl::init(0)};
  Option<std::string> dumpPTX{
      *this, "dump-ptx",
      llvm::cl::desc("directory to write one <kernel-module>.ptx per gpu.module"),
      llvm::cl::init("")};
};

/// First half of attnres-to-ptx: specialize and lower to gpu.module kernels
/// (gpu.func with known_block_size; no attnres op remains).
void buildToGPUKernelsPipeline(OpPassManager &pm,
                               const ToPTXPipelineOptions &options);

/// Second half: gpu.module kernels -> NVVM -> gpu.binary with PTX (and the
/// optional .ptx files).
void buildGPUKernelsToPTXPipeline(OpPassManager &pm,
                                  const ToPTXPipelineOptions &options);

/// attnres dialect -> gpu.binary holding PTX. Post-conditions: no attnres op
/// remains; every kernel is an llvm.func inside a gpu.module that was
/// serialized into a `gpu.binary` whose object's `assembly` is PTX for `chip`.
void buildToPTXPipeline(OpPassManager &pm, const ToPTXPipelineOptions &options);

/// attnres dialect -> LLVM dialect on the host. Post-conditions: every
/// function takes and returns memrefs (C interface emitted) and holds only
/// llvm dialect ops, ready for the ExecutionEngine.
void buildToCPUPipeline(OpPassManager &pm);

/// Registers the passes and the two named pipelines with the global registry.
void registerPassesAndPipelines();

} // namespace mlir::attnres

#endif // ATTNRES_LOWERING_PASSES_H
