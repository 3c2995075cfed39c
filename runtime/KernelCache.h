//===- KernelCache.h - Spec -> compiled kernel via memory, disk, compiler -*- C++ -*-===//
//
// Internal to the runtime (the public API is runtime/AttnRes.h). Everything
// here runs without a GPU: it maps a KernelSpec (arch included) to its PTX
// and launch metadata, so the cache can be tested on machines with no driver.
//
// Disk layout: <root>/<key>/{kernel.ptx, kernel.mlir, kernel.json}, where key
// is the hex SHA-256 of the key text. An entry is built in a fresh
// <root>/.tmp-* directory (kernel.json written last) and published with one
// rename(), so readers never see half an entry. kernel.json holds the key text
// and the SHA-256 of the other files: a foreign, corrupt or truncated entry is
// reported once, moved aside and rebuilt.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_KERNELCACHE_H
#define ATTNRES_RUNTIME_KERNELCACHE_H

#include "codegen/PTXCodegen.h"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace attnres {

/// Where a kernel came from.
enum class CacheOrigin { Memory, Disk, Compiler };
const char *toString(CacheOrigin origin);

/// Every input that changes the generated code, one field a line: attnres
/// and LLVM versions, a hash of the compiler's sources, the spec's
/// fingerprint, the arch and the PTX ISA features.
std::string cacheKeyText(const KernelSpec &spec);

/// Hex SHA-256 of `keyText`: the entry's directory name.
std::string cacheKey(const std::string &keyText);

/// Hex SHA-256 of arbitrary bytes.
std::string sha256Hex(const std::string &bytes);

/// Throws attnres::Error if the compiler cannot build `spec`: Unsupported
/// for N, D or arch beyond its range, InvalidArgument otherwise.
void checkSpec(const KernelSpec &spec);

/// $ATTNRES_CACHE_DIR, else $HOME/.cache/attnres; empty if neither is known.
std::string defaultCacheDirectory();

/// A compiled kernel and how it was found.
struct CacheLookup {
  std::shared_ptr<const CompiledKernel> kernel;
  CacheOrigin origin = CacheOrigin::Compiler;
  std::string key;       ///< hex SHA-256 of keyText
  std::string keyText;
  std::string directory; ///< the entry's directory; empty when memory only
};

/// Spec -> CompiledKernel through a memory map, the disk and the compiler.
/// Thread-safe; concurrent lookups of one key compile it once.
class KernelCache {
public:
  using Compiler = std::function<std::optional<CompiledKernel>(
      const KernelSpec &, std::string &error)>;
  using Warn = std::function<void(const std::string &)>;

  /// `root` empty: memory only. The default compiler is compileToPTX and
  /// warnings go to stderr.
  explicit KernelCache(std::string root, Compiler compiler = nullptr,
                       Warn warn = nullptr);

  /// Throws attnres::Error (Unsupported/InvalidArgument for a bad spec,
  /// Compile when the compiler fails). Disk problems never throw: they are
  /// warned about and the kernel is built in memory.
  CacheLookup get(const KernelSpec &spec);

  /// The cache directory, or empty when memory only (from the start or
  /// after the directory turned out unusable).
  std::string root() const;
  bool diskEnabled() const;

  /// Forgets the in-memory kernels (the disk stays).
  void clearMemory();

  struct Stats {
    int memoryHits = 0, diskHits = 0, compiles = 0, rebuilt = 0,
        warnings = 0;
  };
  Stats stats() const;

private:
  struct Slot {
    std::mutex mutex;
    std::shared_ptr<const CompiledKernel> kernel;
  };

  std::optional<CompiledKernel> readEntry(const std::string &dir,
                                          const std::string &keyText,
                                          std::string &problem);
  void publish(const std::string &key, const std::string &keyText,
               const CompiledKernel &kernel);
  void moveAside(const std::string &dir, const std::string &problem);
  bool ensureRoot();
  void disableDisk(const std::string &reason);
  void warnOnce(const std::string &what, const std::string &message);

  Compiler compiler;
  Warn warn;
  mutable std::mutex mutex; // guards everything below
  std::string rootDir;
  bool rootChecked = false;
  bool disk = true;
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots;
  std::set<std::string> warned;
  Stats counters;
};

} // namespace attnres

#endif // ATTNRES_RUNTIME_KERNELCACHE_H
