#include "src/workspace/workspace_export.h"

#include <gtest/gtest.h>

#include "cli/api_client.h"
#include "yaml-cpp/yaml.h"

namespace edgevault::cli {
namespace {

namespace json = boost::json;
using namespace ::edgevault::workspace;  // NOLINT: the module under test

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

// The api's replies for a workspace with three environments (dev ← staging ← prod, the
// list by key), a config whose values look like other types, two flags where the first
// by key requires the second, a segment and a secret.
WorkspaceExport Sample() {
  json::object workspace = Obj(R"({"id":"ws_1","key":"shop","name":"Shop","revision":9,"environments":[
      {"key":"dev","kind":"environment","revision":3,"updated_at":"t","name":"Dev","parent":"staging","protected":false},
      {"key":"prod","kind":"environment","revision":1,"updated_at":"t","name":"Prod","protected":true,
       "policy":{"required_approvals":2,"change_requests_required":true}},
      {"key":"staging","kind":"environment","revision":2,"updated_at":"t","name":"Staging","parent":"prod"}]})");
  WorkspaceLists lists;
  lists.configs = json::parse(R"([{"key":"odd","kind":"config","revision":4,"updated_at":"t","type":"json","schema":null,
      "values":{"prod":{"s":"true","n":"1","z":"null","e":"","f":1.5,"big":12345678901234,"neg":-3,"no":false,"nil":null,
                        "list":[],"map":{},"quote":"a\"b: c\n#d"}}}])").as_array();
  lists.flags = json::parse(R"([
      {"key":"a-flag","kind":"flag","revision":5,"updated_at":"t","variations":[{"value":false},{"value":true}],
       "environments":{"prod":{"on":true,"prerequisites":[{"flag":"b-flag","variation":1}],"fallthrough":{"variation":1}}}},
      {"key":"b-flag","kind":"flag","revision":6,"updated_at":"t","salt":"s1","variations":[{"value":"x"},{"value":"y"}],
       "environments":{}}])").as_array();
  lists.segments = json::parse(R"([{"key":"beta","kind":"segment","revision":7,"updated_at":"t",
      "included":["u1"],"excluded":[],"rules":[]}])").as_array();
  lists.secrets = json::parse(R"([{"key":"token","kind":"secret","revision":8,"updated_at":"t",
      "values":{"prod":{"version":8}}}])").as_array();
  absl::StatusOr<WorkspaceExport> ws = WorkspaceExportFromApi(workspace, lists);
  EXPECT_TRUE(ws.ok()) << ws.status();
  return *ws;
}

TEST(WorkspaceExportTest, YamlAndJsonReadBackToTheSameDocument) {
  WorkspaceExport ws = Sample();
  ASSERT_EQ(ws.environments.size(), 3u);
  EXPECT_EQ(ws.environments[0].key, "prod");  // parents first
  EXPECT_EQ(ws.environments[1].key, "staging");
  EXPECT_EQ(ws.environments[2].key, "dev");
  EXPECT_FALSE(ws.configs.at("odd").contains("revision"));
  json::object doc = WorkspaceExportToJson(ws);
  std::string yaml = WorkspaceExportToYaml(ws);
  EXPECT_EQ(yaml, WorkspaceExportToYaml(Sample()));  // stable bytes
  absl::StatusOr<WorkspaceExport> from_yaml = ParseWorkspaceExport(YamlToJson(YAML::Load(yaml)));
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status() << "\n" << yaml;
  EXPECT_EQ(json::serialize(WorkspaceExportToJson(*from_yaml)), json::serialize(doc)) << yaml;
  absl::StatusOr<WorkspaceExport> from_json = ParseWorkspaceExport(json::parse(json::serialize(doc)));
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  EXPECT_EQ(json::serialize(WorkspaceExportToJson(*from_json)), json::serialize(doc));
  // Strings that look like other types stay strings.
  const json::object& prod = from_yaml->configs.at("odd").at("values").at("prod").as_object();
  EXPECT_TRUE(prod.at("s").is_string());
  EXPECT_TRUE(prod.at("n").is_string());
  EXPECT_TRUE(prod.at("z").is_string());
  EXPECT_EQ(prod.at("quote").as_string(), "a\"b: c\n#d");
  EXPECT_EQ(prod.at("big").as_int64(), 12345678901234);
  EXPECT_TRUE(prod.at("nil").is_null());
  // No secret value, only where one is set.
  EXPECT_EQ(yaml.find("\"version\""), std::string::npos) << yaml;
  EXPECT_EQ(json::serialize(doc.at("secrets")), R"({"token":{"environments":["prod"]}})");
}

