#include "src/storage/sqlite/control_store_sqlite.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/control_store_common.h"
#include "src/storage/sqlite/sqlite_db.h"
#include "src/storage/sqlite/sqlite_transfer.h"

namespace edgevault::storage {

// The schema, one string per migration step. Portable SQL: TEXT, BIGINT, INTEGER (0/1
// booleans), BLOB (BYTEA in PostgreSQL); times are BIGINT microseconds since the epoch.
// Never edit a released step: append a new one (docs/design/control-db.md).
const std::vector<std::string>& ControlDbMigrations() {
  static const std::vector<std::string>* const kSteps = new std::vector<std::string>{
      // 1: the initial schema.
      R"sql(
CREATE TABLE orgs (
  id               TEXT   PRIMARY KEY,
  name             TEXT   NOT NULL UNIQUE,
  max_workspaces   BIGINT NOT NULL,
  max_environments BIGINT NOT NULL,
  max_items        BIGINT NOT NULL,
  created_at       BIGINT NOT NULL
);
CREATE TABLE users (
  id                   TEXT    PRIMARY KEY,
  email                TEXT    NOT NULL UNIQUE,
  display_name         TEXT    NOT NULL,
  password_hash        TEXT    NOT NULL,
  disabled             INTEGER NOT NULL CHECK (disabled IN (0, 1)),
  must_change_password INTEGER NOT NULL CHECK (must_change_password IN (0, 1)),
  created_at           BIGINT  NOT NULL
);
CREATE TABLE memberships (
  org_id     TEXT   NOT NULL REFERENCES orgs (id),
  user_id    TEXT   NOT NULL REFERENCES users (id),
  role       TEXT   NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
  created_at BIGINT NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);
CREATE TABLE sessions (
  token_hash          TEXT   PRIMARY KEY,
  user_id             TEXT   NOT NULL REFERENCES users (id),
  org_id              TEXT   NOT NULL,
  created_at          BIGINT NOT NULL,
  last_seen_at        BIGINT NOT NULL,
  idle_expires_at     BIGINT NOT NULL,
  absolute_expires_at BIGINT NOT NULL,
  client_address      TEXT   NOT NULL,
  user_agent          TEXT   NOT NULL,
  auth_methods        TEXT   NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at);
CREATE INDEX sessions_by_absolute_expiry ON sessions (absolute_expires_at);
CREATE TABLE api_keys (
  id           TEXT   PRIMARY KEY,
  key_hash     TEXT   NOT NULL UNIQUE,
  prefix       TEXT   NOT NULL,
  org_id       TEXT   NOT NULL REFERENCES orgs (id),
  created_by   TEXT   NOT NULL,
  name         TEXT   NOT NULL,
  scopes_json  TEXT   NOT NULL,
  role         TEXT   NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT,
  last_used_at BIGINT,
  revoked_at   BIGINT
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at);
CREATE TABLE workspaces (
  id         TEXT   PRIMARY KEY,
  org_id     TEXT   NOT NULL REFERENCES orgs (id),
  key        TEXT   NOT NULL,
  name       TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (org_id, key),
  UNIQUE (org_id, id)
);
CREATE TABLE sdk_keys (
  id           TEXT   PRIMARY KEY,
  key_hash     TEXT   NOT NULL UNIQUE,
  prefix       TEXT   NOT NULL,
  org_id       TEXT   NOT NULL,
  workspace_id TEXT   NOT NULL,
  environment  TEXT   NOT NULL,
  name         TEXT   NOT NULL,
  created_by   TEXT   NOT NULL,
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at   BIGINT,
  FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sdk_keys_by_workspace ON sdk_keys (org_id, workspace_id, created_at);
CREATE TABLE totp (
  user_id    TEXT    PRIMARY KEY REFERENCES users (id),
  secret     BLOB    NOT NULL,
  confirmed  INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
  last_step  BIGINT  NOT NULL,
  created_at BIGINT  NOT NULL
);
CREATE TABLE recovery_codes (
  user_id   TEXT   NOT NULL REFERENCES users (id),
  code_hash TEXT   NOT NULL,
  used_at   BIGINT,
  PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE passkeys (
  credential_id                 BLOB    PRIMARY KEY,
  user_id                       TEXT    NOT NULL REFERENCES users (id),
  public_key_cose               BLOB    NOT NULL,
  algorithm                     INTEGER NOT NULL,
  sign_count                    BIGINT  NOT NULL,
  name                          TEXT    NOT NULL,
  aaguid                        BLOB    NOT NULL,
  user_verified_at_registration INTEGER NOT NULL CHECK (user_verified_at_registration IN (0, 1)),
  created_at                    BIGINT  NOT NULL,
  last_used_at                  BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);
CREATE TABLE challenges (
  id         TEXT   PRIMARY KEY,
  kind       TEXT   NOT NULL,
  user_id    TEXT   NOT NULL,
  payload    BLOB   NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);
CREATE TABLE outbox (
  id         TEXT   PRIMARY KEY,
  json       TEXT   NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX outbox_by_age ON outbox (created_at, id);
)sql",
      // 2: invitations to orgs (docs/design/control-db.md), sessions by org.
      R"sql(
CREATE TABLE invitations (
  id              TEXT    PRIMARY KEY,
  org_id          TEXT    NOT NULL REFERENCES orgs (id),
  email           TEXT    NOT NULL,
  role            TEXT    NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
  invited_by      TEXT    NOT NULL,
  creates_account INTEGER NOT NULL CHECK (creates_account IN (0, 1)),
  status          TEXT    NOT NULL
                  CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
  created_at      BIGINT  NOT NULL,
  expires_at      BIGINT  NOT NULL,
  responded_at    BIGINT
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (org_id, email) WHERE status = 'pending';
CREATE INDEX invitations_by_email ON invitations (email, status, created_at);
CREATE INDEX invitations_by_org ON invitations (org_id, status, created_at);
CREATE INDEX sessions_by_user_org ON sessions (user_id, org_id);
)sql",
      // 3: TOTP secrets sealed at rest (docs/design/sealed-totp.md). Rows written before
      // this step hold the raw secret (sealed = 0) until a store opened with a sealer
      // seals them all in one transaction (SealLegacyTotpSecrets below).
      R"sql(
ALTER TABLE totp ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0 CHECK (sealed IN (0, 1));
)sql",
      // 4: client SDK keys (docs/delivery.md, "Client keys"): the key's kind and, for a
      // client key, its browser origins (a JSON array of strings). Existing keys are server keys.
      R"sql(
ALTER TABLE sdk_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'server' CHECK (kind IN ('server', 'client'));
ALTER TABLE sdk_keys ADD COLUMN origins_json TEXT NOT NULL DEFAULT '[]';
)sql",
      // 5: workspaces deleted with a grace period (docs/design/control-db.md "Deleted
      // workspaces"): both set or both NULL; the purge task finds the due ones by index.
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
using control_internal::ScopesFromJson;
using control_internal::ScopesToJson;

absl::StatusOr<Role> ReadRole(const Statement& st, int col) {
  return control_internal::ParseStoredRole(st.ColumnText(col));
}

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
#define EV_TOTP_COLUMNS "user_id, secret, confirmed, last_step, created_at, sealed"
#define EV_PASSKEY_COLUMNS                                                         \
  "credential_id, user_id, public_key_cose, algorithm, sign_count, name, aaguid, " \
  "user_verified_at_registration, created_at, last_used_at"
#define EV_OUTBOX_COLUMNS "id, json, created_at"
#define EV_INVITATION_COLUMNS                                                        \
  "id, org_id, email, role, invited_by, creates_account, status, created_at, " \
  "expires_at, responded_at"

Org ReadOrg(const Statement& st) {
  Org o;
  o.id = st.ColumnText(0);
  o.name = st.ColumnText(1);
  o.entitlements.max_workspaces = st.ColumnInt64(2);
  o.entitlements.max_environments = st.ColumnInt64(3);
  o.entitlements.max_items = st.ColumnInt64(4);
  o.created_at = FromMicros(st.ColumnInt64(5));
  return o;
}

User ReadUser(const Statement& st) {
  User u;
  u.id = st.ColumnText(0);
  u.email = st.ColumnText(1);
  u.display_name = st.ColumnText(2);
  u.password_hash = st.ColumnText(3);
  u.disabled = st.ColumnInt64(4) != 0;
  u.must_change_password = st.ColumnInt64(5) != 0;
  u.created_at = FromMicros(st.ColumnInt64(6));
  return u;
}

absl::StatusOr<Membership> ReadMembership(const Statement& st) {
  Membership m;
  m.org_id = st.ColumnText(0);
  m.user_id = st.ColumnText(1);
  EV_ASSIGN_OR_RETURN(m.role, ReadRole(st, 2));
  m.created_at = FromMicros(st.ColumnInt64(3));
  return m;
}

Session ReadSession(const Statement& st) {
  Session s;
  s.token_hash = st.ColumnText(0);
  s.user_id = st.ColumnText(1);
  s.org_id = st.ColumnText(2);
  s.created_at = FromMicros(st.ColumnInt64(3));
  s.last_seen_at = FromMicros(st.ColumnInt64(4));
  s.idle_expires_at = FromMicros(st.ColumnInt64(5));
  s.absolute_expires_at = FromMicros(st.ColumnInt64(6));
  s.client_address = st.ColumnText(7);
  s.user_agent = st.ColumnText(8);
  s.auth_methods = st.ColumnText(9);
  return s;
}

absl::StatusOr<ApiKey> ReadApiKey(const Statement& st) {
  ApiKey k;
  k.id = st.ColumnText(0);
  k.key_hash = st.ColumnText(1);
  k.prefix = st.ColumnText(2);
  k.org_id = st.ColumnText(3);
  k.created_by = st.ColumnText(4);
  k.name = st.ColumnText(5);
  EV_ASSIGN_OR_RETURN(k.scopes, ScopesFromJson(st.ColumnText(6)));
  EV_ASSIGN_OR_RETURN(k.role, ReadRole(st, 7));
  k.created_at = FromMicros(st.ColumnInt64(8));
  k.expires_at = OptTime(st.ColumnOptionalInt64(9));
  k.last_used_at = OptTime(st.ColumnOptionalInt64(10));
  k.revoked_at = OptTime(st.ColumnOptionalInt64(11));
  return k;
}

absl::StatusOr<SdkKey> ReadSdkKey(const Statement& st) {
  SdkKey k;
  k.id = st.ColumnText(0);
  k.key_hash = st.ColumnText(1);
  k.prefix = st.ColumnText(2);
  k.org_id = st.ColumnText(3);
  k.workspace_id = st.ColumnText(4);
  k.environment = st.ColumnText(5);
  k.name = st.ColumnText(6);
  k.created_by = st.ColumnText(7);
  k.created_at = FromMicros(st.ColumnInt64(8));
  k.last_used_at = OptTime(st.ColumnOptionalInt64(9));
  k.revoked_at = OptTime(st.ColumnOptionalInt64(10));
  EV_ASSIGN_OR_RETURN(k.kind, control_internal::ParseStoredSdkKeyKind(st.ColumnText(11)));
  EV_ASSIGN_OR_RETURN(k.origins, ScopesFromJson(st.ColumnText(12)));
  return k;
}

Workspace ReadWorkspace(const Statement& st) {
  Workspace w;
  w.id = st.ColumnText(0);
  w.org_id = st.ColumnText(1);
  w.key = st.ColumnText(2);
  w.name = st.ColumnText(3);
  w.created_at = FromMicros(st.ColumnInt64(4));
  w.deleted_at = OptTime(st.ColumnOptionalInt64(5));
  w.purge_after = OptTime(st.ColumnOptionalInt64(6));
  return w;
}

// A TOTP row with its secret opened: sealed rows need `sealer`; a raw row (written before
// schema step 3 and not yet sealed) is read as it is.
absl::StatusOr<TotpState> ReadTotp(const Statement& st, const SecretSealer* sealer) {
  TotpState t;
  t.user_id = st.ColumnText(0);
  t.confirmed = st.ColumnInt64(2) != 0;
  t.last_step = st.ColumnInt64(3);
  t.created_at = FromMicros(st.ColumnInt64(4));
  if (st.ColumnInt64(5) == 0) {
    t.secret = st.ColumnBlob(1);
    return t;
  }
  if (sealer == nullptr) return NoTotpSealer();
  EV_ASSIGN_OR_RETURN(t.secret, sealer->Open(st.ColumnBlob(1), t.user_id));
  return t;
}

PasskeyCredential ReadPasskey(const Statement& st) {
  PasskeyCredential c;
  c.credential_id = st.ColumnBlob(0);
  c.user_id = st.ColumnText(1);
  c.public_key_cose = st.ColumnBlob(2);
  c.algorithm = static_cast<int32_t>(st.ColumnInt64(3));
  c.sign_count = static_cast<uint32_t>(st.ColumnInt64(4));
  c.name = st.ColumnText(5);
  c.aaguid = st.ColumnBlob(6);
  c.user_verified_at_registration = st.ColumnInt64(7) != 0;
  c.created_at = FromMicros(st.ColumnInt64(8));
  c.last_used_at = OptTime(st.ColumnOptionalInt64(9));
  return c;
}

absl::StatusOr<Invitation> ReadInvitation(const Statement& st) {
  Invitation inv;
  inv.id = st.ColumnText(0);
  inv.org_id = st.ColumnText(1);
  inv.email = st.ColumnText(2);
  EV_ASSIGN_OR_RETURN(inv.role, ReadRole(st, 3));
  inv.invited_by = st.ColumnText(4);
  inv.creates_account = st.ColumnInt64(5) != 0;
  EV_ASSIGN_OR_RETURN(inv.status, control_internal::ParseStoredInvitationStatus(st.ColumnText(6)));
  inv.created_at = FromMicros(st.ColumnInt64(7));
  inv.expires_at = FromMicros(st.ColumnInt64(8));
  inv.responded_at = OptTime(st.ColumnOptionalInt64(9));
  return inv;
}

OutboxEvent ReadOutbox(const Statement& st) {
  OutboxEvent e;
  e.id = st.ColumnText(0);
  e.json = st.ColumnText(1);
  e.created_at = FromMicros(st.ColumnInt64(2));
  return e;
}

// totp.sealed is SQLite's own column (v3): PostgreSQL holds sealed secrets only, so only
// sealed rows leave and every row that comes in is sealed.
SqliteTransferOptions TransferOptions(const TransferTable& t) {
  if (t.name != "totp") return {};
  return {.import_extra_column = "sealed",
          .import_extra_value = 1,
          .refuse_where = "sealed = 0",
          .refuse_message = "control store: a TOTP secret is not sealed yet; start "
                            "edgevault-auth (or `edgevault up`) once so it seals them"};
}

// Every query, against one connection, without locking: the caller (SqliteControlStore)
// holds the store's mutex. Also the transaction-scoped view handed to WithTransaction.
class ControlQueries final : public ControlStore {
 public:
  ControlQueries(SqliteDb* db, base::Env* env, const SecretSealer* totp_sealer)
      : db_(db), env_(env), totp_sealer_(totp_sealer) {}

  // Outermost: BEGIN IMMEDIATE ... COMMIT. Nested (tx.WithTransaction): a savepoint, so
  // the inner function's writes roll back alone when it fails.
  absl::Status WithTransaction(std::function<absl::Status(ControlStore& tx)> fn) override {
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    absl::Status status = fn(*this);
    if (!status.ok()) {
      tx.Rollback();
      return status;
    }
    return tx.Commit();
  }

  // ---- Transfer (edgevault migrate) ----

  absl::StatusOr<int64_t> CountRows(std::string_view table) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(ControlTransferTables(), table));
    return SqliteCountRows(*db_, *t);
  }
  absl::StatusOr<std::vector<TransferRow>> ExportRows(std::string_view table, int64_t offset,
                                                      int limit) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(ControlTransferTables(), table));
    return SqliteExportRows(*db_, *t, offset, limit, TransferOptions(*t));
  }
  absl::StatusOr<int64_t> ImportRows(std::string_view table,
                                     const std::vector<TransferRow>& rows) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(ControlTransferTables(), table));
    return SqliteImportRows(*db_, *t, rows, TransferOptions(*t));
  }

  // ---- Orgs ----

  absl::Status CreateOrg(const Org& org) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(org));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO orgs (" EV_ORG_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?, ?)"));
    st.Bind(1, org.id)
        .Bind(2, org.name)
        .Bind(3, org.entitlements.max_workspaces)
        .Bind(4, org.entitlements.max_environments)
        .Bind(5, org.entitlements.max_items)
        .Bind(6, Micros(org.created_at));
    return st.Run();
  }

  absl::StatusOr<Org> GetOrg(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_ORG_COLUMNS " FROM orgs WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("org", id);
    return ReadOrg(st);
  }

  absl::StatusOr<Org> GetOrgByName(std::string_view name) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_ORG_COLUMNS " FROM orgs WHERE name = ?"));
    st.Bind(1, name);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("org named", name);
    return ReadOrg(st);
  }

  absl::Status SetEntitlements(std::string_view org_id, const Entitlements& e) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE orgs SET max_workspaces = ?, max_environments = ?, "
                                     "max_items = ? WHERE id = ?"));
    st.Bind(1, e.max_workspaces).Bind(2, e.max_environments).Bind(3, e.max_items).Bind(4, org_id);
    return ExpectChanged(st, "org", org_id);
  }

  absl::StatusOr<int64_t> CountUsers() override {
    return Count(db_->Prepare("SELECT COUNT(*) FROM users"));
  }

  // ---- Users ----

  absl::Status CreateUser(const User& user) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(user));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO users (" EV_USER_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    st.Bind(1, user.id)
        .Bind(2, user.email)
        .Bind(3, user.display_name)
        .Bind(4, user.password_hash)
        .Bind(5, user.disabled)
        .Bind(6, user.must_change_password)
        .Bind(7, Micros(user.created_at));
    return st.Run();
  }

  absl::StatusOr<User> GetUser(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_USER_COLUMNS " FROM users WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("user", id);
    return ReadUser(st);
  }

  absl::StatusOr<User> GetUserByEmail(std::string_view email) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_USER_COLUMNS " FROM users WHERE email = ?"));
    st.Bind(1, email);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    // The message does not echo the address: it may end up in a response or a log.
    if (!row) return absl::NotFoundError("no user with that email");
    return ReadUser(st);
  }

  absl::Status UpdatePassword(std::string_view user_id, std::string_view hash,
                              bool must_change_password) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE users SET password_hash = ?, "
                                                   "must_change_password = ? WHERE id = ?"));
    st.Bind(1, hash).Bind(2, must_change_password).Bind(3, user_id);
    return ExpectChanged(st, "user", user_id);
  }

  absl::Status SetUserDisabled(std::string_view user_id, bool disabled) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE users SET disabled = ? WHERE id = ?"));
    st.Bind(1, disabled).Bind(2, user_id);
    return ExpectChanged(st, "user", user_id);
  }

  // ---- Memberships ----

  absl::Status AddMembership(const Membership& m) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(m));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO memberships (" EV_MEMBERSHIP_COLUMNS
                                                   ") VALUES (?, ?, ?, ?)"));
    st.Bind(1, m.org_id).Bind(2, m.user_id).Bind(3, RoleName(m.role)).Bind(4, Micros(m.created_at));
    return st.Run();
  }

  absl::StatusOr<Membership> GetMembership(std::string_view org_id,
                                           std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_MEMBERSHIP_COLUMNS
                                     " FROM memberships WHERE org_id = ? AND user_id = ?"));
    st.Bind(1, org_id).Bind(2, user_id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("membership of user", StrCat(user_id, "\" in org \"", org_id));
    return ReadMembership(st);
  }

  absl::StatusOr<std::vector<Membership>> ListMembers(std::string_view org_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_MEMBERSHIP_COLUMNS " FROM memberships "
                                     "WHERE org_id = ? ORDER BY created_at, user_id"));
    st.Bind(1, org_id);
    return ReadAll<Membership>(st, ReadMembership);
  }

  absl::StatusOr<std::vector<Membership>> ListMembershipsOfUser(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_MEMBERSHIP_COLUMNS " FROM memberships "
                                     "WHERE user_id = ? ORDER BY created_at, org_id"));
    st.Bind(1, user_id);
    return ReadAll<Membership>(st, ReadMembership);
  }

  absl::Status UpdateRole(std::string_view org_id, std::string_view user_id, Role role) override {
    EV_RETURN_IF_ERROR(control_internal::RequireRole(role));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE memberships SET role = ? "
                                                   "WHERE org_id = ? AND user_id = ?"));
    st.Bind(1, RoleName(role)).Bind(2, org_id).Bind(3, user_id);
    return ExpectChanged(st, "membership of user", StrCat(user_id, "\" in org \"", org_id));
  }

  absl::Status RemoveMembership(std::string_view org_id, std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("DELETE FROM memberships WHERE org_id = ? AND user_id = ?"));
    st.Bind(1, org_id).Bind(2, user_id);
    return ExpectChanged(st, "membership of user", StrCat(user_id, "\" in org \"", org_id));
  }

  absl::StatusOr<int64_t> CountMembersWithRole(std::string_view org_id, Role role) override {
    EV_RETURN_IF_ERROR(control_internal::RequireRole(role));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT COUNT(*) FROM memberships "
                                                   "WHERE org_id = ? AND role = ?"));
    st.Bind(1, org_id).Bind(2, RoleName(role));
    return Count(std::move(st));
  }

  // ---- Sessions ----

  absl::Status CreateSession(const Session& s) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(s));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO sessions (" EV_SESSION_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    st.Bind(1, s.token_hash)
        .Bind(2, s.user_id)
        .Bind(3, s.org_id)
        .Bind(4, Micros(s.created_at))
        .Bind(5, Micros(s.last_seen_at))
        .Bind(6, Micros(s.idle_expires_at))
        .Bind(7, Micros(s.absolute_expires_at))
        .Bind(8, s.client_address)
        .Bind(9, s.user_agent)
        .Bind(10, s.auth_methods);
    return st.Run();
  }

  absl::StatusOr<Session> GetSession(std::string_view token_hash) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_SESSION_COLUMNS
                                                   " FROM sessions WHERE token_hash = ?"));
    st.Bind(1, token_hash);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError("session not found");
    return ReadSession(st);
  }

  absl::Status TouchSession(std::string_view token_hash, absl::Time last_seen_at,
                            absl::Time idle_expires_at) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? "
                                     "WHERE token_hash = ?"));
    st.Bind(1, Micros(last_seen_at)).Bind(2, Micros(idle_expires_at)).Bind(3, token_hash);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 0) return absl::NotFoundError("session not found");
    return absl::OkStatus();
  }

  absl::Status DeleteSession(std::string_view token_hash) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM sessions WHERE token_hash = ?"));
    st.Bind(1, token_hash);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 0) return absl::NotFoundError("session not found");
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> DeleteSessionsOfUser(std::string_view user_id,
                                               std::string_view except_token_hash) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM sessions "
                                                   "WHERE user_id = ? AND token_hash <> ?"));
    st.Bind(1, user_id).Bind(2, except_token_hash);
    return Changed(st);
  }

  absl::StatusOr<int64_t> DeleteSessionsOfUserInOrg(std::string_view user_id,
                                                    std::string_view org_id,
                                                    std::string_view except_token_hash) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("DELETE FROM sessions "
                                     "WHERE user_id = ? AND org_id = ? AND token_hash <> ?"));
    st.Bind(1, user_id).Bind(2, org_id).Bind(3, except_token_hash);
    return Changed(st);
  }

  absl::StatusOr<std::vector<Session>> ListSessionsOfUser(std::string_view user_id,
                                                           absl::Time now) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_SESSION_COLUMNS " FROM sessions WHERE user_id = ? "
                                     "AND idle_expires_at > ? AND absolute_expires_at > ? "
                                     "ORDER BY last_seen_at DESC, token_hash"));
    st.Bind(1, user_id).Bind(2, Micros(now)).Bind(3, Micros(now));
    return ReadAll<Session>(st, ReadSession);
  }

  absl::StatusOr<int64_t> DeleteExpiredSessions(absl::Time now) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("DELETE FROM sessions "
                                     "WHERE idle_expires_at <= ? OR absolute_expires_at <= ?"));
    st.Bind(1, Micros(now)).Bind(2, Micros(now));
    return Changed(st);
  }

  // ---- API keys ----

  absl::Status CreateApiKey(const ApiKey& key) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(key));
    EV_ASSIGN_OR_RETURN(std::string scopes, ScopesToJson(key.scopes));
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("INSERT INTO api_keys (" EV_API_KEY_COLUMNS
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    st.Bind(1, key.id)
        .Bind(2, key.key_hash)
        .Bind(3, key.prefix)
        .Bind(4, key.org_id)
        .Bind(5, key.created_by)
        .Bind(6, key.name)
        .Bind(7, scopes)
        .Bind(8, RoleName(key.role))
        .Bind(9, Micros(key.created_at))
        .Bind(10, OptMicros(key.expires_at))
        .Bind(11, OptMicros(key.last_used_at))
        .Bind(12, OptMicros(key.revoked_at));
    return st.Run();
  }

  absl::StatusOr<ApiKey> GetApiKeyByHash(std::string_view key_hash) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_API_KEY_COLUMNS
                                                   " FROM api_keys WHERE key_hash = ?"));
    st.Bind(1, key_hash);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError("API key not found");
    return ReadApiKey(st);
  }

  absl::StatusOr<ApiKey> GetApiKey(std::string_view org_id, std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_API_KEY_COLUMNS
                                                   " FROM api_keys WHERE org_id = ? AND id = ?"));
    st.Bind(1, org_id).Bind(2, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("API key", id);
    return ReadApiKey(st);
  }

  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(std::string_view org_id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_API_KEY_COLUMNS " FROM api_keys "
                                                   "WHERE org_id = ? ORDER BY created_at, id"));
    st.Bind(1, org_id);
    return ReadAll<ApiKey>(st, ReadApiKey);
  }

  absl::Status RevokeApiKey(std::string_view org_id, std::string_view id, absl::Time at) override {
    return Revoke("api_keys", "API key", org_id, id, at);
  }

  absl::Status TouchApiKey(std::string_view id, absl::Time at) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?"));
    st.Bind(1, Micros(at)).Bind(2, id);
    return ExpectChanged(st, "API key", id);
  }

  // ---- SDK keys ----

  absl::Status CreateSdkKey(const SdkKey& key) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(key));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO sdk_keys (" EV_SDK_KEY_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    EV_ASSIGN_OR_RETURN(std::string origins, ScopesToJson(key.origins));
    st.Bind(1, key.id)
        .Bind(2, key.key_hash)
        .Bind(3, key.prefix)
        .Bind(4, key.org_id)
        .Bind(5, key.workspace_id)
        .Bind(6, key.environment)
        .Bind(7, key.name)
        .Bind(8, key.created_by)
        .Bind(9, Micros(key.created_at))
        .Bind(10, OptMicros(key.last_used_at))
        .Bind(11, OptMicros(key.revoked_at))
        .Bind(12, SdkKeyKindName(key.kind))
        .Bind(13, origins);
    return st.Run();
  }

  absl::StatusOr<SdkKey> GetSdkKeyByHash(std::string_view key_hash) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_SDK_KEY_COLUMNS
                                                   " FROM sdk_keys WHERE key_hash = ?"));
    st.Bind(1, key_hash);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError("SDK key not found");
    return ReadSdkKey(st);
  }

  absl::StatusOr<std::vector<SdkKey>> ListSdkKeys(std::string_view org_id,
                                                  std::string_view workspace_id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_SDK_KEY_COLUMNS " FROM sdk_keys "
                                                   "WHERE org_id = ? AND workspace_id = ? "
                                                   "ORDER BY created_at, id"));
    st.Bind(1, org_id).Bind(2, workspace_id);
    return ReadAll<SdkKey>(st, ReadSdkKey);
  }

  absl::Status RevokeSdkKey(std::string_view org_id, std::string_view id, absl::Time at) override {
    return Revoke("sdk_keys", "SDK key", org_id, id, at);
  }

  // ---- Workspaces ----

  absl::Status CreateWorkspace(const Workspace& ws) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(ws));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO workspaces (" EV_WORKSPACE_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?)"));
    st.Bind(1, ws.id)
        .Bind(2, ws.org_id)
        .Bind(3, ws.key)
        .Bind(4, ws.name)
        .Bind(5, Micros(ws.created_at));
    return st.Run();
  }

  absl::StatusOr<Workspace> GetWorkspaceByKey(std::string_view org_id,
                                              std::string_view key) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_WORKSPACE_READ_COLUMNS
                                     " FROM workspaces WHERE org_id = ? AND key = ?"));
    st.Bind(1, org_id).Bind(2, key);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("workspace", key);
    return ReadWorkspace(st);
  }

  absl::StatusOr<Workspace> GetWorkspaceById(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_WORKSPACE_READ_COLUMNS " FROM workspaces WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("workspace", id);
    return ReadWorkspace(st);
  }

  absl::StatusOr<std::vector<Workspace>> ListWorkspaces(std::string_view org_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_WORKSPACE_READ_COLUMNS " FROM workspaces "
                                     "WHERE org_id = ? ORDER BY created_at, id"));
    st.Bind(1, org_id);
    return ReadAll<Workspace>(st, ReadWorkspace);
  }

  absl::Status RenameWorkspace(std::string_view org_id, std::string_view id, std::string_view name) override {
    EV_RETURN_IF_ERROR(control_internal::RequireNonEmpty(name, "workspace name"));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE workspaces SET name = ? WHERE org_id = ? AND id = ?"));
    st.Bind(1, name).Bind(2, org_id).Bind(3, id);
    return ExpectChanged(st, "workspace", id);
  }

  absl::StatusOr<Workspace> MarkWorkspaceDeleted(std::string_view org_id, std::string_view id, absl::Time at,
                                                 absl::Time purge_after) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE workspaces SET deleted_at = ?, purge_after = ? "
                                                   "WHERE org_id = ? AND id = ? AND deleted_at IS NULL"));
    st.Bind(1, Micros(at)).Bind(2, Micros(purge_after)).Bind(3, org_id).Bind(4, id);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    EV_ASSIGN_OR_RETURN(Workspace ws, control_internal::InOrg(GetWorkspaceById(id), org_id, id));
    if (changed == 0) return control_internal::WorkspaceDeletedAlready(id);
    return ws;
  }

  absl::StatusOr<Workspace> RestoreWorkspace(std::string_view org_id, std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE workspaces SET deleted_at = NULL, purge_after = NULL "
                                                   "WHERE org_id = ? AND id = ? AND deleted_at IS NOT NULL"));
    st.Bind(1, org_id).Bind(2, id);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    EV_ASSIGN_OR_RETURN(Workspace ws, control_internal::InOrg(GetWorkspaceById(id), org_id, id));
    if (changed == 0) return control_internal::WorkspaceNotDeleted(id);
    return ws;
  }

  absl::StatusOr<std::vector<Workspace>> ListWorkspacesDueForPurge(absl::Time now, int limit) override {
    EV_RETURN_IF_ERROR(control_internal::CheckPurgeLimit(limit));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WORKSPACE_READ_COLUMNS " FROM workspaces "
                                                   "WHERE purge_after IS NOT NULL AND purge_after <= ? "
                                                   "ORDER BY purge_after, id LIMIT ?"));
    st.Bind(1, Micros(now)).Bind(2, static_cast<int64_t>(limit));
    return ReadAll<Workspace>(st, ReadWorkspace);
  }

  absl::Status PurgeWorkspace(std::string_view org_id, std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM workspaces "
                                                   "WHERE org_id = ? AND id = ? AND deleted_at IS NOT NULL"));
    st.Bind(1, org_id).Bind(2, id);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed > 0) return absl::OkStatus();
    EV_RETURN_IF_ERROR(control_internal::InOrg(GetWorkspaceById(id), org_id, id).status());
    return control_internal::WorkspaceNotDeleted(id);
  }

  absl::Status DeleteWorkspace(std::string_view org_id, std::string_view id) override {
    // Its SDK keys go with it (ON DELETE CASCADE).
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("DELETE FROM workspaces WHERE org_id = ? AND id = ?"));
    st.Bind(1, org_id).Bind(2, id);
    return ExpectChanged(st, "workspace", id);
  }

  // ---- TOTP ----

  absl::Status PutTotp(const TotpState& state) override {
    EV_RETURN_IF_ERROR(control_internal::RequireNonEmpty(state.user_id, "TOTP user id"));
    // Only ever the sealed secret is written (docs/design/sealed-totp.md).
    if (totp_sealer_ == nullptr) return NoTotpSealer();
    EV_ASSIGN_OR_RETURN(std::string sealed, totp_sealer_->Seal(state.secret, state.user_id));
    EV_ASSIGN_OR_RETURN(
        Statement st,
        db_->Prepare("INSERT INTO totp (" EV_TOTP_COLUMNS ") VALUES (?, ?, ?, ?, ?, 1) "
                     "ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, "
                     "confirmed = excluded.confirmed, last_step = excluded.last_step, "
                     "created_at = excluded.created_at, sealed = 1"));
    st.Bind(1, state.user_id)
        .Bind(2, Blob{sealed})
        .Bind(3, state.confirmed)
        .Bind(4, state.last_step)
        .Bind(5, Micros(state.created_at));
    return st.Run();
  }

  // Seals every TOTP secret still stored raw (rows from before schema step 3) in one
  // transaction; returns how many. Run once at open by a store that has a sealer.
  absl::StatusOr<int64_t> SealLegacyTotpSecrets() {
    if (totp_sealer_ == nullptr) return NoTotpSealer();
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    std::vector<std::pair<std::string, std::string>> raw;  // user id, secret
    {
      EV_ASSIGN_OR_RETURN(Statement st,
                          db_->Prepare("SELECT user_id, secret FROM totp WHERE sealed = 0"));
      while (true) {
        EV_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        raw.emplace_back(st.ColumnText(0), st.ColumnBlob(1));
      }
    }
    for (auto& [user_id, secret] : raw) {
      EV_ASSIGN_OR_RETURN(std::string sealed, totp_sealer_->Seal(secret, user_id));
      std::fill(secret.begin(), secret.end(), '\0');
      EV_ASSIGN_OR_RETURN(Statement up, db_->Prepare("UPDATE totp SET secret = ?, sealed = 1 "
                                                     "WHERE user_id = ? AND sealed = 0"));
      up.Bind(1, Blob{sealed}).Bind(2, user_id);
      EV_RETURN_IF_ERROR(up.Run());
    }
    EV_RETURN_IF_ERROR(tx.Commit());
    return static_cast<int64_t>(raw.size());
  }

  absl::StatusOr<TotpState> GetTotp(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_TOTP_COLUMNS " FROM totp WHERE user_id = ?"));
    st.Bind(1, user_id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("TOTP state of user", user_id);
    return ReadTotp(st, totp_sealer_);
  }

  absl::Status ConfirmTotp(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE totp SET confirmed = 1 WHERE user_id = ?"));
    st.Bind(1, user_id);
    return ExpectChanged(st, "TOTP state of user", user_id);
  }

  absl::StatusOr<bool> AdvanceTotpStep(std::string_view user_id, int64_t step) override {
    // One conditional UPDATE: of two concurrent callers with the same step (even in two
    // processes), only one changes the row.
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE totp SET last_step = ? "
                                                   "WHERE user_id = ? AND last_step < ?"));
    st.Bind(1, step).Bind(2, user_id).Bind(3, step);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 1) return true;
    EV_ASSIGN_OR_RETURN(Statement exists, db_->Prepare("SELECT 1 FROM totp WHERE user_id = ?"));
    exists.Bind(1, user_id);
    EV_ASSIGN_OR_RETURN(bool row, exists.Step());
    if (!row) return NotFound("TOTP state of user", user_id);
    return false;
  }

  absl::Status DeleteTotp(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM totp WHERE user_id = ?"));
    st.Bind(1, user_id);
    EV_RETURN_IF_ERROR(ExpectChanged(st, "TOTP state of user", user_id));
    EV_ASSIGN_OR_RETURN(Statement codes,
                        db_->Prepare("DELETE FROM recovery_codes WHERE user_id = ?"));
    codes.Bind(1, user_id);
    EV_RETURN_IF_ERROR(codes.Run());
    return tx.Commit();
  }

  // ---- Recovery codes ----

  absl::Status ReplaceRecoveryCodes(std::string_view user_id,
                                    const std::vector<std::string>& code_hashes) override {
    EV_RETURN_IF_ERROR(control_internal::CheckRecoveryCodes(user_id, code_hashes));
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    EV_ASSIGN_OR_RETURN(Statement del,
                        db_->Prepare("DELETE FROM recovery_codes WHERE user_id = ?"));
    del.Bind(1, user_id);
    EV_RETURN_IF_ERROR(del.Run());
    EV_ASSIGN_OR_RETURN(Statement ins,
                        db_->Prepare("INSERT INTO recovery_codes (user_id, code_hash, used_at) "
                                     "VALUES (?, ?, NULL)"));
    for (const std::string& h : code_hashes) {
      ins.Reset();
      ins.Bind(1, user_id).Bind(2, h);
      EV_RETURN_IF_ERROR(ins.Run());
    }
    return tx.Commit();
  }

  absl::StatusOr<bool> ConsumeRecoveryCode(std::string_view user_id,
                                           std::string_view code_hash) override {
    // One conditional UPDATE, so a code is accepted at most once even under races.
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE recovery_codes SET used_at = ? "
                                     "WHERE user_id = ? AND code_hash = ? AND used_at IS NULL"));
    st.Bind(1, Micros(env_->Now())).Bind(2, user_id).Bind(3, code_hash);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    return changed == 1;
  }

  absl::StatusOr<int64_t> CountUnusedRecoveryCodes(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT COUNT(*) FROM recovery_codes "
                                                   "WHERE user_id = ? AND used_at IS NULL"));
    st.Bind(1, user_id);
    return Count(std::move(st));
  }

  // ---- Passkeys ----

  absl::Status AddPasskey(const PasskeyCredential& c) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(c));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO passkeys (" EV_PASSKEY_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    st.Bind(1, Blob{c.credential_id})
        .Bind(2, c.user_id)
        .Bind(3, Blob{c.public_key_cose})
        .Bind(4, c.algorithm)
        .Bind(5, c.sign_count)
        .Bind(6, c.name)
        .Bind(7, Blob{c.aaguid})
        .Bind(8, c.user_verified_at_registration)
        .Bind(9, Micros(c.created_at))
        .Bind(10, OptMicros(c.last_used_at));
    return st.Run();
  }

  absl::StatusOr<PasskeyCredential> GetPasskey(std::string_view credential_id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_PASSKEY_COLUMNS
                                                   " FROM passkeys WHERE credential_id = ?"));
    st.Bind(1, Blob{credential_id});
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError("passkey not found");
    return ReadPasskey(st);
  }

  absl::StatusOr<std::vector<PasskeyCredential>> ListPasskeys(std::string_view user_id) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_PASSKEY_COLUMNS " FROM passkeys "
                                     "WHERE user_id = ? ORDER BY created_at, credential_id"));
    st.Bind(1, user_id);
    return ReadAll<PasskeyCredential>(st, ReadPasskey);
  }

  absl::Status UpdatePasskeyUse(std::string_view credential_id, uint32_t sign_count,
                                absl::Time at) override {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE passkeys SET sign_count = ?, last_used_at = ? "
                                     "WHERE credential_id = ?"));
    st.Bind(1, sign_count).Bind(2, Micros(at)).Bind(3, Blob{credential_id});
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 0) return absl::NotFoundError("passkey not found");
    return absl::OkStatus();
  }

  absl::Status DeletePasskey(std::string_view user_id, std::string_view credential_id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM passkeys "
                                                   "WHERE user_id = ? AND credential_id = ?"));
    st.Bind(1, user_id).Bind(2, Blob{credential_id});
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 0) return absl::NotFoundError("passkey not found");
    return absl::OkStatus();
  }

  // ---- Challenges ----

  absl::Status PutChallenge(const Challenge& c) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(c));
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("INSERT INTO challenges (id, kind, user_id, payload, "
                                     "expires_at) VALUES (?, ?, ?, ?, ?)"));
    st.Bind(1, c.id)
        .Bind(2, c.kind)
        .Bind(3, c.user_id)
        .Bind(4, Blob{c.payload})
        .Bind(5, Micros(c.expires_at));
    return st.Run();
  }

  static Challenge ReadChallengeRow(const Statement& st) {
    return Challenge{.id = st.ColumnText(0),
                     .kind = st.ColumnText(1),
                     .user_id = st.ColumnText(2),
                     .payload = st.ColumnBlob(3),
                     .expires_at = FromMicros(st.ColumnInt64(4))};
  }

  absl::StatusOr<Challenge> GetChallenge(std::string_view id, std::string_view kind, absl::Time now) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT id, kind, user_id, payload, expires_at FROM challenges "
                                                   "WHERE id = ? AND kind = ? AND expires_at > ?"));
    st.Bind(1, id).Bind(2, kind).Bind(3, Micros(now));
    EV_ASSIGN_OR_RETURN(std::vector<Challenge> rows, ReadAll<Challenge>(st, ReadChallengeRow));
    if (rows.empty()) return absl::NotFoundError("challenge not found, already used, or expired");
    return std::move(rows.front());
  }

  absl::StatusOr<std::vector<Challenge>> ListChallengesOfUser(std::string_view user_id, std::string_view kind,
                                                              absl::Time now, int limit) override {
    if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be 1..1000");
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT id, kind, user_id, payload, expires_at FROM challenges "
                                                   "WHERE user_id = ? AND kind = ? AND expires_at > ? "
                                                   "ORDER BY id LIMIT ?"));
    st.Bind(1, user_id).Bind(2, kind).Bind(3, Micros(now)).Bind(4, static_cast<int64_t>(limit));
    return ReadAll<Challenge>(st, ReadChallengeRow);
  }

  absl::StatusOr<Challenge> TakeChallenge(std::string_view id, std::string_view kind,
                                          absl::Time now) override {
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    std::optional<Challenge> taken;
    {
      // DELETE ... RETURNING: the read and the delete are one statement, so two callers
      // can never both get the row. A kind mismatch matches nothing and consumes nothing.
      EV_ASSIGN_OR_RETURN(Statement st,
                          db_->Prepare("DELETE FROM challenges WHERE id = ? AND kind = ? "
                                       "RETURNING id, kind, user_id, payload, expires_at"));
      st.Bind(1, id).Bind(2, kind);
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (row) {
        taken = Challenge{.id = st.ColumnText(0),
                          .kind = st.ColumnText(1),
                          .user_id = st.ColumnText(2),
                          .payload = st.ColumnBlob(3),
                          .expires_at = FromMicros(st.ColumnInt64(4))};
      }
      EV_RETURN_IF_ERROR(st.Run());
    }
    {
      // Housekeeping: challenges nobody took would otherwise stay forever.
      EV_ASSIGN_OR_RETURN(Statement gc,
                          db_->Prepare("DELETE FROM challenges WHERE expires_at <= ?"));
      gc.Bind(1, Micros(now));
      EV_RETURN_IF_ERROR(gc.Run());
    }
    EV_RETURN_IF_ERROR(tx.Commit());
    if (!taken.has_value() || taken->expires_at <= now) {
      return absl::NotFoundError("challenge not found, already used, or expired");
    }
    return *std::move(taken);
  }

  // ---- Invitations ----

  absl::Status CreateInvitation(const Invitation& inv) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(inv));
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    {
      // A pending invitation that has expired no longer holds the (org, email) slot.
      EV_ASSIGN_OR_RETURN(Statement expire,
                          db_->Prepare("UPDATE invitations SET status = 'expired' "
                                       "WHERE org_id = ? AND email = ? AND status = 'pending' "
                                       "AND expires_at <= ?"));
      expire.Bind(1, inv.org_id).Bind(2, inv.email).Bind(3, Micros(inv.created_at));
      EV_RETURN_IF_ERROR(expire.Run());
    }
    {
      EV_ASSIGN_OR_RETURN(Statement st,
                          db_->Prepare("INSERT INTO invitations (" EV_INVITATION_COLUMNS
                                       ") VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL)"));
      st.Bind(1, inv.id)
          .Bind(2, inv.org_id)
          .Bind(3, inv.email)
          .Bind(4, RoleName(inv.role))
          .Bind(5, inv.invited_by)
          .Bind(6, inv.creates_account)
          .Bind(7, Micros(inv.created_at))
          .Bind(8, Micros(inv.expires_at));
      EV_RETURN_IF_ERROR(st.Run());
    }
    return tx.Commit();
  }

  absl::StatusOr<Invitation> GetInvitation(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_INVITATION_COLUMNS
                                                   " FROM invitations WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("invitation", id);
    return ReadInvitation(st);
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
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE invitations SET status = ?, responded_at = ? "
                                     "WHERE id = ? AND status = 'pending' AND expires_at > ?"));
    st.Bind(1, InvitationStatusName(status)).Bind(2, Micros(at)).Bind(3, id).Bind(4, Micros(at));
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 0) return absl::NotFoundError("no pending invitation with that id");
    return absl::OkStatus();
  }

  // ---- Outbox ----

  absl::Status AppendOutbox(const OutboxEvent& e) override {
    EV_RETURN_IF_ERROR(control_internal::CheckNew(e));
    EV_ASSIGN_OR_RETURN(
        Statement st, db_->Prepare("INSERT INTO outbox (" EV_OUTBOX_COLUMNS ") VALUES (?, ?, ?)"));
    st.Bind(1, e.id).Bind(2, e.json).Bind(3, Micros(e.created_at));
    return st.Run();
  }

  absl::StatusOr<std::vector<OutboxEvent>> PeekOutbox(int limit) override {
    if (limit < 0) return absl::InvalidArgumentError("control store: negative outbox limit");
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_OUTBOX_COLUMNS " FROM outbox "
                                                   "ORDER BY created_at, id LIMIT ?"));
    st.Bind(1, limit);
    return ReadAll<OutboxEvent>(st, ReadOutbox);
  }

  absl::Status DeleteOutbox(const std::vector<std::string>& ids) override {
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM outbox WHERE id = ?"));
    for (const std::string& id : ids) {
      st.Reset();
      st.Bind(1, id);
      EV_RETURN_IF_ERROR(st.Run());  // unknown ids are ignored: the relay may retry
    }
    return tx.Commit();
  }

 private:
  // Runs a write and returns the number of rows it changed.
  absl::StatusOr<int64_t> Changed(Statement& st) {
    EV_RETURN_IF_ERROR(st.Run());
    return db_->Changes();
  }

  absl::Status ExpectChanged(Statement& st, std::string_view what, std::string_view key) {
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 0) return NotFound(what, key);
    return absl::OkStatus();
  }

  static absl::StatusOr<int64_t> Count(absl::StatusOr<Statement> prepared) {
    if (!prepared.ok()) return prepared.status();
    Statement& st = *prepared;
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::InternalError("control store: COUNT returned no row");
    return st.ColumnInt64(0);
  }

  template <typename T, typename Reader>
  static absl::StatusOr<std::vector<T>> ReadAll(Statement& st, Reader read) {
    std::vector<T> out;
    for (;;) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return out;
      if constexpr (std::is_same_v<decltype(read(st)), T>) {
        out.push_back(read(st));
      } else {
        EV_ASSIGN_OR_RETURN(T item, read(st));
        out.push_back(std::move(item));
      }
    }
  }

  // Pending invitations not expired at `now` whose `column` (email or org_id) is `value`.
  absl::StatusOr<std::vector<Invitation>> ListPendingInvitations(std::string_view column,
                                                                 std::string_view value,
                                                                 absl::Time now) {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare(StrCat("SELECT " EV_INVITATION_COLUMNS " FROM invitations WHERE ",
                                            column, " = ? AND status = 'pending' AND expires_at > ? "
                                            "ORDER BY created_at, id")));
    st.Bind(1, value).Bind(2, Micros(now));
    return ReadAll<Invitation>(st, ReadInvitation);
  }

  absl::Status Revoke(std::string_view table, std::string_view what, std::string_view org_id,
                      std::string_view id, absl::Time at) {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare(StrCat("UPDATE ", table,
                                            " SET revoked_at = ? "
                                            "WHERE org_id = ? AND id = ? AND revoked_at IS NULL")));
    st.Bind(1, Micros(at)).Bind(2, org_id).Bind(3, id);
    EV_ASSIGN_OR_RETURN(int64_t changed, Changed(st));
    if (changed == 1) return absl::OkStatus();
    EV_ASSIGN_OR_RETURN(Statement exists, db_->Prepare(StrCat("SELECT 1 FROM ", table,
                                                              " WHERE org_id = ? AND id = ?")));
    exists.Bind(1, org_id).Bind(2, id);
    EV_ASSIGN_OR_RETURN(bool row, exists.Step());
    if (!row) return NotFound(what, id);
    return absl::FailedPreconditionError(StrCat(what, " \"", id, "\" is already revoked"));
  }

  SqliteDb* db_;
  base::Env* env_;
  const SecretSealer* totp_sealer_;  // may be null: then no TOTP secret is written or opened
};

