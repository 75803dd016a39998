// The api through the real binaries (`edgevault up`) over HTTP: every endpoint, the
// bad-input paths (4xx JSON, nothing written), roles, If-Match, inheritance, revert,
// rollback, events, SDK keys, concurrency, and propagation to the edge KV.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/crypto/password.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "tests/integration/harness.h"
#include "tests/integration/other_org.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

std::string Quoted(int64_t n) { return base::StrCat("\"", std::to_string(n), "\""); }

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    ASSERT_FALSE(up_->admin_key().empty());
    // The suite creates more workspaces than the default plan allows (10) when its tests
    // share one process (ctest runs each alone): raise the org's limit as an operator would.
    auto control = storage::OpenSqliteControlStore({up_->data_dir() + "/control.db", base::Env::Default()});
    ASSERT_TRUE(control.ok()) << control.status();
    absl::StatusOr<storage::Org> org = (*control)->GetOrgByName("default");
    ASSERT_TRUE(org.ok()) << org.status();
    storage::Entitlements more = org->entitlements;
    more.max_workspaces = 100;
    ASSERT_TRUE((*control)->SetEntitlements(org->id, more).ok());
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr,
                std::string bearer = "", std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (bearer.empty()) bearer = up_->admin_key();
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", bearer, std::move(headers));
    return up_->Json("api", std::move(method), std::move(target), body, bearer, std::move(headers));
  }

  // A fresh workspace with prod (protected) ← staging ← dev.
  std::string NewWorkspace(const std::string& key) {
    HttpReply ws = Api("POST", "/v1/workspaces", json::object{{"key", key}, {"name", key}});
    EXPECT_EQ(ws.status, 201) << ws.body;
    std::string base = "/v1/workspaces/" + key;
    EXPECT_EQ(Api("POST", base + "/environments",
                  json::object{{"key", "prod"}, {"name", "Production"}, {"protected", true}, {"reason", "setup"}})
                  .status,
              201);
    EXPECT_EQ(Api("POST", base + "/environments",
                  json::object{{"key", "staging"}, {"name", "Staging"}, {"parent", "prod"}, {"reason", "setup"}})
                  .status,
              201);
    EXPECT_EQ(Api("POST", base + "/environments",
                  json::object{{"key", "dev"}, {"name", "Dev"}, {"parent", "staging"}, {"reason", "setup"}})
                  .status,
              201);
    return base;
  }

  int64_t Head(const std::string& base) {
    HttpReply r = Api("GET", base);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json.at("revision").as_int64() : -1;
  }


  json::object Environment(const std::string& base, const std::string& key) {
    HttpReply r = Api("GET", base + "/environments");
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    for (const json::value& e : r.json.at("environments").as_array()) {
      if (e.at("key").as_string() == key) return e.as_object();
    }
    ADD_FAILURE() << "no environment " << key << " in " << r.body;
    return {};
  }

  static void ExpectJsonError(const HttpReply& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    ASSERT_TRUE(r.json.is_object()) << r.body;
    ASSERT_TRUE(r.json.as_object().contains("error")) << r.body;
    EXPECT_FALSE(r.json.at("error").at("code").as_string().empty());
    EXPECT_FALSE(r.json.at("error").at("message").as_string().empty());
  }

  static EdgeVaultUp* up_;
};

EdgeVaultUp* ApiTest::up_ = nullptr;

TEST_F(ApiTest, AuthenticationIsRequired) {
  ExpectJsonError(up_->Call("api", "GET", "/v1/workspaces"), 401);
  ExpectJsonError(up_->Call("api", "GET", "/v1/workspaces", "", "not-a-token"), 401);
  ExpectJsonError(up_->Call("api", "GET", "/v1/workspaces", "", "evk_forged"), 401);
  HttpReply ok = Api("GET", "/v1/workspaces");
  EXPECT_EQ(ok.status, 200) << ok.body;
  // A JWT from auth works as well as an API key.
  HttpReply tok = up_->Call("auth", "POST", "/v1/token", "", up_->admin_key());
  ASSERT_EQ(tok.status, 200);
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces", "", std::string(tok.json.at("token").as_string())).status,
            200);
}

TEST_F(ApiTest, ConfigsInheritAcrossThreeLevels) {
  std::string base = NewWorkspace("inherit");
  HttpReply put = Api("PUT", base + "/configs/db.pool",
                      json::object{{"type", "integer"}, {"values", {{"prod", 20}, {"dev", 5}}}, {"reason", "sizing"}});
  ASSERT_EQ(put.status, 200) << put.body;
  ASSERT_EQ(Api("PUT", base + "/configs/greeting",
                json::object{{"type", "string"}, {"values", {{"prod", "hello"}}}, {"reason", "copy"}})
                .status,
            200);
  auto resolved = [&](const std::string& env) {
    HttpReply r = Api("GET", base + "/environments/" + env + "/resolved");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(r.Header("ETag").empty());
    return r.json;
  };
  json::value prod = resolved("prod"), staging = resolved("staging"), dev = resolved("dev");
  EXPECT_EQ(prod.at("configs").at("db.pool").at("value").as_int64(), 20);
  EXPECT_EQ(staging.at("configs").at("db.pool").at("value").as_int64(), 20);  // from prod
  EXPECT_EQ(dev.at("configs").at("db.pool").at("value").as_int64(), 5);       // own value
  EXPECT_EQ(dev.at("configs").at("greeting").at("value").as_string(), "hello");  // two levels up
  // Override in the middle, then delete: dev follows.
  ASSERT_EQ(Api("PUT", base + "/configs/greeting",
                json::object{{"type", "string"}, {"values", {{"prod", "hello"}, {"staging", "hi"}}}, {"reason", "copy"}})
                .status,
            200);
  EXPECT_EQ(resolved("dev").at("configs").at("greeting").at("value").as_string(), "hi");
  ASSERT_EQ(Api("DELETE", base + "/configs/greeting", json::object{{"reason", "unused"}}).status, 200);
  EXPECT_FALSE(resolved("dev").at("configs").as_object().contains("greeting"));
}

TEST_F(ApiTest, BadInputIsA4xxAndWritesNothing) {
  std::string base = NewWorkspace("badinput");
  ASSERT_EQ(Api("PUT", base + "/configs/port",
                json::object{{"type", "integer"},
                             {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}}},
                             {"values", {{"prod", 8080}}},
                             {"reason", "init"}})
                .status,
            200);
  int64_t head = Head(base);
  std::string big(70000, 'x');
  struct Case {
    std::string name;
    std::string method, target, body;
    int status;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::vector<Case> cases = {
      {"unknown env", "PUT", "/configs/port", R"({"type":"integer","values":{"qa":1},"reason":"x"})", 400, {}},
      {"type mismatch", "PUT", "/configs/port", R"({"type":"integer","values":{"prod":"eighty"},"reason":"x"})", 400, {}},
      {"schema violation", "PUT", "/configs/port",
       R"({"type":"integer","schema":{"type":"integer","maximum":65535},"values":{"prod":70000},"reason":"x"})", 400, {}},
      {"missing reason", "PUT", "/configs/port", R"({"type":"integer","values":{"prod":1}})", 400, {}},
      {"blank reason", "PUT", "/configs/port", R"({"type":"integer","values":{"prod":1},"reason":"  "})", 400, {}},
      {"bad json", "PUT", "/configs/port", R"({"type":)", 400, {}},
      {"oversized value", "PUT", "/configs/big", R"({"type":"string","values":{"prod":")" + big + R"("},"reason":"x"})", 400, {}},
      {"bad key", "PUT", "/configs/Bad%20Key", R"({"type":"string","values":{"prod":"x"},"reason":"x"})", 400, {}},
      {"stale if-match", "PUT", "/configs/port", R"({"type":"integer","values":{"prod":1},"reason":"x"})", 412,
       {{"If-Match", "\"1\""}}},
      {"malformed if-match", "PUT", "/configs/port", R"({"type":"integer","values":{"prod":1},"reason":"x"})", 400,
       {{"If-Match", "yesterday"}}},
      {"bad flag variation", "PUT", "/flags/f",
       R"({"variations":[{"value":true},{"value":false}],"environments":{"prod":{"on":true,"off_variation":1,"fallthrough":{"variation":7}}},"reason":"x"})",
       400, {}},
      {"bad flag operator", "PUT", "/flags/f",
       R"({"variations":[{"value":true},{"value":false}],"environments":{"prod":{"on":true,"off_variation":1,"rules":[{"clauses":[{"attribute":"email","op":"eq","values":["a"]}],"variation":0}],"fallthrough":{"variation":1}}},"reason":"x"})",
       400, {}},
      {"unknown workspace", "PUT", "/../nope/configs/x", R"({"type":"string","values":{"prod":"x"},"reason":"x"})", 404, {}},
      {"delete missing", "DELETE", "/configs/never", R"({"reason":"x"})", 404, {}},
      {"revert missing", "POST", "/revisions/999/revert", R"({"reason":"x"})", 404, {}},
      {"rollback beyond head", "POST", "/rollback", R"({"to_revision":999,"reason":"x"})", 400, {}},
      {"env with unknown parent", "POST", "/environments", R"({"key":"qa","name":"QA","parent":"nope","reason":"x"})", 400, {}},
      // Regression (issue 12 §14): 1e999 was stored as Infinity and froze the workspace.
      {"infinite number value", "PUT", "/configs/ratio", R"({"type":"number","values":{"dev":1e999},"reason":"x"})", 400, {}},
      {"infinite json value", "PUT", "/configs/blob", R"({"type":"json","values":{"dev":{"a":-1e999}},"reason":"x"})", 400, {}},
      {"infinite schema bound", "PUT", "/configs/ratio",
       R"({"type":"number","schema":{"maximum":1e999},"values":{},"reason":"x"})", 400, {}},
      {"infinite variation", "PUT", "/flags/inf",
       R"({"variations":[{"value":1},{"value":1e999}],"environments":{},"reason":"x"})", 400, {}},
      {"infinite clause value", "PUT", "/segments/inf",
       R"({"included":[],"excluded":[],"rules":[{"clauses":[{"attribute":"n","op":"gt","values":[1e999]}]}],"reason":"x"})",
       400, {}},
  };
  for (const Case& c : cases) {
    std::string target = base + c.target;
    if (c.target.rfind("/../", 0) == 0) target = "/v1/workspaces/" + c.target.substr(4);
    HttpReply r = up_->Call("api", c.method, target, c.body, up_->admin_key(), c.headers);
    SCOPED_TRACE(c.name);
    ExpectJsonError(r, c.status);
  }
  EXPECT_EQ(Head(base), head);
  HttpReply revs = Api("GET", base + "/revisions?limit=1000");
  EXPECT_EQ(static_cast<int64_t>(revs.json.at("revisions").as_array().size()), head);
  ExpectJsonError(Api("GET", base + "/revisions?limit=0"), 400);
  ExpectJsonError(Api("GET", base + "/revisions?after=abc"), 400);
  // Every environment still resolves and names the field that was refused nowhere.
  for (const char* env : {"prod", "staging", "dev"}) {
    EXPECT_EQ(Api("GET", base + "/environments/" + env + "/resolved").status, 200) << env;
  }
}

