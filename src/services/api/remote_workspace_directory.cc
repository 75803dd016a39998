#include "src/services/api/remote_workspace_directory.h"

#include <boost/json.hpp>
#include <initializer_list>
#include <optional>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::api {
namespace {

namespace json = boost::json;
using base::StrCat;

absl::Status UnexpectedBody() { return absl::UnavailableError("the auth service answered an unexpected body"); }

std::string OrgKey(std::string_view org_id, std::string_view key) {
  return StrCat(org_id, std::string_view("\0", 1), key);
}

const json::value* Field(const json::object& o, std::string_view name) {
  return o.if_contains(json::string_view(name.data(), name.size()));
}

const json::string* StringField(const json::object& o, std::string_view name) {
  const json::value* v = Field(o, name);
  return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

std::optional<int64_t> IntField(const json::object& o, std::string_view name) {
  const json::value* v = Field(o, name);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->get_int64();
}

absl::StatusOr<storage::Workspace> ParseWorkspace(const json::value& v) {
  if (!v.is_object()) return UnexpectedBody();
  const json::object& o = v.get_object();
  const json::string *id = StringField(o, "id"), *org = StringField(o, "org_id"),
                     *key = StringField(o, "key"), *name = StringField(o, "name");
  std::optional<int64_t> created = IntField(o, "created_at_us");
  if (id == nullptr || org == nullptr || key == nullptr || name == nullptr || !created) {
    return UnexpectedBody();
  }
  storage::Workspace ws;
  ws.id = std::string(*id);
  ws.org_id = std::string(*org);
  ws.key = std::string(*key);
  ws.name = std::string(*name);
  ws.created_at = absl::FromUnixMicros(*created);
  // Deleted: both or neither (auth's WorkspaceJson leaves them out of a live row).
  std::optional<int64_t> deleted = IntField(o, "deleted_at_us"), purge = IntField(o, "purge_after_us");
  if (deleted.has_value() != purge.has_value()) return UnexpectedBody();
  if (deleted) {
    ws.deleted_at = absl::FromUnixMicros(*deleted);
    ws.purge_after = absl::FromUnixMicros(*purge);
  }
  return ws;
}

// RFC 3339 (auth's services::FormatTime), or null.
absl::StatusOr<std::optional<absl::Time>> OptionalTime(const json::object& o, std::string_view name) {
  const json::value* v = Field(o, name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!v->is_string() || !absl::ParseTime(absl::RFC3339_full, std::string(v->get_string()), &t, &err)) {
    return UnexpectedBody();
  }
  return t;
}

absl::StatusOr<storage::SdkKey> ParseSdkKey(const json::value& v, std::string_view org_id) {
  if (!v.is_object()) return UnexpectedBody();
  const json::object& o = v.get_object();
  storage::SdkKey k;
  k.org_id = std::string(org_id);
  const std::initializer_list<std::pair<std::string_view, std::string*>> fields = {
      {"id", &k.id},         {"name", &k.name},           {"prefix", &k.prefix},
      {"workspace_id", &k.workspace_id}, {"environment", &k.environment},
      {"created_by", &k.created_by},     {"key_hash", &k.key_hash}};
  for (auto [field, out] : fields) {
    const json::string* s = StringField(o, field);
    if (s == nullptr) return UnexpectedBody();
    *out = std::string(*s);
  }
  EV_ASSIGN_OR_RETURN(std::optional<absl::Time> created, OptionalTime(o, "created_at"));
  if (!created) return UnexpectedBody();
  k.created_at = *created;
  EV_ASSIGN_OR_RETURN(k.last_used_at, OptionalTime(o, "last_used_at"));
  EV_ASSIGN_OR_RETURN(k.revoked_at, OptionalTime(o, "revoked_at"));
  // kind and origins: absent from an auth older than client keys (then a server key).
  if (const json::value* kind = o.if_contains("kind"); kind != nullptr) {
    if (!kind->is_string()) return UnexpectedBody();
    if (kind->get_string() == "client") {
      k.kind = storage::SdkKeyKind::kClient;
    } else if (kind->get_string() != "server") {
      return UnexpectedBody();
    }
  }
  if (const json::value* origins = o.if_contains("origins"); origins != nullptr) {
    if (!origins->is_array()) return UnexpectedBody();
    for (const json::value& origin : origins->get_array()) {
      if (!origin.is_string()) return UnexpectedBody();
      k.origins.emplace_back(origin.get_string());
    }
  }
  return k;
}

// POSTs `body` to auth's internal `target`. The answer `want` gives its JSON object; an
// error answer becomes the WorkspaceDirectory code it stands for (header comment), with
// auth's message.
absl::StatusOr<json::object> Call(const RemoteWorkspaceDirectoryOptions& o, std::string_view target,
                                  const json::object& body, int want) {
  net::ClientRequest req;
  req.method = "POST";
  req.target = std::string(target);
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = json::serialize(body);
  absl::StatusOr<net::ClientResponse> resp = o.client->Do(o.host, o.port, req);
  if (!resp.ok()) {
    return absl::UnavailableError(
        StrCat("the auth service could not be reached (", base::ToStd(resp.status().message()), "); try again"));
  }
  boost::system::error_code ec;
  json::value v = json::parse(resp->body, ec);
  if (resp->status == want) {
    if (ec || !v.is_object()) return UnexpectedBody();
    return std::move(v.get_object());
  }
  std::string code, message;
  if (!ec && v.is_object()) {
    if (const json::value* e = v.get_object().if_contains("error"); e != nullptr && e->is_object()) {
      if (const json::string* c = StringField(e->get_object(), "code")) code = std::string(*c);
      if (const json::string* m = StringField(e->get_object(), "message")) message = std::string(*m);
    }
  }
  switch (resp->status) {
    case 400: return absl::InvalidArgumentError(message);
    case 404: return absl::NotFoundError(message);
    case 409:
      if (code == "conflict") return absl::AlreadyExistsError(message);
      if (code == "failed_precondition") return absl::FailedPreconditionError(message);
      break;
    case 429:
      if (code == "entitlement_exceeded") return absl::ResourceExhaustedError(message);
      break;
    default: break;
  }
  return absl::UnavailableError(
      StrCat("the auth service answered ", std::to_string(resp->status), " to ", target, "; try again"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteWorkspaceDirectory>> RemoteWorkspaceDirectory::Create(
    RemoteWorkspaceDirectoryOptions options) {
  if (options.client == nullptr || options.env == nullptr) {
    return absl::InvalidArgumentError("RemoteWorkspaceDirectoryOptions needs client and env");
  }
  if (options.entitlements_ttl < absl::ZeroDuration() || options.max_cached_workspaces == 0) {
    return absl::InvalidArgumentError(
        "RemoteWorkspaceDirectoryOptions: entitlements_ttl must not be negative, max_cached_workspaces not 0");
  }
  return std::unique_ptr<RemoteWorkspaceDirectory>(new RemoteWorkspaceDirectory(std::move(options)));
}

void RemoteWorkspaceDirectory::Remember(const storage::Workspace& ws) {
  absl::Time now = options_.env->Now();
  std::lock_guard<std::mutex> lock(mu_);
  if (by_id_.size() >= options_.max_cached_workspaces && !by_id_.contains(ws.id)) {
    by_id_.clear();
    id_by_org_key_.clear();
  }
  by_id_[ws.id] = {ws, now};
  id_by_org_key_[OrgKey(ws.org_id, ws.key)] = ws.id;
}

const storage::Workspace* RemoteWorkspaceDirectory::Cached(std::string_view id, bool* fresh) {
  auto ws = by_id_.find(id);
  if (ws == by_id_.end()) return nullptr;
  *fresh = options_.env->Now() - ws->second.fetched_at < options_.workspace_ttl;
  return &ws->second.row;
}

absl::Status RemoteWorkspaceDirectory::CreateWorkspaceWithinLimit(const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(json::object created,
                      Call(options_, "/internal/v1/workspaces/create",
                           json::object{{"id", ws.id}, {"org_id", ws.org_id}, {"key", ws.key},
                                        {"name", ws.name}, {"created_at_us", absl::ToUnixMicros(ws.created_at)}},
                           201));
  EV_ASSIGN_OR_RETURN(storage::Workspace stored, ParseWorkspace(created));
  Remember(stored);
  return absl::OkStatus();
}

absl::StatusOr<storage::Workspace> RemoteWorkspaceDirectory::GetWorkspaceByKey(std::string_view org_id,
                                                                               std::string_view key) {
  std::optional<storage::Workspace> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto id = id_by_org_key_.find(OrgKey(org_id, key)); id != id_by_org_key_.end()) {
      bool fresh = false;
      if (const storage::Workspace* ws = Cached(id->second, &fresh); ws != nullptr) {
        if (fresh) return *ws;
        stale = *ws;
      }
    }
  }
  absl::StatusOr<json::object> got = Call(options_, "/internal/v1/workspaces/get",
                                          json::object{{"org_id", std::string(org_id)}, {"key", std::string(key)}}, 200);
  if (absl::IsUnavailable(got.status()) && stale) return *stale;
  EV_RETURN_IF_ERROR(got.status());
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(*got));
  Remember(ws);
  return ws;
}

absl::StatusOr<storage::Workspace> RemoteWorkspaceDirectory::GetWorkspaceById(std::string_view id) {
  std::optional<storage::Workspace> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool fresh = false;
    if (const storage::Workspace* ws = Cached(id, &fresh); ws != nullptr) {
      if (fresh) return *ws;
      stale = *ws;
    }
  }
  absl::StatusOr<json::object> got =
      Call(options_, "/internal/v1/workspaces/get", json::object{{"id", std::string(id)}}, 200);
  if (absl::IsUnavailable(got.status()) && stale) return *stale;
  EV_RETURN_IF_ERROR(got.status());
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(*got));
  Remember(ws);
  return ws;
}

