#include "src/services/console/console_service.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include "src/base/log.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/net/http_client.h"
#include "src/net/sse.h"
#include "src/services/common/http_json.h"
#include "src/services/console/console_web.h"

namespace edgevault::console {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kBuiltInPage =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>EdgeVault console</title></head><body>\n"
    "<h1>EdgeVault console</h1>\n"
    "<p>The web app is not built. Build it into the directory that <code>console.web_dir</code> "
    "names (by default <code>web/</code> next to the executables' <code>bin/</code>), then "
    "reload this page. The <code>/bff/</code> API works without it.</p>\n"
    "</body></html>\n";

net::Response Csrf(const absl::Status& s) {
  return net::Response::Error(403, "csrf", base::ToStd(s.message()));
}

net::Response Unauthenticated() {
  return net::Response::Error(401, "unauthenticated", "not logged in; log in again");
}

net::Response Unreachable(std::string_view service, const absl::Status& s) {
  EV_LOG(kWarn, "upstream call failed", {{"service", std::string(service)}, {"error", s.ToString()}});
  return net::Response::Error(503, "unavailable",
                              base::StrCat("the ", service, " service cannot be reached; try again"));
}

bool LooksLikeToken(std::string_view s) {
  return s.starts_with("evsn_") || s.starts_with("eyJ");
}

// Removes members that carry a session token or a JWT, at any depth (a browser never sees
// one; the contract's "minus any token-bearing member").
void StripTokens(json::value& v) {
  if (json::object* o = v.if_object()) {
    for (auto it = o->begin(); it != o->end();) {
      if (const json::string* s = it->value().if_string(); s != nullptr && LooksLikeToken(*s)) {
        it = o->erase(it);
      } else {
        StripTokens(it->value());
        ++it;
      }
    }
  } else if (json::array* a = v.if_array()) {
    for (json::value& e : *a) StripTokens(e);
  }
}

// A path after /bff/auth/ or /bff/api/ that is safe to append to /v1/: no empty, "." or
// ".." segments, no backslash or control characters.
bool SafeProxyPath(std::string_view path) {
  if (path.empty()) return false;
  for (std::string_view seg : base::Split(path, '/')) {
    if (seg.empty() || seg == "." || seg == ".." || seg == "%2e%2e" || seg == "%2E%2E") return false;
    for (char c : seg) {
      if (c == '\\' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return false;
    }
  }
  return true;
}

// The upstream answer for the browser: status, content type, body (tokens stripped from
// JSON) and the headers a client needs.
net::Response PassThrough(const net::ClientResponse& up) {
  net::Response r;
  r.status = up.status;
  r.content_type = std::string(up.Header("Content-Type").value_or("application/json"));
  r.body = up.body;
  if (r.content_type.starts_with("application/json") && !up.body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(up.body, ec);
    if (!ec) {
      StripTokens(v);
      r.body = json::serialize(v);
    }
  }
  for (std::string_view name : {"Retry-After", "ETag", "Location", "Content-Disposition"}) {
    if (auto h = up.Header(name)) r.headers.emplace_back(std::string(name), std::string(*h));
  }
  return r;
}

std::string WithQuery(std::string target, std::string_view query) {
  if (!query.empty()) base::StrAppend(&target, "?", query);
  return target;
}

}  // namespace

// One relayed SSE stream: the upstream connection, read on its own thread.
struct SseRelay {
  explicit SseRelay(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  std::mutex mu;
  bool closed = false;  // under mu: the socket is closed, its fd may be reused

  // Unblocks a read in progress on the relay thread (callable from any thread).
  void Shutdown() {
    std::lock_guard<std::mutex> lock(mu);
    if (!closed) ::shutdown(socket.native_handle(), SHUT_RDWR);
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    boost::system::error_code ec;
    socket.close(ec);
    closed = true;
  }
};

struct ConsoleService::Impl : std::enable_shared_from_this<ConsoleService::Impl> {
  explicit Impl(ConsoleOptions o) : options(std::move(o)), pool(static_cast<size_t>(options.blocking_threads)) {}

  ConsoleOptions options;
  std::string csrf_key;
  std::unique_ptr<net::HttpClient> client;
  asio::thread_pool pool;
  asio::io_context relay_io;  // only hosts the relays' sockets (their I/O is synchronous)

