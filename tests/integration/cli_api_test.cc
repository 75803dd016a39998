// The `edgevault` commands against a real api: a newcomer's session from workspace to
// SDK key, through the binary as a user types it.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/totp.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::EdgeVaultUp;

using CliRun = testing::CommandResult;

class CliApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { up_ = EdgeVaultUp::Start().release(); }
  static void TearDownTestSuite() { delete up_; }

  // Runs `edgevault ARGS` with the api URL and token in the environment; stdout+stderr.
  CliRun Cli(const std::string& args, const std::string& token = "") {
    return testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", token.empty() ? up_->admin_key() : token,
                           " EDGEVAULT_PROFILE=/nonexistent"));
  }

  // Flag hashKey (salt saltyA; fallthrough 30 % "zero", 30 % "one", 40 % "two") as
  // delivery's OFREP serves it to `sdk_key`: LaunchDarkly's published buckets, userKeyA
  // 0.42157587 → "one", userKeyB 0.6708485 → "two", userKeyC 0.10343106 → "zero".
  void ExpectLaunchDarklyBuckets(const std::string& sdk_key) {
    const std::pair<const char*, const char*> cases[] = {{"userKeyA", "one"}, {"userKeyB", "two"}, {"userKeyC", "zero"}};
    for (const auto& [user, expected] : cases) {
      testing::HttpReply got;
      testing::PollUntil([&] {
        got = up_->Call("delivery", "POST", "/ofrep/v1/evaluate/flags/hashKey",
                        base::StrCat("{\"context\":{\"targetingKey\":\"", user, "\"}}"), sdk_key);
        return got.status == 200;
      }, 10000);
      ASSERT_EQ(got.status, 200) << got.body;
      EXPECT_EQ(got.json.at("value"), boost::json::value(expected)) << user << ": " << got.body;
    }
  }

  static EdgeVaultUp* up_;
};

EdgeVaultUp* CliApiTest::up_ = nullptr;

TEST_F(CliApiTest, WorkspaceToSdkKey) {
  ASSERT_NE(up_, nullptr);
  CliRun r = Cli("ws create shop --name Shop");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Cli("env create shop prod --protected -m setup").code, 0);
  EXPECT_EQ(Cli("env create shop dev --parent prod -m setup").code, 0);
  r = Cli("config set shop db.pool --type integer -v prod=20 -v dev=5 -m sizing");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Cli("config set shop db.pool -v dev=6 -m tune");  // merges: prod keeps 20
  ASSERT_EQ(r.code, 0) << r.out;
  r = Cli("config get shop db.pool --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"prod\":20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"dev\":6"), std::string::npos) << r.out;
  r = Cli("config get shop db.pool");
  EXPECT_NE(r.out.find("ENVIRONMENT"), std::string::npos) << r.out;

  std::string yaml = (std::filesystem::temp_directory_path() / "ev-cli-flag.yaml").string();
  std::ofstream(yaml) << "variations:\n  - value: true\n  - value: false\n"
                         "environments:\n  prod:\n    on: true\n    off_variation: 1\n"
                         "    fallthrough:\n      variation: 0\n";
  r = Cli("flag set shop checkout -f " + yaml + " -m launch");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Cli("history shop");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("launch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("REASON"), std::string::npos) << r.out;
  // A rollback that deletes items (the flag came after revision 3) asks first; without a
  // terminal it refuses unless --yes, and changes nothing.
  std::string head_before = up_->Call("api", "GET", "/v1/workspaces/shop", "", up_->admin_key()).body;
  r = Cli("rollback shop --to 3 -m undo --dry-run");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("would write 2 revision(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("delete  flag    checkout"), std::string::npos) << r.out;
  r = Cli("rollback shop --to 3 -m undo < /dev/null");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("deletes 1 item(s) created since revision 3 (flag checkout)"), std::string::npos) << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/shop", "", up_->admin_key()).body, head_before);
  r = Cli("rollback shop --to 3 -m undo --yes");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Cli("config get shop db.pool --json");
  EXPECT_NE(r.out.find("\"dev\":5"), std::string::npos) << r.out;
  r = Cli("sdk-key create shop dev");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("evs_"), std::string::npos) << r.out;
}

TEST_F(CliApiTest, RunAndExportInjectConfigsAndSecrets) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create app").code, 0);
  ASSERT_EQ(Cli("env create app prod -m setup").code, 0);
  ASSERT_EQ(Cli("config set app database.pool-size --type integer -v prod=12 -m x").code, 0);
  std::string tricky = "line1\nsay \"hi\" $HOME `x` \\ end";
  auto put = up_->Json("api", "PUT", "/v1/workspaces/app/secrets/db.password",
                       {{"values", {{"prod", tricky}}}, {"reason", "init"}}, up_->admin_key());
  ASSERT_EQ(put.status, 200) << put.body;
  CliRun r = Cli("run -w app -e prod -- printenv DATABASE_POOL_SIZE");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "12\n");
  r = Cli("run -w app -e prod -- sh -c 'printf %s \"$DB_PASSWORD\"'");
  EXPECT_EQ(r.out, tricky);
  EXPECT_EQ(Cli("run -w app -e prod -- sh -c 'exit 7'").code, 7);  // exit codes pass through
  // dotenv quoting survives a shell round trip (newline, quotes, $, backticks, backslash).
  std::string file = (std::filesystem::temp_directory_path() / "ev-export.env").string();
  r = Cli("export -w app -e prod --format dotenv");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ofstream(file) << r.out;
  std::string got = testing::RunShell("bash -c 'set -a; . " + file + "; printf %s \"$DB_PASSWORD\"'").out;
  std::filesystem::remove(file);
  EXPECT_EQ(got, tricky);
  r = Cli("export -w app -e prod --format json");
  EXPECT_NE(r.out.find("\"DATABASE_POOL_SIZE\":\"12\""), std::string::npos) << r.out;
  r = Cli("export -w app -e prod --format yaml");
  EXPECT_NE(r.out.find("DATABASE_POOL_SIZE: \"12\""), std::string::npos) << r.out;
  // A NUL byte cannot travel in an environment variable: run refuses instead of cutting
  // the value short (found by the export fuzzer).
  auto nul = up_->Json("api", "PUT", "/v1/workspaces/app/secrets/nul.value",
                       {{"values", {{"prod", std::string("before\0after", 12)}}}, {"reason", "nul"}}, up_->admin_key());
  ASSERT_EQ(nul.status, 200) << nul.body;
  r = Cli("run -w app -e prod -- true");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("NUL_VALUE holds a NUL byte"), std::string::npos) << r.out;
  ASSERT_EQ(up_->Call("api", "DELETE", "/v1/workspaces/app/secrets/nul.value?reason=x", "", up_->admin_key()).status, 200);
  // Two items mapping to one variable name is an error, not an overwrite.
  ASSERT_EQ(Cli("config set app db-password -v prod=clash -m x").code, 0);
  r = Cli("run -w app -e prod -- true");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("DB_PASSWORD"), std::string::npos) << r.out;
  // Without secrets:read, no values come out.
  auto key = up_->Json("auth", "POST", "/v1/api-keys", {{"name", "ro"}, {"scopes", boost::json::array{"read"}}},
                       up_->admin_key());
  r = Cli("export -w app -e prod", std::string(key.json.at("key").as_string()));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out.find("line1"), std::string::npos);
}

// Issue 17: `import --from dotenv` reads back what `export` wrote (configs, or secrets with
// --secrets), with a dry run first; a bad file names its line and changes nothing.
TEST_F(CliApiTest, ImportDotenvReadsBackAnExport) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create imp-src").code, 0);
  ASSERT_EQ(Cli("env create imp-src prod -m setup").code, 0);
  ASSERT_EQ(Cli("config set imp-src db_url -v prod=postgres://db/x -m x").code, 0);
  ASSERT_EQ(Cli("config set imp-src greeting -v 'prod=say \"hi\" $HOME' -m x").code, 0);
  ASSERT_EQ(Cli("ws create imp-dst").code, 0);
  ASSERT_EQ(Cli("env create imp-dst prod -m setup").code, 0);
  ASSERT_EQ(Cli("config set imp-dst greeting -v prod=old -m x").code, 0);
  CliRun exported = Cli("export -w imp-src -e prod --format dotenv");
  ASSERT_EQ(exported.code, 0) << exported.out;
  std::string file = (std::filesystem::temp_directory_path() / "ev-import.env").string();
  std::ofstream(file) << exported.out;

  std::string head = up_->Call("api", "GET", "/v1/workspaces/imp-dst", "", up_->admin_key()).body;
  CliRun r = Cli("import --from dotenv " + file + " -w imp-dst -e prod -m copy --dry-run");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("create  db_url"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("update  greeting"), std::string::npos) << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/imp-dst", "", up_->admin_key()).body, head);
  r = Cli("import --from dotenv " + file + " -w imp-dst -e prod -m copy");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Imported 2 config(s)"), std::string::npos) << r.out;
  EXPECT_EQ(Cli("export -w imp-dst -e prod --format dotenv").out, exported.out);
  r = Cli("import --from dotenv " + file + " -w imp-dst -e prod -m again");
  EXPECT_NE(r.out.find("Imported 0 config(s) into imp-dst/prod (2 unchanged)"), std::string::npos) << r.out;

  // Secrets: never printed, set in the environment.
  std::ofstream(file) << "export API_TOKEN=\"s3cr3t value\"\n";
  r = Cli("import --from dotenv " + file + " -w imp-dst -e prod --secrets -m token");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("s3cr3t"), std::string::npos) << r.out;
  EXPECT_EQ(Cli("secret get imp-dst api_token -e prod").out, "s3cr3t value\n");

  // A bad file: its line named, nothing written.
  head = up_->Call("api", "GET", "/v1/workspaces/imp-dst", "", up_->admin_key()).body;
  std::ofstream(file) << "A=1\nthis is not dotenv\n";
  r = Cli("import --from dotenv " + file + " -w imp-dst -e prod -m bad");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("line 2: not NAME=value; nothing was imported"), std::string::npos) << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/imp-dst", "", up_->admin_key()).body, head);
  std::filesystem::remove(file);
}

