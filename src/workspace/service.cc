#include "src/workspace/service.h"

#include <charconv>
#include <filesystem>

#include "src/audit/event.h"
#include "src/base/encoding.h"
#include "src/base/log.h"
#include "src/crypto/envelope.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/sqlite/workspace_store_sqlite.h"
#include "src/workspace/model.h"
#include "src/workspace/resolver.h"

namespace edgevault::workspace {

namespace json = boost::json;
using storage::ItemKind;

struct Service::Open {
  std::string id;
  std::unique_ptr<storage::WorkspaceStore> store;
  std::mutex write_mu;  // the actor: one writer per workspace at a time
};

namespace {

// The audit event (docs/design/audit-event.md) describing an api action, as an outbox
// row written in the same transaction as the action.
storage::OutboxRow AuditRow(base::Env* env, const Actor& actor, const storage::Workspace& ws,
                            std::string_view action, absl::Time time, json::object details) {
  json::object audit;
  audit["v"] = 1;
  audit["id"] = audit::NewEventId(env);
  audit["time"] = audit::FormatEventTime(time);
  audit["service"] = "api";
  audit["action"] = action;
  audit["outcome"] = "success";
  audit["actor"] = {{"id", actor.id}, {"address", actor.address}};
  audit["org"] = ws.org_id;
  audit["workspace"] = ws.id;
  audit["request_id"] = actor.request_id;
  audit["details"] = std::move(details);
  return {0, "audit", json::serialize(audit), time, 0};
}

json::value ParseOrNull(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

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
  absl::Status st = absl::PermissionDeniedError(base::ToAbsl(message));
  st.SetPayload("edgevault.dev/error-code", absl::Cord("entitlement_exceeded"));
  return st;
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

}  // namespace

Service::Service(ServiceOptions options) : options_(std::move(options)) {}

Service::~Service() {
  {
    std::lock_guard<std::mutex> lock(prop_mu_);
    stop_ = true;
  }
  prop_cv_.notify_all();
  if (prop_thread_.joinable()) prop_thread_.join();
}

absl::StatusOr<std::unique_ptr<Service>> Service::Create(ServiceOptions options) {
  if (options.control == nullptr || options.kv == nullptr || options.env == nullptr) {
    return absl::InvalidArgumentError("workspace::ServiceOptions needs control, kv and env");
  }
  EV_RETURN_IF_ERROR(options.env->CreateDirs(options.workspaces_dir, 0700));
  return std::unique_ptr<Service>(new Service(std::move(options)));
}

absl::Status Service::Start() {
  // Every workspace of every org: finish what a crash left in the outbox.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.workspaces_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() < 4 || name.substr(name.size() - 3) != ".db") continue;
    std::string id = name.substr(0, name.size() - 3);
    absl::Status st = PropagateNow(id);
    if (!st.ok()) {
      EV_LOG(kError, "finishing propagation after restart failed",
             {{"workspace", id}, {"error", st.ToString()}});
    }
  }
  prop_thread_ = std::thread([this] { PropagationLoop(); });
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Service::Open>> Service::OpenWorkspace(const std::string& id) {
  std::lock_guard<std::mutex> lock(open_mu_);
  auto it = open_.find(id);
  if (it != open_.end()) return it->second;
  storage::SqliteWorkspaceStoreOptions o;
  o.path = options_.workspaces_dir + "/" + id + ".db";
  o.env = options_.env;
  o.workspace_id = id;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::WorkspaceStore> store,
                      storage::OpenSqliteWorkspaceStore(o));
  auto open = std::make_shared<Open>();
  open->id = id;
  open->store = std::move(store);
  open_[id] = open;
  return open;
}

// ---------------------------------------------------------------- workspaces

absl::StatusOr<storage::Workspace> Service::CreateWorkspace(const Actor& actor, std::string_view key,
                                                            std::string_view name) {
  EV_RETURN_IF_ERROR(CheckKey("workspace key", key));
  if (name.empty() || name.size() > 200) {
    return absl::InvalidArgumentError("field 'name': must be 1 to 200 bytes");
  }
  EV_ASSIGN_OR_RETURN(storage::Org org, options_.control->GetOrg(actor.org_id));
  EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> existing,
                      options_.control->ListWorkspaces(actor.org_id));
  if (static_cast<int64_t>(existing.size()) >= org.entitlements.max_workspaces) {
    return EntitlementExceeded("the org's plan allows " +
                               std::to_string(org.entitlements.max_workspaces) +
                               " workspaces; delete one or raise the entitlement");
  }
  storage::Workspace ws;
  ws.id = "ws_" + options_.env->RandomHex(10);
  ws.org_id = actor.org_id;
  ws.key = std::string(key);
  ws.name = std::string(name);
  ws.created_at = options_.env->Now();
  // The file first, then the control row: a crash in between leaves an orphan file
  // (harmless, never listed), never a listed workspace without its file.
  EV_RETURN_IF_ERROR(OpenWorkspace(ws.id).status());
  absl::Status st = options_.control->CreateWorkspace(ws);
  if (absl::IsAlreadyExists(st)) {
    return absl::AlreadyExistsError(base::ToAbsl("workspace \"" + ws.key + "\" already exists"));
  }
  EV_RETURN_IF_ERROR(st);
  return ws;
}

