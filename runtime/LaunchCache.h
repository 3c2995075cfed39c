//===- LaunchCache.h - Loaded kernels per context, keyed by a POD -*- C++ -*-===//
//
// Internal to the runtime. The hot path of every forward/backward call: one
// hash of a small POD key and one lookup under a shared lock, no strings.
// Values are never destroyed while the table lives (launches may be in
// flight on other threads), only handed back by clear().
//
//===----------------------------------------------------------------------===//

#ifndef ATTNRES_RUNTIME_LAUNCHCACHE_H
#define ATTNRES_RUNTIME_LAUNCHCACHE_H

#include "codegen/KernelSpec.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

namespace attnres {

/// Everything that selects one loaded kernel.
struct LaunchKey {
  uint64_t context = 0; ///< cuCtxGetId: unique for the process lifetime
  int32_t numSources = 0;
  int32_t width = 0;
  uint32_t epsBits = 0;
  int32_t threads = 0;
  int8_t vectorBytes = 0;
  int8_t resident = 0; ///< 0 auto, 1 on, 2 off, 3 anything else
  int8_t dtype = 0;
  int8_t direction = 0;
  int8_t form = 0; ///< 0 auto, 1 resident, 2 online, 3 smem, 4 streaming,
                   ///< 6 cluster, 5 other
  int8_t rows = 0;
  int8_t stages = 0;
  int8_t cluster = 0;
  int8_t ctasPerSM = 0;
  int8_t grid = 0; ///< 0 auto, 1 persistent, 2 tokens, 3 anything else

  bool operator==(const LaunchKey &o) const {
    return context == o.context && numSources == o.numSources &&
           width == o.width && epsBits == o.epsBits && threads == o.threads &&
           vectorBytes == o.vectorBytes && resident == o.resident &&
           dtype == o.dtype && direction == o.direction && form == o.form &&
           rows == o.rows && stages == o.stages && cluster == o.cluster &&
           ctasPerSM == o.ctasPerSM && grid == o.grid;
  }
};

struct LaunchKeyHash {
  size_t operator()(const LaunchKey &k) const {
    auto mix = [](uint64_t h, uint64_t v) {
      h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      return h;
    };
    uint64_t h = k.context * 0xff51afd7ed558ccdULL;
    h = mix(h, (uint64_t(uint32_t(k.numSources)) << 32) | uint32_t(k.width));
    h = mix(h, (uint64_t(k.epsBits) << 32) | uint32_t(k.threads));
    h = mix(h, (uint64_t(uint8_t(k.grid)) << 16) |
                   (uint64_t(uint8_t(k.ctasPerSM)) << 8) | uint8_t(k.stages));
    h = mix(h, (uint64_t(uint8_t(k.vectorBytes)) << 24) |
                   (uint64_t(uint8_t(k.resident)) << 16) |
                   (uint64_t(uint8_t(k.dtype)) << 8) | uint8_t(k.direction) |
                   (uint64_t(uint8_t(k.form)) << 40) |
                   (uint64_t(uint8_t(k.rows)) << 48) |
                   (uint64_t(uint8_t(k.cluster)) << 56));
    return size_t(h);
  }
};

/// Builds the key of a call.
inline LaunchKey makeLaunchKey(uint64_t context, int64_t numSources,
                               int64_t width, DType dtype, Direction direction,
                               float eps, const Tuning &tuning) {
  LaunchKey key;
  key.context = context;
  key.numSources = int32_t(numSources);
  key.width = int32_t(width);
  std::memcpy(&key.epsBits, &eps, sizeof eps);
  key.threads = int32_t(tuning.threads);
  key.vectorBytes = int8_t(tuning.vectorBytes);
  key.resident = tuning.resident == "auto" ? 0
                 : tuning.resident == "on"  ? 1
                 : tuning.resident == "off" ? 2
                                            : 3;
  key.dtype = int8_t(dtype);
  key.direction = int8_t(direction);
  const std::string &f = tuning.form;
  key.form = f == "auto"        ? 0
             : f == "resident"  ? 1
             : f == "online"    ? 2
             : f == "smem"      ? 3
             : f == "streaming" ? 4
             : f == "cluster"   ? 6
                                : 5;
  key.rows = int8_t(std::min<int64_t>(tuning.rows, 127));
  key.stages = int8_t(std::min<int64_t>(tuning.stages, 127));
  key.cluster = int8_t(std::min<int64_t>(tuning.cluster, 127));
  key.ctasPerSM = int8_t(std::min<int64_t>(tuning.ctasPerSM, 127));
  key.grid = tuning.grid == "auto"         ? 0
             : tuning.grid == "persistent" ? 1
             : tuning.grid == "tokens"     ? 2
                                           : 3;
  return key;
}

template <typename Value> class LaunchTable {
public:
  Value *find(const LaunchKey &key) const {
    std::shared_lock<std::shared_mutex> lock(mutex);
    auto it = map.find(key);
    return it == map.end() ? nullptr : it->second.get();
  }

  /// Inserts `value` unless the key is there already; returns the entry.
  Value *insert(const LaunchKey &key, std::unique_ptr<Value> value) {
    std::unique_lock<std::shared_mutex> lock(mutex);
    auto &slot = map[key];
    if (!slot)
      slot = std::move(value);
    return slot.get();
  }

  /// Empties the table and hands the values to the caller.
  std::vector<std::unique_ptr<Value>> clear() {
    std::unique_lock<std::shared_mutex> lock(mutex);
    std::vector<std::unique_ptr<Value>> values;
    for (auto &entry : map)
      values.push_back(std::move(entry.second));
    map.clear();
    return values;
  }

  size_t size() const {
    std::shared_lock<std::shared_mutex> lock(mutex);
    return map.size();
  }

private:
  mutable std::shared_mutex mutex;
  std::unordered_map<LaunchKey, std::unique_ptr<Value>, LaunchKeyHash> map;
};

} // namespace attnres

#endif // ATTNRES_RUNTIME_LAUNCHCACHE_H
