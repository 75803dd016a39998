#include "src/workspace/model.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::Item;
using storage::ItemKind;

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

Item EnvItem(const std::string& key, const std::string& parent, bool is_protected = false) {
  Item item;
  item.kind = ItemKind::kEnvironment;
  item.key = key;
  item.body = json::serialize(
      EnvironmentToJson({.key = key, .name = key, .parent = parent, .is_protected = is_protected}));
  return item;
}

// production ← staging ← dev, production ← qa; sandbox is a second root.
EnvironmentSet TestEnvs() {
  absl::StatusOr<EnvironmentSet> envs = EnvironmentSet::FromItems(
      {EnvItem("production", "", true), EnvItem("staging", "production"), EnvItem("dev", "staging"),
       EnvItem("qa", "production"), EnvItem("sandbox", "")});
  EXPECT_TRUE(envs.ok()) << envs.status();
  return *envs;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// ---- keys ----

TEST(KeyTest, Rule) {
  EXPECT_TRUE(IsValidKey("a"));
  EXPECT_TRUE(IsValidKey("0"));
  EXPECT_TRUE(IsValidKey("db.pool_size-2"));
  EXPECT_TRUE(IsValidKey(std::string(64, 'a')));
  EXPECT_FALSE(IsValidKey(std::string(65, 'a')));
  EXPECT_FALSE(IsValidKey(""));
  EXPECT_FALSE(IsValidKey("Prod"));
  EXPECT_FALSE(IsValidKey(".hidden"));
  EXPECT_FALSE(IsValidKey("-x"));
  EXPECT_FALSE(IsValidKey("a b"));
  EXPECT_FALSE(IsValidKey("a/b"));
  EXPECT_FALSE(IsValidKey("caf\xc3\xa9"));
  absl::Status s = ValidateKey("Bad Key", "config key");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s),
            "config key \"Bad Key\": must match ^[a-z0-9][a-z0-9._-]{0,63}$ (lower-case letters, "
            "digits, '.', '_', '-'; at most 64 characters)");
}

