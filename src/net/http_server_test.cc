#include "src/net/http_server.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/net/signing.h"
#include "src/net/sse.h"
#include "src/net/tls_test_client.h"

namespace edgevault::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A blocking test client on a raw socket, so tests control every byte sent.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void Send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }
  // Reads until the server closes the connection (or resets it).
  std::string ReadAll() {
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
      size_t n = socket_.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
    return out;
  }
  // Reads until `marker` has been seen `count` times in total (or the peer closes).
  std::string ReadUntil(std::string_view marker, int count = 1) {
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
      int seen = 0;
      for (size_t at = pending_.find(marker); at != std::string::npos;
           at = pending_.find(marker, at + marker.size())) {
        ++seen;
      }
      if (seen >= count) return pending_;
      size_t n = socket_.read_some(asio::buffer(buf), ec);
      pending_.append(buf, n);
      if (ec) return pending_;
    }
  }
  // One full response with a Content-Length body.
  std::string ReadResponse() {
    std::string head = ReadUntil("\r\n\r\n");
    size_t end = head.find("\r\n\r\n") + 4;
    size_t len = 0;
    size_t cl = head.find("Content-Length: ");
    if (cl != std::string::npos && cl < end) len = std::stoul(head.substr(cl + 16));
    boost::system::error_code ec;
    char buf[4096];
    while (pending_.size() < end + len) {
      size_t n = socket_.read_some(asio::buffer(buf), ec);
      pending_.append(buf, n);
      if (ec) break;
    }
    std::string resp = pending_.substr(0, end + len);
    pending_.erase(0, end + len);
    return resp;
  }
  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  std::string pending_;
};

std::string Get(std::string_view path, std::string_view extra = "") {
  return std::string("GET ") + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) +
         "\r\n";
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(Router router, base::ServerLimits limits = {}, SignatureVerifier* v = nullptr,
                   const TlsFiles* tls = nullptr) {
    ServerOptions o;
    if (tls != nullptr) {
      o.tls_cert_file = tls->cert_file;
      o.tls_key_file = tls->key_file;
    }
    o.service = "test";
    o.io_threads = 2;
    o.limits = limits;
    o.verifier = v;
    o.access_log = false;
    auto s = HttpServer::Create(o, std::move(router));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_TRUE(server_->Start().ok());
  }
  uint16_t port() { return server_->port(); }
  std::unique_ptr<HttpServer> server_;
};

Router HelloRouter() {
  Router r;
  r.Get("/hello/{name}", [](Request& req) {
    return Response::Json(200, "{\"hello\":\"" + std::string(req.Param("name")) + "\"}");
  });
  r.Post("/echo", [](Request& req) {
    Response resp = Response::Json(200, req.body());
    resp.headers.emplace_back("X-Body-Size", std::to_string(req.body().size()));
    return resp;
  });
  return r;
}

TEST_F(ServerTest, ServesRoutesWithKeepAliveOnOneConnection) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send(Get("/hello/ann"));
  std::string r1 = c.ReadResponse();
  EXPECT_NE(r1.find("HTTP/1.1 200 OK"), std::string::npos) << r1;
  EXPECT_NE(r1.find("{\"hello\":\"ann\"}"), std::string::npos);
  EXPECT_EQ(r1.find("Connection: close"), std::string::npos);
  c.Send(Get("/hello/bob"));
  std::string r2 = c.ReadResponse();
  EXPECT_NE(r2.find("{\"hello\":\"bob\"}"), std::string::npos) << r2;
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send(Get("/hello/1") + Get("/hello/2") + Get("/hello/3", "Connection: close\r\n"));
  std::string all = c.ReadAll();
  size_t a = all.find("\"1\""), b = all.find("\"2\""), d = all.find("\"3\"");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(d, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, d);
}

