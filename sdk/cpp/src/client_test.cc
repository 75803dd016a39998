// The client without delivery: bootstrap files and offline mode, polling a local server over
// http:// and https:// (certificates made by openssl), with documents signed by
// a real Ed25519 key (the signatures delivery passes on are checked in
// tests/integration/sdk_cpp_test.cc).
#include "edgevault/client.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sdk/cpp/src/snapshot.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/ed25519.h"
#include "src/crypto/jwks.h"
#include "src/net/http_server.h"
#include "src/net/router.h"
#include "src/storage/testing/test_pki.h"

namespace edgevault::sdk {
namespace {

namespace testing_wait {
// Polls `done` every millisecond for at most 30 s (only bounds how long a failure waits).
template <typename F>
bool Until(const F& done) {
  for (int i = 0; i < 30000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}
}  // namespace testing_wait

crypto::Ed25519PrivateKey Key(char c) { return *crypto::Ed25519PrivateKey::FromRaw(std::string(32, c)); }

std::string Document(int version, bool checkout_on) {
  return std::string(R"({"format":1,"workspace_id":"ws_1","workspace":"shop","environment":"prod","version":)") +
         std::to_string(version) +
         R"(,"configs":{"greeting":{"type":"string","value":"hello","from":"prod"},)"
         R"("limits":{"type":"json","value":{"max":3},"from":"prod"}},)"
         R"("flags":{"checkout":{"salt":"s","variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],)"
         R"("environments":{"prod":{"on":)" + (checkout_on ? "true" : "false") +
         R"(,"off_variation":0,"targets":[{"variation":1,"values":["vip"]}],"fallthrough":{"variation":0}}}},)"
         R"("ratio":{"variations":[{"value":0.25},{"value":3}],"environments":{"prod":{"on":true,"fallthrough":{"variation":1}}}}},)"
         R"("segments":{}})";
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sdk_client_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Jwks() const { return crypto::JwksJson({{key_.Kid(), key_.PublicKey()}}); }
  std::string Signature(const crypto::Ed25519PrivateKey& key, std::string_view doc, std::string kid = "") const {
    return crypto::FormatDocumentSignatureHeader(
        {kid.empty() ? key.Kid() : kid, key.Sign(crypto::DocumentSigningInput(doc))});
  }
  // GET /v1/config's answer: `doc` with its signature by `key`.
  net::Response Signed(const crypto::Ed25519PrivateKey& key, const std::string& doc) const {
    net::Response r;
    r.body = doc;
    r.headers.emplace_back("EdgeVault-Signature", Signature(key, doc));
    return r;
  }
  std::string WriteSnapshot(const std::string& name, std::string_view signature, std::string_view doc) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << internal::FormatSnapshotFile(signature, doc);
    return path;
  }
  ClientOptions Offline(const std::string& bootstrap) const {
    ClientOptions o;
    o.mode = Mode::kOffline;
    o.document_keys_jwks = Jwks();
    o.bootstrap_file = bootstrap;
    return o;
  }

  std::filesystem::path dir_;
  crypto::Ed25519PrivateKey key_ = Key('k');
};

