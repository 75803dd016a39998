#include "src/workspace/service.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <charconv>

#include <openssl/crypto.h>
#include <chrono>

#include "src/audit/event.h"
#include "src/base/encoding.h"
#include "src/base/json_finite.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/envelope.h"
#include "src/workspace/effect.h"
#include "src/workspace/model.h"
#include "src/workspace/resolver.h"

namespace edgevault::workspace {

namespace json = boost::json;
using storage::ItemKind;

// One workspace's actor: the mutex that serialises its writers, and the revisions they
// committed, handed to subscribers in commit order by one thread at a time with no lock
// held (DeliverEvents).
struct Service::Slot {
  explicit Slot(std::string workspace_id) : id(std::move(workspace_id)) {}
  const std::string id;
  std::mutex write_mu;
  std::mutex events_mu;
  std::deque<storage::Revision> events;  // guarded by events_mu
  bool delivering = false;               // guarded by events_mu
  // QueueRevisions: the last revision handed to `events` (0: none yet). Revisions come
  // from this node's commits and, on PostgreSQL, from other nodes' (RevisionsCommitted).
  std::mutex queue_mu;
  int64_t queued_through = 0;  // guarded by queue_mu
  std::atomic<int> subscribers{0};
};

// What a write works with while it holds its workspace's write lock.
struct Service::Locked {
  storage::WorkspaceStore& store;
  Slot& slot;
  // The head read first thing under the lock: every state this attempt reads is at least
  // this new, and its commit expects exactly this head. The lock covers this process
  // only; another api node on the same PostgreSQL store may commit meanwhile.
  int64_t head = 0;
  // Set by CommitAndPublish when the store refused the commit because the head moved
  // since `head` (another node wrote): WithWriteLock runs the write again on fresh state.
  bool stale = false;
};

WriteAuthorizer AllowAnyWrite() {
  return [](const WriteEffect&) { return absl::OkStatus(); };
}

namespace {

// Slots of workspaces nobody is using are forgotten once more than this many exist.
constexpr size_t kSlotSweepAt = 1024;

// How many times a write is read, validated and committed before it gives up with
// Unavailable when other api nodes keep moving the head under it (each retry follows a
// commit by someone else, so this bounds starvation, not progress).
constexpr int kMaxWriteAttempts = 5;

std::string Join(const std::set<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out.push_back(',');
    out += p;
  }
  return out;
}

json::array JsonArray(const std::set<std::string>& parts) {
  json::array out;
  for (const std::string& p : parts) out.emplace_back(p);
  return out;
}

// The audit event (docs/design/audit-event.md) describing an api action, as an outbox
// row written in the same transaction as the action. `environment` (comma-separated when
// several) and `target` ("<kind>:<key>" for items) make events filterable by where and
// what; empty ones are left out.
storage::OutboxRow AuditRow(base::Env* env, const Actor& actor, const storage::Workspace& ws,
                            std::string_view action, absl::Time time, json::object details,
                            std::string_view environment, std::string_view target,
                            std::string_view outcome = "success") {
  json::object audit;
  audit["v"] = 1;
  audit["id"] = audit::NewEventId(env);
  audit["time"] = audit::FormatEventTime(time);
  audit["service"] = "api";
  audit["action"] = action;
  audit["outcome"] = outcome;
  audit["actor"] = {{"id", actor.id}, {"address", actor.address}};
  audit["org"] = ws.org_id;
  audit["workspace"] = ws.id;
  if (!environment.empty()) audit["environment"] = environment;
  if (!target.empty()) audit["target"] = target;
  audit["request_id"] = actor.request_id;
  if (!actor.agent.client.empty()) {
    audit["actor"].as_object()["user_agent"] = "mcp:" + actor.agent.client + "/" + actor.agent.client_version;
    details["agent"] = AgentJson(actor.agent);
  }
  audit["details"] = std::move(details);
  return {0, "audit", json::serialize(audit), time, 0};
}

}  // namespace

std::string PurgeAuditEvent(base::Env* env, const Actor& actor, const storage::Workspace& ws,
                            std::string_view reason) {
  json::object details{{"key", ws.key}, {"name", ws.name}};
  if (ws.deleted_at) details["deleted_at"] = absl::FormatTime(*ws.deleted_at);
  if (!reason.empty()) details["reason"] = std::string(reason);
  return AuditRow(env, actor, ws, "workspace.purge", env->Now(), std::move(details), "", "").payload;
}

json::object AgentJson(const AgentInfo& agent) {
  return {{"protocol", "mcp"}, {"client", agent.client}, {"client_version", agent.client_version},
          {"session", agent.session}, {"tool", agent.tool}};
}

namespace {

std::string ItemTarget(ItemKind kind, std::string_view key) {
  return std::string(storage::ItemKindName(kind)) + ":" + std::string(key);
}

json::value ParseOrNull(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

// The stored body of an item as an object; nullopt when absent or unreadable.
std::optional<json::object> StoredObject(const absl::StatusOr<storage::Item>& item) {
  if (!item.ok()) return std::nullopt;
  json::value v = ParseOrNull(item->body);
  if (!v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

const json::object* Ptr(const std::optional<json::object>& o) { return o ? &*o : nullptr; }

absl::Status CheckKey(std::string_view what, std::string_view key) {
  bool ok = !key.empty() && key.size() <= 64 &&
            ((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= '0' && key[0] <= '9'));
  for (char c : key) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(base::ToAbsl(
      std::string(what) + " \"" + std::string(key).substr(0, 80) +
      "\" is not a valid key: use 1-64 characters from a-z 0-9 . _ - starting with a letter or digit"));
}

absl::Status EntitlementExceeded(std::string message) {
  return base::WithErrorCode(absl::PermissionDeniedError(base::ToAbsl(message)), "entitlement_exceeded");
}

absl::StatusOr<EnvironmentSet> LoadEnvironments(storage::WorkspaceStore& store) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, store.ListItems(ItemKind::kEnvironment));
  return EnvironmentSet::FromItems(items);
}

// Aborted (HTTP 412) when an If-Match revision is given and is not the head.
absl::Status CheckIfMatch(std::optional<int64_t> if_match, int64_t head) {
  if (!if_match || *if_match == head) return absl::OkStatus();
  return absl::AbortedError(base::ToAbsl("If-Match revision " + std::to_string(*if_match) +
                                         " is stale; the workspace is at " + std::to_string(head)));
}

WriteEffect EffectOf(std::set<std::string> touched, const EnvironmentSet& envs) {
  WriteEffect effect;
  for (const std::string& e : touched) {
    const Environment* env = envs.Find(e);
    if (env != nullptr && env->is_protected) effect.protected_environments.insert(e);
    if (env != nullptr && env->policy) {
      effect.policies.emplace(e, *env->policy);
      if (env->policy->change_requests_required) effect.change_request_environments.insert(e);
    }
    for (const Environment* a = env; a != nullptr && !effect.parents.contains(a->key); a = envs.Find(a->parent)) {
      effect.parents.emplace(a->key, a->parent);
    }
  }
  effect.environments = std::move(touched);
  return effect;
}

// All bodies of `kind` after replacing (or removing, when body is null) `key`.
absl::StatusOr<json::object> ItemsAfter(storage::WorkspaceStore& store, ItemKind kind,
                                        std::string_view key, const json::object* body) {
  json::object out;
  EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, store.ListItems(kind));
  for (const auto& f : items) {
    json::value v = ParseOrNull(f.body);
    if (v.is_object()) out[f.key] = v.as_object();
  }
  if (body) {
    out[key] = *body;
  } else {
    out.erase(key);
  }
  return out;
}

// The stored flags, for ValidateFlagWrite / ValidateFlagDelete: one indexed read per
// flag the change reaches instead of every flag on every write.
class StoreFlagLookup : public FlagLookup {
 public:
  explicit StoreFlagLookup(storage::WorkspaceStore& store) : store_(store) {}
  absl::StatusOr<std::optional<json::object>> Find(std::string_view key) override {
    absl::StatusOr<storage::Item> item = store_.GetItem(ItemKind::kFlag, key);
    if (absl::IsNotFound(item.status())) return std::nullopt;
    EV_RETURN_IF_ERROR(item.status());
    json::value v = ParseOrNull(item->body);
    if (!v.is_object()) return std::nullopt;  // as ItemsAfter: unreadable bodies are skipped
    return std::move(v.as_object());
  }
  absl::StatusOr<json::object> All() override {
    return ItemsAfter(store_, ItemKind::kFlag, "", nullptr);
  }
  absl::StatusOr<std::vector<std::string>> Keys() override {
    EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, store_.ListItems(ItemKind::kFlag));
    std::vector<std::string> out;
    out.reserve(items.size());
    for (storage::Item& item : items) out.push_back(std::move(item.key));
    return out;
  }

 private:
  storage::WorkspaceStore& store_;
};

// The environments an item's change from `before` to `after` touches (effect.h).
absl::StatusOr<std::set<std::string>> ItemEffect(storage::WorkspaceStore& store, ItemKind kind,
                                                 std::string_view key, const json::object* before,
                                                 const json::object* after,
                                                 const EnvironmentSet& envs) {
  switch (kind) {
    case ItemKind::kConfig:
      return ConfigEffect(key, before, after, envs);
    case ItemKind::kFlag:
      return FlagEffect(key, before, after, envs);
    case ItemKind::kSegment: {
      EV_ASSIGN_OR_RETURN(json::object flags, ItemsAfter(store, ItemKind::kFlag, "", nullptr));
      EV_ASSIGN_OR_RETURN(json::object segments, ItemsAfter(store, ItemKind::kSegment, key, nullptr));
      return SegmentEffect(key, before, after, envs, flags, segments);
    }
    case ItemKind::kSecret:
      return SecretEffect(before, after, envs);
    case ItemKind::kEnvironment:
      break;
  }
  return absl::InvalidArgumentError("environments are not items");
}

absl::StatusOr<WorkspaceSnapshot> Snapshot(storage::WorkspaceStore& store, const storage::Workspace& ws) {
  WorkspaceSnapshot snap;
  snap.workspace_id = ws.id;
  snap.workspace_key = ws.key;
  EV_ASSIGN_OR_RETURN(snap.version, store.Head());
  EV_ASSIGN_OR_RETURN(snap.envs, LoadEnvironments(store));
  EV_ASSIGN_OR_RETURN(snap.configs, store.ListItems(ItemKind::kConfig));
  EV_ASSIGN_OR_RETURN(snap.flags, store.ListItems(ItemKind::kFlag));
  EV_ASSIGN_OR_RETURN(snap.segments, store.ListItems(ItemKind::kSegment));
  return snap;
}

std::vector<storage::Item>* SnapshotItems(WorkspaceSnapshot& snap, ItemKind kind) {
  switch (kind) {
    case ItemKind::kConfig:
      return &snap.configs;
    case ItemKind::kFlag:
      return &snap.flags;
    case ItemKind::kSegment:
      return &snap.segments;
    default:
      return nullptr;
  }
}

}  // namespace

Service::Service(ServiceOptions options) : options_(std::move(options)) {}

Service::~Service() { Stop(); }

void Service::Stop() {
  base::PeriodicTask* task = nullptr;
  {
    std::lock_guard<std::mutex> lock(prop_mu_);
    stop_ = true;
    task = prop_task_.get();  // never reset: Enqueue may still read it
  }
  if (task != nullptr) task->Stop();
}

absl::StatusOr<std::unique_ptr<Service>> Service::Create(ServiceOptions options) {
  if (options.stores == nullptr || options.directory == nullptr || options.kv == nullptr ||
      options.env == nullptr) {
    return absl::InvalidArgumentError("workspace::ServiceOptions needs stores, directory, kv and env");
  }
  return std::unique_ptr<Service>(new Service(std::move(options)));
}

absl::Status Service::Start() {
  // Every workspace of every org: finish what a crash left in the outbox. Their audit
  // outboxes may hold rows too.
  EV_ASSIGN_OR_RETURN(std::vector<std::string> ids, options_.stores->List());
  for (const std::string& id : ids) {
    MarkAuditPending(id);
    absl::Status st = PropagateNow(id);
    if (!st.ok()) {
      EV_LOG(kError, "finishing propagation after restart failed; retrying in the background",
             {{"workspace", id}, {"error", st.ToString()}});
      Enqueue(id);
    }
  }
  std::lock_guard<std::mutex> lock(prop_mu_);
  if (stop_ || prop_task_ != nullptr) return absl::OkStatus();
  prop_task_ = options_.env->Schedule("propagation", {.interval = absl::InfiniteDuration(), .run_at_start = true},
                                      [this] { return PropagateNextDue(); });
  return absl::OkStatus();
}

std::shared_ptr<Service::Slot> Service::SlotFor(const std::string& workspace_id) {
  std::vector<std::shared_ptr<Slot>> unused;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(slots_mu_);
  auto it = slots_.find(workspace_id);
  if (it != slots_.end()) return it->second;
  if (slots_.size() >= kSlotSweepAt) {
    // Nobody holds these: no writer is inside their lock and no event is waiting.
    for (auto s = slots_.begin(); s != slots_.end();) {
      if (s->second.use_count() == 1) {
        unused.push_back(std::move(s->second));
        s = slots_.erase(s);
      } else {
        ++s;
      }
    }
  }
  auto slot = std::make_shared<Slot>(workspace_id);
  slots_.emplace(workspace_id, slot);
  return slot;
}

template <typename Fn>
auto Service::WithWriteLock(const std::string& workspace_id, Fn fn)
    -> decltype(fn(std::declval<Locked&>())) {
  std::shared_ptr<Slot> slot = SlotFor(workspace_id);
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, options_.stores->Open(workspace_id));
  using Result = decltype(fn(std::declval<Locked&>()));
  auto result = [&]() -> Result {
    std::lock_guard<std::mutex> lock(slot->write_mu);
    // Under the lock: a DeleteWorkspace that answered before this write took the lock
    // has marked it; one that answers after waits for this write to finish.
    EV_RETURN_IF_ERROR(CheckLive(workspace_id));
    for (int attempt = 1;; ++attempt) {
      Locked locked{*store, *slot};
      EV_ASSIGN_OR_RETURN(locked.head, store->Head());
      Result r = fn(locked);
      if (!locked.stale) return r;
      // Another node committed between this attempt's reads and its commit: what was
      // validated and authorized may no longer hold. Read, validate and authorize again.
      if (attempt == kMaxWriteAttempts) {
        return absl::UnavailableError(base::ToAbsl(
            "the workspace kept changing under this write (other api nodes are writing it); retry"));
      }
      EV_LOG(kInfo, "the workspace changed on another node before this write committed; re-validating",
             {{"workspace", workspace_id}, {"attempt", std::to_string(attempt)}});
    }
  }();
  DeliverEvents(*slot);
  return result;
}

// ---------------------------------------------------------------- workspaces

absl::StatusOr<storage::Workspace> Service::CreateWorkspace(const Actor& actor, std::string_view key,
                                                            std::string_view name) {
  EV_RETURN_IF_ERROR(CheckKey("workspace key", key));
  if (name.empty() || name.size() > 200) {
    return absl::InvalidArgumentError("field 'name': must be 1 to 200 bytes");
  }
  storage::Workspace ws;
  ws.id = "ws_" + options_.env->RandomHex(10);
  ws.org_id = actor.org_id;
  ws.key = std::string(key);
  ws.name = std::string(name);
  ws.created_at = options_.env->Now();
  // The store first, then the control row: a crash in between leaves an orphan store
  // (harmless, never listed), never a listed workspace without its store.
  EV_RETURN_IF_ERROR(options_.stores->Create(ws.id).status());
  // The directory checks the limit and records the row in one atomic step: parallel
  // creates can never both pass the check.
  absl::Status st = options_.directory->CreateWorkspaceWithinLimit(ws);
  if (absl::IsResourceExhausted(st)) {  // its message names the limit
    return EntitlementExceeded(std::string(base::ToStd(st.message())) + "; delete one or raise the entitlement");
  }
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(base::ToAbsl("workspace \"" + ws.key +
                                                 "\" already exists (a deleted workspace keeps its key until it is purged)"));
  }
  EV_RETURN_IF_ERROR(st);
  // The workspace exists from here on: a failure to record its creation is logged, and the
  // create still answers with it (a retry would only find the key taken).
  if (absl::Status recorded = RecordActivity(actor, ws, "workspace.create", {{"key", ws.key}, {"name", ws.name}});
      !recorded.ok()) {
    EV_LOG(kError, "a new workspace's creation could not be recorded in its activity and audit trail",
           {{"workspace", ws.id}, {"error", std::string(recorded.message())}});
  }
  return ws;
}

