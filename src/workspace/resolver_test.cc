#include "src/workspace/resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "src/eval/evaluator.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::Item;
using storage::ItemKind;

Item MakeItem(ItemKind kind, std::string key, std::string body) {
  Item item;
  item.kind = kind;
  item.key = std::move(key);
  item.body = std::move(body);
  return item;
}

// production ← staging ← dev; sandbox is a separate root.
EnvironmentSet Envs() {
  absl::StatusOr<EnvironmentSet> envs = EnvironmentSet::FromEnvironments({
      {.key = "production", .name = "Production", .is_protected = true},
      {.key = "staging", .name = "Staging", .parent = "production"},
      {.key = "dev", .name = "Dev", .parent = "staging"},
      {.key = "sandbox", .name = "Sandbox"},
  });
  EXPECT_TRUE(envs.ok()) << envs.status();
  return *envs;
}

WorkspaceSnapshot Snapshot() {
  WorkspaceSnapshot snap;
  snap.workspace_id = "ws_123";
  snap.workspace_key = "shop";
  snap.version = 42;
  snap.envs = Envs();
  snap.configs = {
      // Set only at the root: inherited everywhere below it.
      MakeItem(ItemKind::kConfig, "db.host",
               R"({"type":"string","schema":null,"values":{"production":"db.prod"}})"),
      // Overridden in the middle of the chain.
      MakeItem(ItemKind::kConfig, "db.pool",
               R"({"type":"integer","schema":null,"values":{"production":50,"staging":10}})"),
      // Set at every level.
      MakeItem(
          ItemKind::kConfig, "log.level",
          R"({"type":"string","schema":null,"values":{"dev":"debug","production":"warn","staging":"info"}})"),
      // Only in dev: absent from production and staging.
      MakeItem(ItemKind::kConfig, "debug.toolbar",
               R"({"type":"boolean","schema":null,"values":{"dev":true}})"),
      // Nowhere: absent from every document.
      MakeItem(ItemKind::kConfig, "unused", R"({"type":"json","schema":null,"values":{}})"),
      MakeItem(
          ItemKind::kConfig, "limits",
          R"({"type":"json","description":"d","schema":{"type":"object"},"values":{"production":{"z":1,"a":[1.5,2]}}})"),
  };
  snap.flags = {
      MakeItem(ItemKind::kFlag, "new-checkout", R"({"description":"x","salt":"s1",
          "variations":[{"value":false,"name":"Off"},{"value":true,"name":"On"}],
          "environments":{
            "production":{"on":true,"fallthrough":{"variation":0},
                          "prerequisites":[{"flag":"billing","variation":1}]},
            "dev":{"on":true,"rules":[{"id":"beta","clauses":[{"op":"segment_match","values":["beta"]}],"variation":1}],
                   "fallthrough":{"variation":0},"prerequisites":[{"flag":"billing","variation":1}]}}})"),
      MakeItem(ItemKind::kFlag, "billing", R"({"variations":[{"value":"v1"},{"value":"v2"}],
          "environments":{"production":{"on":true,"fallthrough":{"variation":1}}}})"),
      MakeItem(ItemKind::kFlag, "sandbox-only", R"({"variations":[{"value":1}],
          "environments":{"sandbox":{"on":true,"fallthrough":{"variation":0}}}})"),
  };
  snap.segments = {
      MakeItem(ItemKind::kSegment, "beta",
               R"({"description":"beta testers","included":["user-1"],"excluded":[],"rules":[]})"),
      MakeItem(
          ItemKind::kSegment, "staff",
          R"({"included":[],"excluded":["user-9"],"rules":[{"clauses":[{"attribute":"email","op":"ends_with","values":["@corp.example"]}]}]})"),
  };
  return snap;
}

json::object Resolve(const WorkspaceSnapshot& snap, std::string_view env) {
  absl::StatusOr<std::string> doc = ResolveEnvironment(snap, env);
  EXPECT_TRUE(doc.ok()) << doc.status();
  return json::parse(doc.ok() ? *doc : "{}").as_object();
}

