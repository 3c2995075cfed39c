//===- TuningDatabase.h - Tuned configurations per kernel key -*- C++ -*-===//
//
// Internal to the runtime; attnres-tune writes these files, the runtime reads
// them. A database is a JSON file:
//
//   {
//     "format": "attnres-tuning-db",
//     "version": 1,
//     "entries": [
//       {"arch": "sm_90a", "n": 8, "d": 4096, "dtype": "bf16",
//        "direction": "fwd",
//        "tuning": {"threads": 256, "vector_bytes": 16, "resident": "on"},
//        "ms": 0.41, "tbps": 2.95, ...}
//     ]
//   }
//
// The key is {arch, n, d, dtype, direction}, matched exactly. Fields of an
// entry other than the key and "tuning" (measurements, device name) are
// kept verbatim through a merge. A malformed file is an error naming the
// file; an entry that does not parse or whose tuning fails validate() is
// skipped with a warning, so one bad line does not cost the others.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_TUNINGDATABASE_H
#define ATTNRES_RUNTIME_TUNINGDATABASE_H

#include "codegen/KernelSpec.h"

#include "llvm/Support/JSON.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace attnres {

/// What a database entry is found by.
struct TuningKey {
  std::string arch;
  int64_t numSources = 0;
  int64_t width = 0;
  DType dtype = DType::BF16;
  Direction direction = Direction::Forward;

  static TuningKey of(const KernelSpec &spec) {
    return {spec.arch, spec.numSources, spec.width, spec.dtype, spec.direction};
  }
  bool operator<(const TuningKey &o) const {
    return std::tie(arch, numSources, width, dtype, direction) <
           std::tie(o.arch, o.numSources, o.width, o.dtype, o.direction);
  }
  /// "sm_90a n=8 d=4096 bf16 fwd".
  std::string str() const;
};

struct TuningEntry {
  TuningKey key;
  Tuning tuning;
  /// The entry's other fields (measurements, device), kept as written.
  llvm::json::Object info;
  /// The database it was read from (its path or built-in name).
  std::string origin;
};

class TuningDatabase {
public:
  static constexpr const char *kFormat = "attnres-tuning-db";
  static constexpr int64_t kVersion = 1;

  /// Parses a database. `origin` (a path, or a name for a built-in one)
  /// starts every message. Returns nullopt with `error` set when the text
  /// is not a database at all; bad entries go to `warnings` and are left
  /// out.
  static std::optional<TuningDatabase>
  parse(const std::string &text, const std::string &origin, std::string &error,
        std::vector<std::string> &warnings);

  /// Reads and parses `path`; a missing or unreadable file is an error.
  static std::optional<TuningDatabase> load(const std::string &path,
                                            std::string &error,
                                            std::vector<std::string> &warnings);

  const TuningEntry *find(const TuningKey &key) const;
  /// Adds `entry`, replacing one with the same key.
  void insert(TuningEntry entry);
  /// Every entry of `newer` replaces or joins ours.
  void merge(const TuningDatabase &newer);

  size_t size() const { return entries.size(); }
  const std::string &origin() const { return originName; }
  std::vector<const TuningEntry *> all() const;

  /// The database as JSON text, entries sorted by key (stable diffs).
  std::string toJSON() const;

  /// Writes toJSON() to a temporary file beside `path` and renames it over
  /// `path`, so readers see the old or the new file, never half of one.
  bool save(const std::string &path, std::string &error) const;

private:
  std::string originName;
  std::map<TuningKey, TuningEntry> entries;
};

/// The databases compiled into the runtime from the repository's tuning/
/// folder, merged (an empty database if there are none). Problems with
/// them are reported once to stderr; a unit test keeps them clean.
const TuningDatabase &builtinTuningDatabase();

/// Warnings from parsing the built-in databases (empty when clean).
const std::vector<std::string> &builtinTuningWarnings();

} // namespace attnres

#endif // ATTNRES_RUNTIME_TUNINGDATABASE_H