TEST_F(ClientTest, OfflineBootstrapEvaluatesWithTypedGetters) {
  const std::string doc = Document(5, true);
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Create(Offline(WriteSnapshot("a", Signature(key_, doc), doc)));
  ASSERT_TRUE(c.ok()) << c.status();
  Client& client = **c;
  EXPECT_TRUE(client.WaitUntilReady(std::chrono::milliseconds(0)));

  Evaluation<bool> vip = client.BoolValue("checkout", Context("vip"), false);
  EXPECT_TRUE(vip.value);
  EXPECT_EQ(vip.variant, "on");
  EXPECT_EQ(vip.reason, "TARGETING_MATCH");
  EXPECT_EQ(vip.version, 5);
  EXPECT_FALSE(vip.is_default);
  Evaluation<bool> other = client.BoolValue("checkout", Context("u1"), true);
  EXPECT_FALSE(other.value);
  EXPECT_EQ(other.variant, "off");
  EXPECT_EQ(other.reason, "DEFAULT");

  Evaluation<std::string> greeting = client.StringValue("greeting", Context(), "x");
  EXPECT_EQ(greeting.value, "hello");
  EXPECT_EQ(greeting.reason, "STATIC");
  EXPECT_EQ(client.ObjectValue("limits", Context(), "{}").value, R"({"max":3})");
  EXPECT_EQ(client.IntegerValue("ratio", Context("u"), 0).value, 3);
  EXPECT_EQ(client.NumberValue("ratio", Context("u"), 0).value, 3.0);
  EXPECT_EQ(client.JsonValue("checkout", Context("vip"), "null").value, "true");

  Evaluation<std::string> mismatch = client.StringValue("checkout", Context("vip"), "dflt");
  EXPECT_EQ(mismatch.value, "dflt");
  EXPECT_EQ(mismatch.reason, "ERROR");
  EXPECT_EQ(mismatch.error_code, "TYPE_MISMATCH");
  EXPECT_TRUE(mismatch.is_default);
  Evaluation<bool> missing = client.BoolValue("nope", Context("u"), true);
  EXPECT_TRUE(missing.value);
  EXPECT_EQ(missing.error_code, "FLAG_NOT_FOUND");
  EXPECT_EQ(client.FlagKeys(), (std::vector<std::string>{"checkout", "ratio"}));
  EXPECT_EQ(client.ConfigKeys(), (std::vector<std::string>{"greeting", "limits"}));
  EXPECT_EQ(client.status().version, 5);
}

TEST_F(ClientTest, OfrepContextMapsTargetingKeyLikeDelivery) {
  const std::string doc = Document(5, true);
  auto c = Client::Create(Offline(WriteSnapshot("a", Signature(key_, doc), doc)));
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<Context> ctx = Context::FromOfrepJson(R"({"targetingKey":"vip","plan":"pro"})");
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  EXPECT_EQ((*c)->BoolValue("checkout", *ctx, false).reason, "TARGETING_MATCH");
  EXPECT_FALSE(Context::FromOfrepJson(R"({"targetingKey":5})").ok());
  EXPECT_FALSE(Context::FromOfrepJson("[1]").ok());
  Context manual;
  EXPECT_FALSE(manual.SetJson("plan", "{not json").ok());
  EXPECT_TRUE(manual.SetJson("plan", R"({"tier":2})").ok());
  EXPECT_EQ(manual.ToJson(), R"({"plan":{"tier":2}})");
}

TEST_F(ClientTest, TamperedOrForeignBootstrapIsRefused) {
  const std::string doc = Document(5, true);
  std::string tampered = doc;
  tampered[tampered.find("hello")] = 'j';
  absl::StatusOr<std::unique_ptr<Client>> c =
      Client::Create(Offline(WriteSnapshot("t", Signature(key_, doc), tampered)));
  EXPECT_TRUE(absl::IsUnauthenticated(c.status())) << c.status();

  crypto::Ed25519PrivateKey foreign = Key('f');
  c = Client::Create(Offline(WriteSnapshot("f", Signature(foreign, doc), doc)));
  EXPECT_TRUE(absl::IsNotFound(c.status())) << c.status();  // its kid is not pinned
  // Another key's signature filed under the pinned kid.
  c = Client::Create(Offline(WriteSnapshot("k", Signature(foreign, doc, key_.Kid()), doc)));
  EXPECT_TRUE(absl::IsUnauthenticated(c.status())) << c.status();
  c = Client::Create(Offline(WriteSnapshot("u", "", doc)));
  EXPECT_FALSE(c.ok());
}

TEST_F(ClientTest, ADocumentOfAnotherEnvironmentIsRefused) {
  const std::string doc = Document(5, true);
  ClientOptions o = Offline(WriteSnapshot("a", Signature(key_, doc), doc));
  o.environment = "staging";
  EXPECT_TRUE(absl::IsFailedPrecondition(Client::Create(o).status()));
  o.environment = "prod";
  o.workspace_id = "ws_2";
  EXPECT_TRUE(absl::IsFailedPrecondition(Client::Create(o).status()));
}

