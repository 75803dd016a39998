#include "src/workspace/effect.h"

#include <gtest/gtest.h>

#include <random>

#include "src/workspace/resolver.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using Set = std::set<std::string>;

// base ← prod (protected) ← staging ← dev; sandbox is a separate root.
EnvironmentSet Envs() {
  absl::StatusOr<EnvironmentSet> envs = EnvironmentSet::FromEnvironments({
      {.key = "base", .name = "Base"},
      {.key = "prod", .name = "Prod", .parent = "base", .is_protected = true},
      {.key = "staging", .name = "Staging", .parent = "prod"},
      {.key = "dev", .name = "Dev", .parent = "staging"},
      {.key = "sandbox", .name = "Sandbox"},
  });
  EXPECT_TRUE(envs.ok()) << envs.status();
  return *envs;
}

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

// Regression (issue 12 §2): every environment named in a body used to count as touched,
// so a developer could not change dev's value of a config that also has a prod value.
TEST(EffectTest, ConfigTouchesOnlyWhereTheResolvedValueChanges) {
  EnvironmentSet envs = Envs();
  json::object before = Obj(R"({"type":"integer","schema":null,"values":{"prod":20,"dev":5}})");
  json::object after = Obj(R"({"type":"integer","schema":null,"values":{"prod":20,"dev":6}})");
  EXPECT_EQ(ConfigEffect("pool", &before, &after, envs), Set{"dev"});
  // The same body again touches nothing.
  EXPECT_EQ(ConfigEffect("pool", &before, &before, envs), Set{});
  // prod's value is inherited by staging (dev has its own).
  json::object prod = Obj(R"({"type":"integer","schema":null,"values":{"prod":30,"dev":5}})");
  EXPECT_EQ(ConfigEffect("pool", &before, &prod, envs), (Set{"prod", "staging"}));
}

// The indirect path: a value a protected environment inherits is a value of that
// environment, whichever environment the body sets it in.
TEST(EffectTest, ChangingAnAncestorTouchesTheProtectedEnvironmentsInheritingIt) {
  EnvironmentSet envs = Envs();
  json::object before = Obj(R"({"type":"string","schema":null,"values":{"base":"a"}})");
  json::object after = Obj(R"({"type":"string","schema":null,"values":{"base":"b"}})");
  EXPECT_EQ(ConfigEffect("x", &before, &after, envs), (Set{"base", "prod", "staging", "dev"}));
  // Adding an override in dev where base's value was inherited touches dev only.
  json::object dev = Obj(R"({"type":"string","schema":null,"values":{"base":"a","dev":"d"}})");
  EXPECT_EQ(ConfigEffect("x", &before, &dev, envs), Set{"dev"});
}

TEST(EffectTest, ConfigCreateDeleteTypeAndMetadata) {
  EnvironmentSet envs = Envs();
  json::object c = Obj(R"({"type":"integer","schema":null,"values":{"staging":1}})");
  EXPECT_EQ(ConfigEffect("k", nullptr, &c, envs), (Set{"staging", "dev"}));
  EXPECT_EQ(ConfigEffect("k", &c, nullptr, envs), (Set{"staging", "dev"}));
  json::object number = Obj(R"({"type":"number","schema":null,"values":{"staging":1}})");
  EXPECT_EQ(ConfigEffect("k", &c, &number, envs), (Set{"staging", "dev"}));
  // Description and schema are not part of any document: changing them touches nothing.
  json::object described =
      Obj(R"({"type":"integer","description":"d","schema":{"type":"integer"},"values":{"staging":1}})");
  EXPECT_EQ(ConfigEffect("k", &c, &described, envs), Set{});
  // A config with no value anywhere touches nothing when created.
  json::object empty = Obj(R"({"type":"integer","schema":null,"values":{}})");
  EXPECT_EQ(ConfigEffect("k", nullptr, &empty, envs), Set{});
}

TEST(EffectTest, FlagTouchesEnvironmentsWhoseConfigurationOrVariationsChange) {
  EnvironmentSet envs = Envs();
  json::object before = Obj(R"({"variations":[{"value":false},{"value":true}],"environments":{
      "prod":{"on":false,"fallthrough":{"variation":0}},
      "dev":{"on":false,"fallthrough":{"variation":0}}}})");
  json::object dev_on = Obj(R"({"variations":[{"value":false},{"value":true}],"environments":{
      "prod":{"on":false,"fallthrough":{"variation":0}},
      "dev":{"on":true,"fallthrough":{"variation":0}}}})");
  EXPECT_EQ(FlagEffect("f", &before, &dev_on, envs), Set{"dev"});
  // Variations are part of every environment the flag is in (prod, staging, dev).
  json::object renamed = Obj(R"({"variations":[{"value":false,"name":"Off"},{"value":true}],"environments":{
      "prod":{"on":false,"fallthrough":{"variation":0}},
      "dev":{"on":false,"fallthrough":{"variation":0}}}})");
  EXPECT_EQ(FlagEffect("f", &before, &renamed, envs), (Set{"prod", "staging", "dev"}));
  json::object described = before;
  described["description"] = "only metadata";
  EXPECT_EQ(FlagEffect("f", &before, &described, envs), Set{});
}

