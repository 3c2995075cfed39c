//===- TuningTest.cpp - Knob table, tuning database, runtime lookup -------===//
//
// CPU only: the sweep space (every candidate valid, none repeated), Tuning
// <-> JSON, the database's parse / merge / lookup / atomic save, malformed
// files, and the runtime's lookup order (explicit, file or
// $ATTNRES_TUNING_DB, built-in, heuristic) through Runtime::tuningFor.
//
//===----------------------------------------------------------------------===//

#include "codegen/Tuning.h"
#include "runtime/AttnRes.h"
#include "runtime/TuningDatabase.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace attnres;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern =
        (fs::temp_directory_path() / "attnres-tuning-test-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string file(const std::string &name) const {
    return (path / name).string();
  }
};

void spit(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

KernelSpec specOf(int64_t n, int64_t d, DType dtype = DType::BF16,
                  Direction direction = Direction::Forward) {
  KernelSpec spec;
  spec.numSources = n;
  spec.width = d;
  spec.dtype = dtype;
  spec.direction = direction;
  spec.arch = "sm_90a";
  return spec;
}

/// A database text with the given entries (JSON objects).
std::string dbText(const std::string &entries) {
  return R"({"format": "attnres-tuning-db", "version": 1, "entries": [)" +
         entries + "]}";
}

const char *kEntryN8 =
    R"({"arch": "sm_90a", "n": 8, "d": 4096, "dtype": "bf16",
        "direction": "fwd", "tuning": {"threads": 256, "vector_bytes": 16,
        "resident": "on"}, "ms": 0.41, "device": "test"})";

std::optional<TuningDatabase> parse(const std::string &text, std::string &error,
                                    std::vector<std::string> &warnings) {
  return TuningDatabase::parse(text, "test.json", error, warnings);
}

} // namespace

//===----------------------------------------------------------------------===//
// Knobs and candidates
//===----------------------------------------------------------------------===//

TEST(TuningKnobs, EveryCandidateValidatesAndIsUnique) {
  for (int64_t n : {1, 2, 8, 17, 32, 64})
    for (int64_t d : {1, 64, 100, 4096, 16384})
      for (DType dtype : {DType::F32, DType::F16, DType::BF16})
        for (Direction direction : {Direction::Forward, Direction::Backward}) {
          KernelSpec spec = specOf(n, d, dtype, direction);
          std::vector<Tuning> candidates = tuningCandidates(spec);
          ASSERT_FALSE(candidates.empty()) << kernelName(spec);
          std::set<std::string> seen;
          for (const Tuning &tuning : candidates) {
            KernelSpec candidate = spec;
            candidate.tuning = tuning;
            EXPECT_EQ(validate(candidate), "") << describe(tuning);
            EXPECT_TRUE(seen.insert(fingerprint(candidate)).second)
                << "repeated: " << describe(tuning);
            EXPECT_FALSE(isDefaultTuning(tuning))
                << "the heuristic is timed apart: " << describe(tuning);
          }
        }
}

