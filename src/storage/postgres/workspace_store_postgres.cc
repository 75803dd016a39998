#include "src/storage/postgres/workspace_store_postgres.h"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/internal/workspace_store_checks.h"
#include "src/storage/internal/workspace_store_sql.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/pg_revision_listener.h"
#include "src/storage/postgres/pg_transfer.h"

namespace edgevault::storage {

// The schema, one string per migration step (docs/design/postgres-workspace-store.md).
// Step 1 is the SQLite schema at its version 5, every table keyed by workspace_id first.
// Text that is ordered or compared by range is COLLATE "C" (byte order, as in SQLite).
// Never edit a released step: append a new one.
const std::vector<std::string>& PostgresWorkspaceDbMigrations() {
  static const std::vector<std::string>* const kSteps = new std::vector<std::string>{
      // 1: the whole schema.
      R"sql(
CREATE TABLE ws_stores (
  workspace_id TEXT COLLATE "C" PRIMARY KEY CHECK (workspace_id <> ''),
  created_at   BIGINT NOT NULL
);
CREATE TABLE ws_items (
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  kind         TEXT COLLATE "C" NOT NULL
               CHECK (kind IN ('environment', 'config', 'flag', 'segment', 'secret')),
  key          TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
  body         TEXT   NOT NULL,
  revision     BIGINT NOT NULL,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, kind, key)
);
CREATE TABLE ws_revisions (
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  seq          BIGINT NOT NULL CHECK (seq > 0),
  time         BIGINT NOT NULL,
  actor        TEXT   NOT NULL,
  reason       TEXT   NOT NULL,
  op           TEXT   NOT NULL,
  kind         TEXT COLLATE "C" NOT NULL
               CHECK (kind IN ('environment', 'config', 'flag', 'segment', 'secret')),
  key          TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
  environment  TEXT   NOT NULL,
  before       TEXT   NOT NULL,
  after        TEXT   NOT NULL,
  PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX ws_revisions_by_item ON ws_revisions (workspace_id, kind, key, seq);
CREATE FUNCTION ws_revisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'revisions are append-only';
END
$fn$;
CREATE TRIGGER ws_revisions_no_change BEFORE UPDATE OR DELETE ON ws_revisions
  FOR EACH ROW EXECUTE FUNCTION ws_revisions_append_only();
CREATE TRIGGER ws_revisions_no_truncate BEFORE TRUNCATE ON ws_revisions
  FOR EACH STATEMENT EXECUTE FUNCTION ws_revisions_append_only();
CREATE TABLE ws_outbox (
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  id           BIGINT NOT NULL,
  kind         TEXT COLLATE "C" NOT NULL CHECK (kind <> ''),
  payload      TEXT   NOT NULL,
  created_at   BIGINT NOT NULL,
  attempts     BIGINT NOT NULL DEFAULT 0,
  done_at      BIGINT,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ws_outbox_pending ON ws_outbox (workspace_id, id) WHERE done_at IS NULL;
CREATE INDEX ws_outbox_pending_by_kind ON ws_outbox (workspace_id, kind, id) WHERE done_at IS NULL;
CREATE TABLE ws_activity (
  workspace_id TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  id           BIGINT NOT NULL,
  time         BIGINT NOT NULL,
  actor        TEXT   NOT NULL,
  action       TEXT   NOT NULL CHECK (action <> ''),
  details      TEXT   NOT NULL,
  PRIMARY KEY (workspace_id, id)
);
CREATE TABLE ws_data_keys (
  workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  id            TEXT COLLATE "C" NOT NULL CHECK (id <> ''),
  master_key_id TEXT COLLATE "C" NOT NULL CHECK (master_key_id <> ''),
  wrapped       BYTEA NOT NULL,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ws_data_keys_by_master_key ON ws_data_keys (workspace_id, master_key_id, id);
CREATE TABLE ws_change_requests (
  workspace_id     TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  id               BIGINT NOT NULL CHECK (id > 0),
  version          BIGINT NOT NULL,
  title            TEXT   NOT NULL CHECK (title <> ''),
  description      TEXT   NOT NULL,
  author           TEXT   NOT NULL CHECK (author <> ''),
  state            TEXT   NOT NULL CHECK (state <> ''),
  state_reason     TEXT   NOT NULL,
  base_revision    BIGINT NOT NULL,
  round            BIGINT NOT NULL,
  applied_revision BIGINT NOT NULL,
  body             TEXT   NOT NULL,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  apply_at         BIGINT NOT NULL DEFAULT 0,
  schedule         TEXT   NOT NULL DEFAULT '',
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ws_change_requests_scheduled ON ws_change_requests (workspace_id, apply_at, id)
  WHERE state = 'scheduled';
CREATE TABLE ws_change_request_reviews (
  workspace_id      TEXT COLLATE "C" NOT NULL,
  change_request_id BIGINT NOT NULL,
  round             BIGINT NOT NULL,
  actor             TEXT COLLATE "C" NOT NULL CHECK (actor <> ''),
  decision          TEXT   NOT NULL,
  comment           TEXT   NOT NULL,
  time              BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, change_request_id, round, actor),
  FOREIGN KEY (workspace_id, change_request_id) REFERENCES ws_change_requests (workspace_id, id)
);
CREATE TABLE ws_change_request_comments (
  workspace_id      TEXT COLLATE "C" NOT NULL,
  id                BIGINT NOT NULL,
  change_request_id BIGINT NOT NULL,
  actor             TEXT   NOT NULL CHECK (actor <> ''),
  text              TEXT   NOT NULL,
  time              BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, id),
  FOREIGN KEY (workspace_id, change_request_id) REFERENCES ws_change_requests (workspace_id, id)
);
CREATE INDEX ws_change_request_comments_by_request
  ON ws_change_request_comments (workspace_id, change_request_id, id);
CREATE TABLE ws_webhooks (
  workspace_id   TEXT COLLATE "C" NOT NULL REFERENCES ws_stores (workspace_id),
  id             TEXT COLLATE "C" NOT NULL CHECK (id <> ''),
  body           TEXT   NOT NULL,
  secret         BYTEA  NOT NULL,
  secret_version BIGINT NOT NULL,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  cursor         BIGINT NOT NULL,
  failing        BIGINT NOT NULL DEFAULT 0 CHECK (failing IN (0, 1)),
  last_error     TEXT   NOT NULL DEFAULT '',
  PRIMARY KEY (workspace_id, id)
);
)sql",
      // 2: the purge of a deleted workspace (Destroy) may delete its revisions: only inside a
      // transaction that named that workspace in edgevault.purging (set_config, local to the
      // transaction). Every other update, delete or truncate is still refused.
      R"sql(
CREATE OR REPLACE FUNCTION ws_revisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF current_setting('edgevault.purging', true) = OLD.workspace_id THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'revisions are append-only';
END
$fn$;
)sql",
      // 3: who delivers a webhook's events, until when (LeaseWebhook; micros since the
      // epoch by the database server's clock).
      R"sql(
ALTER TABLE ws_webhooks ADD COLUMN lease_holder TEXT NOT NULL DEFAULT '';
ALTER TABLE ws_webhooks ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
)sql",
  };
  return *kSteps;
}

