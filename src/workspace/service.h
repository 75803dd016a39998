#pragma once
// The write path and the read model of workspaces (DESIGN.md §3–§4), free of HTTP:
// validate → authorize by effect (the caller's WriteAuthorizer decides on the
// environments the change touches, effect.h, under the write lock) → one transaction
// appends the revision(s), updates item state and writes the outbox (propagation job,
// audit event) → commit → broadcast to subscribers → resolve each environment → write
// the resolved documents through to the edge KV → mark the outbox rows done. A restart
// finishes unfinished outbox jobs (Start()). Once a commit is durable the write has
// succeeded: a later failure is logged and left to the outbox, never reported as a
// failed write.
//
// Each workspace has one actor: its writes are serialised (one mutex per workspace),
// writes to different workspaces proceed in parallel. Several api nodes may share one
// PostgreSQL workspace store; the mutex covers only this process, so a write reads the
// head first, commits with that expected head, and when another node committed in between
// (the store refuses atomically) is read, validated and authorized again on the new state,
// up to 5 times, then answers Unavailable (docs/design/postgres-workspace-store.md). Propagation runs in a background
// task of env (docs/design/periodic-tasks.md), after the write has answered; a workspace that fails to propagate backs off on
// its own without holding up the others.
//
// Thread-safety: every public method may be called concurrently.
//
// Errors (mapped to HTTP once, in src/services/api): InvalidArgument (bad input, named),
// NotFound (workspace, environment, item, revision), AlreadyExists, Aborted (If-Match
// stale → 412), PermissionDenied (entitlement exceeded → 403 with code
// "entitlement_exceeded"), FailedPrecondition (e.g. deleting an environment with
// children), Unavailable (also: other nodes kept moving the head under every attempt),
// Internal.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/crypto/aead.h"
#include "src/crypto/envelope.h"
#include "src/crypto/keyring.h"
#include "src/storage/workspace_directory.h"
#include "src/storage/edge_kv.h"
#include "src/storage/workspace_store.h"
#include "src/storage/workspace_store_provider.h"
#include "src/workspace/change_set.h"
#include "src/workspace/resolver.h"
#include "src/workspace/webhooks.h"