TEST_F(ClientTest, SaveSnapshotWritesAFileABootstrapAccepts) {
  const std::string doc = Document(9, false);
  auto c = Client::Create(Offline(WriteSnapshot("a", Signature(key_, doc), doc)));
  ASSERT_TRUE(c.ok()) << c.status();
  std::string saved = (dir_ / "saved").string();
  ASSERT_TRUE((*c)->SaveSnapshot(saved).ok());
  auto again = Client::Create(Offline(saved));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->status().version, 9);
  EXPECT_EQ((*again)->BoolValue("checkout", Context("vip"), true).reason, "DISABLED");
}

TEST_F(ClientTest, BadOptionsAreRefused) {
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.sdk_key = "evs_x";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(o).status()));  // no pinned keys
  o.document_keys_jwks = Jwks();
  o.base_url = "ftp://flags.example";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(o).status()));
  o.base_url = "http://127.0.0.1:1";
  o.backoff_max = std::chrono::milliseconds(1);
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(o).status()));
  ClientOptions offline;
  offline.mode = Mode::kOffline;
  offline.document_keys_jwks = Jwks();
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(offline).status()));  // no bootstrap
}

// Documents whose flag "n" serves the document's version, so a reader can tell a torn read.
std::string VersionDocument(int version) {
  const std::string v = std::to_string(version);
  return R"({"format":1,"workspace_id":"ws_1","workspace":"shop","environment":"prod","version":)" + v +
         R"(,"configs":{},"flags":{"n":{"variations":[{"value":)" + v +
         R"(}],"environments":{"prod":{"on":true,"fallthrough":{"variation":0}}}}},"segments":{}})";
}

TEST_F(ClientTest, ReadersOnManyThreadsSeeEachDocumentWholeAndVersionsNeverGoBack) {
  std::mutex mu;
  int version = 1;
  net::Router router;
  router.Get("/v1/config", [&](net::Request&) {
    std::lock_guard<std::mutex> lock(mu);
    return Signed(key_, VersionDocument(version));
  });
  absl::StatusOr<std::unique_ptr<net::HttpServer>> server =
      net::HttpServer::Create({.service = "doc", .io_threads = 1, .access_log = false}, std::move(router));
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Start().ok());
  ClientOptions o;
  o.mode = Mode::kPoll;
  o.base_url = "http://127.0.0.1:" + std::to_string((*server)->port());
  o.sdk_key = "evs_test";
  o.document_keys_jwks = Jwks();
  o.poll_interval = std::chrono::milliseconds(1);
  auto c = Client::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->WaitUntilReady(std::chrono::seconds(30)));
  std::atomic<int> listened{0};
  // The first document's event may still be on its way to the listeners when this one is
  // added (WaitUntilReady returns as the snapshot is swapped in): only changes count.
  (*c)->AddChangeListener([&](const ChangeEvent& e) {
    if (e.previous_version != 0) listened.fetch_add(1);
  });

  constexpr int kLast = 40;
  std::atomic<bool> done{false};
  std::atomic<int64_t> torn{0}, backwards{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      const Context ctx("u");
      while (!done.load()) {
        Evaluation<int64_t> e = (*c)->IntegerValue("n", ctx, -1);
        if (e.value != e.version) torn.fetch_add(1);
        if (e.version < last) backwards.fetch_add(1);
        last = e.version;
        reads.fetch_add(1);
      }
    });
  }
  for (int v = 2; v <= kLast; ++v) {
    {
      std::lock_guard<std::mutex> lock(mu);
      version = v;
    }
    ASSERT_TRUE(testing_wait::Until([&] { return (*c)->status().version == v; }));
  }
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ((*c)->status().documents_applied, kLast);
  EXPECT_EQ(listened.load(), kLast - 1);
  c->reset();
  (*server)->Drain();
}