// Issue 17: LaunchDarkly keys may hold upper-case letters, and the key is part of the
// rollout hash, so flag keys accept both cases (and only flag keys do).
TEST(KeyTest, FlagKeysAcceptUpperCase) {
  EXPECT_TRUE(IsValidFlagKey("hashKey"));
  EXPECT_TRUE(IsValidFlagKey("NEW_Checkout.v2-b"));
  EXPECT_TRUE(IsValidFlagKey(std::string(64, 'A')));
  EXPECT_FALSE(IsValidFlagKey(std::string(65, 'A')));
  EXPECT_FALSE(IsValidFlagKey(""));
  EXPECT_FALSE(IsValidFlagKey("_x"));
  EXPECT_FALSE(IsValidFlagKey("a b"));
  EXPECT_FALSE(IsValidFlagKey("a/b"));
  EXPECT_FALSE(IsValidFlagKey("caf\xc3\xa9"));
  EXPECT_EQ(Message(ValidateFlagKey("a b")),
            "flag key \"a b\": must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (letters, digits, "
            "'.', '_', '-'; at most 64 characters)");
  EXPECT_TRUE(ValidateItemKey(ItemKind::kFlag, "Beta", "flag").ok());
  for (ItemKind kind : {ItemKind::kConfig, ItemKind::kSegment, ItemKind::kSecret}) {
    EXPECT_EQ(ValidateItemKey(kind, "Beta", "item").code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(FoldedKeyConflict("Beta", {"alpha", "beta"}), "beta");
  EXPECT_EQ(FoldedKeyConflict("beta", {"beta"}), std::nullopt);  // itself: an update
  EXPECT_EQ(FoldedKeyConflict("Beta", {"betas"}), std::nullopt);
}

// ---- environments ----

TEST(EnvironmentTest, ParseAndNormalise) {
  absl::StatusOr<Environment> env = ParseEnvironmentBody(Obj(R"({"key":"staging"})"));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(json::serialize(EnvironmentToJson(*env)),
            R"({"key":"staging","name":"staging","parent":null,"protected":false})");
  env = ParseEnvironmentBody(
      Obj(R"({"key":"prod","name":"Production","parent":null,"protected":true})"));
  ASSERT_TRUE(env.ok());
  EXPECT_TRUE(env->is_protected);
  EXPECT_EQ(env->name, "Production");

  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"name":"x"})")).status()),
            "key: missing required field");
  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","colour":"red"})")).status()),
            "colour: unknown field (allowed: key, name, parent, protected, policy)");
  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","protected":"yes"})")).status()),
            "protected: must be a boolean");
  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","name":""})")).status()),
            "name: must be 1 to 100 characters long");
  EXPECT_EQ(ParseEnvironmentBody(Obj(R"({"key":"Prod"})")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EnvironmentTest, PatchChangesNameParentAndProtection) {
  json::object stored = Obj(R"({"key":"staging","name":"Staging","parent":"prod","protected":false})");
  absl::StatusOr<json::object> out = PatchEnvironmentBody(stored, Obj(R"({"name":"Pre-production"})"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(json::serialize(*out), R"({"key":"staging","name":"Pre-production","parent":"prod","protected":false})");
  out = PatchEnvironmentBody(stored, Obj(R"({"protected":true})"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(json::serialize(*out), R"({"key":"staging","name":"Staging","parent":"prod","protected":true})");
  out = PatchEnvironmentBody(stored, Obj(R"({"parent":null})"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(json::serialize(*out), R"({"key":"staging","name":"Staging","parent":null,"protected":false})");
  out = PatchEnvironmentBody(stored, Obj(R"({"parent":"qa"})"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(json::serialize(*out), R"({"key":"staging","name":"Staging","parent":"qa","protected":false})");
  out = PatchEnvironmentBody(stored, Obj("{}"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, stored);

  auto refused = [&](std::string_view change) { return Message(PatchEnvironmentBody(stored, Obj(change)).status()); };
  EXPECT_EQ(refused(R"({"key":"qa"})").rfind("key: an environment's key cannot change", 0), 0u);
  EXPECT_EQ(refused(R"({"key":"staging"})").rfind("key: ", 0), 0u);  // even unchanged: not a member to send
  EXPECT_EQ(refused(R"({"parent":7})"), "parent: must be an environment key or null (no parent)");
  EXPECT_EQ(refused(R"({"parent":"Not A Key"})").rfind("parent \"Not A Key\": must match", 0), 0u);
  EXPECT_EQ(refused(R"({"colour":"red"})"), "colour: unknown field (allowed: name, parent, protected)");
  EXPECT_EQ(refused(R"({"name":""})"), "name: must be 1 to 100 characters long");
  EXPECT_EQ(refused(R"({"name":" \t "})"), "name: must not be blank");
  EXPECT_EQ(refused(R"({"name":null})"), "name: must be a string");
  EXPECT_EQ(refused(R"({"protected":null})"), "protected: must be a boolean");
  EXPECT_EQ(refused(std::string(R"({"name":")") + std::string(101, 'x') + "\"}"),
            "name: must be 1 to 100 characters long");
  // 100 characters are 100 code points, not bytes.
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "\xc3\xa9";
  EXPECT_TRUE(PatchEnvironmentBody(stored, json::object{{"name", hundred}}).ok());
}

TEST(EnvironmentTest, PolicyParsesStrictlyAndRoundTrips) {
  absl::StatusOr<Environment> env = ParseEnvironmentBody(Obj(
      R"({"key":"prod","policy":{"required_approvals":2,"approver_roles":["owner","admin","admin"],"change_requests_required":true}})"));
  ASSERT_TRUE(env.ok()) << env.status();
  ASSERT_TRUE(env->policy.has_value());
  EXPECT_EQ(env->policy->required_approvals, 2);
  EXPECT_EQ(env->policy->approver_roles, (std::vector<std::string>{"admin", "owner"}));
  EXPECT_TRUE(env->policy->change_requests_required);
  EXPECT_EQ(json::serialize(EnvironmentToJson(*env)),
            R"({"key":"prod","name":"prod","parent":null,"protected":false,"policy":{"required_approvals":2,)"
            R"("approver_roles":["admin","owner"],"change_requests_required":true}})");
  // Defaults: no approvals, admins and owners approve, direct writes allowed.
  env = ParseEnvironmentBody(Obj(R"({"key":"prod","policy":{}})"));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->policy->required_approvals, 0);
  EXPECT_FALSE(env->policy->change_requests_required);

  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","policy":{"required_approvals":11}})")).status()),
            "policy.required_approvals: must be an integer from 0 to 10");
  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","policy":{"approver_roles":["viewer"]}})")).status()),
            "policy.approver_roles: each role must be \"developer\", \"admin\" or \"owner\" (viewers never approve)");
  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","policy":{"approvals":1}})")).status()),
            "policy.approvals: unknown field (allowed: required_approvals, approver_roles, change_requests_required, "
            "leak_scan)");
  // Secret-leak scanning (docs/secret-scanning.md): written back only when set.
  env = ParseEnvironmentBody(Obj(R"({"key":"prod","policy":{"leak_scan":"block"}})"));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->policy->leak_scan, "block");
  EXPECT_EQ(json::serialize(PolicyToJson(*env->policy)),
            R"({"required_approvals":0,"approver_roles":["admin","owner"],"change_requests_required":false,)"
            R"("leak_scan":"block"})");
  EXPECT_EQ(Message(ParseEnvironmentBody(Obj(R"({"key":"x","policy":{"leak_scan":"maybe"}})")).status()),
            "policy.leak_scan: must be \"off\", \"warn\" or \"block\"");
}

TEST(EnvironmentSetTest, AncestorChainAndDescendants) {
  EnvironmentSet envs = TestEnvs();
  EXPECT_EQ(envs.size(), 5u);
  EXPECT_EQ(envs.AncestorChain("dev"), (std::vector<std::string>{"dev", "staging", "production"}));
  EXPECT_EQ(envs.AncestorChain("production"), (std::vector<std::string>{"production"}));
  EXPECT_TRUE(envs.AncestorChain("nope").empty());
  EXPECT_EQ(envs.Descendants("production"),
            (std::vector<std::string>{"production", "qa", "staging", "dev"}));
  EXPECT_EQ(envs.Descendants("staging"), (std::vector<std::string>{"staging", "dev"}));
  EXPECT_EQ(envs.Descendants("dev"), (std::vector<std::string>{"dev"}));
  EXPECT_EQ(envs.Descendants("sandbox"), (std::vector<std::string>{"sandbox"}));
  EXPECT_TRUE(envs.Descendants("nope").empty());
  EXPECT_EQ(envs.Children("production"), (std::vector<std::string>{"qa", "staging"}));
  ASSERT_NE(envs.Find("production"), nullptr);
  EXPECT_TRUE(envs.Find("production")->is_protected);
}

TEST(EnvironmentSetTest, FromItemsRejectsBrokenTrees) {
  EXPECT_EQ(Message(EnvironmentSet::FromItems({EnvItem("dev", "staging")}).status()),
            "environment \"dev\": unknown parent \"staging\"");
  absl::Status cycle =
      EnvironmentSet::FromItems({EnvItem("a", "b"), EnvItem("b", "c"), EnvItem("c", "a")}).status();
  EXPECT_EQ(cycle.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Message(cycle).find("cycle"), std::string::npos);
  Item mismatched = EnvItem("a", "");
  mismatched.key = "b";
  EXPECT_EQ(Message(EnvironmentSet::FromItems({mismatched}).status()),
            "environment \"b\": body has key \"a\"");
  Item garbage = EnvItem("a", "");
  garbage.body = "[1]";
  EXPECT_FALSE(EnvironmentSet::FromItems({garbage}).ok());
}

