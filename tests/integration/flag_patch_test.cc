// PATCH of flags and configs (issue 17, docs/api.md) through the real binaries: JSON Patch
// and JSON Merge Patch, a failing "test" op, bad input (nothing written: the history head
// stays), If-Match, authorization by the patch's effect (a developer may patch dev but not
// protected prod) and a change-request-only environment.
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "src/base/json_patch.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;
using base::JsonEqual;

constexpr char kJsonPatch[] = "application/json-patch+json";
constexpr char kMergePatch[] = "application/merge-patch+json";

std::string Quoted(int64_t revision) {
  std::string s(1, '"');
  s += std::to_string(revision);
  s.push_back('"');
  return s;
}

class FlagPatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    developer_ = up_->TokenForNewUser("developer-patch@example.com", "developer");
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
  HttpReply Patch(const std::string& target, std::string_view patch, const char* type = kJsonPatch,
                  const std::string& bearer = "", std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.push_back({"Content-Type", type});
    return up_->Call("api", "PATCH", target, std::string(patch), bearer.empty() ? up_->admin_key() : bearer,
                     std::move(headers));
  }
  static std::string Code(const HttpReply& r) {
    const json::object* o = r.json.if_object();
    const json::value* e = o ? o->if_contains("error") : nullptr;
    if (e && e->is_object() && e->as_object().contains("code")) return json::value_to<std::string>(e->at("code"));
    if (o && o->contains("code")) return json::value_to<std::string>(o->at("code"));
    return r.body;
  }

  // base ← prod (protected) ← staging ← dev, and flag "checkout" on in dev and prod.
  std::string NewWorkspace(const std::string& key) {
    EXPECT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", key}, {"name", key}}).status, 201);
    std::string base = "/v1/workspaces/" + key;
    for (json::object env : {json::object{{"key", "base"}, {"name", "Base"}},
                             json::object{{"key", "prod"}, {"name", "Prod"}, {"parent", "base"}, {"protected", true}},
                             json::object{{"key", "staging"}, {"name", "Staging"}, {"parent", "prod"}},
                             json::object{{"key", "dev"}, {"name", "Dev"}, {"parent", "staging"}}}) {
      env["reason"] = "setup";
      EXPECT_EQ(Api("POST", base + "/environments", env).status, 201);
    }
    json::object on = {{"on", true}, {"rules", json::array{}}, {"fallthrough", {{"variation", 1}}}};
    HttpReply put = Api("PUT", base + "/flags/checkout",
                        json::object{{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
                                     {"environments", {{"dev", on}, {"prod", on}}},
                                     {"reason", "setup"}});
    EXPECT_EQ(put.status, 200) << put.body;
    return base;
  }

  int64_t Head(const std::string& base) {
    HttpReply r = Api("GET", base);
    return r.status == 200 ? r.json.at("revision").as_int64() : -1;
  }
  bool On(const std::string& base, const char* env) {
    HttpReply r = Api("GET", base + "/flags/checkout");
    return r.status == 200 && r.json.at("environments").at(env).at("on").as_bool();
  }

  testing::CommandResult Cli(const std::string& args, const std::string& token = "") {
    return testing::RunEdgevault(args, "EDGEVAULT_API_URL=http://127.0.0.1:" + std::to_string(up_->port("api")) +
                                           " EDGEVAULT_TOKEN=" + (token.empty() ? up_->admin_key() : token) +
                                           " EDGEVAULT_PROFILE=/nonexistent");
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = up_->data_dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  static EdgeVaultUp* up_;
  static std::string developer_;
};

EdgeVaultUp* FlagPatchTest::up_ = nullptr;
std::string FlagPatchTest::developer_;

TEST_F(FlagPatchTest, JsonPatchAndMergePatchChangeOnlyWhatTheyName) {
  std::string base = NewWorkspace("patch-basic");
  int64_t head = Head(base);
  HttpReply off = Patch(base + "/flags/checkout?reason=incident",
                        R"([{"op":"test","path":"/environments/dev/on","value":true},
                            {"op":"replace","path":"/environments/dev/on","value":false}])");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(off.json.at("workspace_revision").as_int64(), head + 1);
  EXPECT_FALSE(On(base, "dev"));
  EXPECT_TRUE(On(base, "prod"));
  HttpReply history = Api("GET", base + "/revisions");
  EXPECT_NE(history.body.find("incident"), std::string::npos) << history.body;

  HttpReply merged = Patch(base + "/flags/checkout?reason=back", R"({"environments":{"dev":{"on":true}}})", kMergePatch);
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_TRUE(On(base, "dev"));
  // Copy prod's configuration to staging with one op.
  HttpReply copy = Patch(base + "/flags/checkout?reason=copy",
                         R"([{"op":"copy","from":"/environments/prod","path":"/environments/staging"}])");
  ASSERT_EQ(copy.status, 200) << copy.body;
  EXPECT_TRUE(On(base, "staging"));
  // Configs take the same PATCH.
  ASSERT_EQ(Api("PUT", base + "/configs/pool", json::object{{"type", "integer"}, {"values", {{"dev", 5}}}, {"reason", "r"}})
                .status,
            200);
  HttpReply config = Patch(base + "/configs/pool?reason=bigger", R"({"values":{"dev":6}})", kMergePatch);
  ASSERT_EQ(config.status, 200) << config.body;
  EXPECT_EQ(Api("GET", base + "/configs/pool").json.at("values").at("dev").as_int64(), 6);
}