absl::StatusOr<storage::Workspace> Service::RenameWorkspace(const Actor& actor, const storage::Workspace& ws,
                                                            std::string_view name, std::string_view reason) {
  if (name.empty() || name.size() > 200) {
    return absl::InvalidArgumentError("field 'name': must be 1 to 200 bytes");
  }
  if (name == ws.name) return ws;
  EV_RETURN_IF_ERROR(options_.directory->RenameWorkspace(ws.org_id, ws.id, name));
  storage::Workspace renamed = ws;
  renamed.name = std::string(name);
  json::object details{{"name", renamed.name}, {"previous_name", ws.name}};
  if (!reason.empty()) details["reason"] = std::string(reason);
  EV_RETURN_IF_ERROR(RecordActivity(actor, renamed, "workspace.rename", std::move(details)));
  return renamed;
}

absl::StatusOr<std::vector<storage::Workspace>> Service::ListWorkspaces(std::string_view org_id,
                                                                        bool include_deleted) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> all, options_.directory->ListWorkspaces(org_id));
  if (!include_deleted) std::erase_if(all, [](const storage::Workspace& ws) { return ws.deleted(); });
  return all;
}

absl::StatusOr<storage::Workspace> Service::GetWorkspace(std::string_view org_id,
                                                         std::string_view key, bool include_deleted) {
  absl::StatusOr<storage::Workspace> ws = options_.directory->GetWorkspaceByKey(org_id, key);
  if (absl::IsNotFound(ws.status()) || (ws.ok() && !include_deleted && ws->deleted())) {
    return absl::NotFoundError(base::ToAbsl("no workspace \"" + std::string(key) + "\""));
  }
  return ws;
}

// ---------------------------------------------------------------- deleting a workspace

absl::Status Service::CheckLive(const std::string& workspace_id) {
  absl::StatusOr<storage::Workspace> row = options_.directory->GetWorkspaceById(workspace_id);
  // NotFound: purged (or an orphan store); other errors are no verdict.
  if (!row.ok() && !absl::IsNotFound(row.status())) return row.status();
  if (row.ok() && !row->deleted()) return absl::OkStatus();
  return base::WithErrorCode(absl::NotFoundError(base::ToAbsl("workspace " + workspace_id +
                                                              " is deleted (an org admin may restore it "
                                                              "until it is purged)")),
                             "workspace_deleted");
}

absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> Service::OpenLive(const std::string& workspace_id) {
  EV_RETURN_IF_ERROR(CheckLive(workspace_id));
  return options_.stores->Open(workspace_id);
}

absl::Status Service::RemoveFromEdgeKv(const std::string& workspace_id,
                                       const std::vector<storage::SdkKey>& sdk_keys) {
  constexpr int kMaxKeys = 100000;  // environments of one workspace: far fewer
  for (std::string_view kind : {"doc/", "cdoc/", "sig/", "csig/"}) {
    EV_ASSIGN_OR_RETURN(std::vector<std::string> keys,
                        options_.kv->ListKeys(std::string(kind) + workspace_id + "/", kMaxKeys));
    for (const std::string& key : keys) {
      absl::Status st = options_.kv->DeleteIfNotNewer(key, std::numeric_limits<int64_t>::max()).status();
      if (!st.ok() && !absl::IsNotFound(st)) return st;
    }
  }
  for (const storage::SdkKey& k : sdk_keys) EV_RETURN_IF_ERROR(UnpublishSdkKey(k.key_hash));
  return absl::OkStatus();
}

absl::StatusOr<storage::Workspace> Service::DeleteWorkspace(const Actor& actor, const storage::Workspace& ws,
                                                            std::string_view reason, absl::Duration grace,
                                                            const std::vector<storage::SdkKey>& sdk_keys) {
  if (grace < absl::ZeroDuration()) return absl::InvalidArgumentError("the grace period is negative");
  storage::Workspace deleted;
  EV_RETURN_IF_ERROR(WithWriteLock(ws.id, [&](Locked& l) -> absl::Status {
    const absl::Time now = options_.env->Now();
    json::object details{{"key", ws.key}, {"name", ws.name}, {"purge_after", absl::FormatTime(now + grace)}};
    if (!reason.empty()) details["reason"] = std::string(reason);
    // Recorded first: a delete that cannot be recorded does not happen. Should the mark
    // then fail, the trail shows a delete that did not take; the answer says it failed.
    EV_RETURN_IF_ERROR(RecordActivityIn(l.store, actor, ws, "workspace.delete", std::move(details), "", ""));
    // From here on CheckLive refuses it: the directory answers the row it just wrote.
    EV_ASSIGN_OR_RETURN(deleted, options_.directory->MarkWorkspaceDeleted(ws.org_id, ws.id, now, now + grace));
    return absl::OkStatus();
  }));
  if (absl::Status st = RemoveFromEdgeKv(ws.id, sdk_keys); !st.ok()) {
    EV_LOG(kError, "a deleted workspace's edge-KV entries could not all be removed; the purge retries",
           {{"workspace", ws.id}, {"error", std::string(st.message())}});
    return st;
  }
  if (options_.on_published) options_.on_published();  // delivery looks now, not at its next poll
  return deleted;
}

absl::StatusOr<storage::Workspace> Service::RestoreWorkspace(const Actor& actor, const storage::Workspace& ws,
                                                             std::string_view reason,
                                                             const std::vector<storage::SdkKey>& sdk_keys) {
  storage::Workspace restored;
  {
    std::shared_ptr<Slot> slot = SlotFor(ws.id);
    std::lock_guard<std::mutex> lock(slot->write_mu);
    EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, options_.stores->Open(ws.id));
    EV_ASSIGN_OR_RETURN(restored, options_.directory->RestoreWorkspace(ws.org_id, ws.id));
    json::object details{{"key", ws.key}, {"name", ws.name}};
    if (!reason.empty()) details["reason"] = std::string(reason);
    EV_RETURN_IF_ERROR(RecordActivityIn(*store, actor, restored, "workspace.restore", std::move(details), "", ""));
  }
  absl::Status st = Propagate(ws.id, /*all=*/true);
  for (const storage::SdkKey& k : sdk_keys) {
    if (!st.ok()) break;
    if (k.revoked_at.has_value()) continue;
    st = PublishSdkKey(k.key_hash, restored, k.environment, k.kind, k.origins);
  }
  if (!st.ok()) {
    EV_LOG(kError, "a restored workspace could not be published to the edge KV at once",
           {{"workspace", ws.id}, {"error", std::string(st.message())}});
    Enqueue(ws.id);
  } else if (options_.on_published) {
    options_.on_published();
  }
  return restored;
}

absl::Status Service::PurgeWorkspace(const storage::Workspace& ws, std::string_view reason,
                                     const std::vector<storage::SdkKey>& sdk_keys,
                                     const PurgeRecorder& record_purge) {
  EV_ASSIGN_OR_RETURN(storage::Workspace row, options_.directory->GetWorkspaceById(ws.id));
  if (!row.deleted() || row.org_id != ws.org_id) {
    return absl::FailedPreconditionError(base::ToAbsl("workspace " + ws.id + " is not deleted"));
  }
  std::shared_ptr<Slot> slot = SlotFor(ws.id);
  std::lock_guard<std::mutex> lock(slot->write_mu);
  {
    // Its audit events leave with the store: each must have reached the audit queue.
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = options_.stores->Open(ws.id);
    if (store.ok()) {
      EV_ASSIGN_OR_RETURN(std::vector<storage::OutboxRow> audit, (*store)->PendingOutboxOfKind("audit", 1));
      if (!audit.empty()) {
        MarkAuditPending(ws.id);
        return absl::FailedPreconditionError(
            base::ToAbsl("workspace " + ws.id + " still has audit events to relay; purge it after they are"));
      }
    } else if (!absl::IsNotFound(store.status())) {
      return store.status();
    }
  }
  EV_RETURN_IF_ERROR(record_purge(row, reason));
  // The row first: auth removes it only while it is still deleted, in one statement, so a
  // restore through another api node (whose row this node may have cached) wins, and its
  // data is never destroyed. From here the workspace is gone for every node; what is left
  // of it is destroyed now, or by the purge task's next run when that fails.
  EV_RETURN_IF_ERROR(options_.directory->PurgeWorkspace(ws.org_id, ws.id));
  {
    std::lock_guard<std::mutex> pl(purge_mu_);
    unfinished_purges_[ws.id] = sdk_keys;
  }
  (void)FinishPurge(ws.id);  // a failure is logged there and retried by the purge task
  return absl::OkStatus();
}

absl::Status Service::FinishPurge(const std::string& workspace_id) {
  std::vector<storage::SdkKey> sdk_keys;
  {
    std::lock_guard<std::mutex> pl(purge_mu_);
    auto it = unfinished_purges_.find(workspace_id);
    if (it == unfinished_purges_.end()) return absl::OkStatus();
    sdk_keys = it->second;
  }
  absl::Status st = RemoveFromEdgeKv(workspace_id, sdk_keys);
  if (st.ok()) st = options_.stores->Destroy(workspace_id);
  if (!st.ok()) {
    EV_LOG(kError, "a purged workspace's data is not destroyed yet; the purge task tries again",
           {{"workspace", workspace_id}, {"error", std::string(st.message())}});
    return st;
  }
  std::lock_guard<std::mutex> pl(purge_mu_);
  unfinished_purges_.erase(workspace_id);
  return absl::OkStatus();
}

absl::StatusOr<int> Service::PurgeDueWorkspaces(int limit, const SdkKeysOf& sdk_keys_of,
                                                const PurgeRecorder& record_purge) {
  std::vector<std::string> unfinished;
  {
    std::lock_guard<std::mutex> pl(purge_mu_);
    for (const auto& [id, keys] : unfinished_purges_) unfinished.push_back(id);
  }
  for (const std::string& id : unfinished) (void)FinishPurge(id);  // logged there
  EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> due,
                      options_.directory->ListWorkspacesDueForPurge(options_.env->Now(), limit));
  int purged = 0;
  for (const storage::Workspace& ws : due) {
    absl::StatusOr<std::vector<storage::SdkKey>> keys = sdk_keys_of(ws);
    absl::Status st = keys.ok() ? PurgeWorkspace(ws, "grace period over", *keys, record_purge) : keys.status();
    if (!st.ok()) {
      EV_LOG(kWarn, "a deleted workspace could not be purged yet; the next run tries again",
             {{"workspace", ws.id}, {"error", std::string(st.message())}});
      continue;
    }
    ++purged;
  }
  return purged;
}

namespace {

// The purge_after of a store whose last activity is "workspace.delete"; nullopt otherwise
// (no activity, another action last, details without a readable purge_after).
absl::StatusOr<std::optional<absl::Time>> DeletedUntil(storage::WorkspaceStore& store) {
  constexpr int kPage = 1000;
  std::optional<storage::Activity> last;
  for (int64_t after = 0;;) {
    EV_ASSIGN_OR_RETURN(std::vector<storage::Activity> page, store.ListActivity(after, kPage));
    if (!page.empty()) {
      after = page.back().id;
      last = std::move(page.back());
    }
    if (static_cast<int>(page.size()) < kPage) break;
  }
  if (!last || last->action != "workspace.delete") return std::optional<absl::Time>();
  boost::system::error_code ec;
  json::value details = json::parse(last->details, ec);
  const json::value* at = !ec && details.is_object() ? details.as_object().if_contains("purge_after") : nullptr;
  absl::Time t;
  std::string err;
  if (at == nullptr || !at->is_string() || !absl::ParseTime(absl::RFC3339_full, std::string(at->as_string()), &t, &err)) {
    return std::optional<absl::Time>();
  }
  return std::optional<absl::Time>(t);
}

}  // namespace

absl::StatusOr<int> Service::DestroyPurgedLeftovers() {
  EV_ASSIGN_OR_RETURN(std::vector<std::string> ids, options_.stores->List());
  const absl::Time now = options_.env->Now();
  int destroyed = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<storage::Workspace> row = options_.directory->GetWorkspaceById(id);
    if (!absl::IsNotFound(row.status())) continue;  // listed, or no verdict
    {
      absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = options_.stores->Open(id);
      if (!store.ok()) continue;  // destroyed meanwhile, or unreadable: nothing to judge
      absl::StatusOr<std::optional<absl::Time>> until = DeletedUntil(**store);
      if (!until.ok() || !until->has_value() || **until > now) continue;
    }  // the store is let go before Destroy (which refuses a held store)
    absl::Status st = RemoveFromEdgeKv(id, {});
    if (st.ok()) st = options_.stores->Destroy(id);
    if (!st.ok()) {
      EV_LOG(kWarn, "a purged workspace's leftover store could not be destroyed yet; the next sweep tries again",
             {{"workspace", id}, {"error", std::string(st.message())}});
      continue;
    }
    EV_LOG(kWarn, "destroyed the store of a workspace whose purge was interrupted after its row was removed",
           {{"workspace", id}});
    ++destroyed;
  }
  return destroyed;
}

std::unique_ptr<base::PeriodicTask> Service::SchedulePurge(absl::Duration interval, SdkKeysOf sdk_keys_of,
                                                           PurgeRecorder record_purge) {
  constexpr int kBatch = 20;
  return options_.env->Schedule(
      "workspace purge", {.interval = interval, .run_at_start = true},
      [this, sdk_keys_of = std::move(sdk_keys_of), record_purge = std::move(record_purge)] {
        constexpr absl::Duration kLeftoverSweepEvery = absl::Hours(1);
        bool sweep = false;
        {
          std::lock_guard<std::mutex> pl(purge_mu_);
          if (options_.env->Now() - last_leftover_sweep_ >= kLeftoverSweepEvery) {
            last_leftover_sweep_ = options_.env->Now();
            sweep = true;
          }
        }
        if (sweep) {
          absl::StatusOr<int> swept = DestroyPurgedLeftovers();
          if (!swept.ok()) {
            EV_LOG(kWarn, "the workspace purge task could not list the workspace stores",
                   {{"error", std::string(swept.status().message())}});
          }
        }
        absl::StatusOr<int> purged = PurgeDueWorkspaces(kBatch, sdk_keys_of, record_purge);
        if (!purged.ok()) {
          EV_LOG(kWarn, "the workspace purge task could not list the workspaces due",
                 {{"error", std::string(purged.status().message())}});
          return base::NextRun::BackOff();
        }
        if (*purged > 0) EV_LOG(kInfo, "purged deleted workspaces", {{"count", *purged}});
        return *purged == kBatch ? base::NextRun::Immediately() : base::NextRun::Interval();
      });
}

// ---------------------------------------------------------------- commit path

