//===- TuningDatabase.cpp - Parse, merge, look up and write tuning DBs ----===//

#include "runtime/TuningDatabase.h"

#include "codegen/Tuning.h"
#include "runtime/TuningData.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <unistd.h>

namespace attnres {

std::string TuningKey::str() const {
  return arch + " n=" + std::to_string(numSources) +
         " d=" + std::to_string(width) + " " + toString(dtype) + " " +
         toString(direction);
}

namespace {

/// Parses one entry; nullopt with `error` saying why.
std::optional<TuningEntry> parseEntry(const llvm::json::Value &value,
                                      const std::string &origin,
                                      std::string &error) {
  const llvm::json::Object *object = value.getAsObject();
  if (!object) {
    error = "not a JSON object";
    return std::nullopt;
  }
  TuningEntry entry;
  std::optional<llvm::StringRef> arch = object->getString("arch");
  std::optional<int64_t> n = object->getInteger("n");
  std::optional<int64_t> d = object->getInteger("d");
  std::optional<llvm::StringRef> dtype = object->getString("dtype");
  std::optional<llvm::StringRef> direction = object->getString("direction");
  const llvm::json::Value *tuning = object->get("tuning");
  if (!arch || !n || !d || !dtype || !direction || !tuning) {
    error = "needs \"arch\" (string), \"n\", \"d\" (integers), \"dtype\", "
            "\"direction\" (strings) and \"tuning\" (object)";
    return std::nullopt;
  }
  std::optional<DType> parsedType = parseDType(dtype->str());
  std::optional<Direction> parsedDirection = parseDirection(direction->str());
  if (!parsedType) {
    error = "unknown dtype '" + dtype->str() + "' (f32, f16 or bf16)";
    return std::nullopt;
  }
  if (!parsedDirection) {
    error = "unknown direction '" + direction->str() + "' (fwd or bwd)";
    return std::nullopt;
  }
  KernelSpec spec;
  spec.arch = arch->str();
  spec.numSources = *n;
  spec.width = *d;
  spec.dtype = *parsedType;
  spec.direction = *parsedDirection;
  if (std::string invalid = validate(spec); !invalid.empty()) {
    error = invalid;
    return std::nullopt;
  }
  std::optional<Tuning> parsed = tuningFromJSON(*tuning, spec, error);
  if (!parsed)
    return std::nullopt;
  entry.key = TuningKey::of(spec);
  entry.origin = origin;
  entry.tuning = *parsed;
  for (const auto &[field, v] : *object)
    if (field != "arch" && field != "n" && field != "d" && field != "dtype" &&
        field != "direction" && field != "tuning")
      entry.info[field] = v;
  return entry;
}

} // namespace

std::optional<TuningDatabase>
TuningDatabase::parse(const std::string &text, const std::string &origin,
                      std::string &error, std::vector<std::string> &warnings) {
  llvm::Expected<llvm::json::Value> root = llvm::json::parse(text);
  if (!root) {
    error = "tuning database " + origin +
            " is not valid JSON: " + llvm::toString(root.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *object = root->getAsObject();
  if (!object) {
    error = "tuning database " + origin + " is not a JSON object";
    return std::nullopt;
  }
  std::optional<llvm::StringRef> format = object->getString("format");
  if (!format || *format != kFormat) {
    error = "tuning database " + origin + " has no \"format\": \"" + kFormat +
            "\" field: not a tuning database";
    return std::nullopt;
  }
  std::optional<int64_t> version = object->getInteger("version");
  if (!version || *version != kVersion) {
    error = "tuning database " + origin + " has version " +
            (version ? std::to_string(*version) : std::string("(none)")) +
            "; this runtime reads version " + std::to_string(kVersion);
    return std::nullopt;
  }
  const llvm::json::Array *list = object->getArray("entries");
  if (!list) {
    error = "tuning database " + origin + " has no \"entries\" array";
    return std::nullopt;
  }
  TuningDatabase db;
  db.originName = origin;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string problem;
    std::optional<TuningEntry> entry = parseEntry((*list)[i], origin, problem);
    if (!entry) {
      warnings.push_back("tuning database " + origin + ": entry " +
                         std::to_string(i) + " refused: " + problem);
      continue;
    }
    if (db.entries.count(entry->key))
      warnings.push_back("tuning database " + origin + ": entry " +
                         std::to_string(i) + " repeats " + entry->key.str() +
                         "; the later one is used");
    db.insert(std::move(*entry));
  }
  return db;
}

std::optional<TuningDatabase>
TuningDatabase::load(const std::string &path, std::string &error,
                     std::vector<std::string> &warnings) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    error = "cannot read tuning database " + path + ": " +
            buffer.getError().message();
    return std::nullopt;
  }
  return parse((*buffer)->getBuffer().str(), path, error, warnings);
}

