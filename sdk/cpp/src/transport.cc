#include "sdk/cpp/src/transport.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/openssl_error.h"

namespace edgevault::sdk::internal {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kSlice{100};
constexpr size_t kMaxHeadBytes = 64 << 10;
constexpr size_t kMaxChunkLine = 4096;

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

std::string_view StripSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (base::EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

bool Stopping(const GetOptions& o) { return o.stopping && o.stopping(); }

// Waits for `events` on `fd` in slices; OK when ready.
absl::Status WaitFd(int fd, short events, Clock::time_point deadline, const GetOptions& o,
                    std::string_view what) {
  for (;;) {
    if (Stopping(o)) return absl::CancelledError("the client is stopping");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError(base::StrCat(what, " timed out"));
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min(left, kSlice).count()));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return absl::UnavailableError(base::StrCat("poll: ", std::strerror(errno)));
  }
}

absl::StatusOr<int> Connect(const BaseUrl& base, const GetOptions& o) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(base.port);
  if (int rc = ::getaddrinfo(base.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(base::StrCat("cannot resolve ", base.host, ": ", ::gai_strerror(rc)));
  }
  absl::Status last = absl::UnavailableError("no address for " + base.host);
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = absl::UnavailableError(base::StrCat("connect to ", base.host, ":", base.port, ": ",
                                                 std::strerror(errno)));
      ::close(fd);
      continue;
    }
    absl::Status w = WaitFd(fd, POLLOUT, Clock::now() + o.connect_timeout, o, "connect");
    int err = 0;
    socklen_t len = sizeof err;
    if (w.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last = w.ok() ? absl::UnavailableError(base::StrCat("connect to ", base.host, ":", base.port, ": ",
                                                        std::strerror(err)))
                  : w;
    ::close(fd);
    if (absl::IsCancelled(last)) break;
  }
  ::freeaddrinfo(res);
  return last;
}

// A connected socket, with TLS on top for https://. Send and Recv wait in WaitFd's slices.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  ~Conn() {
    if (ssl_ != nullptr) ::SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // The TLS handshake, the certificate checked against `host` (an IP address against the
  // certificate's IP entries).
  absl::Status Handshake(const TlsContext& tls, const std::string& host, Clock::time_point deadline,
                         const GetOptions& o) {
    EV_ASSIGN_OR_RETURN(void* session, tls.NewSession(fd_, host));
    ssl_ = static_cast<SSL*>(session);
    for (;;) {
      ::ERR_clear_error();
      const int r = ::SSL_connect(ssl_);
      if (r == 1) return absl::OkStatus();
      const int err = ::SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        EV_RETURN_IF_ERROR(WaitFd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, o, "TLS handshake"));
        continue;
      }
      const bool refused = ::SSL_get_verify_result(ssl_) != X509_V_OK;
      return absl::UnavailableError(base::StrCat("TLS handshake with ", host, ": ",
                                                 crypto::TlsHandshakeFailure(ssl_, host),
                                                 refused ? "; set ClientOptions.tls_ca_file to the CA that issued it" : ""));
    }
  }

  absl::Status SendAll(std::string_view bytes, const std::function<Clock::time_point()>& deadline,
                       const GetOptions& o) {
    while (!bytes.empty()) {
      short wait = POLLOUT;
      if (ssl_ != nullptr) {
        ::ERR_clear_error();
        const int r = ::SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 30)));
        if (r > 0) {
          bytes.remove_prefix(static_cast<size_t>(r));
          continue;
        }
        const int err = ::SSL_get_error(ssl_, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          return absl::UnavailableError("TLS send: " + crypto::OpenSslErrorString());
        }
        if (err == SSL_ERROR_WANT_READ) wait = POLLIN;
      } else {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
          bytes.remove_prefix(static_cast<size_t>(n));
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return absl::UnavailableError(base::StrCat("send: ", std::strerror(errno)));
        }
      }
      EV_RETURN_IF_ERROR(WaitFd(fd_, wait, deadline(), o, "send"));
    }
    return absl::OkStatus();
  }

  // Some bytes (> 0), or 0 at the end of the stream.
  absl::StatusOr<size_t> Recv(char* buf, size_t size, const std::function<Clock::time_point()>& deadline,
                              const GetOptions& o) {
    for (;;) {
      short wait = POLLIN;
      if (ssl_ != nullptr) {
        if (::SSL_pending(ssl_) == 0) EV_RETURN_IF_ERROR(WaitFd(fd_, POLLIN, deadline(), o, "reading the response"));
        ::ERR_clear_error();
        const int r = ::SSL_read(ssl_, buf, static_cast<int>(size));
        if (r > 0) return static_cast<size_t>(r);
        const int err = ::SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err == SSL_ERROR_WANT_READ) continue;
        if (err != SSL_ERROR_WANT_WRITE) return absl::UnavailableError("TLS receive: " + crypto::OpenSslErrorString());
        wait = POLLOUT;
      } else {
        EV_RETURN_IF_ERROR(WaitFd(fd_, POLLIN, deadline(), o, "reading the response"));
        ssize_t n = ::recv(fd_, buf, size, 0);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return absl::UnavailableError(base::StrCat("recv: ", std::strerror(errno)));
      }
      EV_RETURN_IF_ERROR(WaitFd(fd_, wait, deadline(), o, "reading the response"));
    }
  }

 private:
  const int fd_;
  SSL* ssl_ = nullptr;
};

}  // namespace