absl::StatusOr<int64_t> Service::CommitAndPublish(const Actor& actor, const storage::Workspace& ws,
                                                  Locked& locked, storage::CommitRequest request,
                                                  std::string_view audit_action,
                                                  json::object audit_details,
                                                  const std::set<std::string>& environments,
                                                  std::string target, std::vector<WebhookEvent> more_events) {
  // The caller's If-Match must name the head this write read its state at; the commit
  // then expects that head whether or not the caller asked (a stale check is refused by
  // the store atomically, and WithWriteLock retries on fresh state).
  EV_RETURN_IF_ERROR(CheckIfMatch(request.expected_head, locked.head));
  request.expected_head = locked.head;
  request.actor = actor.id;
  request.time = options_.env->Now();
  // Propagation job and audit event, in the same transaction as the change.
  request.outbox.push_back({0, "propagate",
                            json::serialize(json::object{{"environments", JsonArray(environments)}}),
                            request.time, 0});
  audit_details["reason"] = request.reason;
  audit_details["environments"] = JsonArray(environments);
  request.outbox.push_back(AuditRow(options_.env, actor, ws, audit_action, request.time,
                                    std::move(audit_details), Join(environments), target));
  // The revision.written webhook event, when the workspace has webhooks: kinds, keys and
  // environments only, never a value (docs/design/webhooks.md).
  EV_ASSIGN_OR_RETURN(std::vector<storage::WebhookRow> hooks, locked.store.ListWebhooks());
  bool webhook_event = false;
  if (!hooks.empty() && !request.mutations.empty()) {
    const int64_t head = locked.head;
    int64_t seq = head;
    json::array revisions;
    for (const storage::Mutation& m : request.mutations) {
      revisions.push_back(json::object{
          {"revision", ++seq},
          {"kind", storage::ItemKindName(m.kind)},
          {"key", m.key},
          {"environment", m.environment.empty() ? json::value(nullptr) : json::value(m.environment)}});
    }
    WebhookEvent event{"revision.written",
                       {{"first_revision", head + 1},
                        {"last_revision", seq},
                        {"op", request.op},
                        {"reason", request.reason},
                        {"environments", JsonArray(environments)},
                        {"revisions", std::move(revisions)}}};
    EV_ASSIGN_OR_RETURN(std::optional<storage::OutboxRow> row,
                        WebhookOutboxRow(locked.store, options_.env, ws, actor.id, event, request.time));
    if (row) {
      request.outbox.push_back(*std::move(row));
      webhook_event = true;
    }
  }
  // Events of the change this commit completes (a change request applied), after the
  // revisions they are about.
  for (const WebhookEvent& event : more_events) {
    if (hooks.empty()) break;
    EV_ASSIGN_OR_RETURN(std::optional<storage::OutboxRow> row,
                        WebhookOutboxRow(locked.store, options_.env, ws, actor.id, event, request.time));
    if (row) {
      request.outbox.push_back(*std::move(row));
      webhook_event = true;
    }
  }

  absl::StatusOr<storage::CommitResult> committed = locked.store.Commit(request);
  if (absl::IsAborted(committed.status())) {
    // Aborted is also a change request that moved (its compare-and-set): only a moved
    // head means this attempt's state was stale.
    absl::StatusOr<int64_t> now = locked.store.Head();
    if (now.ok() && *now != locked.head) locked.stale = true;
  }
  EV_ASSIGN_OR_RETURN(storage::CommitResult result, std::move(committed));
  locked.head = result.last_revision;
  // Durable from here on: the write has succeeded whatever happens next. Propagation and
  // the audit relay work from the outbox, so they recover from anything below.
  MarkAuditPending(ws.id);
  Enqueue(ws.id);
  if (webhook_event) WebhookEventsCommitted(ws.id);
  // The new revisions for subscribers, handed over in commit order (DeliverEvents sends
  // them once the write lock is released), after any another node committed before them.
  QueueRevisions(locked.slot, locked.store, result.first_revision, result.last_revision);
  return result.last_revision;
}

void Service::QueueRevisions(Slot& slot, storage::WorkspaceStore& store, int64_t first, int64_t last) {
  std::lock_guard<std::mutex> lock(slot.queue_mu);
  if (slot.subscribers.load() == 0 && all_subscribers_.load() == 0) {
    slot.queued_through = std::max(slot.queued_through, last);
    return;
  }
  int64_t after = slot.queued_through > 0 ? slot.queued_through : first - 1;
  while (after < last) {
    int limit = static_cast<int>(std::min<int64_t>(1000, last - after));
    absl::StatusOr<std::vector<storage::Revision>> revs = store.ListRevisions(after, limit);
    if (!revs.ok() || revs->empty()) {
      EV_LOG(kError, "a committed revision could not be read back for subscribers; the next revision fills in",
             {{"workspace", slot.id}, {"after", std::to_string(after)},
              {"error", revs.ok() ? "none listed" : revs.status().ToString()}});
      break;
    }
    after = revs->back().seq;
    std::lock_guard<std::mutex> events_lock(slot.events_mu);
    for (auto& rev : *revs) slot.events.push_back(std::move(rev));
  }
  slot.queued_through = std::max(slot.queued_through, after);
}

void Service::RevisionsCommitted(const std::string& workspace_id, int64_t first, int64_t last) {
  {
    // Its outbox is looked at again later (PropagateNextDue): the node that committed
    // does that at once, unless it died first.
    std::lock_guard<std::mutex> lock(prop_mu_);
    if (!stop_ &&
        recheck_due_.emplace(workspace_id, options_.env->MonotonicNow() + options_.outbox_recheck_delay).second &&
        prop_task_ != nullptr) {
      prop_task_->Wake();
    }
  }
  std::shared_ptr<Slot> slot;
  if (all_subscribers_.load() > 0) {
    // Subscribers of every workspace hear other nodes' commits too (an MCP session told
    // that an environment was created elsewhere): a workspace not yet seen gets a slot.
    slot = SlotFor(workspace_id);
  } else {
    // A workspace with subscribers here has a slot (they hold it); no slot, nobody to tell.
    std::lock_guard<std::mutex> lock(slots_mu_);
    auto it = slots_.find(workspace_id);
    if (it == slots_.end()) return;
    slot = it->second;
    if (slot->subscribers.load() == 0) return;
  }
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = options_.stores->Open(workspace_id);
  if (!store.ok()) {
    EV_LOG(kWarn, "revisions from another node could not be read for subscribers",
           {{"workspace", workspace_id}, {"error", store.status().ToString()}});
    return;
  }
  QueueRevisions(*slot, **store, first, last);
  DeliverEvents(*slot);
}

void Service::CatchUpSubscribers() {
  std::map<std::string, std::shared_ptr<Slot>> subscribed;
  {
    std::lock_guard<std::mutex> lock(sub_mu_);
    for (const auto& [id, sub] : subs_) subscribed.emplace(sub.slot->id, sub.slot);
  }
  if (all_subscribers_.load() > 0) {
    // Every workspace this node has heard of (a workspace first written while the
    // listener was away is heard of with its next commit).
    std::lock_guard<std::mutex> lock(slots_mu_);
    for (const auto& [id, slot] : slots_) subscribed.emplace(id, slot);
  }
  for (const auto& [workspace_id, slot] : subscribed) {
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = options_.stores->Open(workspace_id);
    absl::StatusOr<int64_t> head = store.ok() ? (*store)->Head() : store.status();
    if (!head.ok()) {
      EV_LOG(kWarn, "catching up subscribers failed", {{"workspace", workspace_id}, {"error", head.status().ToString()}});
      continue;
    }
    QueueRevisions(*slot, **store, *head + 1, *head);
    DeliverEvents(*slot);
  }
}

void Service::RecheckEveryOutbox() {
  absl::StatusOr<std::vector<std::string>> ids = options_.stores->List();
  if (!ids.ok()) {
    EV_LOG(kWarn, "listing workspaces to re-check their outboxes failed", {{"error", ids.status().ToString()}});
    return;
  }
  std::lock_guard<std::mutex> lock(prop_mu_);
  if (stop_) return;
  const absl::Duration due = options_.env->MonotonicNow() + options_.outbox_recheck_delay;
  for (const std::string& id : *ids) recheck_due_.emplace(id, due);
  if (prop_task_ != nullptr && !ids->empty()) prop_task_->Wake();
}

void Service::DeliverEvents(Slot& slot) {
  {
    std::lock_guard<std::mutex> lock(slot.events_mu);
    if (slot.delivering || slot.events.empty()) return;  // the deliverer will take ours
    slot.delivering = true;
  }
  for (;;) {
    std::deque<storage::Revision> batch;
    {
      std::lock_guard<std::mutex> lock(slot.events_mu);
      if (slot.events.empty()) {
        slot.delivering = false;
        return;
      }
      batch.swap(slot.events);
    }
    std::vector<std::shared_ptr<const Subscriber>> targets;
    {
      std::lock_guard<std::mutex> lock(sub_mu_);
      for (const auto& [id, sub] : subs_) {
        if (sub.slot->id == slot.id) targets.push_back(sub.fn);
      }
      for (const auto& [id, fn] : all_subs_) targets.push_back(fn);
    }
    // No lock is held here: a subscriber may subscribe, unsubscribe or write.
    for (const storage::Revision& rev : batch) {
      for (const auto& fn : targets) (*fn)(RevisionEvent{slot.id, rev});
    }
  }
}

absl::StatusOr<int64_t> Service::CreateEnvironment(const Actor& actor, const storage::Workspace& ws,
                                                   const json::object& body, std::string_view reason,
                                                   std::optional<int64_t> if_match) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(std::vector<storage::Item> env_items, l.store.ListItems(ItemKind::kEnvironment));
    EV_RETURN_IF_ERROR(CheckRoomForEnvironments(ws.org_id, static_cast<int64_t>(env_items.size()), 1));
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, EnvironmentSet::FromItems(env_items));
    EV_ASSIGN_OR_RETURN(Environment created, envs.ValidateNewEnvironment(body));
    json::object normalized = EnvironmentToJson(created);
    std::string key = created.key;
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "create";
    c.expected_head = if_match;
    c.mutations.push_back({ItemKind::kEnvironment, key, json::serialize(normalized), key});
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.environment.create",
                            {{"environment", key}}, {key}, "environment:" + key);
  });
}

absl::StatusOr<int64_t> Service::UpdateEnvironment(const Actor& actor, const storage::Workspace& ws,
                                                   std::string_view env, const json::object& change,
                                                   std::string_view reason, std::optional<int64_t> if_match) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    absl::StatusOr<storage::Item> current = l.store.GetItem(ItemKind::kEnvironment, env);
    if (absl::IsNotFound(current.status())) {
      return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
    }
    EV_RETURN_IF_ERROR(current.status());
    EV_ASSIGN_OR_RETURN(json::object stored, ParseObject(current->body, "environment \"" + std::string(env) + "\""));
    EV_ASSIGN_OR_RETURN(json::object changed, PatchEnvironmentBody(stored, change));
    // A new parent must exist and must not inherit from this environment (a cycle).
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    EV_RETURN_IF_ERROR(envs.ValidateEnvironmentUpdate(changed).status());
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
    std::string body = json::serialize(changed);
    if (body == current->body) return head;  // nothing changes: no revision
    std::string key(env);
    // Another parent changes what this environment and its descendants inherit.
    std::set<std::string> touched{key};
    const json::value* was = stored.if_contains("parent");
    if (was == nullptr || *was != changed["parent"]) {
      for (const std::string& d : envs.Descendants(key)) touched.insert(d);
    }
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "update";
    c.expected_head = if_match;
    c.mutations.push_back({ItemKind::kEnvironment, key, body, key});
    json::object details{{"environment", key}};
    for (const auto& member : change) details[member.key()] = member.value();
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.environment.update",
                            std::move(details), touched, "environment:" + key);
  });
}

absl::StatusOr<int64_t> Service::SetEnvironmentPolicy(const Actor& actor, const storage::Workspace& ws,
                                                      std::string_view env, const json::value& policy,
                                                      std::string_view reason, std::optional<int64_t> if_match) {
  std::optional<EnvironmentPolicy> parsed;
  if (!policy.is_null()) {
    EV_ASSIGN_OR_RETURN(parsed, ParsePolicy(policy));
  }
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    const Environment* found = envs.Find(env);
    if (found == nullptr) return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
    Environment changed = *found;
    changed.policy = parsed;
    std::string body = json::serialize(EnvironmentToJson(changed));
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
    EV_ASSIGN_OR_RETURN(storage::Item current, l.store.GetItem(ItemKind::kEnvironment, env));
    if (current.body == body) return head;
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "policy";
    c.expected_head = if_match;
    c.mutations.push_back({ItemKind::kEnvironment, std::string(env), body, std::string(env)});
    json::object details{{"environment", env}};
    details["policy"] = parsed ? json::value(PolicyToJson(*parsed)) : json::value(nullptr);
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.environment.policy", std::move(details),
                            {std::string(env)}, "environment:" + std::string(env));
  });
}

absl::StatusOr<int64_t> Service::DeleteEnvironment(const Actor& actor, const storage::Workspace& ws,
                                                   std::string_view env, const EnvironmentDeletion& deletion,
                                                   std::string_view reason, std::optional<int64_t> if_match) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    const Environment* found = envs.Find(env);
    if (found == nullptr) return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
    const std::string key(env);
    if (found->is_protected) {
      return base::WithErrorCode(
          absl::FailedPreconditionError(base::ToAbsl(
              "environment \"" + key + "\" is protected: unprotect it first (edgevault env unprotect), then delete it")),
          "environment_protected");
    }
    std::vector<std::string> children = envs.Children(key);
    if (!children.empty() && !deletion.reparent_children_to) {
      std::string names;
      for (const std::string& ch : children) names += (names.empty() ? "\"" : ", \"") + ch + "\"";
      return base::WithErrorCode(
          absl::FailedPreconditionError(base::ToAbsl(
              "environment \"" + key + "\" has environments inheriting from it (" + names +
              "): say where they go with reparent_children_to (edgevault env delete --reparent-children-to "
              "ENV, or --reparent-children-to '' to make them roots), or delete them first")),
          "environment_has_children");
    }
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "environment.delete";
    c.expected_head = if_match;
    // Its descendants inherit something else from now on.
    std::set<std::string> touched;
    for (const std::string& d : envs.Descendants(key)) {
      if (d != key) touched.insert(d);
    }
    // The children's new parent, checked as the environments will be without this one.
    std::vector<Environment> remaining;
    for (const std::string& k : envs.Keys()) {
      if (k == key) continue;
      Environment e = *envs.Find(k);
      if (e.parent == key) {
        const std::string& to = *deletion.reparent_children_to;
        if (to == key) {
          return absl::InvalidArgumentError("reparent_children_to: not the environment being deleted");
        }
        e.parent = to;
        c.mutations.push_back({ItemKind::kEnvironment, k, json::serialize(EnvironmentToJson(e)), k});
      }
      remaining.push_back(std::move(e));
    }
    if (deletion.reparent_children_to && !deletion.reparent_children_to->empty() && !children.empty()) {
      absl::StatusOr<EnvironmentSet> after = EnvironmentSet::FromEnvironments(std::move(remaining));
      if (!after.ok()) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "reparent_children_to: \"" + *deletion.reparent_children_to +
            "\" is not an environment that can take the children (it must exist and not inherit from \"" + key + "\")"));
      }
    }
    c.mutations.push_back({ItemKind::kEnvironment, key, std::nullopt, key});
    // Every value held for it goes with it: configs' and secrets' own values, flags'
    // configuration there.
    json::array items_changed;
    for (ItemKind kind : {ItemKind::kConfig, ItemKind::kFlag, ItemKind::kSecret}) {
      const char* field = kind == ItemKind::kFlag ? "environments" : "values";
      EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, l.store.ListItems(kind));
      for (const storage::Item& item : items) {
        json::value v = ParseOrNull(item.body);
        if (!v.is_object()) continue;
        json::value* per_env = v.get_object().if_contains(field);
        if (per_env == nullptr || !per_env->is_object() || !per_env->get_object().contains(key)) continue;
        per_env->get_object().erase(key);
        c.mutations.push_back({kind, item.key, json::serialize(v), key});
        items_changed.push_back(json::string(ItemTarget(kind, item.key)));
      }
    }
    // The propagation job takes its document out of the edge KV.
    c.outbox.push_back({0, "propagate", json::serialize(json::object{{"removed", json::array{json::string(key)}}}),
                        options_.env->Now(), 0});
    json::object details{{"environment", key}, {"items", std::move(items_changed)}};
    if (deletion.reparent_children_to && !children.empty()) {
      details["children"] = JsonArray(std::set<std::string>(children.begin(), children.end()));
      details["reparented_to"] = deletion.reparent_children_to->empty()
                                     ? json::value(nullptr)
                                     : json::value(*deletion.reparent_children_to);
    }
    touched.insert(key);
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.environment.delete", std::move(details),
                            touched, "environment:" + key);
  });
}