TEST_F(ApiTest, RolesAndProtectedEnvironments) {
  std::string base = NewWorkspace("roles");
  std::string dev = up_->TokenForNewUser("dev-roles@example.com", "developer");
  std::string viewer = up_->TokenForNewUser("viewer-roles@example.com", "viewer");
  ASSERT_FALSE(dev.empty());
  ASSERT_FALSE(viewer.empty());
  int64_t head = Head(base);
  // Developers write non-protected environments only.
  HttpReply ok = Api("PUT", base + "/configs/timeout",
                     json::object{{"type", "integer"}, {"values", {{"dev", 30}}}, {"reason", "dev tuning"}}, dev);
  EXPECT_EQ(ok.status, 200) << ok.body;
  ExpectJsonError(Api("PUT", base + "/configs/timeout",
                      json::object{{"type", "integer"}, {"values", {{"dev", 30}, {"prod", 10}}}, {"reason", "x"}}, dev),
                  403);
  // Viewers read, never write; nobody but admins creates environments.
  EXPECT_EQ(Api("GET", base + "/configs/timeout", nullptr, viewer).status, 200);
  ExpectJsonError(Api("PUT", base + "/configs/other",
                      json::object{{"type", "integer"}, {"values", {{"dev", 1}}}, {"reason", "x"}}, viewer),
                  403);
  ExpectJsonError(Api("POST", base + "/environments",
                      json::object{{"key", "qa"}, {"name", "QA"}, {"reason", "x"}}, dev),
                  403);
  ExpectJsonError(Api("POST", "/v1/workspaces", json::object{{"key", "mine"}}, dev), 403);
  EXPECT_EQ(Head(base), head + 1);  // only the developer's dev write landed
}

TEST_F(ApiTest, IfMatchMakesWritesConditional) {
  std::string base = NewWorkspace("ifmatch");
  int64_t head = Head(base);
  HttpReply ok = Api("PUT", base + "/configs/a", json::object{{"type", "boolean"}, {"values", {{"prod", true}}}, {"reason", "x"}},
                     "", {{"If-Match", Quoted(head)}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Header("ETag"), Quoted(head + 1));
  ExpectJsonError(Api("PUT", base + "/configs/a", json::object{{"type", "boolean"}, {"values", {{"prod", false}}}, {"reason", "x"}},
                      "", {{"If-Match", Quoted(head)}}),
                  412);
}

TEST_F(ApiTest, RevisionsRevertAndRollback) {
  std::string base = NewWorkspace("history");
  int64_t start = Head(base);
  for (int v : {1, 2, 3}) {
    ASSERT_EQ(Api("PUT", base + "/configs/level",
                  json::object{{"type", "integer"}, {"values", {{"prod", v}}}, {"reason", base::StrCat("step ", std::to_string(v))}})
                  .status,
              200);
  }
  HttpReply revs = Api("GET", base::StrCat(base, "/revisions?after=", std::to_string(start)));
  ASSERT_EQ(revs.json.at("revisions").as_array().size(), 3u);
  const json::value& last = revs.json.at("revisions").as_array().back();
  EXPECT_EQ(last.at("reason").as_string(), "step 3");
  EXPECT_EQ(last.at("before").at("values").at("prod").as_int64(), 2);
  EXPECT_EQ(last.at("after").at("values").at("prod").as_int64(), 3);
  EXPECT_FALSE(last.at("actor").as_string().empty());
  // Revert the last revision: back to 2, as a new revision.
  HttpReply rv = Api("POST", base::StrCat(base, "/revisions/", std::to_string(start + 3), "/revert"),
                     json::object{{"reason", "oops"}});
  ASSERT_EQ(rv.status, 200) << rv.body;
  EXPECT_EQ(Api("GET", base + "/configs/level").json.at("values").at("prod").as_int64(), 2);
  // Add another item, then roll back to after the first write: level=1 and the new item gone.
  ASSERT_EQ(Api("PUT", base + "/configs/extra", json::object{{"type", "string"}, {"values", {{"dev", "x"}}}, {"reason", "new"}})
                .status,
            200);
  // A dry run lists what would be written and writes nothing; If-Match is checked as for
  // the real thing.
  int64_t head = Head(base);
  HttpReply dry = Api("POST", base + "/rollback",
                      json::object{{"to_revision", start + 1}, {"reason", "bad release"}, {"dry_run", true}});
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(dry.json.at("revision").as_int64(), head);
  EXPECT_EQ(json::serialize(dry.json.at("changes")),
            R"([{"kind":"config","key":"extra","action":"delete"},{"kind":"config","key":"level","action":"update"}])");
  EXPECT_EQ(Head(base), head);
  ExpectJsonError(Api("POST", base + "/rollback",
                      json::object{{"to_revision", start + 1}, {"reason", "x"}, {"dry_run", true}},
                      "", {{"If-Match", base::StrCat("\"", std::to_string(head - 1), "\"")}}),
                  412);
  ExpectJsonError(Api("POST", base + "/rollback", json::object{{"to_revision", start + 1}, {"reason", "x"}, {"dry_run", 1}}),
                  400);
  HttpReply rb = Api("POST", base + "/rollback",
                     json::object{{"to_revision", start + 1}, {"reason", "bad release"}});
  ASSERT_EQ(rb.status, 200) << rb.body;
  EXPECT_EQ(rb.json.at("revisions_written").as_int64(), 2);
  EXPECT_EQ(Api("GET", base + "/configs/level").json.at("values").at("prod").as_int64(), 1);
  EXPECT_EQ(Api("GET", base + "/configs/extra").status, 404);
  json::value doc = Api("GET", base + "/environments/dev/resolved").json;
  EXPECT_EQ(doc.at("configs").at("level").at("value").as_int64(), 1);
  EXPECT_FALSE(doc.at("configs").as_object().contains("extra"));
}

TEST_F(ApiTest, FlagsSegmentsAndResolvedDocument) {
  std::string base = NewWorkspace("flags");
  ASSERT_EQ(Api("PUT", base + "/segments/beta",
                json::object{{"included", json::array{"u1"}}, {"excluded", json::array{}}, {"rules", json::array{}},
                             {"reason", "beta testers"}})
                .status,
            200);
  json::object flag = {
      {"variations", json::array{json::object{{"value", true}}, json::object{{"value", false}}}},
      {"environments",
       {{"prod",
         {{"on", true},
          {"off_variation", 1},
          {"rules", json::array{json::object{
                        {"clauses", json::array{json::object{{"attribute", "key"}, {"op", "segment_match"},
                                                             {"values", json::array{"beta"}}}}},
                        {"variation", 0}}}},
          {"fallthrough", {{"variation", 1}}}}}}},
      {"reason", "launch"}};
  HttpReply put = Api("PUT", base + "/flags/new-checkout", flag);
  ASSERT_EQ(put.status, 200) << put.body;
  json::value dev = Api("GET", base + "/environments/dev/resolved").json;
  ASSERT_TRUE(dev.at("flags").as_object().contains("new-checkout")) << dev;
  EXPECT_TRUE(dev.at("segments").as_object().contains("beta"));
  // A prerequisite cycle is refused.
  json::object a = flag;
  a["environments"].as_object()["prod"].as_object()["prerequisites"] =
      json::array{json::object{{"flag", "new-checkout"}, {"variation", 0}}};
  ExpectJsonError(Api("PUT", base + "/flags/new-checkout", a), 400);
}

TEST_F(ApiTest, SecretsAreSealedReadOnlyWithPermissionAndNeverStoredInClear) {
  std::string base = NewWorkspace("secrets");
  // Random markers: if any of them shows up in a file, a secret leaked to disk.
  std::string marker = "mk" + std::to_string(::getpid()) + "x" +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "SECRET";
  std::string marker_prod = marker + "prod";
  HttpReply put = Api("PUT", base + "/secrets/db.password",
                      json::object{{"values", {{"prod", marker_prod}, {"dev", marker + "dev"}}}, {"reason", "rotate"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body.find(marker), std::string::npos);
  EXPECT_EQ(Api("PUT", base + "/secrets/api.token", json::object{{"values", {{"prod", marker + "tok"}}}, {"reason", "new"}})
                .status,
            200);
  // Metadata only in listings, item reads and history.
  for (const std::string& target : {base + "/secrets", base + "/secrets/db.password", base + "/revisions?limit=1000",
                                    base + "/activity", base + "/environments/dev/resolved"}) {
    HttpReply r = Api("GET", target);
    EXPECT_EQ(r.status, 200) << target << r.body;
    EXPECT_EQ(r.body.find(marker), std::string::npos) << target;
    EXPECT_EQ(r.body.find("envelope"), std::string::npos) << target;
  }
  // Values: owner everywhere; inheritance staging ← prod.
  HttpReply all = Api("GET", base + "/environments/staging/secrets");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json.at("secrets").at("db.password").as_string(), marker_prod);
  EXPECT_EQ(all.json.at("secrets").at("api.token").as_string(), marker + "tok");
  HttpReply one = Api("GET", base + "/environments/dev/secrets/db.password");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json.at("value").as_string(), marker + "dev");
  ExpectJsonError(Api("GET", base + "/environments/dev/secrets/nope"), 404);
  // Without the permission: 403 and no value, in every endpoint.
  std::string viewer = up_->TokenForNewUser("viewer-secrets@example.com", "viewer");
  std::string dev = up_->TokenForNewUser("dev-secrets@example.com", "developer");
  for (const std::string& target : {base + "/environments/dev/secrets", base + "/environments/dev/secrets/db.password",
                                    base + "/environments/prod/secrets"}) {
    HttpReply r = Api("GET", target, nullptr, viewer);
    ExpectJsonError(r, 403);
    EXPECT_EQ(r.body.find(marker), std::string::npos);
  }
  EXPECT_EQ(Api("GET", base + "/environments/dev/secrets/db.password", nullptr, dev).status, 200);
  // Protected: every value is withheld with its reason (the list answers; a single-key
  // read is 403), and nothing of the values is in the answer.
  HttpReply dev_prod = Api("GET", base + "/environments/prod/secrets", nullptr, dev);
  EXPECT_EQ(dev_prod.status, 200) << dev_prod.body;
  EXPECT_TRUE(dev_prod.json.at("secrets").as_object().empty()) << dev_prod.body;
  EXPECT_EQ(dev_prod.json.at("withheld").as_object().size(), 2u) << dev_prod.body;
  EXPECT_EQ(dev_prod.body.find(marker), std::string::npos);
  ExpectJsonError(Api("GET", base + "/environments/prod/secrets/db.password", nullptr, dev), 403);
  // An API key without secrets:read cannot read values even as owner.
  HttpReply key = up_->Json("auth", "POST", "/v1/api-keys", {{"name", "reader"}, {"scopes", json::array{"read"}}},
                            up_->admin_key());
  ASSERT_EQ(key.status, 201) << key.body;
  ExpectJsonError(Api("GET", base + "/environments/dev/secrets", nullptr, std::string(key.json.at("key").as_string())),
                  403);
  // Every read is recorded.
  HttpReply act = Api("GET", base + "/activity?limit=1000");
  EXPECT_NE(act.body.find("workspace.secret.read"), std::string::npos);
  // Revert restores the previous ciphertext, which still opens.
  ASSERT_EQ(Api("PUT", base + "/secrets/db.password", json::object{{"values", {{"prod", "changed"}}}, {"reason", "x"}}).status,
            200);
  int64_t head = Head(base);
  ASSERT_EQ(Api("POST", base::StrCat(base, "/revisions/", std::to_string(head), "/revert"), json::object{{"reason", "undo"}})
                .status,
            200);
  EXPECT_EQ(Api("GET", base + "/environments/prod/secrets/db.password").json.at("value").as_string(), marker_prod);
  // No file under the data directory holds a marker, in clear or base64.
  std::vector<std::string> needles = {marker};
  for (const std::string& m : {marker_prod, marker + "dev", marker + "tok"}) {
    needles.push_back(m);
  }
  std::vector<std::string> encoded;
  for (const auto& n : needles) {
    // base64 of the marker at each of the three alignments.
    for (int shift = 0; shift < 3; ++shift) {
      std::string padded = std::string(shift, 'A') + n;
      static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      std::string b64;
      for (size_t i = 0; i + 3 <= padded.size(); i += 3) {
        uint32_t v = (uint8_t(padded[i]) << 16) | (uint8_t(padded[i + 1]) << 8) | uint8_t(padded[i + 2]);
        for (int k = 3; k >= 0; --k) b64.push_back(tbl[(v >> (6 * k)) & 63]);
      }
      encoded.push_back(b64.substr(4, 12));  // a stable middle part
    }
  }
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(up_->data_dir())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(f)), {});
    for (const auto& n : needles) EXPECT_EQ(content.find(n), std::string::npos) << entry.path();
    for (const auto& e : encoded) EXPECT_EQ(content.find(e), std::string::npos) << entry.path() << " (base64)";
  }
  EXPECT_GT(files, 5);
}

