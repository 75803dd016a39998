#include "src/storage/redis/redis_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/openssl_error.h"

namespace edgevault::storage::redis_internal {
namespace {

using base::StrCat;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

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

namespace {

int MillisUntil(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now() + absl::Microseconds(999));
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TlsContext>> MakeTlsContext(const RedisTls& tls, std::string_view label) {
  return TlsContext::Create({.ca_file = tls.ca_file, .cert_file = tls.cert_file, .key_file = tls.key_file}, label);
}

Connection::Connection(const ConnectionOptions& o, int fd)
    : options_(o), fd_(fd), reader_(::redisReaderCreate()) {}

Connection::~Connection() {
  if (ssl_ != nullptr) ::SSL_free(static_cast<SSL*>(ssl_));  // no close_notify: a pool drops it
  ::close(fd_);
  if (reader_ != nullptr) ::redisReaderFree(reader_);
}

absl::Status Connection::Fail(std::string_view what, std::string_view detail) const {
  return absl::UnavailableError(
      StrCat(options_.label, " at ", options_.host, ":", options_.port, ": ", what, ": ", detail));
}

Connection::Waited Connection::Wait(short events, absl::Time deadline,
                                    base::StopSignal* stop) const {
  if (stop != nullptr) {
    // Only reads wait on a StopSignal (a subscriber waiting for messages).
    switch (stop->WaitReadable(fd_, MillisUntil(deadline))) {
      case base::StopSignal::Wait::kReadable: return Waited::kReady;
      case base::StopSignal::Wait::kTimeout: return Waited::kTimeout;
      case base::StopSignal::Wait::kStopped: return Waited::kStopped;
      case base::StopSignal::Wait::kFailed: return Waited::kFailed;
    }
  }
  for (;;) {
    pollfd p{.fd = fd_, .events = events, .revents = 0};
    const int n = ::poll(&p, 1, MillisUntil(deadline));
    if (n > 0) return Waited::kReady;
    if (n == 0) return Waited::kTimeout;
    if (errno != EINTR) return Waited::kFailed;
  }
}

absl::Status Connection::Handshake(const TlsContext& tls, absl::Time deadline) {
  const std::string& name = options_.tls.server_name.empty() ? options_.host : options_.tls.server_name;
  EV_ASSIGN_OR_RETURN(ssl_, tls.NewSession(fd_, name));
  SSL* ssl = static_cast<SSL*>(ssl_);
  for (;;) {
    ::ERR_clear_error();
    const int r = ::SSL_connect(ssl);
    if (r == 1) return absl::OkStatus();
    const int err = ::SSL_get_error(ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      const Waited w = Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, nullptr);
      if (w == Waited::kReady) continue;
      return Fail("TLS handshake", w == Waited::kTimeout
                                       ? StrCat("no answer in time; does port ", options_.port,
                                                " speak TLS? (a plain Redis port waits silently)")
                                       : std::string("poll failed"));
    }
    if (::SSL_get_verify_result(ssl) != X509_V_OK) {
      return Fail("TLS handshake", StrCat(crypto::TlsHandshakeFailure(ssl, name),
                                          "; give the CA that issued it with ?ca_file=, or the name it carries "
                                          "with ?server_name="));
    }
    std::string detail = crypto::TlsHandshakeFailure(ssl, name);
    if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
      detail = StrCat("the server closed the connection (", detail,
                      "); is this a TLS port, and does it want a client certificate (cert_file, key_file)?");
    }
    return Fail("TLS handshake", detail);
  }
}

absl::Status Connection::WriteAll(std::string_view bytes, absl::Time deadline,
                                  std::string_view what) {
  while (!bytes.empty()) {
    ssize_t n;
    if (ssl_ != nullptr) {
      ::ERR_clear_error();
      SSL* ssl = static_cast<SSL*>(ssl_);
      const int r = ::SSL_write(ssl, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 30)));
      if (r <= 0) {
        const int err = ::SSL_get_error(ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          const Waited w = Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, nullptr);
          if (w == Waited::kReady) continue;
          return Fail(what, w == Waited::kTimeout ? "timed out sending" : "poll failed");
        }
        return Fail(what, StrCat("TLS write failed: ", crypto::OpenSslErrorString()));
      }
      n = r;
    } else {
      n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);  // blocks, with SO_SNDTIMEO
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Fail(what, "timed out sending");
        return Fail(what, std::strerror(errno));
      }
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status Connection::Fill(absl::Time deadline, base::StopSignal* stop, std::string_view what) {
  char buf[16 * 1024];
  // A plain connection's socket blocks (with SO_RCVTIMEO): one recv waits and reads. TLS,
  // and a subscriber that must see `stop`, wait first unless bytes are buffered already.
  if ((ssl_ != nullptr && ::SSL_pending(static_cast<SSL*>(ssl_)) == 0) ||
      (ssl_ == nullptr && stop != nullptr)) {
    const Waited w = Wait(POLLIN, deadline, stop);
    if (w == Waited::kStopped) return absl::CancelledError("stopped");
    if (w != Waited::kReady) {
      return Fail(what, w == Waited::kTimeout ? "timed out waiting for the reply" : "poll failed");
    }
  }
  for (;;) {
    ssize_t n;
    short want = POLLIN;
    if (ssl_ != nullptr) {
      ::ERR_clear_error();
      SSL* ssl = static_cast<SSL*>(ssl_);
      const int r = ::SSL_read(ssl, buf, sizeof buf);
      if (r > 0) {
        n = r;
      } else {
        const int err = ::SSL_get_error(ssl, r);
        if (err == SSL_ERROR_ZERO_RETURN) return Fail(what, "the server closed the connection");
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return Fail(what, err == SSL_ERROR_SYSCALL && ::ERR_peek_error() == 0
                                ? std::string("the server closed the connection")
                                : StrCat("TLS read failed: ", crypto::OpenSslErrorString()));
        }
        n = -1;
        want = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
      }
    } else {
      n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return Fail(what, "the server closed the connection");
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Fail(what, "timed out waiting for the reply");
        return Fail(what, std::strerror(errno));
      }
    }
    if (n > 0) {
      if (::redisReaderFeed(reader_, buf, static_cast<size_t>(n)) != REDIS_OK) {
        return absl::InternalError(StrCat(options_.label, " at ", options_.host, ":", options_.port,
                                          ": ", what, ": ", reader_->errstr));
      }
      return absl::OkStatus();
    }
    const Waited w = Wait(want, deadline, want == POLLIN ? stop : nullptr);
    if (w == Waited::kReady) continue;
    if (w == Waited::kStopped) return absl::CancelledError("stopped");
    return Fail(what, w == Waited::kTimeout ? "timed out waiting for the reply" : "poll failed");
  }
}