absl::StatusOr<std::vector<storage::Item>> Service::ListEnvironments(const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return store->ListItems(ItemKind::kEnvironment);
}

absl::StatusOr<bool> Service::IsProtected(const storage::Workspace& ws, std::string_view env) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*store));
  const Environment* e = envs.Find(env);
  if (e == nullptr) return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
  return e->is_protected;
}

// ---------------------------------------------------------------- items

absl::Status Service::CheckRoomForEnvironments(const std::string& org_id, int64_t existing, int64_t adding) {
  EV_ASSIGN_OR_RETURN(storage::Entitlements ent, options_.directory->GetEntitlements(org_id));
  if (existing + adding <= ent.max_environments) return absl::OkStatus();
  return EntitlementExceeded("the org's plan allows " + std::to_string(ent.max_environments) +
                             " environments per workspace");
}

absl::Status Service::CheckRoomForNewItem(storage::WorkspaceStore& store, const std::string& org_id, int64_t adding) {
  EV_ASSIGN_OR_RETURN(storage::Entitlements ent, options_.directory->GetEntitlements(org_id));
  int64_t total = 0;
  for (ItemKind k : {ItemKind::kConfig, ItemKind::kFlag, ItemKind::kSegment, ItemKind::kSecret}) {
    EV_ASSIGN_OR_RETURN(int64_t n, store.CountItems(k));
    total += n;
  }
  if (total + adding <= ent.max_items) return absl::OkStatus();
  return EntitlementExceeded("the org's plan allows " + std::to_string(ent.max_items) +
                             " items per workspace");
}

absl::StatusOr<int64_t> Service::PutItem(const Actor& actor, const storage::Workspace& ws,
                                         ItemKind kind, std::string_view key,
                                         const json::object& request, std::string_view reason,
                                         std::optional<int64_t> if_match, const WriteAuthorizer& authorize) {
  EV_RETURN_IF_ERROR(ValidateItemKey(kind, key, base::StrCat(storage::ItemKindName(kind), " key")));
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    return PutItemLocked(l, actor, ws, kind, key, request, reason, if_match, authorize);
  });
}

absl::StatusOr<int64_t> Service::PatchItem(const Actor& actor, const storage::Workspace& ws,
                                           ItemKind kind, std::string_view key, const ItemPatch& patch,
                                           std::string_view reason, std::optional<int64_t> if_match,
                                           const WriteAuthorizer& authorize) {
  EV_RETURN_IF_ERROR(ValidateItemKey(kind, key, base::StrCat(storage::ItemKindName(kind), " key")));
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(storage::Item existing, l.store.GetItem(kind, key));
    std::optional<json::object> current = StoredObject(existing);
    if (!current) return absl::InternalError("the stored item is not a JSON object");
    EV_ASSIGN_OR_RETURN(json::object request, patch(*current));
    return PutItemLocked(l, actor, ws, kind, key, request, reason, if_match, authorize);
  });
}

absl::StatusOr<int64_t> Service::PutItemLocked(Locked& l, const Actor& actor, const storage::Workspace& ws,
                                               ItemKind kind, std::string_view key,
                                               const json::object& request, std::string_view reason,
                                               std::optional<int64_t> if_match,
                                               const WriteAuthorizer& authorize) {
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
  json::object body;
  switch (kind) {
    case ItemKind::kConfig: {
      EV_ASSIGN_OR_RETURN(body, ValidateConfigBody(key, request, envs));
      break;
    }
    case ItemKind::kFlag: {
      StoreFlagLookup flags(l.store);
      EV_ASSIGN_OR_RETURN(body, ValidateFlagWrite(key, request, envs, flags));
      break;
    }
    case ItemKind::kSegment: {
      EV_ASSIGN_OR_RETURN(json::object all, ItemsAfter(l.store, kind, key, &request));
      EV_ASSIGN_OR_RETURN(body, ValidateSegmentBody(key, request, all));
      break;
    }
    default:
      return absl::InvalidArgumentError("this item kind is not written through PutItem");
  }
  absl::StatusOr<storage::Item> existing = l.store.GetItem(kind, key);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  std::string serialized = json::serialize(body);
  if (existing.ok() && existing->body == serialized) {
    // Nothing changes: no revision, the head stays (idempotent PUT).
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
    return head;
  }
  if (!existing.ok()) {
    EV_RETURN_IF_ERROR(CheckRoomForNewItem(l.store, ws.org_id));
  }
  std::optional<json::object> before = StoredObject(existing);
  EV_ASSIGN_OR_RETURN(std::set<std::string> touched,
                      ItemEffect(l.store, kind, key, Ptr(before), &body, envs));
  WriteEffect effect = EffectOf(touched, envs);
  if (kind == ItemKind::kConfig || kind == ItemKind::kFlag) effect.written.push_back({kind, std::string(key), &body});
  EV_RETURN_IF_ERROR(authorize(effect));
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = existing.ok() ? "update" : "create";
  c.expected_head = if_match;
  c.mutations.push_back({kind, std::string(key), serialized, ""});
  return CommitAndPublish(actor, ws, l, std::move(c),
                          "workspace." + std::string(storage::ItemKindName(kind)) + "." + c.op,
                          {{"kind", storage::ItemKindName(kind)}, {"key", key}}, touched,
                          ItemTarget(kind, key));
}

absl::StatusOr<int64_t> Service::DeleteItem(const Actor& actor, const storage::Workspace& ws,
                                            ItemKind kind, std::string_view key,
                                            std::string_view reason, std::optional<int64_t> if_match,
                                            const WriteAuthorizer& authorize) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    absl::StatusOr<storage::Item> existing = l.store.GetItem(kind, key);
    if (absl::IsNotFound(existing.status())) {
      return absl::NotFoundError(base::ToAbsl("no " + std::string(storage::ItemKindName(kind)) + " \"" +
                                              std::string(key) + "\""));
    }
    EV_RETURN_IF_ERROR(existing.status());
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    if (kind == ItemKind::kFlag) {
      // Other flags may name this one as a prerequisite. (A deleted segment simply
      // matches nobody, which is the documented meaning of an unknown segment.)
      StoreFlagLookup flags(l.store);
      absl::Status st = ValidateFlagDelete(key, envs, flags);
      if (!st.ok() && !absl::IsInvalidArgument(st)) return st;  // the store's error
      if (!st.ok()) {
        return absl::FailedPreconditionError(base::ToAbsl(
            "deleting flag \"" + std::string(key) + "\" would break others: " + std::string(st.message())));
      }
    }
    std::optional<json::object> before = StoredObject(existing);
    EV_ASSIGN_OR_RETURN(std::set<std::string> touched,
                        ItemEffect(l.store, kind, key, Ptr(before), nullptr, envs));
    EV_RETURN_IF_ERROR(authorize(EffectOf(touched, envs)));
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "delete";
    c.expected_head = if_match;
    c.mutations.push_back({kind, std::string(key), std::nullopt, ""});
    return CommitAndPublish(actor, ws, l, std::move(c),
                            "workspace." + std::string(storage::ItemKindName(kind)) + ".delete",
                            {{"kind", storage::ItemKindName(kind)}, {"key", key}}, touched,
                            ItemTarget(kind, key));
  });
}

absl::StatusOr<storage::Item> Service::GetItem(const storage::Workspace& ws, ItemKind kind,
                                               std::string_view key) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  absl::StatusOr<storage::Item> item = store->GetItem(kind, key);
  if (absl::IsNotFound(item.status())) {
    return absl::NotFoundError(base::ToAbsl("no " + std::string(storage::ItemKindName(kind)) + " \"" +
                                            std::string(key) + "\""));
  }
  return item;
}

absl::StatusOr<std::vector<storage::Item>> Service::ListItems(const storage::Workspace& ws,
                                                              ItemKind kind) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return store->ListItems(kind);
}

// ---------------------------------------------------------------- secrets

json::value Service::SecretMetadata(const json::value& body) {
  if (!body.is_object()) return body;
  json::object out;
  json::object values;
  if (const json::value* v = body.as_object().if_contains("values"); v && v->is_object()) {
    for (const auto& kv : v->as_object()) {
      json::object meta;
      if (const json::object* o = kv.value().if_object()) {
        if (const json::value* version = o->if_contains("version")) meta["version"] = *version;
      }
      values[kv.key()] = std::move(meta);
    }
  }
  out["values"] = std::move(values);
  return out;
}

namespace {

storage::DataKeyRow ToRow(const crypto::DataKey& k) {
  return storage::DataKeyRow{base::HexEncode(k.id), k.master_key_id, k.wrapped};
}

}  // namespace

absl::StatusOr<crypto::SecureBuffer> Service::OpenSecret(storage::WorkspaceStore& store,
                                                         const crypto::EnvelopeContext& ctx,
                                                         std::string_view envelope) {
  EV_ASSIGN_OR_RETURN(std::string id, crypto::EnvelopeDataKeyId(envelope));
  absl::StatusOr<storage::DataKeyRow> row = store.GetDataKey(base::HexEncode(id));
  if (absl::IsNotFound(row.status())) {
    return absl::DataLossError("the data key the envelope names is missing");
  }
  EV_RETURN_IF_ERROR(row.status());
  crypto::DataKey key{std::move(id), row->master_key_id, row->wrapped};
  absl::StatusOr<crypto::SecureBuffer> plain =
      crypto::Open(*options_.keyring->Get(), ctx, envelope, key);
  if (absl::IsFailedPrecondition(plain.status())) {
    // Wrapped under a key this process has not loaded yet (a rotation running elsewhere
    // re-wrapped it): load the keys again and retry once.
    if (options_.keyring->Reload().ok()) {
      plain = crypto::Open(*options_.keyring->Get(), ctx, envelope, key);
    }
  }
  return plain;
}

absl::StatusOr<int64_t> Service::PutSecret(const Actor& actor, const storage::Workspace& ws,
                                           std::string_view key, const json::object& request,
                                           std::string_view reason, std::optional<int64_t> if_match,
                                           const WriteAuthorizer& authorize) {
  if (options_.keyring == nullptr) {
    return absl::FailedPreconditionError("secrets are disabled: no master key is loaded");
  }
  EV_RETURN_IF_ERROR(CheckKey("secret", key));
  for (const auto& kv : request) {
    if (kv.key() != "values") {
      return absl::InvalidArgumentError(base::ToAbsl("field '" + std::string(kv.key()) +
                                                     "': is not a known field (known: values)"));
    }
  }
  const json::value* values_v = request.if_contains("values");
  if (values_v == nullptr || !values_v->is_object() || values_v->as_object().empty()) {
    return absl::InvalidArgumentError(
        "field 'values': must map environments to secret strings (or null to remove one)");
  }
  const json::object& values = values_v->as_object();
  for (const auto& kv : values) {
    std::string env(kv.key());
    if (kv.value().is_null()) continue;
    if (!kv.value().is_string()) {
      return absl::InvalidArgumentError(
          base::ToAbsl("values." + env + ": a secret value must be a string (or null to remove it)"));
    }
    if (kv.value().get_string().size() > options_.max_value_bytes) {
      return absl::InvalidArgumentError(base::ToAbsl("values." + env + ": larger than " +
                                                     std::to_string(options_.max_value_bytes) + " bytes"));
    }
  }
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
    for (const auto& kv : values) {
      std::string env(kv.key());
      if (!envs.Contains(env)) {
        return absl::InvalidArgumentError(base::ToAbsl("values." + env + ": unknown environment \"" + env + "\""));
      }
    }
    absl::StatusOr<storage::Item> existing = l.store.GetItem(ItemKind::kSecret, key);
    if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
    if (!existing.ok()) {
      EV_RETURN_IF_ERROR(CheckRoomForNewItem(l.store, ws.org_id));
    }
    std::optional<json::object> before = StoredObject(existing);
    // Environments not named keep their sealed value as it is; named ones get a new one
    // (a placeholder until authorized: nothing is sealed for a refused write).
    json::object after_values;
    if (before) {
      if (const json::value* v = before->if_contains("values"); v != nullptr && v->is_object()) {
        after_values = v->get_object();
      }
    }
    bool changes = !existing.ok();
    for (const auto& kv : values) {
      if (kv.value().is_null()) {
        changes = after_values.erase(kv.key()) > 0 || changes;
      } else {
        after_values[kv.key()] = json::object{{"sealing", true}};
        changes = true;
      }
    }
    if (!changes) return head;  // only removals of values that were not there
    json::object after{{"values", after_values}};
    // Every environment given a value counts, even one whose value turns out to be the
    // same: answering "unchanged" to a caller who may not write there would tell them
    // whether their guess equals a protected secret.
    std::set<std::string> touched = SecretEffect(Ptr(before), &after, envs);
    EV_RETURN_IF_ERROR(authorize(EffectOf(touched, envs)));
    // The same plaintext again keeps its envelope: a repeated PUT (a client retry after
    // a lost answer, say) writes no second revision.
    const json::object* before_values = nullptr;
    if (before) {
      if (const json::value* v = before->if_contains("values")) before_values = v->if_object();
    }
    std::set<std::string> unchanged;
    for (const auto& kv : values) {
      if (kv.value().is_null() || before_values == nullptr) continue;
      const json::value* old = before_values->if_contains(kv.key());
      const json::object* sealed = old == nullptr ? nullptr : old->if_object();
      const json::value* envelope_b64 = sealed == nullptr ? nullptr : sealed->if_contains("envelope");
      const json::value* old_version = sealed == nullptr ? nullptr : sealed->if_contains("version");
      if (envelope_b64 == nullptr || !envelope_b64->is_string() || old_version == nullptr || !old_version->is_int64()) {
        continue;
      }
      absl::StatusOr<std::string> envelope = base::Base64Decode(std::string(envelope_b64->get_string()));
      if (!envelope.ok()) continue;
      std::string env(kv.key());
      absl::StatusOr<crypto::SecureBuffer> plain =
          OpenSecret(l.store, {ws.id, std::string(key), env, old_version->get_int64()}, *envelope);
      if (!plain.ok()) continue;  // unreadable: write the new value over it
      const json::string& wanted = kv.value().get_string();
      if (plain->size() == wanted.size() && CRYPTO_memcmp(plain->data(), wanted.data(), wanted.size()) == 0) {
        after_values[kv.key()] = *old;
        unchanged.insert(env);
      }
    }
    bool removed_any = false;
    for (const auto& kv : values) {
      removed_any = removed_any || (kv.value().is_null() && before_values != nullptr && before_values->contains(kv.key()));
    }
    size_t named = 0;
    for (const auto& kv : values) named += !kv.value().is_null();
    if (existing.ok() && !removed_any && unchanged.size() == named) {
      return head;  // every value is what it already was: no revision
    }

    // A rotation may have made another key active since the last write.
    if (absl::Status reload = options_.keyring->Reload(); !reload.ok()) {
      EV_LOG(kWarn, "reloading the master keys failed; sealing under the keys loaded before",
             {{"error", reload.ToString()}});
    }
    std::shared_ptr<const crypto::Keyring> keyring = options_.keyring->Get();
    // Sealed for the revision this commit will get (writes are serialised: head + 1).
    int64_t version = head + 1;
    std::vector<storage::DataKeyRow> data_keys;
    std::set<std::string> set_envs;
    for (const auto& kv : values) {
      if (kv.value().is_null()) continue;
      std::string env(kv.key());
      set_envs.insert(env);
      if (unchanged.contains(env)) continue;
      const json::string& plain = kv.value().get_string();
      crypto::EnvelopeContext ctx{ws.id, std::string(key), env, version};
      EV_ASSIGN_OR_RETURN(crypto::SealedValue sealed,
                          crypto::Seal(*keyring, ctx, std::string_view(plain.data(), plain.size()), options_.env));
      after_values[env] = json::object{{"version", version}, {"envelope", base::Base64Encode(sealed.envelope)}};
      data_keys.push_back(ToRow(sealed.data_key));
    }
    json::object body{{"values", std::move(after_values)}};
    std::set<std::string> changed = SecretEffect(Ptr(before), &body, envs);  // what really changed
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = existing.ok() ? "update" : "create";
    c.expected_head = if_match;
    c.mutations.push_back({ItemKind::kSecret, std::string(key), json::serialize(body), ""});
    c.data_keys = std::move(data_keys);
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.secret." + c.op,
                            {{"kind", "secret"}, {"key", key}, {"set", JsonArray(set_envs)}}, changed,
                            ItemTarget(ItemKind::kSecret, key));
  });
}

