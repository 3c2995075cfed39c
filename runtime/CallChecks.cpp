//===- CallChecks.cpp - Argument checks of forward/backward calls ---------===//

#include "runtime/CallChecks.h"

#include "runtime/KernelCache.h"

#include "codegen/Tuning.h"

#include "dialect/Limits.h"

#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>

namespace attnres {

namespace {
/// %g keeps tiny and negative values readable (std::to_string prints
/// -1e-9 as -0.000000).
std::string formatFloat(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(value));
  return text;
}
} // namespace

namespace {

enum class PointerKind { Storage, Param, Stats, Workspace };

const char *opName(const CallArgs &args) {
  return args.direction == Direction::Forward ? "forward" : "backward";
}

[[noreturn]] void fail(const CallArgs &args, ErrorKind kind,
                       const std::string &message) {
  throw Error(kind, std::string("attnres ") + opName(args) + ": " + message);
}

std::string pointerName(const char *name, int64_t index) {
  return index < 0 ? std::string(name)
                   : std::string(name) + "[" + std::to_string(index) + "]";
}

std::string address(const void *p) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%p", p);
  return buffer;
}

/// Calls `visit(name, index, pointer, kind)` for every pointer the call
/// reads or writes (index: the source, or -1).
template <typename Visit> void forEachPointer(const CallArgs &args, Visit visit) {
  const int64_t e = elementBytes(args.dtype);
  const Sources &sources = *args.sources;
  const bool forward = args.direction == Direction::Forward;
  if (!forward)
    visit("grad_h", -1, args.gradH, PointerKind::Storage);
  for (int64_t i = 0; i < sources.count(); ++i)
    visit("sources", i, sources.pointer(i, args.tokens, args.width, e),
          PointerKind::Storage);
  visit("query", -1, args.query, PointerKind::Param);
  visit("norm_weight", -1, args.normWeight, PointerKind::Param);
  if (forward)
    visit("h", -1, args.h, PointerKind::Storage);
  visit("alpha", -1, args.alpha, PointerKind::Stats);
  visit("rstd", -1, args.rstd, PointerKind::Stats);
  if (forward)
    return;
  const Sources &grads = *args.gradSources;
  for (int64_t i = 0; i < grads.count(); ++i)
    visit("grad_sources", i, grads.pointer(i, args.tokens, args.width, e),
          PointerKind::Storage);
  visit("grad_query", -1, args.gradQuery, PointerKind::Param);
  visit("grad_norm_weight", -1, args.gradNormWeight, PointerKind::Param);
  if (args.workspace)
    visit("workspace", -1, args.workspace, PointerKind::Workspace);
}

/// Whether the call writes through the pointer `name` (forward: h, alpha,
/// rstd; backward: the gradients and the workspace).
bool isWritten(const CallArgs &args, const char *name) {
  std::string_view n(name);
  if (args.direction == Direction::Forward)
    return n == "h" || n == "alpha" || n == "rstd";
  return n.rfind("grad_", 0) == 0 ? n != "grad_h" : n == "workspace";
}