TEST(EffectTest, SegmentTouchesExactlyTheEnvironmentsWhoseFlagsUseIt) {
  EnvironmentSet envs = Envs();
  json::object flags = Obj(R"({
      "uses-beta-in-dev":{"variations":[{"value":1},{"value":2}],"environments":{
        "dev":{"on":true,"rules":[{"clauses":[{"op":"segment_match","values":["beta"]}],"variation":1}],
               "fallthrough":{"variation":0}}}},
      "uses-outer-in-sandbox":{"variations":[{"value":1},{"value":2}],"environments":{
        "sandbox":{"on":true,"rules":[{"clauses":[{"op":"segment_match","values":["outer"]}],"variation":1}],
                   "fallthrough":{"variation":0}}}}})");
  json::object segments = Obj(R"({
      "outer":{"included":[],"excluded":[],"rules":[{"clauses":[{"op":"segment_match","values":["inner"]}]}]}})");
  json::object before = Obj(R"({"included":["a"],"excluded":[],"rules":[]})");
  json::object after = Obj(R"({"included":["a","b"],"excluded":[],"rules":[]})");
  EXPECT_EQ(SegmentEffect("beta", &before, &after, envs, flags, segments), Set{"dev"});
  // Through a segment's own segment_match.
  EXPECT_EQ(SegmentEffect("inner", &before, &after, envs, flags, segments), Set{"sandbox"});
  // Unused: touches nothing (a developer may write it).
  EXPECT_EQ(SegmentEffect("unused", &before, &after, envs, flags, segments), Set{});
  EXPECT_EQ(SegmentEffect("beta", nullptr, &after, envs, flags, segments), Set{"dev"});
  json::object described = before;
  described["description"] = "d";
  EXPECT_EQ(SegmentEffect("beta", &before, &described, envs, flags, segments), Set{});
}

TEST(EffectTest, SecretTouchesWhereTheServedValueChanges) {
  EnvironmentSet envs = Envs();
  json::object before = Obj(R"({"values":{"prod":{"version":3,"envelope":"AAA"},"dev":{"version":4,"envelope":"BBB"}}})");
  json::object dev = Obj(R"({"values":{"prod":{"version":3,"envelope":"AAA"},"dev":{"version":9,"envelope":"CCC"}}})");
  EXPECT_EQ(SecretEffect(&before, &dev, envs), Set{"dev"});
  json::object prod = Obj(R"({"values":{"prod":{"version":9,"envelope":"DDD"},"dev":{"version":4,"envelope":"BBB"}}})");
  EXPECT_EQ(SecretEffect(&before, &prod, envs), (Set{"prod", "staging"}));
  json::object no_dev = Obj(R"({"values":{"prod":{"version":3,"envelope":"AAA"}}})");
  EXPECT_EQ(SecretEffect(&before, &no_dev, envs), Set{"dev"});  // dev now inherits prod's
  EXPECT_EQ(SecretSource(before, envs, "staging"), "prod");
  EXPECT_EQ(SecretSource(before, envs, "dev"), "dev");
  EXPECT_EQ(SecretSource(before, envs, "sandbox"), "");
}

// The per-item effects must agree with the definition itself: the environments whose
// resolved document differs. Random changes to a random workspace, checked both ways.
TEST(EffectTest, ItemEffectsAgreeWithComparingResolvedDocuments) {
  EnvironmentSet envs = Envs();
  std::mt19937 rng(7);
  std::vector<std::string> env_keys = envs.Keys();
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto random_config = [&]() {
    json::object values;
    for (const std::string& e : env_keys) {
      if (pick(3) == 0) values[e] = pick(3);
    }
    return json::object{{"type", "integer"}, {"schema", nullptr}, {"values", values}};
  };
  auto random_flag = [&]() {
    json::object environments;
    for (const std::string& e : env_keys) {
      if (pick(3) != 0) continue;
      json::object cfg{{"on", pick(2) == 0}, {"fallthrough", json::object{{"variation", pick(2)}}}};
      if (pick(2) == 0) {
        cfg["rules"] = json::array{json::object{
            {"clauses", json::array{json::object{{"op", "segment_match"}, {"values", json::array{pick(2) ? "s1" : "s2"}}}}},
            {"variation", 1}}};
      }
      environments[e] = cfg;
    }
    return json::object{{"variations", json::array{json::object{{"value", 0}}, json::object{{"value", pick(3)}}}},
                        {"environments", environments}};
  };
  auto random_segment = [&]() {
    json::array included;
    for (int i = pick(3); i > 0; --i) included.emplace_back("u" + std::to_string(pick(4)));
    return json::object{{"included", included}, {"excluded", json::array{}}, {"rules", json::array{}}};
  };
  for (int round = 0; round < 300; ++round) {
    WorkspaceSnapshot snap;
    snap.workspace_id = "ws_1";
    snap.workspace_key = "w";
    snap.envs = envs;
    json::object flags, segments;
    for (int i = 0; i < 3; ++i) {
      json::object f = random_flag();
      flags["f" + std::to_string(i)] = f;
      snap.flags.push_back({storage::ItemKind::kFlag, "f" + std::to_string(i), json::serialize(f), 0, {}, {}});
    }
    for (std::string s : {"s1", "s2"}) {
      json::object seg = random_segment();
      segments[s] = seg;
      snap.segments.push_back({storage::ItemKind::kSegment, s, json::serialize(seg), 0, {}, {}});
    }
    json::object config = random_config();
    snap.configs.push_back({storage::ItemKind::kConfig, "c", json::serialize(config), 0, {}, {}});

    WorkspaceSnapshot after = snap;
    Set predicted;
    switch (round % 3) {
      case 0: {
        json::object next = random_config();
        after.configs[0].body = json::serialize(next);
        predicted = ConfigEffect("c", &config, &next, envs);
        break;
      }
      case 1: {
        json::object next = random_flag();
        after.flags[0].body = json::serialize(next);
        predicted = FlagEffect("f0", &flags["f0"].as_object(), &next, envs);
        break;
      }
      case 2: {
        json::object next = random_segment();
        after.segments[0].body = json::serialize(next);
        json::object others = segments;
        others.erase("s1");
        predicted = SegmentEffect("s1", &segments["s1"].as_object(), &next, envs, flags, others);
        break;
      }
    }
    EXPECT_EQ(predicted, DocumentsEffect(snap, after)) << "round " << round;
  }
}

