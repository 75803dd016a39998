#include "src/net/http_client.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <future>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Request = http::request<http::string_body>;
using Result = absl::StatusOr<ClientResponse>;

constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;

// RFC 9110 tchar.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsValidTarget(std::string_view s) {
  if (s.empty() || s.front() != '/') return false;
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

bool IsValidFieldValue(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

// Capped so that now() + d cannot overflow for absl::InfiniteDuration().
Clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::min(d, absl::Hours(24 * 365)));
}

// The server closed or reset the connection before answering: the signature of a
// pooled connection that the server timed out just as we reused it.
bool IsClosedByPeer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

// An idle pooled socket must have nothing to read: readable means EOF, an error, or
// bytes nobody asked for. Any of those makes it unusable.
bool IdleSocketLooksOpen(int fd) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// A TCP connection, plain or wrapped in TLS (`tls` non-null). Timeouts are set on the TCP
// layer either way; reads and writes go through With().
struct Connection {
  Connection(asio::io_context& ioc, asio::ssl::context* tls) {
    if (tls != nullptr) {
      secure.emplace(ioc, *tls);
    } else {
      plain.emplace(ioc);
    }
  }
  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  template <class F>
  void With(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
};

}  // namespace

std::optional<std::string_view> ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (base::EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

struct HttpClient::Impl {
  explicit Impl(HttpClientOptions opts)
      : options(opts), env(opts.env != nullptr ? opts.env : base::Env::Default()) {}

  // Pops a usable idle connection to `key`, closing dead ones on the way. I/O thread only.
  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& conns = it->second;
    while (!conns.empty()) {
      std::unique_ptr<Connection> conn = std::move(conns.back());
      conns.pop_back();
      if (IdleSocketLooksOpen(conn->tcp().socket().native_handle())) return conn;
    }
    return nullptr;
  }

  // I/O thread only.
  void ReturnIdle(const std::string& key, std::unique_ptr<Connection> conn) {
    auto& conns = idle[key];
    if (conns.size() >= options.max_idle_per_host) return;  // closes `conn`
    conn->tcp().expires_never();
    conns.push_back(std::move(conn));
  }

  const HttpClientOptions options;
  base::Env* const env;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  // Set when options.tls.enabled, before the I/O thread starts; read-only afterwards.
  std::optional<asio::ssl::context> tls_context;
  // Idle keep-alive connections by "host:port". I/O thread only; declared after `ioc`
  // so that the sockets close before the io_context goes away.
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::thread thread;
};