namespace edgevault::workspace {

struct ServiceOptions {
  // Every workspace's store (src/storage/workspace_store_provider.h); not owned. The
  // provider bounds how many stay open.
  storage::WorkspaceStoreProvider* stores = nullptr;
  // Workspace metadata and entitlements; not owned. In the api: auth's internal API
  // (src/services/api/remote_workspace_directory.h); in tests, a control store.
  storage::WorkspaceDirectory* directory = nullptr;
  storage::EdgeKv* kv = nullptr;  // not owned
  base::Env* env = nullptr;
  // Master keys for secret values (src/crypto/envelope.h); nullptr = secrets disabled
  // (writes and reads of secret values answer FailedPrecondition). Not owned. Reloaded
  // before each secret write (so a rotated master.active takes effect at once) and when a
  // data key names a master key not loaded yet.
  crypto::KeyringHolder* keyring = nullptr;
  size_t max_value_bytes = 64 * 1024;
  // Called on the propagation thread after new documents reached the KV (the api tells
  // delivery to look now rather than at its next poll). May be empty.
  std::function<void()> on_published;
  // Called on the propagation thread for each item left out of a workspace's documents
  // because its stored body cannot be resolved (resolver.h). May be empty; the problem
  // is logged either way.
  std::function<void(const std::string& workspace_id, const ResolveProblem&)> on_problem;
  // A workspace whose propagation fails is retried after this, doubling per consecutive
  // failure up to propagation_retry_max; other workspaces are not held up meanwhile.
  absl::Duration propagation_retry = absl::Seconds(1);
  absl::Duration propagation_retry_max = absl::Seconds(60);
  // A workspace named by RevisionsCommitted (a commit on any node sharing the PostgreSQL
  // store) has its propagation jobs and audit outbox looked at by this node this long
  // after: the committing node does both at once, unless it died first.
  absl::Duration outbox_recheck_delay = absl::Seconds(5);
  // Webhooks (docs/design/webhooks.md): hosts a registration may name (empty = any), and
  // the hand-off to the dispatcher, called after a commit wrote webhook events and after
  // a registration changed (may be empty; the dispatcher also looks at start).
  std::vector<std::string> webhook_allowed_hosts;
  std::function<void(const std::string& workspace_id)> on_webhook_events;
};

// An MCP agent acting for the principal (docs/design/mcp.md §6): every audit event the
// action produces names it in details.agent. Empty `client` = no agent.
struct AgentInfo {
  std::string client;          // the MCP client's clientInfo.name
  std::string client_version;  // its clientInfo.version
  std::string session;         // the Mcp-Session-Id
  std::string tool;            // the tool called
};

// Who is writing, for revisions and audit.
struct Actor {
  std::string id;       // "user:usr_..." / "key:key_..."
  std::string org_id;
  std::string address;
  std::string request_id;
  AgentInfo agent;
};

// {"protocol": "mcp", "client", "client_version", "session", "tool"}: how audit events name
// an agent.
boost::json::object AgentJson(const AgentInfo& agent);

// The audit event (docs/design/audit-event.md JSON) "workspace.purge" of `ws`, for the
// audit queue: a purge cannot use the workspace's own outbox, which it destroys.
std::string PurgeAuditEvent(base::Env* env, const Actor& actor, const storage::Workspace& ws,
                            std::string_view reason);

// A webhook registration with its signing secret in plaintext: only CreateWebhook and
// RotateWebhookSecret return one, for the api to show once.
struct WebhookWithSecret {
  storage::WebhookRow row;
  std::string secret;  // "whsec_" + 64 hex digits
};

// A new revision, as broadcast to event subscribers (GET .../events).
struct RevisionEvent {
  std::string workspace_id;
  storage::Revision revision;
};

// What a write changes (effect.h), computed under the workspace's write lock from the
// state the write will actually change: the environments whose resolved document or
// served secret value changes, and which of them are protected.
struct WriteEffect {
  std::set<std::string> environments;
  std::set<std::string> protected_environments;
  // Environments whose own settings (name, protected) the write changes (a revert or a
  // rollback across UpdateEnvironment): administering environments, not writing values.
  std::set<std::string> environment_settings;
  // Those whose policy requires change requests (docs/design/promotions.md §4): a direct
  // write touching one is refused by the api's authorizer; only ApplyChangeSet may.
  std::set<std::string> change_request_environments;
  // The policy of every touched environment that has one.
  std::map<std::string, EnvironmentPolicy> policies;
  // The parent of every touched environment and of each of its ancestors ("" for a root):
  // which touched environments serve a value set higher up, by inheritance (a value
  // written in `prod` is served by a touched `dev` below it that does not set its own).
  std::map<std::string, std::string> parents;
  // The config and flag bodies (normalised) this write stores as new content: PutItem,
  // PatchItem and ApplyChangeSet (change requests, promotions) fill it, for checks of
  // what is written such as secret-leak scanning (docs/secret-scanning.md). Revert and
  // rollback restore history and leave it empty. The pointers live for the call.
  struct Written {
    storage::ItemKind kind;
    std::string key;
    const boost::json::object* body = nullptr;
  };
  std::vector<Written> written;
};
// Decides whether the caller may make a write with this effect. Called once per attempt
// of a write that would change something (again only when another api node committed
// before the attempt could: the write is then re-validated on the new state), under the
// workspace's write lock, after validation and before anything is committed; a non-OK status is returned as the write's result
// and nothing changes. Must not call back into the Service.
using WriteAuthorizer = std::function<absl::Status(const WriteEffect&)>;
// Allows every write (tools and tests that act as the system itself).
WriteAuthorizer AllowAnyWrite();

// Decides whether the caller may see secret values set in environment `source` (which
// is protected or not). OK or PermissionDenied (its message says what is missing).
using SecretReadAuthorizer = std::function<absl::Status(std::string_view source, bool is_protected)>;

// A secret whose value an environment would serve but the caller may not see: it is
// inherited from (or set in) `from`, where the caller may not read secrets.
struct WithheldSecret {
  std::string key;
  std::string from;
  std::string reason;
};
struct SecretValues {
  std::map<std::string, crypto::SecureBuffer> values;  // key → plaintext
  std::vector<WithheldSecret> withheld;                // sorted by key
};

class Service {
 public:
  static absl::StatusOr<std::unique_ptr<Service>> Create(ServiceOptions options);
  ~Service();  // Stop()s

  // Finishes unfinished outbox jobs of every workspace and starts the propagation thread.
  absl::Status Start();
  // Stops the propagation thread and waits for it. Idempotent; writes still work after it
  // but are propagated only by the next Start() (at the next process start).
  void Stop();

  // ---- workspaces and environments ----
  // The org's workspace limit is checked and the workspace recorded in one transaction,
  // so parallel creates never exceed it.
  absl::StatusOr<storage::Workspace> CreateWorkspace(const Actor& actor, std::string_view key,
                                                     std::string_view name);
  // The org's workspaces; deleted ones only with `include_deleted`.
  absl::StatusOr<std::vector<storage::Workspace>> ListWorkspaces(std::string_view org_id,
                                                                 bool include_deleted = false);
  // NotFound for a deleted workspace unless `include_deleted` (restore and purge need it).
  absl::StatusOr<storage::Workspace> GetWorkspace(std::string_view org_id, std::string_view key,
                                                  bool include_deleted = false);

