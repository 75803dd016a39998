#pragma once
// Request, Response and Router: what a handler sees and returns, and how a method
// and path find their handler. Routes are patterns of literal and `{param}`
// segments ("/v1/workspaces/{ws}/configs/{key}"); a trailing `{param...}` takes
// the rest of the path. Exact literal routes are found by one hash lookup.
//
//   net::Router router;
//   router.Get("/v1/things/{id}", [](net::Request& req) {
//     return net::Response::Json(200, "{\"id\":\"" + std::string(req.Param("id")) + "\"}");
//   });
//
// Thread-safety: a Router is built on one thread, then frozen (moved into an
// HttpServer) and only read, from any number of threads. A Request and its
// Response belong to the connection's worker thread; Responder may be called once
// from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/beast/http/verb.hpp>

// Beast's message templates, declared only: this header is included by every handler file,
// and <boost/beast/http/message.hpp> costs each of them about a second of compile time
// (issue 20). Code that touches the raw message (Request::raw()) includes
// "src/net/raw_request.h", which defines it; router.cc checks that RawRequest below is
// Beast's request<string_body>.
namespace boost::beast::http {
template <bool isRequest, class Body, class Fields>
class message;
template <class Allocator>
class basic_fields;
template <class CharT, class Traits, class Allocator>
struct basic_string_body;
}  // namespace boost::beast::http

namespace edgevault::net {

class SseStream;

// boost::beast::http::request<boost::beast::http::string_body>.
using RawRequest = boost::beast::http::message<
    true, boost::beast::http::basic_string_body<char, std::char_traits<char>, std::allocator<char>>,
    boost::beast::http::basic_fields<std::allocator<char>>>;

class Request {
 public:
  Request(RawRequest& raw, std::string_view request_id, std::string_view remote);

  boost::beast::http::verb method() const { return method_; }
  std::string_view method_string() const;
  // The request target as sent ("/v1/x?y=1"), its path ("/v1/x") and query ("y=1").
  std::string_view target() const { return target_; }
  std::string_view path() const { return path_; }
  std::string_view query() const { return query_; }
  // The value of header `name` (case-insensitive), "" when absent.
  std::string_view Header(std::string_view name) const;
  const std::string& body() const { return *body_; }
  // A `{name}` segment of the matched route, percent-decoded; "" when absent.
  std::string_view Param(std::string_view name) const;
  // The first query parameter `name`, percent-decoded ('+' as space); nullopt when absent.
  std::optional<std::string> QueryParam(std::string_view name) const;
  std::string_view request_id() const { return request_id_; }
  std::string_view remote_address() const { return remote_; }
  // The matched route pattern ("/v1/things/{id}"), for logs and metrics.
  std::string_view route() const { return route_; }
  // The Beast message itself; using it needs "src/net/raw_request.h".
  RawRequest& raw() { return raw_; }

 private:
  friend class Router;
  RawRequest& raw_;
  // Read from raw_ once, when the Request is made: the accessors above stay inline without
  // this header needing Beast's message definition.
  boost::beast::http::verb method_;
  std::string_view target_;
  const std::string* body_;
  std::string_view path_, query_;
  std::string_view request_id_, remote_;
  std::string_view route_;
  std::vector<std::pair<std::string_view, std::string>> params_;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Pre-serialised bytes sent as they are, instead of `body` (no copy per request).
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the response is a Server-Sent Events stream: headers go out with
  // `Content-Type: text/event-stream`, then this is called with the open stream.
  std::function<void(std::shared_ptr<SseStream>)> sse;

