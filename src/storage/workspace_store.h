#pragma once
// The system of record of ONE workspace (DESIGN.md §2–§4): its environments, its items
// (configs, flags, segments, secrets) in their current state, the append-only list of
// revisions that got them there, the outbox of work to do after a commit (propagation to
// the edge, audit events), and the activity log of non-write events (secret reads, ...).
//
// One store instance = one workspace (the SQLite backend keeps one file per workspace;
// a PostgreSQL backend keys the same schema by workspace id). The workspace actor
// (src/workspace/) is the only writer; readers may call concurrently.
//
// Revisions are numbered 1, 2, 3, ... per workspace with no gap: Commit assigns them in
// one transaction together with the item changes and the outbox rows, so either all of
// a commit is durable or none of it.
//
// Bodies (item definitions, environment definitions) are JSON text, opaque to the store:
// the domain layer validates them. `before` and `after` of a revision are JSON text, with
// "null" for "did not exist" / "deleted".
//
// Thread-safety: all methods are safe to call concurrently; Commit calls are serialised.
//
// Error codes (the same for every backend):
//   NotFound        the row does not exist
//   Aborted         Commit's expected_head did not match the current head (If-Match)
//   InvalidArgument a value the store cannot hold (empty key, unknown kind)
//   Unavailable     busy / unreachable; the caller may retry
//   Internal        anything else
//
//   auto store = storage::OpenSqliteWorkspaceStore(
//       {.path = dir + "/ws_123.db", .env = env, .workspace_id = "ws_123"});
//   storage::CommitRequest c{.actor = "user:usr_1", .reason = "raise pool", ...};
//   c.mutations.push_back({storage::ItemKind::kConfig, "db.pool", R"({...})"});
//   EV_ASSIGN_OR_RETURN(storage::CommitResult r, (*store)->Commit(c));

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/store_transfer.h"