  struct CachedJwt {
    std::string jwt;
    absl::Time renew_at;
  };
  std::mutex jwt_mu;
  std::unordered_map<std::string, CachedJwt> jwts;  // by SHA-256 of the session token

  struct RelayThread {
    std::shared_ptr<SseRelay> relay;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex relays_mu;
  bool stopping = false;  // under relays_mu
  std::list<RelayThread> relays;

  // ---- plumbing

  // The handler on the pool; security headers on every answer; the CSRF rules first.
  net::AsyncHandler Bff(std::function<net::Response(net::Request&)> fn, bool needs_csrf_token) {
    return [self = shared_from_this(), fn = std::move(fn), needs_csrf_token](net::Request& req,
                                                                             net::Responder respond) {
      asio::post(self->pool, net::CatchingTask([self, &req, fn, needs_csrf_token,
                                                respond = std::move(respond)]() {
        net::Response r = self->Guard(req, needs_csrf_token);
        if (r.status == 0) r = fn(req);
        AddSecurityHeaders(r, /*bff=*/true, self->options.tls);
        respond(std::move(r));
      }));
    };
  }

  // status 0 = go on.
  net::Response Guard(net::Request& req, bool needs_csrf_token) {
    net::Response go;
    go.status = 0;
    if (!IsStateChanging(req.method())) return go;
    if (absl::Status s = CheckSameOrigin(req.Header("Origin"), req.Header("Host"),
                                         req.Header("Sec-Fetch-Site"), options.tls);
        !s.ok()) {
      return Csrf(s);
    }
    if (!needs_csrf_token) return go;
    std::string_view session = Session(req);
    if (session.empty()) return go;  // the handler answers 401
    if (!TokensEqual(req.Header("X-CSRF-Token"), CsrfToken(csrf_key, session))) {
      return Csrf(absl::PermissionDeniedError(
          "missing or wrong X-CSRF-Token; fetch GET /bff/v1/session and send its csrf_token"));
    }
    return go;
  }

  std::string_view Session(const net::Request& req) const {
    return CookieValue(req.Header("Cookie"), SessionCookieName(options.tls));
  }

  absl::StatusOr<net::ClientResponse> CallAuth(const net::Request& req, std::string method,
                                                std::string target, std::string body,
                                                std::string_view bearer) {
    net::ClientRequest c;
    c.method = std::move(method);
    c.target = std::move(target);
    c.body = std::move(body);
    if (!c.body.empty()) {
      std::string_view type = req.Header("Content-Type");
      c.headers.emplace_back("Content-Type", type.empty() ? "application/json" : std::string(type));
    }
    if (!bearer.empty()) c.headers.emplace_back("Authorization", base::StrCat("Bearer ", bearer));
    // The browser's own address, replacing whatever it claimed (login throttling).
    c.headers.emplace_back("X-Forwarded-For", std::string(PeerAddress(req.remote_address())));
    c.headers.emplace_back("X-Request-Id", std::string(req.request_id()));
    return client->Do(options.auth_host, options.auth_port, c);
  }