  // ---- deleting a workspace (docs/api.md "Deleting a workspace") ----
  // Marks `ws` deleted, under its write lock: a write holding the lock finishes (and is
  // answered) before this returns; every later read or write of it through this Service
  // answers NotFound (another api node sees the row within its directory's cache TTL).
  // Its documents, signatures and SDK-key bindings leave the edge KV at once, so delivery
  // refuses its keys. Recorded as "workspace.delete" (activity + audit). Its data is
  // destroyed by PurgeDueWorkspaces from `grace` on. Returns the row (purge_after set).
  // Errors: FailedPrecondition (deleted already), InvalidArgument (negative grace), the
  // directory's, the KV's (the row is marked either way; a retry of the KV clean-up
  // happens at purge).
  // `sdk_keys`: the workspace's SDK keys (auth holds them), whose bindings are removed.
  absl::StatusOr<storage::Workspace> DeleteWorkspace(const Actor& actor, const storage::Workspace& ws,
                                                     std::string_view reason, absl::Duration grace,
                                                     const std::vector<storage::SdkKey>& sdk_keys);
  // Clears the marks of a deleted `ws`, records "workspace.restore" and publishes its
  // documents and its live SDK keys' bindings again (`sdk_keys`: its keys, from auth).
  // Errors: FailedPrecondition (not deleted), the directory's; a failed republish is
  // left to the propagation retry.
  absl::StatusOr<storage::Workspace> RestoreWorkspace(const Actor& actor, const storage::Workspace& ws,
                                                      std::string_view reason,
                                                      const std::vector<storage::SdkKey>& sdk_keys);
  // Destroys a deleted `ws` now: its control row (only while it is still deleted, so a
  // restore through another node wins), then its edge-KV entries and its store (items,
  // history, data keys: its secrets can never be opened again). The audit event
  // "workspace.purge" goes to `record_purge` (the store's own outbox goes with the store)
  // before anything is destroyed; the purge waits (FailedPrecondition) while the store's
  // own audit events have not reached the audit queue. Once the row is gone the purge has
  // happened (OK): data that cannot be destroyed at once (its store is busy) is destroyed
  // by the purge task's next run, and is refused everywhere meanwhile. Errors:
  // FailedPrecondition (not deleted; audit events pending), the directory's, the store's.
  // `sdk_keys` as for DeleteWorkspace.
  using PurgeRecorder = std::function<absl::Status(const storage::Workspace& ws, std::string_view reason)>;
  using SdkKeysOf = std::function<absl::StatusOr<std::vector<storage::SdkKey>>(const storage::Workspace& ws)>;
  absl::Status PurgeWorkspace(const storage::Workspace& ws, std::string_view reason,
                              const std::vector<storage::SdkKey>& sdk_keys, const PurgeRecorder& record_purge);
  // Destroys what a purge left behind when the node stopped between removing the control
  // row and destroying the data (unfinished_purges_ lives in memory): the edge-KV
  // documents and the store of every workspace store that (1) has no directory row and
  // (2) whose last activity is "workspace.delete" with a purge_after that has passed
  // (env's clock). Nothing else is touched: a live workspace, one still in its grace
  // period, or a store whose creation failed before its row was written is left alone even
  // when the directory answers NotFound by mistake (a wrong control DB). Returns how many
  // were destroyed; one that cannot be (busy, an I/O error) is logged and left for the next
  // sweep. Errors: listing the stores. SchedulePurge runs it at its first run and hourly.
  absl::StatusOr<int> DestroyPurgedLeftovers();
  // Purges up to `limit` deleted workspaces whose purge_after has passed (env's clock).
  // Returns how many were purged; one that fails is logged and left for the next run.
  absl::StatusOr<int> PurgeDueWorkspaces(int limit, const SdkKeysOf& sdk_keys_of,
                                         const PurgeRecorder& record_purge);
  // The purge task (docs/design/periodic-tasks.md): PurgeDueWorkspaces every `interval`
  // (at once again while a full batch was due; backs off while the directory fails).
  std::unique_ptr<base::PeriodicTask> SchedulePurge(absl::Duration interval, SdkKeysOf sdk_keys_of,
                                                    PurgeRecorder record_purge);
  // Sets `ws`'s display name (1–200 bytes; the key, which URLs and SDK keys name, never
  // changes) and records it in the activity and audit trail ("workspace.rename", with the
  // previous name and `reason`). Returns the renamed workspace; `ws` itself when the name
  // is already `name` (nothing recorded). The caller has authorized administering the
  // workspace. Errors: InvalidArgument (name), NotFound (workspace gone).
  absl::StatusOr<storage::Workspace> RenameWorkspace(const Actor& actor, const storage::Workspace& ws,
                                                     std::string_view name, std::string_view reason);

