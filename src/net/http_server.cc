#include "src/net/http_server.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/asio/connect.hpp>
#include <boost/beast/http/status.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "src/base/strings.h"
#include "absl/strings/str_format.h"
#include "src/base/check.h"
#include "src/base/log.h"
#include "src/net/raw_request.h"
#include "src/net/signing.h"
#include "src/net/sse.h"

namespace edgevault::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// How long a lingering close waits for the client to stop sending after an error
// response, so that the client reads the response instead of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 1 << 20;
// How long the server waits for a TLS client's close_notify after sending its own (the
// client has the server's at once; this only bounds how long the socket stays open).
constexpr auto kTlsShutdownTime = std::chrono::seconds(1);
// A connection over the limit on a TLS listener is answered inside TLS, so it needs a
// handshake first: each may take this long in all, and at most kMaxTlsRefusals run at once
// (more are closed unanswered, so an overload cannot hold unbounded sockets open).
constexpr auto kTlsRefusalTime = std::chrono::seconds(5);
constexpr int kMaxTlsRefusals = 64;

constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Content-Length: 95\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"connection limit reached; retry\"}}";

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// "Sat, 28 Nov 2026 15:20:14 GMT", recomputed at most once a second per thread.
std::string_view HttpDate(absl::Time now) {
  thread_local int64_t cached_second = -1;
  thread_local char buf[64];
  thread_local size_t len = 0;
  int64_t sec = absl::ToUnixSeconds(now);
  if (sec != cached_second) {
    time_t t = static_cast<time_t>(sec);
    struct tm tm;
    gmtime_r(&t, &tm);
    len = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = sec;
  }
  return std::string_view(buf, len);
}

bool BodyForbidden(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace

class Connection;

// One io thread with its own io_context; connections pinned to it live in `conns`,
// which only this thread touches.
struct Worker {
  explicit Worker(size_t i) : index(i), work(asio::make_work_guard(ioc)) {}
  size_t index;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::unordered_set<Connection*> conns;
  uint64_t request_counter = 0;
  uint32_t request_prefix = 0;
};

// Counts AsyncHandler requests whose Responder is still alive somewhere (a pool thread,
// another service's callback). Drain waits for it to reach zero before it stops the io
// threads: a Responder called (or dropped) after the io_contexts are gone would post to
// freed memory. Shared, so a Responder that outlives the server can still decrement it.
struct AsyncTracker {
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;
  void Add() {
    std::lock_guard<std::mutex> lock(mu);
    ++pending;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu);
    if (--pending == 0) cv.notify_all();
  }
  // True when none is pending by `deadline`.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, deadline, [this] { return pending == 0; });
  }
};

// The console's optional TLS (ServerOptions::tls_cert_file): the current certificate and
// key, reloaded when either file changes (a cheap stat of both on each new connection). A
// pair that does not load keeps the previous one and logs an error, once per change.
class TlsContextSource {
 public:
  TlsContextSource(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

  // Loads the first pair; its error stops start-up.
  absl::Status Init() {
    std::string sig = Signature();
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> ctx = Load();
    if (!ctx.ok()) return ctx.status();
    current_ = *std::move(ctx);
    loaded_sig_ = std::move(sig);
    return absl::OkStatus();
  }

  std::shared_ptr<asio::ssl::context> Current() {
    std::string sig = Signature();
    std::lock_guard<std::mutex> lock(mu_);
    if (sig != loaded_sig_ && sig != failed_sig_) {
      absl::StatusOr<std::shared_ptr<asio::ssl::context>> ctx = Load();
      if (ctx.ok()) {
        current_ = *std::move(ctx);
        loaded_sig_ = std::move(sig);
        failed_sig_.clear();
        EV_LOG(kInfo, "reloaded the TLS certificate", {{"cert_file", cert_file_}});
      } else {
        failed_sig_ = std::move(sig);
        EV_LOG(kError, "cannot reload the TLS certificate; still serving the previous one",
               {{"cert_file", cert_file_}, {"error", ctx.status().message()}});
      }
    }
    return current_;
  }

 private:
  // Identity of both files' current contents (inode, size, mtime): changes on a rewrite or
  // on a rename over them.
  std::string Signature() const {
    std::string sig;
    for (const std::string* f : {&cert_file_, &key_file_}) {
      struct stat st;
      if (::stat(f->c_str(), &st) != 0) {
        sig += "missing;";
        continue;
      }
      base::StrAppend(&sig, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec, ";");
    }
    return sig;
  }

  absl::StatusOr<std::shared_ptr<asio::ssl::context>> Load() const {
    struct stat st;
    if (::stat(key_file_.c_str(), &st) != 0) {
      return absl::InvalidArgumentError(
          base::StrCat("cannot read the TLS key file ", key_file_, " (console.tls_key_file)"));
    }
    if ((st.st_mode & 077) != 0) {
      return absl::InvalidArgumentError(base::StrCat(
          "the TLS key file ", key_file_, " (console.tls_key_file) is readable by others (mode ",
          absl::StrFormat("%04o", st.st_mode & 07777), "); run `chmod 600 ", key_file_, "`"));
    }
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                     ec);
    // A client's renegotiation would need the TLS layer to read while an event stream only
    // watches the socket for the client going away.
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    if (!ec) ctx->use_certificate_chain_file(cert_file_, ec);
    if (ec) {
      return absl::InvalidArgumentError(base::StrCat("cannot load the TLS certificate ", cert_file_,
                                                     " (console.tls_cert_file): ", ec.message()));
    }
    ctx->use_private_key_file(key_file_, asio::ssl::context::pem, ec);
    if (!ec && SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return absl::InvalidArgumentError(base::StrCat("the TLS key ", key_file_,
                                                     " does not match the certificate ", cert_file_));
    }
    if (ec) {
      return absl::InvalidArgumentError(base::StrCat("cannot load the TLS key ", key_file_,
                                                     " (console.tls_key_file): ", ec.message()));
    }
    return ctx;
  }

