#include "src/eval/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <utility>

#include "src/base/strings.h"

namespace edgevault::eval {
namespace {

boost::json::value Json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v;
}
boost::json::object Obj(std::string_view text) {
  boost::json::value v = Json(text);
  return v.is_object() ? v.get_object() : boost::json::object();
}
Context Ctx(std::string_view text) { return Context(Obj(text)); }

// A flag with variations "a", "b", "c" whose "prod" environment is `env`.
std::string Flag(std::string_view env) {
  return base::StrCat(
      R"({"variations":[{"value":"a"},{"value":"b"},{"value":"c"}],"environments":{"prod":)", env,
      "}}");
}

// A flags_by_key object from (key, flag JSON) pairs.
boost::json::object Flags(std::initializer_list<std::pair<std::string_view, std::string>> flags) {
  boost::json::object out;
  for (const auto& [key, text] : flags) out[key] = Json(text);
  return out;
}

std::shared_ptr<const FlagSet> MustBuild(const boost::json::object& flags,
                                         std::string_view segments = "{}") {
  absl::StatusOr<std::shared_ptr<const FlagSet>> set =
      FlagSet::Build(flags, Obj(segments), "prod");
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : FlagSet::FromCompiled({}, {});
}

// True when the single clause `clause` matches `context`.
bool Matches(std::string_view clause, std::string_view context, std::string_view segments = "{}") {
  auto set = MustBuild(
      Flags({{"f", Flag(base::StrCat(
                       R"({"on":true,"fallthrough":{"variation":0},"rules":[{"clauses":[)", clause,
                       R"(],"variation":1}]})"))}}),
      segments);
  EvalResult r = Evaluate(*set, "f", Ctx(context));
  EXPECT_NE(r.reason, kReasonError) << r.error_message;
  return r.variation == 1;
}

struct OpCase {
  const char* clause;
  const char* context;
  bool want;
};

void RunCases(const std::vector<OpCase>& cases) {
  for (const OpCase& c : cases) {
    EXPECT_EQ(Matches(c.clause, c.context), c.want) << c.clause << " vs " << c.context;
  }
}

TEST(OperatorTest, InIsTypeSensitiveEquality) {
  RunCases({
      {R"({"attribute":"a","op":"in","values":["x","y"]})", R"({"a":"y"})", true},
      {R"({"attribute":"a","op":"in","values":["x"]})", R"({"a":"z"})", false},
      {R"({"attribute":"a","op":"in","values":[1]})", R"({"a":"1"})", false},
      {R"({"attribute":"a","op":"in","values":["1"]})", R"({"a":1})", false},
      {R"({"attribute":"a","op":"in","values":[1]})", R"({"a":1.0})", true},
      {R"({"attribute":"a","op":"in","values":[2.5]})", R"({"a":2.5})", true},
      {R"({"attribute":"a","op":"in","values":[true]})", R"({"a":true})", true},
      {R"({"attribute":"a","op":"in","values":[true]})", R"({"a":"true"})", false},
      {R"({"attribute":"a","op":"in","values":[0]})", R"({"a":false})", false},
      {R"({"attribute":"a","op":"in","values":[{"k":[1,"x"]}]})", R"({"a":{"k":[1,"x"]}})", true},
      {R"({"attribute":"a","op":"in","values":[{"k":1}]})", R"({"a":{"k":"1"}})", false},
      {R"({"attribute":"a","op":"in","values":[18446744073709551615]})",
       R"({"a":18446744073709551615})", true},
      {R"({"attribute":"a","op":"in","values":[-1]})", R"({"a":18446744073709551615})", false},
  });
}

TEST(OperatorTest, StringOperatorsNeedStrings) {
  RunCases({
      {R"({"attribute":"a","op":"starts_with","values":["ab"]})", R"({"a":"abc"})", true},
      {R"({"attribute":"a","op":"starts_with","values":["ab"]})", R"({"a":"xabc"})", false},
      {R"({"attribute":"a","op":"starts_with","values":["1"]})", R"({"a":12})", false},
      {R"({"attribute":"a","op":"ends_with","values":["x","bc"]})", R"({"a":"abc"})", true},
      {R"({"attribute":"a","op":"ends_with","values":["ab"]})", R"({"a":"abc"})", false},
      {R"({"attribute":"a","op":"contains","values":["b"]})", R"({"a":"abc"})", true},
      {R"({"attribute":"a","op":"contains","values":["q"]})", R"({"a":"abc"})", false},
      {R"({"attribute":"a","op":"contains","values":["true"]})", R"({"a":true})", false},
  });
}

TEST(OperatorTest, MatchesIsAnUnanchoredRe2Search) {
  RunCases({
      {R"({"attribute":"a","op":"matches","values":["^a.c$"]})", R"({"a":"abc"})", true},
      {R"({"attribute":"a","op":"matches","values":["b"]})", R"({"a":"abc"})", true},
      {R"({"attribute":"a","op":"matches","values":["^b"]})", R"({"a":"abc"})", false},
      {R"({"attribute":"a","op":"matches","values":["^q","c$"]})", R"({"a":"abc"})", true},
      {R"({"attribute":"a","op":"matches","values":["5"]})", R"({"a":5})", false},
      // A pattern that backtracks exponentially elsewhere runs in linear time in RE2.
      {R"({"attribute":"a","op":"matches","values":["^(a+)+$"]})",
       R"({"a":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"})", false},
  });
}

