//===- KernelCache.cpp - Memory and disk cache of compiled kernels --------===//

#include "runtime/KernelCache.h"

#include "dialect/Limits.h"

#include "runtime/AttnRes.h"
#include "runtime/CompilerHash.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attnres {

namespace {

constexpr const char *kCacheFormat = "attnres-kernel-cache-1";

/// The PTX ISA features codegen asks for (mirrors its choice; the compiler
/// hash in the key covers any change to it).
std::string ptxFeatures(const std::string &arch) {
  return arch.rfind("sm_90", 0) == 0 || arch.rfind("sm_10", 0) == 0 ? "+ptx80"
                                                                    : "+ptx78";
}

std::string errnoText(int error) { return std::strerror(error); }

bool readFile(const std::string &path, std::string &out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  out.clear();
  char buffer[1 << 16];
  ssize_t got;
  while ((got = ::read(fd, buffer, sizeof buffer)) != 0) {
    if (got < 0) {
      if (errno == EINTR)
        continue;
      ::close(fd);
      return false;
    }
    out.append(buffer, size_t(got));
  }
  ::close(fd);
  return true;
}

/// Writes `data` to a new file; on failure returns the errno text.
std::string writeFile(const std::string &path, const std::string &data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return errnoText(errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t put = ::write(fd, data.data() + done, data.size() - done);
    if (put < 0) {
      if (errno == EINTR)
        continue;
      int error = errno;
      ::close(fd);
      return errnoText(error);
    }
    done += size_t(put);
  }
  // On disk before the entry is renamed into place: a crash after the
  // rename must not leave a published entry with empty files.
  if (::fsync(fd) != 0) {
    int error = errno;
    ::close(fd);
    return errnoText(error);
  }
  if (::close(fd) != 0)
    return errnoText(errno);
  return "";
}

/// Removes a file or a directory tree; errors are ignored (best effort).
void removeTree(const std::string &path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR *dir = ::opendir(path.c_str())) {
      while (dirent *e = ::readdir(dir)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, ".."))
          continue;
        removeTree(path + "/" + e->d_name);
      }
      ::closedir(dir);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

/// Removes what crashed processes left in `root`: unfinished entries
/// (.tmp-*) and entries moved aside (*.bad-*) older than `minAgeSeconds`,
/// so a live process's work in progress is left alone.
void removeStaleLeftovers(const std::string &root, time_t minAgeSeconds) {
  DIR *dir = ::opendir(root.c_str());
  if (!dir)
    return;
  const time_t now = ::time(nullptr);
  std::vector<std::string> stale;
  while (dirent *e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind(".tmp-", 0) != 0 && name.find(".bad-") == std::string::npos)
      continue;
    struct stat st;
    std::string path = root + "/" + name;
    if (::lstat(path.c_str(), &st) == 0 && now - st.st_mtime >= minAgeSeconds)
      stale.push_back(path);
  }
  ::closedir(dir);
  for (const std::string &path : stale)
    removeTree(path);
}

bool createDirectories(const std::string &path, std::string &error) {
  std::string prefix;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    prefix = path.substr(0, pos);
    if (prefix.empty())
      continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      error = "cannot create " + prefix + ": " + errnoText(errno);
      return false;
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    error = errnoText(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    error = "it is not a directory";
    return false;
  }
  return true;
}

/// The codegen's metadata (toJSON: spec and entries, which the reader
/// needs) plus what the cache checks: format, key text and checksums.
std::string metadataJSON(const CompiledKernel &kernel,
                         const std::string &keyText) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(toJSON(kernel));
  llvm::json::Object root;
  if (parsed) {
    if (llvm::json::Object *object = parsed->getAsObject())
      root = std::move(*object);
  } else {
    llvm::consumeError(parsed.takeError());
  }
  root["cache_format"] = kCacheFormat;
  root["key"] = keyText;
  root["ptx_sha256"] = sha256Hex(kernel.ptx);
  root["ir_sha256"] = sha256Hex(kernel.kernelIR);
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  return text;
}

void defaultWarn(const std::string &message) {
  std::fprintf(stderr, "attnres: warning: %s\n", message.c_str());
  std::fflush(stderr);
}