absl::Status RemoteWorkspaceDirectory::RenameWorkspace(std::string_view org_id, std::string_view id,
                                                       std::string_view name) {
  EV_ASSIGN_OR_RETURN(json::object renamed,
                      Call(options_, "/internal/v1/workspaces/rename",
                           json::object{{"org_id", std::string(org_id)}, {"id", std::string(id)}, {"name", std::string(name)}},
                           200));
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(renamed));
  Remember(ws);
  return absl::OkStatus();
}

absl::StatusOr<storage::Workspace> RemoteWorkspaceDirectory::MarkWorkspaceDeleted(std::string_view org_id,
                                                                                  std::string_view id, absl::Time at,
                                                                                  absl::Time purge_after) {
  EV_ASSIGN_OR_RETURN(json::object marked,
                      Call(options_, "/internal/v1/workspaces/delete",
                           json::object{{"org_id", std::string(org_id)}, {"id", std::string(id)},
                                        {"deleted_at_us", absl::ToUnixMicros(at)},
                                        {"purge_after_us", absl::ToUnixMicros(purge_after)}},
                           200));
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(marked));
  Remember(ws);
  return ws;
}

absl::StatusOr<storage::Workspace> RemoteWorkspaceDirectory::RestoreWorkspace(std::string_view org_id,
                                                                              std::string_view id) {
  EV_ASSIGN_OR_RETURN(json::object restored,
                      Call(options_, "/internal/v1/workspaces/restore",
                           json::object{{"org_id", std::string(org_id)}, {"id", std::string(id)}}, 200));
  EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(restored));
  Remember(ws);
  return ws;
}

