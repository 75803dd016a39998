#include "src/storage/redis/rate_limiter_redis.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/redis/redis_client.h"

namespace edgevault::storage {
namespace {

using base::StrCat;
using redis_internal::Client;
using redis_internal::ConnectionOptions;
using redis_internal::Reply;

// The scripts are part of the format: keep docs/design/rate-limits.md in step. Times are
// whole microseconds of the server's clock (TIME); Lua numbers are doubles, exact for
// integers below 2^53 us (285 years), and stored numbers are written with %d, never %g.

// KEYS[1] the bucket; ARGV[1] the refill interval, ARGV[2] the tolerance (burst x interval).
// Returns 0 (admitted, counted) or the wait in us (> 0, nothing counted).
constexpr char kTakeScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local v = tonumber(stored)
  if not v then return redis.error_reply('EVRL bucket holds no number') end
  if v > now then tat = v end
end
local nxt = tat + interval
if nxt - now > tolerance then return nxt - tolerance - now end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000))
return 0
)lua";

// KEYS the windows (sorted sets: member = attempt id, score = its time); ARGV[1] the window,
// ARGV[2] the attempt id, ARGV[2 + i] the limit of KEYS[i]. Returns 0 (admitted: added to
// every window) or the wait in us (> 0, nothing added).
constexpr char kBeginScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - window))
  local limit = tonumber(ARGV[2 + i])
  local n = redis.call('ZCARD', key)
  if n >= limit then
    local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, string.format('%d', now), ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
end
return 0
)lua";

// KEYS the windows; ARGV[1] the attempt id, ARGV[1 + i] '1' to forget every attempt of
// KEYS[i], '0' to take back only this one.
constexpr char kWithdrawScript[] = R"lua(
for i, key in ipairs(KEYS) do
  if ARGV[1 + i] == '1' then
    redis.call('DEL', key)
  else
    redis.call('ZREM', key, ARGV[1])
  end
end
return 0
)lua";

enum ScriptId { kTake = 0, kBegin = 1, kWithdraw = 2 };
constexpr std::array<const char*, 3> kScripts = {kTakeScript, kBeginScript, kWithdrawScript};

ConnectionOptions ConnectionOf(const RedisRateLimiterOptions& o) {
  return {.host = o.host, .port = o.port, .username = o.username, .password = o.password,
          .db = o.db, .timeout = o.timeout, .pool_size = o.pool_size,
          .label = "redis rate limiter", .tls = o.tls};
}

int64_t Micros(absl::Duration d) { return absl::ToInt64Microseconds(d); }

class RedisRateLimiterImpl final : public RedisRateLimiter {
 public:
  explicit RedisRateLimiterImpl(const RedisRateLimiterOptions& options)
      : options_(options), client_(ConnectionOf(options)) {}

  absl::StatusOr<absl::Duration> Take(std::string_view key, const RateLimit& limit) override {
    if (key.empty()) return absl::InvalidArgumentError("rate limit key is empty");
    EV_RETURN_IF_ERROR(ValidateRateLimit(limit));
    const int64_t interval = Micros(limit.period) / limit.count;
    const int64_t tolerance = (limit.burst > 0 ? limit.burst : limit.count) * interval;
    const std::string full_key = options_.key_prefix + std::string(key);
    const std::string interval_text = StrCat(interval);
    const std::string tolerance_text = StrCat(tolerance);
    EV_ASSIGN_OR_RETURN(Reply reply, Run(kTake, {full_key}, {interval_text, tolerance_text},
                                         /*idempotent=*/false, "take"));
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) return client_.Unexpected("take");
    return absl::Microseconds(reply->integer);
  }

  absl::StatusOr<absl::Duration> Begin(const std::vector<Key>& keys, absl::Duration window,
                                       std::string_view attempt_id) override {
    EV_RETURN_IF_ERROR(ValidateAttempt(keys, window, attempt_id));
    std::vector<std::string> full_keys;
    std::vector<std::string> args = {StrCat(Micros(window)), std::string(attempt_id)};
    for (const Key& k : keys) {
      full_keys.push_back(options_.key_prefix + k.key);
      args.push_back(StrCat(k.limit));
    }
    EV_ASSIGN_OR_RETURN(Reply reply, Run(kBegin, Views(full_keys), Views(args),
                                         /*idempotent=*/false, "begin attempt"));
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) {
      return client_.Unexpected("begin attempt");
    }
    return absl::Microseconds(reply->integer);
  }

  absl::Status Withdraw(const std::vector<std::string>& keys, std::string_view attempt_id,
                        const std::vector<std::string>& clear) override {
    if (attempt_id.empty()) return absl::InvalidArgumentError("the attempt id is empty");
    std::vector<std::string> full_keys;
    std::vector<std::string> args = {std::string(attempt_id)};
    auto add = [&](const std::string& key, bool forget) {
      if (key.empty()) return;
      full_keys.push_back(options_.key_prefix + key);
      args.push_back(forget ? "1" : "0");
    };
    for (const std::string& key : keys) {
      add(key, std::find(clear.begin(), clear.end(), key) != clear.end());
    }
    for (const std::string& key : clear) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) add(key, true);
    }
    if (full_keys.empty()) return absl::OkStatus();
    // Repeating it is harmless: a second ZREM or DEL finds nothing.
    EV_ASSIGN_OR_RETURN(Reply reply, Run(kWithdraw, Views(full_keys), Views(args),
                                         /*idempotent=*/true, "withdraw attempt"));
    if (reply->type != REDIS_REPLY_INTEGER) return client_.Unexpected("withdraw attempt");
    return absl::OkStatus();
  }

  // SCRIPT LOAD of every script; the hashes are kept for EVALSHA.
  absl::Status LoadScripts() {
    for (size_t i = 0; i < kScripts.size(); ++i) {
      EV_ASSIGN_OR_RETURN(std::string sha, client_.LoadScript(kScripts[i]));
      std::lock_guard<std::mutex> lock(mu_);
      shas_[i] = std::move(sha);
    }
    return absl::OkStatus();
  }

 private:
  static std::vector<std::string_view> Views(const std::vector<std::string>& v) {
    return std::vector<std::string_view>(v.begin(), v.end());
  }

  absl::StatusOr<Reply> Run(ScriptId id, const std::vector<std::string_view>& keys,
                            const std::vector<std::string_view>& args, bool idempotent,
                            std::string_view what) {
    std::string sha;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sha = shas_[id];
    }
    if (sha.empty()) {
      // Not loaded yet (Redis was down when the limiter opened): load now, once it answers.
      EV_RETURN_IF_ERROR(LoadScripts());
      std::lock_guard<std::mutex> lock(mu_);
      sha = shas_[id];
    }
    return client_.RunScript(sha, kScripts[id], keys, args, idempotent, what);
  }

  const RedisRateLimiterOptions options_;
  Client client_;
  std::mutex mu_;
  std::array<std::string, kScripts.size()> shas_;  // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<RedisRateLimiter>> RedisRateLimiter::Open(
    const RedisRateLimiterOptions& options) {
  EV_RETURN_IF_ERROR(redis_internal::ValidateConnectionOptions(ConnectionOf(options)));
  auto limiter = std::make_unique<RedisRateLimiterImpl>(options);
  absl::Status loaded = limiter->LoadScripts();
  if (!loaded.ok() && !absl::IsUnavailable(loaded)) return loaded;
  return std::unique_ptr<RedisRateLimiter>(std::move(limiter));
}

}  // namespace edgevault::storage