TEST(OperatorTest, NumericOperatorsNeedNumbers) {
  RunCases({
      {R"({"attribute":"a","op":"lt","values":[10]})", R"({"a":5})", true},
      {R"({"attribute":"a","op":"lt","values":[10]})", R"({"a":10})", false},
      {R"({"attribute":"a","op":"lte","values":[10]})", R"({"a":10})", true},
      {R"({"attribute":"a","op":"gt","values":[10]})", R"({"a":10.5})", true},
      {R"({"attribute":"a","op":"gt","values":[10]})", R"({"a":10})", false},
      {R"({"attribute":"a","op":"gte","values":[10]})", R"({"a":10})", true},
      {R"({"attribute":"a","op":"gte","values":[10]})", R"({"a":-3})", false},
      {R"({"attribute":"a","op":"lt","values":[10]})", R"({"a":"5"})", false},
      {R"({"attribute":"a","op":"lt","values":[10]})", R"({"a":false})", false},
      {R"({"attribute":"a","op":"lt","values":[1, 100]})", R"({"a":50})", true},
  });
}

TEST(OperatorTest, DateOperatorsAcceptRfc3339AndEpochMillis) {
  RunCases({
      {R"({"attribute":"t","op":"before","values":["2024-01-01T00:00:00Z"]})",
       R"({"t":"2023-12-31T23:59:59Z"})", true},
      {R"({"attribute":"t","op":"before","values":["2024-01-01T00:00:00Z"]})",
       R"({"t":"2024-01-01T00:00:00Z"})", false},
      {R"({"attribute":"t","op":"before","values":["2024-01-01T00:00:00Z"]})",
       R"({"t":1704067199999})", true},
      {R"({"attribute":"t","op":"after","values":[1704067200000]})",
       R"({"t":"2024-01-01T00:00:00.001Z"})", true},
      {R"({"attribute":"t","op":"after","values":["2024-01-01T02:00:00+02:00"]})",
       R"({"t":"2024-01-01T00:00:01Z"})", true},
      {R"({"attribute":"t","op":"after","values":["2024-01-01T00:00:00Z"]})",
       R"({"t":"not a date"})", false},
      {R"({"attribute":"t","op":"after","values":["2024-01-01T00:00:00Z"]})", R"({"t":true})",
       false},
  });
}

TEST(OperatorTest, SemverOperators) {
  RunCases({
      {R"({"attribute":"v","op":"semver_eq","values":["2.0.0"]})", R"({"v":"2"})", true},
      {R"({"attribute":"v","op":"semver_eq","values":["2.0.0"]})", R"({"v":"2.0.0+build"})",
       true},
      {R"({"attribute":"v","op":"semver_eq","values":["2.0.0"]})", R"({"v":"2.0.1"})", false},
      {R"({"attribute":"v","op":"semver_lt","values":["2.0.0"]})", R"({"v":"2.0.0-rc.1"})", true},
      {R"({"attribute":"v","op":"semver_lt","values":["1.10.0"]})", R"({"v":"1.9.9"})", true},
      {R"({"attribute":"v","op":"semver_gt","values":["1.10.0"]})", R"({"v":"1.9.0"})", false},
      {R"({"attribute":"v","op":"semver_gt","values":["1.10.0"]})", R"({"v":"1.11"})", true},
      {R"({"attribute":"v","op":"semver_gt","values":["1.0.0"]})", R"({"v":"banana"})", false},
      {R"({"attribute":"v","op":"semver_gt","values":["1.0.0"]})", R"({"v":2})", false},
  });
}

