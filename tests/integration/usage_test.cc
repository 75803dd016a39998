// Evaluation usage end to end (issue 18, docs/design/usage.md): OFREP evaluations through
// two delivery processes (up's and a second node sharing the LMDB KV) arrive in the api's
// flag insights with exact counts per variant; the usage credential (delivery's) can call
// no other internal route; another org cannot read the insights; bad ranges are 400 JSON.
#include <signal.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/strings.h"
#include "src/net/http_client.h"
#include "src/net/signing.h"
#include "tests/integration/harness.h"
#include "tests/integration/other_org.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

// A child process killed (SIGKILL) and reaped when the test ends, however it ends.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      testing::WaitExit(pid, 30000);
    }
  }
};

class UsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    up_ = EdgeVaultUp::Start({"--set", "delivery.usage_interval_s=1"});
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    auto client = net::HttpClient::Create({});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr,
                const std::string& token = "") {
    const std::string& bearer = token.empty() ? up_->admin_key() : token;
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", bearer);
    return up_->Json("api", std::move(method), std::move(target), body, bearer);
  }

  // A second delivery node: up's configuration, keys and KV (its edge directory linked
  // into a data directory of its own, for its port file), its own port.
  void StartSecondDelivery() {
    second_dir_ = up_->data_dir() + "-second";
    ASSERT_TRUE(std::filesystem::create_directories(second_dir_));
    std::filesystem::create_directory_symlink(up_->data_dir() + "/edge", second_dir_ + "/edge");
    std::vector<std::string> args = {testing::BinDir() + "/edgevault-delivery", "--config",
                                     up_->data_dir() + "/edgevault.toml",
                                     "--set", "data_dir=" + second_dir_,
                                     "--set", "keys.dir=" + up_->data_dir() + "/keys",
                                     "--set", "keys.trust_dir=" + up_->data_dir() + "/trust",
                                     "--set", "services.delivery.port=0",
                                     "--set", "services.api.port=" + std::to_string(up_->port("api")),
                                     "--set", "node_id=node-2",
                                     "--set", "delivery.usage_interval_s=1"};
    second_.pid = testing::Spawn(args, second_dir_ + ".out").pid;
    ASSERT_GT(second_.pid, 0);
    ASSERT_TRUE(testing::PollUntil(
        [&] { return (second_port_ = testing::ReadPortFile(second_dir_, "delivery")) > 0; }, 30000))
        << testing::ReadFile(second_dir_ + ".out");
  }

  // One OFREP evaluation of `flag` on a delivery node; the variant answered ("" on failure).
  std::string Evaluate(int port, const std::string& sdk_key, const std::string& flag, const std::string& plan) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/ofrep/v1/evaluate/flags/" + flag;
    req.body = R"({"context":{"targetingKey":"u1","plan":")" + plan + R"("}})";
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + sdk_key}};
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(port), req);
    if (!r.ok() || r->status != 200) return "";
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    const json::value* variant = !ec && v.is_object() ? v.get_object().if_contains("variant") : nullptr;
    return variant != nullptr && variant->is_string() ? std::string(variant->get_string()) : "";
  }


  std::unique_ptr<EdgeVaultUp> up_;
  std::unique_ptr<net::HttpClient> client_;
  std::string second_dir_;
  Child second_;
  int second_port_ = 0;
};

// {"variant": total} of an insights answer.
std::map<std::string, int64_t> Totals(const HttpReply& r) {
  std::map<std::string, int64_t> out;
  if (!r.json.is_object() || !r.json.as_object().contains("variants")) return out;
  for (const json::value& v : r.json.at("variants").as_array()) {
    out[std::string(v.at("variant").as_string())] = v.at("total").as_int64();
  }
  return out;
}