// Issue 17: an import is one batch. A file whose third variable does not fit its config
// (an integer config given "abc") changes nothing, although the two before it are fine;
// before, the first two were written and the import stopped half done.
TEST_F(CliApiTest, ImportIsAllOrNothing) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create imp-atomic").code, 0);
  ASSERT_EQ(Cli("env create imp-atomic prod -m setup").code, 0);
  ASSERT_EQ(Cli("config set imp-atomic db_pool --type integer -v prod=5 -m x").code, 0);
  std::string file = (std::filesystem::temp_directory_path() / "ev-import-atomic.env").string();
  std::ofstream(file) << "AA=1\nBB=two\nDB_POOL=abc\nZZ=last\n";
  std::string head = up_->Call("api", "GET", "/v1/workspaces/imp-atomic", "", up_->admin_key()).body;
  for (const char* dry : {" --dry-run", ""}) {
    CliRun r = Cli("import --from dotenv " + file + " -w imp-atomic -e prod -m bad" + dry);
    EXPECT_EQ(r.code, 1) << dry << r.out;
    EXPECT_NE(r.out.find("config \"db_pool\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nothing was imported"), std::string::npos) << r.out;
    EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/imp-atomic", "", up_->admin_key()).body, head);
    EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/imp-atomic/configs/aa", "", up_->admin_key()).status, 404);
  }
  // Fixed, the same file imports at once: one revision per item, one batch in the activity.
  std::ofstream(file) << "AA=1\nBB=two\nDB_POOL=7\nZZ=last\n";
  CliRun r = Cli("import --from dotenv " + file + " -w imp-atomic -e prod -m good");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Imported 4 config(s) into imp-atomic/prod (0 unchanged)"), std::string::npos) << r.out;
  auto pool = up_->Call("api", "GET", "/v1/workspaces/imp-atomic/configs/db_pool", "", up_->admin_key());
  EXPECT_NE(pool.body.find("\"prod\":7"), std::string::npos) << pool.body;
  std::filesystem::remove(file);
}

// POST /v1/workspaces/{ws}/batch: all or nothing, authorized like the single writes it
// replaces (protected environments need admin; an environment whose policy requires
// change requests refuses it), bad bodies are 400s, a dry run writes nothing and is refused
// exactly as its write would be.
TEST_F(CliApiTest, BatchWritesAreAtomicAndAuthorizedLikeSingleWrites) {
  ASSERT_NE(up_, nullptr);
  const std::string admin = up_->admin_key();
  ASSERT_EQ(Cli("ws create batch").code, 0);
  ASSERT_EQ(Cli("env create batch prod --protected -m setup").code, 0);
  ASSERT_EQ(Cli("env create batch dev -m setup").code, 0);
  ASSERT_EQ(Cli("env create batch gated -m setup").code, 0);
  auto policy = up_->Json("api", "PUT", "/v1/workspaces/batch/environments/gated/policy",
                          {{"change_requests_required", true}, {"reason", "gate"}}, admin);
  ASSERT_EQ(policy.status, 200) << policy.body;
  auto head = [&] { return up_->Call("api", "GET", "/v1/workspaces/batch", "", admin).body; };
  auto batch = [&](boost::json::array changes, const std::string& token, bool dry_run = false) {
    return up_->Json("api", "POST", "/v1/workspaces/batch/batch",
                     {{"changes", std::move(changes)}, {"reason", "batch"}, {"dry_run", dry_run}}, token);
  };
  boost::json::object new_config{{"kind", "config"}, {"key", "a"},
                                 {"body", {{"type", "integer"}, {"values", {{"dev", 1}}}}}};
  boost::json::object new_flag{{"kind", "flag"}, {"key", "Beta"},
                               {"body", {{"variations", boost::json::array{{{"value", true}}, {{"value", false}}}},
                                         {"environments", {{"dev", {{"on", true}, {"fallthrough", {{"variation", 0}}}}}}}}}};
  std::string before = head();
  // A later entry that does not validate: nothing written.
  auto bad = batch({new_config, new_flag, {{"kind", "config"}, {"key", "a"}, {"environment", "dev"}, {"value", "x"}}}, admin);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find(R"(config \"a\": values.dev: expected an integer)"), std::string::npos) << bad.body;
  EXPECT_EQ(head(), before);
  // Bad bodies.
  EXPECT_EQ(up_->Json("api", "POST", "/v1/workspaces/batch/batch", {{"changes", boost::json::array{}}, {"reason", "x"}}, admin).status, 400);
  EXPECT_EQ(up_->Json("api", "POST", "/v1/workspaces/batch/batch", {{"changes", boost::json::array{new_config}}}, admin).status, 400);
  EXPECT_EQ(up_->Json("api", "POST", "/v1/workspaces/batch/batch",
                      {{"changes", boost::json::array{new_config}}, {"reason", "x"}, {"extra", 1}}, admin).status, 400);
  EXPECT_EQ(up_->Call("api", "POST", "/v1/workspaces/batch/batch", "{not json", admin).status, 400);
  EXPECT_EQ(head(), before);
  // A dry run lists what would change and writes nothing.
  auto dry = batch({new_config, new_flag}, admin, true);
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(dry.json.at("changes").as_int64(), 2);
  EXPECT_EQ(head(), before);
  // A developer: dev yes; a protected environment no (admin only); the gated one never.
  std::string dev_token = up_->TokenForNewUser("batch-dev@example.com", "developer");
  auto prod_value = boost::json::object{{"kind", "config"}, {"key", "a"}, {"environment", "prod"}, {"value", 2}};
  auto denied = batch({new_config, prod_value}, dev_token);
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(head(), before);
  auto gated = batch({new_config, {{"kind", "config"}, {"key", "a"}, {"environment", "gated"}, {"value", 3}}}, admin);
  EXPECT_EQ(gated.status, 403) << gated.body;
  EXPECT_NE(gated.body.find("change_request_required"), std::string::npos) << gated.body;
  EXPECT_EQ(head(), before);
  // A dry run is refused exactly as its write: authorized on its effect, If-Match checked.
  auto denied_dry = batch({new_config, prod_value}, dev_token, true);
  EXPECT_EQ(denied_dry.status, 403) << denied_dry.body;
  auto gated_dry = batch({new_config, {{"kind", "config"}, {"key", "a"}, {"environment", "gated"}, {"value", 3}}}, admin, true);
  EXPECT_EQ(gated_dry.status, 403) << gated_dry.body;
  EXPECT_NE(gated_dry.body.find("change_request_required"), std::string::npos) << gated_dry.body;
  auto stale_dry = up_->Json("api", "POST", "/v1/workspaces/batch/batch",
                             {{"changes", boost::json::array{new_config}}, {"reason", "x"}, {"dry_run", true}}, admin,
                             {{"If-Match", "\"1\""}});
  EXPECT_EQ(stale_dry.status, 412) << stale_dry.body;
  auto dev_dry = batch({new_config, new_flag}, dev_token, true);
  ASSERT_EQ(dev_dry.status, 200) << dev_dry.body;
  EXPECT_EQ(dev_dry.json.at("dry_run"), true);
  EXPECT_FALSE(dev_dry.json.as_object().contains("revision")) << dev_dry.body;
  EXPECT_EQ(head(), before);
  auto ok = batch({new_config, new_flag}, dev_token);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json.at("changes").as_int64(), 2);
  const int64_t revision = ok.json.at("revision").as_int64();
  auto a = up_->Call("api", "GET", "/v1/workspaces/batch/configs/a", "", admin);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/batch/flags/Beta", "", admin).status, 200);
  // The same batch again changes nothing and writes no revision.
  auto again = batch({new_config, new_flag}, dev_token);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json.at("changes").as_int64(), 0);
  EXPECT_EQ(again.json.at("revision").as_int64(), revision);
  // An admin may write the protected environment; a stale If-Match is refused.
  auto stale = up_->Json("api", "POST", "/v1/workspaces/batch/batch",
                         {{"changes", boost::json::array{prod_value}}, {"reason", "x"}}, admin, {{"If-Match", "\"1\""}});
  EXPECT_EQ(stale.status, 412) << stale.body;
  auto prod = batch({prod_value}, admin);
  EXPECT_EQ(prod.status, 200) << prod.body;
  auto history = up_->Call("api", "GET", "/v1/workspaces/batch/revisions", "", admin);
  EXPECT_NE(history.body.find("\"op\":\"batch\""), std::string::npos) << history.body;
}