absl::StatusOr<std::vector<storage::Workspace>> Service::ListWorkspaces(std::string_view org_id) {
  return options_.control->ListWorkspaces(org_id);
}

absl::StatusOr<storage::Workspace> Service::GetWorkspace(std::string_view org_id,
                                                         std::string_view key) {
  absl::StatusOr<storage::Workspace> ws = options_.control->GetWorkspaceByKey(org_id, key);
  if (absl::IsNotFound(ws.status())) {
    return absl::NotFoundError(base::ToAbsl("no workspace \"" + std::string(key) + "\""));
  }
  return ws;
}

// ---------------------------------------------------------------- commit path

absl::StatusOr<int64_t> Service::CommitAndPublish(const Actor& actor, const storage::Workspace& ws,
                                                  Open& open, storage::CommitRequest request,
                                                  std::string_view audit_action,
                                                  json::object audit_details) {
  request.actor = actor.id;
  request.time = options_.env->Now();
  // Propagation job and audit event, in the same transaction as the change.
  json::array envs;
  for (const auto& m : request.mutations) envs.emplace_back(m.environment);
  request.outbox.push_back({0, "propagate", json::serialize(json::object{{"environments", envs}}),
                            request.time, 0});
  audit_details["reason"] = request.reason;
  request.outbox.push_back(
      AuditRow(options_.env, actor, ws, audit_action, request.time, std::move(audit_details)));

  EV_ASSIGN_OR_RETURN(storage::CommitResult result, open.store->Commit(request));
  // Broadcast, then hand propagation to the background thread.
  EV_ASSIGN_OR_RETURN(std::vector<storage::Revision> revs,
                      open.store->ListRevisions(result.first_revision - 1,
                                                static_cast<int>(std::min<int64_t>(
                                                    1000, result.last_revision - result.first_revision + 1))));
  {
    std::lock_guard<std::mutex> lock(sub_mu_);
    for (const auto& rev : revs) {
      for (const auto& [id, sub] : subs_) {
        if (sub.first == ws.id) sub.second(RevisionEvent{ws.id, rev});
      }
    }
  }
  Enqueue(ws.id);
  return result.last_revision;
}

absl::StatusOr<int64_t> Service::CreateEnvironment(const Actor& actor, const storage::Workspace& ws,
                                                   const json::object& body, std::string_view reason,
                                                   std::optional<int64_t> if_match) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  std::lock_guard<std::mutex> lock(open->write_mu);
  EV_ASSIGN_OR_RETURN(std::vector<storage::Item> env_items, open->store->ListItems(ItemKind::kEnvironment));
  EV_ASSIGN_OR_RETURN(storage::Org org, options_.control->GetOrg(ws.org_id));
  if (static_cast<int64_t>(env_items.size()) >= org.entitlements.max_environments) {
    return EntitlementExceeded("the org's plan allows " + std::to_string(org.entitlements.max_environments) +
                               " environments per workspace");
  }
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, EnvironmentSet::FromItems(env_items));
  EV_ASSIGN_OR_RETURN(Environment created, envs.ValidateNewEnvironment(body));
  json::object normalized = EnvironmentToJson(created);
  std::string key = created.key;
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = "create";
  c.expected_head = if_match;
  c.mutations.push_back({ItemKind::kEnvironment, key, json::serialize(normalized), key});
  return CommitAndPublish(actor, ws, *open, std::move(c), "workspace.environment.create",
                          {{"environment", key}});
}