namespace {

using base::StrCat;
using internal::CheckPage;
using internal::KindText;
using internal::kNullBody;
using internal::ValidateChangeRequestWrite;
using internal::ValidateDataKeyRow;
using internal::ValidateOutboxRows;
absl::Status (&Invalid)(std::string_view) = internal::WorkspaceStoreInvalid;

constexpr std::string_view kComponent = "workspace";

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

absl::Status CheckWorkspaceId(std::string_view id) {
  if (internal::IsPlainWorkspaceId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      base::ToAbsl(StrCat("\"", id.substr(0, 80), "\" is not a workspace id")));
}

absl::StatusOr<ItemKind> ReadKind(const PgResult& r, int row, int col) {
  absl::StatusOr<ItemKind> kind = ParseItemKind(r.Text(row, col));
  if (!kind.ok()) {
    return absl::InternalError(StrCat("workspace store: corrupt kind \"", r.Text(row, col), "\""));
  }
  return kind;
}

absl::StatusOr<Item> ReadItem(const PgResult& r, int i) {
  Item item;
  EV_ASSIGN_OR_RETURN(item.kind, ReadKind(r, i, 0));
  item.key = r.String(i, 1);
  item.body = r.String(i, 2);
  item.revision = r.Int64(i, 3);
  item.created_at = FromMicros(r.Int64(i, 4));
  item.updated_at = FromMicros(r.Int64(i, 5));
  return item;
}

absl::StatusOr<Revision> ReadRevision(const PgResult& r, int i) {
  Revision rev;
  rev.seq = r.Int64(i, 0);
  rev.time = FromMicros(r.Int64(i, 1));
  rev.actor = r.String(i, 2);
  rev.reason = r.String(i, 3);
  rev.op = r.String(i, 4);
  EV_ASSIGN_OR_RETURN(rev.kind, ReadKind(r, i, 5));
  rev.key = r.String(i, 6);
  rev.environment = r.String(i, 7);
  rev.before = r.String(i, 8);
  rev.after = r.String(i, 9);
  return rev;
}

absl::StatusOr<OutboxRow> ReadOutbox(const PgResult& r, int i) {
  return OutboxRow{.id = r.Int64(i, 0),
                   .kind = r.String(i, 1),
                   .payload = r.String(i, 2),
                   .created_at = FromMicros(r.Int64(i, 3)),
                   .attempts = static_cast<int>(r.Int64(i, 4))};
}

absl::StatusOr<Activity> ReadActivity(const PgResult& r, int i) {
  return Activity{.id = r.Int64(i, 0),
                  .time = FromMicros(r.Int64(i, 1)),
                  .actor = r.String(i, 2),
                  .action = r.String(i, 3),
                  .details = r.String(i, 4)};
}

absl::StatusOr<WebhookRow> ReadWebhook(const PgResult& r, int i) {
  WebhookRow w;
  w.id = r.String(i, 0);
  w.body = r.String(i, 1);
  w.secret = r.Bytes(i, 2);
  w.secret_version = r.Int64(i, 3);
  w.created_at = FromMicros(r.Int64(i, 4));
  w.updated_at = FromMicros(r.Int64(i, 5));
  w.cursor = r.Int64(i, 6);
  w.failing = r.Int64(i, 7) != 0;
  w.last_error = r.String(i, 8);
  return w;
}

absl::StatusOr<ChangeRequest> ReadChangeRequest(const PgResult& r, int i) {
  ChangeRequest c;
  c.id = r.Int64(i, 0);
  c.version = r.Int64(i, 1);
  c.title = r.String(i, 2);
  c.description = r.String(i, 3);
  c.author = r.String(i, 4);
  c.state = r.String(i, 5);
  c.state_reason = r.String(i, 6);
  c.base_revision = r.Int64(i, 7);
  c.round = r.Int64(i, 8);
  c.applied_revision = r.Int64(i, 9);
  c.body = r.String(i, 10);
  c.created_at = FromMicros(r.Int64(i, 11));
  c.updated_at = FromMicros(r.Int64(i, 12));
  if (int64_t at = r.Int64(i, 13); at != 0) c.apply_at = FromMicros(at);
  c.schedule = r.String(i, 14);
  return c;
}

absl::StatusOr<DataKeyRow> ReadDataKey(const PgResult& r, int i) {
  return DataKeyRow{r.String(i, 0), r.String(i, 1), r.Bytes(i, 2)};
}

template <typename T, typename Reader>
absl::StatusOr<std::vector<T>> ReadAll(const PgResult& r, Reader read) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(r.Rows()));
  for (int i = 0; i < r.Rows(); ++i) {
    EV_ASSIGN_OR_RETURN(T value, read(r, i));
    out.push_back(std::move(value));
  }
  return out;
}

absl::StatusOr<int64_t> OneInt64(const PgResult& r, std::string_view what) {
  if (r.Rows() != 1) return absl::InternalError(StrCat("workspace store: no row from ", what));
  return r.Int64(0, 0);
}

// A PostgreSQL int8[] literal: {1,2,3}.
std::string Int64Array(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(values[i]);
  }
  return out + "}";
}

// One commit's put: reads the previous body (the CTE sees the state before the upsert),
// upserts the item and appends the revision, in one round trip.
constexpr char kPutSql[] = R"sql(
WITH old AS (SELECT body FROM ws_items WHERE workspace_id = $1 AND kind = $2 AND key = $3),
     up AS (INSERT INTO ws_items (workspace_id, kind, key, body, revision, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6)
            ON CONFLICT (workspace_id, kind, key) DO UPDATE
            SET body = excluded.body, revision = excluded.revision, updated_at = excluded.updated_at)
INSERT INTO ws_revisions (workspace_id, seq, time, actor, reason, op, kind, key, environment, before, after)
VALUES ($1, $5, $6, $7, $8, $9, $2, $3, $10, COALESCE((SELECT body FROM old), 'null'), $4)
)sql";

// One commit's delete: removes the item and appends the revision from the removed body;
// inserts nothing (0 rows) when there was no item.
constexpr char kDeleteSql[] = R"sql(
WITH old AS (DELETE FROM ws_items WHERE workspace_id = $1 AND kind = $2 AND key = $3 RETURNING body)
INSERT INTO ws_revisions (workspace_id, seq, time, actor, reason, op, kind, key, environment, before, after)
SELECT $1::text, $4::bigint, $5::bigint, $6::text, $7::text, $8::text, $2::text, $3::text, $9::text,
       body, 'null'