// Issue 17: flag keys accept upper-case letters (LaunchDarkly's keys do), and the key is
// hashed exactly as given: LaunchDarkly's published buckets for flag "hashKey", salt
// "saltyA" (userKeyA 0.42157587, userKeyB 0.6708485, userKeyC 0.10343106) pick the
// same variations through the api, the resolved document, delivery and OFREP. A key that
// differs only in case from it is refused; other kinds keep lower-case keys.
TEST_F(CliApiTest, UpperCaseFlagKeysKeepLaunchDarklyBuckets) {
  ASSERT_NE(up_, nullptr);
  const std::string admin = up_->admin_key();
  ASSERT_EQ(Cli("ws create ldkeys").code, 0);
  ASSERT_EQ(Cli("env create ldkeys production -m setup").code, 0);
  std::string yaml = (std::filesystem::temp_directory_path() / "ev-hashkey.yaml").string();
  std::ofstream(yaml) << "salt: saltyA\nvariations: [{value: zero}, {value: one}, {value: two}]\n"
                         "environments:\n  production:\n    on: true\n    off_variation: 0\n"
                         "    fallthrough:\n      rollout: [{variation: 0, weight: 30000}, {variation: 1, weight: 30000},"
                         " {variation: 2, weight: 40000}]\n";
  CliRun r = Cli("flag set ldkeys hashKey -f " + yaml + " -m launch");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/ldkeys/flags/hashKey", "", admin).status, 200);
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/ldkeys/flags/hashkey", "", admin).status, 404);
  std::string head = up_->Call("api", "GET", "/v1/workspaces/ldkeys", "", admin).body;
  r = Cli("flag set ldkeys hashkey -f " + yaml + " -m twin");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("differs only in case from the flag \"hashKey\""), std::string::npos) << r.out;
  r = Cli("config set ldkeys Upper -v production=1 -m x");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/ldkeys", "", admin).body, head);

  auto key = up_->Json("api", "POST", "/v1/workspaces/ldkeys/environments/production/sdk-keys", {{"name", "ld"}}, admin);
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string sdk_key(key.json.at("key").as_string());
  ExpectLaunchDarklyBuckets(sdk_key);
  EXPECT_EQ(up_->Call("delivery", "POST", "/ofrep/v1/evaluate/flags/hashkey", "{\"context\":{\"targetingKey\":\"u\"}}",
                      sdk_key).status, 404);
  std::filesystem::remove(yaml);
}

// Issue 17: a LaunchDarkly flag export (fixture written from LaunchDarkly's REST API
// format, tests/data/import) imports in one batch, keeps its upper-case key and salt, and
// delivery then serves LaunchDarkly's buckets; an Unleash export with a partial rollout
// (murmur3, which EdgeVault cannot reproduce) is refused whole and changes nothing.
TEST_F(CliApiTest, LaunchDarklyImportKeepsBucketsAndUnleashRefusesWhatItCannotMatch) {
  ASSERT_NE(up_, nullptr);
  const std::string admin = up_->admin_key();
  const std::string data = std::string(EV_SOURCE_DIR) + "/tests/data/import/";
  ASSERT_EQ(Cli("ws create ldimp").code, 0);
  ASSERT_EQ(Cli("env create ldimp production -m setup").code, 0);
  ASSERT_EQ(Cli("env create ldimp qa -m setup").code, 0);
  std::string head = up_->Call("api", "GET", "/v1/workspaces/ldimp", "", admin).body;
  CliRun r = Cli("import --from launchdarkly " + data + "launchdarkly-flags.json -w ldimp -m ld --dry-run");
  ASSERT_EQ(r.code, 1) << r.out;  // the file's "test" environment is not in the workspace
  EXPECT_NE(r.out.find("unknown environment \"test\""), std::string::npos) << r.out;
  r = Cli("import --from launchdarkly " + data + "launchdarkly-flags.json -w ldimp -m ld --env-map test=qa --dry-run");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("create  hashKey"), std::string::npos) << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/ldimp", "", admin).body, head);
  r = Cli("import --from launchdarkly " + data + "launchdarkly-flags.json -w ldimp -m ld --env-map test=qa");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Imported 3 flag(s) into ldimp (0 unchanged)"), std::string::npos) << r.out;
  auto flag = up_->Call("api", "GET", "/v1/workspaces/ldimp/flags/hashKey", "", admin);
  ASSERT_EQ(flag.status, 200) << flag.body;
  EXPECT_NE(flag.body.find("\"salt\":\"saltyA\""), std::string::npos) << flag.body;
  auto key = up_->Json("api", "POST", "/v1/workspaces/ldimp/environments/production/sdk-keys", {{"name", "ld"}}, admin);
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string sdk_key(key.json.at("key").as_string());
  ExpectLaunchDarklyBuckets(sdk_key);
  // Again: nothing changes.
  r = Cli("import --from launchdarkly " + data + "launchdarkly-flags.json -w ldimp -m ld --env-map test=qa");
  EXPECT_NE(r.out.find("Imported 0 flag(s) into ldimp (3 unchanged)"), std::string::npos) << r.out;

  // Unleash: the fixture imports (everyone / nobody); a partial rollout refuses the file.
  ASSERT_EQ(Cli("ws create unl").code, 0);
  ASSERT_EQ(Cli("env create unl production -m setup").code, 0);
  r = Cli("import --from unleash " + data + "unleash-export.json -w unl -m unleash");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Imported 3 flag(s) into unl"), std::string::npos) << r.out;
  std::string partial = (std::filesystem::temp_directory_path() / "ev-unleash-partial.json").string();
  std::ofstream(partial) << R"({"features":[{"name":"half"},{"name":"fine"}],"featureStrategies":[
      {"featureName":"fine","name":"default","parameters":{}},
      {"featureName":"half","name":"flexibleRollout","parameters":{"rollout":"50","groupId":"half","stickiness":"default"}}],
      "featureEnvironments":[{"featureName":"half","environment":"production","enabled":true},
                             {"featureName":"fine","environment":"production","enabled":true}]})";
  head = up_->Call("api", "GET", "/v1/workspaces/unl", "", admin).body;
  r = Cli("import --from unleash " + partial + " -w unl -m unleash");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("flag \"half\": environments.production.strategies[0]: flexibleRollout of 50%"), std::string::npos)
      << r.out;
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/unl", "", admin).body, head);
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/unl/flags/fine", "", admin).status, 404);
  std::filesystem::remove(partial);
}