absl::StatusOr<std::vector<storage::Item>> Service::ListEnvironments(const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  return open->store->ListItems(ItemKind::kEnvironment);
}

absl::StatusOr<bool> Service::IsProtected(const storage::Workspace& ws, std::string_view env) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  absl::StatusOr<storage::Item> item = open->store->GetItem(ItemKind::kEnvironment, env);
  if (absl::IsNotFound(item.status())) {
    return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
  }
  EV_RETURN_IF_ERROR(item.status());
  json::value v = ParseOrNull(item->body);
  return v.is_object() && v.as_object().contains("protected") && v.at("protected").is_bool() &&
         v.at("protected").as_bool();
}

// ---------------------------------------------------------------- items

namespace {

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

 private:
  storage::WorkspaceStore& store_;
};

}  // namespace

absl::Status Service::CheckRoomForNewItem(storage::WorkspaceStore& store, const std::string& org_id) {
  EV_ASSIGN_OR_RETURN(storage::Org org, options_.control->GetOrg(org_id));
  int64_t total = 0;
  for (ItemKind k : {ItemKind::kConfig, ItemKind::kFlag, ItemKind::kSegment, ItemKind::kSecret}) {
    EV_ASSIGN_OR_RETURN(int64_t n, store.CountItems(k));
    total += n;
  }
  if (total < org.entitlements.max_items) return absl::OkStatus();
  return EntitlementExceeded("the org's plan allows " + std::to_string(org.entitlements.max_items) +
                             " items per workspace");
}

absl::StatusOr<int64_t> Service::PutItem(const Actor& actor, const storage::Workspace& ws,
                                         ItemKind kind, std::string_view key,
                                         const json::object& request, std::string_view reason,
                                         std::optional<int64_t> if_match) {
  EV_RETURN_IF_ERROR(CheckKey(storage::ItemKindName(kind), key));
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  std::lock_guard<std::mutex> lock(open->write_mu);
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*open->store));
  json::object body;
  switch (kind) {
    case ItemKind::kConfig: {
      EV_ASSIGN_OR_RETURN(body, ValidateConfigBody(key, request, envs));
      break;
    }
    case ItemKind::kFlag: {
      StoreFlagLookup flags(*open->store);
      EV_ASSIGN_OR_RETURN(body, ValidateFlagWrite(key, request, envs, flags));
      break;
    }
    case ItemKind::kSegment: {
      EV_ASSIGN_OR_RETURN(json::object all, ItemsAfter(*open->store, kind, key, &request));
      EV_ASSIGN_OR_RETURN(body, ValidateSegmentBody(key, request, all));
      break;
    }
    default:
      return absl::InvalidArgumentError("this item kind is not written through PutItem");
  }
  absl::StatusOr<storage::Item> existing = open->store->GetItem(kind, key);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (!existing.ok()) {
    EV_RETURN_IF_ERROR(CheckRoomForNewItem(*open->store, ws.org_id));
  }
  std::string serialized = json::serialize(body);
  if (existing.ok() && existing->body == serialized) {
    // Nothing changes: no revision, the head stays (idempotent PUT).
    EV_ASSIGN_OR_RETURN(int64_t head, open->store->Head());
    EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
    return head;
  }
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = existing.ok() ? "update" : "create";
  c.expected_head = if_match;
  c.mutations.push_back({kind, std::string(key), serialized, ""});
  return CommitAndPublish(actor, ws, *open, std::move(c),
                          "workspace." + std::string(storage::ItemKindName(kind)) + "." + c.op,
                          {{"kind", storage::ItemKindName(kind)}, {"key", key}});
}