TEST(ResolverTest, HeaderMembersInFixedOrder) {
  absl::StatusOr<std::string> doc = ResolveEnvironment(Snapshot(), "staging");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(
      doc->rfind(
          R"({"format":1,"workspace_id":"ws_123","workspace":"shop","environment":"staging","version":42,"configs":{)",
          0),
      0u)
      << *doc;
  size_t configs = doc->find(R"("configs":)");
  size_t flags = doc->find(R"("flags":)");
  size_t segments = doc->find(R"("segments":)");
  EXPECT_LT(configs, flags);
  EXPECT_LT(flags, segments);
  EXPECT_EQ(doc->find('\n'), std::string::npos);
  EXPECT_EQ(doc->find(": "), std::string::npos);
}

TEST(ResolverTest, ConfigInheritanceThreeLevels) {
  WorkspaceSnapshot snap = Snapshot();
  json::object prod = Resolve(snap, "production").at("configs").as_object();
  json::object staging = Resolve(snap, "staging").at("configs").as_object();
  json::object dev = Resolve(snap, "dev").at("configs").as_object();

  EXPECT_EQ(json::serialize(prod.at("db.host")),
            R"({"type":"string","value":"db.prod","from":"production"})");
  EXPECT_EQ(json::serialize(dev.at("db.host")),
            R"({"type":"string","value":"db.prod","from":"production"})");

  EXPECT_EQ(prod.at("db.pool").at("value").as_int64(), 50);
  EXPECT_EQ(staging.at("db.pool").at("value").as_int64(), 10);
  EXPECT_EQ(json::serialize(dev.at("db.pool")),
            R"({"type":"integer","value":10,"from":"staging"})");

  EXPECT_EQ(prod.at("log.level").at("value").as_string(), "warn");
  EXPECT_EQ(staging.at("log.level").at("value").as_string(), "info");
  EXPECT_EQ(dev.at("log.level").at("value").as_string(), "debug");
  EXPECT_EQ(dev.at("log.level").at("from").as_string(), "dev");

  EXPECT_TRUE(dev.contains("debug.toolbar"));
  EXPECT_FALSE(staging.contains("debug.toolbar"));
  EXPECT_FALSE(prod.contains("debug.toolbar"));
  EXPECT_FALSE(dev.contains("unused"));

  // Keys are sorted.
  std::vector<std::string> keys;
  for (const auto& m : dev) keys.emplace_back(m.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"db.host", "db.pool", "debug.toolbar", "limits",
                                            "log.level"}));

  // A separate root inherits nothing.
  EXPECT_TRUE(Resolve(snap, "sandbox").at("configs").as_object().empty());
}

TEST(ResolverTest, OverrideAndDeleteChangeTheDocument) {
  WorkspaceSnapshot snap = Snapshot();
  // Override db.host in dev.
  for (Item& item : snap.configs) {
    if (item.key == "db.host") {
      item.body =
          R"({"type":"string","schema":null,"values":{"dev":"localhost","production":"db.prod"}})";
    }
  }
  EXPECT_EQ(Resolve(snap, "dev").at("configs").at("db.host").at("value").as_string(), "localhost");
  EXPECT_EQ(Resolve(snap, "staging").at("configs").at("db.host").at("value").as_string(),
            "db.prod");

  // Delete the staging override of db.pool: dev falls back to production.
  for (Item& item : snap.configs) {
    if (item.key == "db.pool")
      item.body = R"({"type":"integer","schema":null,"values":{"production":50}})";
  }
  EXPECT_EQ(json::serialize(Resolve(snap, "dev").at("configs").at("db.pool")),
            R"({"type":"integer","value":50,"from":"production"})");

  // Delete the item: absent from every document.
  std::erase_if(snap.configs, [](const Item& i) { return i.key == "db.host"; });
  for (std::string env : {"production", "staging", "dev"}) {
    EXPECT_FALSE(Resolve(snap, env).at("configs").as_object().contains("db.host")) << env;
  }
  std::erase_if(snap.flags, [](const Item& i) { return i.key == "sandbox-only"; });
  EXPECT_TRUE(Resolve(snap, "sandbox").at("flags").as_object().empty());
}

