//===- RuntimeTest.cpp - JIT runtime: cache keys, disk cache, checks -------===//
//
// CPU only: the kernel cache (memory, disk, compiler), its behaviour under
// corruption, unwritable directories and concurrent processes, the argument
// checks of forward/backward, and the no-driver path.
//
//===----------------------------------------------------------------------===//

#include "codegen/Tuning.h"
#include "runtime/AttnRes.h"
#include "runtime/CallChecks.h"
#include "runtime/CudaDriver.h"
#include "runtime/KernelCache.h"
#include "runtime/LaunchCache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace attnres;
namespace fs = std::filesystem;

namespace {

KernelSpec smallSpec(Direction direction = Direction::Forward) {
  KernelSpec spec;
  spec.numSources = 2;
  spec.width = 64;
  spec.dtype = DType::BF16;
  spec.direction = direction;
  spec.arch = "sm_90a";
  return spec;
}

/// A fresh directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern =
        (fs::temp_directory_path() / "attnres-runtime-test-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

std::string slurp(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Names in `dir` other than hidden ones: the published entries.
std::vector<std::string> entriesIn(const fs::path &dir) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// A KernelCache that counts compiles and records warnings.
struct Recorder {
  std::atomic<int> compiles{0};
  std::vector<std::string> warnings;
  std::mutex mutex;

  KernelCache make(const std::string &root) {
    return KernelCache(
        root,
        [this](const KernelSpec &spec, std::string &error) {
          ++compiles;
          return compileToPTX(spec, error);
        },
        [this](const std::string &message) {
          std::lock_guard<std::mutex> lock(mutex);
          warnings.push_back(message);
        });
  }
};

template <typename F> Error expectError(F &&body) {
  try {
    body();
  } catch (const Error &error) {
    return error;
  }
  ADD_FAILURE() << "no attnres::Error thrown";
  return Error(ErrorKind::Cache, "<none>");
}

} // namespace

//===----------------------------------------------------------------------===//
// Keys
//===----------------------------------------------------------------------===//

TEST(RuntimeKey, StableAndNamesEveryInput) {
  KernelSpec spec = smallSpec();
  std::string text = cacheKeyText(spec);
  EXPECT_EQ(text, cacheKeyText(spec));
  EXPECT_EQ(cacheKey(text), cacheKey(cacheKeyText(spec)));
  EXPECT_EQ(cacheKey(text).size(), 64u);
  EXPECT_EQ(cacheKey(text).find_first_not_of("0123456789abcdef"),
            std::string::npos);
  EXPECT_NE(text.find("attnres " ATTNRES_VERSION "\n"), std::string::npos);
  EXPECT_NE(text.find("llvm " ATTNRES_LLVM_VERSION "\n"), std::string::npos);
  EXPECT_NE(text.find("spec " + fingerprint(spec) + "\n"), std::string::npos);
  EXPECT_NE(text.find("ptx-features +ptx80"), std::string::npos);
  EXPECT_NE(text.find("compiler "), std::string::npos);
  spec.arch = "sm_80";
  EXPECT_NE(cacheKeyText(spec).find("ptx-features +ptx78"), std::string::npos);
  // SHA-256 of "abc" (FIPS 180-2 test vector).
  EXPECT_EQ(sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RuntimeKey, DiffersPerField) {
  const KernelSpec base = smallSpec();
  std::vector<KernelSpec> variants(9, base);
  variants[0].numSources = 3;
  variants[1].width = 128;
  variants[2].dtype = DType::F16;
  variants[3].direction = Direction::Backward;
  variants[4].arch = "sm_80";
  variants[5].eps = 1e-5f;
  variants[6].tuning.threads = 64;
  variants[7].tuning.vectorBytes = 8;
  variants[8].tuning.resident = "off";
  // Every other value of every other knob.
  for (const TuningKnob &knob : tuningKnobs()) {
    if (knob.name == "threads" || knob.name == "vector_bytes")
      continue;
    for (const KnobValue &value : knob.candidates) {
      KernelSpec v = base;
      if (knob.set(v.tuning, value) && v.tuning != base.tuning)
        variants.push_back(v);
    }
  }
  std::set<std::string> keys = {cacheKey(cacheKeyText(base))};
  for (const KernelSpec &v : variants)
    keys.insert(cacheKey(cacheKeyText(v)));
  EXPECT_EQ(keys.size(), variants.size() + 1);
  // The next float above eps is a different kernel too.
  KernelSpec next = base;
  next.eps = std::nextafter(base.eps, 1.0f);
  EXPECT_NE(cacheKeyText(next), cacheKeyText(base));
}

TEST(RuntimeKey, LaunchKeyDiffersPerField) {
  Tuning tuning;
  auto key = [&](uint64_t ctx, int64_t n, int64_t d, DType t, Direction dir,
                 float eps, const Tuning &tu) {
    return makeLaunchKey(ctx, n, d, t, dir, eps, tu);
  };
  LaunchKey base = key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, tuning);
  EXPECT_EQ(base, key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, tuning));
  Tuning threads = tuning, vector = tuning, resident = tuning;
  threads.threads = 128;
  vector.vectorBytes = 8;
  resident.resident = "on";
  std::vector<LaunchKey> others = {
      key(2, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, tuning),
      key(1, 9, 4096, DType::BF16, Direction::Forward, 1e-6f, tuning),
      key(1, 8, 4095, DType::BF16, Direction::Forward, 1e-6f, tuning),
      key(1, 8, 4096, DType::F16, Direction::Forward, 1e-6f, tuning),
      key(1, 8, 4096, DType::BF16, Direction::Backward, 1e-6f, tuning),
      key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-5f, tuning),
      key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, threads),
      key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, vector),
      key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, resident)};
  // Every other value of every knob is a different kernel or launch.
  for (const TuningKnob &knob : tuningKnobs())
    for (const KnobValue &value : knob.candidates) {
      Tuning t;
      if (!knob.set(t, value) || t == tuning || knob.name == "threads" ||
          knob.name == "vector_bytes")
        continue;
      others.push_back(
          key(1, 8, 4096, DType::BF16, Direction::Forward, 1e-6f, t));
    }
  LaunchTable<int> table;
  table.insert(base, std::make_unique<int>(-1));
  for (size_t i = 0; i < others.size(); ++i) {
    EXPECT_FALSE(others[i] == base) << i;
    EXPECT_EQ(table.find(others[i]), nullptr) << i;
    table.insert(others[i], std::make_unique<int>(int(i)));
  }
  EXPECT_EQ(table.size(), others.size() + 1);
  for (size_t i = 0; i < others.size(); ++i)
    ASSERT_NE(table.find(others[i]), nullptr);
  EXPECT_EQ(*table.find(others[3]), 3);
  EXPECT_EQ(*table.find(base), -1);
  // A second insert keeps the first value.
  EXPECT_EQ(*table.insert(base, std::make_unique<int>(7)), -1);
  EXPECT_EQ(table.clear().size(), others.size() + 1);
  EXPECT_EQ(table.find(base), nullptr);
}