// Found by the crash campaign (tests/crash): the HTTP client resends a PUT once when a
// reused connection breaks before any answer (net/http_client.h; PUT is idempotent), and
// when the api had committed the first copy before it was killed, the second copy of a
// secret write makes a second revision and a second audit event for the one request.
// Configs and flags are idempotent ("Writing an item with exactly its current body is a
// no-op", docs/api.md); secrets are re-sealed with a fresh data key, so they are not.
// PutSecret now keeps the envelope of a value that is the same plaintext again.
TEST_F(ApiTest, PuttingTheSameSecretTwiceWritesOneRevision) {
  std::string base = NewWorkspace("sameseal");
  json::object put{{"values", {{"dev", "the same value"}}}, {"reason", "x"}};
  HttpReply first = Api("PUT", base + "/secrets/s", put);
  ASSERT_EQ(first.status, 200) << first.body;
  const int64_t head = Head(base);
  HttpReply second = Api("PUT", base + "/secrets/s", put);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Head(base), head) << "the same secret value made a new revision";
  EXPECT_EQ(second.Header("ETag"), first.Header("ETag"));
}

// GET …/export: the workspace as one file of one revision, for anyone who may read it;
// secrets by name only. Another org's workspace is not found; a bad format changes nothing.
TEST_F(ApiTest, ExportIsOneFileOfOneRevisionForReadersWithoutSecretValues) {
  const std::string base = "/v1/workspaces/exp";
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "exp"}, {"name", "Export"}}).status, 201);
  ASSERT_EQ(Api("POST", base + "/environments", json::object{{"key", "prod"}, {"reason", "setup"}}).status, 201);
  ASSERT_EQ(Api("PUT", base + "/configs/limit",
                json::object{{"type", "integer"}, {"values", {{"prod", 5}}}, {"reason", "setup"}}).status,
            200);
  HttpReply secret = Api("PUT", base + "/secrets/token", json::object{{"values", {{"prod", "exp-s3cr3t-value"}}}, {"reason", "setup"}});
  ASSERT_EQ(secret.status, 200) << secret.body;
  const std::string viewer = up_->TokenForNewUser("viewer-export@example.com", "viewer");
  ASSERT_FALSE(viewer.empty());
  HttpReply yaml = Api("GET", base + "/export", nullptr, viewer);
  ASSERT_EQ(yaml.status, 200) << yaml.body;
  EXPECT_EQ(yaml.Header("Content-Type"), "application/yaml; charset=utf-8");
  EXPECT_EQ(yaml.Header("Content-Disposition"), "attachment; filename=\"exp.edgevault.yaml\"");
  EXPECT_EQ(yaml.Header("ETag"), base::StrCat("\"", Head(base), "\""));
  EXPECT_NE(yaml.body.find("edgevault.workspace/1"), std::string::npos) << yaml.body;
  EXPECT_EQ(yaml.body.find("exp-s3cr3t-value"), std::string::npos) << yaml.body;
  HttpReply js = Api("GET", base + "/export?format=json", nullptr, viewer);
  ASSERT_EQ(js.status, 200) << js.body;
  EXPECT_EQ(js.json.at("format"), "edgevault.workspace/1");
  EXPECT_EQ(js.json.at("configs").at("limit").at("values").at("prod"), 5);
  EXPECT_EQ(js.json.at("secrets").at("token").at("environments"), json::array{"prod"});
  EXPECT_EQ(Api("GET", base + "/export", nullptr, viewer).body, yaml.body);  // stable bytes
  HttpReply bad = Api("GET", base + "/export?format=xml", nullptr, viewer);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("bad_format"), std::string::npos) << bad.body;
  EXPECT_EQ(Api("GET", base + "/export", nullptr, "not-a-key").status, 401);
}