TEST_F(FlagPatchTest, BadPatchesWriteNothing) {
  std::string base = NewWorkspace("patch-errors");
  int64_t head = Head(base);
  HttpReply stale_test = Patch(base + "/flags/checkout?reason=r",
                               R"([{"op":"replace","path":"/environments/dev/on","value":false},
                                   {"op":"test","path":"/environments/dev/on","value":true}])");
  EXPECT_EQ(stale_test.status, 409) << stale_test.body;
  EXPECT_EQ(Code(stale_test), "patch_test_failed");
  HttpReply bad_pointer = Patch(base + "/flags/checkout?reason=r",
                                R"([{"op":"test","path":"/environments/dev/on","value":true},
                                    {"op":"remove","path":"/environments/qa"}])");
  EXPECT_EQ(bad_pointer.status, 400) << bad_pointer.body;
  EXPECT_EQ(Code(bad_pointer), "bad_patch");
  EXPECT_NE(bad_pointer.body.find("op 1 (remove)"), std::string::npos) << bad_pointer.body;
  EXPECT_EQ(Code(Patch(base + "/flags/checkout?reason=r", R"([{"op":"add","path":"x","value":1}])")), "bad_patch");
  EXPECT_EQ(Code(Patch(base + "/flags/checkout?reason=r", "[{")), "bad_json");
  EXPECT_EQ(Code(Patch(base + "/flags/checkout?reason=r", "[]", "application/json")), "unsupported_media_type");
  EXPECT_EQ(Code(Patch(base + "/flags/checkout", R"({"environments":{"dev":{"on":false}}})", kMergePatch)),
            "reason_required");
  // A patch whose result fails validation like a PUT would.
  HttpReply invalid = Patch(base + "/flags/checkout?reason=r",
                            R"([{"op":"replace","path":"/environments/dev/fallthrough/variation","value":7}])");
  EXPECT_EQ(invalid.status, 400) << invalid.body;
  HttpReply not_found = Patch(base + "/flags/nope?reason=r", "[]");
  EXPECT_EQ(not_found.status, 404) << not_found.body;
  HttpReply stale = Patch(base + "/flags/checkout?reason=r", R"({"environments":{"dev":{"on":false}}})", kMergePatch,
                          "", {{"If-Match", Quoted(head - 1)}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(Head(base), head);
  EXPECT_TRUE(On(base, "dev"));
  HttpReply current = Patch(base + "/flags/checkout?reason=r", R"({"environments":{"dev":{"on":false}}})", kMergePatch,
                            "", {{"If-Match", Quoted(head)}});
  EXPECT_EQ(current.status, 200) << current.body;
  // Secrets have no PATCH (their values are not shown, so there is nothing to patch against).
  EXPECT_NE(Patch(base + "/secrets/checkout?reason=r", "[]").status, 200);
  json::value openapi = Api("GET", "/v1/openapi.json").json;
  EXPECT_TRUE(openapi.at("paths").at("/v1/workspaces/{ws}/flags/{key}").as_object().contains("patch"));
  EXPECT_FALSE(openapi.at("paths").at("/v1/workspaces/{ws}/secrets/{key}").as_object().contains("patch"));
}

TEST_F(FlagPatchTest, AuthorizedOnTheEffectOfThePatch) {
  std::string base = NewWorkspace("patch-authz");
  HttpReply dev = Patch(base + "/flags/checkout?reason=dev", R"({"environments":{"dev":{"on":false}}})", kMergePatch,
                        developer_);
  EXPECT_EQ(dev.status, 200) << dev.body;
  int64_t head = Head(base);
  HttpReply prod = Patch(base + "/flags/checkout?reason=prod", R"({"environments":{"prod":{"on":false}}})",
                         kMergePatch, developer_);
  EXPECT_EQ(prod.status, 403) << prod.body;
  EXPECT_EQ(Head(base), head);
  EXPECT_TRUE(On(base, "prod"));
}

TEST_F(FlagPatchTest, ChangeRequestOnlyEnvironmentRefusesAPatch) {
  std::string base = NewWorkspace("patch-cr");
  HttpReply policy = Api("PUT", base + "/environments/prod/policy",
                         json::object{{"required_approvals", 1}, {"change_requests_required", true}, {"reason", "r"}});
  ASSERT_EQ(policy.status, 200) << policy.body;
  int64_t head = Head(base);
  HttpReply prod = Patch(base + "/flags/checkout?reason=prod", R"({"environments":{"prod":{"on":false}}})", kMergePatch);
  EXPECT_EQ(prod.status, 403) << prod.body;
  EXPECT_EQ(Code(prod), "change_request_required") << prod.body;
  EXPECT_EQ(Head(base), head);
  EXPECT_EQ(Patch(base + "/flags/checkout?reason=dev", R"({"environments":{"dev":{"on":false}}})", kMergePatch).status,
            200);
}

TEST_F(FlagPatchTest, CliFlagPatch) {
  std::string base = NewWorkspace("patch-cli");
  std::string off = WriteFile("off.json", R"([{"op":"test","path":"/environments/dev/on","value":true},
                                              {"op":"replace","path":"/environments/dev/on","value":false}])");
  testing::CommandResult r = Cli("flag patch patch-cli checkout -f " + off + " -m incident");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Patched flag checkout"), std::string::npos) << r.out;
  EXPECT_FALSE(On(base, "dev"));
  int64_t head = Head(base);
  // The same patch again: its test op sees the change, exit 1 with the server's reason.
  r = Cli("flag patch patch-cli checkout -f " + off + " -m again");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("HTTP 409: op 0 (test)"), std::string::npos) << r.out;
  // A merge patch without --merge, and a file that is not JSON: refused locally (exit 2).
  std::string merge = WriteFile("merge.json", R"({"environments":{"dev":{"on":true}}})");
  r = Cli("flag patch patch-cli checkout -f " + merge + " -m r");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--merge"), std::string::npos) << r.out;
  EXPECT_EQ(Cli("flag patch patch-cli checkout -f " + WriteFile("bad.json", "[{") + " -m r").code, 2);
  EXPECT_EQ(Head(base), head);
  // A developer's merge patch of prod: refused by the server (exit 1), nothing written.
  std::string prod_off = WriteFile("prod-off.json", R"({"environments":{"prod":{"on":false}}})");
  r = Cli("flag patch patch-cli checkout --merge -f " + prod_off + " -m r", developer_);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(Head(base), head);
  r = Cli("flag patch patch-cli checkout --merge -f " + merge + " -m back", developer_);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(On(base, "dev"));
}