FROM old
)sql";

class PostgresWorkspaceStore final : public WorkspaceStore {
 public:
  PostgresWorkspaceStore(std::shared_ptr<PgPool> pool, base::Env* env, std::string workspace_id,
                         absl::Duration lock_timeout)
      : pool_(std::move(pool)),
        env_(env),
        ws_(std::move(workspace_id)),
        set_lock_timeout_(StrCat("SET LOCAL lock_timeout = '",
                                 std::max<int64_t>(1, absl::ToInt64Milliseconds(lock_timeout)),
                                 "ms'")) {}

  absl::StatusOr<std::string> WorkspaceId() override { return ws_; }

  absl::StatusOr<CommitResult> Commit(const CommitRequest& c) override {
    EV_RETURN_IF_ERROR(internal::ValidateCommitRequest(c));
    CommitResult result;
    EV_RETURN_IF_ERROR(Locked([&](PgConnection& db) -> absl::Status {
      EV_ASSIGN_OR_RETURN(int64_t head, HeadOn(db));
      if (c.expected_head.has_value() && *c.expected_head != head) {
        return absl::AbortedError(StrCat("workspace store: expected head ", *c.expected_head,
                                         " but the head is ", head, "; reload and retry"));
      }
      const int64_t time = Micros(c.time);
      int64_t seq = head;
      for (const Mutation& m : c.mutations) {
        ++seq;
        EV_ASSIGN_OR_RETURN(std::string_view kind, KindText(m.kind));
        if (m.body.has_value()) {
          EV_RETURN_IF_ERROR(db.Exec(kPutSql, {ws_, kind, m.key, *m.body, seq, time, c.actor,
                                               c.reason, c.op, m.environment})
                                 .status());
        } else {
          EV_ASSIGN_OR_RETURN(int64_t appended,
                              db.Exec(kDeleteSql, {ws_, kind, m.key, seq, time, c.actor, c.reason,
                                                   c.op, m.environment}));
          if (appended == 0) {
            return absl::NotFoundError(
                StrCat("cannot delete ", kind, " \"", m.key, "\": it does not exist"));
          }
        }
      }
      EV_RETURN_IF_ERROR(InsertDataKeys(db, c.data_keys));
      result.first_revision = head + 1;
      result.last_revision = seq;
      if (c.change_request) {
        ChangeRequestWrite w = *c.change_request;
        w.row.applied_revision = seq;
        EV_RETURN_IF_ERROR(WriteChangeRequestOn(db, w).status());
      }
      EV_ASSIGN_OR_RETURN(result.outbox_ids, InsertOutbox(db, c.outbox));
      if (seq > head) {
        // Every api node's listener hears of it at commit (pg_revision_listener.h).
        EV_RETURN_IF_ERROR(db.Exec("SELECT pg_notify($1, $2)",
                                   {kRevisionChannel, FormatRevisionNotice({ws_, head + 1, seq})})
                               .status());
      }
      return absl::OkStatus();
    }));
    return result;
  }

  absl::StatusOr<int64_t> Head() override {
    EV_ASSIGN_OR_RETURN(PgPool::Lease db, pool_->Acquire());
    return HeadOn(*db);
  }