/// Refuses a call in which memory that the call writes is also another
/// argument (read or written): the kernels would read half-written values
/// or race. Arguments that are only read may share memory. Exact: sorted by
/// start, each range is compared with the furthest end so far among all
/// ranges (if it is written) and among the written ones (if it is read).
void checkOverlaps(const CallArgs &args) {
  struct Range {
    uintptr_t begin, end;
    const char *name;
    int64_t index;
    bool written;
  };
  const int64_t e = elementBytes(args.dtype), n = args.sources->count();
  const uintptr_t rowBytes = uintptr_t(args.tokens * args.width * e);
  // Room for every argument of the largest call (2N sources and gradients,
  // 8 others): no heap allocation on the launch path.
  llvm::SmallVector<Range, 2 * mlir::attnres::kMaxSources + 8> ranges;
  forEachPointer(args, [&](const char *name, int64_t index, const void *p,
                           PointerKind kind) {
    uintptr_t bytes = kind == PointerKind::Storage ? rowBytes
                      : kind == PointerKind::Param ? uintptr_t(args.width) * 4
                      : kind == PointerKind::Stats
                          ? uintptr_t(args.tokens * n) * 4
                          : uintptr_t(args.workspaceBytes);
    if (bytes == 0)
      return;
    uintptr_t begin = reinterpret_cast<uintptr_t>(p);
    ranges.push_back({begin, begin + bytes, name, index, isWritten(args, name)});
  });
  std::sort(ranges.begin(), ranges.end(),
            [](const Range &a, const Range &b) { return a.begin < b.begin; });
  const Range *furthest = nullptr, *furthestWritten = nullptr;
  for (const Range &r : ranges) {
    const Range *other = r.written ? furthest : furthestWritten;
    if (other && r.begin < other->end)
      fail(args, ErrorKind::InvalidArgument,
           pointerName(r.name, r.index) + " (" + address((const void *)r.begin) +
               ") overlaps " + pointerName(other->name, other->index) + " (" +
               address((const void *)other->begin) +
               "): memory the call writes must not be another argument");
    if (!furthest || r.end > furthest->end)
      furthest = &r;
    if (r.written && (!furthestWritten || r.end > furthestWritten->end))
      furthestWritten = &r;
  }
}

/// The fields of a spec the compiler validates, at full width (numSources
/// -1: no call yet).
struct SpecMemo {
  int64_t numSources = -1, width = -1;
  int dtype = -1, direction = -1;
  uint32_t epsBits = 0;
  Tuning tuning;

  static SpecMemo of(const CallArgs &args, int64_t n) {
    SpecMemo m;
    m.numSources = n;
    m.width = args.width;
    m.dtype = int(args.dtype);
    m.direction = int(args.direction);
    std::memcpy(&m.epsBits, &args.eps, sizeof m.epsBits);
    m.tuning = args.tuning ? *args.tuning : Tuning();
    return m;
  }
  bool operator==(const SpecMemo &o) const {
    return numSources == o.numSources && width == o.width && dtype == o.dtype &&
           direction == o.direction && epsBits == o.epsBits &&
           tuning == o.tuning;
  }
};

void checkStrides(const CallArgs &args, const Sources &sources,
                  const char *name, bool written) {
  if (sources.tokenStride() != Sources::kDense &&
      sources.tokenStride() != args.width)
    fail(args, ErrorKind::InvalidArgument,
         std::string(name) + " have token stride " +
             std::to_string(sources.tokenStride()) + " but D is " +
             std::to_string(args.width) +
             ": the rows of each source must be contiguous (token stride "
             "== D)");
  if (!sources.isStacked() || sources.sourceStride() == Sources::kDense)
    return;
  if (sources.sourceStride() < 0)
    fail(args, ErrorKind::InvalidArgument,
         std::string(name) + " have a negative source stride (" +
             std::to_string(sources.sourceStride()) + ")");
  // Gradients of different sources must not land on the same rows.
  if (written && sources.count() > 1 &&
      sources.sourceStride() < args.tokens * args.width)
    fail(args, ErrorKind::InvalidArgument,
         std::string(name) + " have source stride " +
             std::to_string(sources.sourceStride()) + " < M * D = " +
             std::to_string(args.tokens * args.width) +
             ": the gradients of different sources would overlap");
}

} // namespace