  // body: {key, name, parent?, protected?}. Returns the new head revision.
  absl::StatusOr<int64_t> CreateEnvironment(const Actor& actor, const storage::Workspace& ws,
                                            const boost::json::object& body, std::string_view reason,
                                            std::optional<int64_t> if_match);
  // Changes an existing environment's name, parent and/or protected flag: `change` is
  // {name?, parent?, protected?} (PatchEnvironmentBody, model.h; the key cannot change).
  // A new parent changes what the environment and every descendant inherit: they are
  // re-resolved and propagated (the audit event lists them). The caller has authorized
  // administering environments. Returns the revision written, or the head when nothing
  // changes (no revision). Errors: NotFound (environment), InvalidArgument (named field;
  // an unknown parent or one that would make a cycle), Aborted (If-Match stale).
  absl::StatusOr<int64_t> UpdateEnvironment(const Actor& actor, const storage::Workspace& ws,
                                            std::string_view env, const boost::json::object& change,
                                            std::string_view reason, std::optional<int64_t> if_match);
  absl::StatusOr<std::vector<storage::Item>> ListEnvironments(const storage::Workspace& ws);
  // What to do with an environment's children when it is deleted: nothing (the delete is
  // refused while it has any), or give them another parent ("" = they become roots).
  struct EnvironmentDeletion {
    std::optional<std::string> reparent_children_to;
  };
  // Deletes environment `env` in one commit: the environment, every value the workspace's
  // items hold for it (configs' and secrets' own values, flags' configuration there; one
  // revision each, so history shows them) and, when told, its children's new parent. Its
  // resolved document leaves the edge KV at propagation; what its children inherit is
  // re-resolved. The caller has authorized administering environments and dealt with the
  // SDK keys bound to it (they live at auth). Returns the new head. Errors: NotFound
  // (environment); FailedPrecondition (it is protected: unprotect it first; it has
  // children and no `reparent_children_to`); InvalidArgument (`reparent_children_to`
  // unknown, the environment itself or one of its descendants); Aborted (If-Match stale).
  absl::StatusOr<int64_t> DeleteEnvironment(const Actor& actor, const storage::Workspace& ws,
                                            std::string_view env, const EnvironmentDeletion& deletion,
                                            std::string_view reason, std::optional<int64_t> if_match);
  // Sets (or, for null, removes) environment `env`'s change-request policy
  // (model.h EnvironmentPolicy) as a new revision of its body. NotFound for an unknown
  // environment; InvalidArgument for a bad policy. Returns the new head (the head when
  // the policy is unchanged).
  absl::StatusOr<int64_t> SetEnvironmentPolicy(const Actor& actor, const storage::Workspace& ws,
                                               std::string_view env, const boost::json::value& policy,
                                               std::string_view reason, std::optional<int64_t> if_match);
  // Whether environment `env` is protected (NotFound when unknown).
  absl::StatusOr<bool> IsProtected(const storage::Workspace& ws, std::string_view env);

  // ---- items (configs, flags, segments) ----
  // `request` is the PUT body without "reason". `authorize` decides on the write's
  // effect (see WriteAuthorizer). Returns the revision written (the head when nothing
  // changes: an idempotent PUT is neither authorized nor recorded).
  absl::StatusOr<int64_t> PutItem(const Actor& actor, const storage::Workspace& ws,
                                  storage::ItemKind kind, std::string_view key,
                                  const boost::json::object& request, std::string_view reason,
                                  std::optional<int64_t> if_match, const WriteAuthorizer& authorize);
  // A partial update (PATCH): under the write lock, `patch` turns the item's stored document
  // into a PUT request, which is then validated, authorized on its effect and written
  // exactly as PutItem does. NotFound when the item does not exist; whatever `patch`
  // returns when it fails (nothing is written); otherwise as PutItem.
  using ItemPatch = std::function<absl::StatusOr<boost::json::object>(const boost::json::object& current)>;
  absl::StatusOr<int64_t> PatchItem(const Actor& actor, const storage::Workspace& ws,
                                    storage::ItemKind kind, std::string_view key, const ItemPatch& patch,
                                    std::string_view reason, std::optional<int64_t> if_match,
                                    const WriteAuthorizer& authorize);
  absl::StatusOr<int64_t> DeleteItem(const Actor& actor, const storage::Workspace& ws,
                                     storage::ItemKind kind, std::string_view key,
                                     std::string_view reason, std::optional<int64_t> if_match,
                                     const WriteAuthorizer& authorize);
  absl::StatusOr<storage::Item> GetItem(const storage::Workspace& ws, storage::ItemKind kind,
                                        std::string_view key);
  absl::StatusOr<std::vector<storage::Item>> ListItems(const storage::Workspace& ws,
                                                       storage::ItemKind kind);

  // ---- secrets (DESIGN.md §6; docs/secrets.md) ----
  // `request` is {"values": {"<env>": "<plaintext>" | null}} (without "reason"): each
  // named environment's value is sealed in its own envelope bound to (workspace, key,
  // env, revision), or removed when null; environments not named keep their value.
  absl::StatusOr<int64_t> PutSecret(const Actor& actor, const storage::Workspace& ws,
                                    std::string_view key, const boost::json::object& request,
                                    std::string_view reason, std::optional<int64_t> if_match,
                                    const WriteAuthorizer& authorize);
  // The plaintext of every secret visible in `env` (its own value or the nearest
  // ancestor's), or of `only_key`, for a caller who may read secrets set in the
  // environments `may_read` allows: a value set in another environment is withheld
  // (listed, not returned). The read and the withheld values are recorded (activity +
  // audit events naming both environments, one transaction) BEFORE anything is
  // decrypted: if that cannot be recorded, nothing is returned. Errors: NotFound for an
  // unknown env, or an unknown/unset `only_key`; PermissionDenied when `only_key` is
  // withheld (naming both environments); `may_read`'s error when it refuses every
  // source (a caller who may read no secrets at all).
  absl::StatusOr<SecretValues> ReadSecretValues(const Actor& actor, const storage::Workspace& ws,
                                                std::string_view env,
                                                std::optional<std::string> only_key,
                                                const SecretReadAuthorizer& may_read);
  // A secret body (or revision before/after) with the envelopes removed:
  // {"values": {"<env>": {"version": N}}}. Other kinds pass through unchanged.
  static boost::json::value SecretMetadata(const boost::json::value& body);

