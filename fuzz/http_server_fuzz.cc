// Fuzzes net::HttpServer's request path (src/net/http_server.h) the way a client reaches
// it: the input is written as it is to a real server over a loopback TCP connection,
// the client half-closes, and everything the server sends back is read until it closes.
// The server (started once) has routes with path parameters, a rest parameter, query
// parameters, a JSON body route (ParseJsonBody), an async route, an SSE route and an
// internal-signed route, as the services do.
// Properties:
//   - the server never crashes, never hangs (it closes within the deadline after the
//     client's half-close), and never answers 5xx;
//   - what it sends is a well-framed sequence of HTTP/1.1 responses (status line,
//     headers, Content-Length or chunked body), each with Date and X-Request-Id; error
//     bodies are JSON; nothing follows a "Connection: close" response;
//   - input whose first byte cannot start a request line is answered 400.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "fuzz/fuzz_util.h"
#include "absl/strings/ascii.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/net/http_server.h"
#include "src/net/sse.h"
#include "src/services/common/http_json.h"

namespace edgevault::fuzz {
namespace {

net::HttpServer* g_server = nullptr;

net::Router MakeRouter() {
  net::Router r;
  r.Get("/v1/items/{id}", [](net::Request& req) {
    boost::json::object o{{"id", req.Param("id")}};
    if (std::optional<std::string> q = req.QueryParam("q")) o["q"] = *q;
    return services::JsonResponse(200, o);
  });
  r.Put("/v1/files/{path...}", [](net::Request& req) {
    return services::JsonResponse(200, boost::json::object{{"path", req.Param("path")},
                                                           {"bytes", req.body().size()}});
  });
  r.Post("/v1/echo", [](net::Request& req) {
    absl::StatusOr<boost::json::object> body = services::ParseJsonBody(req);
    if (!body.ok()) return services::ErrorResponse(body.status());
    return services::JsonResponse(201, *body);
  });
  r.Delete("/v1/items/{id}", [](net::Request&) { return net::Response::Json(204, ""); });
  r.AddAsync(boost::beast::http::verb::post, "/v1/async", [](net::Request& req, net::Responder done) {
    done(net::Response::Json(202, base::StrCat("{\"bytes\":", req.body().size(), "}")));
  });
  r.Get("/v1/stream", [](net::Request&) {
    net::Response resp;
    resp.sse = [](std::shared_ptr<net::SseStream> s) {
      s->Send({.id = "1", .event = "config", .data = "{\"a\":1}\nline2"});
      s->Close();
    };
    return resp;
  });
  net::RouteOptions internal;
  internal.internal_callers = {"api"};
  r.Add(boost::beast::http::verb::post, "/internal/v1/changed",
        [](net::Request&) { return net::Response::Json(200, "{}"); }, internal);
  return r;
}

bool IsTokenChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string Exchange(std::string_view input) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  FUZZ_CHECK(fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(g_server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
             std::string("connect: ") + strerror(errno));
  // Write and read at once: a server that answers early (431, 413) must not deadlock us.
  size_t sent = 0;
  bool half_closed = false;
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    if (sent == input.size() && !half_closed) {
      shutdown(fd, SHUT_WR);
      half_closed = true;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (half_closed ? 0 : POLLOUT)), 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    FUZZ_CHECK(left > 0 && poll(&p, 1, left) > 0, "the server neither answered nor closed");
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;  // EOF or reset: the server is done
      got.append(buf, static_cast<size_t>(n));
    }
    if (!half_closed && (p.revents & POLLOUT)) {
      ssize_t n = send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        half_closed = true;  // the server closed its side; read what it said
        sent = input.size();
      } else {
        sent += static_cast<size_t>(n);
      }
    }
  }
  close(fd);
  return got;
}

std::string Show(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 2000)) {
    if (c >= 0x20 && c < 0x7f) out.push_back(static_cast<char>(c));
    else out += c == '\n' ? "\\n\n" : c == '\r' ? "\\r" : "\\x" + base::HexEncode(std::string(1, char(c)));
  }
  return out;
}

struct Parsed {
  int status = 0;
  bool close = false;
};

