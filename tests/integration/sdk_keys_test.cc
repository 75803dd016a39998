// SDK key lifecycle through the real binaries: mint through the api, serve through
// delivery, list (never the key), revoke — after which delivery refuses the key on its
// next request — with the permission and bad-input paths, and the CLI commands.
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

class SdkKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_ = EdgeVaultUp::Start();
    ASSERT_NE(up_, nullptr);
    ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
    ASSERT_EQ(Api("POST", "/v1/workspaces/shop/environments",
                  json::object{{"key", "prod"}, {"name", "Prod"}, {"protected", true}, {"reason", "setup"}})
                  .status,
              201);
    ASSERT_EQ(Api("POST", "/v1/workspaces/shop/environments",
                  json::object{{"key", "dev"}, {"name", "Dev"}, {"parent", "prod"}, {"reason", "setup"}})
                  .status,
              201);
    ASSERT_EQ(Api("PUT", "/v1/workspaces/shop/configs/greeting",
                  json::object{{"type", "string"}, {"values", {{"prod", "hello"}}}, {"reason", "setup"}})
                  .status,
              200);
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr,
                std::string bearer = "") {
    if (bearer.empty()) bearer = up_->admin_key();
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", bearer);
    return up_->Json("api", std::move(method), std::move(target), body, bearer);
  }

  // GET /v1/config from delivery with `key`, waiting (bounded) for the first document.
  int DeliveryStatus(const std::string& key) {
    HttpReply r;
    testing::PollUntil([&] {
      r = up_->Call("delivery", "GET", "/v1/config", "", key);
      return r.status != 404;
    }, 10000);
    return r.status;
  }

  std::string Cli(const std::string& args, int* code) {
    testing::CommandResult r = testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
    *code = r.code;
    return r.out;
  }

  std::unique_ptr<EdgeVaultUp> up_;
};

