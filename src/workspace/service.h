#pragma once
// The write path and the read model of workspaces (DESIGN.md §3–§4), free of HTTP:
// validate → one transaction appends the revision(s), updates item state and writes the
// outbox (propagation job, audit event) → commit → broadcast to subscribers → resolve
// each affected environment → write the resolved document through to the edge KV →
// mark the outbox row done. A restart finishes unfinished outbox jobs (Start()).
//
// Each open workspace has one actor: its writes are serialised (one mutex per
// workspace), writes to different workspaces proceed in parallel. Propagation runs on a
// background thread, after the write has answered.
//
// Thread-safety: every public method may be called concurrently.
//
// Errors (mapped to HTTP once, in src/services/api): InvalidArgument (bad input, named),
// NotFound (workspace, environment, item, revision), AlreadyExists, Aborted (If-Match
// stale → 412), PermissionDenied (entitlement exceeded → 403 with code
// "entitlement_exceeded"), FailedPrecondition (e.g. deleting an environment with
// children), Unavailable, Internal.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/crypto/aead.h"
#include "src/crypto/envelope.h"
#include "src/crypto/keyring.h"
#include "src/storage/control_store.h"
#include "src/storage/edge_kv.h"
#include "src/storage/workspace_store.h"

namespace edgevault::workspace {

struct ServiceOptions {
  std::string workspaces_dir;                // DATA_DIR/workspaces: one <id>.db per workspace
  storage::ControlStore* control = nullptr;  // workspace metadata, entitlements; not owned
  storage::EdgeKv* kv = nullptr;             // not owned
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
  absl::Duration propagation_retry = absl::Seconds(1);
};

// Who is writing, for revisions and audit.
struct Actor {
  std::string id;       // "user:usr_..." / "key:key_..."
  std::string org_id;
  std::string address;
  std::string request_id;
};

// A new revision, as broadcast to event subscribers (GET .../events).
struct RevisionEvent {
  std::string workspace_id;
  storage::Revision revision;
};

class Service {
 public:
  static absl::StatusOr<std::unique_ptr<Service>> Create(ServiceOptions options);
  ~Service();  // stops the propagation thread

  // Finishes unfinished outbox jobs of every workspace and starts the propagation thread.
  absl::Status Start();

  // ---- workspaces and environments ----
  absl::StatusOr<storage::Workspace> CreateWorkspace(const Actor& actor, std::string_view key,
                                                     std::string_view name);
  absl::StatusOr<std::vector<storage::Workspace>> ListWorkspaces(std::string_view org_id);
  absl::StatusOr<storage::Workspace> GetWorkspace(std::string_view org_id, std::string_view key);

  // body: {key, name, parent?, protected?}. Returns the new head revision.
  absl::StatusOr<int64_t> CreateEnvironment(const Actor& actor, const storage::Workspace& ws,
                                            const boost::json::object& body, std::string_view reason,
                                            std::optional<int64_t> if_match);
  absl::StatusOr<std::vector<storage::Item>> ListEnvironments(const storage::Workspace& ws);
  // Whether environment `env` is protected (NotFound when unknown).
  absl::StatusOr<bool> IsProtected(const storage::Workspace& ws, std::string_view env);

  // ---- items (configs, flags, segments) ----
  // `request` is the PUT body without "reason". Returns the revision written.
  absl::StatusOr<int64_t> PutItem(const Actor& actor, const storage::Workspace& ws,
                                  storage::ItemKind kind, std::string_view key,
                                  const boost::json::object& request, std::string_view reason,
                                  std::optional<int64_t> if_match);
  absl::StatusOr<int64_t> DeleteItem(const Actor& actor, const storage::Workspace& ws,
                                     storage::ItemKind kind, std::string_view key,
                                     std::string_view reason, std::optional<int64_t> if_match);
  absl::StatusOr<storage::Item> GetItem(const storage::Workspace& ws, storage::ItemKind kind,
                                        std::string_view key);
  absl::StatusOr<std::vector<storage::Item>> ListItems(const storage::Workspace& ws,
                                                       storage::ItemKind kind);
  // The environments an existing or proposed item touches (for authorization).
  absl::StatusOr<std::set<std::string>> EnvironmentsTouched(const storage::Workspace& ws,
                                                            storage::ItemKind kind,
                                                            std::string_view key,
                                                            const boost::json::object* request);