  const std::string cert_file_;
  const std::string key_file_;
  std::mutex mu_;
  std::shared_ptr<asio::ssl::context> current_;
  std::string loaded_sig_;
  std::string failed_sig_;
};

// A connection's byte stream: the TCP stream, or TLS over it. One predictable branch per
// operation on the plain path.
class ConnStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;
  explicit ConnStream(tcp::socket socket) : tcp_(std::move(socket)) {}

  void StartTls(std::shared_ptr<asio::ssl::context> ctx) {
    ctx_ = std::move(ctx);
    tls_.emplace(tcp_, *ctx_);
  }
  bool is_tls() const { return tls_.has_value(); }
  asio::ssl::stream<beast::tcp_stream&>& tls() { return *tls_; }

  executor_type get_executor() { return tcp_.get_executor(); }
  tcp::socket& socket() { return tcp_.socket(); }
  void expires_after(std::chrono::steady_clock::duration d) { tcp_.expires_after(d); }
  void expires_never() { tcp_.expires_never(); }
  void close() { tcp_.close(); }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      tcp_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      tcp_.async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

 private:
  beast::tcp_stream tcp_;
  std::shared_ptr<asio::ssl::context> ctx_;
  std::optional<asio::ssl::stream<beast::tcp_stream&>> tls_;
};

// A connection over the limit on a TLS listener: the 503 is sent inside TLS like any
// other answer (plaintext on a TLS port is a protocol error to the client), so the
// handshake comes first, then the 503, then close_notify, all within kTlsRefusalTime.
class TlsRefusal : public std::enable_shared_from_this<TlsRefusal> {
 public:
  // Counts itself in `in_flight` for as long as it lives.
  TlsRefusal(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx,
             std::shared_ptr<std::atomic<int>> in_flight)
      : tcp_(std::move(socket)), ctx_(std::move(ctx)), tls_(tcp_, *ctx_),
        in_flight_(std::move(in_flight)) {}
  ~TlsRefusal() { in_flight_->fetch_sub(1, std::memory_order_relaxed); }

  void Start() {
    tcp_.expires_after(kTlsRefusalTime);
    tls_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
      if (ec) return;
      asio::async_write(self->tls_, asio::buffer(kBusy.data(), kBusy.size()),
                        [self](error_code ec, size_t) {
                          if (ec) return;
                          self->tls_.async_shutdown([self](error_code) {});
                        });
    });
  }

 private:
  beast::tcp_stream tcp_;  // closed by its destructor when the last handler lets go
  std::shared_ptr<asio::ssl::context> ctx_;
  asio::ssl::stream<beast::tcp_stream&> tls_;
  std::shared_ptr<std::atomic<int>> in_flight_;
};

class HttpServer::Impl {
 public:
  Impl(ServerOptions options, Router router)
      : options_(std::move(options)), router_(std::move(router)) {}

  ServerOptions options_;
  Router router_;
  std::unique_ptr<Metrics> metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  std::atomic<size_t> next_worker_{0};
  std::atomic<bool> draining_{false};
  std::atomic<bool> ready_{true};
  std::atomic<bool> running_{false};
  uint16_t port_ = 0;
  std::shared_ptr<AsyncTracker> async_ = std::make_shared<AsyncTracker>();
  std::unique_ptr<TlsContextSource> tls_;  // null: plain HTTP
  std::shared_ptr<std::atomic<int>> tls_refusals_ = std::make_shared<std::atomic<int>>(0);

  base::Env* env() const { return options_.env; }
  void DoAccept();
  void OnAccept(Worker* worker, error_code ec, tcp::socket socket);
  void Drain();
};

