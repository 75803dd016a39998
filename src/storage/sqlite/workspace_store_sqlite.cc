#include "src/storage/sqlite/workspace_store_sqlite.h"

#include <mutex>
#include <optional>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/internal/workspace_store_checks.h"
#include "src/storage/internal/workspace_store_sql.h"
#include "src/storage/sqlite/sqlite_db.h"
#include "src/storage/sqlite/sqlite_transfer.h"

namespace edgevault::storage {

// The schema, one string per migration step. Portable SQL: TEXT, BIGINT, partial indexes;
// times are BIGINT microseconds since the epoch, bodies are JSON text. The append-only
// triggers are per backend (PostgreSQL gets its own). Every step ends by recording its
// number in meta.schema_version. Never edit a released step: append a new one
// (docs/design/workspace-db.md).
const std::vector<std::string>& WorkspaceDbMigrations() {
  static const std::vector<std::string>* const kSteps = new std::vector<std::string>{
      // 1: the initial schema.
      R"sql(
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE items (
  kind       TEXT   NOT NULL
             CHECK (kind IN ('environment', 'config', 'flag', 'segment', 'secret')),
  key        TEXT   NOT NULL CHECK (key <> ''),
  body       TEXT   NOT NULL,
  revision   BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (kind, key)
);
CREATE TABLE revisions (
  seq         BIGINT PRIMARY KEY CHECK (seq > 0),
  time        BIGINT NOT NULL,
  actor       TEXT   NOT NULL,
  reason      TEXT   NOT NULL,
  op          TEXT   NOT NULL,
  kind        TEXT   NOT NULL
              CHECK (kind IN ('environment', 'config', 'flag', 'segment', 'secret')),
  key         TEXT   NOT NULL CHECK (key <> ''),
  environment TEXT   NOT NULL,
  before      TEXT   NOT NULL,
  after       TEXT   NOT NULL
);
CREATE INDEX revisions_by_item ON revisions (kind, key, seq);
CREATE TRIGGER revisions_no_update BEFORE UPDATE ON revisions
BEGIN
  SELECT RAISE(ABORT, 'revisions are append-only');
END;
CREATE TRIGGER revisions_no_delete BEFORE DELETE ON revisions
BEGIN
  SELECT RAISE(ABORT, 'revisions are append-only');
END;
CREATE TABLE outbox (
  id         BIGINT PRIMARY KEY,
  kind       TEXT   NOT NULL CHECK (kind <> ''),
  payload    TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  attempts   BIGINT NOT NULL DEFAULT 0,
  done_at    BIGINT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL;
CREATE TABLE activity (
  id      BIGINT PRIMARY KEY,
  time    BIGINT NOT NULL,
  actor   TEXT   NOT NULL,
  action  TEXT   NOT NULL CHECK (action <> ''),
  details TEXT   NOT NULL
);
INSERT INTO meta (name, value) VALUES ('schema_version', '1');
)sql",
      // 2: data keys of secret values (envelope format 0x02), re-wrapped in place by
      // master-key rotation.
      R"sql(
CREATE TABLE data_keys (
  id            TEXT PRIMARY KEY CHECK (id <> ''),
  master_key_id TEXT NOT NULL CHECK (master_key_id <> ''),
  wrapped       BLOB NOT NULL
);
CREATE INDEX data_keys_by_master_key ON data_keys (master_key_id, id);
UPDATE meta SET value = '2' WHERE name = 'schema_version';
)sql",
      // 3: change requests, their reviews and comments (docs/design/promotions.md).
      R"sql(
CREATE TABLE change_requests (
  id               BIGINT PRIMARY KEY CHECK (id > 0),
  version          BIGINT NOT NULL,
  title            TEXT NOT NULL CHECK (title <> ''),
  description      TEXT NOT NULL,
  author           TEXT NOT NULL CHECK (author <> ''),
  state            TEXT NOT NULL CHECK (state <> ''),
  state_reason     TEXT NOT NULL,
  base_revision    BIGINT NOT NULL,
  round            BIGINT NOT NULL,
  applied_revision BIGINT NOT NULL,
  body             TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);
CREATE TABLE change_request_reviews (
  change_request_id BIGINT NOT NULL REFERENCES change_requests (id),
  round             BIGINT NOT NULL,
  actor             TEXT NOT NULL CHECK (actor <> ''),
  decision          TEXT NOT NULL,
  comment           TEXT NOT NULL,
  time              BIGINT NOT NULL,
  PRIMARY KEY (change_request_id, round, actor)
);
CREATE TABLE change_request_comments (
  id                BIGINT PRIMARY KEY,
  change_request_id BIGINT NOT NULL REFERENCES change_requests (id),
  actor             TEXT NOT NULL CHECK (actor <> ''),
  text              TEXT NOT NULL,
  time              BIGINT NOT NULL
);
CREATE INDEX change_request_comments_by_request ON change_request_comments (change_request_id, id);
UPDATE meta SET value = '3' WHERE name = 'schema_version';
)sql",
      // 4: webhook registrations and their delivery cursors (docs/design/webhooks.md);
      // their events are outbox rows of kind 'webhook'.
      R"sql(
CREATE TABLE webhooks (
  id             TEXT   PRIMARY KEY CHECK (id <> ''),
  body           TEXT   NOT NULL,
  secret         BLOB   NOT NULL,
  secret_version BIGINT NOT NULL,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  cursor         BIGINT NOT NULL,
  failing        BIGINT NOT NULL DEFAULT 0,
  last_error     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending_by_kind ON outbox (kind, id) WHERE done_at IS NULL;
UPDATE meta SET value = '4' WHERE name = 'schema_version';
)sql",
      // 5: scheduled apply of change requests (docs/design/promotions.md §5a): when, and
      // who scheduled it with which rights (JSON, opaque here); 0 / '' when not scheduled.
      R"sql(
ALTER TABLE change_requests ADD COLUMN apply_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE change_requests ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
CREATE INDEX change_requests_scheduled ON change_requests (apply_at, id) WHERE state = 'scheduled';
UPDATE meta SET value = '5' WHERE name = 'schema_version';
)sql",
      // 6: who delivers a webhook's events, until when (LeaseWebhook; micros, Env::Now).
      R"sql(