// https://: the server's certificate must chain to tls_ca_file and name the host; a refusal
// is a connection failure the status explains (the client keeps retrying), a bad CA file
// fails Create.
TEST_F(ClientTest, HttpsIsVerifiedAgainstTheCaFileAndTheHost) {
  edgevault::testing::TestPki pki;
  ASSERT_TRUE(pki.ok());
  const std::string doc = Document(7, true);
  auto serve = [&](const std::string& cert) {
    net::Router router;
    router.Get("/v1/config", [&](net::Request&) { return Signed(key_, doc); });
    auto server = net::HttpServer::Create({.service = "doc", .io_threads = 1, .access_log = false,
                                           .tls_cert_file = pki.File(cert + ".crt"),
                                           .tls_key_file = pki.File(cert + ".key")},
                                          std::move(router));
    EXPECT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE((*server)->Start().ok());
    return std::move(*server);
  };
  auto options = [&](const std::string& host, uint16_t port, const std::string& ca) {
    ClientOptions o;
    o.mode = Mode::kPoll;
    o.base_url = "https://" + host + ":" + std::to_string(port);
    o.tls_ca_file = ca.empty() ? "" : pki.File(ca);
    o.sdk_key = "evs_test";
    o.document_keys_jwks = Jwks();
    o.poll_interval = std::chrono::milliseconds(50);
    o.backoff_initial = std::chrono::milliseconds(10);
    o.backoff_max = std::chrono::milliseconds(50);
    return o;
  };
  std::unique_ptr<net::HttpServer> good = serve("good");
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto c = Client::Create(options(host, good->port(), "ca.crt"));
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE((*c)->WaitUntilReady(std::chrono::seconds(30))) << host << ": " << (*c)->status().last_error;
    EXPECT_EQ((*c)->status().version, 7);
    EXPECT_TRUE((*c)->BoolValue("checkout", Context("vip"), false).value);  // targeted
  }
  // Another CA: refused, and the status says why.
  auto stranger = Client::Create(options("127.0.0.1", good->port(), "ca2.crt"));
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  ASSERT_TRUE(testing_wait::Until([&] { return !(*stranger)->status().last_error.empty(); }));
  EXPECT_NE((*stranger)->status().last_error.find("not trusted"), std::string::npos) << (*stranger)->status().last_error;
  EXPECT_FALSE((*stranger)->status().ready);
  // The right CA, a certificate for another host: refused too.
  std::unique_ptr<net::HttpServer> elsewhere = serve("elsewhere");
  auto misnamed = Client::Create(options("127.0.0.1", elsewhere->port(), "ca.crt"));
  ASSERT_TRUE(misnamed.ok()) << misnamed.status();
  ASSERT_TRUE(testing_wait::Until([&] { return !(*misnamed)->status().last_error.empty(); }));
  EXPECT_NE((*misnamed)->status().last_error.find("not trusted for 127.0.0.1"), std::string::npos)
      << (*misnamed)->status().last_error;
  EXPECT_FALSE((*misnamed)->status().ready);
  stranger->reset();
  misnamed->reset();
  // Bad options fail Create.
  ClientOptions missing = options("127.0.0.1", good->port(), "");
  missing.tls_ca_file = "/nonexistent/ca.pem";
  EXPECT_TRUE(absl::IsNotFound(Client::Create(missing).status()));
  ClientOptions plain = options("127.0.0.1", good->port(), "ca.crt");
  plain.base_url = "http://127.0.0.1:1";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(plain).status()));
  good->Drain();
  elsewhere->Drain();
}