class SseStreamImpl;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpServer::Impl* server, Worker* worker, tcp::socket socket,
             std::shared_ptr<asio::ssl::context> tls)
      : server_(server), worker_(worker), stream_(std::move(socket)) {
    if (tls) stream_.StartTls(std::move(tls));
    error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = base::StrCat(ep.address().to_string(), ":", ep.port());
  }

  void Start() {
    server_->metrics_->ConnectionOpened();
    worker_->conns.insert(this);
    if (!stream_.is_tls()) return WaitForRequest();
    state_ = State::kReading;
    stream_.expires_after(ToChrono(limits().read_timeout));
    stream_.tls().async_handshake(asio::ssl::stream_base::server,
                                  [self = shared_from_this()](error_code ec) {
                                    if (ec) return self->Close();
                                    self->WaitForRequest();
                                  });
  }

  // Called on the worker thread when the server starts draining.
  void OnDrain() {
    if (state_ == State::kIdle) {
      CloseIdle();
    } else if (state_ == State::kStreaming) {
      EndStream();
    }
  }

  // Called on the worker thread when the drain period is over.
  void ForceClose() { Close(); }

  // SSE plumbing, on the worker thread.
  void QueueChunk(std::string text);
  void EndStream();

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kStreaming, kClosing, kClosed };

  const base::ServerLimits& limits() const { return server_->options_.limits; }
  static std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
    return absl::ToChronoNanoseconds(d);
  }

  void WaitForRequest() {
    if (server_->draining_.load(std::memory_order_relaxed)) {
      return stream_.is_tls() ? TlsShutdown(kTlsShutdownTime) : Close();
    }
    state_ = State::kIdle;
    if (buffer_.size() > 0) return ReadHeader();  // pipelined request already buffered
    if (stream_.is_tls()) {
      // Not the stream's expiry, which closes the socket: an idle TLS connection is ended
      // with close_notify (CloseIdle).
      stream_.expires_never();
      read_timer_.expires_after(ToChrono(limits().idle_timeout));
      read_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->state_ != State::kIdle) return;
        self->CloseIdle();
      });
    } else {
      stream_.expires_after(ToChrono(limits().idle_timeout));
    }
    stream_.async_read_some(buffer_.prepare(8192),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              if (self->state_ == State::kClosing) return self->TlsShutdown(kTlsShutdownTime);
                              if (ec == asio::error::eof && self->stream_.is_tls()) {
                                // The client's close_notify (a TCP close without one is
                                // stream_truncated): answer it with ours.
                                self->state_ = State::kClosing;
                                return self->TlsShutdown(kTlsShutdownTime);
                              }
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  // Ends a connection waiting for its next request: at once on plain HTTP; on TLS the
  // pending read is cancelled and its handler (WaitForRequest) sends close_notify.
  void CloseIdle() {
    if (!stream_.is_tls()) return Close();
    state_ = State::kClosing;
    error_code ignored;
    stream_.socket().cancel(ignored);
  }

  // Sends close_notify, waits up to `bound` for the client's, then closes. Only with no
  // other operation pending on the stream.
  void TlsShutdown(std::chrono::steady_clock::duration bound) {
    state_ = State::kClosing;
    stream_.expires_after(bound);
    stream_.tls().async_shutdown([self = shared_from_this()](error_code) { self->Close(); });
  }

  void ReadHeader() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits().max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(limits().max_body_bytes));
    // A separate timer, not the stream's own expiry: tcp_stream closes the socket
    // on expiry, and a timed-out client is owed a 408 first.
    stream_.expires_never();
    read_timed_out_ = false;
    read_timer_.expires_after(ToChrono(limits().read_timeout));
    read_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->state_ != State::kReading) return;
      self->read_timed_out_ = true;
      error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(error_code ec) {
    if (ec) return OnReadError(ec);
    auto& msg = parser_->get();
    auto expect = msg.find(http::field::expect);
    if (!parser_->is_done() && expect != msg.end() &&
        base::EqualsIgnoreCase(expect->value(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    if (parser_->is_done()) return Dispatch();
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  void OnReadError(error_code ec) {
    read_timer_.cancel();
    if (ec == beast::error::timeout || read_timed_out_) {
      return SendErrorAndClose(408, "request_timeout",
                               "the request was not received in time; send it whole within the "
                               "server's read timeout");
    }
    if (ec == http::error::header_limit) {
      return SendErrorAndClose(431, "headers_too_large",
                               base::StrCat("request headers exceed ", limits().max_header_bytes,
                                            " bytes; send fewer or shorter headers"));
    }
    if (ec == http::error::body_limit) {
      return SendErrorAndClose(413, "body_too_large",
                               base::StrCat("request body exceeds ", limits().max_body_bytes,
                                            " bytes"));
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == http::error::partial_message) {
      return Close();
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return SendErrorAndClose(400, "bad_request",
                               base::StrCat("malformed HTTP request: ", ec.message()));
    }
    Close();
  }

  std::string MakeRequestId() {
    std::string_view given;
    auto& msg = parser_->get();
    auto it = msg.find("X-Request-Id");
    if (it != msg.end()) given = it->value();
    if (ValidRequestId(given)) return std::string(given);
    return absl::StrFormat("%08x%08x", worker_->request_prefix,
                           static_cast<uint32_t>(++worker_->request_counter));
  }

  void Dispatch() {
    state_ = State::kHandling;
    read_timer_.cancel();
    stream_.expires_never();
    start_ = server_->env()->MonotonicNow();
    request_id_ = MakeRequestId();
    raw_ = parser_->release();
    parser_.reset();
    request_.emplace(raw_, request_id_, remote_);
    server_->metrics_->RequestStarted();
    in_request_ = true;

    const Router::Route* route = nullptr;
    std::string allow;
    switch (server_->router_.Match(*request_, &route, &allow)) {
      case Router::MatchResult::kNotFound:
        return WriteResponse(Response::Error(
            404, "not_found", base::StrCat("no route for ", request_->path())));
      case Router::MatchResult::kMethodNotAllowed:
        return WriteResponse(
            Response::Error(405, "method_not_allowed",
                            base::StrCat(request_->method_string(), " is not allowed on ",
                                         request_->path(), "; allowed: ", allow))
                .WithHeader("Allow", allow));
      case Router::MatchResult::kFound:
        break;
    }
    route_index_ = route->index;
    if (!route->options.internal_callers.empty()) {
      absl::StatusOr<std::string> caller =
          absl::UnauthenticatedError("internal signing is not configured");
      if (server_->options_.verifier != nullptr) {
        caller = server_->options_.verifier->Verify(
            request_->method_string(), request_->target(), request_->Header(kCallerHeader),
            request_->Header(kTimestampHeader), request_->Header(kNonceHeader),
            request_->Header(kSignatureHeader), request_->body(), server_->env()->Now());
      }
      if (!caller.ok()) {
        return WriteResponse(Response::Error(401, "bad_signature", base::ToStd(caller.status().message())));
      }
      const std::vector<std::string>& allowed = route->options.internal_callers;
      if (std::find(allowed.begin(), allowed.end(), *caller) == allowed.end()) {
        return WriteResponse(Response::Error(
            403, "caller_not_allowed",
            base::StrCat("service \"", *caller, "\" may not call ", request_->method_string(), " ",
                         request_->path(), "; allowed callers: ", absl::StrJoin(allowed, ", "))));
      }
    }
    if (route->async_handler) {
      auto pending = std::make_shared<PendingResponse>(shared_from_this(), server_->async_);
      try {
        route->async_handler(*request_, [pending](Response r) { pending->Complete(std::move(r)); });
      } catch (...) {
        // The Responder went with the exception, unless the handler passed it on: either way
        // the request is answered (by its holder, or 500 when the last copy is dropped).
        RecordEscapedException(HandlerName(*route));
      }
      return;
    }
    Response response;
    try {
      response = route->handler(*request_);
    } catch (...) {
      RecordEscapedException(HandlerName(*route));
      response = InternalErrorResponse(request_id_);
    }
    WriteResponse(std::move(response));
  }

  static std::string HandlerName(const Router::Route& route) {
    return base::StrCat("handler ", http::to_string(route.method), " ", route.pattern);
  }

  // Completes an AsyncHandler's request exactly once, on the connection's thread; a
  // handler that drops its Responder without calling it yields a 500, not a hang.
  struct PendingResponse {
    PendingResponse(std::shared_ptr<Connection> c, std::shared_ptr<AsyncTracker> t)
        : conn(std::move(c)), exec(conn->stream_.get_executor()), tracker(std::move(t)) {
      tracker->Add();
    }
    ~PendingResponse() {
      if (!done.exchange(true)) Finish(InternalErrorResponse(conn->request_id_));
    }
    void Complete(Response r) {
      if (done.exchange(true)) {
        EV_BUG_IF(true, "Responder called twice");
        return;
      }
      Finish(std::move(r));
    }
    // Posts the answer, then lets go of the connection before checking out of the
    // tracker: from then on the server may stop, and nothing here touches it.
    void Finish(Response r) {
      Post(std::move(r));
      conn.reset();
      exec = asio::any_io_executor();
      tracker->Done();
    }
    void Post(Response r) {
      asio::post(exec, [c = conn, r = std::move(r)]() mutable { c->WriteResponse(std::move(r)); });
    }
    std::shared_ptr<Connection> conn;
    asio::any_io_executor exec;
    std::shared_ptr<AsyncTracker> tracker;
    std::atomic<bool> done{false};
  };

  void SendErrorAndClose(int status, std::string_view code, std::string_view message) {
    // The request was not read whole; answer it and close.
    start_ = server_->env()->MonotonicNow();
    request_id_ = absl::StrFormat("%08x%08x", worker_->request_prefix,
                                  static_cast<uint32_t>(++worker_->request_counter));
    server_->metrics_->RequestStarted();
    in_request_ = true;
    route_index_ = 0;
    force_close_ = true;
    WriteResponse(Response::Error(status, code, message));
  }

  void WriteResponse(Response resp) {
    if (state_ == State::kClosed) return;
    state_ = State::kWriting;
    response_ = std::move(resp);
    const bool is_head = request_ && request_->method() == http::verb::head;
    const bool is_sse = static_cast<bool>(response_.sse) && response_.status == 200;
    keep_alive_ = !force_close_ && request_ && raw_.keep_alive() && !is_sse &&
                  !server_->draining_.load(std::memory_order_relaxed);

    std::string_view body = response_.shared_body ? std::string_view(*response_.shared_body)
                                                  : std::string_view(response_.body);
    if (BodyForbidden(response_.status) || is_sse) body = {};
    head_.clear();
    auto reason = http::obsolete_reason(static_cast<http::status>(response_.status));
    base::StrAppend(&head_, "HTTP/1.1 ", response_.status, " ", reason, "\r\nDate: ",
                    HttpDate(server_->env()->Now()), "\r\n");
    if (is_sse) {
      head_ +=
          "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
          "X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n";
    } else if (!BodyForbidden(response_.status)) {
      if (!body.empty() && !response_.content_type.empty()) {
        base::StrAppend(&head_, "Content-Type: ", response_.content_type, "\r\n");
      }
      base::StrAppend(&head_, "Content-Length: ", body.size(), "\r\n");
    }
    base::StrAppend(&head_, "X-Request-Id: ", request_id_, "\r\n");
    for (const auto& [name, value] : response_.headers) {
      if (HasCrLf(name) || HasCrLf(value)) {
        EV_BUG_IF(true, "response header with CR/LF dropped");
        continue;
      }
      base::StrAppend(&head_, name, ": ", value, "\r\n");
    }
    if (!keep_alive_ && !is_sse) {
      head_ += "Connection: close\r\n";
    } else if (keep_alive_ && raw_.version() == 10) {
      head_ += "Connection: keep-alive\r\n";
    }
    head_ += "\r\n";
    bytes_out_ = head_.size() + (is_head ? 0 : body.size());

    stream_.expires_after(ToChrono(limits().idle_timeout));
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(head_),
                                              asio::buffer(body.data(), is_head ? 0 : body.size())};
    asio::async_write(stream_, bufs,
                      [self = shared_from_this(), is_sse](error_code ec, size_t) {
                        self->OnWritten(ec, is_sse);
                      });
  }

  void OnWritten(error_code ec, bool is_sse) {
    FinishRequest();
    if (ec) return Close();
    if (is_sse) return StartStream();
    response_ = Response();
    request_.reset();
    if (force_close_) return LingeringClose();
    if (!keep_alive_) return ShutdownAndClose();
    WaitForRequest();
  }

  void FinishRequest() {
    if (!in_request_) return;
    in_request_ = false;
    uint64_t ns = static_cast<uint64_t>(
        absl::ToInt64Nanoseconds(server_->env()->MonotonicNow() - start_));
    server_->metrics_->RecordRequest(worker_->index, route_index_, response_.status, ns);
    server_->metrics_->RequestFinished();
    if (server_->options_.access_log && base::LogEnabled(base::LogLevel::kInfo)) {
      std::string_view method = request_ ? request_->method_string() : std::string_view("-");
      std::string_view path = request_ ? request_->path() : std::string_view("-");
      base::Log(base::LogLevel::kInfo, "access",
                {{"request_id", request_id_},
                 {"remote", remote_},
                 {"method", method},
                 {"path", path},
                 {"route", server_->router_.pattern(route_index_)},
                 {"status", response_.status},
                 {"bytes", static_cast<uint64_t>(bytes_out_)},
                 {"duration_ms", static_cast<double>(ns) / 1e6}});
    }
  }

  void ShutdownAndClose() {
    if (stream_.is_tls()) {
      if (state_ == State::kClosing || state_ == State::kClosed) return;
      state_ = State::kClosing;
      // An event stream's watch reads the socket: cancel it; its handler shuts TLS down.
      if (watching_) {
        error_code ignored;
        stream_.socket().cancel(ignored);
        return;
      }
      return TlsShutdown(kTlsShutdownTime);
    }
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    Close();
  }

  // After an error response to a request we did not read whole: stop sending,
  // then read and discard what the client still sends (bounded), then close.
  void LingeringClose() {
    // TLS: close_notify, then OpenSSL discards what the client still sends until its own
    // close_notify or the linger time.
    if (stream_.is_tls()) return TlsShutdown(kLingerTime);
    state_ = State::kClosing;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Discard();
  }

  void Discard() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > kLingerMaxBytes) return self->Close();
                              self->Discard();
                            });
  }

  void StartStream();
  void WriteNextChunk();
  void WatchForClientClose();

 public:
  void Close();

 private:
  friend class SseStreamImpl;
  HttpServer::Impl* server_;
  Worker* worker_;
  ConnStream stream_;
  beast::flat_buffer buffer_;
  asio::steady_timer read_timer_{stream_.get_executor()};
  bool read_timed_out_ = false;
  std::optional<http::request_parser<http::string_body>> parser_;
  RawRequest raw_;
  std::optional<Request> request_;
  Response response_;
  std::string head_;
  std::string request_id_;
  std::string remote_ = "unknown";
  State state_ = State::kIdle;
  absl::Duration start_;
  uint32_t route_index_ = 0;
  size_t bytes_out_ = 0;
  size_t lingered_ = 0;
  bool keep_alive_ = false;
  bool force_close_ = false;
  bool in_request_ = false;
  // SSE
  std::shared_ptr<SseStreamImpl> sse_;
  std::deque<std::string> chunks_;
  bool chunk_writing_ = false;
  bool stream_ending_ = false;
  bool watching_ = false;  // WatchForClientClose's read is pending
  std::array<char, 256> discard_{};
};

