#include "cli/history_diff.h"

#include "gtest/gtest.h"

namespace edgevault::cli {
namespace {

namespace json = boost::json;
using Lines = std::vector<std::string>;

TEST(HistoryDiffTest, ConfigsShowEachEnvironmentsValue) {
  EXPECT_EQ(RevisionDiff("config", json::parse(R"({"type":"integer","values":{"prod":20,"dev":5}})"),
                         json::parse(R"({"type":"integer","values":{"prod":25,"dev":5,"qa":1}})")),
            (Lines{"prod: 20 → 25", "qa: (inherits) → 1"}));
  EXPECT_EQ(RevisionDiff("config", json::parse(R"({"type":"string","values":{"dev":"a"}})"),
                         json::parse(R"({"type":"json","values":{}})")),
            (Lines{"dev: \"a\" → (inherits)", "type: \"string\" → \"json\""}));
  EXPECT_EQ(RevisionDiff("config", nullptr, json::parse(R"({"type":"integer","values":{"prod":1}})")),
            (Lines{"created", "prod: (inherits) → 1"}));
  EXPECT_EQ(RevisionDiff("config", json::parse(R"({"values":{"prod":1}})"), nullptr),
            (Lines{"deleted", "prod: 1 → (inherits)"}));
  EXPECT_TRUE(RevisionDiff("config", json::parse(R"({"values":{"prod":1}})"),
                           json::parse(R"({"values":{"prod":1}})")).empty());
}

TEST(HistoryDiffTest, SecretsShowVersionsNeverValues) {
  EXPECT_EQ(RevisionDiff("secret", json::parse(R"({"values":{"prod":{"version":3}}})"),
                         json::parse(R"({"values":{"prod":{"version":4},"dev":{"version":1}}})")),
            (Lines{"dev: (none) → v1", "prod: v3 → v4"}));
}

TEST(HistoryDiffTest, FlagsShowWhatChangedInEachEnvironment) {
  EXPECT_EQ(RevisionDiff("flag",
                         json::parse(R"({"variations":[{"value":true},{"value":false}],
                                         "environments":{"prod":{"on":true,"rules":[]},"dev":{"on":true}}})"),
                         json::parse(R"({"variations":[{"value":true},{"value":false}],
                                         "environments":{"prod":{"on":false,"rules":[{"x":1}]},"dev":{"on":true}}})")),
            (Lines{"prod: on: true → false", "prod: rules changed"}));
  EXPECT_EQ(RevisionDiff("flag", json::parse(R"({"variations":[1],"environments":{}})"),
                         json::parse(R"({"variations":[2],"environments":{"qa":{"on":true}}})")),
            (Lines{"qa: (inherits) → {\"on\":true}", "variations changed"}));
}

TEST(HistoryDiffTest, EnvironmentsListTheirChangedSettings) {
  EXPECT_EQ(RevisionDiff("environment", json::parse(R"({"key":"qa","name":"QA","parent":"prod","protected":false})"),
                         json::parse(R"({"key":"qa","name":"QA","parent":null,"protected":true})")),
            (Lines{"parent: \"prod\" → (none)", "protected: false → true"}));
  EXPECT_EQ(RevisionDiff("environment", nullptr, json::parse(R"({"key":"qa"})")), (Lines{"created"}));
  EXPECT_EQ(RevisionDiff("environment", json::parse(R"({"key":"qa"})"), nullptr), (Lines{"deleted"}));
}

}  // namespace
}  // namespace edgevault::cli