TEST(TuningKnobs, SweepIsTheCrossProductOfTheKnobsThatApply) {
  const Tuning standard;
  for (Direction direction : {Direction::Forward, Direction::Backward}) {
    KernelSpec spec = specOf(8, 4096, DType::BF16, direction);
    std::vector<Tuning> all = tuningCandidates(spec);
    // threads and CTAs an SM (0, 2, 4 up to 2048 threads: 3 each at auto,
    // 64, 128, 256 and 512 threads, 2 at 1024) x vector bytes x the forms
    // of this
    // direction (online with its four row counts times four ring depths;
    // smem with four ring depths, cluster with its eight sizes (auto, 2 to
    // 8) times four ring depths on sm_90a).
    size_t forms =
        direction == Direction::Forward ? 1 + 4 * 4 + 1 : 1 + 4 + 8 * 4 + 1;
    // The forward also sweeps its grid (persistent, one CTA per token).
    size_t grids = direction == Direction::Forward ? 2 : 1;
    EXPECT_EQ(all.size(), (5 * 3 + 2) * 3 * forms * grids)
        << toString(direction);
    for (const Tuning &t : all) {
      KernelSpec candidate = spec;
      candidate.tuning = t;
      for (const TuningKnob &knob : tuningKnobs())
        if (knob.applies && !knob.applies(candidate))
          EXPECT_EQ(knob.get(t), knob.get(standard))
              << knob.name << " does not apply: " << describe(t);
    }
    // Each value of each knob appears where it applies.
    for (const TuningKnob &knob : tuningKnobs())
      for (const KnobValue &value : knob.candidates) {
        bool found = std::any_of(all.begin(), all.end(), [&](const Tuning &t) {
          return knob.get(t) == value;
        });
        bool forwardOnly =
            value == KnobValue(std::string("online")) ||
            value == KnobValue(std::string("tokens")) ||
            (knob.name == "rows" && value != KnobValue(int64_t(0)));
        bool backwardOnly = value == KnobValue(std::string("smem")) ||
                            value == KnobValue(std::string("cluster")) ||
                            (knob.name == "cluster" &&
                             value != KnobValue(int64_t(0)));
        bool expected = direction == Direction::Forward ? !backwardOnly
                                                        : !forwardOnly;
        EXPECT_EQ(found, expected)
            << toString(direction) << ": " << knob.name << "=" << toString(value);
      }
  }
  // No clusters before sm_90.
  KernelSpec ampere = specOf(8, 4096, DType::BF16, Direction::Backward);
  ampere.arch = "sm_80";
  for (const Tuning &t : tuningCandidates(ampere))
    EXPECT_NE(t.form, "cluster");
}

TEST(TuningKnobs, OverridesReplaceOneKnobAndInvalidValuesDrop) {
  const TuningKnob *threads = findKnob("threads");
  ASSERT_NE(threads, nullptr);
  std::vector<Tuning> some = tuningCandidates(
      specOf(8, 4096), {{threads, {int64_t(128), int64_t(33), int64_t(256)}}});
  // 33 is not a multiple of 32: validate() drops it; threads does not
  // change which other knobs apply.
  std::vector<Tuning> all = tuningCandidates(specOf(8, 4096));
  EXPECT_EQ(some.size(),
            size_t(std::count_if(all.begin(), all.end(), [](const Tuning &t) {
              return t.threads == 128 || t.threads == 256;
            })));
  for (const Tuning &t : some)
    EXPECT_TRUE(t.threads == 128 || t.threads == 256) << describe(t);
  EXPECT_TRUE(tuningCandidates(specOf(8, 4096), {{threads, {}}}).empty());
}

TEST(TuningKnobs, ClusterSizesUpToSixteenValidate) {
  KernelSpec spec = specOf(32, 7168, DType::F32, Direction::Backward);
  spec.tuning.form = "cluster";
  for (int64_t size : {2, 7, 14, 16}) {
    spec.tuning.cluster = size;
    EXPECT_EQ(validate(spec), "") << size;
  }
  for (int64_t size : {-1, 1, 17}) {
    spec.tuning.cluster = size;
    EXPECT_EQ(validate(spec), "cluster must be 0 (auto) or in [2, 16], got " +
                                  std::to_string(size));
  }
}

TEST(TuningKnobs, CtasPerSMStayWithinAnSMsThreads) {
  KernelSpec spec = specOf(2, 4096, DType::F32, Direction::Forward);
  for (auto [threads, ctas] :
       {std::pair<int64_t, int64_t>{0, 32}, {512, 4}, {1024, 2}, {64, 32}}) {
    spec.tuning.threads = threads;
    spec.tuning.ctasPerSM = ctas;
    EXPECT_EQ(validate(spec), "") << threads << " x " << ctas;
  }
  spec.tuning.threads = 1024;
  spec.tuning.ctasPerSM = 3;
  EXPECT_EQ(validate(spec), "ctas_per_sm = 3 CTAs of 1024 threads exceed "
                            "the 2048 an SM holds");
  spec.tuning.threads = 0;
  for (int64_t ctas : {-1, 33}) {
    spec.tuning.ctasPerSM = ctas;
    EXPECT_EQ(
        validate(spec),
        "ctas_per_sm must be 0 (one CTA's registers) or in [1, 32], got " +
            std::to_string(ctas));
  }
}