// POST …/import reads back an export (YAML text here): a developer is refused (creating
// an environment administers it) and nothing changes; an admin's import creates the
// environments and writes the items in one batch; each step is the caller's own
// (audited) request.
TEST_F(ApiTest, ImportReadsBackAnExportAndARefusedStepLeavesNothingHalfDone) {
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "imp-src"}, {"name", "Source"}}).status, 201);
  ASSERT_EQ(Api("POST", "/v1/workspaces/imp-src/environments", json::object{{"key", "prod"}, {"reason", "setup"}}).status, 201);
  ASSERT_EQ(Api("PUT", "/v1/workspaces/imp-src/configs/limit",
                json::object{{"type", "integer"}, {"values", {{"prod", 7}}}, {"reason", "setup"}}).status,
            200);
  HttpReply exported = Api("GET", "/v1/workspaces/imp-src/export");
  ASSERT_EQ(exported.status, 200) << exported.body;
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "imp-dst"}, {"name", "Target"}}).status, 201);
  const std::string dst = "/v1/workspaces/imp-dst";
  const int64_t empty_head = Head(dst);
  json::object body{{"document_text", exported.body}, {"reason", "copy"}, {"dry_run", true}};
  HttpReply dry = Api("POST", dst + "/import", body);
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(dry.json.at("environments_to_create"), json::array{"prod"});
  EXPECT_EQ(Head(dst), empty_head);

  const std::string dev = up_->TokenForNewUser("dev-import@example.com", "developer");
  ASSERT_FALSE(dev.empty());
  body["dry_run"] = false;
  HttpReply refused = Api("POST", dst + "/import", body, dev);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("nothing was imported"), std::string::npos) << refused.body;
  EXPECT_EQ(Head(dst), empty_head);

  HttpReply bad = Api("POST", dst + "/import", json::object{{"document", {{"format", "edgevault.workspace/9"}}}, {"reason", "x"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("bad_document"), std::string::npos) << bad.body;
  EXPECT_EQ(Api("POST", dst + "/import", json::object{{"document_text", "a: [b"}, {"reason", "x"}}).status, 400);
  EXPECT_EQ(Api("POST", dst + "/import", json::object{{"document_text", exported.body}}).status, 400);  // no reason
  EXPECT_EQ(Head(dst), empty_head);

  HttpReply imported = Api("POST", dst + "/import", body);
  ASSERT_EQ(imported.status, 200) << imported.body;
  EXPECT_EQ(imported.json.at("environments_created"), json::array{"prod"});
  EXPECT_EQ(Api("GET", dst + "/configs/limit").json.at("values").at("prod"), 7);
  EXPECT_EQ(Head(dst), empty_head + 2);  // the environment and the item: one commit
}

// An import is all or nothing, environments included: a file whose new environment is
// fine but whose item is not (found only by the api's validation) leaves the workspace as
// it was, and its dry run already says so; a bad policy is refused before anything is
// written; two imports of one file at once create the environment once and leave one
// consistent state.
TEST_F(ApiTest, ImportWithNewEnvironmentsIsAllOrNothingEvenInParallel) {
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "imp-atomic"}, {"name", "Atomic"}}).status, 201);
  const std::string dst = "/v1/workspaces/imp-atomic";
  const int64_t empty_head = Head(dst);
  auto document = [](json::value limit, json::value policy) {
    json::object prod{{"key", "prod"}, {"name", "Production"}, {"parent", nullptr}, {"protected", true}};
    if (!policy.is_null()) prod["policy"] = policy;
    json::object stage{{"key", "stage"}, {"name", "Staging"}, {"parent", "prod"}, {"protected", false}};
    return json::object{
        {"format", "edgevault.workspace/1"},
        {"workspace", {{"key", "imp-atomic"}, {"name", "Atomic"}}},
        {"environments", json::array{prod, stage}},
        {"configs", {{"limit", {{"type", "integer"}, {"values", {{"stage", limit}}}}}}},
        {"flags", json::object()},
        {"segments", json::object()},
        {"secrets", json::object()}};
  };
  const json::object bad = document("seven", nullptr);
  for (bool dry_run : {true, false}) {
    HttpReply r = Api("POST", dst + "/import", json::object{{"document", bad}, {"reason", "bad"}, {"dry_run", dry_run}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("values.stage: expected an integer"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("nothing was imported"), std::string::npos) << r.body;
  }
  HttpReply bad_policy = Api("POST", dst + "/import",
                             json::object{{"document", document(7, json::object{{"required_approvals", "two"}})},
                                          {"reason", "bad policy"}});
  EXPECT_EQ(bad_policy.status, 400) << bad_policy.body;
  EXPECT_NE(bad_policy.body.find("environments.prod.policy"), std::string::npos) << bad_policy.body;
  EXPECT_EQ(Head(dst), empty_head);
  HttpReply envs = Api("GET", dst + "/environments");
  ASSERT_EQ(envs.status, 200) << envs.body;
  EXPECT_EQ(envs.body.find("\"prod\""), std::string::npos) << envs.body;  // no environment was left behind

  // Two at once: whichever commits second finds prod there and is refused whole (its
  // plan was made before), or plans after the first and has nothing left to create.
  const json::object good{{"document", document(7, json::object{{"required_approvals", 1}})}, {"reason", "race"}};
  std::vector<HttpReply> replies(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&, t] { replies[t] = Api("POST", dst + "/import", good); });
  for (auto& th : threads) th.join();
  int ok = 0;
  for (const HttpReply& r : replies) {
    if (r.status == 200) {
      ++ok;
      continue;
    }
    EXPECT_EQ(r.status, 409) << r.body;  // prod exists by then
    EXPECT_NE(r.body.find("nothing was imported"), std::string::npos) << r.body;
  }
  EXPECT_GE(ok, 1);
  EXPECT_EQ(Head(dst), empty_head + 4);  // prod, stage and limit in one commit, then prod's policy
  EXPECT_EQ(Api("GET", dst + "/configs/limit").json.at("values").at("stage"), 7);
  EXPECT_EQ(Environment(dst, "prod").at("policy").at("required_approvals"), 1);
  EXPECT_EQ(Environment(dst, "stage").at("parent"), "prod");
}