std::optional<CompiledKernel> defaultCompile(const KernelSpec &spec,
                                             std::string &error) {
  return compileToPTX(spec, error);
}

} // namespace

const char *toString(CacheOrigin origin) {
  switch (origin) {
  case CacheOrigin::Memory:
    return "memory";
  case CacheOrigin::Disk:
    return "disk";
  case CacheOrigin::Compiler:
    return "compiler";
  }
  return "?";
}

std::string sha256Hex(const std::string &bytes) {
  return llvm::toHex(llvm::SHA256::hash(llvm::arrayRefFromStringRef(bytes)),
                     /*LowerCase=*/true);
}

std::string cacheKeyText(const KernelSpec &spec) {
  std::string text;
  text += std::string(kCacheFormat) + "\n";
  text += "attnres " ATTNRES_VERSION "\n";
  text += "llvm " ATTNRES_LLVM_VERSION "\n";
  text += "compiler " ATTNRES_COMPILER_HASH "\n";
  text += "spec " + fingerprint(spec) + "\n";
  text += "arch " + spec.arch + "\n";
  text += "ptx-features " + ptxFeatures(spec.arch) + "\n";
  return text;
}

std::string cacheKey(const std::string &keyText) { return sha256Hex(keyText); }

std::string defaultCacheDirectory() {
  if (const char *env = std::getenv("ATTNRES_CACHE_DIR"); env && *env)
    return env;
  const char *home = std::getenv("HOME");
  if (!home || !*home) {
    if (passwd *pw = ::getpwuid(::getuid()))
      home = pw->pw_dir;
  }
  if (!home || !*home)
    return "";
  return std::string(home) + "/.cache/attnres";
}

void checkSpec(const KernelSpec &spec) {
  std::string invalid = validate(spec);
  if (invalid.empty())
    return;
  // In range but beyond what the compiler handles: Unsupported; a value
  // that makes no sense: InvalidArgument.
  bool unsupported = spec.numSources > mlir::attnres::kMaxSources ||
                     spec.width > mlir::attnres::kMaxWidth ||
                     invalid.rfind("arch", 0) == 0;
  throw Error(unsupported ? ErrorKind::Unsupported : ErrorKind::InvalidArgument,
              "unsupported kernel spec: " + invalid);
}

KernelCache::KernelCache(std::string root, Compiler compiler, Warn warn)
    : compiler(compiler ? std::move(compiler) : Compiler(defaultCompile)),
      warn(warn ? std::move(warn) : Warn(defaultWarn)),
      rootDir(std::move(root)), disk(!rootDir.empty()) {
  while (rootDir.size() > 1 && rootDir.back() == '/')
    rootDir.pop_back();
}

std::string KernelCache::root() const {
  std::lock_guard<std::mutex> lock(mutex);
  return disk ? rootDir : "";
}

bool KernelCache::diskEnabled() const {
  std::lock_guard<std::mutex> lock(mutex);
  return disk;
}

void KernelCache::clearMemory() {
  std::lock_guard<std::mutex> lock(mutex);
  slots.clear();
}

KernelCache::Stats KernelCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex);
  return counters;
}

void KernelCache::warnOnce(const std::string &what,
                           const std::string &message) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!warned.insert(what).second)
      return;
    ++counters.warnings;
  }
  warn(message);
}

void KernelCache::disableDisk(const std::string &reason) {
  std::string root;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!disk)
      return;
    disk = false;
    root = rootDir;
  }
  warnOnce("unusable:" + root, "kernel cache directory '" + root +
                                   "' is unusable (" + reason +
                                   "); caching kernels in memory only");
}

bool KernelCache::ensureRoot() {
  std::string root;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!disk)
      return false;
    if (rootChecked)
      return true;
    rootChecked = true;
    root = rootDir;
  }
  std::string error;
  if (!createDirectories(root, error)) {
    disableDisk(error);
    return false;
  }
  if (::access(root.c_str(), W_OK | X_OK) != 0) {
    disableDisk("not writable: " + errnoText(errno));
    return false;
  }
  // An hour is far longer than any compile.
  removeStaleLeftovers(root, 3600);
  return true;
}