TEST(ResolverTest, FlagsAreInheritedFromTheNearestAncestor) {
  WorkspaceSnapshot snap = Snapshot();
  json::object staging = Resolve(snap, "staging").at("flags").as_object();
  // staging has no config of its own: production's, under the key "staging".
  EXPECT_EQ(
      json::serialize(staging.at("new-checkout")),
      R"({"salt":"s1","variations":[{"value":false,"name":"Off"},{"value":true,"name":"On"}],)"
      R"("environments":{"staging":{"on":true,"fallthrough":{"variation":0},)"
      R"("prerequisites":[{"flag":"billing","variation":1}]}}})");
  EXPECT_EQ(
      json::serialize(staging.at("billing")),
      R"({"variations":[{"value":"v1"},{"value":"v2"}],"environments":{"staging":{"on":true,"fallthrough":{"variation":1}}}})");
  EXPECT_FALSE(staging.contains("sandbox-only"));

  json::object dev = Resolve(snap, "dev").at("flags").as_object();
  EXPECT_TRUE(dev.at("new-checkout").at("environments").at("dev").as_object().contains("rules"));
  EXPECT_FALSE(dev.at("new-checkout").as_object().contains("description"));

  json::object sandbox = Resolve(snap, "sandbox").at("flags").as_object();
  EXPECT_EQ(sandbox.size(), 1u);
  EXPECT_TRUE(sandbox.contains("sandbox-only"));
}

// A document holds the segments its flags use, so that a segment change touches exactly
// the environments whose flags use it (authorization by effect, effect.h).
TEST(ResolverTest, SegmentsAreThoseTheEnvironmentsFlagsUse) {
  WorkspaceSnapshot snap = Snapshot();
  // dev's new-checkout rule names beta; no other environment's flags name a segment.
  EXPECT_EQ(json::serialize(Resolve(snap, "dev").at("segments")),
            R"({"beta":{"included":["user-1"],"excluded":[],"rules":[]}})");
  for (std::string env : {"production", "staging", "sandbox"}) {
    EXPECT_EQ(json::serialize(Resolve(snap, env).at("segments")), "{}") << env;
  }
  // Nested: beta's rule names staff, so dev holds both; a named segment that does not
  // exist is simply absent (it matches nobody).
  snap.segments[0] = MakeItem(ItemKind::kSegment, "beta",
                              R"({"included":["user-1"],"excluded":[],"rules":[{"clauses":[)"
                              R"({"op":"segment_match","values":["staff","ghost"]}]}]})");
  EXPECT_EQ(json::serialize(Resolve(snap, "dev").at("segments")),
            R"({"beta":{"included":["user-1"],"excluded":[],"rules":[{"clauses":[{"op":"segment_match","values":["staff","ghost"]}]}]},)"
            R"("staff":{"included":[],"excluded":["user-9"],"rules":[{"clauses":[{"attribute":"email","op":"ends_with","values":["@corp.example"]}]}]}})");
  EXPECT_EQ(json::serialize(Resolve(snap, "production").at("segments")), "{}");
}

TEST(ResolverTest, FlagSetBuildAcceptsTheDocumentAndEvaluates) {
  WorkspaceSnapshot snap = Snapshot();
  for (const std::string& env : snap.envs.Keys()) {
    json::object doc = Resolve(snap, env);
    absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set =
        eval::FlagSet::Build(doc.at("flags").as_object(), doc.at("segments").as_object(), env);
    ASSERT_TRUE(set.ok()) << env << ": " << set.status();
    EXPECT_EQ((*set)->flag_count(), doc.at("flags").as_object().size());
  }
  json::object dev = Resolve(snap, "dev");
  auto set =
      eval::FlagSet::Build(dev.at("flags").as_object(), dev.at("segments").as_object(), "dev");
  ASSERT_TRUE(set.ok());
  absl::StatusOr<eval::Context> ctx = eval::Context::FromJson(json::parse(R"({"key":"user-1"})"));
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  // dev's own rule: user-1 is in segment beta; the prerequisite billing is inherited.
  eval::EvalResult r = eval::Evaluate(**set, "new-checkout", *ctx);
  EXPECT_EQ(r.reason, eval::kReasonTargetingMatch) << r.error_message;
  EXPECT_EQ(r.variation, 1);
}

