// The delivery service in-process: a real HttpServer on port 0 over a temp-dir LMDB edge
// KV the test fills with hand-made resolved documents (docs/design/resolved-document.md).
#include "src/services/delivery/delivery_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/testing/poll_until.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/ed25519.h"
#include "src/crypto/hash.h"
#include "src/crypto/jwks.h"
#include "src/net/http_client.h"
#include "src/net/http_server.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"

namespace edgevault::delivery {
namespace {
namespace json = boost::json;

constexpr char kSdkKey[] = "evs_test_key_1";
constexpr char kOtherSdkKey[] = "evs_test_key_2";  // same environment, its own rate limit

// Passes through to a real KV, or fails every read with Unavailable when `down` is set.
class FaultyKv : public storage::EdgeKv {
 public:
  explicit FaultyKv(storage::EdgeKv* inner) : inner_(inner) {}
  std::atomic<bool> down{false};
  absl::StatusOr<bool> PutIfNewer(std::string_view k, std::string_view v, int64_t ver) override {
    return inner_->PutIfNewer(k, v, ver);
  }
  absl::StatusOr<storage::KvEntry> Get(std::string_view k) override {
    if (down) return absl::UnavailableError("kv down");
    return inner_->Get(k);
  }
  absl::StatusOr<int64_t> GetVersion(std::string_view k) override {
    if (down) return absl::UnavailableError("kv down");
    return inner_->GetVersion(k);
  }
  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view k, int64_t v) override {
    return inner_->DeleteIfNotNewer(k, v);
  }
  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view p, int l) override {
    return inner_->ListKeys(p, l);
  }

 private:
  storage::EdgeKv* inner_;
};

std::string Document(int64_t version, std::string_view greeting) {
  json::value flag = json::parse(
      R"({"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],)"
      R"("environments":{"prod":{"on":true,"rules":[{"id":"pro","clauses":[)"
      R"({"attribute":"plan","op":"in","values":["pro"]}],"variation":1}],)"
      R"("fallthrough":{"variation":0}}}})");
  json::value split = json::parse(
      R"({"variations":[{"value":"a"},{"value":"b"}],"environments":{"prod":{"on":true,)"
      R"("fallthrough":{"rollout":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}}}})");
  json::object doc{{"format", 1},
                   {"workspace_id", "ws_1"},
                   {"workspace", "shop"},
                   {"environment", "prod"},
                   {"version", version},
                   {"configs", json::object{{"greeting", json::object{{"type", "string"},
                                                                       {"value", greeting},
                                                                       {"from", "prod"}}}}},
                   {"flags", json::object{{"killed", json::parse(
                                                          R"({"variations":[{"value":1},{"value":2}],)"
                                                          R"("environments":{"prod":{"on":false,)"
                                                          R"("fallthrough":{"variation":1}}}})")},
                                          {"new-checkout", flag},
                                          {"split", split}}},
                   {"segments", json::object{}}};
  return json::serialize(doc);
}

class DeliveryTest : public ::testing::Test {
 protected:
  absl::Duration poll_interval_ = absl::Milliseconds(20);
  int64_t rate_per_second_ = 0;  // DeliveryOptions::ofrep_rate_limit_per_second
  int64_t rate_burst_ = 0;
  storage::RateLimiter* shared_limiter_ = nullptr;  // DeliveryOptions::shared_rate_limiter
  base::SimulatedEnv env_;  // the rate limit's clock: moves only when a test says so
  void SetUp() override {
    char tmpl[] = "/tmp/ev-delivery-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto kv = storage::OpenLmdbEdgeKv({.path = dir_ + "/edge"});
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    faulty_ = std::make_unique<FaultyKv>(kv_.get());
    ASSERT_TRUE(kv_->PutIfNewer("sdk/" + crypto::Sha256Hex(kSdkKey),
                                R"({"org_id":"org_1","workspace_id":"ws_1","environment":"prod"})", 1)
                    .ok());
    ASSERT_TRUE(kv_->PutIfNewer("sdk/" + crypto::Sha256Hex(kOtherSdkKey),
                                R"({"org_id":"org_1","workspace_id":"ws_1","environment":"prod"})", 1)
                    .ok());
    Publish(5, "hello");
    DeliveryOptions o;
    o.kv = faulty_.get();
    o.poll_interval = poll_interval_;
    o.heartbeat_ticks = 5;
    o.ofrep_rate_limit_per_second = rate_per_second_;
    o.ofrep_rate_limit_burst = rate_burst_;
    o.shared_rate_limiter = shared_limiter_;
    o.env = &env_;
    auto svc = DeliveryService::Create(o);
    ASSERT_TRUE(svc.ok()) << svc.status();
    service_ = std::move(*svc);
    net::Router router;
    service_->Install(router);
    net::ServerOptions so;
    so.io_threads = 2;
    so.access_log = false;
    auto server = net::HttpServer::Create(so, std::move(router));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->Start().ok());
    service_->Start();
    auto client = net::HttpClient::Create({});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (server_) server_->Drain();
    if (service_) service_->Stop();
    client_.reset();
    server_.reset();
    service_.reset();
    faulty_.reset();
    kv_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Publish(int64_t version, std::string_view greeting) {
    ASSERT_TRUE(kv_->PutIfNewer("doc/ws_1/prod", Document(version, greeting), version).ok());
  }