TEST_F(FlagPatchTest, CliRolloutTargetCopy) {
  std::string base = NewWorkspace("patch-cli-ops");
  testing::CommandResult r = Cli("flag rollout patch-cli-ops checkout -e dev true=20 false=80 -m ramp");
  ASSERT_EQ(r.code, 0) << r.out;
  json::value flag = Api("GET", base + "/flags/checkout").json;
  EXPECT_TRUE(JsonEqual(flag.at("environments").at("dev").at("fallthrough"),
                        json::parse(R"({"rollout":[{"variation":1,"weight":20000},{"variation":0,"weight":80000}]})")))
      << flag;
  int64_t head = Head(base);
  // Weights that do not add up to 100, an unknown variation, a rule that does not exist: exit 2.
  r = Cli("flag rollout patch-cli-ops checkout -e dev true=20 false=70 -m r");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("add up to 90.000%, not 100%"), std::string::npos) << r.out;
  EXPECT_EQ(Cli("flag rollout patch-cli-ops checkout -e dev maybe=100 -m r").code, 2);
  EXPECT_EQ(Cli("flag rollout patch-cli-ops checkout -e dev --rule 3 true=100 -m r").code, 2);
  EXPECT_EQ(Cli("flag rollout patch-cli-ops checkout -e qa true=100 -m r").code, 2);
  EXPECT_EQ(Head(base), head);

  r = Cli("flag target patch-cli-ops checkout -e dev --variation true --add u1 u2 -m beta");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Cli("flag target patch-cli-ops checkout -e dev --variation 0 --add u2 -m u2-out");
  ASSERT_EQ(r.code, 0) << r.out;
  flag = Api("GET", base + "/flags/checkout").json;
  EXPECT_TRUE(JsonEqual(flag.at("environments").at("dev").at("targets"),
                        json::parse(R"([{"variation":1,"values":["u1"]},{"variation":0,"values":["u2"]}])")))
      << flag;
  r = Cli("flag target patch-cli-ops checkout -e dev --variation true --remove u1 -m done");
  ASSERT_EQ(r.code, 0) << r.out;
  flag = Api("GET", base + "/flags/checkout").json;
  EXPECT_EQ(flag.at("environments").at("dev").at("targets").as_array().size(), 1u) << flag;

  r = Cli("flag copy patch-cli-ops checkout --from dev --to staging -m same");
  ASSERT_EQ(r.code, 0) << r.out;
  flag = Api("GET", base + "/flags/checkout").json;
  EXPECT_TRUE(JsonEqual(flag.at("environments").at("staging"), flag.at("environments").at("dev"))) << flag;
  // A developer may copy into staging but not into protected prod.
  head = Head(base);
  r = Cli("flag copy patch-cli-ops checkout --from dev --to prod -m r", developer_);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(Head(base), head);
  r = Cli("flag rollout patch-cli-ops checkout -e staging false=100 -m r", developer_);
  EXPECT_EQ(r.code, 0) << r.out;
  // A change-request-only environment refuses the CLI's patch too.
  ASSERT_EQ(Api("PUT", base + "/environments/prod/policy",
                json::object{{"required_approvals", 1}, {"change_requests_required", true}, {"reason", "r"}})
                .status,
            200);
  head = Head(base);
  r = Cli("flag copy patch-cli-ops checkout --from dev --to prod -m r");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("change request"), std::string::npos) << r.out;
  EXPECT_EQ(Head(base), head);
}

}  // namespace
}  // namespace edgevault