  // ---- history ----
  absl::StatusOr<int64_t> Head(const storage::Workspace& ws);
  absl::StatusOr<std::vector<storage::Revision>> ListRevisions(const storage::Workspace& ws,
                                                               int64_t after, int limit);
  // Undoes revision n as a new revision, authorized on what undoing it changes now.
  // An environment change (UpdateEnvironment) can be undone: the settings that revision
  // changed go back, the others stay as they are now; its effect names the environment in
  // `environment_settings`. An environment's creation cannot be undone
  // (FailedPrecondition). Returns the new head.
  absl::StatusOr<int64_t> Revert(const Actor& actor, const storage::Workspace& ws, int64_t n,
                                 std::string_view reason, std::optional<int64_t> if_match,
                                 const WriteAuthorizer& authorize);
  // What a rollback would change, item by item (RollbackPlan).
  struct PlannedRestore {
    storage::ItemKind kind;
    std::string key;
    std::string action;  // "create" (deleted since), "update", "delete" (created since)
  };
  // Restores every item to its state after revision `to`, as new revisions (one per item
  // that differs), authorized on the environments the whole restore changes. Environments
  // that existed at `to` get their settings back (effect: `environment_settings`);
  // environments created since are kept. Returns the new head (unchanged when nothing
  // differs). With `dry_run`, every check is made (validation, authorization, If-Match)
  // and the changes are listed there instead of written; the head is returned as it is.
  absl::StatusOr<int64_t> Rollback(const Actor& actor, const storage::Workspace& ws, int64_t to,
                                   std::string_view reason, std::optional<int64_t> if_match,
                                   const WriteAuthorizer& authorize,
                                   std::vector<PlannedRestore>* dry_run = nullptr);
  absl::StatusOr<std::vector<storage::Activity>> ListActivity(const storage::Workspace& ws,
                                                              int64_t after, int limit);
  // Records a non-write event (activity + audit event, one transaction). `environment`
  // and `target` fill the audit event's fields of those names (may be empty).
  absl::Status RecordActivity(const Actor& actor, const storage::Workspace& ws,
                              std::string_view action, boost::json::object details,
                              std::string_view environment = "", std::string_view target = "");

  // ---- webhooks (docs/design/webhooks.md) ----
  // `body`: {url, events, description?, active?} (webhooks.h WebhookSpecFromRequest). The
  // secret is generated here and stored sealed; the audit event is written in the same
  // transaction. Errors: InvalidArgument (named field), FailedPrecondition when secrets
  // are disabled (no master key) or the workspace has kMaxWebhooksPerWorkspace already.
  absl::StatusOr<WebhookWithSecret> CreateWebhook(const Actor& actor, const storage::Workspace& ws,
                                                  const boost::json::object& body);
  absl::StatusOr<std::vector<storage::WebhookRow>> ListWebhooks(const storage::Workspace& ws);
  absl::StatusOr<storage::WebhookRow> GetWebhook(const storage::Workspace& ws, std::string_view id);  // NotFound
  // Changes the fields `patch` names; a PATCH naming `active` or `url` also resumes a
  // failing webhook (from the event that failed). NotFound; InvalidArgument.
  absl::StatusOr<storage::WebhookRow> UpdateWebhook(const Actor& actor, const storage::Workspace& ws,
                                                    std::string_view id, const boost::json::object& patch);
  absl::StatusOr<WebhookWithSecret> RotateWebhookSecret(const Actor& actor, const storage::Workspace& ws,
                                                        std::string_view id);
  absl::Status DeleteWebhook(const Actor& actor, const storage::Workspace& ws, std::string_view id);
  // The signing secret of a webhook, for the dispatcher. Errors: FailedPrecondition
  // (secrets disabled), crypto::Open's, DataLoss (data key missing).
  absl::StatusOr<crypto::SecureBuffer> OpenWebhookSecret(const std::string& workspace_id,
                                                         const storage::WebhookRow& row);
  // Tells the dispatcher that `workspace_id` has new webhook events or registrations
  // (ServiceOptions::on_webhook_events). Call after committing a WebhookOutboxRow.
  void WebhookEventsCommitted(const std::string& workspace_id);
  // Org-wide webhooks (org_webhooks.h keeps one copy per workspace of the org): creates or
  // replaces this workspace's copy of org webhook `id` with `spec` (spec.org set here) and,
  // when `secret` is given, that signing secret sealed for this workspace (a new copy needs
  // one). A new copy gets the events committed after it; `resume` clears `failing`. The audit
  // event `action` is written in the same transaction. Errors: as CreateWebhook;
  // InvalidArgument for a new copy without a secret.
  absl::StatusOr<storage::WebhookRow> PutOrgWebhookCopy(const Actor& actor, const storage::Workspace& ws,
                                                        const std::string& id, WebhookSpec spec,
                                                        const std::optional<std::string>& secret, bool resume,
                                                        std::string_view action);
  const std::vector<std::string>& webhook_allowed_hosts() const { return options_.webhook_allowed_hosts; }
  base::Env* env() const { return options_.env; }

