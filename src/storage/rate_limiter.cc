#include "src/storage/rate_limiter.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "src/base/strings.h"

namespace edgevault::storage {
namespace {

using base::StrCat;

constexpr size_t kShards = 16;
// Scanned for the least recently refilled bucket when a shard is full of buckets in use.
constexpr size_t kEvictionScan = 64;
constexpr absl::Duration kMaxBurstSpan = absl::Hours(24 * 400);

int64_t IntervalNs(const RateLimit& limit) {
  return absl::ToInt64Nanoseconds(limit.period) / limit.count;
}

int64_t ToleranceNs(const RateLimit& limit) {
  return (limit.burst > 0 ? limit.burst : limit.count) * IntervalNs(limit);
}

class MemoryRateLimiter final : public RateLimiter {
 public:
  explicit MemoryRateLimiter(MemoryRateLimiterOptions options)
      : env_(options.env != nullptr ? options.env : base::Env::Default()),
        per_shard_(std::max<size_t>(1, options.max_keys / kShards)) {}

  absl::StatusOr<absl::Duration> Take(std::string_view key, const RateLimit& limit) override {
    if (key.empty()) return absl::InvalidArgumentError("rate limit key is empty");
    EV_RETURN_IF_ERROR(ValidateRateLimit(limit));
    const int64_t now = absl::ToInt64Nanoseconds(env_->MonotonicNow());
    const size_t hash = std::hash<std::string_view>()(key);
    Shard& shard = shards_[hash % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.tat.find(key);
    if (it == shard.tat.end()) {
      if (shard.tat.size() >= per_shard_) MakeRoom(shard, now);
      it = shard.tat.emplace(std::string(key), 0).first;
    }
    return absl::Nanoseconds(GcraTake(&it->second, now, IntervalNs(limit), ToleranceNs(limit)));
  }

 private:
  // Transparent lookup: Take finds a key by string_view without building a std::string.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> tat;
  };

  // Full buckets (tat <= now) go first: forgetting them changes nothing. Failing that, the
  // bucket nearest to full among the first kEvictionScan.
  static void MakeRoom(Shard& shard, int64_t now) {
    const size_t before = shard.tat.size();
    std::erase_if(shard.tat, [now](const auto& entry) { return entry.second <= now; });
    if (shard.tat.size() < before || shard.tat.empty()) return;
    auto oldest = shard.tat.begin();
    size_t scanned = 0;
    for (auto it = shard.tat.begin(); it != shard.tat.end() && scanned < kEvictionScan;
         ++it, ++scanned) {
      if (it->second < oldest->second) oldest = it;
    }
    shard.tat.erase(oldest);
  }

  base::Env* const env_;
  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

class FallbackRateLimiter final : public RateLimiter {
 public:
  explicit FallbackRateLimiter(FallbackRateLimiterOptions options)
      : options_(std::move(options)) {
    if (options_.env == nullptr) options_.env = base::Env::Default();
  }

  absl::StatusOr<absl::Duration> Take(std::string_view key, const RateLimit& limit) override {
    const int64_t now = absl::ToInt64Nanoseconds(options_.env->MonotonicNow());
    if (now >= local_until_.load(std::memory_order_relaxed)) {
      absl::StatusOr<absl::Duration> shared = options_.shared->Take(key, limit);
      if (shared.ok() || absl::IsInvalidArgument(shared.status())) return shared;
      local_until_.store(now + absl::ToInt64Nanoseconds(options_.retry_after),
                         std::memory_order_relaxed);
      if (options_.on_error) options_.on_error(shared.status());
    }
    return options_.local->Take(key, limit);
  }

 private:
  FallbackRateLimiterOptions options_;
  std::atomic<int64_t> local_until_{0};  // MonotonicNow ns before which `local` decides
};

}  // namespace

absl::Status ValidateRateLimit(const RateLimit& limit) {
  if (limit.count < 1 || limit.burst < 0) {
    return absl::InvalidArgumentError(StrCat("rate limit of ", limit.count, " per period, burst ",
                                             limit.burst, ": count must be >= 1, burst >= 0"));
  }
  if (limit.period > absl::Hours(24) || IntervalNs(limit) < 1000) {
    return absl::InvalidArgumentError(
        StrCat("rate limit of ", limit.count, " per ", absl::FormatDuration(limit.period),
               ": the period must be at most a day and at least 1 us per request"));
  }
  // The burst's span (burst x interval) stays far inside the int64 ns and the Redis
  // script's 2^53 us arithmetic.
  const double span_ns = static_cast<double>(limit.burst > 0 ? limit.burst : limit.count) *
                         static_cast<double>(IntervalNs(limit));
  if (span_ns > absl::ToDoubleNanoseconds(kMaxBurstSpan)) {
    return absl::InvalidArgumentError(
        StrCat("rate limit burst ", limit.burst, " takes longer than ",
               absl::FormatDuration(kMaxBurstSpan), " to refill"));
  }
  return absl::OkStatus();
}

int64_t RetryAfterSeconds(absl::Duration wait) {
  return std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))));
}

int64_t GcraTake(int64_t* tat, int64_t now, int64_t interval, int64_t tolerance) {
  // The bucket is full when tat <= now; each request taken moves tat one interval ahead,
  // and a request is admitted while tat stays within `tolerance` of now.
  const int64_t next = std::max(*tat, now) + interval;
  if (next - now > tolerance) return next - tolerance - now;
  *tat = next;
  return 0;
}

std::unique_ptr<RateLimiter> NewMemoryRateLimiter(MemoryRateLimiterOptions options) {
  return std::make_unique<MemoryRateLimiter>(options);
}

std::unique_ptr<RateLimiter> NewFallbackRateLimiter(FallbackRateLimiterOptions options) {
  return std::make_unique<FallbackRateLimiter>(std::move(options));
}

absl::Status ValidateAttempt(const std::vector<AttemptWindow::Key>& keys, absl::Duration window,
                             std::string_view attempt_id) {
  if (keys.empty()) return absl::InvalidArgumentError("an attempt needs at least one key");
  if (attempt_id.empty()) return absl::InvalidArgumentError("the attempt id is empty");
  if (window < absl::Milliseconds(1) || window > absl::Hours(24 * 30)) {
    return absl::InvalidArgumentError(
        StrCat("attempt window ", absl::FormatDuration(window), " is outside 1ms..30 days"));
  }
  for (const AttemptWindow::Key& k : keys) {
    if (k.key.empty()) return absl::InvalidArgumentError("an attempt key is empty");
    if (k.limit < 1) {
      return absl::InvalidArgumentError(StrCat("attempt limit ", k.limit, " must be >= 1"));
    }
  }
  return absl::OkStatus();
}

}  // namespace edgevault::storage
