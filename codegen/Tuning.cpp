//===- Tuning.cpp - The knob table and what is derived from it ------------===//

#include "codegen/Tuning.h"

#include "llvm/ADT/StringExtras.h"

#include <set>

namespace attnres {

namespace {
bool isForward(const KernelSpec &s) { return s.direction == Direction::Forward; }
bool hasClusters(const KernelSpec &s) { return s.arch.rfind("sm_9", 0) == 0; }
// Which forms exist for the candidate's direction and arch.
bool formApplies(const KernelSpec &s) {
  const std::string &f = s.tuning.form;
  if (f == "online")
    return isForward(s);
  if (f == "smem")
    return !isForward(s);
  if (f == "cluster")
    return !isForward(s) && hasClusters(s);
  return true;
}
bool rowsApply(const KernelSpec &s) { return s.tuning.form == "online"; }
// The forms that keep a ring in shared memory.
bool stagesApply(const KernelSpec &s) {
  const std::string &f = s.tuning.form;
  return f == "online" || f == "smem" || f == "cluster";
}
bool clusterApplies(const KernelSpec &s) { return s.tuning.form == "cluster"; }
} // namespace

const std::vector<TuningKnob> &tuningKnobs() {
  // One line per Tuning field. Candidates: threads 0 lets the lowering size
  // the CTA for the chosen form. `resident` is the older switch that `form`
  // subsumes (resident=on is form=resident), so it is not swept.
  // clang-format off
  static const std::vector<TuningKnob> knobs = {
      {"threads", &Tuning::threads, {0, 64, 128, 256, 512, 1024}, "threads per CTA (0: chosen by the lowering)"},
      {"vector_bytes", &Tuning::vectorBytes, {16, 8, 4}, "bytes per vector load/store"},
      {"resident", &Tuning::resident, {"auto"}, "tile in registers (on), streamed (off), or auto; superseded by form"},
      {"form", &Tuning::form, {"resident", "online", "smem", "cluster", "streaming"}, "kernel form (auto: heuristic)", formApplies},
      {"rows", &Tuning::rows, {0, 1, 2, 4}, "online form: rows per group (0: heuristic)", rowsApply},
      {"stages", &Tuning::stages, {0, 1, 2, 3}, "ring in shared memory: online form, slots of groups (1: next group in registers); smem and cluster forms, whole tiles (1: one, each row refilled once consumed); 0: heuristic", stagesApply},
      {"cluster", &Tuning::cluster, {0, 2, 3, 4, 5, 6, 7, 8}, "cluster form: CTAs per cluster (0: a pair, else the size leaving the most CTAs an SM)", clusterApplies},
      {"ctas_per_sm", &Tuning::ctasPerSM, {0, 2, 4}, "CTAs an SM the registers are budgeted for (0: one CTA's share)"},
      {"grid", &Tuning::grid, {"auto", "tokens"}, "forward grid: persistent (auto) or one CTA per token", isForward},
  };
  // clang-format on
  return knobs;
}

const TuningKnob *findKnob(const std::string &name) {
  for (const TuningKnob &knob : tuningKnobs())
    if (knob.name == name)
      return &knob;
  return nullptr;
}

KnobValue TuningKnob::get(const Tuning &tuning) const {
  if (auto *member = std::get_if<int64_t Tuning::*>(&field))
    return tuning.*(*member);
  return tuning.*std::get<std::string Tuning::*>(field);
}

bool TuningKnob::set(Tuning &tuning, const KnobValue &value) const {
  if (value.index() != field.index())
    return false;
  if (auto *member = std::get_if<int64_t Tuning::*>(&field))
    tuning.*(*member) = std::get<int64_t>(value);
  else
    tuning.*std::get<std::string Tuning::*>(field) =
        std::get<std::string>(value);
  return true;
}

std::string toString(const KnobValue &value) {
  if (auto *i = std::get_if<int64_t>(&value))
    return std::to_string(*i);
  return std::get<std::string>(value);
}

std::optional<KnobValue> parseKnobValue(const TuningKnob &knob,
                                        const std::string &text) {
  if (!knob.isInteger())
    return text.empty() ? std::nullopt : std::optional<KnobValue>(text);
  int64_t value;
  if (llvm::StringRef(text).getAsInteger(10, value))
    return std::nullopt;
  return KnobValue(value);
}

bool operator==(const Tuning &a, const Tuning &b) {
  for (const TuningKnob &knob : tuningKnobs())
    if (knob.get(a) != knob.get(b))
      return false;
  return true;
}

bool isDefaultTuning(const Tuning &tuning) {
  KernelSpec given, standard;
  given.tuning = tuning;
  return fingerprint(given) == fingerprint(standard);
}

std::string describe(const Tuning &tuning) {
  std::string text;
  for (const TuningKnob &knob : tuningKnobs())
    text += (text.empty() ? "" : " ") + knob.name + "=" +
            toString(knob.get(tuning));
  return text;
}

llvm::json::Object toJSON(const Tuning &tuning) {
  llvm::json::Object object;
  for (const TuningKnob &knob : tuningKnobs()) {
    KnobValue value = knob.get(tuning);
    if (auto *i = std::get_if<int64_t>(&value))
      object[knob.name] = *i;
    else
      object[knob.name] = std::get<std::string>(value);
  }
  return object;
}

std::optional<Tuning> tuningFromJSON(const llvm::json::Value &value,
                                     const KernelSpec &spec,
                                     std::string &error) {
  const llvm::json::Object *object = value.getAsObject();
  if (!object) {
    error = "the tuning is not a JSON object";
    return std::nullopt;
  }
  Tuning tuning;
  for (const auto &[key, field] : *object) {
    const TuningKnob *knob = findKnob(key.str());
    if (!knob) {
      std::string known;
      for (const TuningKnob &k : tuningKnobs())
        known += (known.empty() ? "" : ", ") + k.name;
      error = "unknown tuning knob '" + key.str() + "' (known: " + known + ")";
      return std::nullopt;
    }
    std::optional<KnobValue> parsed;
    if (knob->isInteger()) {
      if (std::optional<int64_t> i = field.getAsInteger())
        parsed = *i;
    } else if (std::optional<llvm::StringRef> s = field.getAsString()) {
      parsed = s->str();
    }
    if (!parsed) {
      error = "tuning knob '" + knob->name + "' must be " +
              (knob->isInteger() ? "an integer" : "a string");
      return std::nullopt;
    }
    knob->set(tuning, *parsed);
  }
  KernelSpec checked = spec;
  checked.tuning = tuning;
  std::string invalid = validate(checked);
  if (!invalid.empty()) {
    error = "invalid tuning (" + describe(tuning) + "): " + invalid;
    return std::nullopt;
  }
  return tuning;
}

std::vector<Tuning> tuningCandidates(const KernelSpec &spec) {
  return tuningCandidates(spec, {});
}

std::vector<Tuning> tuningCandidates(
    const KernelSpec &spec,
    const std::vector<std::pair<const TuningKnob *, std::vector<KnobValue>>>
        &only) {
  const std::vector<TuningKnob> &knobs = tuningKnobs();
  std::vector<const std::vector<KnobValue> *> values;
  for (const TuningKnob &knob : knobs) {
    values.push_back(&knob.candidates);
    for (const auto &[chosen, replacement] : only)
      if (chosen == &knob)
        values.back() = &replacement;
  }
  std::vector<Tuning> out;
  std::set<std::string> seen;
  // An odometer over the knobs, the last one fastest.
  std::vector<size_t> index(knobs.size(), 0);
  for (const auto *v : values)
    if (v->empty())
      return out;
  while (true) {
    Tuning tuning;
    for (size_t k = 0; k < knobs.size(); ++k)
      knobs[k].set(tuning, (*values[k])[index[k]]);
    KernelSpec candidate = spec;
    candidate.tuning = tuning;
    const Tuning standard;
    bool meaningful = true;
    for (const TuningKnob &knob : knobs)
      if (knob.applies && !knob.applies(candidate) &&
          knob.get(tuning) != knob.get(standard))
        meaningful = false;
    if (meaningful && validate(candidate).empty() &&
        seen.insert(fingerprint(candidate)).second)
      out.push_back(tuning);
    size_t k = knobs.size();
    while (k > 0 && ++index[k - 1] == values[k - 1]->size())
      index[--k] = 0;
    if (k == 0)
      return out;
  }
}

} // namespace attnres
