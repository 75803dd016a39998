// Authorization by effect (issue 12 §1–§2), through the real binaries: a write is allowed
// or refused on the environments whose resolved document (or served secret) it would
// actually change, and a secret value only reaches a caller who may read secrets where
// the value is set. A developer tried end to end through the api and the `edgevault` CLI,
// plus the indirect paths: inherited values, segments, revert (also racing an admin),
// rollback.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

class AuthzEffectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    // Seven workspaces: within the default plan's ten.
    developer_ = up_->TokenForNewUser("developer-effect@example.com", "developer");
    ASSERT_FALSE(developer_.empty());
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr,
                const std::string& bearer = "") {
    std::string token = bearer.empty() ? up_->admin_key() : bearer;
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", token);
    return up_->Json("api", std::move(method), std::move(target), body, token);
  }
  HttpReply Dev(std::string method, std::string target, const json::value& body = nullptr) {
    return Api(std::move(method), std::move(target), body, developer_);
  }

  // base ← prod (protected) ← staging ← dev.
  std::string NewWorkspace(const std::string& key) {
    HttpReply ws = Api("POST", "/v1/workspaces", json::object{{"key", key}, {"name", key}});
    EXPECT_EQ(ws.status, 201) << ws.body;
    std::string base = "/v1/workspaces/" + key;
    for (json::object env : {json::object{{"key", "base"}, {"name", "Base"}},
                             json::object{{"key", "prod"}, {"name", "Prod"}, {"parent", "base"}, {"protected", true}},
                             json::object{{"key", "staging"}, {"name", "Staging"}, {"parent", "prod"}},
                             json::object{{"key", "dev"}, {"name", "Dev"}, {"parent", "staging"}}}) {
      env["reason"] = "setup";
      EXPECT_EQ(Api("POST", base + "/environments", env).status, 201);
    }
    return base;
  }

  int64_t Head(const std::string& base) {
    HttpReply r = Api("GET", base);
    return r.status == 200 ? r.json.at("revision").as_int64() : -1;
  }

  testing::CommandResult Cli(const std::string& args, const std::string& token) {
    return testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", token, " EDGEVAULT_PROFILE=/nonexistent"));
  }

  // Audit lines of `action` that contain every needle (the warehouse fills asynchronously:
  // waits up to 20 s for at least `want`).
  int AuditLines(std::string_view action, const std::vector<std::string>& needles, int want) {
    int n = 0;
    testing::PollUntil([&] { return (n = testing::CountAuditLines(up_->data_dir(), action, needles)) >= want; },
                       20000);
    return n;
  }

  static EdgeVaultUp* up_;
  static std::string developer_;
};

EdgeVaultUp* AuthzEffectTest::up_ = nullptr;
std::string AuthzEffectTest::developer_;