TEST(TuningKnobs, OneCtaPerTokenIsAForwardGrid) {
  KernelSpec spec = specOf(8, 4096, DType::BF16, Direction::Forward);
  EXPECT_FALSE(launchesPerToken(spec));
  spec.tuning.grid = "tokens";
  EXPECT_EQ(validate(spec), "");
  EXPECT_TRUE(launchesPerToken(spec));
  KernelSpec persistent = spec;
  persistent.tuning.grid = "persistent";
  EXPECT_NE(fingerprint(spec), fingerprint(persistent));
  spec.direction = Direction::Backward;
  EXPECT_EQ(validate(spec), "grid = tokens is a forward option (the backward "
                            "writes one row of partial sums a CTA)");
  spec.tuning.grid = "rows";
  EXPECT_EQ(validate(spec),
            "grid must be auto, persistent or tokens, got 'rows'");
}

TEST(TuningKnobs, ValuesParseAndPrint) {
  const TuningKnob *threads = findKnob("threads");
  const TuningKnob *resident = findKnob("resident");
  ASSERT_TRUE(threads && resident);
  EXPECT_EQ(findKnob("no-such-knob"), nullptr);
  EXPECT_EQ(parseKnobValue(*threads, "256"), KnobValue(int64_t(256)));
  EXPECT_FALSE(parseKnobValue(*threads, "25x"));
  EXPECT_FALSE(parseKnobValue(*threads, ""));
  EXPECT_EQ(parseKnobValue(*resident, "on"), KnobValue(std::string("on")));
  Tuning t;
  EXPECT_FALSE(threads->set(t, KnobValue(std::string("on"))));
  EXPECT_EQ(t.threads, 0);
  EXPECT_TRUE(threads->set(t, KnobValue(int64_t(512))));
  EXPECT_EQ(t.threads, 512);
  EXPECT_EQ(describe(Tuning()),
            "threads=0 vector_bytes=16 resident=auto "
            "form=auto rows=0 stages=0 cluster=0 ctas_per_sm=0 "
            "grid=auto");
}

TEST(TuningKnobs, DefaultAndEquality) {
  EXPECT_TRUE(isDefaultTuning(Tuning()));
  EXPECT_EQ(Tuning(), Tuning());
  for (const TuningKnob &knob : tuningKnobs())
    for (const KnobValue &value : knob.candidates) {
      Tuning t;
      knob.set(t, value);
      bool same = knob.get(Tuning()) == value;
      EXPECT_EQ(isDefaultTuning(t), same)
          << knob.name << "=" << toString(value);
      EXPECT_EQ(t == Tuning(), same) << knob.name;
    }
}

TEST(TuningJSON, RoundTripsEveryCandidate) {
  for (Direction direction : {Direction::Forward, Direction::Backward}) {
    KernelSpec spec = specOf(8, 4096, DType::BF16, direction);
    for (const Tuning &tuning : tuningCandidates(spec)) {
      std::string error;
      std::optional<Tuning> back =
          tuningFromJSON(llvm::json::Value(toJSON(tuning)), spec, error);
      ASSERT_TRUE(back) << error;
      EXPECT_EQ(*back, tuning);
    }
  }
}

TEST(TuningJSON, MissingKnobsDefaultOthersAreChecked) {
  KernelSpec spec = specOf(8, 4096);
  std::string error;
  std::optional<Tuning> t =
      tuningFromJSON(llvm::json::Object{{"threads", 128}}, spec, error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->threads, 128);
  EXPECT_EQ(t->vectorBytes, Tuning().vectorBytes);
  EXPECT_EQ(t->resident, Tuning().resident);

  struct Bad {
    llvm::json::Value value;
    const char *message;
  } bad[] = {
      {llvm::json::Object{{"clusters", 2}}, "unknown tuning knob 'clusters'"},
      {llvm::json::Object{{"form", "tiled"}}, "form must be"},
      {llvm::json::Object{{"threads", "many"}}, "must be an integer"},
      {llvm::json::Object{{"resident", 1}}, "must be a string"},
      {llvm::json::Object{{"vector_bytes", 5}}, "vector bytes must be 4, 8"},
      {llvm::json::Object{{"threads", 100}}, "multiple of 32"},
      {llvm::json::Object{{"resident", "sometimes"}}, "resident must be"},
      {llvm::json::Array{1, 2}, "not a JSON object"},
  };
  for (const Bad &b : bad) {
    error.clear();
    EXPECT_FALSE(tuningFromJSON(b.value, spec, error));
    EXPECT_NE(error.find(b.message), std::string::npos) << error;
  }
}

