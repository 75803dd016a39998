#include "src/net/http_client.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "gtest/gtest.h"
#include <filesystem>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/base/testing/poll_until.h"
#include "src/net/http_server.h"
#include "src/net/router.h"
#include "src/net/signing.h"
#include "src/net/tls_test_client.h"

namespace edgevault::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ServerRequest = http::request<http::string_body>;

::testing::AssertionResult Contains(absl::string_view haystack, absl::string_view needle) {
  if (haystack.find(needle) != absl::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << haystack << "\" lacks \"" << needle << "\"";
}

using base::testing::PollUntil;

// What the test server does with one request.
struct Reply {
  enum class Kind {
    kRespond,               // send `response`, keep the connection
    kRespondThenClose,      // send `response` (which says keep-alive), then close
    kCloseWithoutResponse,  // read the request, close without a byte
    kNeverRespond,          // read the request, say nothing, wait for the next one
    kRaw,                   // write `raw` bytes, then close
  };
  Kind kind = Kind::kRespond;
  http::response<http::string_body> response{http::status::ok, 11};
  std::string raw;
};

Reply Respond(int status, std::string body) {
  Reply r;
  r.response.result(static_cast<unsigned>(status));
  r.response.body() = std::move(body);
  return r;
}

Reply Act(Reply::Kind kind) {
  Reply r = Respond(200, "ok");
  r.kind = kind;
  return r;
}

// A blocking HTTP/1.1 server on 127.0.0.1:0, a thread per connection, which counts
// connections and requests. `handler` gets each request and its 1-based sequence number.
class TestServer {
 public:
  using Handler = std::function<Reply(const ServerRequest&, int request_number)>;

  explicit TestServer(Handler handler) : handler_(std::move(handler)), acceptor_(ioc_) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    stopping_ = true;
    {  // Wake the blocking accept.
      asio::io_context ioc;
      tcp::socket poke(ioc);
      beast::error_code ec;
      poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    }
    accept_thread_.join();
    std::vector<std::thread> sessions;
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      sessions.swap(sessions_);
    }
    for (auto& t : sessions) t.join();
  }

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }
  int closed() const { return closed_.load(); }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) continue;
      accepted_.fetch_add(1);
      std::lock_guard lock(mu_);
      open_fds_.insert(socket.native_handle());
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { Session(std::move(s)); });
    }
  }

  void Session(tcp::socket socket) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (bool open = true; open;) {
      ServerRequest request;
      http::read(socket, buffer, request, ec);
      if (ec) break;
      Reply reply = handler_(request, requests_.fetch_add(1) + 1);
      switch (reply.kind) {
        case Reply::Kind::kRespond:
        case Reply::Kind::kRespondThenClose:
          WriteResponse(socket, request, reply.response, &ec);
          open = !ec && reply.kind == Reply::Kind::kRespond;
          break;
        case Reply::Kind::kCloseWithoutResponse:
          open = false;
          break;
        case Reply::Kind::kNeverRespond:
          break;
        case Reply::Kind::kRaw:
          asio::write(socket, asio::buffer(reply.raw), ec);
          open = false;
          break;
      }
    }
    {
      std::lock_guard lock(mu_);
      open_fds_.erase(socket.native_handle());
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    closed_.fetch_add(1);
  }

  static void WriteResponse(tcp::socket& socket, const ServerRequest& request,
                            http::response<http::string_body>& response, beast::error_code* ec) {
    response.version(11);
    response.keep_alive(true);
    response.prepare_payload();
    if (request.method() == http::verb::head) {  // headers only, with the GET's length
      http::response_serializer<http::string_body> serializer(response);
      http::write_header(socket, serializer, *ec);
    } else {
      http::write(socket, response, *ec);
    }
  }

  Handler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_{0};
  std::mutex mu_;
  std::set<int> open_fds_;             // guarded by mu_
  std::vector<std::thread> sessions_;  // guarded by mu_
};

Reply Echo(const ServerRequest& request, int) {
  Reply r = Respond(
      200, base::StrCat(request.method_string(), " ", request.target(), " ", request.body()));
  r.response.set("X-Echo-Host", request[http::field::host]);
  return r;
}

