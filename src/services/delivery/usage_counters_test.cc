// Delivery's usage counting (usage_counters.h), shipping (usage_shipper.h) and the counts
// the OFREP handlers make, on a simulated clock (docs/design/usage.md §1-2).
#include "src/services/delivery/usage_counters.h"

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/hash.h"
#include "src/net/raw_request.h"
#include "src/net/router.h"
#include "src/services/delivery/delivery_service.h"
#include "src/services/delivery/usage_shipper.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"

namespace edgevault::delivery {
namespace {
namespace json = boost::json;

int64_t Total(const std::vector<UsageCount>& counts) {
  int64_t n = 0;
  for (const UsageCount& c : counts) n += c.count;
  return n;
}

TEST(UsageCountersTest, CountsPerSeriesAndMinute) {
  UsageCounters counters;
  counters.CountEvaluation(100, "ws_1", "prod", "f", "on", "TARGETING_MATCH");
  counters.CountEvaluation(100, "ws_1", "prod", "f", "on", "TARGETING_MATCH");
  counters.CountEvaluation(100, "ws_1", "prod", "f", "off", "DEFAULT");
  counters.CountEvaluation(101, "ws_1", "prod", "f", "on", "TARGETING_MATCH");
  // Any byte in a variant name stays in its field.
  counters.CountEvaluation(101, "ws_1", "prod", "f", std::string("a\0b\x1f", 4), "SPLIT");
  counters.CountSdkRequest(100, "ws_1", "prod", "server", "ofrep");
  std::vector<UsageCount> c = counters.Drain();
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].minute, 100);
  EXPECT_EQ(c[0].kind, "evaluation");
  EXPECT_EQ(c[0].variant, "off");
  EXPECT_EQ(c[1].variant, "on");
  EXPECT_EQ(c[1].count, 2);
  EXPECT_EQ(c[2].kind, "sdk_request");
  EXPECT_EQ(c[2].flag, "ofrep");
  EXPECT_EQ(c[2].variant, "server");
  EXPECT_EQ(c[3].minute, 101);
  EXPECT_EQ(c[3].variant, std::string("a\0b\x1f", 4));
  EXPECT_EQ(c[4].count, 1);
  // Drained means gone.
  EXPECT_TRUE(counters.Drain().empty());
}

TEST(UsageCountersTest, ParallelCountsWhileDrainingLoseNothing) {
  UsageCounters counters;
  constexpr int kThreads = 8, kEach = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> running{kThreads};
  // Each thread counts its second half only after a drain ran, so at least one drain
  // overlaps counting however the threads are scheduled (on a loaded machine they all
  // finished before the first drain: 0 drains in CI).
  std::atomic<bool> drained{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (i == kEach / 2) {
          while (!drained.load()) std::this_thread::yield();
        }
        counters.CountEvaluation(7, "ws_1", "prod", "f", (i + t) % 2 ? "on" : "off", "SPLIT");
      }
      running.fetch_sub(1);
    });
  }
  int64_t total = 0;
  int drains = 0;
  do {
    total += Total(counters.Drain());
    ++drains;
    drained.store(true);
  } while (running.load() > 0);
  for (std::thread& th : threads) th.join();
  total += Total(counters.Drain());
  EXPECT_GT(drains, 0);
  EXPECT_EQ(total, int64_t{kThreads} * kEach);
}

TEST(UsageCountersTest, AFullShardDropsNewSeriesAndSaysSo) {
  UsageCounters counters(/*max_series_per_shard=*/2);
  counters.CountEvaluation(1, "ws", "prod", "a", "on", "STATIC");
  counters.CountEvaluation(1, "ws", "prod", "b", "on", "STATIC");
  counters.CountEvaluation(1, "ws", "prod", "c", "on", "STATIC");  // a third series: dropped
  counters.CountEvaluation(1, "ws", "prod", "a", "on", "STATIC");  // a known one still counts
  EXPECT_EQ(counters.dropped(), 1);
  std::vector<UsageCount> c = counters.Drain();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].count, 2);
}

struct Sent {
  std::vector<std::string> bodies;
  bool fail = false;
};