absl::StatusOr<int64_t> Service::DeleteItem(const Actor& actor, const storage::Workspace& ws,
                                            ItemKind kind, std::string_view key,
                                            std::string_view reason, std::optional<int64_t> if_match) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  std::lock_guard<std::mutex> lock(open->write_mu);
  absl::StatusOr<storage::Item> existing = open->store->GetItem(kind, key);
  if (absl::IsNotFound(existing.status())) {
    return absl::NotFoundError(base::ToAbsl("no " + std::string(storage::ItemKindName(kind)) + " \"" +
                                            std::string(key) + "\""));
  }
  EV_RETURN_IF_ERROR(existing.status());
  if (kind == ItemKind::kFlag) {
    // Other flags may name this one as a prerequisite. (A deleted segment simply matches
    // nobody, which is the documented meaning of an unknown segment.)
    EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*open->store));
    StoreFlagLookup flags(*open->store);
    absl::Status st = ValidateFlagDelete(key, envs, flags);
    if (!st.ok() && !absl::IsInvalidArgument(st)) return st;  // the store's error
    if (!st.ok()) {
      return absl::FailedPreconditionError(base::ToAbsl(
          "deleting flag \"" + std::string(key) + "\" would break others: " + std::string(st.message())));
    }
  }
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = "delete";
  c.expected_head = if_match;
  c.mutations.push_back({kind, std::string(key), std::nullopt, ""});
  return CommitAndPublish(actor, ws, *open, std::move(c),
                          "workspace." + std::string(storage::ItemKindName(kind)) + ".delete",
                          {{"kind", storage::ItemKindName(kind)}, {"key", key}});
}

absl::StatusOr<storage::Item> Service::GetItem(const storage::Workspace& ws, ItemKind kind,
                                               std::string_view key) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  absl::StatusOr<storage::Item> item = open->store->GetItem(kind, key);
  if (absl::IsNotFound(item.status())) {
    return absl::NotFoundError(base::ToAbsl("no " + std::string(storage::ItemKindName(kind)) + " \"" +
                                            std::string(key) + "\""));
  }
  return item;
}

absl::StatusOr<std::vector<storage::Item>> Service::ListItems(const storage::Workspace& ws,
                                                              ItemKind kind) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  return open->store->ListItems(kind);
}

absl::StatusOr<std::set<std::string>> Service::EnvironmentsTouched(const storage::Workspace& ws,
                                                                   ItemKind kind, std::string_view key,
                                                                   const json::object* request) {
  std::set<std::string> out;
  auto collect = [&](const json::value& body) {
    if (!body.is_object()) return;
    for (const char* member : {"values", "environments"}) {
      auto it = body.as_object().find(member);
      if (it != body.as_object().end() && it->value().is_object()) {
        for (const auto& kv : it->value().as_object()) out.insert(std::string(kv.key()));
      }
    }
  };
  if (request) collect(*request);
  absl::StatusOr<storage::Item> existing = GetItem(ws, kind, key);
  if (existing.ok()) {
    json::value before = ParseOrNull(existing->body);
    json::value after = request ? json::value(*request) : json::value(nullptr);
    // An environment is touched when its part differs between before and after.
    std::set<std::string> before_envs;
    std::set<std::string> all;
    for (const char* member : {"values", "environments"}) {
      const json::object* b = nullptr;
      const json::object* a = nullptr;
      if (before.is_object() && before.as_object().contains(member) && before.at(member).is_object())
        b = &before.at(member).as_object();
      if (after.is_object() && after.as_object().contains(member) && after.at(member).is_object())
        a = &after.at(member).as_object();
      if (b) for (const auto& kv : *b) all.insert(std::string(kv.key()));
      if (a) for (const auto& kv : *a) all.insert(std::string(kv.key()));
      for (const auto& e : all) {
        const json::value* bv = b ? b->if_contains(e) : nullptr;
        const json::value* av = a ? a->if_contains(e) : nullptr;
        if ((bv == nullptr) != (av == nullptr) || (bv && av && *bv != *av)) out.insert(e);
      }
      all.clear();
    }
    if (!request) collect(before);  // a delete touches every environment it had
  }
  return out;
}

// ---------------------------------------------------------------- secrets

