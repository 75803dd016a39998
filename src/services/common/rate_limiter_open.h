#pragma once
// Opens where rate limits and login throttling count, as config key rate_limit.url says
// (docs/configuration.md "Rate limits", docs/design/rate-limits.md): nothing to open for ""
// (each process counts on its own), or a Redis every node shares. Delivery's OFREP limit and
// auth's login throttle take their limiter from here, with its /metrics counter.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<services::SharedRateLimits> shared,
//                       services::SharedRateLimits::Open(ctx.config, ctx.env, "delivery"));
//   if (shared != nullptr) options.shared_rate_limiter = ctx.Keep(std::move(shared))->limiter();
//
// Thread-safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/storage/rate_limiter.h"

namespace edgevault::services {

class SharedRateLimits {
 public:
  // nullptr (and OK) when rate_limit.url is "". A Redis that does not answer yet is no
  // error (the limiter falls back until it does). Errors: InvalidArgument (a bad URL; names
  // the key, never the password), PermissionDenied (AUTH or SELECT refused), Internal.
  static absl::StatusOr<std::unique_ptr<SharedRateLimits>> Open(const base::Config& config,
                                                                base::Env* env,
                                                                std::string_view service);
  ~SharedRateLimits();

  // The shared limiter, falling back to an in-memory one for a second after each error
  // (storage::NewFallbackRateLimiter): never fails but for InvalidArgument.
  storage::RateLimiter* limiter() const { return fallback_.get(); }
  // The shared login-throttle window (no fallback of its own: LoginThrottle has its table).
  storage::AttemptWindow* attempt_window() const;
  // A shared-store error a caller worked around (fell back): logged and counted.
  void RecordFallback(const absl::Status& error);
  // edgevault_rate_limit_fallbacks_total{service}.
  void AppendMetrics(std::string* out) const;

 private:
  SharedRateLimits() = default;
  std::string service_;
  std::unique_ptr<storage::RateLimiter> redis_;  // a storage::RedisRateLimiter
  storage::AttemptWindow* window_ = nullptr;     // the same object
  std::unique_ptr<storage::RateLimiter> local_;
  std::unique_ptr<storage::RateLimiter> fallback_;
  std::atomic<int64_t> fallbacks_{0};
};

}  // namespace edgevault::services