// Every item kind from the CLI alone: secrets whose values come from standard input or a
// file (never argv), the listings, unset/rm, the flag kill switch, segments, `ws show`;
// and the refusals, which change nothing.
TEST_F(CliApiTest, EveryItemKindFromTheCli) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create items").code, 0);
  ASSERT_EQ(Cli("env create items prod -m setup").code, 0);
  ASSERT_EQ(Cli("env create items dev --parent prod -m setup").code, 0);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "ev-cli-items";
  std::filesystem::create_directories(dir);
  const std::string value_file = (dir / "value").string(), exact_file = (dir / "exact").string();
  std::ofstream(value_file) << "s3cr3t-marker\n";
  std::ofstream(exact_file) << "two\nlines\n";

  // secret set reads standard input (one final newline dropped) or a file (exactly).
  CliRun r = Cli("secret set items api.token -e prod -m rotate < " + value_file);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("s3cr3t"), std::string::npos) << r.out;
  r = Cli("secret get items api.token -e dev");  // inherited from prod
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "s3cr3t-marker\n");
  ASSERT_EQ(Cli("secret set items cert -e dev -e prod --from-file " + exact_file + " -m pem < /dev/null").code, 0);
  r = Cli("secret get items cert -e prod --json");
  EXPECT_NE(r.out.find(R"("value":"two\nlines\n")"), std::string::npos) << r.out;
  r = Cli("secret list items");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("api.token"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dev=v"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("s3cr3t"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("lines"), std::string::npos) << r.out;
  r = Cli("secret get items api.token -e dev -e prod");
  EXPECT_EQ(r.code, 2) << r.out;
  // Without secrets:read the value never comes out.
  auto ro = up_->Json("auth", "POST", "/v1/api-keys", {{"name", "items-ro"}, {"scopes", boost::json::array{"read"}}},
                      up_->admin_key());
  r = Cli("secret get items api.token -e prod", std::string(ro.json.at("key").as_string()));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("403"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("s3cr3t"), std::string::npos) << r.out;
  // unset: dev inherits prod's value again; rm: gone everywhere.
  ASSERT_EQ(Cli("secret unset items cert -e dev -m inherit").code, 0);
  EXPECT_NE(Cli("secret list items").out.find("prod=v"), std::string::npos);
  ASSERT_EQ(Cli("secret rm items cert -m gone").code, 0);
  r = Cli("secret get items cert -e prod");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("404"), std::string::npos) << r.out;

  // configs: list, unset one environment, rm.
  ASSERT_EQ(Cli("config set items db.pool --type integer -v prod=20 -v dev=5 -m sizing").code, 0);
  r = Cli("config list items");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("db.pool"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("integer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dev=5"), std::string::npos) << r.out;
  ASSERT_EQ(Cli("config unset items db.pool -e dev -m inherit").code, 0);
  r = Cli("config get items db.pool --json");
  EXPECT_EQ(r.out.find("\"dev\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"prod\":20"), std::string::npos) << r.out;
  r = Cli("config unset items db.pool -e dev -m again");  // nothing of its own left: refused, nothing written
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no value of its own in dev"), std::string::npos) << r.out;
  ASSERT_EQ(Cli("config rm items db.pool -m gone").code, 0);
  EXPECT_EQ(Cli("config get items db.pool").code, 1);

  // flags: list, the kill switch, nothing else of the flag changes.
  const std::string flag_file = (dir / "flag.yaml").string();
  std::ofstream(flag_file) << "variations:\n  - value: true\n  - value: false\n"
                              "environments:\n  prod:\n    on: true\n    off_variation: 1\n"
                              "    fallthrough:\n      variation: 0\n";
  ASSERT_EQ(Cli("flag set items checkout -f " + flag_file + " -m launch").code, 0);
  r = Cli("flag list items");
  EXPECT_NE(r.out.find("prod=on"), std::string::npos) << r.out;
  auto before = up_->Call("api", "GET", "/v1/workspaces/items/flags/checkout", "", up_->admin_key());
  r = Cli("flag off items checkout -e prod -m incident");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Turned off flag checkout in prod"), std::string::npos) << r.out;
  EXPECT_NE(Cli("flag list items").out.find("prod=off"), std::string::npos);
  auto after = up_->Call("api", "GET", "/v1/workspaces/items/flags/checkout", "", up_->admin_key());
  EXPECT_EQ(after.json.at("variations"), before.json.at("variations"));
  EXPECT_EQ(after.json.at("environments").at("prod").at("fallthrough"),
            before.json.at("environments").at("prod").at("fallthrough"));
  EXPECT_EQ(after.json.at("environments").at("prod").at("on"), false);
  auto evaluated = up_->Json("api", "POST", "/v1/workspaces/items/flags/checkout/evaluate", {{"context", boost::json::object{}}},
                             up_->admin_key());
  EXPECT_NE(boost::json::serialize(evaluated.json).find("DISABLED"), std::string::npos) << evaluated.body;
  r = Cli("flag on items checkout -e dev -m nope");  // dev has no configuration of its own
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no configuration in dev"), std::string::npos) << r.out;
  r = Cli("flag on items missing -e prod -m nope");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no flag missing"), std::string::npos) << r.out;
  ASSERT_EQ(Cli("flag on items checkout -e prod -m recovered").code, 0);
  EXPECT_NE(Cli("flag list items").out.find("prod=on"), std::string::npos);

  // segments from a file; a flag that uses one keeps it from being deleted.
  const std::string segment_file = (dir / "beta.yaml").string();
  std::ofstream(segment_file) << "included: [user-1, user-2]\nexcluded: []\nrules: []\n";
  ASSERT_EQ(Cli("segment set items beta -f " + segment_file + " -m testers").code, 0);
  r = Cli("segment list items");
  EXPECT_NE(r.out.find("beta"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("INCLUDED"), std::string::npos) << r.out;
  EXPECT_NE(Cli("segment get items beta").out.find("user-2"), std::string::npos);
  r = Cli("segment set items beta -f " + (dir / "missing.yaml").string() + " -m nope");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("cannot read"), std::string::npos) << r.out;
  ASSERT_EQ(Cli("segment rm items beta -m gone").code, 0);
  EXPECT_EQ(Cli("segment get items beta").code, 1);
  ASSERT_EQ(Cli("flag rm items checkout -m gone").code, 0);
  EXPECT_NE(Cli("flag list items").out.find("KEY"), std::string::npos);

  // ws show: the head and the environment tree; every refusal above wrote nothing.
  auto head = up_->Call("api", "GET", "/v1/workspaces/items", "", up_->admin_key());
  r = Cli("ws show items");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("revision " + boost::json::serialize(head.json.at("revision"))), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dev"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PARENT"), std::string::npos) << r.out;
  auto revisions = up_->Call("api", "GET", "/v1/workspaces/items/revisions?limit=1000", "", up_->admin_key());
  EXPECT_EQ(revisions.json.at("revisions").as_array().size(), head.json.at("revision").as_int64()) << revisions.body;
  std::filesystem::remove_all(dir);
}

// whoami, API keys, members and logout talk to auth (--auth-url, EDGEVAULT_AUTH_URL or
// the profile's auth_url), with the same token.
TEST_F(CliApiTest, AccountCommandsTalkToAuth) {
  ASSERT_NE(up_, nullptr);
  const std::string auth_url = base::StrCat("http://127.0.0.1:", std::to_string(up_->port("auth")));
  auto cli = [&](const std::string& args, const std::string& token = "", const std::string& profile = "/nonexistent") {
    return testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_AUTH_URL=", auth_url, " EDGEVAULT_TOKEN=", token.empty() ? up_->admin_key() : token,
                           " EDGEVAULT_PROFILE=", profile));
  };
  CliRun r = cli("whoami");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("as owner, with API key key_"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("@"), std::string::npos) << r.out;  // the email behind the key

  // An API key for CI: printed once on stdout, usable at once, listed, revoked.
  r = testing::RunShell(base::StrCat("EDGEVAULT_AUTH_URL=", auth_url, " EDGEVAULT_TOKEN=", up_->admin_key(),
                                     " EDGEVAULT_PROFILE=/nonexistent ", testing::BinDir(),
                                     "/edgevault api-key create ci-deploy --scope read --scope write --expires-in-days 7 2>/dev/null",
                                     " | tail -n 1"));  // the key alone on standard output's last line
  ASSERT_EQ(r.code, 0) << r.out;
  std::string ci_key = r.out.substr(0, r.out.find('\n'));
  ASSERT_EQ(ci_key.rfind("evk_", 0), 0u) << r.out;
  EXPECT_EQ(cli("ws list", ci_key).code, 0);
  r = cli("whoami", ci_key);
  EXPECT_NE(r.out.find("scopes read,write"), std::string::npos) << r.out;
  r = cli("api-key list");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ci-deploy"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(ci_key), std::string::npos) << "a listing never shows a key";
  r = cli("api-key list --json");
  auto listed = boost::json::parse(r.out);
  std::string ci_id;
  for (const auto& k : listed.at("api_keys").as_array()) {
    if (k.at("name") == "ci-deploy") ci_id = std::string(k.at("id").as_string());
  }
  ASSERT_FALSE(ci_id.empty()) << r.out;
  ASSERT_EQ(cli("api-key revoke " + ci_id).code, 0);
  r = cli("whoami", ci_key);  // auth refuses it at once
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("401"), std::string::npos) << r.out;
  // The api rechecks the keys it let in every api.principal_recheck_ms (1 s): it refuses it soon.
  testing::PollUntil([&] { return (r = cli("ws list", ci_key)).code != 0; }, 45000);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("401"), std::string::npos) << r.out;
  EXPECT_EQ(cli("api-key revoke " + ci_id).code, 1);  // already revoked: the server says so

  // Members: a developer who has accepted (first login), promoted, then removed.
  ASSERT_EQ(up_->Json("auth", "POST", "/v1/users",
                      {{"email", "member-cli@example.com"}, {"role", "developer"}, {"password", "member cli password"}},
                      up_->admin_key()).status, 201);
  ASSERT_EQ(up_->Json("auth", "POST", "/v1/login", {{"email", "member-cli@example.com"}, {"password", "member cli password"}})
                .status, 200);
  r = cli("member list --json");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string user_id;
  boost::json::value members = boost::json::parse(r.out);
  for (const auto& m : members.at("members").as_array()) {
    if (m.at("email") == "member-cli@example.com") user_id = std::string(m.at("user_id").as_string());
  }
  ASSERT_FALSE(user_id.empty()) << r.out;
  r = cli("member role " + user_id + " admin");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(cli("member list").out.find("member-cli@example.com  admin"), std::string::npos);
  ASSERT_EQ(cli("member rm " + user_id).code, 0);
  EXPECT_EQ(cli("member list").out.find("member-cli@example.com"), std::string::npos);
  r = cli("member invite someone@example.com --role superuser");
  EXPECT_EQ(r.code, 2) << r.out;
  r = cli("member invite new-cli@example.com --role viewer");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Invited new-cli@example.com as viewer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("One-time password"), std::string::npos) << r.out;

  // logout revokes the profile's key and forgets it.
  std::string profile = (std::filesystem::temp_directory_path() / base::StrCat("ev-logout-", std::to_string(::getpid()), ".json")).string();
  auto minted = up_->Json("auth", "POST", "/v1/api-keys", {{"name", "laptop"}, {"scopes", boost::json::array{"read"}}},
                          up_->admin_key());
  std::string laptop_key(minted.json.at("key").as_string());
  std::ofstream(profile) << boost::json::serialize(boost::json::object{{"token", laptop_key}, {"auth_url", auth_url}});
  r = testing::RunEdgevault("logout", "EDGEVAULT_PROFILE=" + profile);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("the API key is revoked"), std::string::npos) << r.out;
  EXPECT_EQ(testing::ReadFile(profile).find(laptop_key), std::string::npos);
  EXPECT_EQ(cli("whoami", laptop_key).code, 1);
  std::filesystem::remove(profile);

  // History names people and keys, not ids, when auth tells this token about them.
  ASSERT_EQ(cli("ws create named").code, 0);
  ASSERT_EQ(cli("env create named prod -m setup").code, 0);
  r = cli("history named");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("API key "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("key:key_"), std::string::npos) << r.out;
  r = cli("history named --json");  // scripts get the ids
  EXPECT_NE(r.out.find("key:key_"), std::string::npos) << r.out;

  // An unreachable auth is named by its URL.
  testing::RefusingPort nowhere;
  r = testing::RunEdgevault("whoami", base::StrCat("EDGEVAULT_AUTH_URL=http://127.0.0.1:", nowhere.port(),
                                                   " EDGEVAULT_TOKEN=evk_x EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot reach the auth service at http://127.0.0.1:" + std::to_string(nowhere.port())),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("EDGEVAULT_AUTH_URL"), std::string::npos) << r.out;
}