  net::ClientResponse Call(std::string method, std::string target, std::string body = "",
                           std::vector<std::pair<std::string, std::string>> headers = {
                               {"Authorization", std::string("Bearer ") + kSdkKey}}) {
    net::ClientRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    if (!req.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    auto r = client_->Do("127.0.0.1", server_->port(), req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : net::ClientResponse{};
  }

  json::object Eval(std::string_view flag, std::string context, int* status) {
    net::ClientResponse r = Call("POST", "/ofrep/v1/evaluate/flags/" + std::string(flag),
                                 R"({"context":)" + context + "}");
    *status = r.status;
    json::value v = json::parse(r.body);
    return v.is_object() ? v.as_object() : json::object();
  }

  std::string dir_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<FaultyKv> faulty_;
  std::unique_ptr<DeliveryService> service_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(DeliveryTest, ConfigServesDocumentWithStrongEtagAnd304) {
  net::ClientResponse r = Call("GET", "/v1/config");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, Document(5, "hello"));
  std::string etag(r.Header("ETag").value_or(""));
  EXPECT_EQ(etag, "\"" + crypto::Sha256Hex(r.body).substr(0, 32) + "\"");
  net::ClientResponse again = Call("GET", "/v1/config", "",
                                   {{"X-API-Key", kSdkKey}, {"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  net::ClientResponse other = Call("GET", "/v1/config", "",
                                   {{"X-API-Key", kSdkKey}, {"If-None-Match", "\"nope\""}});
  EXPECT_EQ(other.status, 200);
}

TEST_F(DeliveryTest, MissingOrWrongKeyIs401) {
  EXPECT_EQ(Call("GET", "/v1/config", "", {}).status, 401);
  EXPECT_EQ(Call("GET", "/v1/config", "", {{"Authorization", "Bearer evs_wrong"}}).status, 401);
  EXPECT_EQ(Call("POST", "/ofrep/v1/evaluate/flags/new-checkout", "{}", {{"X-API-Key", "evs_wrong"}}).status,
            401);
  EXPECT_EQ(Call("POST", "/ofrep/v1/evaluate/flags", "{}", {}).status, 401);
}

TEST_F(DeliveryTest, RevokedKeyStopsWorking) {
  ASSERT_EQ(Call("GET", "/v1/config").status, 200);
  ASSERT_TRUE(kv_->DeleteIfNotNewer("sdk/" + crypto::Sha256Hex(kSdkKey), 1).ok());
  EXPECT_EQ(Call("GET", "/v1/config").status, 401);
}

TEST_F(DeliveryTest, NewVersionGivesNewBodyAndEtag) {
  net::ClientResponse first = Call("GET", "/v1/config");
  Publish(6, "bonjour");
  net::ClientResponse second = Call("GET", "/v1/config", "",
                                    {{"X-API-Key", kSdkKey},
                                     {"If-None-Match", std::string(first.Header("ETag").value_or(""))}});
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, Document(6, "bonjour"));
  EXPECT_NE(second.Header("ETag"), first.Header("ETag"));
}

TEST_F(DeliveryTest, FailStaticServesLastSnapshotWithHeader) {
  ASSERT_EQ(Call("GET", "/v1/config").status, 200);
  faulty_->down = true;
  net::ClientResponse r = Call("GET", "/v1/config");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Document(5, "hello"));
  EXPECT_EQ(r.Header(kStaleHeader).value_or(""), "true");
  int status = 0;
  json::object e = Eval("new-checkout", R"({"targetingKey":"u1","plan":"pro"})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(e["value"], json::value(true));
  faulty_->down = false;
  Publish(7, "back");
  net::ClientResponse after = Call("GET", "/v1/config");
  EXPECT_EQ(after.body, Document(7, "back"));
  EXPECT_FALSE(after.Header(kStaleHeader).has_value());
}

TEST_F(DeliveryTest, OfrepSingleEvaluation) {
  int status = 0;
  json::object match = Eval("new-checkout", R"({"targetingKey":"u1","plan":"pro"})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(match["key"], "new-checkout");
  EXPECT_EQ(match["value"], json::value(true));
  EXPECT_EQ(match["reason"], "TARGETING_MATCH");
  EXPECT_EQ(match["variant"], "on");
  EXPECT_EQ(match["metadata"].as_object()["ruleIndex"], 0);
  json::object fall = Eval("new-checkout", R"({"targetingKey":"u1","plan":"free"})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(fall["value"], json::value(false));
  EXPECT_EQ(fall["reason"], "DEFAULT");
  EXPECT_EQ(fall["variant"], "off");
  json::object split = Eval("split", R"({"targetingKey":"u1"})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(split["reason"], "SPLIT");
  EXPECT_TRUE(split["variant"] == "0" || split["variant"] == "1") << json::serialize(split);
  json::object config = Eval("greeting", "{}", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(config["value"], "hello");
  EXPECT_EQ(config["reason"], "STATIC");
}

TEST_F(DeliveryTest, OfrepFlagOffWithoutOffVariationHasNullValue) {
  int status = 0;
  json::object off = Eval("killed", R"({"targetingKey":"u1"})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(off["reason"], "DISABLED");
  EXPECT_TRUE(off["value"].is_null()) << json::serialize(off);
  EXPECT_FALSE(off.contains("variant"));
}

TEST_F(DeliveryTest, EnvironmentWithoutDocumentIs404) {
  ASSERT_TRUE(kv_->PutIfNewer("sdk/" + crypto::Sha256Hex("evs_staging"),
                              R"({"org_id":"org_1","workspace_id":"ws_1","environment":"staging"})", 1)
                  .ok());
  EXPECT_EQ(Call("GET", "/v1/config", "", {{"X-API-Key", "evs_staging"}}).status, 404);
  net::ClientResponse r = Call("POST", "/ofrep/v1/evaluate/flags/split", "{}", {{"X-API-Key", "evs_staging"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body).as_object()["errorCode"], "FLAG_NOT_FOUND");
}

TEST_F(DeliveryTest, OfrepErrorCodes) {
  int status = 0;
  json::object missing = Eval("nope", "{}", &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(missing["key"], "nope");
  EXPECT_EQ(missing["errorCode"], "FLAG_NOT_FOUND");
  EXPECT_TRUE(missing["errorDetails"].is_string());
  json::object no_key = Eval("split", "{}", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(no_key["errorCode"], "TARGETING_KEY_MISSING");
  json::object bad_ctx = Eval("split", "[1]", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad_ctx["errorCode"], "INVALID_CONTEXT");
  EXPECT_EQ(bad_ctx["key"], "split");
  json::object bad_tk = Eval("split", R"({"targetingKey":5})", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad_tk["errorCode"], "INVALID_CONTEXT");
  net::ClientResponse parse = Call("POST", "/ofrep/v1/evaluate/flags/split", "{not json");
  EXPECT_EQ(parse.status, 400);
  EXPECT_EQ(json::parse(parse.body).as_object()["errorCode"], "PARSE_ERROR");
  EXPECT_EQ(json::parse(parse.body).as_object()["key"], "split");
}

TEST_F(DeliveryTest, OfrepBulkWithResultEtag) {
  net::ClientResponse r = Call("POST", "/ofrep/v1/evaluate/flags",
                               R"({"context":{"targetingKey":"u1","plan":"pro"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::array flags = json::parse(r.body).as_object()["flags"].as_array();
  ASSERT_EQ(flags.size(), 4u);  // killed, new-checkout, split, greeting
  EXPECT_EQ(flags[1].as_object().at("key"), "new-checkout");
  EXPECT_EQ(flags[1].as_object().at("value"), json::value(true));
  EXPECT_EQ(flags[3].as_object().at("key"), "greeting");
  EXPECT_EQ(flags[3].as_object().at("reason"), "STATIC");
  std::string etag(r.Header("ETag").value_or(""));
  ASSERT_FALSE(etag.empty());
  std::vector<std::pair<std::string, std::string>> h = {{"X-API-Key", kSdkKey}, {"If-None-Match", etag}};
  EXPECT_EQ(Call("POST", "/ofrep/v1/evaluate/flags", R"({"context":{"targetingKey":"u1","plan":"pro"}})", h)
                .status,
            304);
  // Same document, another context with another result: the old ETag no longer matches.
  net::ClientResponse other =
      Call("POST", "/ofrep/v1/evaluate/flags", R"({"context":{"targetingKey":"u1","plan":"free"}})", h);
  EXPECT_EQ(other.status, 200);
  EXPECT_NE(other.Header("ETag").value_or(""), etag);
  // Per-flag errors sit in the list; the call itself succeeds.
  net::ClientResponse no_key = Call("POST", "/ofrep/v1/evaluate/flags", R"({"context":{}})");
  EXPECT_EQ(no_key.status, 200);
  EXPECT_NE(no_key.body.find("TARGETING_KEY_MISSING"), std::string::npos) << no_key.body;
  net::ClientResponse bad = Call("POST", "/ofrep/v1/evaluate/flags", "{oops");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body).as_object()["errorCode"], "PARSE_ERROR");
}

int OpenStream(uint16_t port, const std::string& target, const std::string& extra_headers) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "\r\n";
  ::send(fd, req.data(), req.size(), 0);
  return fd;
}

// Reads until `marker` appears (or ~20 s of silence passes, failing the caller's check).
bool ReadUntil(int fd, std::string& buffer, std::string_view marker) {
  char buf[4096];
  for (int idle = 0; buffer.find(marker) == std::string::npos && idle < 200;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      buffer.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else {
      ++idle;
    }
  }
  return buffer.find(marker) != std::string::npos;
}

TEST_F(DeliveryTest, StreamSendsDocumentThenEveryNewVersion) {
  int fd = OpenStream(server_->port(), std::string("/v1/stream?key=") + kSdkKey, "");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, got, "hello")) << got;
  EXPECT_NE(got.find("text/event-stream"), std::string::npos) << got;
  EXPECT_NE(got.find("id: 5"), std::string::npos) << got;
  EXPECT_NE(got.find("event: config"), std::string::npos) << got;
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 1; }));
  Publish(6, "pushed");
  env_.RunFor(poll_interval_);  // the next poll finds version 6
  ASSERT_TRUE(ReadUntil(fd, got, "pushed")) << got;
  EXPECT_NE(got.find("id: 6"), std::string::npos) << got;
  ::close(fd);
}

// An SDK key revoked while its stream is open: the stream ends within about a second
// (the poll rechecks the keys of open streams) and hears no later version; another key's
// stream on the same environment goes on.
TEST_F(DeliveryTest, StreamOfARevokedKeyEndsAndHearsNothingMore) {
  int revoked = OpenStream(server_->port(), std::string("/v1/stream?key=") + kSdkKey, "");
  int other = OpenStream(server_->port(), std::string("/v1/stream?key=") + kOtherSdkKey, "");
  std::string got_revoked, got_other;
  ASSERT_TRUE(ReadUntil(revoked, got_revoked, "hello")) << got_revoked;
  ASSERT_TRUE(ReadUntil(other, got_other, "hello")) << got_other;
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 2; }));
  ASSERT_TRUE(kv_->DeleteIfNotNewer("sdk/" + crypto::Sha256Hex(kSdkKey), 1).ok());
  env_.RunFor(absl::Seconds(1) + poll_interval_);
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 1; }));
  Publish(6, "after-revocation");
  env_.RunFor(poll_interval_);
  ASSERT_TRUE(ReadUntil(other, got_other, "after-revocation")) << got_other;
  EXPECT_FALSE(ReadUntil(revoked, got_revoked, "after-revocation")) << got_revoked;
  char c;
  EXPECT_EQ(::recv(revoked, &c, 1, 0), 0) << "the revoked key's stream is still open";
  ::close(revoked);
  ::close(other);
  EXPECT_EQ(Call("GET", "/v1/config").status, 401);
}