class SseStreamImpl final : public SseStream,
                            public std::enable_shared_from_this<SseStreamImpl> {
 public:
  SseStreamImpl(std::weak_ptr<Connection> conn, asio::any_io_executor exec,
                std::string last_event_id)
      : conn_(std::move(conn)), exec_(std::move(exec)), last_event_id_(std::move(last_event_id)) {}

  bool Send(const SseEvent& event) override { return Queue(FormatSseEvent(event)); }
  bool SendComment(std::string_view text) override { return Queue(FormatSseComment(text)); }
  void Close() override {
    if (closed_.load()) return;
    asio::post(exec_, [conn = conn_] {
      if (auto c = conn.lock()) c->EndStream();
    });
  }
  bool closed() const override { return closed_.load(); }
  void OnClose(std::function<void()> callback) override {
    // Runs on the io thread so that it is ordered with MarkClosed().
    asio::post(exec_, [self = shared_from_this(),
                       cb = std::move(callback)]() mutable {
      if (self->closed_.load()) {
        try {
          cb();
        } catch (...) {
          RecordEscapedException("an event stream's close callback");
        }
      } else {
        self->on_close_ = std::move(cb);
      }
    });
  }
  std::string_view last_event_id() const override { return last_event_id_; }

  // On the io thread.
  void MarkClosed() {
    if (closed_.exchange(true)) return;
    if (on_close_) {
      auto cb = std::move(on_close_);
      on_close_ = nullptr;
      try {
        cb();
      } catch (...) {
        RecordEscapedException("an event stream's close callback");
      }
    }
  }


 private:
  bool Queue(std::string text) {
    if (closed_.load()) return false;
    asio::post(exec_, [conn = conn_, text = std::move(text)]() mutable {
      if (auto c = conn.lock()) c->QueueChunk(std::move(text));
    });
    return true;
  }

  std::weak_ptr<Connection> conn_;
  asio::any_io_executor exec_;
  std::string last_event_id_;
  std::atomic<bool> closed_{false};
  std::function<void()> on_close_;
};