TEST(ClauseTest, NegateInverts) {
  RunCases({
      {R"({"attribute":"a","op":"in","values":["x"],"negate":true})", R"({"a":"y"})", true},
      {R"({"attribute":"a","op":"in","values":["x"],"negate":true})", R"({"a":"x"})", false},
      // A type mismatch is a non-match, so negated it matches.
      {R"({"attribute":"a","op":"lt","values":[3],"negate":true})", R"({"a":"2"})", true},
  });
}

TEST(ClauseTest, MissingAttributeNeverMatchesEvenNegated) {
  RunCases({
      {R"({"attribute":"a","op":"in","values":["x"]})", R"({})", false},
      {R"({"attribute":"a","op":"in","values":["x"],"negate":true})", R"({})", false},
      {R"({"attribute":"a","op":"in","values":["x"],"negate":true})", R"({"a":null})", false},
      {R"({"attribute":"a.b","op":"in","values":["x"],"negate":true})", R"({"a":"flat"})", false},
  });
}

TEST(ClauseTest, ArrayAttributeMatchesWhenAnyElementMatches) {
  RunCases({
      {R"({"attribute":"groups","op":"in","values":["admin"]})",
       R"({"groups":["dev","admin"]})", true},
      {R"({"attribute":"groups","op":"in","values":["admin"]})", R"({"groups":["dev"]})", false},
      {R"({"attribute":"groups","op":"starts_with","values":["ad"]})",
       R"({"groups":[1,null,"admin"]})", true},
      {R"({"attribute":"groups","op":"in","values":["admin"],"negate":true})",
       R"({"groups":["dev","admin"]})", false},
      {R"({"attribute":"groups","op":"in","values":["admin"],"negate":true})", R"({"groups":[]})",
       true},
      // Nested arrays are not flattened.
      {R"({"attribute":"groups","op":"in","values":["admin"]})", R"({"groups":[["admin"]]})",
       false},
  });
}

TEST(ClauseTest, NestedAndPointerPaths) {
  RunCases({
      {R"({"attribute":"address.city","op":"in","values":["Oslo"]})",
       R"({"address":{"city":"Oslo"}})", true},
      {R"({"attribute":"address.city","op":"in","values":["Oslo"]})",
       R"({"address.city":"Oslo"})", false},
      {R"({"attribute":"/address.city","op":"in","values":["Oslo"]})",
       R"({"address.city":"Oslo"})", true},
      {R"({"attribute":"/a~1b/c","op":"in","values":[1]})", R"({"a/b":{"c":1}})", true},
  });
}

TEST(ClauseTest, AllClausesOfARuleMustMatch) {
  std::string clauses = R"({"attribute":"a","op":"in","values":[1]},
                           {"attribute":"b","op":"in","values":[2]})";
  EXPECT_TRUE(Matches(clauses, R"({"a":1,"b":2})"));
  EXPECT_FALSE(Matches(clauses, R"({"a":1,"b":3})"));
  EXPECT_TRUE(Matches("", R"({})"));  // no clauses: matches everyone
}

TEST(EvaluateTest, ReasonsForEachPath) {
  auto set = MustBuild(Flags({
      {"off", Flag(R"({"on":false,"off_variation":2,"fallthrough":{"variation":0}})")},
      {"off-no-var", Flag(R"({"on":false,"fallthrough":{"variation":0}})")},
      {"plain", Flag(R"({"on":true,"fallthrough":{"variation":1}})")},
      {"split", Flag(R"({"on":true,"fallthrough":{"rollout":[{"variation":2,"weight":100000}]}})")},
      {"rules", Flag(R"({"on":true,"fallthrough":{"variation":0},
          "targets":[{"variation":2,"values":["vip"]}],
          "rules":[{"id":"fixed","clauses":[{"attribute":"plan","op":"in","values":["pro"]}],"variation":1},
                   {"id":"pct","clauses":[{"attribute":"plan","op":"in","values":["free"]}],
                    "rollout":[{"variation":0,"weight":0},{"variation":2,"weight":100000}]}]})")},
  }));

  EvalResult r = Evaluate(*set, "off", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonDisabled);
  EXPECT_EQ(r.variation, 2);
  ASSERT_NE(r.value, nullptr);
  EXPECT_EQ(r.value->as_string(), "c");

  r = Evaluate(*set, "off-no-var", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonDisabled);
  EXPECT_EQ(r.variation, -1);
  EXPECT_EQ(r.value, nullptr);

  r = Evaluate(*set, "plain", Ctx(R"({})"));  // no key needed for a fixed fallthrough
  EXPECT_EQ(r.reason, kReasonDefault);
  EXPECT_EQ(r.variation, 1);
  EXPECT_EQ(r.rule_index, -1);
  EXPECT_FALSE(r.in_experiment);

  r = Evaluate(*set, "split", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonSplit);
  EXPECT_EQ(r.variation, 2);
  EXPECT_TRUE(r.in_experiment);

  r = Evaluate(*set, "rules", Ctx(R"({"key":"u","plan":"pro"})"));
  EXPECT_EQ(r.reason, kReasonTargetingMatch);
  EXPECT_EQ(r.variation, 1);
  EXPECT_EQ(r.rule_index, 0);
  EXPECT_EQ(r.rule_id, "fixed");

  r = Evaluate(*set, "rules", Ctx(R"({"key":"u","plan":"free"})"));
  EXPECT_EQ(r.reason, kReasonSplit);
  EXPECT_EQ(r.variation, 2);
  EXPECT_EQ(r.rule_index, 1);
  EXPECT_EQ(r.rule_id, "pct");

  r = Evaluate(*set, "rules", Ctx(R"({"key":"u","plan":"other"})"));
  EXPECT_EQ(r.reason, kReasonDefault);
  EXPECT_EQ(r.variation, 0);

  // An individual target beats a matching rule.
  r = Evaluate(*set, "rules", Ctx(R"({"key":"vip","plan":"pro"})"));
  EXPECT_EQ(r.reason, kReasonTargetingMatch);
  EXPECT_EQ(r.variation, 2);
  EXPECT_EQ(r.rule_index, -1);
}