TEST_F(DeliveryTest, StreamResumeAtCurrentVersionWaitsForTheNextChange) {
  int fd = OpenStream(server_->port(), "/v1/stream",
                      std::string("Authorization: Bearer ") + kSdkKey + "\r\nLast-Event-ID: 5\r\n");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, got, "\r\n\r\n")) << got;  // the response head
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 1; }));
  Publish(6, "next");
  env_.RunFor(poll_interval_);
  ASSERT_TRUE(ReadUntil(fd, got, "next")) << got;
  EXPECT_EQ(got.find("hello"), std::string::npos) << "version 5 was re-sent: " << got;
  ::close(fd);
  EXPECT_EQ(Call("GET", "/v1/stream", "", {}).status, 401);
}

TEST_F(DeliveryTest, StreamSendsHeartbeats) {
  int fd = OpenStream(server_->port(), std::string("/v1/stream?key=") + kSdkKey, "");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, got, "hello")) << got;
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 1; }));
  env_.RunFor(5 * poll_interval_);  // a heartbeat every 5 polls in this fixture
  ASSERT_TRUE(ReadUntil(fd, got, ": heartbeat")) << got;
  ::close(fd);
}

// Push, not a timer: with a poll interval of a minute, a notification (what the api sends
// after writing a new version) reaches an open stream at once.
// A document of `flags` flags with a rule and a rollout each (about 330 bytes per flag).
std::string LargeDocument(int64_t version, int flags) {
  json::value flag = json::parse(
      R"({"variations":[{"value":true,"name":"on"},{"value":false,"name":"off"}],)"
      R"("environments":{"prod":{"on":true,"off_variation":1,"targets":[],"rules":[{"clauses":[)"
      R"({"attribute":"country","op":"in","values":["nz","au"]}],"variation":0}],)"
      R"("fallthrough":{"rollout":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}}}})");
  json::object all;
  for (int i = 0; i < flags; ++i) all["flag_" + std::to_string(i)] = flag;
  json::object doc{{"format", 1},     {"workspace_id", "ws_1"}, {"workspace", "shop"}, {"environment", "prod"},
                   {"version", version}, {"configs", json::object{}},  {"flags", std::move(all)},
                   {"segments", json::object{}}};
  return json::serialize(doc);
}