ALTER TABLE webhooks ADD COLUMN lease_holder TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
UPDATE meta SET value = '6' WHERE name = 'schema_version';
)sql",
  };
  return *kSteps;
}

namespace {

using base::StrCat;
using internal::CheckPage;
using internal::KindText;
using internal::ValidateChangeRequestWrite;
using internal::ValidateDataKeyRow;
constexpr std::string_view kNull = internal::kNullBody;
absl::Status (&Invalid)(std::string_view) = internal::WorkspaceStoreInvalid;

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

absl::StatusOr<ItemKind> ReadKind(const Statement& st, int col) {
  std::string name = st.ColumnText(col);
  absl::StatusOr<ItemKind> kind = ParseItemKind(name);
  if (!kind.ok())
    return absl::InternalError(StrCat("workspace store: corrupt kind \"", name, "\""));
  return kind;
}

absl::StatusOr<int64_t> ScalarInt64(SqliteDb& db, std::string_view sql) {
  EV_ASSIGN_OR_RETURN(Statement st, db.Prepare(sql));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::InternalError(StrCat("workspace store: no row from ", sql));
  return st.ColumnInt64(0);
}


absl::StatusOr<WebhookRow> ReadWebhook(const Statement& st) {
  WebhookRow w;
  w.id = st.ColumnText(0);
  w.body = st.ColumnText(1);
  w.secret = st.ColumnBlob(2);
  w.secret_version = st.ColumnInt64(3);
  w.created_at = FromMicros(st.ColumnInt64(4));
  w.updated_at = FromMicros(st.ColumnInt64(5));
  w.cursor = st.ColumnInt64(6);
  w.failing = st.ColumnInt64(7) != 0;
  w.last_error = st.ColumnText(8);
  return w;
}

absl::StatusOr<ChangeRequest> ReadChangeRequest(const Statement& st) {
  ChangeRequest c;
  c.id = st.ColumnInt64(0);
  c.version = st.ColumnInt64(1);
  c.title = st.ColumnText(2);
  c.description = st.ColumnText(3);
  c.author = st.ColumnText(4);
  c.state = st.ColumnText(5);
  c.state_reason = st.ColumnText(6);
  c.base_revision = st.ColumnInt64(7);
  c.round = st.ColumnInt64(8);
  c.applied_revision = st.ColumnInt64(9);
  c.body = st.ColumnText(10);
  c.created_at = FromMicros(st.ColumnInt64(11));
  c.updated_at = FromMicros(st.ColumnInt64(12));
  if (int64_t at = st.ColumnInt64(13); at != 0) c.apply_at = FromMicros(at);
  c.schedule = st.ColumnText(14);
  return c;
}

absl::StatusOr<Item> ReadItem(const Statement& st) {
  Item item;
  EV_ASSIGN_OR_RETURN(item.kind, ReadKind(st, 0));
  item.key = st.ColumnText(1);
  item.body = st.ColumnText(2);
  item.revision = st.ColumnInt64(3);
  item.created_at = FromMicros(st.ColumnInt64(4));
  item.updated_at = FromMicros(st.ColumnInt64(5));
  return item;
}

absl::StatusOr<Revision> ReadRevision(const Statement& st) {
  Revision r;
  r.seq = st.ColumnInt64(0);
  r.time = FromMicros(st.ColumnInt64(1));
  r.actor = st.ColumnText(2);
  r.reason = st.ColumnText(3);
  r.op = st.ColumnText(4);
  EV_ASSIGN_OR_RETURN(r.kind, ReadKind(st, 5));
  r.key = st.ColumnText(6);
  r.environment = st.ColumnText(7);
  r.before = st.ColumnText(8);
  r.after = st.ColumnText(9);
  return r;
}

absl::StatusOr<OutboxRow> ReadOutbox(const Statement& st) {
  OutboxRow o;
  o.id = st.ColumnInt64(0);
  o.kind = st.ColumnText(1);
  o.payload = st.ColumnText(2);
  o.created_at = FromMicros(st.ColumnInt64(3));
  o.attempts = static_cast<int>(st.ColumnInt64(4));
  return o;
}

absl::StatusOr<Activity> ReadActivity(const Statement& st) {
  Activity a;
  a.id = st.ColumnInt64(0);
  a.time = FromMicros(st.ColumnInt64(1));
  a.actor = st.ColumnText(2);
  a.action = st.ColumnText(3);
  a.details = st.ColumnText(4);
  return a;
}

template <typename T, typename Reader>
absl::StatusOr<std::vector<T>> ReadAll(Statement& st, Reader read) {
  std::vector<T> out;
  for (;;) {
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    EV_ASSIGN_OR_RETURN(T value, read(st));
    out.push_back(std::move(value));
  }
}

absl::StatusOr<DataKeyRow> ReadDataKey(const Statement& st) {
  return DataKeyRow{st.ColumnText(0), st.ColumnText(1), st.ColumnBlob(2)};
}

class SqliteWorkspaceStore final : public WorkspaceStore {
 public:
  SqliteWorkspaceStore(std::unique_ptr<SqliteDb> db, base::Env* env)
      : db_(std::move(db)), env_(env) {}