// A rotation: delivery starts serving documents signed by a new key. Until the pinned file
// holds it they are refused and the last good document stays; once the operator adds it,
// the next document applies without a restart. Removing the old key from the file stops
// its documents from verifying after the recheck interval.
TEST_F(ClientTest, ThePinnedKeysFileIsReadAgainForARotationAndARemoval) {
  const crypto::Ed25519PrivateKey old_key = key_, new_key = Key('n');
  std::mutex mu;
  int version = 1;
  const crypto::Ed25519PrivateKey* signer = &old_key;
  net::Router router;
  router.Get("/v1/config", [&](net::Request&) {
    std::lock_guard<std::mutex> lock(mu);
    return Signed(*signer, VersionDocument(version));
  });
  auto server = net::HttpServer::Create({.service = "doc", .io_threads = 1, .access_log = false}, std::move(router));
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Start().ok());
  const std::string keys = (dir_ / "document-keys.json").string();
  auto pin = [&](std::vector<const crypto::Ed25519PrivateKey*> pinned) {
    std::vector<std::pair<std::string, crypto::Ed25519PublicKey>> jwks;
    for (const auto* k : pinned) jwks.emplace_back(k->Kid(), k->PublicKey());
    std::ofstream(keys + ".tmp") << crypto::JwksJson(jwks);
    std::filesystem::rename(keys + ".tmp", keys);
  };
  auto serve = [&](int v, const crypto::Ed25519PrivateKey* k) {
    std::lock_guard<std::mutex> lock(mu);
    version = v;
    signer = k;
  };
  pin({&old_key});
  ClientOptions o;
  o.mode = Mode::kPoll;
  o.base_url = "http://127.0.0.1:" + std::to_string((*server)->port());
  o.sdk_key = "evs_test";
  o.document_keys_file = keys;
  o.poll_interval = std::chrono::milliseconds(5);
  o.document_keys_recheck = std::chrono::milliseconds(50);
  auto c = Client::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->WaitUntilReady(std::chrono::seconds(30)));

  // Rotated before the file knows the new key: refused, version 1 stays.
  serve(2, &new_key);
  const int64_t refused = (*c)->status().documents_refused;
  ASSERT_TRUE(testing_wait::Until([&] { return (*c)->status().documents_refused > refused + 2; }));
  EXPECT_EQ((*c)->status().version, 1);
  EXPECT_NE((*c)->status().last_error.find("unknown document-signing key"), std::string::npos) << (*c)->status().last_error;
  // The operator pins it: the next poll applies version 2, no restart.
  pin({&old_key, &new_key});
  ASSERT_TRUE(testing_wait::Until([&] { return (*c)->status().version == 2; })) << (*c)->status().last_error;
  EXPECT_GE((*c)->status().key_reloads, 1);

  // The old key is removed from the file: its documents stop verifying.
  pin({&new_key});
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past the recheck interval
  serve(3, &old_key);
  const int64_t before = (*c)->status().documents_refused;
  ASSERT_TRUE(testing_wait::Until([&] { return (*c)->status().documents_refused > before + 2; }));
  EXPECT_EQ((*c)->status().version, 2);
  // A file that stops parsing keeps the keys in use.
  std::ofstream(keys) << "not a JWKS";
  serve(4, &new_key);
  ASSERT_TRUE(testing_wait::Until([&] { return (*c)->status().version == 4; })) << (*c)->status().last_error;
  c->reset();
  (*server)->Drain();
}

TEST(ChangedKeysTest, ListsAddedRemovedAndChangedKeys) {
  auto a = internal::BuildSnapshot(Document(1, true), "");
  auto b = internal::BuildSnapshot(Document(2, false), "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(internal::ChangedKeys(a->get(), **b), (std::vector<std::string>{"checkout"}));
  EXPECT_EQ(internal::ChangedKeys(nullptr, **b),
            (std::vector<std::string>{"checkout", "greeting", "limits", "ratio"}));
}

TEST(SnapshotFileTest, RoundTripsAndRefusesAFileWithoutASignatureLine) {
  absl::StatusOr<internal::SnapshotFile> f = internal::ParseSnapshotFile(internal::FormatSnapshotFile("kid=a; sig=b", "{}"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->signature, "kid=a; sig=b");
  EXPECT_EQ(f->document, "{}");
  EXPECT_FALSE(internal::ParseSnapshotFile("{}").ok());
  EXPECT_FALSE(internal::ParseSnapshotFile("\n{}").ok());
  EXPECT_FALSE(internal::ParseSnapshotFile("kid=a; sig=b\n{}\r\r\n").ok());  // found by sdk_transport_fuzz
  EXPECT_FALSE(internal::ParseSnapshotFile("kid=a\r; sig=b\r\n{}\n").ok());
  EXPECT_TRUE(internal::ParseSnapshotFile("kid=a; sig=b\r\n{}\r\n").ok());
}

}  // namespace
}  // namespace edgevault::sdk