int64_t RssAnonKb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8));
  }
  return -1;
}

// Issue 21 (memory): building a large document's snapshot frees a parse tree several times
// its size, which glibc would keep for good; once builds pause (2 s of the service's clock)
// the poll gives it back. The bound is on memory, not time.
TEST_F(DeliveryTest, MemoryFreedByALargeBuildIsGivenBackOnceBuildsPause) {
  const std::string big = LargeDocument(7, 5000);
  ASSERT_GT(big.size(), 1u << 20);
  const int64_t before = RssAnonKb();
  ASSERT_TRUE(kv_->PutIfNewer("doc/ws_1/prod", big, 7).ok());
  net::ClientResponse r = Call("GET", "/v1/config");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  r = net::ClientResponse{};
  const int64_t built = RssAnonKb();
  ASSERT_GT(built - before, 16 * 1024) << "the build should have left tens of MiB in the allocator";
  env_.RunFor(absl::Seconds(1));  // builds have not paused long enough: kept for the next one
  EXPECT_GT(RssAnonKb() - before, (built - before) / 2);
  env_.RunFor(absl::Seconds(2));
  const int64_t trimmed = RssAnonKb();
  EXPECT_LT(trimmed - before, (built - before) / 2) << "before " << before << " kB, built " << built
                                                   << " kB, after the pause " << trimmed << " kB";
  EXPECT_EQ(Call("GET", "/v1/config").status, 200);  // still served from the snapshot
}

class DeliveryNotifyTest : public DeliveryTest {
 protected:
  DeliveryNotifyTest() { poll_interval_ = absl::Minutes(1); }
};

TEST_F(DeliveryNotifyTest, NotificationPushesTheNewVersionToStreams) {
  int fd = OpenStream(server_->port(), std::string("/v1/stream?key=") + kSdkKey, "");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, got, "hello")) << got;
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 1; }));
  Publish(6, "notified");
  EXPECT_EQ(env_.RunDueTasks(), 0);  // positive control: no poll is due for a minute
  service_->Notify();
  EXPECT_EQ(env_.RunDueTasks(), 1);  // the notification made one due now
  ASSERT_TRUE(ReadUntil(fd, got, "notified")) << got;  // ReadUntil gives up after ~20 idle reads
  EXPECT_NE(got.find("id: 6"), std::string::npos) << got;
  ::close(fd);
}

// OFREP rate limit: 2 requests per second per SDK key, bursts of 3.
class DeliveryRateLimitTest : public DeliveryTest {
 protected:
  DeliveryRateLimitTest() {
    rate_per_second_ = 2;
    rate_burst_ = 3;
  }
  static constexpr char kContext[] = R"({"context":{"targetingKey":"u1","plan":"pro"}})";
  net::ClientResponse Single(const char* key = kSdkKey) {
    return Call("POST", "/ofrep/v1/evaluate/flags/new-checkout", kContext,
                {{"Authorization", std::string("Bearer ") + key}});
  }
  net::ClientResponse Bulk(const char* key = kSdkKey) {
    return Call("POST", "/ofrep/v1/evaluate/flags", kContext, {{"X-API-Key", key}});
  }
};

TEST_F(DeliveryRateLimitTest, OverTheLimitIs429WithRetryAfterAndOfrepBody) {
  // The burst: single and bulk evaluations draw on the same bucket.
  EXPECT_EQ(Single().status, 200);
  EXPECT_EQ(Bulk().status, 200);
  EXPECT_EQ(Single().status, 200);
  net::ClientResponse limited = Single();
  ASSERT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.Header("Retry-After").value_or(""), "1");
  json::object body = json::parse(limited.body).as_object();
  EXPECT_EQ(body["key"], "new-checkout");
  EXPECT_EQ(body["errorCode"], "GENERAL");
  EXPECT_NE(std::string(body["errorDetails"].as_string()).find("rate limit"), std::string::npos);
  net::ClientResponse bulk = Bulk();
  ASSERT_EQ(bulk.status, 429) << bulk.body;
  EXPECT_EQ(bulk.Header("Retry-After").value_or(""), "1");
  EXPECT_EQ(json::parse(bulk.body).as_object()["errorCode"], "GENERAL");
  EXPECT_FALSE(json::parse(bulk.body).as_object().contains("key"));
  // Refused requests take no token: half a second later exactly one more fits.
  env_.AdvanceBy(absl::Milliseconds(500));
  EXPECT_EQ(Single().status, 200);
  EXPECT_EQ(Single().status, 429);
}

TEST_F(DeliveryRateLimitTest, RefillsAtTheRateUpToTheBurst) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Single().status, 200) << i;
  EXPECT_EQ(Single().status, 429);
  // Idle for a minute: the bucket holds the burst (3), not 120 tokens.
  env_.AdvanceBy(absl::Minutes(1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Single().status, 200) << i;
  EXPECT_EQ(Single().status, 429);
  // 2 per second: after 1 s, two more.
  env_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(Single().status, 200);
  EXPECT_EQ(Single().status, 200);
  EXPECT_EQ(Single().status, 429);
}