std::unique_ptr<HttpClient> MakeClient(HttpClientOptions options = {}) {
  absl::StatusOr<std::unique_ptr<HttpClient>> client = HttpClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

ClientRequest Get(std::string target) {
  ClientRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

ClientRequest Post(std::string target, std::string body) {
  ClientRequest r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

TEST(HttpClientTest, SendsRequestAndReadsResponse) {
  TestServer server(Echo);
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res =
      client->Do("127.0.0.1", server.port(), Post("/v1/items?env=dev", R"({"k":1})"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"(POST /v1/items?env=dev {"k":1})");
  EXPECT_EQ(res->Header("x-echo-host"), base::StrCat("127.0.0.1:", server.port()));
  EXPECT_EQ(res->Header("CONTENT-LENGTH"), "30");
  EXPECT_EQ(res->Header("X-Absent"), std::nullopt);
}

TEST(HttpClientTest, ErrorStatusesAreResponsesNotErrors) {
  TestServer server([](const ServerRequest&, int) { return Respond(503, "busy"); });
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "busy");
}

TEST(HttpClientTest, SequentialRequestsReuseOneConnection) {
  TestServer server(Echo);
  auto client = MakeClient();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<ClientResponse> res =
        client->Do("127.0.0.1", server.port(), Get(base::StrCat("/n/", i)));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->body, base::StrCat("GET /n/", i, " "));
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClientTest, ZeroIdleConnectionsMeansNoReuse) {
  TestServer server(Echo);
  HttpClientOptions options;
  options.max_idle_per_host = 0;
  auto client = MakeClient(options);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(client->Do("127.0.0.1", server.port(), Get("/")).ok());
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientTest, HeadResponseWithoutBodyKeepsConnectionUsable) {
  TestServer server([](const ServerRequest&, int) { return Respond(200, "hello"); });
  auto client = MakeClient();
  ClientRequest head = Get("/");
  head.method = "HEAD";
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), head);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->Header("Content-Length"), "5");
  EXPECT_EQ(res->body, "");
  res = client->Do("127.0.0.1", server.port(), Get("/"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "hello");
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClientTest, ServerThatNeverAnswersTimesOut) {
  TestServer server([](const ServerRequest&, int) { return Act(Reply::Kind::kNeverRespond); });
  HttpClientOptions options;
  options.request_timeout = absl::Milliseconds(200);
  auto client = MakeClient(options);
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/slow"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kDeadlineExceeded) << res.status();
  EXPECT_TRUE(Contains(res.status().message(), "request_timeout"));
}

TEST(HttpClientTest, TimedOutConnectionIsNotReused) {
  TestServer server([](const ServerRequest&, int n) {
    return n == 1 ? Act(Reply::Kind::kNeverRespond) : Respond(200, "late but fine");
  });
  HttpClientOptions options;
  options.request_timeout = absl::Milliseconds(200);
  auto client = MakeClient(options);
  ASSERT_FALSE(client->Do("127.0.0.1", server.port(), Get("/")).ok());
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "late but fine");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientTest, RefusedConnectionIsUnavailable) {
  // A bound socket that does not listen: the kernel refuses connections to its port,
  // and nobody else can take the port while we hold it.
  asio::io_context ioc;
  tcp::socket holder(ioc);
  holder.open(tcp::v4());
  holder.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = holder.local_endpoint().port();

  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", port, Get("/"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_TRUE(Contains(res.status().message(), base::StrCat("127.0.0.1:", port)));
}

