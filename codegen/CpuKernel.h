//===- CpuKernel.h - attnres programs JIT-compiled for the host -*- C++ -*-===//
//
// The CPU path: an attnres program (a KernelSpec's, or any MLIR text in the
// attnres, func, arith and tensor dialects) goes through the attnres-to-cpu
// pipeline and the MLIR ExecutionEngine (LLVM -O2, host CPU) and is called on
// plain host buffers. No MLIR header is needed to use it.
//
// Calling convention: every function argument and result is a ranked tensor
// of f32, f16 or bf16 (f16 and bf16 as raw uint16_t bits), row-major and
// contiguous. Inputs are read, never written. The compiled code returns its
// results in buffers it allocates; run() copies each into the caller's output
// buffer and frees the code's buffer, so the caller owns nothing new and the
// outputs may be any memory (no alignment needed).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_CODEGEN_CPUKERNEL_H
#define ATTNRES_CODEGEN_CPUKERNEL_H

#include "codegen/KernelSpec.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace attnres {

/// A caller's input buffer: `shape` gives every extent, dynamic ones
/// included. `data` may be null only when the tensor has no element.
struct CpuInput {
  const void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

/// A caller's output buffer; its shape must equal the result's.
struct CpuOutput {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

/// The signature of one compiled function (-1 marks a dynamic extent).
struct CpuTensorType {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};
struct CpuFunction {
  std::string name;
  std::vector<CpuTensorType> arguments;
  std::vector<CpuTensorType> results;
};

/// Host code of one attnres program. Immutable once compiled; run() may be
/// called from several threads at once. Destroy kernels before the program
/// exits (not from the destructor of a static object): tearing a JIT down
/// uses LLVM state that exit may already have destroyed.
class CpuKernel {
public:
  ~CpuKernel();
  CpuKernel(const CpuKernel &) = delete;
  CpuKernel &operator=(const CpuKernel &) = delete;

  /// Compiles buildProgram(spec): the fused forward or backward of N, D and
  /// dtype with M dynamic, q and g f32. Fields of the GPU (arch, tuning) are
  /// ignored.
  static llvm::Expected<std::unique_ptr<CpuKernel>>
  compile(const KernelSpec &spec);

  /// Compiles MLIR text; every func.func in it becomes callable by name.
  static llvm::Expected<std::unique_ptr<CpuKernel>>
  compileSource(llvm::StringRef source);

  /// Calls `function`. Checks counts, element types and static extents of
  /// `inputs` and that each result's shape equals its `outputs` entry.
  /// Dynamic extents must agree as the program requires (M of the values,
  /// of grad_h and of the statistics): they are not checked at run time.
  llvm::Error run(llvm::StringRef function, llvm::ArrayRef<CpuInput> inputs,
                  llvm::ArrayRef<CpuOutput> outputs) const;

  /// Forward of a spec-compiled kernel on M = numTokens tokens:
  /// values [N, M, D] and h [M, D] in the spec's dtype; query, normWeight
  /// [D]; alpha, rstd [M, N].
  llvm::Error forward(int64_t numTokens, const void *values, const float *query,
                      const float *normWeight, void *h, float *alpha,
                      float *rstd) const;

  /// Backward of a spec-compiled kernel: gradH [M, D] and gradValues
  /// [N, M, D] in the spec's dtype; gradQuery, gradNormWeight [D] f32.
  llvm::Error backward(int64_t numTokens, const void *gradH, const void *values,
                       const float *query, const float *normWeight,
                       const float *alpha, const float *rstd, void *gradValues,
                       float *gradQuery, float *gradNormWeight) const;

  /// The functions of the program, in source order.
  const std::vector<CpuFunction> &functions() const { return functionList; }
  /// The attnres program that was compiled.
  const std::string &source() const { return sourceText; }
  /// Wall time of parsing, the pass pipeline and the JIT, in seconds.
  double compileSeconds() const { return seconds; }

private:
  CpuKernel() = default;
  const CpuFunction *find(llvm::StringRef name) const;

  std::unique_ptr<KernelSpec> spec; ///< set by compile(spec) only
  std::string sourceText;
  std::vector<CpuFunction> functionList;
  std::vector<void (*)(void **)> entries; ///< packed C wrappers, per function
  std::unique_ptr<mlir::ExecutionEngine> engine;
  double seconds = 0.0;
};

} // namespace attnres

#endif // ATTNRES_CODEGEN_CPUKERNEL_H