TEST(ResolverTest, ResolveAllEnvironmentsGivesEachEnvironmentsBytes) {
  WorkspaceSnapshot snap = Snapshot();
  std::vector<std::pair<std::string, std::string>> all_docs = ResolveAllEnvironments(snap);
  auto* all = &all_docs;
  std::vector<std::string> keys = snap.envs.Keys();
  ASSERT_EQ(all->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ((*all)[i].first, keys[i]);
    absl::StatusOr<std::string> one = ResolveEnvironment(snap, keys[i]);
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ((*all)[i].second, *one) << keys[i];
  }
}

// Regression (issue 12 §14): a stored body that cannot be resolved — `1e999` was once
// accepted and stored as `Infinity`, which is not JSON — made every environment's
// document fail, so a bad write to dev froze what prod served. Now that item alone is
// left out and reported; the rest of the workspace resolves.
TEST(ResolverTest, OneUnresolvableItemIsLeftOutAndReported) {
  WorkspaceSnapshot snap = Snapshot();
  std::vector<std::pair<std::string, std::string>> clean = ResolveAllEnvironments(snap);
  snap.configs.push_back(MakeItem(ItemKind::kConfig, "infinite",
                                  R"({"type":"number","schema":null,"values":{"dev":Infinity}})"));
  snap.configs.push_back(MakeItem(ItemKind::kConfig, "huge",
                                  R"({"type":"number","schema":null,"values":{"dev":1e999}})"));
  snap.flags.push_back(MakeItem(ItemKind::kFlag, "not-an-object", "[1]"));
  snap.segments.push_back(MakeItem(ItemKind::kSegment, "not-json", "{"));
  std::vector<ResolveProblem> problems;
  std::vector<std::pair<std::string, std::string>> all = ResolveAllEnvironments(snap, &problems);
  EXPECT_EQ(all, clean);  // every document exactly as without the broken items
  ASSERT_EQ(problems.size(), 4u);
  std::set<std::string> keys;
  for (const ResolveProblem& p : problems) keys.insert(p.key);
  EXPECT_EQ(keys, (std::set<std::string>{"infinite", "huge", "not-an-object", "not-json"}));
  for (const ResolveProblem& p : problems) {
    if (p.key == "huge") {
      EXPECT_NE(p.message.find("not finite at values.dev"), std::string::npos) << p.message;
    }
  }
  std::vector<ResolveProblem> one;
  absl::StatusOr<std::string> dev = ResolveEnvironment(snap, "dev", &one);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(one.size(), 4u);
  for (const auto& [env, doc] : all) EXPECT_NE(doc.find("\"version\":42"), std::string::npos);
}

TEST(ResolverTest, FlagsMemberIsResolveFlagsForEnvironment) {
  WorkspaceSnapshot snap = Snapshot();
  json::object flags_by_key;
  for (const Item& item : snap.flags) flags_by_key[item.key] = json::parse(item.body);
  for (const std::string& env : snap.envs.Keys()) {
    absl::StatusOr<std::string> doc = ResolveEnvironment(snap, env);
    ASSERT_TRUE(doc.ok()) << doc.status();
    json::value parsed = json::parse(*doc);
    EXPECT_EQ(parsed.at("flags"), json::value(ResolveFlagsForEnvironment(flags_by_key, snap.envs, env)))
        << env;
  }
}

TEST(ResolverTest, StringsAreEscapedAsBoostJsonDoes) {
  WorkspaceSnapshot snap = Snapshot();
  std::string every_byte;
  for (int c = 1; c < 128; ++c) every_byte.push_back(static_cast<char>(c));
  every_byte += "\xc3\xa9 \xe2\x86\x92";  // é →: UTF-8 passes through unescaped
  json::object body{{"type", "string"}, {"values", {{"production", json::string(every_byte)}}}};
  Item config;
  config.kind = ItemKind::kConfig;
  config.key = "bytes";
  config.body = json::serialize(body);
  snap.configs = {config};
  absl::StatusOr<std::string> doc = ResolveEnvironment(snap, "production");
  ASSERT_TRUE(doc.ok()) << doc.status();
  std::string expected = json::serialize(json::string(every_byte));
  EXPECT_NE(doc->find(expected), std::string::npos);
}

