#include "src/eval/model.h"

#include <gtest/gtest.h>

#include <string>

#include "src/base/strings.h"

namespace edgevault::eval {
namespace {

boost::json::object Obj(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.get_object() : boost::json::object();
}

// A flag with variations "a", "b", "c" and `env` as its "prod" environment.
boost::json::object Flag(std::string_view env) {
  return Obj(base::StrCat(R"({"variations":[{"value":"a"},{"value":"b","name":"B"},{"value":"c"}],
                 "environments":{"prod":)",
                           env, "}}"));
}

std::string ValidateError(const boost::json::object& flag) {
  absl::Status s = ValidateFlag(flag);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

std::string ParseError(const boost::json::object& flag) {
  absl::StatusOr<CompiledFlag> f = ParseFlagEnvironment("f", flag, "prod");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  return std::string(f.status().message());
}

// A rule list whose third rule carries `clause`.
std::string ThirdRule(std::string_view clause) {
  return base::StrCat(R"({"on":true,"fallthrough":{"variation":0},"rules":[
      {"clauses":[],"variation":0},{"clauses":[],"variation":0},
      {"clauses":[)",
                      clause, R"(],"variation":1}]})");
}

TEST(ModelTest, CompilesAValidFlag) {
  boost::json::object flag = Flag(R"({
      "on": true, "off_variation": 2,
      "targets": [{"variation": 1, "values": ["u1", "u2"]}],
      "rules": [{"id": "r0", "clauses": [
                   {"attribute": "email", "op": "ends_with", "values": ["@example.com"]},
                   {"attribute": "ver", "op": "semver_gt", "values": ["1.2"]},
                   {"attribute": "name", "op": "matches", "values": ["^a", "b$"]}],
                 "rollout": [{"variation": 0, "weight": 30000}, {"variation": 1, "weight": 70000}],
                 "bucket_by": "org.id", "seed": 7}],
      "fallthrough": {"variation": 0},
      "prerequisites": [{"flag": "other", "variation": 1}]})");
  ASSERT_TRUE(ValidateFlag(flag).ok()) << ValidateFlag(flag);
  absl::StatusOr<CompiledFlag> f = ParseFlagEnvironment("my-flag", flag, "prod");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->key, "my-flag");
  EXPECT_EQ(f->salt, "my-flag");  // defaults to the key
  EXPECT_TRUE(f->on);
  EXPECT_EQ(f->off_variation, 2);
  ASSERT_EQ(f->variations.size(), 3u);
  EXPECT_EQ(f->targets.at("u2"), 1);
  ASSERT_EQ(f->rules.size(), 1u);
  EXPECT_EQ(f->rules[0].id, "r0");
  ASSERT_EQ(f->rules[0].clauses.size(), 3u);
  EXPECT_EQ(f->rules[0].clauses[1].semvers.size(), 1u);
  EXPECT_EQ(f->rules[0].clauses[2].regexes.size(), 2u);
  ASSERT_TRUE(f->rules[0].outcome.rollout.has_value());
  EXPECT_EQ(f->rules[0].outcome.rollout->variations[1].weight, 70000);
  EXPECT_EQ(f->rules[0].outcome.rollout->bucket_by->path(),
            std::vector<std::string>({"org", "id"}));
  EXPECT_EQ(f->rules[0].outcome.rollout->seed, 7);
  EXPECT_EQ(f->fallthrough.variation, 0);
  ASSERT_EQ(f->prerequisites.size(), 1u);
  EXPECT_EQ(f->prerequisites[0].flag, "other");
}

TEST(ModelTest, SaltOverridesKey) {
  boost::json::object flag = Flag(R"({"on":true,"fallthrough":{"variation":0}})");
  flag["salt"] = "pepper";
  EXPECT_EQ(ParseFlagEnvironment("k", flag, "prod")->salt, "pepper");
}

TEST(ModelTest, MissingEnvironmentIsNotFound) {
  boost::json::object flag = Flag(R"({"on":true,"fallthrough":{"variation":0}})");
  EXPECT_EQ(ParseFlagEnvironment("k", flag, "staging").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ModelTest, UnknownOperatorNamesTheJsonPath) {
  boost::json::object flag = Flag(ThirdRule(R"({"attribute":"a","op":"eq","values":["x"]})"));
  EXPECT_EQ(ValidateError(flag), "environments.prod.rules[2].clauses[0].op: unknown operator \"eq\"");
  EXPECT_EQ(ParseError(flag), "environments.prod.rules[2].clauses[0].op: unknown operator \"eq\"");
}

TEST(ModelTest, RejectsBadClauseValues) {
  struct Case {
    std::string clause;
    std::string error;
  } cases[] = {
      {R"({"attribute":"a","op":"matches","values":["ok","(unclosed"]})",
       "environments.prod.rules[2].clauses[0].values[1]: invalid regular expression \"(unclosed\""},
      {R"({"attribute":"a","op":"semver_eq","values":["1.2.x"]})",
       "environments.prod.rules[2].clauses[0].values[0]: \"1.2.x\" is not a semantic version"},
      {R"({"attribute":"a","op":"before","values":["yesterday"]})",
       "environments.prod.rules[2].clauses[0].values[0]: \"yesterday\" is not an RFC 3339 time"},
      {R"({"attribute":"a","op":"after","values":[true]})",
       "environments.prod.rules[2].clauses[0].values[0]: must be an RFC 3339 string or epoch "
       "milliseconds, got boolean"},
      {R"({"attribute":"a","op":"lt","values":["5"]})",
       "environments.prod.rules[2].clauses[0].values[0]: must be a number, got string"},
      {R"({"attribute":"a","op":"starts_with","values":[1]})",
       "environments.prod.rules[2].clauses[0].values[0]: must be a string, got number"},
      {R"({"attribute":"a","op":"in","values":[]})",
       "environments.prod.rules[2].clauses[0].values: must not be empty"},
      {R"({"op":"in","values":["x"]})",
       "environments.prod.rules[2].clauses[0].attribute: missing required field"},
      {R"({"attribute":"a..b","op":"in","values":["x"]})",
       "environments.prod.rules[2].clauses[0].attribute: attribute \"a..b\" has an empty path "
       "component"},
      {R"({"attribute":"a","op":"in","values":["x"],"negate":"yes"})",
       "environments.prod.rules[2].clauses[0].negate: must be a boolean, got string"},
  };
  for (const Case& c : cases) {
    boost::json::object flag = Flag(ThirdRule(c.clause));
    std::string v = ValidateError(flag);
    EXPECT_EQ(v.substr(0, c.error.size()), c.error) << c.clause;
    std::string p = ParseError(flag);
    EXPECT_EQ(p.substr(0, c.error.size()), c.error) << c.clause;
  }
}

TEST(ModelTest, SegmentMatchNeedsNoAttribute) {
  boost::json::object flag = Flag(ThirdRule(R"({"op":"segment_match","values":["beta"]})"));
  EXPECT_TRUE(ValidateFlag(flag).ok()) << ValidateFlag(flag);
}

TEST(ModelTest, RejectsBadVariationIndexesEverywhere) {
  struct Case {
    std::string env;
    std::string error;
  } cases[] = {
      {R"({"on":true,"fallthrough":{"variation":3}})",
       "environments.prod.fallthrough.variation: 3 is not a variation index (the flag has 3 "
       "variations)"},
      {R"({"on":true,"off_variation":-1,"fallthrough":{"variation":0}})",
       "environments.prod.off_variation: -1 is not a variation index"},
      {R"({"on":true,"fallthrough":{"variation":"1"}})",
       "environments.prod.fallthrough.variation: must be an integer variation index, got string"},
      {R"({"on":true,"targets":[{"variation":9,"values":["u"]}],"fallthrough":{"variation":0}})",
       "environments.prod.targets[0].variation: 9 is not a variation index"},
      {R"({"on":true,"fallthrough":{"rollout":[{"variation":0,"weight":50000},
                                               {"variation":7,"weight":50000}]}})",
       "environments.prod.fallthrough.rollout[1].variation: 7 is not a variation index"},
      {R"({"on":true,"rules":[{"clauses":[],"variation":5}],"fallthrough":{"variation":0}})",
       "environments.prod.rules[0].variation: 5 is not a variation index"},
  };
  for (const Case& c : cases) {
    boost::json::object flag = Flag(c.env);
    std::string v = ValidateError(flag);
    EXPECT_EQ(v.substr(0, c.error.size()), c.error) << c.env;
  }
}