  // ---- change requests (docs/design/promotions.md; change_requests.h drives these) ----
  // The environments and the configs, flags, segments and secrets at one head, read under
  // the write lock (one consistent state to plan a change set against).
  absl::StatusOr<ChangeSetInput> ReadChangeSetInput(const storage::Workspace& ws);

  // A secret value proposed by a change request, sealed for the context
  // (workspace, key, "proposal:<id>:<environment>", 0) under a fresh data key
  // (docs/design/promotions.md §2b). The caller stores both with the request; the
  // plaintext is not kept. Errors: FailedPrecondition (secrets disabled, code
  // "secrets_disabled"), InvalidArgument (larger than the value limit), crypto's.
  struct SealedProposal {
    std::string id;        // "prp_<hex>"
    std::string envelope;  // binary
    storage::DataKeyRow data_key;
  };
  absl::StatusOr<SealedProposal> SealProposedSecret(const storage::Workspace& ws, std::string_view key,
                                                    std::string_view environment, std::string_view plaintext);

  struct ChangeSetApply {
    std::vector<PlannedChange> changes;
    std::string reason;  // every revision's reason
    int64_t change_request_id = 0;
    // Moved in the same transaction as the items (compare-and-set on its version).
    storage::ChangeRequestWrite change_request;
    // The sealed proposals the changes name (PlannedChange::secret_proposal): id → envelope.
    std::map<std::string, std::string> proposals;
    // "change_request" (an apply: `change_request` is moved in the same commit) or "batch"
    // (POST .../batch, ChangeRequests::Batch: no request row; the revisions' op and the
    // audit action workspace.batch say so).
    std::string op = "change_request";
    // The data keys of `proposals` when they are not in the store: a batch seals its
    // secret values and applies them in one call, and stores only the re-sealed values.
    std::vector<storage::DataKeyRow> proposal_data_keys;
    // A batch's If-Match: the head the caller's view was read at (CheckIfMatch).
    std::optional<int64_t> if_match;
    // A batch only: environments created in the same commit, before the changes (bodies
    // as POST .../environments takes them, without "policy"; each may name an earlier
    // one as its parent). Validated under the lock; the changes are validated against
    // the workspace with them; they count against the org's environment limit; the effect
    // names them in `environments` and `environment_settings` (creating an environment
    // administers it).
    std::vector<boost::json::object> new_environments;
    // Every check of the apply is made under the write lock (item revisions, the item
    // limit, validation, `authorize` with the whole set's effect, If-Match), then nothing
    // is opened, sealed or written: a batch's dry run answers exactly as its apply would.
    bool dry_run = false;
  };
  // Applies every change in ONE commit under the workspace's write lock, or nothing:
  //  - FailedPrecondition, error code "change_request_conflict", naming the items whose
  //    revision is no longer the expected one;
  //  - InvalidArgument when a body no longer validates against the current workspace
  //    (environments, schemas, flag rules; change_set.h ValidateChanges);
  //  - `authorize`'s error, called once with the effect of the whole set;
  //  - Aborted when the change request row changed meanwhile.
  // Several changes of one item apply in order, each on the previous one's result (only
  // the first is checked against the stored revision). New items count against the org's
  // item limit (PermissionDenied "entitlement_exceeded").
  // Secrets: the source envelope (or the sealed proposal) is opened here and the plaintext sealed for
  // (workspace, key, target env, its new revision); it never leaves this call. Every
  // revision has op "change_request"; the audit event workspace.change_request.apply
  // names the request. Returns the new head (with `dry_run`, the head it was checked at).
  absl::StatusOr<int64_t> ApplyChangeSet(const Actor& actor, const storage::Workspace& ws,
                                         ChangeSetApply set, const WriteAuthorizer& authorize);
  // Writes a change request row (create, review, comment, state change) together with its
  // audit event `action` (details get "change_request": id), one transaction. The store's
  // errors (Aborted when the row changed meanwhile, AlreadyExists for a second review).
  absl::StatusOr<storage::ChangeRequest> WriteChangeRequest(const Actor& actor, const storage::Workspace& ws,
                                                            storage::ChangeRequestWrite w,
                                                            std::string_view action,
                                                            boost::json::object details,
                                                            std::string_view environments);