TEST(ResolverTest, SecretsNeverAppear) {
  WorkspaceSnapshot snap = Snapshot();
  // Even a secret item passed by mistake in a vector of another kind carries no plaintext
  // field the resolver would copy: only configs' values, flags and segments are read.
  // The snapshot type has no secrets member at all; check the output holds no "secret".
  for (const std::string& env : snap.envs.Keys()) {
    absl::StatusOr<std::string> doc = ResolveEnvironment(snap, env);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(doc->find("secret"), std::string::npos) << *doc;
    json::object o = json::parse(*doc).as_object();
    std::vector<std::string> members;
    for (const auto& m : o) members.emplace_back(m.key());
    EXPECT_EQ(members,
              (std::vector<std::string>{"format", "workspace_id", "workspace", "environment",
                                        "version", "configs", "flags", "segments"}));
  }
}

TEST(ResolverTest, DeterministicWhateverTheItemOrder) {
  WorkspaceSnapshot a = Snapshot();
  WorkspaceSnapshot b = Snapshot();
  std::reverse(b.configs.begin(), b.configs.end());
  std::rotate(b.flags.begin(), b.flags.begin() + 1, b.flags.end());
  std::reverse(b.segments.begin(), b.segments.end());
  for (const std::string& env : a.envs.Keys()) {
    absl::StatusOr<std::string> da = ResolveEnvironment(a, env);
    absl::StatusOr<std::string> db = ResolveEnvironment(b, env);
    ASSERT_TRUE(da.ok() && db.ok());
    EXPECT_EQ(*da, *db) << env;
    EXPECT_EQ(ResolvedDocumentEtag(*da), ResolvedDocumentEtag(*db));
  }
  // A different version is a different document and ETag.
  b.version = 43;
  EXPECT_NE(ResolvedDocumentEtag(*ResolveEnvironment(a, "dev")),
            ResolvedDocumentEtag(*ResolveEnvironment(b, "dev")));
}

TEST(ResolverTest, NumbersAreWrittenCanonically) {
  WorkspaceSnapshot snap = Snapshot();
  snap.configs = {MakeItem(
      ItemKind::kConfig, "n",
      R"({"type":"json","schema":null,"values":{"production":[1.5,2.0,-0.25,1e300,18446744073709551615,-7]}})")};
  absl::StatusOr<std::string> doc = ResolveEnvironment(snap, "production");
  ASSERT_TRUE(doc.ok());
  EXPECT_NE(doc->find(R"("value":[1.5,2,-0.25,1e+300,18446744073709551615,-7])"), std::string::npos)
      << *doc;
  // The config value keeps its member order as stored.
  WorkspaceSnapshot s2 = Snapshot();
  EXPECT_NE(ResolveEnvironment(s2, "production")->find(R"({"z":1,"a":[1.5,2]})"),
            std::string::npos);
}

TEST(ResolverTest, Errors) {
  WorkspaceSnapshot snap = Snapshot();
  EXPECT_EQ(ResolveEnvironment(snap, "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(ResolverTest, EtagFormat) {
  std::string etag = ResolvedDocumentEtag("abc");
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
  EXPECT_EQ(etag, "\"ba7816bf8f01cfea414140de5dae2223\"");
}

}  // namespace
}  // namespace edgevault::workspace

