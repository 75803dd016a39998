// The C++ server SDK (sdk/cpp, docs/sdk-cpp.md) against a real `edgevault up`: its
// in-process answers equal delivery's OFREP answers for 10,000 random contexts on every flag
// and config of a realistic set; a change reaches it over /v1/stream; it keeps serving with
// delivery killed and catches up after the restart; a tampered document, one signed by
// another key and an older one are refused and the last good document is kept.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "edgevault/client.h"
#include "gtest/gtest.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/ed25519.h"
#include "src/crypto/hash.h"
#include "src/net/http_server.h"
#include "src/net/router.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int kDeadlineMs = 30000;  // only bounds how long a failure waits
const std::string kBase = "/v1/workspaces/sdk";

// A realistic flag set: every kind of rule the engine knows, rollouts, a segment,
// prerequisites, off flags with and without an off variation, every value type.
const char* const kFlags[][2] = {
    {"new-checkout", R"({"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],
      "environments":{"prod":{"on":true,"rules":[{"id":"paying","clauses":[{"attribute":"plan","op":"in","values":["pro","enterprise"]}],"variation":1}],
      "fallthrough":{"rollout":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}}}})"},
    {"dark-mode", R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"targets":[{"variation":1,"values":["user-1","user-2","user-3"]}],"fallthrough":{"variation":0}}}})"},
    {"beta-banner", R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"rules":[{"clauses":[{"op":"segment_match","values":["beta"]}],"variation":1}],"fallthrough":{"variation":0}}}})"},
    {"search-algo", R"({"salt":"algo-2024","variations":[{"value":"v1","name":"classic"},{"value":"v2","name":"vector"},{"value":"v3","name":"hybrid"}],
      "environments":{"prod":{"on":true,"rules":[{"id":"nordics","clauses":[{"attribute":"address.country","op":"in","values":["NO","SE"]}],
      "rollout":[{"variation":0,"weight":20000},{"variation":1,"weight":30000},{"variation":2,"weight":50000}]}],"fallthrough":{"variation":0}}}})"},
    {"max-items", R"({"variations":[{"value":10},{"value":20},{"value":50.5}],
      "environments":{"prod":{"on":true,"rules":[{"clauses":[{"attribute":"age","op":"gte","values":[18]}],"variation":2},
      {"clauses":[{"attribute":"app_version","op":"semver_gt","values":["2.0.0"]}],"variation":1}],"fallthrough":{"variation":0}}}})"},
    {"pricing-table", R"({"variations":[{"value":{"currency":"EUR","tiers":[1,2]}},{"value":{"currency":"NOK","tiers":[5]}}],
      "environments":{"prod":{"on":true,"rules":[{"clauses":[{"attribute":"email","op":"ends_with","values":["@corp.example"]}],"variation":1}],"fallthrough":{"variation":0}}}})"},
    {"legacy-export", R"({"variations":[{"value":"csv"},{"value":"parquet"}],
      "environments":{"prod":{"on":false,"off_variation":0,"fallthrough":{"variation":1}}}})"},
    {"killed-feature", R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":false,"fallthrough":{"variation":1}}}})"},
    {"new-billing-ui", R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"off_variation":0,"prerequisites":[{"flag":"new-checkout","variation":1}],"fallthrough":{"variation":1}}}})"},
    {"lucky-sevens", R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"rules":[{"clauses":[{"attribute":"key","op":"matches","values":["^user-[0-9]*7$"]}],"variation":1}],"fallthrough":{"variation":0}}}})"},
    {"org-ramp", R"({"variations":[{"value":"old"},{"value":"new"}],
      "environments":{"prod":{"on":true,"fallthrough":{"rollout":[{"variation":0,"weight":80000},{"variation":1,"weight":20000}],"bucket_by":"org.id","seed":61}}}})"},
    {"not-free", R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"rules":[{"clauses":[{"attribute":"plan","op":"in","values":["free"],"negate":true}],"variation":1}],"fallthrough":{"variation":0}}}})"},
};

class SdkCppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    up_ = EdgeVaultUp::Start();
    ASSERT_NE(up_, nullptr);
    ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "sdk"}, {"name", "sdk"}}).status, 201);
    ASSERT_EQ(Api("POST", kBase + "/environments",
                  json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}}).status,
              201);
    HttpReply seg = Api("PUT", kBase + "/segments/beta",
                        json::object{{"included", json::array{"user-5", "user-8"}}, {"excluded", json::array{"user-9"}},
                                     {"rules", json::parse(R"([{"clauses":[{"attribute":"plan","op":"in","values":["enterprise"]}]}])")},
                                     {"reason", "setup"}});
    ASSERT_EQ(seg.status, 200) << seg.body;
    for (const auto& [key, body] : kFlags) {
      json::object flag = json::parse(body).as_object();
      flag["reason"] = "setup";
      HttpReply r = Api("PUT", kBase + "/flags/" + key, flag);
      ASSERT_EQ(r.status, 200) << key << ": " << r.body;
    }
    PutConfig("greeting", "string", "hello");
    PutConfig("pool", "integer", 10);
    PutConfig("ratio", "number", 0.75);
    PutConfig("limits", "json", json::object{{"max", 3}});
    HttpReply minted = Api("POST", kBase + "/environments/prod/sdk-keys", json::object{{"name", "sdk"}});
    ASSERT_EQ(minted.status, 201) << minted.body;
    sdk_key_ = std::string(minted.json.at("key").as_string());
    // The operator pins the document keys (from a trusted copy; here: the freshly started
    // installation's well-known document).
    HttpReply keys;
    ASSERT_TRUE(testing::PollUntil([&] {
      keys = up_->Call("delivery", "GET", "/.well-known/edgevault-document-keys.json");
      return keys.status == 200;
    }, kDeadlineMs)) << keys.status << " " << keys.body;
    jwks_ = keys.body;
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }
  void PutConfig(const std::string& key, const std::string& type, const json::value& value) {
    HttpReply r = Api("PUT", kBase + "/configs/" + key,
                      json::object{{"type", type}, {"values", {{"prod", value}}}, {"reason", "setup"}});
    ASSERT_EQ(r.status, 200) << key << ": " << r.body;
  }
  int64_t Head() {
    HttpReply r = Api("GET", kBase);
    return r.status == 200 ? r.json.at("revision").as_int64() : -1;
  }
  // Delivery's document once it is at the workspace's head.
  HttpReply DeliveredAtHead() {
    const int64_t head = Head();
    HttpReply doc;
    testing::PollUntil([&] {
      doc = up_->Call("delivery", "GET", "/v1/config", "", sdk_key_);
      return doc.status == 200 && doc.json.is_object() && doc.json.at("version").as_int64() == head;
    }, kDeadlineMs);
    return doc;
  }

  sdk::ClientOptions Options(sdk::Mode mode = sdk::Mode::kStream) {
    sdk::ClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(up_->port("delivery"));
    o.sdk_key = sdk_key_;
    o.document_keys_jwks = jwks_;
    o.mode = mode;
    o.backoff_initial = std::chrono::milliseconds(50);
    o.backoff_max = std::chrono::milliseconds(500);
    o.request_timeout = std::chrono::milliseconds(2000);
    o.poll_interval = std::chrono::milliseconds(50);
    return o;
  }
  std::unique_ptr<sdk::Client> StartClient(sdk::ClientOptions o) {
    absl::StatusOr<std::unique_ptr<sdk::Client>> c = sdk::Client::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    EXPECT_TRUE((*c)->WaitUntilReady(std::chrono::milliseconds(kDeadlineMs))) << (*c)->status().last_error;
    return *std::move(c);
  }
  static bool WaitVersion(const sdk::Client& c, int64_t version) {
    return testing::PollUntil([&] { return c.status().version >= version; }, kDeadlineMs);
  }

  std::unique_ptr<EdgeVaultUp> up_;
  std::string sdk_key_, jwks_;
};

