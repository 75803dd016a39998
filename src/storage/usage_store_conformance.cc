#include "src/storage/usage_store_conformance.h"

#include <thread>
#include <tuple>

namespace edgevault::storage {

bool UsageStoreConformanceLinked() { return true; }

void UsageStoreConformanceTest::SetUp() {
  store_ = GetParam()();
  ASSERT_NE(store_, nullptr);
}

namespace {

// 2026-12-03 10:00:00 UTC, a whole hour.
const absl::Time kT0 = absl::FromUnixSeconds(1796292000);
const int64_t kM0 = 1796292000 / 60;

UsageRow Eval(int64_t minute, std::string variant, int64_t count, std::string flag = "checkout",
              std::string ws = "ws_a", std::string env = "prod", std::string reason = "TARGETING_MATCH") {
  return {minute, "evaluation", std::move(ws), std::move(env), std::move(flag), std::move(variant),
          std::move(reason), count};
}

int64_t Sum(const std::vector<UsagePoint>& points, std::string_view variant = "") {
  int64_t n = 0;
  for (const UsagePoint& p : points) {
    if (variant.empty() || p.variant == variant) n += p.count;
  }
  return n;
}

bool Added(const absl::StatusOr<bool>& r) {
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() && *r;
}

UsageQuery Minutes(int64_t from, int64_t to, std::string flag = "checkout") {
  return {.workspace_id = "ws_a", .environment = "prod", .kind = "evaluation", .flag = std::move(flag),
          .from_minute = from, .to_minute = to, .resolution = UsageResolution::kMinute};
}

}  // namespace

// The AI token spend: per org and month, added atomically (threads adding at once lose
// nothing), read back, and bad arguments refused.
TEST_P(UsageStoreConformanceTest, AiTokenSpendAddsUpPerOrgAndMonth) {
  auto total = store_->AiTokens("org_a", "2026-12");
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(*total, 0);
  auto added = store_->AddAiTokens("org_a", "2026-12", 120);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 120);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) EXPECT_TRUE(store_->AddAiTokens("org_a", "2026-12", 10).ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(*store_->AiTokens("org_a", "2026-12"), 1120);
  EXPECT_EQ(*store_->AiTokens("org_a", "2027-01"), 0);
  EXPECT_EQ(*store_->AiTokens("org_b", "2026-12"), 0);
  EXPECT_EQ(*store_->AddAiTokens("org_a", "2026-12", 0), 1120);
  for (auto [org, month, tokens] : {std::tuple{"", "2026-12", 1}, std::tuple{"org_a", "2026-1", 1},
                                    std::tuple{"org_a", "December", 1}, std::tuple{"org_a", "2026-12", -1}}) {
    EXPECT_TRUE(absl::IsInvalidArgument(store_->AddAiTokens(org, month, tokens).status())) << org << " " << month;
  }
  EXPECT_EQ(*store_->AiTokens("org_a", "2026-12"), 1120);
}

TEST_P(UsageStoreConformanceTest, BatchesFromSeveralNodesAddUp) {
  ASSERT_TRUE(Added(store().Add("batch-node1", {Eval(kM0, "on", 3), Eval(kM0, "off", 1)}, kT0)));
  ASSERT_TRUE(Added(store().Add("batch-node2", {Eval(kM0, "on", 4), Eval(kM0 + 1, "on", 2)}, kT0)));
  absl::StatusOr<std::vector<UsagePoint>> p = store().Query(Minutes(kM0, kM0 + 2));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].bucket, kM0);
  EXPECT_EQ((*p)[0].variant, "off");
  EXPECT_EQ((*p)[0].count, 1);
  EXPECT_EQ((*p)[1].variant, "on");
  EXPECT_EQ((*p)[1].count, 7);
  EXPECT_EQ((*p)[2].bucket, kM0 + 1);
  EXPECT_EQ((*p)[2].count, 2);
  // The range is half-open.
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 8);
  EXPECT_TRUE(store().Query(Minutes(kM0 + 2, kM0)).value().empty());
}

TEST_P(UsageStoreConformanceTest, ABatchSentTwiceCountsOnce) {
  ASSERT_TRUE(Added(store().Add("same", {Eval(kM0, "on", 5)}, kT0)));
  ASSERT_FALSE(Added(store().Add("same", {Eval(kM0, "on", 5)}, kT0)));
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 5);
}

TEST_P(UsageStoreConformanceTest, HoursHoldTheSumOfTheirMinutes) {
  // 10:59 and 11:00 fall into two hours; 10:00 and 10:59 into one.
  ASSERT_TRUE(store().Add("b", {Eval(kM0, "on", 1), Eval(kM0 + 59, "on", 2), Eval(kM0 + 60, "on", 4)},
                          kT0 + absl::Hours(1)).ok());
  UsageQuery q = Minutes(kM0, kM0 + 120);
  q.resolution = UsageResolution::kHour;
  absl::StatusOr<std::vector<UsagePoint>> p = store().Query(q);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].bucket, kM0);
  EXPECT_EQ((*p)[0].count, 3);
  EXPECT_EQ((*p)[1].bucket, kM0 + 60);
  EXPECT_EQ((*p)[1].count, 4);
}