std::optional<CompiledKernel>
KernelCache::readEntry(const std::string &dir, const std::string &keyText,
                       std::string &problem) {
  problem.clear();
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return std::nullopt; // a plain miss
  if (!S_ISDIR(st.st_mode)) {
    problem = "it is not a directory";
    return std::nullopt;
  }
  std::string json, ptx, ir;
  if (!readFile(dir + "/kernel.json", json)) {
    problem = "kernel.json is missing or unreadable";
    return std::nullopt;
  }
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(json);
  if (!parsed) {
    problem = "kernel.json does not parse (" +
              llvm::toString(parsed.takeError()) + ")";
    return std::nullopt;
  }
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root) {
    problem = "kernel.json is not a JSON object";
    return std::nullopt;
  }
  std::optional<llvm::StringRef> key = root->getString("key");
  if (!key || *key != keyText) {
    problem = "kernel.json belongs to another key (foreign entry)";
    return std::nullopt;
  }
  if (!readFile(dir + "/kernel.ptx", ptx)) {
    problem = "kernel.ptx is missing or unreadable";
    return std::nullopt;
  }
  std::optional<llvm::StringRef> ptxHash = root->getString("ptx_sha256");
  if (!ptxHash || *ptxHash != sha256Hex(ptx)) {
    problem = "kernel.ptx does not match its checksum (corrupt or truncated)";
    return std::nullopt;
  }
  if (!readFile(dir + "/kernel.mlir", ir)) {
    problem = "kernel.mlir is missing or unreadable";
    return std::nullopt;
  }
  std::optional<llvm::StringRef> irHash = root->getString("ir_sha256");
  if (!irHash || *irHash != sha256Hex(ir)) {
    problem = "kernel.mlir does not match its checksum (corrupt or truncated)";
    return std::nullopt;
  }
  // kernel.json itself carries no checksum: every entry must be valid, name
  // an entry point of the PTX, and the count must fit the direction, or the
  // entry is rebuilt (a half-valid entry would fail at every launch).
  CompiledKernel kernel;
  const llvm::json::Array *entries = root->getArray("entries");
  std::optional<llvm::StringRef> direction = root->getString("direction");
  size_t expected = direction && *direction == "bwd" ? 2 : 1;
  if (!entries || entries->size() != expected) {
    problem = "kernel.json has no valid kernel entries: it lists " +
              std::to_string(entries ? entries->size() : 0) +
              " kernel entries, expected " + std::to_string(expected);
    return std::nullopt;
  }
  for (const llvm::json::Value &value : *entries) {
    const llvm::json::Object *object = value.getAsObject();
    std::optional<llvm::StringRef> name =
        object ? object->getString("name") : std::nullopt;
    KernelEntry entry;
    entry.threads = object ? object->getInteger("threads").value_or(0) : 0;
    entry.vectorElems =
        object ? object->getInteger("vector_elems").value_or(0) : 0;
    entry.dynamicSharedBytes =
        object ? object->getInteger("dynamic_shared_bytes").value_or(0) : 0;
    entry.clusterSize =
        object ? object->getInteger("cluster_size").value_or(1) : 1;
    if (std::optional<llvm::StringRef> layout =
            object ? object->getString("layout") : std::nullopt)
      entry.layout = layout->str();
    if (!name || name->empty() || entry.threads <= 0 || entry.threads > 1024 ||
        entry.vectorElems <= 0 || entry.dynamicSharedBytes < 0 ||
        entry.dynamicSharedBytes > (1 << 20) || entry.clusterSize < 1 ||
        entry.clusterSize > 16 ||
        ptx.find(".entry " + name->str() + "(") == std::string::npos) {
      problem = "kernel.json has no valid kernel entries: one is malformed or "
                "names no entry point of kernel.ptx";
      return std::nullopt;
    }
    entry.name = name->str();
    kernel.entries.push_back(std::move(entry));
  }
  kernel.ptx = std::move(ptx);
  kernel.kernelIR = std::move(ir);
  return kernel;
}