TEST_F(ApiTest, OpenApiListsEveryRoute) {
  HttpReply r = up_->Call("api", "GET", "/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  const json::object& paths = r.json.at("paths").as_object();
  for (const char* p : {"/v1/workspaces", "/v1/workspaces/{ws}", "/v1/workspaces/{ws}/environments",
                        "/v1/workspaces/{ws}/configs/{key}", "/v1/workspaces/{ws}/flags/{key}",
                        "/v1/workspaces/{ws}/segments/{key}", "/v1/workspaces/{ws}/environments/{env}/resolved",
                        "/v1/workspaces/{ws}/revisions", "/v1/workspaces/{ws}/revisions/{n}/revert",
                        "/v1/workspaces/{ws}/rollback", "/v1/workspaces/{ws}/activity",
                        "/v1/workspaces/{ws}/events", "/v1/workspaces/{ws}/environments/{env}/sdk-keys",
                        "/v1/workspaces/{ws}/secrets/{key}", "/v1/workspaces/{ws}/environments/{env}/secrets",
                        "/v1/workspaces/{ws}/flags/{key}/evaluate", "/v1/workspaces/{ws}/environments/{env}",
                        "/v1/workspaces/{ws}/export", "/v1/workspaces/{ws}/import"}) {
    EXPECT_TRUE(paths.contains(p)) << p;
  }
}

// "Evaluate as" (issue 13): one context, every environment, the same answer delivery's OFREP
// endpoint gives for that context with an SDK key of the environment.
TEST_F(ApiTest, EvaluateAnswersAsDeliveryDoesInEveryEnvironment) {
  std::string base = NewWorkspace("evaluate");
  json::object flag = json::parse(R"({
    "variations": [{"value": false, "name": "Off"}, {"value": true, "name": "On"}],
    "environments": {
      "prod": {"on": true,
               "rules": [{"id": "pro", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
                          "variation": 1}],
               "fallthrough": {"rollout": [{"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}},
      "staging": {"on": false, "off_variation": 0, "fallthrough": {"variation": 1}}},
    "reason": "setup"})").as_object();
  ASSERT_EQ(Api("PUT", base + "/flags/checkout", flag).status, 200);
  ASSERT_EQ(Api("PUT", base + "/flags/dev-only",
                json::object{{"variations", json::array{json::object{{"value", "a"}}}},
                             {"environments", {{"dev", {{"on", true}, {"fallthrough", {{"variation", 0}}}}}}},
                             {"reason", "setup"}})
                .status,
            200);
  auto evaluate = [&](const std::string& key, const json::value& context) {
    HttpReply r = Api("POST", base + "/flags/" + key + "/evaluate", json::object{{"context", context}});
    EXPECT_EQ(r.status, 200) << r.body;
    std::map<std::string, json::object> by_env;
    if (r.status != 200) return by_env;
    EXPECT_EQ(r.json.at("flag").as_string(), key);
    for (const json::value& e : r.json.at("environments").as_array()) {
      by_env[std::string(e.at("environment").as_string())] = e.as_object();
    }
    EXPECT_EQ(by_env.size(), 3u) << r.body;
    return by_env;
  };

  json::object pro{{"targetingKey", "user-1"}, {"plan", "pro"}};
  auto got = evaluate("checkout", pro);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got["prod"].at("value"), json::value(true));
  EXPECT_EQ(got["prod"].at("variant").as_string(), "On");
  EXPECT_EQ(got["prod"].at("reason").as_string(), "TARGETING_MATCH");
  EXPECT_EQ(got["prod"].at("rule_index").as_int64(), 0);
  EXPECT_EQ(got["prod"].at("rule_id").as_string(), "pro");
  EXPECT_EQ(got["staging"].at("value"), json::value(false));
  EXPECT_EQ(got["staging"].at("variant").as_string(), "Off");
  EXPECT_EQ(got["staging"].at("reason").as_string(), "DISABLED");
  EXPECT_EQ(got["dev"].at("reason").as_string(), "DISABLED") << "dev inherits staging's configuration";
  auto split = evaluate("checkout", json::object{{"targetingKey", "user-7"}});
  ASSERT_EQ(split.size(), 3u);
  EXPECT_EQ(split["prod"].at("reason").as_string(), "SPLIT");
  EXPECT_EQ(split["prod"].at("in_experiment"), json::value(true));

  auto only = evaluate("dev-only", json::object{{"targetingKey", "u"}});
  ASSERT_EQ(only.size(), 3u);
  EXPECT_EQ(only["dev"].at("value").as_string(), "a");
  EXPECT_EQ(only["prod"].at("reason").as_string(), "ERROR");
  EXPECT_EQ(only["prod"].at("error").at("code").as_string(), "FLAG_NOT_FOUND");

  // Delivery's OFREP answer for the same contexts, once prod's document at this head is out.
  HttpReply minted = Api("POST", base + "/environments/prod/sdk-keys", json::object{{"name", "eval"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  std::string sdk(minted.json.at("key").as_string());
  for (const json::object& context : {pro, json::object{{"targetingKey", "user-7"}},
                                      json::object{{"targetingKey", "user-8"}, {"plan", "free"}}}) {
    auto ours = evaluate("checkout", context)["prod"];
    HttpReply theirs;
    testing::PollUntil([&] {
      theirs = up_->Json("delivery", "POST", "/ofrep/v1/evaluate/flags/checkout", json::object{{"context", context}}, sdk);
      return theirs.status == 200 && theirs.json.at("metadata").at("version") == ours.at("version");
    }, 20000);
    ASSERT_EQ(theirs.status, 200) << theirs.body;
    EXPECT_EQ(theirs.json.at("value"), ours.at("value")) << json::serialize(context);
    EXPECT_EQ(theirs.json.at("variant"), ours.at("variant")) << json::serialize(context);
    EXPECT_EQ(theirs.json.at("reason"), ours.at("reason")) << json::serialize(context);
  }

  // A viewer may evaluate (read permission), an anonymous caller may not.
  std::string viewer = up_->TokenForNewUser("viewer-evaluate@example.com", "viewer");
  EXPECT_EQ(Api("POST", base + "/flags/checkout/evaluate", json::object{{"context", pro}}, viewer).status, 200);
  ExpectJsonError(up_->Call("api", "POST", base + "/flags/checkout/evaluate", "{}"), 401);
  // Another org's owner learns nothing: the answer is the one for a workspace that does not
  // exist, and names no flag, environment or value of this one.
  std::string stranger = testing::TokenForOwnerOfAnotherOrg(*up_, "evaluate-other");
  ASSERT_FALSE(stranger.empty());
  HttpReply foreign = Api("POST", base + "/flags/checkout/evaluate", json::object{{"context", pro}}, stranger);
  ExpectJsonError(foreign, 404);
  HttpReply missing = Api("POST", "/v1/workspaces/evaluate-none/flags/checkout/evaluate",
                          json::object{{"context", pro}}, stranger);
  ExpectJsonError(missing, 404);
  EXPECT_EQ(foreign.json.at("error").at("code"), missing.json.at("error").at("code"));
  for (const char* secret : {"prod", "staging", "TARGETING", "variant", "On"}) {
    EXPECT_EQ(foreign.body.find(secret), std::string::npos) << secret << " in " << foreign.body;
  }
  ExpectJsonError(Api("POST", base + "/flags/nope/evaluate", json::object{{"context", pro}}, stranger), 404);
}

TEST_F(ApiTest, EvaluateRejectsBadInput) {
  std::string base = NewWorkspace("evaluate-bad");
  ASSERT_EQ(Api("PUT", base + "/flags/f",
                json::object{{"variations", json::array{json::object{{"value", 1}}}},
                             {"environments", {{"prod", {{"on", true}, {"fallthrough", {{"variation", 0}}}}}}},
                             {"reason", "setup"}})
                .status,
            200);
  std::string target = base + "/flags/f/evaluate";
  ExpectJsonError(up_->Call("api", "POST", target, "not json", up_->admin_key()), 400);
  ExpectJsonError(Api("POST", target, json::array{1}), 400);
  ExpectJsonError(Api("POST", target, json::object{{"ctx", json::object{}}}), 400);
  ExpectJsonError(Api("POST", target, json::object{{"context", "user-1"}}), 400);
  ExpectJsonError(Api("POST", target, json::object{{"context", {{"targetingKey", 5}}}}), 400);
  ExpectJsonError(Api("POST", base + "/flags/nope/evaluate", json::object{{"context", json::object{}}}), 404);
  // No context at all is the empty context: the flag needs no key, so it evaluates.
  HttpReply ok = Api("POST", target, json::object{});
  ASSERT_EQ(ok.status, 200) << ok.body;
}

// Issue 13: an environment's name and protection change through PATCH, as one revision.
TEST_F(ApiTest, EnvironmentRenameAndProtectWriteOneRevisionEach) {
  std::string base = NewWorkspace("envpatch");
  int64_t head = Head(base);
  HttpReply renamed = Api("PATCH", base + "/environments/staging",
                          json::object{{"name", "Pre-production"}, {"reason", "clearer name"}}, "",
                          {{"If-Match", Quoted(head)}});
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(renamed.json.at("revision").as_int64(), head + 1);
  EXPECT_EQ(renamed.Header("ETag"), Quoted(head + 1));
  EXPECT_EQ(renamed.json.at("environment").at("name").as_string(), "Pre-production");
  EXPECT_EQ(renamed.json.at("environment").at("parent").as_string(), "prod");
  EXPECT_EQ(Environment(base, "staging").at("name").as_string(), "Pre-production");
  // In history like any write: kind environment, op update, before and after.
  HttpReply revs = Api("GET", base::StrCat(base, "/revisions?after=", std::to_string(head)));
  ASSERT_EQ(revs.json.at("revisions").as_array().size(), 1u) << revs.body;
  const json::value& rev = revs.json.at("revisions").as_array()[0];
  EXPECT_EQ(rev.at("kind").as_string(), "environment");
  EXPECT_EQ(rev.at("op").as_string(), "update");
  EXPECT_EQ(rev.at("key").as_string(), "staging");
  EXPECT_EQ(rev.at("reason").as_string(), "clearer name");
  EXPECT_EQ(rev.at("before").at("name").as_string(), "Staging");
  EXPECT_EQ(rev.at("after").at("name").as_string(), "Pre-production");
  // The same change again changes nothing and writes nothing.
  HttpReply again = Api("PATCH", base + "/environments/staging",
                        json::object{{"name", "Pre-production"}, {"protected", false}, {"reason", "again"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json.at("revision").as_int64(), head + 1);
  EXPECT_EQ(Head(base), head + 1);

  // Protecting staging makes its writes (and dev's inherited values from it) admin-only.
  std::string dev = up_->TokenForNewUser("dev-envpatch@example.com", "developer");
  ASSERT_FALSE(dev.empty());
  EXPECT_EQ(Api("PUT", base + "/configs/t", json::object{{"type", "integer"}, {"values", {{"staging", 1}}}, {"reason", "x"}}, dev)
                .status,
            200);
  HttpReply prot = Api("PATCH", base + "/environments/staging", json::object{{"protected", true}, {"reason", "freeze"}});
  ASSERT_EQ(prot.status, 200) << prot.body;
  EXPECT_TRUE(Environment(base, "staging").at("protected").as_bool());
  ExpectJsonError(Api("PUT", base + "/configs/t", json::object{{"type", "integer"}, {"values", {{"staging", 2}}}, {"reason", "x"}}, dev),
                  403);
  ASSERT_EQ(Api("PATCH", base + "/environments/staging", json::object{{"protected", false}, {"reason", "thaw"}}).status, 200);
  EXPECT_EQ(Api("PUT", base + "/configs/t", json::object{{"type", "integer"}, {"values", {{"staging", 2}}}, {"reason", "x"}}, dev)
                .status,
            200);

  // Bad input: 4xx naming the field, nothing written.
  head = Head(base);
  struct Case {
    std::string env;
    json::value body;
    int status;
    std::string says;
    std::vector<std::pair<std::string, std::string>> headers = {};
  };
  std::vector<Case> cases = {
      {"nope", json::object{{"name", "X"}, {"reason", "x"}}, 404, "nope"},
      {"dev", json::object{{"name", ""}, {"reason", "x"}}, 400, "name"},
      {"dev", json::object{{"name", "   "}, {"reason", "x"}}, 400, "name"},
      {"dev", json::object{{"name", std::string(101, 'n')}, {"reason", "x"}}, 400, "name"},
      {"dev", json::object{{"name", 5}, {"reason", "x"}}, 400, "name"},
      {"dev", json::object{{"protected", "yes"}, {"reason", "x"}}, 400, "protected"},
      {"dev", json::object{{"key", "development"}, {"reason", "x"}}, 400, "key cannot change"},
      {"prod", json::object{{"parent", "dev"}, {"reason", "x"}}, 400, "cycle"},
      {"dev", json::object{{"parent", "nope"}, {"reason", "x"}}, 400, "unknown environment"},
      {"dev", json::object{{"parent", 3}, {"reason", "x"}}, 400, "parent"},
      {"dev", json::object{{"colour", "red"}, {"reason", "x"}}, 400, "colour"},
      {"dev", json::object{{"policy", json::object{}}, {"reason", "x"}}, 400, "policy"},
      {"dev", json::object{{"name", "Dev 2"}}, 400, "reason"},
      {"dev", json::array{1}, 400, ""},
      {"dev", json::object{{"name", "Dev 2"}, {"reason", "x"}}, 412, "stale", {{"If-Match", Quoted(head - 1)}}},
  };
  for (const Case& c : cases) {
    HttpReply r = Api("PATCH", base + "/environments/" + c.env, c.body, "", c.headers);
    ExpectJsonError(r, c.status);
    EXPECT_NE(r.body.find(c.says), std::string::npos) << json::serialize(c.body) << " → " << r.body;
  }
  EXPECT_EQ(Head(base), head);
  EXPECT_EQ(Environment(base, "dev").at("name").as_string(), "Dev");
}

// Issue 13: changing an environment is an admin action however it is reached — the PATCH
// itself, a revert of it, a rollback across it — and another org cannot even see it.
// PATCH /v1/workspaces/{ws}: an admin changes the display name (never the key), with a
// reason, recorded in the activity; developers, viewers and another org's owner cannot,
// and bad bodies change nothing. The CLI's `ws rename` does the same.
TEST_F(ApiTest, WorkspaceRenameNeedsAdminAndKeepsTheKey) {
  std::string base = NewWorkspace("renamable");
  std::string dev = up_->TokenForNewUser("dev-rename@example.com", "developer");
  std::string viewer = up_->TokenForNewUser("viewer-rename@example.com", "viewer");
  std::string stranger = testing::TokenForOwnerOfAnotherOrg(*up_, "rename-other");
  ASSERT_FALSE(dev.empty());
  ASSERT_FALSE(viewer.empty());
  ASSERT_FALSE(stranger.empty());
  json::object rename{{"name", "Storefront"}, {"reason", "the team's name for it"}};
  ExpectJsonError(Api("PATCH", base, rename, dev), 403);
  ExpectJsonError(Api("PATCH", base, rename, viewer), 403);
  ExpectJsonError(Api("PATCH", base, rename, stranger), 404);
  ExpectJsonError(Api("PATCH", base, json::object{{"name", "Storefront"}}), 400);  // no reason
  ExpectJsonError(Api("PATCH", base, json::object{{"name", ""}, {"reason", "x"}}), 400);
  ExpectJsonError(Api("PATCH", base, json::object{{"name", std::string(201, 'n')}, {"reason", "x"}}), 400);
  ExpectJsonError(Api("PATCH", base, json::object{{"reason", "x"}}), 400);  // no name
  ExpectJsonError(Api("PATCH", base, json::object{{"name", "x"}, {"key", "other"}, {"reason", "x"}}), 400);
  ExpectJsonError(Api("PATCH", "/v1/workspaces/renamable-none", rename), 404);
  EXPECT_EQ(Api("GET", base).json.at("name").as_string(), "renamable");

  HttpReply renamed = Api("PATCH", base, rename);
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(renamed.json.at("name").as_string(), "Storefront");
  EXPECT_EQ(renamed.json.at("key").as_string(), "renamable");
  HttpReply got = Api("GET", base);
  EXPECT_EQ(got.json.at("name").as_string(), "Storefront");
  bool listed = false;
  HttpReply list = Api("GET", "/v1/workspaces");
  ASSERT_EQ(list.status, 200) << list.body;
  for (const json::value& w : list.json.at("workspaces").as_array()) {
    if (w.at("key").as_string() == "renamable") listed = w.at("name").as_string() == "Storefront";
  }
  EXPECT_TRUE(listed);
  HttpReply activity = Api("GET", base + "/activity");
  ASSERT_EQ(activity.status, 200) << activity.body;
  bool recorded = false;
  for (const json::value& a : activity.json.at("activity").as_array()) {
    if (a.as_object().contains("action") && a.at("action") == "workspace.rename") {
      recorded = true;
      EXPECT_EQ(a.at("details").at("previous_name").as_string(), "renamable");
      EXPECT_EQ(a.at("details").at("name").as_string(), "Storefront");
      EXPECT_EQ(a.at("details").at("reason").as_string(), "the team's name for it");
    }
  }
  EXPECT_TRUE(recorded) << activity.body;

  testing::CommandResult cli = testing::RunEdgevault(
      "ws rename renamable 'Storefront EU' -m 'moved to the EU team'",
      base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                   " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(cli.code, 0) << cli.out;
  EXPECT_NE(cli.out.find("Storefront EU"), std::string::npos) << cli.out;
  EXPECT_EQ(Api("GET", base).json.at("name").as_string(), "Storefront EU");
  testing::CommandResult refused = testing::RunEdgevault(
      "ws rename renamable 'Mine' -m 'x'",
      base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")), " EDGEVAULT_TOKEN=", dev,
                   " EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_NE(refused.code, 0) << refused.out;
  EXPECT_EQ(Api("GET", base).json.at("name").as_string(), "Storefront EU");
}

// Issue 17: DELETE /v1/workspaces/{ws} with the key typed again, a grace period, restore,
// and ?purge=now of a deleted one. Only org admins; another org's owner cannot even see it;
// bad bodies change nothing; while deleted, nothing of it is readable, writable or served
// by delivery. The CLI's `ws delete / restore / list --deleted` does the same.
TEST_F(ApiTest, WorkspaceDeleteRestoreAndPurge) {
  std::string base = NewWorkspace("doomed");
  ASSERT_EQ(Api("PUT", base + "/configs/limit",
                json::object{{"type", "integer"}, {"values", {{"dev", 5}}}, {"reason", "setup"}})
                .status,
            200);
  HttpReply minted = Api("POST", base + "/environments/dev/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());
  auto delivery = [&] { return up_->Call("delivery", "GET", "/v1/config", "", sdk_key).status; };
  ASSERT_TRUE(testing::PollUntil([&] { return delivery() == 200; }, 10000));
  std::string dev = up_->TokenForNewUser("dev-wsdel@example.com", "developer");
  std::string viewer = up_->TokenForNewUser("viewer-wsdel@example.com", "viewer");
  std::string stranger = testing::TokenForOwnerOfAnotherOrg(*up_, "wsdel-other");
  ASSERT_FALSE(dev.empty());
  ASSERT_FALSE(viewer.empty());
  ASSERT_FALSE(stranger.empty());

  json::object del{{"reason", "shop closed"}, {"confirm", "doomed"}};
  ExpectJsonError(Api("DELETE", base, del, dev), 403);
  ExpectJsonError(Api("DELETE", base, del, viewer), 403);
  ExpectJsonError(Api("DELETE", base, del, stranger), 404);
  ExpectJsonError(Api("DELETE", base, json::object{{"reason", "x"}}), 400);  // no confirm
  ExpectJsonError(Api("DELETE", base, json::object{{"reason", "x"}, {"confirm", "Doomed"}}), 400);
  ExpectJsonError(Api("DELETE", base, json::object{{"reason", "x"}, {"confirm", 1}}), 400);
  ExpectJsonError(Api("DELETE", base, json::object{{"confirm", "doomed"}}), 400);  // no reason
  ExpectJsonError(Api("DELETE", base, json::object{{"reason", "x"}, {"confirm", "doomed"}, {"grace", 0}}), 400);
  ExpectJsonError(Api("DELETE", base + "?purge=later", del), 400);
  ExpectJsonError(Api("DELETE", base + "?purge=now", del), 409);  // a live workspace is never purged at once
  ExpectJsonError(Api("DELETE", "/v1/workspaces/doomed-none", del), 404);
  ExpectJsonError(Api("GET", "/v1/workspaces?include_deleted=true", nullptr, dev), 403);
  ASSERT_EQ(Api("GET", base).status, 200);
  ASSERT_EQ(delivery(), 200);

  HttpReply deleted = Api("DELETE", base, del);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.json.at("key").as_string(), "doomed");
  absl::Time at, purge;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, std::string(deleted.json.at("deleted_at").as_string()), &at, &err));
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, std::string(deleted.json.at("purge_after").as_string()), &purge, &err));
  EXPECT_EQ(purge - at, absl::Hours(24 * 7));  // workspaces.delete_grace_days' default
  // Delivery refuses its SDK key at once; nothing of it is readable or writable.
  EXPECT_EQ(delivery(), 401);
  ExpectJsonError(Api("GET", base), 404);
  ExpectJsonError(Api("GET", base + "/configs/limit"), 404);
  ExpectJsonError(Api("GET", base + "/environments/dev/resolved"), 404);
  ExpectJsonError(Api("PUT", base + "/configs/limit",
                      json::object{{"type", "integer"}, {"values", {{"dev", 6}}}, {"reason", "x"}}),
                  404);
  ExpectJsonError(Api("POST", base + "/environments/dev/sdk-keys", json::object{{"name", "again"}}), 404);
  ExpectJsonError(Api("DELETE", base, del), 409);  // deleted already
  auto listed = [&](const std::string& target, std::string* purge_after) {
    HttpReply list = Api("GET", target);
    EXPECT_EQ(list.status, 200) << list.body;
    if (list.status != 200) return false;
    for (const json::value& w : list.json.at("workspaces").as_array()) {
      if (w.at("key").as_string() != "doomed") continue;
      if (purge_after != nullptr && w.as_object().contains("purge_after")) {
        *purge_after = std::string(w.at("purge_after").as_string());
      }
      return true;
    }
    return false;
  };
  EXPECT_FALSE(listed("/v1/workspaces", nullptr));
  std::string listed_purge;
  EXPECT_TRUE(listed("/v1/workspaces?include_deleted=true", &listed_purge));
  EXPECT_EQ(listed_purge, std::string(deleted.json.at("purge_after").as_string()));

  // Restore: admins of the org only, with a reason; everything is served again.
  json::object restore{{"reason", "reopened"}};
  ExpectJsonError(Api("POST", base + "/restore", restore, dev), 403);
  ExpectJsonError(Api("POST", base + "/restore", restore, stranger), 404);
  ExpectJsonError(Api("POST", base + "/restore", json::object{}), 400);
  ASSERT_EQ(delivery(), 401);
  HttpReply restored = Api("POST", base + "/restore", restore);
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_FALSE(restored.json.as_object().contains("purge_after"));
  EXPECT_TRUE(testing::PollUntil([&] { return delivery() == 200; }, 10000));
  EXPECT_EQ(Api("GET", base + "/configs/limit").status, 200);
  ExpectJsonError(Api("POST", base + "/restore", restore), 409);  // not deleted
  HttpReply activity = Api("GET", base + "/activity");
  ASSERT_EQ(activity.status, 200) << activity.body;
  for (const char* action : {"workspace.create", "workspace.delete", "workspace.restore"}) {
    EXPECT_NE(activity.body.find(std::string("\"") + action + "\""), std::string::npos) << action << activity.body;
  }

  // The CLI: delete (--yes for a script), list --deleted, and purge now.
  const std::string cli_env = base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                                           " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent");
  testing::CommandResult no_yes = testing::RunEdgevault("ws delete doomed -m 'closing' </dev/null", cli_env);
  EXPECT_NE(no_yes.code, 0) << no_yes.out;
  EXPECT_EQ(Api("GET", base).status, 200);  // nothing changed without --yes and no terminal
  testing::CommandResult cli = testing::RunEdgevault("ws delete doomed -m 'closing' --yes", cli_env);
  EXPECT_EQ(cli.code, 0) << cli.out;
  EXPECT_NE(cli.out.find("edgevault ws restore doomed"), std::string::npos) << cli.out;
  EXPECT_EQ(delivery(), 401);
  testing::CommandResult list = testing::RunEdgevault("ws list --deleted", cli_env);
  EXPECT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("deleted, purged"), std::string::npos) << list.out;
  // Purge now: its audit events reach the queue first, so a purge may have to wait a moment.
  HttpReply purged;
  EXPECT_TRUE(testing::PollUntil([&] {
    purged = Api("DELETE", base + "?purge=now", json::object{{"reason", "no way back"}, {"confirm", "doomed"}});
    return purged.status != 409;
  }, 10000));
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_FALSE(listed("/v1/workspaces?include_deleted=true", nullptr));
  ExpectJsonError(Api("POST", base + "/restore", restore), 404);
  EXPECT_TRUE(testing::PollUntil([&] {
    return testing::CountAuditLines(up_->data_dir(), "workspace.purge", {"no way back"}) == 1;
  }, 10000));
  EXPECT_FALSE(std::filesystem::exists(up_->data_dir() + "/workspaces/" +
                                       std::string(deleted.json.at("id").as_string()) + ".db"));
  // The key is free again.
  EXPECT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "doomed"}}).status, 201);
}