TEST_F(DeliveryRateLimitTest, EachSdkKeyHasItsOwnBucketAndConfigIsNotLimited) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Single().status, 200) << i;
  EXPECT_EQ(Single().status, 429);
  EXPECT_EQ(Single(kOtherSdkKey).status, 200);
  EXPECT_EQ(Bulk(kOtherSdkKey).status, 200);
  // GET /v1/config (pre-serialised bytes, ETag) is not rate-limited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Call("GET", "/v1/config").status, 200) << i;
  // A bad key is still told 401, not 429.
  EXPECT_EQ(Single("evs_unknown").status, 401);
}

// The same limit counted by a limiter every node shares (rate_limit.url): here an in-memory
// one the test also takes from, as another node would.
class DeliverySharedRateLimitTest : public DeliveryRateLimitTest {
 protected:
  DeliverySharedRateLimitTest() { shared_limiter_ = &shared_; }
  // A shared limiter that fails while `down` is set.
  class Shared : public storage::RateLimiter {
   public:
    absl::StatusOr<absl::Duration> Take(std::string_view key,
                                        const storage::RateLimit& limit) override {
      if (down) return absl::UnavailableError("shared limiter down");
      keys.emplace_back(key);
      return inner->Take(key, limit);
    }
    bool down = false;
    std::vector<std::string> keys;
    base::SimulatedEnv clock;
    std::unique_ptr<storage::RateLimiter> inner = storage::NewMemoryRateLimiter({.env = &clock});
  };
  Shared shared_;
};

TEST_F(DeliverySharedRateLimitTest, AnotherNodesRequestsCountAgainstTheSameKey) {
  const std::string key = "ofrep:" + crypto::Sha256Hex(kSdkKey);
  const storage::RateLimit limit = {.count = 2, .period = absl::Seconds(1), .burst = 3};
  // Another node used two of the burst of three.
  ASSERT_EQ(shared_.Take(key, limit).value(), absl::ZeroDuration());
  ASSERT_EQ(shared_.Take(key, limit).value(), absl::ZeroDuration());
  EXPECT_EQ(Single().status, 200);
  net::ClientResponse limited = Bulk();
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.Header("Retry-After").value_or(""), "1");
  // Under the key's hash only: the raw SDK key never reaches the shared store.
  for (const std::string& k : shared_.keys) {
    EXPECT_EQ(k, key);
    EXPECT_EQ(k.find(kSdkKey), std::string::npos);
  }
  // The other SDK key has its own count.
  EXPECT_EQ(Single(kOtherSdkKey).status, 200);
}

TEST_F(DeliverySharedRateLimitTest, AFailingSharedLimiterLeavesItToTheLocalBucket) {
  shared_.down = true;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Single().status, 200) << i;
  EXPECT_EQ(Single().status, 429);
}

TEST_F(DeliveryTest, NoRateLimitByDefault) {
  for (int i = 0; i < 50; ++i) {
    int status = 0;
    Eval("new-checkout", R"({"targetingKey":"u1"})", &status);
    ASSERT_EQ(status, 200) << i;
  }
}

TEST(DeliveryCreateTest, NegativeRateLimitIsInvalid) {
  FaultyKv faulty(nullptr);  // Create only checks that a KV is given
  storage::EdgeKv* kv = &faulty;
  EXPECT_TRUE(absl::IsInvalidArgument(
      DeliveryService::Create({.kv = kv, .ofrep_rate_limit_per_second = -1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      DeliveryService::Create({.kv = kv, .ofrep_rate_limit_burst = -1}).status()));
}

TEST(TokenBucketTest, BurstThenOneTokenPerInterval) {
  TokenBucket bucket(10, 3);  // 100 ms per token
  absl::Duration t = absl::Seconds(5);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.TryTake(t), absl::ZeroDuration()) << i;
  EXPECT_EQ(bucket.TryTake(t), absl::Milliseconds(100));
  EXPECT_EQ(bucket.TryTake(t + absl::Milliseconds(40)), absl::Milliseconds(60));
  EXPECT_EQ(bucket.TryTake(t + absl::Milliseconds(100)), absl::ZeroDuration());
  EXPECT_EQ(bucket.TryTake(t + absl::Milliseconds(100)), absl::Milliseconds(100));
  // Long idle: full again, but only to the burst.
  t += absl::Hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.TryTake(t), absl::ZeroDuration()) << i;
  EXPECT_GT(bucket.TryTake(t), absl::ZeroDuration());
}

TEST(TokenBucketTest, ConcurrentTakersShareExactlyTheBurst) {
  TokenBucket bucket(1, 1000);
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) {
        if (bucket.TryTake(absl::Seconds(1)) == absl::ZeroDuration()) taken.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(taken.load(), 1000);
}

TEST(DeliveryHelpersTest, RetryAfterIsWholeSecondsRoundedUpAtLeastOne) {
  EXPECT_EQ(RetryAfterSeconds(absl::Nanoseconds(1)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(999)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(1)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(1001)), 2);
  EXPECT_EQ(RetryAfterSeconds(absl::ZeroDuration()), 1);
}

TEST(DeliveryHelpersTest, IfNoneMatch) {
  EXPECT_TRUE(IfNoneMatchMatches("\"a\"", "\"a\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\", W/\"a\"", "\"a\""));
  EXPECT_TRUE(IfNoneMatchMatches("*", "\"a\""));
  EXPECT_FALSE(IfNoneMatchMatches("", "\"a\""));
  EXPECT_FALSE(IfNoneMatchMatches("\"ab\"", "\"a\""));
}

TEST(DeliveryHelpersTest, BuildSnapshotRejectsUnknownFormat) {
  EXPECT_FALSE(BuildSnapshot(R"({"format":2})", 1).ok());
  EXPECT_FALSE(BuildSnapshot("[]", 1).ok());
  auto ok = BuildSnapshot(Document(3, "x"), 3);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->flag_keys.size(), 3u);
  EXPECT_TRUE((*ok)->flags_error.empty()) << (*ok)->flags_error;
}

}  // namespace
}  // namespace edgevault::delivery

