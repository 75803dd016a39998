#include "src/services/common/rate_limiter_open.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/redis/rate_limiter_redis.h"

namespace edgevault::services {

absl::StatusOr<std::unique_ptr<SharedRateLimits>> SharedRateLimits::Open(
    const base::Config& config, base::Env* env, std::string_view service) {
  if (config.rate_limit_url.empty()) return nullptr;
  absl::StatusOr<base::EdgeKvUrl> url = base::ParseEdgeKvUrl(config.rate_limit_url);
  if (!url.ok() || url->kind != base::EdgeKvUrl::Kind::kRedis) {
    // LoadConfig validated the key already; this only guards hand-built Configs.
    return absl::InvalidArgumentError("config key 'rate_limit.url': expected \"\" or redis://...");
  }
  storage::RedisRateLimiterOptions o;
  o.host = url->host;
  o.port = url->port;
  o.username = url->username;
  o.password = url->password;
  o.db = url->db;
  o.tls = {.enabled = url->tls, .ca_file = url->tls_ca_file, .cert_file = url->tls_cert_file,
           .key_file = url->tls_key_file, .server_name = url->tls_server_name};
  // Every OFREP request checks from an io thread: one connection per io thread.
  const int threads = config.io_threads > 0
                          ? config.io_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.pool_size = std::clamp(threads, 4, 64);
  EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::RedisRateLimiter> redis,
                      storage::RedisRateLimiter::Open(o));
  std::unique_ptr<SharedRateLimits> shared(new SharedRateLimits());
  shared->service_ = std::string(service);
  shared->window_ = redis.get();
  shared->redis_ = std::move(redis);
  shared->local_ = storage::NewMemoryRateLimiter({.env = env});
  SharedRateLimits* self = shared.get();
  shared->fallback_ = storage::NewFallbackRateLimiter(
      {.shared = shared->redis_.get(), .local = shared->local_.get(), .env = env,
       .retry_after = absl::Seconds(1),
       .on_error = [self](const absl::Status& error) { self->RecordFallback(error); }});
  EV_LOG(kInfo, "rate limits are counted in Redis, shared by every node",
         {{"host", url->host}, {"port", base::StrCat(url->port)}, {"tls", url->tls ? "on" : "off"}});
  return shared;
}

SharedRateLimits::~SharedRateLimits() = default;

storage::AttemptWindow* SharedRateLimits::attempt_window() const { return window_; }

void SharedRateLimits::RecordFallback(const absl::Status& error) {
  fallbacks_.fetch_add(1, std::memory_order_relaxed);
  EV_LOG(kWarn, "rate limit store unavailable; this node counts on its own for a second",
         {{"error", error.ToString()}});
}

void SharedRateLimits::AppendMetrics(std::string* out) const {
  base::StrAppend(out,
                  "# HELP edgevault_rate_limit_fallbacks_total Times the shared rate-limit "
                  "store failed and this node counted on its own (for a second).\n"
                  "# TYPE edgevault_rate_limit_fallbacks_total counter\n"
                  "edgevault_rate_limit_fallbacks_total{service=\"", service_, "\"} ",
                  fallbacks_.load(std::memory_order_relaxed), "\n");
}

}  // namespace edgevault::services