TEST(EvaluateTest, FirstMatchingRuleWins) {
  auto set = MustBuild(Flags({{"f", Flag(R"({"on":true,"fallthrough":{"variation":0},"rules":[
      {"clauses":[{"attribute":"n","op":"gt","values":[10]}],"variation":2},
      {"clauses":[{"attribute":"n","op":"gt","values":[5]}],"variation":1}]})")}}));
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"n":20})")).variation, 2);
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"n":20})")).rule_index, 0);
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"n":7})")).variation, 1);
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"n":7})")).rule_index, 1);
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"n":1})")).variation, 0);
}

TEST(EvaluateTest, Errors) {
  auto set = MustBuild(Flags({
      {"split", Flag(R"({"on":true,"fallthrough":{"rollout":[{"variation":0,"weight":100000}]}})")},
      {"by-key", Flag(R"({"on":true,"fallthrough":{"rollout":[{"variation":0,"weight":100000}],"bucket_by":"key"}})")},
      {"number", R"({"variations":[{"value":1.5},{"value":2}],"environments":{"prod":{"on":true,"fallthrough":{"variation":1}}}})"},
      {"staging-only", R"({"variations":[{"value":1}],"environments":{"staging":{"on":true,"fallthrough":{"variation":0}}}})"},
  }));

  EvalResult r = Evaluate(*set, "nope", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonError);
  EXPECT_EQ(r.error_code, kErrorFlagNotFound);
  EXPECT_EQ(r.value, nullptr);

  // A flag without this environment is not in the set.
  EXPECT_EQ(Evaluate(*set, "staging-only", Ctx("{}")).error_code, kErrorFlagNotFound);

  for (std::string_view ctx : {R"({})", R"({"key":""})", R"({"key":42})"}) {
    for (std::string_view flag : {"split", "by-key"}) {
      r = Evaluate(*set, flag, Ctx(ctx));
      EXPECT_EQ(r.reason, kReasonError) << flag << " " << ctx;
      EXPECT_EQ(r.error_code, kErrorTargetingKeyMissing) << flag << " " << ctx;
      EXPECT_EQ(r.variation, -1);
    }
  }

  r = Evaluate(*set, "split", Ctx(R"({"key":"u"})"), ValueType::kBool);
  EXPECT_EQ(r.error_code, kErrorTypeMismatch);
  EXPECT_EQ(r.value, nullptr);
  EXPECT_EQ(Evaluate(*set, "split", Ctx(R"({"key":"u"})"), ValueType::kString).reason, kReasonSplit);
  EXPECT_EQ(Evaluate(*set, "number", Ctx("{}"), ValueType::kInteger).variation, 1);
  EXPECT_EQ(Evaluate(*set, "number", Ctx("{}"), ValueType::kNumber).variation, 1);
  EXPECT_EQ(Evaluate(*set, "number", Ctx("{}"), ValueType::kObject).error_code,
            kErrorTypeMismatch);
}

TEST(EvaluateTest, StaticResult) {
  boost::json::value v = 42;
  EvalResult r = StaticResult(v);
  EXPECT_EQ(r.reason, kReasonStatic);
  EXPECT_EQ(r.value, &v);
  EXPECT_EQ(r.variation, -1);
}

