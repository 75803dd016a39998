// The Redis backends over TLS (rediss://) against a real redis-server listening for TLS with
// certificates made by openssl: the edge KV and rate-limiter conformance suites over a
// connection that presents a client certificate, the watcher, AUTH and SELECT over TLS, and
// every way a TLS connection must be refused (an untrusted CA, a certificate for another
// name, a missing or foreign client certificate, TLS to a plain port and plain to a TLS
// port), each as Unavailable with a message that says what to fix, never a hang.
#include <hiredis/hiredis.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/storage/edge_kv_conformance.h"
#include "src/storage/rate_limiter_conformance.h"
#include "src/storage/redis/edge_kv_redis.h"
#include "src/storage/redis/rate_limiter_redis.h"
#include "src/storage/redis/redis_test_server.h"
#include "src/storage/testing/test_pki.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {
namespace {

// One PKI for the process (openssl takes a while); made on first use.
const edgevault::testing::TestPki& Pki() {
  static auto* pki = new edgevault::testing::TestPki();
  return *pki;
}

RedisTls ClientTls(const std::string& client = "good") {
  RedisTls tls{.enabled = true, .ca_file = Pki().File("ca.crt")};
  if (!client.empty()) {
    tls.cert_file = Pki().File(client + ".crt");
    tls.key_file = Pki().File(client + ".key");
  }
  return tls;
}

// A TLS server that wants client certificates, shared by the conformance suites.
RedisServer* SharedTlsServer() {
  static RedisServer* server = [] {
    auto* s = new RedisServer();
    if (!Pki().ok()) return static_cast<RedisServer*>(nullptr);
    s->EnableTls(Pki().File("good.crt"), Pki().File("good.key"), Pki().File("ca.crt"), true);
    return s->Start() ? s : nullptr;
  }();
  if (server == nullptr) {
    ADD_FAILURE() << "could not start a TLS redis-server";
    return nullptr;
  }
  RawReply flushed = server->Raw({"FLUSHALL"});
  if (flushed == nullptr || flushed->type != REDIS_REPLY_STATUS) {
    ADD_FAILURE() << "FLUSHALL failed";
    return nullptr;
  }
  return server;
}

RedisEdgeKvOptions TlsKvOptions(const RedisServer& server, RedisTls tls = ClientTls()) {
  RedisEdgeKvOptions o = server.Options();
  o.port = server.tls_port();
  o.tls = std::move(tls);
  return o;
}

std::unique_ptr<EdgeKv> NewEmptyTlsEdgeKv() {
  RedisServer* server = SharedTlsServer();
  if (server == nullptr) return nullptr;
  auto kv = OpenRedisEdgeKv(TlsKvOptions(*server));
  if (!kv.ok()) {
    ADD_FAILURE() << kv.status();
    return nullptr;
  }
  return std::move(*kv);
}

std::unique_ptr<RateLimiter> NewEmptyTlsRateLimiter() {
  RedisServer* server = SharedTlsServer();
  if (server == nullptr) return nullptr;
  auto limiter = RedisRateLimiter::Open({.port = server->tls_port(), .tls = ClientTls()});
  if (!limiter.ok()) {
    ADD_FAILURE() << limiter.status();
    return nullptr;
  }
  return std::move(*limiter);
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_EDGE_KV_CONFORMANCE(RedisTls, ::edgevault::storage::NewEmptyTlsEdgeKv);
INSTANTIATE_RATE_LIMITER_CONFORMANCE(RedisTls, ::edgevault::storage::NewEmptyTlsRateLimiter);

namespace edgevault::storage {
namespace {

// Each test gets its own server, with the certificate and client policy it needs.
class RedisTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Pki().ok()) << "could not make certificates"; }
  void StartServer(const std::string& cert, bool require_client_certificate) {
    server_.EnableTls(Pki().File(cert + ".crt"), Pki().File(cert + ".key"), Pki().File("ca.crt"),
                      require_client_certificate);
    ASSERT_TRUE(server_.Start()) << "could not start a TLS redis-server";
  }
  // The status of a store opened with `o` (opening loads the scripts: a round trip).
  absl::Status OpenStatus(RedisEdgeKvOptions o) {
    o.timeout = absl::Seconds(5);
    return OpenRedisEdgeKv(o).status();
  }
  int64_t ConnectionsReceived() {
    RawReply info = server_.Raw({"INFO", "stats"});
    if (info == nullptr || info->type != REDIS_REPLY_STRING) return -1;
    const std::string text(info->str, info->len);
    const std::string key = "total_connections_received:";
    size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + key.size()));
  }

  RedisServer server_;
};

TEST_F(RedisTlsTest, AClientCertificateIsPresentedWhenTheServerWantsOne) {
  StartServer("good", true);
  EV_TEST_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(TlsKvOptions(server_)));
  ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", "v1", 1).ok());
  auto got = kv->Get("doc/ws_1/prod");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value, "v1");
  // The value went over TLS into the same server the plain port reads.
  RawReply raw = server_.Raw({"HGET", "ev:doc/ws_1/prod", "v"});
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(std::string(raw->str, raw->len), "v1");

  for (const std::string& client : {std::string(), std::string("stranger")}) {
    absl::Status st = OpenStatus(TlsKvOptions(server_, ClientTls(client)));
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << client << ": " << st;
  }
}