namespace edgevault::storage {

enum class ItemKind { kEnvironment, kConfig, kFlag, kSegment, kSecret };
std::string_view ItemKindName(ItemKind kind);  // "environment", "config", "flag", ...
absl::StatusOr<ItemKind> ParseItemKind(std::string_view name);  // InvalidArgument

// Current state of one item (or environment: kind kEnvironment, key = environment key).
struct Item {
  ItemKind kind = ItemKind::kConfig;
  std::string key;
  std::string body;          // JSON text
  int64_t revision = 0;      // seq of the revision that last changed it
  absl::Time created_at;
  absl::Time updated_at;
};

// One change inside a commit. `body` nullopt deletes the item (NotFound at commit time
// when it does not exist).
struct Mutation {
  ItemKind kind = ItemKind::kConfig;
  std::string key;
  std::optional<std::string> body;
  // The environment(s) this change affects, for the revision record and propagation:
  // "" = all environments (a change to an item's shared parts), else one env key.
  std::string environment;
};

// On input (Commit, AppendActivity) `id` and `attempts` are ignored: the store assigns
// the id and starts attempts at 0; `created_at` is stored as given.
struct OutboxRow {
  int64_t id = 0;         // assigned by the store (ascending)
  std::string kind;       // "propagate", "audit", ...; non-empty
  std::string payload;    // JSON text, opaque to the store
  absl::Time created_at;
  int attempts = 0;
};

// One secret value's data key (the DEK wrapped under a master key; src/crypto/envelope.h).
// Opaque to the store except for master_key_id, which master-key rotation selects by.
// Unlike revisions, rows are updated in place: rotation re-wraps them
// (docs/design/key-files.md).
struct DataKeyRow {
  std::string id;             // non-empty, unique in the workspace (hex of the raw id)
  std::string master_key_id;  // non-empty
  std::string wrapped;        // bytes
};

// A re-wrapped row and the master key id it must still be under for the change to apply.
struct DataKeyReplacement {
  DataKeyRow row;
  std::string expected_master_key_id;
};

// A webhook registration (docs/design/webhooks.md). `body` (url, events, description,
// active) is JSON text opaque to the store; `secret` is the sealed signing secret (bytes).
// cursor, failing and last_error are the delivery state, written only by
// SetWebhookDelivery (and cursor once, by CreateWebhook).
struct WebhookRow {
  std::string id;  // non-empty
  std::string body;
  std::string secret;
  int64_t secret_version = 0;
  absl::Time created_at;
  absl::Time updated_at;
  int64_t cursor = 0;  // outbox id of the last event the webhook finished with
  bool failing = false;
  std::string last_error;
};

// A change request (docs/design/promotions.md): a reviewed set of item changes. The
// store keeps the row; `body` (the diff, JSON text) and `state` are the domain's.
struct ChangeRequest {
  int64_t id = 0;       // assigned by the store on create: 1, 2, 3, ... per workspace
  int64_t version = 0;  // 1 on create, +1 on every write (compare-and-set)
  std::string title;
  std::string description;
  std::string author;  // actor id
  std::string state;   // "open", "approved", "scheduled", "applied", "rejected", "closed", "failed"
  std::string state_reason;
  int64_t base_revision = 0;
  int64_t round = 1;             // approvals count within the current round (rebase: +1)
  int64_t applied_revision = 0;  // the apply commit's last revision; 0 until applied
  std::string body;              // JSON text
  absl::Time created_at;
  absl::Time updated_at;
  // Scheduled apply (state "scheduled"): when, and who scheduled it with which rights
  // (JSON text, the domain's). nullopt / "" otherwise.
  std::optional<absl::Time> apply_at;
  std::string schedule;
};

// One reviewer's decision in one round of a change request.
struct ChangeRequestReview {
  int64_t change_request_id = 0;
  int64_t round = 0;
  std::string actor;
  std::string decision;  // "approve" / "reject"
  std::string comment;
  absl::Time time;
};

struct ChangeRequestComment {
  int64_t id = 0;  // assigned by the store (ascending)
  int64_t change_request_id = 0;
  std::string actor;
  std::string text;
  absl::Time time;
};

// One atomic write of a change request: the row (created when row.id is 0, else replaced
// if its version is still expected_version), optionally a review and a comment of it,
// and the outbox rows (audit events) in the same transaction.
struct ChangeRequestWrite {
  ChangeRequest row;
  int64_t expected_version = 0;  // updates only
  std::optional<ChangeRequestReview> review;    // its change_request_id is the row's id
  std::optional<ChangeRequestComment> comment;  // likewise
  std::vector<OutboxRow> outbox;
  // The data keys of secret values the request holds sealed (proposed values), inserted in
  // the same transaction (as CommitRequest::data_keys; WriteChangeRequest only).
  std::vector<DataKeyRow> data_keys;
};

struct CommitRequest {
  std::string actor;   // "user:usr_..." / "key:key_..."
  std::string reason;  // non-empty; the domain layer checks it
  std::string op;      // "put", "delete", "revert", "rollback", ...
  absl::Time time;
  // Each mutation becomes one revision, in order.
  std::vector<Mutation> mutations;
  // Written in the same transaction (payloads may mention revision numbers: the caller
  // learns them from head + 1 ... because commits are serialised by the actor).
  std::vector<OutboxRow> outbox;
  // When set, the commit is refused (Aborted) unless the current head equals it.
  std::optional<int64_t> expected_head;
  // The data keys of the secret values this commit writes, inserted in the same
  // transaction (InvalidArgument for an empty id or master key id, or an id that exists).
  std::vector<DataKeyRow> data_keys;
  // A change request row to update in the same transaction (an apply): the commit is
  // refused (Aborted, nothing written) unless its version is still expected_version;
  // the row's applied_revision is set to the commit's last revision.
  std::optional<ChangeRequestWrite> change_request;
};

struct CommitResult {
  // A commit with outbox rows only writes no revision: first_revision = head + 1,
  // last_revision = head (an empty range).
  int64_t first_revision = 0;  // seq of the first revision written
  int64_t last_revision = 0;   // = new head
  std::vector<int64_t> outbox_ids;
};

struct Revision {
  int64_t seq = 0;
  absl::Time time;
  std::string actor;
  std::string reason;
  std::string op;
  ItemKind kind = ItemKind::kConfig;
  std::string key;
  std::string environment;  // "" = all
  std::string before;       // JSON text, "null" when the item did not exist
  std::string after;        // JSON text, "null" when deleted
};

// A non-write event (secret value read, export, denied request, ...).
struct Activity {
  int64_t id = 0;  // assigned by the store (ascending)
  absl::Time time;
  std::string actor;
  std::string action;
  std::string details;  // JSON text
};

// Every backend also implements StoreTransfer over WorkspaceTransferTables() (the rows of
// this one workspace), which `edgevault migrate` copies between backends.
class WorkspaceStore : public StoreTransfer {
 public:
  virtual ~WorkspaceStore() = default;

  // The workspace's own id, set once when the backend creates the store (for SQLite:
  // SqliteWorkspaceStoreOptions::workspace_id) and read back.
  virtual absl::StatusOr<std::string> WorkspaceId() = 0;