TEST(PrerequisiteTest, MetFailedOffAndMissing) {
  auto set = MustBuild(Flags({
      {"parent", Flag(R"({"on":true,"off_variation":0,"fallthrough":{"variation":1},
                              "prerequisites":[{"flag":"child","variation":2}]})")},
      {"child", Flag(R"({"on":true,"fallthrough":{"variation":0},
                             "rules":[{"clauses":[{"attribute":"beta","op":"in","values":[true]}],"variation":2}]})")},
      {"on-off-child", Flag(R"({"on":true,"off_variation":0,"fallthrough":{"variation":1},
                              "prerequisites":[{"flag":"off-child","variation":2}]})")},
      {"off-child", Flag(R"({"on":false,"off_variation":2,"fallthrough":{"variation":2}})")},
      {"orphan", Flag(R"({"on":true,"fallthrough":{"variation":1},
                              "prerequisites":[{"flag":"deleted","variation":0}]})")},
  }));

  EvalResult r = Evaluate(*set, "parent", Ctx(R"({"key":"u","beta":true})"));
  EXPECT_EQ(r.reason, kReasonDefault);
  EXPECT_EQ(r.variation, 1);

  r = Evaluate(*set, "parent", Ctx(R"({"key":"u","beta":false})"));
  EXPECT_EQ(r.reason, kReasonPrerequisiteFailed);
  EXPECT_EQ(r.variation, 0);  // the off variation
  EXPECT_EQ(r.failed_prerequisite, "child");

  // An off prerequisite fails even though its off variation is the required one.
  r = Evaluate(*set, "on-off-child", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonPrerequisiteFailed);
  EXPECT_EQ(r.failed_prerequisite, "off-child");

  // A prerequisite that is not in the set fails; no off variation: caller's default.
  r = Evaluate(*set, "orphan", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonPrerequisiteFailed);
  EXPECT_EQ(r.variation, -1);
  EXPECT_EQ(r.value, nullptr);
}

TEST(PrerequisiteTest, ErrorInPrerequisitePropagates) {
  auto set = MustBuild(Flags({
      {"parent", Flag(R"({"on":true,"fallthrough":{"variation":1},
                              "prerequisites":[{"flag":"child","variation":0}]})")},
      {"child", Flag(R"({"on":true,"fallthrough":{"rollout":[{"variation":0,"weight":100000}]}})")},
  }));
  EvalResult r = Evaluate(*set, "parent", Ctx(R"({})"));
  EXPECT_EQ(r.reason, kReasonError);
  EXPECT_EQ(r.error_code, kErrorTargetingKeyMissing);
  EXPECT_NE(r.error_message.find("prerequisite \"child\""), std::string::npos) << r.error_message;
}

TEST(PrerequisiteTest, BuildRejectsCyclesAndBadIndexes) {
  absl::StatusOr<std::shared_ptr<const FlagSet>> set = FlagSet::Build(
      Flags({{"a", Flag(R"({"on":true,"fallthrough":{"variation":0},"prerequisites":[{"flag":"b","variation":0}]})")},
             {"b", Flag(R"({"on":true,"fallthrough":{"variation":0},"prerequisites":[{"flag":"a","variation":0}]})")}}),
      {}, "prod");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(set.status().message(), "prerequisite cycle: a → b → a");

  set = FlagSet::Build(
      Flags({{"a", Flag(R"({"on":true,"fallthrough":{"variation":0},"prerequisites":[{"flag":"b","variation":3}]})")},
             {"b", Flag(R"({"on":true,"fallthrough":{"variation":0}})")}}),
      {}, "prod");
  EXPECT_EQ(set.status().message(),
            "flag \"a\": environments.prod.prerequisites[0].variation: 3 is not a variation index "
            "of flag \"b\" (it has 3 variations)");

  set = FlagSet::Build(Flags({{"bad", Flag(R"({"on":1})")}}), {}, "prod");
  EXPECT_EQ(set.status().message(), "flag \"bad\": environments.prod.on: must be a boolean, got number");
}

CompiledFlag ChainFlag(std::string key, std::string prerequisite) {
  CompiledFlag f;
  f.key = key;
  f.salt = key;
  f.variations = {boost::json::value("off"), boost::json::value("on")};
  f.on = true;
  f.off_variation = 0;
  f.fallthrough.variation = 1;
  if (!prerequisite.empty()) f.prerequisites.push_back({prerequisite, 1});
  return f;
}