absl::StatusOr<SecretValues> Service::ReadSecretValues(const Actor& actor, const storage::Workspace& ws,
                                                       std::string_view env,
                                                       std::optional<std::string> only_key,
                                                       const SecretReadAuthorizer& may_read) {
  if (options_.keyring == nullptr) {
    return absl::FailedPreconditionError("secrets are disabled: no master key is loaded");
  }
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*store));
  if (!envs.Contains(env)) {
    return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
  }
  std::vector<storage::Item> items;
  if (only_key) {
    absl::StatusOr<storage::Item> one = store->GetItem(ItemKind::kSecret, *only_key);
    if (absl::IsNotFound(one.status())) {
      return absl::NotFoundError(base::ToAbsl("no secret \"" + *only_key + "\""));
    }
    EV_RETURN_IF_ERROR(one.status());
    items.push_back(*std::move(one));
  } else {
    EV_ASSIGN_OR_RETURN(items, store->ListItems(ItemKind::kSecret));
  }
  // Which envelope serves each secret: the env's own value or the nearest ancestor's;
  // the caller must be allowed to read secrets where that value is set.
  struct Pick {
    std::string key, from;
    int64_t version;
    std::string envelope;
  };
  std::vector<Pick> picks;
  SecretValues out;
  std::map<std::string, absl::Status> decisions;  // per source environment
  for (const auto& item : items) {
    json::value body = ParseOrNull(item.body);
    if (!body.is_object()) continue;
    std::string from = SecretSource(body.get_object(), envs, env);
    if (from.empty()) continue;
    auto decided = decisions.find(from);
    if (decided == decisions.end()) {
      const Environment* source = envs.Find(from);
      decided = decisions.emplace(from, may_read(from, source != nullptr && source->is_protected)).first;
    }
    if (!decided->second.ok()) {
      out.withheld.push_back({item.key, from, std::string(decided->second.message())});
      continue;
    }
    const json::object* at = nullptr;
    if (const json::value* v = body.get_object().if_contains("values"); v != nullptr && v->is_object()) {
      if (const json::value* e = v->get_object().if_contains(from)) at = e->if_object();
    }
    const json::value* envelope_b64 = at == nullptr ? nullptr : at->if_contains("envelope");
    const json::value* version = at == nullptr ? nullptr : at->if_contains("version");
    if (envelope_b64 == nullptr || !envelope_b64->is_string() || version == nullptr || !version->is_int64()) {
      return absl::DataLossError(base::ToAbsl("secret \"" + item.key + "\": the stored value in \"" + from +
                                              "\" is malformed"));
    }
    EV_ASSIGN_OR_RETURN(std::string envelope, base::Base64Decode(std::string(envelope_b64->get_string())));
    picks.push_back({item.key, from, version->get_int64(), std::move(envelope)});
  }
  if (only_key && picks.empty() && out.withheld.empty()) {
    return absl::NotFoundError(base::ToAbsl("secret \"" + *only_key + "\" has no value in \"" +
                                            std::string(env) + "\" or the environments it inherits from"));
  }
  // Fail closed: record the read and what was withheld (activity + audit, one
  // transaction) before decrypting anything.
  json::array keys;
  for (const auto& p : picks) keys.emplace_back(p.key);
  json::array withheld;
  std::set<std::string> withheld_from;
  for (const auto& w : out.withheld) {
    withheld.push_back(json::object{{"key", w.key}, {"from", w.from}});
    withheld_from.insert(w.from);
  }
  {
    storage::Activity a;
    a.time = options_.env->Now();
    a.actor = actor.id;
    a.action = picks.empty() ? "workspace.secret.read_denied" : "workspace.secret.read";
    a.details = json::serialize(json::object{{"environment", env}, {"keys", keys}, {"withheld", withheld}});
    std::string target = only_key ? ItemTarget(ItemKind::kSecret, *only_key) : "";
    std::vector<storage::OutboxRow> audit;
    if (!picks.empty() || out.withheld.empty()) {
      audit.push_back(AuditRow(options_.env, actor, ws, "workspace.secret.read", a.time,
                               {{"environment", env}, {"keys", keys}}, env, target));
    }
    if (!out.withheld.empty()) {
      // Both environments named: where the read was asked, and where the values are set.
      std::set<std::string> where = withheld_from;
      where.insert(std::string(env));
      audit.push_back(AuditRow(options_.env, actor, ws, "workspace.secret.read_denied", a.time,
                               {{"environment", env}, {"withheld", withheld}}, Join(where), target,
                               "denied"));
    }
    EV_RETURN_IF_ERROR(store->AppendActivity(a, audit).status());
    MarkAuditPending(ws.id);
  }
  if (only_key && !out.withheld.empty()) {
    const WithheldSecret& w = out.withheld.front();
    return absl::PermissionDeniedError(base::ToAbsl(
        "secret \"" + w.key + "\" in \"" + std::string(env) + "\" is " +
        (w.from == env ? "set in \"" + w.from + "\"" : "inherited from \"" + w.from + "\"") +
        ", where you may not read secret values: " + w.reason));
  }
  for (const auto& p : picks) {
    crypto::EnvelopeContext ctx{ws.id, p.key, p.from, p.version};
    absl::StatusOr<crypto::SecureBuffer> plain = OpenSecret(*store, ctx, p.envelope);
    if (!plain.ok()) {
      EV_LOG(kError, "a secret failed to open", {{"workspace", ws.id}, {"key", p.key}, {"environment", p.from},
                                                 {"error", plain.status().ToString()}});
      return absl::InternalError(base::ToAbsl("secret \"" + p.key + "\" could not be decrypted (" +
                                              std::string(plain.status().message()) + ")"));
    }
    out.values.emplace(p.key, *std::move(plain));
  }
  return out;
}

// ---------------------------------------------------------------- history

absl::StatusOr<int64_t> Service::Head(const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return store->Head();
}

absl::StatusOr<std::vector<storage::Revision>> Service::ListRevisions(const storage::Workspace& ws,
                                                                      int64_t after, int limit) {
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be between 1 and 1000");
  if (after < 0) return absl::InvalidArgumentError("after must be 0 or more");
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return store->ListRevisions(after, limit);
}

absl::StatusOr<int64_t> Service::Revert(const Actor& actor, const storage::Workspace& ws, int64_t n,
                                        std::string_view reason, std::optional<int64_t> if_match,
                                        const WriteAuthorizer& authorize) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    absl::StatusOr<storage::Revision> rev = l.store.GetRevision(n);
    if (absl::IsNotFound(rev.status())) {
      return absl::NotFoundError(base::ToAbsl("no revision " + std::to_string(n)));
    }
    EV_RETURN_IF_ERROR(rev.status());
    if (rev->kind == ItemKind::kEnvironment) return RevertEnvironment(actor, ws, l, *rev, reason, if_match, authorize);
    // The revision's `before` becomes the item's state again. It must still be valid
    // against today's workspace (environments and other flags may have changed since).
    json::value before = ParseOrNull(rev->before);
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    std::optional<std::string> body;
    if (before.is_object()) {
      const json::object& b = before.as_object();
      if (rev->kind == ItemKind::kConfig) {
        EV_RETURN_IF_ERROR(ValidateConfigBody(rev->key, b, envs).status());
      } else if (rev->kind == ItemKind::kFlag) {
        EV_ASSIGN_OR_RETURN(json::object all, ItemsAfter(l.store, ItemKind::kFlag, rev->key, &b));
        EV_RETURN_IF_ERROR(ValidateFlagBody(rev->key, b, envs, all).status());
      } else if (rev->kind == ItemKind::kSegment) {
        EV_ASSIGN_OR_RETURN(json::object all, ItemsAfter(l.store, ItemKind::kSegment, rev->key, &b));
        EV_RETURN_IF_ERROR(ValidateSegmentBody(rev->key, b, all).status());
      }
      body = rev->before;
    }
    absl::StatusOr<storage::Item> current = l.store.GetItem(rev->kind, rev->key);
    if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
    if (!body && absl::IsNotFound(current.status())) {
      return absl::FailedPreconditionError("nothing to revert: the item is already absent");
    }
    if (body && current.ok() && current->body == *body) {
      return absl::FailedPreconditionError("nothing to revert: the item already has that state");
    }
    // Authorized here, under the lock, against the state the revert actually changes.
    std::optional<json::object> now = StoredObject(current);
    EV_ASSIGN_OR_RETURN(std::set<std::string> touched,
                        ItemEffect(l.store, rev->kind, rev->key, Ptr(now),
                                   before.is_object() ? &before.get_object() : nullptr, envs));
    EV_RETURN_IF_ERROR(authorize(EffectOf(touched, envs)));
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "revert";
    c.expected_head = if_match;
    c.mutations.push_back({rev->kind, rev->key, body, rev->environment});
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.revert",
                            {{"reverted", n}, {"kind", storage::ItemKindName(rev->kind)}, {"key", rev->key}},
                            touched, ItemTarget(rev->kind, rev->key));
  });
}

absl::StatusOr<int64_t> Service::RevertEnvironment(const Actor& actor, const storage::Workspace& ws,
                                                   Locked& l, const storage::Revision& rev,
                                                   std::string_view reason, std::optional<int64_t> if_match,
                                                   const WriteAuthorizer& authorize) {
  json::value before = ParseOrNull(rev.before);
  if (!before.is_object()) {
    return absl::FailedPreconditionError(
        "an environment's creation cannot be reverted (environments are not deleted); only a "
        "change of its name or protection can");
  }
  absl::StatusOr<storage::Item> current = l.store.GetItem(ItemKind::kEnvironment, rev.key);
  if (absl::IsNotFound(current.status())) {
    return absl::FailedPreconditionError(
        "nothing to revert: the environment no longer exists (a deleted environment is not restored by "
        "revert: create it again with edgevault env create, then set its values)");
  }
  EV_RETURN_IF_ERROR(current.status());
  // Only what that revision changed goes back (reverting a rename keeps a later change of
  // protection); every other member stays as it is now.
  json::value now = ParseOrNull(current->body);
  json::value after = ParseOrNull(rev.after);
  if (!now.is_object()) return absl::DataLossError("environment \"" + rev.key + "\" has an unreadable body");
  json::object restored = now.as_object();
  const json::object& b = before.as_object();
  const json::object empty;
  const json::object& a = after.is_object() ? after.as_object() : empty;
  for (const json::object* side : {&b, &a}) {
    for (const auto& member : *side) {
      const json::value* was = b.if_contains(member.key());
      const json::value* became = a.if_contains(member.key());
      if (was != nullptr && became != nullptr && *was == *became) continue;
      if (was != nullptr) {
        restored[member.key()] = *was;
      } else {
        restored.erase(member.key());
      }
    }
  }
  before = restored;
  std::string body = json::serialize(restored);
  if (current->body == body) {
    return absl::FailedPreconditionError("nothing to revert: the environment already has that state");
  }
  // Valid against today's environments (its parent must still exist, without a cycle).
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
  EV_ASSIGN_OR_RETURN(Environment valid, envs.ValidateEnvironmentUpdate(before.as_object()));
  if (valid.key != rev.key) {
    return absl::FailedPreconditionError("revision " + std::to_string(rev.seq) + " names another environment");
  }
  WriteEffect effect = EffectOf({rev.key}, envs);
  effect.environment_settings = {rev.key};
  EV_RETURN_IF_ERROR(authorize(effect));
  // A parent put back changes what the descendants inherit too.
  std::set<std::string> touched{rev.key};
  if (now.as_object().if_contains("parent") == nullptr || now.as_object()["parent"] != restored["parent"]) {
    for (const std::string& d : envs.Descendants(rev.key)) touched.insert(d);
  }
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = "revert";
  c.expected_head = if_match;
  c.mutations.push_back({ItemKind::kEnvironment, rev.key, body, rev.key});
  return CommitAndPublish(actor, ws, l, std::move(c), "workspace.revert",
                          {{"reverted", rev.seq}, {"kind", storage::ItemKindName(rev.kind)}, {"key", rev.key}},
                          touched, "environment:" + rev.key);
}