  // Applies `c` atomically: refuses with Aborted when expected_head is set and stale;
  // NotFound when a delete names a missing item; InvalidArgument for an empty key, an
  // unknown kind, a body that is exactly "null", an outbox row with an empty kind, or no
  // mutations and no outbox rows. Nothing is written on error. On success every mutation
  // is one new revision (seq = head + 1, ...) whose `before` is the item's previous body
  // ("null" if new).
  virtual absl::StatusOr<CommitResult> Commit(const CommitRequest& c) = 0;

  virtual absl::StatusOr<int64_t> Head() = 0;  // 0 for a new workspace

  virtual absl::StatusOr<Item> GetItem(ItemKind kind, std::string_view key) = 0;
  // All current items of a kind, ordered by key.
  virtual absl::StatusOr<std::vector<Item>> ListItems(ItemKind kind) = 0;
  virtual absl::StatusOr<int64_t> CountItems(ItemKind kind) = 0;

  // Revisions with seq > after, ascending, at most `limit` (1..1000, else InvalidArgument).
  virtual absl::StatusOr<std::vector<Revision>> ListRevisions(int64_t after, int limit) = 0;
  virtual absl::StatusOr<Revision> GetRevision(int64_t seq) = 0;  // NotFound
  // The body of (kind, key) as of revision `seq` (state after it): nullopt when the item
  // did not exist then. Used by rollback.
  virtual absl::StatusOr<std::optional<std::string>> BodyAt(ItemKind kind, std::string_view key,
                                                            int64_t seq) = 0;
  // Every (kind, key) that existed at any time up to the head, for rollback.
  virtual absl::StatusOr<std::vector<std::pair<ItemKind, std::string>>> AllKeysEver() = 0;

  // Outbox: rows not yet done, oldest (lowest id) first, at most `limit` (1..1000,
  // else InvalidArgument).
  virtual absl::StatusOr<std::vector<OutboxRow>> PendingOutbox(int limit) = 0;
  // The same, only rows of `kind` (each consumer — propagation, the audit relay — reads
  // its own kind, so one consumer's backlog never hides another's rows).
  virtual absl::StatusOr<std::vector<OutboxRow>> PendingOutboxOfKind(std::string_view kind,
                                                                      int limit) = 0;
  // NotFound if unknown; marking a done row again is OK (a relay may retry).
  virtual absl::Status MarkOutboxDone(int64_t id) = 0;
  // The same for many rows in one transaction (a propagation that coalesced several
  // jobs, a relay batch): NotFound naming the first unknown id, and then nothing changes.
  virtual absl::Status MarkOutboxDoneMany(const std::vector<int64_t>& ids) = 0;
  virtual absl::Status RecordOutboxAttempt(int64_t id) = 0;  // attempts + 1; NotFound

  // Appends the activity entry and the outbox rows (its audit event) in one transaction:
  // if the audit event cannot be recorded, neither is the activity (fail closed).
  // InvalidArgument for an empty action or an outbox row with an empty kind.
  virtual absl::StatusOr<int64_t> AppendActivity(const Activity& a,
                                                 const std::vector<OutboxRow>& outbox) = 0;
  // Activity with id > after, ascending, at most `limit` (1..1000, else InvalidArgument).
  virtual absl::StatusOr<std::vector<Activity>> ListActivity(int64_t after, int limit) = 0;

  // Outbox rows of `kind` not yet done with id > after_id, ascending, at most `limit`
  // (1..1000, else InvalidArgument): a webhook reads from its own cursor.
  virtual absl::StatusOr<std::vector<OutboxRow>> PendingOutboxOfKindAfter(std::string_view kind,
                                                                           int64_t after_id,
                                                                           int limit) = 0;
  // Marks every row of `kind` with id <= through_id done (rows already done keep their
  // time). Returns how many rows changed.
  virtual absl::StatusOr<int64_t> MarkOutboxOfKindDoneThrough(std::string_view kind,
                                                              int64_t through_id) = 0;