UsageShipperOptions ShipperOptions(UsageCounters* counters, base::Env* env, Sent* sent) {
  return {.counters = counters,
          .env = env,
          .send = [sent](const std::string& body) -> absl::Status {
            if (sent->fail) return absl::UnavailableError("api down");
            sent->bodies.push_back(body);
            return absl::OkStatus();
          },
          .node_id = "node-t",
          .interval = absl::Seconds(60),
          .max_pending_batches = 2,
          .max_rows_per_body = 2};
}

TEST(UsageShipperTest, AFailedBatchIsResentFirstWithItsBatchId) {
  base::SimulatedEnv env;
  UsageCounters counters;
  Sent sent;
  auto shipper = UsageShipper::Create(ShipperOptions(&counters, &env, &sent));
  ASSERT_TRUE(shipper.ok()) << shipper.status();
  counters.CountEvaluation(5, "ws", "prod", "f", "on", "STATIC");
  sent.fail = true;
  EXPECT_EQ((*shipper)->ShipOnce(), 0);
  EXPECT_EQ((*shipper)->pending(), 1u);
  counters.CountEvaluation(6, "ws", "prod", "f", "on", "STATIC");
  sent.fail = false;
  EXPECT_EQ((*shipper)->ShipOnce(), 2);
  ASSERT_EQ(sent.bodies.size(), 2u);
  json::value first = json::parse(sent.bodies[0]);
  json::value second = json::parse(sent.bodies[1]);
  EXPECT_EQ(first.at("evaluations").at(0).at("minute"), 5);
  EXPECT_EQ(second.at("evaluations").at(0).at("minute"), 6);
  EXPECT_EQ(first.at("format"), 1);
  EXPECT_EQ(first.at("node"), "node-t");
  EXPECT_EQ(first.at("batch").as_string().size(), 32u);
  EXPECT_NE(first.at("batch"), second.at("batch"));
  EXPECT_EQ((*shipper)->pending(), 0u);
}

TEST(UsageShipperTest, LargeDrainsAreSplitAndTheOldestBatchIsDroppedBeyondTheBound) {
  base::SimulatedEnv env;
  UsageCounters counters;
  Sent sent;
  auto shipper = UsageShipper::Create(ShipperOptions(&counters, &env, &sent));
  ASSERT_TRUE(shipper.ok());
  for (int m = 0; m < 6; ++m) counters.CountEvaluation(m, "ws", "prod", "f", "on", "STATIC");
  sent.fail = true;
  (*shipper)->ShipOnce();  // 6 rows, 2 per body: 3 batches, the bound keeps 2
  EXPECT_EQ((*shipper)->pending(), 2u);
  EXPECT_EQ((*shipper)->dropped_batches(), 1);
  sent.fail = false;
  EXPECT_EQ((*shipper)->ShipOnce(), 2);
  ASSERT_EQ(sent.bodies.size(), 2u);
  EXPECT_EQ(json::parse(sent.bodies[0]).at("evaluations").at(0).at("minute"), 2);  // minutes 0-1 dropped
}

