// Secret-leak detection through the real binaries (issue 18, docs/secret-scanning.md):
// "warn" (the default) lets a write through and lists the finding in the answer and the
// activity; "block" on an environment refuses a write that stores a credential there (PUT,
// PATCH, flags, change requests), naming the item, pointer and kind but never the value;
// a revert is not blocked; the on-demand scan and move-to-secret.
#include <string>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

// Synthetic credentials (never real ones).
constexpr char kDbUrl[] = "postgres://app:Zx8q2Lm9Rt4w@db.internal:5432/shop";
constexpr char kDbPassword[] = "Zx8q2Lm9Rt4w";
constexpr char kGithubToken[] = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";

class LeakPolicyApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }
  static std::string Code(const HttpReply& r) {
    const json::object* o = r.json.if_object();
    const json::value* e = o ? o->if_contains("error") : nullptr;
    if (e && e->is_object() && e->as_object().contains("code")) return json::value_to<std::string>(e->at("code"));
    return r.body;
  }
  int64_t Head(const std::string& base) {
    HttpReply r = Api("GET", base);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json.at("revision").as_int64();
  }

  // prod ← dev; prod's policy is `prod_mode` ("" = none).
  std::string NewWorkspace(const std::string& key, const std::string& prod_mode) {
    EXPECT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", key}, {"name", key}}).status, 201);
    std::string base = "/v1/workspaces/" + key;
    EXPECT_EQ(Api("POST", base + "/environments", json::object{{"key", "prod"}, {"reason", "setup"}}).status, 201);
    EXPECT_EQ(Api("POST", base + "/environments",
                  json::object{{"key", "dev"}, {"parent", "prod"}, {"reason", "setup"}}).status, 201);
    if (!prod_mode.empty()) {
      HttpReply p = Api("PUT", base + "/environments/prod/policy",
                        json::object{{"leak_scan", prod_mode}, {"reason", "no credentials in prod"}});
      EXPECT_EQ(p.status, 200) << p.body;
    }
    return base;
  }

  testing::CommandResult Cli(const std::string& args) {
    return testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
  }

  static EdgeVaultUp* up_;
};
EdgeVaultUp* LeakPolicyApiTest::up_ = nullptr;

TEST_F(LeakPolicyApiTest, WarnByDefaultAnswersAndRecordsTheFindingWithoutTheValue) {
  std::string base = NewWorkspace("leak-warn", "");
  HttpReply put = Api("PUT", base + "/configs/db.url",
                      json::object{{"type", "string"}, {"values", {{"prod", kDbUrl}}}, {"reason", "db"}});
  ASSERT_EQ(put.status, 200) << put.body;
  const json::array& warnings = put.json.at("warnings").as_array();
  ASSERT_EQ(warnings.size(), 1u) << put.body;
  EXPECT_EQ(warnings[0].at("pointer"), "/values/prod");
  EXPECT_EQ(warnings[0].at("finding"), "url_with_password");
  EXPECT_EQ(warnings[0].at("key"), "db.url");
  HttpReply activity = Api("GET", base + "/activity");
  ASSERT_EQ(activity.status, 200);
  bool recorded = false;
  for (const json::value& a : activity.json.at("activity").as_array()) {
    if (a.as_object().contains("action") && a.at("action") == "workspace.leak_scan.warning") {
      recorded = true;
      EXPECT_EQ(a.at("details").at("findings").as_array()[0].at("pointer"), "/values/prod");
      EXPECT_EQ(json::serialize(a).find(kDbPassword), std::string::npos);
    }
  }
  EXPECT_TRUE(recorded) << activity.body;
  // A clean write carries no warning.
  HttpReply clean = Api("PUT", base + "/configs/db.pool",
                        json::object{{"type", "integer"}, {"values", {{"prod", 20}}}, {"reason", "pool"}});
  ASSERT_EQ(clean.status, 200);
  EXPECT_FALSE(clean.json.as_object().contains("warnings"));
}