namespace edgevault::delivery {
namespace {

// ---- client keys (docs/delivery.md, "Client keys") ----

constexpr char kClientKey[] = "evc_test_client_key";

// What the api writes under cdoc/ for the document above when only "greeting" and
// "new-checkout" are client-visible.
std::string ClientDocument(int64_t version) {
  json::value full = json::parse(Document(version, "hello"));
  json::object& o = full.as_object();
  json::object doc{{"format", 1},         {"workspace_id", "ws_1"}, {"workspace", "shop"},
                   {"environment", "prod"}, {"version", version},     {"audience", "client"},
                   {"configs", o["configs"]},
                   {"flags", json::object{{"new-checkout", o["flags"].as_object()["new-checkout"]}}},
                   {"segments", json::object{}}};
  return json::serialize(doc);
}

class ClientKeyTest : public DeliveryTest {
 protected:
  void SetUp() override {
    DeliveryTest::SetUp();
    ASSERT_TRUE(kv_->PutIfNewer("sdk/" + crypto::Sha256Hex(kClientKey),
                                R"({"org_id":"org_1","workspace_id":"ws_1","environment":"prod",)"
                                R"("kind":"client","origins":["https://app.example","http://127.0.0.1:5173"]})",
                                1)
                    .ok());
    ASSERT_TRUE(kv_->PutIfNewer("cdoc/ws_1/prod", ClientDocument(5), 5).ok());
  }
  static std::vector<std::pair<std::string, std::string>> As(std::string_view key, std::string_view origin = "") {
    std::vector<std::pair<std::string, std::string>> h{{"Authorization", "Bearer " + std::string(key)}};
    if (!origin.empty()) h.emplace_back("Origin", std::string(origin));
    return h;
  }
  static bool HasCorsHeader(const net::ClientResponse& r) {
    for (const auto& [name, value] : r.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("access-control-", 0) == 0 || lower == "vary") return true;
    }
    return false;
  }
};

TEST_F(ClientKeyTest, ClientKeyReadsOnlyTheClientDocument) {
  net::ClientResponse doc = Call("GET", "/v1/config", "", As(kClientKey));
  ASSERT_EQ(doc.status, 200) << doc.body;
  EXPECT_EQ(doc.body, ClientDocument(5));
  EXPECT_EQ(doc.body.find("killed"), std::string::npos);
  net::ClientResponse bulk = Call("POST", "/ofrep/v1/evaluate/flags", R"({"context":{"targetingKey":"u1"}})",
                                  As(kClientKey));
  ASSERT_EQ(bulk.status, 200) << bulk.body;
  EXPECT_NE(bulk.body.find("new-checkout"), std::string::npos);
  EXPECT_NE(bulk.body.find("greeting"), std::string::npos);
  EXPECT_EQ(bulk.body.find("killed"), std::string::npos);
  EXPECT_EQ(bulk.body.find("split"), std::string::npos);
  // The server key still sees everything.
  EXPECT_EQ(Call("GET", "/v1/config").body, Document(5, "hello"));
}

TEST_F(ClientKeyTest, ServerOnlyFlagIsNotFoundExactlyLikeAMissingOne) {
  auto eval = [&](std::string_view flag) {
    return Call("POST", "/ofrep/v1/evaluate/flags/" + std::string(flag), R"({"context":{"targetingKey":"u1"}})",
                As(kClientKey));
  };
  net::ClientResponse hidden = eval("killed");  // exists, server-only
  net::ClientResponse missing = eval("kille0");  // does not exist (same length)
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(missing.status, 404);
  json::object h = json::parse(hidden.body).as_object(), m = json::parse(missing.body).as_object();
  EXPECT_EQ(h["errorCode"], "FLAG_NOT_FOUND");
  h.erase("key");
  m.erase("key");
  std::string hd = json::serialize(h), md = json::serialize(m);
  // Same answer but for the echoed key.
  EXPECT_EQ(hd.replace(hd.find("killed"), 6, "X"), md.replace(md.find("kille0"), 6, "X"));
  EXPECT_EQ(eval("new-checkout").status, 200);
}

TEST_F(ClientKeyTest, CorsOnlyForAListedOriginOfAClientKey) {
  net::ClientResponse ok = Call("GET", "/v1/config", "", As(kClientKey, "https://app.example"));
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.Header("Access-Control-Allow-Origin").value_or(""), "https://app.example");
  EXPECT_EQ(ok.Header("Vary").value_or(""), "Origin");
  EXPECT_NE(ok.Header("Access-Control-Expose-Headers").value_or("").find("ETag"), std::string::npos);

  net::ClientResponse other = Call("GET", "/v1/config", "", As(kClientKey, "https://evil.example"));
  EXPECT_EQ(other.status, 200);  // not a browser: the data is the client document anyway
  EXPECT_FALSE(other.Header("Access-Control-Allow-Origin").has_value());
  EXPECT_EQ(other.Header("Vary").value_or(""), "Origin");
  // An origin differing only by port or scheme is another origin.
  EXPECT_FALSE(Call("GET", "/v1/config", "", As(kClientKey, "http://app.example"))
                   .Header("Access-Control-Allow-Origin").has_value());
  EXPECT_FALSE(Call("GET", "/v1/config", "", As(kClientKey, "http://127.0.0.1:5174"))
                   .Header("Access-Control-Allow-Origin").has_value());