namespace {

// One Do() call, living on the I/O thread. Every asynchronous step holds a shared_ptr to
// it; the caller waits on `promise_`. If the call is dropped without an answer (an
// exception escaped a handler, the client was destroyed), the broken promise tells the
// caller.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(HttpClient::Impl* impl, std::string host, uint16_t port, Scheme scheme, Request request,
       std::promise<Result> promise)
      : impl_(impl),
        host_(std::move(host)),
        port_(port),
        tls_(scheme == Scheme::kHttps),
        endpoint_name_(base::StrCat(host_, ":", port_)),
        pool_key_(base::StrCat(tls_ ? "https://" : "http://", endpoint_name_)),
        request_(std::move(request)),
        promise_(std::move(promise)),
        idempotent_(IsIdempotent(request_.method_string())),
        deadline_(Clock::now() + ToChrono(impl->options.request_timeout)) {}

  void Start() {
    conn_ = impl_->TakeIdle(pool_key_);
    if (conn_ != nullptr) {
      reused_ = true;
      Send();
    } else {
      Connect();
    }
  }

 private:
  void Connect() {
    reused_ = false;
    connect_deadline_ =
        std::min(deadline_, Clock::now() + ToChrono(impl_->options.connect_timeout));
    beast::error_code ec;
    asio::ip::address address = asio::ip::make_address(host_, ec);
    if (!ec) {
      endpoints_ = {tcp::endpoint(address, port_)};
      ConnectTo(0);
      return;
    }
    // getaddrinfo cannot be interrupted, so the timer answers the caller on time and the
    // resolver's late completion is ignored. `attempt` tells a stale completion (from
    // before a retry) from the current one.
    const uint64_t attempt = ++resolve_attempt_;
    endpoints_.clear();
    resolver_.emplace(impl_->ioc);
    resolve_timer_.emplace(impl_->ioc);
    resolve_timer_->expires_at(connect_deadline_);
    resolve_timer_->async_wait([self = shared_from_this(), attempt](beast::error_code timer_ec) {
      if (timer_ec || self->done_ || attempt != self->resolve_attempt_ || !self->resolving_) {
        return;
      }
      self->resolving_ = false;
      self->resolver_->cancel();
      self->Fail(absl::DeadlineExceededError(
          base::StrCat("resolving ", self->host_, " timed out after ", self->ConnectLimitText())));
    });
    resolving_ = true;
    resolver_->async_resolve(
        host_, std::to_string(port_),
        [self = shared_from_this(), attempt](beast::error_code resolve_ec,
                                             tcp::resolver::results_type results) {
          if (self->done_ || attempt != self->resolve_attempt_ || !self->resolving_) return;
          self->resolving_ = false;
          self->resolve_timer_->cancel();
          if (resolve_ec) {
            self->Fail(absl::UnavailableError(
                base::StrCat("resolving ", self->host_, ": ", resolve_ec.message())));
            return;
          }
          for (const auto& entry : results) self->endpoints_.push_back(entry.endpoint());
          self->ConnectTo(0);
        });
  }

  void ConnectTo(size_t index) {
    if (index >= endpoints_.size()) {
      Fail(absl::UnavailableError(
          base::StrCat("connecting to ", endpoint_name_, ": ",
                       last_connect_error_ ? last_connect_error_.message() : "no address")));
      return;
    }
    conn_ = std::make_unique<Connection>(impl_->ioc, tls_ ? &*impl_->tls_context : nullptr);
    auto& socket = conn_->tcp().socket();
    beast::error_code ec;
    socket.open(endpoints_[index].protocol(), ec);
    if (ec) {
      last_connect_error_ = ec;
      ConnectTo(index + 1);
      return;
    }
    // Keep pooled sockets out of child processes (`edgevault up` spawns services).
    ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    conn_->tcp().expires_at(connect_deadline_);
    conn_->tcp().async_connect(endpoints_[index],
                                [self = shared_from_this(), index](beast::error_code connect_ec) {
                                  self->OnConnected(connect_ec, index);
                                });
  }

  void OnConnected(beast::error_code ec, size_t index) {
    if (ec == beast::error::timeout) {
      Fail(absl::DeadlineExceededError(
          base::StrCat("connecting to ", endpoint_name_, " timed out after ", ConnectLimitText())));
      return;
    }
    if (ec) {
      last_connect_error_ = ec;
      ConnectTo(index + 1);
      return;
    }
    beast::error_code ignored;
    conn_->tcp().socket().set_option(tcp::no_delay(true), ignored);
    if (tls_) return Handshake();
    Send();
  }

  // TLS: SNI for a name, and the certificate must be valid for the name or IP address
  // called (checked by OpenSSL during the handshake, with the chain).
  void Handshake() {
    SSL* ssl = conn_->secure->native_handle();
    beast::error_code not_ip;
    asio::ip::make_address(host_, not_ip);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int set = 0;
    if (not_ip) {
      set = X509_VERIFY_PARAM_set1_host(param, host_.data(), host_.size());
      if (set == 1) set = static_cast<int>(SSL_set_tlsext_host_name(ssl, host_.c_str()));
    } else {
      set = X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str());
    }
    if (set != 1) {
      return Fail(absl::InvalidArgumentError(base::StrCat("cannot verify a TLS certificate for host \"",
                                                          absl::CEscape(host_), "\"")));
    }
    conn_->tcp().expires_at(deadline_);
    conn_->secure->async_handshake(asio::ssl::stream_base::client,
                                   [self = shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
  }

  void OnHandshake(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      return Fail(absl::DeadlineExceededError(
          base::StrCat("TLS handshake with ", endpoint_name_, ": no answer within request_timeout (",
                       absl::FormatDuration(impl_->options.request_timeout), ")")));
    }
    if (ec) {
      const long verify = SSL_get_verify_result(conn_->secure->native_handle());
      if (verify != X509_V_OK) {
        return Fail(base::WithErrorCode(
            absl::UnavailableError(base::StrCat("TLS certificate of ", endpoint_name_, " not accepted: ",
                                                X509_verify_cert_error_string(verify))),
            "tls_certificate"));
      }
      return Fail(absl::UnavailableError(base::StrCat("TLS handshake with ", endpoint_name_, " failed: ", ec.message())));
    }
    Send();
  }

  void Send() {
    if (impl_->options.credential != nullptr) {
      // Signed per attempt: a retry must not reuse a nonce the server may have recorded.
      SignedHeaders h = Sign(*impl_->options.credential, impl_->options.audience,
                             request_.method_string(), request_.target(), request_.body(),
                             impl_->env->Now(), impl_->env);
      request_.set(kCallerHeader, h.caller);
      request_.set(kTimestampHeader, h.timestamp);
      request_.set(kNonceHeader, h.nonce);
      request_.set(kSignatureHeader, h.signature);
    }
    conn_->tcp().expires_at(deadline_);
    conn_->With([&](auto& stream) {
      http::async_write(stream, request_,
                        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWritten(ec); });
    });
  }

  void OnWritten(beast::error_code ec) {
    if (ec) {
      if (MayRetry(ec)) return Retry();
      return Fail(ErrorStatus(ec, "sending request to"));
    }
    Receive();
  }

  void Receive() {
    parser_.emplace();
    parser_->body_limit(impl_->options.max_response_body_bytes);
    parser_->header_limit(kMaxResponseHeaderBytes);
    // A HEAD response announces a body length but carries no body.
    if (request_.method() == http::verb::head) parser_->skip(true);
    conn_->With([&](auto& stream) {
      http::async_read(stream, conn_->buffer, *parser_,
                       [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
    });
  }

  void OnRead(beast::error_code ec) {
    // A TLS server that closes without close_notify after a response framed by the close:
    // the response ends there, as it would on a plain TCP close.
    if (ec == asio::ssl::error::stream_truncated && parser_->got_some() && !parser_->is_done()) {
      beast::error_code eof_ec;
      parser_->put_eof(eof_ec);
      if (!eof_ec && parser_->is_done()) ec = {};
    }
    if (ec) {
      if (MayRetry(ec)) return Retry();
      return Fail(ErrorStatus(ec, "reading response from"));
    }
    auto& message = parser_->get();
    const int status = static_cast<int>(message.result_int());
    if (status >= 100 && status < 200 && status != 101) return Receive();  // interim response

    ClientResponse response;
    response.status = status;
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    const bool reusable =
        message.keep_alive() && !parser_->need_eof() && status != 101 && conn_->buffer.size() == 0;
    response.body = std::move(message.body());
    if (reusable) impl_->ReturnIdle(pool_key_, std::move(conn_));
    Finish(std::move(response));
  }

  // A reused connection that failed before any response byte arrived was most likely
  // closed by the server while idle; the request is resent once if that is safe.
  bool MayRetry(const beast::error_code& ec) const {
    return reused_ && !retried_ && idempotent_ && IsClosedByPeer(ec) &&
           (!parser_.has_value() || !parser_->got_some()) && conn_->buffer.size() == 0;
  }

  void Retry() {
    retried_ = true;
    conn_.reset();
    parser_.reset();
    Connect();
  }

  absl::Status ErrorStatus(const beast::error_code& ec, std::string_view doing) const {
    const std::string where = base::StrCat(doing, " ", endpoint_name_);
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(
          base::StrCat(where, ": no complete response within request_timeout (",
                       absl::FormatDuration(impl_->options.request_timeout), ")"));
    }
    if (ec == http::error::body_limit) {
      return absl::ResourceExhaustedError(
          base::StrCat(where, ": response body exceeds max_response_body_bytes (",
                       impl_->options.max_response_body_bytes, ")"));
    }
    if (ec == http::error::header_limit) {
      return absl::ResourceExhaustedError(
          base::StrCat(where, ": response header exceeds ", kMaxResponseHeaderBytes, " bytes"));
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return absl::UnavailableError(
          base::StrCat(where, ": connection closed before the response was complete"));
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      return absl::InternalError(base::StrCat(where, ": malformed HTTP response: ", ec.message()));
    }
    return absl::UnavailableError(base::StrCat(where, ": ", ec.message()));
  }

  std::string ConnectLimitText() const {
    const absl::Duration connect = impl_->options.connect_timeout;
    return connect < impl_->options.request_timeout
               ? base::StrCat("connect_timeout (", absl::FormatDuration(connect), ")")
               : base::StrCat("request_timeout (",
                              absl::FormatDuration(impl_->options.request_timeout), ")");
  }

  void Fail(absl::Status status) {
    conn_.reset();  // its state is unknown: never pool it
    Finish(std::move(status));
  }

  void Finish(Result result) {
    if (done_) return;
    done_ = true;
    promise_.set_value(std::move(result));
  }

  HttpClient::Impl* const impl_;
  const std::string host_;
  const uint16_t port_;
  const bool tls_;
  const std::string endpoint_name_;  // "host:port"
  const std::string pool_key_;       // "http://host:port" or "https://host:port"
  Request request_;
  std::promise<Result> promise_;
  const bool idempotent_;
  const Clock::time_point deadline_;

  bool done_ = false;
  bool reused_ = false;
  bool retried_ = false;
  Clock::time_point connect_deadline_;
  bool resolving_ = false;
  uint64_t resolve_attempt_ = 0;
  std::optional<tcp::resolver> resolver_;
  std::optional<asio::steady_timer> resolve_timer_;
  std::vector<tcp::endpoint> endpoints_;
  beast::error_code last_connect_error_;
  std::unique_ptr<Connection> conn_;
  std::optional<http::response_parser<http::string_body>> parser_;
};

