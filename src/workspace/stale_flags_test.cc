// Stale flags (stale_flags.h) over a real Service whose revisions are stamped by a
// SimulatedEnv clock that moves only when the test says so.
#include "src/workspace/stale_flags.h"

#include <gtest/gtest.h>

#include "src/base/env.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

json::object Flag(json::object prod, json::object dev, json::object extra = {}) {
  json::object f{{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
                 {"environments", {{"prod", std::move(prod)}, {"dev", std::move(dev)}}}};
  for (auto& kv : extra) f[kv.key()] = kv.value();
  return f;
}
json::object All(int variation) { return {{"on", true}, {"fallthrough", {{"variation", variation}}}}; }
json::object Split() {
  return {{"on", true},
          {"fallthrough", {{"rollout", json::array{json::object{{"variation", 0}, {"weight", 50000}},
                                                   json::object{{"variation", 1}, {"weight", 50000}}}}}}};
}

TEST(SingleVariationTest, WhatCountsAsServingOneVariation) {
  EXPECT_EQ(*SingleVariationPerEnvironment(Flag(All(1), All(1))), (std::map<std::string, int64_t>{{"dev", 1}, {"prod", 1}}));
  EXPECT_EQ(*SingleVariationPerEnvironment(Flag({{"on", false}, {"off_variation", 0}, {"fallthrough", {{"variation", 1}}}},
                                                {{"on", false}, {"fallthrough", {{"variation", 1}}}})),
            (std::map<std::string, int64_t>{{"dev", -1}, {"prod", 0}}));
  EXPECT_FALSE(SingleVariationPerEnvironment(Flag(All(1), Split())));
  // A rule or a target serving another variation splits; a 100% rollout does not.
  json::object rule = All(1);
  rule["rules"] = json::array{json::object{{"clauses", json::array{}}, {"variation", 0}}};
  EXPECT_FALSE(SingleVariationPerEnvironment(Flag(All(1), rule)));
  json::object target = All(1);
  target["targets"] = json::array{json::object{{"variation", 0}, {"values", json::array{"u1"}}}};
  EXPECT_FALSE(SingleVariationPerEnvironment(Flag(All(1), target)));
  json::object full = {{"on", true},
                       {"fallthrough", {{"rollout", json::array{json::object{{"variation", 0}, {"weight", 0}},
                                                                json::object{{"variation", 1}, {"weight", 100000}}}}}}};
  EXPECT_TRUE(SingleVariationPerEnvironment(Flag(All(1), full)));
  // A prerequisite can fail: then the off variation is served too.
  json::object pre = All(1);
  pre["off_variation"] = 0;
  pre["prerequisites"] = json::array{json::object{{"flag", "other"}, {"variation", 1}}};
  EXPECT_FALSE(SingleVariationPerEnvironment(Flag(All(1), pre)));
}

class StaleFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = *storage::OpenSqliteControlStore({dir_.path() + "/control.db", &env_});
    storage::Org org{.id = "org_1", .name = "default"};
    org.created_at = env_.Now();
    ASSERT_TRUE(control_->CreateOrg(org).ok());
    kv_ = *storage::OpenLmdbEdgeKv({.path = dir_.path() + "/edge"});
    stores_ = *storage::OpenSqliteWorkspaceStoreProvider({.dir = dir_.path() + "/workspaces", .env = &env_, .max_open = 8});
    service_ = *Service::Create({.stores = stores_.get(), .directory = control_.get(), .kv = kv_.get(), .env = &env_});
    ws_ = *service_->CreateWorkspace(actor_, "shop", "Shop");
    for (const char* env : {"prod", "dev"}) {
      ASSERT_TRUE(service_->CreateEnvironment(actor_, ws_, json::object{{"key", env}}, "setup", std::nullopt).ok());
    }
  }
  void Put(const std::string& key, const json::object& body) {
    absl::StatusOr<int64_t> r = service_->PutItem(actor_, ws_, ItemKind::kFlag, key, body, "x", std::nullopt, AllowAnyWrite());
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::map<std::string, std::string> Stale(int64_t days) {
    absl::StatusOr<std::vector<StaleFlag>> stale = FindStaleFlags(*service_, ws_, env_.Now(), days);
    EXPECT_TRUE(stale.ok()) << stale.status();
    std::map<std::string, std::string> out;
    for (const StaleFlag& s : *stale) out[s.key + "/" + s.reason] = json::serialize(s.evidence);
    return out;
  }

  base::testing::TempDir dir_;
  base::SimulatedEnv env_;
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<Service> service_;
  storage::Workspace ws_;
  Actor actor_{"user:usr_1", "org_1", "127.0.0.1", "r1"};
};