absl::StatusOr<bool> ChunkedDecoder::Feed(std::string_view in, const std::function<bool(std::string_view)>& out,
                                        bool* stop) {
  buf_.append(in);
  size_t pos = 0;
  for (;;) {
    if (state_ == kData) {
      size_t n = std::min<size_t>(remaining_, buf_.size() - pos);
      if (n > 0 && !out(std::string_view(buf_).substr(pos, n))) *stop = true;
      pos += n;
      remaining_ -= n;
      if (*stop) break;
      if (remaining_ > 0) break;
      state_ = kDataEnd;
    }
    size_t eol = buf_.find("\r\n", pos);
    if (eol == std::string::npos) {
      // The line may still end in a CR whose LF has not arrived.
      if (buf_.size() - pos > kMaxChunkLine + 1) return absl::InternalError("chunk line too long");
      break;
    }
    if (eol - pos > kMaxChunkLine) return absl::InternalError("chunk line too long");
    std::string_view line(buf_.data() + pos, eol - pos);
    pos = eol + 2;
    if (state_ == kDataEnd) {
      if (!line.empty()) return absl::InternalError("chunk data not followed by CRLF");
      state_ = kSize;
    } else if (state_ == kSize) {
      line = line.substr(0, line.find(';'));
      uint64_t size = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (ec != std::errc() || p != line.data() + line.size() || line.empty()) {
        return absl::InternalError("bad chunk size");
      }
      if (size == 0) {
        state_ = kTrailer;
      } else {
        remaining_ = size;
        state_ = kData;
      }
    } else if (state_ == kTrailer) {
      if (line.empty()) {
        buf_.clear();
        return true;
      }
    }
  }
  buf_.erase(0, pos);
  return false;
}

absl::StatusOr<BaseUrl> ParseBaseUrl(std::string_view url) {
  BaseUrl out;
  std::string_view rest;
  if (base::EqualsIgnoreCase(url.substr(0, 8), "https://")) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (base::EqualsIgnoreCase(url.substr(0, 7), "http://")) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError(base::StrCat("base_url '", url, "' must start with http:// or https://"));
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.find_first_of("?# ") != std::string_view::npos) {
    return absl::InvalidArgumentError("base_url must not carry a query, fragment or space");
  }
  out.prefix = std::string(path);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("base_url: bad IPv6 host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return absl::InvalidArgumentError("base_url: bad port");
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(base::StrCat("base_url '", url, "' has no host"));
  }
  out.host = std::string(host);
  if (!port.empty()) {
    uint32_t p = 0;
    if (!ParseNumber(port, &p) || p == 0 || p > 65535) {
      return absl::InvalidArgumentError(base::StrCat("base_url '", url, "' has a bad port"));
    }
    out.port = static_cast<uint16_t>(p);
  }
  return out;
}