  // ---- secrets (DESIGN.md §6; docs/secrets.md) ----
  // `request` is {"values": {"<env>": "<plaintext>"}} (without "reason"): every value is
  // sealed in its own envelope bound to (workspace, key, env, revision). Replaces all
  // values of the secret.
  absl::StatusOr<int64_t> PutSecret(const Actor& actor, const storage::Workspace& ws,
                                    std::string_view key, const boost::json::object& request,
                                    std::string_view reason, std::optional<int64_t> if_match);
  // The plaintext of every secret visible in `env` (its own value or the nearest
  // ancestor's), or of `only_key`. The read is recorded (activity + audit event, one
  // transaction) BEFORE anything is decrypted: if it cannot be recorded, nothing is
  // returned. NotFound for an unknown env, or an unknown/unset `only_key`.
  absl::StatusOr<std::map<std::string, crypto::SecureBuffer>> ReadSecretValues(
      const Actor& actor, const storage::Workspace& ws, std::string_view env,
      std::optional<std::string> only_key);
  // A secret body (or revision before/after) with the envelopes removed:
  // {"values": {"<env>": {"version": N}}}. Other kinds pass through unchanged.
  static boost::json::value SecretMetadata(const boost::json::value& body);

  // ---- history ----
  absl::StatusOr<int64_t> Head(const storage::Workspace& ws);
  absl::StatusOr<std::vector<storage::Revision>> ListRevisions(const storage::Workspace& ws,
                                                               int64_t after, int limit);
  // Undoes revision n as a new revision. Returns the new head.
  absl::StatusOr<int64_t> Revert(const Actor& actor, const storage::Workspace& ws, int64_t n,
                                 std::string_view reason, std::optional<int64_t> if_match);
  // Restores every item to its state after revision `to`, as new revisions (one per item
  // that differs). Returns the new head (unchanged when nothing differs).
  absl::StatusOr<int64_t> Rollback(const Actor& actor, const storage::Workspace& ws, int64_t to,
                                   std::string_view reason, std::optional<int64_t> if_match);
  absl::StatusOr<std::vector<storage::Activity>> ListActivity(const storage::Workspace& ws,
                                                              int64_t after, int limit);
  absl::Status RecordActivity(const Actor& actor, const storage::Workspace& ws,
                              std::string_view action, boost::json::object details);

  // ---- read model ----
  // The resolved document of `env`, computed from the store now (the exact bytes
  // propagation writes to the edge KV for the same head).
  absl::StatusOr<std::string> Resolve(const storage::Workspace& ws, std::string_view env);

  // ---- SDK keys: the lookup delivery uses, written through to the KV ----
  absl::Status PublishSdkKey(std::string_view key_hash, const storage::Workspace& ws,
                             std::string_view env);
  // Deletes a revoked key's binding, so delivery refuses it on its next request.
  // Idempotent: a binding already gone is OK.
  absl::Status UnpublishSdkKey(std::string_view key_hash);

  // ---- events ----
  using Subscriber = std::function<void(const RevisionEvent&)>;
  // Returns an id for Unsubscribe. Called on the writing thread after commit: keep it short.
  uint64_t Subscribe(std::string workspace_id, Subscriber fn);
  void Unsubscribe(uint64_t id);

  // Audit events waiting in the outboxes of all workspaces, for the audit relay
  // (src/audit/relay.h): (id, event JSON) with ids "<workspace id>/<row id>".
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> PeekAuditOutbox(int limit);
  absl::Status RemoveAuditOutbox(const std::vector<std::string>& ids);

  // Runs propagation for `workspace_id` now, on the caller's thread (tests, Start()).
  absl::Status PropagateNow(const std::string& workspace_id);

 private:
  struct Open;  // an open workspace: its store and its write mutex
  explicit Service(ServiceOptions options);
  absl::StatusOr<std::shared_ptr<Open>> OpenWorkspace(const std::string& workspace_id);
  absl::StatusOr<int64_t> CommitAndPublish(const Actor& actor, const storage::Workspace& ws,
                                           Open& open, storage::CommitRequest request,
                                           std::string_view audit_action, boost::json::object audit_details);
  void PropagationLoop();
  // Opens one sealed value with its data key from `store` (reloading the keyring once
  // when the key names a master key not loaded yet). Errors: crypto::Open's; DataLoss
  // when the data key is missing.
  absl::StatusOr<crypto::SecureBuffer> OpenSecret(storage::WorkspaceStore& store,
                                                  const crypto::EnvelopeContext& ctx,
                                                  std::string_view envelope);
  // PermissionDenied "entitlement_exceeded" when the workspace already holds the org's
  // maximum number of items.
  absl::Status CheckRoomForNewItem(storage::WorkspaceStore& store, const std::string& org_id);
  void Enqueue(const std::string& workspace_id);

  ServiceOptions options_;
  std::mutex open_mu_;
  std::map<std::string, std::shared_ptr<Open>> open_;

  std::mutex sub_mu_;
  uint64_t next_sub_ = 1;
  std::map<uint64_t, std::pair<std::string, Subscriber>> subs_;

  std::mutex prop_mu_;
  std::condition_variable prop_cv_;
  std::deque<std::string> prop_queue_;
  std::set<std::string> prop_pending_;
  bool stop_ = false;
  std::thread prop_thread_;
};

}  // namespace edgevault::workspace