TEST_P(UsageStoreConformanceTest, SeriesAreKeptApart) {
  ASSERT_TRUE(store().Add("b", {Eval(kM0, "on", 1), Eval(kM0, "on", 10, "other"), Eval(kM0, "on", 100, "checkout", "ws_b"),
                                Eval(kM0, "on", 1000, "checkout", "ws_a", "staging"),
                                {kM0, "sdk_request", "ws_a", "prod", "checkout", "on", "", 10000}},
                          kT0).ok());
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 1);
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1, "other"))), 10);
}

TEST_P(UsageStoreConformanceTest, RetentionKeepsMinutesTwoDaysAndHoursNinetyDays) {
  ASSERT_TRUE(store().Add("b", {Eval(kM0, "on", 6)}, kT0).ok());
  UsageQuery hours = Minutes(kM0, kM0 + 60);
  hours.resolution = UsageResolution::kHour;
  ASSERT_TRUE(store().Prune(kT0 + absl::Hours(47)).ok());
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 6);
  ASSERT_TRUE(store().Prune(kT0 + absl::Hours(49)).ok());
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 0);
  EXPECT_EQ(Sum(*store().Query(hours)), 6);
  ASSERT_TRUE(store().Prune(kT0 + absl::Hours(24 * 90 - 1)).ok());
  EXPECT_EQ(Sum(*store().Query(hours)), 6);
  ASSERT_TRUE(store().Prune(kT0 + absl::Hours(24 * 91)).ok());
  EXPECT_EQ(Sum(*store().Query(hours)), 0);
  // The batch id was forgotten with the minutes: the same id counts again.
  EXPECT_TRUE(Added(store().Add("b", {Eval(kM0 + 2 * 24 * 60 * 50, "on", 1)}, kT0 + absl::Hours(24 * 100))));
}

TEST_P(UsageStoreConformanceTest, RowsOlderThanTheRetentionAreSkipped) {
  const absl::Time now = kT0 + absl::Hours(24 * 3);
  ASSERT_TRUE(store().Add("b", {Eval(kM0, "on", 2), Eval(kM0 - 24 * 60 * 100, "on", 9)}, now).ok());
  // Minute rows of 3 days ago are past the minute retention: only the hour has them.
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 0);
  UsageQuery all = Minutes(kM0 - 24 * 60 * 200, kM0 + 60);
  all.resolution = UsageResolution::kHour;
  EXPECT_EQ(Sum(*store().Query(all)), 2);
}

TEST_P(UsageStoreConformanceTest, LastEvaluatedPerFlag) {
  ASSERT_TRUE(store().Add("b", {Eval(kM0, "on", 1), Eval(kM0 + 90, "on", 1), Eval(kM0 + 5, "on", 1, "other"),
                                Eval(kM0 + 500, "on", 1, "elsewhere", "ws_b")},
                          kT0 + absl::Hours(9)).ok());
  absl::StatusOr<std::map<std::string, int64_t>> last = store().LastEvaluated("ws_a");
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->size(), 2u);
  EXPECT_EQ(last->at("checkout"), kM0 + 90);
  EXPECT_EQ(last->at("other"), kM0 + 5);
}

TEST_P(UsageStoreConformanceTest, InvalidRowsStoreNothing) {
  EXPECT_EQ(store().Add("b", {Eval(kM0, "on", 1), Eval(kM0, "on", 0)}, kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Add("c", {Eval(kM0, "on", 1, "")}, kT0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Add("", {Eval(kM0, "on", 1)}, kT0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 0);
  // The refused batch ids were not recorded.
  EXPECT_TRUE(Added(store().Add("b", {Eval(kM0, "on", 1)}, kT0)));
}

TEST_P(UsageStoreConformanceTest, ConcurrentBatchesAllCount) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<bool> added = absl::UnavailableError("not tried");
        for (int attempt = 0; attempt < 20 && !added.ok(); ++attempt) {
          // Built with append: GCC 12 reports a false -Wrestrict for "t" + std::string&&.
          std::string id(1, 't');
          id.append(std::to_string(t)).append("-").append(std::to_string(i));
          added = store().Add(id, {Eval(kM0, "on", 1)}, kT0);
        }
        EXPECT_TRUE(added.ok()) << added.status();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(Sum(*store().Query(Minutes(kM0, kM0 + 1))), 40);
}

}  // namespace edgevault::storage
