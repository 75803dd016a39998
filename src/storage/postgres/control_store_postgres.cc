#include "src/storage/postgres/control_store_postgres.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/control_store_common.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/pg_transfer.h"

namespace edgevault::storage {

// The schema, one string per migration step (docs/design/postgres-schema.md, "Control
// DB"): the SQLite schema of docs/design/control-db.md with BOOLEAN for 0/1 integers,
// BYTEA for blobs and byte-order ("C") collation on text, so ORDER BY matches SQLite's.
// TOTP secrets are sealed from the start (no raw rows from older versions exist here).
// Never edit a released step: append a new one.
const std::vector<std::string>& ControlPgMigrations() {
  static const std::vector<std::string>* const kSteps = new std::vector<std::string>{
      // 1: the schema of SQLite step 3.
      R"sql(
CREATE TABLE orgs (
  id               TEXT COLLATE "C" PRIMARY KEY,
  name             TEXT COLLATE "C" NOT NULL UNIQUE,
  max_workspaces   BIGINT NOT NULL,
  max_environments BIGINT NOT NULL,
  max_items        BIGINT NOT NULL,
  created_at       BIGINT NOT NULL
);
CREATE TABLE users (
  id                   TEXT COLLATE "C" PRIMARY KEY,
  email                TEXT COLLATE "C" NOT NULL UNIQUE,
  display_name         TEXT COLLATE "C" NOT NULL,
  password_hash        TEXT COLLATE "C" NOT NULL,
  disabled             BOOLEAN NOT NULL,
  must_change_password BOOLEAN NOT NULL,
  created_at           BIGINT NOT NULL
);
CREATE TABLE memberships (
  org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
  user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
  role       TEXT COLLATE "C" NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);
CREATE TABLE sessions (
  token_hash          TEXT COLLATE "C" PRIMARY KEY,
  user_id             TEXT COLLATE "C" NOT NULL REFERENCES users (id),
  org_id              TEXT COLLATE "C" NOT NULL,
  created_at          BIGINT NOT NULL,
  last_seen_at        BIGINT NOT NULL,
  idle_expires_at     BIGINT NOT NULL,
  absolute_expires_at BIGINT NOT NULL,
  client_address      TEXT COLLATE "C" NOT NULL,
  user_agent          TEXT COLLATE "C" NOT NULL,
  auth_methods        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX sessions_by_user_org ON sessions (user_id, org_id);
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at);
CREATE INDEX sessions_by_absolute_expiry ON sessions (absolute_expires_at);
CREATE TABLE api_keys (
  id           TEXT COLLATE "C" PRIMARY KEY,
  key_hash     TEXT COLLATE "C" NOT NULL UNIQUE,
  prefix       TEXT COLLATE "C" NOT NULL,
  org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
  created_by   TEXT COLLATE "C" NOT NULL,
  name         TEXT COLLATE "C" NOT NULL,
  scopes_json  TEXT COLLATE "C" NOT NULL,
  role         TEXT COLLATE "C" NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT,
  last_used_at BIGINT,
  revoked_at   BIGINT
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at);
CREATE TABLE workspaces (
  id         TEXT COLLATE "C" PRIMARY KEY,
  org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
  key        TEXT COLLATE "C" NOT NULL,
  name       TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (org_id, key),
  UNIQUE (org_id, id)
);
CREATE TABLE sdk_keys (
  id           TEXT COLLATE "C" PRIMARY KEY,
  key_hash     TEXT COLLATE "C" NOT NULL UNIQUE,
  prefix       TEXT COLLATE "C" NOT NULL,
  org_id       TEXT COLLATE "C" NOT NULL,
  workspace_id TEXT COLLATE "C" NOT NULL,
  environment  TEXT COLLATE "C" NOT NULL,
  name         TEXT COLLATE "C" NOT NULL,
  created_by   TEXT COLLATE "C" NOT NULL,
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at   BIGINT,
  FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sdk_keys_by_workspace ON sdk_keys (org_id, workspace_id, created_at);
CREATE TABLE totp (
  user_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id),
  secret     BYTEA NOT NULL,
  confirmed  BOOLEAN NOT NULL,
  last_step  BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE recovery_codes (
  user_id   TEXT COLLATE "C" NOT NULL REFERENCES users (id),
  code_hash TEXT COLLATE "C" NOT NULL,
  used_at   BIGINT,
  PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE passkeys (
  credential_id                 BYTEA PRIMARY KEY,
  user_id                       TEXT COLLATE "C" NOT NULL REFERENCES users (id),
  public_key_cose               BYTEA NOT NULL,
  algorithm                     INTEGER NOT NULL,
  sign_count                    BIGINT NOT NULL,
  name                          TEXT COLLATE "C" NOT NULL,
  aaguid                        BYTEA NOT NULL,
  user_verified_at_registration BOOLEAN NOT NULL,
  created_at                    BIGINT NOT NULL,
  last_used_at                  BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);
CREATE TABLE challenges (
  id         TEXT COLLATE "C" PRIMARY KEY,
  kind       TEXT COLLATE "C" NOT NULL,
  user_id    TEXT COLLATE "C" NOT NULL,
  payload    BYTEA NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);
CREATE TABLE outbox (
  id         TEXT COLLATE "C" PRIMARY KEY,
  json       TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at, id);
CREATE TABLE invitations (
  id              TEXT COLLATE "C" PRIMARY KEY,
  org_id          TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
  email           TEXT COLLATE "C" NOT NULL,
  role            TEXT COLLATE "C" NOT NULL
                  CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
  invited_by      TEXT COLLATE "C" NOT NULL,
  creates_account BOOLEAN NOT NULL,
  status          TEXT COLLATE "C" NOT NULL
                  CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
  created_at      BIGINT NOT NULL,
  expires_at      BIGINT NOT NULL,
  responded_at    BIGINT
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (org_id, email)
  WHERE status = 'pending';
CREATE INDEX invitations_by_email ON invitations (email, status, created_at);
CREATE INDEX invitations_by_org ON invitations (org_id, status, created_at);
)sql",
      // 2: the schema of SQLite step 4: client SDK keys (kind, browser origins).
      R"sql(
ALTER TABLE sdk_keys ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'server'
  CHECK (kind IN ('server', 'client'));
ALTER TABLE sdk_keys ADD COLUMN origins_json TEXT COLLATE "C" NOT NULL DEFAULT '[]';
)sql",
      // 3: the schema of SQLite step 5: workspaces deleted with a grace period.
      R"sql(
ALTER TABLE workspaces ADD COLUMN deleted_at BIGINT;
ALTER TABLE workspaces ADD COLUMN purge_after BIGINT;
CREATE INDEX workspaces_by_purge_after ON workspaces (purge_after) WHERE purge_after IS NOT NULL;
)sql",
  };
  return *kSteps;
}

namespace {

using base::StrCat;
using control_internal::FromMicros;
using control_internal::Micros;
using control_internal::NoTotpSealer;
using control_internal::NotFound;
using control_internal::OptMicros;
using control_internal::OptTime;

// The control DB's writer lock (pg_advisory_xact_lock): every transaction of this store
// takes it first, so transactions are serialised as SQLite's BEGIN IMMEDIATE serialises
// them. "EVCTLWRT".
constexpr int64_t kControlWriterLockKey = 0x4556'4354'4c57'5254;

// The store whose WithTransaction is running on this thread, if any: a call on that store
// (rather than on the ControlStore& passed to the function) would wait for the writer lock
// the thread itself holds.
thread_local const void* tls_in_transaction_of = nullptr;

// Column lists, shared by the SELECTs and the row readers below (same order).
#define EV_ORG_COLUMNS "id, name, max_workspaces, max_environments, max_items, created_at"
#define EV_USER_COLUMNS \
  "id, email, display_name, password_hash, disabled, must_change_password, created_at"
#define EV_MEMBERSHIP_COLUMNS "org_id, user_id, role, created_at"
#define EV_SESSION_COLUMNS                                                   \
  "token_hash, user_id, org_id, created_at, last_seen_at, idle_expires_at, " \
  "absolute_expires_at, client_address, user_agent, auth_methods"
#define EV_API_KEY_COLUMNS                                                          \
  "id, key_hash, prefix, org_id, created_by, name, scopes_json, role, created_at, " \
  "expires_at, last_used_at, revoked_at"
#define EV_SDK_KEY_COLUMNS                                                      \
  "id, key_hash, prefix, org_id, workspace_id, environment, name, created_by, " \
  "created_at, last_used_at, revoked_at, kind, origins_json"
#define EV_WORKSPACE_COLUMNS "id, org_id, key, name, created_at"
#define EV_WORKSPACE_READ_COLUMNS EV_WORKSPACE_COLUMNS ", deleted_at, purge_after"
#define EV_TOTP_COLUMNS "user_id, secret, confirmed, last_step, created_at"
#define EV_PASSKEY_COLUMNS                                                         \
  "credential_id, user_id, public_key_cose, algorithm, sign_count, name, aaguid, " \
  "user_verified_at_registration, created_at, last_used_at"
#define EV_CHALLENGE_COLUMNS "id, kind, user_id, payload, expires_at"
#define EV_OUTBOX_COLUMNS "id, json, created_at"
#define EV_INVITATION_COLUMNS                                                  \
  "id, org_id, email, role, invited_by, creates_account, status, created_at, " \
  "expires_at, responded_at"

absl::Time TimeAt(const PgResult& r, int row, int col) { return FromMicros(r.Int64(row, col)); }
std::optional<absl::Time> OptTimeAt(const PgResult& r, int row, int col) {
  return OptTime(r.OptionalInt64(row, col));
}

Org ReadOrg(const PgResult& r, int i) {
  Org o;
  o.id = r.String(i, 0);
  o.name = r.String(i, 1);
  o.entitlements.max_workspaces = r.Int64(i, 2);
  o.entitlements.max_environments = r.Int64(i, 3);
  o.entitlements.max_items = r.Int64(i, 4);
  o.created_at = TimeAt(r, i, 5);
  return o;
}

User ReadUser(const PgResult& r, int i) {
  User u;
  u.id = r.String(i, 0);
  u.email = r.String(i, 1);
  u.display_name = r.String(i, 2);
  u.password_hash = r.String(i, 3);
  u.disabled = r.Bool(i, 4);
  u.must_change_password = r.Bool(i, 5);
  u.created_at = TimeAt(r, i, 6);
  return u;
}

absl::StatusOr<Membership> ReadMembership(const PgResult& r, int i) {
  Membership m;
  m.org_id = r.String(i, 0);
  m.user_id = r.String(i, 1);
  EV_ASSIGN_OR_RETURN(m.role, control_internal::ParseStoredRole(r.Text(i, 2)));
  m.created_at = TimeAt(r, i, 3);
  return m;
}

Session ReadSession(const PgResult& r, int i) {
  Session s;
  s.token_hash = r.String(i, 0);
  s.user_id = r.String(i, 1);
  s.org_id = r.String(i, 2);
  s.created_at = TimeAt(r, i, 3);
  s.last_seen_at = TimeAt(r, i, 4);
  s.idle_expires_at = TimeAt(r, i, 5);
  s.absolute_expires_at = TimeAt(r, i, 6);
  s.client_address = r.String(i, 7);
  s.user_agent = r.String(i, 8);
  s.auth_methods = r.String(i, 9);
  return s;
}

absl::StatusOr<ApiKey> ReadApiKey(const PgResult& r, int i) {
  ApiKey k;
  k.id = r.String(i, 0);
  k.key_hash = r.String(i, 1);
  k.prefix = r.String(i, 2);
  k.org_id = r.String(i, 3);
  k.created_by = r.String(i, 4);
  k.name = r.String(i, 5);
  EV_ASSIGN_OR_RETURN(k.scopes, control_internal::ScopesFromJson(r.String(i, 6)));
  EV_ASSIGN_OR_RETURN(k.role, control_internal::ParseStoredRole(r.Text(i, 7)));
  k.created_at = TimeAt(r, i, 8);
  k.expires_at = OptTimeAt(r, i, 9);
  k.last_used_at = OptTimeAt(r, i, 10);
  k.revoked_at = OptTimeAt(r, i, 11);
  return k;
}

absl::StatusOr<SdkKey> ReadSdkKey(const PgResult& r, int i) {
  SdkKey k;
  k.id = r.String(i, 0);
  k.key_hash = r.String(i, 1);
  k.prefix = r.String(i, 2);
  k.org_id = r.String(i, 3);
  k.workspace_id = r.String(i, 4);
  k.environment = r.String(i, 5);
  k.name = r.String(i, 6);
  k.created_by = r.String(i, 7);
  k.created_at = TimeAt(r, i, 8);
  k.last_used_at = OptTimeAt(r, i, 9);
  k.revoked_at = OptTimeAt(r, i, 10);
  EV_ASSIGN_OR_RETURN(k.kind, control_internal::ParseStoredSdkKeyKind(r.Text(i, 11)));
  EV_ASSIGN_OR_RETURN(k.origins, control_internal::ScopesFromJson(r.String(i, 12)));
  return k;
}

Workspace ReadWorkspace(const PgResult& r, int i) {
  Workspace w;
  w.id = r.String(i, 0);
  w.org_id = r.String(i, 1);
  w.key = r.String(i, 2);
  w.name = r.String(i, 3);
  w.created_at = TimeAt(r, i, 4);
  w.deleted_at = OptTimeAt(r, i, 5);
  w.purge_after = OptTimeAt(r, i, 6);
  return w;
}

PasskeyCredential ReadPasskey(const PgResult& r, int i) {
  PasskeyCredential c;
  c.credential_id = r.Bytes(i, 0);
  c.user_id = r.String(i, 1);
  c.public_key_cose = r.Bytes(i, 2);
  c.algorithm = static_cast<int32_t>(r.Int64(i, 3));
  c.sign_count = static_cast<uint32_t>(r.Int64(i, 4));
  c.name = r.String(i, 5);
  c.aaguid = r.Bytes(i, 6);
  c.user_verified_at_registration = r.Bool(i, 7);
  c.created_at = TimeAt(r, i, 8);
  c.last_used_at = OptTimeAt(r, i, 9);
  return c;
}

Challenge ReadChallenge(const PgResult& r, int i) {
  return Challenge{.id = r.String(i, 0),
                   .kind = r.String(i, 1),
                   .user_id = r.String(i, 2),
                   .payload = r.Bytes(i, 3),
                   .expires_at = TimeAt(r, i, 4)};
}

absl::StatusOr<Invitation> ReadInvitation(const PgResult& r, int i) {
  Invitation inv;
  inv.id = r.String(i, 0);
  inv.org_id = r.String(i, 1);
  inv.email = r.String(i, 2);
  EV_ASSIGN_OR_RETURN(inv.role, control_internal::ParseStoredRole(r.Text(i, 3)));
  inv.invited_by = r.String(i, 4);
  inv.creates_account = r.Bool(i, 5);
  EV_ASSIGN_OR_RETURN(inv.status, control_internal::ParseStoredInvitationStatus(r.Text(i, 6)));
  inv.created_at = TimeAt(r, i, 7);
  inv.expires_at = TimeAt(r, i, 8);
  inv.responded_at = OptTimeAt(r, i, 9);
  return inv;
}

OutboxEvent ReadOutbox(const PgResult& r, int i) {
  return OutboxEvent{.id = r.String(i, 0), .json = r.String(i, 1), .created_at = TimeAt(r, i, 2)};
}

template <typename T, typename Reader>
absl::StatusOr<std::vector<T>> ReadAll(const PgResult& r, Reader read) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(r.Rows()));
  for (int i = 0; i < r.Rows(); ++i) {
    if constexpr (std::is_same_v<decltype(read(r, i)), T>) {
      out.push_back(read(r, i));
    } else {
      EV_ASSIGN_OR_RETURN(T item, read(r, i));
      out.push_back(std::move(item));
    }
  }
  return out;
}

