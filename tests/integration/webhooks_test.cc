// Webhooks through the real binaries (docs/design/webhooks.md, issue 14): a real HTTP
// receiver on 127.0.0.1 started by the test gets every revision as a signed event that
// verifies with the secret the api showed once; events arrive in order; a receiver that
// refuses connections and then answers 500 for a while gets every event afterwards, in order;
// no body ever contains a secret value; a deleted webhook gets nothing more; another org's
// admin can neither list nor create webhooks on the workspace (404); and https:// receivers
// get events only when their certificate verifies (a test CA made here).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/env.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/net/http_server.h"
#include "src/net/router.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "tests/integration/harness.h"
#include "src/storage/testing/test_pki.h"
#include "tests/integration/webhook_receiver.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;
using testing::Receiver;
using testing::TestPki;

constexpr char kPlaintext[] = "PLAINTEXT-sup3r-s3cret-4711";

std::string S(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }

json::value Parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

// Whether `r` carries a valid X-EdgeVault-Signature for `secret`.
bool SignatureVerifies(const Receiver::Request& r, const std::string& secret) {
  std::string header = r.Header("X-EdgeVault-Signature");
  size_t comma = header.find(",v1=");
  if (header.rfind("t=", 0) != 0 || comma == std::string::npos) return false;
  std::string t = header.substr(2, comma - 2);
  std::string v1 = header.substr(comma + 4);
  return base::HexEncode(crypto::HmacSha256(secret, t + "." + r.body)) == v1;
}

int64_t FirstRevision(const Receiver::Request& r) {
  json::value v = Parse(r.body);
  const json::value* data = v.is_object() ? v.get_object().if_contains("data") : nullptr;
  const json::value* first = data != nullptr && data->is_object() ? data->get_object().if_contains("first_revision") : nullptr;
  return first != nullptr && first->is_int64() ? first->get_int64() : -1;
}

class WebhooksTest : public ::testing::Test {
 protected:
  void StartUp(std::vector<std::string> args = {}) {
    up_ = EdgeVaultUp::Start(std::move(args));
    ASSERT_NE(up_, nullptr);
    ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
    ASSERT_EQ(Api("POST", "/v1/workspaces/shop/environments",
                  json::object{{"key", "prod"}, {"name", "Prod"}, {"reason", "setup"}})
                  .status,
              201);
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr, std::string bearer = "") {
    if (bearer.empty()) bearer = up_->admin_key();
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", bearer);
    return up_->Json("api", std::move(method), std::move(target), body, bearer);
  }

  // Registers a webhook; returns {id, secret}.
  std::pair<std::string, std::string> Register(const std::string& url, const json::value& events = "*") {
    HttpReply r = Api("POST", "/v1/workspaces/shop/webhooks", json::object{{"url", url}, {"events", events}});
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {};
    return {std::string(r.json.at("id").as_string()), std::string(r.json.at("secret").as_string())};
  }