namespace edgevault::workspace {
namespace {

// Issue 19: the client document holds the client-visible items only.
WorkspaceSnapshot SnapshotWithClientItems() {
  WorkspaceSnapshot snap = Snapshot();
  snap.workspace_id = "ws_1";
  snap.workspace_key = "web";
  snap.version = 7;
  snap.configs = {
      MakeItem(ItemKind::kConfig, "ui.theme",
               R"({"type":"string","client_visible":true,"schema":null,"values":{"production":"dark"}})"),
      MakeItem(ItemKind::kConfig, "db.password-hint",
               R"({"type":"string","schema":null,"values":{"production":"server-only"}})"),
  };
  snap.flags = {
      MakeItem(ItemKind::kFlag, "new-checkout", R"({"client_visible":true,
          "variations":[{"value":false},{"value":true}],
          "environments":{"production":{"on":true,"rules":[{"clauses":[{"op":"segment_match","values":["beta"]}],"variation":1}],
                          "fallthrough":{"variation":0}}}})"),
      MakeItem(ItemKind::kFlag, "internal-kill", R"({"variations":[{"value":false},{"value":true}],
          "environments":{"production":{"on":true,"rules":[{"clauses":[{"op":"segment_match","values":["staff"]}],"variation":1}],
                          "fallthrough":{"variation":1}}}})"),
  };
  snap.segments = {
      MakeItem(ItemKind::kSegment, "beta", R"({"included":["user-1"],"excluded":[],"rules":[]})"),
      MakeItem(ItemKind::kSegment, "staff", R"({"included":["admin-1"],"excluded":[],"rules":[]})"),
  };
  return snap;
}

TEST(ResolverClientTest, ClientDocumentHoldsOnlyClientVisibleItemsAndTheirSegments) {
  WorkspaceSnapshot snap = SnapshotWithClientItems();
  absl::StatusOr<std::string> client = ResolveEnvironment(snap, "staging", nullptr, Audience::kClient);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(*client,
            R"({"format":1,"workspace_id":"ws_1","workspace":"web","environment":"staging","version":7,)"
            R"("audience":"client",)"
            R"("configs":{"ui.theme":{"type":"string","value":"dark","from":"production","client_visible":true}},)"
            R"("flags":{"new-checkout":{"variations":[{"value":false},{"value":true}],"environments":{"staging":)"
            R"({"on":true,"rules":[{"clauses":[{"op":"segment_match","values":["beta"]}],"variation":1}],)"
            R"("fallthrough":{"variation":0}}},"client_visible":true}},)"
            R"("segments":{"beta":{"included":["user-1"],"excluded":[],"rules":[]}}})");
  for (const char* server_only : {"db.password-hint", "server-only", "internal-kill", "staff", "admin-1"}) {
    EXPECT_EQ(client->find(server_only), std::string::npos) << server_only;
  }
  // The full document keeps everything, with the marker on the client-visible entries.
  absl::StatusOr<std::string> full = ResolveEnvironment(snap, "staging");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->find("audience"), std::string::npos);
  EXPECT_NE(full->find("internal-kill"), std::string::npos);
  EXPECT_NE(full->find(R"("from":"production","client_visible":true})"), std::string::npos);
  // What delivery compiles: the client document's flags and segments build.
  json::object doc = json::parse(*client).as_object();
  EXPECT_TRUE(eval::FlagSet::Build(doc.at("flags").as_object(), doc.at("segments").as_object(), "staging").ok());
}

TEST(ResolverClientTest, ResolveAllGivesTheSameClientDocumentsAndNoneWithoutVisibleItems) {
  WorkspaceSnapshot snap = SnapshotWithClientItems();
  std::vector<std::pair<std::string, std::string>> clients;
  std::vector<std::pair<std::string, std::string>> docs = ResolveAllEnvironments(snap, nullptr, &clients);
  ASSERT_EQ(clients.size(), docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    EXPECT_EQ(clients[i].first, docs[i].first);
    EXPECT_EQ(clients[i].second, *ResolveEnvironment(snap, clients[i].first, nullptr, Audience::kClient));
  }
  // A workspace without client-visible items: empty client documents, full documents
  // byte for byte as before (no marker anywhere).
  WorkspaceSnapshot plain = Snapshot();
  absl::StatusOr<std::string> client = ResolveEnvironment(plain, "production", nullptr, Audience::kClient);
  ASSERT_TRUE(client.ok());
  EXPECT_NE(client->find(R"("configs":{},"flags":{},"segments":{}})"), std::string::npos) << *client;
  EXPECT_EQ(ResolveEnvironment(plain, "production")->find("client_visible"), std::string::npos);
}

}  // namespace
}  // namespace edgevault::workspace