json::object RandomContext(std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<const char*> options) -> const char* {
    std::uniform_int_distribution<size_t> d(0, options.size() - 1);
    return *(options.begin() + d(rng));
  };
  auto chance = [&](int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; };
  json::object c;
  if (chance(92)) c["targetingKey"] = "user-" + std::to_string(std::uniform_int_distribution<int>(0, 5000)(rng));
  if (chance(80)) c["plan"] = pick({"free", "pro", "enterprise", "trial"});
  if (chance(70)) c["address"] = json::object{{"country", pick({"NO", "SE", "US", "DE", "no"})}};
  if (chance(60)) c["app_version"] = pick({"1.9.0", "2.0.0", "2.0.1", "2.10.3", "not-a-version"});
  if (chance(60)) c["age"] = std::uniform_int_distribution<int>(5, 90)(rng);
  if (chance(10)) c["age"] = "40";  // a numeric string is not a number
  if (chance(40)) c["email"] = std::string(pick({"a", "b", "c"})) + pick({"@corp.example", "@mail.example"});
  if (chance(50)) c["org"] = json::object{{"id", "org-" + std::to_string(std::uniform_int_distribution<int>(0, 300)(rng))}};
  return c;
}

TEST_F(SdkCppTest, InProcessAnswersEqualDeliveryOfrepFor10000RandomContexts) {
  HttpReply doc = DeliveredAtHead();
  ASSERT_EQ(doc.status, 200) << doc.body;
  const int64_t version = doc.json.at("version").as_int64();
  std::unique_ptr<sdk::Client> client = StartClient(Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitVersion(*client, version));
  ASSERT_EQ(client->status().version, version);
  EXPECT_EQ(client->FlagKeys().size(), std::size(kFlags));
  EXPECT_EQ(client->ConfigKeys().size(), 4u);

  std::mt19937_64 rng(20261203);
  int compared = 0;
  std::map<std::string, int> reasons;
  for (int i = 0; i < 10000; ++i) {
    json::object context = RandomContext(rng);
    HttpReply bulk = up_->Json("delivery", "POST", "/ofrep/v1/evaluate/flags", json::object{{"context", context}}, sdk_key_);
    ASSERT_EQ(bulk.status, 200) << bulk.body;
    absl::StatusOr<sdk::Context> ctx = sdk::Context::FromOfrepJson(json::serialize(context));
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    const json::array& flags = bulk.json.at("flags").as_array();
    ASSERT_EQ(flags.size(), std::size(kFlags) + 4);
    for (const json::value& v : flags) {
      const json::object& theirs = v.as_object();
      const std::string key(theirs.at("key").as_string());
      sdk::Evaluation<std::string> ours = client->JsonValue(key, *ctx, "null");
      const std::string where = key + " for " + json::serialize(context);
      if (const json::value* code = theirs.if_contains("errorCode")) {
        EXPECT_EQ(ours.reason, "ERROR") << where;
        EXPECT_EQ(ours.error_code, code->as_string()) << where;
        ++reasons["ERROR"];
      } else {
        EXPECT_EQ(ours.value, json::serialize(theirs.at("value"))) << where;
        EXPECT_EQ(ours.reason, theirs.at("reason").as_string()) << where;
        const json::value* variant = theirs.if_contains("variant");
        EXPECT_EQ(ours.variant, variant != nullptr ? std::string(variant->as_string()) : std::string()) << where;
        EXPECT_EQ(ours.version, theirs.at("metadata").at("version").as_int64()) << where;
        ++reasons[std::string(ours.reason)];
      }
      ++compared;
    }
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(compared, 10000 * static_cast<int>(std::size(kFlags) + 4));
  // The set and the contexts reach every outcome, so the comparison is not vacuous.
  for (const char* reason : {"TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "STATIC", "PREREQUISITE_FAILED", "ERROR"}) {
    EXPECT_GT(reasons[reason], 0) << reason;
  }
}

TEST_F(SdkCppTest, AChangeReachesTheSdkOverTheStream) {
  std::unique_ptr<sdk::Client> client = StartClient(Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitVersion(*client, DeliveredAtHead().json.at("version").as_int64()));
  ASSERT_TRUE(testing::PollUntil([&] { return client->status().streaming; }, kDeadlineMs));
  std::mutex mu;
  std::vector<sdk::ChangeEvent> events;
  client->AddChangeListener([&](const sdk::ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  });
  sdk::Context someone("user-4000");
  EXPECT_FALSE(client->BoolValue("killed-feature", someone, false).value);

  const auto written = std::chrono::steady_clock::now();
  json::object revived = json::parse(kFlags[7][1]).as_object();
  revived["environments"].as_object()["prod"].as_object()["on"] = true;
  revived["reason"] = "revive";
  HttpReply on = Api("PUT", kBase + "/flags/killed-feature", revived);
  ASSERT_EQ(on.status, 200) << on.body;
  ASSERT_TRUE(testing::PollUntil([&] { return client->BoolValue("killed-feature", someone, false).value; }, kDeadlineMs));
  const auto seen = std::chrono::steady_clock::now();
  std::cout << "change reached the SDK after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(seen - written).count() << " ms\n";
  sdk::Evaluation<bool> now = client->BoolValue("killed-feature", someone, false);
  EXPECT_EQ(now.reason, "DEFAULT");
  EXPECT_EQ(now.variant, "1");
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().version, now.version);
    EXPECT_EQ(events.back().changed_keys, std::vector<std::string>{"killed-feature"});
  }
  // It came over the stream: no poll fallback ran (no connection failed).
  EXPECT_EQ(client->status().connection_failures, 0);
  EXPECT_TRUE(client->status().streaming);
}