  int64_t PutConfig(const std::string& key, int value) {
    HttpReply r = Api("PUT", "/v1/workspaces/shop/configs/" + key,
                      json::object{{"type", "integer"}, {"values", {{"prod", value}}}, {"reason", "tick"}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json.at("workspace_revision").as_int64() : -1;
  }

  // Runs `edgevault ARGS` against this api as the admin key; sets *code to its exit code.
  std::string Cli(const std::string& args, int* code) {
    testing::CommandResult r = testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
    *code = r.code;
    return r.out;
  }

  // A token of an admin of a second org (made in the control DB: orgs are not created over
  // the api); "" after a failed assertion.
  std::string OtherOrgAdmin(const std::string& email) {
    EXPECT_EQ(up_->Json("auth", "POST", "/v1/users",
                        {{"email", email}, {"role", "admin"}, {"password", "integration password 1"}},
                        up_->admin_key())
                  .status,
              201);
    {
      auto control = storage::OpenSqliteControlStore({up_->data_dir() + "/control.db", base::Env::Default()});
      if (!control.ok()) ADD_FAILURE() << control.status();
      if (!control.ok()) return "";
      absl::StatusOr<storage::User> user = (*control)->GetUserByEmail(email);
      absl::StatusOr<storage::Org> home = (*control)->GetOrgByName("default");
      if (!user.ok() || !home.ok()) ADD_FAILURE() << user.status() << home.status();
      if (!user.ok() || !home.ok()) return "";
      storage::Org org;
      org.id = "org_";
      for (char ch : email.substr(0, email.find('@'))) {
        if (std::isalnum(static_cast<unsigned char>(ch))) org.id.push_back(ch);
      }
      org.name = email;
      org.created_at = absl::Now();
      EXPECT_TRUE((*control)->CreateOrg(org).ok());
      EXPECT_TRUE((*control)->AddMembership({org.id, user->id, storage::Role::kAdmin, absl::Now()}).ok());
      absl::Status removed = (*control)->RemoveMembership(home->id, user->id);
      EXPECT_TRUE(removed.ok() || absl::IsNotFound(removed)) << removed;  // users may live in one org only
    }
    HttpReply login = up_->Json("auth", "POST", "/v1/login", {{"email", email}, {"password", "integration password 1"}});
    EXPECT_EQ(login.status, 200) << login.body;
    if (login.status != 200) return "";
    HttpReply token = up_->Call("auth", "POST", "/v1/token", "", std::string(login.json.at("session").as_string()));
    EXPECT_EQ(token.status, 200) << token.body;
    return token.status == 200 ? std::string(token.json.at("token").as_string()) : "";
  }

  std::unique_ptr<EdgeVaultUp> up_;
};

TEST_F(WebhooksTest, SignedInOrderAndNeverASecretValue) {
  StartUp();
  Receiver receiver;
  ASSERT_GT(receiver.port(), 0);
  receiver.Listen();
  auto [id, secret] = Register(receiver.Url(), json::array{"revision.written"});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(secret.rfind("whsec_", 0), 0u) << secret;

  // Listing never shows the secret.
  HttpReply list = Api("GET", "/v1/workspaces/shop/webhooks");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body.find(secret), std::string::npos);
  EXPECT_EQ(list.json.at("webhooks").as_array().size(), 1u);

  HttpReply s = Api("PUT", "/v1/workspaces/shop/secrets/db.password",
                    json::object{{"values", {{"prod", kPlaintext}}}, {"reason", "set the password"}});
  ASSERT_EQ(s.status, 200) << s.body;
  const int64_t secret_revision = s.json.at("workspace_revision").as_int64();
  constexpr int kWrites = 40;
  int64_t last = 0;
  for (int i = 0; i < kWrites; ++i) last = PutConfig("counter", i);

  ASSERT_TRUE(testing::PollUntil([&] { return receiver.Delivered().size() >= kWrites + 1; }, 60000))
      << receiver.Delivered().size() << " events received";
  std::vector<Receiver::Request> got = receiver.Delivered();
  ASSERT_EQ(got.size(), static_cast<size_t>(kWrites + 1));
  int64_t expect = secret_revision;
  for (const Receiver::Request& r : got) {
    EXPECT_TRUE(SignatureVerifies(r, secret)) << r.head;
    EXPECT_FALSE(SignatureVerifies(r, secret + "x"));
    EXPECT_EQ(r.Header("X-EdgeVault-Event"), "revision.written");
    EXPECT_EQ(r.Header("X-EdgeVault-Webhook-Id"), id);
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    EXPECT_EQ(FirstRevision(r), expect) << r.body;  // in commit order, none missing
    ++expect;
    EXPECT_EQ(r.body.find(kPlaintext), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("envelope"), std::string::npos) << r.body;
  }
  EXPECT_EQ(expect, last + 1);
  // The secret's event names its key and environment, nothing more.
  json::value first = Parse(got[0].body);
  ASSERT_TRUE(first.is_object()) << got[0].body;
  EXPECT_EQ(S(first.at("type")), "revision.written");
  EXPECT_EQ(S(first.at("workspace").at("key")), "shop");
  const json::object& rev = first.at("data").at("revisions").at(0).as_object();
  EXPECT_EQ(S(rev.at("kind")), "secret");
  EXPECT_EQ(S(rev.at("key")), "db.password");
  EXPECT_TRUE(rev.at("environment").is_null());  // a secret is one item over its environments
  EXPECT_EQ(json::serialize(first.at("data").at("environments")), R"(["prod"])");
  EXPECT_EQ(rev.size(), 4u) << json::serialize(rev);  // revision, kind, key, environment

  // A rotated secret signs from then on; the old one no longer verifies.
  HttpReply rotated = Api("POST", "/v1/workspaces/shop/webhooks/" + id + "/rotate-secret");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  std::string new_secret(rotated.json.at("secret").as_string());
  PutConfig("counter", 1000);
  ASSERT_TRUE(testing::PollUntil([&] { return receiver.Delivered().size() >= kWrites + 2; }, 30000));
  Receiver::Request after = receiver.Delivered().back();
  EXPECT_TRUE(SignatureVerifies(after, new_secret));
  EXPECT_FALSE(SignatureVerifies(after, secret));
  for (const Receiver::Request& r : receiver.Requests()) EXPECT_EQ(r.body.find(kPlaintext), std::string::npos);
}

// A promotion's life reaches the receiver as it happens, each event in the transaction of
// its step: opened, approved, the revisions the apply wrote, applied, promotion.applied.
// No body carries the promoted secret's value or the diff.
TEST_F(WebhooksTest, ChangeRequestEventsFollowThePromotionInOrder) {
  StartUp();
  ASSERT_EQ(Api("POST", "/v1/workspaces/shop/environments",
                json::object{{"key", "staging"}, {"name", "Staging"}, {"reason", "setup"}})
                .status,
            201);
  HttpReply s = Api("PUT", "/v1/workspaces/shop/secrets/db.password",
                    json::object{{"values", {{"staging", kPlaintext}}}, {"reason", "set the password"}});
  ASSERT_EQ(s.status, 200) << s.body;
  ASSERT_EQ(Api("PUT", "/v1/workspaces/shop/configs/pool",
                json::object{{"type", "integer"}, {"values", {{"staging", 20}}}, {"reason", "tune"}})
                .status,
            200);
  ASSERT_EQ(Api("PUT", "/v1/workspaces/shop/environments/prod/policy",
                json::object{{"required_approvals", 1}, {"reason", "review prod"}})
                .status,
            200);
  Receiver receiver;
  ASSERT_GT(receiver.port(), 0);
  receiver.Listen();
  auto [id, secret] = Register(receiver.Url());
  ASSERT_FALSE(id.empty());

  std::string author = up_->TokenForNewUser("author-hooks@example.com", "developer");
  HttpReply created = Api("POST", "/v1/workspaces/shop/promotions",
                          json::object{{"from", "staging"}, {"to", "prod"}, {"title", "ship the pool"}}, author);
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t cr = created.json.at("id").as_int64();
  const std::string base = "/v1/workspaces/shop/change-requests/" + std::to_string(cr);
  // API keys never review (docs/design/promotions.md): a user does.
  std::string approver = up_->TokenForNewUser("approver-hooks@example.com", "admin");
  ASSERT_EQ(Api("POST", base + "/approve", json::object{}, approver).status, 200);
  HttpReply applied = Api("POST", base + "/apply", json::object{}, approver);
  ASSERT_EQ(applied.status, 200) << applied.body;

  const std::vector<std::string> want = {"change_request.opened", "change_request.approved", "revision.written",
                                         "change_request.applied", "promotion.applied"};
  ASSERT_TRUE(testing::PollUntil([&] { return receiver.Delivered().size() >= want.size(); }, 60000))
      << receiver.Delivered().size() << " events received";
  std::vector<Receiver::Request> got = receiver.Delivered();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].Header("X-EdgeVault-Event"), want[i]) << got[i].body;
    EXPECT_TRUE(SignatureVerifies(got[i], secret));
    EXPECT_EQ(got[i].body.find(kPlaintext), std::string::npos) << got[i].body;
    EXPECT_EQ(got[i].body.find("envelope"), std::string::npos) << got[i].body;
    json::value event = Parse(got[i].body);
    ASSERT_TRUE(event.is_object()) << got[i].body;
    if (want[i] == "revision.written") continue;
    const json::object& data = event.at("data").as_object();
    EXPECT_EQ(data.at("change_request").as_int64(), cr);
    EXPECT_EQ(S(data.at("title")), "ship the pool");
    EXPECT_EQ(S(data.at("type")), "promotion");
    EXPECT_EQ(S(data.at("promotion").at("from")), "staging");
    EXPECT_EQ(S(data.at("promotion").at("to")), "prod");
    EXPECT_FALSE(data.contains("changes")) << got[i].body;  // the diff stays in the api
  }
  json::value done = Parse(got[3].body);
  ASSERT_TRUE(done.is_object());
  EXPECT_EQ(S(done.at("data").at("state")), "applied");
  json::value written = Parse(got[2].body);
  ASSERT_TRUE(written.is_object());
  EXPECT_EQ(done.at("data").at("first_revision"), written.at("data").at("first_revision"));
  EXPECT_EQ(done.at("data").at("last_revision"), written.at("data").at("last_revision"));
  EXPECT_EQ(S(written.at("data").at("op")), "change_request");
}