absl::StatusOr<Reply> Connection::ReadReply(absl::Time deadline, base::StopSignal* stop,
                                            std::string_view what) {
  for (;;) {
    void* raw = nullptr;
    if (::redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      return absl::InternalError(StrCat(options_.label, " at ", options_.host, ":", options_.port,
                                        ": ", what, ": ", reader_->errstr));
    }
    if (raw != nullptr) return Reply(static_cast<redisReply*>(raw));
    absl::Status filled = Fill(deadline, stop, what);
    if (absl::IsCancelled(filled)) return Reply();
    EV_RETURN_IF_ERROR(filled);
  }
}

absl::StatusOr<Reply> Connection::Call(const std::vector<std::string_view>& args,
                                       std::string_view what) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* command = nullptr;
  const int len = ::redisFormatCommandArgv(&command, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (len < 0 || command == nullptr) return absl::ResourceExhaustedError(StrCat(options_.label, ": out of memory"));
  const absl::Time deadline = absl::Now() + options_.timeout;
  absl::Status sent = WriteAll(std::string_view(command, static_cast<size_t>(len)), deadline, what);
  ::redisFreeCommand(command);
  EV_RETURN_IF_ERROR(sent);
  return ReadReply(deadline, nullptr, what);
}

absl::StatusOr<Reply> Connection::Next(base::StopSignal* stop, std::string_view what) {
  return ReadReply(absl::InfiniteFuture(), stop, what);
}