absl::StatusOr<std::vector<storage::Workspace>> RemoteWorkspaceDirectory::ListWorkspacesDueForPurge(absl::Time now,
                                                                                                   int limit) {
  EV_ASSIGN_OR_RETURN(json::object listed,
                      Call(options_, "/internal/v1/workspaces/due-for-purge",
                           json::object{{"now_us", absl::ToUnixMicros(now)}, {"limit", limit}}, 200));
  const json::value* all = listed.if_contains("workspaces");
  if (all == nullptr || !all->is_array()) return UnexpectedBody();
  std::vector<storage::Workspace> out;
  for (const json::value& v : all->get_array()) {
    EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(v));
    out.push_back(std::move(ws));
  }
  return out;
}

absl::Status RemoteWorkspaceDirectory::PurgeWorkspace(std::string_view org_id, std::string_view id) {
  EV_RETURN_IF_ERROR(Call(options_, "/internal/v1/workspaces/purge",
                          json::object{{"org_id", std::string(org_id)}, {"id", std::string(id)}}, 200)
                         .status());
  // Gone: forget the row, so the next lookup asks auth (and hears 404).
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    id_by_org_key_.erase(OrgKey(it->second.row.org_id, it->second.row.key));
    by_id_.erase(it);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<storage::Workspace>> RemoteWorkspaceDirectory::ListWorkspaces(std::string_view org_id) {
  EV_ASSIGN_OR_RETURN(json::object listed,
                      Call(options_, "/internal/v1/workspaces/list", json::object{{"org_id", std::string(org_id)}}, 200));
  const json::value* all = listed.if_contains("workspaces");
  if (all == nullptr || !all->is_array()) return UnexpectedBody();
  std::vector<storage::Workspace> out;
  for (const json::value& v : all->get_array()) {
    EV_ASSIGN_OR_RETURN(storage::Workspace ws, ParseWorkspace(v));
    Remember(ws);
    out.push_back(std::move(ws));
  }
  return out;
}

absl::StatusOr<storage::Entitlements> RemoteWorkspaceDirectory::GetEntitlements(std::string_view org_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = entitlements_.find(org_id);
        e != entitlements_.end() && options_.env->Now() - e->second.fetched_at < options_.entitlements_ttl) {
      return e->second.value;
    }
  }
  absl::Time asked_at = options_.env->Now();
  EV_ASSIGN_OR_RETURN(json::object got,
                      Call(options_, "/internal/v1/orgs/entitlements", json::object{{"org_id", std::string(org_id)}}, 200));
  std::optional<int64_t> ws = IntField(got, "max_workspaces"), envs = IntField(got, "max_environments"),
                         items = IntField(got, "max_items");
  if (!ws || !envs || !items) return UnexpectedBody();
  storage::Entitlements e{.max_workspaces = *ws, .max_environments = *envs, .max_items = *items};
  std::lock_guard<std::mutex> lock(mu_);
  entitlements_[std::string(org_id)] = {e, asked_at};
  return e;
}

absl::StatusOr<json::object> RemoteWorkspaceDirectory::CurrentRights(std::string_view org_id,
                                                                    std::string_view actor) {
  return Call(options_, "/internal/v1/principals/rights",
              json::object{{"org_id", std::string(org_id)}, {"actor", std::string(actor)}}, 200);
}

absl::StatusOr<std::vector<storage::SdkKey>> RemoteWorkspaceDirectory::ListSdkKeys(std::string_view org_id,
                                                                                   std::string_view workspace_id) {
  EV_ASSIGN_OR_RETURN(json::object listed,
                      Call(options_, "/internal/v1/sdk-keys/list",
                           json::object{{"org_id", std::string(org_id)}, {"workspace_id", std::string(workspace_id)}}, 200));
  const json::value* all = listed.if_contains("sdk_keys");
  if (all == nullptr || !all->is_array()) return UnexpectedBody();
  std::vector<storage::SdkKey> out;
  for (const json::value& v : all->get_array()) {
    EV_ASSIGN_OR_RETURN(storage::SdkKey k, ParseSdkKey(v, org_id));
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace edgevault::api