TEST_F(WebhooksTest, AReceiverThatWasDownGetsEveryEventAfterwardsInOrder) {
  // Short back-off so the test does not wait for the production defaults.
  StartUp({"--set", "api.webhook_retry_initial_ms=20", "--set", "api.webhook_retry_max_ms=200", "--set",
           "api.webhook_max_attempts=1000"});
  Receiver receiver;  // bound, not listening: connections are refused
  ASSERT_GT(receiver.port(), 0);
  auto [id, secret] = Register(receiver.Url());
  ASSERT_FALSE(id.empty());
  int64_t first = PutConfig("a", 1);
  for (int i = 2; i <= 5; ++i) PutConfig("a", i);
  // The webhook shows it is retrying, with the error.
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        HttpReply w = Api("GET", "/v1/workspaces/shop/webhooks/" + id);
        return w.status == 200 && w.json.is_object() && S(w.json.at("state")) == "retrying";
      },
      30000));
  // Now it listens but fails with 500 for a while.
  receiver.SetStatus(500);
  receiver.Listen();
  ASSERT_TRUE(testing::PollUntil([&] { return receiver.Requests().size() >= 3; }, 30000));
  for (int i = 6; i <= 10; ++i) PutConfig("a", i);
  int64_t last = PutConfig("a", 11);
  // Every failed attempt was the first event, again: nothing later went ahead of it.
  for (const Receiver::Request& r : receiver.Requests()) EXPECT_EQ(FirstRevision(r), first) << r.body;
  receiver.SetStatus(200);
  ASSERT_TRUE(testing::PollUntil([&] { return static_cast<int64_t>(receiver.Delivered().size()) >= last - first + 1; },
                                 60000))
      << receiver.Delivered().size();
  std::vector<Receiver::Request> got = receiver.Delivered();
  ASSERT_EQ(static_cast<int64_t>(got.size()), last - first + 1);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(FirstRevision(got[i]), first + static_cast<int64_t>(i)) << got[i].body;
    EXPECT_TRUE(SignatureVerifies(got[i], secret));
  }
  HttpReply w = Api("GET", "/v1/workspaces/shop/webhooks/" + id);
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(S(w.json.at("state")), "ok") << w.body;
}