//===----------------------------------------------------------------------===//
// Disk cache
//===----------------------------------------------------------------------===//

TEST(RuntimeCache, WriteThenReadFromDiskAndMemory) {
  TempDir dir;
  Recorder rec;
  KernelCache first = rec.make(dir.str());
  const KernelSpec spec = smallSpec(Direction::Backward);
  CacheLookup cold = first.get(spec);
  EXPECT_EQ(cold.origin, CacheOrigin::Compiler);
  EXPECT_EQ(rec.compiles, 1);
  EXPECT_EQ(cold.key, cacheKey(cacheKeyText(spec)));
  EXPECT_EQ(cold.directory, dir.str() + "/" + cold.key);
  ASSERT_EQ(cold.kernel->entries.size(), 2u);
  // One published entry, no temporary directory left.
  EXPECT_EQ(entriesIn(dir.path), std::vector<std::string>{cold.key});
  const fs::path entry = dir.path / cold.key;
  EXPECT_EQ(slurp(entry / "kernel.ptx"), cold.kernel->ptx);
  EXPECT_EQ(slurp(entry / "kernel.mlir"), cold.kernel->kernelIR);
  std::string json = slurp(entry / "kernel.json");
  EXPECT_NE(json.find(sha256Hex(cold.kernel->ptx)), std::string::npos);
  EXPECT_NE(json.find("\"name\": \"attnres_bwd_n2_d64_bf16_reduce\""),
            std::string::npos);

  CacheLookup warm = first.get(spec);
  EXPECT_EQ(warm.origin, CacheOrigin::Memory);
  EXPECT_EQ(warm.kernel, cold.kernel);

  KernelCache second = rec.make(dir.str()); // another process, in effect
  CacheLookup disk = second.get(spec);
  EXPECT_EQ(disk.origin, CacheOrigin::Disk);
  EXPECT_EQ(rec.compiles, 1);
  EXPECT_EQ(disk.kernel->ptx, cold.kernel->ptx);
  EXPECT_EQ(disk.kernel->kernelIR, cold.kernel->kernelIR);
  ASSERT_EQ(disk.kernel->entries.size(), cold.kernel->entries.size());
  for (size_t i = 0; i < disk.kernel->entries.size(); ++i) {
    EXPECT_EQ(disk.kernel->entries[i].name, cold.kernel->entries[i].name);
    EXPECT_EQ(disk.kernel->entries[i].threads, cold.kernel->entries[i].threads);
    EXPECT_EQ(disk.kernel->entries[i].vectorElems,
              cold.kernel->entries[i].vectorElems);
    EXPECT_EQ(disk.kernel->entries[i].dynamicSharedBytes,
              cold.kernel->entries[i].dynamicSharedBytes);
  }
  EXPECT_TRUE(rec.warnings.empty());
  EXPECT_EQ(second.stats().diskHits, 1);
  EXPECT_EQ(first.stats().memoryHits, 1);
}