TEST(ModelTest, RejectsMissingFieldsAndWrongTypes) {
  struct Case {
    std::string flag;
    std::string error;
  } cases[] = {
      {R"({"environments":{}})", "variations: missing required field"},
      {R"({"variations":[],"environments":{}})", "variations: must not be empty"},
      {R"({"variations":[{"name":"x"}],"environments":{}})",
       "variations[0].value: missing required field"},
      {R"({"variations":[{"value":1}]})", "environments: missing required field"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"fallthrough":{"variation":0}}}})",
       "environments.prod.on: missing required field"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":"yes","fallthrough":{"variation":0}}}})",
       "environments.prod.on: must be a boolean, got string"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true}}})",
       "environments.prod.fallthrough: missing required field"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,"fallthrough":{}}}})",
       "environments.prod.fallthrough: needs exactly one of \"variation\" or \"rollout\""},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"variation":0,"rollout":[{"variation":0,"weight":100000}]}}}})",
       "environments.prod.fallthrough: needs exactly one of \"variation\" or \"rollout\""},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "rules":[{"variation":0}],"fallthrough":{"variation":0}}}})",
       "environments.prod.rules[0].clauses: missing required field"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"rollout":[{"variation":0,"weight":-1},{"variation":0,"weight":100001}]}}}})",
       "environments.prod.fallthrough.rollout[0].weight: -1 is outside 0..100000"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"rollout":[]}}}})",
       "environments.prod.fallthrough.rollout: must not be empty"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"rollout":[{"variation":0,"weight":100000}],"seed":"x"}}}})",
       "environments.prod.fallthrough.seed: must be an integer, got string"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"variation":0},"prerequisites":[{"flag":"","variation":0}]}}})",
       "environments.prod.prerequisites[0].flag: must not be empty"},
  };
  for (const Case& c : cases) {
    std::string v = ValidateError(Obj(c.flag));
    EXPECT_EQ(v.substr(0, c.error.size()), c.error) << c.flag;
  }
}

