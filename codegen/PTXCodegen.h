//===- PTXCodegen.h - KernelSpec -> PTX through the attnres pipeline -*- C++ -*-===//
//
// Plain C++ interface (no MLIR or LLVM types), so the runtime and tools can
// use it without the compiler's headers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_CODEGEN_PTXCODEGEN_H
#define ATTNRES_CODEGEN_PTXCODEGEN_H

#include "codegen/KernelSpec.h"

#include <optional>
#include <string>
#include <vector>

namespace attnres {

/// One kernel entry of a compiled module and how to launch it.
struct KernelEntry {
  std::string name;
  int64_t threads = 0; ///< CTA size (x); grid: see CompiledKernel
  /// Elements per vector access of the token rows (1 for the reduce entry):
  /// storage pointers must be aligned to vectorElems * element size, f32
  /// parameter pointers to min(16, vectorElems * 4) bytes.
  int64_t vectorElems = 1;
  /// Dynamic shared memory per CTA (bytes): pass it at launch, after raising
  /// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES to it (static plus
  /// dynamic past 48 KiB fails to launch without).
  int64_t dynamicSharedBytes = 0;
  /// CTAs per thread-block cluster (fixed in the PTX): the grid must be a
  /// multiple of it. The backward still writes one partial row per CTA.
  int64_t clusterSize = 1;
  /// What the lowering chose (e.g. "online rows=4 stages=2"): for people,
  /// not needed to launch; empty for the reduce entry.
  std::string layout;
};

/// The PTX of one spec and its launch metadata.
///
/// Launch rules: the main entry runs any grid size (grid-stride over tokens);
/// for the backward, its grid size G is the number of partial rows, the
/// workspace holds G * D f32, and the `_reduce` entry runs
/// ceil(D / threads) CTAs with num_partials = G.
struct CompiledKernel {
  KernelSpec spec;
  std::string ptx;
  std::vector<KernelEntry> entries; ///< main kernel, then reduce (backward)
  std::string kernelIR;             ///< the gpu.module before NVVM lowering
};

/// Register and memory figures from ptxas for one entry.
struct ResourceReport {
  std::string entry;
  int registers = 0;
  int stackFrameBytes = 0;
  int spillStoreBytes = 0;
  int spillLoadBytes = 0;
  int sharedBytes = 0;
};

/// Compiles `spec` to PTX. On failure returns nullopt and sets `error` to
/// the diagnostics (a spec that is out of range is refused here, by name).
std::optional<CompiledKernel> compileToPTX(const KernelSpec &spec,
                                           std::string &error);

/// The module after one pass of the pipeline.
struct IRStage {
  std::string pass; ///< the pass flag (attnres-lower-to-gpu, ...); "input" first
  std::string ir;
};

/// compileToPTX, also recording the program ("input") and the whole module
/// after every pass, in order, for inspection. Slower: it prints the IR
/// once per pass.
std::optional<CompiledKernel>
compileToPTXWithStages(const KernelSpec &spec, std::vector<IRStage> &stages,
                       std::string &error);

/// Assembles `ptx` with ptxas for `arch` and parses its -v report. Returns
/// nullopt with `error` set if ptxas is missing or rejects the PTX.
std::optional<std::vector<ResourceReport>>
assembleWithPtxas(const std::string &ptx, const std::string &arch,
                  std::string &error, const std::string &ptxasPath = "");

/// The ptxas of the CUDA toolkit (ATTNRES_PTXAS, then the configured CUDA
/// root, then PATH); empty if none.
std::string findPtxas();

/// Metadata of a compiled kernel as JSON (spec, entries, versions).
std::string toJSON(const CompiledKernel &kernel);

} // namespace attnres

#endif // ATTNRES_CODEGEN_PTXCODEGEN_H