TEST(RuntimeCache, LeftoversOfCrashedProcessesAreRemovedWhenOld) {
  TempDir dir;
  // What a process that died mid-publish or mid-move-aside leaves behind,
  // an hour and more ago, and what a live process is writing now.
  const fs::path oldTmp = dir.path / ".tmp-0123456789abcdef-AbCdEf";
  const fs::path oldBad = dir.path / "0123abcd.bad-4242-0";
  const fs::path liveTmp = dir.path / ".tmp-fedcba9876543210-XyZxYz";
  for (const fs::path &p : {oldTmp, oldBad, liveTmp}) {
    fs::create_directories(p);
    std::ofstream(p / "kernel.ptx") << "partial";
  }
  const auto twoHoursAgo = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(oldTmp, twoHoursAgo);
  fs::last_write_time(oldBad, twoHoursAgo);
  Recorder rec;
  KernelCache cache = rec.make(dir.str());
  CacheLookup cold = cache.get(smallSpec(Direction::Forward));
  EXPECT_EQ(cold.origin, CacheOrigin::Compiler);
  EXPECT_FALSE(fs::exists(oldTmp));
  EXPECT_FALSE(fs::exists(oldBad));
  EXPECT_TRUE(fs::exists(liveTmp / "kernel.ptx"));
  EXPECT_TRUE(fs::exists(dir.path / cold.key / "kernel.json"));
}

TEST(RuntimeCache, MemoryOnlyWithoutRoot) {
  Recorder rec;
  KernelCache cache = rec.make("");
  EXPECT_FALSE(cache.diskEnabled());
  EXPECT_EQ(cache.get(smallSpec()).origin, CacheOrigin::Compiler);
  EXPECT_EQ(cache.get(smallSpec()).origin, CacheOrigin::Memory);
  EXPECT_TRUE(cache.get(smallSpec()).directory.empty());
  EXPECT_TRUE(rec.warnings.empty());
}

namespace {
struct Corruption {
  const char *name;
  const char *problem; // expected in the warning
  std::function<void(const fs::path &entry)> apply;
};

std::vector<Corruption> corruptions() {
  return {
      {"truncated ptx", "kernel.ptx does not match its checksum",
       [](const fs::path &e) {
         std::string ptx = slurp(e / "kernel.ptx");
         spit(e / "kernel.ptx", ptx.substr(0, ptx.size() / 2));
       }},
      {"flipped ptx byte", "kernel.ptx does not match its checksum",
       [](const fs::path &e) {
         std::string ptx = slurp(e / "kernel.ptx");
         ptx[ptx.size() / 3] ^= 1;
         spit(e / "kernel.ptx", ptx);
       }},
      {"garbage json", "kernel.json does not parse",
       [](const fs::path &e) { spit(e / "kernel.json", "{\"key\": [1, 2"); }},
      {"json not an object", "kernel.json is not a JSON object",
       [](const fs::path &e) { spit(e / "kernel.json", "[1, 2, 3]"); }},
      {"foreign key text", "foreign entry",
       [](const fs::path &e) {
         std::string json = slurp(e / "kernel.json");
         size_t at = json.find("attnres-kernel-cache-1\\n");
         ASSERT_NE(at, std::string::npos);
         json.insert(at, "x");
         spit(e / "kernel.json", json);
       }},
      {"missing ptx", "kernel.ptx is missing",
       [](const fs::path &e) { fs::remove(e / "kernel.ptx"); }},
      {"missing json", "kernel.json is missing",
       [](const fs::path &e) { fs::remove(e / "kernel.json"); }},
      {"missing ir", "kernel.mlir is missing",
       [](const fs::path &e) { fs::remove(e / "kernel.mlir"); }},
      {"no entries", "no valid kernel entries",
       [](const fs::path &e) {
         std::string json = slurp(e / "kernel.json");
         size_t at = json.find("\"threads\": ");
         ASSERT_NE(at, std::string::npos);
         json.replace(at, 11, "\"threads\": -");
         spit(e / "kernel.json", json);
       }},
      {"entry is a file", "not a directory",
       [](const fs::path &e) {
         fs::remove_all(e);
         spit(e, "not a cache entry");
       }},
  };
}
} // namespace

TEST(RuntimeCache, CorruptEntriesAreDetectedWarnedOnceAndRebuilt) {
  for (const Corruption &c : corruptions()) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    Recorder rec;
    const KernelSpec spec = smallSpec();
    std::string goodPtx;
    std::string key;
    {
      KernelCache writer = rec.make(dir.str());
      CacheLookup cold = writer.get(spec);
      goodPtx = cold.kernel->ptx;
      key = cold.key;
    }
    const fs::path entry = dir.path / key;
    c.apply(entry);

    KernelCache reader = rec.make(dir.str());
    CacheLookup rebuilt = reader.get(spec);
    EXPECT_EQ(rebuilt.origin, CacheOrigin::Compiler);
    EXPECT_EQ(rebuilt.kernel->ptx, goodPtx);
    EXPECT_EQ(rec.compiles, 2);
    ASSERT_EQ(rec.warnings.size(), 1u);
    EXPECT_NE(rec.warnings[0].find(entry.string()), std::string::npos)
        << rec.warnings[0];
    EXPECT_NE(rec.warnings[0].find(c.problem), std::string::npos)
        << rec.warnings[0];
    EXPECT_EQ(reader.stats().rebuilt, 1);
    // Lookups after the rebuild neither warn nor compile again.
    EXPECT_EQ(reader.get(spec).origin, CacheOrigin::Memory);
    EXPECT_EQ(rec.warnings.size(), 1u);
    // The rebuilt entry is good on disk and nothing else is left behind.
    EXPECT_EQ(entriesIn(dir.path), std::vector<std::string>{key});
    KernelCache later = rec.make(dir.str());
    EXPECT_EQ(later.get(spec).origin, CacheOrigin::Disk);
    EXPECT_EQ(rec.compiles, 2);
  }
}