// The bash completion script asks the installed binary: commands, then a command's
// subcommands and options.
// Issue 17: password change and TOTP from the CLI. auth takes these only from a login
// session, so each command logs in with the password it reads (never from argv), acts and
// logs out; the CLI's own API key keeps working throughout.
TEST_F(CliApiTest, AccountPasswordAndTotpFromTheCli) {
  ASSERT_NE(up_, nullptr);
  const std::string email = "cli-account@example.com";
  const std::string first = "first cli password 1", second = "second cli password 2";
  ASSERT_EQ(up_->Json("auth", "POST", "/v1/users", {{"email", email}, {"role", "developer"}, {"password", first}},
                      up_->admin_key()).status, 201);
  auto login = [&](const std::string& password) {
    return up_->Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
  };
  testing::HttpReply session = login(first);
  ASSERT_EQ(session.status, 200) << session.body;
  testing::HttpReply minted = up_->Json("auth", "POST", "/v1/api-keys", {{"name", "cli"}, {"expires_in", 86400}},
                                        std::string(session.json.at("session").as_string()));
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string key(minted.json.at("key").as_string());
  const std::string auth_url = base::StrCat("http://127.0.0.1:", std::to_string(up_->port("auth")));
  // Standard input is `input` (lines), never a terminal here.
  auto cli = [&](const std::string& args, const std::string& input) {
    std::string file = (std::filesystem::temp_directory_path() / "ev-cli-account.in").string();
    std::ofstream(file) << input;
    CliRun r = testing::RunEdgevault(args + " < " + file,
                                     base::StrCat("EDGEVAULT_AUTH_URL=", auth_url, " EDGEVAULT_TOKEN=", key,
                                                  " EDGEVAULT_PROFILE=/nonexistent"));
    std::filesystem::remove(file);
    return r;
  };

  // A wrong current password, a new one too short, no input: refused, nothing changed.
  CliRun r = cli("account password", "wrong password 123\n" + second + "\n");
  EXPECT_EQ(r.code, 1) << r.out;
  r = cli("account password", first + "\nshort\n");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("12"), std::string::npos) << r.out;
  r = cli("account password", "");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("never an argument"), std::string::npos) << r.out;
  EXPECT_EQ(login(first).status, 200);

  r = cli("account password", first + "\n" + second + "\n");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Password changed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(second), std::string::npos) << r.out;
  EXPECT_NE(login(first).status, 200);
  EXPECT_EQ(login(second).status, 200);
  EXPECT_EQ(cli("whoami", "").code, 0);  // the API key still works

  // TOTP: enrol (prints the secret; without a terminal, confirm is a second command).
  r = cli("account totp enable", second + "\n");
  ASSERT_EQ(r.code, 0) << r.out;
  size_t at = r.out.find("secret: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string b32 = r.out.substr(at + 8, r.out.find('\n', at) - at - 8);
  absl::StatusOr<std::string> secret = base::Base32Decode(b32);
  ASSERT_TRUE(secret.ok()) << b32;
  EXPECT_NE(r.out.find("edgevault account totp confirm"), std::string::npos) << r.out;
  // Each code is accepted once: hand out steps that only go up, within the ±1 window.
  int64_t last = -1;
  auto code = [&] {
    last = std::max(last + 1, crypto::TotpStep(absl::Now()) - 1);
    return crypto::TotpCode(*secret, last);
  };
  r = cli("account totp confirm", second + "\n000000\n");
  EXPECT_EQ(r.code, 1) << r.out;
  r = cli("account totp confirm", second + "\n" + code() + "\n");
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_NE(r.out.find("Recovery codes"), std::string::npos) << r.out;
  std::vector<std::string> recovery;
  for (size_t p = r.out.find("\n  ", r.out.find("Recovery codes")); p != std::string::npos; p = r.out.find("\n  ", p + 1)) {
    recovery.push_back(r.out.substr(p + 3, r.out.find('\n', p + 1) - p - 3));
  }
  ASSERT_GE(recovery.size(), 2u) << r.out;
  testing::HttpReply needs_code = login(second);
  ASSERT_EQ(needs_code.status, 200);
  EXPECT_TRUE(needs_code.json.as_object().contains("mfa_token")) << needs_code.body;

  // Disabling: log in with a code (or a recovery code), then a newer code. Only three
  // codes fit in the window, so the refusals log in with recovery codes.
  r = cli("account totp disable", second + "\n" + recovery[0] + "\n");  // no second code
  EXPECT_EQ(r.code, 2) << r.out;
  r = cli("account totp disable", second + "\n" + recovery[1] + "\n000000\n");  // a wrong one
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("password or code is wrong"), std::string::npos) << r.out;
  EXPECT_TRUE(login(second).json.as_object().contains("mfa_token"));
  std::string to_log_in = code();  // in order: the operands of + are not sequenced
  std::string to_disable = code();
  r = cli("account totp disable", second + "\n" + to_log_in + "\n" + to_disable + "\n");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("TOTP is off"), std::string::npos) << r.out;
  testing::HttpReply plain = login(second);
  ASSERT_EQ(plain.status, 200);
  EXPECT_FALSE(plain.json.as_object().contains("mfa_token")) << plain.body;
}

TEST(CliCompletionTest, BashCompletesCommandsAndOptionsFromTheBinary) {
  auto complete = [](const std::string& words, int cword) {
    return testing::RunShell(base::StrCat("PATH=", testing::BinDir(), ":$PATH bash -c 'eval \"$(edgevault completion bash)\"; ",
                                          "COMP_WORDS=(", words, "); COMP_CWORD=", std::to_string(cword),
                                          "; _edgevault; echo \"${COMPREPLY[*]}\"'"))
        .out;
  };
  EXPECT_EQ(complete("edgevault secr", 1), "secret\n");
  EXPECT_EQ(complete("edgevault secret ''", 2), "set get list unset rm --help\n");
  EXPECT_EQ(complete("edgevault flag off --en", 3), "--env\n");
  EXPECT_EQ(testing::RunEdgevault("completion fish").code, 2);
}