TEST_F(ServerTest, UnknownPathIsJson404AndWrongMethodIs405) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send(Get("/nope"));
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(r.find("\"code\":\"not_found\""), std::string::npos);
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos);
  c.Send("DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n");
  r = c.ReadResponse();
  EXPECT_NE(r.find("HTTP/1.1 405"), std::string::npos) << r;
  EXPECT_NE(r.find("Allow: POST"), std::string::npos);
}

TEST_F(ServerTest, HealthReadyAndMetrics) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send(Get("/healthz"));
  EXPECT_NE(c.ReadResponse().find("\"service\":\"test\""), std::string::npos);
  c.Send(Get("/readyz"));
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 200"), std::string::npos);
  server_->SetReady(false);
  c.Send(Get("/readyz"));
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 503"), std::string::npos);
  c.Send(Get("/hello/x"));
  c.ReadResponse();
  c.Send(Get("/metrics"));
  std::string m = c.ReadResponse();
  EXPECT_NE(m.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m.find("edgevault_http_requests_total{service=\"test\",route=\"/hello/{name}\","
                   "status=\"200\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("route=\"/readyz\",status=\"503\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("edgevault_http_request_duration_seconds_bucket{service=\"test\","
                   "route=\"/hello/{name}\",le=\"+Inf\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("edgevault_http_requests_in_flight{service=\"test\"} 1"), std::string::npos);
}

TEST_F(ServerTest, OversizedBodyIs413AndConnectionCloses) {
  base::ServerLimits limits;
  limits.max_body_bytes = 1000;
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
  std::string r = c.ReadAll();
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  EXPECT_NE(r.find("\"code\":\"body_too_large\""), std::string::npos);
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
}

TEST_F(ServerTest, OversizedChunkedBodyIs413) {
  base::ServerLimits limits;
  limits.max_body_bytes = 1000;
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  std::string chunk(800, 'y');
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
         "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_NE(c.ReadAll().find("HTTP/1.1 413"), std::string::npos);
}

TEST_F(ServerTest, BodyWithinLimitIsReceivedWhole) {
  base::ServerLimits limits;
  limits.max_body_bytes = 1000;
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'z'));
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("X-Body-Size: 1000"), std::string::npos) << r;
}

TEST_F(ServerTest, OversizedHeadersAre431) {
  base::ServerLimits limits;
  limits.max_header_bytes = 2048;
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  c.Send(Get("/hello/a", "X-Big: " + std::string(4096, 'h') + "\r\n"));
  std::string r = c.ReadAll();
  EXPECT_NE(r.find("HTTP/1.1 431"), std::string::npos) << r;
  EXPECT_NE(r.find("\"code\":\"headers_too_large\""), std::string::npos);
}

TEST_F(ServerTest, SlowClientGets408) {
  base::ServerLimits limits;
  limits.read_timeout = absl::Milliseconds(200);
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  c.Send("GET /hello/slow HTTP/1.1\r\nHost: t\r\n");  // never finishes the head
  std::string r = c.ReadAll();
  EXPECT_NE(r.find("HTTP/1.1 408"), std::string::npos) << r;
  EXPECT_NE(r.find("\"code\":\"request_timeout\""), std::string::npos);
}

TEST_F(ServerTest, SlowBodyGets408) {
  base::ServerLimits limits;
  limits.read_timeout = absl::Milliseconds(200);
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_NE(c.ReadAll().find("HTTP/1.1 408"), std::string::npos);
}

TEST_F(ServerTest, IdleConnectionIsClosedSilently) {
  base::ServerLimits limits;
  limits.idle_timeout = absl::Milliseconds(100);
  StartServer(HelloRouter(), limits);
  RawClient c(port());
  c.Send(Get("/hello/a"));
  c.ReadResponse();
  EXPECT_EQ(c.ReadAll(), "");  // closed without a response
}