TEST(EnvironmentSetTest, ValidateNewEnvironment) {
  EnvironmentSet envs = TestEnvs();
  absl::StatusOr<Environment> ok =
      envs.ValidateNewEnvironment(Obj(R"({"key":"perf","parent":"staging"})"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EnvironmentSet more = envs.With(*ok);
  EXPECT_EQ(more.AncestorChain("perf"),
            (std::vector<std::string>{"perf", "staging", "production"}));
  EXPECT_FALSE(envs.Contains("perf"));  // With() copies

  absl::Status dup = envs.ValidateNewEnvironment(Obj(R"({"key":"staging"})")).status();
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Message(envs.ValidateNewEnvironment(Obj(R"({"key":"x","name":" \t "})")).status()),
            "name: must not be blank");
  EXPECT_EQ(Message(envs.ValidateNewEnvironment(Obj(R"({"key":"x","parent":"nope"})")).status()),
            "parent: unknown environment \"nope\"");
  EXPECT_EQ(Message(envs.ValidateNewEnvironment(Obj(R"({"key":"x","parent":"x"})")).status()),
            "parent: an environment cannot inherit from itself");
}

TEST(EnvironmentSetTest, ValidateEnvironmentUpdateRejectsCycles) {
  EnvironmentSet envs = TestEnvs();
  absl::Status cycle =
      envs.ValidateEnvironmentUpdate(Obj(R"({"key":"production","parent":"dev"})")).status();
  EXPECT_EQ(cycle.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(cycle),
            "parent: inheriting from \"dev\" would make a cycle (it inherits from \"production\")");
  EXPECT_FALSE(envs.ValidateEnvironmentUpdate(Obj(R"({"key":"staging","parent":"staging"})")).ok());
  EXPECT_TRUE(envs.ValidateEnvironmentUpdate(Obj(R"({"key":"staging","parent":"sandbox"})")).ok());
  EXPECT_EQ(envs.ValidateEnvironmentUpdate(Obj(R"({"key":"nope"})")).status().code(),
            absl::StatusCode::kNotFound);
}

// ---- configs ----

TEST(ConfigBodyTest, NormalisesAndSortsValues) {
  absl::StatusOr<json::object> body = ValidateConfigBody(
      "db.pool",
      Obj(R"({"values":{"staging":5,"production":20.0},"type":"integer","description":"pool"})"),
      TestEnvs());
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(
      json::serialize(*body),
      R"({"type":"integer","description":"pool","schema":null,"values":{"production":20,"staging":5}})");
  EXPECT_TRUE(body->at("values").at("production").is_int64());
}

TEST(ConfigBodyTest, RejectsUnknownFieldsTypesAndEnvironments) {
  EnvironmentSet envs = TestEnvs();
  auto err = [&](std::string_view key, std::string_view request) {
    absl::StatusOr<json::object> r = ValidateConfigBody(key, Obj(request), envs);
    EXPECT_FALSE(r.ok()) << request;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return Message(r.status());
  };
  EXPECT_EQ(err("x", R"({"type":"string","reason":"r"})"),
            "reason: unknown field (allowed: type, description, client_visible, schema, values)");
  EXPECT_EQ(err("x", R"({"values":{}})"), "type: missing required field");
  EXPECT_EQ(err("x", R"({"type":"float"})"),
            R"(type: must be one of "string", "integer", "number", "boolean", "json")");
  EXPECT_EQ(err("X", R"({"type":"string"})").rfind("config key \"X\": must match", 0), 0u);
  EXPECT_EQ(err("x", R"({"type":"string","values":{"qa2":"a"}})"),
            "values.qa2: unknown environment \"qa2\"");
  EXPECT_EQ(err("x", R"({"type":"string","values":{"dev":1}})"),
            "values.dev: expected a string (the config's type is string)");
  EXPECT_EQ(err("x", R"({"type":"boolean","values":{"dev":"true"}})"),
            "values.dev: expected a boolean (the config's type is boolean)");
  EXPECT_EQ(err("x", R"({"type":"number","values":{"dev":"1"}})"),
            "values.dev: expected a number (the config's type is number)");
  EXPECT_EQ(err("x", R"({"type":"integer","values":{"dev":1.5}})"),
            "values.dev: expected an integer (the config's type is integer)");
  EXPECT_EQ(err("x", R"({"type":"integer","values":{"dev":true}})"),
            "values.dev: expected an integer (the config's type is integer)");
  EXPECT_EQ(err("x", R"({"type":"integer","values":{"dev":9223372036854775808}})"),
            "values.dev: integer out of range (must fit in 64 bits, signed)");
  EXPECT_EQ(err("x", R"({"type":"integer","values":{"dev":1e19}})"),
            "values.dev: integer out of range (must fit in 64 bits, signed)");
  EXPECT_EQ(err("x", R"({"type":"string","description":5})"), "description: must be a string");
  EXPECT_EQ(err("x", R"({"type":"string","values":[]})"),
            "values: must be an object (environment key → value)");
  EXPECT_EQ(err("x", R"({"type":"string","schema":true})"), "schema: must be an object or null");
}

TEST(ConfigBodyTest, IntegerRangeEdges) {
  EnvironmentSet envs = TestEnvs();
  absl::StatusOr<json::object> body = ValidateConfigBody(
      "x", Obj(R"({"type":"integer","values":{"dev":9223372036854775807,"qa":-9223372036854775808,
                  "staging":-9.2233720368547758e18}})"),
      envs);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->at("values").at("dev").as_int64(), INT64_MAX);
  EXPECT_EQ(body->at("values").at("qa").as_int64(), INT64_MIN);
  EXPECT_EQ(body->at("values").at("staging").as_int64(), INT64_MIN);
}