// The background task: the first shipment just after the minute closes, then one per
// interval; nothing in between. Driven by the simulated clock, never by sleeping.
TEST(UsageShipperTest, BackgroundTaskShipsJustAfterEachMinute) {
  base::SimulatedEnv env(absl::FromUnixSeconds(1'800'000'030));  // half a minute in
  UsageCounters counters;
  Sent sent;
  auto shipper = UsageShipper::Create(ShipperOptions(&counters, &env, &sent));
  ASSERT_TRUE(shipper.ok());
  (*shipper)->Start();
  counters.CountEvaluation(30'000'000, "ws", "prod", "f", "on", "STATIC");
  env.RunFor(absl::Seconds(30));  // the minute closes at +30 s; shipped at +31 s
  EXPECT_TRUE(sent.bodies.empty());
  env.RunFor(absl::Seconds(2));
  ASSERT_EQ(sent.bodies.size(), 1u);
  counters.CountEvaluation(30'000'001, "ws", "prod", "f", "off", "STATIC");
  env.RunFor(absl::Seconds(58));
  EXPECT_EQ(sent.bodies.size(), 1u);
  env.RunFor(absl::Seconds(2));
  EXPECT_EQ(sent.bodies.size(), 2u);
  (*shipper)->Stop();
  (*shipper)->Stop();  // idempotent
}

TEST(UsageShipperTest, StopShipsWhatTheCurrentMinuteCounted) {
  base::SimulatedEnv env;
  UsageCounters counters;
  Sent sent;
  auto shipper = UsageShipper::Create(ShipperOptions(&counters, &env, &sent));
  ASSERT_TRUE(shipper.ok());
  (*shipper)->Start();
  counters.CountEvaluation(9, "ws", "prod", "f", "on", "STATIC");
  (*shipper)->Stop();
  ASSERT_EQ(sent.bodies.size(), 1u);
  EXPECT_EQ(json::parse(sent.bodies[0]).at("evaluations").at(0).at("count"), 1);
}

constexpr char kKey[] = "evs_usage_key";

TEST(DeliveryUsageTest, OfrepEvaluationsAreCountedPerVariantReasonAndMinute) {
  base::testing::TempDir dir("ev-usage");
  ASSERT_FALSE(dir.path().empty());
  auto kv = storage::OpenLmdbEdgeKv({.path = dir.path() + "/edge"});
  ASSERT_TRUE(kv.ok()) << kv.status();
  ASSERT_TRUE((*kv)->PutIfNewer("sdk/" + crypto::Sha256Hex(kKey),
                                R"({"org_id":"o","workspace_id":"ws_1","environment":"prod"})", 1).ok());
  ASSERT_TRUE((*kv)->PutIfNewer("doc/ws_1/prod",
                                R"({"format":1,"workspace_id":"ws_1","environment":"prod","version":3,)"
                                R"("configs":{"c":{"type":"string","value":"x","from":"prod"}},)"
                                R"("flags":{"f":{"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],)"
                                R"("environments":{"prod":{"on":true,"rules":[{"id":"pro","clauses":[)"
                                R"({"attribute":"plan","op":"in","values":["pro"]}],"variation":1}],)"
                                R"("fallthrough":{"variation":0}}}}},"segments":{}})",
                                3).ok());
  base::SimulatedEnv env(absl::FromUnixSeconds(6000));  // minute 100
  UsageCounters counters;
  auto service = DeliveryService::Create({.kv = kv->get(), .env = &env, .usage = &counters});
  ASSERT_TRUE(service.ok()) << service.status();
  net::Router router;
  (*service)->Install(router);
  auto call = [&](const char* target, std::string body) {
    net::RawRequest raw{boost::beast::http::verb::post, target, 11};
    raw.set(boost::beast::http::field::authorization, std::string("Bearer ") + kKey);
    raw.body() = std::move(body);
    raw.prepare_payload();
    net::Request req(raw, "t", "127.0.0.1");
    const net::Router::Route* route = nullptr;
    std::string allow;
    EXPECT_EQ(router.Match(req, &route, &allow), net::Router::MatchResult::kFound);
    return route->handler(req).status;
  };
  const std::string pro = R"({"context":{"targetingKey":"u","plan":"pro"}})";
  const std::string free = R"({"context":{"targetingKey":"u","plan":"free"}})";
  EXPECT_EQ(call("/ofrep/v1/evaluate/flags/f", pro), 200);
  EXPECT_EQ(call("/ofrep/v1/evaluate/flags/f", pro), 200);
  EXPECT_EQ(call("/ofrep/v1/evaluate/flags/f", free), 200);
  EXPECT_EQ(call("/ofrep/v1/evaluate/flags/missing", free), 404);  // no series for it
  EXPECT_EQ(call("/ofrep/v1/evaluate/flags/c", free), 200);        // a config: not a flag
  env.AdvanceBy(absl::Minutes(1));
  EXPECT_EQ(call("/ofrep/v1/evaluate/flags", free), 200);  // bulk: f once more
  std::vector<UsageCount> c = counters.Drain();
  std::map<std::string, int64_t> by;
  for (const UsageCount& u : c) {
    by[std::to_string(u.minute) + "/" + u.kind + "/" + u.flag + "/" + u.variant + "/" + u.reason] += u.count;
  }
  EXPECT_EQ(by["100/evaluation/f/on/TARGETING_MATCH"], 2);
  EXPECT_EQ(by["100/evaluation/f/off/DEFAULT"], 1);
  EXPECT_EQ(by["101/evaluation/f/off/DEFAULT"], 1);
  EXPECT_EQ(by["100/sdk_request/ofrep/server/"], 5);
  EXPECT_EQ(by["101/sdk_request/ofrep_bulk/server/"], 1);
  EXPECT_EQ(by.size(), 5u) << "unexpected series";
}

}  // namespace
}  // namespace edgevault::delivery