  absl::StatusOr<Item> GetItem(ItemKind kind, std::string_view key) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_ITEM_COLUMNS " FROM ws_items "
                                                 "WHERE workspace_id = $1 AND kind = $2 AND key = $3",
                                                 {ws_, kind_text, key}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat(kind_text, " \"", key, "\" not found"));
    return ReadItem(r, 0);
  }

  absl::StatusOr<std::vector<Item>> ListItems(ItemKind kind) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_ITEM_COLUMNS " FROM ws_items "
                                                 "WHERE workspace_id = $1 AND kind = $2 ORDER BY key",
                                                 {ws_, kind_text}));
    return ReadAll<Item>(r, ReadItem);
  }

  absl::StatusOr<int64_t> CountItems(ItemKind kind) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT COUNT(*) FROM ws_items "
                                                 "WHERE workspace_id = $1 AND kind = $2",
                                                 {ws_, kind_text}));
    return OneInt64(r, "COUNT");
  }

  absl::StatusOr<std::vector<Revision>> ListRevisions(int64_t after, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    EV_ASSIGN_OR_RETURN(PgResult r,
                        pool_->Query("SELECT " EV_WS_REVISION_COLUMNS " FROM ws_revisions "
                                     "WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                     {ws_, after, limit}));
    return ReadAll<Revision>(r, ReadRevision);
  }

  absl::StatusOr<Revision> GetRevision(int64_t seq) override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_REVISION_COLUMNS " FROM ws_revisions "
                                                 "WHERE workspace_id = $1 AND seq = $2",
                                                 {ws_, seq}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat("revision ", seq, " not found"));
    return ReadRevision(r, 0);
  }

  absl::StatusOr<std::optional<std::string>> BodyAt(ItemKind kind, std::string_view key,
                                                    int64_t seq) override {
    EV_ASSIGN_OR_RETURN(std::string_view kind_text, KindText(kind));
    EV_ASSIGN_OR_RETURN(PgResult r,
                        pool_->Query("SELECT after FROM ws_revisions WHERE workspace_id = $1 "
                                     "AND kind = $2 AND key = $3 AND seq <= $4 "
                                     "ORDER BY seq DESC LIMIT 1",
                                     {ws_, kind_text, key, seq}));
    if (r.Rows() == 0 || r.Text(0, 0) == kNullBody) return std::optional<std::string>();
    return std::optional<std::string>(r.String(0, 0));
  }

  absl::StatusOr<std::vector<std::pair<ItemKind, std::string>>> AllKeysEver() override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT DISTINCT kind, key FROM ws_revisions "
                                                 "WHERE workspace_id = $1 ORDER BY kind, key",
                                                 {ws_}));
    using Key = std::pair<ItemKind, std::string>;
    return ReadAll<Key>(r, [](const PgResult& res, int i) -> absl::StatusOr<Key> {
      EV_ASSIGN_OR_RETURN(ItemKind kind, ReadKind(res, i, 0));
      return Key(kind, res.String(i, 1));
    });
  }

  absl::StatusOr<std::vector<OutboxRow>> PendingOutbox(int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_OUTBOX_COLUMNS " FROM ws_outbox "
                                                 "WHERE workspace_id = $1 AND done_at IS NULL "
                                                 "ORDER BY id LIMIT $2",
                                                 {ws_, limit}));
    return ReadAll<OutboxRow>(r, ReadOutbox);
  }

  absl::StatusOr<std::vector<OutboxRow>> PendingOutboxOfKind(std::string_view kind, int limit) override {
    return PendingOutboxOfKindAfter(kind, 0, limit);
  }

  absl::Status MarkOutboxDone(int64_t id) override { return MarkOutboxDoneMany({id}); }

  absl::Status MarkOutboxDoneMany(const std::vector<int64_t>& ids) override {
    if (ids.empty()) return absl::OkStatus();
    // One statement, all or nothing: it changes no row unless every id exists (ids are
    // never deleted, so the check cannot go stale). Marking twice keeps the first time.
    EV_ASSIGN_OR_RETURN(
        int64_t changed,
        pool_->Exec("UPDATE ws_outbox SET done_at = COALESCE(done_at, $2) "
                    "WHERE workspace_id = $1 AND id = ANY($3::bigint[]) AND NOT EXISTS ("
                    "  SELECT 1 FROM unnest($3::bigint[]) AS want (id) WHERE NOT EXISTS ("
                    "    SELECT 1 FROM ws_outbox o WHERE o.workspace_id = $1 AND o.id = want.id))",
                    {ws_, Micros(env_->Now()), Int64Array(ids)}));
    if (changed > 0) return absl::OkStatus();
    // Nothing changed: name the first unknown id.
    EV_ASSIGN_OR_RETURN(PgResult known, pool_->Query("SELECT id FROM ws_outbox WHERE workspace_id = $1 "
                                                     "AND id = ANY($2::bigint[])",
                                                     {ws_, Int64Array(ids)}));
    std::set<int64_t> found;
    for (int i = 0; i < known.Rows(); ++i) found.insert(known.Int64(i, 0));
    for (int64_t id : ids) {
      if (!found.contains(id)) return absl::NotFoundError(StrCat("outbox row ", id, " not found"));
    }
    return absl::InternalError("workspace store: outbox rows exist but none was marked done");
  }

  absl::Status RecordOutboxAttempt(int64_t id) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        pool_->Exec("UPDATE ws_outbox SET attempts = attempts + 1 "
                                    "WHERE workspace_id = $1 AND id = $2",
                                    {ws_, id}));
    if (changed == 0) return absl::NotFoundError(StrCat("outbox row ", id, " not found"));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> AppendActivity(const Activity& a, const std::vector<OutboxRow>& outbox) override {
    if (a.action.empty()) return Invalid("empty activity action");
    EV_RETURN_IF_ERROR(ValidateOutboxRows(outbox));
    int64_t id = 0;
    EV_RETURN_IF_ERROR(Locked([&](PgConnection& db) -> absl::Status {
      EV_ASSIGN_OR_RETURN(
          PgResult r,
          db.Query("INSERT INTO ws_activity (workspace_id, " EV_WS_ACTIVITY_COLUMNS ") "
                   "SELECT $1::text, COALESCE(MAX(id), 0) + 1, $2::bigint, $3::text, $4::text, $5::text "
                   "FROM ws_activity WHERE workspace_id = $1 RETURNING id",
                   {ws_, Micros(a.time), a.actor, a.action, a.details}));
      EV_ASSIGN_OR_RETURN(id, OneInt64(r, "INSERT INTO ws_activity"));
      // Fail closed: a refused outbox row (the audit event) rolls the activity back too.
      return InsertOutbox(db, outbox).status();
    }));
    return id;
  }

  absl::StatusOr<std::vector<Activity>> ListActivity(int64_t after, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_ACTIVITY_COLUMNS " FROM ws_activity "
                                                 "WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                                                 {ws_, after, limit}));
    return ReadAll<Activity>(r, ReadActivity);
  }

  absl::StatusOr<std::vector<OutboxRow>> PendingOutboxOfKindAfter(std::string_view kind, int64_t after_id,
                                                                   int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_OUTBOX_COLUMNS " FROM ws_outbox "
                                                 "WHERE workspace_id = $1 AND done_at IS NULL AND kind = $2 "
                                                 "AND id > $3 ORDER BY id LIMIT $4",
                                                 {ws_, kind, after_id, limit}));
    return ReadAll<OutboxRow>(r, ReadOutbox);
  }

  absl::StatusOr<int64_t> MarkOutboxOfKindDoneThrough(std::string_view kind, int64_t through_id) override {
    return pool_->Exec("UPDATE ws_outbox SET done_at = $2 WHERE workspace_id = $1 AND done_at IS NULL "
                       "AND kind = $3 AND id <= $4",
                       {ws_, Micros(env_->Now()), kind, through_id});
  }

  absl::StatusOr<std::vector<WebhookRow>> ListWebhooks() override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_WEBHOOK_COLUMNS " FROM ws_webhooks "
                                                 "WHERE workspace_id = $1 ORDER BY id",
                                                 {ws_}));
    return ReadAll<WebhookRow>(r, ReadWebhook);
  }

  absl::StatusOr<WebhookRow> GetWebhook(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_WEBHOOK_COLUMNS " FROM ws_webhooks "
                                                 "WHERE workspace_id = $1 AND id = $2",
                                                 {ws_, id}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    return ReadWebhook(r, 0);
  }

  absl::StatusOr<WebhookRow> CreateWebhook(const WebhookRow& w, const std::vector<DataKeyRow>& data_keys,
                                           const std::vector<OutboxRow>& outbox) override {
    if (w.id.empty()) return Invalid("empty webhook id");
    for (const DataKeyRow& k : data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
    EV_RETURN_IF_ERROR(ValidateOutboxRows(outbox));
    WebhookRow stored = w;
    EV_RETURN_IF_ERROR(Locked([&](PgConnection& db) -> absl::Status {
      // Under the workspace lock no outbox row can commit with a lower id later, so the
      // webhook gets exactly the events committed after it.
      EV_ASSIGN_OR_RETURN(
          int64_t inserted,
          db.Exec("INSERT INTO ws_webhooks (workspace_id, " EV_WS_WEBHOOK_COLUMNS ") "
                  "SELECT $1::text, $2::text, $3::text, $4::bytea, $5::bigint, $6::bigint, $7::bigint, "
                  "       COALESCE((SELECT MAX(id) FROM ws_outbox WHERE workspace_id = $1), 0), 0, '' "
                  "ON CONFLICT (workspace_id, id) DO NOTHING",
                  {ws_, w.id, w.body, PgBytes{w.secret}, w.secret_version, Micros(w.created_at),
                   Micros(w.updated_at)}));
      if (inserted == 0) return absl::AlreadyExistsError(StrCat("webhook ", w.id, " already exists"));
      EV_RETURN_IF_ERROR(InsertDataKeys(db, data_keys));
      EV_RETURN_IF_ERROR(InsertOutbox(db, outbox).status());
      EV_ASSIGN_OR_RETURN(PgResult r, db.Query("SELECT " EV_WS_WEBHOOK_COLUMNS " FROM ws_webhooks "
                                               "WHERE workspace_id = $1 AND id = $2",
                                               {ws_, w.id}));
      if (r.Rows() != 1) return absl::InternalError("workspace store: the new webhook is not there");
      EV_ASSIGN_OR_RETURN(stored, ReadWebhook(r, 0));
      return absl::OkStatus();
    }));
    return stored;
  }

  absl::Status UpdateWebhook(const WebhookRow& w, bool clear_failing, const std::vector<DataKeyRow>& data_keys,
                             const std::vector<OutboxRow>& outbox) override {
    if (w.id.empty()) return Invalid("empty webhook id");
    for (const DataKeyRow& k : data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
    EV_RETURN_IF_ERROR(ValidateOutboxRows(outbox));
    return Locked([&](PgConnection& db) -> absl::Status {
      EV_ASSIGN_OR_RETURN(
          int64_t changed,
          db.Exec(clear_failing ? "UPDATE ws_webhooks SET body = $3, secret = $4, secret_version = $5, "
                                  "updated_at = $6, failing = 0, last_error = '' "
                                  "WHERE workspace_id = $1 AND id = $2"
                                : "UPDATE ws_webhooks SET body = $3, secret = $4, secret_version = $5, "
                                  "updated_at = $6 WHERE workspace_id = $1 AND id = $2",
                  {ws_, w.id, w.body, PgBytes{w.secret}, w.secret_version, Micros(w.updated_at)}));
      if (changed == 0) return absl::NotFoundError(StrCat("webhook ", w.id, " not found"));
      EV_RETURN_IF_ERROR(InsertDataKeys(db, data_keys));
      return InsertOutbox(db, outbox).status();
    });
  }

  absl::Status DeleteWebhook(std::string_view id, const std::vector<OutboxRow>& outbox) override {
    EV_RETURN_IF_ERROR(ValidateOutboxRows(outbox));
    return Locked([&](PgConnection& db) -> absl::Status {
      EV_ASSIGN_OR_RETURN(int64_t changed, db.Exec("DELETE FROM ws_webhooks WHERE workspace_id = $1 AND id = $2",
                                                   {ws_, id}));
      if (changed == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
      return InsertOutbox(db, outbox).status();
    });
  }

  absl::Status SetWebhookDelivery(std::string_view id, int64_t cursor, bool failing,
                                  std::string_view last_error) override {
    EV_ASSIGN_OR_RETURN(int64_t changed,
                        pool_->Exec("UPDATE ws_webhooks SET cursor = GREATEST(cursor, $3), failing = $4, "
                                    "last_error = $5 WHERE workspace_id = $1 AND id = $2",
                                    {ws_, id, cursor, int64_t{failing ? 1 : 0}, last_error}));
    if (changed == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    return absl::OkStatus();
  }

  absl::StatusOr<absl::Duration> LeaseWebhook(std::string_view id, std::string_view holder,
                                              absl::Duration ttl) override {
    EV_RETURN_IF_ERROR(internal::ValidateLease(holder, ttl));
    // The database's clock, read once per statement: every api node leases by the same one.
    EV_ASSIGN_OR_RETURN(
        PgResult r,
        pool_->Query("WITH clock AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT AS now), "
                     "leased AS (UPDATE ws_webhooks SET lease_holder = $3, lease_until = (SELECT now FROM clock) + $4 "
                     "  WHERE workspace_id = $1 AND id = $2 "
                     "  AND (lease_holder = $3 OR lease_until <= (SELECT now FROM clock)) RETURNING 1) "
                     "SELECT (SELECT COUNT(*) FROM leased), w.lease_until - (SELECT now FROM clock) "
                     "FROM ws_webhooks w WHERE w.workspace_id = $1 AND w.id = $2",
                     {ws_, id, holder, absl::ToInt64Microseconds(ttl)}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    if (r.Int64(0, 0) == 1) return absl::ZeroDuration();
    return std::max(absl::Microseconds(1), absl::Microseconds(r.Int64(0, 1)));
  }

  absl::Status ReleaseWebhook(std::string_view id, std::string_view holder) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        pool_->Query("WITH released AS (UPDATE ws_webhooks SET lease_holder = '', lease_until = 0 "
                                     "  WHERE workspace_id = $1 AND id = $2 AND lease_holder = $3 RETURNING 1) "
                                     "SELECT 1 FROM ws_webhooks WHERE workspace_id = $1 AND id = $2",
                                     {ws_, id, holder}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat("webhook ", id, " not found"));
    return absl::OkStatus();
  }

  absl::StatusOr<DataKeyRow> GetDataKey(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT id, master_key_id, wrapped FROM ws_data_keys "
                                                 "WHERE workspace_id = $1 AND id = $2",
                                                 {ws_, id}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat("data key ", id, " not found"));
    return ReadDataKey(r, 0);
  }

  absl::StatusOr<std::vector<DataKeyRow>> ListDataKeysNotUnder(std::string_view master_key_id,
                                                               std::string_view after_id, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT id, master_key_id, wrapped FROM ws_data_keys "
                                                 "WHERE workspace_id = $1 AND master_key_id <> $2 "
                                                 "AND id > $3 ORDER BY id LIMIT $4",
                                                 {ws_, master_key_id, after_id, limit}));
    return ReadAll<DataKeyRow>(r, ReadDataKey);
  }

  absl::StatusOr<int> ReplaceDataKeys(const std::vector<DataKeyReplacement>& r) override {
    for (const DataKeyReplacement& x : r) {
      EV_RETURN_IF_ERROR(ValidateDataKeyRow(x.row));
      if (x.expected_master_key_id.empty()) return Invalid("empty expected master key id");
    }
    if (r.empty()) return 0;
    // Rows in id order, so two concurrent rotations lock them in the same order and never
    // deadlock. The compare-and-set needs no workspace lock: under READ COMMITTED an UPDATE
    // that waited for another re-checks its WHERE on the row the other committed.
    std::vector<const DataKeyReplacement*> sorted;
    for (const DataKeyReplacement& x : r) sorted.push_back(&x);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto* a, const auto* b) { return a->row.id < b->row.id; });
    int changed = 0;
    EV_RETURN_IF_ERROR(InTransaction(/*lock=*/false, [&](PgConnection& db) -> absl::Status {
      changed = 0;
      for (const DataKeyReplacement* x : sorted) {
        EV_ASSIGN_OR_RETURN(int64_t n,
                            db.Exec("UPDATE ws_data_keys SET master_key_id = $3, wrapped = $4 "
                                    "WHERE workspace_id = $1 AND id = $2 AND master_key_id = $5",
                                    {ws_, x->row.id, x->row.master_key_id, PgBytes{x->row.wrapped},
                                     x->expected_master_key_id}));
        changed += n > 0 ? 1 : 0;
      }
      return absl::OkStatus();
    }));
    return changed;
  }

  absl::StatusOr<int64_t> CountRows(std::string_view table) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(WorkspaceTransferTables(), table));
    return PgCountRows(*pool_, *t, Scope());
  }
  absl::StatusOr<std::vector<TransferRow>> ExportRows(std::string_view table, int64_t offset,
                                                      int limit) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(WorkspaceTransferTables(), table));
    return PgExportRows(*pool_, *t, Scope(), offset, limit);
  }
  absl::StatusOr<int64_t> ImportRows(std::string_view table,
                                     const std::vector<TransferRow>& rows) override {
    EV_ASSIGN_OR_RETURN(const TransferTable* t, FindTransferTable(WorkspaceTransferTables(), table));
    return PgImportRows(*pool_, *t, Scope(), rows);
  }

  absl::StatusOr<std::map<std::string, int64_t>> CountDataKeysByMasterKey() override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT master_key_id, COUNT(*) FROM ws_data_keys "
                                                 "WHERE workspace_id = $1 GROUP BY master_key_id",
                                                 {ws_}));
    std::map<std::string, int64_t> out;
    for (int i = 0; i < r.Rows(); ++i) out[r.String(i, 0)] = r.Int64(i, 1);
    return out;
  }

  absl::StatusOr<ChangeRequest> WriteChangeRequest(const ChangeRequestWrite& w) override {
    EV_RETURN_IF_ERROR(ValidateChangeRequestWrite(w));
    for (const DataKeyRow& k : w.data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
    ChangeRequest row;
    EV_RETURN_IF_ERROR(Locked([&](PgConnection& db) -> absl::Status {
      EV_ASSIGN_OR_RETURN(row, WriteChangeRequestOn(db, w));
      return InsertDataKeys(db, w.data_keys);
    }));
    return row;
  }

  absl::StatusOr<ChangeRequest> GetChangeRequest(int64_t id) override {
    EV_ASSIGN_OR_RETURN(PgPool::Lease db, pool_->Acquire());
    return GetChangeRequestOn(*db, id);
  }

  absl::StatusOr<std::vector<ChangeRequest>> ListChangeRequests(int64_t before, int limit) override {
    EV_RETURN_IF_ERROR(CheckPage(limit));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_CHANGE_REQUEST_COLUMNS " FROM ws_change_requests "
                                                 "WHERE workspace_id = $1 AND ($2::bigint = 0 OR id < $2::bigint) "
                                                 "ORDER BY id DESC LIMIT $3",
                                                 {ws_, before, limit}));
    return ReadAll<ChangeRequest>(r, ReadChangeRequest);
  }

  absl::StatusOr<std::vector<ChangeRequest>> ListScheduledChangeRequests() override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT " EV_WS_CHANGE_REQUEST_COLUMNS " FROM ws_change_requests "
                                                 "WHERE workspace_id = $1 AND state = 'scheduled' "
                                                 "ORDER BY apply_at, id",
                                                 {ws_}));
    return ReadAll<ChangeRequest>(r, ReadChangeRequest);
  }

  absl::StatusOr<std::vector<ChangeRequestReview>> ListChangeRequestReviews(int64_t id) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        pool_->Query("SELECT change_request_id, round, actor, decision, comment, time "
                                     "FROM ws_change_request_reviews "
                                     "WHERE workspace_id = $1 AND change_request_id = $2 "
                                     "ORDER BY round, time, actor",
                                     {ws_, id}));
    return ReadAll<ChangeRequestReview>(r, [](const PgResult& x, int i) -> absl::StatusOr<ChangeRequestReview> {
      return ChangeRequestReview{x.Int64(i, 0),  x.Int64(i, 1),  x.String(i, 2),
                                 x.String(i, 3), x.String(i, 4), FromMicros(x.Int64(i, 5))};
    });
  }

  absl::StatusOr<std::vector<ChangeRequestComment>> ListChangeRequestComments(int64_t id) override {
    EV_ASSIGN_OR_RETURN(PgResult r,
                        pool_->Query("SELECT id, change_request_id, actor, text, time "
                                     "FROM ws_change_request_comments "
                                     "WHERE workspace_id = $1 AND change_request_id = $2 ORDER BY id",
                                     {ws_, id}));
    return ReadAll<ChangeRequestComment>(r, [](const PgResult& x, int i) -> absl::StatusOr<ChangeRequestComment> {
      return ChangeRequestComment{x.Int64(i, 0), x.Int64(i, 1), x.String(i, 2), x.String(i, 3),
                                  FromMicros(x.Int64(i, 4))};
    });
  }

 private:
  // Runs `fn` in one transaction on one leased connection (rolled back when `fn` or the
  // commit fails). With `lock`, the transaction first takes the workspace's row lock:
  // every transaction that assigns numbers (revisions, outbox, activity, change requests,
  // comments) does, so they are serialised per workspace across every process.
  absl::Status InTransaction(bool lock, const std::function<absl::Status(PgConnection&)>& fn) {
    EV_ASSIGN_OR_RETURN(PgPool::Lease db, pool_->Acquire());
    EV_ASSIGN_OR_RETURN(PgTransaction tx, PgTransaction::Begin(*db));
    if (lock) EV_RETURN_IF_ERROR(LockWorkspace(*db));
    EV_RETURN_IF_ERROR(fn(*db));
    return tx.Commit();
  }
  absl::Status Locked(const std::function<absl::Status(PgConnection&)>& fn) {
    return InTransaction(/*lock=*/true, fn);
  }

  absl::Status LockWorkspace(PgConnection& db) {
    EV_RETURN_IF_ERROR(db.Exec(set_lock_timeout_).status());
    absl::StatusOr<PgResult> r =
        db.Query("SELECT 1 FROM ws_stores WHERE workspace_id = $1 FOR NO KEY UPDATE", {ws_});
    if (!r.ok()) {
      if (PgSqlState(r.status()) == "55P03") {
        return absl::UnavailableError(base::ToAbsl(
            StrCat("workspace ", ws_, " is busy: another writer held it past the lock timeout; retry")));
      }
      return r.status();
    }
    if (r->Rows() == 0) return absl::NotFoundError(base::ToAbsl(StrCat("no store for workspace ", ws_)));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> HeadOn(PgConnection& db) {
    EV_ASSIGN_OR_RETURN(PgResult r, db.Query("SELECT COALESCE(MAX(seq), 0) FROM ws_revisions "
                                             "WHERE workspace_id = $1",
                                             {ws_}));
    return OneInt64(r, "MAX(seq)");
  }

  // Inserts outbox rows with ids MAX(id) + 1, ...; the caller holds the workspace lock.
  absl::StatusOr<std::vector<int64_t>> InsertOutbox(PgConnection& db, const std::vector<OutboxRow>& rows) {
    std::vector<int64_t> ids;
    for (const OutboxRow& row : rows) {
      if (row.kind.empty()) return Invalid("empty outbox row kind");
      EV_ASSIGN_OR_RETURN(
          PgResult r,
          db.Query("INSERT INTO ws_outbox (workspace_id, id, kind, payload, created_at, attempts) "
                   "SELECT $1::text, COALESCE(MAX(id), 0) + 1, $2::text, $3::text, $4::bigint, 0 "
                   "FROM ws_outbox WHERE workspace_id = $1 RETURNING id",
                   {ws_, row.kind, row.payload, Micros(row.created_at)}));
      EV_ASSIGN_OR_RETURN(int64_t id, OneInt64(r, "INSERT INTO ws_outbox"));
      ids.push_back(id);
    }
    return ids;
  }

  // Inserts data key rows; InvalidArgument for an id that exists. In a transaction.
  absl::Status InsertDataKeys(PgConnection& db, const std::vector<DataKeyRow>& keys) {
    for (const DataKeyRow& k : keys) {
      EV_ASSIGN_OR_RETURN(int64_t inserted,
                          db.Exec("INSERT INTO ws_data_keys (workspace_id, id, master_key_id, wrapped) "
                                  "VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, id) DO NOTHING",
                                  {ws_, k.id, k.master_key_id, PgBytes{k.wrapped}}));
      if (inserted == 0) return Invalid(StrCat("data key ", k.id, " already exists"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ChangeRequest> GetChangeRequestOn(PgConnection& db, int64_t id) {
    EV_ASSIGN_OR_RETURN(PgResult r, db.Query("SELECT " EV_WS_CHANGE_REQUEST_COLUMNS " FROM ws_change_requests "
                                             "WHERE workspace_id = $1 AND id = $2",
                                             {ws_, id}));
    if (r.Rows() == 0) return absl::NotFoundError(StrCat("change request ", id, " not found"));
    return ReadChangeRequest(r, 0);
  }

  // The caller holds the workspace lock in an open transaction (rolled back on error).
  absl::StatusOr<ChangeRequest> WriteChangeRequestOn(PgConnection& db, const ChangeRequestWrite& w) {
    ChangeRequest row = w.row;
    const int64_t apply_at = row.apply_at ? Micros(*row.apply_at) : 0;
    if (row.id == 0) {
      row.version = 1;
      EV_ASSIGN_OR_RETURN(
          PgResult r,
          db.Query("INSERT INTO ws_change_requests (workspace_id, " EV_WS_CHANGE_REQUEST_COLUMNS ") "
                   "SELECT $1::text, COALESCE(MAX(id), 0) + 1, 1, $2::text, $3::text, $4::text, $5::text, "
                   "$6::text, $7::bigint, $8::bigint, $9::bigint, $10::text, $11::bigint, $12::bigint, "
                   "$13::bigint, $14::text FROM ws_change_requests WHERE workspace_id = $1 RETURNING id",
                   {ws_, row.title, row.description, row.author, row.state, row.state_reason,
                    row.base_revision, row.round, row.applied_revision, row.body, Micros(row.created_at),
                    Micros(row.updated_at), apply_at, row.schedule}));
      EV_ASSIGN_OR_RETURN(row.id, OneInt64(r, "INSERT INTO ws_change_requests"));
    } else {
      EV_ASSIGN_OR_RETURN(ChangeRequest current, GetChangeRequestOn(db, row.id));
      if (current.version != w.expected_version) {
        return absl::AbortedError(StrCat("change request ", row.id, " changed meanwhile (version ",
                                         current.version, ", expected ", w.expected_version,
                                         "); reload and retry"));
      }
      row.version = current.version + 1;
      row.created_at = current.created_at;
      EV_RETURN_IF_ERROR(
          db.Exec("UPDATE ws_change_requests SET version = $3, title = $4, description = $5, author = $6, "
                  "state = $7, state_reason = $8, base_revision = $9, round = $10, applied_revision = $11, "
                  "body = $12, updated_at = $13, apply_at = $14, schedule = $15 "
                  "WHERE workspace_id = $1 AND id = $2",
                  {ws_, row.id, row.version, row.title, row.description, row.author, row.state,
                   row.state_reason, row.base_revision, row.round, row.applied_revision, row.body,
                   Micros(row.updated_at), apply_at, row.schedule})
              .status());
    }
    if (w.review) {
      absl::Status st =
          db.Exec("INSERT INTO ws_change_request_reviews (workspace_id, change_request_id, round, actor, "
                  "decision, comment, time) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                  {ws_, row.id, w.review->round, w.review->actor, w.review->decision, w.review->comment,
                   Micros(w.review->time)})
              .status();
      if (absl::IsAlreadyExists(st)) {
        return absl::AlreadyExistsError(StrCat(w.review->actor, " already reviewed change request ", row.id,
                                               " in round ", w.review->round));
      }
      EV_RETURN_IF_ERROR(st);
    }
    if (w.comment) {
      EV_RETURN_IF_ERROR(
          db.Exec("INSERT INTO ws_change_request_comments (workspace_id, id, change_request_id, actor, text, time) "
                  "SELECT $1::text, COALESCE(MAX(id), 0) + 1, $2::bigint, $3::text, $4::text, $5::bigint "
                  "FROM ws_change_request_comments WHERE workspace_id = $1",
                  {ws_, row.id, w.comment->actor, w.comment->text, Micros(w.comment->time)})
              .status());
    }
    EV_RETURN_IF_ERROR(InsertOutbox(db, w.outbox).status());
    return row;
  }

  PgTransferScope Scope() const {
    return {.prefix = "ws_", .scope_column = "workspace_id", .scope_value = ws_};
  }

  const std::shared_ptr<PgPool> pool_;
  base::Env* const env_;
  const std::string ws_;
  const std::string set_lock_timeout_;
};

absl::Status CheckLockTimeout(absl::Duration d) {
  if (d < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("workspace store: lock_timeout must be at least 1 ms");
  }
  return absl::OkStatus();
}

// Every table of the workspace schema (PostgresWorkspaceDbMigrations), children before
// their parents: Destroy deletes a workspace's rows in this order. A new table goes here
// too (workspace_store_postgres_test checks that Destroy leaves no row behind).
constexpr std::string_view kWorkspaceTablesChildrenFirst[] = {
    "ws_change_request_reviews", "ws_change_request_comments", "ws_change_requests", "ws_webhooks",
    "ws_items",                  "ws_revisions",               "ws_outbox",          "ws_activity",
    "ws_data_keys",              "ws_stores"};

// Stores are views on the shared pool, so nothing is worth keeping open: the provider
// only remembers the live instances (one per workspace while held) and which workspaces
// are known to exist (forgotten by Destroy), so Open of a known one needs no query.
class PostgresProvider final : public WorkspaceStoreProvider {
 public:
  PostgresProvider(std::shared_ptr<PgPool> pool, PostgresWorkspaceStoreProviderOptions options)
      : pool_(std::move(pool)), options_(std::move(options)) {}

  absl::StatusOr<std::shared_ptr<WorkspaceStore>> Open(std::string_view id) override {
    return Get(id, /*create=*/false);
  }
  absl::StatusOr<std::shared_ptr<WorkspaceStore>> Create(std::string_view id) override {
    return Get(id, /*create=*/true);
  }

  absl::StatusOr<std::vector<std::string>> List() override {
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT workspace_id FROM ws_stores ORDER BY workspace_id"));
    std::vector<std::string> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(r.String(i, 0));
    return out;
  }

  // Every table of the workspace schema, children before their parents (the foreign keys).
  absl::Status Destroy(std::string_view id_view) override {
    EV_RETURN_IF_ERROR(CheckWorkspaceId(id_view));
    std::string id(id_view);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = live_.find(id); it != live_.end() && !it->second.expired()) {
        return absl::FailedPreconditionError(base::ToAbsl(StrCat("the store of workspace ", id, " is in use")));
      }
    }
    EV_ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
    EV_RETURN_IF_ERROR(conn->Exec("BEGIN").status());
    absl::Status st = [&]() -> absl::Status {
      // Lets the append-only trigger of ws_revisions pass this workspace's rows (step 2).
      EV_RETURN_IF_ERROR(conn->Query("SELECT set_config('edgevault.purging', $1, true)", {id}).status());
      for (std::string_view table : kWorkspaceTablesChildrenFirst) {
        EV_RETURN_IF_ERROR(conn->Exec(StrCat("DELETE FROM ", table, " WHERE workspace_id = $1"), {id}).status());
      }
      return conn->Exec("COMMIT").status();
    }();
    if (!st.ok()) {
      (void)conn->Exec("ROLLBACK");
      return st;
    }
    std::lock_guard<std::mutex> lock(mu_);
    known_.erase(id);
    return absl::OkStatus();
  }

  size_t OpenCount() override {
    std::lock_guard<std::mutex> lock(mu_);
    Prune();
    return live_.size();
  }

 private:
  absl::StatusOr<std::shared_ptr<WorkspaceStore>> Get(std::string_view id_view, bool create) {
    EV_RETURN_IF_ERROR(CheckWorkspaceId(id_view));
    std::string id(id_view);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = live_.find(id); it != live_.end()) {
        if (std::shared_ptr<WorkspaceStore> store = it->second.lock()) return store;
      }
    }
    bool known;
    {
      std::lock_guard<std::mutex> lock(mu_);
      known = known_.contains(id);
    }
    if (!known) {  // outside the mutex: a slow server never blocks other workspaces' Opens
      if (create) {
        EV_RETURN_IF_ERROR(pool_->Exec("INSERT INTO ws_stores (workspace_id, created_at) VALUES ($1, $2) "
                                       "ON CONFLICT (workspace_id) DO NOTHING",
                                       {id, Micros(options_.env->Now())})
                               .status());
      } else {
        EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT 1 FROM ws_stores WHERE workspace_id = $1", {id}));
        if (r.Rows() == 0) return absl::NotFoundError(base::ToAbsl(StrCat("no store for workspace ", id)));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    known_.insert(id);
    std::weak_ptr<WorkspaceStore>& slot = live_[id];
    if (std::shared_ptr<WorkspaceStore> store = slot.lock()) return store;  // another caller won
    auto store = std::make_shared<PostgresWorkspaceStore>(pool_, options_.env, id, options_.lock_timeout);
    slot = store;
    if (live_.size() > 2 * prune_at_) Prune();
    return std::shared_ptr<WorkspaceStore>(std::move(store));
  }

  // Forgets released instances. Called with mu_ held.
  void Prune() {
    std::erase_if(live_, [](const auto& entry) { return entry.second.expired(); });
    prune_at_ = std::max<size_t>(64, live_.size());
  }

  const std::shared_ptr<PgPool> pool_;
  const PostgresWorkspaceStoreProviderOptions options_;
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<WorkspaceStore>, std::less<>> live_;  // guarded by mu_
  std::set<std::string, std::less<>> known_;                                // guarded by mu_
  size_t prune_at_ = 64;                                                    // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<WorkspaceStore>> OpenPostgresWorkspaceStore(std::shared_ptr<PgPool> pool,
                                                                         base::Env* env,
                                                                         std::string_view workspace_id,
                                                                         absl::Duration lock_timeout) {
  if (pool == nullptr) return absl::InvalidArgumentError("workspace store: null pool");
  if (env == nullptr) return absl::InvalidArgumentError("workspace store: null env");
  EV_RETURN_IF_ERROR(CheckLockTimeout(lock_timeout));
  EV_RETURN_IF_ERROR(CheckWorkspaceId(workspace_id));
  EV_ASSIGN_OR_RETURN(PgResult r, pool->Query("SELECT 1 FROM ws_stores WHERE workspace_id = $1", {workspace_id}));
  if (r.Rows() == 0) {
    return absl::NotFoundError(base::ToAbsl(StrCat("no store for workspace ", workspace_id)));
  }
  return std::unique_ptr<WorkspaceStore>(
      new PostgresWorkspaceStore(std::move(pool), env, std::string(workspace_id), lock_timeout));
}

absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> OpenPostgresWorkspaceStoreProvider(
    const PostgresWorkspaceStoreProviderOptions& options) {
  if (options.env == nullptr) return absl::InvalidArgumentError("workspace store provider: null env");
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("workspace store provider: max_connections must be at least 1");
  }
  EV_RETURN_IF_ERROR(CheckLockTimeout(options.lock_timeout));
  EV_RETURN_IF_ERROR(ValidatePostgresUrl(options.url));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<PgPool> created,
                      PgPool::Create({.connect = {.url = options.url, .application_name = "edgevault-api"},
                                      .max_connections = options.max_connections}));
  std::shared_ptr<PgPool> pool(std::move(created));
  {
    EV_ASSIGN_OR_RETURN(PgPool::Lease conn, pool->Acquire());
    EV_RETURN_IF_ERROR(PgMigrate(*conn, kComponent, PostgresWorkspaceDbMigrations()).status());
  }
  return std::unique_ptr<WorkspaceStoreProvider>(new PostgresProvider(std::move(pool), options));
}

}  // namespace edgevault::storage
