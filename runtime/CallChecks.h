//===- CallChecks.h - Argument checks of forward/backward calls -*- C++ -*-===//
//
// Internal to the runtime. checkCall() needs no GPU and runs before the
// driver is touched; checkVectorAlignment() needs the kernel's access width
// (KernelEntry::vectorElems), known once the kernel is compiled or found.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_CALLCHECKS_H
#define ATTNRES_RUNTIME_CALLCHECKS_H

#include "runtime/AttnRes.h"

namespace attnres {

/// One forward or backward call, as passed to the Runtime.
struct CallArgs {
  Direction direction = Direction::Forward;
  const Sources *sources = nullptr;
  const Sources *gradSources = nullptr; // backward
  const void *gradH = nullptr;          // backward
  const float *query = nullptr;
  const float *normWeight = nullptr;
  const void *h = nullptr;              // forward
  const float *alpha = nullptr;
  const float *rstd = nullptr;
  const float *gradQuery = nullptr;      // backward
  const float *gradNormWeight = nullptr; // backward
  const void *workspace = nullptr;       // backward, optional
  size_t workspaceBytes = 0;             // its size, as the caller says
  int64_t tokens = 0;
  int64_t width = 0;
  DType dtype = DType::BF16;
  float eps = 0.0f;
  const Tuning *tuning = nullptr;
  /// Set where only the shape matters (backwardWorkspaceBytes): the
  /// pointers are one stand-in, so they are not checked for overlaps.
  bool standInPointers = false;
};

/// Shapes, eps, dtype, tuning, null pointers, element alignment, strides,
/// the number of sources, and that no memory the call writes is also
/// another argument. Throws attnres::Error.
void checkCall(const CallArgs &args);

/// Every pointer against the alignment of the kernel's vector accesses:
/// storage pointers to vectorElems * element size, f32 [D] pointers and the
/// workspace to min(16, vectorElems * 4) bytes. Throws attnres::Error.
void checkVectorAlignment(const CallArgs &args, int64_t vectorElems,
                          const std::string &kernel);

} // namespace attnres

#endif // ATTNRES_RUNTIME_CALLCHECKS_H