json::value Service::SecretMetadata(const json::value& body) {
  if (!body.is_object()) return body;
  json::object out;
  json::object values;
  if (const json::value* v = body.as_object().if_contains("values"); v && v->is_object()) {
    for (const auto& kv : v->as_object()) {
      json::object meta;
      if (kv.value().is_object() && kv.value().as_object().contains("version")) {
        meta["version"] = kv.value().at("version");
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
                                           std::string_view reason, std::optional<int64_t> if_match) {
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
  const json::value* values = request.if_contains("values");
  if (values == nullptr || !values->is_object() || values->as_object().empty()) {
    return absl::InvalidArgumentError("field 'values': must map environments to secret strings");
  }
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  std::lock_guard<std::mutex> lock(open->write_mu);
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*open->store));
  EV_ASSIGN_OR_RETURN(int64_t head, open->store->Head());
  EV_RETURN_IF_ERROR(CheckIfMatch(if_match, head));
  absl::StatusOr<storage::Item> existing = open->store->GetItem(ItemKind::kSecret, key);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (!existing.ok()) {
    EV_RETURN_IF_ERROR(CheckRoomForNewItem(*open->store, ws.org_id));
  }
  // A rotation may have made another key active since the last write.
  if (absl::Status reload = options_.keyring->Reload(); !reload.ok()) {
    EV_LOG(kWarn, "reloading the master keys failed; sealing under the keys loaded before",
           {{"error", reload.ToString()}});
  }
  std::shared_ptr<const crypto::Keyring> keyring = options_.keyring->Get();
  // Sealed for the revision this commit will get (writes are serialised: head + 1).
  int64_t version = head + 1;
  json::object sealed;
  std::vector<storage::DataKeyRow> data_keys;
  for (const auto& kv : values->as_object()) {
    std::string env(kv.key());
    if (!envs.Contains(env)) {
      return absl::InvalidArgumentError(base::ToAbsl("values." + env + ": unknown environment \"" + env + "\""));
    }
    if (!kv.value().is_string()) {
      return absl::InvalidArgumentError(base::ToAbsl("values." + env + ": a secret value must be a string"));
    }
    const json::string& plain = kv.value().as_string();
    if (plain.size() > options_.max_value_bytes) {
      return absl::InvalidArgumentError(base::ToAbsl("values." + env + ": larger than " +
                                                     std::to_string(options_.max_value_bytes) + " bytes"));
    }
    crypto::EnvelopeContext ctx{ws.id, std::string(key), env, version};
    EV_ASSIGN_OR_RETURN(crypto::SealedValue value,
                        crypto::Seal(*keyring, ctx, std::string_view(plain.data(), plain.size()), options_.env));
    sealed[env] = json::object{{"version", version}, {"envelope", base::Base64Encode(value.envelope)}};
    data_keys.push_back(ToRow(value.data_key));
  }
  json::object body{{"values", std::move(sealed)}};
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = existing.ok() ? "update" : "create";
  c.expected_head = if_match;
  c.mutations.push_back({ItemKind::kSecret, std::string(key), json::serialize(body), ""});
  c.data_keys = std::move(data_keys);
  json::array env_names;
  for (const auto& kv : body.at("values").as_object()) env_names.emplace_back(kv.key());
  return CommitAndPublish(actor, ws, *open, std::move(c), "workspace.secret." + c.op,
                          {{"kind", "secret"}, {"key", key}, {"environments", std::move(env_names)}});
}

absl::StatusOr<std::map<std::string, crypto::SecureBuffer>> Service::ReadSecretValues(
    const Actor& actor, const storage::Workspace& ws, std::string_view env,
    std::optional<std::string> only_key) {
  if (options_.keyring == nullptr) {
    return absl::FailedPreconditionError("secrets are disabled: no master key is loaded");
  }
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*open->store));
  if (!envs.Contains(env)) {
    return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
  }
  std::vector<storage::Item> items;
  if (only_key) {
    absl::StatusOr<storage::Item> one = open->store->GetItem(ItemKind::kSecret, *only_key);
    if (absl::IsNotFound(one.status())) {
      return absl::NotFoundError(base::ToAbsl("no secret \"" + *only_key + "\""));
    }
    EV_RETURN_IF_ERROR(one.status());
    items.push_back(*std::move(one));
  } else {
    EV_ASSIGN_OR_RETURN(items, open->store->ListItems(ItemKind::kSecret));
  }
  // Which envelope serves each secret: the env's own value or the nearest ancestor's.
  std::vector<std::string> chain = envs.AncestorChain(env);
  struct Pick {
    std::string key, from;
    int64_t version;
    std::string envelope;
  };
  std::vector<Pick> picks;
  for (const auto& item : items) {
    json::value body = ParseOrNull(item.body);
    const json::value* values = body.is_object() ? body.as_object().if_contains("values") : nullptr;
    if (values == nullptr || !values->is_object()) continue;
    for (const std::string& e : chain) {
      const json::value* v = values->as_object().if_contains(e);
      if (v == nullptr || !v->is_object()) continue;
      EV_ASSIGN_OR_RETURN(std::string envelope,
                          base::Base64Decode(std::string(v->at("envelope").as_string())));
      picks.push_back({item.key, e, v->at("version").as_int64(), std::move(envelope)});
      break;
    }
  }
  if (only_key && picks.empty()) {
    return absl::NotFoundError(base::ToAbsl("secret \"" + *only_key + "\" has no value in \"" +
                                            std::string(env) + "\" or the environments it inherits from"));
  }
  // Fail closed: record the read (activity + audit, one transaction) before decrypting.
  json::array keys;
  for (const auto& p : picks) keys.emplace_back(p.key);
  EV_RETURN_IF_ERROR(RecordActivity(actor, ws, "workspace.secret.read",
                                    {{"environment", env}, {"keys", std::move(keys)}}));
  std::map<std::string, crypto::SecureBuffer> out;
  for (const auto& p : picks) {
    crypto::EnvelopeContext ctx{ws.id, p.key, p.from, p.version};
    absl::StatusOr<crypto::SecureBuffer> plain = OpenSecret(*open->store, ctx, p.envelope);
    if (!plain.ok()) {
      EV_LOG(kError, "a secret failed to open", {{"workspace", ws.id}, {"key", p.key}, {"environment", p.from},
                                                 {"error", plain.status().ToString()}});
      return absl::InternalError(base::ToAbsl("secret \"" + p.key + "\" could not be decrypted (" +
                                              std::string(plain.status().message()) + ")"));
    }
    out.emplace(p.key, *std::move(plain));
  }
  return out;
}