//===----------------------------------------------------------------------===//
// The database
//===----------------------------------------------------------------------===//

TEST(TuningDB, ParsesAndFindsExactKeys) {
  std::string error;
  std::vector<std::string> warnings;
  std::optional<TuningDatabase> db = parse(dbText(kEntryN8), error, warnings);
  ASSERT_TRUE(db) << error;
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(db->size(), 1u);
  const TuningEntry *entry = db->find(TuningKey::of(specOf(8, 4096)));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->tuning.threads, 256);
  EXPECT_EQ(entry->tuning.resident, "on");
  EXPECT_EQ(entry->origin, "test.json");
  ASSERT_TRUE(entry->info.getNumber("ms"));
  EXPECT_DOUBLE_EQ(*entry->info.getNumber("ms"), 0.41);
  // Exact match only: every key field counts.
  KernelSpec other = specOf(8, 4096);
  for (auto change : std::vector<std::function<void(KernelSpec &)>>{
           [](KernelSpec &s) { s.numSources = 9; },
           [](KernelSpec &s) { s.width = 2048; },
           [](KernelSpec &s) { s.dtype = DType::F16; },
           [](KernelSpec &s) { s.direction = Direction::Backward; },
           [](KernelSpec &s) { s.arch = "sm_80"; }}) {
    KernelSpec s = other;
    change(s);
    EXPECT_EQ(db->find(TuningKey::of(s)), nullptr) << TuningKey::of(s).str();
  }
}

TEST(TuningDB, MalformedFilesAreErrorsNamingTheFile) {
  struct Case {
    std::string text;
    const char *message;
  } cases[] = {
      {"", "is not valid JSON"},
      {"{\"format\": ", "is not valid JSON"},
      {"[1, 2]", "is not a JSON object"},
      {"{\"entries\": []}", "not a tuning database"},
      {R"({"format": "attnres-kernel-cache-1", "version": 1, "entries": []})",
       "not a tuning database"},
      {R"({"format": "attnres-tuning-db", "version": 2, "entries": []})",
       "has version 2"},
      {R"({"format": "attnres-tuning-db", "entries": []})",
       "has version (none)"},
      {R"({"format": "attnres-tuning-db", "version": 1})", "no \"entries\""},
      {R"({"format": "attnres-tuning-db", "version": 1, "entries": {}})",
       "no \"entries\""},
      {std::string("\xff\xfe{}", 4), "is not valid JSON"},
  };
  for (const Case &c : cases) {
    std::string error;
    std::vector<std::string> warnings;
    EXPECT_FALSE(parse(c.text, error, warnings)) << c.text;
    EXPECT_NE(error.find("test.json"), std::string::npos) << error;
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
  }
}

