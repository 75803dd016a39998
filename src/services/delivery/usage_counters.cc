#include "src/services/delivery/usage_counters.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace edgevault::delivery {
namespace {

// Heterogeneous lookup: a count finds its series by the thread-local key buffer without
// building a std::string.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using SeriesMap = std::unordered_map<std::string, int64_t, KeyHash, std::equal_to<>>;

// Key layout: kind byte, minute (8 bytes, host order), then five fields, each as a 4-byte
// length and its bytes. Lengths make any byte in a variant name safe.
void AppendField(std::string& key, std::string_view f) {
  const uint32_t n = static_cast<uint32_t>(f.size());
  key.append(reinterpret_cast<const char*>(&n), sizeof(n));
  key.append(f);
}

bool ReadField(std::string_view& in, std::string* out) {
  uint32_t n = 0;
  if (in.size() < sizeof(n)) return false;
  std::memcpy(&n, in.data(), sizeof(n));
  in.remove_prefix(sizeof(n));
  if (in.size() < n) return false;
  out->assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

// This thread's slot, the same for every UsageCounters (taken on its first count).
int ThreadSlot(std::atomic<int>& next) {
  thread_local int slot = next.fetch_add(1, std::memory_order_relaxed);
  return slot;
}

}  // namespace

struct UsageCounters::Shard {
  std::mutex mu;
  SeriesMap series;
};

UsageCounters::UsageCounters(size_t max_series_per_shard)
    : max_series_per_shard_(std::max<size_t>(1, max_series_per_shard)),
      shards_(std::make_unique<Shard[]>(kShards)) {}

UsageCounters::~UsageCounters() = default;

UsageCounters::Shard& UsageCounters::MyShard() {
  return shards_[static_cast<size_t>(ThreadSlot(next_shard_)) % kShards];
}

void UsageCounters::Count(char kind, int64_t minute, std::string_view a, std::string_view b,
                          std::string_view c, std::string_view d, std::string_view e) {
  thread_local std::string key;
  key.clear();
  key.push_back(kind);
  key.append(reinterpret_cast<const char*>(&minute), sizeof(minute));
  AppendField(key, a);
  AppendField(key, b);
  AppendField(key, c);
  AppendField(key, d);
  AppendField(key, e);
  Shard& shard = MyShard();
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.series.find(std::string_view(key));
  if (it != shard.series.end()) {
    ++it->second;
    return;
  }
  if (shard.series.size() >= max_series_per_shard_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  shard.series.emplace(key, 1);
}

void UsageCounters::CountEvaluation(int64_t minute, std::string_view workspace_id,
                                    std::string_view environment, std::string_view flag,
                                    std::string_view variant, std::string_view reason) {
  Count('e', minute, workspace_id, environment, flag, variant, reason);
}

void UsageCounters::CountSdkRequest(int64_t minute, std::string_view workspace_id,
                                    std::string_view environment, std::string_view sdk_kind,
                                    std::string_view endpoint) {
  Count('s', minute, workspace_id, environment, endpoint, sdk_kind, "");
}

std::vector<UsageCount> UsageCounters::Drain() {
  std::map<std::string, int64_t> merged;
  for (int i = 0; i < kShards; ++i) {
    SeriesMap taken;
    {
      std::lock_guard<std::mutex> lock(shards_[i].mu);
      taken.swap(shards_[i].series);
    }
    for (auto& [key, n] : taken) merged[key] += n;
  }
  std::vector<UsageCount> out;
  out.reserve(merged.size());
  for (const auto& [key, n] : merged) {
    std::string_view in(key);
    if (in.size() < 1 + sizeof(int64_t)) continue;
    UsageCount c;
    c.kind = std::string(in[0] == 'e' ? kUsageEvaluation : kUsageSdkRequest);
    std::memcpy(&c.minute, in.data() + 1, sizeof(int64_t));
    in.remove_prefix(1 + sizeof(int64_t));
    if (!ReadField(in, &c.workspace_id) || !ReadField(in, &c.environment) || !ReadField(in, &c.flag) ||
        !ReadField(in, &c.variant) || !ReadField(in, &c.reason)) {
      continue;
    }
    c.count = n;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const UsageCount& x, const UsageCount& y) {
    return std::tie(x.minute, x.kind, x.workspace_id, x.environment, x.flag, x.variant, x.reason) <
           std::tie(y.minute, y.kind, y.workspace_id, y.environment, y.flag, y.variant, y.reason);
  });
  return out;
}

}  // namespace edgevault::delivery