// A batch's segment changes share one SegmentReach (change_set.cc, service.cc): built once
// over the flags and segments, it must give each segment change exactly the environments
// whose resolved document differs, through nested segment_match chains too.
TEST(EffectTest, OneSegmentReachAgreesWithComparingResolvedDocumentsForEverySegment) {
  EnvironmentSet envs = Envs();
  std::mt19937 rng(11);
  std::vector<std::string> env_keys = envs.Keys();
  const std::vector<std::string> seg_keys{"s1", "s2", "s3", "s4"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto match = [](const std::string& segment) {
    return json::object{{"clauses", json::array{json::object{{"op", "segment_match"}, {"values", json::array{segment}}}}}};
  };
  // s_i may name s_j only for j > i: no cycles.
  auto random_segment = [&](size_t i) {
    json::array included;
    for (int n = pick(3); n > 0; --n) included.emplace_back("u" + std::to_string(pick(4)));
    json::array rules;
    for (size_t j = i + 1; j < seg_keys.size(); ++j) {
      if (pick(3) == 0) rules.push_back(match(seg_keys[j]));
    }
    return json::object{{"included", included}, {"excluded", json::array{}}, {"rules", rules}};
  };
  auto random_flag = [&]() {
    json::object environments;
    for (const std::string& e : env_keys) {
      if (pick(2) != 0) continue;
      json::object rule = match(seg_keys[static_cast<size_t>(pick(4))]);
      rule["variation"] = 1;
      environments[e] = json::object{{"on", true}, {"rules", json::array{rule}}, {"fallthrough", json::object{{"variation", 0}}}};
    }
    return json::object{{"variations", json::array{json::object{{"value", 0}}, json::object{{"value", 1}}}},
                        {"environments", environments}};
  };
  for (int round = 0; round < 200; ++round) {
    WorkspaceSnapshot snap;
    snap.workspace_id = "ws_1";
    snap.workspace_key = "w";
    snap.envs = envs;
    json::object flags, segments;
    for (int i = 0; i < 2; ++i) {
      json::object f = random_flag();
      flags["f" + std::to_string(i)] = f;
      snap.flags.push_back({storage::ItemKind::kFlag, "f" + std::to_string(i), json::serialize(f), 0, {}, {}});
    }
    for (size_t i = 0; i < seg_keys.size(); ++i) {
      json::object seg = random_segment(i);
      segments[seg_keys[i]] = seg;
      snap.segments.push_back({storage::ItemKind::kSegment, seg_keys[i], json::serialize(seg), 0, {}, {}});
    }
    SegmentReach reach(envs, flags, segments);
    for (size_t i = 0; i < seg_keys.size(); ++i) {
      // A change of its members only (its references stay, as SegmentReach requires).
      json::object next = segments[seg_keys[i]].as_object();
      next["included"] = json::array{"someone-new"};
      WorkspaceSnapshot after = snap;
      after.segments[i].body = json::serialize(next);
      const json::object& before = segments[seg_keys[i]].as_object();
      EXPECT_EQ(reach.Effect(seg_keys[i], &before, &next), DocumentsEffect(snap, after))
          << "round " << round << " segment " << seg_keys[i] << " " << json::serialize(segments);
      EXPECT_EQ(reach.Effect(seg_keys[i], &before, &next),
                SegmentEffect(seg_keys[i], &before, &next, envs, flags, segments));
    }
  }
}

}  // namespace
}  // namespace edgevault::workspace
