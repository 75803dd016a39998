// The ControlStore conformance suite on PostgreSQL (one fresh database per test on a
// server started once for this binary), plus what is particular to this backend.

#include "src/storage/postgres/control_store_postgres.h"

#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/storage/control_store_conformance.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/testing/test_sealer.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {
namespace {

base::SimulatedEnv* TestEnv() {
  static base::SimulatedEnv* env = new base::SimulatedEnv();
  return env;
}

std::unique_ptr<ControlStore> OpenAt(const std::string& url,
                                     const SecretSealer* sealer = testing::TestSealer::Get()) {
  auto store = OpenPostgresControlStore({.url = url, .env = TestEnv(), .totp_sealer = sealer});
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return std::move(*store);
}

std::unique_ptr<ControlStore> NewStore() {
  std::string url = NewPostgresTestDatabase();
  if (url.empty()) return nullptr;
  return OpenAt(url);
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_CONTROL_STORE_CONFORMANCE(Postgres, &NewStore)

namespace edgevault::storage {
namespace {

Org MakeOrg(std::string id, std::string name) {
  Org o;
  o.id = std::move(id);
  o.name = std::move(name);
  o.created_at = absl::FromUnixMicros(1'800'000'000'000'001);
  return o;
}

class PostgresControlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = NewPostgresTestDatabase();
    ASSERT_FALSE(url_.empty());
  }
  std::string url_;
};

TEST_F(PostgresControlStoreTest, ReopeningKeepsDataAndTheSchemaVersion) {
  {
    auto store = OpenAt(url_);
    ASSERT_NE(store, nullptr);
    EV_TEST_ASSERT_OK(store->CreateOrg(MakeOrg("o1", "default")));
  }
  auto store = OpenAt(url_);  // migrations must not re-run (CREATE TABLE would fail)
  ASSERT_NE(store, nullptr);
  EV_TEST_ASSIGN(Org org, store->GetOrg("o1"));
  EXPECT_EQ(org.created_at, absl::FromUnixMicros(1'800'000'000'000'001));
  EV_TEST_ASSIGN(auto conn, PgConnection::Connect({.url = url_}));
  EV_TEST_ASSIGN(int64_t version, PgSchemaVersion(*conn, "control"));
  EXPECT_EQ(version, static_cast<int64_t>(ControlPgMigrations().size()));
}

TEST_F(PostgresControlStoreTest, NewerSchemaIsRefused) {
  { ASSERT_NE(OpenAt(url_), nullptr); }
  EV_TEST_ASSIGN(auto conn, PgConnection::Connect({.url = url_}));
  EV_TEST_ASSERT_OK(
      conn->Exec("INSERT INTO schema_migrations (component, version) VALUES ('control', 999)"));
  auto store = OpenPostgresControlStore({.url = url_, .env = TestEnv()});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST_F(PostgresControlStoreTest, BadOptionsAreInvalidArgumentAndDownIsUnavailable) {
  EV_TEST_EXPECT_CODE(OpenPostgresControlStore({.url = "sqlite:/x.db", .env = TestEnv()}),
                      kInvalidArgument);
  EV_TEST_EXPECT_CODE(OpenPostgresControlStore({.url = url_, .env = nullptr}), kInvalidArgument);
  EV_TEST_EXPECT_CODE(
      OpenPostgresControlStore({.url = "postgres://u:pw@127.0.0.1:1/db", .env = TestEnv()}),
      kUnavailable);
}

TEST_F(PostgresControlStoreTest, StoresStartingTogetherMigrateOnce) {
  constexpr int kStores = 4;
  std::vector<absl::StatusOr<std::unique_ptr<ControlStore>>> stores(kStores);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      stores[i] = OpenPostgresControlStore({.url = url_, .env = TestEnv()});
    });
  }
  for (auto& t : threads) t.join();
  for (auto& s : stores) ASSERT_TRUE(s.ok()) << s.status();
  EV_TEST_ASSERT_OK((*stores[0])->CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_EXPECT_OK((*stores[3])->GetOrg("o1"));
}

TEST_F(PostgresControlStoreTest, SecondStoreSeesCommittedDataOnly) {
  auto a = OpenAt(url_);
  auto b = OpenAt(url_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EV_TEST_ASSERT_OK(a->CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_EXPECT_OK(b->GetOrg("o1"));
  absl::Status s = a->WithTransaction([&](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateOrg(MakeOrg("o2", "second")));
    EXPECT_EQ(b->GetOrg("o2").status().code(), absl::StatusCode::kNotFound);
    return absl::OkStatus();
  });
  EV_TEST_ASSERT_OK(s);
  EV_TEST_EXPECT_OK(b->GetOrg("o2"));
}

TEST_F(PostgresControlStoreTest, TransactionsOfTwoStoresAreSerialised) {
  // Two nodes on one database: read-modify-write transactions never lose an update.
  auto a = OpenAt(url_);
  auto b = OpenAt(url_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EV_TEST_ASSERT_OK(a->CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_ASSERT_OK(a->SetEntitlements("o1", Entitlements{.max_items = 0}));
  std::atomic<int> errors{0};
  auto bump = [&](ControlStore* store) {
    for (int i = 0; i < 20; ++i) {
      absl::Status s = store->WithTransaction([](ControlStore& tx) -> absl::Status {
        absl::StatusOr<Org> org = tx.GetOrg("o1");
        if (!org.ok()) return org.status();
        Entitlements e = org->entitlements;
        ++e.max_items;
        return tx.SetEntitlements("o1", e);
      });
      if (!s.ok()) ++errors;
    }
  };
  std::thread ta(bump, a.get()), tb(bump, b.get());
  ta.join();
  tb.join();
  EXPECT_EQ(errors.load(), 0);
  EV_TEST_ASSIGN(Org org, b->GetOrg("o1"));
  EXPECT_EQ(org.entitlements.max_items, 40);
}

TEST_F(PostgresControlStoreTest, CallingTheStoreInsideItsOwnTransactionFailsInsteadOfDeadlocking) {
  auto store = OpenAt(url_);
  ASSERT_NE(store, nullptr);
  absl::Status inner;
  absl::Status outer = store->WithTransaction([&](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateOrg(MakeOrg("o1", "default")));
    inner = store->CreateOrg(MakeOrg("o2", "second"));  // wrong: not through tx
    return absl::OkStatus();
  });
  EV_TEST_EXPECT_OK(outer);
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition) << inner;
  EV_TEST_EXPECT_OK(store->GetOrg("o1"));
  EV_TEST_EXPECT_CODE(store->GetOrg("o2"), kNotFound);
}

TEST_F(PostgresControlStoreTest, TotpSecretIsStoredOnlySealedAndNeedsTheSealer) {
  const std::string raw("RAW-TOTP-SECRET-\x01\x02\x03\xfe", 20);
  auto store = OpenAt(url_);
  ASSERT_NE(store, nullptr);
  EV_TEST_ASSERT_OK(store->CreateUser(User{.id = "u1", .email = "a@example.com"}));
  EV_TEST_ASSERT_OK(store->PutTotp(TotpState{.user_id = "u1", .secret = raw}));
  EV_TEST_ASSIGN(auto conn, PgConnection::Connect({.url = url_}));
  EV_TEST_ASSIGN(PgResult r, conn->Query("SELECT secret FROM totp WHERE user_id = 'u1'"));
  ASSERT_EQ(r.Rows(), 1);
  EXPECT_EQ(r.Bytes(0, 0), *testing::TestSealer::Get()->Seal(raw, "u1"));
  EXPECT_EQ(r.Bytes(0, 0).find(raw), std::string::npos);
  EV_TEST_ASSIGN(TotpState got, store->GetTotp("u1"));
  EXPECT_EQ(got.secret, raw);

  auto plain = OpenAt(url_, /*sealer=*/nullptr);
  ASSERT_NE(plain, nullptr);
  EV_TEST_EXPECT_CODE(plain->GetTotp("u1"), kFailedPrecondition);
  EV_TEST_EXPECT_CODE(plain->PutTotp(TotpState{.user_id = "u1", .secret = "x"}),
                      kFailedPrecondition);
  EV_TEST_EXPECT_OK(plain->ConfirmTotp("u1"));
}

TEST_F(PostgresControlStoreTest, TextWithANulByteIsInvalidArgumentNotTruncated) {
  auto store = OpenAt(url_);
  ASSERT_NE(store, nullptr);
  EV_TEST_EXPECT_CODE(store->CreateOrg(MakeOrg("o1", std::string("cut\0here", 8))),
                      kInvalidArgument);
  EV_TEST_EXPECT_CODE(store->GetOrgByName("cut"), kNotFound);
}

TEST_F(PostgresControlStoreTest, ALostConnectionIsUnavailableAndTheStoreRecovers) {
  auto store = OpenAt(url_);
  ASSERT_NE(store, nullptr);
  EV_TEST_ASSERT_OK(store->CreateOrg(MakeOrg("o1", "default")));
  // Terminate every connection of the store (as a server restart would).
  PostgresTestServer* server = PostgresTestServer::Shared();
  ASSERT_NE(server, nullptr);
  const std::string db = url_.substr(url_.rfind('/') + 1);
  EV_TEST_ASSERT_OK(server->Exec(
      "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '" + db +
      "' AND pid <> pg_backend_pid()"));
  // Idle connections are replaced before use; the store answers as before.
  EV_TEST_ASSIGN(Org org, store->GetOrg("o1"));
  EXPECT_EQ(org.name, "default");
}

}  // namespace
}  // namespace edgevault::storage