const TuningEntry *TuningDatabase::find(const TuningKey &key) const {
  auto it = entries.find(key);
  return it == entries.end() ? nullptr : &it->second;
}

void TuningDatabase::insert(TuningEntry entry) {
  TuningKey key = entry.key;
  entries.insert_or_assign(key, std::move(entry));
}

void TuningDatabase::merge(const TuningDatabase &newer) {
  for (const auto &[key, entry] : newer.entries)
    insert(entry);
}

std::vector<const TuningEntry *> TuningDatabase::all() const {
  std::vector<const TuningEntry *> out;
  for (const auto &[key, entry] : entries)
    out.push_back(&entry);
  return out;
}

std::string TuningDatabase::toJSON() const {
  llvm::json::Array list;
  for (const auto &[key, entry] : entries) {
    llvm::json::Object object = entry.info;
    object["arch"] = key.arch;
    object["n"] = key.numSources;
    object["d"] = key.width;
    object["dtype"] = toString(key.dtype);
    object["direction"] = toString(key.direction);
    object["tuning"] = attnres::toJSON(entry.tuning);
    list.push_back(std::move(object));
  }
  llvm::json::Object root{
      {"format", kFormat}, {"version", kVersion}, {"entries", std::move(list)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  return text;
}

bool TuningDatabase::save(const std::string &path, std::string &error) const {
  llvm::SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  llvm::SmallString<256> model(dir);
  llvm::sys::path::append(model, "." + llvm::sys::path::filename(path).str() +
                                     ".tmp-%%%%%%");
  int fd = -1;
  llvm::SmallString<256> tmp;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, tmp)) {
    error = "cannot create a temporary file in " + std::string(dir) + ": " +
            ec.message();
    return false;
  }
  {
    llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
    out << toJSON();
    out.flush();
    // On disk before the rename makes it the database.
    if (!out.has_error() && ::fsync(fd) != 0) {
      error = "cannot write " + std::string(tmp) + ": " +
              std::error_code(errno, std::generic_category()).message();
      llvm::sys::fs::remove(tmp);
      return false;
    }
    if (out.has_error()) {
      error = "cannot write " + std::string(tmp) + ": " + out.error().message();
      out.clear_error();
      llvm::sys::fs::remove(tmp);
      return false;
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    error = "cannot rename " + std::string(tmp) + " to " + path + ": " +
            ec.message();
    llvm::sys::fs::remove(tmp);
    return false;
  }
  return true;
}

namespace {

struct Builtin {
  TuningDatabase db;
  std::vector<std::string> warnings;
};

const Builtin &builtin() {
  static const Builtin *loaded = [] {
    auto *b = new Builtin();
    for (const BuiltinTuningFile &file : kBuiltinTuningFiles) {
      if (!file.name)
        continue;
      std::string error;
      std::optional<TuningDatabase> db = TuningDatabase::parse(
          file.text, std::string("(built-in) tuning/") + file.name, error,
          b->warnings);
      if (!db) {
        b->warnings.push_back(error);
        continue;
      }
      b->db.merge(*db);
    }
    for (const std::string &warning : b->warnings)
      std::fprintf(stderr, "attnres: warning: %s\n", warning.c_str());
    return b;
  }();
  return *loaded;
}

} // namespace

const TuningDatabase &builtinTuningDatabase() { return builtin().db; }

const std::vector<std::string> &builtinTuningWarnings() {
  return builtin().warnings;
}

} // namespace attnres