TEST_F(LeakPolicyApiTest, BlockRefusesPutPatchAndFlagsNamingPointerAndKindButNotTheValue) {
  std::string base = NewWorkspace("leak-block", "block");
  int64_t head = Head(base);
  HttpReply put = Api("PUT", base + "/configs/db",
                      json::object{{"type", "json"}, {"values", {{"prod", {{"url", kDbUrl}}}}}, {"reason", "db"}});
  EXPECT_EQ(put.status, 400) << put.body;
  EXPECT_EQ(Code(put), "secret_detected");
  EXPECT_NE(put.body.find("/values/prod/url"), std::string::npos) << put.body;
  EXPECT_NE(put.body.find("url_with_password"), std::string::npos) << put.body;
  EXPECT_NE(put.body.find("\\\"db\\\""), std::string::npos) << put.body;
  EXPECT_EQ(put.body.find(kDbPassword), std::string::npos) << put.body;
  EXPECT_EQ(Head(base), head);

  // dev has no policy: warned, not blocked (dev inherits nothing from a value it sets itself).
  HttpReply dev = Api("PUT", base + "/configs/db",
                      json::object{{"type", "json"}, {"values", {{"dev", {{"url", kDbUrl}}}}}, {"reason", "db"}});
  ASSERT_EQ(dev.status, 200) << dev.body;
  EXPECT_EQ(dev.json.at("warnings").as_array().size(), 1u);

  // PATCH into prod: the patched document is judged.
  HttpReply patch = up_->Call("api", "PATCH", base + "/configs/db?reason=x",
                              R"({"values": {"prod": {"url": ")" + std::string(kDbUrl) + R"("}}})", up_->admin_key(),
                              {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(patch.status, 400) << patch.body;
  EXPECT_EQ(Code(patch), "secret_detected");
  // A PATCH of prod that leaves dev's (warned) value alone is not refused for it.
  HttpReply ok = up_->Call("api", "PATCH", base + "/configs/db?reason=x", R"({"values": {"prod": {"pool": 5}}})",
                           up_->admin_key(), {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(ok.status, 200) << ok.body;

  // A flag configured in prod with a token among its variations.
  json::object on = {{"on", true}, {"fallthrough", {{"variation", 0}}}};
  HttpReply flag = Api("PUT", base + "/flags/gh",
                       json::object{{"variations", json::array{json::object{{"value", kGithubToken}}}},
                                    {"environments", {{"prod", on}}}, {"reason", "x"}});
  EXPECT_EQ(flag.status, 400) << flag.body;
  EXPECT_NE(flag.body.find("github_token"), std::string::npos);
  EXPECT_NE(flag.body.find("/variations/0/value"), std::string::npos);
  EXPECT_EQ(flag.body.find(kGithubToken), std::string::npos);
}

// A batch's dry run answers as its write would: "block" refuses it (the very error), and
// under "warn" it lists the warnings without recording anything or writing.
TEST_F(LeakPolicyApiTest, ABatchDryRunIsJudgedLikeItsWrite) {
  std::string base = NewWorkspace("leak-batch", "block");
  const int64_t head = Head(base);
  auto batch = [&](const std::string& env, bool dry_run) {
    return Api("POST", base + "/batch",
               json::object{{"changes", json::array{json::object{{"kind", "config"},
                                                                  {"key", "db.url"},
                                                                  {"body", {{"type", "string"},
                                                                            {"values", {{env, kDbUrl}}}}}}}},
                            {"reason", "db"},
                            {"dry_run", dry_run}});
  };
  HttpReply blocked = batch("prod", true);
  EXPECT_EQ(blocked.status, 400) << blocked.body;
  EXPECT_EQ(Code(blocked), "secret_detected");
  EXPECT_EQ(blocked.body.find(kDbPassword), std::string::npos) << blocked.body;
  EXPECT_EQ(Code(batch("prod", false)), "secret_detected");
  HttpReply warned = batch("dev", true);
  ASSERT_EQ(warned.status, 200) << warned.body;
  EXPECT_EQ(warned.json.at("dry_run"), true);
  EXPECT_EQ(warned.json.at("base_revision").as_int64(), head);
  EXPECT_FALSE(warned.json.as_object().contains("revision")) << warned.body;
  ASSERT_EQ(warned.json.at("warnings").as_array().size(), 1u) << warned.body;
  EXPECT_EQ(warned.json.at("warnings").as_array()[0].at("finding"), "url_with_password");
  EXPECT_EQ(Head(base), head);
  HttpReply activity = Api("GET", base + "/activity");
  EXPECT_EQ(activity.body.find("workspace.leak_scan.warning"), std::string::npos) << activity.body;
  HttpReply written = batch("dev", false);
  ASSERT_EQ(written.status, 200) << written.body;
  EXPECT_EQ(written.json.at("warnings").as_array().size(), 1u) << written.body;
  EXPECT_EQ(Head(base), head + 1);
}

TEST_F(LeakPolicyApiTest, BlockRefusesAChangeRequestBeforeItIsStored) {
  std::string base = NewWorkspace("leak-cr", "block");
  HttpReply cr = Api("POST", base + "/change-requests",
                     json::object{{"title", "db"},
                                  {"changes", json::array{json::object{{"kind", "config"},
                                                                       {"key", "db.url"},
                                                                       {"body", {{"type", "string"},
                                                                                 {"values", {{"prod", kDbUrl}}}}}}}}});
  EXPECT_EQ(cr.status, 400) << cr.body;
  EXPECT_EQ(Code(cr), "secret_detected");
  EXPECT_EQ(cr.body.find(kDbPassword), std::string::npos);
  HttpReply list = Api("GET", base + "/change-requests");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.json.at("change_requests").as_array().empty()) << list.body;
  // In dev (no policy) it is created, with the warning.
  HttpReply dev = Api("POST", base + "/change-requests",
                      json::object{{"title", "db"},
                                   {"changes", json::array{json::object{{"kind", "config"},
                                                                        {"key", "db.url"},
                                                                        {"body", {{"type", "string"},
                                                                                  {"values", {{"dev", kDbUrl}}}}}}}}});
  EXPECT_EQ(dev.status, 201) << dev.body;
  EXPECT_EQ(dev.json.at("warnings").as_array().size(), 1u) << dev.body;
  // Applying is checked again: dev turned to "block" since, so the apply is refused (the
  // request fails like one that no longer validates) and nothing is written.
  ASSERT_EQ(Api("PUT", base + "/environments/dev/policy", json::object{{"leak_scan", "block"}, {"reason", "x"}}).status,
            200);
  int64_t head = Head(base);
  HttpReply apply = Api("POST", base + "/change-requests/" + std::to_string(dev.json.at("id").as_int64()) + "/apply",
                        json::object{});
  EXPECT_EQ(apply.status, 400) << apply.body;
  EXPECT_NE(apply.body.find("url_with_password"), std::string::npos) << apply.body;
  EXPECT_EQ(apply.body.find(kDbPassword), std::string::npos) << apply.body;
  EXPECT_EQ(Head(base), head);
}

// "block" on an environment covers what it inherits: a credential written in its parent
// (which only warns) is refused when the blocking child would serve it, and judged by the
// parent alone once the child sets its own value.
TEST_F(LeakPolicyApiTest, BlockCoversValuesAnEnvironmentInherits) {
  std::string base = NewWorkspace("leak-inherit", "");
  ASSERT_EQ(Api("PUT", base + "/environments/dev/policy", json::object{{"leak_scan", "block"}, {"reason", "x"}}).status,
            200);
  int64_t head = Head(base);
  HttpReply put = Api("PUT", base + "/configs/db.url",
                      json::object{{"type", "string"}, {"values", {{"prod", kDbUrl}}}, {"reason", "db"}});
  EXPECT_EQ(put.status, 400) << put.body;
  EXPECT_EQ(Code(put), "secret_detected");
  EXPECT_EQ(put.body.find(kDbPassword), std::string::npos) << put.body;
  EXPECT_EQ(Head(base), head);

  // dev sets its own (clean) value in the same write: prod's credential reaches no blocking
  // environment, so prod's "warn" applies.
  HttpReply both = Api("PUT", base + "/configs/db.url",
                       json::object{{"type", "string"},
                                    {"values", {{"prod", kDbUrl}, {"dev", "postgres://app@dev-db/shop"}}},
                                    {"reason", "db"}});
  ASSERT_EQ(both.status, 200) << both.body;
  EXPECT_EQ(both.json.at("warnings").as_array().size(), 1u) << both.body;

  // A PATCH that removes dev's own value would make dev inherit the credential: refused.
  head = Head(base);
  HttpReply unshadow = up_->Call("api", "PATCH", base + "/configs/db.url?reason=x", R"({"values": {"dev": null}})",
                                 up_->admin_key(), {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(unshadow.status, 400) << unshadow.body;
  EXPECT_EQ(Code(unshadow), "secret_detected");
  EXPECT_EQ(Head(base), head);
}

// A promotion copies dev's values into prod: a credential dev only warned about is refused
// when the promotion is created for a blocking prod, and nothing is stored.
TEST_F(LeakPolicyApiTest, PromotionIntoABlockingEnvironmentIsRefused) {
  std::string base = NewWorkspace("leak-promote", "block");
  HttpReply dev = Api("PUT", base + "/configs/db.url",
                      json::object{{"type", "string"}, {"values", {{"dev", kDbUrl}}}, {"reason", "db"}});
  ASSERT_EQ(dev.status, 200) << dev.body;
  EXPECT_EQ(dev.json.at("warnings").as_array().size(), 1u);
  int64_t head = Head(base);
  HttpReply promote = Api("POST", base + "/promotions", json::object{{"from", "dev"}, {"to", "prod"}, {"title", "ship"}});
  EXPECT_EQ(promote.status, 400) << promote.body;
  EXPECT_NE(promote.body.find("url_with_password"), std::string::npos) << promote.body;
  EXPECT_EQ(promote.body.find(kDbPassword), std::string::npos) << promote.body;
  EXPECT_EQ(Head(base), head);
  HttpReply list = Api("GET", base + "/change-requests");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.json.at("change_requests").as_array().empty()) << list.body;
}

TEST_F(LeakPolicyApiTest, RevertIsNotBlockedRetroactively) {
  std::string base = NewWorkspace("leak-revert", "");
  ASSERT_EQ(Api("PUT", base + "/configs/db.url",
                json::object{{"type", "string"}, {"values", {{"prod", kDbUrl}}}, {"reason", "db"}}).status, 200);
  HttpReply fixed = Api("PUT", base + "/configs/db.url",
                        json::object{{"type", "string"}, {"values", {{"prod", "postgres://app@db/shop"}}}, {"reason", "fix"}});
  ASSERT_EQ(fixed.status, 200);
  int64_t fix_rev = fixed.json.at("workspace_revision").as_int64();
  ASSERT_EQ(Api("PUT", base + "/environments/prod/policy",
                json::object{{"leak_scan", "block"}, {"reason", "now block"}}).status, 200);
  HttpReply revert = Api("POST", base + "/revisions/" + std::to_string(fix_rev) + "/revert",
                         json::object{{"reason", "undo the fix"}});
  EXPECT_EQ(revert.status, 200) << revert.body;
}

TEST_F(LeakPolicyApiTest, OnDemandScanAndMoveToSecret) {
  std::string base = NewWorkspace("leak-move", "off");
  // dev inherits prod's values: "off" there too, or dev's default "warn" would judge them.
  ASSERT_EQ(Api("PUT", base + "/environments/dev/policy", json::object{{"leak_scan", "off"}, {"reason", "x"}}).status,
            200);
  // "off" in prod: stored without a warning, but the scan on demand still finds it.
  HttpReply put = Api("PUT", base + "/configs/db",
                      json::object{{"type", "json"},
                                   {"values", {{"prod", {{"host", "db.internal"}, {"password", "q7F!xR2m#Lp9vZ"}}}}},
                                   {"reason", "db"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_FALSE(put.json.as_object().contains("warnings"));
  ASSERT_EQ(Api("PUT", base + "/configs/ci.token",
                json::object{{"type", "string"}, {"values", {{"prod", kGithubToken}}}, {"reason", "ci"}}).status, 200);

  HttpReply scan = Api("GET", base + "/leak-scan");
  ASSERT_EQ(scan.status, 200) << scan.body;
  const json::array& findings = scan.json.at("findings").as_array();
  ASSERT_EQ(findings.size(), 2u) << scan.body;
  EXPECT_EQ(findings[0].at("key"), "ci.token");
  EXPECT_EQ(findings[0].at("finding"), "github_token");
  EXPECT_EQ(findings[1].at("pointer"), "/values/prod/password");
  EXPECT_EQ(scan.body.find("q7F!"), std::string::npos);

  // Inside a value: the member moves to secret "db.password" and leaves the config.
  HttpReply moved = Api("POST", base + "/configs/db/move-to-secret",
                        json::object{{"pointer", "/values/prod/password"}, {"reason", "move it"}});
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(moved.json.at("secret"), "db.password");
  EXPECT_EQ(moved.json.at("config"), "updated");
  EXPECT_EQ(moved.body.find("q7F!"), std::string::npos);
  HttpReply value = Api("GET", base + "/environments/prod/secrets/db.password");
  ASSERT_EQ(value.status, 200) << value.body;
  EXPECT_EQ(value.json.at("value"), "q7F!xR2m#Lp9vZ");
  HttpReply config = Api("GET", base + "/configs/db");
  EXPECT_FALSE(config.json.at("values").at("prod").as_object().contains("password")) << config.body;
  EXPECT_EQ(config.json.at("values").at("prod").at("host"), "db.internal");

  // A whole value: the secret takes the config's key and the emptied config is deleted.
  HttpReply whole = Api("POST", base + "/configs/ci.token/move-to-secret",
                        json::object{{"pointer", "/values/prod"}, {"reason", "move it"}});
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json.at("config"), "deleted");
  EXPECT_EQ(Api("GET", base + "/configs/ci.token").status, 404);
  EXPECT_EQ(Api("GET", base + "/environments/prod/secrets/ci.token").json.at("value"), kGithubToken);
  scan = Api("GET", base + "/leak-scan");
  EXPECT_TRUE(scan.json.at("findings").as_array().empty()) << scan.body;

  // Bad pointers and an existing secret value are 4xx, nothing changes.
  EXPECT_EQ(Code(Api("POST", base + "/configs/db/move-to-secret",
                     json::object{{"pointer", "/type"}, {"reason", "x"}})), "bad_pointer");
  EXPECT_EQ(Code(Api("POST", base + "/configs/db/move-to-secret",
                     json::object{{"pointer", "/values/prod/nope"}, {"reason", "x"}})), "bad_pointer");
  EXPECT_EQ(Api("POST", base + "/configs/db/move-to-secret",
                json::object{{"pointer", "/values/prod/host"}, {"secret", "ci.token"}, {"reason", "x"}}).status, 409);

  json::value openapi = Api("GET", "/v1/openapi.json").json;
  EXPECT_TRUE(openapi.at("paths").as_object().contains("/v1/workspaces/{ws}/leak-scan"));
  EXPECT_TRUE(openapi.at("paths").as_object().contains("/v1/workspaces/{ws}/configs/{key}/move-to-secret"));
}

// The CLI: a write warns on standard error, `scan` lists and exits 1, `config
// move-to-secret` fixes it, after which `scan` exits 0.
TEST_F(LeakPolicyApiTest, CliWarnsScansAndMoves) {
  std::string base = NewWorkspace("leak-cli", "");
  testing::CommandResult set = Cli("config set leak-cli stripe.key --value prod=sk_live_51Synthetic0NotReal0Key0123 -m key");
  EXPECT_EQ(set.code, 0) << set.out;
  EXPECT_NE(set.out.find("warning: config \"stripe.key\" at /values/prod"), std::string::npos) << set.out;
  EXPECT_NE(set.out.find("edgevault config move-to-secret"), std::string::npos) << set.out;
  testing::CommandResult scan = Cli("scan leak-cli");
  EXPECT_EQ(scan.code, 1) << scan.out;
  EXPECT_NE(scan.out.find("stripe_secret_key"), std::string::npos) << scan.out;
  EXPECT_EQ(scan.out.find("sk_live_"), std::string::npos) << scan.out;
  testing::CommandResult move = Cli("config move-to-secret leak-cli stripe.key --pointer /values/prod -m fix");
  EXPECT_EQ(move.code, 0) << move.out;
  scan = Cli("scan leak-cli");
  EXPECT_EQ(scan.code, 0) << scan.out;
  EXPECT_NE(scan.out.find("No credentials found."), std::string::npos) << scan.out;
}

}  // namespace
}  // namespace edgevault