TEST(RuntimeCache, DefaultWarningGoesToStderr) {
  TempDir dir;
  const KernelSpec spec = smallSpec();
  std::string key;
  {
    KernelCache writer(dir.str());
    key = writer.get(spec).key;
  }
  spit(dir.path / key / "kernel.json", "garbage");
  KernelCache reader(dir.str());
  testing::internal::CaptureStderr();
  EXPECT_EQ(reader.get(spec).origin, CacheOrigin::Compiler);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("attnres: warning: kernel cache entry '" +
                     (dir.path / key).string() + "'"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("does not parse"), std::string::npos) << err;
}

TEST(RuntimeCache, UnusableDirectoryFallsBackToMemoryWithOneWarning) {
  TempDir dir;
  const fs::path file = dir.path / "a-file";
  spit(file, "x");
  for (const fs::path &root : {file, file / "below"}) {
    SCOPED_TRACE(root.string());
    Recorder rec;
    KernelCache cache = rec.make(root.string());
    CacheLookup a = cache.get(smallSpec());
    EXPECT_EQ(a.origin, CacheOrigin::Compiler);
    EXPECT_TRUE(a.directory.empty());
    EXPECT_FALSE(cache.diskEnabled());
    EXPECT_EQ(cache.root(), "");
    EXPECT_EQ(cache.get(smallSpec()).origin, CacheOrigin::Memory);
    EXPECT_EQ(cache.get(smallSpec(Direction::Backward)).origin,
              CacheOrigin::Compiler);
    ASSERT_EQ(rec.warnings.size(), 1u);
    EXPECT_NE(rec.warnings[0].find(root.string()), std::string::npos);
    EXPECT_NE(rec.warnings[0].find("memory only"), std::string::npos);
  }
  EXPECT_EQ(slurp(file), "x");

  if (::geteuid() != 0) { // root writes through permission bits
    const fs::path locked = dir.path / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    Recorder rec;
    KernelCache cache = rec.make(locked.string());
    EXPECT_EQ(cache.get(smallSpec()).origin, CacheOrigin::Compiler);
    EXPECT_FALSE(cache.diskEnabled());
    EXPECT_EQ(rec.warnings.size(), 1u);
  }
}

TEST(RuntimeCache, ConcurrentThreadsCompileOnce) {
  TempDir dir;
  Recorder rec;
  KernelCache cache = rec.make(dir.str());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (!cache.get(smallSpec()).kernel->ptx.empty())
        ++ok;
    });
  for (auto &t : threads)
    t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(rec.compiles, 1);
}

TEST(RuntimeCache, ConcurrentProcessesLeaveOneValidEntry) {
  TempDir dir;
  const fs::path root = dir.path / "fresh" / "cache";
  const KernelSpec spec = smallSpec(Direction::Backward);
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(gate[1]);
      char byte;
      (void)!::read(gate[0], &byte, 1); // start together
      int status = 1;
      try {
        KernelCache cache(root.string());
        CacheLookup found = cache.get(spec);
        status = found.kernel && found.kernel->entries.size() == 2 &&
                         cache.diskEnabled()
                     ? 0
                     : 2;
      } catch (...) {
        status = 3;
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]); // EOF releases every child at once
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  const std::string key = cacheKey(cacheKeyText(spec));
  EXPECT_EQ(entriesIn(root), std::vector<std::string>{key});
  Recorder rec;
  KernelCache check = rec.make(root.string());
  EXPECT_EQ(check.get(spec).origin, CacheOrigin::Disk);
  EXPECT_TRUE(rec.warnings.empty());
}

TEST(RuntimeCache, LoserOfAPublishRaceKeepsTheWinnersEntry) {
  // While this cache compiles, another one publishes the same key: our
  // rename finds a valid entry, keeps it and removes our temporary copy.
  TempDir dir;
  const KernelSpec spec = smallSpec();
  std::vector<std::string> warnings;
  std::string winnerPtx;
  KernelCache loser(
      dir.str(),
      [&](const KernelSpec &s, std::string &error) {
        KernelCache winner(dir.str());
        winnerPtx = winner.get(s).kernel->ptx;
        auto compiled = compileToPTX(s, error);
        compiled->ptx += "// ours\n"; // tell the two copies apart
        return compiled;
      },
      [&](const std::string &w) { warnings.push_back(w); });
  EXPECT_EQ(loser.get(spec).origin, CacheOrigin::Compiler);
  const std::string key = cacheKey(cacheKeyText(spec));
  EXPECT_EQ(entriesIn(dir.path), std::vector<std::string>{key});
  EXPECT_EQ(slurp(dir.path / key / "kernel.ptx"), winnerPtx);
  EXPECT_TRUE(warnings.empty());
}

