#include "cli/flag_import.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "src/eval/context.h"
#include "src/eval/evaluator.h"

namespace edgevault::cli {
namespace {

namespace json = boost::json;

json::value Fixture(const std::string& name) {
  std::ifstream in(std::string(EV_IMPORT_FIXTURES_DIR) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  EXPECT_FALSE(ec) << name;
  return v;
}

json::object ByKey(const std::vector<ImportedFlag>& flags) {
  json::object out;
  for (const ImportedFlag& f : flags) out[f.key] = f.body;
  return out;
}

int Evaluate(const eval::FlagSet& set, std::string_view flag, const json::object& context) {
  absl::StatusOr<eval::Context> ctx = eval::Context::FromJson(context);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return eval::Evaluate(set, flag, *ctx).variation;
}

// LaunchDarkly's documented algorithm, written here from its description and not through
// src/eval: the first 15 hex digits of sha1("<flag key>.<salt>.<context key>") over
// 0xFFFFFFFFFFFFFFF, then the first weighted variation whose running sum exceeds
// bucket × 100000.
int LaunchDarklyVariation(const std::string& flag_key, const std::string& salt, const std::string& user,
                          const std::vector<std::pair<int, int>>& weights) {
  std::string input = flag_key + "." + salt + "." + user;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  char hex[41];
  for (int i = 0; i < SHA_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  double bucket = static_cast<double>(std::stoull(std::string(hex, 15), nullptr, 16)) /
                  static_cast<double>(0xFFFFFFFFFFFFFFFULL);
  double sum = 0;
  for (const auto& [variation, weight] : weights) {
    sum += weight / 100000.0;
    if (bucket < sum) return variation;
  }
  return weights.back().first;
}

TEST(FlagImportTest, LaunchDarklyFlagsKeepTheirBuckets) {
  absl::StatusOr<std::vector<ImportedFlag>> flags = FlagsFromLaunchDarkly(Fixture("launchdarkly-flags.json"));
  ASSERT_TRUE(flags.ok()) << flags.status();
  // The archived flag is left out; checkout-service, listed last, comes before the flag
  // that requires it (a batch validates each entry on the earlier ones).
  ASSERT_EQ(flags->size(), 3u);
  EXPECT_EQ((*flags)[0].key, "hashKey");
  EXPECT_EQ((*flags)[1].key, "checkout-service");
  EXPECT_EQ((*flags)[2].key, "new-checkout");
  const json::object& hash_key = (*flags)[0].body;
  EXPECT_EQ(hash_key.at("salt"), json::value("saltyA"));
  EXPECT_FALSE(hash_key.contains("client_visible"));
  EXPECT_EQ((*flags)[2].body.at("client_visible"), json::value(true));
  EXPECT_EQ(json::serialize((*flags)[2].body.at("environments").at("production").at("prerequisites")),
            R"([{"flag":"checkout-service","variation":0}])");
  EXPECT_EQ(json::serialize(hash_key.at("environments").at("production").at("rules").at(1).at("clauses")),
            R"([{"attribute":"/app.version","op":"semver_lt","values":["2.0.0"]}])");

  absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set = eval::FlagSet::Build(ByKey(*flags), {}, "production");
  ASSERT_TRUE(set.ok()) << set.status();
  // LaunchDarkly's published buckets for hashKey/saltyA: userKeyA 0.42157587 → the second
  // 30 %, userKeyB 0.6708485 → the last 40 %, userKeyC 0.10343106 → the first.
  EXPECT_EQ(Evaluate(**set, "hashKey", {{"key", "userKeyA"}}), 1);
  EXPECT_EQ(Evaluate(**set, "hashKey", {{"key", "userKeyB"}}), 2);
  EXPECT_EQ(Evaluate(**set, "hashKey", {{"key", "userKeyC"}}), 0);
  // A sample of users: the fallthrough and the rule's rollout give what LaunchDarkly's
  // algorithm gives; targets and the semver rule as LaunchDarkly orders them.
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 1000; ++i) {
    std::string user = "user-" + std::to_string(i);
    int got = Evaluate(**set, "hashKey", {{"key", user}});
    ASSERT_EQ(got, LaunchDarklyVariation("hashKey", "saltyA", user, {{0, 30000}, {1, 30000}, {2, 40000}})) << user;
    ++seen[got];
    ASSERT_EQ(Evaluate(**set, "hashKey", {{"key", user}, {"email", user + "@example.com"}}),
              LaunchDarklyVariation("hashKey", "saltyA", user, {{0, 50000}, {1, 50000}}))
        << user;
  }
  EXPECT_GT(seen[0], 200);  // the sample reaches every variation
  EXPECT_GT(seen[1], 200);
  EXPECT_GT(seen[2], 300);
  EXPECT_EQ(Evaluate(**set, "hashKey", {{"key", "vip-2"}, {"email", "vip@example.com"}}), 2);
  EXPECT_EQ(Evaluate(**set, "hashKey", {{"key", "userKeyB"}, {"app.version", "1.9.0"}}), 0);
  EXPECT_EQ(Evaluate(**set, "new-checkout", {{"key", "anyone"}}), 0);

  // The test environment: hashKey off (off variation 0), new-checkout's seeded rollout.
  absl::StatusOr<std::shared_ptr<const eval::FlagSet>> test = eval::FlagSet::Build(ByKey(*flags), {}, "test");
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(Evaluate(**test, "hashKey", {{"key", "userKeyA"}}), 0);

  // One environment only.
  absl::StatusOr<std::vector<ImportedFlag>> prod = FlagsFromLaunchDarkly(Fixture("launchdarkly-flags.json"), "production");
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(prod->front().body.at("environments").as_object().size(), 1u);
}

// What does not map is refused, naming the flag and the construct.
TEST(FlagImportTest, LaunchDarklyConstructsThatDoNotMapAreRefused) {
  auto refused = [](std::string_view flag_json) {
    json::value doc = json::parse(std::string(R"({"items":[)") + std::string(flag_json) + "]}");
    absl::StatusOr<std::vector<ImportedFlag>> got = FlagsFromLaunchDarkly(doc);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(got.status().message());
  };
  const std::string base = R"("key":"f","variations":[{"value":true},{"value":false}],)";
  EXPECT_EQ(refused("{" + base + R"("environments":{"production":{"on":true,"salt":"s","fallthrough":{"variation":0},
      "rules":[{"clauses":[{"attribute":"segmentMatch","op":"segmentMatch","values":["beta"]}],"variation":0}]}}})"),
            "flag \"f\": environments.production.rules[0].clauses[0]: segmentMatch needs segments, which an import "
            "does not bring");
  EXPECT_NE(refused("{" + base + R"("environments":{"production":{"on":true,"salt":"s","fallthrough":{"variation":0},
      "rules":[{"clauses":[{"attribute":"plan","op":"in","values":["x"],"contextKind":"organization"}],"variation":0}]}}})")
                .find("context kind \"organization\""),
            std::string::npos);
  EXPECT_NE(refused("{" + base + R"("environments":{"production":{"on":true,"salt":"s","fallthrough":{"variation":0},
      "rules":[{"clauses":[{"attribute":"plan","op":"wat","values":["x"]}],"variation":0}]}}})")
                .find("unknown operator \"wat\""),
            std::string::npos);
  std::string salts = refused("{" + base + R"("environments":{"production":{"on":true,"salt":"a","fallthrough":{"variation":0}},
      "test":{"on":true,"salt":"b","fallthrough":{"variation":0}}}})");
  EXPECT_NE(salts.find("flag \"f\": environments: the environments (production, test) hash with different salts"),
            std::string::npos)
      << salts;
  EXPECT_NE(refused("{" + base + R"("environments":{"production":{"on":true,"salt":"s","fallthrough":{"variation":0},
      "contextTargets":[{"contextKind":"device","values":["d1"],"variation":0}]}}})")
                .find("context kind \"device\""),
            std::string::npos);
  EXPECT_EQ(FlagsFromLaunchDarkly(json::parse("[1]")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FlagsFromLaunchDarkly(json::parse(R"({"items":[]})")).status().code(), absl::StatusCode::kInvalidArgument);
}