TEST_F(UsageTest, EvaluationsFromTwoDeliveryNodesAddUpExactlyInInsights) {
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
  ASSERT_EQ(Api("POST", "/v1/workspaces/shop/environments", json::object{{"key", "prod"}, {"reason", "setup"}}).status, 201);
  json::value flag = json::parse(
      R"({"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],)"
      R"("environments":{"prod":{"on":true,"rules":[{"id":"pro","clauses":[)"
      R"({"attribute":"plan","op":"in","values":["pro"]}],"variation":1}],"fallthrough":{"variation":0}}},)"
      R"("reason":"launch"})");
  ASSERT_EQ(Api("PUT", "/v1/workspaces/shop/flags/checkout", flag).status, 200);
  HttpReply minted = Api("POST", "/v1/workspaces/shop/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());
  ASSERT_NO_FATAL_FAILURE(StartSecondDelivery());
  const int first = up_->port("delivery");
  // Both nodes serve the flag (the KV may lag the write by a poll).
  for (int port : {first, second_port_}) {
    ASSERT_TRUE(testing::PollUntil([&] { return Evaluate(port, sdk_key, "checkout", "pro") == "on"; }, 30000));
  }
  // Those two warm-up evaluations counted as "on" too: 2 + 7 + 4 on, 5 + 3 off.
  for (int i = 0; i < 7; ++i) ASSERT_EQ(Evaluate(first, sdk_key, "checkout", "pro"), "on");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Evaluate(first, sdk_key, "checkout", "free"), "off");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Evaluate(second_port_, sdk_key, "checkout", "pro"), "on");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Evaluate(second_port_, sdk_key, "checkout", "free"), "off");
  ASSERT_EQ(Evaluate(first, sdk_key, "missing", "pro"), "");  // not a flag: no series

  const std::string insights = "/v1/workspaces/shop/flags/checkout/insights?env=prod&step=1m";
  HttpReply r;
  std::map<std::string, int64_t> totals;
  bool exact = testing::PollUntil([&] {
    r = Api("GET", insights);
    totals = Totals(r);
    return totals["on"] >= 13 && totals["off"] >= 8;
  }, 30000);
  ASSERT_TRUE(exact) << r.status << " " << r.body;
  EXPECT_EQ(totals["on"], 13) << r.body;
  EXPECT_EQ(totals["off"], 8) << r.body;
  EXPECT_EQ(r.json.at("total"), 21);
  EXPECT_EQ(r.json.at("resolution"), "minute");
  std::map<std::string, int64_t> reasons;
  for (const json::value& v : r.json.at("reasons").as_array()) reasons[std::string(v.at("reason").as_string())] = v.at("total").as_int64();
  EXPECT_EQ(reasons["TARGETING_MATCH"], 13);
  EXPECT_EQ(reasons["DEFAULT"], 8);
  // The hourly roll-up holds the same counts.
  HttpReply hourly = Api("GET", "/v1/workspaces/shop/flags/checkout/insights?env=prod&step=1h");
  ASSERT_EQ(hourly.status, 200) << hourly.body;
  EXPECT_EQ(hourly.json.at("total"), 21) << hourly.body;

  // Restarting delivery (SIGTERM: it ships what it counted on the way out) loses nothing.
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Evaluate(second_port_, sdk_key, "checkout", "pro"), "on");
  ASSERT_EQ(::kill(second_.pid, SIGTERM), 0);
  EXPECT_EQ(testing::WaitExit(second_.pid, 30000), 0) << testing::ReadFile(second_dir_ + ".out");
  second_.pid = -1;
  ASSERT_TRUE(testing::PollUntil([&] { return Totals(Api("GET", insights))["on"] >= 19; }, 30000));
  EXPECT_EQ(Totals(Api("GET", insights))["on"], 19);

  // The CLI shows the same table.
  testing::CommandResult cli = testing::RunEdgevault(
      "flag insights shop checkout --env prod --step 1m",
      base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                   " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(cli.code, 0) << cli.out;
  EXPECT_NE(cli.out.find("27 evaluations"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("TARGETING_MATCH"), std::string::npos) << cli.out;

  // The same requests as SDK usage: every OFREP call of the server key, on both nodes (the
  // warm-up polls may have made a few more before the flag was published).
  HttpReply sdk;
  int64_t ofrep_server = 0;
  // 27 evaluations and the unknown flag (the first node ships it within its next second).
  EXPECT_TRUE(testing::PollUntil([&] {
    sdk = Api("GET", "/v1/workspaces/shop/environments/prod/sdk-usage?step=1m");
    if (sdk.status != 200) return false;
    for (const json::value& s : sdk.json.at("series").as_array()) {
      if (s.at("endpoint") == "ofrep" && s.at("key_kind") == "server") ofrep_server = s.at("total").as_int64();
    }
    return ofrep_server >= 28;
  }, 30000)) << sdk.status << " " << sdk.body;
  for (const json::value& s : sdk.json.at("series").as_array()) {
    EXPECT_NE(s.at("key_kind"), "client") << sdk.body;  // no client key was used
  }
  EXPECT_EQ(sdk.json.at("total").as_int64(), ofrep_server) << sdk.body;
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/environments/nope/sdk-usage").status, 404);
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/environments/prod/sdk-usage?step=30s").status, 400);
  testing::CommandResult usage_cli = testing::RunEdgevault(
      "usage shop --env prod --step 1m",
      base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                   " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(usage_cli.code, 0) << usage_cli.out;
  EXPECT_NE(usage_cli.out.find("ofrep"), std::string::npos) << usage_cli.out;

  // Bad ranges: 400 with a JSON error; unknown flag or environment: 404.
  for (const char* q : {"?env=prod&step=30s", "?env=prod&step=90m", "?env=prod&from=yesterday",
                        "?env=prod&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "?step=1h",
                        "?env=prod&from=2020-01-01T00:00:00Z&step=1m"}) {
    HttpReply bad = Api("GET", std::string("/v1/workspaces/shop/flags/checkout/insights") + q);
    EXPECT_EQ(bad.status, 400) << q << ": " << bad.body;
    EXPECT_TRUE(bad.json.is_object() && bad.json.as_object().contains("error")) << bad.body;
  }
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/flags/nope/insights?env=prod").status, 404);
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/flags/checkout/insights?env=nope").status, 404);

  // Another org's owner: the same 404 as for a workspace that does not exist.
  std::string other = testing::TokenForOwnerOfAnotherOrg(*up_, "rival");
  ASSERT_FALSE(other.empty());
  HttpReply denied = Api("GET", insights, nullptr, other);
  EXPECT_EQ(denied.status, 404) << denied.body;
  EXPECT_EQ(Api("GET", "/v1/workspaces/shop/environments/prod/sdk-usage", nullptr, other).status, 404);
  EXPECT_EQ(denied.body.find("\"on\""), std::string::npos) << denied.body;
  // Positive control: the same token reads its own org's (empty) workspace list.
  EXPECT_EQ(Api("GET", "/v1/workspaces", nullptr, other).status, 200);
}

// Delivery's credential is the usage credential: it submits usage and is refused by every
// other internal route of the api and auth; the api's credential cannot submit usage.
TEST_F(UsageTest, TheUsageCredentialCanOnlySubmitUsage) {
  auto delivery = testing::SignedCaller::Load(*up_, "delivery");
  auto api = testing::SignedCaller::Load(*up_, "api");
  ASSERT_TRUE(delivery.ok()) << delivery.status();
  ASSERT_TRUE(api.ok()) << api.status();
  const int64_t minute = absl::ToUnixSeconds(absl::Now()) / 60;
  auto body = [&](const std::string& batch, int64_t count) {
    return json::serialize(json::object{
        {"format", 1}, {"batch", batch}, {"node", "test"},
        {"evaluations", json::array{json::object{{"minute", minute}, {"workspace_id", "ws_t"}, {"environment", "prod"},
                                                 {"flag", "f"}, {"variant", "on"}, {"reason", "STATIC"},
                                                 {"count", count}}}}});
  };
  net::ClientResponse ok = (*delivery)->Post("api", "/internal/v1/usage", body(std::string(32, 'a'), 3));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("\"duplicate\":false"), std::string::npos) << ok.body;
  EXPECT_NE((*delivery)->Post("api", "/internal/v1/usage", body(std::string(32, 'a'), 3)).body.find("\"duplicate\":true"),
            std::string::npos);
  // Bad bodies: 400 JSON naming the problem.
  net::ClientResponse bad = (*delivery)->Post("api", "/internal/v1/usage", body(std::string(32, 'b'), -1));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("\"error\""), std::string::npos) << bad.body;
  EXPECT_EQ((*delivery)->Post("api", "/internal/v1/usage", "[").status, 400);

  // The api's own credential cannot submit usage.
  net::ClientResponse not_api = (*api)->Post("api", "/internal/v1/usage", body(std::string(32, 'c'), 1));
  EXPECT_EQ(not_api.status, 403) << not_api.body;

  // Every other internal route refuses delivery's credential.
  for (const char* target : {"/internal/v1/api-keys/exchange", "/internal/v1/sdk-keys", "/internal/v1/sdk-keys/list",
                             "/internal/v1/sdk-keys/revoke", "/internal/v1/workspaces/create",
                             "/internal/v1/workspaces/get", "/internal/v1/workspaces/list",
                             "/internal/v1/orgs/entitlements", "/internal/v1/principals/rights"}) {
    net::ClientResponse r = (*delivery)->Post("auth", target, "{}");
    EXPECT_EQ(r.status, 403) << target << ": " << r.body;
    EXPECT_NE(r.body.find("caller_not_allowed"), std::string::npos) << r.body;
  }
  EXPECT_EQ((*delivery)->Post("delivery", "/internal/v1/changed", "{}").status, 403);
  // A usage body signed for auth is refused by the api (audience), and auth has no usage route.
  EXPECT_EQ((*delivery)->Post("api", "/internal/v1/usage", body(std::string(32, 'd'), 1), "auth").status, 401);
}