TEST_F(ServerTest, MalformedRequestIs400) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send("GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n");
  std::string r = c.ReadAll();
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitGet503) {
  base::ServerLimits limits;
  limits.max_connections = 1;
  StartServer(HelloRouter(), limits);
  RawClient first(port());
  first.Send(Get("/hello/a"));
  first.ReadResponse();  // the first connection is surely established now
  RawClient second(port());
  std::string r = second.ReadAll();
  EXPECT_NE(r.find("HTTP/1.1 503"), std::string::npos) << r;
  EXPECT_NE(r.find("too_many_connections"), std::string::npos);
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_NE(c.ReadUntil("100 Continue\r\n\r\n").find("HTTP/1.1 100 Continue"), std::string::npos);
  c.Send("ping");
  EXPECT_NE(c.ReadUntil("ping").find("X-Body-Size: 4"), std::string::npos);
}

TEST_F(ServerTest, RequestIdIsEchoedOrGenerated) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send(Get("/hello/a", "X-Request-Id: abc-123\r\n"));
  EXPECT_NE(c.ReadResponse().find("X-Request-Id: abc-123\r\n"), std::string::npos);
  c.Send(Get("/hello/a", "X-Request-Id: bad id with spaces\r\n"));
  std::string r = c.ReadResponse();
  size_t at = r.find("X-Request-Id: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(r.substr(at + 14, 16).find(' '), std::string::npos);
  EXPECT_EQ(r.find("bad id"), std::string::npos);
}

TEST_F(ServerTest, HeadSendsHeadersWithoutBody) {
  StartServer(HelloRouter());
  RawClient c(port());
  c.Send("HEAD /hello/abc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string r = c.ReadAll();
  EXPECT_NE(r.find("Content-Length: 15"), std::string::npos) << r;
  EXPECT_EQ(r.find("hello"), std::string::npos);
}

TEST_F(ServerTest, AsyncHandlerAnswersFromAnotherThread) {
  Router r;
  std::vector<std::thread> threads;
  r.AddAsync(boost::beast::http::verb::get, "/later", [&threads](Request& req, Responder done) {
    std::string id(req.request_id());
    threads.emplace_back([done = std::move(done), id] {
      done(Response::Json(200, "{\"later\":\"" + id + "\"}"));
    });
  });
  r.AddAsync(boost::beast::http::verb::get, "/dropped", [](Request&, Responder) {});
  StartServer(std::move(r));
  RawClient c(port());
  c.Send(Get("/later", "X-Request-Id: r1\r\n"));
  EXPECT_NE(c.ReadResponse().find("{\"later\":\"r1\"}"), std::string::npos);
  c.Send(Get("/dropped"));
  std::string resp = c.ReadResponse();
  EXPECT_NE(resp.find("HTTP/1.1 500"), std::string::npos) << resp;
  for (auto& t : threads) t.join();
}

// A Responder that outlives the server's drain (a pool thread still working when the
// service shuts down) must not touch freed io contexts: destruction waits for it.
TEST_F(ServerTest, DestructionWaitsForRespondersStillHeldElsewhere) {
  std::promise<void> handed_over;
  std::atomic<bool> answered{false};
  std::thread worker;
  RawClient* client = nullptr;
  Router r;
  r.AddAsync(boost::beast::http::verb::get, "/held", [&](Request&, Responder done) {
    worker = std::thread([&, done = std::move(done)]() mutable {
      handed_over.set_value();
      // Answer only once the destruction is under way: it closes the connection first,
      // then waits for the Responders still out.
      client->ReadAll();
      answered = true;
      done(Response::Json(200, "{}"));
      done = nullptr;  // the last reference goes here, on this thread
    });
  });
  StartServer(std::move(r));
  RawClient c(port());
  client = &c;
  c.Send(Get("/held"));
  handed_over.get_future().get();
  server_.reset();  // drain_timeout 0 in the destructor; the Responder is still out
  EXPECT_TRUE(answered.load()) << "the server was destroyed while a Responder was live";
  worker.join();
}

TEST_F(ServerTest, SseStreamDeliversChunkedEventsAndNoticesDisconnect) {
  std::promise<std::shared_ptr<SseStream>> opened;
  std::promise<void> closed;
  Router r;
  r.Get("/events", [&](Request&) {
    Response resp;
    resp.sse = [&](std::shared_ptr<SseStream> s) {
      s->OnClose([&closed] { closed.set_value(); });
      opened.set_value(s);
    };
    return resp;
  });
  StartServer(std::move(r));
  auto c = std::make_unique<RawClient>(port());
  c->Send(Get("/events", "Last-Event-ID: 41\r\n"));
  std::shared_ptr<SseStream> stream = opened.get_future().get();
  EXPECT_EQ(stream->last_event_id(), "41");
  EXPECT_TRUE(stream->Send({.id = "42", .event = "config", .data = "{\"v\":42}"}));
  EXPECT_TRUE(stream->SendComment("heartbeat"));
  std::string got = c->ReadUntil("heartbeat");
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos) << got;
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(got.find("id: 42\nevent: config\ndata: {\"v\":42}\n\n"), std::string::npos);
  c.reset();  // client goes away
  closed.get_future().get();
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Send({.data = "late"}));
}