TEST_F(RedisTlsTest, AServerCertificateFromAnotherCaIsRefusedSayingSo) {
  StartServer("stranger", false);
  absl::Status st = OpenStatus(TlsKvOptions(server_, ClientTls("")));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("not trusted"), std::string::npos) << st;
  EXPECT_NE(st.message().find("ca_file"), std::string::npos) << st;
}

TEST_F(RedisTlsTest, TheCertificateMustNameTheHostOrTheGivenServerName) {
  StartServer("elsewhere", false);  // for 127.0.0.2 and elsewhere.example.test only
  absl::Status st = OpenStatus(TlsKvOptions(server_, ClientTls("")));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("not trusted for 127.0.0.1"), std::string::npos) << st;
  RedisTls named = ClientTls("");
  named.server_name = "elsewhere.example.test";
  EXPECT_TRUE(OpenStatus(TlsKvOptions(server_, named)).ok());
  named.server_name = "other.example.test";
  EXPECT_EQ(OpenStatus(TlsKvOptions(server_, named)).code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisTlsTest, ANameInTheUrlIsCheckedAgainstTheCertificate) {
  StartServer("good", false);  // carries DNS:localhost
  RedisEdgeKvOptions o = TlsKvOptions(server_, ClientTls(""));
  o.host = "localhost";
  EXPECT_TRUE(OpenStatus(o).ok()) << OpenStatus(o);
}

TEST_F(RedisTlsTest, PlainToATlsPortAndTlsToAPlainPortAreUnavailableSayingWhy) {
  StartServer("good", false);
  RedisEdgeKvOptions plain = server_.Options();
  plain.port = server_.tls_port();
  EXPECT_EQ(OpenStatus(plain).code(), absl::StatusCode::kUnavailable);
  // A plain port reads a ClientHello as the start of an inline command and waits for its
  // end, so this one ends at the timeout.
  RedisEdgeKvOptions tls = TlsKvOptions(server_, ClientTls(""));
  tls.port = server_.port();
  tls.timeout = absl::Milliseconds(300);
  absl::Status st = OpenRedisEdgeKv(tls).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("TLS handshake"), std::string::npos) << st;
  EXPECT_NE(st.message().find("speak TLS"), std::string::npos) << st;
}

TEST_F(RedisTlsTest, BadTlsFilesFailToOpenAndSayWhich) {
  StartServer("good", false);
  RedisTls missing = ClientTls("");
  missing.ca_file = "/nonexistent/ca.pem";
  absl::Status st = OpenStatus(TlsKvOptions(server_, missing));
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(st.message().find("/nonexistent/ca.pem"), std::string::npos) << st;

  RedisTls not_pem = ClientTls("");
  not_pem.ca_file = Pki().File("good.ext");
  EXPECT_EQ(OpenStatus(TlsKvOptions(server_, not_pem)).code(), absl::StatusCode::kInvalidArgument);

  RedisTls half = ClientTls("good");
  half.key_file.clear();
  EXPECT_EQ(OpenStatus(TlsKvOptions(server_, half)).code(), absl::StatusCode::kInvalidArgument);

  RedisTls mismatched = ClientTls("good");
  mismatched.key_file = Pki().File("stranger.key");
  st = OpenStatus(TlsKvOptions(server_, mismatched));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("is not the key of"), std::string::npos) << st;
}

// A TLS 1.3 server sends session tickets after the handshake; an idle pooled connection
// holding them must not look dead, or every command would pay a new handshake.
TEST_F(RedisTlsTest, PooledTlsConnectionsAreReused) {
  StartServer("good", false);
  RedisEdgeKvOptions o = TlsKvOptions(server_, ClientTls(""));
  o.pool_size = 1;
  EV_TEST_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(o));
  const int64_t before = ConnectionsReceived();
  for (int i = 1; i <= 20; ++i) ASSERT_TRUE(kv->PutIfNewer("k", "v", i).ok());
  const int64_t after = ConnectionsReceived();
  ASSERT_GE(before, 0);
  // The INFO call's own connection, and at most one for the store.
  EXPECT_LE(after - before, 2) << "TLS connections were not reused";
}

TEST_F(RedisTlsTest, PasswordDatabaseAndWatcherWorkOverTls) {
  server_.RequirePassword("s3cret pass");
  StartServer("good", false);
  RedisEdgeKvOptions o = TlsKvOptions(server_, ClientTls(""));
  o.db = 3;
  EV_TEST_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(o));

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, int64_t>> changes;
  bool subscribed = false;
  auto watcher = RedisKvWatcher::Create(
      o,
      [&](std::string key, int64_t version) {
        std::lock_guard<std::mutex> lock(mu);
        changes.emplace_back(std::move(key), version);
        cv.notify_all();
      },
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        subscribed = true;
        cv.notify_all();
      });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  ASSERT_TRUE((*watcher)->Start().ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return subscribed; }));
  }
  ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", "v1", 1).ok());
  ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", "v2", 2).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return changes.size() >= 2; }));
    EXPECT_EQ(changes, (std::vector<std::pair<std::string, int64_t>>{{"doc/ws_1/prod", 1},
                                                                      {"doc/ws_1/prod", 2}}));
  }
  (*watcher)->Stop();
  RawReply in_db3 = server_.Raw({"SELECT", "3"});  // Raw's connection: just proves AUTH works
  EXPECT_NE(in_db3, nullptr);

  RedisEdgeKvOptions wrong = o;
  wrong.password = "wrong";
  EXPECT_EQ(OpenStatus(wrong).code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace edgevault::storage