// Regression: a developer could not change dev's value of any config that also has a
// prod value, because every environment named in the body counted as touched.
TEST_F(AuthzEffectTest, DeveloperEditsDevOfAConfigWithAProdValueButNotProd) {
  std::string base = NewWorkspace("effect-config");
  ASSERT_EQ(Api("PUT", base + "/configs/db.pool",
                json::object{{"type", "integer"}, {"values", {{"prod", 20}, {"dev", 5}}}, {"reason", "sizing"}})
                .status,
            200);
  HttpReply ok = Dev("PUT", base + "/configs/db.pool",
                     json::object{{"type", "integer"}, {"values", {{"prod", 20}, {"dev", 6}}}, {"reason", "dev only"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  int64_t head = Head(base);
  HttpReply refused = Dev("PUT", base + "/configs/db.pool",
                          json::object{{"type", "integer"}, {"values", {{"prod", 21}, {"dev", 6}}}, {"reason", "prod too"}});
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("prod"), std::string::npos) << refused.body;
  EXPECT_EQ(Head(base), head);  // nothing written
  // The indirect path: base's value is inherited by protected prod, so changing it is a
  // change to prod; a dev override of the same value is not.
  ASSERT_EQ(Api("PUT", base + "/configs/region",
                json::object{{"type", "string"}, {"values", {{"base", "eu"}}}, {"reason", "r"}})
                .status,
            200);
  EXPECT_EQ(Dev("PUT", base + "/configs/region",
                json::object{{"type", "string"}, {"values", {{"base", "us"}}}, {"reason", "via base"}})
                .status,
            403);
  EXPECT_EQ(Dev("PUT", base + "/configs/region",
                json::object{{"type", "string"}, {"values", {{"base", "eu"}, {"dev", "us"}}}, {"reason", "override"}})
                .status,
            200);
  // Deleting a config prod serves is a change to prod.
  EXPECT_EQ(Dev("DELETE", base + "/configs/db.pool?reason=gone").status, 403);
  EXPECT_EQ(Api("GET", base + "/configs/db.pool").status, 200);
  // A config only dev has: the developer may delete it.
  ASSERT_EQ(Dev("PUT", base + "/configs/toolbar",
                json::object{{"type", "boolean"}, {"values", {{"dev", true}}}, {"reason", "t"}})
                .status,
            200);
  EXPECT_EQ(Dev("DELETE", base + "/configs/toolbar?reason=done").status, 200);
}

// Regression: a developer could never write a segment (it counted as every environment).
// A segment change touches exactly the environments whose flags use it.
TEST_F(AuthzEffectTest, SegmentsTouchTheEnvironmentsWhoseFlagsUseThem) {
  std::string base = NewWorkspace("effect-segments");
  auto segment = [](json::array included) {
    return json::object{{"included", std::move(included)}, {"excluded", json::array{}}, {"rules", json::array{}},
                        {"reason", "s"}};
  };
  auto flag_using = [](const char* env, const char* segment_key) {
    return json::object{
        {"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
        {"environments",
         {{env,
           {{"on", true},
            {"rules", json::array{json::object{
                          {"clauses", json::array{json::object{{"op", "segment_match"},
                                                               {"values", json::array{segment_key}}}}},
                          {"variation", 1}}}},
            {"fallthrough", {{"variation", 0}}}}}}},
        {"reason", "f"}};
  };
  EXPECT_EQ(Dev("PUT", base + "/segments/unused", segment({"u1"})).status, 200);
  ASSERT_EQ(Api("PUT", base + "/segments/testers", segment({"u1"})).status, 200);
  ASSERT_EQ(Api("PUT", base + "/segments/customers", segment({"c1"})).status, 200);
  ASSERT_EQ(Api("PUT", base + "/flags/dev-flag", flag_using("dev", "testers")).status, 200);
  ASSERT_EQ(Api("PUT", base + "/flags/prod-flag", flag_using("prod", "customers")).status, 200);
  EXPECT_EQ(Dev("PUT", base + "/segments/testers", segment({"u1", "u2"})).status, 200);
  HttpReply refused = Dev("PUT", base + "/segments/customers", segment({"c1", "c2"}));
  EXPECT_EQ(refused.status, 403) << refused.body;
  // The documents carry the segments their flags use, and only those.
  json::value dev_doc = Api("GET", base + "/environments/dev/resolved").json;
  EXPECT_TRUE(dev_doc.at("segments").as_object().contains("testers"));
  EXPECT_TRUE(dev_doc.at("segments").as_object().contains("customers"));  // prod-flag is inherited
  json::value base_doc = Api("GET", base + "/environments/base/resolved").json;
  EXPECT_TRUE(base_doc.at("segments").as_object().empty()) << base_doc;
  // Toggling the flag in dev only is a developer's change; its variations are everyone's.
  json::object toggled = flag_using("dev", "testers");
  toggled["environments"].as_object()["dev"].as_object()["on"] = false;
  EXPECT_EQ(Dev("PUT", base + "/flags/dev-flag", toggled).status, 200);
  json::object prod_toggle = flag_using("prod", "customers");
  prod_toggle["environments"].as_object()["prod"].as_object()["on"] = false;
  EXPECT_EQ(Dev("PUT", base + "/flags/prod-flag", prod_toggle).status, 403);
}

// Regression: a developer reading staging got prod's inherited secret, and the audit
// recorded a staging read.
TEST_F(AuthzEffectTest, InheritedProtectedSecretsAreWithheldAndTheDenialAudited) {
  std::string base = NewWorkspace("effect-secrets");
  std::string ws_id(Api("GET", base).json.at("id").as_string());
  ASSERT_EQ(Api("PUT", base + "/secrets/db.password",
                json::object{{"values", {{"prod", "prod-only-value"}}}, {"reason", "prod"}})
                .status,
            200);
  ASSERT_EQ(Api("PUT", base + "/secrets/api.key", json::object{{"values", {{"prod", "p"}}}, {"reason", "k"}}).status, 200);
  // The developer sets staging's own value of api.key: prod's stays (a PUT sets the named
  // environments and keeps the others).
  HttpReply set = Dev("PUT", base + "/secrets/api.key", json::object{{"values", {{"staging", "staging-own"}}}, {"reason", "s"}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Api("GET", base + "/environments/prod/secrets/api.key").json.at("value").as_string(), "p");
  EXPECT_EQ(Dev("PUT", base + "/secrets/api.key", json::object{{"values", {{"prod", "x"}}}, {"reason", "no"}}).status, 403);
  // No oracle: naming prod's current value is refused exactly like a different one
  // (an "unchanged" answer would confirm the guess).
  HttpReply guess = Dev("PUT", base + "/secrets/api.key", json::object{{"values", {{"prod", "p"}}}, {"reason", "guess"}});
  EXPECT_EQ(guess.status, 403) << guess.body;
  // The same value again writes no second revision (a retried PUT is a no-op).
  int64_t head = Head(base);
  EXPECT_EQ(Dev("PUT", base + "/secrets/api.key", json::object{{"values", {{"staging", "staging-own"}}}, {"reason", "again"}})
                .status,
            200);
  EXPECT_EQ(Head(base), head);

  HttpReply all = Dev("GET", base + "/environments/staging/secrets");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.body.find("prod-only-value"), std::string::npos) << all.body;
  EXPECT_EQ(all.json.at("secrets").at("api.key").as_string(), "staging-own");
  EXPECT_FALSE(all.json.at("secrets").as_object().contains("db.password"));
  EXPECT_EQ(all.json.at("withheld").at("db.password").at("from").as_string(), "prod");
  HttpReply one = Dev("GET", base + "/environments/dev/secrets/db.password");
  EXPECT_EQ(one.status, 403) << one.body;
  EXPECT_EQ(one.body.find("prod-only-value"), std::string::npos);
  EXPECT_NE(one.body.find("inherited from \\\"prod\\\""), std::string::npos) << one.body;
  EXPECT_EQ(Dev("GET", base + "/environments/staging/secrets/api.key").json.at("value").as_string(), "staging-own");
  // The admin still reads prod's value through staging.
  EXPECT_EQ(Api("GET", base + "/environments/staging/secrets/db.password").json.at("value").as_string(),
            "prod-only-value");
  // Audited as a denial naming both environments, and never as a read of that key.
  EXPECT_GE(AuditLines("workspace.secret.read_denied", {ws_id, "\"environment\":\"prod,staging\"", "db.password"}, 1), 1);
  EXPECT_GE(AuditLines("workspace.secret.read_denied", {ws_id, "\"environment\":\"dev,prod\"", "\"outcome\":\"denied\""}, 1), 1);

  // Through the CLI: run and export inject what may be read and say what was withheld.
  testing::CommandResult run = Cli("run -w effect-secrets -e staging -- sh -c 'echo \"[$API_KEY][${DB_PASSWORD-unset}]\"'",
                                   developer_);
  EXPECT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("[staging-own][unset]"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("secret \"db.password\" withheld"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("prod-only-value"), std::string::npos);
  testing::CommandResult exported = Cli("export -w effect-secrets -e dev --format json", developer_);
  EXPECT_EQ(exported.code, 0) << exported.out;
  EXPECT_EQ(exported.out.find("prod-only-value"), std::string::npos) << exported.out;
  EXPECT_NE(exported.out.find("\"API_KEY\":\"staging-own\""), std::string::npos) << exported.out;
}

// The developer's day through the CLI: dev values of a config prod also has are theirs to
// change; prod's are not, and the error says why.
TEST_F(AuthzEffectTest, DeveloperThroughTheCli) {
  std::string base = NewWorkspace("effect-cli");
  ASSERT_EQ(Api("PUT", base + "/configs/timeout",
                json::object{{"type", "integer"}, {"values", {{"prod", 30}, {"dev", 5}}}, {"reason", "t"}})
                .status,
            200);
  testing::CommandResult dev = Cli("config set effect-cli timeout -v dev=7 -m 'faster dev'", developer_);
  EXPECT_EQ(dev.code, 0) << dev.out;
  testing::CommandResult prod = Cli("config set effect-cli timeout -v prod=60 -m 'slower prod'", developer_);
  EXPECT_EQ(prod.code, 1) << prod.out;
  EXPECT_NE(prod.out.find("HTTP 403"), std::string::npos) << prod.out;
  EXPECT_NE(prod.out.find("protected environment \"prod\""), std::string::npos) << prod.out;
  json::value values = Api("GET", base + "/configs/timeout").json.at("values");
  EXPECT_EQ(values.at("dev").as_int64(), 7);
  EXPECT_EQ(values.at("prod").as_int64(), 30);
}

// Regression (item 11): `config set` merged over a GET without If-Match, so parallel sets
// of different environments lost each other's values. Eight processes, eight environments.
TEST_F(AuthzEffectTest, ParallelConfigSetsOfDifferentEnvironmentsAllLand) {
  std::string base = "/v1/workspaces/effect-merge";
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "effect-merge"}}).status, 201);
  constexpr int kEnvs = 8;
  for (int i = 0; i < kEnvs; ++i) {
    ASSERT_EQ(Api("POST", base + "/environments",
                  json::object{{"key", base::StrCat("e", std::to_string(i))}, {"name", "E"}, {"reason", "setup"}})
                  .status,
              201);
  }
  for (int round = 0; round < 3; ++round) {
    std::string key = base::StrCat("merged", std::to_string(round));
    std::vector<std::thread> threads;
    std::vector<testing::CommandResult> results(kEnvs);
    for (int i = 0; i < kEnvs; ++i) {
      threads.emplace_back([&, i] {
        results[i] = Cli(base::StrCat("config set effect-merge ", key, " --type integer -v e", std::to_string(i), "=",
                                      std::to_string(i), " -m parallel"),
                         up_->admin_key());
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kEnvs; ++i) EXPECT_EQ(results[i].code, 0) << results[i].out;
    HttpReply config = Api("GET", base + "/configs/" + key);
    ASSERT_EQ(config.status, 200) << config.body;
    EXPECT_EQ(config.json.at("values").as_object().size(), static_cast<size_t>(kEnvs)) << config.body;
  }
}

// Regression: a revert was authorized outside the workspace's write lock, against the
// state before a concurrent write, so a developer's revert could overwrite a change an
// admin had just made to a protected environment. Now it is authorized under the lock:
// no revision written by the developer ever changes prod.
TEST_F(AuthzEffectTest, RevertIsAuthorizedAgainstTheStateItChanges) {
  std::string base = NewWorkspace("effect-revert");
  ASSERT_EQ(Api("PUT", base + "/configs/level",
                json::object{{"type", "integer"}, {"values", {{"prod", 1}, {"dev", 1}}}, {"reason", "start"}})
                .status,
            200);
  ASSERT_EQ(Dev("PUT", base + "/configs/level",
                json::object{{"type", "integer"}, {"values", {{"prod", 1}, {"dev", 2}}}, {"reason", "dev"}})
                .status,
            200);
  int64_t dev_change = Head(base);
  // Reverting it changes dev only: allowed.
  ASSERT_EQ(Dev("POST", base::StrCat(base, "/revisions/", std::to_string(dev_change), "/revert"),
                json::object{{"reason", "undo"}})
                .status,
            200);
  // When prod has moved on, undoing the same revision would also change prod: refused.
  ASSERT_EQ(Api("PUT", base + "/configs/level",
                json::object{{"type", "integer"}, {"values", {{"prod", 5}, {"dev", 2}}}, {"reason", "prod"}})
                .status,
            200);
  EXPECT_EQ(Dev("POST", base::StrCat(base, "/revisions/", std::to_string(dev_change), "/revert"),
                json::object{{"reason", "undo"}})
                .status,
            403);
  // Race: the admin flips prod between 1 and 5 while the developer keeps reverting.
  std::atomic<bool> stop{false};
  std::thread admin([&] {
    for (int i = 0; !stop; ++i) {
      Api("PUT", base + "/configs/level",
          json::object{{"type", "integer"}, {"values", {{"prod", i % 2 ? 5 : 1}, {"dev", 2}}}, {"reason", "flip"}});
    }
  });
  for (int i = 0; i < 150; ++i) {
    Dev("POST", base::StrCat(base, "/revisions/", std::to_string(dev_change), "/revert"), json::object{{"reason", "r"}});
  }
  stop = true;
  admin.join();
  // No revision by the developer changed prod's value.
  std::string developer_actor;
  int checked = 0;
  for (int64_t after = 0;;) {
    HttpReply revs = Api("GET", base::StrCat(base, "/revisions?limit=1000&after=", std::to_string(after)));
    ASSERT_EQ(revs.status, 200);
    const json::array& list = revs.json.at("revisions").as_array();
    if (list.empty()) break;
    for (const json::value& rev : list) {
      after = rev.at("seq").as_int64();
      if (rev.at("op").as_string() != "revert") continue;
      ++checked;
      const json::value& b = rev.at("before");
      const json::value& a = rev.at("after");
      ASSERT_TRUE(b.is_object() && a.is_object());
      EXPECT_EQ(json::serialize(b.at("values").at("prod")), json::serialize(a.at("values").at("prod")))
          << "revision " << after << " by " << rev.at("actor") << " changed prod";
    }
  }
  EXPECT_GT(checked, 1);
}

// A rollback needs write access to what it changes, not to every environment.
TEST_F(AuthzEffectTest, RollbackIsAuthorizedOnWhatItChanges) {
  std::string base = NewWorkspace("effect-rollback");
  ASSERT_EQ(Api("PUT", base + "/configs/a",
                json::object{{"type", "integer"}, {"values", {{"prod", 1}, {"dev", 1}}}, {"reason", "a"}})
                .status,
            200);
  int64_t mark = Head(base);
  ASSERT_EQ(Dev("PUT", base + "/configs/a",
                json::object{{"type", "integer"}, {"values", {{"prod", 1}, {"dev", 2}}}, {"reason", "dev"}})
                .status,
            200);
  ASSERT_EQ(Dev("PUT", base + "/configs/b", json::object{{"type", "string"}, {"values", {{"dev", "x"}}}, {"reason", "b"}})
                .status,
            200);
  HttpReply ok = Dev("POST", base + "/rollback", json::object{{"to_revision", mark}, {"reason", "undo dev"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Api("GET", base + "/configs/b").status, 404);
  ASSERT_EQ(Api("PUT", base + "/configs/a",
                json::object{{"type", "integer"}, {"values", {{"prod", 9}, {"dev", 1}}}, {"reason", "prod"}})
                .status,
            200);
  int64_t head = Head(base);
  HttpReply refused = Dev("POST", base + "/rollback", json::object{{"to_revision", mark}, {"reason", "undo prod"}});
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(Head(base), head);
}

}  // namespace
}  // namespace edgevault
