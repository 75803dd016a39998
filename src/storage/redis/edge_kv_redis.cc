#include "src/storage/redis/edge_kv_redis.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/stop_signal.h"
#include "src/base/strings.h"
#include "src/storage/redis/redis_client.h"

namespace edgevault::storage {
namespace {

using base::StrCat;


// Both scripts compare versions as canonical decimal strings (shorter is smaller, then
// bytewise), never as Lua numbers: Lua numbers are doubles and would merge versions above
// 2^53. A stored version that is not canonical decimal is not ours: error reply EVKV.
// The Lua text is part of the format: keep docs/design/edge-kv.md in step.
constexpr char kPutScript[] = R"lua(
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local cur = redis.call('HGET', KEYS[1], 'version')
if cur then
  if not (cur == '0' or string.find(cur, '^[1-9][0-9]*$')) then
    return redis.error_reply('EVKV stored version is not a decimal')
  end
  if not less(cur, ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'version', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
)lua";

constexpr char kDeleteScript[] = R"lua(
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local cur = redis.call('HGET', KEYS[1], 'version')
if not cur then return -1 end
if not (cur == '0' or string.find(cur, '^[1-9][0-9]*$')) then
  return redis.error_reply('EVKV stored version is not a decimal')
end
if less(ARGV[1], cur) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
)lua";

using redis_internal::Client;
using redis_internal::ConnectionOptions;
using redis_internal::Reply;
using redis_internal::StrOf;

ConnectionOptions ConnectionOf(const RedisEdgeKvOptions& o) {
  return {.host = o.host, .port = o.port, .username = o.username, .password = o.password,
          .db = o.db, .timeout = o.timeout, .pool_size = o.pool_size, .label = "redis edge KV",
          .tls = o.tls};
}

absl::Status ValidateOptions(const RedisEdgeKvOptions& o) {
  EV_RETURN_IF_ERROR(redis_internal::ValidateConnectionOptions(ConnectionOf(o)));
  if (o.channel.empty()) return absl::InvalidArgumentError("redis edge KV: channel is empty");
  return absl::OkStatus();
}

// Parses a canonical non-negative decimal int64; -1 when it is anything else.
int64_t ParseVersion(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return -1;
  int64_t v = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return -1;
  return v;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Escapes the glob characters of SCAN MATCH so the prefix matches itself only.
std::string GlobEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 1);
  for (char ch : s) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

class RedisEdgeKv final : public EdgeKv {
 public:
  RedisEdgeKv(const RedisEdgeKvOptions& options, std::string put_sha, std::string delete_sha)
      : options_(options),
        client_(ConnectionOf(options)),
        put_sha_(std::move(put_sha)),
        delete_sha_(std::move(delete_sha)) {}

  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    EV_RETURN_IF_ERROR(ValidateEdgeKvVersion(version));
    const std::string full_key = FullKey(key);
    const std::string version_text = StrCat(version);
    const std::string message = StrCat(key, "\n", version_text);
    EV_ASSIGN_OR_RETURN(Reply reply,
                        client_.RunScript(put_sha_, kPutScript, {full_key},
                                          {value, version_text, options_.channel, message},
                                          false, "put"));
    if (reply->type != REDIS_REPLY_INTEGER || (reply->integer != 0 && reply->integer != 1)) {
      return Unexpected("put");
    }
    return reply->integer == 1;
  }

  absl::StatusOr<KvEntry> Get(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    const std::string full_key = FullKey(key);
    EV_ASSIGN_OR_RETURN(Reply reply, client_.Command({"HMGET", full_key, "v", "version"}, true, "get"));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return Unexpected("get");
    const redisReply* value = reply->element[0];
    const redisReply* version = reply->element[1];
    if (value->type == REDIS_REPLY_NIL && version->type == REDIS_REPLY_NIL) {
      return absl::NotFoundError("edge KV key not found");
    }
    if (value->type != REDIS_REPLY_STRING || version->type != REDIS_REPLY_STRING) {
      return NotOurs(key);
    }
    KvEntry entry;
    entry.version = ParseVersion(StrOf(version));
    if (entry.version < 0) return NotOurs(key);
    entry.value.assign(value->str, value->len);
    return entry;
  }