absl::StatusOr<int64_t> Service::Rollback(const Actor& actor, const storage::Workspace& ws, int64_t to,
                                          std::string_view reason, std::optional<int64_t> if_match,
                                          const WriteAuthorizer& authorize, std::vector<PlannedRestore>* dry_run) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    if (to < 0 || to > head) {
      return absl::InvalidArgumentError(base::ToAbsl("to_revision must be between 0 and " + std::to_string(head)));
    }
    EV_ASSIGN_OR_RETURN(auto keys, l.store.AllKeysEver());
    storage::CommitRequest c;
    c.reason = std::string(reason);
    c.op = "rollback";
    c.expected_head = if_match;
    EV_ASSIGN_OR_RETURN(WorkspaceSnapshot now_snap, Snapshot(l.store, ws));
    WorkspaceSnapshot then_snap = now_snap;
    std::set<std::string> touched, environment_settings;
    for (const auto& [kind, key] : keys) {
      EV_ASSIGN_OR_RETURN(std::optional<std::string> then, l.store.BodyAt(kind, key, to));
      absl::StatusOr<storage::Item> now = l.store.GetItem(kind, key);
      if (!now.ok() && !absl::IsNotFound(now.status())) return now.status();
      std::optional<std::string> current = now.ok() ? std::optional<std::string>(now->body) : std::nullopt;
      if (then == current) continue;
      if (kind == ItemKind::kEnvironment) {
        // Settings come back; an environment created since `to` is kept (not deleted).
        if (!then || !current) continue;
        json::value b = ParseOrNull(*then);
        if (!b.is_object()) continue;
        EV_RETURN_IF_ERROR(now_snap.envs.ValidateEnvironmentUpdate(b.as_object()).status());
        c.mutations.push_back({kind, key, then, key});
        environment_settings.insert(key);
        if (dry_run != nullptr) dry_run->push_back({kind, key, "update"});
        continue;
      }
      c.mutations.push_back({kind, key, then, ""});
      if (dry_run != nullptr) dry_run->push_back({kind, key, !then ? "delete" : !current ? "create" : "update"});
      if (kind == ItemKind::kSecret) {
        std::optional<json::object> b = StoredObject(now);
        json::value a = then ? ParseOrNull(*then) : json::value(nullptr);
        std::set<std::string> t = SecretEffect(Ptr(b), a.is_object() ? &a.get_object() : nullptr, now_snap.envs);
        touched.insert(t.begin(), t.end());
      } else if (std::vector<storage::Item>* items = SnapshotItems(then_snap, kind)) {
        std::erase_if(*items, [&](const storage::Item& i) { return i.key == key; });
        if (then) items->push_back(storage::Item{kind, key, *then, 0, {}, {}});
      }
    }
    if (c.mutations.empty()) return head;
    // The restored state must be valid as a whole (flags referring to each other).
    const EnvironmentSet& envs = now_snap.envs;
    EV_ASSIGN_OR_RETURN(json::object flags, ItemsAfter(l.store, ItemKind::kFlag, "", nullptr));
    for (const auto& m : c.mutations) {
      if (m.kind != ItemKind::kFlag) continue;
      json::value v = m.body ? ParseOrNull(*m.body) : json::value(nullptr);
      if (v.is_object()) {
        flags[m.key] = std::move(v.get_object());
      } else {
        flags.erase(m.key);
      }
    }
    for (const auto& m : c.mutations) {
      if (!m.body) continue;
      json::value v = ParseOrNull(*m.body);
      if (!v.is_object()) continue;
      if (m.kind == ItemKind::kConfig) {
        EV_RETURN_IF_ERROR(ValidateConfigBody(m.key, v.as_object(), envs).status());
      } else if (m.kind == ItemKind::kFlag) {
        EV_RETURN_IF_ERROR(ValidateFlagBody(m.key, v.as_object(), envs, flags).status());
      }
    }
    EV_RETURN_IF_ERROR(ValidateFlagSet(flags, envs));
    // Authorized on every environment whose document (or served secret) the whole
    // restore changes, under the lock.
    std::set<std::string> docs = DocumentsEffect(now_snap, then_snap);
    touched.insert(docs.begin(), docs.end());
    WriteEffect effect = EffectOf(touched, envs);
    effect.environment_settings = environment_settings;
    EV_RETURN_IF_ERROR(authorize(effect));
    touched.insert(environment_settings.begin(), environment_settings.end());
    if (dry_run != nullptr) {
      // If-Match is answered as the commit would answer it.
      if (if_match && *if_match != head) {
        return absl::AbortedError(base::ToAbsl("expected head " + std::to_string(*if_match) + " but the head is " +
                                               std::to_string(head) + "; reload and retry"));
      }
      return head;
    }
    int64_t changed = static_cast<int64_t>(c.mutations.size());
    return CommitAndPublish(actor, ws, l, std::move(c), "workspace.rollback",
                            {{"to_revision", to}, {"items_changed", changed}}, touched, "");
  });
}

absl::StatusOr<std::vector<storage::Activity>> Service::ListActivity(const storage::Workspace& ws,
                                                                     int64_t after, int limit) {
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be between 1 and 1000");
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return store->ListActivity(after, limit);
}

absl::Status Service::RecordActivity(const Actor& actor, const storage::Workspace& ws,
                                     std::string_view action, json::object details,
                                     std::string_view environment, std::string_view target) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return RecordActivityIn(*store, actor, ws, action, std::move(details), environment, target);
}

absl::Status Service::RecordActivityIn(storage::WorkspaceStore& store, const Actor& actor,
                                       const storage::Workspace& ws, std::string_view action,
                                       json::object details, std::string_view environment,
                                       std::string_view target) {
  storage::Activity a;
  a.time = options_.env->Now();
  a.actor = actor.id;
  a.action = std::string(action);
  a.details = json::serialize(details);
  EV_RETURN_IF_ERROR(
      store.AppendActivity(a, {AuditRow(options_.env, actor, ws, action, a.time, std::move(details), environment, target)})
          .status());
  MarkAuditPending(ws.id);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- webhooks

namespace {

using base::WithErrorCode;

// What an audit event says about a webhook: never the secret, and only the host of the
// URL (a receiver's URL may itself carry a token).
json::object WebhookAuditDetails(const std::string& id, const WebhookSpec& spec) {
  absl::StatusOr<WebhookUrl> url = ParseWebhookUrl(spec.url);
  json::array events;
  for (const std::string& e : spec.events) events.emplace_back(e);
  return {{"webhook", id}, {"host", url.ok() ? url->host : ""}, {"events", std::move(events)},
          {"active", spec.active}};
}

}  // namespace

void Service::WebhookEventsCommitted(const std::string& workspace_id) {
  if (options_.on_webhook_events) options_.on_webhook_events(workspace_id);
}

absl::StatusOr<Service::SealedWebhookSecret> Service::NewWebhookSecret(const std::string& workspace_id,
                                                                      const std::string& id, int64_t version,
                                                                      const std::optional<std::string>& plaintext) {
  if (options_.keyring == nullptr) {
    return WithErrorCode(absl::FailedPreconditionError(
                     "webhooks need the master key to store their signing secrets, and secrets are disabled"),
                 "secrets_disabled");
  }
  if (absl::Status reload = options_.keyring->Reload(); !reload.ok()) {
    EV_LOG(kWarn, "reloading the master keys failed; sealing under the keys loaded before",
           {{"error", reload.ToString()}});
  }
  SealedWebhookSecret out;
  out.plaintext = plaintext ? *plaintext : "whsec_" + options_.env->RandomHex(32);
  crypto::EnvelopeContext ctx{workspace_id, "webhook:" + id, "", version};
  EV_ASSIGN_OR_RETURN(crypto::SealedValue sealed,
                      crypto::Seal(*options_.keyring->Get(), ctx, out.plaintext, options_.env));
  out.envelope = std::move(sealed.envelope);
  out.data_key = ToRow(sealed.data_key);
  return out;
}

absl::StatusOr<WebhookWithSecret> Service::CreateWebhook(const Actor& actor, const storage::Workspace& ws,
                                                         const json::object& body) {
  EV_ASSIGN_OR_RETURN(WebhookSpec spec, WebhookSpecFromRequest(body, nullptr, options_.webhook_allowed_hosts));
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<WebhookWithSecret> {
    EV_ASSIGN_OR_RETURN(std::vector<storage::WebhookRow> hooks, l.store.ListWebhooks());
    if (hooks.size() >= kMaxWebhooksPerWorkspace) {
      return WithErrorCode(absl::FailedPreconditionError(base::ToAbsl(
                       "the workspace already has " + std::to_string(kMaxWebhooksPerWorkspace) +
                       " webhooks; delete one first")),
                   "too_many_webhooks");
    }
    storage::WebhookRow row;
    row.id = "wh_" + options_.env->RandomHex(8);
    row.body = json::serialize(spec.ToJson());
    row.secret_version = 1;
    EV_ASSIGN_OR_RETURN(SealedWebhookSecret secret, NewWebhookSecret(ws.id, row.id, row.secret_version));
    row.secret = secret.envelope;
    row.created_at = row.updated_at = options_.env->Now();
    storage::OutboxRow audit = AuditRow(options_.env, actor, ws, "workspace.webhook.create", row.created_at,
                                        WebhookAuditDetails(row.id, spec), "", "webhook:" + row.id);
    EV_ASSIGN_OR_RETURN(storage::WebhookRow created, l.store.CreateWebhook(row, {secret.data_key}, {audit}));
    MarkAuditPending(ws.id);
    return WebhookWithSecret{std::move(created), std::move(secret.plaintext)};
  });
}

absl::StatusOr<std::vector<storage::WebhookRow>> Service::ListWebhooks(const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  return store->ListWebhooks();
}

absl::StatusOr<storage::WebhookRow> Service::GetWebhook(const storage::Workspace& ws, std::string_view id) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  absl::StatusOr<storage::WebhookRow> row = store->GetWebhook(id);
  if (absl::IsNotFound(row.status())) {
    return absl::NotFoundError(base::ToAbsl("no webhook \"" + std::string(id.substr(0, 64)) + "\""));
  }
  return row;
}

absl::StatusOr<storage::WebhookRow> Service::UpdateWebhook(const Actor& actor, const storage::Workspace& ws,
                                                           std::string_view id, const json::object& patch) {
  absl::StatusOr<storage::WebhookRow> result = WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<storage::WebhookRow> {
    EV_ASSIGN_OR_RETURN(storage::WebhookRow row, GetWebhook(ws, id));
    EV_ASSIGN_OR_RETURN(WebhookSpec old, WebhookSpecFromStored(row.body));
    EV_ASSIGN_OR_RETURN(WebhookSpec spec, WebhookSpecFromRequest(patch, &old, options_.webhook_allowed_hosts));
    row.body = json::serialize(spec.ToJson());
    row.updated_at = options_.env->Now();
    bool resume = patch.contains("active") || patch.contains("url");
    json::object details = WebhookAuditDetails(row.id, spec);
    json::array changed;
    for (const auto& kv : patch) changed.emplace_back(kv.key());
    details["changed"] = std::move(changed);
    storage::OutboxRow audit = AuditRow(options_.env, actor, ws, "workspace.webhook.update", row.updated_at,
                                        std::move(details), "", "webhook:" + row.id);
    EV_RETURN_IF_ERROR(l.store.UpdateWebhook(row, resume, {}, {audit}));
    MarkAuditPending(ws.id);
    return l.store.GetWebhook(row.id);
  });
  if (result.ok()) WebhookEventsCommitted(ws.id);
  return result;
}

absl::StatusOr<WebhookWithSecret> Service::RotateWebhookSecret(const Actor& actor, const storage::Workspace& ws,
                                                               std::string_view id) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<WebhookWithSecret> {
    EV_ASSIGN_OR_RETURN(storage::WebhookRow row, GetWebhook(ws, id));
    EV_ASSIGN_OR_RETURN(WebhookSpec spec, WebhookSpecFromStored(row.body));
    ++row.secret_version;
    EV_ASSIGN_OR_RETURN(SealedWebhookSecret secret, NewWebhookSecret(ws.id, row.id, row.secret_version));
    row.secret = secret.envelope;
    row.updated_at = options_.env->Now();
    storage::OutboxRow audit = AuditRow(options_.env, actor, ws, "workspace.webhook.rotate_secret", row.updated_at,
                                        WebhookAuditDetails(row.id, spec), "", "webhook:" + row.id);
    EV_RETURN_IF_ERROR(l.store.UpdateWebhook(row, false, {secret.data_key}, {audit}));
    MarkAuditPending(ws.id);
    EV_ASSIGN_OR_RETURN(storage::WebhookRow stored, l.store.GetWebhook(row.id));
    return WebhookWithSecret{std::move(stored), std::move(secret.plaintext)};
  });
}

absl::Status Service::DeleteWebhook(const Actor& actor, const storage::Workspace& ws, std::string_view id) {
  absl::Status st = WithWriteLock(ws.id, [&](Locked& l) -> absl::Status {
    EV_ASSIGN_OR_RETURN(storage::WebhookRow row, GetWebhook(ws, id));
    EV_ASSIGN_OR_RETURN(WebhookSpec spec, WebhookSpecFromStored(row.body));
    storage::OutboxRow audit = AuditRow(options_.env, actor, ws, "workspace.webhook.delete", options_.env->Now(),
                                        WebhookAuditDetails(row.id, spec), "", "webhook:" + row.id);
    EV_RETURN_IF_ERROR(l.store.DeleteWebhook(row.id, {audit}));
    MarkAuditPending(ws.id);
    return absl::OkStatus();
  });
  // The dispatcher forgets it and releases the events only it was waiting for.
  if (st.ok()) WebhookEventsCommitted(ws.id);
  return st;
}

absl::StatusOr<storage::WebhookRow> Service::PutOrgWebhookCopy(const Actor& actor, const storage::Workspace& ws,
                                                               const std::string& id, WebhookSpec spec,
                                                               const std::optional<std::string>& secret, bool resume,
                                                               std::string_view action) {
  spec.org = true;
  absl::StatusOr<storage::WebhookRow> result =
      WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<storage::WebhookRow> {
        absl::StatusOr<storage::WebhookRow> existing = l.store.GetWebhook(id);
        if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
        const absl::Time now = options_.env->Now();
        json::object details = WebhookAuditDetails(id, spec);
        details["org_webhook"] = true;
        storage::OutboxRow audit = AuditRow(options_.env, actor, ws, action, now, std::move(details), "", "webhook:" + id);
        if (existing.ok()) {
          storage::WebhookRow row = *std::move(existing);
          row.body = json::serialize(spec.ToJson());
          row.updated_at = now;
          std::vector<storage::DataKeyRow> keys;
          if (secret) {
            ++row.secret_version;
            EV_ASSIGN_OR_RETURN(SealedWebhookSecret sealed, NewWebhookSecret(ws.id, row.id, row.secret_version, secret));
            row.secret = std::move(sealed.envelope);
            keys.push_back(std::move(sealed.data_key));
          }
          EV_RETURN_IF_ERROR(l.store.UpdateWebhook(row, resume, keys, {audit}));
          MarkAuditPending(ws.id);
          return l.store.GetWebhook(row.id);
        }
        if (!secret) return absl::InvalidArgumentError("a new org webhook copy needs its signing secret");
        EV_ASSIGN_OR_RETURN(std::vector<storage::WebhookRow> hooks, l.store.ListWebhooks());
        if (hooks.size() >= kMaxWebhooksPerWorkspace) {
          return WithErrorCode(absl::FailedPreconditionError(base::ToAbsl(
                                   "workspace \"" + ws.key + "\" already has " +
                                   std::to_string(kMaxWebhooksPerWorkspace) +
                                   " webhooks (org webhooks included); delete one of them first")),
                               "too_many_webhooks");
        }
        storage::WebhookRow row;
        row.id = id;
        row.body = json::serialize(spec.ToJson());
        row.secret_version = 1;
        EV_ASSIGN_OR_RETURN(SealedWebhookSecret sealed, NewWebhookSecret(ws.id, row.id, row.secret_version, secret));
        row.secret = std::move(sealed.envelope);
        row.created_at = row.updated_at = now;
        EV_ASSIGN_OR_RETURN(storage::WebhookRow created, l.store.CreateWebhook(row, {sealed.data_key}, {audit}));
        MarkAuditPending(ws.id);
        return created;
      });
  if (result.ok()) WebhookEventsCommitted(ws.id);
  return result;
}

absl::StatusOr<crypto::SecureBuffer> Service::OpenWebhookSecret(const std::string& workspace_id,
                                                                const storage::WebhookRow& row) {
  if (options_.keyring == nullptr) return absl::FailedPreconditionError("secrets are disabled: no master key is loaded");
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(workspace_id));
  crypto::EnvelopeContext ctx{workspace_id, "webhook:" + row.id, "", row.secret_version};
  return OpenSecret(*store, ctx, row.secret);
}

// ---------------------------------------------------------------- change requests

namespace {

// What a change request's webhook events say about it: never its diff (which names the
// values it writes), only what identifies it (docs/design/webhooks.md).
json::object ChangeRequestEventData(const storage::ChangeRequest& row, int64_t id) {
  json::object data{{"change_request", id},     {"title", row.title},
                    {"state", row.state},       {"author", row.author},
                    {"base_revision", row.base_revision}};
  if (row.state == "failed") data["reason"] = row.state_reason;
  boost::system::error_code ec;
  json::value body = json::parse(row.body, ec);
  const json::object* o = !ec && body.is_object() ? &body.get_object() : nullptr;
  const json::value* type = o != nullptr ? o->if_contains("type") : nullptr;
  const json::value* request = o != nullptr ? o->if_contains("request") : nullptr;
  // "promotion", "change" or "revert": what kind of request it is, so a receiver need not
  // guess from the presence of `promotion`.
  if (type != nullptr && type->is_string()) data["type"] = *type;
  if (type != nullptr && *type == "promotion" && request != nullptr && request->is_object()) {
    json::object promotion;
    for (const char* k : {"from", "to"}) {
      if (const json::value* v = request->get_object().if_contains(k)) promotion[k] = *v;
    }
    data["promotion"] = std::move(promotion);
  }
  if (const json::value* envs = o != nullptr ? o->if_contains("environments") : nullptr) {
    data["environments"] = *envs;
  }
  return data;
}

// The webhook event a change request write emits, if any.
std::optional<WebhookEvent> ChangeRequestWebhookEvent(std::string_view action, const storage::ChangeRequest& row,
                                                      int64_t id) {
  std::string type;
  if (action == "workspace.change_request.create") {
    type = "change_request.opened";
  } else if (action == "workspace.change_request.approve" && row.state == "approved") {
    type = "change_request.approved";
  } else if (action == "workspace.change_request.fail") {
    type = "change_request.failed";
  } else {
    return std::nullopt;
  }
  return WebhookEvent{std::move(type), ChangeRequestEventData(row, id)};
}

}  // namespace