// ---------------------------------------------------------------- history

absl::StatusOr<int64_t> Service::Head(const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  return open->store->Head();
}

absl::StatusOr<std::vector<storage::Revision>> Service::ListRevisions(const storage::Workspace& ws,
                                                                      int64_t after, int limit) {
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be between 1 and 1000");
  if (after < 0) return absl::InvalidArgumentError("after must be 0 or more");
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  return open->store->ListRevisions(after, limit);
}

absl::StatusOr<int64_t> Service::Revert(const Actor& actor, const storage::Workspace& ws, int64_t n,
                                        std::string_view reason, std::optional<int64_t> if_match) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  std::lock_guard<std::mutex> lock(open->write_mu);
  absl::StatusOr<storage::Revision> rev = open->store->GetRevision(n);
  if (absl::IsNotFound(rev.status())) {
    return absl::NotFoundError(base::ToAbsl("no revision " + std::to_string(n)));
  }
  EV_RETURN_IF_ERROR(rev.status());
  if (rev->kind == ItemKind::kEnvironment) {
    return absl::FailedPreconditionError("environment changes cannot be reverted");
  }
  // The revision's `before` becomes the item's state again. It must still be valid
  // against today's workspace (environments and other flags may have changed since).
  json::value before = ParseOrNull(rev->before);
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*open->store));
  std::optional<std::string> body;
  if (before.is_object()) {
    const json::object& b = before.as_object();
    if (rev->kind == ItemKind::kConfig) {
      EV_RETURN_IF_ERROR(ValidateConfigBody(rev->key, b, envs).status());
    } else if (rev->kind == ItemKind::kFlag) {
      EV_ASSIGN_OR_RETURN(json::object all, ItemsAfter(*open->store, ItemKind::kFlag, rev->key, &b));
      EV_RETURN_IF_ERROR(ValidateFlagBody(rev->key, b, envs, all).status());
    } else if (rev->kind == ItemKind::kSegment) {
      EV_ASSIGN_OR_RETURN(json::object all, ItemsAfter(*open->store, ItemKind::kSegment, rev->key, &b));
      EV_RETURN_IF_ERROR(ValidateSegmentBody(rev->key, b, all).status());
    }
    body = rev->before;
  }
  absl::StatusOr<storage::Item> current = open->store->GetItem(rev->kind, rev->key);
  if (!body && absl::IsNotFound(current.status())) {
    return absl::FailedPreconditionError("nothing to revert: the item is already absent");
  }
  if (body && current.ok() && current->body == *body) {
    return absl::FailedPreconditionError("nothing to revert: the item already has that state");
  }
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = "revert";
  c.expected_head = if_match;
  c.mutations.push_back({rev->kind, rev->key, body, rev->environment});
  return CommitAndPublish(actor, ws, *open, std::move(c), "workspace.revert",
                          {{"reverted", n}, {"kind", storage::ItemKindName(rev->kind)}, {"key", rev->key}});
}