TEST_F(ServerTest, DrainFinishesInFlightRequestsAndClosesStreams) {
  std::promise<Responder> pending;
  std::promise<std::shared_ptr<SseStream>> opened;
  Router r;
  r.AddAsync(boost::beast::http::verb::get, "/slow",
             [&](Request&, Responder done) { pending.set_value(std::move(done)); });
  r.Get("/events", [&](Request&) {
    Response resp;
    resp.sse = [&](std::shared_ptr<SseStream> s) { opened.set_value(s); };
    return resp;
  });
  base::ServerLimits limits;
  limits.drain_timeout = absl::Seconds(10);
  StartServer(std::move(r), limits);
  RawClient busy(port()), idle(port()), events(port());
  busy.Send(Get("/slow"));
  events.Send(Get("/events"));
  std::shared_ptr<SseStream> stream = opened.get_future().get();
  Responder done = pending.get_future().get();
  idle.Send(Get("/healthz"));
  idle.ReadResponse();

  std::thread drainer([this] { server_->Drain(); });
  EXPECT_EQ(idle.ReadAll(), "");  // idle keep-alive connection: closed at once
  std::string ev = events.ReadAll();  // stream: ended with the last chunk
  EXPECT_NE(ev.find("0\r\n\r\n"), std::string::npos) << ev;
  done(Response::Json(200, "{\"done\":true}"));
  std::string r1 = busy.ReadAll();
  EXPECT_NE(r1.find("{\"done\":true}"), std::string::npos) << r1;
  EXPECT_NE(r1.find("Connection: close"), std::string::npos);
  drainer.join();
  EXPECT_TRUE(stream->closed());
  boost::system::error_code ec;
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()), ec);
  EXPECT_TRUE(ec) << "listener still open after drain";
}