TEST(HttpClientTest, ResolvesHostNames) {
  TestServer server(Echo);  // listens on 127.0.0.1 only; "localhost" may list ::1 first
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("localhost", server.port(), Get("/"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->Header("X-Echo-Host"), base::StrCat("localhost:", server.port()));
}

TEST(HttpClientTest, UnknownHostIsUnavailable) {
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("no-such-host.invalid", 80, Get("/"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
}

TEST(HttpClientTest, ResponseBodyOverTheLimitIsResourceExhausted) {
  TestServer server([](const ServerRequest& request, int) {
    return Respond(200, std::string(request.target() == "/big" ? 2 << 20 : 1 << 20, 'x'));
  });
  HttpClientOptions options;
  options.max_response_body_bytes = 1 << 20;
  auto client = MakeClient(options);
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/big"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kResourceExhausted) << res.status();
  EXPECT_TRUE(Contains(res.status().message(), "max_response_body_bytes"));
  // Exactly at the limit is fine.
  res = client->Do("127.0.0.1", server.port(), Get("/limit"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body.size(), 1u << 20);
}

TEST(HttpClientTest, GarbageResponseIsInternal) {
  TestServer server([](const ServerRequest&, int) {
    Reply r;
    r.kind = Reply::Kind::kRaw;
    r.raw = "SPDY/9 what is this\r\n\r\n";
    return r;
  });
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kInternal) << res.status();
}

TEST(HttpClientTest, ConnectionClosedMidResponseIsUnavailable) {
  TestServer server([](const ServerRequest&, int) {
    Reply r;
    r.kind = Reply::Kind::kRaw;
    r.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a little";
    return r;
  });
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
}

TEST(HttpClientTest, IdleConnectionClosedByServerIsReplacedTransparently) {
  TestServer server([](const ServerRequest&, int n) {
    return n == 1 ? Act(Reply::Kind::kRespondThenClose) : Respond(200, "second");
  });
  auto client = MakeClient();
  ASSERT_TRUE(client->Do("127.0.0.1", server.port(), Get("/")).ok());
  ASSERT_TRUE(PollUntil([&] { return server.closed() == 1; }));
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "second");
  EXPECT_EQ(server.accepted(), 2);
}

// The server drops a reused connection after reading the request (the race the idle
// check cannot see): an idempotent request is resent once on a new connection.
TEST(HttpClientTest, IdempotentRequestIsRetriedWhenReusedConnectionDrops) {
  TestServer server([](const ServerRequest&, int n) {
    return n == 2 ? Act(Reply::Kind::kCloseWithoutResponse) : Respond(200, base::StrCat(n));
  });
  auto client = MakeClient();
  ASSERT_TRUE(client->Do("127.0.0.1", server.port(), Get("/")).ok());
  ClientRequest put = Get("/");
  put.method = "PUT";
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), put);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "3");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientTest, PostIsNotRetriedWhenReusedConnectionDrops) {
  TestServer server([](const ServerRequest&, int n) {
    return n == 2 ? Act(Reply::Kind::kCloseWithoutResponse) : Respond(200, base::StrCat(n));
  });
  auto client = MakeClient();
  ASSERT_TRUE(client->Do("127.0.0.1", server.port(), Get("/")).ok());
  absl::StatusOr<ClientResponse> res =
      client->Do("127.0.0.1", server.port(), Post("/v1/promote", "{}"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_EQ(server.requests(), 2);  // the POST reached the server exactly once
  EXPECT_EQ(server.accepted(), 1);
  // The client recovers on the next call.
  res = client->Do("127.0.0.1", server.port(), Get("/"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "3");
}

TEST(HttpClientTest, FreshConnectionThatDropsIsNotRetried) {
  TestServer server(
      [](const ServerRequest&, int) { return Act(Reply::Kind::kCloseWithoutResponse); });
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get("/"));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
  EXPECT_EQ(server.requests(), 1);
}

class SignedHttpClientTest : public ::testing::Test {
 protected:
  // Verifies like a service would; request 2 is verified and then dropped unanswered.
  Reply Check(const ServerRequest& request, int n) {
    absl::StatusOr<std::string> caller = verifier_.Verify(
        request.method_string(), request.target(), request[kCallerHeader],
        request[kTimestampHeader], request[kNonceHeader], request[kSignatureHeader],
        request.body(), env_.Now());
    if (!caller.ok()) return Respond(401, std::string(caller.status().message()));
    if (n == drop_request_) return Act(Reply::Kind::kCloseWithoutResponse);
    return Respond(200, "verified");
  }

  base::SimulatedEnv env_;
  static ServiceCredential Credential(char seed) {
    return *ServiceCredential::FromKey("api", *crypto::Ed25519PrivateKey::FromRaw(std::string(32, seed)));
  }
  static ServiceTrust Trusting(const ServiceCredential& c) {
    ServiceTrust t;
    t.Add(c.service(), c.key().PublicKey());
    return t;
  }
  ServiceCredential key_ = Credential('7');
  SignatureVerifier verifier_{"auth", Trusting(key_)};
  int drop_request_ = 0;
  TestServer server_{[this](const ServerRequest& r, int n) { return Check(r, n); }};
};

TEST_F(SignedHttpClientTest, SignedRequestsAreAccepted) {
  HttpClientOptions options;
  options.credential = &key_;
  options.audience = "auth";
  options.env = &env_;
  auto client = MakeClient(options);
  for (const ClientRequest& request : {Get("/internal/x?y=1"), Post("/internal/y", "body")}) {
    absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_.port(), request);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(verifier_.RememberedNonces(), 2u);
}

TEST_F(SignedHttpClientTest, UnsignedRequestsAreRejectedByTheVerifier) {
  auto client = MakeClient();
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_.port(), Get("/internal/x"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 401);
  EXPECT_TRUE(Contains(res->body, "missing X-EV-Caller"));
}

TEST_F(SignedHttpClientTest, ClientWithAnotherKeyIsRejected) {
  ServiceCredential other = Credential('8');
  HttpClientOptions options;
  options.credential = &other;
  options.audience = "auth";
  options.env = &env_;
  auto client = MakeClient(options);
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_.port(), Get("/internal/x"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 401);
  EXPECT_TRUE(Contains(res->body, "bad signature"));
}

// A request signed for another service (audience) cannot be replayed to this one.
TEST_F(SignedHttpClientTest, RequestSignedForAnotherAudienceIsRejected) {
  HttpClientOptions options;
  options.credential = &key_;
  options.audience = "delivery";
  options.env = &env_;
  auto client = MakeClient(options);
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_.port(), Get("/internal/x"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 401);
  EXPECT_TRUE(Contains(res->body, "bad signature"));
}

// Regression guard: a retry must be signed afresh, or the server (which recorded the
// first attempt's nonce before dropping the connection) rejects it as a replay.
TEST_F(SignedHttpClientTest, RetryCarriesAFreshNonce) {
  drop_request_ = 2;
  HttpClientOptions options;
  options.credential = &key_;
  options.audience = "auth";
  options.env = &env_;
  auto client = MakeClient(options);
  ASSERT_TRUE(client->Do("127.0.0.1", server_.port(), Get("/internal/x")).ok());
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_.port(), Get("/internal/x"));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(server_.requests(), 3);
}

TEST(HttpClientTest, ConcurrentCallsFromManyThreads) {
  TestServer server(Echo);
  HttpClientOptions options;
  options.max_idle_per_host = 4;
  auto client = MakeClient(options);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string target = base::StrCat("/t", t, "/", i);
        absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), Get(target));
        if (res.ok() && res->body == base::StrCat("GET ", target, " ")) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 120);
  EXPECT_LE(server.accepted(), 120);
}