void KernelCache::moveAside(const std::string &dir,
                            const std::string &problem) {
  warnOnce("bad:" + dir + ":" + problem,
           "kernel cache entry '" + dir + "' is unusable: " + problem +
               "; moving it aside and rebuilding the kernel");
  // One rename takes it out of every reader's way; then it is deleted.
  static std::atomic<unsigned> counter{0};
  std::string aside = dir + ".bad-" + std::to_string(::getpid()) + "-" +
                      std::to_string(counter++);
  if (::rename(dir.c_str(), aside.c_str()) == 0)
    removeTree(aside);
  // ENOENT: another process moved it first.
}

void KernelCache::publish(const std::string &key, const std::string &keyText,
                          const CompiledKernel &kernel) {
  if (!ensureRoot())
    return;
  std::string root = this->root();
  if (root.empty())
    return;
  std::string pattern = root + "/.tmp-" + key.substr(0, 16) + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!::mkdtemp(buffer.data())) {
    disableDisk("cannot create an entry in it: " + errnoText(errno));
    return;
  }
  std::string tmp(buffer.data());
  // Metadata last: a directory with kernel.json is complete.
  std::string error = writeFile(tmp + "/kernel.ptx", kernel.ptx);
  if (error.empty())
    error = writeFile(tmp + "/kernel.mlir", kernel.kernelIR);
  if (error.empty())
    error = writeFile(tmp + "/kernel.json", metadataJSON(kernel, keyText));
  if (!error.empty()) {
    removeTree(tmp);
    disableDisk("cannot write an entry: " + error);
    return;
  }
  std::string final = root + "/" + key;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::rename(tmp.c_str(), final.c_str()) == 0)
      return;
    int error = errno;
    if (error != EEXIST && error != ENOTEMPTY && error != ENOTDIR &&
        error != EISDIR) {
      warnOnce("publish:" + final, "cannot publish kernel cache entry '" +
                                       final + "': " + errnoText(error));
      break;
    }
    // Someone else published this key first: keep theirs if it is good.
    std::string problem;
    if (readEntry(final, keyText, problem))
      break;
    if (!problem.empty())
      moveAside(final, problem);
  }
  removeTree(tmp);
}

CacheLookup KernelCache::get(const KernelSpec &spec) {
  checkSpec(spec);
  CacheLookup result;
  result.keyText = cacheKeyText(spec);
  result.key = cacheKey(result.keyText);

  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> lock(mutex);
    std::shared_ptr<Slot> &entry = slots[result.key];
    if (!entry)
      entry = std::make_shared<Slot>();
    slot = entry;
  }
  // One lookup per key at a time: concurrent callers wait for the first.
  std::lock_guard<std::mutex> slotLock(slot->mutex);
  auto finish = [&](CacheOrigin origin) {
    result.kernel = slot->kernel;
    result.origin = origin;
    std::string root = this->root();
    result.directory = root.empty() ? "" : root + "/" + result.key;
    return result;
  };
  auto count = [&](int Stats::*counter) {
    std::lock_guard<std::mutex> lock(mutex);
    ++(counters.*counter);
  };
  if (slot->kernel) {
    count(&Stats::memoryHits);
    return finish(CacheOrigin::Memory);
  }

  if (ensureRoot()) {
    std::string dir = root() + "/" + result.key;
    std::string problem;
    if (std::optional<CompiledKernel> found =
            readEntry(dir, result.keyText, problem)) {
      found->spec = spec;
      slot->kernel = std::make_shared<const CompiledKernel>(std::move(*found));
      count(&Stats::diskHits);
      return finish(CacheOrigin::Disk);
    }
    if (!problem.empty()) {
      moveAside(dir, problem);
      count(&Stats::rebuilt);
    }
  }

  std::string error;
  std::optional<CompiledKernel> compiled = compiler(spec, error);
  if (!compiled)
    throw Error(ErrorKind::Compile, "compiling " + kernelName(spec) + " for " +
                                        spec.arch + " failed: " + error);
  compiled->spec = spec;
  count(&Stats::compiles);
  if (ensureRoot())
    publish(result.key, result.keyText, *compiled);
  slot->kernel = std::make_shared<const CompiledKernel>(std::move(*compiled));
  return finish(CacheOrigin::Compiler);
}

} // namespace attnres