TEST_F(ServerTest, InternalRoutesCheckTheSignatureAndTheCaller) {
  base::Env* env = base::Env::Default();
  auto credential = [](std::string_view service, char seed) {
    return *ServiceCredential::FromKey(service, *crypto::Ed25519PrivateKey::FromRaw(std::string(32, seed)));
  };
  ServiceCredential api = credential("api", 'a');
  ServiceCredential delivery = credential("delivery", 'd');
  ServiceCredential forged_api = credential("api", 'x');  // right name, key nobody trusts
  ServiceTrust trust;
  trust.Add("api", api.key().PublicKey());
  trust.Add("delivery", delivery.key().PublicKey());
  SignatureVerifier verifier("auth", std::move(trust));
  Router r;
  r.Add(boost::beast::http::verb::post, "/internal/v1/op",
        [](Request&) { return Response::Json(200, "{\"ok\":true}"); },
        RouteOptions{.internal_callers = {"api"}});
  StartServer(std::move(r), {}, &verifier);

  auto send = [&](const SignedHeaders& h, std::string_view body) {
    RawClient c(port());
    c.Send("POST /internal/v1/op HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-EV-Caller: " + h.caller +
           "\r\nX-EV-Timestamp: " + h.timestamp + "\r\nX-EV-Nonce: " + h.nonce +
           "\r\nX-EV-Signature: " + h.signature + "\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
    return c.ReadAll();
  };
  auto sign = [&](const ServiceCredential& c, std::string_view audience, absl::Time at) {
    return Sign(c, audience, "POST", "/internal/v1/op", "{}", at, env);
  };
  SignedHeaders good = sign(api, "auth", env->Now());
  EXPECT_NE(send(good, "{}").find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(send(good, "{}").find("HTTP/1.1 401"), std::string::npos);  // replay
  std::string swapped = send(sign(api, "auth", env->Now()), "{\"evil\":1}");
  EXPECT_NE(swapped.find("HTTP/1.1 401"), std::string::npos);
  EXPECT_NE(swapped.find("\"code\":\"bad_signature\""), std::string::npos);
  EXPECT_NE(send(sign(api, "auth", env->Now() - absl::Minutes(5)), "{}").find("HTTP/1.1 401"),
            std::string::npos);
  EXPECT_NE(send(sign(api, "delivery", env->Now()), "{}").find("HTTP/1.1 401"), std::string::npos);
  EXPECT_NE(send(sign(forged_api, "auth", env->Now()), "{}").find("HTTP/1.1 401"), std::string::npos);
  // A valid signature by a service the route does not list: 403, naming who may call.
  std::string wrong_caller = send(sign(delivery, "auth", env->Now()), "{}");
  EXPECT_NE(wrong_caller.find("HTTP/1.1 403"), std::string::npos) << wrong_caller;
  EXPECT_NE(wrong_caller.find("\"code\":\"caller_not_allowed\""), std::string::npos) << wrong_caller;
  EXPECT_NE(wrong_caller.find("allowed callers: api"), std::string::npos) << wrong_caller;
  // A delivery credential claiming to be the api fails the signature check.
  SignedHeaders impostor = sign(delivery, "auth", env->Now());
  impostor.caller = "api";
  EXPECT_NE(send(impostor, "{}").find("HTTP/1.1 401"), std::string::npos);
}

// Issue 5: an exception escaping a handler (a Boost.JSON .at() on a body of an unexpected
// shape, say) used to terminate the whole service. The handler boundary answers 500 JSON,
// counts it in edgevault_handler_exceptions_total, and the server keeps serving.
int64_t HandlerExceptions(const std::string& metrics) {
  const std::string name = "edgevault_handler_exceptions_total{service=\"test\"} ";
  size_t at = metrics.find(name);
  if (at == std::string::npos) return -1;
  return std::stoll(metrics.substr(at + name.size()));
}

TEST_F(ServerTest, ThrowingHandlersAnswer500AndAreCountedAndTheServerKeepsServing) {
  Router r = HelloRouter();
  r.Get("/throws", [](Request&) -> Response {
    boost::json::value v = boost::json::parse("42");
    return Response::Json(200, std::string(v.at("field").as_string()));  // throws
  });
  r.Get("/throws-int", [](Request&) -> Response { throw 7; });
  r.AddAsync(boost::beast::http::verb::get, "/async-throws",
             [](Request&, Responder) { throw std::runtime_error("async handler bug"); });
  StartServer(std::move(r));
  RawClient c(port());
  c.Send(Get("/metrics"));
  const int64_t before = HandlerExceptions(c.ReadResponse());
  ASSERT_GE(before, 0) << "no edgevault_handler_exceptions_total in /metrics";
  for (const char* path : {"/throws", "/throws-int", "/async-throws"}) {
    c.Send(Get(path));
    std::string resp = c.ReadResponse();
    EXPECT_NE(resp.find("HTTP/1.1 500"), std::string::npos) << path << ": " << resp;
    EXPECT_NE(resp.find("Content-Type: application/json"), std::string::npos) << resp;
    EXPECT_NE(resp.find("\"code\":\"internal\""), std::string::npos) << resp;
  }
  c.Send(Get("/hello/after"));
  EXPECT_NE(c.ReadResponse().find("{\"hello\":\"after\"}"), std::string::npos);
  c.Send(Get("/metrics"));
  std::string m = c.ReadResponse();
  EXPECT_EQ(HandlerExceptions(m), before + 3) << m;
  EXPECT_NE(m.find("route=\"/throws\",status=\"500\"} 1"), std::string::npos) << m;
}

// Work a handler posts to a thread pool (api and auth do) runs outside the server's own
// try/catch: net::CatchingTask gives it the same boundary.
TEST_F(ServerTest, ThrowingPoolTaskAnswers500AndIsCounted) {
  boost::asio::thread_pool pool(1);
  Router r = HelloRouter();
  r.AddAsync(boost::beast::http::verb::get, "/pool-throws", [&pool](Request&, Responder respond) {
    boost::asio::post(pool, CatchingTask([respond = std::move(respond)]() {
      boost::json::value v = boost::json::parse("[1]");
      respond(Response::Json(200, std::string(v.as_object().at("x").as_string())));  // throws
    }));
  });
  StartServer(std::move(r));
  RawClient c(port());
  c.Send(Get("/metrics"));
  const int64_t before = HandlerExceptions(c.ReadResponse());
  c.Send(Get("/pool-throws"));
  std::string resp = c.ReadResponse();
  EXPECT_NE(resp.find("HTTP/1.1 500"), std::string::npos) << resp;
  EXPECT_NE(resp.find("\"code\":\"internal\""), std::string::npos) << resp;
  c.Send(Get("/hello/after"));
  EXPECT_NE(c.ReadResponse().find("{\"hello\":\"after\"}"), std::string::npos);
  c.Send(Get("/metrics"));
  EXPECT_EQ(HandlerExceptions(c.ReadResponse()), before + 1);
  pool.join();
}

// The server as the console runs it, over TLS (ServerOptions::tls_cert_file), with a
// certificate made here.
class TlsServerTest : public ServerTest {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-tls-server-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    absl::StatusOr<TlsFiles> files = MakeSelfSignedCert(dir_, "server");
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *files;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void StartTls(Router router, base::ServerLimits limits = {}) {
    StartServer(std::move(router), limits, nullptr, &files_);
  }
  std::string dir_;
  TlsFiles files_;
};

// Issue 13: a connection over max_connections was answered with a plaintext 503 on the TLS
// port, which a TLS client reads as a broken handshake.
TEST_F(TlsServerTest, ConnectionsBeyondTheLimitGet503InsideTls) {
  base::ServerLimits limits;
  limits.max_connections = 1;
  StartTls(HelloRouter(), limits);
  TlsTestClient first(port());
  ASSERT_TRUE(first.ok()) << first.error();
  ASSERT_TRUE(first.Send(Get("/hello/a")));
  first.ReadUntil("}");  // the first connection is surely counted now

  TlsTestClient second(port());
  ASSERT_TRUE(second.ok()) << second.error();
  TlsTestClient::Ending got = second.ReadToEnd();
  EXPECT_TRUE(got.data.starts_with("HTTP/1.1 503")) << got.data;
  EXPECT_NE(got.data.find("too_many_connections"), std::string::npos) << got.data;
  EXPECT_EQ(got.end, TlsTestClient::End::kCloseNotify) << EndName(got.end) << " " << got.detail;

  // A client that speaks plain HTTP to the TLS port at the limit gets no HTTP back.
  RawClient plain(port());
  plain.Send(Get("/hello/b"));
  std::string raw = plain.ReadAll();
  EXPECT_EQ(raw.find("HTTP/"), std::string::npos) << raw;
}

TEST_F(TlsServerTest, ConnectionCloseEndsWithCloseNotify) {
  StartTls(HelloRouter());
  TlsTestClient c(port());
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.Send(Get("/hello/a")));  // keep-alive first: the connection stays
  EXPECT_NE(c.ReadUntil("}").find("{\"hello\":\"a\"}"), std::string::npos);
  ASSERT_TRUE(c.Send(Get("/hello/b", "Connection: close\r\n")));
  TlsTestClient::Ending got = c.ReadToEnd();
  EXPECT_NE(got.data.find("{\"hello\":\"b\"}"), std::string::npos) << got.data;
  EXPECT_EQ(got.end, TlsTestClient::End::kCloseNotify) << EndName(got.end) << " " << got.detail;
}

TEST_F(TlsServerTest, IdleTimeoutEndsWithCloseNotify) {
  base::ServerLimits limits;
  limits.idle_timeout = absl::Milliseconds(200);
  StartTls(HelloRouter(), limits);
  TlsTestClient c(port());
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.Send(Get("/hello/a")));
  TlsTestClient::Ending got = c.ReadToEnd();  // the response, then the idle close
  EXPECT_NE(got.data.find("{\"hello\":\"a\"}"), std::string::npos) << got.data;
  EXPECT_EQ(got.end, TlsTestClient::End::kCloseNotify) << EndName(got.end) << " " << got.detail;
}