TEST_F(SdkCppTest, KeepsServingWithDeliveryKilledAndCatchesUpAfterTheRestart) {
  std::unique_ptr<sdk::Client> client = StartClient(Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitVersion(*client, DeliveredAtHead().json.at("version").as_int64()));
  ASSERT_TRUE(testing::PollUntil([&] { return client->status().streaming; }, kDeadlineMs));
  sdk::Context pro = *sdk::Context::FromOfrepJson(R"({"targetingKey":"user-12","plan":"pro"})");
  const sdk::Evaluation<bool> before = client->BoolValue("new-checkout", pro, false);
  ASSERT_TRUE(before.value);

  pid_t delivery = up_->ServicePid("delivery");
  ASSERT_GT(delivery, 0);
  ASSERT_EQ(::kill(delivery, SIGKILL), 0);
  ASSERT_TRUE(testing::PollUntil([&] { return client->status().connection_failures > 0; }, kDeadlineMs));
  for (int i = 0; i < 1000; ++i) {
    sdk::Evaluation<bool> e = client->BoolValue("new-checkout", pro, false);
    ASSERT_TRUE(e.value);
    ASSERT_EQ(e.reason, "TARGETING_MATCH");
    ASSERT_EQ(e.version, before.version);
  }
  EXPECT_EQ(client->StringValue("greeting", pro, "").value, "hello");

  // `up` restarts delivery; the SDK reconnects and hears the next change.
  ASSERT_TRUE(testing::PollUntil([&] { return up_->ServicePid("delivery") > 0 && up_->ServicePid("delivery") != delivery; },
                                 60000));
  ASSERT_EQ(Api("PUT", kBase + "/configs/greeting",
                json::object{{"type", "string"}, {"values", {{"prod", "hej"}}}, {"reason", "after restart"}})
                .status,
            200);
  ASSERT_TRUE(testing::PollUntil([&] { return client->StringValue("greeting", pro, "").value == "hej"; }, 60000))
      << client->status().last_error;

  // Everything stopped: still the last good document.
  const int64_t last = client->status().version;
  // Not asserted: up's exit code. After a delivery restart, delivery's final usage flush
  // races the api's shutdown and up sometimes has to kill the api (issue 18's shutdown race,
  // reported with this test's log); what matters here is the SDK.
  up_->Stop();
  ASSERT_TRUE(testing::PollUntil([&] { return !client->status().streaming; }, kDeadlineMs));
  EXPECT_EQ(client->StringValue("greeting", pro, "").value, "hej");
  EXPECT_TRUE(client->BoolValue("new-checkout", pro, false).value);
  EXPECT_EQ(client->status().version, last);
}