// Every query of the store. The store itself is the autocommit view over the pool
// (conn_ == null); WithTransaction hands the function a view bound to the one connection
// of its transaction, where each call runs in a savepoint (so a failed call does not
// doom the transaction, as with SQLite).
class PgControlQueries final : public ControlStore {
 public:
  PgControlQueries(PgPool* pool, PgConnection* conn, bool savepoint_per_call, base::Env* env,
                   const SecretSealer* totp_sealer, const void* store)
      : pool_(pool),
        conn_(conn),
        savepoint_per_call_(savepoint_per_call),
        env_(env),
        totp_sealer_(totp_sealer),
        store_(store == nullptr ? this : store) {}

  // The top-level store owns its pool.
  void Own(std::unique_ptr<PgPool> pool) { owned_pool_ = std::move(pool); }

  // ---- Transfer (edgevault migrate): on the store itself, on the pool ----

  absl::StatusOr<int64_t> CountRows(std::string_view table) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, TransferTableOutsideTransaction(table));
    return PgCountRows(*pool_, *t, {});
  }
  absl::StatusOr<std::vector<TransferRow>> ExportRows(std::string_view table, int64_t offset,
                                                      int limit) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, TransferTableOutsideTransaction(table));
    return PgExportRows(*pool_, *t, {}, offset, limit);
  }
  absl::StatusOr<int64_t> ImportRows(std::string_view table,
                                     const std::vector<TransferRow>& rows) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, TransferTableOutsideTransaction(table));
    static const std::string kLock =
        StrCat("SELECT pg_advisory_xact_lock(", kControlWriterLockKey, ")");
    return PgImportRows(*pool_, *t, {.import_lock_sql = kLock}, rows);
  }

  absl::Status WithTransaction(std::function<absl::Status(ControlStore& tx)> fn) override {
    if (conn_ != nullptr) return InSavepoint([&] { return fn(*this); });
    EV_RETURN_IF_ERROR(NotInsideOwnTransaction());
    // No retry: `fn` is the caller's and may have effects outside the database. With the
    // writer lock taken first, transactions cannot deadlock with each other.
    return pool_->InTransaction(
        [&](PgConnection& c) -> absl::Status {
          EV_RETURN_IF_ERROR(LockWriters(c));
          PgControlQueries tx(pool_, &c, /*savepoint_per_call=*/true, env_, totp_sealer_, store_);
          const void* previous = tls_in_transaction_of;
          tls_in_transaction_of = store_;
          absl::Status status = fn(tx);
          tls_in_transaction_of = previous;
          return status;
        },
        PgIsolation::kReadCommitted, /*max_attempts=*/1);
  }

  // ---- Orgs ----

  absl::Status CreateOrg(const Org& org) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(org));
    return Run("INSERT INTO orgs (" EV_ORG_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6)",
               {org.id, org.name, org.entitlements.max_workspaces,
                org.entitlements.max_environments, org.entitlements.max_items,
                Micros(org.created_at)});
  }

  absl::StatusOr<Org> GetOrg(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_ORG_COLUMNS " FROM orgs WHERE id = $1", {id}));
    if (r.Rows() == 0) return NotFound("org", id);
    return ReadOrg(r, 0);
  }

  absl::StatusOr<Org> GetOrgByName(std::string_view name) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        Q("SELECT " EV_ORG_COLUMNS " FROM orgs WHERE name = $1", {name}));
    if (r.Rows() == 0) return NotFound("org named", name);
    return ReadOrg(r, 0);
  }

  absl::Status SetEntitlements(std::string_view org_id, const Entitlements& e) override {
    return ExpectChanged("UPDATE orgs SET max_workspaces = $1, max_environments = $2, "
                         "max_items = $3 WHERE id = $4",
                         {e.max_workspaces, e.max_environments, e.max_items, org_id}, "org",
                         org_id);
  }

  absl::StatusOr<int64_t> CountUsers() override { return Count("SELECT COUNT(*) FROM users", {}); }

  // ---- Users ----

  absl::Status CreateUser(const User& user) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(user));
    return Run("INSERT INTO users (" EV_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
               {user.id, user.email, user.display_name, user.password_hash, user.disabled,
                user.must_change_password, Micros(user.created_at)});
  }

  absl::StatusOr<User> GetUser(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        Q("SELECT " EV_USER_COLUMNS " FROM users WHERE id = $1", {id}));
    if (r.Rows() == 0) return NotFound("user", id);
    return ReadUser(r, 0);
  }

  absl::StatusOr<User> GetUserByEmail(std::string_view email) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        Q("SELECT " EV_USER_COLUMNS " FROM users WHERE email = $1", {email}));
    // The message does not echo the address: it may end up in a response or a log.
    if (r.Rows() == 0) return absl::NotFoundError("no user with that email");
    return ReadUser(r, 0);
  }

  absl::Status UpdatePassword(std::string_view user_id, std::string_view hash,
                              bool must_change_password) override {
    return ExpectChanged(
        "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3",
        {hash, must_change_password, user_id}, "user", user_id);
  }

  absl::Status SetUserDisabled(std::string_view user_id, bool disabled) override {
    return ExpectChanged("UPDATE users SET disabled = $1 WHERE id = $2", {disabled, user_id},
                         "user", user_id);
  }

  // ---- Memberships ----

  absl::Status AddMembership(const Membership& m) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(m));
    return Run("INSERT INTO memberships (" EV_MEMBERSHIP_COLUMNS ") VALUES ($1, $2, $3, $4)",
               {m.org_id, m.user_id, RoleName(m.role), Micros(m.created_at)});
  }

  absl::StatusOr<Membership> GetMembership(std::string_view org_id,
                                           std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_MEMBERSHIP_COLUMNS " FROM memberships "
                                      "WHERE org_id = $1 AND user_id = $2",
                                      {org_id, user_id}));
    if (r.Rows() == 0) return MembershipNotFound(org_id, user_id);
    return ReadMembership(r, 0);
  }

  absl::StatusOr<std::vector<Membership>> ListMembers(std::string_view org_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_MEMBERSHIP_COLUMNS " FROM memberships "
                                      "WHERE org_id = $1 ORDER BY created_at, user_id",
                                      {org_id}));
    return ReadAll<Membership>(r, ReadMembership);
  }

  absl::StatusOr<std::vector<Membership>> ListMembershipsOfUser(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_MEMBERSHIP_COLUMNS " FROM memberships "
                                      "WHERE user_id = $1 ORDER BY created_at, org_id",
                                      {user_id}));
    return ReadAll<Membership>(r, ReadMembership);
  }

  absl::Status UpdateRole(std::string_view org_id, std::string_view user_id, Role role) override {
    EV_RETURN_IF_ERROR(control_internal::RequireRole(role));
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3",
                          {RoleName(role), org_id, user_id}));
    if (changed == 0) return MembershipNotFound(org_id, user_id);
    return absl::OkStatus();
  }

  absl::Status RemoveMembership(std::string_view org_id, std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
                          {org_id, user_id}));
    if (changed == 0) return MembershipNotFound(org_id, user_id);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> CountMembersWithRole(std::string_view org_id, Role role) override {
    EV_RETURN_IF_ERROR(control_internal::RequireRole(role));
    return Count("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = $2",
                 {org_id, RoleName(role)});
  }

  // ---- Sessions ----

  absl::Status CreateSession(const Session& s) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(s));
    return Run("INSERT INTO sessions (" EV_SESSION_COLUMNS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
               {s.token_hash, s.user_id, s.org_id, Micros(s.created_at), Micros(s.last_seen_at),
                Micros(s.idle_expires_at), Micros(s.absolute_expires_at), s.client_address,
                s.user_agent, s.auth_methods});
  }

  absl::StatusOr<Session> GetSession(std::string_view token_hash) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_SESSION_COLUMNS
                                      " FROM sessions WHERE token_hash = $1",
                                      {token_hash}));
    if (r.Rows() == 0) return absl::NotFoundError("session not found");
    return ReadSession(r, 0);
  }

  absl::Status TouchSession(std::string_view token_hash, absl::Time last_seen_at,
                            absl::Time idle_expires_at) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 "
                          "WHERE token_hash = $3",
                          {Micros(last_seen_at), Micros(idle_expires_at), token_hash}));
    if (changed == 0) return absl::NotFoundError("session not found");
    return absl::OkStatus();
  }

  absl::Status DeleteSession(std::string_view token_hash) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("DELETE FROM sessions WHERE token_hash = $1", {token_hash}));
    if (changed == 0) return absl::NotFoundError("session not found");
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> DeleteSessionsOfUser(std::string_view user_id,
                                               std::string_view except_token_hash) override {
    return X("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2",
             {user_id, except_token_hash});
  }

  absl::StatusOr<int64_t> DeleteSessionsOfUserInOrg(std::string_view user_id,
                                                    std::string_view org_id,
                                                    std::string_view except_token_hash) override {
    return X("DELETE FROM sessions WHERE user_id = $1 AND org_id = $2 AND token_hash <> $3",
             {user_id, org_id, except_token_hash});
  }

  absl::StatusOr<std::vector<Session>> ListSessionsOfUser(std::string_view user_id,
                                                           absl::Time now) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_SESSION_COLUMNS " FROM sessions "
                                      "WHERE user_id = $1 AND idle_expires_at > $2 "
                                      "AND absolute_expires_at > $2 "
                                      "ORDER BY last_seen_at DESC, token_hash",
                                      {user_id, Micros(now)}));
    return ReadAll<Session>(r, ReadSession);
  }

  absl::StatusOr<int64_t> DeleteExpiredSessions(absl::Time now) override {
    return X("DELETE FROM sessions WHERE idle_expires_at <= $1 OR absolute_expires_at <= $1",
             {Micros(now)});
  }

  // ---- API keys ----

  absl::Status CreateApiKey(const ApiKey& key) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(key));
    EV_ASSIGN_OR_RETURN(std::string scopes, control_internal::ScopesToJson(key.scopes));
    return Run("INSERT INTO api_keys (" EV_API_KEY_COLUMNS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
               {key.id, key.key_hash, key.prefix, key.org_id, key.created_by, key.name, scopes,
                RoleName(key.role), Micros(key.created_at), OptMicros(key.expires_at),
                OptMicros(key.last_used_at), OptMicros(key.revoked_at)});
  }

  absl::StatusOr<ApiKey> GetApiKeyByHash(std::string_view key_hash) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_API_KEY_COLUMNS
                                      " FROM api_keys WHERE key_hash = $1",
                                      {key_hash}));
    if (r.Rows() == 0) return absl::NotFoundError("API key not found");
    return ReadApiKey(r, 0);
  }

  absl::StatusOr<ApiKey> GetApiKey(std::string_view org_id, std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_API_KEY_COLUMNS
                                      " FROM api_keys WHERE org_id = $1 AND id = $2",
                                      {org_id, id}));
    if (r.Rows() == 0) return NotFound("API key", id);
    return ReadApiKey(r, 0);
  }

  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(std::string_view org_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_API_KEY_COLUMNS " FROM api_keys "
                                      "WHERE org_id = $1 ORDER BY created_at, id",
                                      {org_id}));
    return ReadAll<ApiKey>(r, ReadApiKey);
  }

  absl::Status RevokeApiKey(std::string_view org_id, std::string_view id, absl::Time at) override {
    return Revoke("api_keys", "API key", org_id, id, at);
  }

  absl::Status TouchApiKey(std::string_view id, absl::Time at) override {
    return ExpectChanged("UPDATE api_keys SET last_used_at = $1 WHERE id = $2", {Micros(at), id},
                         "API key", id);
  }

  // ---- SDK keys ----

  absl::Status CreateSdkKey(const SdkKey& key) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(key));
    EV_ASSIGN_OR_RETURN(std::string origins, control_internal::ScopesToJson(key.origins));
    return Run("INSERT INTO sdk_keys (" EV_SDK_KEY_COLUMNS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
               {key.id, key.key_hash, key.prefix, key.org_id, key.workspace_id, key.environment,
                key.name, key.created_by, Micros(key.created_at), OptMicros(key.last_used_at),
                OptMicros(key.revoked_at), SdkKeyKindName(key.kind), origins});
  }

  absl::StatusOr<SdkKey> GetSdkKeyByHash(std::string_view key_hash) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_SDK_KEY_COLUMNS
                                      " FROM sdk_keys WHERE key_hash = $1",
                                      {key_hash}));
    if (r.Rows() == 0) return absl::NotFoundError("SDK key not found");
    return ReadSdkKey(r, 0);
  }

  absl::StatusOr<std::vector<SdkKey>> ListSdkKeys(std::string_view org_id,
                                                  std::string_view workspace_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_SDK_KEY_COLUMNS " FROM sdk_keys "
                                      "WHERE org_id = $1 AND workspace_id = $2 "
                                      "ORDER BY created_at, id",
                                      {org_id, workspace_id}));
    return ReadAll<SdkKey>(r, ReadSdkKey);
  }

  absl::Status RevokeSdkKey(std::string_view org_id, std::string_view id, absl::Time at) override {
    return Revoke("sdk_keys", "SDK key", org_id, id, at);
  }

  // ---- Workspaces ----

  absl::Status CreateWorkspace(const Workspace& ws) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(ws));
    return Run("INSERT INTO workspaces (" EV_WORKSPACE_COLUMNS ") VALUES ($1, $2, $3, $4, $5)",
               {ws.id, ws.org_id, ws.key, ws.name, Micros(ws.created_at)});
  }

  absl::StatusOr<Workspace> GetWorkspaceByKey(std::string_view org_id,
                                              std::string_view key) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_WORKSPACE_READ_COLUMNS
                                      " FROM workspaces WHERE org_id = $1 AND key = $2",
                                      {org_id, key}));
    if (r.Rows() == 0) return NotFound("workspace", key);
    return ReadWorkspace(r, 0);
  }

  absl::StatusOr<Workspace> GetWorkspaceById(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_WORKSPACE_READ_COLUMNS
                                      " FROM workspaces WHERE id = $1",
                                      {id}));
    if (r.Rows() == 0) return NotFound("workspace", id);
    return ReadWorkspace(r, 0);
  }

  absl::StatusOr<std::vector<Workspace>> ListWorkspaces(std::string_view org_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_WORKSPACE_READ_COLUMNS " FROM workspaces "
                                      "WHERE org_id = $1 ORDER BY created_at, id",
                                      {org_id}));
    return ReadAll<Workspace>(r, ReadWorkspace);
  }

  absl::Status RenameWorkspace(std::string_view org_id, std::string_view id, std::string_view name) override {
    EV_RETURN_IF_ERROR(control_internal::RequireNonEmpty(name, "workspace name"));
    return ExpectChanged("UPDATE workspaces SET name = $1 WHERE org_id = $2 AND id = $3", {name, org_id, id},
                         "workspace", id);
  }

  absl::StatusOr<Workspace> MarkWorkspaceDeleted(std::string_view org_id, std::string_view id, absl::Time at,
                                                 absl::Time purge_after) override {
    EV_ASSIGN_OR_RETURN(int64_t changed, X("UPDATE workspaces SET deleted_at = $1, purge_after = $2 "
                                           "WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL",
                                           {Micros(at), Micros(purge_after), org_id, id}));
    EV_ASSIGN_OR_RETURN(Workspace ws, control_internal::InOrg(GetWorkspaceById(id), org_id, id));
    if (changed == 0) return control_internal::WorkspaceDeletedAlready(id);
    return ws;
  }

  absl::StatusOr<Workspace> RestoreWorkspace(std::string_view org_id, std::string_view id) override {
    EV_ASSIGN_OR_RETURN(int64_t changed, X("UPDATE workspaces SET deleted_at = NULL, purge_after = NULL "
                                           "WHERE org_id = $1 AND id = $2 AND deleted_at IS NOT NULL",
                                           {org_id, id}));
    EV_ASSIGN_OR_RETURN(Workspace ws, control_internal::InOrg(GetWorkspaceById(id), org_id, id));
    if (changed == 0) return control_internal::WorkspaceNotDeleted(id);
    return ws;
  }

  absl::StatusOr<std::vector<Workspace>> ListWorkspacesDueForPurge(absl::Time now, int limit) override {
    EV_RETURN_IF_ERROR(control_internal::CheckPurgeLimit(limit));
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_WORKSPACE_READ_COLUMNS " FROM workspaces "
                                      "WHERE purge_after IS NOT NULL AND purge_after <= $1 "
                                      "ORDER BY purge_after, id LIMIT $2",
                                      {Micros(now), static_cast<int64_t>(limit)}));
    return ReadAll<Workspace>(r, ReadWorkspace);
  }

  absl::Status PurgeWorkspace(std::string_view org_id, std::string_view id) override {
    EV_ASSIGN_OR_RETURN(int64_t changed, X("DELETE FROM workspaces WHERE org_id = $1 AND id = $2 "
                                           "AND deleted_at IS NOT NULL",
                                           {org_id, id}));
    if (changed > 0) return absl::OkStatus();
    EV_RETURN_IF_ERROR(control_internal::InOrg(GetWorkspaceById(id), org_id, id).status());
    return control_internal::WorkspaceNotDeleted(id);
  }

  absl::Status DeleteWorkspace(std::string_view org_id, std::string_view id) override {
    // Its SDK keys go with it (ON DELETE CASCADE).
    return ExpectChanged("DELETE FROM workspaces WHERE org_id = $1 AND id = $2", {org_id, id},
                         "workspace", id);
  }

  // ---- TOTP ----

  absl::Status PutTotp(const TotpState& state) override {
    EV_RETURN_IF_ERROR(control_internal::RequireNonEmpty(state.user_id, "TOTP user id"));
    // Only ever the sealed secret is written (docs/design/sealed-totp.md).
    if (totp_sealer_ == nullptr) return NoTotpSealer();
    EV_ASSIGN_OR_RETURN(std::string sealed, totp_sealer_->Seal(state.secret, state.user_id));
    return Run("INSERT INTO totp (" EV_TOTP_COLUMNS ") VALUES ($1, $2, $3, $4, $5) "
               "ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, "
               "confirmed = excluded.confirmed, last_step = excluded.last_step, "
               "created_at = excluded.created_at",
               {state.user_id, PgBytes{sealed}, state.confirmed, state.last_step,
                Micros(state.created_at)});
  }

  absl::StatusOr<TotpState> GetTotp(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        Q("SELECT " EV_TOTP_COLUMNS " FROM totp WHERE user_id = $1", {user_id}));
    if (r.Rows() == 0) return NotFound("TOTP state of user", user_id);
    if (totp_sealer_ == nullptr) return NoTotpSealer();
    TotpState t;
    t.user_id = r.String(0, 0);
    t.confirmed = r.Bool(0, 2);
    t.last_step = r.Int64(0, 3);
    t.created_at = TimeAt(r, 0, 4);
    EV_ASSIGN_OR_RETURN(t.secret, totp_sealer_->Open(r.Bytes(0, 1), t.user_id));
    return t;
  }

  absl::Status ConfirmTotp(std::string_view user_id) override {
    return ExpectChanged("UPDATE totp SET confirmed = TRUE WHERE user_id = $1", {user_id},
                         "TOTP state of user", user_id);
  }

  absl::StatusOr<bool> AdvanceTotpStep(std::string_view user_id, int64_t step) override {
    // One conditional UPDATE: of two concurrent callers with the same step (even on two
    // nodes), only one changes the row (the other re-checks it after the first commits).
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("UPDATE totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1",
                          {step, user_id}));
    if (changed == 1) return true;
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT 1 FROM totp WHERE user_id = $1", {user_id}));
    if (r.Rows() == 0) return NotFound("TOTP state of user", user_id);
    return false;
  }

  absl::Status DeleteTotp(std::string_view user_id) override {
    return Atomic([&](PgControlQueries& q) -> absl::Status {
      EV_RETURN_IF_ERROR(q.ExpectChanged("DELETE FROM totp WHERE user_id = $1", {user_id},
                                         "TOTP state of user", user_id));
      return q.Run("DELETE FROM recovery_codes WHERE user_id = $1", {user_id});
    });
  }

  // ---- Recovery codes ----

  absl::Status ReplaceRecoveryCodes(std::string_view user_id,
                                    const std::vector<std::string>& code_hashes) override {
    EV_RETURN_IF_ERROR(control_internal::CheckRecoveryCodes(user_id, code_hashes));
    return Atomic([&](PgControlQueries& q) -> absl::Status {
      EV_RETURN_IF_ERROR(q.Run("DELETE FROM recovery_codes WHERE user_id = $1", {user_id}));
      for (const std::string& h : code_hashes) {
        EV_RETURN_IF_ERROR(q.Run("INSERT INTO recovery_codes (user_id, code_hash, used_at) "
                                 "VALUES ($1, $2, NULL)",
                                 {user_id, h}));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<bool> ConsumeRecoveryCode(std::string_view user_id,
                                           std::string_view code_hash) override {
    // One conditional UPDATE, so a code is accepted at most once even under races.
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("UPDATE recovery_codes SET used_at = $1 "
                          "WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                          {Micros(env_->Now()), user_id, code_hash}));
    return changed == 1;
  }

  absl::StatusOr<int64_t> CountUnusedRecoveryCodes(std::string_view user_id) override {
    return Count("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                 {user_id});
  }

  // ---- Passkeys ----

  absl::Status AddPasskey(const PasskeyCredential& c) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(c));
    return Run("INSERT INTO passkeys (" EV_PASSKEY_COLUMNS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
               {PgBytes{c.credential_id}, c.user_id, PgBytes{c.public_key_cose}, c.algorithm,
                static_cast<int64_t>(c.sign_count), c.name, PgBytes{c.aaguid},
                c.user_verified_at_registration, Micros(c.created_at),
                OptMicros(c.last_used_at)});
  }

  absl::StatusOr<PasskeyCredential> GetPasskey(std::string_view credential_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_PASSKEY_COLUMNS
                                      " FROM passkeys WHERE credential_id = $1",
                                      {PgBytes{credential_id}}));
    if (r.Rows() == 0) return absl::NotFoundError("passkey not found");
    return ReadPasskey(r, 0);
  }

  absl::StatusOr<std::vector<PasskeyCredential>> ListPasskeys(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_PASSKEY_COLUMNS " FROM passkeys "
                                      "WHERE user_id = $1 ORDER BY created_at, credential_id",
                                      {user_id}));
    return ReadAll<PasskeyCredential>(r, ReadPasskey);
  }

  absl::Status UpdatePasskeyUse(std::string_view credential_id, uint32_t sign_count,
                                absl::Time at) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("UPDATE passkeys SET sign_count = $1, last_used_at = $2 "
                          "WHERE credential_id = $3",
                          {static_cast<int64_t>(sign_count), Micros(at), PgBytes{credential_id}}));
    if (changed == 0) return absl::NotFoundError("passkey not found");
    return absl::OkStatus();
  }

  absl::Status DeletePasskey(std::string_view user_id, std::string_view credential_id) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2",
                          {user_id, PgBytes{credential_id}}));
    if (changed == 0) return absl::NotFoundError("passkey not found");
    return absl::OkStatus();
  }

  // ---- Challenges ----

  absl::Status PutChallenge(const Challenge& c) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(c));
    return Run("INSERT INTO challenges (" EV_CHALLENGE_COLUMNS ") VALUES ($1, $2, $3, $4, $5)",
               {c.id, c.kind, c.user_id, PgBytes{c.payload}, Micros(c.expires_at)});
  }

  absl::StatusOr<Challenge> GetChallenge(std::string_view id, std::string_view kind, absl::Time now) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_CHALLENGE_COLUMNS " FROM challenges "
                                      "WHERE id = $1 AND kind = $2 AND expires_at > $3",
                                      {id, kind, Micros(now)}));
    if (r.Rows() == 0) return absl::NotFoundError("challenge not found, already used, or expired");
    return ReadChallenge(r, 0);
  }

  absl::StatusOr<std::vector<Challenge>> ListChallengesOfUser(std::string_view user_id, std::string_view kind,
                                                              absl::Time now, int limit) override {
    if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be 1..1000");
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_CHALLENGE_COLUMNS " FROM challenges "
                                      "WHERE user_id = $1 AND kind = $2 AND expires_at > $3 "
                                      "ORDER BY id LIMIT $4",
                                      {user_id, kind, Micros(now), static_cast<int64_t>(limit)}));
    return ReadAll<Challenge>(r, ReadChallenge);
  }

  absl::StatusOr<Challenge> TakeChallenge(std::string_view id, std::string_view kind,
                                          absl::Time now) override {
    std::optional<Challenge> taken;
    EV_RETURN_IF_ERROR(Atomic([&](PgControlQueries& q) -> absl::Status {
      taken.reset();  // a retried transaction starts over
      // DELETE ... RETURNING: the read and the delete are one statement, so two callers
      // can never both get the row. A kind mismatch matches nothing and consumes nothing.
      EV_ASSIGN_OR_RETURN(PgResult r, q.Q("DELETE FROM challenges WHERE id = $1 AND kind = $2 "
                                          "RETURNING " EV_CHALLENGE_COLUMNS,
                                          {id, kind}));
      if (r.Rows() > 0) taken = ReadChallenge(r, 0);
      // Housekeeping: challenges nobody took would otherwise stay forever.
      return q.Run("DELETE FROM challenges WHERE expires_at <= $1", {Micros(now)});
    }));
    if (!taken.has_value() || taken->expires_at <= now) {
      return absl::NotFoundError("challenge not found, already used, or expired");
    }
    return *std::move(taken);
  }

  // ---- Invitations ----

  absl::Status CreateInvitation(const Invitation& inv) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(inv));
    return Atomic([&](PgControlQueries& q) -> absl::Status {
      // A pending invitation that has expired no longer holds the (org, email) slot.
      EV_RETURN_IF_ERROR(q.Run("UPDATE invitations SET status = 'expired' "
                               "WHERE org_id = $1 AND email = $2 AND status = 'pending' "
                               "AND expires_at <= $3",
                               {inv.org_id, inv.email, Micros(inv.created_at)}));
      return q.Run("INSERT INTO invitations (" EV_INVITATION_COLUMNS
                   ") VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, NULL)",
                   {inv.id, inv.org_id, inv.email, RoleName(inv.role), inv.invited_by,
                    inv.creates_account, Micros(inv.created_at), Micros(inv.expires_at)});
    });
  }

  absl::StatusOr<Invitation> GetInvitation(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_INVITATION_COLUMNS
                                      " FROM invitations WHERE id = $1",
                                      {id}));
    if (r.Rows() == 0) return NotFound("invitation", id);
    return ReadInvitation(r, 0);
  }

  absl::StatusOr<std::vector<Invitation>> ListPendingInvitationsForEmail(std::string_view email,
                                                                         absl::Time now) override {
    return ListPendingInvitations("email", email, now);
  }

  absl::StatusOr<std::vector<Invitation>> ListPendingInvitationsOfOrg(std::string_view org_id,
                                                                      absl::Time now) override {
    return ListPendingInvitations("org_id", org_id, now);
  }

  absl::Status RespondToInvitation(std::string_view id, InvitationStatus status,
                                   absl::Time at) override {
    EV_RETURN_IF_ERROR(control_internal::CheckInvitationResponse(status));
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X("UPDATE invitations SET status = $1, responded_at = $2 "
                          "WHERE id = $3 AND status = 'pending' AND expires_at > $2",
                          {InvitationStatusName(status), Micros(at), id}));
    if (changed == 0) return absl::NotFoundError("no pending invitation with that id");
    return absl::OkStatus();
  }

  // ---- Outbox ----

  absl::Status AppendOutbox(const OutboxEvent& e) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(e));
    return Run("INSERT INTO outbox (" EV_OUTBOX_COLUMNS ") VALUES ($1, $2, $3)",
               {e.id, e.json, Micros(e.created_at)});
  }

  absl::StatusOr<std::vector<OutboxEvent>> PeekOutbox(int limit) override {
    if (limit < 0) return absl::InvalidArgumentError("control store: negative outbox limit");
    EV_ASSIGN_OR_RETURN(PgResult r, Q("SELECT " EV_OUTBOX_COLUMNS " FROM outbox "
                                      "ORDER BY created_at, id LIMIT $1",
                                      {limit}));
    return ReadAll<OutboxEvent>(r, ReadOutbox);
  }

  absl::Status DeleteOutbox(const std::vector<std::string>& ids) override {
    if (ids.empty()) return absl::OkStatus();
    // One statement for the batch; unknown ids are ignored (the relay may retry).
    std::string array = "{";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) array += ",";
      array += "\"";
      for (char c : ids[i]) {
        if (c == '"' || c == '\\') array += '\\';
        array += c;
      }
      array += "\"";
    }
    array += "}";
    return Run("DELETE FROM outbox WHERE id = ANY($1::text[])", {array});
  }

 private:
  // One statement: on the pool (autocommit) or inside the transaction, in a savepoint of
  // its own when the view asks for one.
  absl::StatusOr<PgResult> Q(std::string_view sql, const PgParams& params) {
    if (conn_ == nullptr) {
      EV_RETURN_IF_ERROR(NotInsideOwnTransaction());
      return pool_->Query(sql, params);
    }
    if (!savepoint_per_call_) return conn_->Query(sql, params);
    EV_ASSIGN_OR_RETURN(PgTransaction savepoint, PgTransaction::Begin(*conn_));
    EV_ASSIGN_OR_RETURN(PgResult r, conn_->Query(sql, params));
    EV_RETURN_IF_ERROR(savepoint.Commit());
    return r;
  }

  absl::StatusOr<int64_t> X(std::string_view sql, const PgParams& params) {
    EV_ASSIGN_OR_RETURN(PgResult r, Q(sql, params));
    return r.AffectedRows();
  }

  absl::Status Run(std::string_view sql, const PgParams& params) {
    return Q(sql, params).status();
  }

  absl::StatusOr<int64_t> Count(std::string_view sql, const PgParams& params) {
    EV_ASSIGN_OR_RETURN(PgResult r, Q(sql, params));
    if (r.Rows() != 1) return absl::InternalError("control store: COUNT returned no row");
    return r.Int64(0, 0);
  }

  absl::Status ExpectChanged(std::string_view sql, const PgParams& params, std::string_view what,
                             std::string_view key) {
    EV_ASSIGN_OR_RETURN(int64_t changed, X(sql, params));
    if (changed == 0) return NotFound(what, key);
    return absl::OkStatus();
  }

  static absl::Status MembershipNotFound(std::string_view org_id, std::string_view user_id) {
    return NotFound("membership of user", StrCat(user_id, "\" in org \"", org_id));
  }

  absl::Status NotInsideOwnTransaction() const {
    if (tls_in_transaction_of == store_) {
      return absl::FailedPreconditionError(
          "control store: called on the store from inside WithTransaction; use the "
          "ControlStore& passed to the function");
    }
    return absl::OkStatus();
  }

  static absl::Status LockWriters(PgConnection& c) {
    return c.Exec("SELECT pg_advisory_xact_lock($1)", {kControlWriterLockKey}).status();
  }

  // `fn` inside a savepoint of the open transaction: its writes roll back alone when it
  // fails.
  absl::Status InSavepoint(const std::function<absl::Status()>& fn) {
    EV_ASSIGN_OR_RETURN(PgTransaction savepoint, PgTransaction::Begin(*conn_));
    absl::Status status = fn();
    if (!status.ok()) return status;  // the savepoint rolls back
    return savepoint.Commit();
  }

  // A multi-statement call, atomic: a savepoint inside a transaction, else a transaction of
  // its own holding the writer lock (retried on deadlock: `fn` only touches the database).
  absl::Status Atomic(const std::function<absl::Status(PgControlQueries& q)>& fn) {
    if (conn_ != nullptr) return InSavepoint([&] { return fn(*this); });
    EV_RETURN_IF_ERROR(NotInsideOwnTransaction());
    return pool_->InTransaction([&](PgConnection& c) -> absl::Status {
      EV_RETURN_IF_ERROR(LockWriters(c));
      PgControlQueries q(pool_, &c, /*savepoint_per_call=*/false, env_, totp_sealer_, store_);
      return fn(q);
    });
  }

  // Pending invitations not expired at `now` whose `column` (email or org_id) is `value`.
  absl::StatusOr<std::vector<Invitation>> ListPendingInvitations(std::string_view column,
                                                                 std::string_view value,
                                                                 absl::Time now) {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        Q(StrCat("SELECT " EV_INVITATION_COLUMNS " FROM invitations WHERE ",
                                 column,
                                 " = $1 AND status = 'pending' AND expires_at > $2 "
                                 "ORDER BY created_at, id"),
                          {value, Micros(now)}));
    return ReadAll<Invitation>(r, ReadInvitation);
  }

  absl::Status Revoke(std::string_view table, std::string_view what, std::string_view org_id,
                      std::string_view id, absl::Time at) {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        X(StrCat("UPDATE ", table,
                                 " SET revoked_at = $1 "
                                 "WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL"),
                          {Micros(at), org_id, id}));
    if (changed == 1) return absl::OkStatus();
    EV_ASSIGN_OR_RETURN(PgResult r, Q(StrCat("SELECT 1 FROM ", table,
                                             " WHERE org_id = $1 AND id = $2"),
                                      {org_id, id}));
    if (r.Rows() == 0) return NotFound(what, id);
    return absl::FailedPreconditionError(StrCat(what, " \"", id, "\" is already revoked"));
  }

  absl::StatusOr<const TransferTable*> TransferTableOutsideTransaction(std::string_view name) {
    if (conn_ != nullptr) {
      return absl::FailedPreconditionError("control store: transfer calls are not part of a transaction");
    }
    EV_RETURN_IF_ERROR(NotInsideOwnTransaction());
    return FindTransferTable(ControlTransferTables(), name);
  }

  PgPool* pool_;
  PgConnection* conn_;  // the transaction's connection; null: the pool, autocommit
  bool savepoint_per_call_;
  base::Env* env_;
  const SecretSealer* totp_sealer_;  // may be null: then no TOTP secret is written or opened
  const void* store_;                // the top-level store this view belongs to
  std::unique_ptr<PgPool> owned_pool_;  // set on the top-level store only
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlStore>> OpenPostgresControlStore(
    const PostgresControlStoreOptions& options) {
  if (options.env == nullptr) return absl::InvalidArgumentError("control store: null env");
  EV_ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool,
                      PgPool::Create({.connect = {.url = options.url,
                                                  .application_name = "edgevault-control"},
                                      .max_connections = options.max_connections}));
  {
    EV_ASSIGN_OR_RETURN(PgPool::Lease conn, pool->Acquire());
    EV_RETURN_IF_ERROR(PgMigrate(*conn, "control", ControlPgMigrations()).status());
  }
  auto store = std::make_unique<PgControlQueries>(pool.get(), /*conn=*/nullptr,
                                                  /*savepoint_per_call=*/false, options.env,
                                                  options.totp_sealer, /*store=*/nullptr);
  store->Own(std::move(pool));
  return std::unique_ptr<ControlStore>(std::move(store));
}

}  // namespace edgevault::storage