TEST(RuntimeCache, PublishReplacesACorruptEntryFoundAtRename) {
  TempDir dir;
  const KernelSpec spec = smallSpec();
  const std::string key = cacheKey(cacheKeyText(spec));
  std::vector<std::string> warnings;
  KernelCache cache(
      dir.str(),
      [&](const KernelSpec &s, std::string &error) {
        // A broken entry appears while we compile.
        fs::create_directories(dir.path / key);
        spit(dir.path / key / "kernel.json", "{");
        return compileToPTX(s, error);
      },
      [&](const std::string &w) { warnings.push_back(w); });
  CacheLookup found = cache.get(spec);
  EXPECT_EQ(found.origin, CacheOrigin::Compiler);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("does not parse"), std::string::npos);
  EXPECT_EQ(entriesIn(dir.path), std::vector<std::string>{key});
  EXPECT_EQ(slurp(dir.path / key / "kernel.ptx"), found.kernel->ptx);
}

TEST(RuntimeCache, SpecAndCompilerErrors) {
  KernelCache cache("");
  KernelSpec wide = smallSpec();
  wide.numSources = 65;
  Error e = expectError([&] { cache.get(wide); });
  EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  EXPECT_NE(std::string(e.what()).find("N (number of sources)"),
            std::string::npos);
  KernelSpec none = smallSpec();
  none.width = 0;
  EXPECT_EQ(expectError([&] { cache.get(none); }).kind(),
            ErrorKind::InvalidArgument);
  KernelSpec old = smallSpec();
  old.arch = "sm_75";
  EXPECT_EQ(expectError([&] { cache.get(old); }).kind(),
            ErrorKind::Unsupported);

  KernelCache failing("", [](const KernelSpec &, std::string &error) {
    error = "boom";
    return std::optional<CompiledKernel>();
  });
  Error c = expectError([&] { failing.get(smallSpec()); });
  EXPECT_EQ(c.kind(), ErrorKind::Compile);
  EXPECT_NE(std::string(c.what()).find("attnres_fwd_n2_d64_bf16"),
            std::string::npos);
  EXPECT_NE(std::string(c.what()).find("boom"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Runtime API
//===----------------------------------------------------------------------===//

TEST(RuntimeApi, CompileReportsOriginKeyAndResources) {
  TempDir dir;
  Runtime &rt = Runtime::get();
  rt.setCacheDirectory(dir.str());
  EXPECT_EQ(rt.cacheDirectory(), dir.str());
  KernelSpec spec = smallSpec(Direction::Backward);
  spec.arch = "sm_80";
  CompileResult cold = rt.compile(spec);
  EXPECT_EQ(cold.origin, CompileResult::Origin::Compiler);
  EXPECT_NE(cold.ptx.find(".target sm_80"), std::string::npos);
  EXPECT_NE(cold.kernelIR.find("gpu.module"), std::string::npos);
  ASSERT_EQ(cold.entries.size(), 2u);
  EXPECT_EQ(cold.cacheKey, cacheKey(cold.cacheKeyText));
  EXPECT_EQ(cold.cacheDirectory, dir.str() + "/" + cold.cacheKey);
  if (findPtxas().empty()) {
    EXPECT_TRUE(cold.resources.empty());
    EXPECT_FALSE(cold.ptxasError.empty());
  } else {
    ASSERT_EQ(cold.resources.size(), 2u) << cold.ptxasError;
    EXPECT_GT(cold.resources[0].registers, 0);
  }
  CompileResult warm = rt.compile(spec, /*ptxasReport=*/false);
  EXPECT_EQ(warm.origin, CompileResult::Origin::Memory);
  EXPECT_TRUE(warm.resources.empty());
  rt.clearMemoryCache();
  EXPECT_EQ(rt.compile(spec, false).origin, CompileResult::Origin::Disk);
  rt.setCacheDirectory("");
  EXPECT_EQ(rt.cacheDirectory(), "");
  EXPECT_EQ(rt.compile(spec, false).origin, CompileResult::Origin::Compiler);
}

namespace {

/// Fake device addresses: the checks never dereference them.
alignas(256) char arena[1 << 16];

/// A forward call with valid arguments that tests then break one by one.
struct FwdCall {
  int64_t n = 3, m = 5, d = 64;
  DType dtype = DType::BF16;
  float eps = 1e-6f;
  Tuning tuning;
  Sources sources = Sources::stacked(arena, 3);
  const float *q = reinterpret_cast<const float *>(arena + 4096);
  const float *g = reinterpret_cast<const float *>(arena + 8192);
  void *h = arena + 12288;
  float *alpha = reinterpret_cast<float *>(arena + 16384);
  float *rstd = reinterpret_cast<float *>(arena + 20480);

  void run() {
    Runtime::get().forward(sources, q, g, h, alpha, rstd, m, d, dtype, eps,
                           nullptr, tuning);
  }
  CallArgs args() const {
    CallArgs a;
    a.direction = Direction::Forward;
    a.sources = &sources;
    a.query = q;
    a.normWeight = g;
    a.h = h;
    a.alpha = alpha;
    a.rstd = rstd;
    a.tokens = m;
    a.width = d;
    a.dtype = dtype;
    a.eps = eps;
    a.tuning = &tuning;
    return a;
  }
};

struct BwdCall {
  int64_t n = 3, m = 5, d = 64;
  DType dtype = DType::F32;
  Sources sources = Sources::stacked(arena, 3);
  Sources grads = Sources::stacked(arena + 32768, 3);
  const void *dh = arena + 24576;
  const float *q = reinterpret_cast<const float *>(arena + 4096);
  const float *g = reinterpret_cast<const float *>(arena + 8192);
  const float *alpha = reinterpret_cast<const float *>(arena + 16384);
  const float *rstd = reinterpret_cast<const float *>(arena + 20480);
  float *dq = reinterpret_cast<float *>(arena + 12288);
  float *dg = reinterpret_cast<float *>(arena + 12288 + 1024);
  void *workspace = nullptr;

  void run() {
    Runtime::get().backward(dh, sources, q, g, alpha, rstd, grads, dq, dg, m,
                            d, dtype, 1e-6f, nullptr, workspace, 1 << 20);
  }
};

/// Runs `body`, which must throw `kind` naming every one of `words`.
template <typename F>
void expectRefused(F &&body, ErrorKind kind,
                   std::initializer_list<const char *> words) {
  Error e = expectError(body);
  EXPECT_EQ(e.kind(), kind) << toString(e.kind()) << ": " << e.what();
  for (const char *word : words)
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos)
        << "'" << word << "' not in: " << e.what();
}

} // namespace

TEST(RuntimeApi, ForwardArgumentsAreChecked) {
  using K = ErrorKind;
  { FwdCall c; c.q = nullptr;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"forward", "query", "null"}); }
  { FwdCall c; c.rstd = nullptr;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"rstd", "null"}); }
  { FwdCall c; c.sources = Sources::list({arena, nullptr, arena});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"sources[1]", "null"}); }
  { FwdCall c; c.sources = Sources::stacked(nullptr, 3);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"sources[0]", "null"}); }
  { FwdCall c; c.h = arena + 1;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"h (", "2-byte", "bf16"}); }
  { FwdCall c; c.g = reinterpret_cast<const float *>(arena + 2);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"norm_weight", "4-byte"}); }
  { FwdCall c; c.sources = Sources::list({arena, arena + 3});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"sources[1]", "aligned"}); }
  { FwdCall c; c.sources = Sources::list(std::vector<const void *>{});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"N (number of sources)", "got 0"}); }
  { FwdCall c; std::vector<const void *> many(65, arena);
    c.sources = Sources::list(many);
    expectRefused([&] { c.run(); }, K::Unsupported, {"N (number of sources)", "65"}); }
  { FwdCall c; c.d = 0;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"D (feature width)", "got 0"}); }
  { FwdCall c; c.d = 20000;
    expectRefused([&] { c.run(); }, K::Unsupported, {"D (feature width)", "20000"}); }
  { FwdCall c; c.m = -1;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"M (number of tokens)", "-1"}); }
  { FwdCall c; c.dtype = static_cast<DType>(7);
    expectRefused([&] { c.run(); }, K::Unsupported, {"dtype", "7"}); }
  { FwdCall c; c.eps = std::nanf("");
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"eps"}); }
  { FwdCall c; c.eps = 0;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"eps"}); }
  { FwdCall c; c.sources = Sources::stacked(arena, 3, Sources::kDense, 128);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"token stride 128", "D is 64", "contiguous"}); }
  { FwdCall c; c.sources = Sources::list({arena, arena}, 65);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"token stride 65"}); }
  { FwdCall c; c.sources = Sources::stacked(arena, 3, -64);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"negative source stride"}); }
  { FwdCall c; c.tuning.resident = "sometimes";
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"resident"}); }
  { FwdCall c; c.tuning.vectorBytes = 3;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"vector bytes"}); }
  { FwdCall c; c.m = int64_t(1) << 60;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"too large"}); }
}