// A delivery in the middle that the test controls: it answers GET /v1/config with whatever
// document and signature it was given (documents and signatures taken from the real one),
// 304 when If-None-Match names that document's ETag, and GET /v1/stream with 503; it
// records the conditional headers the SDK sends.
class ControlledDelivery {
 public:
  ControlledDelivery() {
    net::Router router;
    router.Get("/v1/config", [this](net::Request& req) {
      std::lock_guard<std::mutex> lock(mu_);
      if_none_match_.emplace_back(req.Header("If-None-Match"));
      net::Response r;
      if (!body_.empty() && req.Header("If-None-Match") == crypto::Sha256Etag(body_)) {
        r.status = 304;
      } else {
        r.body = body_;
      }
      r.headers.emplace_back("EdgeVault-Signature", signature_);
      return r;
    });
    router.Get("/v1/stream", [this](net::Request& req) {
      std::lock_guard<std::mutex> lock(mu_);
      last_event_ids_.emplace_back(req.Header("Last-Event-ID"));
      net::Response r;
      r.status = 503;
      r.body = R"({"error":{"code":"unavailable","message":"no stream here"}})";
      return r;
    });
    server_ = std::move(*net::HttpServer::Create({.service = "controlled", .io_threads = 1, .access_log = false},
                                                 std::move(router)));
    EXPECT_TRUE(server_->Start().ok());
  }
  ~ControlledDelivery() { server_->Drain(); }
  void Serve(std::string body, std::string signature) {
    std::lock_guard<std::mutex> lock(mu_);
    body_ = std::move(body);
    signature_ = std::move(signature);
  }
  std::vector<std::string> IfNoneMatch() {
    std::lock_guard<std::mutex> lock(mu_);
    return if_none_match_;
  }
  std::vector<std::string> LastEventIds() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_event_ids_;
  }
  int port() const { return server_->port(); }

 private:
  std::mutex mu_;
  std::string body_, signature_;
  std::vector<std::string> if_none_match_, last_event_ids_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(SdkCppTest, TamperedForeignAndOlderDocumentsAreRefusedAndTheLastGoodKept) {
  HttpReply v1 = DeliveredAtHead();
  ASSERT_EQ(v1.status, 200);
  ControlledDelivery middle;
  middle.Serve(v1.body, v1.Header("EdgeVault-Signature"));
  sdk::ClientOptions o = Options(sdk::Mode::kPoll);
  o.base_url = "http://127.0.0.1:" + std::to_string(middle.port());
  std::unique_ptr<sdk::Client> client = StartClient(o);
  ASSERT_NE(client, nullptr);
  const int64_t good = v1.json.at("version").as_int64();
  ASSERT_EQ(client->status().version, good);

  ASSERT_EQ(Api("PUT", kBase + "/configs/greeting",
                json::object{{"type", "string"}, {"values", {{"prod", "hallo"}}}, {"reason", "v2"}}).status,
            200);
  HttpReply v2 = DeliveredAtHead();
  ASSERT_EQ(v2.status, 200);
  const std::string v2_signature = v2.Header("EdgeVault-Signature");
  ASSERT_FALSE(v2_signature.empty());

  auto refused_while_serving = [&](std::string body, std::string signature, const std::string& what) {
    const int64_t refused = client->status().documents_refused;
    middle.Serve(std::move(body), std::move(signature));
    ASSERT_TRUE(testing::PollUntil([&] { return client->status().documents_refused >= refused + 2; }, kDeadlineMs))
        << what;
    EXPECT_EQ(client->status().version, good) << what;
    EXPECT_EQ(client->StringValue("greeting", sdk::Context(), "").value, "hello") << what;
    EXPECT_NE(client->status().last_error.find("refused"), std::string::npos) << client->status().last_error;
  };
  // One byte of the value changed ("hallo" -> "hullo"), the real signature kept.
  std::string tampered = v2.body;
  tampered[tampered.find("hallo") + 1] = 'u';
  refused_while_serving(tampered, v2_signature, "tampered byte");
  // The real bytes signed by another key: under the pinned kid, and under its own kid.
  absl::StatusOr<crypto::DocumentSignature> real = crypto::ParseDocumentSignatureHeader(v2_signature);
  ASSERT_TRUE(real.ok());
  crypto::Ed25519PrivateKey foreign = *crypto::Ed25519PrivateKey::FromRaw(std::string(32, 'f'));
  const std::string foreign_sig = foreign.Sign(crypto::DocumentSigningInput(v2.body));
  refused_while_serving(v2.body, crypto::FormatDocumentSignatureHeader({real->kid, foreign_sig}), "foreign key, pinned kid");
  refused_while_serving(v2.body, crypto::FormatDocumentSignatureHeader({foreign.Kid(), foreign_sig}), "foreign kid");
  refused_while_serving(v2.body, "", "no signature");

  // The real v2 is taken; v1 replayed afterwards (validly signed, older) is refused.
  middle.Serve(v2.body, v2_signature);
  ASSERT_TRUE(testing::PollUntil([&] { return client->status().version == v2.json.at("version").as_int64(); }, kDeadlineMs));
  EXPECT_EQ(client->StringValue("greeting", sdk::Context(), "").value, "hallo");
  const int64_t refused = client->status().documents_refused;
  middle.Serve(v1.body, v1.Header("EdgeVault-Signature"));
  ASSERT_TRUE(testing::PollUntil([&] { return client->status().documents_refused >= refused + 2; }, kDeadlineMs));
  EXPECT_EQ(client->StringValue("greeting", sdk::Context(), "").value, "hallo");
}