// Regression (issue 12 §20): an empty name reached auth, which refused it, and the api
// answered 503 as if auth were down. Bad input is a 400 that names the field, and no key
// is minted.
TEST_F(SdkKeysTest, AnEmptyNameIsA400) {
  HttpReply before = Api("GET", "/v1/workspaces/shop/sdk-keys");
  ASSERT_EQ(before.status, 200) << before.body;
  for (const char* name : {"", "   "}) {
    HttpReply r = Api("POST", "/v1/workspaces/shop/environments/dev/sdk-keys", json::object{{"name", name}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("name"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Api("POST", "/v1/workspaces/shop/environments/dev/sdk-keys", json::object{{"name", 7}}).status, 400);
  HttpReply after = Api("GET", "/v1/workspaces/shop/sdk-keys");
  EXPECT_EQ(after.json.at("sdk_keys").as_array().size(), before.json.at("sdk_keys").as_array().size());
}

TEST_F(SdkKeysTest, ListRevokeAndDeliveryRefusesARevokedKey) {
  HttpReply minted = Api("POST", "/v1/workspaces/shop/environments/dev/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  std::string key(minted.json.at("key").as_string()), id(minted.json.at("id").as_string());
  HttpReply other = Api("POST", "/v1/workspaces/shop/environments/prod/sdk-keys", json::object{{"name", "server"}});
  ASSERT_EQ(other.status, 201) << other.body;
  std::string other_key(other.json.at("key").as_string());
  EXPECT_EQ(DeliveryStatus(key), 200);
  EXPECT_EQ(DeliveryStatus(other_key), 200);

  // A viewer may list; the listing never shows a key or its hash.
  std::string viewer = up_->TokenForNewUser("viewer@example.com", "viewer");
  HttpReply list = Api("GET", "/v1/workspaces/shop/sdk-keys", nullptr, viewer);
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json.at("sdk_keys").as_array().size(), 2u);
  const json::object& first = list.json.at("sdk_keys").as_array()[0].as_object();
  EXPECT_EQ(first.at("id").as_string(), id);
  EXPECT_EQ(first.at("environment").as_string(), "dev");
  EXPECT_EQ(first.at("name").as_string(), "web");
  EXPECT_TRUE(first.at("revoked_at").is_null());
  EXPECT_EQ(list.body.find(key), std::string::npos);
  EXPECT_EQ(list.body.find("key_hash"), std::string::npos);

  // Who may not revoke, and what is not there: nothing changes.
  EXPECT_EQ(Api("DELETE", "/v1/workspaces/shop/environments/dev/sdk-keys/" + id, nullptr, viewer).status, 403);
  std::string dev = up_->TokenForNewUser("dev@example.com", "developer");
  HttpReply protected_env = Api("DELETE", "/v1/workspaces/shop/environments/prod/sdk-keys/" +
                                              std::string(other.json.at("id").as_string()), nullptr, dev);
  EXPECT_EQ(protected_env.status, 403) << protected_env.body;
  HttpReply wrong_env = Api("DELETE", "/v1/workspaces/shop/environments/prod/sdk-keys/" + id);
  EXPECT_EQ(wrong_env.status, 404) << wrong_env.body;
  EXPECT_EQ(Api("DELETE", "/v1/workspaces/shop/environments/dev/sdk-keys/sdk_nope").status, 404);
  EXPECT_EQ(Api("DELETE", "/v1/workspaces/nope/environments/dev/sdk-keys/" + id).status, 404);
  EXPECT_EQ(DeliveryStatus(key), 200);
  EXPECT_EQ(DeliveryStatus(other_key), 200);

  // A developer revokes the dev key: delivery refuses it at once, the other key works.
  HttpReply revoked = Api("DELETE", "/v1/workspaces/shop/environments/dev/sdk-keys/" + id, nullptr, dev);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  HttpReply refused = up_->Call("delivery", "GET", "/v1/config", "", key);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(up_->Call("delivery", "POST", "/ofrep/v1/evaluate/flags", "{\"context\":{}}", key).status, 401);
  EXPECT_EQ(DeliveryStatus(other_key), 200);

  HttpReply again = Api("DELETE", "/v1/workspaces/shop/environments/dev/sdk-keys/" + id);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.json.at("error").at("code").as_string(), "already_revoked");
  list = Api("GET", "/v1/workspaces/shop/sdk-keys");
  EXPECT_FALSE(list.json.at("sdk_keys").as_array()[0].at("revoked_at").is_null());
  HttpReply act = Api("GET", "/v1/workspaces/shop/activity");
  EXPECT_NE(act.body.find("workspace.sdk_key.revoke"), std::string::npos) << act.body;

  // The CLI: list shows both, revoke the prod key.
  int code = -1;
  std::string out = Cli("sdk-key list shop", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_NE(out.find("revoked"), std::string::npos) << out;
  out = Cli("sdk-key revoke shop prod " + std::string(other.json.at("id").as_string()), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(up_->Call("delivery", "GET", "/v1/config", "", other_key).status, 401);
  out = Cli("sdk-key revoke shop prod sdk_missing", &code);
  EXPECT_NE(code, 0) << out;
}

// Issue 19: a client key through the real binaries — minted by the api (origins validated
// and normalised) and by the CLI, republished with its kind, answered by delivery from the
// client document only, with CORS for its origins and none for server keys.
TEST_F(SdkKeysTest, ClientKeySeesClientVisibleItemsOnlyWithCorsForItsOrigins) {
  ASSERT_EQ(Api("PUT", "/v1/workspaces/shop/configs/ui.theme",
                json::object{{"type", "string"}, {"client_visible", true}, {"values", {{"prod", "dark"}}},
                             {"reason", "web"}})
                .status,
            200);
  ASSERT_EQ(Api("PUT", "/v1/workspaces/shop/configs/ui.theme",
                json::object{{"type", "string"}, {"client_visible", "yes"}, {"reason", "web"}})
                .status,
            400);
  // Bad client keys: 400, naming what is wrong, and nothing minted.
  for (const json::value& body :
       {json::value{{"kind", "client"}, {"origins", {"https://*.example"}}},
        json::value{{"kind", "client"}, {"origins", {"https://app.example/path"}}},
        json::value{{"kind", "browser"}}, json::value{{"origins", {"https://app.example"}}}}) {
    HttpReply r = Api("POST", "/v1/workspaces/shop/environments/dev/sdk-keys", body);
    EXPECT_EQ(r.status, 400) << json::serialize(body) << " " << r.body;
  }
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/sdk-keys").json.at("sdk_keys").as_array().size(), 0u);

  HttpReply minted = Api("POST", "/v1/workspaces/shop/environments/dev/sdk-keys",
                         json::object{{"name", "web"}, {"kind", "client"},
                                      {"origins", {"HTTPS://App.Example:443", "http://127.0.0.1:5173"}}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  std::string key(minted.json.at("key").as_string());
  EXPECT_EQ(key.rfind("evc_", 0), 0u) << key;
  EXPECT_EQ(json::serialize(minted.json.at("origins")), R"(["https://app.example","http://127.0.0.1:5173"])");
  HttpReply server = Api("POST", "/v1/workspaces/shop/environments/dev/sdk-keys", json::object{{"name", "backend"}});
  ASSERT_EQ(server.status, 201) << server.body;
  std::string server_key(server.json.at("key").as_string());

  ASSERT_EQ(DeliveryStatus(key), 200);
  HttpReply doc;
  testing::PollUntil([&] {  // propagation runs after the write answered
    doc = up_->Call("delivery", "GET", "/v1/config", "", key, {{"Origin", "https://app.example"}});
    return doc.body.find("ui.theme") != std::string::npos;
  }, 10000);
  ASSERT_EQ(doc.status, 200) << doc.body;
  EXPECT_NE(doc.body.find(R"("audience":"client")"), std::string::npos) << doc.body;
  EXPECT_NE(doc.body.find("ui.theme"), std::string::npos) << doc.body;
  EXPECT_EQ(doc.body.find("greeting"), std::string::npos) << doc.body;
  EXPECT_EQ(doc.Header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(doc.Header("Vary"), "Origin");
  HttpReply hidden = up_->Call("delivery", "POST", "/ofrep/v1/evaluate/flags/greeting", "{}", key);
  EXPECT_EQ(hidden.status, 404) << hidden.body;
  EXPECT_NE(hidden.body.find("FLAG_NOT_FOUND"), std::string::npos);
  HttpReply full = up_->Call("delivery", "GET", "/v1/config", "", server_key, {{"Origin", "https://app.example"}});
  EXPECT_NE(full.body.find("greeting"), std::string::npos);
  EXPECT_EQ(full.Header("Access-Control-Allow-Origin"), "");
  EXPECT_EQ(full.Header("Vary"), "");
  HttpReply preflight = up_->Call("delivery", "OPTIONS", "/client/" + key + "/ofrep/v1/evaluate/flags", "", "",
                                  {{"Origin", "http://127.0.0.1:5173"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(preflight.status, 204) << preflight.body;
  EXPECT_EQ(preflight.Header("Access-Control-Allow-Origin"), "http://127.0.0.1:5173");

  HttpReply list = Api("GET", "/v1/workspaces/shop/sdk-keys");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json.at("sdk_keys").as_array()[0].at("kind").as_string(), "client");
  EXPECT_EQ(list.json.at("sdk_keys").as_array()[1].at("kind").as_string(), "server");

  // The CLI: --client --origin, and --origin alone is refused before anything is sent.
  int code = -1;
  std::string out = Cli("sdk-key create shop dev --client --origin https://cli.example", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("evc_"), std::string::npos) << out;
  out = Cli("sdk-key create shop dev --origin https://cli.example", &code);
  EXPECT_NE(code, 0) << out;
  out = Cli("sdk-key list shop", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("https://cli.example"), std::string::npos) << out;
  EXPECT_NE(out.find("client"), std::string::npos) << out;
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/sdk-keys").json.at("sdk_keys").as_array().size(), 3u);
}

}  // namespace
}  // namespace edgevault
