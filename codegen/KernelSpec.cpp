//===- KernelSpec.cpp - Kernel specs: names, validation, attnres programs -===//

#include "codegen/KernelSpec.h"
#include "dialect/Limits.h"

#include <cmath>
#include <sstream>

namespace attnres {

using mlir::attnres::kMaxCtasPerSM;
using mlir::attnres::kMaxSources;
using mlir::attnres::kMaxThreadsPerSM;
using mlir::attnres::kMaxWidth;

const char *toString(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  }
  return "?";
}

const char *toString(Direction direction) {
  return direction == Direction::Forward ? "fwd" : "bwd";
}

std::optional<DType> parseDType(const std::string &name) {
  if (name == "f32" || name == "float32")
    return DType::F32;
  if (name == "f16" || name == "float16")
    return DType::F16;
  if (name == "bf16" || name == "bfloat16")
    return DType::BF16;
  return std::nullopt;
}

std::optional<Direction> parseDirection(const std::string &name) {
  if (name == "fwd" || name == "forward")
    return Direction::Forward;
  if (name == "bwd" || name == "backward")
    return Direction::Backward;
  return std::nullopt;
}

int64_t elementBytes(DType dtype) { return dtype == DType::F32 ? 4 : 2; }

std::string validate(const KernelSpec &spec) {
  std::ostringstream error;
  if (spec.numSources < 1 || spec.numSources > kMaxSources)
    error << "N (number of sources) must be in [1, " << kMaxSources
          << "], got " << spec.numSources;
  else if (spec.width < 1 || spec.width > kMaxWidth)
    error << "D (feature width) must be in [1, " << kMaxWidth << "], got "
          << spec.width;
  else if (!(spec.eps > 0.0f) || !std::isfinite(spec.eps))
    error << "eps must be positive and finite, got " << spec.eps;
  else if (spec.arch.rfind("sm_", 0) != 0 || spec.arch.size() < 5 ||
           std::stoi(spec.arch.substr(3, 2)) < 80)
    error << "arch must be sm_80 or newer (e.g. sm_80, sm_90a), got '"
          << spec.arch << "'";
  else if (spec.tuning.vectorBytes != 4 && spec.tuning.vectorBytes != 8 &&
           spec.tuning.vectorBytes != 16)
    error << "vector bytes must be 4, 8 or 16, got " << spec.tuning.vectorBytes;
  else if (spec.tuning.threads != 0 &&
           (spec.tuning.threads % 32 != 0 || spec.tuning.threads > 1024))
    error << "threads must be 0 (auto) or a multiple of 32 up to 1024, got "
          << spec.tuning.threads;
  else if (spec.tuning.resident != "auto" && spec.tuning.resident != "on" &&
           spec.tuning.resident != "off")
    error << "resident must be auto, on or off, got '" << spec.tuning.resident
          << "'";
  else if (spec.tuning.form != "auto" && spec.tuning.form != "resident" &&
           spec.tuning.form != "online" && spec.tuning.form != "smem" &&
           spec.tuning.form != "cluster" && spec.tuning.form != "streaming")
    error << "form must be auto, resident, online, smem, cluster or "
             "streaming, got '"
          << spec.tuning.form << "'";
  else if (spec.tuning.rows < 0 || spec.tuning.rows > 16)
    error << "rows must be 0 (auto) or in [1, 16], got " << spec.tuning.rows;
  else if (spec.tuning.stages < 0 || spec.tuning.stages > 16)
    error << "stages must be 0 (auto) or in [1, 16], got "
          << spec.tuning.stages;
  else if (spec.tuning.cluster != 0 &&
           (spec.tuning.cluster < 2 || spec.tuning.cluster > 16))
    error << "cluster must be 0 (auto) or in [2, 16], got "
          << spec.tuning.cluster;
  else if (spec.tuning.ctasPerSM < 0 || spec.tuning.ctasPerSM > kMaxCtasPerSM)
    error << "ctas_per_sm must be 0 (one CTA's registers) or in [1, "
          << kMaxCtasPerSM << "], got " << spec.tuning.ctasPerSM;
  else if (spec.tuning.ctasPerSM * spec.tuning.threads > kMaxThreadsPerSM)
    error << "ctas_per_sm = " << spec.tuning.ctasPerSM << " CTAs of "
          << spec.tuning.threads << " threads exceed the " << kMaxThreadsPerSM
          << " an SM holds";
  else if (spec.tuning.grid != "auto" && spec.tuning.grid != "persistent" &&
           spec.tuning.grid != "tokens")
    error << "grid must be auto, persistent or tokens, got '"
          << spec.tuning.grid << "'";
  else if (spec.tuning.grid == "tokens" &&
           spec.direction == Direction::Backward)
    error << "grid = tokens is a forward option (the backward writes one "
             "row of partial sums a CTA)";
  return error.str();
}