absl::StatusOr<int64_t> Service::Rollback(const Actor& actor, const storage::Workspace& ws, int64_t to,
                                          std::string_view reason, std::optional<int64_t> if_match) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  std::lock_guard<std::mutex> lock(open->write_mu);
  EV_ASSIGN_OR_RETURN(int64_t head, open->store->Head());
  if (to < 0 || to > head) {
    return absl::InvalidArgumentError(base::ToAbsl("to_revision must be between 0 and " + std::to_string(head)));
  }
  EV_ASSIGN_OR_RETURN(auto keys, open->store->AllKeysEver());
  storage::CommitRequest c;
  c.reason = std::string(reason);
  c.op = "rollback";
  c.expected_head = if_match;
  for (const auto& [kind, key] : keys) {
    if (kind == ItemKind::kEnvironment) continue;  // environments are not rolled back
    EV_ASSIGN_OR_RETURN(std::optional<std::string> then, open->store->BodyAt(kind, key, to));
    absl::StatusOr<storage::Item> now = open->store->GetItem(kind, key);
    if (!now.ok() && !absl::IsNotFound(now.status())) return now.status();
    std::optional<std::string> current = now.ok() ? std::optional<std::string>(now->body) : std::nullopt;
    if (then == current) continue;
    c.mutations.push_back({kind, key, then, ""});
  }
  if (c.mutations.empty()) return head;
  // The restored state must be valid as a whole (flags referring to each other).
  EV_ASSIGN_OR_RETURN(EnvironmentSet envs, LoadEnvironments(*open->store));
  EV_ASSIGN_OR_RETURN(json::object flags, ItemsAfter(*open->store, ItemKind::kFlag, "", nullptr));
  for (const auto& m : c.mutations) {
    if (m.kind != ItemKind::kFlag) continue;
    if (m.body) {
      flags[m.key] = ParseOrNull(*m.body).as_object();
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
  int64_t changed = static_cast<int64_t>(c.mutations.size());
  return CommitAndPublish(actor, ws, *open, std::move(c), "workspace.rollback",
                          {{"to_revision", to}, {"items_changed", changed}});
}

absl::StatusOr<std::vector<storage::Activity>> Service::ListActivity(const storage::Workspace& ws,
                                                                     int64_t after, int limit) {
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("limit must be between 1 and 1000");
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  return open->store->ListActivity(after, limit);
}

absl::Status Service::RecordActivity(const Actor& actor, const storage::Workspace& ws,
                                     std::string_view action, json::object details) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  storage::Activity a;
  a.time = options_.env->Now();
  a.actor = actor.id;
  a.action = std::string(action);
  a.details = json::serialize(details);
  return open->store->AppendActivity(a, {AuditRow(options_.env, actor, ws, action, a.time, std::move(details))})
      .status();
}

// ---------------------------------------------------------------- read model & propagation

namespace {

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

}  // namespace

absl::StatusOr<std::string> Service::Resolve(const storage::Workspace& ws, std::string_view env) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(ws.id));
  // Under the write lock, so the snapshot is one consistent head.
  std::lock_guard<std::mutex> lock(open->write_mu);
  EV_ASSIGN_OR_RETURN(WorkspaceSnapshot snap, Snapshot(*open->store, ws));
  if (!snap.envs.Contains(env)) {
    return absl::NotFoundError(base::ToAbsl("no environment \"" + std::string(env) + "\""));
  }
  return ResolveEnvironment(snap, env);
}

absl::Status Service::PublishSdkKey(std::string_view key_hash, const storage::Workspace& ws,
                                    std::string_view env) {
  json::object o{{"org_id", ws.org_id}, {"workspace_id", ws.id}, {"environment", env}};
  // Version 1: an SDK key's target never changes; revocation deletes it.
  return options_.kv->PutIfNewer(storage::EdgeKvSdkKey(key_hash), json::serialize(o), 1).status();
}

absl::Status Service::UnpublishSdkKey(std::string_view key_hash) {
  absl::Status st = options_.kv->DeleteIfNotNewer(storage::EdgeKvSdkKey(key_hash), 1).status();
  return absl::IsNotFound(st) ? absl::OkStatus() : st;
}