// Issue 17: profiles for several servers (or identities) in one config file: login
// --profile NAME adds one (the first becomes current), --profile and EDGEVAULT_PROFILE pick
// one per command, `profile use` changes the current one, `profile list` shows them.
TEST_F(CliApiTest, NamedProfilesPickTheServerAndToken) {
  ASSERT_NE(up_, nullptr);
  const std::filesystem::path home = std::filesystem::temp_directory_path() / base::StrCat("ev-home-", ::getpid());
  std::filesystem::remove_all(home);
  std::filesystem::create_directories(home);
  auto run = [&](const std::string& args, const std::string& env = "") {
    return testing::RunEdgevault(args, base::StrCat("HOME=", home.string(), " ", env));
  };
  const std::string api_url = base::StrCat("http://127.0.0.1:", up_->port("api"));
  auto minted = up_->Json("auth", "POST", "/v1/api-keys", {{"name", "ro"}, {"scopes", boost::json::array{"read"}}},
                          up_->admin_key());
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string read_key(minted.json.at("key").as_string());
  CliRun r = run("login --profile admin --api-url " + api_url + " --api-key " + up_->admin_key());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("profile \"admin\""), std::string::npos) << r.out;
  ASSERT_EQ(run("login --profile reader --api-url " + api_url + " --api-key " + read_key).code, 0);
  r = run("profile list");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("*        admin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reader"), std::string::npos) << r.out;
  EXPECT_EQ(run("ws create prof-a").code, 0);                       // the current one: admin
  EXPECT_EQ(run("ws create prof-b --profile reader").code, 1);      // read scope only
  EXPECT_EQ(run("ws create prof-b", "EDGEVAULT_PROFILE=reader").code, 1);
  EXPECT_EQ(run("ws list --profile reader").code, 0);
  ASSERT_EQ(run("profile use reader").code, 0);
  EXPECT_EQ(run("ws create prof-c").code, 1);
  EXPECT_EQ(run("ws create prof-c --profile admin").code, 0);
  r = run("profile list --json");
  EXPECT_NE(r.out.find(R"({"name":"reader","current":true)"), std::string::npos) << r.out;
  r = run("profile use nowhere");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no profile \"nowhere\""), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((home / ".config/edgevault/profile.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(home);
}

TEST_F(CliApiTest, LoginWritesAProfileTheOtherCommandsUse) {
  ASSERT_NE(up_, nullptr);
  std::string profile = (std::filesystem::temp_directory_path() / base::StrCat("ev-profile-", std::to_string(::getpid()), ".json")).string();
  std::string env = base::StrCat("EDGEVAULT_PROFILE=", profile, " ");
  auto run = [&](const std::string& args, const std::string& input = "") {
    return testing::RunShell(base::StrCat(input.empty() ? "" : "printf '%s\\n' '" + input + "' | ", env,
                                          testing::BinDir(), "/edgevault ", args));
  };
  // A member with a password logs in; the CLI mints its own API key and stores it 0600.
  auto created = up_->Json("auth", "POST", "/v1/users",
                           {{"email", "cli-user@example.com"}, {"role", "developer"}, {"password", "cli user password 1"}},
                           up_->admin_key());
  ASSERT_EQ(created.status, 201) << created.body;
  std::string api_url = base::StrCat("http://127.0.0.1:", std::to_string(up_->port("api")));
  std::string auth_url = base::StrCat("http://127.0.0.1:", std::to_string(up_->port("auth")));
  CliRun r = run(base::StrCat("login --api-url ", api_url, " --auth-url ", auth_url,
                              " --email cli-user@example.com --password-stdin"),
                 "cli user password 1");
  ASSERT_EQ(r.code, 0) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat(profile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  r = run("ws list");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("KEY"), std::string::npos) << r.out;
  r = run(base::StrCat("login --api-url ", api_url, " --auth-url ", auth_url,
                       " --email cli-user@example.com --password-stdin"),
          "wrong password 12345");
  EXPECT_EQ(r.code, 1) << r.out;
  // The key gets what the role allows, no more: a developer cannot create a workspace, an
  // admin's CLI key can (it carries the admin scope), a viewer's key still reads.
  EXPECT_EQ(run("ws create made-by-developer").code, 1);
  for (const char* role : {"admin", "viewer"}) {
    std::string email = base::StrCat("cli-", role, "@example.com");
    ASSERT_EQ(up_->Json("auth", "POST", "/v1/users", {{"email", email}, {"role", role}, {"password", "cli user password 1"}},
                        up_->admin_key()).status, 201);
    r = run(base::StrCat("login --api-url ", api_url, " --auth-url ", auth_url, " --email ", email, " --password-stdin"),
            "cli user password 1");
    ASSERT_EQ(r.code, 0) << role << ": " << r.out;
    r = run(base::StrCat("ws create made-by-", role));
    EXPECT_EQ(r.code, std::string(role) == "admin" ? 0 : 1) << role << ": " << r.out;
    EXPECT_EQ(run("ws list").code, 0) << role;
  }
  std::filesystem::remove(profile);
}

TEST_F(CliApiTest, ErrorsAreClearAndExitNonZero) {
  ASSERT_NE(up_, nullptr);
  Cli("ws create errs");
  CliRun r = Cli("config set errs x -v prod=1");  // no reason: usage error
  EXPECT_EQ(r.code, 2) << r.out;
  r = Cli("config set errs x -v nowhere=1 -m test");  // the server refuses
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("unknown environment"), std::string::npos) << r.out;
  r = Cli("ws list", "evk_wrong");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("401"), std::string::npos) << r.out;
}

TEST_F(CliApiTest, EnvironmentsListRenameProtectAndUnprotect) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create envs").code, 0);
  ASSERT_EQ(Cli("env create envs prod --name Production -m setup").code, 0);
  ASSERT_EQ(Cli("env create envs dev --parent prod -m setup").code, 0);
  CliRun r = Cli("env rename envs dev 'Dev box' -m 'clearer name'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Renamed environment dev"), std::string::npos) << r.out;
  r = Cli("env protect envs prod -m freeze");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Protected environment prod"), std::string::npos) << r.out;
  r = Cli("env list envs");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("PROTECTED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Dev box"), std::string::npos) << r.out;
  r = Cli("env list envs --json");
  ASSERT_EQ(r.code, 0) << r.out;
  boost::json::value list = boost::json::parse(r.out);
  std::map<std::string, bool> protection;
  for (const auto& e : list.at("environments").as_array()) {
    protection[std::string(e.at("key").as_string())] = e.at("protected").as_bool();
  }
  EXPECT_EQ(protection, (std::map<std::string, bool>{{"dev", false}, {"prod", true}}));
  r = Cli("env unprotect envs prod -m thaw");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Cli("env list envs --json").out.find("\"protected\":true"), std::string::npos);
  // Every change needs a reason; the server's refusals reach the user.
  EXPECT_EQ(Cli("env protect envs prod").code, 2);
  r = Cli("env rename envs nope X -m x");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("404"), std::string::npos) << r.out;
  std::string dev = up_->TokenForNewUser("cli-envs-dev@example.com", "developer");
  ASSERT_FALSE(dev.empty());
  r = Cli("env protect envs dev -m mine", dev);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("403"), std::string::npos) << r.out;
  r = Cli("env list envs", dev);  // reading is a viewer's right
  EXPECT_EQ(r.code, 0) << r.out;
}

// Issue 17: an environment's parent changes (never into a cycle) and an environment is
// deleted from the CLI: refused while something depends on it unless told what to do,
// asking first, and afterwards delivery no longer serves it.
TEST_F(CliApiTest, EnvironmentsChangeParentAndAreDeleted) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create tree").code, 0);
  ASSERT_EQ(Cli("env create tree prod -m setup").code, 0);
  ASSERT_EQ(Cli("env create tree staging --parent prod -m setup").code, 0);
  ASSERT_EQ(Cli("env create tree qa --parent staging -m setup").code, 0);
  ASSERT_EQ(Cli("env create tree base -m setup").code, 0);
  ASSERT_EQ(Cli("config set tree region -v prod=eu -v staging=us -m setup").code, 0);
  auto head = [&] { return up_->Call("api", "GET", "/v1/workspaces/tree", "", up_->admin_key()).body; };

  // A cycle, an unknown parent, both a parent and --root: refused, nothing changed.
  std::string before = head();
  CliRun r = Cli("env parent tree prod qa -m loop");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cycle"), std::string::npos) << r.out;
  r = Cli("env parent tree qa nope -m x");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("unknown environment"), std::string::npos) << r.out;
  r = Cli("env parent tree qa base --root -m x");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--root"), std::string::npos) << r.out;
  EXPECT_EQ(Cli("env parent tree qa -m x").code, 2);
  EXPECT_EQ(head(), before);

  // qa inherits staging's region; after the move it inherits nothing from there.
  auto resolved = [&](const std::string& env) {
    return up_->Call("api", "GET", "/v1/workspaces/tree/environments/" + env + "/resolved", "", up_->admin_key()).body;
  };
  EXPECT_NE(resolved("qa").find("\"us\""), std::string::npos) << resolved("qa");
  r = Cli("env parent tree qa base -m 'test on the base'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Environment qa now inherits from base"), std::string::npos) << r.out;
  EXPECT_EQ(resolved("qa").find("\"us\""), std::string::npos) << resolved("qa");
  r = Cli("env parent tree qa --root -m alone --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"parent\":null"), std::string::npos) << r.out;
  ASSERT_EQ(Cli("env parent tree qa staging -m back").code, 0);

  // staging: a child (qa) and an SDK key depend on it.
  r = Cli("sdk-key create tree staging");
  ASSERT_EQ(r.code, 0) << r.out;
  size_t at = r.out.find("evs_");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string sdk_key = r.out.substr(at, r.out.find_first_of(" \n", at) - at);
  testing::HttpReply served;
  testing::PollUntil([&] {  // bounded wait for the first document
    served = up_->Call("delivery", "GET", "/v1/config", "", sdk_key);
    return served.status != 404;
  }, 10000);
  ASSERT_EQ(served.status, 200) << served.body;

  before = head();
  r = Cli("env delete tree staging -m retire < /dev/null");  // no terminal, no --yes
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("Pass --yes"), std::string::npos) << r.out;
  r = Cli("env delete tree staging -m retire --yes");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--revoke-sdk-keys"), std::string::npos) << r.out;
  r = Cli("env delete tree staging -m retire --yes --revoke-sdk-keys");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("\"qa\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--reparent-children-to"), std::string::npos) << r.out;
  r = Cli("env delete tree staging -m retire --yes --revoke-sdk-keys --reparent-children-to qa");
  EXPECT_EQ(r.code, 1) << r.out;
  r = Cli("env delete tree staging -m x --yes --reparent-children-to prod --children-become-roots");
  EXPECT_EQ(r.code, 2) << r.out;
  std::string dev = up_->TokenForNewUser("cli-envdel-dev@example.com", "developer");
  ASSERT_FALSE(dev.empty());
  r = Cli("env delete tree staging -m mine --yes --revoke-sdk-keys --reparent-children-to prod", dev);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("403"), std::string::npos) << r.out;
  EXPECT_EQ(head(), before);
  EXPECT_EQ(up_->Call("delivery", "GET", "/v1/config", "", sdk_key).status, 200);

  r = Cli("env delete tree staging -m retire --yes --revoke-sdk-keys --reparent-children-to prod");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Deleted environment staging"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Revoked SDK key sdk_"), std::string::npos) << r.out;
  EXPECT_EQ(up_->Call("delivery", "GET", "/v1/config", "", sdk_key).status, 401);
  r = Cli("env list tree --json");
  EXPECT_EQ(r.out.find("\"staging\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"parent\":\"prod\""), std::string::npos) << r.out;  // qa's new parent
  EXPECT_NE(resolved("qa").find("\"eu\""), std::string::npos) << resolved("qa");
  r = Cli("config get tree region --json");
  EXPECT_EQ(r.out.find("staging"), std::string::npos) << r.out;
  EXPECT_EQ(Cli("env delete tree staging -m again --yes").code, 1);
  r = Cli("history tree");
  EXPECT_NE(r.out.find("retire"), std::string::npos) << r.out;
  // --diff: what each revision changed, environment by environment.
  r = Cli("history tree --diff");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("environment.delete  config region  \"retire\"\n    staging: \"us\" → (inherits)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("environment qa  \"test on the base\"\n    parent: \"staging\" → \"base\""),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("environment staging  \"retire\"\n    deleted"), std::string::npos) << r.out;
}