TEST_F(ApiTest, EnvironmentChangesNeedAdminOnEveryPath) {
  std::string base = NewWorkspace("envauthz");
  std::string dev = up_->TokenForNewUser("dev-envauthz@example.com", "developer");
  std::string viewer = up_->TokenForNewUser("viewer-envauthz@example.com", "viewer");
  std::string stranger = testing::TokenForOwnerOfAnotherOrg(*up_, "envauthz-other");
  ASSERT_FALSE(dev.empty());
  ASSERT_FALSE(viewer.empty());
  ASSERT_FALSE(stranger.empty());
  int64_t head = Head(base);
  ExpectJsonError(Api("PATCH", base + "/environments/prod", json::object{{"protected", false}, {"reason", "x"}}, dev), 403);
  ExpectJsonError(Api("PATCH", base + "/environments/dev", json::object{{"name", "Mine"}, {"reason", "x"}}, dev), 403);
  ExpectJsonError(Api("PATCH", base + "/environments/dev", json::object{{"protected", true}, {"reason", "x"}}, dev), 403);
  ExpectJsonError(Api("PATCH", base + "/environments/dev", json::object{{"name", "Mine"}, {"reason", "x"}}, viewer), 403);
  // Another org's owner: the same 404 as for a workspace that does not exist.
  HttpReply foreign = Api("PATCH", base + "/environments/prod", json::object{{"protected", false}, {"reason", "x"}}, stranger);
  ExpectJsonError(foreign, 404);
  HttpReply missing = Api("PATCH", "/v1/workspaces/envauthz-none/environments/prod",
                          json::object{{"protected", false}, {"reason", "x"}}, stranger);
  ExpectJsonError(missing, 404);
  EXPECT_EQ(foreign.json.at("error").at("code"), missing.json.at("error").at("code"));
  EXPECT_EQ(Head(base), head);
  EXPECT_TRUE(Environment(base, "prod").at("protected").as_bool());
  EXPECT_EQ(Environment(base, "dev").at("name").as_string(), "Dev");

  // Revert of a protect revision: a developer may revert writes, but not this one.
  ASSERT_EQ(Api("PATCH", base + "/environments/dev", json::object{{"protected", true}, {"reason", "freeze"}}).status, 200);
  int64_t protect_rev = Head(base);
  std::string revert = base::StrCat(base, "/revisions/", std::to_string(protect_rev), "/revert");
  ExpectJsonError(Api("POST", revert, json::object{{"reason", "undo"}}, dev), 403);
  ExpectJsonError(Api("POST", revert, json::object{{"reason", "undo"}}, viewer), 403);
  ExpectJsonError(Api("POST", revert, json::object{{"reason", "undo"}}, stranger), 404);
  EXPECT_EQ(Head(base), protect_rev);
  EXPECT_TRUE(Environment(base, "dev").at("protected").as_bool());
  HttpReply reverted = Api("POST", revert, json::object{{"reason", "undo"}});
  ASSERT_EQ(reverted.status, 200) << reverted.body;
  EXPECT_FALSE(Environment(base, "dev").at("protected").as_bool());
  HttpReply revs = Api("GET", base::StrCat(base, "/revisions?after=", std::to_string(protect_rev)));
  ASSERT_EQ(revs.json.at("revisions").as_array().size(), 1u) << revs.body;
  EXPECT_EQ(revs.json.at("revisions").as_array()[0].at("op").as_string(), "revert");
  // A second revert of the same revision has nothing to do; an environment's creation
  // (revision 1 of this workspace) cannot be reverted.
  ExpectJsonError(Api("POST", revert, json::object{{"reason", "again"}}), 409);
  ExpectJsonError(Api("POST", base + "/revisions/1/revert", json::object{{"reason", "x"}}), 409);

  // Rollback across a rename: a developer's rollback is refused, an admin's restores it.
  int64_t before_rename = Head(base);
  ASSERT_EQ(Api("PATCH", base + "/environments/dev", json::object{{"name", "Sandbox"}, {"reason", "rename"}}).status, 200);
  int64_t renamed = Head(base);
  ExpectJsonError(Api("POST", base + "/rollback", json::object{{"to_revision", before_rename}, {"reason", "x"}}, dev), 403);
  ExpectJsonError(Api("POST", base + "/rollback",
                      json::object{{"to_revision", before_rename}, {"reason", "x"}, {"dry_run", true}}, dev),
                  403);  // a dry run is authorized like the rollback
  EXPECT_EQ(Head(base), renamed);
  EXPECT_EQ(Environment(base, "dev").at("name").as_string(), "Sandbox");
  HttpReply rb = Api("POST", base + "/rollback", json::object{{"to_revision", before_rename}, {"reason", "restore"}});
  ASSERT_EQ(rb.status, 200) << rb.body;
  EXPECT_EQ(rb.json.at("revisions_written").as_int64(), 1);
  EXPECT_EQ(Environment(base, "dev").at("name").as_string(), "Dev");
  // Rolling back to before the environments existed keeps them (they are not deleted).
  HttpReply to_zero = Api("POST", base + "/rollback", json::object{{"to_revision", 0}, {"reason", "x"}});
  ASSERT_EQ(to_zero.status, 200) << to_zero.body;
  EXPECT_EQ(to_zero.json.at("revisions_written").as_int64(), 0);
  EXPECT_EQ(Environment(base, "prod").at("name").as_string(), "Production");
}

