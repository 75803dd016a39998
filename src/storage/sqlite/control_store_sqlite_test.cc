#include "src/storage/sqlite/control_store_sqlite.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/testing/test_sealer.h"
#include "src/storage/testing/test_util.h"
#include "src/storage/control_store_conformance.h"
#include "src/storage/sqlite/sqlite_db.h"

namespace edgevault::storage {
namespace {

namespace fs = std::filesystem;
using base::StrCat;

using testing::ScratchDir;

base::SimulatedEnv* TestEnv() {
  static base::SimulatedEnv* env = new base::SimulatedEnv();
  return env;
}

std::unique_ptr<ControlStore> NewStore() {
  auto store = OpenSqliteControlStore({.path = ScratchDir::Get()->NewPath("conformance", ".db"),
                                       .env = TestEnv(),
                                       .totp_sealer = testing::TestSealer::Get()});
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return std::move(*store);
}

// Registers the scratch directory's cleanup before any test runs.
[[maybe_unused]] const ScratchDir* const kScratch = ScratchDir::Get();

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_CONTROL_STORE_CONFORMANCE(Sqlite, &NewStore)

namespace edgevault::storage {
namespace {

uint32_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::unique_ptr<ControlStore> OpenAt(const std::string& path, const SecretSealer* sealer = nullptr) {
  auto store = OpenSqliteControlStore({.path = path, .env = TestEnv(), .totp_sealer = sealer});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

Org MakeOrg(std::string id, std::string name) {
  Org o;
  o.id = std::move(id);
  o.name = std::move(name);
  o.created_at = absl::FromUnixMicros(1'800'000'000'000'001);
  return o;
}

TEST(SqliteControlStoreTest, DataFileIsCreatedWithMode0600) {
  std::string path = ScratchDir::Get()->NewPath("mode", ".db");
  // A permissive umask must not leak into the file mode.
  mode_t old = ::umask(0);
  auto store = OpenAt(path);
  ::umask(old);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateOrg(MakeOrg("o1", "default")).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  ASSERT_TRUE(fs::exists(path + "-wal"));  // WAL mode, open connection
  EXPECT_EQ(ModeOf(path + "-wal"), 0600u);
  ASSERT_TRUE(fs::exists(path + "-shm"));
  EXPECT_EQ(ModeOf(path + "-shm"), 0600u);
}

TEST(SqliteControlStoreTest, ReopeningKeepsDataAndTheSchemaVersion) {
  std::string path = ScratchDir::Get()->NewPath("reopen", ".db");
  {
    auto store = OpenAt(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateOrg(MakeOrg("o1", "default")).ok());
  }
  {
    auto store = OpenAt(path);  // migrations must not re-run (CREATE TABLE would fail)
    ASSERT_NE(store, nullptr);
    auto org = store->GetOrg("o1");
    ASSERT_TRUE(org.ok()) << org.status();
    EXPECT_EQ(org->name, "default");
    EXPECT_EQ(org->created_at, absl::FromUnixMicros(1'800'000'000'000'001));
  }
  auto db = SqliteDb::Open({.path = path});
  ASSERT_TRUE(db.ok());
  auto version = (*db)->UserVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, static_cast<int64_t>(ControlDbMigrations().size()));
  EXPECT_GE(*version, 1);
}

TEST(SqliteControlStoreTest, NewerSchemaIsRefused) {
  std::string path = ScratchDir::Get()->NewPath("newer", ".db");
  { ASSERT_NE(OpenAt(path), nullptr); }
  {
    auto db = SqliteDb::Open({.path = path});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 999").ok());
  }
  auto store = OpenSqliteControlStore({.path = path, .env = TestEnv()});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST(SqliteControlStoreTest, BadOptionsAreInvalidArgument) {
  EXPECT_EQ(OpenSqliteControlStore({.path = "", .env = TestEnv()}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenSqliteControlStore({.path = ScratchDir::Get()->NewPath("noenv", ".db"), .env = nullptr})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SqliteControlStoreTest, SecondConnectionSeesCommittedDataOnly) {
  std::string path = ScratchDir::Get()->NewPath("shared", ".db");
  auto a = OpenAt(path);
  auto b = OpenAt(path);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->CreateOrg(MakeOrg("o1", "default")).ok());
  EXPECT_TRUE(b->GetOrg("o1").ok());

  // While a's transaction is open, b sees the state before it (WAL snapshot isolation).
  absl::Status s = a->WithTransaction([&](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateOrg(MakeOrg("o2", "second")));
    EXPECT_EQ(b->GetOrg("o2").status().code(), absl::StatusCode::kNotFound);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(b->GetOrg("o2").ok());
  // And b's writes reach a.
  ASSERT_TRUE(b->SetEntitlements("o2", Entitlements{.max_workspaces = 2}).ok());
  auto org = a->GetOrg("o2");
  ASSERT_TRUE(org.ok());
  EXPECT_EQ(org->entitlements.max_workspaces, 2);
}

TEST(SqliteControlStoreTest, TwoConnectionsRaceForOneTotpStep) {
  // Atomicity across connections (processes), not just across threads of one store.
  std::string path = ScratchDir::Get()->NewPath("race", ".db");
  auto a = OpenAt(path, testing::TestSealer::Get());
  auto b = OpenAt(path, testing::TestSealer::Get());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  User u;
  u.id = "u1";
  u.email = "a@example.com";
  ASSERT_TRUE(a->CreateUser(u).ok());
  ASSERT_TRUE(a->PutTotp(TotpState{.user_id = "u1", .secret = "s"}).ok());
  for (int64_t step = 1; step <= 20; ++step) {
    std::atomic<int> wins{0}, errors{0};
    std::thread ta([&] {
      auto r = a->AdvanceTotpStep("u1", step);
      if (!r.ok())
        ++errors;
      else if (*r)
        ++wins;
    });
    std::thread tb([&] {
      auto r = b->AdvanceTotpStep("u1", step);
      if (!r.ok())
        ++errors;
      else if (*r)
        ++wins;
    });
    ta.join();
    tb.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(wins.load(), 1) << "step " << step;
  }
}

TEST(SqliteControlStoreTest, CallingTheStoreInsideItsOwnTransactionFailsInsteadOfDeadlocking) {
  auto store = OpenAt(ScratchDir::Get()->NewPath("reentrant", ".db"));
  ASSERT_NE(store, nullptr);
  absl::Status inner;
  absl::Status outer = store->WithTransaction([&](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateOrg(MakeOrg("o1", "default")));
    inner = store->CreateOrg(MakeOrg("o2", "second"));  // wrong: not through tx
    return absl::OkStatus();
  });
  EXPECT_TRUE(outer.ok()) << outer;
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition) << inner;
  EXPECT_TRUE(store->GetOrg("o1").ok());
  EXPECT_EQ(store->GetOrg("o2").status().code(), absl::StatusCode::kNotFound);
}

TEST(SqliteControlStoreTest, ExpiredChallengesAreSweptByTake) {
  std::string path = ScratchDir::Get()->NewPath("sweep", ".db");
  auto store = OpenAt(path);
  ASSERT_NE(store, nullptr);
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_TRUE(store->PutChallenge({.id = "old", .kind = "mfa", .expires_at = t0}).ok());
  ASSERT_TRUE(
      store->PutChallenge({.id = "live", .kind = "mfa", .expires_at = t0 + absl::Hours(1)}).ok());
  EXPECT_FALSE(store->TakeChallenge("other", "mfa", t0 + absl::Seconds(1)).ok());
  auto db = SqliteDb::Open({.path = path});
  ASSERT_TRUE(db.ok());
  auto st = (*db)->Prepare("SELECT id FROM challenges ORDER BY id");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnText(0), "live");
  EXPECT_FALSE(*st->Step());
}

}  // namespace
}  // namespace edgevault::storage

// ---- TOTP secrets at rest (issue 12 item 4: they sat in control.db in clear text) -------

namespace edgevault::storage {
namespace {

// Every byte of the database file and its WAL.
std::string FileBytes(const std::string& path) {
  std::string all;
  for (const std::string& p : {path, path + "-wal"}) {
    std::ifstream in(p, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), {});
  }
  return all;
}

const std::string kRawSecret("RAW-TOTP-SECRET-\x01\x02\x03\xfe", 20);

TEST(SqliteControlStoreTest, TotpSecretIsStoredOnlySealed) {
  std::string path = ScratchDir::Get()->NewPath("sealed", ".db");
  auto store = OpenSqliteControlStore({.path = path, .env = TestEnv(), .totp_sealer = testing::TestSealer::Get()});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateUser(User{.id = "u1", .email = "a@example.com"}).ok());
  ASSERT_TRUE((*store)->PutTotp(TotpState{.user_id = "u1", .secret = kRawSecret}).ok());
  auto db = SqliteDb::Open({.path = path});
  ASSERT_TRUE(db.ok());
  auto st = (*db)->Prepare("SELECT secret, sealed FROM totp WHERE user_id = 'u1'");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnBlob(0), *testing::TestSealer::Get()->Seal(kRawSecret, "u1"));
  EXPECT_EQ(st->ColumnInt64(1), 1);
  EXPECT_EQ(FileBytes(path).find(kRawSecret), std::string::npos);
  auto got = (*store)->GetTotp("u1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->secret, kRawSecret);
}

TEST(SqliteControlStoreTest, WithoutASealerNoTotpSecretIsWrittenOrOpened) {
  std::string path = ScratchDir::Get()->NewPath("nosealer", ".db");
  {
    auto sealed = OpenSqliteControlStore({.path = path, .env = TestEnv(), .totp_sealer = testing::TestSealer::Get()});
    ASSERT_TRUE(sealed.ok());
    ASSERT_TRUE((*sealed)->CreateUser(User{.id = "u1", .email = "a@example.com"}).ok());
    ASSERT_TRUE((*sealed)->PutTotp(TotpState{.user_id = "u1", .secret = kRawSecret}).ok());
  }
  auto store = OpenAt(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetTotp("u1").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->PutTotp(TotpState{.user_id = "u1", .secret = "x"}).code(),
            absl::StatusCode::kFailedPrecondition);
  auto confirmed = store->ConfirmTotp("u1");  // state without the secret still works
  EXPECT_TRUE(confirmed.ok()) << confirmed;
}

// A control.db from before schema step 3 (the secret stored raw by the old code path) is
// sealed, in one transaction, when a store with a sealer opens it; the raw bytes are then
// in neither the database file nor its WAL.
TEST(SqliteControlStoreTest, OpeningWithASealerSealsRawSecretsFromOlderVersions) {
  std::string path = ScratchDir::Get()->NewPath("legacy", ".db");
  {
    auto db = SqliteDb::Open({.path = path, .create_mode = 0600});
    ASSERT_TRUE(db.ok());
    std::vector<std::string> old_steps(ControlDbMigrations().begin(), ControlDbMigrations().begin() + 2);
    ASSERT_TRUE(Migrate(**db, old_steps).ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO users VALUES ('u1', 'a@example.com', 'A', '', 0, 0, 1)").ok());
    auto st = (*db)->Prepare("INSERT INTO totp (user_id, secret, confirmed, last_step, created_at) "
                             "VALUES ('u1', ?, 1, 7, 1)");
    ASSERT_TRUE(st.ok());
    st->Bind(1, Blob{kRawSecret});
    ASSERT_TRUE(st->Run().ok());
  }
  ASSERT_NE(FileBytes(path).find(kRawSecret), std::string::npos);  // positive control
  {
    // A tool without the key still reads the old row as it was (and changes nothing).
    auto plain = OpenAt(path);
    ASSERT_NE(plain, nullptr);
    auto got = plain->GetTotp("u1");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->secret, kRawSecret);
  }
  auto store = OpenSqliteControlStore({.path = path, .env = TestEnv(), .totp_sealer = testing::TestSealer::Get()});
  ASSERT_TRUE(store.ok()) << store.status();
  auto got = (*store)->GetTotp("u1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->secret, kRawSecret);
  EXPECT_TRUE(got->confirmed);
  EXPECT_EQ(got->last_step, 7);
  auto db = SqliteDb::Open({.path = path});
  ASSERT_TRUE(db.ok());
  auto st = (*db)->Prepare("SELECT sealed FROM totp WHERE user_id = 'u1'");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnInt64(0), 1);
  EXPECT_EQ(FileBytes(path).find(kRawSecret), std::string::npos);
}

}  // namespace
}  // namespace edgevault::storage