TEST_F(CliApiTest, FlagEvalPrintsEachEnvironmentsAnswer) {
  ASSERT_NE(up_, nullptr);
  ASSERT_EQ(Cli("ws create evalws").code, 0);
  ASSERT_EQ(Cli("env create evalws prod -m setup").code, 0);
  ASSERT_EQ(Cli("env create evalws dev -m setup").code, 0);
  std::string json = (std::filesystem::temp_directory_path() / "ev-cli-eval-flag.json").string();
  std::ofstream(json) << R"({"variations": [{"value": false, "name": "Off"}, {"value": true, "name": "On"}],
    "environments": {
      "prod": {"on": true, "off_variation": 0, "fallthrough": {"variation": 0},
               "rules": [{"id": "pro", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
                          "variation": 1}]},
      "dev": {"on": false, "off_variation": 0, "fallthrough": {"variation": 1}}}})";
  ASSERT_EQ(Cli("flag set evalws checkout -f " + json + " -m launch").code, 0);
  std::filesystem::remove(json);

  CliRun r = Cli(R"(flag eval evalws checkout --context '{"targetingKey":"u1","plan":"pro"}')");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ENVIRONMENT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TARGETING_MATCH"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rule 0 (pro)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DISABLED"), std::string::npos) << r.out;  // dev is off

  r = Cli(R"(flag eval evalws checkout --env prod --json --context '{"targetingKey":"u1","plan":"free"}')");
  ASSERT_EQ(r.code, 0) << r.out;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.out, ec);
  ASSERT_FALSE(ec) << r.out;
  const boost::json::array& envs = v.at("environments").as_array();
  ASSERT_EQ(envs.size(), 1u) << r.out;
  EXPECT_EQ(envs[0].at("environment"), "prod");
  EXPECT_EQ(envs[0].at("reason"), "DEFAULT");  // OFREP's name for the fallthrough
  EXPECT_EQ(envs[0].at("value"), false);

  // No context: the empty context.
  r = Cli("flag eval evalws checkout -e prod");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("DEFAULT"), std::string::npos) << r.out;

  r = Cli("flag eval evalws checkout --env nowhere");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("no environment \"nowhere\""), std::string::npos) << r.out;
  r = Cli("flag eval evalws nosuchflag");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("404"), std::string::npos) << r.out;
}

// Bad input is refused before anything is sent: the api URL here refuses connections, so
// a command that tried to send would report "cannot reach the api" (exit 1) instead.
TEST_F(CliApiTest, FlagEvalAndAuditEventsRefuseBadInputLocally) {
  testing::RefusingPort nowhere;
  ASSERT_NE(nowhere.port(), 0);
  auto cli = [&](const std::string& args) {
    return testing::RunEdgevault(args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", nowhere.port(),
                                                    " EDGEVAULT_TOKEN=evk_x EDGEVAULT_PROFILE=/nonexistent"));
  };
  CliRun r = cli("flag eval ws checkout --context 'plan=pro'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--context is not valid JSON"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("cannot reach"), std::string::npos) << r.out;
  r = cli("flag eval ws checkout --context '[1,2]'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--context must be a JSON object"), std::string::npos) << r.out;
  r = cli("flag eval ws checkout --contxt '{}'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--contxt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Did you mean 'edgevault flag eval --context'?"), std::string::npos) << r.out;
  r = cli("flag evl ws checkout");  // a mistyped command: the nearest one
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("Did you mean 'edgevault flag eval'?"), std::string::npos) << r.out;
  r = cli("secret get ws");  // a missing argument: the usage line
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("Usage: edgevault secret get [OPTIONS] workspace key"), std::string::npos) << r.out;
  r = cli("audit events --limit 0");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--limit"), std::string::npos) << r.out;
  r = cli("audit events --page-size 5000");
  EXPECT_EQ(r.code, 2) << r.out;
  r = cli("audit events --bogus");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--bogus"), std::string::npos) << r.out;
  // The positive control: a well-formed command does try, and says it cannot reach it.
  r = cli("audit events");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot reach the api at http://127.0.0.1:" + std::to_string(nowhere.port())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("EDGEVAULT_API_URL"), std::string::npos) << r.out;
}

TEST_F(CliApiTest, AuditEventsReadsTheApiFilteredAndPaged) {
  ASSERT_NE(up_, nullptr);
  // Two members log in: two auth.login events of this org.
  const std::string dev = up_->TokenForNewUser("dev@cli-audit.test", "developer");
  ASSERT_FALSE(dev.empty());
  ASSERT_FALSE(up_->TokenForNewUser("viewer@cli-audit.test", "viewer").empty());
  auto lines = [](const std::string& out) {
    std::vector<boost::json::value> v;
    size_t at = 0;
    for (size_t nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1) {
      boost::system::error_code ec;
      boost::json::value e = boost::json::parse(std::string_view(out).substr(at, nl - at), ec);
      if (!ec) v.push_back(std::move(e));
    }
    return v;
  };
  // The warehouse fills asynchronously (outbox, queue, consumer).
  CliRun r;
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        r = Cli("audit events --action auth.login --json");
        return r.code == 0 && lines(r.out).size() >= 2;
      },
      30000))
      << r.out;
  for (const boost::json::value& e : lines(r.out)) EXPECT_EQ(e.at("action"), "auth.login") << r.out;

  // One event per request, three requests: the same three events as one page of three.
  CliRun paged = Cli("audit events --action auth.* --limit 3 --page-size 1 --json");
  CliRun whole = Cli("audit events --action auth.* --limit 3 --json");
  ASSERT_EQ(paged.code, 0) << paged.out;
  ASSERT_EQ(lines(paged.out).size(), 3u) << paged.out;
  EXPECT_EQ(paged.out, whole.out);

  r = Cli("audit events --action auth.login --limit 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ACTION"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("auth.login"), std::string::npos) << r.out;

  r = Cli("audit events --since yesterday");  // the api's 400 names the parameter
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("since"), std::string::npos) << r.out;
  r = Cli("audit events", dev);  // not an admin
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("403"), std::string::npos) << r.out;
}