// Events are outbox rows committed with their revisions and cursors are stored: a kill -9 of
// the api while the receiver is down loses nothing, and the order holds across the restart.
TEST_F(WebhooksTest, EventsSurviveAnApiKillWhileTheReceiverIsDown) {
  StartUp({"--set", "api.webhook_retry_initial_ms=20", "--set", "api.webhook_retry_max_ms=200", "--set",
           "api.webhook_max_attempts=1000"});
  Receiver receiver;  // refusing
  auto [id, secret] = Register(receiver.Url());
  ASSERT_FALSE(id.empty());
  int64_t first = PutConfig("k", 1);
  PutConfig("k", 2);
  PutConfig("k", 3);
  pid_t api = up_->ServicePid("api");
  ASSERT_GT(api, 0);
  ASSERT_EQ(::kill(api, SIGKILL), 0);
  // `up` restarts it; wait for the new process to answer.
  ASSERT_TRUE(testing::PollUntil([&] { return up_->ServicePid("api") != api; }, 30000));
  ASSERT_TRUE(up_->WaitHealthy("api", 30000));
  PutConfig("k", 4);
  int64_t last = PutConfig("k", 5);
  receiver.Listen();
  ASSERT_TRUE(testing::PollUntil([&] { return static_cast<int64_t>(receiver.Delivered().size()) >= last - first + 1; },
                                 60000))
      << receiver.Delivered().size();
  std::vector<Receiver::Request> got = receiver.Delivered();
  ASSERT_EQ(static_cast<int64_t>(got.size()), last - first + 1);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(FirstRevision(got[i]), first + static_cast<int64_t>(i)) << got[i].body;
    EXPECT_TRUE(SignatureVerifies(got[i], secret));
  }
}

TEST_F(WebhooksTest, ADeletedWebhookGetsNothingMoreAndTheCliManagesThem) {
  StartUp();
  Receiver receiver;
  receiver.Listen();
  int code = -1;
  std::string out = Cli("webhook add shop " + receiver.Url("/gone") + " --events revision.written", &code);
  ASSERT_EQ(code, 0) << out;
  ASSERT_NE(out.find("whsec_"), std::string::npos) << out;
  size_t at = out.find("wh_");
  ASSERT_NE(at, std::string::npos) << out;
  std::string gone = out.substr(at, out.find_first_of(" \n", at) - at);
  auto [kept, kept_secret] = Register(receiver.Url("/kept"));
  ASSERT_FALSE(kept.empty());
  out = Cli("webhook list shop", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(gone), std::string::npos) << out;
  EXPECT_EQ(out.find("whsec_"), std::string::npos) << out;

  PutConfig("x", 1);
  ASSERT_TRUE(testing::PollUntil(
      [&] { return receiver.Delivered(gone).size() == 1 && receiver.Delivered(kept).size() == 1; }, 30000));
  out = Cli("webhook rm shop " + gone, &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/webhooks/" + gone).status, 404);
  for (int i = 2; i <= 6; ++i) PutConfig("x", i);
  // The webhook that stays gets them all; by then the deleted one would have had its turn.
  ASSERT_TRUE(testing::PollUntil([&] { return receiver.Delivered(kept).size() == 6; }, 30000));
  EXPECT_EQ(receiver.Delivered(gone).size(), 1u);
  for (const Receiver::Request& r : receiver.Requests()) {
    if (r.Header("X-EdgeVault-Webhook-Id") == gone) {
      EXPECT_NE(r.head.find("POST /gone"), std::string::npos);
    }
  }
  out = Cli("webhook rm shop " + gone, &code);
  EXPECT_NE(code, 0) << out;  // already gone: 404

  // Registration changes are audit events (never with the secret).
  HttpReply audit;
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        audit = Api("GET", "/v1/audit/events?action=workspace.webhook.*");
        return audit.status == 200 && audit.body.find("workspace.webhook.delete") != std::string::npos &&
               audit.body.find("workspace.webhook.create") != std::string::npos;
      },
      60000))
      << audit.body;
  EXPECT_EQ(audit.body.find("whsec_"), std::string::npos) << audit.body;
  EXPECT_NE(audit.body.find("webhook:" + gone), std::string::npos) << audit.body;
}