  // ---- read model ----
  // The resolved document of `env`, computed from the store now (the exact bytes
  // propagation writes to the edge KV for the same head).
  // Audience::kClient: the client document (resolver.h), which propagation writes beside it.
  absl::StatusOr<std::string> Resolve(const storage::Workspace& ws, std::string_view env,
                                      Audience audience = Audience::kServer);

  // ---- SDK keys: the lookup delivery uses, written through to the KV ----
  // A client key's binding also holds its kind and browser origins (edge-kv.md).
  absl::Status PublishSdkKey(std::string_view key_hash, const storage::Workspace& ws,
                             std::string_view env,
                             storage::SdkKeyKind kind = storage::SdkKeyKind::kServer,
                             const std::vector<std::string>& origins = {});
  // Deletes a revoked key's binding, so delivery refuses it on its next request.
  // Idempotent: a binding already gone is OK.
  absl::Status UnpublishSdkKey(std::string_view key_hash);

  // ---- events ----
  using Subscriber = std::function<void(const RevisionEvent&)>;
  // Returns an id for Unsubscribe. `workspace_id` "" subscribes to the revisions of every
  // workspace (each event names its workspace), committed on this node or, once
  // RevisionsCommitted reports them, on another. Subscribers of a workspace get its revisions in order,
  // each once, on the thread of a writer after it released every lock (so a subscriber
  // may subscribe, unsubscribe or even write); keep it short. A subscriber may still be
  // called once after Unsubscribe returns, if a delivery had already started.
  uint64_t Subscribe(std::string workspace_id, Subscriber fn);
  void Unsubscribe(uint64_t id);
  // Revisions first..last of `workspace_id` were committed, by this node or another one
  // sharing the PostgreSQL store (storage/postgres/pg_revision_listener.h): this node's
  // subscribers of that workspace and of every workspace get every revision they have not
  // had yet, in order, read from the store (a gap before `first` is filled too). Nothing is
  // read when nobody here subscribed to that workspace or to every workspace. outbox_recheck_delay later this node also finishes
  // the commit's propagation and audit relay if the committing node has not (it died).
  // Called on the listener's thread.
  void RevisionsCommitted(const std::string& workspace_id, int64_t first, int64_t last);
  // Brings every subscribed workspace up to its head in the store: after the listener
  // reconnected, notices sent meanwhile are lost.
  void CatchUpSubscribers();
  // After the listener reconnected: the notices sent meanwhile are lost, and with them
  // RevisionsCommitted's re-check of a node that died during the outage. So every
  // workspace's outbox (propagation and audit) is looked at outbox_recheck_delay later.
  // Errors listing the workspaces are logged.
  void RecheckEveryOutbox();

  // Audit events waiting in the outboxes of the workspaces that have any, for the audit
  // relay (src/audit/relay.h): (id, event JSON) with ids "<workspace id>/<row id>". Only
  // workspaces written since their outbox was last seen empty are opened.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> PeekAuditOutbox(int limit);
  absl::Status RemoveAuditOutbox(const std::vector<std::string>& ids);

  // Runs propagation for `workspace_id` now, on the caller's thread (tests, Start()).
  absl::Status PropagateNow(const std::string& workspace_id);
  // The store of a workspace that is not deleted: NotFound (code "workspace_deleted") for a
  // deleted or purged one. Code beside the Service that reads a store itself
  // (change_requests.h) opens it here, so a deleted workspace is refused there too.
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> OpenLive(const std::string& workspace_id);