std::optional<std::string_view> ResponseHead::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (base::EqualsIgnoreCase(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

absl::Status Get(const BaseUrl& base, std::string_view target,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const GetOptions& options, const std::function<bool(const ResponseHead&)>& on_head,
                 const std::function<bool(std::string_view)>& on_body) {
  for (const auto& [n, v] : headers) {
    if (n.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError("header with CR, LF or ':' in its name");
    }
  }
  if (base.tls && options.tls == nullptr) {
    return absl::FailedPreconditionError("an https:// base URL needs GetOptions.tls");
  }
  const Clock::time_point start = Clock::now();
  absl::StatusOr<int> connected = Connect(base, options);
  if (!connected.ok()) return connected.status();
  Conn conn(*connected);
  if (base.tls) {
    EV_RETURN_IF_ERROR(conn.Handshake(*options.tls, base.host, Clock::now() + options.connect_timeout, options));
  }

  std::string request = base::StrCat("GET ", base.prefix, target, " HTTP/1.1\r\nHost: ", base.host, ":",
                                     base.port, "\r\n");
  for (const auto& [n, v] : headers) base::StrAppend(&request, n, ": ", v, "\r\n");
  request += "Connection: close\r\n\r\n";
  auto deadline_for_idle = [&] {
    Clock::time_point idle = Clock::now() + options.idle_timeout;
    if (options.total_timeout.count() > 0) idle = std::min(idle, start + options.total_timeout);
    return idle;
  };
  EV_RETURN_IF_ERROR(conn.SendAll(request, deadline_for_idle, options));

  std::string head_buf;
  bool head_done = false;
  enum class BodyMode { kNone, kLength, kChunked, kClose } mode = BodyMode::kClose;
  uint64_t length_left = 0;
  uint64_t body_bytes = 0;
  ChunkedDecoder chunked;
  char buf[16384];
  auto deliver = [&](std::string_view piece, bool* stop) -> absl::Status {
    body_bytes += piece.size();
    if (body_bytes > options.max_body_bytes) {
      return absl::ResourceExhaustedError(
          base::StrCat("response body larger than ", options.max_body_bytes, " bytes"));
    }
    if (!on_body(piece)) *stop = true;
    return absl::OkStatus();
  };
  // Handles body bytes; true when the body is complete or a callback asked to stop.
  auto body = [&](std::string_view in) -> absl::StatusOr<bool> {
    bool stop = false;
    absl::Status st = absl::OkStatus();
    switch (mode) {
      case BodyMode::kNone:
        return true;
      case BodyMode::kLength: {
        size_t n = std::min<uint64_t>(length_left, in.size());
        if (n > 0) st = deliver(in.substr(0, n), &stop);
        length_left -= n;
        if (!st.ok()) return st;
        return stop || length_left == 0;
      }
      case BodyMode::kClose:
        if (!in.empty()) st = deliver(in, &stop);
        if (!st.ok()) return st;
        return stop;
      case BodyMode::kChunked: {
        absl::StatusOr<bool> done = chunked.Feed(
            in,
            [&](std::string_view piece) {
              if (!st.ok()) return false;
              st = deliver(piece, &stop);
              return st.ok() && !stop;
            },
            &stop);
        if (!st.ok()) return st;
        if (!done.ok()) return done.status();
        return *done || stop;
      }
    }
    return true;
  };

  for (;;) {
    EV_ASSIGN_OR_RETURN(size_t n, conn.Recv(buf, sizeof buf, deadline_for_idle, options));
    if (n == 0) {
      if (head_done && mode == BodyMode::kClose) return absl::OkStatus();
      return absl::UnavailableError("the connection closed before the response ended");
    }
    std::string_view in(buf, static_cast<size_t>(n));
    if (!head_done) {
      head_buf.append(in);
      size_t end = head_buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (head_buf.size() > kMaxHeadBytes) return absl::ResourceExhaustedError("response head too large");
        continue;
      }
      ResponseHead head;
      std::string_view text(head_buf.data(), end);
      size_t eol = text.find("\r\n");
      std::string_view status_line = text.substr(0, eol);
      if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 ||
          !ParseNumber(status_line.substr(9, 3), &head.status)) {
        return absl::InternalError("not an HTTP/1.x response");
      }
      while (eol != std::string_view::npos) {
        text = text.substr(eol + 2);
        eol = text.find("\r\n");
        std::string_view line = text.substr(0, eol);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return absl::InternalError("bad response header line");
        head.headers.emplace_back(std::string(line.substr(0, colon)),
                                  std::string(StripSpaces(line.substr(colon + 1))));
      }
      std::optional<std::string_view> te = head.Header("Transfer-Encoding");
      std::optional<std::string_view> cl = head.Header("Content-Length");
      if (head.status == 304 || head.status == 204 || (head.status >= 100 && head.status < 200)) {
        mode = BodyMode::kNone;
      } else if (te && ContainsIgnoreCase(*te, "chunked")) {
        mode = BodyMode::kChunked;
      } else if (cl) {
        if (!ParseNumber(*cl, &length_left)) return absl::InternalError("bad Content-Length");
        mode = length_left == 0 ? BodyMode::kNone : BodyMode::kLength;
      }
      head_done = true;
      if (!on_head(head)) return absl::OkStatus();
      if (mode == BodyMode::kNone) return absl::OkStatus();
      std::string rest = head_buf.substr(end + 4);
      head_buf.clear();
      absl::StatusOr<bool> done = body(rest);
      if (!done.ok()) return done.status();
      if (*done) return absl::OkStatus();
      continue;
    }
    absl::StatusOr<bool> done = body(in);
    if (!done.ok()) return done.status();
    if (*done) return absl::OkStatus();
  }
}