// Unleash: everyone (default, 100 %) and nobody (0 %, or disabled) map exactly; a partial
// rollout does not (Unleash hashes with murmur3) and is refused.
TEST(FlagImportTest, UnleashImportsWhatNeedsNoHashAndRefusesPartialRollouts) {
  absl::StatusOr<std::vector<ImportedFlag>> flags = FlagsFromUnleash(Fixture("unleash-export.json"));
  ASSERT_TRUE(flags.ok()) << flags.status();
  ASSERT_EQ(flags->size(), 3u);
  absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set = eval::FlagSet::Build(ByKey(*flags), {}, "production");
  ASSERT_TRUE(set.ok()) << set.status();
  for (int i = 0; i < 100; ++i) {
    std::string user = "user-" + std::to_string(i);
    EXPECT_EQ(Evaluate(**set, "dark-mode", {{"key", user}}), 0);      // true for everyone
    EXPECT_EQ(Evaluate(**set, "beta-banner", {{"key", user}}), 0);    // 100 %
    EXPECT_EQ(Evaluate(**set, "legacy-export", {{"key", user}}), 1);  // disabled: false
  }
  EXPECT_EQ((*flags)[0].body.at("description"), json::value("Dark theme for everyone"));

  auto refused = [](std::string_view strategies) {
    json::value doc = json::parse(std::string(R"({"features":[{"name":"f"}],"featureEnvironments":[)"
                                              R"({"featureName":"f","environment":"production","enabled":true}],)"
                                              R"("featureStrategies":[)") +
                                  std::string(strategies) + "]}");
    absl::StatusOr<std::vector<ImportedFlag>> got = FlagsFromUnleash(doc);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(got.status().message());
  };
  std::string partial = refused(R"({"featureName":"f","name":"flexibleRollout","parameters":{"rollout":"50","groupId":"f","stickiness":"default"}})");
  EXPECT_NE(partial.find("flag \"f\": environments.production.strategies[0]: flexibleRollout of 50%: Unleash buckets "
                         "users with murmur3(groupId:userId)"),
            std::string::npos)
      << partial;
  EXPECT_NE(refused(R"({"featureName":"f","name":"userWithId","parameters":{"userIds":"a,b"}})")
                .find("strategy \"userWithId\" has no EdgeVault equivalent"),
            std::string::npos);
  EXPECT_NE(refused(R"({"featureName":"f","name":"default","constraints":[{"contextName":"region","operator":"IN","values":["eu"]}]})")
                .find("constraints"),
            std::string::npos);
}

}  // namespace
}  // namespace edgevault::cli