void Connection::StartStream() {
  state_ = State::kStreaming;
  stream_.expires_never();
  sse_ = std::make_shared<SseStreamImpl>(weak_from_this(), stream_.get_executor(),
                                         std::string(request_->Header("Last-Event-ID")));
  auto open = std::move(response_.sse);
  response_ = Response();
  WatchForClientClose();
  try {
    open(sse_);
  } catch (...) {
    RecordEscapedException("an event stream's start");
    EndStream();
  }
}

void Connection::WatchForClientClose() {
  // A client never sends on an event stream; a read completes only when it goes away.
  watching_ = true;
  stream_.socket().async_read_some(asio::buffer(discard_),
                                   [self = shared_from_this()](error_code ec, size_t) {
                                     self->watching_ = false;
                                     if (self->state_ == State::kClosing) {
                                       return self->TlsShutdown(kTlsShutdownTime);
                                     }
                                     if (ec) return self->Close();
                                     self->WatchForClientClose();
                                   });
}

void Connection::QueueChunk(std::string text) {
  if (state_ != State::kStreaming || stream_ending_) return;
  char size_hex[20];
  std::snprintf(size_hex, sizeof size_hex, "%zx\r\n", text.size());
  chunks_.push_back(base::StrCat(size_hex, text, "\r\n"));
  if (!chunk_writing_) WriteNextChunk();
}