  absl::StatusOr<std::string> WorkspaceId() override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(std::optional<std::string> id, ReadMeta(*db_, "workspace_id"));
    if (!id.has_value()) return absl::InternalError("workspace store: meta has no workspace_id");
    return *std::move(id);
  }

  absl::StatusOr<CommitResult> Commit(const CommitRequest& c) override {
    EV_RETURN_IF_ERROR(internal::ValidateCommitRequest(c));

    std::lock_guard<std::mutex> lock(mu_);
    // BEGIN IMMEDIATE takes the write lock now, so the head read below cannot go stale
    // before COMMIT, in this process or any other.
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    EV_ASSIGN_OR_RETURN(int64_t head, HeadLocked());
    if (c.expected_head.has_value() && *c.expected_head != head) {
      return absl::AbortedError(StrCat("workspace store: expected head ", *c.expected_head,
                                       " but the head is ", head, "; reload and retry"));
    }
    const int64_t time = Micros(c.time);

    EV_ASSIGN_OR_RETURN(Statement read, db_->Prepare("SELECT body FROM items "
                                                     "WHERE kind = ? AND key = ?"));
    EV_ASSIGN_OR_RETURN(
        Statement upsert,
        db_->Prepare("INSERT INTO items (" EV_WS_ITEM_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, "
                     "revision = excluded.revision, updated_at = excluded.updated_at"));
    EV_ASSIGN_OR_RETURN(Statement remove,
                        db_->Prepare("DELETE FROM items WHERE kind = ? AND key = ?"));
    EV_ASSIGN_OR_RETURN(Statement append, db_->Prepare("INSERT INTO revisions (" EV_WS_REVISION_COLUMNS
                                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));

    int64_t seq = head;
    for (const Mutation& m : c.mutations) {
      ++seq;
      EV_ASSIGN_OR_RETURN(std::string_view kind, KindText(m.kind));
      read.Reset();
      read.Bind(1, kind).Bind(2, m.key);
      EV_ASSIGN_OR_RETURN(bool exists, read.Step());
      std::string before = exists ? read.ColumnText(0) : std::string(kNull);
      read.Reset();  // release the read cursor before writing the same row

      if (m.body.has_value()) {
        upsert.Reset();
        upsert.Bind(1, kind)
            .Bind(2, m.key)
            .Bind(3, *m.body)
            .Bind(4, seq)
            .Bind(5, time)
            .Bind(6, time);
        EV_RETURN_IF_ERROR(upsert.Run());
      } else {
        if (!exists) {
          return absl::NotFoundError(
              StrCat("cannot delete ", kind, " \"", m.key, "\": it does not exist"));
        }
        remove.Reset();
        remove.Bind(1, kind).Bind(2, m.key);
        EV_RETURN_IF_ERROR(remove.Run());
      }

      append.Reset();
      append.Bind(1, seq)
          .Bind(2, time)
          .Bind(3, c.actor)
          .Bind(4, c.reason)
          .Bind(5, c.op)
          .Bind(6, kind)
          .Bind(7, m.key)
          .Bind(8, m.environment)
          .Bind(9, before)
          .Bind(10, m.body.has_value() ? std::string_view(*m.body) : kNull);
      EV_RETURN_IF_ERROR(append.Run());
    }

    EV_RETURN_IF_ERROR(InsertDataKeysLocked(c.data_keys));

    CommitResult result;
    result.first_revision = head + 1;
    result.last_revision = seq;
    if (c.change_request) {
      ChangeRequestWrite w = *c.change_request;
      w.row.applied_revision = seq;
      EV_RETURN_IF_ERROR(WriteChangeRequestLocked(w).status());
    }
    EV_ASSIGN_OR_RETURN(result.outbox_ids, InsertOutboxLocked(c.outbox));
    EV_RETURN_IF_ERROR(tx.Commit());
    return result;
  }

  absl::StatusOr<int64_t> Head() override {
    std::lock_guard<std::mutex> lock(mu_);
    return HeadLocked();
  }