TEST(HttpClientTest, MalformedRequestsAreRejectedBeforeSending) {
  TestServer server(Echo);
  auto client = MakeClient();
  std::vector<ClientRequest> bad;
  bad.push_back(Get("/"));
  bad.back().method = "GE T";
  bad.push_back(Get("no-slash"));
  bad.push_back(Get("/a b"));
  bad.push_back(Get("/"));
  bad.back().headers = {{"X-Injected", "a\r\nEvil: 1"}};
  bad.push_back(Get("/"));
  bad.back().headers = {{"Bad Name", "v"}};
  bad.push_back(Post("/", "x"));
  bad.back().headers = {{"content-length", "5"}};
  for (const ClientRequest& request : bad) {
    absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server.port(), request);
    EXPECT_EQ(res.status().code(), absl::StatusCode::kInvalidArgument) << request.target;
  }
  EXPECT_EQ(server.accepted(), 0);
}

TEST(HttpClientTest, CreateRejectsNonsenseOptions) {
  HttpClientOptions options;
  options.request_timeout = absl::ZeroDuration();
  EXPECT_EQ(HttpClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = {};
  options.max_response_body_bytes = 0;
  EXPECT_EQ(HttpClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

// HTTPS (HttpClientOptions::tls): a real TLS server (HttpServer as the console runs it) with
// a self-signed certificate for 127.0.0.1 made here, which the client trusts only through
// its CA file.
class HttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-https-client-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    absl::StatusOr<TlsFiles> files = MakeSelfSignedCert(dir_, "server");
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *files;
  }
  void TearDown() override {
    if (server_) server_->Drain();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Start(const std::string& host) {
    Router r;
    r.Post("/hook", [](Request& req) { return Response::Json(200, "{\"got\":\"" + std::string(req.body()) + "\"}"); });
    ServerOptions o;
    o.host = host;
    o.io_threads = 1;
    o.access_log = false;
    o.tls_cert_file = files_.cert_file;
    o.tls_key_file = files_.key_file;
    absl::StatusOr<std::unique_ptr<HttpServer>> s = HttpServer::Create(o, std::move(r));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_TRUE(server_->Start().ok());
  }
  std::unique_ptr<HttpClient> Client(bool system_trust, std::string ca_file) {
    HttpClientOptions o;
    o.tls = {.enabled = true, .system_trust = system_trust, .ca_file = std::move(ca_file)};
    absl::StatusOr<std::unique_ptr<HttpClient>> c = HttpClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  static ClientRequest Post() { return {.method = "POST", .target = "/hook", .headers = {}, .body = "ping"}; }

  std::string dir_;
  TlsFiles files_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpsClientTest, TrustedCertificateForTheAddressCalledSucceeds) {
  Start("127.0.0.1");
  std::unique_ptr<HttpClient> client = Client(true, files_.cert_file);
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 2; ++i) {  // the second one reuses the TLS connection
    absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_->port(), Post(), Scheme::kHttps);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "{\"got\":\"ping\"}");
  }
  // Plain HTTP to the TLS port gets no HTTP answer.
  EXPECT_FALSE(client->Do("127.0.0.1", server_->port(), Post()).ok());
}