TEST(RuntimeApi, SpecChecksAreNotSkippedAfterAValidCall) {
  // checkCall remembers the last valid spec of the thread; a different
  // spec, even one that truncates to it, is validated again.
  FwdCall c;
  EXPECT_NO_THROW(checkCall(c.args()));
  c.d = 64 + (int64_t(1) << 32);
  EXPECT_EQ(expectError([&] { checkCall(c.args()); }).kind(),
            ErrorKind::Unsupported);
  c.d = 64;
  c.tuning.vectorBytes = 16 + 256;
  EXPECT_EQ(expectError([&] { checkCall(c.args()); }).kind(),
            ErrorKind::InvalidArgument);
  c.tuning.vectorBytes = 16;
  EXPECT_NO_THROW(checkCall(c.args()));
  c.sources = Sources::stacked(arena, 3 + (int64_t(1) << 32));
  EXPECT_EQ(expectError([&] { checkCall(c.args()); }).kind(),
            ErrorKind::Unsupported);
}

TEST(RuntimeApi, BackwardArgumentsAreChecked) {
  using K = ErrorKind;
  { BwdCall c; c.dh = nullptr;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"backward", "grad_h", "null"}); }
  { BwdCall c; c.dg = nullptr;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_norm_weight", "null"}); }
  { BwdCall c; c.grads = Sources::list({arena, arena});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_sources has 2", "sources has 3"}); }
  { BwdCall c; c.grads = Sources::list({arena + 32768, arena + 32768 + 2, arena});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_sources[1]", "4-byte", "f32"}); }
  { BwdCall c; c.grads = Sources::stacked(arena + 32768, 3, 64);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_sources", "overlap"}); }
  { BwdCall c; c.workspace = arena + 2;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"workspace", "aligned"}); }
  { BwdCall c; c.alpha = reinterpret_cast<const float *>(arena + 1);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"alpha", "aligned"}); }
  // M == 0: only the weight gradients are touched (zeroed).
  { BwdCall c; c.m = 0; c.dq = nullptr;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_query", "null"}); }
}

