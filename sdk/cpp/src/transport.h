#pragma once
// The SDK's HTTP/1.1 transport: GETs over a POSIX socket (TLS through OpenSSL for https://)
// whose body arrives in
// pieces (a whole GET /v1/config, or GET /v1/stream read as it comes), and the incremental
// Server-Sent Events parser. Everything waits in poll() slices of at most 100 ms and asks
// `stopping` between them, so the client's destructor never waits on the network.
// Thread-safety: functions keep no state; an SseParser belongs to one reader.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/crypto/tls_client.h"

namespace edgevault::sdk::internal {

struct BaseUrl {
  bool tls = false;  // https://
  std::string host;
  uint16_t port = 80;  // 443 for https:// without a port
  std::string prefix;  // "" or "/path" without a trailing '/'
};
// "http[s]://host[:port][/prefix]". InvalidArgument otherwise.
absl::StatusOr<BaseUrl> ParseBaseUrl(std::string_view url);

// The OpenSSL client context of https:// base URLs (crypto/tls_client.h): TLS 1.2 at
// least, the server's certificate verified against a CA file (or the system's store) and
// the URL's host. Shared by every connection of a client.
using TlsContext = crypto::TlsClientContext;

struct ResponseHead {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct GetOptions {
  std::chrono::milliseconds connect_timeout{2000};
  // No byte for this long fails the call (DeadlineExceeded).
  std::chrono::milliseconds idle_timeout{10000};
  // Total time limit; zero = none (streams).
  std::chrono::milliseconds total_timeout{0};
  size_t max_body_bytes = 16u << 20;
  std::function<bool()> stopping;  // true: give up at once (Cancelled)
  const TlsContext* tls = nullptr;  // required for an https:// base (FailedPrecondition)
};

// Sends GET `target` with `headers` and calls `on_head` once with the status and headers,
// then `on_body` with each decoded piece of the body (chunked or Content-Length or until
// close). A callback returning false ends the call with OK. Returns OK when the body ended;
// Unavailable (connect, reset, early close, a TLS handshake that fails or a certificate that
// is not trusted for the host, named in the message), DeadlineExceeded, ResourceExhausted
// (body too large), Internal (not HTTP/1.1), Cancelled (`stopping`).
absl::Status Get(const BaseUrl& base, std::string_view target,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 const GetOptions& options, const std::function<bool(const ResponseHead&)>& on_head,
                 const std::function<bool(std::string_view)>& on_body);

// Decodes a chunked HTTP/1.1 body as it arrives (any split of the bytes gives the same
// output). Chunk-size lines and trailers are bounded at 4 KiB.
class ChunkedDecoder {
 public:
  // Appends `in` and passes decoded data to `out` (which returns false to stop: *stop is
  // then set and the rest is not decoded). Returns true when the last chunk and the
  // trailers were read. Internal for a malformed body (bad size, missing CRLF, long line).
  absl::StatusOr<bool> Feed(std::string_view in, const std::function<bool(std::string_view)>& out, bool* stop);

 private:
  enum State { kSize, kData, kDataEnd, kTrailer };
  State state_ = kSize;
  uint64_t remaining_ = 0;
  std::string buf_;
};

struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};

// Feeds text/event-stream bytes; returns each complete event (comments and retry fields
// are dropped). `max_event_bytes` bounds one event's data (and one line, plus a little for
// the field name): more is an error, whatever the split of the bytes.
class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}
  // InvalidArgument when an event grows past the bound.
  absl::Status Feed(std::string_view bytes, const std::function<void(SseEvent)>& on_event);

 private:
  static constexpr size_t kMaxFieldSlack = 64;  // room for "data: " and the like on a line
  void Line(std::string_view line, const std::function<void(SseEvent)>& on_event);
  size_t max_event_bytes_;
  std::string pending_;  // an unfinished line
  bool skip_lf_ = false;  // the previous chunk ended in CR
  SseEvent event_;
  bool has_data_ = false;
};

}  // namespace edgevault::sdk::internal