absl::Status Service::PropagateNow(const std::string& workspace_id) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(workspace_id));
  constexpr int kBatch = 1000;
  EV_ASSIGN_OR_RETURN(std::vector<storage::OutboxRow> rows,
                      open->store->PendingOutboxOfKind("propagate", kBatch));
  if (rows.empty()) return absl::OkStatus();
  // Coalesce: one resolution of every environment at the current head serves every
  // pending job (each names a subset; resolving all is simpler and always correct).
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, options_.control->GetWorkspaceById(workspace_id));
  WorkspaceSnapshot snap;
  {
    std::lock_guard<std::mutex> lock(open->write_mu);
    EV_ASSIGN_OR_RETURN(snap, Snapshot(*open->store, ws));
  }
  // Every environment from one parse of the items, into the KV in one batch (LMDB: one
  // transaction, one fsync, instead of one per environment).
  EV_ASSIGN_OR_RETURN(auto docs, ResolveAllEnvironments(snap));
  std::vector<std::string> keys;
  keys.reserve(docs.size());
  for (const auto& [env, doc] : docs) keys.push_back(storage::EdgeKvDocumentKey(workspace_id, env));
  std::vector<storage::KvWrite> writes;
  writes.reserve(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) writes.push_back({keys[i], docs[i].second, snap.version});
  EV_RETURN_IF_ERROR(options_.kv->PutManyIfNewer(writes).status());
  if (options_.on_published) options_.on_published();
  std::vector<int64_t> done;
  done.reserve(rows.size());
  for (const auto& r : rows) done.push_back(r.id);
  EV_RETURN_IF_ERROR(open->store->MarkOutboxDoneMany(done));  // one commit for the batch
  if (rows.size() == static_cast<size_t>(kBatch)) Enqueue(workspace_id);  // more behind these
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Service::PeekAuditOutbox(int limit) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.workspaces_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() < 4 || name.substr(name.size() - 3) != ".db") continue;
    std::string id = name.substr(0, name.size() - 3);
    if (static_cast<int>(out.size()) >= limit) break;
    absl::StatusOr<std::shared_ptr<Open>> open = OpenWorkspace(id);
    if (!open.ok()) continue;  // an orphan file (workspace creation crashed half way)
    EV_ASSIGN_OR_RETURN(std::vector<storage::OutboxRow> rows,
                        (*open)->store->PendingOutboxOfKind("audit", limit - static_cast<int>(out.size())));
    for (auto& r : rows) out.emplace_back(id + "/" + std::to_string(r.id), std::move(r.payload));
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
    EV_ASSIGN_OR_RETURN(std::shared_ptr<Open> open, OpenWorkspace(workspace_id));
    EV_RETURN_IF_ERROR(open->store->MarkOutboxDoneMany(rows));
  }
  return absl::OkStatus();
}

void Service::Enqueue(const std::string& workspace_id) {
  {
    std::lock_guard<std::mutex> lock(prop_mu_);
    if (!prop_pending_.insert(workspace_id).second) return;
    prop_queue_.push_back(workspace_id);
  }
  prop_cv_.notify_one();
}

void Service::PropagationLoop() {
  for (;;) {
    std::string id;
    {
      std::unique_lock<std::mutex> lock(prop_mu_);
      prop_cv_.wait(lock, [this] { return stop_ || !prop_queue_.empty(); });
      if (stop_) return;
      id = prop_queue_.front();
      prop_queue_.pop_front();
      prop_pending_.erase(id);
    }
    absl::Status st = PropagateNow(id);
    if (!st.ok()) {
      EV_LOG(kError, "propagation failed; retrying", {{"workspace", id}, {"error", st.ToString()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(
          absl::ToInt64Milliseconds(options_.propagation_retry)));
      Enqueue(id);
    }
  }
}

uint64_t Service::Subscribe(std::string workspace_id, Subscriber fn) {
  std::lock_guard<std::mutex> lock(sub_mu_);
  uint64_t id = next_sub_++;
  subs_[id] = {std::move(workspace_id), std::move(fn)};
  return id;
}

void Service::Unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(sub_mu_);
  subs_.erase(id);
}

}  // namespace edgevault::workspace