TEST(ConfigBodyTest, JsonTypeAcceptsAnything) {
  absl::StatusOr<json::object> body = ValidateConfigBody(
      "feature.limits",
      Obj(R"({"type":"json","values":{"dev":{"a":[1,2]},"qa":null,"production":"s"}})"),
      TestEnvs());
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_TRUE(body->at("values").at("qa").is_null());
}

TEST(ConfigBodyTest, SchemaAppliesToEveryValue) {
  EnvironmentSet envs = TestEnvs();
  std::string schema =
      R"("schema":{"type":"object","properties":{"port":{"type":"integer","maximum":65535}},
                           "required":["port"]})";
  EXPECT_TRUE(
      ValidateConfigBody(
          "svc", Obj(R"({"type":"json",)" + schema + R"(,"values":{"dev":{"port":8080}}})"), envs)
          .ok());
  absl::StatusOr<json::object> bad =
      ValidateConfigBody("svc",
                         Obj(R"({"type":"json",)" + schema +
                             R"(,"values":{"dev":{"port":8080},"production":{"port":70000}}})"),
                         envs);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Message(bad.status()),
            "values.production: /port: 70000 is greater than the maximum 65535");
  absl::StatusOr<json::object> root = ValidateConfigBody(
      "n", Obj(R"({"type":"integer","schema":{"minimum":1},"values":{"dev":0}})"), envs);
  EXPECT_EQ(Message(root.status()), "values.dev: 0 is less than the minimum 1");
  absl::StatusOr<json::object> bad_schema =
      ValidateConfigBody("n", Obj(R"({"type":"integer","schema":{"$ref":"#/x"}})"), envs);
  EXPECT_EQ(Message(bad_schema.status()), "schema: unsupported keyword \"$ref\"");
  // The schema is kept in the normalised body.
  absl::StatusOr<json::object> kept =
      ValidateConfigBody("n", Obj(R"({"type":"integer","schema":{"minimum":1}})"), envs);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(json::serialize(kept->at("schema")), R"({"minimum":1})");
}

TEST(ConfigBodyTest, ValueSizeLimit) {
  EnvironmentSet envs = TestEnvs();
  // A string value serialises with its two quotes.
  std::string fits(kMaxValueBytes - 2, 'a');
  std::string too_big(kMaxValueBytes - 1, 'a');
  json::object ok_request{{"type", "string"}, {"values", json::object{{"production", fits}}}};
  EXPECT_TRUE(ValidateConfigBody("big", ok_request, envs).ok());
  json::object bad_request{{"type", "string"}, {"values", json::object{{"production", too_big}}}};
  absl::StatusOr<json::object> bad = ValidateConfigBody("big", bad_request, envs);
  EXPECT_EQ(Message(bad.status()), "values.production: larger than 65536 bytes");
}

// ---- flags ----

constexpr char kBoolFlag[] = R"({
  "variations": [{"value": false}, {"value": true}],
  "environments": {"production": {"on": true, "fallthrough": {"variation": 1}}}})";

TEST(FlagBodyTest, ValidFlagIsNormalised) {
  EnvironmentSet envs = TestEnvs();
  json::object request =
      Obj(R"({"environments": {"staging": {"on": false, "fallthrough": {"variation": 0}},
      "production": {"on": true, "fallthrough": {"variation": 1}}},
      "variations": [{"value": false}, {"value": true}], "description": "new ui", "salt": "s1"})");
  absl::StatusOr<json::object> body = ValidateFlagBody("new-ui", request, envs, {});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(json::serialize(*body),
            R"({"description":"new ui","salt":"s1","variations":[{"value":false},{"value":true}],)"
            R"("environments":{"production":{"on":true,"fallthrough":{"variation":1}},)"
            R"("staging":{"on":false,"fallthrough":{"variation":0}}}})");
}

TEST(FlagBodyTest, RejectsStructuralErrorsAndUnknownEnvironments) {
  EnvironmentSet envs = TestEnvs();
  auto err = [&](std::string_view request) {
    absl::StatusOr<json::object> r = ValidateFlagBody("f", Obj(request), envs, {});
    EXPECT_FALSE(r.ok()) << request;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return Message(r.status());
  };
  EXPECT_EQ(err(R"({"variations":[{"value":1}],"environments":{},"tags":[]})"),
            "tags: unknown field (allowed: description, client_visible, lifecycle, owner, remove_after, salt, variations, environments)");
  EXPECT_EQ(err(R"({"variations":[{"value":1}],"environments":{"production":{"on":true,
      "fallthrough":{"variation":0},"offVariation":0}}})"),
            "environments.production.offVariation: unknown field");
  EXPECT_EQ(
      err(R"({"variations":[{"value":1}],"environments":{"prod":{"on":true,"fallthrough":{"variation":0}}}})"),
      "environments.prod: unknown environment \"prod\"");
  EXPECT_EQ(
      err(R"({"variations":[{"value":1}],"environments":{"production":{"on":true,"fallthrough":{"variation":3}}}})")
          .find("environments.production.fallthrough"),
      0u);
}

