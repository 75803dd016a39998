#include "src/storage/redis/redis_client.h"

#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage::redis_internal {
namespace {

using base::StrCat;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// True when an idle pooled connection is known dead without a round trip: the server closed
// it (restart, timeout, CLIENT KILL) so the socket reads EOF, or it has bytes nobody asked for.
// Either way it must not carry a command: a write sent on it would fail and, not being
// repeatable, reach the caller as Unavailable although the server is back.
bool IdleConnectionIsDead(const redisContext* c) {
  pollfd p{.fd = c->fd, .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, 0) != 0;
}

}  // namespace

absl::Status ValidateConnectionOptions(const ConnectionOptions& o) {
  if (o.host.empty()) return absl::InvalidArgumentError(StrCat(o.label, ": host is empty"));
  if (o.port == 0) return absl::InvalidArgumentError(StrCat(o.label, ": port is 0"));
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(StrCat(o.label, ": timeout must be > 0"));
  }
  if (o.pool_size < 1) {
    return absl::InvalidArgumentError(
        StrCat(o.label, ": pool_size is ", o.pool_size, "; must be >= 1"));
  }
  if (o.db < 0) return absl::InvalidArgumentError(StrCat(o.label, ": db is ", o.db));
  return absl::OkStatus();
}

absl::Status ContextStatus(const redisContext* c, std::string_view what,
                           const ConnectionOptions& o) {
  std::string msg = StrCat(o.label, " at ", o.host, ":", o.port, ": ", what, ": ",
                           c == nullptr ? "out of memory" : c->errstr);
  if (c != nullptr && (c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF)) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

absl::Status ErrorReplyStatus(const redisReply* r, std::string_view what,
                              const ConnectionOptions& o) {
  std::string_view text = StrOf(r);
  std::string msg = StrCat(o.label, " at ", o.host, ":", o.port, ": ", what, ": ", text);
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

absl::StatusOr<Context> Connect(const ConnectionOptions& o) {
  Context c(::redisConnectWithTimeout(o.host.c_str(), o.port, absl::ToTimeval(o.timeout)));
  if (c == nullptr || c->err != 0) return ContextStatus(c.get(), "connect", o);
  if (::redisSetTimeout(c.get(), absl::ToTimeval(o.timeout)) != REDIS_OK) {
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

Client::Client(ConnectionOptions options)
    : options_(std::move(options)), permits_(std::max(1, options_.pool_size)) {}

Client::Lease Client::Acquire() {
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

void Client::Release(Lease lease, bool healthy) {
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

absl::StatusOr<Reply> Client::Exec(const std::vector<std::string_view>& args, bool idempotent,
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
    Lease lease = Acquire();
    if (lease.context != nullptr && IdleConnectionIsDead(lease.context.get())) {
      lease.context.reset();  // and connect afresh below
    }
    const bool reused = lease.context != nullptr;
    if (!reused) {
      absl::StatusOr<Context> fresh = Connect(options_);
      if (!fresh.ok()) {
        Release(std::move(lease), false);
        return fresh.status();
      }
      lease.context = std::move(*fresh);
    }
    Reply reply(static_cast<redisReply*>(::redisCommandArgv(
        lease.context.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (reply == nullptr) {
      absl::Status status = ContextStatus(lease.context.get(), what, options_);
      Release(std::move(lease), false);
      if (idempotent && reused && attempt == 0) continue;
      return status;
    }
    Release(std::move(lease), true);
    return reply;
  }
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string_view>& args, bool idempotent,
                                      std::string_view what) {
  EV_ASSIGN_OR_RETURN(Reply reply, Exec(args, idempotent, what));
  if (reply->type == REDIS_REPLY_ERROR) return ErrorReplyStatus(reply.get(), what, options_);
  return reply;
}

absl::StatusOr<Reply> Client::RunScript(std::string_view sha, std::string_view script,
                                        const std::vector<std::string_view>& keys,
                                        const std::vector<std::string_view>& args,
                                        bool idempotent, std::string_view what) {
  const std::string key_count = StrCat(keys.size());
  std::vector<std::string_view> call = {"EVALSHA", sha, key_count};
  call.insert(call.end(), keys.begin(), keys.end());
  call.insert(call.end(), args.begin(), args.end());
  if (!sha.empty()) {
    EV_ASSIGN_OR_RETURN(Reply reply, Exec(call, idempotent, what));
    if (reply->type != REDIS_REPLY_ERROR) return reply;
    if (!StartsWith(StrOf(reply.get()), "NOSCRIPT")) {
      return ErrorReplyStatus(reply.get(), what, options_);
    }
  }
  call[0] = "EVAL";
  call[1] = script;
  return Command(call, idempotent, what);
}

absl::StatusOr<std::string> Client::LoadScript(std::string_view script) {
  EV_ASSIGN_OR_RETURN(Reply reply, Command({"SCRIPT", "LOAD", script}, true, "script load"));
  if (reply->type != REDIS_REPLY_STRING) return Unexpected("script load");
  return std::string(StrOf(reply.get()));
}

absl::Status Client::Unexpected(std::string_view what) const {
  return absl::InternalError(StrCat(Where(), ": unexpected reply to ", what));
}

std::string Client::Where() const {
  return StrCat(options_.label, " at ", options_.host, ":", options_.port);
}

}  // namespace edgevault::storage::redis_internal