std::string kernelName(const KernelSpec &spec) {
  std::ostringstream name;
  name << "attnres_" << toString(spec.direction) << "_n" << spec.numSources
       << "_d" << spec.width << "_" << toString(spec.dtype);
  return name.str();
}

std::string buildProgram(const KernelSpec &spec) {
  const std::string n = std::to_string(spec.numSources);
  const std::string d = std::to_string(spec.width);
  const std::string t = toString(spec.dtype);
  const std::string values = "tensor<" + n + "x?x" + d + "x" + t + ">";
  const std::string tokens = "tensor<?x" + d + "x" + t + ">";
  const std::string param = "tensor<" + d + "xf32>";
  const std::string stats = "tensor<?x" + n + "xf32>";
  std::ostringstream eps;
  eps.precision(9);
  eps << std::scientific << spec.eps;
  std::ostringstream ir;
  if (spec.direction == Direction::Forward) {
    ir << "func.func @" << kernelName(spec) << "(%v: " << values
       << ", %q: " << param << ", %g: " << param << ") -> (" << tokens << ", "
       << stats << ", " << stats << ") {\n"
       << "  %h, %a, %r = attnres.forward %v, %q, %g {eps = " << eps.str()
       << " : f32} : (" << values << ", " << param << ", " << param
       << ") -> (" << tokens << ", " << stats << ", " << stats << ")\n"
       << "  return %h, %a, %r : " << tokens << ", " << stats << ", " << stats
       << "\n}\n";
  } else {
    ir << "func.func @" << kernelName(spec) << "(%dh: " << tokens
       << ", %v: " << values << ", %q: " << param << ", %g: " << param
       << ", %a: " << stats << ", %r: " << stats << ") -> (" << values << ", "
       << param << ", " << param << ") {\n"
       << "  %dv, %dq, %dg = attnres.backward %dh, %v, %q, %g, %a, %r {eps = "
       << eps.str() << " : f32} : (" << tokens << ", " << values << ", "
       << param << ", " << param << ", " << stats << ", " << stats << ") -> ("
       << values << ", " << param << ", " << param << ")\n"
       << "  return %dv, %dq, %dg : " << values << ", " << param << ", "
       << param << "\n}\n";
  }
  return ir.str();
}

std::string fingerprint(const KernelSpec &spec) {
  std::ostringstream text;
  text.precision(9);
  text << kernelName(spec) << ";arch=" << spec.arch << ";eps=" << spec.eps
       << ";threads=" << spec.tuning.threads
       << ";vector-bytes=" << spec.tuning.vectorBytes
       << ";resident=" << spec.tuning.resident << ";form=" << spec.tuning.form
       << ";rows=" << spec.tuning.rows << ";stages=" << spec.tuning.stages
       << ";cluster=" << spec.tuning.cluster
       << ";ctas-per-sm=" << spec.tuning.ctasPerSM
       << ";grid=" << spec.tuning.grid;
  return text.str();
}

bool launchesPerToken(const KernelSpec &spec) {
  return spec.direction == Direction::Forward && spec.tuning.grid == "tokens";
}

} // namespace attnres