TEST(WorkspaceExportTest, BadFilesAreRefusedNamingThePath) {
  auto error = [](std::string_view text) {
    absl::StatusOr<WorkspaceExport> ws = ParseWorkspaceExport(json::parse(text));
    return ws.ok() ? std::string("ok") : std::string(ws.status().message());
  };
  EXPECT_NE(error(R"({"format":"edgevault.workspace/2"})").find("format: must be"), std::string::npos);
  EXPECT_NE(error(R"([1])").find("must hold an object"), std::string::npos);
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","extra":1})"), "extra: unknown member");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","flags":{"beta":3}})"),
            "flags.beta: must be an object (the item's body)");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","configs":[]})"), "configs: must be a map of key to body");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","environments":[{"key":"dev","parent":"prod"},{"key":"prod"}]})"),
            "environments[0].parent: \"prod\" must be listed before \"dev\"");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","environments":[{"key":"a"},{"key":"a"}]})"),
            "environments[1].key: \"a\" is listed twice");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","environments":[{"key":"a","protected":"yes"}]})"),
            "environments[0].protected: must be true or false");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","environments":[{"key":"a","colour":1}]})"),
            "environments[0].colour: unknown member");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1","secrets":{"t":{"environments":"prod"}}})"),
            "secrets.t.environments: must be a list of environment keys");
  EXPECT_EQ(error(R"({"format":"edgevault.workspace/1"})"), "ok");
}

// A few lines of aliases expand to 10^9 values: refused, not expanded.
TEST(WorkspaceExportTest, AYamlBombIsRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c, ++prev) {
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  EXPECT_THROW(YamlToJson(YAML::Load(bomb)), std::runtime_error);
  std::string deep(300, '[');
  EXPECT_THROW(YamlToJson(YAML::Load(deep + std::string(300, ']'))), std::runtime_error);
}

TEST(WorkspaceExportTest, ThePlanCreatesMissingEnvironmentsAndOrdersRequiredFlagsFirst) {
  WorkspaceExport ws = Sample();
  json::array target = json::parse(R"([{"key":"prod"}])").as_array();
  absl::StatusOr<WorkspaceImportPlan> plan = PlanWorkspaceImport(ws, target);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->create.size(), 2u);
  EXPECT_EQ(plan->create[0].key, "staging");
  EXPECT_EQ(plan->create[1].key, "dev");
  EXPECT_EQ(plan->existing, std::vector<std::string>{"prod"});
  std::vector<std::string> order;
  for (const json::value& c : plan->changes) {
    order.push_back(std::string(c.at("kind").as_string()) + ":" + std::string(c.at("key").as_string()));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"segment:beta", "flag:b-flag", "flag:a-flag", "config:odd"}));
  EXPECT_EQ(plan->secrets_not_imported, std::vector<std::string>{"token"});
  // An environment that exists with another parent: refused before anything is written.
  json::array other = json::parse(R"([{"key":"staging","parent":"dev"}])").as_array();
  absl::StatusOr<WorkspaceImportPlan> refused = PlanWorkspaceImport(ws, other);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("environment \"staging\" exists in the target with parent \"dev\""),
            std::string::npos)
      << refused.status();
}

}  // namespace
}  // namespace edgevault::cli