// A client key (evc_) gets the client document: only client-visible items. A document of
// the other audience, validly signed, is refused both ways: the client document by an SDK
// holding a server key (it would silently lose every server-only flag), the full document
// by an SDK holding a client key.
TEST_F(SdkCppTest, AClientKeySeesOnlyTheClientDocumentAndNeitherAudienceTakesTheOther) {
  json::object dark = json::parse(kFlags[1][1]).as_object();
  dark["client_visible"] = true;
  dark["reason"] = "web";
  ASSERT_EQ(Api("PUT", kBase + "/flags/dark-mode", dark).status, 200);
  HttpReply greeting = Api("PUT", kBase + "/configs/greeting",
                           json::object{{"type", "string"}, {"values", {{"prod", "hello"}}}, {"client_visible", true},
                                        {"reason", "web"}});
  ASSERT_EQ(greeting.status, 200) << greeting.body;
  HttpReply minted = Api("POST", kBase + "/environments/prod/sdk-keys",
                         json::object{{"name", "web"}, {"kind", "client"}, {"origins", {"https://app.example"}}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string client_key(minted.json.at("key").as_string());
  ASSERT_EQ(client_key.rfind("evc_", 0), 0u);
  HttpReply full = DeliveredAtHead();
  ASSERT_EQ(full.status, 200);
  HttpReply client_doc;
  ASSERT_TRUE(testing::PollUntil([&] {
    client_doc = up_->Call("delivery", "GET", "/v1/config", "", client_key);
    return client_doc.status == 200 && client_doc.json.at("version") == full.json.at("version");
  }, kDeadlineMs));

  sdk::ClientOptions o = Options();
  o.sdk_key = client_key;
  std::unique_ptr<sdk::Client> web = StartClient(o);
  ASSERT_NE(web, nullptr);
  ASSERT_TRUE(WaitVersion(*web, full.json.at("version").as_int64()));
  EXPECT_EQ(web->FlagKeys(), std::vector<std::string>{"dark-mode"});
  EXPECT_EQ(web->ConfigKeys(), std::vector<std::string>{"greeting"});
  sdk::Evaluation<bool> d = web->BoolValue("dark-mode", sdk::Context("user-2"), false);
  EXPECT_TRUE(d.value);
  EXPECT_EQ(d.reason, "TARGETING_MATCH");
  EXPECT_EQ(web->BoolValue("new-checkout", sdk::Context("user-2"), false).error_code, "FLAG_NOT_FOUND");

  ControlledDelivery middle;
  middle.Serve(client_doc.body, client_doc.Header("EdgeVault-Signature"));
  sdk::ClientOptions server = Options(sdk::Mode::kPoll);  // the server key
  server.base_url = "http://127.0.0.1:" + std::to_string(middle.port());
  absl::StatusOr<std::unique_ptr<sdk::Client>> s = sdk::Client::Create(server);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(testing::PollUntil([&] { return (*s)->status().documents_refused >= 2; }, kDeadlineMs));
  EXPECT_FALSE((*s)->status().ready);
  EXPECT_NE((*s)->status().last_error.find("a full document was expected"), std::string::npos) << (*s)->status().last_error;

  middle.Serve(full.body, full.Header("EdgeVault-Signature"));
  sdk::ClientOptions client_middle = o;
  client_middle.mode = sdk::Mode::kPoll;
  client_middle.base_url = server.base_url;
  absl::StatusOr<std::unique_ptr<sdk::Client>> c = sdk::Client::Create(client_middle);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(testing::PollUntil([&] { return (*c)->status().documents_refused >= 2; }, kDeadlineMs));
  EXPECT_FALSE((*c)->status().ready);
  EXPECT_NE((*c)->status().last_error.find("a client document was expected"), std::string::npos)
      << (*c)->status().last_error;
}

// Started from a bootstrap file at version V, the SDK resumes the stream with
// Last-Event-ID: V; while the stream fails it polls /v1/config with the document's ETag and
// takes the 304; it keeps serving V throughout.
TEST_F(SdkCppTest, ResumesWithLastEventIdAndPollsWithTheEtagWhileTheStreamFails) {
  HttpReply v1 = DeliveredAtHead();
  ASSERT_EQ(v1.status, 200);
  const std::string bootstrap = up_->data_dir() + "/bootstrap.evs";
  {
    std::ofstream(bootstrap) << v1.Header("EdgeVault-Signature") << "\n" << v1.body << "\n";
  }
  ControlledDelivery middle;
  middle.Serve(v1.body, v1.Header("EdgeVault-Signature"));
  sdk::ClientOptions o = Options(sdk::Mode::kStream);
  o.base_url = "http://127.0.0.1:" + std::to_string(middle.port());
  o.bootstrap_file = bootstrap;
  absl::StatusOr<std::unique_ptr<sdk::Client>> c = sdk::Client::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string version = std::to_string(v1.json.at("version").as_int64());
  EXPECT_EQ((*c)->status().version, v1.json.at("version").as_int64());  // at once, from the file
  ASSERT_TRUE(testing::PollUntil([&] {
    return middle.LastEventIds().size() >= 3 && middle.IfNoneMatch().size() >= 3;
  }, kDeadlineMs));
  for (const std::string& id : middle.LastEventIds()) EXPECT_EQ(id, version);
  for (const std::string& etag : middle.IfNoneMatch()) EXPECT_EQ(etag, v1.Header("ETag"));
  EXPECT_EQ((*c)->status().documents_applied, 1);  // the bootstrap; every poll was a 304
  EXPECT_GE((*c)->status().connection_failures, 3);
  EXPECT_FALSE((*c)->status().streaming);
  EXPECT_EQ((*c)->StringValue("greeting", sdk::Context(), "").value, "hello");
}

TEST_F(SdkCppTest, ASavedSnapshotBootstrapsOfflineAndTheExampleProgramRuns) {
  std::unique_ptr<sdk::Client> client = StartClient(Options(sdk::Mode::kPoll));
  ASSERT_NE(client, nullptr);
  const std::string snapshot = up_->data_dir() + "/sdk-snapshot";
  ASSERT_TRUE(client->SaveSnapshot(snapshot).ok());
  sdk::ClientOptions offline;
  offline.mode = sdk::Mode::kOffline;
  offline.document_keys_jwks = jwks_;
  offline.bootstrap_file = snapshot;
  absl::StatusOr<std::unique_ptr<sdk::Client>> off = sdk::Client::Create(offline);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ((*off)->status().version, client->status().version);
  EXPECT_EQ((*off)->StringValue("greeting", sdk::Context(), "").value, "hello");

  const std::string keys = up_->data_dir() + "/pinned-keys.json";
  testing::RunShell("printf '%s' '" + jwks_ + "' > " + keys);
  testing::CommandResult ran = testing::RunShell(
      "EDGEVAULT_SDK_KEY=" + sdk_key_ + " " + testing::BinDir() + "/edgevault-sdk-example http://127.0.0.1:" +
      std::to_string(up_->port("delivery")) + " " + keys + " new-checkout user-1 --once");
  EXPECT_EQ(ran.code, 0) << ran.out;
  EXPECT_NE(ran.out.find("new-checkout = "), std::string::npos) << ran.out;
}

}  // namespace
}  // namespace edgevault