absl::StatusOr<ChangeSetInput> Service::ReadChangeSetInput(const storage::Workspace& ws) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<ChangeSetInput> {
    ChangeSetInput in;
    EV_ASSIGN_OR_RETURN(in.head, l.store.Head());
    EV_ASSIGN_OR_RETURN(in.envs, LoadEnvironments(l.store));
    EV_ASSIGN_OR_RETURN(in.configs, l.store.ListItems(ItemKind::kConfig));
    EV_ASSIGN_OR_RETURN(in.flags, l.store.ListItems(ItemKind::kFlag));
    EV_ASSIGN_OR_RETURN(in.secrets, l.store.ListItems(ItemKind::kSecret));
    EV_ASSIGN_OR_RETURN(in.segments, l.store.ListItems(ItemKind::kSegment));
    return in;
  });
}

absl::StatusOr<Service::SealedProposal> Service::SealProposedSecret(const storage::Workspace& ws, std::string_view key,
                                                                    std::string_view environment,
                                                                    std::string_view plaintext) {
  if (options_.keyring == nullptr) {
    return WithErrorCode(absl::FailedPreconditionError("secrets are disabled: no master key is loaded"),
                         "secrets_disabled");
  }
  if (plaintext.size() > options_.max_value_bytes) {
    return absl::InvalidArgumentError(base::ToAbsl("secret \"" + std::string(key) + "\" in \"" +
                                                   std::string(environment) + "\": larger than " +
                                                   std::to_string(options_.max_value_bytes) + " bytes"));
  }
  if (absl::Status reload = options_.keyring->Reload(); !reload.ok()) {
    EV_LOG(kWarn, "reloading the master keys failed; sealing under the keys loaded before",
           {{"error", reload.ToString()}});
  }
  SealedProposal out;
  out.id = "prp_" + options_.env->RandomHex(12);
  crypto::EnvelopeContext ctx{ws.id, std::string(key), "proposal:" + out.id + ":" + std::string(environment), 0};
  EV_ASSIGN_OR_RETURN(crypto::SealedValue sealed, crypto::Seal(*options_.keyring->Get(), ctx, plaintext, options_.env));
  out.envelope = std::move(sealed.envelope);
  out.data_key = ToRow(sealed.data_key);
  return out;
}

absl::StatusOr<int64_t> Service::ApplyChangeSet(const Actor& actor, const storage::Workspace& ws,
                                                ChangeSetApply set, const WriteAuthorizer& authorize) {
  if (set.changes.empty() && set.new_environments.empty()) {
    return absl::InvalidArgumentError("a change set needs at least one change");
  }
  if (!set.new_environments.empty() && set.op != "batch") {
    return absl::InvalidArgumentError("only a batch creates environments");
  }
  bool has_secret = false;
  for (const PlannedChange& c : set.changes) has_secret = has_secret || (c.kind == ItemKind::kSecret && !c.delete_item);
  if (has_secret && options_.keyring == nullptr) {
    return absl::FailedPreconditionError("secrets are disabled: no master key is loaded");
  }
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<int64_t> {
    EV_ASSIGN_OR_RETURN(int64_t head, l.store.Head());
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(l.store));
    // 0. A batch's new environments, first: the changes may set values in them.
    std::vector<Environment> created;
    if (!set.new_environments.empty()) {
      EV_RETURN_IF_ERROR(CheckRoomForEnvironments(ws.org_id, static_cast<int64_t>(envs.size()),
                                                  static_cast<int64_t>(set.new_environments.size())));
      EV_ASSIGN_OR_RETURN(envs, WithNewEnvironments(envs, set.new_environments, &created));
    }
    // 1. Every item is still where the request saw it. A later change of the same item
    // starts from the earlier one's result (`latest`: its index in `afters`).
    std::vector<std::optional<json::object>> befores;
    std::map<std::pair<ItemKind, std::string>, size_t> latest;
    std::string conflicts;
    int64_t new_items = 0;
    for (size_t i = 0; i < set.changes.size(); ++i) {
      const PlannedChange& c = set.changes[i];
      if (latest.contains({c.kind, c.key})) {
        befores.emplace_back();  // filled in step 3
        continue;
      }
      latest[{c.kind, c.key}] = i;
      absl::StatusOr<storage::Item> now = l.store.GetItem(c.kind, c.key);
      if (!now.ok() && !absl::IsNotFound(now.status())) return now.status();
      int64_t at = now.ok() ? now->revision : 0;
      if (at != c.expected_revision) {
        if (!conflicts.empty()) conflicts += ", ";
        conflicts += ItemTarget(c.kind, c.key) + " (at revision " + std::to_string(at) + ", expected " +
                     std::to_string(c.expected_revision) + ")";
      }
      new_items += now.ok() ? 0 : 1;
      befores.push_back(StoredObject(now));
    }
    if (!conflicts.empty() && set.op == "batch") {
      return base::WithErrorCode(
          absl::FailedPreconditionError(base::ToAbsl("items changed while the batch was planned: " + conflicts +
                                                     "; nothing was written, send it again")),
          "batch_conflict");
    }
    if (!conflicts.empty()) {
      return base::WithErrorCode(
          absl::FailedPreconditionError(base::ToAbsl("items changed since the change request was made: " +
                                                     conflicts + "; rebase the change request")),
          "change_request_conflict");
    }
    if (new_items > 0) EV_RETURN_IF_ERROR(CheckRoomForNewItem(l.store, ws.org_id, new_items));
    // 2. Valid against the workspace as it is now.
    EV_ASSIGN_OR_RETURN(json::object flags_now, ItemsAfter(l.store, ItemKind::kFlag, "", nullptr));
    EV_ASSIGN_OR_RETURN(json::object segments_now, ItemsAfter(l.store, ItemKind::kSegment, "", nullptr));
    EV_RETURN_IF_ERROR(ValidateChanges(set.changes, envs, flags_now, segments_now));
    // 3. Authorized on the effect of the whole set.
    std::set<std::string> touched;
    std::vector<std::optional<json::object>> afters;
    std::vector<std::optional<size_t>> previous(set.changes.size());  // the earlier change of the item
    std::optional<SegmentReach> reach;
    latest.clear();
    for (size_t i = 0; i < set.changes.size(); ++i) {
      const PlannedChange& c = set.changes[i];
      if (auto it = latest.find({c.kind, c.key}); it != latest.end()) {
        previous[i] = it->second;
        befores[i] = afters[it->second];
      }
      latest[{c.kind, c.key}] = i;
      std::optional<json::object> after;
      if (c.delete_item) {
        // absent
      } else if (c.kind == ItemKind::kSecret) {
        after = befores[i] ? *befores[i] : json::object();
        json::value& values = (*after)["values"];
        if (!values.is_object()) values = json::object();
        if (c.secret_remove) {
          values.as_object().erase(c.environment);
        } else {
          values.as_object()[c.environment] = json::object{{"sealing", true}};
        }
      } else {
        after = ParseOrNull(*c.body).as_object();  // ValidateChanges parsed it
      }
      if (c.kind == ItemKind::kSegment) {
        // Against the stored flags and segments, as ItemEffect reads them, read once.
        if (!reach) reach.emplace(envs, flags_now, segments_now);
        touched.merge(reach->Effect(c.key, Ptr(befores[i]), Ptr(after)));
      } else {
        EV_ASSIGN_OR_RETURN(std::set<std::string> t,
                            ItemEffect(l.store, c.kind, c.key, Ptr(befores[i]), Ptr(after), envs));
        touched.insert(t.begin(), t.end());
      }
      afters.push_back(std::move(after));
    }
    // A new environment gets its first resolved document; creating it administers it.
    for (const Environment& e : created) touched.insert(e.key);
    WriteEffect effect = EffectOf(touched, envs);
    for (const Environment& e : created) effect.environment_settings.insert(e.key);
    for (size_t i = 0; i < set.changes.size(); ++i) {
      const PlannedChange& c = set.changes[i];
      if ((c.kind == ItemKind::kConfig || c.kind == ItemKind::kFlag) && afters[i]) {
        effect.written.push_back({c.kind, c.key, &*afters[i]});
      }
    }
    EV_RETURN_IF_ERROR(authorize(effect));
    if (set.dry_run) {
      EV_RETURN_IF_ERROR(CheckIfMatch(set.if_match, head));
      return head;
    }
    // 4. Secrets: opened and re-sealed here, for the revision each one gets (after the
    // new environments' revisions).
    storage::CommitRequest commit;
    for (const Environment& e : created) {
      commit.mutations.push_back({ItemKind::kEnvironment, e.key, json::serialize(EnvironmentToJson(e)), e.key});
    }
    const int64_t first_change = head + 1 + static_cast<int64_t>(created.size());
    std::shared_ptr<const crypto::Keyring> keyring;
    if (has_secret) {
      if (absl::Status reload = options_.keyring->Reload(); !reload.ok()) {
        EV_LOG(kWarn, "reloading the master keys failed; sealing under the keys loaded before",
               {{"error", reload.ToString()}});
      }
      keyring = options_.keyring->Get();
    }
    for (size_t i = 0; i < set.changes.size(); ++i) {
      const PlannedChange& c = set.changes[i];
      if (c.delete_item) {
        commit.mutations.push_back({c.kind, c.key, std::nullopt, ""});
        continue;
      }
      if (c.kind != ItemKind::kSecret) {
        commit.mutations.push_back({c.kind, c.key, *c.body, c.environment});
        continue;
      }
      if (previous[i]) {
        // On top of the earlier change of this secret as sealed just now.
        json::value values = (*afters[*previous[i]])["values"];
        if (c.secret_remove) {
          values.as_object().erase(c.environment);
        } else {
          values.as_object()[c.environment] = (*afters[i])["values"].as_object()[c.environment];
        }
        (*afters[i])["values"] = std::move(values);
      }
      if (c.secret_remove) {
        commit.mutations.push_back({c.kind, c.key, json::serialize(*afters[i]), c.environment});
        continue;
      }
      crypto::SecureBuffer plain;
      if (!c.secret_proposal.empty()) {
        // A value proposed by the request, sealed when it was created.
        auto p = set.proposals.find(c.secret_proposal);
        if (p == set.proposals.end()) {
          return absl::DataLossError(base::ToAbsl("secret \"" + c.key + "\": the change request's sealed value is missing"));
        }
        crypto::EnvelopeContext proposal_ctx{ws.id, c.key, "proposal:" + c.secret_proposal + ":" + c.environment, 0};
        if (set.proposal_data_keys.empty()) {
          EV_ASSIGN_OR_RETURN(plain, OpenSecret(l.store, proposal_ctx, p->second));
        } else {
          // A batch: the proposal's data key was never stored; it is in the call.
          EV_ASSIGN_OR_RETURN(std::string id, crypto::EnvelopeDataKeyId(p->second));
          auto row = std::find_if(set.proposal_data_keys.begin(), set.proposal_data_keys.end(),
                                  [&](const storage::DataKeyRow& r) { return r.id == base::HexEncode(id); });
          if (row == set.proposal_data_keys.end()) {
            return absl::DataLossError(base::ToAbsl("secret \"" + c.key + "\": the batch's data key is missing"));
          }
          EV_ASSIGN_OR_RETURN(plain, crypto::Open(*keyring, proposal_ctx, p->second,
                                                  crypto::DataKey{std::move(id), row->master_key_id, row->wrapped}));
        }
      } else {
        // The sealed value to copy: in the item as it is (a promotion), or in the item as
        // it was before revision `secret_from_revision` (a revert).
        std::optional<json::object> from_body = befores[i];
        if (c.secret_from_revision > 0) {
          EV_ASSIGN_OR_RETURN(storage::Revision rev, l.store.GetRevision(c.secret_from_revision));
          if (rev.kind != ItemKind::kSecret || rev.key != c.key) {
            return absl::DataLossError(base::ToAbsl("revision " + std::to_string(rev.seq) + " is not of secret \"" + c.key + "\""));
          }
          json::value b = ParseOrNull(rev.before);
          from_body = b.is_object() ? std::optional<json::object>(std::move(b.as_object())) : std::nullopt;
        }
        const json::value* values = from_body ? from_body->if_contains("values") : nullptr;
        const json::value* source = values != nullptr && values->is_object() ? values->as_object().if_contains(c.secret_from) : nullptr;
        const json::value* envelope_b64 = source != nullptr && source->is_object() ? source->as_object().if_contains("envelope") : nullptr;
        const json::value* version = source != nullptr && source->is_object() ? source->as_object().if_contains("version") : nullptr;
        if (envelope_b64 == nullptr || !envelope_b64->is_string() || version == nullptr || !version->is_int64() ||
            version->get_int64() != c.secret_version) {
          return absl::DataLossError(base::ToAbsl("secret \"" + c.key + "\": the value in \"" + c.secret_from +
                                                  "\" is not the one the change request refers to"));
        }
        EV_ASSIGN_OR_RETURN(std::string envelope, base::Base64Decode(std::string(envelope_b64->get_string())));
        crypto::EnvelopeContext source_ctx{ws.id, c.key, c.secret_from, c.secret_version};
        EV_ASSIGN_OR_RETURN(plain, OpenSecret(l.store, source_ctx, envelope));
      }
      // Sealed for the revision this mutation gets (head + 1 + its index in the commit).
      crypto::EnvelopeContext target_ctx{ws.id, c.key, c.environment, first_change + static_cast<int64_t>(i)};
      EV_ASSIGN_OR_RETURN(crypto::SealedValue sealed, crypto::Seal(*keyring, target_ctx, plain.view(), options_.env));
      int64_t revision = target_ctx.version;
      (*afters[i])["values"].as_object()[c.environment] =
          json::object{{"version", revision}, {"envelope", base::Base64Encode(sealed.envelope)}};
      commit.mutations.push_back({c.kind, c.key, json::serialize(*afters[i]), c.environment});
      commit.data_keys.push_back(ToRow(sealed.data_key));
    }
    // 5. One commit: the items, their outbox rows and the request's new state.
    commit.reason = set.reason;
    if (set.op == "batch") {
      commit.op = "batch";
      commit.expected_head = set.if_match;
      json::array items, environments;
      for (const PlannedChange& c : set.changes) items.emplace_back(ItemTarget(c.kind, c.key));
      json::object details{{"items", std::move(items)}};
      for (const Environment& e : created) environments.emplace_back(e.key);
      if (!created.empty()) details["environments_created"] = std::move(environments);
      return CommitAndPublish(actor, ws, l, std::move(commit), "workspace.batch", std::move(details), touched,
                              "batch", {});
    }
    commit.op = "change_request";
    commit.change_request = std::move(set.change_request);
    json::array items;
    for (const PlannedChange& c : set.changes) items.emplace_back(ItemTarget(c.kind, c.key));
    json::object applied = ChangeRequestEventData(commit.change_request->row, set.change_request_id);
    applied["state"] = "applied";
    applied["first_revision"] = head + 1;
    applied["last_revision"] = head + static_cast<int64_t>(commit.mutations.size());
    applied["items"] = items;
    std::vector<WebhookEvent> events{{"change_request.applied", applied}};
    if (applied.contains("promotion")) events.push_back({"promotion.applied", std::move(applied)});
    return CommitAndPublish(actor, ws, l, std::move(commit), "workspace.change_request.apply",
                            {{"change_request", set.change_request_id}, {"items", std::move(items)}}, touched,
                            "change_request:" + std::to_string(set.change_request_id), std::move(events));
  });
}