TEST(PrerequisiteTest, RuntimeCycleIsAnErrorNotAStackOverflow) {
  // FromCompiled skips Build's cycle check, as an SDK trusting its server would.
  auto set = FlagSet::FromCompiled({ChainFlag("a", "b"), ChainFlag("b", "c"), ChainFlag("c", "a")}, {});
  EvalResult r = Evaluate(*set, "a", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonError);
  EXPECT_EQ(r.error_code, kErrorGeneral);
  EXPECT_NE(r.error_message.find("prerequisite cycle: a → b → c → a"), std::string::npos)
      << r.error_message;
}

TEST(PrerequisiteTest, DepthGuard) {
  // f0 requires f1 ... requires fN (a leaf). N prerequisite levels below the root.
  auto chain = [](int levels) {
    std::vector<CompiledFlag> flags;
    for (int i = 0; i < levels; ++i) {
      flags.push_back(ChainFlag(base::StrCat("f", i), base::StrCat("f", i + 1)));
    }
    flags.push_back(ChainFlag(base::StrCat("f", levels), ""));
    return FlagSet::FromCompiled(std::move(flags), {});
  };
  EvalResult ok = Evaluate(*chain(kMaxPrerequisiteDepth), "f0", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(ok.reason, kReasonDefault) << ok.error_message;
  EvalResult deep = Evaluate(*chain(kMaxPrerequisiteDepth + 1), "f0", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(deep.reason, kReasonError);
  EXPECT_EQ(deep.error_code, kErrorGeneral);
  EXPECT_NE(deep.error_message.find("deeper than 32"), std::string::npos) << deep.error_message;
}

// Rollouts bracketing LaunchDarkly's published bucket values (see
// tests/eval/vectors/bucketing.json for the source).
TEST(RolloutTest, WeightsShortOfTotalGiveTheRestToTheLastVariation) {
  auto set = MustBuild(Obj(R"({"hashKey":{"salt":"saltyA","variations":[{"value":"a"},{"value":"b"},{"value":"c"}],
      "environments":{"prod":{"on":true,"fallthrough":{"rollout":[
          {"variation":0,"weight":50000},{"variation":2,"weight":0}]}}}}})"));
  EXPECT_EQ(Evaluate(*set, "hashKey", Ctx(R"({"key":"userKeyA"})")).variation, 0);  // 0.4216
  EXPECT_EQ(Evaluate(*set, "hashKey", Ctx(R"({"key":"userKeyB"})")).variation, 2);  // 0.6708
  EXPECT_EQ(Evaluate(*set, "hashKey", Ctx(R"({"key":"userKeyC"})")).variation, 0);  // 0.1034
}

TEST(RolloutTest, BucketByAttribute) {
  auto set = MustBuild(Obj(R"({"hashKey":{"salt":"saltyA","variations":[{"value":"a"},{"value":"b"},{"value":"c"}],
      "environments":{"prod":{"on":true,"fallthrough":{"bucket_by":"org.id","rollout":[
          {"variation":1,"weight":1},{"variation":0,"weight":54770},
          {"variation":2,"weight":10},{"variation":0,"weight":45219}]}}}}})"));
  // 33333 (integer) hashes as "33333": bucket 0.54771423 lands in [0.54771, 0.54781).
  EXPECT_EQ(Evaluate(*set, "hashKey", Ctx(R"({"org":{"id":33333}})")).variation, 2);
  EXPECT_EQ(Evaluate(*set, "hashKey", Ctx(R"({"org":{"id":"33333"}})")).variation, 2);
  EXPECT_EQ(Evaluate(*set, "hashKey", Ctx(R"({"org":{"id":33333.0}})")).variation, 2);
  // Missing attribute or an unbucketable type: bucket 0, the first variation with weight.
  for (std::string_view ctx : {R"({"key":"k"})", R"({"org":{"id":1.5}})", R"({"org":{"id":true}})",
                               R"({"org":{"id":{"x":1}}})", R"({"org":{"id":["x"]}})"}) {
    EvalResult r = Evaluate(*set, "hashKey", Ctx(ctx));
    EXPECT_EQ(r.reason, kReasonSplit) << ctx;
    EXPECT_EQ(r.variation, 1) << ctx;
  }
}

TEST(RolloutTest, SeedReplacesKeyAndSalt) {
  EXPECT_NEAR(Bucket("hashKey", "saltyA", "userKeyA", 61), 0.09801207, 1e-7);
  EXPECT_NEAR(Bucket("anything", "else", "userKeyA", 61), 0.09801207, 1e-7);
  EXPECT_NEAR(Bucket("hashKey", "saltyA", "userKeyA", std::nullopt), 0.42157587, 1e-7);
}

