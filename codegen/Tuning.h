//===- Tuning.h - Tuning knobs as data: sweep space, JSON, text -*- C++ -*-===//
//
// The fields of attnres::Tuning (codegen/KernelSpec.h) described once, as a
// table of knobs: each knob names a field, its JSON key and the values the
// autotuner tries. The sweep space (tuningCandidates), the JSON form of the
// tuning database and the text the tools print are all derived from that
// table, so a new Tuning field needs one line in tuningKnobs() (Tuning.cpp)
// besides its line in fingerprint().
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_CODEGEN_TUNING_H
#define ATTNRES_CODEGEN_TUNING_H

#include "codegen/KernelSpec.h"

#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace attnres {

/// One value of a knob: an integer or a word.
using KnobValue = std::variant<int64_t, std::string>;

/// One field of Tuning.
struct TuningKnob {
  /// JSON key and command-line name, e.g. "vector_bytes".
  std::string name;
  /// The Tuning member it sets.
  std::variant<int64_t Tuning::*, std::string Tuning::*> field;
  /// What the autotuner tries, in order. The default of the field need not
  /// be among them: the heuristic default is timed separately.
  std::vector<KnobValue> candidates;
  std::string help;
  /// Whether the knob means anything for a candidate (its spec and the
  /// other knobs' values); the sweep keeps a knob at its default where it
  /// does not, so that combinations which select the same code are not
  /// compiled again. Null: always.
  bool (*applies)(const KernelSpec &candidate) = nullptr;

  KnobValue get(const Tuning &tuning) const;
  /// False (and `tuning` unchanged) if `value` has the wrong type.
  bool set(Tuning &tuning, const KnobValue &value) const;
  bool isInteger() const { return field.index() == 0; }
};

/// Every knob, in a fixed order (the order of the sweep's nested loops,
/// outermost first).
const std::vector<TuningKnob> &tuningKnobs();
const TuningKnob *findKnob(const std::string &name);

/// "256", "on".
std::string toString(const KnobValue &value);
/// Parses `text` as a value of `knob` ("256" for an integer knob).
std::optional<KnobValue> parseKnobValue(const TuningKnob &knob,
                                        const std::string &text);

/// Knob by knob equality (every field the table describes).
bool operator==(const Tuning &a, const Tuning &b);
inline bool operator!=(const Tuning &a, const Tuning &b) { return !(a == b); }

/// True if `tuning` selects the same code as Tuning{} ("let the runtime
/// choose"): compared through fingerprint(), the list of fields that change
/// the generated code, so a field missing from the knob table still counts.
bool isDefaultTuning(const Tuning &tuning);

/// "threads=256 vector_bytes=16 resident=on".
std::string describe(const Tuning &tuning);

/// {"threads": 256, "vector_bytes": 16, "resident": "on"}: every knob.
llvm::json::Object toJSON(const Tuning &tuning);

/// Parses a JSON object of knobs. Missing knobs keep their defaults (an
/// older database stays valid when a knob is added); an unknown key, a
/// value of the wrong type or a tuning validate() refuses for `spec` is an
/// error (nullopt, `error` says which).
std::optional<Tuning> tuningFromJSON(const llvm::json::Value &value,
                                     const KernelSpec &spec,
                                     std::string &error);

/// The autotuner's sweep for `spec`: the cross product of every knob's
/// candidates, keeping those validate() accepts and in which every knob
/// that does not apply is at its default, without duplicates. The
/// heuristic default (Tuning{}) is not included.
std::vector<Tuning> tuningCandidates(const KernelSpec &spec);

/// Like tuningCandidates, with some knobs' candidates replaced (name ->
/// values), e.g. to sweep only threads = 128, 256.
std::vector<Tuning> tuningCandidates(
    const KernelSpec &spec,
    const std::vector<std::pair<const TuningKnob *, std::vector<KnobValue>>>
        &only);

} // namespace attnres

#endif // ATTNRES_CODEGEN_TUNING_H
