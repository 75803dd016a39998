#include "tests/integration/other_org.h"

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/crypto/password.h"
#include "src/storage/sqlite/control_store_sqlite.h"

namespace edgevault::testing {

std::string TokenForOwnerOfAnotherOrg(EdgeVaultUp& up, const std::string& name) {
  auto control = storage::OpenSqliteControlStore({up.data_dir() + "/control.db", base::Env::Default()});
  EXPECT_TRUE(control.ok()) << control.status();
  if (!control.ok()) return "";
  const absl::Time now = absl::Now();
  storage::Org org{"org_" + name, name, {}, now};
  EXPECT_TRUE((*control)->CreateOrg(org).ok());
  const std::string email = name + "-owner@example.com", password = name + " owner password 1";
  storage::User u;
  u.id = "usr_" + name;
  u.email = email;
  u.password_hash = *crypto::HashPassword(password, crypto::PasswordParams::ForTests());
  u.created_at = now;
  EXPECT_TRUE((*control)->CreateUser(u).ok());
  EXPECT_TRUE((*control)->AddMembership({org.id, u.id, storage::Role::kOwner, now}).ok());
  HttpReply login = up.Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
  EXPECT_EQ(login.status, 200) << login.body;
  if (login.status != 200) return "";
  HttpReply token = up.Call("auth", "POST", "/v1/token", "", std::string(login.json.at("session").as_string()));
  EXPECT_EQ(token.status, 200) << token.body;
  return token.status == 200 ? std::string(token.json.at("token").as_string()) : "";
}

}  // namespace edgevault::testing