TEST(FlagBodyTest, PrerequisitesMustExist) {
  EnvironmentSet envs = TestEnvs();
  json::object request = Obj(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"production":{"on":true,"fallthrough":{"variation":1},
                                    "prerequisites":[{"flag":"billing","variation":1}]}}})");
  absl::StatusOr<json::object> r = ValidateFlagBody("checkout", request, envs, {});
  EXPECT_EQ(Message(r.status()),
            "environments.production.prerequisites[0].flag: unknown flag \"billing\"");

  json::object all{{"billing", Obj(kBoolFlag)}};
  EXPECT_TRUE(ValidateFlagBody("checkout", request, envs, all).ok());

  // The prerequisite's variation index is checked against the required flag.
  json::object high = Obj(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"production":{"on":true,"fallthrough":{"variation":1},
                                    "prerequisites":[{"flag":"billing","variation":5}]}}})");
  absl::StatusOr<json::object> out_of_range = ValidateFlagBody("checkout", high, envs, all);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_EQ(Message(out_of_range.status()).rfind("environment \"", 0), 0u) << out_of_range.status();
}

TEST(FlagBodyTest, PrerequisiteCyclesAcrossFlagsAndEnvironments) {
  EnvironmentSet envs = TestEnvs();
  json::object a = Obj(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"production":{"on":true,"fallthrough":{"variation":1},
                                    "prerequisites":[{"flag":"b","variation":1}]}}})");
  // b requires a in another environment: the union of all environments has a cycle.
  json::object b = Obj(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"dev":{"on":true,"fallthrough":{"variation":1},
                             "prerequisites":[{"flag":"a","variation":1}]}}})");
  json::object all{{"a", a}};
  absl::StatusOr<json::object> r = ValidateFlagBody("b", b, envs, all);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), "prerequisite cycle: a → b → a");

  json::object self = Obj(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"production":{"on":true,"fallthrough":{"variation":1},
                                    "prerequisites":[{"flag":"s","variation":1}]}}})");
  EXPECT_EQ(Message(ValidateFlagBody("s", self, envs, {}).status()), "prerequisite cycle: s → s");
}

TEST(FlagSetTest, DeletingARequiredFlagIsRejected) {
  EnvironmentSet envs = TestEnvs();
  json::object checkout = Obj(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"staging":{"on":true,"fallthrough":{"variation":1},
                                 "prerequisites":[{"flag":"billing","variation":1}]}}})");
  json::object all{{"billing", Obj(kBoolFlag)}, {"checkout", checkout}};
  EXPECT_TRUE(ValidateFlagSet(all, envs).ok());
  all.erase("billing");
  EXPECT_EQ(
      Message(ValidateFlagSet(all, envs)),
      "flag \"checkout\": environments.staging.prerequisites[0].flag: unknown flag \"billing\"");
}

TEST(FlagSetTest, ResolveFlagsForEnvironmentTakesNearestAncestor) {
  EnvironmentSet envs = TestEnvs();
  json::object flags{
      {"b-flag", Obj(R"({"salt":"x","variations":[{"value":1},{"value":2}],"environments":{
          "production":{"on":true,"fallthrough":{"variation":0}},
          "staging":{"on":true,"fallthrough":{"variation":1}}}})")},
      {"a-flag", Obj(kBoolFlag)},
      {"sandbox-only", Obj(R"({"variations":[{"value":1}],"environments":{
          "sandbox":{"on":true,"fallthrough":{"variation":0}}}})")}};
  json::object dev = ResolveFlagsForEnvironment(flags, envs, "dev");
  EXPECT_EQ(
      json::serialize(dev),
      R"({"a-flag":{"variations":[{"value":false},{"value":true}],"environments":{"dev":{"on":true,"fallthrough":{"variation":1}}}},)"
      R"("b-flag":{"salt":"x","variations":[{"value":1},{"value":2}],"environments":{"dev":{"on":true,"fallthrough":{"variation":1}}}}})");
  json::object qa = ResolveFlagsForEnvironment(flags, envs, "qa");
  EXPECT_EQ(json::serialize(qa.at("b-flag").at("environments")),
            R"({"qa":{"on":true,"fallthrough":{"variation":0}}})");
  EXPECT_FALSE(qa.contains("sandbox-only"));
  EXPECT_EQ(ResolveFlagsForEnvironment(flags, envs, "sandbox").size(), 1u);
}

// ---- segments ----

TEST(SegmentBodyTest, ValidAndNormalised) {
  absl::StatusOr<json::object> body =
      ValidateSegmentBody("beta", Obj(R"({"included":["u1"],"description":"beta users"})"), {});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(json::serialize(*body),
            R"({"description":"beta users","included":["u1"],"excluded":[],"rules":[]})");
}

TEST(SegmentBodyTest, Errors) {
  EXPECT_EQ(Message(ValidateSegmentBody("s", Obj(R"({"include":["u1"]})"), {}).status()),
            "include: unknown field (allowed: description, included, excluded, rules)");
  EXPECT_EQ(Message(ValidateSegmentBody("s", Obj(R"({"included":[1]})"), {}).status())
                .rfind("included[0]", 0),
            0u);
  EXPECT_FALSE(
      ValidateSegmentBody(
          "s", Obj(R"({"rules":[{"clauses":[{"attribute":"a","op":"eq","values":[1]}]}]})"), {})
          .ok());
  EXPECT_FALSE(ValidateSegmentBody("S!", Obj("{}"), {}).ok());
}