// The public store: every call takes the mutex and runs on ControlQueries.
class SqliteControlStore final : public ControlStore {
 public:
  SqliteControlStore(std::unique_ptr<SqliteDb> db, base::Env* env, const SecretSealer* totp_sealer)
      : db_(std::move(db)), queries_(db_.get(), env, totp_sealer) {}

  absl::StatusOr<int64_t> SealLegacyTotpSecrets() {
    return Locked([&] { return queries_.SealLegacyTotpSecrets(); });
  }

  absl::Status WithTransaction(std::function<absl::Status(ControlStore& tx)> fn) override {
    return Locked([&] { return queries_.WithTransaction(fn); });
  }

#define EV_FORWARD(ret, name, params, args)            \
  ret name params override {                           \
    return Locked([&] { return queries_.name args; }); \
  }

  EV_FORWARD(absl::StatusOr<int64_t>, CountRows, (std::string_view t), (t))
  EV_FORWARD(absl::StatusOr<std::vector<TransferRow>>, ExportRows,
             (std::string_view t, int64_t o, int l), (t, o, l))
  EV_FORWARD(absl::StatusOr<int64_t>, ImportRows,
             (std::string_view t, const std::vector<TransferRow>& r), (t, r))
  EV_FORWARD(absl::Status, CreateOrg, (const Org& o), (o))
  EV_FORWARD(absl::StatusOr<Org>, GetOrg, (std::string_view id), (id))
  EV_FORWARD(absl::StatusOr<Org>, GetOrgByName, (std::string_view n), (n))
  EV_FORWARD(absl::Status, SetEntitlements, (std::string_view o, const Entitlements& e), (o, e))
  EV_FORWARD(absl::StatusOr<int64_t>, CountUsers, (), ())
  EV_FORWARD(absl::Status, CreateUser, (const User& u), (u))
  EV_FORWARD(absl::StatusOr<User>, GetUser, (std::string_view id), (id))
  EV_FORWARD(absl::StatusOr<User>, GetUserByEmail, (std::string_view e), (e))
  EV_FORWARD(absl::Status, UpdatePassword, (std::string_view u, std::string_view h, bool m),
             (u, h, m))
  EV_FORWARD(absl::Status, SetUserDisabled, (std::string_view u, bool d), (u, d))
  EV_FORWARD(absl::Status, AddMembership, (const Membership& m), (m))
  EV_FORWARD(absl::StatusOr<Membership>, GetMembership, (std::string_view o, std::string_view u),
             (o, u))
  EV_FORWARD(absl::StatusOr<std::vector<Membership>>, ListMembers, (std::string_view o), (o))
  EV_FORWARD(absl::StatusOr<std::vector<Membership>>, ListMembershipsOfUser, (std::string_view u),
             (u))
  EV_FORWARD(absl::Status, UpdateRole, (std::string_view o, std::string_view u, Role r), (o, u, r))
  EV_FORWARD(absl::Status, RemoveMembership, (std::string_view o, std::string_view u), (o, u))
  EV_FORWARD(absl::StatusOr<int64_t>, CountMembersWithRole, (std::string_view o, Role r), (o, r))
  EV_FORWARD(absl::Status, CreateSession, (const Session& s), (s))
  EV_FORWARD(absl::StatusOr<Session>, GetSession, (std::string_view t), (t))
  EV_FORWARD(absl::Status, TouchSession, (std::string_view t, absl::Time a, absl::Time b),
             (t, a, b))
  EV_FORWARD(absl::Status, DeleteSession, (std::string_view t), (t))
  EV_FORWARD(absl::StatusOr<int64_t>, DeleteSessionsOfUser,
             (std::string_view u, std::string_view e), (u, e))
  EV_FORWARD(absl::StatusOr<int64_t>, DeleteSessionsOfUserInOrg,
             (std::string_view u, std::string_view o, std::string_view e), (u, o, e))
  EV_FORWARD(absl::StatusOr<int64_t>, DeleteExpiredSessions, (absl::Time n), (n))
  EV_FORWARD(absl::StatusOr<std::vector<Session>>, ListSessionsOfUser, (std::string_view u, absl::Time n),
             (u, n))
  EV_FORWARD(absl::Status, CreateApiKey, (const ApiKey& k), (k))
  EV_FORWARD(absl::StatusOr<ApiKey>, GetApiKeyByHash, (std::string_view h), (h))
  EV_FORWARD(absl::StatusOr<ApiKey>, GetApiKey, (std::string_view o, std::string_view id), (o, id))
  EV_FORWARD(absl::StatusOr<std::vector<ApiKey>>, ListApiKeys, (std::string_view o), (o))
  EV_FORWARD(absl::Status, RevokeApiKey, (std::string_view o, std::string_view id, absl::Time a),
             (o, id, a))
  EV_FORWARD(absl::Status, TouchApiKey, (std::string_view id, absl::Time a), (id, a))
  EV_FORWARD(absl::Status, CreateSdkKey, (const SdkKey& k), (k))
  EV_FORWARD(absl::StatusOr<SdkKey>, GetSdkKeyByHash, (std::string_view h), (h))
  EV_FORWARD(absl::StatusOr<std::vector<SdkKey>>, ListSdkKeys,
             (std::string_view o, std::string_view w), (o, w))
  EV_FORWARD(absl::Status, RevokeSdkKey, (std::string_view o, std::string_view id, absl::Time a),
             (o, id, a))
  EV_FORWARD(absl::Status, CreateWorkspace, (const Workspace& w), (w))
  EV_FORWARD(absl::StatusOr<Workspace>, GetWorkspaceByKey, (std::string_view o, std::string_view k),
             (o, k))
  EV_FORWARD(absl::StatusOr<Workspace>, GetWorkspaceById, (std::string_view id), (id))
  EV_FORWARD(absl::StatusOr<std::vector<Workspace>>, ListWorkspaces, (std::string_view o), (o))
  EV_FORWARD(absl::Status, RenameWorkspace, (std::string_view o, std::string_view id, std::string_view n),
             (o, id, n))
  EV_FORWARD(absl::Status, DeleteWorkspace, (std::string_view o, std::string_view id), (o, id))
  EV_FORWARD(absl::StatusOr<Workspace>, MarkWorkspaceDeleted,
             (std::string_view o, std::string_view id, absl::Time a, absl::Time p), (o, id, a, p))
  EV_FORWARD(absl::StatusOr<Workspace>, RestoreWorkspace, (std::string_view o, std::string_view id), (o, id))
  EV_FORWARD(absl::StatusOr<std::vector<Workspace>>, ListWorkspacesDueForPurge, (absl::Time n, int l), (n, l))
  EV_FORWARD(absl::Status, PurgeWorkspace, (std::string_view o, std::string_view id), (o, id))
  EV_FORWARD(absl::Status, PutTotp, (const TotpState& s), (s))
  EV_FORWARD(absl::StatusOr<TotpState>, GetTotp, (std::string_view u), (u))
  EV_FORWARD(absl::Status, ConfirmTotp, (std::string_view u), (u))
  EV_FORWARD(absl::StatusOr<bool>, AdvanceTotpStep, (std::string_view u, int64_t s), (u, s))
  EV_FORWARD(absl::Status, DeleteTotp, (std::string_view u), (u))
  EV_FORWARD(absl::Status, ReplaceRecoveryCodes,
             (std::string_view u, const std::vector<std::string>& h), (u, h))
  EV_FORWARD(absl::StatusOr<bool>, ConsumeRecoveryCode, (std::string_view u, std::string_view h),
             (u, h))
  EV_FORWARD(absl::StatusOr<int64_t>, CountUnusedRecoveryCodes, (std::string_view u), (u))
  EV_FORWARD(absl::Status, AddPasskey, (const PasskeyCredential& c), (c))
  EV_FORWARD(absl::StatusOr<PasskeyCredential>, GetPasskey, (std::string_view c), (c))
  EV_FORWARD(absl::StatusOr<std::vector<PasskeyCredential>>, ListPasskeys, (std::string_view u),
             (u))
  EV_FORWARD(absl::Status, UpdatePasskeyUse, (std::string_view c, uint32_t n, absl::Time a),
             (c, n, a))
  EV_FORWARD(absl::Status, DeletePasskey, (std::string_view u, std::string_view c), (u, c))
  EV_FORWARD(absl::Status, PutChallenge, (const Challenge& c), (c))
  EV_FORWARD(absl::StatusOr<Challenge>, TakeChallenge,
             (std::string_view id, std::string_view k, absl::Time n), (id, k, n))
  EV_FORWARD(absl::StatusOr<Challenge>, GetChallenge, (std::string_view id, std::string_view k, absl::Time n),
             (id, k, n))
  EV_FORWARD(absl::StatusOr<std::vector<Challenge>>, ListChallengesOfUser,
             (std::string_view u, std::string_view k, absl::Time n, int l), (u, k, n, l))
  EV_FORWARD(absl::Status, CreateInvitation, (const Invitation& i), (i))
  EV_FORWARD(absl::StatusOr<Invitation>, GetInvitation, (std::string_view id), (id))
  EV_FORWARD(absl::StatusOr<std::vector<Invitation>>, ListPendingInvitationsForEmail,
             (std::string_view e, absl::Time n), (e, n))
  EV_FORWARD(absl::StatusOr<std::vector<Invitation>>, ListPendingInvitationsOfOrg,
             (std::string_view o, absl::Time n), (o, n))
  EV_FORWARD(absl::Status, RespondToInvitation,
             (std::string_view id, InvitationStatus s, absl::Time a), (id, s, a))
  EV_FORWARD(absl::Status, AppendOutbox, (const OutboxEvent& e), (e))
  EV_FORWARD(absl::StatusOr<std::vector<OutboxEvent>>, PeekOutbox, (int limit), (limit))
  EV_FORWARD(absl::Status, DeleteOutbox, (const std::vector<std::string>& ids), (ids))

#undef EV_FORWARD