  absl::StatusOr<int64_t> GetVersion(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    const std::string full_key = FullKey(key);
    EV_ASSIGN_OR_RETURN(Reply reply, client_.Command({"HGET", full_key, "version"}, true, "get version"));
    if (reply->type == REDIS_REPLY_NIL) return absl::NotFoundError("edge KV key not found");
    if (reply->type != REDIS_REPLY_STRING) return Unexpected("get version");
    int64_t version = ParseVersion(StrOf(reply.get()));
    if (version < 0) return NotOurs(key);
    return version;
  }

  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    EV_RETURN_IF_ERROR(ValidateEdgeKvVersion(version));
    const std::string full_key = FullKey(key);
    const std::string version_text = StrCat(version);
    const std::string message = StrCat(key, "\n", version_text);
    EV_ASSIGN_OR_RETURN(Reply reply,
                        client_.RunScript(delete_sha_, kDeleteScript, {full_key},
                                          {version_text, options_.channel, message},
                                          false, "delete"));
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < -1 || reply->integer > 1) {
      return Unexpected("delete");
    }
    if (reply->integer == -1) return absl::NotFoundError("edge KV key not found");
    return reply->integer == 1;
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix,
                                                    int limit) override {
    if (limit < 0) {
      return absl::InvalidArgumentError(StrCat("edge KV list limit is ", limit, "; must be >= 0"));
    }
    std::vector<std::string> keys;
    // No stored key can start with a prefix longer than the key limit.
    if (limit == 0 || prefix.size() > kMaxEdgeKvKeyBytes) return keys;
    const std::string pattern = GlobEscape(FullKey(prefix)) + "*";
    std::string cursor = "0";
    do {
      EV_ASSIGN_OR_RETURN(Reply reply,
                          client_.Command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}, true,
                                  "scan"));
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
          reply->element[0]->type != REDIS_REPLY_STRING ||
          reply->element[1]->type != REDIS_REPLY_ARRAY) {
        return Unexpected("scan");
      }
      cursor.assign(StrOf(reply->element[0]));
      const redisReply* batch = reply->element[1];
      for (size_t i = 0; i < batch->elements; ++i) {
        const redisReply* k = batch->element[i];
        if (k->type != REDIS_REPLY_STRING) return Unexpected("scan");
        std::string_view full = StrOf(k);
        if (!StartsWith(full, options_.key_prefix)) continue;
        keys.emplace_back(full.substr(options_.key_prefix.size()));
      }
    } while (cursor != "0");
    // SCAN may return a key twice and in no particular order.
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    if (keys.size() > static_cast<size_t>(limit)) keys.resize(static_cast<size_t>(limit));
    return keys;
  }

  absl::StatusOr<std::string> LoadScript(const char* script) { return client_.LoadScript(script); }

 private:
  std::string FullKey(std::string_view key) const {
    std::string out = options_.key_prefix;
    out.append(key);
    return out;
  }

  absl::Status Unexpected(std::string_view what) const { return client_.Unexpected(what); }

  absl::Status NotOurs(std::string_view key) const {
    return absl::InternalError(StrCat(client_.Where(), ": the entry of ",
                                      key.size(), "-byte key under prefix '",
                                      options_.key_prefix, "' is not an edge KV entry"));
  }

  const RedisEdgeKvOptions options_;
  Client client_;
  const std::string put_sha_;
  const std::string delete_sha_;
};

// ---- The watcher ----------------------------------------------------------------------------

class RedisKvWatcherImpl final : public RedisKvWatcher {
 public:
  RedisKvWatcherImpl(const RedisEdgeKvOptions& options, OnChange on_change,
                     std::function<void()> on_subscribed)
      : options_(options),
        on_change_(std::move(on_change)),
        on_subscribed_(std::move(on_subscribed)) {}

  ~RedisKvWatcherImpl() override { Stop(); }