absl::Status SseParser::Feed(std::string_view bytes, const std::function<void(SseEvent)>& on_event) {
  // Bounds that do not depend on how the bytes were split: a line (comments included) may
  // not exceed the event bound plus a field name, nor an event's data the bound.
  auto too_large = [&] {
    pending_.clear();
    event_ = SseEvent();
    has_data_ = false;
    skip_lf_ = false;
    return absl::InvalidArgumentError(base::StrCat("a stream event is larger than ", max_event_bytes_, " bytes"));
  };
  size_t pos = 0;
  if (skip_lf_ && !bytes.empty() && bytes.front() == '\n') pos = 1;
  if (!bytes.empty()) skip_lf_ = false;
  while (pos < bytes.size()) {
    size_t eol = bytes.find_first_of("\r\n", pos);
    std::string_view part = bytes.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (pending_.size() + part.size() > max_event_bytes_ + kMaxFieldSlack) return too_large();
    pending_.append(part);
    if (eol == std::string_view::npos) break;
    Line(pending_, on_event);
    pending_.clear();
    if (event_.data.size() > max_event_bytes_) return too_large();
    if (bytes[eol] == '\r') {
      if (eol + 1 < bytes.size()) {
        if (bytes[eol + 1] == '\n') ++eol;
      } else {
        skip_lf_ = true;
      }
    }
    pos = eol + 1;
  }
  return absl::OkStatus();
}

void SseParser::Line(std::string_view line, const std::function<void(SseEvent)>& on_event) {
  if (line.empty()) {
    if (has_data_) on_event(std::move(event_));
    event_ = SseEvent();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment (heartbeat)
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) event_.data += '\n';
    event_.data.append(value);
    has_data_ = true;
  } else if (field == "id") {
    event_.id = std::string(value);
  } else if (field == "event") {
    event_.event = std::string(value);
  }
}

}  // namespace edgevault::sdk::internal