TEST(TuningDB, BadEntriesAreRefusedWithAMessageOthersKept) {
  std::string entries =
      std::string(kEntryN8) + "," +
      R"({"arch": "sm_90a", "n": 2, "d": 4096, "dtype": "bf16",
                            "direction": "fwd", "tuning": {"vector_bytes": 3}},
                           {"arch": "sm_90a", "n": 0, "d": 4096, "dtype": "bf16",
                            "direction": "fwd", "tuning": {}},
                           {"arch": "sm_90a", "n": 2, "d": 4096, "dtype": "fp8",
                            "direction": "fwd", "tuning": {}},
                           {"arch": "sm_90a", "n": 2, "d": 4096, "dtype": "bf16",
                            "direction": "sideways", "tuning": {}},
                           {"arch": "sm_90a", "n": 2, "dtype": "bf16",
                            "direction": "fwd", "tuning": {}},
                           {"arch": "sm_70", "n": 2, "d": 64, "dtype": "bf16",
                            "direction": "fwd", "tuning": {}},
                           {"arch": "sm_90a", "n": 2, "d": 64, "dtype": "bf16",
                            "direction": "fwd", "tuning": {"warp_specialize": 1}},
                           "not an object")";
  std::string error;
  std::vector<std::string> warnings;
  std::optional<TuningDatabase> db = parse(dbText(entries), error, warnings);
  ASSERT_TRUE(db) << error;
  EXPECT_EQ(db->size(), 1u);
  ASSERT_EQ(warnings.size(), 8u);
  const char *expected[] = {"vector bytes must be", "N (number of sources)",
                            "unknown dtype 'fp8'",  "unknown direction",
                            "needs \"arch\"",       "sm_80 or newer",
                            "unknown tuning knob",  "not a JSON object"};
  for (size_t i = 0; i < warnings.size(); ++i) {
    EXPECT_NE(warnings[i].find("test.json: entry " + std::to_string(i + 1) +
                               " refused"),
              std::string::npos)
        << warnings[i];
    EXPECT_NE(warnings[i].find(expected[i]), std::string::npos) << warnings[i];
  }
}

TEST(TuningDB, RepeatedKeysWarnAndTheLastWins) {
  std::string second = std::string(kEntryN8);
  second.replace(second.find("256"), 3, "512");
  std::string error;
  std::vector<std::string> warnings;
  std::optional<TuningDatabase> db =
      parse(dbText(std::string(kEntryN8) + "," + second), error, warnings);
  ASSERT_TRUE(db) << error;
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("repeats"), std::string::npos);
  EXPECT_EQ(db->find(TuningKey::of(specOf(8, 4096)))->tuning.threads, 512);
}

TEST(TuningDB, MergeNewerWinsAndTextRoundTrips) {
  TuningDatabase db;
  TuningEntry a;
  a.key = TuningKey::of(specOf(8, 4096));
  a.tuning.threads = 128;
  a.info["ms"] = 1.5;
  db.insert(a);
  TuningEntry b;
  b.key = TuningKey::of(specOf(2, 4096, DType::F16, Direction::Backward));
  b.tuning.resident = "off";
  db.insert(b);

  TuningDatabase newer;
  TuningEntry a2 = a;
  a2.tuning.threads = 512;
  a2.info["ms"] = 0.9;
  newer.insert(a2);
  TuningEntry c;
  c.key = TuningKey::of(specOf(32, 8192));
  c.tuning.vectorBytes = 8;
  newer.insert(c);
  db.merge(newer);

  ASSERT_EQ(db.size(), 3u);
  EXPECT_EQ(db.find(a.key)->tuning.threads, 512);
  EXPECT_EQ(db.find(b.key)->tuning.resident, "off");
  EXPECT_EQ(db.find(c.key)->tuning.vectorBytes, 8);

  std::string error;
  std::vector<std::string> warnings;
  std::optional<TuningDatabase> back =
      TuningDatabase::parse(db.toJSON(), "again", error, warnings);
  ASSERT_TRUE(back) << error;
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(back->size(), 3u);
  for (const TuningEntry *e : db.all()) {
    const TuningEntry *f = back->find(e->key);
    ASSERT_NE(f, nullptr) << e->key.str();
    EXPECT_EQ(f->tuning, e->tuning);
  }
  EXPECT_DOUBLE_EQ(*back->find(a.key)->info.getNumber("ms"), 0.9);
  // Stable text: written twice, the same bytes.
  EXPECT_EQ(back->toJSON(), db.toJSON());
}