TEST(RuntimeApi, WrittenMemoryMustNotBeAnotherArgument) {
  using K = ErrorKind;
  // Forward: sources are 3 x 640 bytes from arena (5 tokens x 64 bf16).
  { FwdCall c; c.h = arena + 640;
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"h (", "sources[1]", "overlaps"}); }
  { FwdCall c; c.h = arena + 1000; // inside sources[1], not at its start
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"h (", "sources[1]"}); }
  { FwdCall c; c.rstd = c.alpha + 8; // alpha is 5 x 3 floats
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"alpha", "rstd", "overlaps"}); }
  { FwdCall c; c.alpha = reinterpret_cast<float *>(arena + 4096 + 128); // in query
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"alpha", "query"}); }
  // Backward: the gradients are written.
  { BwdCall c; c.dq = reinterpret_cast<float *>(arena + 4096);
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_query", "query"}); }
  { BwdCall c; c.grads = Sources::list({arena + 32768, arena + 32768, arena + 40960});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_sources[0]", "grad_sources[1]"}); }
  { BwdCall c; c.grads = Sources::list({arena + 32768, arena + 24576 + 256, arena + 40960});
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"grad_sources[1]", "grad_h"}); }
  { BwdCall c; c.workspace = arena + 36608 - 256; // in grad_sources[2]
    expectRefused([&] { c.run(); }, K::InvalidArgument, {"workspace", "grad_sources"}); }
  // Memory that is only read may be shared; adjacent ranges do not overlap.
  { FwdCall c; c.sources = Sources::list({arena, arena, arena});
    c.g = c.q;
    EXPECT_NO_THROW(checkCall(c.args())); }
  { FwdCall c; c.h = arena + 3 * 640;
    EXPECT_NO_THROW(checkCall(c.args())); }
}

TEST(RuntimeApi, EmptyForwardIsANoOp) {
  // No tokens: nothing is read, written or launched; null data pointers of
  // empty tensors are fine and no GPU is needed.
  FwdCall c;
  c.m = 0;
  c.h = nullptr;
  c.alpha = c.rstd = nullptr;
  c.sources = Sources::stacked(nullptr, 3);
  EXPECT_NO_THROW(c.run());
}

// The shared-memory backward declares its ring's size (rows of D as the
// threads hold them; one tile is dh and the N rows) and it survives the disk
// cache; other forms declare none.
TEST(RuntimeCache, DynamicSharedMemoryInMetadata) {
  TempDir dir;
  KernelSpec spec;
  spec.numSources = 8;
  spec.width = 4096;
  spec.direction = Direction::Backward;
  spec.tuning.form = "smem";
  spec.tuning.stages = 2;
  KernelCache first(dir.str());
  const CompiledKernel &cold = *first.get(spec).kernel;
  ASSERT_EQ(cold.entries.size(), 2u);
  EXPECT_EQ(cold.entries[0].dynamicSharedBytes, 2 * 9 * 4096 * 2);
  EXPECT_EQ(cold.entries[1].dynamicSharedBytes, 0);
  EXPECT_EQ(cold.entries[0].layout, "smem ring=18");
  EXPECT_EQ(cold.entries[1].layout, "");
  KernelCache second(dir.str());
  CacheLookup disk = second.get(spec);
  EXPECT_EQ(disk.origin, CacheOrigin::Disk);
  EXPECT_EQ(disk.kernel->entries[0].dynamicSharedBytes, 2 * 9 * 4096 * 2);
  EXPECT_EQ(disk.kernel->entries[0].layout, "smem ring=18");
  spec.tuning.stages = 0;

  // The cluster form: the fewest CTAs that hold the tile (two for this
  // one), and the cluster size in the metadata.
  spec.tuning.form = "cluster";
  const CompiledKernel &cluster = *first.get(spec).kernel;
  EXPECT_EQ(cluster.entries[0].clusterSize, 2);
  EXPECT_EQ(cluster.entries[0].layout.rfind("cluster=2 ring=", 0), 0u);
  EXPECT_EQ(cluster.entries[1].clusterSize, 1);
  EXPECT_EQ(KernelCache(dir.str()).get(spec).kernel->entries[0].clusterSize, 2);

  // Past the portable 8 on sm_90 (the default arch): f32 N = 32, D = 7168
  // in clusters of 14, three CTAs an SM, kept on disk like any other.
  KernelSpec wide = spec;
  wide.numSources = 32;
  wide.width = 7168;
  wide.dtype = DType::F32;
  wide.tuning = Tuning();
  EXPECT_EQ(first.get(wide).kernel->entries[0].clusterSize, 14);
  EXPECT_EQ(first.get(wide).kernel->entries[0].layout, "cluster=14 ring=33");
  EXPECT_EQ(KernelCache(dir.str()).get(wide).kernel->entries[0].clusterSize,
            14);

  spec.tuning.form = "streaming";
  EXPECT_EQ(first.get(spec).kernel->entries[0].dynamicSharedBytes, 0);
  EXPECT_EQ(first.get(spec).kernel->entries[0].layout, "streaming");
  EXPECT_EQ(first.get(spec).kernel->entries[0].clusterSize, 1);
  spec.direction = Direction::Forward;
  spec.tuning.form = "online";
  // The online forward's ring: two slots of four rows of 4096 bf16.
  EXPECT_EQ(first.get(spec).kernel->entries[0].dynamicSharedBytes,
            2 * 4 * 4096 * 2);
  EXPECT_EQ(first.get(spec).kernel->entries[0].layout,
            "online rows=4 stages=2");
  spec.tuning.stages = 1; // the next group in registers: no ring
  EXPECT_EQ(first.get(spec).kernel->entries[0].dynamicSharedBytes, 0);
  EXPECT_EQ(first.get(spec).kernel->entries[0].layout.rfind("online rows=", 0),
            0u);
  EXPECT_NE(first.get(spec).kernel->entries[0].layout.find(" stages=1"),
            std::string::npos);
}

