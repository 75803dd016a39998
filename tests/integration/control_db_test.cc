// Issue 12 item 4, end to end with the real binaries (`edgevault up`): the api never opens
// control.db (it asks auth over the internal API), and TOTP secrets are kept in control.db
// only sealed with keys/auth/totp-seal.key — also those an older version stored in clear
// text, which auth seals when it starts.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/totp.h"
#include "src/storage/sqlite/sqlite_db.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

// What process `pid` has open or mapped that names control.db (its file, -wal, -shm).
std::vector<std::string> ControlDbHandles(pid_t pid) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string target = fs::read_symlink(fd.path(), ec).string();
    if (target.find("control.db") != std::string::npos) found.push_back("fd " + target);
  }
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("control.db") != std::string::npos) found.push_back("map " + line);
  }
  return found;
}

// Every regular file under `dir` that contains `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.find(needle) != std::string::npos) found.push_back(e.path().string());
  }
  return found;
}

std::string Str(const HttpReply& r, const char* field) {
  const json::value* v = r.json.is_object() ? r.json.as_object().if_contains(field) : nullptr;
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

// A user with a password and a login session (no second factor yet).
std::string NewUserSession(EdgeVaultUp& up, const std::string& email, const std::string& password) {
  HttpReply created = up.Json("auth", "POST", "/v1/users",
                              {{"email", email}, {"role", "developer"}, {"password", password}}, up.admin_key());
  EXPECT_EQ(created.status, 201) << created.body;
  HttpReply login = up.Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
  EXPECT_EQ(login.status, 200) << login.body;
  return Str(login, "session");
}

// Logs in with password and the TOTP code of `step`; returns the final answer.
HttpReply LoginWithTotp(EdgeVaultUp& up, const std::string& email, const std::string& password,
                        const std::string& secret, int64_t step) {
  HttpReply first = up.Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
  EXPECT_EQ(first.status, 200) << first.body;
  std::string mfa = Str(first, "mfa_token");
  EXPECT_FALSE(mfa.empty()) << "the login did not ask for a second factor: " << first.body;
  return up.Json("auth", "POST", "/v1/login/totp", {{"mfa_token", mfa}, {"code", crypto::TotpCode(secret, step)}});
}

TEST(ControlDbTest, TheApiServesWorkspacesWithoutOpeningControlDb) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  auto api = [&](std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up->Call("api", std::move(method), std::move(target), "", up->admin_key());
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  // Every workspace operation the api has: create, duplicate, list, get, unknown, an
  // environment and an item (entitlements), SDK keys.
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "shop"}}).status, 201);
  HttpReply dup = api("POST", "/v1/workspaces", json::object{{"key", "shop"}});
  EXPECT_EQ(dup.status, 409) << dup.body;
  HttpReply list = api("GET", "/v1/workspaces");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_NE(list.body.find("\"shop\""), std::string::npos) << list.body;
  EXPECT_EQ(api("GET", "/v1/workspaces/shop").status, 200);
  EXPECT_EQ(api("GET", "/v1/workspaces/nope").status, 404);
  ASSERT_EQ(api("POST", "/v1/workspaces/shop/environments",
                json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}}).status, 201);
  ASSERT_EQ(api("PUT", "/v1/workspaces/shop/configs/greeting",
                json::object{{"type", "string"}, {"values", {{"prod", "hi"}}}, {"reason", "setup"}}).status, 200);
  ASSERT_EQ(api("POST", "/v1/workspaces/shop/environments/prod/sdk-keys", json::object{}).status, 201);
  ASSERT_EQ(api("GET", "/v1/workspaces/shop/sdk-keys").status, 200);

  // The workspace limit still holds for parallel creates, now checked by auth: raise it
  // to one more than the org has and race eight creates for that place.
  {
    auto db = storage::SqliteDb::Open({.path = up->data_dir() + "/control.db"});
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec("UPDATE orgs SET max_workspaces = (SELECT COUNT(*) + 1 FROM workspaces)").ok());
  }
  std::atomic<int> created{0}, exceeded{0}, other{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 8; ++i) {
    racers.emplace_back([&, i] {
      HttpReply r = api("POST", "/v1/workspaces", json::object{{"key", base::StrCat("race", i)}});
      if (r.status == 201) {
        ++created;
      } else if (r.status == 403 && r.body.find("entitlement_exceeded") != std::string::npos) {
        ++exceeded;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : racers) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(exceeded.load(), 7);
  EXPECT_EQ(other.load(), 0);

  pid_t api_pid = up->ServicePid("api"), auth_pid = up->ServicePid("auth");
  ASSERT_GT(api_pid, 0);
  ASSERT_GT(auth_pid, 0);
  // Positive control: the probe sees auth's handles on control.db.
  EXPECT_FALSE(ControlDbHandles(auth_pid).empty()) << "the probe found nothing even in auth";
  std::vector<std::string> api_handles = ControlDbHandles(api_pid);
  EXPECT_TRUE(api_handles.empty()) << "edgevault-api has control.db open: " << api_handles.front();
  // And not the library that could: the api binary has no control-DB backend in it.
  auto backend_symbols = [](const std::string& binary) {
    return testing::RunShell("nm -C " + testing::BinDir() + "/" + binary + " | grep -c OpenSqliteControlStore").out;
  };
  EXPECT_NE(backend_symbols("edgevault-auth"), "0\n");  // positive control: symbols are there to find
  EXPECT_EQ(backend_symbols("edgevault-api"), "0\n");
}

TEST(ControlDbTest, AnEnrolledTotpSecretIsInNoFileOfTheDataDir) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  const std::string email = "totp@example.com", password = "integration password 2";
  std::string session = NewUserSession(*up, email, password);
  ASSERT_FALSE(session.empty());
  HttpReply enrolled = up->Call("auth", "POST", "/v1/mfa/totp/enroll", "", session);
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  std::string uri = Str(enrolled, "otpauth_uri");
  size_t at = uri.find("secret=");
  ASSERT_NE(at, std::string::npos) << uri;
  std::string b32 = uri.substr(at + 7, uri.find('&', at) - at - 7);
  absl::StatusOr<std::string> secret = base::Base32Decode(b32);
  ASSERT_TRUE(secret.ok()) << b32;
  ASSERT_EQ(secret->size(), 20u);
  int64_t step = crypto::TotpStep(absl::Now());
  HttpReply confirmed = up->Json("auth", "POST", "/v1/mfa/totp/confirm", {{"code", crypto::TotpCode(*secret, step)}},
                                 session);
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  // The factor works (the next step's code: the confirmed one is used up)...
  HttpReply login = LoginWithTotp(*up, email, password, *secret, step + 1);
  EXPECT_EQ(login.status, 200) << login.body;
  // ...and control.db (with its -wal and -shm), like every other file, never saw it.
  ASSERT_TRUE(fs::exists(up->data_dir() + "/control.db"));
  EXPECT_EQ(FilesContaining(up->data_dir(), *secret), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(up->data_dir(), b32), std::vector<std::string>{});
  // The seal key auth made: 0600 in a 0700 directory.
  std::string key = up->data_dir() + "/keys/auth/totp-seal.key";
  ASSERT_TRUE(fs::exists(key));
  EXPECT_EQ(fs::status(key).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(up->data_dir() + "/keys/auth").permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST(ControlDbTest, AuthSealsATotpSecretAnOlderVersionStoredInClearText) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  const std::string email = "legacy@example.com", password = "integration password 3";
  ASSERT_FALSE(NewUserSession(*up, email, password).empty());
  // The row as the old code path wrote it: the raw secret, confirmed, no sealed column.
  const std::string secret("legacy-raw-secret-20", 20);
  {
    auto db = storage::SqliteDb::Open({.path = up->data_dir() + "/control.db"});
    ASSERT_TRUE(db.ok()) << db.status();
    auto st = (*db)->Prepare("INSERT INTO totp (user_id, secret, confirmed, last_step, created_at) "
                             "SELECT id, ?, 1, -1, 0 FROM users WHERE email = ?");
    ASSERT_TRUE(st.ok()) << st.status();
    st->Bind(1, storage::Blob{secret}).Bind(2, email);
    ASSERT_TRUE(st->Run().ok());
  }
  ASSERT_FALSE(FilesContaining(up->data_dir(), secret).empty());  // positive control
  // auth restarts (as after an upgrade): `up` brings it back, and it seals the row.
  pid_t old_auth = up->ServicePid("auth");
  ASSERT_GT(old_auth, 0);
  ASSERT_EQ(::kill(old_auth, SIGKILL), 0);
  ASSERT_TRUE(testing::PollUntil([&] {
    pid_t now = up->ServicePid("auth");
    return now > 0 && now != old_auth;
  }, 30000));
  ASSERT_TRUE(up->WaitHealthy("auth"));
  {
    auto db = storage::SqliteDb::Open({.path = up->data_dir() + "/control.db"});
    ASSERT_TRUE(db.ok()) << db.status();
    auto st = (*db)->Prepare("SELECT sealed FROM totp");
    ASSERT_TRUE(st.ok()) << st.status();
    ASSERT_TRUE(*st->Step());
    EXPECT_EQ(st->ColumnInt64(0), 1);
  }
  EXPECT_EQ(FilesContaining(up->data_dir(), secret), std::vector<std::string>{});
  // The user's authenticator still works.
  HttpReply login = LoginWithTotp(*up, email, password, secret, crypto::TotpStep(absl::Now()));
  EXPECT_EQ(login.status, 200) << login.body;
}

}  // namespace
}  // namespace edgevault
