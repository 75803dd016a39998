// Flag lifecycle and stale flags through the real binaries (issue 18, docs/api.md "Stale
// flags"): GET .../flags/stale and `edgevault flag stale`. The N-day windows on a simulated
// clock are tested in src/workspace/stale_flags_test.cc; here the window is 0 days (the
// api's real clock), which still separates a flag serving one variation from one that
// splits, a permanent flag from a temporary one, and a removal date in the past.
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/base/testing/temp_dir.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

class StaleFlagsApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { up_ = EdgeVaultUp::Start().release(); }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }
  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }
  static EdgeVaultUp* up_;
};
EdgeVaultUp* StaleFlagsApiTest::up_ = nullptr;

json::object Flag(json::object fallthrough, json::object extra = {}) {
  json::object f{{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
                 {"environments", {{"prod", {{"on", true}, {"fallthrough", std::move(fallthrough)}}}}},
                 {"reason", "x"}};
  for (auto& kv : extra) f[kv.key()] = kv.value();
  return f;
}

TEST_F(StaleFlagsApiTest, ReportsWithEvidenceAndNeverAPermanentFlag) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "stale"}, {"name", "stale"}}).status, 201);
  std::string base = "/v1/workspaces/stale";
  ASSERT_EQ(Api("POST", base + "/environments", json::object{{"key", "prod"}, {"reason", "x"}}).status, 201);
  json::object all_true{{"variation", 1}};
  json::object split{{"rollout", json::array{json::object{{"variation", 0}, {"weight", 50000}},
                                             json::object{{"variation", 1}, {"weight", 50000}}}}};
  ASSERT_EQ(Api("PUT", base + "/flags/launched", Flag(all_true, {{"owner", "team-web"}})).status, 200);
  ASSERT_EQ(Api("PUT", base + "/flags/kept", Flag(all_true, {{"lifecycle", "permanent"}})).status, 200);
  ASSERT_EQ(Api("PUT", base + "/flags/ramping", Flag(split)).status, 200);
  HttpReply overdue = Api("PUT", base + "/flags/overdue", Flag(split, {{"remove_after", "2020-01-31"}}));
  ASSERT_EQ(overdue.status, 200) << overdue.body;
  EXPECT_EQ(overdue.json.at("remove_after"), "2020-01-31");

  HttpReply r = Api("GET", base + "/flags/stale?days=0");
  ASSERT_EQ(r.status, 200) << r.body;
  std::map<std::string, json::object> found;
  for (const json::value& f : r.json.at("flags").as_array()) {
    found[json::value_to<std::string>(f.at("key")) + "/" + json::value_to<std::string>(f.at("reason"))] = f.as_object();
  }
  ASSERT_EQ(found.size(), 2u) << r.body;
  const json::object& launched = found.at("launched/serving_one_variation");
  EXPECT_EQ(launched.at("owner"), "team-web");
  EXPECT_EQ(launched.at("evidence").at("environments").at("prod").at("value"), true);
  EXPECT_EQ(found.at("overdue/past_remove_after").at("evidence").at("remove_after"), "2020-01-31");
  // Thirty days (the default) have not passed since these writes.
  HttpReply month = Api("GET", base + "/flags/stale");
  ASSERT_EQ(month.status, 200);
  EXPECT_EQ(month.json.at("flags").as_array().size(), 1u) << month.body;

  // Bad input is a 400, and "stale" cannot name a flag.
  EXPECT_EQ(Api("GET", base + "/flags/stale?days=-1").status, 400);
  EXPECT_EQ(Api("GET", base + "/flags/stale?days=x").status, 400);
  EXPECT_EQ(Api("PUT", base + "/flags/stale", Flag(all_true)).status, 400);
  EXPECT_EQ(Api("PUT", base + "/flags/bad", Flag(all_true, {{"remove_after", "2026-13-01"}})).status, 400);
  EXPECT_EQ(Api("PUT", base + "/flags/bad", Flag(all_true, {{"lifecycle", "permanent"}, {"remove_after", "2030-01-01"}})).status,
            400);

  testing::CommandResult cli = testing::RunEdgevault(
      "flag stale stale --days 0",
      base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                   " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(cli.code, 0) << cli.out;
  EXPECT_NE(cli.out.find("launched"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("team-web"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("remove after 2020-01-31"), std::string::npos) << cli.out;
  EXPECT_EQ(cli.out.find("kept"), std::string::npos) << cli.out;

  // Where the workspace's flags are used: .gitignore'd files are not looked at.
  base::testing::TempDir src;
  ASSERT_FALSE(src.path().empty());
  std::ofstream(src.path() + "/.gitignore") << "vendor/\n";
  std::ofstream(src.path() + "/app.ts") << "if (flags.on('launched')) {}\n";
  std::filesystem::create_directories(src.path() + "/vendor");
  std::ofstream(src.path() + "/vendor/lib.ts") << "'ramping'\n";
  testing::CommandResult refs = testing::RunEdgevault(
      "refs scan " + src.path() + " -w stale",
      base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                   " EDGEVAULT_TOKEN=", up_->admin_key(), " EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(refs.code, 0) << refs.out;
  EXPECT_NE(refs.out.find("app.ts:1:15"), std::string::npos) << refs.out;
  EXPECT_NE(refs.out.find("Not found: kept, overdue, ramping"), std::string::npos) << refs.out;
}

}  // namespace
}  // namespace edgevault