TEST(TuningDB, SaveReplacesAtomicallyAndLoadReportsProblems) {
  TempDir dir;
  std::string path = dir.file("db.json");
  spit(path, "old contents");
  TuningDatabase db;
  TuningEntry e;
  e.key = TuningKey::of(specOf(8, 4096));
  e.tuning.threads = 256;
  db.insert(e);
  std::string error;
  ASSERT_TRUE(db.save(path, error)) << error;
  EXPECT_EQ(slurp(path), db.toJSON());
  // No temporary file is left beside it.
  size_t files = 0;
  for (const auto &entry : fs::directory_iterator(dir.path))
    files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);

  std::vector<std::string> warnings;
  std::optional<TuningDatabase> loaded =
      TuningDatabase::load(path, error, warnings);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->find(e.key)->tuning.threads, 256);

  std::string missing = dir.file("missing.json");
  EXPECT_FALSE(TuningDatabase::load(missing, error, warnings));
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
  EXPECT_FALSE(TuningDatabase::load(dir.path.string(), error, warnings));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;

  if (::geteuid() != 0) {
    fs::path locked = dir.path / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    error.clear();
    EXPECT_FALSE(db.save((locked / "db.json").string(), error));
    EXPECT_NE(error.find("cannot create a temporary file"), std::string::npos)
        << error;
  }
}

TEST(TuningDB, BuiltinDatabaseIsClean) {
  EXPECT_TRUE(builtinTuningWarnings().empty())
      << builtinTuningWarnings().front();
  for (const TuningEntry *e : builtinTuningDatabase().all()) {
    KernelSpec spec =
        specOf(e->key.numSources, e->key.width, e->key.dtype, e->key.direction);
    spec.arch = e->key.arch;
    spec.tuning = e->tuning;
    EXPECT_EQ(validate(spec), "") << e->key.str();
    EXPECT_EQ(e->origin.rfind("(built-in) tuning/", 0), 0u) << e->origin;
  }
}

//===----------------------------------------------------------------------===//
// The runtime's lookup
//===----------------------------------------------------------------------===//

namespace {

/// Restores the runtime's tuning state and $ATTNRES_TUNING_DB.
struct RuntimeTuningGuard {
  std::optional<std::string> env;
  RuntimeTuningGuard() {
    if (const char *v = std::getenv("ATTNRES_TUNING_DB"))
      env = v;
  }
  ~RuntimeTuningGuard() {
    if (env)
      ::setenv("ATTNRES_TUNING_DB", env->c_str(), 1);
    else
      ::unsetenv("ATTNRES_TUNING_DB");
    Runtime::get().resetTuningDatabase();
  }
};

TuningChoice choose(int64_t n, const Tuning &tuning = Tuning()) {
  return Runtime::get().tuningFor(n, 4096, DType::BF16, Direction::Forward,
                                  "sm_90a", tuning);
}

} // namespace

TEST(TuningRuntime, LookupOrder) {
  RuntimeTuningGuard guard;
  Runtime &rt = Runtime::get();
  TempDir dir;
  std::string path = dir.file("db.json");
  spit(path, dbText(kEntryN8));
  EXPECT_TRUE(rt.setTuningDatabase(path).empty());

  TuningChoice hit = choose(8);
  EXPECT_EQ(hit.source, TuningChoice::Source::Database);
  EXPECT_EQ(hit.origin, path);
  EXPECT_EQ(hit.tuning.threads, 256);
  EXPECT_EQ(hit.tuning.resident, "on");

  // An explicit tuning wins over the database.
  Tuning mine;
  mine.threads = 128;
  TuningChoice explicitChoice = choose(8, mine);
  EXPECT_EQ(explicitChoice.source, TuningChoice::Source::Explicit);
  EXPECT_EQ(explicitChoice.tuning, mine);

  // No entry: the built-in database, else the heuristic.
  TuningChoice miss = choose(3);
  const TuningEntry *builtin =
      builtinTuningDatabase().find(TuningKey::of(specOf(3, 4096)));
  EXPECT_EQ(miss.source, builtin ? TuningChoice::Source::Builtin
                                 : TuningChoice::Source::Heuristic);
  if (!builtin)
    EXPECT_EQ(miss.tuning, Tuning());

  // Disabled: the heuristic even where an entry exists.
  rt.setTuningDatabaseEnabled(false);
  EXPECT_EQ(choose(8).source, TuningChoice::Source::Heuristic);
  EXPECT_EQ(choose(8).tuning, Tuning());
  rt.setTuningDatabaseEnabled(true);
  EXPECT_EQ(choose(8).source, TuningChoice::Source::Database);

  // "" drops the file.
  EXPECT_TRUE(rt.setTuningDatabase("").empty());
  EXPECT_NE(choose(8).source, TuningChoice::Source::Database);

  EXPECT_THROW(rt.tuningFor(0, 4096, DType::BF16, Direction::Forward, "sm_90a"),
               Error);
}