  // Webhooks (docs/design/webhooks.md). Listed by id.
  virtual absl::StatusOr<std::vector<WebhookRow>> ListWebhooks() = 0;
  virtual absl::StatusOr<WebhookRow> GetWebhook(std::string_view id) = 0;  // NotFound
  // Inserts `w` with its data keys and outbox rows (its audit event) in one transaction.
  // The cursor is set to the highest outbox id before this transaction (w.cursor is
  // ignored): the webhook gets the events committed after it. Returns the row as stored.
  // AlreadyExists for a taken id; InvalidArgument for an empty id, a bad data key or an
  // outbox row with an empty kind. Nothing is written on error.
  virtual absl::StatusOr<WebhookRow> CreateWebhook(const WebhookRow& w,
                                                   const std::vector<DataKeyRow>& data_keys,
                                                   const std::vector<OutboxRow>& outbox) = 0;
  // Replaces body, secret, secret_version and updated_at of webhook w.id (the delivery
  // state stays, except that `clear_failing` resets failing and last_error), with data
  // keys and outbox rows, one transaction. NotFound; InvalidArgument as CreateWebhook.
  virtual absl::Status UpdateWebhook(const WebhookRow& w, bool clear_failing,
                                     const std::vector<DataKeyRow>& data_keys,
                                     const std::vector<OutboxRow>& outbox) = 0;
  // Deletes it and writes the outbox rows, one transaction. NotFound.
  virtual absl::Status DeleteWebhook(std::string_view id, const std::vector<OutboxRow>& outbox) = 0;
  // Records delivery progress: the cursor only moves forward (a lower value keeps the
  // stored one). NotFound when the webhook is gone.
  virtual absl::Status SetWebhookDelivery(std::string_view id, int64_t cursor, bool failing,
                                          std::string_view last_error) = 0;
  // Leases the delivery of webhook `id` to `holder` (an api process) for `ttl`, timed by the
  // store's clock (PostgreSQL: the database server's, so api nodes' clocks do not matter;
  // SQLite: Env::Now). Granted when the webhook has no lease, its lease has ended (its end
  // is not after now), or `holder` holds it (then renewed). Returns zero when `holder` holds
  // it now, else how long the other holder's lease still runs (> 0). With several api nodes
  // on one store, one of them sends a webhook's events at a time, in order
  // (docs/design/webhooks.md). NotFound; InvalidArgument for an empty holder or a negative ttl.
  virtual absl::StatusOr<absl::Duration> LeaseWebhook(std::string_view id, std::string_view holder,
                                                      absl::Duration ttl) = 0;
  // Ends `holder`'s lease of webhook `id`, so another node may take it at once; nothing
  // when someone else holds it. NotFound.
  virtual absl::Status ReleaseWebhook(std::string_view id, std::string_view holder) = 0;

  // Data keys (master-key rotation).
  virtual absl::StatusOr<DataKeyRow> GetDataKey(std::string_view id) = 0;  // NotFound
  // Rows whose master key id is NOT `master_key_id`, with id > `after_id`, ascending by id,
  // at most `limit` (1..1000, else InvalidArgument).
  virtual absl::StatusOr<std::vector<DataKeyRow>> ListDataKeysNotUnder(
      std::string_view master_key_id, std::string_view after_id, int limit) = 0;
  // Applies the replacements in one transaction, each only if its row is still under its
  // expected master key id (a concurrent rotation may have re-wrapped it first: skipped).
  // Returns how many rows changed. InvalidArgument for an empty id or master key id.
  virtual absl::StatusOr<int> ReplaceDataKeys(const std::vector<DataKeyReplacement>& r) = 0;
  // Number of data keys per master key id (ids with no rows are absent).
  virtual absl::StatusOr<std::map<std::string, int64_t>> CountDataKeysByMasterKey() = 0;

  // Change requests (docs/design/promotions.md §7). Creates (row.id == 0: the store
  // assigns the next id, version 1) or updates (compare-and-set on version: Aborted when
  // stale; NotFound for an unknown id) the row, adds the review and the comment, and
  // writes the outbox rows, in one transaction. Returns the row as stored.
  // InvalidArgument: empty title, author or state; an outbox row with an empty kind; a
  // review or comment with an empty actor. AlreadyExists: the actor already reviewed this
  // change request in this round (then nothing is written).
  virtual absl::StatusOr<ChangeRequest> WriteChangeRequest(const ChangeRequestWrite& w) = 0;
  virtual absl::StatusOr<ChangeRequest> GetChangeRequest(int64_t id) = 0;  // NotFound
  // Newest first: ids < before (0 = from the newest), at most `limit` (1..1000).
  virtual absl::StatusOr<std::vector<ChangeRequest>> ListChangeRequests(int64_t before, int limit) = 0;
  // Every request in state "scheduled", soonest apply_at first (the scheduler's index).
  virtual absl::StatusOr<std::vector<ChangeRequest>> ListScheduledChangeRequests() = 0;
  // Every review of the change request (all rounds), by round then time.
  virtual absl::StatusOr<std::vector<ChangeRequestReview>> ListChangeRequestReviews(int64_t id) = 0;
  virtual absl::StatusOr<std::vector<ChangeRequestComment>> ListChangeRequestComments(int64_t id) = 0;
};

}  // namespace edgevault::storage