TEST_F(StaleFlagsTest, ServedAtOneHundredPercentForTheDaysIsReportedWithEvidence) {
  Put("launched", Flag(All(1), All(1)));
  Put("permanent", Flag(All(1), All(1), {{"lifecycle", "permanent"}, {"owner", "team-core"}}));
  Put("experiment", Flag(All(1), Split()));
  Put("recent", Flag(All(1), Split()));
  env_.AdvanceBy(absl::Hours(24) * 20);
  Put("recent", Flag(All(1), All(1)));  // single since day 20 only
  env_.AdvanceBy(absl::Hours(24) * 11);  // day 31

  std::map<std::string, std::string> stale = Stale(30);
  ASSERT_EQ(stale.size(), 1u) << ::testing::PrintToString(stale);
  const std::string& evidence = stale.at("launched/serving_one_variation");
  EXPECT_NE(evidence.find(R"("days":31)"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find(R"("prod":{"variation":1,"value":true})"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find(R"("since_revision":3)"), std::string::npos) << evidence;  // after two environments
  // With a shorter window the recently launched flag counts too; the permanent one never.
  stale = Stale(10);
  EXPECT_TRUE(stale.contains("recent/serving_one_variation"));
  EXPECT_FALSE(stale.contains("permanent/serving_one_variation"));
  EXPECT_FALSE(stale.contains("experiment/serving_one_variation"));
  // A change of which variation is served starts the count again.
  Put("launched", Flag(All(0), All(0)));
  EXPECT_FALSE(Stale(30).contains("launched/serving_one_variation"));
  // A change that keeps what is served (the description) does not.
  Put("recent", Flag(All(1), All(1), {{"description", "done"}}));
  EXPECT_TRUE(Stale(10).contains("recent/serving_one_variation"));
}

TEST_F(StaleFlagsTest, PastItsRemovalDateByTheClock) {
  // SimulatedEnv starts at 2027-01-15T08:00:00Z (unix 1 800 000 000).
  Put("cleanup", Flag(All(1), Split(), {{"remove_after", "2027-01-15"}, {"owner", "team-web"}}));
  EXPECT_TRUE(Stale(30).empty());  // the day named is not over yet
  env_.AdvanceBy(absl::Hours(16));  // 2027-01-16T00:00Z
  std::map<std::string, std::string> stale = Stale(30);
  ASSERT_TRUE(stale.contains("cleanup/past_remove_after"));
  EXPECT_EQ(stale["cleanup/past_remove_after"], R"({"remove_after":"2027-01-15","days_past":0})");
}

TEST(NotEvaluatedTest, ATemporaryFlagWithoutEvaluationsForTheDaysIsReported) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const absl::Time old = now - absl::Hours(24 * 40);
  std::map<std::string, json::object> flags{
      {"silent", json::object{}},                                // never evaluated
      {"lapsed", json::object{}},                                // last evaluated 31 days ago
      {"busy", json::object{}},                                  // evaluated yesterday
      {"kept", json::object{{"lifecycle", "permanent"}}},        // permanent: never reported
      {"young", json::object{}}};                                // created 2 days ago
  std::map<std::string, absl::Time> created{{"silent", old}, {"lapsed", old}, {"busy", old}, {"kept", old},
                                            {"young", now - absl::Hours(48)}};
  auto minute = [](absl::Time t) { return absl::ToUnixSeconds(t) / 60; };
  std::map<std::string, int64_t> last{{"lapsed", minute(now - absl::Hours(24 * 31))},
                                      {"busy", minute(now - absl::Hours(24))}};
  std::vector<StaleFlag> found = NotEvaluatedFlagsOf(flags, created, last, now, 30);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].key, "lapsed");
  EXPECT_EQ(found[0].reason, "not_evaluated");
  EXPECT_TRUE(found[0].evidence.at("last_evaluated").is_string());
  EXPECT_EQ(found[1].key, "silent");
  EXPECT_TRUE(found[1].evidence.at("last_evaluated").is_null());
  EXPECT_EQ(found[1].evidence.at("days"), 30);
  // The window is exact: 32 days back, "lapsed" was evaluated within it.
  EXPECT_EQ(NotEvaluatedFlagsOf(flags, created, last, now, 32).size(), 1u);
  // Zero days asks nothing.
  EXPECT_TRUE(NotEvaluatedFlagsOf(flags, created, last, now, 0).empty());
}

TEST(FlagLifecycleTest, FieldsAreValidated) {
  EnvironmentSet envs = *EnvironmentSet::FromEnvironments({Environment{.key = "prod", .name = "prod"}});
  json::object base = {{"variations", json::array{json::object{{"value", true}}}},
                       {"environments", {{"prod", {{"on", true}, {"fallthrough", {{"variation", 0}}}}}}}};
  auto with = [&](json::object extra) {
    json::object b = base;
    for (auto& kv : extra) b[kv.key()] = kv.value();
    return ValidateFlagBody("f", b, envs, json::object{});
  };
  absl::StatusOr<json::object> ok = with({{"lifecycle", "temporary"}, {"owner", "team-web"}, {"remove_after", "2026-09-30"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("remove_after"), "2026-09-30");
  EXPECT_EQ(with({{"lifecycle", "forever"}}).status().message(), "lifecycle: must be \"temporary\" or \"permanent\"");
  EXPECT_EQ(with({{"remove_after", "2026-02-30"}}).status().message(), "remove_after: must be a date YYYY-MM-DD, e.g. 2026-09-30");
  EXPECT_EQ(with({{"remove_after", "30/09/2026"}}).status().message(), "remove_after: must be a date YYYY-MM-DD, e.g. 2026-09-30");
  EXPECT_FALSE(with({{"owner", "  "}}).ok());
  EXPECT_FALSE(with({{"lifecycle", "permanent"}, {"remove_after", "2026-09-30"}}).ok());
}

}  // namespace
}  // namespace edgevault::workspace