TEST_F(WebhooksTest, OnlyThisOrgsAdminsManageWebhooksAndBadInputIsRefused) {
  StartUp();
  const std::string url = "http://127.0.0.1:9/hook";
  // Another org's admin: the workspace does not exist for them.
  std::string other;
  ASSERT_NO_FATAL_FAILURE(other = OtherOrgAdmin("other-org-admin@example.com"));
  ASSERT_FALSE(other.empty());
  auto [id, secret] = Register(url);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/webhooks", nullptr, other).status, 404);
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/webhooks/" + id, nullptr, other).status, 404);
  EXPECT_EQ(Api("POST", "/v1/workspaces/shop/webhooks", json::object{{"url", url}, {"events", "*"}}, other).status, 404);
  EXPECT_EQ(Api("DELETE", "/v1/workspaces/shop/webhooks/" + id, nullptr, other).status, 404);
  EXPECT_EQ(Api("POST", "/v1/workspaces/shop/webhooks/" + id + "/rotate-secret", nullptr, other).status, 404);

  // In the org, below admin: 403.
  std::string developer = up_->TokenForNewUser("dev@example.com", "developer");
  ASSERT_FALSE(developer.empty());
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/webhooks", nullptr, developer).status, 403);
  EXPECT_EQ(Api("POST", "/v1/workspaces/shop/webhooks", json::object{{"url", url}, {"events", "*"}}, developer).status,
            403);

  // Bad input: 400 with the reason, nothing registered.
  struct Bad {
    json::object body;
    const char* code;
  };
  std::vector<Bad> bad = {
      {{{"url", "https://user@127.0.0.1/hook"}, {"events", "*"}}, "invalid_url"},
      {{{"url", "http://user:pw@127.0.0.1/hook"}, {"events", "*"}}, "invalid_url"},
      {{{"url", "ftp://127.0.0.1/"}, {"events", "*"}}, "invalid_url"},
      {{{"url", "http://127.0.0.1/a#frag"}, {"events", "*"}}, "invalid_url"},
      {{{"url", "http://127.0.0.1:99999/"}, {"events", "*"}}, "invalid_url"},
      {{{"url", "http://127.0.0.1/" + std::string(2100, 'a')}, {"events", "*"}}, "invalid_url"},
      {{{"url", url}, {"events", json::array{"revision.writen"}}}, "unknown_event_type"},
      {{{"url", url}, {"events", json::array{}}}, "invalid_argument"},
      {{{"url", url}}, "invalid_argument"},
      {{{"url", url}, {"events", "*"}, {"secret", "mine"}}, "invalid_argument"},
  };
  for (const Bad& b : bad) {
    HttpReply r = Api("POST", "/v1/workspaces/shop/webhooks", b.body);
    EXPECT_EQ(r.status, 400) << json::serialize(b.body) << " → " << r.body;
    if (r.json.is_object()) {
      EXPECT_EQ(S(r.json.at("error").at("code")), b.code) << r.body;
    }
  }
  HttpReply list = Api("GET", "/v1/workspaces/shop/webhooks");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json.at("webhooks").as_array().size(), 1u);
  HttpReply patched = Api("PATCH", "/v1/workspaces/shop/webhooks/" + id, json::object{{"active", false}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(S(patched.json.at("state")), "paused");
  EXPECT_EQ(Api("PATCH", "/v1/workspaces/shop/webhooks/" + id, json::object{{"url", "https://x:0/"}}).status, 400);
  EXPECT_EQ(Api("PATCH", "/v1/workspaces/shop/webhooks/wh_nope", json::object{{"active", true}}).status, 404);

  HttpReply doc = up_->Call("api", "GET", "/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  const json::object& paths = doc.json.at("paths").as_object();
  for (const char* p : {"/v1/workspaces/{ws}/webhooks", "/v1/workspaces/{ws}/webhooks/{id}",
                        "/v1/workspaces/{ws}/webhooks/{id}/rotate-secret"}) {
    EXPECT_TRUE(paths.contains(p)) << p;
  }
}

// Org-wide webhooks (docs/design/webhooks.md "Org-wide webhooks"): one registration by an org
// admin receives the events of every workspace of the org, one created afterwards included,
// signed with its one secret; workspace routes neither list nor change it; a developer cannot
// manage it; another org's admin neither sees nor changes it, and the two orgs' events never
// cross.
TEST_F(WebhooksTest, AnOrgWebhookGetsEveryWorkspaceOfItsOrgAndNoOtherOrgs) {
  StartUp();
  Receiver receiver;
  ASSERT_GT(receiver.port(), 0);
  receiver.Listen();
  HttpReply created = Api("POST", "/v1/webhooks", json::object{{"url", receiver.Url("/org")}, {"events", "*"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(created.json.at("id").as_string());
  const std::string secret(created.json.at("secret").as_string());
  EXPECT_EQ(created.json.at("workspaces").as_array().size(), 1u) << created.body;

  // A workspace created afterwards is covered too.
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "later"}, {"name", "Later"}}).status, 201);
  ASSERT_EQ(Api("POST", "/v1/workspaces/later/environments",
                json::object{{"key", "prod"}, {"name", "Prod"}, {"reason", "setup"}})
                .status,
            201);

  // The workspace routes do not show or change it.
  HttpReply listed = Api("GET", "/v1/workspaces/shop/webhooks");
  ASSERT_EQ(listed.status, 200);
  EXPECT_TRUE(listed.json.at("webhooks").as_array().empty()) << listed.body;
  HttpReply refused = Api("DELETE", "/v1/workspaces/shop/webhooks/" + id);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("org_webhook"), std::string::npos) << refused.body;

  // Below admin: 403.
  std::string developer = up_->TokenForNewUser("org-hooks-dev@example.com", "developer");
  EXPECT_EQ(Api("GET", "/v1/webhooks", nullptr, developer).status, 403);
  EXPECT_EQ(Api("POST", "/v1/webhooks", json::object{{"url", receiver.Url("/dev")}, {"events", "*"}}, developer).status,
            403);

  // Another org: sees none of it, can change none of it, and has its own.
  std::string other;
  ASSERT_NO_FATAL_FAILURE(other = OtherOrgAdmin("org-hooks-other@example.com"));
  ASSERT_FALSE(other.empty());
  HttpReply theirs_list = Api("GET", "/v1/webhooks", nullptr, other);
  ASSERT_EQ(theirs_list.status, 200) << theirs_list.body;
  EXPECT_TRUE(theirs_list.json.at("webhooks").as_array().empty()) << theirs_list.body;
  EXPECT_EQ(Api("GET", "/v1/webhooks/" + id, nullptr, other).status, 404);
  EXPECT_EQ(Api("PATCH", "/v1/webhooks/" + id, json::object{{"url", receiver.Url("/stolen")}}, other).status, 404);
  EXPECT_EQ(Api("POST", "/v1/webhooks/" + id + "/rotate-secret", nullptr, other).status, 404);
  EXPECT_EQ(Api("DELETE", "/v1/webhooks/" + id, nullptr, other).status, 404);
  // Without a workspace there is nowhere to keep one.
  HttpReply none = Api("POST", "/v1/webhooks", json::object{{"url", receiver.Url("/theirs")}, {"events", "*"}}, other);
  EXPECT_EQ(none.status, 409) << none.body;
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "theirs"}}, other).status, 201);
  ASSERT_EQ(Api("POST", "/v1/workspaces/theirs/environments",
                json::object{{"key", "prod"}, {"name", "Prod"}, {"reason", "setup"}}, other)
                .status,
            201);
  HttpReply their_hook =
      Api("POST", "/v1/webhooks", json::object{{"url", receiver.Url("/theirs")}, {"events", "*"}}, other);
  ASSERT_EQ(their_hook.status, 201) << their_hook.body;
  const std::string their_id(their_hook.json.at("id").as_string());

  // One write in each of the three workspaces.
  PutConfig("a", 1);
  for (const auto& [ws, bearer] : std::vector<std::pair<std::string, std::string>>{{"later", ""}, {"theirs", other}}) {
    HttpReply w = Api("PUT", "/v1/workspaces/" + ws + "/configs/a",
                      json::object{{"type", "integer"}, {"values", {{"prod", 1}}}, {"reason", "tick"}}, bearer);
    ASSERT_EQ(w.status, 200) << w.body;
  }
  ASSERT_TRUE(testing::PollUntil(
      [&] { return receiver.Delivered(id).size() >= 2 && receiver.Delivered(their_id).size() >= 1; }, 30000));
  auto workspaces_of = [&](const std::string& hook) {
    std::set<std::string> keys;
    for (const Receiver::Request& r : receiver.Delivered(hook)) {
      json::value event = Parse(r.body);
      if (event.is_object()) keys.insert(S(event.at("workspace").at("key")));
    }
    return keys;
  };
  EXPECT_EQ(workspaces_of(id), (std::set<std::string>{"later", "shop"}));
  EXPECT_EQ(workspaces_of(their_id), std::set<std::string>{"theirs"});
  for (const Receiver::Request& r : receiver.Delivered(id)) {
    EXPECT_TRUE(SignatureVerifies(r, secret));
    EXPECT_NE(r.head.find("POST /org"), std::string::npos);
  }
  for (const Receiver::Request& r : receiver.Delivered(their_id)) EXPECT_FALSE(SignatureVerifies(r, secret));

  HttpReply shown = Api("GET", "/v1/webhooks/" + id);
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(S(shown.json.at("state")), "ok") << shown.body;
  EXPECT_EQ(shown.json.at("workspaces").as_array().size(), 2u) << shown.body;

  // The CLI lists and removes it; afterwards no workspace sends to it.
  int code = -1;
  std::string out = Cli("org-webhook list", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_EQ(out.find(their_id), std::string::npos) << out;
  out = Cli("org-webhook rm " + id, &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(Api("GET", "/v1/webhooks/" + id).status, 404);
  const size_t before = receiver.Delivered(id).size();
  PutConfig("a", 2);
  HttpReply w = Api("PUT", "/v1/workspaces/theirs/configs/a",
                    json::object{{"type", "integer"}, {"values", {{"prod", 2}}}, {"reason", "tick"}}, other);
  ASSERT_EQ(w.status, 200);
  // Their hook still gets their second event; by then ours would have had its turn.
  ASSERT_TRUE(testing::PollUntil([&] { return receiver.Delivered(their_id).size() >= 2; }, 30000));
  EXPECT_EQ(receiver.Delivered(id).size(), before);

  out = Cli("org-webhook add " + receiver.Url("/cli") + " --events revision.written", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("whsec_"), std::string::npos) << out;

  HttpReply doc = up_->Call("api", "GET", "/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  for (const char* p : {"/v1/webhooks", "/v1/webhooks/{id}", "/v1/webhooks/{id}/rotate-secret"}) {
    EXPECT_TRUE(doc.json.at("paths").as_object().contains(p)) << p;
  }
}

// HTTPS delivery (docs/design/webhooks.md "HTTPS"): a real TLS receiver on 127.0.0.1 (the
// project's HTTP server with TLS, in this process) whose certificate is issued by a test CA
// made here with the openssl command line.
class TlsReceiver {
 public:
  struct Got {
    std::string body, signature, webhook;
  };
  TlsReceiver(const std::string& cert_file, const std::string& key_file) {
    net::Router r;
    r.Post("/hook", [this](net::Request& req) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.push_back({req.body(), std::string(req.Header("X-EdgeVault-Signature")),
                      std::string(req.Header("X-EdgeVault-Webhook-Id"))});
      return net::Response::Json(200, "{}");
    });
    net::ServerOptions o;
    o.host = "127.0.0.1";
    o.io_threads = 1;
    o.access_log = false;
    o.tls_cert_file = cert_file;
    o.tls_key_file = key_file;
    absl::StatusOr<std::unique_ptr<net::HttpServer>> s = net::HttpServer::Create(o, std::move(r));
    if (s.ok() && (*s)->Start().ok()) server_ = *std::move(s);
  }
  ~TlsReceiver() {
    if (server_) server_->Drain();
  }
  bool ok() const { return server_ != nullptr; }
  std::string Url() const { return base::StrCat("https://127.0.0.1:", std::to_string(server_->port()), "/hook"); }
  std::vector<Got> Received(const std::string& webhook) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Got> out;
    for (const Got& g : got_) {
      if (g.webhook == webhook) out.push_back(g);
    }
    return out;
  }

 private:
  std::unique_ptr<net::HttpServer> server_;
  std::mutex mu_;
  std::vector<Got> got_;
};