absl::StatusOr<Request> BuildRequest(std::string_view host, uint16_t port,
                                     const ClientRequest& in) {
  if (!IsToken(in.method)) {
    return absl::InvalidArgumentError(
        base::StrCat("invalid HTTP method \"", absl::CEscape(in.method), "\""));
  }
  if (!IsValidTarget(in.target)) {
    return absl::InvalidArgumentError(
        base::StrCat("invalid request target \"", absl::CEscape(in.target),
                     "\": want a path starting with '/' without spaces or control characters"));
  }
  Request out;
  try {
    out.version(11);
    out.method_string(in.method);
    out.target(in.target);
    bool has_host = false;
    for (const auto& [name, value] : in.headers) {
      if (!IsToken(name) || !IsValidFieldValue(value)) {
        return absl::InvalidArgumentError(
            base::StrCat("invalid header field \"", absl::CEscape(name), "\""));
      }
      if (base::EqualsIgnoreCase(name, "content-length") ||
          base::EqualsIgnoreCase(name, "transfer-encoding")) {
        return absl::InvalidArgumentError(
            base::StrCat("header ", name, " is computed from the body; do not set it"));
      }
      has_host = has_host || base::EqualsIgnoreCase(name, "host");
      out.insert(name, value);
    }
    if (!has_host) {
      beast::error_code ec;
      auto address = asio::ip::make_address(std::string(host), ec);
      out.set(http::field::host, !ec && address.is_v6() ? base::StrCat("[", host, "]:", port)
                                                        : base::StrCat(host, ":", port));
    }
    out.body() = in.body;
    out.prepare_payload();
  } catch (const std::exception& e) {  // Beast rejects e.g. a TRACE with a body by throwing
    return absl::InvalidArgumentError(base::StrCat("invalid request: ", e.what()));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HttpClientOptions: timeouts must be positive");
  }
  if (options.max_response_body_bytes == 0) {
    return absl::InvalidArgumentError("HttpClientOptions: max_response_body_bytes must be > 0");
  }
  if (options.tls.enabled && !options.tls.system_trust && options.tls.ca_file.empty()) {
    return absl::InvalidArgumentError("HttpClientOptions: TLS needs the system trust store or a CA file");
  }
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(options);
    if (options.tls.enabled) {
      asio::ssl::context& ctx = impl->tls_context.emplace(asio::ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      beast::error_code ec;
      if (options.tls.system_trust) {
        ctx.set_default_verify_paths(ec);
        if (ec) return absl::InternalError(base::StrCat("loading the system trust store: ", ec.message()));
      }
      if (!options.tls.ca_file.empty()) {
        ctx.load_verify_file(options.tls.ca_file, ec);
        if (ec) {
          return absl::InvalidArgumentError(base::StrCat("TLS CA file ", options.tls.ca_file,
                                                         ": cannot be loaded (", ec.message(),
                                                         "); it must be readable and hold PEM certificates"));
        }
      }
    }
    Impl* raw = impl.get();
    impl->thread = std::thread([raw] {
      for (;;) {
        try {
          raw->ioc.run();
          return;
        } catch (const std::exception& e) {
          // The call whose handler threw answers its caller through the broken promise.
          EV_LOG(kError, "http client: exception escaped an I/O handler", {{"what", e.what()}});
        }
      }
    });
  } catch (const std::exception& e) {
    return absl::InternalError(base::StrCat("starting the HTTP client: ", e.what()));
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() {
  impl_->ioc.stop();
  impl_->thread.join();
  impl_->idle.clear();
}

absl::StatusOr<ClientResponse> HttpClient::Do(std::string_view host, uint16_t port,
                                              const ClientRequest& request, Scheme scheme) {
  if (scheme == Scheme::kHttps && !impl_->tls_context) {
    return absl::FailedPreconditionError("HttpClient: https is not enabled for this client (HttpClientOptions::tls)");
  }
  if (impl_->ioc.get_executor().running_in_this_thread()) {
    return absl::FailedPreconditionError(
        "HttpClient::Do called on the client's own I/O thread; it would wait forever");
  }
  EV_ASSIGN_OR_RETURN(Request message, BuildRequest(host, port, request));
  try {
    std::promise<Result> promise;
    std::future<Result> answer = promise.get_future();
    auto call = std::make_shared<Call>(impl_.get(), std::string(host), port, scheme, std::move(message),
                                       std::move(promise));
    asio::post(impl_->ioc, [call = std::move(call)] { call->Start(); });
    return answer.get();
  } catch (const std::future_error&) {
    return absl::InternalError(
        base::StrCat("request to ", host, ":", port, " was abandoned by the I/O thread"));
  } catch (const std::exception& e) {
    return absl::InternalError(base::StrCat("request to ", host, ":", port, ": ", e.what()));
  }
}

}  // namespace edgevault::net