  absl::StatusOr<Item> GetItem(ItemKind kind, std::string_view key) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_ITEM_COLUMNS " FROM items "
                                                   "WHERE kind = ? AND key = ?"));
    st.Bind(1, kind_text).Bind(2, key);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(StrCat(kind_text, " \"", key, "\" not found"));
    return ReadItem(st);
  }

  absl::StatusOr<std::vector<Item>> ListItems(ItemKind kind) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_ITEM_COLUMNS " FROM items "
                                                   "WHERE kind = ? ORDER BY key"));
    st.Bind(1, kind_text);
    return ReadAll<Item>(st, ReadItem);
  }

  absl::StatusOr<int64_t> CountItems(ItemKind kind) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT COUNT(*) FROM items WHERE kind = ?"));
    st.Bind(1, kind_text);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::InternalError("workspace store: COUNT returned no row");
    return st.ColumnInt64(0);
  }

  absl::StatusOr<std::vector<Revision>> ListRevisions(int64_t after, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_REVISION_COLUMNS " FROM revisions "
                                                   "WHERE seq > ? ORDER BY seq LIMIT ?"));
    st.Bind(1, after).Bind(2, limit);
    return ReadAll<Revision>(st, ReadRevision);
  }

  absl::StatusOr<Revision> GetRevision(int64_t seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(
        Statement st, db_->Prepare("SELECT " EV_WS_REVISION_COLUMNS " FROM revisions WHERE seq = ?"));
    st.Bind(1, seq);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(StrCat("revision ", seq, " not found"));
    return ReadRevision(st);
  }

  absl::StatusOr<std::optional<std::string>> BodyAt(ItemKind kind, std::string_view key,
                                                    int64_t seq) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT after FROM revisions "
                                                   "WHERE kind = ? AND key = ? AND seq <= ? "
                                                   "ORDER BY seq DESC LIMIT 1"));
    st.Bind(1, kind_text).Bind(2, key).Bind(3, seq);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<std::string>();
    std::string after = st.ColumnText(0);
    if (after == kNull) return std::optional<std::string>();
    return std::optional<std::string>(std::move(after));
  }

  absl::StatusOr<std::vector<std::pair<ItemKind, std::string>>> AllKeysEver() override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT DISTINCT kind, key FROM revisions "
                                                   "ORDER BY kind, key"));
    using Key = std::pair<ItemKind, std::string>;
    return ReadAll<Key>(st, [](const Statement& row) -> absl::StatusOr<Key> {
      EV_ASSIGN_OR_RETURN(ItemKind kind, ReadKind(row, 0));
      return Key(kind, row.ColumnText(1));
    });
  }

  absl::StatusOr<std::vector<OutboxRow>> PendingOutbox(int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_OUTBOX_COLUMNS " FROM outbox "
                                                   "WHERE done_at IS NULL ORDER BY id LIMIT ?"));
    st.Bind(1, limit);
    return ReadAll<OutboxRow>(st, ReadOutbox);
  }

  absl::StatusOr<std::vector<OutboxRow>> PendingOutboxOfKind(std::string_view kind,
                                                              int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_WS_OUTBOX_COLUMNS " FROM outbox "
                                     "WHERE done_at IS NULL AND kind = ? ORDER BY id LIMIT ?"));
    st.Bind(1, kind).Bind(2, limit);
    return ReadAll<OutboxRow>(st, ReadOutbox);
  }

  absl::Status MarkOutboxDone(int64_t id) override { return MarkOutboxDoneMany({id}); }

  absl::Status MarkOutboxDoneMany(const std::vector<int64_t>& ids) override {
    if (ids.empty()) return absl::OkStatus();
    const int64_t now = Micros(env_->Now());
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    // Marking twice keeps the first time (and is not an error: the relay may retry).
    EV_ASSIGN_OR_RETURN(
        Statement st,
        db_->Prepare("UPDATE outbox SET done_at = COALESCE(done_at, ?) WHERE id = ?"));
    for (int64_t id : ids) {
      st.Reset();
      st.Bind(1, now).Bind(2, id);
      EV_RETURN_IF_ERROR(ExpectOneChange(st, id));  // rolls the whole batch back
    }
    return tx.Commit();
  }

  absl::Status RecordOutboxAttempt(int64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?"));
    st.Bind(1, id);
    return ExpectOneChange(st, id);
  }

  absl::StatusOr<int64_t> AppendActivity(const Activity& a,
                                         const std::vector<OutboxRow>& outbox) override {
    if (a.action.empty()) return Invalid("empty activity action");
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    EV_ASSIGN_OR_RETURN(int64_t id,
                        ScalarInt64(*db_, "SELECT COALESCE(MAX(id), 0) + 1 FROM activity"));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO activity (" EV_WS_ACTIVITY_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?)"));
    st.Bind(1, id).Bind(2, Micros(a.time)).Bind(3, a.actor).Bind(4, a.action).Bind(5, a.details);
    EV_RETURN_IF_ERROR(st.Run());
    // Fail closed: when an outbox row (the audit event) is refused, the transaction rolls
    // back and the activity entry goes with it.
    EV_RETURN_IF_ERROR(InsertOutboxLocked(outbox).status());
    EV_RETURN_IF_ERROR(tx.Commit());
    return id;
  }

  absl::StatusOr<std::vector<Activity>> ListActivity(int64_t after, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_ACTIVITY_COLUMNS " FROM activity "
                                                   "WHERE id > ? ORDER BY id LIMIT ?"));
    st.Bind(1, after).Bind(2, limit);
    return ReadAll<Activity>(st, ReadActivity);
  }

  absl::StatusOr<std::vector<OutboxRow>> PendingOutboxOfKindAfter(std::string_view kind, int64_t after_id,
                                                                   int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_WS_OUTBOX_COLUMNS " FROM outbox WHERE done_at IS NULL "
                                     "AND kind = ? AND id > ? ORDER BY id LIMIT ?"));
    st.Bind(1, kind).Bind(2, after_id).Bind(3, limit);
    return ReadAll<OutboxRow>(st, ReadOutbox);
  }

  absl::StatusOr<int64_t> MarkOutboxOfKindDoneThrough(std::string_view kind, int64_t through_id) override {
    const int64_t now = Micros(env_->Now());
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE outbox SET done_at = ? WHERE done_at IS NULL "
                                                   "AND kind = ? AND id <= ?"));
    st.Bind(1, now).Bind(2, kind).Bind(3, through_id);
    EV_RETURN_IF_ERROR(st.Run());
    return static_cast<int64_t>(db_->Changes());
  }

  absl::StatusOr<std::vector<WebhookRow>> ListWebhooks() override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_WEBHOOK_COLUMNS " FROM webhooks ORDER BY id"));
    return ReadAll<WebhookRow>(st, ReadWebhook);
  }

  absl::StatusOr<WebhookRow> GetWebhook(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetWebhookLocked(id);
  }

  absl::StatusOr<WebhookRow> CreateWebhook(const WebhookRow& w, const std::vector<DataKeyRow>& data_keys,
                                           const std::vector<OutboxRow>& outbox) override {
    if (w.id.empty()) return Invalid("empty webhook id");
    for (const DataKeyRow& k : data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    if (GetWebhookLocked(w.id).ok()) return absl::AlreadyExistsError(StrCat("webhook ", w.id, " already exists"));
    EV_ASSIGN_OR_RETURN(int64_t cursor, ScalarInt64(*db_, "SELECT COALESCE(MAX(id), 0) FROM outbox"));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("INSERT INTO webhooks (" EV_WS_WEBHOOK_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')"));
    st.Bind(1, w.id)
        .Bind(2, w.body)
        .Bind(3, Blob{w.secret})
        .Bind(4, w.secret_version)
        .Bind(5, Micros(w.created_at))
        .Bind(6, Micros(w.updated_at))
        .Bind(7, cursor);
    EV_RETURN_IF_ERROR(st.Run());
    EV_RETURN_IF_ERROR(InsertDataKeysLocked(data_keys));
    EV_RETURN_IF_ERROR(InsertOutboxLocked(outbox).status());
    EV_ASSIGN_OR_RETURN(WebhookRow stored, GetWebhookLocked(w.id));
    EV_RETURN_IF_ERROR(tx.Commit());
    return stored;
  }

  absl::Status UpdateWebhook(const WebhookRow& w, bool clear_failing, const std::vector<DataKeyRow>& data_keys,
                             const std::vector<OutboxRow>& outbox) override {
    if (w.id.empty()) return Invalid("empty webhook id");
    for (const DataKeyRow& k : data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    EV_ASSIGN_OR_RETURN(
        Statement st,
        db_->Prepare(clear_failing ? "UPDATE webhooks SET body = ?, secret = ?, secret_version = ?, updated_at = ?, "
                                     "failing = 0, last_error = '' WHERE id = ?"
                                   : "UPDATE webhooks SET body = ?, secret = ?, secret_version = ?, updated_at = ? "
                                     "WHERE id = ?"));
    st.Bind(1, w.body).Bind(2, Blob{w.secret}).Bind(3, w.secret_version).Bind(4, Micros(w.updated_at)).Bind(5, w.id);
    EV_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 0) return absl::NotFoundError(StrCat("webhook ", w.id, " not found"));
    EV_RETURN_IF_ERROR(InsertDataKeysLocked(data_keys));
    EV_RETURN_IF_ERROR(InsertOutboxLocked(outbox).status());
    return tx.Commit();
  }

  absl::Status DeleteWebhook(std::string_view id, const std::vector<OutboxRow>& outbox) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("DELETE FROM webhooks WHERE id = ?"));
    st.Bind(1, id);
    EV_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    EV_RETURN_IF_ERROR(InsertOutboxLocked(outbox).status());
    return tx.Commit();
  }

  absl::Status SetWebhookDelivery(std::string_view id, int64_t cursor, bool failing,
                                  std::string_view last_error) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE webhooks SET cursor = MAX(cursor, ?), failing = ?, "
                                                   "last_error = ? WHERE id = ?"));
    st.Bind(1, cursor).Bind(2, static_cast<int64_t>(failing ? 1 : 0)).Bind(3, last_error).Bind(4, id);
    EV_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    return absl::OkStatus();
  }

  absl::StatusOr<absl::Duration> LeaseWebhook(std::string_view id, std::string_view holder,
                                              absl::Duration ttl) override {
    EV_RETURN_IF_ERROR(internal::ValidateLease(holder, ttl));
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = Micros(env_->Now());
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE webhooks SET lease_holder = ?, lease_until = ? "
                                                   "WHERE id = ? AND (lease_holder = ? OR lease_until <= ?)"));
    st.Bind(1, holder).Bind(2, now + absl::ToInt64Microseconds(ttl)).Bind(3, id).Bind(4, holder).Bind(5, now);
    EV_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 1) return absl::ZeroDuration();
    EV_ASSIGN_OR_RETURN(int64_t until, LeaseUntilLocked(id));
    return std::max(absl::Microseconds(1), absl::Microseconds(until - now));
  }

  absl::Status ReleaseWebhook(std::string_view id, std::string_view holder) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("UPDATE webhooks SET lease_holder = '', lease_until = 0 "
                                                   "WHERE id = ? AND lease_holder = ?"));
    st.Bind(1, id).Bind(2, holder);
    EV_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 1) return absl::OkStatus();
    return LeaseUntilLocked(id).status();  // NotFound for an unknown webhook
  }

  // The end of webhook `id`'s lease (micros); NotFound. Needs mu_ held.
  absl::StatusOr<int64_t> LeaseUntilLocked(std::string_view id) {
    EV_ASSIGN_OR_RETURN(Statement q, db_->Prepare("SELECT lease_until FROM webhooks WHERE id = ?"));
    q.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    return q.ColumnInt64(0);
  }

  absl::StatusOr<DataKeyRow> GetDataKey(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT id, master_key_id, wrapped "
                                                   "FROM data_keys WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(StrCat("data key ", id, " not found"));
    return ReadDataKey(st);
  }

  absl::StatusOr<std::vector<DataKeyRow>> ListDataKeysNotUnder(std::string_view master_key_id,
                                                               std::string_view after_id,
                                                               int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT id, master_key_id, wrapped FROM data_keys "
                                     "WHERE master_key_id <> ? AND id > ? ORDER BY id LIMIT ?"));
    st.Bind(1, master_key_id).Bind(2, after_id).Bind(3, limit);
    return ReadAll<DataKeyRow>(st, ReadDataKey);
  }

  absl::StatusOr<int> ReplaceDataKeys(const std::vector<DataKeyReplacement>& r) override {
    for (const DataKeyReplacement& x : r) {
      EV_RETURN_IF_ERROR(ValidateDataKeyRow(x.row));
      if (x.expected_master_key_id.empty()) return Invalid("empty expected master key id");
    }
    if (r.empty()) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("UPDATE data_keys SET master_key_id = ?, wrapped = ? "
                                     "WHERE id = ? AND master_key_id = ?"));
    int changed = 0;
    for (const DataKeyReplacement& x : r) {
      st.Reset();
      st.Bind(1, x.row.master_key_id)
          .Bind(2, Blob{x.row.wrapped})
          .Bind(3, x.row.id)
          .Bind(4, x.expected_master_key_id);
      EV_RETURN_IF_ERROR(st.Run());
      changed += db_->Changes() > 0 ? 1 : 0;
    }
    EV_RETURN_IF_ERROR(tx.Commit());
    return changed;
  }

  absl::StatusOr<int64_t> CountRows(std::string_view table) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(WorkspaceTransferTables(), table));
    std::lock_guard<std::mutex> lock(mu_);
    return SqliteCountRows(*db_, *t);
  }
  absl::StatusOr<std::vector<TransferRow>> ExportRows(std::string_view table, int64_t offset,
                                                      int limit) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(WorkspaceTransferTables(), table));
    std::lock_guard<std::mutex> lock(mu_);
    return SqliteExportRows(*db_, *t, offset, limit);
  }
  absl::StatusOr<int64_t> ImportRows(std::string_view table,
                                     const std::vector<TransferRow>& rows) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(WorkspaceTransferTables(), table));
    std::lock_guard<std::mutex> lock(mu_);
    return SqliteImportRows(*db_, *t, rows);
  }

  absl::StatusOr<std::map<std::string, int64_t>> CountDataKeysByMasterKey() override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT master_key_id, COUNT(*) FROM data_keys "
                                                   "GROUP BY master_key_id"));
    std::map<std::string, int64_t> out;
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return out;
      out[st.ColumnText(0)] = st.ColumnInt64(1);
    }
  }

  absl::StatusOr<ChangeRequest> WriteChangeRequest(const ChangeRequestWrite& w) override {
    EV_RETURN_IF_ERROR(ValidateChangeRequestWrite(w));
    for (const DataKeyRow& k : w.data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_, Transaction::Mode::kImmediate));
    EV_ASSIGN_OR_RETURN(ChangeRequest row, WriteChangeRequestLocked(w));
    EV_RETURN_IF_ERROR(InsertDataKeysLocked(w.data_keys));
    EV_RETURN_IF_ERROR(tx.Commit());
    return row;
  }

  absl::StatusOr<ChangeRequest> GetChangeRequest(int64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetChangeRequestLocked(id);
  }

  absl::StatusOr<std::vector<ChangeRequest>> ListChangeRequests(int64_t before, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_CHANGE_REQUEST_COLUMNS " FROM change_requests "
                                                   "WHERE ? = 0 OR id < ? ORDER BY id DESC LIMIT ?"));
    st.Bind(1, before).Bind(2, before).Bind(3, limit);
    return ReadAll<ChangeRequest>(st, ReadChangeRequest);
  }

  absl::StatusOr<std::vector<ChangeRequest>> ListScheduledChangeRequests() override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_CHANGE_REQUEST_COLUMNS " FROM change_requests "
                                                   "WHERE state = 'scheduled' ORDER BY apply_at, id"));
    return ReadAll<ChangeRequest>(st, ReadChangeRequest);
  }

  absl::StatusOr<std::vector<ChangeRequestReview>> ListChangeRequestReviews(int64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT change_request_id, round, actor, decision, comment, time "
                                     "FROM change_request_reviews WHERE change_request_id = ? "
                                     "ORDER BY round, time, actor"));
    st.Bind(1, id);
    return ReadAll<ChangeRequestReview>(st, [](const Statement& r) -> absl::StatusOr<ChangeRequestReview> {
      return ChangeRequestReview{r.ColumnInt64(0), r.ColumnInt64(1), r.ColumnText(2),
                                 r.ColumnText(3),  r.ColumnText(4),  FromMicros(r.ColumnInt64(5))};
    });
  }

  absl::StatusOr<std::vector<ChangeRequestComment>> ListChangeRequestComments(int64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT id, change_request_id, actor, text, time "
                                     "FROM change_request_comments WHERE change_request_id = ? ORDER BY id"));
    st.Bind(1, id);
    return ReadAll<ChangeRequestComment>(st, [](const Statement& r) -> absl::StatusOr<ChangeRequestComment> {
      return ChangeRequestComment{r.ColumnInt64(0), r.ColumnInt64(1), r.ColumnText(2), r.ColumnText(3),
                                  FromMicros(r.ColumnInt64(4))};
    });
  }

  // Reads one meta value (nullopt when absent). Used before the store exists, too.
  static absl::StatusOr<std::optional<std::string>> ReadMeta(SqliteDb& db, std::string_view name) {
    EV_ASSIGN_OR_RETURN(Statement st, db.Prepare("SELECT value FROM meta WHERE name = ?"));
    st.Bind(1, name);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(st.ColumnText(0));
  }

 private:
  // The head is the highest revision: revisions are never deleted and every commit
  // writes seq = head + 1, ... under the write lock, so MAX(seq) = COUNT(*).
  absl::StatusOr<int64_t> HeadLocked() {
    return ScalarInt64(*db_, "SELECT COALESCE(MAX(seq), 0) FROM revisions");
  }

  // Inserts outbox rows with ids MAX(id) + 1, ...; the caller holds the mutex and an open
  // transaction. The rows' id and attempts are ignored (assigned / start at 0).
  absl::StatusOr<std::vector<int64_t>> InsertOutboxLocked(const std::vector<OutboxRow>& rows) {
    std::vector<int64_t> ids;
    if (rows.empty()) return ids;
    EV_ASSIGN_OR_RETURN(int64_t next,
                        ScalarInt64(*db_, "SELECT COALESCE(MAX(id), 0) + 1 FROM outbox"));
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("INSERT INTO outbox (id, kind, payload, created_at, "
                                     "attempts, done_at) VALUES (?, ?, ?, ?, 0, NULL)"));
    for (const OutboxRow& row : rows) {
      if (row.kind.empty()) return Invalid("empty outbox row kind");
      st.Reset();
      st.Bind(1, next).Bind(2, row.kind).Bind(3, row.payload).Bind(4, Micros(row.created_at));
      EV_RETURN_IF_ERROR(st.Run());
      ids.push_back(next++);
    }
    return ids;
  }

  // Inserts data key rows; the caller holds the mutex and an open transaction.
  // InvalidArgument for an id that exists.
  absl::Status InsertDataKeysLocked(const std::vector<DataKeyRow>& keys) {
    if (keys.empty()) return absl::OkStatus();
    EV_ASSIGN_OR_RETURN(Statement exists, db_->Prepare("SELECT 1 FROM data_keys WHERE id = ?"));
    EV_ASSIGN_OR_RETURN(Statement insert, db_->Prepare("INSERT INTO data_keys (id, master_key_id, wrapped) "
                                                       "VALUES (?, ?, ?)"));
    for (const DataKeyRow& k : keys) {
      exists.Reset();
      exists.Bind(1, k.id);
      EV_ASSIGN_OR_RETURN(bool taken, exists.Step());
      exists.Reset();
      if (taken) return Invalid(StrCat("data key ", k.id, " already exists"));
      insert.Reset();
      insert.Bind(1, k.id).Bind(2, k.master_key_id).Bind(3, Blob{k.wrapped});
      EV_RETURN_IF_ERROR(insert.Run());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<WebhookRow> GetWebhookLocked(std::string_view id) {
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare("SELECT " EV_WS_WEBHOOK_COLUMNS " FROM webhooks WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    return ReadWebhook(st);
  }

  absl::StatusOr<ChangeRequest> GetChangeRequestLocked(int64_t id) {
    EV_ASSIGN_OR_RETURN(Statement st,
                        db_->Prepare("SELECT " EV_WS_CHANGE_REQUEST_COLUMNS " FROM change_requests WHERE id = ?"));
    st.Bind(1, id);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(StrCat("change request ", id, " not found"));
    return ReadChangeRequest(st);
  }

  // The caller holds the mutex and an open write transaction (rolled back on error).
  absl::StatusOr<ChangeRequest> WriteChangeRequestLocked(const ChangeRequestWrite& w) {
    ChangeRequest row = w.row;
    if (row.id == 0) {
      EV_ASSIGN_OR_RETURN(row.id, ScalarInt64(*db_, "SELECT COALESCE(MAX(id), 0) + 1 FROM change_requests"));
      row.version = 1;
      EV_ASSIGN_OR_RETURN(Statement ins, db_->Prepare("INSERT INTO change_requests (" EV_WS_CHANGE_REQUEST_COLUMNS
                                                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      ins.Bind(1, row.id).Bind(2, row.version).Bind(3, row.title).Bind(4, row.description)
          .Bind(5, row.author).Bind(6, row.state).Bind(7, row.state_reason).Bind(8, row.base_revision)
          .Bind(9, row.round).Bind(10, row.applied_revision).Bind(11, row.body)
          .Bind(12, Micros(row.created_at)).Bind(13, Micros(row.updated_at))
          .Bind(14, row.apply_at ? Micros(*row.apply_at) : int64_t{0}).Bind(15, row.schedule);
      EV_RETURN_IF_ERROR(ins.Run());
    } else {
      EV_ASSIGN_OR_RETURN(ChangeRequest current, GetChangeRequestLocked(row.id));
      if (current.version != w.expected_version) {
        return absl::AbortedError(StrCat("change request ", row.id, " changed meanwhile (version ",
                                         current.version, ", expected ", w.expected_version, "); reload and retry"));
      }
      row.version = current.version + 1;
      row.created_at = current.created_at;
      EV_ASSIGN_OR_RETURN(Statement up, db_->Prepare(
          "UPDATE change_requests SET version = ?, title = ?, description = ?, author = ?, state = ?, "
          "state_reason = ?, base_revision = ?, round = ?, applied_revision = ?, body = ?, updated_at = ?, "
          "apply_at = ?, schedule = ? WHERE id = ?"));
      up.Bind(1, row.version).Bind(2, row.title).Bind(3, row.description).Bind(4, row.author)
          .Bind(5, row.state).Bind(6, row.state_reason).Bind(7, row.base_revision).Bind(8, row.round)
          .Bind(9, row.applied_revision).Bind(10, row.body).Bind(11, Micros(row.updated_at))
          .Bind(12, row.apply_at ? Micros(*row.apply_at) : int64_t{0}).Bind(13, row.schedule).Bind(14, row.id);
      EV_RETURN_IF_ERROR(up.Run());
    }
    if (w.review) {
      EV_ASSIGN_OR_RETURN(Statement rv, db_->Prepare(
          "INSERT INTO change_request_reviews (change_request_id, round, actor, decision, comment, time) "
          "VALUES (?, ?, ?, ?, ?, ?)"));
      rv.Bind(1, row.id).Bind(2, w.review->round).Bind(3, w.review->actor).Bind(4, w.review->decision)
          .Bind(5, w.review->comment).Bind(6, Micros(w.review->time));
      absl::Status st = rv.Run();
      if (absl::IsAlreadyExists(st)) {
        return absl::AlreadyExistsError(StrCat(w.review->actor, " already reviewed change request ", row.id,
                                               " in round ", w.review->round));
      }
      EV_RETURN_IF_ERROR(st);
    }
    if (w.comment) {
      EV_ASSIGN_OR_RETURN(int64_t id, ScalarInt64(*db_, "SELECT COALESCE(MAX(id), 0) + 1 FROM change_request_comments"));
      EV_ASSIGN_OR_RETURN(Statement cm, db_->Prepare(
          "INSERT INTO change_request_comments (id, change_request_id, actor, text, time) VALUES (?, ?, ?, ?, ?)"));
      cm.Bind(1, id).Bind(2, row.id).Bind(3, w.comment->actor).Bind(4, w.comment->text)
          .Bind(5, Micros(w.comment->time));
      EV_RETURN_IF_ERROR(cm.Run());
    }
    EV_RETURN_IF_ERROR(InsertOutboxLocked(w.outbox).status());
    return row;
  }

  absl::Status ExpectOneChange(Statement& st, int64_t id) {
    EV_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 0) return absl::NotFoundError(StrCat("outbox row ", id, " not found"));
    return absl::OkStatus();
  }

  std::mutex mu_;  // serialises every use of the connection, so commits are serialised
  std::unique_ptr<SqliteDb> db_;
  base::Env* env_;
};

absl::Status CheckWorkspaceId(const SqliteDb& db, const std::string& stored,
                              const std::string& wanted) {
  if (wanted.empty() || stored == wanted) return absl::OkStatus();
  return absl::FailedPreconditionError(StrCat("workspace store: ", db.path(),
                                              " belongs to workspace \"", stored, "\", not \"",
                                              wanted, "\""));
}

// Records the workspace id in a new file, or checks it against the stored one.
absl::Status BindWorkspaceId(SqliteDb& db, const std::string& workspace_id) {
  // Reopening an existing file only reads: no write lock, so opening never waits behind
  // a busy writer in another process.
  EV_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                      SqliteWorkspaceStore::ReadMeta(db, "workspace_id"));
  if (stored.has_value()) return CheckWorkspaceId(db, *stored, workspace_id);

  EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db, Transaction::Mode::kImmediate));
  // Re-read under the write lock: another process may have created it meanwhile.
  EV_ASSIGN_OR_RETURN(stored, SqliteWorkspaceStore::ReadMeta(db, "workspace_id"));
  if (stored.has_value()) return CheckWorkspaceId(db, *stored, workspace_id);
  if (workspace_id.empty()) {
    return absl::InvalidArgumentError(
        StrCat("workspace store: ", db.path(), " has no workspace id; pass workspace_id"));
  }
  EV_ASSIGN_OR_RETURN(Statement st,
                      db.Prepare("INSERT INTO meta (name, value) VALUES ('workspace_id', ?)"));
  st.Bind(1, workspace_id);
  EV_RETURN_IF_ERROR(st.Run());
  return tx.Commit();
}

}  // namespace