bool Connection::IdleIsDead() {
  pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
  if (::poll(&p, 1, 0) == 0) return false;
  if (ssl_ == nullptr) return true;  // EOF, or bytes nobody asked for
  // TLS: the record may be a TLS 1.3 session ticket, which OpenSSL consumes here.
  ::ERR_clear_error();
  char c;
  SSL* ssl = static_cast<SSL*>(ssl_);
  const int r = ::SSL_peek(ssl, &c, 1);
  if (r > 0) return true;
  const int err = ::SSL_get_error(ssl, r);
  ::ERR_clear_error();
  return err != SSL_ERROR_WANT_READ;
}

absl::StatusOr<std::unique_ptr<Connection>> Connect(const ConnectionOptions& o, const TlsContext* tls) {
  if (o.tls.enabled && tls == nullptr) {
    return absl::FailedPreconditionError(StrCat(o.label, ": TLS is enabled but has no context"));
  }
  const absl::Time deadline = absl::Now() + o.timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = StrCat(o.port);
  const std::string where = StrCat(o.label, " at ", o.host, ":", o.port);
  if (int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(StrCat(where, ": connect: cannot resolve the host: ", ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  std::string last_error = "no address";
  std::unique_ptr<Connection> c;
  for (addrinfo* a = found; a != nullptr && c == nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    auto attempt = std::unique_ptr<Connection>(new Connection(o, fd));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        continue;
      }
      const Connection::Waited w = attempt->Wait(POLLOUT, deadline, nullptr);
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (w != Connection::Waited::kReady) {
        last_error = w == Connection::Waited::kTimeout ? "timed out" : "poll failed";
        continue;
      }
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
        last_error = std::strerror(so_error != 0 ? so_error : errno);
        continue;
      }
    }
    c = std::move(attempt);
  }
  if (c == nullptr) return absl::UnavailableError(StrCat(where, ": connect: ", last_error));
  const int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(c->fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);  // best effort
  if (c->reader_ == nullptr) return absl::ResourceExhaustedError(StrCat(where, ": out of memory"));
  if (tls != nullptr) {
    EV_RETURN_IF_ERROR(c->Handshake(*tls, deadline));
  } else {
    // Plain: a blocking socket whose reads and writes give up after the timeout (as the
    // hiredis connections before did): a command is one send and, usually, one recv.
    const timeval limit = absl::ToTimeval(o.timeout);
    if (::fcntl(c->fd_, F_SETFL, ::fcntl(c->fd_, F_GETFL) & ~O_NONBLOCK) != 0 ||
        ::setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
        ::setsockopt(c->fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
      return absl::UnavailableError(StrCat(where, ": connect: ", std::strerror(errno)));
    }
  }
  // AUTH and SELECT before the connection is used; their replies are checked here so a
  // wrong password is PermissionDenied, not a confusing error on the first command.
  auto setup = [&](const std::vector<std::string_view>& args, std::string_view what) -> absl::Status {
    EV_ASSIGN_OR_RETURN(Reply reply, c->Call(args, what));
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
    : options_(std::move(options)),
      tls_(options_.tls.enabled ? MakeTlsContext(options_.tls, options_.label)
                                : absl::StatusOr<std::shared_ptr<const TlsContext>>(nullptr)),
      permits_(std::max(1, options_.pool_size)) {}

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
  std::vector<std::unique_ptr<Connection>> dropped;
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
  if (!tls_.ok()) return tls_.status();
  for (int attempt = 0;; ++attempt) {
    Lease lease = Acquire();
    if (lease.context != nullptr && lease.context->IdleIsDead()) {
      lease.context.reset();  // and connect afresh below
    }
    const bool reused = lease.context != nullptr;
    if (!reused) {
      absl::StatusOr<std::unique_ptr<Connection>> fresh = Connect(options_, tls_->get());
      if (!fresh.ok()) {
        Release(std::move(lease), false);
        return fresh.status();
      }
      lease.context = std::move(*fresh);
    }
    absl::StatusOr<Reply> reply = lease.context->Call(args, what);
    if (!reply.ok()) {
      Release(std::move(lease), false);
      if (idempotent && reused && attempt == 0 && absl::IsUnavailable(reply.status())) continue;
      return reply.status();
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