TEST(ModelTest, StrictValidationCatchesWhatTheReadPathTolerates) {
  struct Case {
    std::string flag;
    std::string error;
  } cases[] = {
      {R"({"variations":[{"value":1},{"value":2}],"environments":{"prod":{"on":true,
           "fallthrough":{"rollout":[{"variation":0,"weight":50000},{"variation":1,"weight":40000}]}}}})",
       "environments.prod.fallthrough.rollout: weights sum to 90000, must be 100000"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "rules":[{"clauses":[],"variaton":0,"variation":0}],"fallthrough":{"variation":0}}}})",
       "environments.prod.rules[0].variaton: unknown field"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,"offVariation":0,
           "fallthrough":{"variation":0}}}})",
       "environments.prod.offVariation: unknown field"},
      {R"({"variations":[{"value":true},{"value":"false"}],"environments":{}})",
       "variations[1].value: is a string but variations[0] is a boolean; all variations must "
       "have one type"},
      {R"({"variations":[{"value":1},{"value":2}],"environments":{"prod":{"on":true,
           "targets":[{"variation":0,"values":["u1"]},{"variation":1,"values":["u2","u1"]}],
           "fallthrough":{"variation":0}}}})",
       "environments.prod.targets[1].values[1]: context key \"u1\" is already targeted"},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"variation":0,"bucket_by":"org"}}}})",
       "environments.prod.fallthrough.bucket_by: only allowed with \"rollout\""},
      {R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,
           "fallthrough":{"variation":0},
           "prerequisites":[{"flag":"x","variation":0},{"flag":"x","variation":0}]}}})",
       "environments.prod.prerequisites[1].flag: \"x\" is listed twice"},
  };
  for (const Case& c : cases) {
    boost::json::object flag = Obj(c.flag);
    std::string v = ValidateError(flag);
    EXPECT_EQ(v.substr(0, c.error.size()), c.error) << c.flag;
    // The read path compiles these (documents stay loadable across versions).
    if (flag["environments"].as_object().contains("prod")) {
      EXPECT_TRUE(ParseFlagEnvironment("f", flag, "prod").ok()) << c.flag;
    }
  }
}