  // OFREP answers, errors included, carry it too so the browser can read FLAG_NOT_FOUND.
  net::ClientResponse missing = Call("POST", "/ofrep/v1/evaluate/flags/nope", "{}", As(kClientKey, "http://127.0.0.1:5173"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Header("Access-Control-Allow-Origin").value_or(""), "http://127.0.0.1:5173");
}

TEST_F(ClientKeyTest, ServerKeyNeverGetsCorsHeaders) {
  for (const char* target : {"/v1/config"}) {
    net::ClientResponse r = Call("GET", target, "", As(kSdkKey, "https://app.example"));
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(HasCorsHeader(r));
  }
  net::ClientResponse one = Call("POST", "/ofrep/v1/evaluate/flags/new-checkout", "{}", As(kSdkKey, "https://app.example"));
  EXPECT_EQ(one.status, 200);
  EXPECT_FALSE(HasCorsHeader(one));
  net::ClientResponse bulk = Call("POST", "/ofrep/v1/evaluate/flags", "{}", As(kSdkKey, "https://app.example"));
  EXPECT_FALSE(HasCorsHeader(bulk));
  // The /client/ routes refuse a server key outright, without CORS.
  net::ClientResponse path = Call("POST", std::string("/client/") + kSdkKey + "/ofrep/v1/evaluate/flags", "{}",
                                  {{"Origin", "https://app.example"}});
  EXPECT_EQ(path.status, 403);
  EXPECT_FALSE(HasCorsHeader(path));
  net::ClientResponse preflight = Call("OPTIONS", std::string("/client/") + kSdkKey + "/ofrep/v1/evaluate/flags", "",
                                       {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(preflight.status, 403);
  EXPECT_FALSE(HasCorsHeader(preflight));
}

TEST_F(ClientKeyTest, PreflightOnTheClientRoutesAnswersListedOriginsOnly) {
  const std::string base = std::string("/client/") + kClientKey;
  for (const std::string& path : {base + "/ofrep/v1/evaluate/flags", base + "/ofrep/v1/evaluate/flags/new-checkout",
                                  base + "/v1/config"}) {
    net::ClientResponse ok = Call("OPTIONS", path, "",
                                  {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"},
                                   {"Access-Control-Request-Headers", "content-type"}});
    EXPECT_EQ(ok.status, 204) << path;
    EXPECT_EQ(ok.Header("Access-Control-Allow-Origin").value_or(""), "https://app.example");
    EXPECT_NE(ok.Header("Access-Control-Allow-Methods").value_or("").find("POST"), std::string::npos);
    EXPECT_NE(ok.Header("Access-Control-Allow-Headers").value_or("").find("Content-Type"), std::string::npos);
    EXPECT_EQ(ok.Header("Vary").value_or(""), "Origin");
  }
  net::ClientResponse refused = Call("OPTIONS", base + "/ofrep/v1/evaluate/flags", "",
                                     {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_FALSE(refused.Header("Access-Control-Allow-Origin").has_value());
  net::ClientResponse unknown = Call("OPTIONS", "/client/evc_unknown/ofrep/v1/evaluate/flags", "",
                                     {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_FALSE(unknown.Header("Access-Control-Allow-Origin").has_value());
}

TEST_F(ClientKeyTest, ClientRoutesTakeTheKeyFromThePath) {
  const std::string base = std::string("/client/") + kClientKey;
  net::ClientResponse one = Call("POST", base + "/ofrep/v1/evaluate/flags/new-checkout",
                                 R"({"context":{"targetingKey":"u1","plan":"pro"}})", {{"Origin", "https://app.example"}});
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body).as_object()["value"], true);
  EXPECT_EQ(one.Header("Access-Control-Allow-Origin").value_or(""), "https://app.example");
  EXPECT_EQ(Call("POST", base + "/ofrep/v1/evaluate/flags/killed", "{}", {}).status, 404);
  net::ClientResponse doc = Call("GET", base + "/v1/config", "", {});
  EXPECT_EQ(doc.body, ClientDocument(5));
  // A header key does not override the path's key.
  EXPECT_EQ(Call("GET", base + "/v1/config", "", As(kSdkKey)).body, ClientDocument(5));
}

// ---------------------------------------------------------------- signatures (§8)

class DeliverySignatureTest : public DeliveryTest {
 protected:
  // What the api writes (api::SigningEdgeKv): the signature first, then the document.
  void PublishSigned(int64_t version, std::string_view greeting, const crypto::Ed25519PrivateKey& key) {
    std::string doc = Document(version, greeting);
    crypto::DocumentSignature sig{key.Kid(), key.Sign(crypto::DocumentSigningInput(doc))};
    ASSERT_TRUE(*kv_->PutIfNewer("sig/ws_1/prod", crypto::FormatStoredDocumentSignature(sig), version));
    ASSERT_TRUE(*kv_->PutIfNewer("doc/ws_1/prod", doc, version));
  }
  crypto::DocumentVerifier Verifier() {
    crypto::DocumentVerifier v;
    v.AddKey(key_.Kid(), key_.PublicKey());
    v.AddKey(next_key_.Kid(), next_key_.PublicKey());
    return v;
  }
  absl::Status VerifyResponse(const std::string& body, const net::ClientResponse& r, int64_t min_version = 0) {
    absl::StatusOr<crypto::DocumentSignature> sig =
        crypto::ParseDocumentSignatureHeader(r.Header("EdgeVault-Signature").value_or(""));
    if (!sig.ok()) return sig.status();
    return Verifier().Verify(body, *sig, {.workspace_id = "ws_1", .environment = "prod",
                                          .min_version = min_version}).status();
  }
  crypto::Ed25519PrivateKey key_ = *crypto::Ed25519PrivateKey::FromRaw(std::string(32, 'a'));
  crypto::Ed25519PrivateKey next_key_ = *crypto::Ed25519PrivateKey::FromRaw(std::string(32, 'b'));
};

TEST_F(DeliverySignatureTest, ConfigCarriesTheSignatureOfItsVersionOn200And304) {
  net::ClientResponse unsigned_doc = Call("GET", "/v1/config");
  EXPECT_FALSE(unsigned_doc.Header("EdgeVault-Signature").has_value())
      << "a store without signatures serves documents without the header";
  PublishSigned(6, "signed", key_);
  net::ClientResponse r = Call("GET", "/v1/config");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, Document(6, "signed"));
  EXPECT_TRUE(VerifyResponse(r.body, r, 6).ok()) << VerifyResponse(r.body, r, 6);
  std::string etag(r.Header("ETag").value_or(""));
  net::ClientResponse not_modified = Call("GET", "/v1/config", "",
                                          {{"X-API-Key", kSdkKey}, {"If-None-Match", etag}});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.Header("EdgeVault-Signature"), r.Header("EdgeVault-Signature"));
}

TEST_F(DeliverySignatureTest, DocumentWithoutItsSameVersionSignatureKeepsThePreviousPair) {
  PublishSigned(6, "six", key_);
  ASSERT_EQ(Call("GET", "/v1/config").body, Document(6, "six"));
  // Version 7's document is there but its signature is not (yet): 6's pair is kept.
  ASSERT_TRUE(*kv_->PutIfNewer("doc/ws_1/prod", Document(7, "seven"), 7));
  net::ClientResponse r = Call("GET", "/v1/config");
  EXPECT_EQ(r.body, Document(6, "six"));
  EXPECT_TRUE(VerifyResponse(r.body, r).ok());
  // Its signature arrives: the new pair is served.
  std::string doc7 = Document(7, "seven");
  ASSERT_TRUE(*kv_->PutIfNewer("sig/ws_1/prod",
                               crypto::FormatStoredDocumentSignature(
                                   {key_.Kid(), key_.Sign(crypto::DocumentSigningInput(doc7))}),
                               7));
  r = Call("GET", "/v1/config");
  EXPECT_EQ(r.body, doc7);
  EXPECT_TRUE(VerifyResponse(r.body, r, 7).ok());
  // A signature removed later never turns a signed document back into an unsigned one.
  ASSERT_TRUE(*kv_->DeleteIfNotNewer("sig/ws_1/prod", 7));
  ASSERT_TRUE(*kv_->PutIfNewer("doc/ws_1/prod", Document(8, "unsigned"), 8));
  r = Call("GET", "/v1/config");
  EXPECT_EQ(r.body, doc7);
  EXPECT_TRUE(r.Header("EdgeVault-Signature").has_value());
}

TEST_F(DeliverySignatureTest, StreamSendsTheSignatureBeforeEachDocumentWithTheSameId) {
  PublishSigned(6, "six", key_);
  int fd = OpenStream(server_->port(), std::string("/v1/stream?key=") + kSdkKey, "");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, got, "six")) << got;
  ASSERT_TRUE(base::testing::PollUntil([&] { return service_->open_streams() == 1; }));
  PublishSigned(7, "seven", key_);
  env_.RunFor(poll_interval_);  // the next poll finds version 7
  ASSERT_TRUE(ReadUntil(fd, got, "seven")) << got;
  ::close(fd);
  // Both events of each version, signature first, same id, and each verifies.
  for (int64_t v : {6, 7}) {
    std::string head = "id: " + std::to_string(v) + "\nevent: signature\ndata: ";
    size_t at = got.find(head);
    ASSERT_NE(at, std::string::npos) << got;
    size_t end = got.find('\n', at + head.size());
    std::string header = got.substr(at + head.size(), end - at - head.size());
    std::string config = "id: " + std::to_string(v) + "\nevent: config\ndata: ";
    size_t doc_at = got.find(config, end);
    ASSERT_NE(doc_at, std::string::npos) << got;
    absl::StatusOr<crypto::DocumentSignature> sig = crypto::ParseDocumentSignatureHeader(header);
    ASSERT_TRUE(sig.ok()) << sig.status() << " in " << header;
    std::string doc = got.substr(doc_at + config.size(), got.find('\n', doc_at + config.size()) - doc_at - config.size());
    EXPECT_TRUE(Verifier().Verify(doc, *sig, {.min_version = v}).ok());
  }
}

// The test runs the polls itself (the poll thread's first tick is a minute away).
class DeliveryResignTest : public DeliverySignatureTest {
 protected:
  DeliveryResignTest() { poll_interval_ = absl::Minutes(1); }
};

TEST_F(DeliveryResignTest, ReSignedDocumentIsPickedUpAtTheSameVersion) {
  PublishSigned(6, "six", key_);
  ASSERT_EQ(Call("GET", "/v1/config").body, Document(6, "six"));
  // A rotation: the api records the new active key, then re-signs at the same version.
  ASSERT_TRUE(*kv_->PutIfNewer("meta/document-signer",
                               R"({"format":1,"active":")" + next_key_.Kid() + R"("})", 100));
  service_->PollOnce();  // not re-signed yet: the old pair stays
  EXPECT_NE(Call("GET", "/v1/config").Header("EdgeVault-Signature").value_or("").find(key_.Kid()),
            std::string::npos);
  std::string doc = Document(6, "six");
  ASSERT_TRUE(*kv_->DeleteIfNotNewer("sig/ws_1/prod", 6));
  ASSERT_TRUE(*kv_->PutIfNewer("sig/ws_1/prod",
                               crypto::FormatStoredDocumentSignature(
                                   {next_key_.Kid(), next_key_.Sign(crypto::DocumentSigningInput(doc))}),
                               6));
  service_->PollOnce();
  net::ClientResponse r = Call("GET", "/v1/config");
  EXPECT_EQ(r.body, doc);
  EXPECT_NE(r.Header("EdgeVault-Signature").value_or("").find(next_key_.Kid()), std::string::npos);
  EXPECT_TRUE(VerifyResponse(r.body, r, 6).ok());
}

TEST_F(DeliverySignatureTest, DocumentKeysAreServedUnauthenticated) {
  EXPECT_EQ(Call("GET", "/.well-known/edgevault-document-keys.json", "", {}).status, 404);
  std::string jwks = crypto::JwksJson({{key_.Kid(), key_.PublicKey()}});
  ASSERT_TRUE(*kv_->PutIfNewer("meta/document-keys", jwks, 1));
  net::ClientResponse r = Call("GET", "/.well-known/edgevault-document-keys.json", "", {});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, jwks);
  // From memory while the KV cannot be read, and marked as such.
  faulty_->down = true;
  net::ClientResponse stale = Call("GET", "/.well-known/edgevault-document-keys.json", "", {});
  faulty_->down = false;
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, jwks);
  EXPECT_EQ(stale.Header("EdgeVault-Stale").value_or(""), "true");
}

}  // namespace
}  // namespace edgevault::delivery