class WebhooksHttpsTest : public WebhooksTest {
 protected:
  // Fast retries, and a webhook gives up after 3 failed attempts.
  void StartWith(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--set", "api.webhook_retry_initial_ms=20", "--set",
                                     "api.webhook_retry_max_ms=100", "--set", "api.webhook_max_attempts=3"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartUp(std::move(args));
  }
  // Waits until webhook `id` is `failing` (its attempts used up, each one retried like any
  // failure) and returns its last_error.
  std::string FailingWith(const std::string& id) {
    std::string error;
    bool failing = testing::PollUntil(
        [&] {
          HttpReply w = Api("GET", "/v1/workspaces/shop/webhooks/" + id);
          if (w.status != 200 || !w.json.is_object()) return false;
          if (w.json.at("last_error").is_string()) error = S(w.json.at("last_error"));
          return S(w.json.at("state")) == "failing";
        },
        60000);
    EXPECT_TRUE(failing) << error;
    return error;
  }
  TestPki pki_;
};

TEST_F(WebhooksHttpsTest, DeliveredWhenTheCaIsTrustedRefusedForAnotherAddress) {
  ASSERT_TRUE(pki_.ok());
  StartWith({"--set", "api.webhook_ca_file=" + pki_.File("ca.crt")});
  TlsReceiver good(pki_.File("good.crt"), pki_.File("good.key"));
  TlsReceiver elsewhere(pki_.File("elsewhere.crt"), pki_.File("elsewhere.key"));
  ASSERT_TRUE(good.ok() && elsewhere.ok());
  auto [id, secret] = Register(good.Url());
  auto [wrong_id, wrong_secret] = Register(elsewhere.Url());
  ASSERT_FALSE(id.empty() || wrong_id.empty());
  int64_t revision = PutConfig("a", 1);

  ASSERT_TRUE(testing::PollUntil([&] { return good.Received(id).size() == 1; }, 30000));
  TlsReceiver::Got got = good.Received(id).front();
  Receiver::Request as_plain{"\r\nX-EdgeVault-Signature: " + got.signature + "\r\n", got.body, 200};
  EXPECT_TRUE(SignatureVerifies(as_plain, secret));
  EXPECT_EQ(FirstRevision(as_plain), revision) << got.body;
  HttpReply w = Api("GET", "/v1/workspaces/shop/webhooks/" + id);
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(S(w.json.at("state")), "ok") << w.body;

  // The certificate is from the trusted CA but names another address: never sent.
  std::string error = FailingWith(wrong_id);
  EXPECT_NE(error.find("TLS certificate of 127.0.0.1:"), std::string::npos) << error;
  EXPECT_NE(error.find("IP address mismatch"), std::string::npos) << error;
  EXPECT_TRUE(elsewhere.Received(wrong_id).empty());
}

