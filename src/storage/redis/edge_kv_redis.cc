#include "src/storage/redis/edge_kv_redis.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

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

#include "src/base/status.h"
#include "src/base/strings.h"

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

struct ReplyFree {
  void operator()(redisReply* r) const { ::freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
  void operator()(redisContext* c) const { ::redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

std::string_view StrOf(const redisReply* r) {
  return std::string_view(r->str, r->len);
}

absl::Status ValidateOptions(const RedisEdgeKvOptions& o) {
  if (o.host.empty()) return absl::InvalidArgumentError("redis edge KV: host is empty");
  if (o.port == 0) return absl::InvalidArgumentError("redis edge KV: port is 0");
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("redis edge KV: timeout must be > 0");
  }
  if (o.pool_size < 1) {
    return absl::InvalidArgumentError(
        StrCat("redis edge KV: pool_size is ", o.pool_size, "; must be >= 1"));
  }
  if (o.channel.empty()) return absl::InvalidArgumentError("redis edge KV: channel is empty");
  if (o.db < 0) return absl::InvalidArgumentError(StrCat("redis edge KV: db is ", o.db));
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

struct timeval TimevalOf(absl::Duration d) { return absl::ToTimeval(d); }

std::string Where(const RedisEdgeKvOptions& o) { return StrCat(o.host, ":", o.port); }

// A context-level failure (no reply): the connection is unusable afterwards.
absl::Status ContextStatus(const redisContext* c, std::string_view what,
                           const RedisEdgeKvOptions& o) {
  std::string msg = StrCat("redis edge KV at ", Where(o), ": ", what, ": ",
                           c == nullptr ? "out of memory" : c->errstr);
  if (c != nullptr && (c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF)) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// An error reply from the server: the connection stays usable.
absl::Status ErrorReplyStatus(const redisReply* r, std::string_view what,
                              const RedisEdgeKvOptions& o) {
  std::string_view text = StrOf(r);
  std::string msg = StrCat("redis edge KV at ", Where(o), ": ", what, ": ", text);
  for (std::string_view transient :
       {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"}) {
    if (StartsWith(text, transient)) return absl::UnavailableError(msg);
  }
  if (StartsWith(text, "OOM")) return absl::ResourceExhaustedError(msg);
  for (std::string_view denied : {"NOAUTH", "WRONGPASS", "NOPERM"}) {
    if (StartsWith(text, denied)) return absl::PermissionDeniedError(msg);
  }
  return absl::InternalError(msg);
}

absl::StatusOr<Context> Connect(const RedisEdgeKvOptions& o) {
  Context c(::redisConnectWithTimeout(o.host.c_str(), o.port, TimevalOf(o.timeout)));
  if (c == nullptr || c->err != 0) return ContextStatus(c.get(), "connect", o);
  if (::redisSetTimeout(c.get(), TimevalOf(o.timeout)) != REDIS_OK) {
    return ContextStatus(c.get(), "set timeout", o);
  }
  ::redisEnableKeepAlive(c.get());  // best effort: only speeds up noticing a dead peer
  // AUTH and SELECT before the connection is used; their replies are checked here so a
  // wrong password is PermissionDenied, not a confusing error on the first command.
  auto setup = [&](const std::vector<std::string_view>& args,
                   std::string_view what) -> absl::Status {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (std::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    Reply reply(static_cast<redisReply*>(::redisCommandArgv(
        c.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (reply == nullptr) return ContextStatus(c.get(), what, o);
    if (reply->type == REDIS_REPLY_ERROR) {
      // The message quotes the server's reply, never our arguments (the password).
      absl::Status st = ErrorReplyStatus(reply.get(), what, o);
      if (absl::IsInternal(st)) return absl::PermissionDeniedError(st.message());
      return st;
    }
    return absl::OkStatus();
  };
  if (!o.password.empty()) {
    std::vector<std::string_view> auth = {"AUTH"};
    if (!o.username.empty()) auth.push_back(o.username);
    auth.push_back(o.password);
    EV_RETURN_IF_ERROR(setup(auth, "auth"));
  }
  if (o.db != 0) {
    const std::string db = StrCat(o.db);
    EV_RETURN_IF_ERROR(setup({"SELECT", db}, "select"));
  }
  return c;
}

// True when an idle pooled connection is known dead without a round trip: the server closed
// it (restart, timeout, CLIENT KILL) so the socket reads EOF, or it has bytes nobody asked for.
// Either way it must not carry a command: a write sent on it would fail and, not being
// repeatable, reach the caller as Unavailable although the server is back.
bool IdleConnectionIsDead(const redisContext* c) {
  pollfd p{.fd = c->fd, .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, 0) != 0;
}

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

// A fixed number of connections, made lazily. A connection error drops every idle
// connection (after a server restart they are all dead) by bumping the generation.
class ConnectionPool {
 public:
  struct Lease {
    Context context;  // null: the caller connects
    uint64_t generation = 0;
  };

  explicit ConnectionPool(int size) : permits_(size) {}

  Lease Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return permits_ > 0; });
    --permits_;
    Lease lease;
    lease.generation = generation_;
    if (!idle_.empty()) {
      lease.context = std::move(idle_.back());
      idle_.pop_back();
    }
    return lease;
  }

  // healthy=false: the connection is closed and every idle one with it.
  void Release(Lease lease, bool healthy) {
    std::vector<Context> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!healthy) {
        ++generation_;
        dropped.swap(idle_);
      } else if (lease.context != nullptr && lease.generation == generation_) {
        idle_.push_back(std::move(lease.context));
      }
      ++permits_;
    }
    cv_.notify_one();
    // `dropped` and a stale lease close here, outside the lock.
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int permits_;
  uint64_t generation_ = 0;
  std::vector<Context> idle_;
};

class RedisEdgeKv final : public EdgeKv {
 public:
  RedisEdgeKv(const RedisEdgeKvOptions& options, std::string put_sha, std::string delete_sha)
      : options_(options),
        pool_(options.pool_size),
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
                        RunScript(put_sha_, kPutScript, full_key,
                                  {value, version_text, options_.channel, message}, "put"));
    if (reply->type != REDIS_REPLY_INTEGER || (reply->integer != 0 && reply->integer != 1)) {
      return Unexpected("put");
    }
    return reply->integer == 1;
  }

  absl::StatusOr<KvEntry> Get(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    const std::string full_key = FullKey(key);
    EV_ASSIGN_OR_RETURN(Reply reply, Command({"HMGET", full_key, "v", "version"}, true, "get"));
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
    EV_ASSIGN_OR_RETURN(Reply reply, Command({"HGET", full_key, "version"}, true, "get version"));
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
                        RunScript(delete_sha_, kDeleteScript, full_key,
                                  {version_text, options_.channel, message}, "delete"));
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
                          Command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}, true,
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

  // One command on a pooled connection; error replies map to a status.
  absl::StatusOr<Reply> Command(const std::vector<std::string_view>& args, bool idempotent,
                                std::string_view what) {
    EV_ASSIGN_OR_RETURN(Reply reply, Exec(args, idempotent, what));
    if (reply->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(reply.get(), what, options_);
    return reply;
  }

 private:
  // One command on a pooled connection; error replies are returned as replies. A read
  // (`idempotent`) that fails on a reused connection is tried once more on a fresh one:
  // after a server restart every pooled connection is dead, and the caller should not see
  // that. Writes are not repeated (a lost reply would turn "written" into "not written").
  absl::StatusOr<Reply> Exec(const std::vector<std::string_view>& args, bool idempotent,
                             std::string_view what) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (std::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    for (int attempt = 0;; ++attempt) {
      ConnectionPool::Lease lease = pool_.Acquire();
      if (lease.context != nullptr && IdleConnectionIsDead(lease.context.get())) {
        lease.context.reset();  // and connect afresh below
      }
      const bool reused = lease.context != nullptr;
      if (!reused) {
        absl::StatusOr<Context> fresh = Connect(options_);
        if (!fresh.ok()) {
          pool_.Release(std::move(lease), false);
          return fresh.status();
        }
        lease.context = std::move(*fresh);
      }
      Reply reply(static_cast<redisReply*>(::redisCommandArgv(
          lease.context.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
      if (reply == nullptr) {
        absl::Status status = ContextStatus(lease.context.get(), what, options_);
        pool_.Release(std::move(lease), false);
        if (idempotent && reused && attempt == 0) continue;
        return status;
      }
      pool_.Release(std::move(lease), true);
      return reply;
    }
  }

  // EVALSHA, falling back to EVAL (which caches the script again) when the server has lost
  // it (restart, SCRIPT FLUSH).
  absl::StatusOr<Reply> RunScript(const std::string& sha, const char* script,
                                  const std::string& full_key,
                                  std::vector<std::string_view> args, std::string_view what) {
    std::vector<std::string_view> call = {"EVALSHA", sha, "1", full_key};
    call.insert(call.end(), args.begin(), args.end());
    EV_ASSIGN_OR_RETURN(Reply reply, Exec(call, false, what));
    if (reply->type == REDIS_REPLY_ERROR && StartsWith(StrOf(reply.get()), "NOSCRIPT")) {
      call[0] = "EVAL";
      call[1] = script;
      return Command(call, false, what);
    }
    if (reply->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(reply.get(), what, options_);
    return reply;
  }

  std::string FullKey(std::string_view key) const {
    std::string out = options_.key_prefix;
    out.append(key);
    return out;
  }

  absl::Status Unexpected(std::string_view what) const {
    return absl::InternalError(
        StrCat("redis edge KV at ", Where(options_), ": unexpected reply to ", what));
  }

  absl::Status NotOurs(std::string_view key) const {
    return absl::InternalError(StrCat("redis edge KV at ", Where(options_), ": the entry of ",
                                      key.size(), "-byte key under prefix '",
                                      options_.key_prefix, "' is not an edge KV entry"));
  }

  const RedisEdgeKvOptions options_;
  ConnectionPool pool_;
  const std::string put_sha_;
  const std::string delete_sha_;
};

absl::StatusOr<std::string> LoadScript(RedisEdgeKv& kv, const char* script,
                                       const RedisEdgeKvOptions& o) {
  EV_ASSIGN_OR_RETURN(Reply reply, kv.Command({"SCRIPT", "LOAD", script}, true, "script load"));
  if (reply->type != REDIS_REPLY_STRING) {
    return absl::InternalError(
        StrCat("redis edge KV at ", Where(o), ": unexpected reply to script load"));
  }
  return std::string(StrOf(reply.get()));
}

// ---- The watcher ----------------------------------------------------------------------------

class RedisKvWatcherImpl final : public RedisKvWatcher {
 public:
  RedisKvWatcherImpl(const RedisEdgeKvOptions& options, OnChange on_change,
                     std::function<void()> on_subscribed)
      : options_(options),
        on_change_(std::move(on_change)),
        on_subscribed_(std::move(on_subscribed)) {}

  ~RedisKvWatcherImpl() override {
    Stop();
    if (wake_read_ >= 0) ::close(wake_read_);
    if (wake_write_ >= 0) ::close(wake_write_);
  }

  absl::Status Start() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError("redis KV watcher already started or stopped");
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      return absl::InternalError(StrCat("redis KV watcher: pipe: errno ", errno));
    }
    wake_read_ = fds[0];
    wake_write_ = fds[1];
    started_ = true;
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      return absl::InternalError(StrCat("redis KV watcher: no thread: ", e.what()));
    }
    return absl::OkStatus();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (wake_write_ >= 0) {
      char byte = 1;
      [[maybe_unused]] ssize_t n = ::write(wake_write_, &byte, 1);
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  void Run() {
    auto backoff = std::chrono::milliseconds(50);
    while (!Stopping()) {
      if (RunOneConnection()) backoff = std::chrono::milliseconds(50);
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }

  // Connects, subscribes and delivers messages until an error or Stop. Returns true when
  // it got as far as subscribing (so the next reconnect starts with a short backoff).
  bool RunOneConnection() {
    absl::StatusOr<Context> connected = Connect(options_);
    if (!connected.ok()) return false;
    Context c = std::move(*connected);
    Reply reply(static_cast<redisReply*>(::redisCommand(
        c.get(), "SUBSCRIBE %b", options_.channel.data(), options_.channel.size())));
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return false;
    reply.reset();
    if (on_subscribed_) on_subscribed_();
    for (;;) {
      // Replies already read into hiredis's buffer first, then wait for more.
      for (;;) {
        void* raw = nullptr;
        if (::redisReaderGetReply(c->reader, &raw) != REDIS_OK) return true;
        if (raw == nullptr) break;
        Deliver(Reply(static_cast<redisReply*>(raw)));
      }
      pollfd fds[2] = {{.fd = c->fd, .events = POLLIN, .revents = 0},
                       {.fd = wake_read_, .events = POLLIN, .revents = 0}};
      int n = ::poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || fds[1].revents != 0) return true;
      if (Stopping()) return true;
      if (::redisBufferRead(c.get()) != REDIS_OK) return true;
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
  const OnChange on_change_;
  const std::function<void()> on_subscribed_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EdgeKv>> OpenRedisEdgeKv(const RedisEdgeKvOptions& options) {
  EV_RETURN_IF_ERROR(ValidateOptions(options));
  // Scripts are loaded through a store without hashes, then the real one is built: loading
  // also proves the server answers.
  RedisEdgeKv loader(options, "", "");
  EV_ASSIGN_OR_RETURN(std::string put_sha, LoadScript(loader, kPutScript, options));
  EV_ASSIGN_OR_RETURN(std::string delete_sha, LoadScript(loader, kDeleteScript, options));
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