// Parses one response at the front of `s` and removes it. `head_only`: the request was
// HEAD, so there is no body whatever Content-Length says.
Parsed ParseResponse(std::string_view* s, bool head_only, std::string_view all) {
  size_t end = s->find("\r\n\r\n");
  FUZZ_CHECK(end != std::string_view::npos, "response without a complete head:\n" + Show(all));
  std::string_view head = s->substr(0, end + 2);
  s->remove_prefix(end + 4);
  FUZZ_CHECK(head.substr(0, 9) == "HTTP/1.1 " && head.size() > 12, "bad status line:\n" + Show(all));
  Parsed p;
  p.status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
  FUZZ_CHECK(p.status >= 100 && p.status <= 599, "bad status:\n" + Show(all));
  bool has_date = false, has_id = false, chunked = false, json = false;
  size_t length = 0;
  bool has_length = false;
  size_t line_end = head.find("\r\n");
  for (size_t pos = line_end + 2; pos < head.size();) {
    size_t e = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(": ");
    FUZZ_CHECK(colon != std::string_view::npos, "bad header line:\n" + Show(all));
    std::string name(line.substr(0, colon));
    for (char& ch : name) ch = absl::ascii_tolower(static_cast<unsigned char>(ch));
    std::string_view value = line.substr(colon + 2);
    if (name == "date") has_date = true;
    if (name == "x-request-id") has_id = true;
    if (name == "transfer-encoding") chunked = value == "chunked";
    if (name == "connection") p.close = value == "close";
    if (name == "content-type") json = value == "application/json";
    if (name == "content-length") {
      has_length = true;
      length = std::stoul(std::string(value));
    }
  }
  if (p.status == 100) return p;  // interim: no headers of ours required
  FUZZ_CHECK(has_date && has_id, "response without Date or X-Request-Id:\n" + Show(all));
  std::string body;
  if (chunked) {
    // An event stream: the server ends it when it sees the client's half-close, so it may
    // stop between chunks; what it sent must still be whole chunks.
    while (!s->empty()) {
      size_t e = s->find("\r\n");
      FUZZ_CHECK(e != std::string_view::npos, "truncated chunk size:\n" + Show(all));
      size_t n = std::stoul(std::string(s->substr(0, e)), nullptr, 16);
      FUZZ_CHECK(s->size() >= e + 2 + n + 2, "truncated chunk:\n" + Show(all));
      FUZZ_CHECK(s->substr(e + 2 + n, 2) == "\r\n", "chunk without CRLF:\n" + Show(all));
      s->remove_prefix(e + 2 + n + 2);
      if (n == 0) break;
    }
    p.close = true;  // the stream ends the connection
  } else if (!head_only && has_length) {
    FUZZ_CHECK(s->size() >= length, "body shorter than Content-Length:\n" + Show(all));
    body = std::string(s->substr(0, length));
    s->remove_prefix(length);
  }
  if (p.status >= 400 && !head_only) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    FUZZ_CHECK(json && !ec && v.is_object() && v.as_object().contains("error"),
               "error body is not a JSON error:\n" + Show(all));
  }
  return p;
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace edgevault;
  fuzz::QuietLogs();
  net::ServerOptions o;
  o.service = "fuzz";
  o.io_threads = 1;
  o.access_log = false;
  o.limits.max_header_bytes = 4096;
  o.limits.max_body_bytes = 16384;
  o.limits.read_timeout = absl::Seconds(5);
  o.limits.idle_timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<net::HttpServer>> s = net::HttpServer::Create(o, fuzz::MakeRouter());
  FUZZ_CHECK(s.ok(), s.status().ToString());
  absl::Status st = (*s)->Start();
  FUZZ_CHECK(st.ok(), st.ToString());
  fuzz::g_server = s->release();  // lives for the whole process
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault::fuzz;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string got = Exchange(input);
  std::string_view rest = got;
  // A HEAD anywhere makes body framing ambiguous to this reader; check the heads only.
  const bool any_head = input.find("HEAD") != std::string_view::npos;
  bool first = true;
  while (!rest.empty()) {
    Parsed p = ParseResponse(&rest, any_head, got);
    FUZZ_CHECK(p.status < 500, "the server answered " + std::to_string(p.status) + " to:\n" +
                                   Show(input) + "\n---\n" + Show(got));
    if (first && size > 0 && !IsTokenChar(data[0]) && data[0] != '\r' && data[0] != '\n') {
      FUZZ_CHECK(p.status == 400, "garbage answered " + std::to_string(p.status));
    }
    first = false;
    if (any_head) break;
    if (p.close) {
      FUZZ_CHECK(rest.empty(), "bytes after a Connection: close response:\n" + Show(got));
    }
  }
  if (got.empty() && size > 0 && !IsTokenChar(data[0]) && data[0] != '\r' && data[0] != '\n') {
    FUZZ_CHECK(false, "garbage got no answer:\n" + Show(input));
  }
  CheckNoBugReported();
  return 0;
}