TEST_F(HttpsClientTest, UntrustedCertificateIsACertificateError) {
  Start("127.0.0.1");
  std::unique_ptr<HttpClient> client = Client(true, "");  // the system store only
  ASSERT_NE(client, nullptr);
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.1", server_->port(), Post(), Scheme::kHttps);
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(absl::IsUnavailable(res.status())) << res.status();
  EXPECT_EQ(base::ErrorCode(res.status()), "tls_certificate") << res.status();
  EXPECT_TRUE(Contains(res.status().message(), "not accepted: self")) << res.status();
}

TEST_F(HttpsClientTest, CertificateForAnotherAddressIsRefused) {
  Start("127.0.0.2");  // the certificate names 127.0.0.1 only
  std::unique_ptr<HttpClient> client = Client(false, files_.cert_file);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<ClientResponse> res = client->Do("127.0.0.2", server_->port(), Post(), Scheme::kHttps);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(base::ErrorCode(res.status()), "tls_certificate") << res.status();
  EXPECT_TRUE(Contains(res.status().message(), "mismatch")) << res.status();
}

TEST_F(HttpsClientTest, CertificateWithoutTheNameCalledIsRefused) {
  Start("127.0.0.1");
  std::unique_ptr<HttpClient> client = Client(false, files_.cert_file);
  ASSERT_NE(client, nullptr);
  // "localhost" resolves to this server, but the certificate names IP 127.0.0.1, no DNS name.
  absl::StatusOr<ClientResponse> res = client->Do("localhost", server_->port(), Post(), Scheme::kHttps);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(base::ErrorCode(res.status()), "tls_certificate") << res.status();
  EXPECT_TRUE(Contains(res.status().message(), "hostname mismatch")) << res.status();
}

TEST_F(HttpsClientTest, HttpsMustBeEnabledAndTheCaFileMustLoad) {
  HttpClientOptions o;
  absl::StatusOr<std::unique_ptr<HttpClient>> plain = HttpClient::Create(o);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition((*plain)->Do("127.0.0.1", 9, Post(), Scheme::kHttps).status()));
  o.tls = {.enabled = true, .system_trust = true, .ca_file = dir_ + "/missing.pem"};
  EXPECT_TRUE(absl::IsInvalidArgument(HttpClient::Create(o).status()));
  o.tls = {.enabled = true, .system_trust = true, .ca_file = files_.key_file};  // no certificate in it
  EXPECT_TRUE(absl::IsInvalidArgument(HttpClient::Create(o).status()));
  o.tls = {.enabled = true, .system_trust = false, .ca_file = ""};
  EXPECT_TRUE(absl::IsInvalidArgument(HttpClient::Create(o).status()));
}

}  // namespace
}  // namespace edgevault::net