absl::StatusOr<std::unique_ptr<WorkspaceStore>> OpenSqliteWorkspaceStore(
    const SqliteWorkspaceStoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("workspace store: empty path");
  if (options.env == nullptr) return absl::InvalidArgumentError("workspace store: null env");
  // Refuse before creating anything, so a missing id never leaves an empty file behind.
  if (options.workspace_id.empty() && !options.env->Exists(options.path)) {
    return absl::InvalidArgumentError(
        StrCat("workspace store: ", options.path, " does not exist and no workspace_id was given"));
  }
  EV_ASSIGN_OR_RETURN(
      std::unique_ptr<SqliteDb> db,
      SqliteDb::Open(SqliteOptions{
          .path = options.path, .wal = true, .synchronous_full = true, .create_mode = 0600}));
  EV_RETURN_IF_ERROR(Migrate(*db, WorkspaceDbMigrations()));
  EV_ASSIGN_OR_RETURN(std::optional<std::string> version,
                      SqliteWorkspaceStore::ReadMeta(*db, "schema_version"));
  const std::string expected = StrCat(WorkspaceDbMigrations().size());
  if (version != expected) {
    return absl::InternalError(StrCat("workspace store: ", options.path, ": meta.schema_version ",
                                      version.value_or("(none)"), " but user_version ", expected));
  }
  EV_RETURN_IF_ERROR(BindWorkspaceId(*db, options.workspace_id));
  return std::unique_ptr<WorkspaceStore>(new SqliteWorkspaceStore(std::move(db), options.env));
}

}  // namespace edgevault::storage