TEST(SegmentBodyTest, NestingIsCheckedAgainstAllSegments) {
  json::object inner = Obj(R"({"rules":[{"clauses":[{"op":"segment_match","values":["base"]}]}]})");
  json::object base = Obj(R"({"included":["u1"]})");
  json::object all{{"base", base}, {"inner", inner}};
  // outer → inner, and inner itself uses segment_match: too deep.
  json::object outer =
      Obj(R"({"rules":[{"clauses":[{"op":"segment_match","values":["inner"]}]}]})");
  absl::StatusOr<json::object> r = ValidateSegmentBody("outer", outer, all);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("itself uses segment_match"), std::string::npos) << r.status();
  json::object to_base =
      Obj(R"({"rules":[{"clauses":[{"op":"segment_match","values":["base"]}]}]})");
  EXPECT_TRUE(ValidateSegmentBody("outer", to_base, all).ok());
  // A segment naming itself.
  json::object self = Obj(R"({"rules":[{"clauses":[{"op":"segment_match","values":["me"]}]}]})");
  EXPECT_FALSE(ValidateSegmentBody("me", self, {}).ok());
}

// Regression (issue 12 §14): `1e999` was accepted in number and json values, schemas,
// flag variations and clauses, stored as `Infinity` (not JSON), after which every
// environment's document failed to resolve. Every validator refuses it, naming the path.
TEST(NonFiniteTest, RefusedInEveryItemBody) {
  EnvironmentSet envs = TestEnvs();
  auto expect_refused = [](const absl::Status& st, const std::string& path) {
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(std::string(st.message()).find(path), std::string::npos) << st;
    EXPECT_NE(std::string(st.message()).find("finite"), std::string::npos) << st;
  };
  expect_refused(ValidateConfigBody("n", Obj(R"({"type":"number","values":{"dev":1e999}})"), envs).status(),
                 "values.dev");
  expect_refused(ValidateConfigBody("j", Obj(R"({"type":"json","values":{"dev":{"a":[1,-1e999]}}})"), envs).status(),
                 "values.dev.a.1");
  expect_refused(
      ValidateConfigBody("s", Obj(R"({"type":"number","schema":{"maximum":1e999},"values":{}})"), envs).status(),
      "schema.maximum");
  expect_refused(ValidateFlagBody("f", Obj(R"({"variations":[{"value":1},{"value":1e999}],"environments":{}})"), envs,
                                  json::object{})
                     .status(),
                 "variations.1.value");
  expect_refused(ValidateFlagBody("f", Obj(R"({"variations":[{"value":1}],"environments":{"dev":{"on":true,
                     "rules":[{"clauses":[{"attribute":"n","op":"gt","values":[1e999]}],"variation":0}],
                     "fallthrough":{"variation":0}}}})"),
                                  envs, json::object{})
                     .status(),
                 "environments.dev.rules.0.clauses.0.values.0");
  expect_refused(ValidateSegmentBody("s", Obj(R"({"included":[],"excluded":[],
                     "rules":[{"clauses":[{"attribute":"n","op":"lt","values":[-1e999]}]}]})"),
                                     json::object{})
                     .status(),
                 "rules.0.clauses.0.values.0");
  // The largest finite double is fine.
  EXPECT_TRUE(ValidateConfigBody("n", Obj(R"({"type":"number","values":{"dev":1.7976931348623157e308}})"), envs).ok());
}

TEST(EnvironmentsNamedTest, ByKind) {
  EXPECT_EQ(EnvironmentsNamed(ItemKind::kConfig, Obj(R"({"values":{"dev":1,"qa":2}})")),
            (std::set<std::string>{"dev", "qa"}));
  EXPECT_EQ(EnvironmentsNamed(ItemKind::kFlag, Obj(kBoolFlag)),
            (std::set<std::string>{"production"}));
  EXPECT_TRUE(EnvironmentsNamed(ItemKind::kSegment, Obj(R"({"included":[]})")).empty());
}

// ---- incremental flag validation (the write path) ----

// Stored flags in memory, counting how the validation reads them.
class MemoryFlags : public FlagLookup {
 public:
  explicit MemoryFlags(json::object flags) : flags_(std::move(flags)) {}
  absl::StatusOr<std::optional<json::object>> Find(std::string_view key) override {
    ++finds;
    const json::value* v = flags_.if_contains(key);
    if (v == nullptr) return std::nullopt;
    return v->as_object();
  }
  absl::StatusOr<json::object> All() override {
    ++alls;
    return flags_;
  }
  absl::StatusOr<std::vector<std::string>> Keys() override {
    ++keys;
    std::vector<std::string> out;
    for (const auto& member : flags_) out.emplace_back(member.key());
    return out;
  }
  const json::object& flags() const { return flags_; }
  int finds = 0;
  int alls = 0;
  int keys = 0;

 private:
  json::object flags_;
};

// A boolean flag configured in `envs_json` (e.g. {"production":{...}}).
json::object BoolFlag(std::string_view envs_json, int variations = 2) {
  // Appended piece by piece: GCC 12 reports a false -Wrestrict for "literal" + std::string.
  std::string text = R"({"variations":[)";
  for (int i = 0; i < variations; ++i) {
    if (i > 0) text.append(",");
    text.append(R"({"value":)").append(std::to_string(i)).append("}");
  }
  text.append(R"(],"environments":)").append(envs_json).append("}");
  return Obj(text);
}

constexpr std::string_view kRequiresBilling1 =
    R"({"production":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"billing","variation":1}]}})";

// ValidateFlagWrite must give exactly what ValidateFlagBody gives over all stored flags.
// Returns whether the write is valid.
bool ExpectSameAsFullValidation(const json::object& stored, std::string_view key,
                                const json::object& request) {
  EnvironmentSet envs = TestEnvs();
  MemoryFlags lookup(stored);
  absl::StatusOr<json::object> fast = ValidateFlagWrite(key, request, envs, lookup);
  absl::StatusOr<json::object> full = ValidateFlagBody(key, request, envs, stored);
  EXPECT_EQ(fast.ok(), full.ok()) << key << ": fast " << fast.status() << " full " << full.status();
  if (fast.ok() && full.ok()) {
    EXPECT_EQ(json::serialize(*fast), json::serialize(*full)) << key;
  } else {
    EXPECT_EQ(fast.status(), full.status()) << key;
  }
  return full.ok();
}