TEST_F(ApiTest, SdkKeyIsPublishedToTheEdgeKv) {
  std::string base = NewWorkspace("sdk");
  HttpReply r = Api("POST", base + "/environments/dev/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::string key(r.json.at("key").as_string());
  EXPECT_EQ(key.rfind("evs_", 0), 0u);
  storage::LmdbEdgeKvOptions o;
  o.path = up_->data_dir() + "/edge";
  o.read_only = true;
  auto kv = storage::OpenLmdbEdgeKv(o);
  ASSERT_TRUE(kv.ok()) << kv.status();
  auto entry = (*kv)->Get("sdk/" + crypto::Sha256Hex(key));
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_NE(entry->value.find("\"environment\":\"dev\""), std::string::npos);
  HttpReply act = Api("GET", base + "/activity");
  EXPECT_NE(act.body.find("workspace.sdk_key.create"), std::string::npos);
  EXPECT_EQ(act.body.find(key), std::string::npos);  // the key itself is never recorded
}

TEST_F(ApiTest, ConcurrentWritersGetGaplessRevisionsAndKvCatchesUp) {
  std::string base = NewWorkspace("storm");
  std::string other = NewWorkspace("storm2");
  int64_t start = Head(base);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = base::StrCat("k", std::to_string(t));
        HttpReply r = Api("PUT", base + "/configs/" + key,
                          json::object{{"type", "integer"}, {"values", {{"dev", i}}}, {"reason", "storm"}});
        if (r.status != 200) ++failures;
      }
    });
  }
  // A writer to another workspace is not serialised behind the storm.
  HttpReply side = Api("PUT", other + "/configs/x", json::object{{"type", "integer"}, {"values", {{"dev", 1}}}, {"reason", "side"}});
  EXPECT_EQ(side.status, 200);
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  int64_t head = Head(base);
  EXPECT_EQ(head, start + 1600);
  std::set<int64_t> seqs;
  for (int64_t after = start;;) {
    HttpReply page = Api("GET", base::StrCat(base, "/revisions?limit=1000&after=", std::to_string(after)));
    const auto& arr = page.json.at("revisions").as_array();
    if (arr.empty()) break;
    for (const auto& rev : arr) seqs.insert(rev.at("seq").as_int64());
    after = arr.back().at("seq").as_int64();
  }
  ASSERT_EQ(static_cast<int64_t>(seqs.size()), 1600);
  EXPECT_EQ(*seqs.begin(), start + 1);
  EXPECT_EQ(*seqs.rbegin(), start + 1600);
  // Propagation catches up: the KV holds every environment at the head.
  std::string ws_id(Api("GET", base).json.at("id").as_string());
  storage::LmdbEdgeKvOptions o;
  o.path = up_->data_dir() + "/edge";
  o.read_only = true;
  auto kv = storage::OpenLmdbEdgeKv(o);
  ASSERT_TRUE(kv.ok());
  for (const char* env : {"prod", "staging", "dev"}) {
    int64_t version = -1;
    testing::PollUntil([&] {
      auto v = (*kv)->GetVersion("doc/" + ws_id + "/" + env);
      version = v.ok() ? *v : -1;
      return version == head;
    }, 10000);
    EXPECT_EQ(version, head) << env;
  }
}

// Issue 7: every write, secret read and denied request reaches the warehouse exactly once.
TEST_F(ApiTest, WritesSecretReadsAndDenialsReachTheAuditWarehouseOnce) {
  std::string base = NewWorkspace("audited");
  std::string ws_id(Api("GET", base).json.at("id").as_string());
  ASSERT_EQ(Api("PUT", base + "/configs/a", json::object{{"type", "integer"}, {"values", {{"dev", 1}}}, {"reason", "one"}}).status, 200);
  ASSERT_EQ(Api("PUT", base + "/configs/a", json::object{{"type", "integer"}, {"values", {{"dev", 2}}}, {"reason", "two"}}).status, 200);
  ASSERT_EQ(Api("PUT", base + "/secrets/s", json::object{{"values", {{"dev", "audit-marker-value"}}}, {"reason", "s"}}).status, 200);
  ASSERT_EQ(Api("GET", base + "/environments/dev/secrets/s").status, 200);
  ExpectJsonError(Api("PUT", base + "/configs/a", json::object{{"type", "integer"}, {"values", {{"dev", 3}}}, {"reason", "x"}},
                      "evk_denied-on-purpose"),
                  401);
  auto count = [&](std::string_view action, std::string_view needle) {
    int n = 0;
    std::string root = up_->data_dir() + "/audit/warehouse";
    if (!std::filesystem::exists(root)) return 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (entry.path().extension() != ".ndjson") continue;
      std::ifstream f(entry.path());
      for (std::string line; std::getline(f, line);) {
        if (line.find(base::StrCat("\"action\":\"", action, "\"")) != std::string::npos &&
            line.find(needle) != std::string::npos) {
          ++n;
        }
      }
    }
    return n;
  };
  testing::PollUntil([&] {
    return count("workspace.config.create", ws_id) == 1 && count("workspace.config.update", ws_id) == 1 &&
           count("workspace.secret.create", ws_id) == 1 && count("workspace.secret.read", ws_id) == 1 &&
           count("api.request.denied", "/v1/workspaces/{ws}/configs/{key}") >= 1;
  }, 20000);
  EXPECT_EQ(count("workspace.config.create", ws_id), 1);
  EXPECT_EQ(count("workspace.config.update", ws_id), 1);
  EXPECT_EQ(count("workspace.secret.create", ws_id), 1);
  EXPECT_EQ(count("workspace.secret.read", ws_id), 1);
  EXPECT_GE(count("api.request.denied", "/v1/workspaces/{ws}/configs/{key}"), 1);
  EXPECT_EQ(count("workspace.secret.read", "audit-marker-value"), 0);  // never the value
  std::string cmd = base::StrCat(testing::BinDir(), "/edgevault audit verify --data-dir ", up_->data_dir(), " >/dev/null 2>&1");
  EXPECT_EQ(::system(cmd.c_str()), 0);
}