TEST(RuntimeApi, VectorAlignmentFollowsTheKernel) {
  KernelCache cache("");
  KernelSpec spec = smallSpec();
  spec.width = 4096;
  const CompiledKernel &wide = *cache.get(spec).kernel;
  ASSERT_EQ(wide.entries[0].vectorElems, 8); // 16-byte bf16 vectors
  spec.width = 100;
  const CompiledKernel &narrow = *cache.get(spec).kernel;
  ASSERT_EQ(narrow.entries[0].vectorElems, 4); // 100 = 25 x 4

  FwdCall c;
  c.d = 4096;
  c.sources = Sources::list({arena, arena + 2});
  Error e = expectError([&] {
    checkVectorAlignment(c.args(), wide.entries[0].vectorElems,
                         wide.entries[0].name);
  });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  EXPECT_NE(std::string(e.what()).find("sources[1]"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("16 bytes"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("attnres_fwd_n2_d4096_bf16"),
            std::string::npos);
  EXPECT_NE(std::string(e.what()).find("8 x bf16"), std::string::npos);

  c.sources = Sources::list({arena, arena + 16});
  EXPECT_NO_THROW(checkVectorAlignment(c.args(), 8, "k"));
  c.q = reinterpret_cast<const float *>(arena + 4096 + 4);
  e = expectError([&] { checkVectorAlignment(c.args(), 8, "k"); });
  EXPECT_NE(std::string(e.what()).find("query"), std::string::npos);
  // D = 100: 8-byte vectors, so sources 8 bytes apart are fine.
  c = FwdCall();
  c.d = 100;
  c.sources = Sources::list({arena, arena + 8});
  c.q = reinterpret_cast<const float *>(arena + 4096 + 16);
  EXPECT_NO_THROW(checkVectorAlignment(c.args(), 4, "k"));
  c.h = arena + 12288 + 4;
  EXPECT_THROW(checkVectorAlignment(c.args(), 4, "k"), Error);
}

TEST(RuntimeApi, PersistentGridIsWholeClustersAtMostOnePerToken) {
  // Without clusters: every resident CTA, or one per token.
  EXPECT_EQ(CudaDriver::persistentGrid(396, 1, 16384), 396);
  EXPECT_EQ(CudaDriver::persistentGrid(396, 1, 100), 100);
  // Clusters of seven: 329 resident CTAs are 47 clusters; 5 tokens take
  // 5 clusters (35 CTAs); no tokens still launch one cluster.
  EXPECT_EQ(CudaDriver::persistentGrid(329, 7, 4681), 329);
  EXPECT_EQ(CudaDriver::persistentGrid(330, 7, 4681), 329);
  EXPECT_EQ(CudaDriver::persistentGrid(329, 7, 5), 35);
  EXPECT_EQ(CudaDriver::persistentGrid(329, 7, 0), 7);
  // One per token, within the largest grid.
  EXPECT_EQ(CudaDriver::perTokenGrid(1, 16384), 16384);
  EXPECT_EQ(CudaDriver::perTokenGrid(1, 0), 1);
  EXPECT_EQ(CudaDriver::perTokenGrid(1, int64_t(1) << 40), 2147483647);
  EXPECT_EQ(CudaDriver::perTokenGrid(2, int64_t(1) << 40), 2147483646);
}

TEST(RuntimeApi, NoDriverGivesNoDevice) {
  std::string reason;
  if (CudaDriver::load(reason))
    GTEST_SKIP() << "a CUDA driver is present";
  Runtime &rt = Runtime::get();
  std::string why;
  EXPECT_FALSE(rt.available(&why));
  EXPECT_NE(why.find(reason), std::string::npos) << why;
  FwdCall f;
  Error e = expectError([&] { f.run(); });
  EXPECT_EQ(e.kind(), ErrorKind::NoDevice);
  EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  BwdCall b;
  EXPECT_EQ(expectError([&] { b.run(); }).kind(), ErrorKind::NoDevice);
  EXPECT_EQ(expectError([&] { rt.deviceArch(); }).kind(), ErrorKind::NoDevice);
  EXPECT_EQ(expectError([&] {
              rt.backwardWorkspaceBytes(3, 5, 64, DType::BF16, 1e-6f);
            }).kind(),
            ErrorKind::NoDevice);
  // Argument errors still come first.
  f.q = nullptr;
  EXPECT_EQ(expectError([&] { f.run(); }).kind(), ErrorKind::InvalidArgument);
}