TEST_F(TlsServerTest, ErrorAnswersEndWithCloseNotify) {
  base::ServerLimits limits;
  limits.max_header_bytes = 1024;
  StartTls(HelloRouter(), limits);
  TlsTestClient c(port());
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.Send(Get("/hello/a", "X-Big: " + std::string(4000, 'x') + "\r\n")));
  TlsTestClient::Ending got = c.ReadToEnd();
  EXPECT_TRUE(got.data.starts_with("HTTP/1.1 431")) << got.data;
  EXPECT_EQ(got.end, TlsTestClient::End::kCloseNotify) << EndName(got.end) << " " << got.detail;
}

TEST_F(TlsServerTest, DrainEndsIdleConnectionsAndStreamsWithCloseNotify) {
  std::promise<std::shared_ptr<SseStream>> opened;
  Router r = HelloRouter();
  r.Get("/events", [&](Request&) {
    Response resp;
    resp.sse = [&](std::shared_ptr<SseStream> s) { opened.set_value(s); };
    return resp;
  });
  StartTls(std::move(r));
  TlsTestClient idle(port()), events(port());
  ASSERT_TRUE(idle.ok()) << idle.error();
  ASSERT_TRUE(events.ok()) << events.error();
  ASSERT_TRUE(idle.Send(Get("/hello/a")));
  idle.ReadUntil("}");
  ASSERT_TRUE(events.Send(Get("/events")));
  std::shared_ptr<SseStream> stream = opened.get_future().get();
  ASSERT_TRUE(stream->SendComment("hi"));
  events.ReadUntil("hi");

  std::thread drainer([this] { server_->Drain(); });
  TlsTestClient::Ending idle_end = idle.ReadToEnd();
  EXPECT_EQ(idle_end.data, "");
  EXPECT_EQ(idle_end.end, TlsTestClient::End::kCloseNotify) << EndName(idle_end.end) << " " << idle_end.detail;
  TlsTestClient::Ending stream_end = events.ReadToEnd();
  EXPECT_NE(stream_end.data.find("0\r\n\r\n"), std::string::npos) << stream_end.data;
  EXPECT_EQ(stream_end.end, TlsTestClient::End::kCloseNotify)
      << EndName(stream_end.end) << " " << stream_end.detail;
  drainer.join();
  EXPECT_TRUE(stream->closed());
}

}  // namespace
}  // namespace edgevault::net