void Connection::EndStream() {
  if (state_ != State::kStreaming || stream_ending_) return;
  stream_ending_ = true;
  chunks_.push_back("0\r\n\r\n");
  if (!chunk_writing_) WriteNextChunk();
}

void Connection::WriteNextChunk() {
  if (chunks_.empty()) {
    chunk_writing_ = false;
    if (stream_ending_) ShutdownAndClose();
    return;
  }
  chunk_writing_ = true;
  stream_.expires_after(ToChrono(limits().idle_timeout));  // a stuck client is dropped
  asio::async_write(stream_, asio::buffer(chunks_.front()),
                    [self = shared_from_this()](error_code ec, size_t) {
                      if (ec) return self->Close();
                      self->chunks_.pop_front();
                      self->WriteNextChunk();
                    });
}

void Connection::Close() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kHandling) response_.status = 499;  // client went away first
  state_ = State::kClosed;
  FinishRequest();
  read_timer_.cancel();  // its wait holds the connection (and keeps the io thread busy)
  error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  if (sse_) {
    sse_->MarkClosed();
  }
  worker_->conns.erase(this);
  server_->metrics_->ConnectionClosed();
}

void HttpServer::Impl::DoAccept() {
  size_t i = next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
  Worker* w = workers_[i].get();
  acceptor_->async_accept(w->ioc, [this, w](error_code ec, tcp::socket socket) {
    OnAccept(w, ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(Worker* worker, error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
  if (!ec) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (static_cast<size_t>(metrics_->connections()) >= options_.limits.max_connections) {
      metrics_->ConnectionRejected();
      if (tls_) {
        if (tls_refusals_->fetch_add(1, std::memory_order_relaxed) >= kMaxTlsRefusals) {
          tls_refusals_->fetch_sub(1, std::memory_order_relaxed);
          socket.close(ignored);  // the client's handshake fails: still no plaintext
        } else {
          auto refusal = std::make_shared<TlsRefusal>(std::move(socket), tls_->Current(), tls_refusals_);
          asio::post(worker->ioc, [refusal] { refusal->Start(); });
        }
        return DoAccept();
      }
      // Answer on the worker so the acceptor never waits on a slow client.
      auto sock = std::make_shared<tcp::socket>(std::move(socket));
      asio::post(worker->ioc, [sock] {
        asio::async_write(*sock, asio::buffer(kBusy.data(), kBusy.size()),
                          [sock](error_code, size_t) {
                            error_code ignored;
                            sock->shutdown(tcp::socket::shutdown_both, ignored);
                            sock->close(ignored);
                          });
      });
    } else {
      asio::post(worker->ioc, [this, worker, s = std::move(socket)]() mutable {
        std::make_shared<Connection>(this, worker, std::move(s),
                                     tls_ ? tls_->Current() : nullptr)->Start();
      });
    }
  } else {
    EV_LOG(kWarn, "accept failed", {{"error", ec.message()}});
  }
  DoAccept();
}

void HttpServer::Impl::Drain() {
  if (!running_.exchange(false)) return;
  draining_.store(true);
  auto accept_done = std::make_shared<std::promise<void>>();
  auto accept_future = accept_done->get_future();
  asio::post(workers_[0]->ioc, [this, accept_done] {
    error_code ignored;
    acceptor_->close(ignored);
    accept_done->set_value();
  });
  accept_future.wait();
  for (auto& w : workers_) {
    asio::post(w->ioc, [w = w.get()] {
      // OnDrain may close (and erase) the connection: iterate over a copy.
      std::vector<Connection*> conns(w->conns.begin(), w->conns.end());
      for (Connection* c : conns) c->OnDrain();
    });
  }
  // Real time on purpose: the drain bounds how long real sockets may take, and this
  // is the controlling thread, never an io thread.
  const auto deadline = std::chrono::steady_clock::now() +
                        absl::ToChronoNanoseconds(options_.limits.drain_timeout);
  while (metrics_->connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& w : workers_) {
    asio::post(w->ioc, [w = w.get()] {
      std::vector<Connection*> conns(w->conns.begin(), w->conns.end());
      for (Connection* c : conns) c->ForceClose();
    });
  }
  // Async requests still out (their connections are closed now; the answers are
  // dropped): wait for their Responders while the io threads still run what they post.
  // A handler that never lets go is a bug; after a generous bound, the io contexts are
  // leaked rather than freed under it.
  const auto async_deadline = std::chrono::steady_clock::now() +
                              absl::ToChronoNanoseconds(options_.limits.drain_timeout) +
                              std::chrono::seconds(30);
  bool async_idle = async_->WaitIdle(async_deadline);
  for (auto& w : workers_) {
    asio::post(w->ioc, [w = w.get()] { w->work.reset(); });
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  if (!async_idle) {
    EV_LOG(kError, "async handlers still hold responders after the drain; leaking the io contexts",
           {{"port", static_cast<int>(port_)}});
    for (auto& w : workers_) (void)w.release();  // deliberate leak, see above
    workers_.clear();
  }
  EV_LOG(kInfo, "server stopped", {{"port", static_cast<int>(port_)}});
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(ServerOptions options,
                                                               Router router) {
  if (options.env == nullptr) options.env = base::Env::Default();
  error_code ec;
  asio::ip::make_address(options.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        base::StrCat("bad listen address '", options.host, "': ", ec.message()));
  }
  if (options.io_threads <= 0) {
    options.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
  }
  std::unique_ptr<TlsContextSource> tls;
  if (!options.tls_cert_file.empty()) {
    tls = std::make_unique<TlsContextSource>(options.tls_cert_file, options.tls_key_file);
    if (absl::Status st = tls->Init(); !st.ok()) return st;
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(router));
  Impl* self = impl.get();
  self->tls_ = std::move(tls);
  self->router_.Get("/healthz", [self](Request&) {
    std::string body = "{\"status\":\"ok\",\"service\":";
    base::AppendJsonString(&body, self->options_.service);
    body += "}";
    return Response::Json(200, std::move(body));
  });
  self->router_.Get("/readyz", [self](Request&) {
    if (self->draining_.load() || !self->ready_.load()) {
      return Response::Error(503, "not_ready",
                             self->draining_.load() ? "draining: the server is shutting down"
                                                    : "not ready yet");
    }
    if (self->options_.hooks.not_ready_reason) {
      std::string reason = self->options_.hooks.not_ready_reason();
      if (!reason.empty()) return Response::Error(503, "not_ready", reason);
    }
    return Response::Json(200, "{\"status\":\"ready\"}");
  });
  self->router_.Get("/metrics", [self](Request&) {
    std::string text = self->metrics_->Render();
    if (self->options_.hooks.extra_metrics) self->options_.hooks.extra_metrics(&text);
    Response r = Response::Json(200, std::move(text));
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  std::vector<std::string> patterns;
  for (size_t i = 0; i < self->router_.route_count(); ++i) {
    patterns.emplace_back(self->router_.pattern(static_cast<uint32_t>(i)));
  }
  self->metrics_ = std::make_unique<Metrics>(self->options_.service, std::move(patterns),
                                             static_cast<size_t>(self->options_.io_threads));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (impl_->running_.load()) {
    impl_->options_.limits.drain_timeout = absl::ZeroDuration();
    impl_->Drain();
  }
}

absl::Status HttpServer::Start() {
  Impl& s = *impl_;
  EV_CHECK(!s.running_.load());
  for (int i = 0; i < s.options_.io_threads; ++i) {
    auto w = std::make_unique<Worker>(static_cast<size_t>(i));
    s.env()->RandomBytes(&w->request_prefix, sizeof w->request_prefix);
    s.workers_.push_back(std::move(w));
  }
  error_code ec;
  tcp::endpoint ep(asio::ip::make_address(s.options_.host, ec), s.options_.port);
  s.acceptor_.emplace(s.workers_[0]->ioc);
  if (s.options_.listen_fd >= 0) {
    s.acceptor_->assign(ep.protocol(), s.options_.listen_fd, ec);
  } else {
    s.acceptor_->open(ep.protocol(), ec);
    if (!ec) s.acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor_->bind(ep, ec);
    if (!ec) s.acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    s.acceptor_.reset();
    s.workers_.clear();
    return absl::UnavailableError(base::StrCat("cannot listen on ", s.options_.host, ":",
                                               s.options_.port, ": ", ec.message()));
  }
  s.port_ = s.acceptor_->local_endpoint().port();
  s.running_.store(true);
  s.DoAccept();
  for (auto& w : s.workers_) {
    w->thread = std::thread([w = w.get()] {
      // The last resort of the handler boundary: asio lets an exception from a completion
      // handler out of run(), after which run() may be called again (asio's documentation).
      for (;;) {
        try {
          w->ioc.run();
          return;
        } catch (...) {
          RecordEscapedException("an io thread's completion handler");
        }
      }
    });
  }
  EV_LOG(kInfo, "listening",
         {{"host", s.options_.host}, {"port", static_cast<int>(s.port_)},
          {"io_threads", s.options_.io_threads}});
  return absl::OkStatus();
}

absl::Status CheckTlsFiles(const std::string& cert_file, const std::string& key_file) {
  TlsContextSource source(cert_file, key_file);
  return source.Init();
}

bool TlsHealthy(const std::string& host, uint16_t port, absl::Duration timeout) {
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  asio::ssl::stream<beast::tcp_stream> s(ioc, ctx);
  error_code ec;
  tcp::endpoint ep(asio::ip::make_address(host, ec), port);
  if (ec) return false;
  beast::get_lowest_layer(s).expires_after(absl::ToChronoNanoseconds(timeout));
  http::request<http::string_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, base::StrCat(host, ":", port));
  req.set(http::field::connection, "close");
  http::response<http::string_body> resp;
  beast::flat_buffer buf;
  bool ok = false;
  beast::get_lowest_layer(s).async_connect(ep, [&](error_code e) {
    if (e) return;
    s.async_handshake(asio::ssl::stream_base::client, [&](error_code e) {
      if (e) return;
      http::async_write(s, req, [&](error_code e, size_t) {
        if (e) return;
        http::async_read(s, buf, resp, [&](error_code e, size_t) {
          ok = !e && resp.result_int() == 200;
        });
      });
    });
  });
  ioc.run();
  return ok;
}

void HttpServer::Drain() { impl_->Drain(); }
uint16_t HttpServer::port() const { return impl_->port_; }
void HttpServer::SetReady(bool ready) { impl_->ready_.store(ready); }
Metrics& HttpServer::metrics() { return *impl_->metrics_; }

}  // namespace edgevault::net