// Issue 17: `export --all` writes a whole workspace that `import --from workspace` reads
// back into another: environments (parents, protection, policy), configs, flags (rules,
// rollouts, prerequisites), segments (nested); every environment's resolved document is
// then the same, byte for byte apart from the workspace's id, key and version. Secrets go
// by name only. Bad files, and a target whose environment has another parent, change nothing.
TEST_F(CliApiTest, AWholeWorkspaceExportImportsBackIntoAnotherWorkspace) {
  ASSERT_NE(up_, nullptr);
  const std::string admin = up_->admin_key();
  auto api = [&](const std::string& method, const std::string& path, boost::json::object body) {
    body["reason"] = "setup";
    auto r = up_->Json("api", method, "/v1/workspaces/" + path, body, admin);
    EXPECT_EQ(r.status / 100, 2) << method << " " << path << ": " << r.body;
  };
  ASSERT_EQ(Cli("ws create rt-src").code, 0);
  ASSERT_EQ(Cli("env create rt-src prod --protected -m setup").code, 0);
  ASSERT_EQ(Cli("env create rt-src staging --parent prod -m setup").code, 0);
  ASSERT_EQ(Cli("env create rt-src dev --parent staging -m setup").code, 0);
  api("PUT", "rt-src/configs/db.pool", {{"type", "integer"}, {"values", {{"prod", 20}, {"dev", 5}}}});
  api("PUT", "rt-src/configs/odd", {{"type", "json"},
                                    {"values", {{"staging", {{"s", "true"}, {"n", "1"}, {"f", 1.5}, {"x", nullptr}}}}}});
  api("PUT", "rt-src/segments/inner", {{"included", boost::json::array{"u1"}}});
  api("PUT", "rt-src/segments/outer",
      {{"rules", boost::json::array{{{"clauses", boost::json::array{{{"op", "segment_match"},
                                                                     {"values", boost::json::array{"inner"}}}}}}}}});
  boost::json::array bool_variations{{{"value", false}}, {{"value", true}}};
  api("PUT", "rt-src/flags/zeta", {{"variations", bool_variations},
                                   {"environments", {{"prod", {{"on", true}, {"fallthrough", {{"variation", 1}}}}}}}});
  boost::json::object rules_env{
      {"on", true},
      {"prerequisites", boost::json::array{{{"flag", "zeta"}, {"variation", 1}}}},
      {"rules", boost::json::array{{{"clauses", boost::json::array{{{"op", "segment_match"},
                                                                    {"values", boost::json::array{"outer"}}}}},
                                    {"variation", 1}}}},
      {"fallthrough", {{"rollout", boost::json::array{{{"variation", 0}, {"weight", 70000}}, {{"variation", 1}, {"weight", 30000}}}}}}};
  // "alpha" requires "zeta", which sorts after it: the import must order them.
  api("PUT", "rt-src/flags/alpha", {{"variations", bool_variations}, {"environments", {{"prod", rules_env}, {"dev", rules_env}}}});
  api("PUT", "rt-src/secrets/token", {{"values", {{"prod", "s3cr3t-value"}}}});
  api("PUT", "rt-src/environments/prod/policy", {{"required_approvals", 1}, {"change_requests_required", true}});

  const std::string dir = (std::filesystem::temp_directory_path() / ("ev-rt-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  CliRun exported = Cli("export -w rt-src --all");
  ASSERT_EQ(exported.code, 0) << exported.out;
  EXPECT_EQ(exported.out.find("s3cr3t-value"), std::string::npos) << exported.out;
  EXPECT_NE(exported.out.find("edgevault.workspace/1"), std::string::npos) << exported.out;
  EXPECT_EQ(Cli("export -w rt-src --all").out, exported.out);  // stable bytes
  std::ofstream(dir + "/src.yaml") << exported.out;

  // Bad files: nothing changes.
  ASSERT_EQ(Cli("ws create rt-dst").code, 0);
  auto head = [&](const std::string& ws) { return up_->Call("api", "GET", "/v1/workspaces/" + ws, "", admin).body; };
  const std::string empty_dst = head("rt-dst");
  std::ofstream(dir + "/bad-format.yaml") << "format: edgevault.workspace/9\n";
  CliRun bad = Cli("import -w rt-dst --from workspace " + dir + "/bad-format.yaml -m x");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("format: must be \"edgevault.workspace/1\""), std::string::npos) << bad.out;
  std::ofstream(dir + "/bad-flag.json") << R"({"format":"edgevault.workspace/1","flags":{"x":[1]}})";
  bad = Cli("import -w rt-dst --from workspace " + dir + "/bad-flag.json -m x");
  EXPECT_NE(bad.out.find("flags.x: must be an object"), std::string::npos) << bad.out;
  std::ofstream(dir + "/bad-body.json")
      << R"({"format":"edgevault.workspace/1","environments":[{"key":"prod"}],"configs":{"c":{"type":"integer","values":{"prod":"x"}}}})";
  // A new environment and a bad item: the dry run finds it, and the import creates nothing.
  for (const char* dry_run : {" --dry-run", ""}) {
    bad = Cli("import -w rt-dst --from workspace " + dir + "/bad-body.json -m x" + dry_run);
    EXPECT_NE(bad.code, 0) << dry_run;
    EXPECT_NE(bad.out.find("values.prod: expected an integer"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("nothing was imported"), std::string::npos) << bad.out;
  }
  EXPECT_EQ(head("rt-dst"), empty_dst);
  CliRun dry = Cli("import -w rt-dst --from workspace " + dir + "/src.yaml --dry-run -m x");
  EXPECT_EQ(dry.code, 0) << dry.out;
  EXPECT_NE(dry.out.find("would create environment staging"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("Dry run: nothing was written."), std::string::npos) << dry.out;  // the items checked too
  EXPECT_EQ(head("rt-dst"), empty_dst);

  CliRun imported = Cli("import -w rt-dst --from workspace " + dir + "/src.yaml -m copy");
  ASSERT_EQ(imported.code, 0) << imported.out;
  EXPECT_NE(imported.out.find("secret \"token\" is listed by name only"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("Imported 6 item(s) into rt-dst"), std::string::npos) << imported.out;
  for (const char* env : {"prod", "staging", "dev"}) {
    auto doc = [&](const std::string& ws) {
      auto r = up_->Call("api", "GET", "/v1/workspaces/" + ws + "/environments/" + env + "/resolved", "", admin);
      EXPECT_EQ(r.status, 200) << r.body;
      boost::json::object o = boost::json::parse(r.body).as_object();
      for (const char* k : {"workspace_id", "workspace", "version"}) o.erase(k);
      return boost::json::serialize(o);
    };
    EXPECT_EQ(doc("rt-dst"), doc("rt-src")) << env;
  }
  // The copy exports as the original did, but for its name and the secret's values.
  auto without = [](const std::string& text) {
    boost::json::object o = boost::json::parse(text).as_object();
    o.erase("workspace");
    o.erase("secrets");
    return boost::json::serialize(o);
  };
  EXPECT_EQ(without(Cli("export -w rt-dst --all --format json").out), without(Cli("export -w rt-src --all --format json").out));
  // The policy came along: a direct write to prod is now refused there too.
  CliRun direct = Cli("config set rt-dst db.pool -v prod=21 -m x");
  EXPECT_NE(direct.code, 0) << direct.out;
  EXPECT_NE(direct.out.find("accepts changes only through change requests"), std::string::npos) << direct.out;

  // A second import changes nothing; a body that does not validate writes nothing.
  CliRun again = Cli("import -w rt-dst --from workspace " + dir + "/src.yaml -m again");
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("Imported 0 item(s) into rt-dst (6 unchanged)"), std::string::npos) << again.out;
  ASSERT_EQ(Cli("ws create rt-bad").code, 0);
  ASSERT_EQ(Cli("env create rt-bad prod -m setup").code, 0);
  const std::string bad_before = head("rt-bad");
  bad = Cli("import -w rt-bad --from workspace " + dir + "/bad-body.json -m x");
  EXPECT_NE(bad.code, 0) << bad.out;
  EXPECT_NE(bad.out.find("nothing was imported"), std::string::npos) << bad.out;
  EXPECT_EQ(head("rt-bad"), bad_before);
  // The target's environment has another parent: refused before anything is written.
  ASSERT_EQ(Cli("ws create rt-other").code, 0);
  ASSERT_EQ(Cli("env create rt-other staging -m setup").code, 0);
  const std::string other_before = head("rt-other");
  bad = Cli("import -w rt-other --from workspace " + dir + "/src.yaml -m x");
  EXPECT_NE(bad.code, 0) << bad.out;
  EXPECT_NE(bad.out.find("environment \"staging\" exists in the target with parent none"), std::string::npos) << bad.out;
  EXPECT_EQ(head("rt-other"), other_before);
  // --all and --env exclude each other; dotenv is not a whole-workspace format.
  EXPECT_NE(Cli("export -w rt-src --all -e prod").code, 0);
  EXPECT_NE(Cli("export -w rt-src --all --format dotenv").code, 0);
  // `env policy` changes only what it is told; bad values change nothing.
  CliRun policy = Cli("env policy rt-src dev --approvals 2 --leak-scan block -m tighten");
  ASSERT_EQ(policy.code, 0) << policy.out;
  policy = Cli("env policy rt-src dev --change-requests-required true -m gate");
  ASSERT_EQ(policy.code, 0) << policy.out;
  std::string envs = up_->Call("api", "GET", "/v1/workspaces/rt-src/environments", "", admin).body;
  EXPECT_NE(envs.find(R"("required_approvals":2)"), std::string::npos) << envs;
  EXPECT_NE(envs.find(R"("leak_scan":"block")"), std::string::npos) << envs;
  EXPECT_NE(envs.find(R"("change_requests_required":true)"), std::string::npos) << envs;
  const std::string src_head = head("rt-src");
  EXPECT_NE(Cli("env policy rt-src dev --approvals 11 -m x").code, 0);
  EXPECT_NE(Cli("env policy rt-src dev --leak-scan loud -m x").code, 0);
  CliRun nowhere = Cli("env policy rt-src nowhere --approvals 1 -m x");
  EXPECT_NE(nowhere.code, 0);
  EXPECT_NE(nowhere.out.find("has no environment nowhere"), std::string::npos) << nowhere.out;
  EXPECT_EQ(Cli("env policy rt-src dev --approvals 1 -m x", up_->TokenForNewUser("rt-dev@example.com", "developer")).code,
            1);
  EXPECT_EQ(head("rt-src"), src_head);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace edgevault