 private:
  // Runs `f` holding the mutex. A call from the thread that already holds it (a call on
  // the store instead of on `tx` inside WithTransaction) fails instead of deadlocking.
  template <typename F>
  auto Locked(F&& f) -> decltype(f()) {
    if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      return absl::FailedPreconditionError(
          "control store: called on the store from inside WithTransaction; use the "
          "ControlStore& passed to the function");
    }
    std::lock_guard<std::mutex> lock(mu_);
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    struct ClearOwner {
      std::atomic<std::thread::id>* owner;
      ~ClearOwner() { owner->store(std::thread::id(), std::memory_order_relaxed); }
    } clear{&owner_};
    return f();
  }

  std::mutex mu_;
  std::atomic<std::thread::id> owner_{};
  std::unique_ptr<SqliteDb> db_;
  ControlQueries queries_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlStore>> OpenSqliteControlStore(
    const SqliteControlStoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("control store: empty path");
  if (options.env == nullptr) return absl::InvalidArgumentError("control store: null env");
  EV_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db,
                      SqliteDb::Open(SqliteOptions{.path = options.path, .create_mode = 0600}));
  EV_RETURN_IF_ERROR(Migrate(*db, ControlDbMigrations()));
  // Deleted and replaced content is overwritten with zeros, so a TOTP secret replaced by
  // its sealed form leaves no copy in a free page of the file.
  EV_RETURN_IF_ERROR(db->Exec("PRAGMA secure_delete = ON"));
  SqliteDb* raw_db = db.get();
  auto store = std::make_unique<SqliteControlStore>(std::move(db), options.env, options.totp_sealer);
  if (options.totp_sealer != nullptr) {
    // The data half of schema step 3: from here on no TOTP secret is stored raw.
    EV_ASSIGN_OR_RETURN(int64_t sealed, store->SealLegacyTotpSecrets());
    if (sealed > 0) {
      // The WAL still holds the pages with the raw secrets: copy the sealed pages into the
      // database file and empty the WAL (best effort: another reader may hold it open).
      absl::Status checkpoint = raw_db->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
      EV_LOG(kInfo, "control store: sealed TOTP secrets stored in clear text",
             {{"rows", sealed}, {"wal_checkpoint", checkpoint.ok() ? "done" : checkpoint.ToString()}});
    }
  }
  return std::unique_ptr<ControlStore>(std::move(store));
}

}  // namespace edgevault::storage