TEST(RolloutTest, FiftyFiftySplitIsEven) {
  // Distribution check over 100k deterministic pseudo-random keys: within one percentage
  // point of 50% (the standard deviation at n=100k is 0.16 points).
  auto set = MustBuild(Flags({{"split", Flag(R"({"on":true,"fallthrough":{"rollout":[
      {"variation":0,"weight":50000},{"variation":1,"weight":50000}]}})")}}));
  std::mt19937_64 rng(20240501);
  int counts[3] = {0, 0, 0};
  constexpr int kKeys = 100000;
  for (int i = 0; i < kKeys; ++i) {
    boost::json::object attrs;
    attrs["key"] = base::StrCat("user-", rng());
    EvalResult r = Evaluate(*set, "split", Context(std::move(attrs)));
    ASSERT_EQ(r.reason, kReasonSplit);
    ++counts[r.variation];
  }
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(static_cast<double>(counts[0]) / kKeys, 0.5, 0.01);
  // And buckets are spread across [0,1): ten deciles each within a point of 10%.
  int deciles[10] = {};
  for (int i = 0; i < kKeys; ++i) {
    double b = Bucket("split", "split", base::StrCat("k", rng()), std::nullopt);
    ASSERT_GE(b, 0.0);
    ASSERT_LE(b, 1.0);
    ++deciles[std::min(9, static_cast<int>(b * 10))];
  }
  for (int d : deciles) EXPECT_NEAR(static_cast<double>(d) / kKeys, 0.1, 0.01);
}

TEST(SegmentTest, IncludedExcludedAndRules) {
  std::string segments = R"({"beta":{
      "included":["in","both"],"excluded":["out","both"],
      "rules":[{"clauses":[{"attribute":"plan","op":"in","values":["pro"]}]}]}})";
  std::string clause = R"({"op":"segment_match","values":["beta"]})";
  EXPECT_TRUE(Matches(clause, R"({"key":"in"})", segments));
  EXPECT_TRUE(Matches(clause, R"({"key":"both"})", segments));  // included wins
  EXPECT_FALSE(Matches(clause, R"({"key":"out","plan":"pro"})", segments));
  EXPECT_TRUE(Matches(clause, R"({"key":"other","plan":"pro"})", segments));
  EXPECT_TRUE(Matches(clause, R"({"plan":"pro"})", segments));  // rules need no key
  EXPECT_FALSE(Matches(clause, R"({"key":"other","plan":"free"})", segments));
  // Any listed segment; unknown segments are not memberships.
  EXPECT_TRUE(Matches(R"({"op":"segment_match","values":["gone","beta"]})", R"({"key":"in"})",
                      segments));
  EXPECT_FALSE(Matches(R"({"op":"segment_match","values":["gone"]})", R"({"key":"in"})", segments));
  EXPECT_TRUE(Matches(R"({"op":"segment_match","values":["beta"],"negate":true})",
                      R"({"key":"out"})", segments));
}

TEST(SegmentTest, OneLevelOfNestingIsAllowed) {
  std::string segments = R"({
      "staff":{"included":["alice"]},
      "beta":{"rules":[{"clauses":[{"op":"segment_match","values":["staff"]}]}]}})";
  std::string clause = R"({"op":"segment_match","values":["beta"]})";
  EXPECT_TRUE(Matches(clause, R"({"key":"alice"})", segments));
  EXPECT_FALSE(Matches(clause, R"({"key":"bob"})", segments));
}

TEST(SegmentTest, DeeperNestingIsRejectedAtBuild) {
  absl::StatusOr<std::shared_ptr<const FlagSet>> set = FlagSet::Build(
      {}, Obj(R"({
          "a":{"rules":[{"clauses":[{"op":"segment_match","values":["b"]}]}]},
          "b":{"rules":[{"clauses":[{"op":"segment_match","values":["c"]}]}]},
          "c":{"included":["x"]}})"),
      "prod");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(set.status().message().substr(0, 68),
            "segment \"a\": rules[0].clauses[0]: segment \"b\" itself uses segment_ma");

  set = FlagSet::Build({}, Obj(R"({"self":{"rules":[{"clauses":[{"op":"segment_match","values":["self"]}]}]}})"),
                       "prod");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SegmentTest, RuntimeNestingGuardWithoutBuild) {
  // Two segments naming each other, assembled without Build's check: no recursion blow-up.
  auto seg = [](std::string key, std::string other) {
    CompiledSegment s;
    s.key = key;
    CompiledClause c;
    c.op = Op::kSegmentMatch;
    c.strings = {other};
    s.rules.push_back({"", {c}});
    return s;
  };
  CompiledFlag f = ChainFlag("f", "");
  CompiledClause c;
  c.op = Op::kSegmentMatch;
  c.strings = {"a"};
  f.rules.push_back({"", {c}, {0, std::nullopt}});
  auto set = FlagSet::FromCompiled({f}, {seg("a", "b"), seg("b", "a")});
  EvalResult r = Evaluate(*set, "f", Ctx(R"({"key":"u"})"));
  EXPECT_EQ(r.reason, kReasonDefault);
  EXPECT_EQ(r.variation, 1);
}