absl::StatusOr<storage::ChangeRequest> Service::WriteChangeRequest(const Actor& actor, const storage::Workspace& ws,
                                                                   storage::ChangeRequestWrite w,
                                                                   std::string_view action, json::object details,
                                                                   std::string_view environments) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, OpenLive(ws.id));
  absl::Time now = options_.env->Now();
  w.row.updated_at = now;
  if (w.row.id == 0) w.row.created_at = now;
  if (w.review) w.review->time = now;
  if (w.comment) w.comment->time = now;
  // The id of a new request is known only inside the store's transaction: it is the next
  // one, because creates of one workspace are serialised here.
  std::shared_ptr<Slot> slot = SlotFor(ws.id);
  std::lock_guard<std::mutex> lock(slot->write_mu);
  int64_t id = w.row.id;
  if (id == 0) {
    EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequest> newest, store->ListChangeRequests(0, 1));
    id = newest.empty() ? 1 : newest.front().id + 1;
  }
  details["change_request"] = id;
  w.outbox.push_back(AuditRow(options_.env, actor, ws, action, now, std::move(details), environments,
                              "change_request:" + std::to_string(id)));
  // Its webhook event (opened, approved, failed), in the same transaction.
  bool webhook_event = false;
  if (std::optional<WebhookEvent> event = ChangeRequestWebhookEvent(action, w.row, id)) {
    EV_ASSIGN_OR_RETURN(std::optional<storage::OutboxRow> row,
                        WebhookOutboxRow(*store, options_.env, ws, actor.id, *event, now));
    if (row) {
      w.outbox.push_back(*std::move(row));
      webhook_event = true;
    }
  }
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest row, store->WriteChangeRequest(w));
  MarkAuditPending(ws.id);
  if (webhook_event) WebhookEventsCommitted(ws.id);
  return row;
}

// ---------------------------------------------------------------- read model & propagation

absl::StatusOr<std::string> Service::Resolve(const storage::Workspace& ws, std::string_view env,
                                             Audience audience) {
  return WithWriteLock(ws.id, [&](Locked& l) -> absl::StatusOr<std::string> {
    // Under the write lock, so the snapshot is one consistent head.
    EV_ASSIGN_OR_RETURN(WorkspaceSnapshot snap, Snapshot(l.store, ws));
    if (!snap.envs.Contains(env)) {
      return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
    }
    return ResolveEnvironment(snap, env, nullptr, audience);
  });
}

absl::Status Service::PublishSdkKey(std::string_view key_hash, const storage::Workspace& ws,
                                    std::string_view env, storage::SdkKeyKind kind,
                                    const std::vector<std::string>& origins) {
  EV_RETURN_IF_ERROR(CheckLive(ws.id));
  json::object o{{"org_id", ws.org_id}, {"workspace_id", ws.id}, {"environment", env}};
  // A server key's binding keeps its original three members (older delivery nodes read it).
  if (kind == storage::SdkKeyKind::kClient) {
    o["kind"] = "client";
    o["origins"] = json::array(origins.begin(), origins.end());
    // The environment's client document, now: a KV last propagated by a version without
    // client documents has none until the workspace's next write, and the new key would
    // answer 404 until then. Same bytes and version as propagation's (the version rule
    // makes a race with it harmless).
    EV_RETURN_IF_ERROR(WithWriteLock(ws.id, [&](Locked& l) -> absl::Status {
      EV_ASSIGN_OR_RETURN(WorkspaceSnapshot snap, Snapshot(l.store, ws));
      EV_ASSIGN_OR_RETURN(std::string doc, ResolveEnvironment(snap, env, nullptr, Audience::kClient));
      return options_.kv->PutIfNewer(storage::EdgeKvClientDocumentKey(ws.id, env), doc, snap.version).status();
    }));
  }
  // Version 1: an SDK key's target never changes; revocation deletes it.
  return options_.kv->PutIfNewer(storage::EdgeKvSdkKey(key_hash), json::serialize(o), 1).status();
}

absl::Status Service::UnpublishSdkKey(std::string_view key_hash) {
  absl::Status st = options_.kv->DeleteIfNotNewer(storage::EdgeKvSdkKey(key_hash), 1).status();
  return absl::IsNotFound(st) ? absl::OkStatus() : st;
}

absl::Status Service::PropagateNow(const std::string& workspace_id) { return Propagate(workspace_id, false); }

absl::Status Service::Propagate(const std::string& workspace_id, bool all) {
  // A deleted workspace's jobs wait, pending, for a restore (which writes everything) or
  // the purge (which destroys them with the store).
  if (absl::Status live = CheckLive(workspace_id); absl::IsNotFound(live)) return absl::OkStatus();
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, options_.stores->Open(workspace_id));
  constexpr int kBatch = 1000;
  EV_ASSIGN_OR_RETURN(std::vector<storage::OutboxRow> rows, store->PendingOutboxOfKind("propagate", kBatch));
  if (rows.empty() && !all) return absl::OkStatus();
  // Coalesce: one resolution of every environment at the current head serves every
  // pending job (each names a subset; resolving all is simpler and always correct).
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, options_.directory->GetWorkspaceById(workspace_id));
  WorkspaceSnapshot snap;
  {
    std::shared_ptr<Slot> slot = SlotFor(workspace_id);
    std::lock_guard<std::mutex> lock(slot->write_mu);
    EV_ASSIGN_OR_RETURN(snap, Snapshot(*store, ws));
  }
  // Every environment from one parse of the items, into the KV in one batch (LMDB: one
  // transaction, one fsync, instead of one per environment). An item that cannot be
  // resolved is left out and reported; it never holds up the rest of the workspace.
  std::vector<ResolveProblem> problems;
  // The client documents go in the same batch: a client key's binding never reads a full
  // document, so nothing server-only is ever stored where client keys look.
  std::vector<std::pair<std::string, std::string>> client_docs;
  std::vector<std::pair<std::string, std::string>> docs = ResolveAllEnvironments(snap, &problems, &client_docs);
  for (const ResolveProblem& p : problems) {
    EV_LOG(kError, "an item was left out of the resolved documents",
           {{"workspace", workspace_id}, {"kind", std::string(storage::ItemKindName(p.kind))},
            {"key", p.key}, {"problem", p.message}});
    if (options_.on_problem) options_.on_problem(workspace_id, p);
  }
  std::vector<std::string> keys;
  keys.reserve(docs.size() + client_docs.size());
  for (const auto& [env, doc] : docs) keys.push_back(storage::EdgeKvDocumentKey(workspace_id, env));
  for (const auto& [env, doc] : client_docs) keys.push_back(storage::EdgeKvClientDocumentKey(workspace_id, env));
  std::vector<storage::KvWrite> writes;
  writes.reserve(keys.size());
  for (size_t i = 0; i < docs.size(); ++i) writes.push_back({keys[i], docs[i].second, snap.version});
  for (size_t i = 0; i < client_docs.size(); ++i) {
    writes.push_back({keys[docs.size() + i], client_docs[i].second, snap.version});
  }
  EV_RETURN_IF_ERROR(options_.kv->PutManyIfNewer(writes).status());
  // A delete that ran while this resolved: what was just written must not stay served.
  if (absl::IsNotFound(CheckLive(workspace_id))) {
    return RemoveFromEdgeKv(workspace_id, {});
  }
  // Deleted environments (DeleteEnvironment): their documents leave the KV, unless the
  // environment exists again (created anew since; its document was just written).
  for (const auto& row : rows) {
    json::value payload = ParseOrNull(row.payload);
    const json::value* removed = payload.is_object() ? payload.get_object().if_contains("removed") : nullptr;
    if (removed == nullptr || !removed->is_array()) continue;
    for (const json::value& env : removed->get_array()) {
      if (!env.is_string() || snap.envs.Contains(env.get_string())) continue;
      // The full document and the client document (what client keys read) alike.
      for (const std::string& key : {storage::EdgeKvDocumentKey(workspace_id, std::string(env.get_string())),
                                     storage::EdgeKvClientDocumentKey(workspace_id, std::string(env.get_string()))}) {
        absl::Status st = options_.kv->DeleteIfNotNewer(key, snap.version).status();
        if (!st.ok() && !absl::IsNotFound(st)) return st;
      }
    }
  }
  if (options_.on_published) options_.on_published();
  std::vector<int64_t> done;
  done.reserve(rows.size());
  for (const auto& r : rows) done.push_back(r.id);
  EV_RETURN_IF_ERROR(store->MarkOutboxDoneMany(done));  // one commit for the batch
  if (rows.size() == static_cast<size_t>(kBatch)) Enqueue(workspace_id);  // more behind these
  return absl::OkStatus();
}

void Service::MarkAuditPending(const std::string& workspace_id) {
  std::lock_guard<std::mutex> lock(audit_mu_);
  audit_pending_.insert(workspace_id);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Service::PeekAuditOutbox(int limit) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(audit_mu_);
    ids.assign(audit_pending_.begin(), audit_pending_.end());
  }
  for (const std::string& id : ids) {
    if (static_cast<int>(out.size()) >= limit) break;
    // Taken out before looking: a commit after this puts it back (MarkAuditPending runs
    // after every commit), so a row is never left unseen.
    {
      std::lock_guard<std::mutex> lock(audit_mu_);
      audit_pending_.erase(id);
    }
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = options_.stores->Open(id);
    if (absl::IsNotFound(store.status())) continue;
    if (!store.ok()) {
      MarkAuditPending(id);
      return store.status();
    }
    absl::StatusOr<std::vector<storage::OutboxRow>> rows =
        (*store)->PendingOutboxOfKind("audit", limit - static_cast<int>(out.size()));
    if (!rows.ok()) {
      MarkAuditPending(id);
      return rows.status();
    }
    // Rows stay until RemoveAuditOutbox acknowledges them: look again next time.
    if (!rows->empty()) MarkAuditPending(id);
    for (auto& r : *rows) out.emplace_back(id + "/" + std::to_string(r.id), std::move(r.payload));
  }
  return out;
}

absl::Status Service::RemoveAuditOutbox(const std::vector<std::string>& ids) {
  // "<workspace id>/<row id>", grouped so each workspace marks its rows in one commit.
  std::map<std::string, std::vector<int64_t>> by_workspace;
  for (const std::string& id : ids) {
    size_t slash = id.find('/');
    int64_t row = 0;
    const char* end = id.data() + id.size();
    if (slash == std::string::npos ||
        std::from_chars(id.data() + slash + 1, end, row).ptr != end || slash + 1 == id.size()) {
      return absl::InvalidArgumentError(base::ToAbsl("bad audit outbox id \"" + id + "\""));
    }
    by_workspace[id.substr(0, slash)].push_back(row);
  }
  for (const auto& [workspace_id, rows] : by_workspace) {
    EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, options_.stores->Open(workspace_id));
    EV_RETURN_IF_ERROR(store->MarkOutboxDoneMany(rows));
  }
  return absl::OkStatus();
}

void Service::Enqueue(const std::string& workspace_id) {
  std::lock_guard<std::mutex> lock(prop_mu_);
  if (!prop_pending_.insert(workspace_id).second) return;
  prop_queue_.push_back(workspace_id);
  if (prop_task_ != nullptr) prop_task_->Wake();
}

base::NextRun Service::PropagateNextDue() {
  std::string id;
  std::vector<std::string> rechecks;
  std::optional<base::NextRun> idle;
  {
    std::lock_guard<std::mutex> lock(prop_mu_);
    absl::Duration now = options_.env->MonotonicNow();
    std::optional<absl::Duration> next_due;
    // Workspaces another node committed to a while ago: their outbox is looked at here
    // too, in case that node died before it propagated or relayed.
    for (auto it = recheck_due_.begin(); it != recheck_due_.end();) {
      if (it->second > now) {
        if (!next_due || it->second < *next_due) next_due = it->second;
        ++it;
        continue;
      }
      rechecks.push_back(it->first);
      if (prop_pending_.insert(it->first).second) prop_queue_.push_back(it->first);
      it = recheck_due_.erase(it);
    }
    // The next workspace that is due: queued ones in order, skipping those backing off.
    auto due = prop_queue_.end();
    for (auto it = prop_queue_.begin(); it != prop_queue_.end(); ++it) {
      auto b = prop_backoff_.find(*it);
      if (b == prop_backoff_.end() || b->second.due <= now) {
        due = it;
        break;
      }
      if (!next_due || b->second.due < *next_due) next_due = b->second.due;
    }
    if (due == prop_queue_.end()) {
      idle = next_due ? base::NextRun::After(*next_due - now) : base::NextRun::Interval();
    } else {
      id = *due;
      prop_queue_.erase(due);
      prop_pending_.erase(id);
    }
  }
  for (const std::string& r : rechecks) MarkAuditPending(r);
  if (idle) return *idle;
  absl::Status st = PropagateNow(id);
  std::lock_guard<std::mutex> lock(prop_mu_);
  if (st.ok()) {
    prop_backoff_.erase(id);
    return base::NextRun::Immediately();
  }
  // This workspace alone waits; the others go on.
  Backoff& b = prop_backoff_[id];
  absl::Duration delay = options_.propagation_retry;
  for (int i = 0; i < b.failures && delay < options_.propagation_retry_max; ++i) delay *= 2;
  delay = std::min(delay, options_.propagation_retry_max);
  ++b.failures;
  b.due = options_.env->MonotonicNow() + delay;
  EV_LOG(kError, "propagation failed; retrying this workspace later",
         {{"workspace", id}, {"error", st.ToString()}, {"retry_in_ms", std::to_string(absl::ToInt64Milliseconds(delay))}});
  if (prop_pending_.insert(id).second) prop_queue_.push_back(id);
  return base::NextRun::Immediately();
}

uint64_t Service::Subscribe(std::string workspace_id, Subscriber fn) {
  if (workspace_id.empty()) {  // every workspace, from the next revision committed on this node
    std::lock_guard<std::mutex> lock(sub_mu_);
    const uint64_t id = next_sub_++;
    all_subs_[id] = std::make_shared<const Subscriber>(std::move(fn));
    all_subscribers_.fetch_add(1);
    return id;
  }
  std::shared_ptr<Slot> slot = SlotFor(workspace_id);
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(sub_mu_);
    id = next_sub_++;
    slot->subscribers.fetch_add(1);
    subs_[id] = {slot, std::make_shared<const Subscriber>(std::move(fn))};
  }
  // The revisions up to the head now are history (a subscriber reads what it missed from
  // the store); from here on, whoever commits, the next ones are handed over in order.
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = options_.stores->Open(workspace_id);
  absl::StatusOr<int64_t> head = store.ok() ? (*store)->Head() : store.status();
  if (head.ok()) {
    std::lock_guard<std::mutex> lock(slot->queue_mu);
    slot->queued_through = std::max(slot->queued_through, *head);
  }
  return id;
}

void Service::Unsubscribe(uint64_t id) {
  Subscription gone;  // released after the lock
  std::shared_ptr<const Subscriber> gone_all;
  std::lock_guard<std::mutex> lock(sub_mu_);
  if (auto all = all_subs_.find(id); all != all_subs_.end()) {
    gone_all = std::move(all->second);
    all_subs_.erase(all);
    all_subscribers_.fetch_sub(1);
    return;
  }
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  gone = std::move(it->second);
  subs_.erase(it);
  gone.slot->subscribers.fetch_sub(1);
}

}  // namespace edgevault::workspace