// `edgevault up` stops delivery before the api, so what delivery counted since its last
// shipment (here: everything, the interval is an hour) lands in the api on the way out and is
// in the insights after a restart. Stopping both at once raced delivery's last flush against
// the api's exit.
TEST(UsageStopTest, UpStopsDeliveryBeforeTheApiSoTheLastCountsLand) {
  ::signal(SIGPIPE, SIG_IGN);
  auto up = EdgeVaultUp::Start({"--set", "delivery.usage_interval_s=3600"});
  ASSERT_NE(up, nullptr);
  const std::string admin = up->admin_key();
  ASSERT_EQ(up->Json("api", "POST", "/v1/workspaces", {{"key", "shop"}, {"name", "Shop"}}, admin).status, 201);
  ASSERT_EQ(up->Json("api", "POST", "/v1/workspaces/shop/environments", {{"key", "prod"}, {"reason", "setup"}}, admin).status, 201);
  ASSERT_EQ(up->Json("api", "PUT", "/v1/workspaces/shop/flags/checkout",
                     json::parse(R"({"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],)"
                                 R"("environments":{"prod":{"on":true,"fallthrough":{"variation":1}}},"reason":"launch"})"),
                     admin).status, 200);
  HttpReply minted = up->Json("api", "POST", "/v1/workspaces/shop/environments/prod/sdk-keys", {{"name", "web"}}, admin);
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());
  auto evaluate = [&] {
    HttpReply r = up->Call("delivery", "POST", "/ofrep/v1/evaluate/flags/checkout",
                           R"({"context":{"targetingKey":"u1"}})", sdk_key, {{"Content-Type", "application/json"}});
    return r.status == 200 && r.json.is_object() && r.json.as_object().contains("variant") ? std::string(r.json.at("variant").as_string()) : "";
  };
  ASSERT_TRUE(testing::PollUntil([&] { return evaluate() == "on"; }, 30000));
  for (int i = 0; i < 9; ++i) ASSERT_EQ(evaluate(), "on");  // 10 in all, none shipped yet
  const std::string insights = "/v1/workspaces/shop/flags/checkout/insights?env=prod&step=1m";
  HttpReply before = up->Call("api", "GET", insights, "", admin);
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.json.at("total"), 0) << before.body;

  EdgeVaultUp::Stopped stopped = up->Stop();
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  ASSERT_TRUE(up->Restart({"--set", "delivery.usage_interval_s=3600"})) << up->Output();
  HttpReply after = up->Call("api", "GET", insights, "", admin);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.json.at("total"), 10) << after.body << "\n" << stopped.output;
}

}  // namespace
}  // namespace edgevault