  // The session document for `token`, or auth's refusal.
  net::Response SessionDocument(const net::Request& req, std::string_view token) {
    absl::StatusOr<net::ClientResponse> up = CallAuth(req, "GET", "/v1/session", "", token);
    if (!up.ok()) return Unreachable("auth", up.status());
    if (up->status != 200) {
      net::Response r = PassThrough(*up);
      if (up->status == 401) r.headers.emplace_back("Set-Cookie", ClearedSessionCookie(options.tls));
      return r;
    }
    boost::system::error_code ec;
    json::value v = json::parse(up->body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    if (o == nullptr) return net::Response::Error(502, "bad_gateway", "auth answered something unexpected");
    auto member = [o](std::string_view k) -> json::value {
      const json::value* m = o->if_contains(k);
      return m == nullptr ? json::value(nullptr) : *m;
    };
    json::object doc;
    doc["user"] = json::object{{"id", member("user_id")},
                               {"email", member("email")},
                               {"display_name", member("display_name")}};
    doc["org_id"] = member("org_id");
    doc["role"] = member("role");
    doc["auth_methods"] = member("methods");
    doc["mfa"] = member("mfa");
    doc["must_change_password"] = member("must_change_password");
    doc["expires_at"] = member("expires_at");
    doc["csrf_token"] = CsrfToken(csrf_key, token);
    return services::JsonResponse(200, doc);
  }

  // After a login step or password change: auth's new session goes into the cookie and the
  // browser gets the session document; anything else passes through (tokens stripped).
  net::Response FinishLogin(const net::Request& req, const absl::StatusOr<net::ClientResponse>& up) {
    if (!up.ok()) return Unreachable("auth", up.status());
    if (up->status == 200) {
      boost::system::error_code ec;
      json::value v = json::parse(up->body, ec);
      const json::object* o = ec ? nullptr : v.if_object();
      const json::value* s = o == nullptr ? nullptr : o->if_contains("session");
      if (s != nullptr && s->is_string()) {
        std::string token(s->get_string());
        net::Response r = SessionDocument(req, token);
        if (r.status == 200) r.headers.emplace_back("Set-Cookie", SessionCookie(token, options.tls));
        return r;
      }
    }
    return PassThrough(*up);
  }

  void ForgetJwt(std::string_view session) {
    std::lock_guard<std::mutex> lock(jwt_mu);
    jwts.erase(crypto::Sha256Hex(session));
  }

  // A JWT for the api on behalf of `session`: checks the session with auth on every call
  // (a logout or revoke takes effect at once) and mints a new JWT only shortly before the
  // cached one expires. On refusal, the response to send.
  absl::StatusOr<std::string> JwtFor(const net::Request& req, std::string_view session,
                                     net::Response* refusal) {
    const std::string key = crypto::Sha256Hex(session);
    const absl::Time now = options.env->Now();
    std::string cached;
    {
      std::lock_guard<std::mutex> lock(jwt_mu);
      auto it = jwts.find(key);
      if (it != jwts.end() && now < it->second.renew_at) cached = it->second.jwt;
    }
    if (!cached.empty()) {
      absl::StatusOr<net::ClientResponse> up = CallAuth(req, "GET", "/v1/session", "", session);
      if (!up.ok()) {
        *refusal = Unreachable("auth", up.status());
        return absl::UnavailableError("auth");
      }
      if (up->status == 200) return cached;
      ForgetJwt(session);
      *refusal = PassThrough(*up);
      return absl::UnauthenticatedError("session");
    }
    absl::StatusOr<net::ClientResponse> up = CallAuth(req, "POST", "/v1/token", "", session);
    if (!up.ok()) {
      *refusal = Unreachable("auth", up.status());
      return absl::UnavailableError("auth");
    }
    if (up->status != 200) {
      *refusal = PassThrough(*up);
      return absl::UnauthenticatedError("session");
    }
    boost::system::error_code ec;
    json::value v = json::parse(up->body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    const json::value* t = o == nullptr ? nullptr : o->if_contains("token");
    const json::value* ttl = o == nullptr ? nullptr : o->if_contains("expires_in");
    if (t == nullptr || !t->is_string() || ttl == nullptr || !ttl->is_int64()) {
      *refusal = net::Response::Error(502, "bad_gateway", "auth answered something unexpected");
      return absl::InternalError("token");
    }
    std::string jwt(t->get_string());
    const absl::Duration life = absl::Seconds(ttl->get_int64());
    // Renew with a margin: a fifth of the lifetime, at most 30 s.
    const absl::Time renew_at = now + life - std::min(life / 5, absl::Seconds(30));
    std::lock_guard<std::mutex> lock(jwt_mu);
    if (jwts.size() > 10000) {  // drop stale entries of sessions that never came back
      for (auto it = jwts.begin(); it != jwts.end();) {
        it = it->second.renew_at <= now ? jwts.erase(it) : std::next(it);
      }
    }
    jwts[key] = {jwt, renew_at};
    return jwt;
  }

  // ---- SSE relay

  // Opens the api's event stream. A non-200 answer comes back as the response to pass on;
  // a 200 as a Response whose sse callback relays the stream.
  net::Response OpenEvents(const net::Request& req, const std::string& target, const std::string& jwt) {
    auto relay = std::make_shared<SseRelay>(relay_io);
    boost::system::error_code ec;
    asio::ip::address address = asio::ip::make_address(options.api_host, ec);
    if (!ec) relay->socket.connect(tcp::endpoint(address, options.api_port), ec);
    if (ec) return Unreachable("api", absl::UnavailableError(ec.message()));
    http::request<http::empty_body> up{http::verb::get, target, 11};
    up.set(http::field::host, base::StrCat(options.api_host, ":", options.api_port));
    up.set(http::field::authorization, base::StrCat("Bearer ", jwt));
    up.set(http::field::accept, "text/event-stream");
    if (std::string_view last = req.Header("Last-Event-ID"); !last.empty()) {
      up.set("Last-Event-ID", std::string(last));
    }
    http::write(relay->socket, up, ec);
    if (!ec) {
      relay->parser.body_limit(boost::none);
      http::read_header(relay->socket, relay->buffer, relay->parser, ec);
    }
    if (ec) return Unreachable("api", absl::UnavailableError(ec.message()));
    const int status = static_cast<int>(relay->parser.get().result_int());
    if (status != 200) {
      // A refusal: read its (small) body and pass it on.
      std::string body;
      char chunk[4096];
      while (!relay->parser.is_done() && body.size() < (1 << 20)) {
        relay->parser.get().body().data = chunk;
        relay->parser.get().body().size = sizeof chunk;
        http::read(relay->socket, relay->buffer, relay->parser, ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
        body.append(chunk, sizeof chunk - relay->parser.get().body().size);
      }
      relay->Close();
      net::ClientResponse c;
      c.status = status;
      c.body = std::move(body);
      auto type = relay->parser.get().find(http::field::content_type);
      if (type != relay->parser.get().end()) {
        c.headers.emplace_back("Content-Type", std::string(type->value()));
      }
      return PassThrough(c);
    }
    net::Response r;
    r.sse = [self = shared_from_this(), relay](std::shared_ptr<net::SseStream> stream) {
      self->StartRelay(relay, std::move(stream));
    };
    return r;
  }

  void StartRelay(std::shared_ptr<SseRelay> relay, std::shared_ptr<net::SseStream> stream) {
    stream->OnClose([relay] { relay->Shutdown(); });
    std::lock_guard<std::mutex> lock(relays_mu);
    for (auto it = relays.begin(); it != relays.end();) {  // reap finished relays
      if (it->done->load()) {
        it->thread.join();
        it = relays.erase(it);
      } else {
        ++it;
      }
    }
    if (stopping) {
      relay->Close();
      stream->Close();
      return;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread t(net::CatchingTask([relay, stream, done] {
      RelayLoop(*relay, *stream);
      relay->Close();
      stream->Close();
      done->store(true);
    }));
    relays.push_back({relay, std::move(t), done});
  }

  // Reads the upstream body as it arrives and re-sends each event; ends when either side
  // closes.
  static void RelayLoop(SseRelay& relay, net::SseStream& stream) {
    bool open = true;
    SseParser parser([&](const net::SseEvent& e) { open = open && stream.Send(e); },
                     [&](std::string_view c) { open = open && stream.SendComment(c); });
    char chunk[8192];
    while (open && !stream.closed() && !relay.parser.is_done()) {
      relay.parser.get().body().data = chunk;
      relay.parser.get().body().size = sizeof chunk;
      boost::system::error_code ec;
      http::read_some(relay.socket, relay.buffer, relay.parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      const size_t n = sizeof chunk - relay.parser.get().body().size;
      if (n > 0) parser.Feed(std::string_view(chunk, n));
      if (ec) break;
    }
  }

  void StopRelays() {
    std::list<RelayThread> all;
    {
      std::lock_guard<std::mutex> lock(relays_mu);
      stopping = true;
      all.swap(relays);
    }
    for (RelayThread& r : all) r.relay->Shutdown();
    for (RelayThread& r : all) r.thread.join();
  }

  // ---- static files

  net::Response StaticFile(std::string_view relative, bool immutable) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path root = fs::canonical(options.web_dir, ec);
    if (ec) return {};
    const fs::path file = fs::canonical(root / std::string(relative), ec);
    // Symlinks may point anywhere: only a file that really lies under web_dir is served.
    const std::string root_s = root.string() + "/";
    if (ec || !file.string().starts_with(root_s) || !fs::is_regular_file(file, ec)) return {};
    absl::StatusOr<std::string> data = options.env->ReadFile(file.string());
    if (!data.ok()) return {};
    net::Response r;
    r.content_type = std::string(ContentTypeFor(file.filename().string()));
    r.body = *std::move(data);
    r.headers.emplace_back("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
    return r;
  }

  net::AsyncHandler Static(std::function<net::Response(net::Request&)> fn) {
    return [self = shared_from_this(), fn = std::move(fn)](net::Request& req, net::Responder respond) {
      asio::post(self->pool, net::CatchingTask([&req, fn, tls = self->options.tls,
                                                respond = std::move(respond)]() {
        net::Response r = fn(req);
        AddSecurityHeaders(r, /*bff=*/false, tls);
        respond(std::move(r));
      }));
    };
  }

  net::Response Index() {
    net::Response r = StaticFile("index.html", /*immutable=*/false);
    if (r.body.empty()) {
      r = net::Response{};
      r.body = std::string(kBuiltInPage);
      r.headers.emplace_back("Cache-Control", "no-cache");
    }
    r.content_type = "text/html; charset=utf-8";
    return r;
  }
};

ConsoleService::ConsoleService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConsoleService::~ConsoleService() {
  impl_->StopRelays();
  impl_->pool.join();
  // The handlers the router still holds keep Impl alive, but none runs any more: stop the
  // client's I/O thread now, so no thread outlives RunService.
  impl_->client.reset();
}

absl::StatusOr<std::unique_ptr<ConsoleService>> ConsoleService::Create(ConsoleOptions options) {
  if (options.env == nullptr) options.env = base::Env::Default();
  if (options.auth_port == 0 || options.api_port == 0) {
    return absl::InvalidArgumentError(
        "the console needs the ports of auth and the api (services.auth.port, services.api.port)");
  }
  if (options.web_dir.empty() || options.web_dir.front() != '/') {
    return absl::InvalidArgumentError("console.web_dir must be an absolute path");
  }
  if (options.blocking_threads < 1) options.blocking_threads = 1;
  auto impl = std::make_shared<Impl>(std::move(options));
  impl->csrf_key.resize(32);
  impl->options.env->RandomBytes(impl->csrf_key.data(), impl->csrf_key.size());
  net::HttpClientOptions client_options;
  client_options.env = impl->options.env;
  EV_ASSIGN_OR_RETURN(impl->client, net::HttpClient::Create(client_options));
  return std::unique_ptr<ConsoleService>(new ConsoleService(std::move(impl)));
}

void ConsoleService::InstallRoutes(net::Router& router) {
  Impl* self = impl_.get();
  using V = http::verb;

  // ---- /bff/v1: the session
  router.AddAsync(V::get, "/bff/v1/session", self->Bff([self](net::Request& req) {
    std::string_view session = self->Session(req);
    if (session.empty()) return Unauthenticated();
    return self->SessionDocument(req, session);
  }, false));
  router.AddAsync(V::post, "/bff/v1/login", self->Bff([self](net::Request& req) {
    return self->FinishLogin(req, self->CallAuth(req, "POST", "/v1/login", req.body(), ""));
  }, false));
  router.AddAsync(V::post, "/bff/v1/login/totp", self->Bff([self](net::Request& req) {
    return self->FinishLogin(req, self->CallAuth(req, "POST", "/v1/login/totp", req.body(), ""));
  }, false));
  router.AddAsync(V::post, "/bff/v1/login/passkey/begin", self->Bff([self](net::Request& req) {
    absl::StatusOr<net::ClientResponse> up = self->CallAuth(req, "POST", "/v1/login/passkey/begin", req.body(), "");
    return up.ok() ? PassThrough(*up) : Unreachable("auth", up.status());
  }, false));
  router.AddAsync(V::post, "/bff/v1/login/passkey/finish", self->Bff([self](net::Request& req) {
    return self->FinishLogin(req, self->CallAuth(req, "POST", "/v1/login/passkey/finish", req.body(), ""));
  }, false));
  router.AddAsync(V::post, "/bff/v1/password", self->Bff([self](net::Request& req) {
    std::string session(self->Session(req));
    if (session.empty()) return Unauthenticated();
    net::Response r = self->FinishLogin(req, self->CallAuth(req, "POST", "/v1/password", req.body(), session));
    if (r.status == 200) self->ForgetJwt(session);  // auth ended the old session
    return r;
  }, true));
  router.AddAsync(V::post, "/bff/v1/logout", self->Bff([self](net::Request& req) {
    std::string session(self->Session(req));
    if (session.empty()) return Unauthenticated();
    self->ForgetJwt(session);
    absl::StatusOr<net::ClientResponse> up = self->CallAuth(req, "POST", "/v1/logout", "", session);
    net::Response r = !up.ok() ? Unreachable("auth", up.status())
                      : up->status == 401 ? services::JsonResponse(200, json::object{{"logged_out", true}})
                                          : PassThrough(*up);
    r.headers.emplace_back("Set-Cookie", ClearedSessionCookie(self->options.tls));
    return r;
  }, true));

  // ---- /bff/auth and /bff/api
  for (V method : {V::get, V::post, V::put, V::patch, V::delete_}) {
    router.AddAsync(method, "/bff/auth/{path...}", self->Bff([self](net::Request& req) {
      std::string session(self->Session(req));
      if (session.empty()) return Unauthenticated();
      std::string_view path = req.path().substr(std::string_view("/bff/auth/").size());
      if (!SafeProxyPath(path) || !AuthPathAllowed(path)) {
        return net::Response::Error(404, "not_found", "no such /bff/auth/ route");
      }
      absl::StatusOr<net::ClientResponse> up = self->CallAuth(
          req, std::string(req.method_string()), WithQuery(base::StrCat("/v1/", path), req.query()),
          req.body(), session);
      return up.ok() ? PassThrough(*up) : Unreachable("auth", up.status());
    }, true));
    router.AddAsync(method, "/bff/api/{path...}", self->Bff([self, method](net::Request& req) {
      std::string session(self->Session(req));
      if (session.empty()) return Unauthenticated();
      std::string_view path = req.path().substr(std::string_view("/bff/api/").size());
      if (!SafeProxyPath(path)) return net::Response::Error(404, "not_found", "no such /bff/api/ route");
      net::Response refusal;
      absl::StatusOr<std::string> jwt = self->JwtFor(req, session, &refusal);
      if (!jwt.ok()) return refusal;
      const std::string target = WithQuery(base::StrCat("/v1/", path), req.query());
      std::vector<std::string_view> segs = base::Split(path, '/');
      if (method == V::get && segs.size() == 3 && segs[0] == "workspaces" && segs[2] == "events") {
        return self->OpenEvents(req, target, *jwt);
      }
      net::ClientRequest c;
      c.method = std::string(req.method_string());
      c.target = target;
      c.body = req.body();
      c.headers.emplace_back("Authorization", base::StrCat("Bearer ", *jwt));
      for (std::string_view name : {"Content-Type", "If-Match", "If-None-Match", "Accept"}) {
        if (std::string_view v = req.Header(name); !v.empty()) c.headers.emplace_back(std::string(name), std::string(v));
      }
      c.headers.emplace_back("X-Request-Id", std::string(req.request_id()));
      absl::StatusOr<net::ClientResponse> up = self->client->Do(self->options.api_host, self->options.api_port, c);
      if (!up.ok()) return Unreachable("api", up.status());
      if (up->status == 401) self->ForgetJwt(session);
      return PassThrough(*up);
    }, true));
  }
  // Any other /bff/ path, any method: JSON 404 (never the web app's index).
  for (V method : {V::get, V::post, V::put, V::patch, V::delete_}) {
    router.AddAsync(method, "/bff/{rest...}", self->Bff([](net::Request&) {
      return net::Response::Error(404, "not_found", "no such /bff/ route");
    }, false));
  }

  // ---- the web app
  router.AddAsync(V::get, "/assets/{name...}", self->Static([self](net::Request& req) {
    std::string_view raw = req.path().substr(std::string_view("/assets/").size());
    std::optional<std::string> rel = SanitizeAssetPath(raw);
    net::Response r;
    if (rel) r = self->StaticFile(*rel, /*immutable=*/true);
    if (r.body.empty() && r.headers.empty()) {
      return net::Response::Error(404, "not_found", "no such asset");
    }
    return r;
  }));
  auto index = self->Static([self](net::Request& req) {
    if (req.path().starts_with("/assets/") || req.path() == "/assets") {
      return net::Response::Error(404, "not_found", "no such asset");
    }
    return self->Index();
  });
  router.AddAsync(V::get, "/", index);
  router.AddAsync(V::get, "/{path...}", index);
}

}  // namespace edgevault::console