// The per-evaluation memo (an attribute looked up once per slot, its number, time and
// semver parsed once) must never change an answer: one attribute under several operators
// (parsed differently by each), in segments and prerequisites, array attributes (never
// memoized), and more distinct attributes than there are slots.
TEST(MemoTest, SharedAttributesGiveTheSameAnswersAsSeparateOnes) {
  // "v" is a number for gte, a semver for semver_gt (as a string elsewhere), a string for in.
  std::string rules = R"([
      {"clauses":[{"attribute":"v","op":"gte","values":[5]}],"variation":2},
      {"clauses":[{"attribute":"v","op":"semver_gt","values":["1.0.0"]},
                  {"attribute":"v","op":"in","values":["1.2.3"]}],"variation":1}])";
  auto set = MustBuild(
      Flags({{"f", Flag(base::StrCat(R"({"on":true,"fallthrough":{"variation":0},"rules":)", rules, "}"))}}));
  EXPECT_GT(set->attribute_slots(), 0);
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"key":"k","v":"1.2.3"})")).variation, 1);  // no number; semver + in
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"key":"k","v":7})")).variation, 2);        // a number
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"key":"k","v":"0.9.0"})")).variation, 0);  // semver too low
  // An array: any element matching, each element parsed on its own.
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"key":"k","v":["0.1.0","1.2.3"]})")).variation, 1);
  EXPECT_EQ(Evaluate(*set, "f", Ctx(R"({"key":"k","v":[1,"1.2.3",9]})")).variation, 2);

  // More distinct attributes than slots: the last rule's attribute has none and still matches.
  std::string many = "[";
  for (int i = 0; i <= kMaxAttributeSlots + 5; ++i) {
    base::StrAppend(&many, i > 0 ? "," : "", R"({"clauses":[{"attribute":"a)", i,
                    R"(","op":"semver_gt","values":["1.0.0"]},{"attribute":"a)", i,
                    R"(","op":"semver_gt","values":["2.0.0"]}],"variation":1})");
  }
  many += "]";
  auto wide = MustBuild(
      Flags({{"w", Flag(base::StrCat(R"({"on":true,"fallthrough":{"variation":0},"rules":)", many, "}"))}}));
  EXPECT_EQ(wide->attribute_slots(), kMaxAttributeSlots);
  const std::string last = base::StrCat("a", kMaxAttributeSlots + 5);
  EXPECT_EQ(Evaluate(*wide, "w", Ctx(base::StrCat(R"({"key":"k",")", last, R"(":"3.0.0"})"))).variation, 1);
  EXPECT_EQ(Evaluate(*wide, "w", Ctx(base::StrCat(R"({"key":"k",")", last, R"(":"1.5.0"})"))).variation, 0);

  // A prerequisite and a segment naming the same attribute as the flag's own rule.
  auto with_parts = MustBuild(
      Flags({{"pre", Flag(R"({"on":true,"fallthrough":{"variation":0},"rules":[
                {"clauses":[{"attribute":"plan","op":"starts_with","values":["pro"]}],"variation":1}]})")},
             {"main", Flag(R"({"on":true,"off_variation":2,"prerequisites":[{"flag":"pre","variation":1}],
                "fallthrough":{"variation":0},"rules":[
                {"clauses":[{"op":"segment_match","values":["team"]}],"variation":1}]})")}}),
      R"({"team":{"rules":[{"clauses":[{"attribute":"plan","op":"ends_with","values":["-team"]}]}]}})");
  EXPECT_EQ(Evaluate(*with_parts, "main", Ctx(R"({"key":"k","plan":"pro-team"})")).variation, 1);
  EXPECT_EQ(Evaluate(*with_parts, "main", Ctx(R"({"key":"k","plan":"pro-solo"})")).variation, 0);
  EXPECT_EQ(Evaluate(*with_parts, "main", Ctx(R"({"key":"k","plan":"free-team"})")).variation, 2);
}

}  // namespace
}  // namespace edgevault::eval
