#pragma once
// Delivery's usage counters (docs/design/usage.md §1): flag evaluations per (workspace,
// environment, flag, variant, reason) and SDK requests per (workspace, environment, key
// kind, endpoint), per minute, in memory until the shipper (usage_shipper.h) drains them.
//
// Thread-safety: Count* may run concurrently from any number of threads. Each thread keeps
// the shard it first used (16 shards, round robin), so a shard's mutex has one writer and
// is contended only while Drain swaps that shard's map out. Drain may run concurrently
// with counting (a count lands in this drain or the next, never in none or both).
//
//   UsageCounters counters;
//   counters.CountEvaluation(minute, "ws_1", "prod", "new-checkout", "on", "TARGETING_MATCH");
//   std::vector<UsageCount> counted = counters.Drain();

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgevault::delivery {

inline constexpr std::string_view kUsageEvaluation = "evaluation";
inline constexpr std::string_view kUsageSdkRequest = "sdk_request";

// One series' count in one minute. For kind "sdk_request", `flag` is the endpoint and
// `variant` the SDK key kind, `reason` is empty (the storage layout, usage.md §3).
struct UsageCount {
  int64_t minute = 0;  // Unix minutes
  std::string kind;    // kUsageEvaluation | kUsageSdkRequest
  std::string workspace_id;
  std::string environment;
  std::string flag;
  std::string variant;
  std::string reason;
  int64_t count = 0;
};

class UsageCounters {
 public:
  static constexpr int kShards = 16;
  // Series a shard holds between two drains; counts of further series are dropped.
  explicit UsageCounters(size_t max_series_per_shard = 50000);
  ~UsageCounters();
  UsageCounters(const UsageCounters&) = delete;
  UsageCounters& operator=(const UsageCounters&) = delete;

  void CountEvaluation(int64_t minute, std::string_view workspace_id, std::string_view environment,
                       std::string_view flag, std::string_view variant, std::string_view reason);
  // `sdk_kind`: "server" | "client"; `endpoint`: "config", "stream", "ofrep", "ofrep_bulk".
  void CountSdkRequest(int64_t minute, std::string_view workspace_id, std::string_view environment,
                       std::string_view sdk_kind, std::string_view endpoint);

  // Everything counted since the last drain, summed over shards, sorted by (minute, kind,
  // workspace, environment, flag, variant, reason).
  std::vector<UsageCount> Drain();

  // Counts dropped because a shard was full (for /metrics).
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Shard;
  void Count(char kind, int64_t minute, std::string_view a, std::string_view b, std::string_view c,
             std::string_view d, std::string_view e);
  Shard& MyShard();

  const size_t max_series_per_shard_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<int> next_shard_{0};
  std::atomic<int64_t> dropped_{0};
};

// The Unix minute of a time given in seconds since the epoch (floor, also before 1970).
inline int64_t UnixMinute(int64_t unix_seconds) {
  return unix_seconds >= 0 ? unix_seconds / 60 : -((-unix_seconds + 59) / 60);
}

}  // namespace edgevault::delivery