void checkCall(const CallArgs &args) {
  const bool forward = args.direction == Direction::Forward;
  const int dtype = static_cast<int>(args.dtype);
  if (dtype < 0 || dtype > 2)
    fail(args, ErrorKind::Unsupported,
         "unsupported dtype (enum value " + std::to_string(dtype) +
             "); expected f32, f16 or bf16");
  if (args.tokens < 0)
    fail(args, ErrorKind::InvalidArgument,
         "M (number of tokens) must be >= 0, got " +
             std::to_string(args.tokens));
  const int64_t n = args.sources->count();
  if (n < 1)
    fail(args, ErrorKind::InvalidArgument,
         "N (number of sources) must be >= 1, got " + std::to_string(n));
  if (args.width < 1)
    fail(args, ErrorKind::InvalidArgument,
         "D (feature width) must be >= 1, got " + std::to_string(args.width));
  if (!(args.eps > 0.0f) || !std::isfinite(args.eps))
    fail(args, ErrorKind::InvalidArgument,
         "eps must be positive and finite, got " + formatFloat(args.eps));
  if (!forward && args.gradSources->count() != n)
    fail(args, ErrorKind::InvalidArgument,
         "grad_sources has " + std::to_string(args.gradSources->count()) +
             " tensors but sources has " + std::to_string(n));
  // The compiler's limits, checked once per thread and spec: a call that
  // repeats the last one's spec skips building and validating a KernelSpec.
  static thread_local SpecMemo lastValid;
  const SpecMemo specKey = SpecMemo::of(args, n);
  if (!(specKey == lastValid)) {
    KernelSpec spec;
    spec.numSources = n;
    spec.width = args.width;
    spec.dtype = args.dtype;
    spec.direction = args.direction;
    spec.arch = "sm_80"; // any supported arch: the device's is not known yet
    spec.eps = args.eps;
    if (args.tuning)
      spec.tuning = *args.tuning;
    try {
      checkSpec(spec);
    } catch (const Error &error) {
      fail(args, error.kind(), error.what());
    }
    lastValid = specKey;
  }
  // Byte offsets of every row must fit in int64.
  if (args.tokens > std::numeric_limits<int64_t>::max() / 4 / n / args.width)
    fail(args, ErrorKind::InvalidArgument,
         "M = " + std::to_string(args.tokens) + " is too large for N = " +
             std::to_string(n) + ", D = " + std::to_string(args.width));
  checkStrides(args, *args.sources, "sources", false);
  if (!forward)
    checkStrides(args, *args.gradSources, "grad_sources", true);

  if (args.tokens == 0) {
    // Nothing is read or written but the zeroed weight gradients: empty
    // tensors may well have null data pointers.
    if (!forward && (!args.gradQuery || !args.gradNormWeight))
      fail(args, ErrorKind::InvalidArgument,
           std::string(!args.gradQuery ? "grad_query" : "grad_norm_weight") +
               " is a null pointer");
    return;
  }
  const int64_t e = elementBytes(args.dtype);
  forEachPointer(args, [&](const char *name, int64_t index, const void *p,
                           PointerKind kind) {
    if (!p)
      fail(args, ErrorKind::InvalidArgument,
           pointerName(name, index) + " is a null pointer");
    int64_t align = kind == PointerKind::Storage ? e : 4;
    if (reinterpret_cast<uintptr_t>(p) % align != 0)
      fail(args, ErrorKind::InvalidArgument,
           pointerName(name, index) + " (" + address(p) +
               ") is not aligned to its " + std::to_string(align) +
               "-byte elements (" +
               (kind == PointerKind::Storage ? toString(args.dtype) : "f32") +
               ")");
  });
  if (!args.standInPointers)
    checkOverlaps(args);
}

void checkVectorAlignment(const CallArgs &args, int64_t vectorElems,
                          const std::string &kernel) {
  if (args.tokens == 0)
    return;
  const int64_t e = elementBytes(args.dtype);
  const int64_t storage = vectorElems * e;
  const int64_t param = std::min<int64_t>(16, vectorElems * 4);
  forEachPointer(args, [&](const char *name, int64_t index, const void *p,
                           PointerKind kind) {
    int64_t align = kind == PointerKind::Storage ? storage
                    : kind == PointerKind::Stats ? 4
                                                 : param;
    if (reinterpret_cast<uintptr_t>(p) % align == 0)
      return;
    std::string why =
        kind == PointerKind::Storage
            ? std::to_string(vectorElems) + " x " + toString(args.dtype)
            : std::to_string(std::min<int64_t>(vectorElems, 4)) + " x f32";
    fail(args, ErrorKind::InvalidArgument,
         pointerName(name, index) + " (" + address(p) +
             ") must be aligned to " + std::to_string(align) +
             " bytes: kernel " + kernel + " accesses " + why +
             " at a time");
  });
}

} // namespace attnres