TEST(TuningRuntime, BuiltinEntriesAreWhatTheRuntimeUses) {
  RuntimeTuningGuard guard;
  ::unsetenv("ATTNRES_TUNING_DB");
  Runtime::get().resetTuningDatabase();
  for (const TuningEntry *e : builtinTuningDatabase().all()) {
    TuningChoice choice =
        Runtime::get().tuningFor(e->key.numSources, e->key.width, e->key.dtype,
                                 e->key.direction, e->key.arch);
    EXPECT_EQ(choice.source, TuningChoice::Source::Builtin) << e->key.str();
    EXPECT_EQ(choice.origin, e->origin);
    EXPECT_EQ(choice.tuning, e->tuning) << e->key.str();
  }
}

TEST(TuningRuntime, SetTuningDatabaseRefusesBadFilesAndKeepsTheOldOne) {
  RuntimeTuningGuard guard;
  Runtime &rt = Runtime::get();
  TempDir dir;
  std::string good = dir.file("good.json");
  spit(good, dbText(kEntryN8));
  rt.setTuningDatabase(good);

  std::string malformed = dir.file("malformed.json");
  spit(malformed, "{\"format\": \"attnres-tuning-db\", \"version\": 1, ");
  for (const std::string &bad : {malformed, dir.file("missing.json")}) {
    try {
      rt.setTuningDatabase(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
    EXPECT_EQ(choose(8).origin, good);
  }

  // Refused entries are reported; the rest is used.
  std::string partly = dir.file("partly.json");
  spit(partly,
       dbText(std::string(kEntryN8) +
              R"(, {"arch": "sm_90a", "n": 2, "d": 4096, "dtype": "bf16",
                    "direction": "fwd", "tuning": {"threads": 7}})"));
  std::vector<std::string> warnings = rt.setTuningDatabase(partly);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(partly), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("threads must be"), std::string::npos)
      << warnings[0];
  EXPECT_EQ(choose(8).origin, partly);
  EXPECT_NE(choose(2).source, TuningChoice::Source::Database);
}

TEST(TuningRuntime, EnvironmentNamesTheDatabase) {
  RuntimeTuningGuard guard;
  Runtime &rt = Runtime::get();
  TempDir dir;
  std::string path = dir.file("env.json");
  spit(path, dbText(kEntryN8));
  ::setenv("ATTNRES_TUNING_DB", path.c_str(), 1);
  rt.resetTuningDatabase();
  TuningChoice choice = choose(8);
  EXPECT_EQ(choice.source, TuningChoice::Source::Database);
  EXPECT_EQ(choice.origin, path);

  // setTuningDatabase overrides the environment's file.
  std::string other = dir.file("other.json");
  std::string entry = kEntryN8;
  entry.replace(entry.find("256"), 3, "512");
  spit(other, dbText(entry));
  rt.setTuningDatabase(other);
  EXPECT_EQ(choose(8).tuning.threads, 512);

  // A malformed file named by the environment is a warning, not a crash:
  // calls go on with the built-in database.
  std::string bad = dir.file("bad.json");
  spit(bad, "not json");
  ::setenv("ATTNRES_TUNING_DB", bad.c_str(), 1);
  rt.resetTuningDatabase();
  testing::internal::CaptureStderr();
  TuningChoice fallback = choose(8);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(fallback.source, TuningChoice::Source::Database);
  EXPECT_NE(err.find(bad), std::string::npos) << err;
  EXPECT_NE(err.find("ATTNRES_TUNING_DB"), std::string::npos) << err;
  // Reported once.
  testing::internal::CaptureStderr();
  choose(8);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}