TEST(ApiEntitlementsTest, OrgLimitsAreEnforcedWithAClearMessage) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  auto api = [&](std::string method, std::string target, const json::value& body) {
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "first"}}).status, 201);
  // The operator lowers the org's entitlements in the control DB (shared with auth and api).
  auto control = storage::OpenSqliteControlStore({up->data_dir() + "/control.db", base::Env::Default()});
  ASSERT_TRUE(control.ok()) << control.status();
  storage::Org org = *(*control)->GetOrgByName("default");
  ASSERT_TRUE((*control)->SetEntitlements(org.id, {1, 1, 1}).ok());
  HttpReply ws = api("POST", "/v1/workspaces", json::object{{"key", "second"}});
  EXPECT_EQ(ws.status, 403) << ws.body;
  EXPECT_EQ(ws.json.at("error").at("code").as_string(), "entitlement_exceeded");
  ASSERT_EQ(api("POST", "/v1/workspaces/first/environments", json::object{{"key", "prod"}, {"name", "P"}, {"reason", "x"}}).status,
            201);
  HttpReply env = api("POST", "/v1/workspaces/first/environments", json::object{{"key", "dev"}, {"name", "D"}, {"reason", "x"}});
  EXPECT_EQ(env.status, 403) << env.body;
  ASSERT_EQ(api("PUT", "/v1/workspaces/first/configs/a", json::object{{"type", "string"}, {"values", {{"prod", "x"}}}, {"reason", "x"}})
                .status,
            200);
  HttpReply item = api("PUT", "/v1/workspaces/first/configs/b",
                       json::object{{"type", "string"}, {"values", {{"prod", "x"}}}, {"reason", "x"}});
  EXPECT_EQ(item.status, 403) << item.body;
  EXPECT_NE(item.body.find("items per workspace"), std::string::npos) << item.body;
  // Updating an existing item is not a new item: still allowed.
  EXPECT_EQ(api("PUT", "/v1/workspaces/first/configs/a", json::object{{"type", "string"}, {"values", {{"prod", "y"}}}, {"reason", "x"}})
                .status,
            200);
}

TEST_F(ApiTest, EventsStreamEveryNewRevisionAndResumes) {
  std::string base = NewWorkspace("events");
  auto open_stream = [&](const std::string& last_event_id) {
    int fd = testing::ConnectLoopback(up_->port("api"));
    EXPECT_GE(fd, 0);
    std::string req = base::StrCat("GET ", base, "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ",
                                   up_->admin_key(), "\r\n");
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    ::send(fd, req.data(), req.size(), 0);
    return fd;
  };
  int fd = open_stream("");
  std::string got;
  testing::ReadUntil(fd, got, ": connected");
  ASSERT_NE(got.find("text/event-stream"), std::string::npos) << got;
  ASSERT_EQ(Api("PUT", base + "/configs/live", json::object{{"type", "string"}, {"values", {{"dev", "v1"}}}, {"reason", "watch me"}})
                .status,
            200);
  int64_t head = Head(base);
  testing::ReadUntil(fd, got, "watch me");
  EXPECT_NE(got.find("event: revision"), std::string::npos) << got;
  EXPECT_NE(got.find(base::StrCat("id: ", std::to_string(head))), std::string::npos) << got;
  ::close(fd);
  // Resume: a client that saw revision head-1 gets head again on reconnect.
  int fd2 = open_stream(std::to_string(head - 1));
  std::string again;
  testing::ReadUntil(fd2, again, "watch me");
  EXPECT_NE(again.find("watch me"), std::string::npos) << again;
  ::close(fd2);
  // Without a token: 401, no stream.
  HttpReply denied = up_->Call("api", "GET", base + "/events");
  EXPECT_EQ(denied.status, 401);
}

// kill -9 of the api during a write storm: every write that got a 2xx survives, the
// revisions stay gapless, and after the restart the KV holds every environment's latest.
TEST(ApiCrashTest, Kill9DuringWriteStormLosesNothingAcknowledged) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  auto api = [&](std::string method, std::string target, const json::value& body) {
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "crash"}}).status, 201);
  ASSERT_EQ(api("POST", "/v1/workspaces/crash/environments",
                json::object{{"key", "prod"}, {"name", "P"}, {"reason", "setup"}})
                .status,
            201);
  std::mutex mu;
  std::set<std::string> acknowledged;
  testing::LoadThreads writers;
  for (int t = 0; t < 4; ++t) {
    writers.Add([&, t] {
      for (int i = 0; !writers.stopping(); ++i) {
        std::string key = base::StrCat("t", std::to_string(t), "-", std::to_string(i));
        HttpReply r = api("PUT", "/v1/workspaces/crash/configs/" + key,
                          json::object{{"type", "integer"}, {"values", {{"prod", i}}}, {"reason", "storm"}});
        if (r.status == 200) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.insert(key);
        }
      }
    });
  }
  // Each phase waits for writes to be acknowledged rather than for a time: `more(n)` is
  // true once n more writes were acknowledged (the deadline only bounds a failure).
  auto acknowledged_count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acknowledged.size();
  };
  auto more = [&](size_t n) {
    const size_t target = acknowledged_count() + n;
    return testing::PollUntil([&] { return acknowledged_count() >= target; }, 60000);
  };
  ASSERT_TRUE(more(20));
  // The audit consumer and auth (its relay) die mid-storm too.
  for (const char* service : {"audit", "auth"}) {
    pid_t pid = up->ServicePid(service);
    ASSERT_GT(pid, 0);
    ::kill(pid, SIGKILL);
  }
  // Writes need auth (API-key check), so these land once `up` restarted it.
  ASSERT_TRUE(more(20));
  pid_t victim = up->ServicePid("api");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  // `up` restarts it; writes resume once it is back.
  ASSERT_TRUE(testing::PollUntil([&] { return up->ServicePid("api") != victim; }, 60000));
  ASSERT_TRUE(up->WaitHealthy("api", 30000));
  ASSERT_TRUE(more(20));
  writers.StopAndJoin();
  ASSERT_GE(acknowledged.size(), 60u);

  HttpReply items = api("GET", "/v1/workspaces/crash/configs", nullptr);
  std::set<std::string> present;
  for (const auto& item : items.json.at("items").as_array()) present.insert(std::string(item.at("key").as_string()));
  for (const auto& key : acknowledged) EXPECT_TRUE(present.count(key)) << key << " was acknowledged but is gone";
  int64_t head = up->Json("api", "GET", "/v1/workspaces/crash", nullptr, up->admin_key()).json.at("revision").as_int64();
  int64_t expected = 1;
  for (int64_t after = 0;;) {
    HttpReply page = api("GET", base::StrCat("/v1/workspaces/crash/revisions?limit=1000&after=", std::to_string(after)), nullptr);
    const auto& arr = page.json.at("revisions").as_array();
    if (arr.empty()) break;
    for (const auto& rev : arr) EXPECT_EQ(rev.at("seq").as_int64(), expected++);
    after = arr.back().at("seq").as_int64();
  }
  EXPECT_EQ(expected - 1, head);
  std::string ws_id(api("GET", "/v1/workspaces/crash", nullptr).json.at("id").as_string());
  storage::LmdbEdgeKvOptions o;
  o.path = up->data_dir() + "/edge";
  o.read_only = true;
  auto kv = storage::OpenLmdbEdgeKv(o);
  ASSERT_TRUE(kv.ok());
  int64_t version = -1;
  testing::PollUntil([&] {
    auto v = (*kv)->GetVersion("doc/" + ws_id + "/prod");
    version = v.ok() ? *v : -1;
    return version == head;
  }, 10000);
  EXPECT_EQ(version, head);

  // Audit: every acknowledged write has exactly one line in the warehouse, no write has
  // two, and the chain verifies.
  ASSERT_TRUE(up->WaitHealthy("audit", 30000));
  auto audited = [&] {
    std::map<std::string, int> counts;
    std::string root = up->data_dir() + "/audit/warehouse";
    if (!std::filesystem::exists(root)) return counts;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (entry.path().extension() != ".ndjson") continue;
      std::ifstream f(entry.path());
      for (std::string line; std::getline(f, line);) {
        if (line.find("\"action\":\"workspace.config.create\"") == std::string::npos) continue;
        size_t at = line.find("\"key\":\"");
        if (at == std::string::npos) continue;
        at += 7;
        counts[line.substr(at, line.find('"', at) - at)]++;
      }
    }
    return counts;
  };
  std::map<std::string, int> counts;
  testing::PollUntil([&] {
    counts = audited();
    bool all = true;
    for (const auto& key : acknowledged) all = all && counts.count(key);
    return all;
  }, 30000);
  for (const auto& key : acknowledged) EXPECT_EQ(counts[key], 1) << key;
  for (const auto& [key, n] : counts) EXPECT_EQ(n, 1) << key << " audited " << n << " times";
  std::string cmd = base::StrCat(testing::BinDir(), "/edgevault audit verify --data-dir ", up->data_dir(),
                                 " >/dev/null 2>&1");
  EXPECT_EQ(::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace edgevault