TEST(ModelTest, NumbersWithoutFractionAreIndexes) {
  boost::json::object flag = Flag(R"({"on":true,"fallthrough":{"variation":1.0}})");
  EXPECT_EQ(ParseFlagEnvironment("f", flag, "prod")->fallthrough.variation, 1);
  flag = Flag(R"({"on":true,"fallthrough":{"variation":1.5}})");
  EXPECT_FALSE(ParseFlagEnvironment("f", flag, "prod").ok());
}

TEST(ModelTest, ValidatesSegments) {
  EXPECT_TRUE(ValidateSegment(Obj(R"({"name":"Beta","included":["a"],"excluded":["b"],
      "rules":[{"id":"r","clauses":[{"attribute":"plan","op":"in","values":["pro"]}]}]})"))
                  .ok());
  absl::Status s = ValidateSegment(Obj(R"({"rules":[{"clauses":[],"weight":5}]})"));
  EXPECT_EQ(s.message(), "rules[0].weight: unknown field");
  s = ValidateSegment(Obj(R"({"included":["a",1]})"));
  EXPECT_EQ(s.message(), "included[1]: must be a string, got number");
  s = ValidateSegment(Obj(R"({"rules":[{"clauses":[{"attribute":"a","op":"nope","values":[1]}]}]})"));
  EXPECT_EQ(s.message(), "rules[0].clauses[0].op: unknown operator \"nope\"");
}

TEST(PrerequisiteCycleTest, AcceptsAcyclicGraphs) {
  // A diamond with a shared leaf and an edge to an unknown flag.
  EXPECT_TRUE(CheckPrerequisiteCycles(
                  {{"a", {"b", "c"}}, {"b", {"d"}}, {"c", {"d", "zzz"}}, {"d", {}}})
                  .ok());
}

TEST(PrerequisiteCycleTest, NamesTheCycle) {
  absl::Status s = CheckPrerequisiteCycles({{"a", {"b"}}, {"b", {"a"}}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "prerequisite cycle: a → b → a");

  s = CheckPrerequisiteCycles({{"a", {"b"}}, {"b", {"c"}}, {"c", {"d"}}, {"d", {"b"}}});
  EXPECT_EQ(s.message(), "prerequisite cycle: b → c → d → b");

  s = CheckPrerequisiteCycles({{"self", {"self"}}});
  EXPECT_EQ(s.message(), "prerequisite cycle: self → self");
}

TEST(PrerequisiteCycleTest, LongChainDoesNotOverflow) {
  std::map<std::string, std::vector<std::string>> deps;
  for (int i = 0; i < 100000; ++i) deps[base::StrCat("f", i)] = {base::StrCat("f", i + 1)};
  EXPECT_TRUE(CheckPrerequisiteCycles(deps).ok());
  deps["f100000"] = {"f0"};
  EXPECT_EQ(CheckPrerequisiteCycles(deps).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::eval
