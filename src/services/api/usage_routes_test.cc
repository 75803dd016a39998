// Usage submissions (the body delivery sends, docs/design/usage.md §2) and insights ranges
// and series (§3), over a real SQLite usage store.
#include "src/services/api/usage_routes.h"

#include "gtest/gtest.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::api {
namespace {
namespace json = boost::json;

const absl::Time kNow = absl::FromUnixSeconds(1796292000 + 30 * 60);  // 10:30 UTC
const int64_t kMinute = 1796292000 / 60 + 30;
const std::string kBatch = "0123456789abcdef0123456789abcdef";

std::string Body(const json::array& evaluations, const std::string& batch = kBatch) {
  return json::serialize(json::object{{"format", 1}, {"batch", batch}, {"node", "n1"}, {"evaluations", evaluations}});
}
json::object Row(int64_t minute, std::string variant, int64_t count, std::string reason = "TARGETING_MATCH") {
  return {{"minute", minute}, {"workspace_id", "ws_1"}, {"environment", "prod"}, {"flag", "f"},
          {"variant", std::move(variant)}, {"reason", std::move(reason)}, {"count", count}};
}

TEST(UsageSubmissionTest, RefusesWhatIsNotTheFormat) {
  auto bad = [](const std::string& body) {
    absl::StatusOr<UsageSubmission> s = ParseUsageSubmission(body, kNow);
    return !s.ok() && absl::IsInvalidArgument(s.status());
  };
  EXPECT_TRUE(bad("not json"));
  EXPECT_TRUE(bad("[]"));
  EXPECT_TRUE(bad(R"({"format":2,"batch":")" + kBatch + R"("})"));
  EXPECT_TRUE(bad(R"({"format":1,"batch":"XYZ"})"));
  EXPECT_TRUE(bad(R"({"format":1,"batch":")" + kBatch + R"(","extra":1})"));
  EXPECT_TRUE(bad(Body({Row(kMinute, "on", 0)})));                // count < 1
  EXPECT_TRUE(bad(Body({Row(kMinute, "on", -5)})));
  EXPECT_TRUE(bad(Body({Row(kMinute + 60, "on", 1)})));           // an hour in the future
  EXPECT_TRUE(bad(Body({Row(kMinute, std::string(300, 'v'), 1)})));
  json::object extra = Row(kMinute, "on", 1);
  extra["secret"] = "x";
  EXPECT_TRUE(bad(Body({extra})));
  json::object no_flag = Row(kMinute, "on", 1);
  no_flag.erase("flag");
  EXPECT_TRUE(bad(Body({no_flag})));
  json::array many;
  for (int i = 0; i < 20001; ++i) many.push_back(Row(kMinute, "on", 1));
  EXPECT_TRUE(bad(Body(many)));
  // The positive control: a well-formed body parses.
  absl::StatusOr<UsageSubmission> ok = ParseUsageSubmission(Body({Row(kMinute, "", 2, "DISABLED")}), kNow);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->rows.size(), 1u);
}

TEST(UsageSubmissionTest, StoredOnceAndServedAsSeries) {
  base::testing::TempDir dir("ev-usage-routes");
  auto store = storage::OpenSqliteUsageStore({.path = dir.path() + "/usage.db"});
  ASSERT_TRUE(store.ok()) << store.status();
  std::atomic<int64_t> pruned{0};
  const std::string body = Body({Row(kMinute - 10, "on", 3), Row(kMinute - 10, "off", 1, "DEFAULT"),
                                 Row(kMinute - 2, "on", 2)});
  absl::StatusOr<json::object> a = AcceptUsage(**store, body, kNow, &pruned);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->at("accepted"), 3);
  EXPECT_EQ(a->at("duplicate"), false);
  absl::StatusOr<json::object> again = AcceptUsage(**store, body, kNow, &pruned);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->at("duplicate"), true);
  // A second node's batch adds up.
  ASSERT_TRUE(AcceptUsage(**store, Body({Row(kMinute - 2, "on", 4)}, "ffffffffffffffffffffffffffffffff"), kNow, &pruned).ok());

  absl::StatusOr<InsightsRange> range =
      ParseInsightsRange("2026-12-03T10:15:00Z", "2026-12-03T10:30:00Z", "5m", kNow);
  ASSERT_TRUE(range.ok()) << range.status();
  absl::StatusOr<json::object> s = FlagInsights(**store, "ws_1", "prod", "f", *range);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("total"), 10);
  EXPECT_EQ(s->at("buckets").as_array().size(), 3u);
  EXPECT_EQ(s->at("buckets").at(0), "2026-12-03T10:15:00Z");
  const json::array& variants = s->at("variants").as_array();
  ASSERT_EQ(variants.size(), 2u);
  EXPECT_EQ(variants[0].at("variant"), "off");
  EXPECT_EQ(variants[1].at("variant"), "on");
  EXPECT_EQ(variants[1].at("total"), 9);
  EXPECT_EQ(variants[1].at("counts"), (json::array{0, 3, 6}));  // 10:20 and 10:28 buckets
  EXPECT_EQ(s->at("reasons").at(0).at("reason"), "DEFAULT");
  // By the hour (the roll-up): the same total in one bucket.
  absl::StatusOr<InsightsRange> hours = ParseInsightsRange("2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z", "1h", kNow);
  ASSERT_TRUE(hours.ok()) << hours.status();
  EXPECT_EQ(FlagInsights(**store, "ws_1", "prod", "f", *hours)->at("variants").at(1).at("counts"), (json::array{9}));
  // Another environment or flag sees nothing.
  EXPECT_EQ(FlagInsights(**store, "ws_1", "staging", "f", *range)->at("total"), 0);
  EXPECT_EQ(FlagInsights(**store, "ws_2", "prod", "f", *range)->at("total"), 0);
}

TEST(InsightsRangeTest, BadRangesAreRefused) {
  auto code = [](std::optional<std::string> from, std::optional<std::string> to, std::optional<std::string> step) {
    return ParseInsightsRange(from, to, step, kNow).status().code();
  };
  using absl::StatusCode;
  EXPECT_EQ(code("yesterday", std::nullopt, std::nullopt), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::nullopt, "2026-13-01T00:00:00Z", std::nullopt), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("2026-12-03T10:00:00Z", "2026-12-03T09:00:00Z", std::nullopt), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("2026-12-03T10:00:00Z", "2026-12-03T10:00:00Z", std::nullopt), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::nullopt, std::nullopt, "30s"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::nullopt, std::nullopt, "90s"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::nullopt, std::nullopt, "90m"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::nullopt, std::nullopt, "-1h"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::nullopt, std::nullopt, "often"), StatusCode::kInvalidArgument);
  // Minutes are kept for 2 days.
  EXPECT_EQ(code("2026-11-30T10:00:00Z", std::nullopt, "1m"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("2026-11-30T10:00:00Z", std::nullopt, "1h"), StatusCode::kOk);
  // Too many steps.
  EXPECT_EQ(code("2026-01-01T00:00:00Z", std::nullopt, "1h"), StatusCode::kInvalidArgument);
  // The defaults: the last 24 h by the hour.
  absl::StatusOr<InsightsRange> d = ParseInsightsRange(std::nullopt, std::nullopt, std::nullopt, kNow);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->resolution, storage::UsageResolution::kHour);
  EXPECT_EQ(d->step_minutes, 60);
  EXPECT_EQ((d->to_minute - d->from_minute) / 60, 25);  // aligned to whole hours
}

}  // namespace
}  // namespace edgevault::api