 private:
  struct Slot;  // per workspace: the write mutex and the ordered event hand-off
  struct Locked;  // a workspace's store and actor while its write lock is held
  // PutItem's work once the write lock is held (shared with PatchItem).
  absl::StatusOr<int64_t> PutItemLocked(Locked& l, const Actor& actor, const storage::Workspace& ws,
                                        storage::ItemKind kind, std::string_view key,
                                        const boost::json::object& request, std::string_view reason,
                                        std::optional<int64_t> if_match, const WriteAuthorizer& authorize);
  explicit Service(ServiceOptions options);
  std::shared_ptr<Slot> SlotFor(const std::string& workspace_id);
  // Runs `fn` with the workspace's store under its write lock, then hands the revisions
  // it committed to subscribers after the lock is released.
  template <typename Fn>
  auto WithWriteLock(const std::string& workspace_id, Fn fn) -> decltype(fn(std::declval<Locked&>()));
  absl::StatusOr<int64_t> CommitAndPublish(const Actor& actor, const storage::Workspace& ws,
                                           Locked& locked, storage::CommitRequest request,
                                           std::string_view audit_action, boost::json::object audit_details,
                                           const std::set<std::string>& environments, std::string target,
                                           std::vector<WebhookEvent> more_events = {});
  // Revert of an environment revision (Revert's contract), under the write lock.
  absl::StatusOr<int64_t> RevertEnvironment(const Actor& actor, const storage::Workspace& ws,
                                            Locked& l, const storage::Revision& rev,
                                            std::string_view reason, std::optional<int64_t> if_match,
                                            const WriteAuthorizer& authorize);
  void DeliverEvents(Slot& slot);
  // Hands subscribers every revision after the last one handed over up to `last`, read
  // from `store`; `first` is where to start when nothing was handed over yet. Without
  // subscribers it only moves the mark. Read failures are logged: the next call fills in.
  void QueueRevisions(Slot& slot, storage::WorkspaceStore& store, int64_t first, int64_t last);
  // A new signing secret for webhook `id` sealed for (workspace, "webhook:<id>", version).
  struct SealedWebhookSecret {
    std::string plaintext;
    std::string envelope;
    storage::DataKeyRow data_key;
  };
  // `plaintext`: seal this secret instead of generating one (an org webhook's copies share it).
  absl::StatusOr<SealedWebhookSecret> NewWebhookSecret(const std::string& workspace_id, const std::string& id,
                                                       int64_t version,
                                                       const std::optional<std::string>& plaintext = std::nullopt);
  // One due workspace per run, then at once again while more are queued, else when the
  // next back-off ends or Enqueue wakes it.
  base::NextRun PropagateNextDue();
  void MarkAuditPending(const std::string& workspace_id);
  // Opens one sealed value with its data key from `store` (reloading the keyring once
  // when the key names a master key not loaded yet). Errors: crypto::Open's; DataLoss
  // when the data key is missing.
  absl::StatusOr<crypto::SecureBuffer> OpenSecret(storage::WorkspaceStore& store,
                                                  const crypto::EnvelopeContext& ctx,
                                                  std::string_view envelope);
  // PermissionDenied "entitlement_exceeded" when the workspace already holds the org's
  // maximum number of items.
  // PermissionDenied "entitlement_exceeded" unless `adding` more items fit the org's plan.
  absl::Status CheckRoomForNewItem(storage::WorkspaceStore& store, const std::string& org_id, int64_t adding = 1);
  // PermissionDenied "entitlement_exceeded" when `existing` + `adding` environments pass
  // the org's plan.
  absl::Status CheckRoomForEnvironments(const std::string& org_id, int64_t existing, int64_t adding);
  void Enqueue(const std::string& workspace_id);
  // NotFound (code "workspace_deleted") when workspace `workspace_id` is deleted or gone,
  // as its directory row says: exact at once on the node that deleted it (the directory
  // remembers the row it wrote), within the directory's cache TTL on other nodes.
  absl::Status CheckLive(const std::string& workspace_id);
  // Removes what is left of a workspace whose control row PurgeWorkspace removed: its
  // edge-KV entries and its store. Kept in unfinished_purges_ until it succeeds.
  absl::Status FinishPurge(const std::string& workspace_id);
  // RecordActivity without CheckLive (the delete and the restore record themselves).
  absl::Status RecordActivityIn(storage::WorkspaceStore& store, const Actor& actor, const storage::Workspace& ws,
                                std::string_view action, boost::json::object details,
                                std::string_view environment, std::string_view target);
  // PropagateNow's work; with `all`, every environment's documents are written even when
  // no propagation job is pending (a restore puts back what the delete removed).
  absl::Status Propagate(const std::string& workspace_id, bool all);
  // Removes every edge-KV entry of the workspace: documents, signatures and the bindings
  // of `sdk_keys`.
  absl::Status RemoveFromEdgeKv(const std::string& workspace_id, const std::vector<storage::SdkKey>& sdk_keys);

  ServiceOptions options_;
  std::mutex purge_mu_;
  // Purged workspaces (row gone) whose data is not destroyed yet → their SDK keys.
  std::map<std::string, std::vector<storage::SdkKey>> unfinished_purges_;
  absl::Time last_leftover_sweep_ = absl::InfinitePast();  // guarded by purge_mu_
  std::mutex slots_mu_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;

  std::mutex sub_mu_;
  uint64_t next_sub_ = 1;
  struct Subscription {
    std::shared_ptr<Slot> slot;  // held, so that its mark of what was handed over stays
    std::shared_ptr<const Subscriber> fn;
  };
  std::map<uint64_t, Subscription> subs_;
  // Subscribe(""): every workspace's revisions committed on this node.
  std::map<uint64_t, std::shared_ptr<const Subscriber>> all_subs_;  // guarded by sub_mu_
  std::atomic<int> all_subscribers_{0};

  std::mutex audit_mu_;
  std::set<std::string> audit_pending_;  // workspaces whose audit outbox may hold rows

  std::mutex prop_mu_;
  std::deque<std::string> prop_queue_;
  std::set<std::string> prop_pending_;
  struct Backoff {
    int failures = 0;
    absl::Duration due;  // env MonotonicNow() at which to retry
  };
  std::map<std::string, Backoff> prop_backoff_;
  std::map<std::string, absl::Duration> recheck_due_;  // workspace → env MonotonicNow() due
  bool stop_ = false;
  std::unique_ptr<base::PeriodicTask> prop_task_;  // set once by Start, under prop_mu_
};

}  // namespace edgevault::workspace