TEST_F(WebhooksHttpsTest, WithoutTheCaTheCertificateFailsEveryAttemptWithItsReason) {
  ASSERT_TRUE(pki_.ok());
  StartWith({});  // the system trust store only: the test CA is unknown
  TlsReceiver good(pki_.File("good.crt"), pki_.File("good.key"));
  ASSERT_TRUE(good.ok());
  auto [id, secret] = Register(good.Url());
  ASSERT_FALSE(id.empty());
  PutConfig("a", 1);
  std::string error = FailingWith(id);
  EXPECT_NE(error.find("not accepted: unable to get local issuer certificate"), std::string::npos) << error;
  EXPECT_TRUE(good.Received(id).empty());
  // The CLI's list shows the state and the reason.
  int code = -1;
  std::string listed = Cli("webhook list shop", &code);
  EXPECT_EQ(code, 0) << listed;
  EXPECT_NE(listed.find("failing"), std::string::npos) << listed;
}

TEST_F(WebhooksHttpsTest, ACertificateFromAnotherCaIsRefusedAndHttpStillWorks) {
  ASSERT_TRUE(pki_.ok());
  StartWith({"--set", "api.webhook_ca_file=" + pki_.File("ca.crt")});
  TlsReceiver stranger(pki_.File("stranger.crt"), pki_.File("stranger.key"));
  ASSERT_TRUE(stranger.ok());
  Receiver plain;
  plain.Listen();
  auto [id, secret] = Register(stranger.Url());
  auto [plain_id, plain_secret] = Register(plain.Url());
  ASSERT_FALSE(id.empty() || plain_id.empty());
  PutConfig("a", 1);
  ASSERT_TRUE(testing::PollUntil([&] { return plain.Delivered(plain_id).size() == 1; }, 30000));
  std::string error = FailingWith(id);
  EXPECT_NE(error.find("not accepted"), std::string::npos) << error;
  EXPECT_TRUE(stranger.Received(id).empty());
}

}  // namespace
}  // namespace edgevault