  static Response Json(int status, std::string body);
  // {"error":{"code":"...","message":"..."}}, with `code` a stable, machine-readable
  // token such as "not_found" and `message` saying what was wrong and what to do.
  static Response Error(int status, std::string_view code, std::string_view message);
  Response& WithHeader(std::string name, std::string value);
};

// Completes an asynchronous handler. Call exactly once, from any thread.
using Responder = std::function<void(Response)>;
using Handler = std::function<Response(Request&)>;
using AsyncHandler = std::function<void(Request&, Responder)>;

// The handler boundary (issue 5). Handlers do not throw: EdgeVault code returns statuses and
// reads JSON with checked accessors. An exception that escapes anyway is a bug, and must not
// take the service down: HttpServer catches it around every handler (sync and async) and
// every SSE callback and answers 500 {"error":{"code":"internal",...}}; work a handler posts
// elsewhere (a thread pool) gets the same boundary from CatchingTask. Each escaped exception
// is logged (level error, with its what()) and counted in edgevault_handler_exceptions_total,
// which every server's /metrics exports.
//
//   boost::asio::post(pool_, net::CatchingTask([&req, fn, respond = std::move(respond)] {
//     respond(fn(req));
//   }));

// Logs and counts the exception being handled; call only inside a catch block. `where`
// names the code it escaped from ("handler GET /v1/x").
void RecordEscapedException(std::string_view where) noexcept;
// How many exceptions escaped so far, in this process (every server and pool together).
uint64_t EscapedExceptionCount() noexcept;
// The answer to a request whose handler failed that way: 500, code "internal".
Response InternalErrorResponse(std::string_view request_id);

// `task` wrapped so that an exception escaping it is recorded (RecordEscapedException)
// instead of terminating the thread that runs it. If `task` holds the request's Responder and
// had not called it, the Responder is dropped with the task, which answers the request 500
// (HttpServer answers every dropped Responder that way).
template <typename Task>
auto CatchingTask(Task task) {
  return [task = std::move(task)]() mutable noexcept {
    try {
      task();
    } catch (...) {
      RecordEscapedException("a task posted by a handler");
    }
  };
}

struct RouteOptions {
  // When not empty, the route is internal: a request must carry a valid signature
  // (service bindings; src/net/signing.h) by one of these services, else 401 (no or bad
  // signature) or 403 (a valid signature by a service not listed). Name each caller the
  // route needs and no other: this list is what keeps a compromised edge node off writes.
  std::vector<std::string> internal_callers;
};

class Router {
 public:
  struct Route {
    boost::beast::http::verb method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" for params, "{name...}" for the rest
    bool has_params = false;
    Handler handler;
    AsyncHandler async_handler;
    RouteOptions options;
    uint32_t index = 0;  // dense id for metrics; 0 is "unmatched"
  };

  Router() = default;
  Router(Router&&) = default;
  Router& operator=(Router&&) = default;

  Router& Add(boost::beast::http::verb method, std::string_view pattern, Handler handler,
              RouteOptions options = {});
  Router& AddAsync(boost::beast::http::verb method, std::string_view pattern,
                   AsyncHandler handler, RouteOptions options = {});
  Router& Get(std::string_view pattern, Handler h) { return Add(boost::beast::http::verb::get, pattern, std::move(h)); }
  Router& Post(std::string_view pattern, Handler h) { return Add(boost::beast::http::verb::post, pattern, std::move(h)); }
  Router& Put(std::string_view pattern, Handler h) { return Add(boost::beast::http::verb::put, pattern, std::move(h)); }
  Router& Delete(std::string_view pattern, Handler h) { return Add(boost::beast::http::verb::delete_, pattern, std::move(h)); }

  enum class MatchResult { kFound, kNotFound, kMethodNotAllowed };
  // Finds the route for `req` and fills its params and route(). HEAD falls back to
  // GET. On kMethodNotAllowed, `allow` lists the methods the path accepts.
  MatchResult Match(Request& req, const Route** route, std::string* allow) const;

  // Number of routes + 1 (index 0 is "unmatched").
  size_t route_count() const { return routes_.size() + 1; }
  // The pattern of route `index`; "unmatched" for 0.
  std::string_view pattern(uint32_t index) const;

 private:
  Router& AddRoute(Route route);
  std::vector<std::unique_ptr<Route>> routes_;
  // Literal path → routes with that exact path (any method).
  std::unordered_map<std::string, std::vector<const Route*>> exact_;
  std::vector<const Route*> patterned_;
};

// "%41b+c" → "Ab c" when `plus_is_space`; invalid escapes are kept as they are.
std::string PercentDecode(std::string_view s, bool plus_is_space);

}  // namespace edgevault::net
