// `edgevault migrate` (docs/deploy.md "Moving up from one host"): a populated single-host
// installation — users with a password and a TOTP factor, SDK keys, two workspaces with
// history and secrets, audit events — copied into a real PostgreSQL and a real
// S3-compatible server, then served by the real binaries from those stores alone (the
// data dir's control.db, workspaces/ and edge KV moved away): same history, same secret
// values, same delivery documents (ETags), login with password and TOTP, `audit verify`
// on the bucket. An interrupted migration completes when run again; bad input changes
// nothing.
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/env.h"
#include "src/base/strings.h"
#include "src/crypto/totp.h"
#include "src/net/s3_client.h"
#include "src/net/s3_test_server.h"
#include "src/storage/postgres/control_store_postgres.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using base::StrCat;
using testing::CommandResult;
using testing::EdgeVaultUp;
using testing::HttpReply;
using testing::RunEdgevault;

constexpr char kS3Env[] = "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER";

std::string Str(const HttpReply& r, std::string_view field) {
  if (!r.json.is_object()) return "";
  const json::value* v = r.json.as_object().if_contains(field);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

int64_t PgCount(const std::string& url, const std::string& sql) {
  auto pool = storage::PgPool::Create({.connect = {.url = url}});
  if (!pool.ok()) return -1;
  auto r = (*pool)->Query(sql);
  return r.ok() ? r->Int64(0, 0) : -1;
}

// What the installation answers, to compare before and after the move.
struct Answers {
  std::map<std::string, std::string> history;  // workspace -> GET revisions body
  std::string secret_prod, secret_dev;
  std::string config_etag, config_body;
};

Answers Read(EdgeVaultUp& up, const std::string& sdk_key) {
  Answers a;
  for (const std::string ws : {"shop", "blog"}) {
    HttpReply revs =
        up.Call("api", "GET", "/v1/workspaces/" + ws + "/revisions?limit=1000", "", up.admin_key());
    EXPECT_EQ(revs.status, 200) << revs.body;
    a.history[ws] = revs.body;
  }
  a.secret_prod =
      Str(up.Call("api", "GET", "/v1/workspaces/shop/environments/prod/secrets/db.password", "",
                  up.admin_key()),
          "value");
  a.secret_dev =
      Str(up.Call("api", "GET", "/v1/workspaces/shop/environments/dev/secrets/db.password", "",
                  up.admin_key()),
          "value");
  // Delivery converges to the api's head (after a restart the api republishes the edge KV).
  HttpReply doc;
  testing::PollUntil(
      [&] {
        doc = up.Call("delivery", "GET", "/v1/config", "", sdk_key);
        return doc.status == 200 && doc.body.find("\"db.pool\"") != std::string::npos &&
               doc.body.find("25") != std::string::npos;
      },
      30000);
  EXPECT_EQ(doc.status, 200) << doc.body;
  a.config_etag = doc.Header("ETag");
  a.config_body = doc.body;
  return a;
}

TEST(MigrateTest, ASingleHostMovesToPostgresAndS3AndServesTheSameAnswers) {
  net::S3TestServer s3;
  ASSERT_TRUE(s3.Start(/*conditional_writes=*/true)) << s3.error();
  ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  const std::string audit_url =
      StrCat("s3://audit/ev/?endpoint=", s3.Endpoint(), "&region=us-east-1");
  const std::string pg_url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(pg_url.empty());

  // ---- A populated single host.
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  auto api = [&](std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null())
      return up->Call("api", std::move(method), std::move(target), "", up->admin_key());
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  for (const std::string ws : {"shop", "blog"}) {
    ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", ws}}).status, 201);
    ASSERT_EQ(api("POST", "/v1/workspaces/" + ws + "/environments",
                  json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                  .status,
              201);
  }
  ASSERT_EQ(
      api("POST", "/v1/workspaces/shop/environments",
          json::object{{"key", "dev"}, {"name", "Dev"}, {"parent", "prod"}, {"reason", "setup"}})
          .status,
      201);
  for (int pool : {10, 20, 25}) {
    ASSERT_EQ(api("PUT", "/v1/workspaces/shop/configs/db.pool",
                  json::object{{"type", "integer"},
                               {"values", {{"prod", pool}}},
                               {"reason", StrCat("size ", pool)}})
                  .status,
              200);
  }
  ASSERT_EQ(api("PUT", "/v1/workspaces/shop/secrets/db.password",
                json::object{{"values", {{"prod", "s3cret-prod"}}}, {"reason", "initial"}})
                .status,
            200);
  ASSERT_EQ(api("PUT", "/v1/workspaces/shop/secrets/db.password",
                json::object{{"values", {{"prod", "s3cret-prod-2"}, {"dev", "s3cret-dev"}}},
                             {"reason", "rotate"}})
                .status,
            200);
  ASSERT_EQ(
      api("PUT", "/v1/workspaces/blog/configs/title",
          json::object{{"type", "string"}, {"values", {{"prod", "Hello"}}}, {"reason", "name it"}})
          .status,
      200);
  HttpReply minted =
      api("POST", "/v1/workspaces/shop/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key = Str(minted, "key");

  // A user with a password and a confirmed TOTP factor.
  const std::string email = "alice@example.com", password = "alice password 1";
  ASSERT_EQ(
      up->Json("auth", "POST", "/v1/users",
               {{"email", email}, {"role", "developer"}, {"password", password}}, up->admin_key())
          .status,
      201);
  std::string session = Str(
      up->Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}}), "session");
  ASSERT_FALSE(session.empty());
  HttpReply enrolled = up->Call("auth", "POST", "/v1/mfa/totp/enroll", "", session);
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  std::string uri = Str(enrolled, "otpauth_uri");
  size_t at = uri.find("secret=");
  ASSERT_NE(at, std::string::npos) << uri;
  absl::StatusOr<std::string> totp =
      base::Base32Decode(uri.substr(at + 7, uri.find('&', at) - at - 7));
  ASSERT_TRUE(totp.ok());
  int64_t step = crypto::TotpStep(absl::Now());
  ASSERT_EQ(up->Json("auth", "POST", "/v1/mfa/totp/confirm",
                     {{"code", crypto::TotpCode(*totp, step)}}, session)
                .status,
            200);

  const Answers before = Read(*up, sdk_key);
  ASSERT_FALSE(before.config_etag.empty());
  EXPECT_EQ(before.secret_prod, "s3cret-prod-2");
  // The audit events of all that reached the warehouse.
  ASSERT_TRUE(testing::PollUntil(
      [&] { return testing::CountAuditLines(up->data_dir(), "workspace.config.create", {}) >= 2; },
      30000));

  // ---- Bad input changes nothing. While the services run: refused, and says why.
  const std::string migrate =
      StrCat("migrate --data-dir ", up->data_dir(), " --audit-to '", audit_url, "'");
  CommandResult running = RunEdgevault(StrCat(migrate, " --to '", pg_url, "'"), kS3Env);
  EXPECT_EQ(running.code, 2) << running.out;
  EXPECT_NE(running.out.find("must be stopped"), std::string::npos) << running.out;
  const std::string data_dir = up->data_dir();
  EdgeVaultUp::Stopped stopped = up->Stop();
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;

  CommandResult wrong_dir = RunEdgevault(StrCat("migrate --data-dir ", data_dir, "/nope --to '",
                                                pg_url, "' --audit-to '", audit_url, "'"),
                                         kS3Env);
  EXPECT_EQ(wrong_dir.code, 2) << wrong_dir.out;
  EXPECT_NE(wrong_dir.out.find("not an EdgeVault data directory"), std::string::npos)
      << wrong_dir.out;
  testing::RefusingPort refusing;
  ASSERT_GT(refusing.port(), 0);
  CommandResult unreachable = RunEdgevault(
      StrCat(migrate, " --to 'postgres://ev@127.0.0.1:", refusing.port(), "/ev?connect_timeout=5'"),
      kS3Env);
  EXPECT_EQ(unreachable.code, 1) << unreachable.out;
  EXPECT_NE(unreachable.out.find("cannot use the target database"), std::string::npos)
      << unreachable.out;
  CommandResult bad_url = RunEdgevault(StrCat(migrate, " --to 'mysql://x'"), kS3Env);
  EXPECT_EQ(bad_url.code, 2) << bad_url.out;
  // A target that holds another installation: refused before anything is copied.
  const std::string other_url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(other_url.empty());
  {
    auto other = storage::OpenPostgresControlStore({.url = other_url, .env = base::Env::Default()});
    ASSERT_TRUE(other.ok()) << other.status();
    storage::Org org;
    org.id = "org_someone_else";
    org.name = "someone else";
    org.created_at = absl::Now();
    ASSERT_TRUE((*other)->CreateOrg(org).ok());
  }
  CommandResult taken = RunEdgevault(StrCat(migrate, " --to '", other_url, "'"), kS3Env);
  EXPECT_EQ(taken.code, 1) << taken.out;
  EXPECT_NE(taken.out.find("different installation"), std::string::npos) << taken.out;
  EXPECT_EQ(PgCount(other_url, "SELECT COUNT(*) FROM orgs"), 1);
  EXPECT_EQ(PgCount(other_url, "SELECT COUNT(*) FROM users"), 0);
  EXPECT_EQ(PgCount(other_url, "SELECT COUNT(*) FROM ws_stores"), 0);
  auto bucket = net::S3Client::Create(s3.ClientOptions());
  ASSERT_TRUE(bucket.ok());
  auto listed = (*bucket)->ListAll("ev/");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty()) << "a refused migration wrote " << listed->front().key;

  // ---- Interrupted midway (the process ends as under SIGKILL), then run again: complete.
  CommandResult crashed = RunEdgevault(StrCat(migrate, " --batch 2 --to '", pg_url, "'"),
                                       StrCat(kS3Env, " EDGEVAULT_MIGRATE_CRASH_AFTER_BATCHES=3"));
  EXPECT_EQ(crashed.code, 86) << crashed.out;
  EXPECT_NE(crashed.out.find("injected crash"), std::string::npos) << crashed.out;
  EXPECT_EQ(crashed.out.find("migrated and verified"), std::string::npos) << crashed.out;
  const int64_t users_after_crash = PgCount(pg_url, "SELECT COUNT(*) FROM users");
  EXPECT_GT(users_after_crash, 0) << "the crash came after some rows were copied";
  EXPECT_EQ(PgCount(pg_url, "SELECT COUNT(*) FROM ws_revisions"), 0) << "and before the workspaces";
  CommandResult resumed = RunEdgevault(StrCat(migrate, " --batch 2 --to '", pg_url, "'"), kS3Env);
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("migrated and verified"), std::string::npos) << resumed.out;
  EXPECT_EQ(resumed.out.find("DIFFERENT"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("audit verify on the target: OK"), std::string::npos) << resumed.out;
  // Once more: nothing left to copy, still verified.
  CommandResult again = RunEdgevault(StrCat(migrate, " --to '", pg_url, "'"), kS3Env);
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("audit warehouse: 0 objects copied"), std::string::npos) << again.out;

  // ---- The fleet stores alone: move the single-host stores (and the edge KV) away.
  for (const std::string name :
       {"control.db", "control.db-wal", "control.db-shm", "workspaces", "edge"}) {
    if (fs::exists(data_dir + "/" + name))
      fs::rename(data_dir + "/" + name, data_dir + "/moved-" + name);
  }
  auto count_objects = [&] {
    auto all = (*bucket)->ListAll("ev/");
    return all.ok() ? static_cast<int64_t>(all->size()) : -1;
  };
  const int64_t objects_migrated = count_objects();
  ASSERT_GT(objects_migrated, 0);
  ASSERT_TRUE(
      up->Restart({"--set", "auth.control_db_url=" + pg_url, "--set",
                   "api.workspace_db_url=" + pg_url, "--set", "audit.warehouse_url=" + audit_url}));
  EXPECT_FALSE(fs::exists(data_dir + "/control.db")) << "auth used the SQLite control DB";
  const Answers after = Read(*up, sdk_key);
  EXPECT_EQ(after.history, before.history);
  EXPECT_EQ(after.secret_prod, before.secret_prod);
  EXPECT_EQ(after.secret_dev, before.secret_dev);
  EXPECT_EQ(after.config_etag, before.config_etag);
  EXPECT_EQ(after.config_body, before.config_body);
  // Login with the password and the TOTP factor (the next step's code: the last is used).
  HttpReply first =
      up->Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
  ASSERT_EQ(first.status, 200) << first.body;
  HttpReply second = up->Json(
      "auth", "POST", "/v1/login/totp",
      {{"mfa_token", Str(first, "mfa_token")}, {"code", crypto::TotpCode(*totp, step + 1)}});
  EXPECT_EQ(second.status, 200) << second.body;
  // The fleet writes on from the copied head.
  HttpReply put = api(
      "PUT", "/v1/workspaces/shop/configs/db.pool",
      json::object{{"type", "integer"}, {"values", {{"prod", 30}}}, {"reason", "after the move"}});
  EXPECT_EQ(put.status, 200) << put.body;
  // Its audit event reached the bucket, on the chain the copy continued.
  EXPECT_TRUE(testing::PollUntil([&] { return count_objects() > objects_migrated; }, 30000));
  EdgeVaultUp::Stopped fleet_stopped = up->Stop();
  EXPECT_EQ(fleet_stopped.exit_code, 0) << fleet_stopped.output;
  // The chain in the bucket verifies, including what the fleet's audit service appended.
  CommandResult verified = RunEdgevault(
      StrCat("audit verify --data-dir ", data_dir, " --warehouse-url '", audit_url, "'"), kS3Env);
  EXPECT_EQ(verified.code, 0) << verified.out;
}

}  // namespace
}  // namespace edgevault