TEST(FlagWriteTest, AgreesWithValidateFlagBody) {
  json::object stored{
      {"billing", BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":1}}})", 3)},
      {"checkout", BoolFlag(kRequiresBilling1)},
      {"b", BoolFlag(R"({"dev":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"a","variation":1}]}})")},
      {"a", BoolFlag(R"({"staging":{"on":true,"fallthrough":{"variation":0}}})")},
  };
  // A new flag requiring an existing one; one requiring an unknown flag.
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "new", BoolFlag(kRequiresBilling1)));
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "new", BoolFlag(
      R"({"qa":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"gone","variation":0}]}})")));
  // A prerequisite variation out of range in an environment the required flag reaches
  // (staging inherits billing's production configuration), and in one it does not.
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "new", BoolFlag(
      R"({"staging":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"billing","variation":3}]}})")));
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "new", BoolFlag(
      R"({"sandbox":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"billing","variation":3}]}})")));
  // Cycles: a requiring b closes a → b → a; a flag requiring itself.
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "a", BoolFlag(
      R"({"qa":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"b","variation":1}]}})")));
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "s", BoolFlag(
      R"({"qa":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"s","variation":1}]}})")));
  // The required flag loses the variation checkout requires; keeps it; leaves production
  // (checkout's requirement then has nothing to check there, as in FlagSet::Build).
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "billing",
                             BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":0}}})", 1)));
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "billing",
                             BoolFlag(R"({"production":{"on":false,"fallthrough":{"variation":0}}})", 2)));
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "billing", BoolFlag(R"({"qa":{"on":true,"fallthrough":{"variation":0}}})", 3)));
  // a (1 variation required by b in dev) newly configured in dev with too few variations.
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "a", BoolFlag(R"({"dev":{"on":true,"fallthrough":{"variation":0}}})", 1)));
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "a", BoolFlag(R"({"dev":{"on":true,"fallthrough":{"variation":0}}})", 2)));
  // Structural errors come first, as in ValidateFlagBody.
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "Bad Key", BoolFlag(kRequiresBilling1)));
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "new", BoolFlag(R"({"nowhere":{"on":true,"fallthrough":{"variation":0}}})")));
}

TEST(FlagWriteTest, ReadsOnlyWhatTheChangeReaches) {
  // A large workspace: 500 independent flags plus billing.
  json::object stored{{"billing", BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":1}}})")}};
  for (int i = 0; i < 500; ++i) {
    stored[std::string("f").append(std::to_string(i))] = BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":0}}})");
  }
  EnvironmentSet envs = TestEnvs();
  MemoryFlags lookup(stored);
  ASSERT_TRUE(ValidateFlagWrite("new", BoolFlag(kRequiresBilling1), envs, lookup).ok());
  EXPECT_EQ(lookup.alls, 0);
  EXPECT_LE(lookup.finds, 2);  // billing, and "new" (is it an update?)
  // Changing an existing flag without removing variations or adding environments.
  MemoryFlags update(stored);
  ASSERT_TRUE(ValidateFlagWrite("f7", BoolFlag(R"({"production":{"on":false,"fallthrough":{"variation":0}}})"),
                                envs, update)
                  .ok());
  EXPECT_EQ(update.alls, 0);
  // Adding an environment to an existing flag scans the stored bodies once (someone might
  // require it there) and succeeds when nobody does.
  MemoryFlags widen(stored);
  ASSERT_TRUE(ValidateFlagWrite("f7", BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":0}},
      "sandbox":{"on":true,"fallthrough":{"variation":0}}})"), envs, widen).ok());
  EXPECT_EQ(widen.alls, 1);
}

// Two flags whose keys differ only in case are refused on every path: the write path
// (a new flag, fast or full), and the set check every multi-flag write runs.
TEST(FlagWriteTest, KeysDifferingOnlyInCaseAreRefused) {
  json::object stored{
      {"newCheckout", BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":1}}})")}};
  for (int i = 0; i < 50; ++i) {
    stored[std::string("f").append(std::to_string(i))] = BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":0}}})");
  }
  EnvironmentSet envs = TestEnvs();
  const json::object plain = BoolFlag(R"({"production":{"on":true,"fallthrough":{"variation":0}}})");
  for (std::string_view key : {"newcheckout", "NEWCHECKOUT", "NewCheckout"}) {
    MemoryFlags lookup(stored);
    absl::StatusOr<json::object> got = ValidateFlagWrite(key, plain, envs, lookup);
    ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(Message(got.status()),
              "flag key \"" + std::string(key) + "\": differs only in case from the flag \"newCheckout\" "
              "(flag keys are case-sensitive, but two flags whose keys differ only in case are refused; rename one)");
    EXPECT_FALSE(ExpectSameAsFullValidation(stored, key, plain));
  }
  // The key itself (an update), and a new key of its own: accepted; creating reads the
  // keys once, not the bodies; updating reads neither.
  MemoryFlags create(stored);
  EXPECT_TRUE(ValidateFlagWrite("newCheckout2", plain, envs, create).ok());
  EXPECT_EQ(create.keys, 1);
  EXPECT_EQ(create.alls, 0);
  MemoryFlags update(stored);
  EXPECT_TRUE(ValidateFlagWrite("newCheckout", plain, envs, update).ok());
  EXPECT_EQ(update.keys + update.alls, 0);
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "newCheckout", plain));
  // The set check (change requests, promotions, rollbacks, batches).
  json::object both = stored;
  both["NEWcheckout"] = plain;
  EXPECT_EQ(ValidateFlagSet(both, envs).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateFlagSet(stored, envs).ok());
}