  absl::Status Start() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError("redis KV watcher already started or stopped");
    }
    EV_ASSIGN_OR_RETURN(stop_, base::StopSignal::Create());
    started_ = true;
    base::Env* env = options_.env != nullptr ? options_.env : base::Env::Default();
    try {
      task_ = env->Schedule("redis KV watcher",
                            {.interval = absl::Milliseconds(50),
                             .run_at_start = true,
                             .backoff_initial = absl::Milliseconds(100),
                             .backoff_max = absl::Seconds(2)},
                            [this] {
                              if (stop_->stopping()) return base::NextRun::Interval();
                              return RunOneConnection() ? base::NextRun::Interval() : base::NextRun::BackOff();
                            });
    } catch (const std::system_error& e) {
      return absl::InternalError(StrCat("redis KV watcher: no thread: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Stop() override {
    base::PeriodicTask* task = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      task = task_.get();
      // Unblocks a connection waiting for messages; the task then finishes its run.
      if (stop_ != nullptr) stop_->Stop();
    }
    if (task != nullptr) task->Stop();
  }

 private:
  // Connects, subscribes and delivers messages until an error or Stop. Returns true when
  // it got as far as subscribing (so the next reconnect starts with a short backoff).
  bool RunOneConnection() {
    if (options_.tls.enabled && tls_ == nullptr) {
      absl::StatusOr<std::shared_ptr<const redis_internal::TlsContext>> tls =
          redis_internal::MakeTlsContext(connection_.tls, connection_.label);
      if (!tls.ok()) {
        EV_LOG(kWarn, "redis KV watcher cannot use TLS", {{"error", tls.status().ToString()}});
        return false;
      }
      tls_ = *std::move(tls);
    }
    absl::StatusOr<std::unique_ptr<redis_internal::Connection>> connected =
        redis_internal::Connect(connection_, tls_.get());
    if (!connected.ok()) return false;
    std::unique_ptr<redis_internal::Connection> c = std::move(*connected);
    absl::StatusOr<Reply> reply = c->Call({"SUBSCRIBE", options_.channel}, "subscribe");
    if (!reply.ok() || (*reply)->type != REDIS_REPLY_ARRAY) return false;
    reply->reset();
    if (on_subscribed_) on_subscribed_();
    for (;;) {
      absl::StatusOr<Reply> message = c->Next(stop_.get(), "subscription");
      if (!message.ok() || *message == nullptr) return true;  // lost, or stopping
      Deliver(*std::move(message));
    }
  }

  void Deliver(Reply reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    const redisReply* kind = reply->element[0];
    const redisReply* payload = reply->element[2];
    if (kind->type != REDIS_REPLY_STRING || StrOf(kind) != "message" ||
        payload->type != REDIS_REPLY_STRING) {
      return;
    }
    std::string_view text = StrOf(payload);
    size_t nl = text.rfind('\n');
    if (nl == std::string_view::npos || nl == 0) return;
    int64_t version = ParseVersion(text.substr(nl + 1));
    if (version < 0) return;  // not from an EdgeKv: ignored
    on_change_(std::string(text.substr(0, nl)), version);
  }

  const RedisEdgeKvOptions options_;
  const ConnectionOptions connection_ = ConnectionOf(options_);
  std::shared_ptr<const redis_internal::TlsContext> tls_;  // made by the watcher's first run
  const OnChange on_change_;
  const std::function<void()> on_subscribed_;
  std::mutex mu_;
  bool started_ = false;
  bool stopping_ = false;                     // guarded by mu_
  std::unique_ptr<base::StopSignal> stop_;    // set once by Start, under mu_
  std::unique_ptr<base::PeriodicTask> task_;  // set once by Start, under mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<EdgeKv>> OpenRedisEdgeKv(const RedisEdgeKvOptions& options) {
  EV_RETURN_IF_ERROR(ValidateOptions(options));
  // Scripts are loaded through a store without hashes, then the real one is built: loading
  // also proves the server answers.
  RedisEdgeKv loader(options, "", "");
  EV_ASSIGN_OR_RETURN(std::string put_sha, loader.LoadScript(kPutScript));
  EV_ASSIGN_OR_RETURN(std::string delete_sha, loader.LoadScript(kDeleteScript));
  return std::make_unique<RedisEdgeKv>(options, std::move(put_sha), std::move(delete_sha));
}

absl::StatusOr<std::unique_ptr<RedisKvWatcher>> RedisKvWatcher::Create(
    const RedisEdgeKvOptions& options, OnChange on_change,
    std::function<void()> on_subscribed) {
  EV_RETURN_IF_ERROR(ValidateOptions(options));
  if (!on_change) return absl::InvalidArgumentError("redis KV watcher: on_change is empty");
  return std::unique_ptr<RedisKvWatcher>(
      new RedisKvWatcherImpl(options, std::move(on_change), std::move(on_subscribed)));
}

}  // namespace edgevault::storage