json::object Visible(json::object flag) {
  flag["client_visible"] = true;
  return flag;
}

// Issue 19: a client-visible flag whose prerequisite is server-only showed the server-only
// flag's key to client keys (in the client document and in failedPrerequisite) and could
// never pass for them. Every path that changes either flag refuses it.
TEST(FlagWriteTest, ClientVisibleFlagMayOnlyRequireClientVisibleFlags) {
  constexpr std::string_view kOn = R"({"production":{"on":true,"fallthrough":{"variation":1}}})";
  json::object stored{{"billing", BoolFlag(kOn)}, {"theme", Visible(BoolFlag(kOn))}};
  // Written client-visible with a server-only prerequisite: refused, naming both and the fix.
  EXPECT_FALSE(ExpectSameAsFullValidation(stored, "checkout", Visible(BoolFlag(kRequiresBilling1))));
  MemoryFlags lookup(stored);
  absl::Status st = ValidateFlagWrite("checkout", Visible(BoolFlag(kRequiresBilling1)), TestEnvs(), lookup).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("\"billing\" is not client_visible"), std::string_view::npos) << st;
  EXPECT_NE(st.message().find("Mark \"billing\" client_visible"), std::string_view::npos) << st;
  // Server-only requiring server-only, and client-visible requiring client-visible: fine.
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "checkout", BoolFlag(kRequiresBilling1)));
  EXPECT_TRUE(ExpectSameAsFullValidation(stored, "checkout", Visible(BoolFlag(
      R"({"production":{"on":true,"fallthrough":{"variation":1},"prerequisites":[{"flag":"theme","variation":1}]}})"))));
  // An existing server-only flag requiring billing made client-visible later (a PATCH of
  // its shared part): refused.
  json::object with_checkout = stored;
  with_checkout["checkout"] = BoolFlag(kRequiresBilling1);
  EXPECT_FALSE(ExpectSameAsFullValidation(with_checkout, "checkout", Visible(BoolFlag(kRequiresBilling1))));

  // The prerequisite made server-only while a client-visible flag requires it: refused;
  // other changes to it that keep it visible are fine.
  json::object both_visible{{"billing", Visible(BoolFlag(kOn))},
                            {"checkout", Visible(BoolFlag(kRequiresBilling1))}};
  EXPECT_FALSE(ExpectSameAsFullValidation(both_visible, "billing", BoolFlag(kOn)));
  EXPECT_TRUE(ExpectSameAsFullValidation(both_visible, "billing", Visible(BoolFlag(
      R"({"production":{"on":false,"fallthrough":{"variation":0}}})"))));

  // Change sets (promotions, rollbacks and reverts restore whole bodies) are checked over
  // the resulting set.
  EXPECT_FALSE(ValidateFlagSet(json::object{{"billing", BoolFlag(kOn)},
                                            {"checkout", Visible(BoolFlag(kRequiresBilling1))}},
                               TestEnvs())
                   .ok());
  EXPECT_TRUE(ValidateFlagSet(both_visible, TestEnvs()).ok());
}

TEST(FlagDeleteTest, AgreesWithValidateFlagSet) {
  EnvironmentSet envs = TestEnvs();
  json::object stored{{"billing", Obj(kBoolFlag)}, {"checkout", BoolFlag(kRequiresBilling1)},
                      {"free", Obj(kBoolFlag)}};
  MemoryFlags lookup(stored);
  EXPECT_TRUE(ValidateFlagDelete("free", envs, lookup).ok());
  EXPECT_TRUE(ValidateFlagDelete("checkout", envs, lookup).ok());
  json::object without = stored;
  without.erase("billing");
  absl::Status full = ValidateFlagSet(without, envs);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(ValidateFlagDelete("billing", envs, lookup), full);
}

}  // namespace
}  // namespace edgevault::workspace

namespace edgevault::workspace {
namespace {

// Issue 19: client_visible is a boolean of the shared part, stored only when true.
TEST(ClientVisibleTest, ConfigsAndFlagsTakeABooleanKeptOnlyWhenTrue) {
  EnvironmentSet envs = TestEnvs();
  absl::StatusOr<json::object> on = ValidateConfigBody(
      "ui.theme", Obj(R"({"type":"string","client_visible":true,"values":{"dev":"dark"}})"), envs);
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(json::serialize(*on), R"({"type":"string","client_visible":true,"schema":null,"values":{"dev":"dark"}})");
  absl::StatusOr<json::object> off = ValidateConfigBody(
      "ui.theme", Obj(R"({"type":"string","client_visible":false,"values":{"dev":"dark"}})"), envs);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(json::serialize(*off), R"({"type":"string","schema":null,"values":{"dev":"dark"}})");
  absl::StatusOr<json::object> bad =
      ValidateConfigBody("ui.theme", Obj(R"({"type":"string","client_visible":"yes"})"), envs);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Message(bad.status()), "client_visible: must be true or false");

  const std::string flag =
      R"("variations":[{"value":false},{"value":true}],"environments":{"dev":{"on":true,"fallthrough":{"variation":1}}})";
  absl::StatusOr<json::object> f = ValidateFlagBody("new-ui", Obj("{\"client_visible\":true," + flag + "}"), envs, {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->at("client_visible").as_bool());
  absl::StatusOr<json::object> g = ValidateFlagBody("new-ui", Obj("{\"client_visible\":false," + flag + "}"), envs, {});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->if_contains("client_visible"), nullptr);
  absl::StatusOr<json::object> h = ValidateFlagBody("new-ui", Obj("{\"client_visible\":1," + flag + "}"), envs, {});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(Message(h.status()), "client_visible: must be true or false");
}

}  // namespace
}  // namespace edgevault::workspace
