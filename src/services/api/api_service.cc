#include "src/services/api/api_service.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>

#include "src/audit/event.h"
#include "src/audit/event_query.h"
#include "src/base/log.h"
#include "src/base/json_finite.h"
#include "src/base/json_patch.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/eval/evaluator.h"
#include "src/eval/ofrep.h"
#include "src/net/raw_request.h"
#include "src/net/sse.h"
#include "src/services/api/ai_draft.h"
#include "src/services/api/ai_prompt.h"
#include "src/services/api/ai_risk.h"
#include "src/services/api/leak_guard.h"
#include "src/services/api/mcp_server.h"
#include "src/services/api/usage_routes.h"
#include "src/services/common/public_cors.h"
#include "src/services/common/browser_origin.h"
#include "src/services/common/http_json.h"
#include "src/services/common/service_main.h"
#include "src/workspace/change_requests.h"
#include "src/workspace/change_set.h"
#include "src/workspace/org_webhooks.h"
#include "src/workspace/resolver.h"
#include "src/workspace/stale_flags.h"
#include "src/workspace/workspace_export.h"
#include "src/workspace/yaml_json.h"

namespace edgevault::api {

namespace http = boost::beast::http;
namespace json = boost::json;
using storage::ItemKind;
using Fn = std::function<absl::StatusOr<net::Response>(net::Request&)>;

namespace {

json::value ParseOrNull(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

// The {id} of a change-request route: NotFound for anything but a positive number.
absl::StatusOr<int64_t> ChangeRequestId(const net::Request& req) {
  int64_t id = 0;
  std::string_view ids = req.Param("id");
  auto [end, ec] = std::from_chars(ids.data(), ids.data() + ids.size(), id);
  if (ec != std::errc() || end != ids.data() + ids.size() || id < 1) {
    return absl::NotFoundError(base::ToAbsl("no change request \"" + std::string(ids.substr(0, 40)) + "\""));
  }
  return id;
}

json::object RevisionJson(const storage::Revision& r) {
  // Secrets: ciphertext stays in the store; history shows which environments changed.
  auto shown = [&](const std::string& body) {
    json::value v = ParseOrNull(body);
    return r.kind == ItemKind::kSecret ? workspace::Service::SecretMetadata(v) : v;
  };
  return {{"seq", r.seq},
          {"time", services::FormatTime(r.time)},
          {"actor", r.actor},
          {"reason", r.reason},
          {"op", r.op},
          {"kind", storage::ItemKindName(r.kind)},
          {"key", r.key},
          {"environment", r.environment.empty() ? json::value(nullptr) : json::value(r.environment)},
          {"before", shown(r.before)},
          {"after", shown(r.after)}};
}

json::object ItemJson(const storage::Item& item) {
  json::object o;
  o["key"] = item.key;
  o["kind"] = storage::ItemKindName(item.kind);
  o["revision"] = item.revision;
  o["updated_at"] = services::FormatTime(item.updated_at);
  json::value body = ParseOrNull(item.body);
  if (item.kind == ItemKind::kSecret) body = workspace::Service::SecretMetadata(body);
  if (body.is_object()) {
    for (const auto& kv : body.as_object()) {
      if (kv.key() != "key") o[kv.key()] = kv.value();
    }
  }
  return o;
}

absl::StatusOr<std::optional<int64_t>> IfMatch(const net::Request& req) {
  std::string_view h = req.Header("If-Match");
  if (h.empty()) return std::optional<int64_t>();
  if (h.size() >= 2 && h.front() == '"' && h.back() == '"') h = h.substr(1, h.size() - 2);
  int64_t v = -1;
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), v);
  if (ec != std::errc() || p != h.data() + h.size() || v < 0) {
    return absl::InvalidArgumentError("If-Match must be a revision number in quotes, e.g. If-Match: \"12\"");
  }
  return std::optional<int64_t>(v);
}

absl::StatusOr<int64_t> QueryInt(const net::Request& req, std::string_view name, int64_t def,
                                 int64_t min, int64_t max) {
  std::optional<std::string> v = req.QueryParam(name);
  if (!v) return def;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || out < min || out > max) {
    return absl::InvalidArgumentError(base::ToAbsl("query parameter '" + std::string(name) +
                                                   "' must be an integer between " + std::to_string(min) +
                                                   " and " + std::to_string(max)));
  }
  return out;
}

net::Response WithRevision(net::Response r, int64_t head) {
  // Built with append: GCC 12 reports a false -Wrestrict for "\"" + std::string&&.
  std::string etag(1, '"');
  etag.append(std::to_string(head)).push_back('"');
  r.WithHeader("ETag", etag);
  return r;
}

struct KindRoute {
  const char* plural;
  ItemKind kind;
};

workspace::AgentInfo ParseAgentHeader(std::string_view header) {
  workspace::AgentInfo a;
  json::value v = ParseOrNull(std::string(header));
  const json::object* o = v.if_object();
  if (o == nullptr) return a;
  auto text = [&](std::string_view name) {
    const json::value* x = o->if_contains(name);
    return x != nullptr && x->is_string() ? std::string(x->get_string()) : std::string();
  };
  a.client = text("client");
  a.client_version = text("client_version");
  a.session = text("session");
  a.tool = text("tool");
  return a;
}

constexpr KindRoute kKinds[] = {{"configs", ItemKind::kConfig},
                                {"flags", ItemKind::kFlag},
                                {"segments", ItemKind::kSegment},
                                {"secrets", ItemKind::kSecret}};

}  // namespace

json::object ScheduleGrant(const Principal& p) {
  json::array scopes;
  for (const std::string& s : p.scopes) scopes.emplace_back(s);
  return {{"role", storage::RoleName(p.role)}, {"scopes", std::move(scopes)}};
}

workspace::WriteAuthorizer ApplyRight(const Principal& p, std::shared_ptr<LeakReport> leaks) {
  return WithLeakScan(
      [p](const workspace::WriteEffect& effect) {
        return ApiAuth::Authorize(p, Action::kWrite, effect.protected_environments);
      },
      leaks != nullptr ? std::move(leaks) : std::make_shared<LeakReport>());
}

workspace::WriteAuthorizer ScheduledApplyRight(const std::string& by, const json::object& grant) {
  Principal p;
  p.subject = by.rfind("user:", 0) == 0 ? by.substr(5) : by;
  const json::value* role = grant.if_contains("role");
  absl::StatusOr<storage::Role> parsed =
      role != nullptr && role->is_string() ? storage::ParseRole(role->get_string())
                                           : absl::StatusOr<storage::Role>(absl::InvalidArgumentError("no role"));
  if (const json::value* scopes = grant.if_contains("scopes"); scopes != nullptr && scopes->is_array()) {
    for (const json::value& s : scopes->get_array()) {
      if (s.is_string()) p.scopes.emplace_back(s.get_string());
    }
  }
  if (!parsed.ok()) {
    return [](const workspace::WriteEffect&) {
      return absl::PermissionDeniedError("the schedule records no role for whoever scheduled it");
    };
  }
  p.role = *parsed;
  return ApplyRight(p);
}

workspace::WriteAuthorizer ScheduledApplyRightNow(const std::string& by, const json::object& grant,
                                                  const absl::StatusOr<json::object>& current) {
  if (absl::IsNotFound(current.status())) {
    std::string message = by + " no longer holds rights in this org (removed, disabled or revoked since "
                               "scheduling); the scheduled apply is refused";
    return [message](const workspace::WriteEffect&) { return absl::PermissionDeniedError(base::ToAbsl(message)); };
  }
  if (!current.ok()) {
    std::string message = "cannot check the current rights of " + by + ": " + std::string(current.status().message());
    return [message](const workspace::WriteEffect&) { return absl::UnavailableError(base::ToAbsl(message)); };
  }
  auto role_of = [](const json::object& o) -> std::optional<storage::Role> {
    const json::value* r = o.if_contains("role");
    if (r == nullptr || !r->is_string()) return std::nullopt;
    absl::StatusOr<storage::Role> parsed = storage::ParseRole(r->get_string());
    return parsed.ok() ? std::optional<storage::Role>(*parsed) : std::nullopt;
  };
  std::optional<storage::Role> recorded = role_of(grant), now = role_of(*current);
  json::object effective = grant;
  if (recorded && now) effective["role"] = storage::RoleName(std::min(*recorded, *now));
  if (!now) effective.erase("role");  // ScheduledApplyRight refuses a grant without a role
  if (by.rfind("key:", 0) == 0) {
    std::set<std::string> held;
    if (const json::value* sc = current->if_contains("scopes"); sc != nullptr && sc->is_array()) {
      for (const json::value& v : sc->get_array()) {
        if (v.is_string()) held.emplace(v.get_string());
      }
    }
    json::array both;
    if (const json::value* sc = grant.if_contains("scopes"); sc != nullptr && sc->is_array()) {
      for (const json::value& v : sc->get_array()) {
        if (v.is_string() && held.contains(std::string(v.get_string()))) both.push_back(v);
      }
    }
    effective["scopes"] = std::move(both);
  }
  return ScheduledApplyRight(by, effective);
}

class ApiService::Handlers {
 public:
  Handlers(ApiServiceOptions& o, boost::asio::thread_pool& pool) : o_(o), pool_(pool) {}

  // The org's workspace list changed here: this node's MCP sessions are told at once, the
  // other api nodes' through announce_workspace_list (docs/design/mcp.md §1c).
  void WorkspaceListChanged(const std::string& org_id) {
    if (mcp_) mcp_->ResourceListChanged("", org_id);
    if (o_.announce_workspace_list) {
      if (absl::Status st = o_.announce_workspace_list(org_id); !st.ok()) {
        EV_LOG(kWarn, "other api nodes were not told of a workspace list change; their MCP sessions see it when they list again",
               {{"org", org_id}, {"error", st.ToString()}});
      }
    }
  }
  void WorkspaceListChangedElsewhere(const std::string& org_id) {
    if (mcp_) mcp_->ResourceListChanged("", org_id);
  }

  // Registers `fn` for the route twice: on the served router (run on the blocking pool)
  // and on inner_, where MCP tools run the very same function (CallRoute).
  void Route(net::Router& r, http::verb method, std::string pattern, Fn fn) {
    inner_.Add(method, pattern, [this, fn](net::Request& req) { return Run(fn, req); });
    r.AddAsync(method, pattern, [this, fn = std::move(fn)](net::Request& req, net::Responder respond) {
      // Only the tool layer names an agent; a client cannot claim to be one.
      req.raw().erase(std::string(kAgentHeader));
      boost::asio::post(pool_, net::CatchingTask([this, &req, fn, respond = std::move(respond)]() {
        respond(Run(fn, req));
      }));
    });
  }

  net::Response Run(const Fn& fn, net::Request& req) {
    absl::StatusOr<net::Response> resp = fn(req);
    if (!resp.ok() && (absl::IsUnauthenticated(resp.status()) || absl::IsPermissionDenied(resp.status()))) {
      RecordDenied(req, resp.status());
    }
    return resp.ok() ? *std::move(resp) : services::ErrorResponse(resp.status());
  }

  // Runs the handler of `method target` synchronously, on this thread, as the caller of
  // `outer` (its credential headers), acting through `agent` when one is given (an MCP
  // tool, docs/design/mcp.md §3; such calls are not counted against the rate limit again).
  // Without an agent (the steps of POST …/import) the call is the caller's own request,
  // authorized, counted and audited as if it came over HTTP.
  RouteAnswer CallRoute(const net::Request& outer, const workspace::AgentInfo* agent, http::verb method,
                        const std::string& target, const json::value* body,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
    net::RawRequest raw{method, target, 11};
    for (const char* h : {"Authorization", "X-API-Key", "User-Agent"}) {
      if (std::string_view v = outer.Header(h); !v.empty()) raw.set(h, v);
    }
    for (const auto& [name, value] : headers) raw.set(name, value);
    if (agent != nullptr) {
      raw.set(std::string(kAgentHeader), json::serialize(workspace::AgentJson(*agent)));
    } else if (std::string_view outer_agent = outer.Header(kAgentHeader); !outer_agent.empty()) {
      raw.set(std::string(kAgentHeader), outer_agent);  // only the tool layer sets it
    }
    if (body != nullptr) {
      raw.set(http::field::content_type, "application/json");
      raw.body() = json::serialize(*body);
    }
    raw.prepare_payload();
    net::Request req(raw, outer.request_id(), outer.remote_address());
    const net::Router::Route* route = nullptr;
    std::string allow;
    RouteAnswer answer;
    if (inner_.Match(req, &route, &allow) != net::Router::MatchResult::kFound || !route->handler) {
      answer.status = 404;
      answer.body = json::object{{"error", {{"code", "not_found"}, {"message", "no such route: " + target.substr(0, 200)}}}};
      return answer;
    }
    net::Response resp = route->handler(req);
    answer.status = resp.status;
    const std::string& text = resp.shared_body ? *resp.shared_body : resp.body;
    answer.body = ParseOrNull(text);
    return answer;
  }

  void InstallMcp(net::Router& r) {
    if (!o_.mcp_enabled) return;
    McpServerOptions mo;
    ApiAuth* auth = o_.auth;
    mo.authenticate = [auth](const net::Request& req) { return auth->Authenticate(req); };
    mo.call_route = [this](const net::Request& outer, const workspace::AgentInfo& agent, http::verb method,
                           const std::string& target, const json::value* body,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
      return CallRoute(outer, &agent, method, target, body, headers);
    };
    mo.record_denied = [this](const net::Request& req, const absl::Status& why) {
      RecordDenied(const_cast<net::Request&>(req), why);
    };
    mo.record_event = o_.record_event;
    workspace::Service* service = o_.service;
    mo.subscribe = [service](const std::string& workspace_id,
                             std::function<void(const std::string&, const storage::Revision&)> fn) {
      return service->Subscribe(workspace_id, [fn = std::move(fn)](const workspace::RevisionEvent& e) {
        fn(e.workspace_id, e.revision);
      });
    };
    mo.unsubscribe = [service](uint64_t id) { service->Unsubscribe(id); };
    mo.watch_revocation = [auth](const Principal& p, std::function<void()> fn) {
      return auth->WatchRevocation(p, std::move(fn));
    };
    mo.unwatch = [auth](uint64_t id) { auth->Unwatch(id); };
    mo.revoked = [auth](const Principal& p) { return auth->Revoked(p); };
    mo.env = o_.env;
    mo.read_only = o_.mcp_read_only;
    mo.allow_secret_values = o_.mcp_allow_secret_values;
    mo.max_sessions_per_principal = o_.mcp_max_sessions_per_principal;
    mo.session_idle = o_.mcp_session_idle;
    mo.session_rate_limit = o_.mcp_session_rate_limit;
    if (!o_.mcp_oauth_resource.empty()) mo.resource_metadata_url = ProtectedResourceMetadataUrl(o_.mcp_oauth_resource);
    mo.server_version = std::string(services::kVersion);
    mcp_ = std::make_unique<McpServer>(std::move(mo));
    if (!o_.mcp_oauth_resource.empty()) {
      // RFC 9728 protected-resource metadata: at the path-suffixed well-known URL the 401
      // names, and at the bare one for clients that look there first.
      json::object prm;
      prm["resource"] = o_.mcp_oauth_resource;
      prm["authorization_servers"] = json::array{json::string(o_.mcp_oauth_issuer)};
      prm["scopes_supported"] = json::array{"read", "write", "secrets:read"};
      prm["bearer_methods_supported"] = json::array{"header"};
      prm["resource_name"] = "EdgeVault";
      auto body = std::make_shared<const std::string>(json::serialize(prm));
      auto serve = [body](net::Request&) {
        net::Response resp;
        resp.shared_body = body;
        resp.WithHeader("Cache-Control", "public, max-age=300");
        return resp;
      };
      // Browser-based MCP clients read it cross-origin: public, credential-less, so CORS for
      // any origin (public_cors.h, docs/design/oauth.md §2b). /mcp itself stays closed to
      // browsers.
      for (const char* path : {"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"}) {
        r.Add(http::verb::get, path, services::WithPublicCors(net::Handler(serve)));
        r.Add(http::verb::options, path, services::PublicCorsPreflight("GET"));
      }
    }
    for (http::verb m : {http::verb::post, http::verb::get, http::verb::delete_}) {
      r.AddAsync(m, "/mcp", [this](net::Request& req, net::Responder respond) {
        req.raw().erase(std::string(kAgentHeader));  // as on every route: clients cannot set it
        boost::asio::post(pool_, net::CatchingTask([this, &req, respond = std::move(respond)]() {
          respond(mcp_->Handle(req));
        }));
      });
    }
  }

  // Denied requests are audit events too (issue 7): who tried what, and why it was refused.
  void RecordDenied(net::Request& req, const absl::Status& why) {
    if (!o_.record_denied) return;
    std::string actor = "anonymous";
    if (absl::IsPermissionDenied(why)) {
      absl::StatusOr<Principal> p = o_.auth->Identify(req);  // cached; cheap; not counted
      if (p.ok()) actor = p->ActorId();
    }
    absl::Time now = o_.env->Now();
    json::object e;
    e["v"] = 1;
    e["id"] = audit::NewEventId(o_.env);
    e["time"] = audit::FormatEventTime(now);
    e["service"] = "api";
    e["action"] = "api.request.denied";
    e["outcome"] = "denied";
    e["actor"] = {{"id", actor}, {"address", req.remote_address()},
                  {"user_agent", req.Header("User-Agent").substr(0, 256)}};
    e["org"] = "";
    e["request_id"] = req.request_id();
    e["details"] = {{"method", req.method_string()}, {"route", req.route()},
                    {"status", absl::IsUnauthenticated(why) ? 401 : 403}, {"reason", std::string(why.message().substr(0, 300))}};
    o_.record_denied(json::serialize(e));
  }

  workspace::Actor ActorFor(const Principal& p, const net::Request& req) {
    workspace::Actor a{p.ActorId(), p.org_id, std::string(req.remote_address()), std::string(req.request_id())};
    if (std::string_view agent = req.Header(kAgentHeader); !agent.empty()) a.agent = ParseAgentHeader(agent);
    return a;
  }

  static json::object WorkspaceJson(const storage::Workspace& ws) {
    json::object o{{"id", ws.id}, {"key", ws.key}, {"name", ws.name},
                   {"created_at", services::FormatTime(ws.created_at)}};
    if (ws.deleted_at && ws.purge_after) {
      o["deleted_at"] = services::FormatTime(*ws.deleted_at);
      o["purge_after"] = services::FormatTime(*ws.purge_after);
    }
    return o;
  }

  // The audit event of a purge requested through the API (the purge task's own is
  // recorded by main.cc): into the audit queue, since the workspace's outbox goes with it.
  workspace::Service::PurgeRecorder PurgeAuditInto(const workspace::Actor* actor) {
    return [this, actor](const storage::Workspace& ws, std::string_view reason) -> absl::Status {
      if (!o_.record_event) return absl::FailedPreconditionError("audit events cannot be recorded on this node");
      return o_.record_event(workspace::PurgeAuditEvent(o_.env, *actor, ws, reason));
    };
  }

  absl::StatusOr<std::string> Reason(const json::object& body) {
    EV_ASSIGN_OR_RETURN(std::optional<std::string> r,
                        services::OptionalString(body, "reason", o_.max_reason_bytes));
    if (!r || r->find_first_not_of(" \t\r\n") == std::string::npos) {
      return services::WithErrorCode(
          absl::InvalidArgumentError("field 'reason': every change needs a non-empty reason"),
          "reason_required");
    }
    return *r;
  }

  // A write's request: its body without "reason", the reason (required) and If-Match.
  struct WriteRequest {
    json::object body;
    std::string reason;
    std::optional<int64_t> if_match;
  };
  absl::StatusOr<WriteRequest> ReadWrite(net::Request& req) {
    WriteRequest w;
    EV_ASSIGN_OR_RETURN(w.body, services::ParseJsonBody(req));
    EV_ASSIGN_OR_RETURN(w.reason, Reason(w.body));
    w.body.erase("reason");
    EV_ASSIGN_OR_RETURN(w.if_match, IfMatch(req));
    return w;
  }

  // Authenticates, finds the workspace in the caller's org, and authorizes `action`.
  struct Ctx {
    Principal p;
    storage::Workspace ws;
  };
  absl::StatusOr<Ctx> Enter(net::Request& req, Action action) {
    EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
    EV_ASSIGN_OR_RETURN(storage::Workspace ws, o_.service->GetWorkspace(p.org_id, req.Param("ws")));
    // The action at all (role, scope); a write is then authorized again on its effect.
    EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, action, {}));
    return Ctx{std::move(p), std::move(ws)};
  }

  // Authorization by effect (DESIGN.md §4): the workspace service calls this under the
  // workspace's write lock with the environments the write would actually change.
  // A direct write touching an environment whose policy requires change requests is
  // refused, whoever asks (docs/design/promotions.md §4).
  static workspace::WriteAuthorizer Writer(const Ctx& c) {
    return [p = c.p](const workspace::WriteEffect& effect) -> absl::Status {
      if (!effect.change_request_environments.empty()) {
        return services::WithErrorCode(
            absl::PermissionDeniedError(base::ToAbsl(
                "environment \"" + *effect.change_request_environments.begin() +
                "\" accepts changes only through change requests: propose this change with POST "
                "/v1/workspaces/{ws}/change-requests (edgevault cr propose), or promote it from another "
                "environment (edgevault promote)")),
            "change_request_required");
      }
      // Restoring an environment's name or protection administers it, as changing it does.
      if (!effect.environment_settings.empty()) EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      return ApiAuth::Authorize(p, Action::kWrite, effect.protected_environments);
    };
  }

  // A write that stored credentials under a "warn" policy: the answer lists them
  // (`warnings`) and so does the activity log and audit trail (workspace.leak_scan.warning,
  // pointers and kinds, never values). The write itself has succeeded: a failure to
  // record the warning is logged, not returned.
  void AttachLeakWarnings(const Ctx& c, const net::Request& req, const LeakReport& leaks, int64_t revision,
                          json::object& answer) {
    if (leaks.items.empty()) return;
    json::array warnings = LeakWarningsJson(leaks.items);
    answer["warnings"] = warnings;
    std::string target = leaks.items.front().kind + ":" + leaks.items.front().key;
    absl::Status recorded = o_.service->RecordActivity(
        ActorFor(c.p, req), c.ws, "workspace.leak_scan.warning",
        {{"revision", revision}, {"findings", std::move(warnings)}}, "", target);
    if (!recorded.ok()) {
      EV_LOG(kError, "a secret-leak warning could not be recorded in the activity log",
             {{"workspace", c.ws.id}, {"error", recorded.ToString()}});
    }
  }

  // Creating a change request or promotion (docs/secret-scanning.md): its changes are
  // planned first as a dry run and scanned under the policies of the environments they
  // change; "block" refuses the request before anything is stored, "warn" lists the
  // findings in the answer. Applying it is checked again (ApplyRight), on the workspace
  // as it is then.
  absl::StatusOr<json::object> CreateChecked(const Ctx& c, const json::object& body,
                                             const std::function<absl::StatusOr<json::object>(const json::object&)>& create) {
    json::object dry = body;
    dry["dry_run"] = true;
    absl::StatusOr<json::object> planned = create(dry);
    if (!planned.ok()) return create(body);  // the request's own error, as it would be
    EV_ASSIGN_OR_RETURN(std::vector<storage::Item> env_items, o_.service->ListEnvironments(c.ws));
    EV_ASSIGN_OR_RETURN(workspace::EnvironmentSet envs, workspace::EnvironmentSet::FromItems(env_items));
    workspace::WriteEffect effect;
    std::vector<json::object> bodies;
    const json::value* changes = planned->if_contains("changes");
    if (changes != nullptr && changes->is_array()) {
      bodies.reserve(changes->get_array().size());
      for (const json::value& ch : changes->get_array()) {
        const json::object* o = ch.if_object();
        if (o == nullptr) continue;
        const json::value* kind = o->if_contains("kind");
        const json::value* key = o->if_contains("key");
        const json::value* env = o->if_contains("environment");
        const json::value* b = o->if_contains("body");
        if (kind == nullptr || !kind->is_string() || key == nullptr || !key->is_string() || b == nullptr ||
            !b->is_object()) {
          continue;
        }
        absl::StatusOr<storage::ItemKind> k = storage::ParseItemKind(kind->get_string());
        if (!k.ok() || (*k != ItemKind::kConfig && *k != ItemKind::kFlag)) continue;
        // A whole-item change names no environment: every environment may change.
        std::vector<std::string> named = envs.Keys();
        if (env != nullptr && env->is_string() && !env->get_string().empty()) named = {std::string(env->get_string())};
        for (const std::string& e : named) {
          effect.environments.insert(e);
          if (const workspace::Environment* found = envs.Find(e); found != nullptr && found->policy) {
            effect.policies.emplace(e, *found->policy);
          }
        }
        bodies.push_back(b->get_object());
        effect.written.push_back({*k, std::string(key->get_string()), nullptr});
      }
    }
    for (size_t i = 0; i < bodies.size(); ++i) effect.written[i].body = &bodies[i];
    LeakMode worst = LeakMode::kOff;
    std::vector<LeakReport::Item> found = ScanWritten(effect, &worst);
    if (worst == LeakMode::kBlock) return SecretDetectedError(found);
    json::value dry_run = body.contains("dry_run") ? body.at("dry_run") : json::value(false);
    EV_ASSIGN_OR_RETURN(json::object out, dry_run.is_bool() && dry_run.get_bool() ? *std::move(planned) : create(body));
    if (!found.empty()) out["warnings"] = LeakWarningsJson(found);
    return out;
  }

  void Install(net::Router& r) {
    r.Get("/v1/openapi.json", [](net::Request&) { return net::Response::Json(200, OpenApiDocument()); });

    Route(r, http::verb::post, "/v1/workspaces", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"key", "name", "reason"}));
      EV_ASSIGN_OR_RETURN(std::string key, services::RequiredString(body, "key", 64));
      EV_ASSIGN_OR_RETURN(std::optional<std::string> name, services::OptionalString(body, "name", 200));
      EV_ASSIGN_OR_RETURN(storage::Workspace ws,
                          o_.service->CreateWorkspace(ActorFor(p, req), key, name.value_or(key)));
      // The org's webhooks receive the new workspace's events too. A failure here leaves the
      // workspace without them until the next change to those webhooks (which repairs it):
      // logged, not a failed create (the workspace exists).
      if (absl::Status attached = workspace::OrgWebhooks(o_.service).Attach(ActorFor(p, req), ws); !attached.ok()) {
        EV_LOG(kError, "the new workspace did not get the org's webhooks; change an org webhook to repair",
               {{"workspace", ws.id}, {"error", attached.ToString()}});
      }
      WorkspaceListChanged(ws.org_id);  // MCP sessions list resources per workspace
      return services::JsonResponse(201, json::object{{"id", ws.id}, {"key", ws.key}, {"name", ws.name},
                                                      {"created_at", services::FormatTime(ws.created_at)},
                                                      {"revision", 0}});
    });

    // Deleted workspaces are listed only with ?include_deleted=true, to org admins.
    Route(r, http::verb::get, "/v1/workspaces", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kRead, {}));
      std::optional<std::string> include = req.QueryParam("include_deleted");
      if (include && *include != "true" && *include != "false") {
        return absl::InvalidArgumentError("query parameter 'include_deleted' must be true or false");
      }
      const bool include_deleted = include && *include == "true";
      if (include_deleted) EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> all, o_.service->ListWorkspaces(p.org_id, include_deleted));
      json::array a;
      for (const auto& ws : all) a.push_back(WorkspaceJson(ws));
      return services::JsonResponse(200, json::object{{"workspaces", std::move(a)}});
    });

    // Deletes with a grace period (docs/api.md "Deleting a workspace"): org admins and
    // owners, with a reason and the workspace's key typed again as `confirm`. With
    // ?purge=now, a workspace ALREADY deleted is destroyed at once (never a live one: that
    // always takes two requests, each with the key).
    Route(r, http::verb::delete_, "/v1/workspaces/{ws}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      std::optional<std::string> purge = req.QueryParam("purge");
      if (purge && *purge != "now") return absl::InvalidArgumentError("query parameter 'purge' must be \"now\"");
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"reason", "confirm"}));
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(std::optional<std::string> confirm, services::OptionalString(body, "confirm", 200));
      EV_ASSIGN_OR_RETURN(storage::Workspace ws, o_.service->GetWorkspace(p.org_id, req.Param("ws"), true));
      if (!confirm || *confirm != ws.key) {
        return services::WithErrorCode(
            absl::InvalidArgumentError(base::ToAbsl("field 'confirm': type the workspace's key (\"" + ws.key +
                                                    "\") to confirm the delete")),
            "confirmation_required");
      }
      if (o_.sdk_keys == nullptr) return absl::UnavailableError("workspace deletion is not available on this node");
      EV_ASSIGN_OR_RETURN(std::vector<storage::SdkKey> keys, o_.sdk_keys->ListSdkKeys(ws.org_id, ws.id));
      if (purge) {
        if (!ws.deleted()) {
          return services::WithErrorCode(
              absl::FailedPreconditionError("only a deleted workspace can be purged: delete it first (without "
                                            "?purge=now), then purge it"),
              "workspace_not_deleted");
        }
        workspace::Actor actor = ActorFor(p, req);
        EV_RETURN_IF_ERROR(o_.service->PurgeWorkspace(ws, reason, keys, PurgeAuditInto(&actor)));
        json::object out = WorkspaceJson(ws);
        out["purged"] = true;
        return services::JsonResponse(200, out);
      }
      if (ws.deleted()) {
        return services::WithErrorCode(
            absl::FailedPreconditionError(base::ToAbsl("workspace \"" + ws.key + "\" is deleted already; it is purged " +
                                                       services::FormatTime(*ws.purge_after) +
                                                       " (restore it, or DELETE it with ?purge=now)")),
            "workspace_deleted");
      }
      EV_ASSIGN_OR_RETURN(storage::Workspace deleted,
                          o_.service->DeleteWorkspace(ActorFor(p, req), ws, reason, o_.workspace_delete_grace, keys));
      WorkspaceListChanged(ws.org_id);  // its documents leave resources/list
      return services::JsonResponse(200, WorkspaceJson(deleted));
    });

    Route(r, http::verb::post, "/v1/workspaces/{ws}/restore", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"reason"}));
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(storage::Workspace ws, o_.service->GetWorkspace(p.org_id, req.Param("ws"), true));
      if (!ws.deleted()) {
        return services::WithErrorCode(
            absl::FailedPreconditionError(base::ToAbsl("workspace \"" + ws.key + "\" is not deleted")),
            "workspace_not_deleted");
      }
      if (o_.sdk_keys == nullptr) return absl::UnavailableError("workspace deletion is not available on this node");
      EV_ASSIGN_OR_RETURN(std::vector<storage::SdkKey> keys, o_.sdk_keys->ListSdkKeys(ws.org_id, ws.id));
      EV_ASSIGN_OR_RETURN(storage::Workspace restored,
                          o_.service->RestoreWorkspace(ActorFor(p, req), ws, reason, keys));
      WorkspaceListChanged(ws.org_id);
      return services::JsonResponse(200, WorkspaceJson(restored));
    });

    Route(r, http::verb::get, "/v1/workspaces/{ws}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(int64_t head, o_.service->Head(c.ws));
      EV_ASSIGN_OR_RETURN(std::vector<storage::Item> envs, o_.service->ListEnvironments(c.ws));
      json::array e;
      for (const auto& item : envs) e.push_back(ItemJson(item));
      return WithRevision(services::JsonResponse(200, json::object{{"id", c.ws.id}, {"key", c.ws.key},
                                                                   {"name", c.ws.name}, {"revision", head},
                                                                   {"environments", std::move(e)}}),
                          head);
    });

    // The whole workspace as one file (workspace_export.h; docs/design/workspace-export.md):
    // environments, configs, flags and segments whole, secrets by name only. Readers may
    // export what they may read. The file is of one revision: read again when a write came
    // between the lists (at most 3 tries, then 409).
    Route(r, http::verb::get, "/v1/workspaces/{ws}/export", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      const std::string format = req.QueryParam("format").value_or("yaml");
      if (format != "yaml" && format != "json") {
        return services::WithErrorCode(
            absl::InvalidArgumentError("query parameter 'format': yaml (the default) or json"), "bad_format");
      }
      for (int attempt = 0; attempt < 3; ++attempt) {
        EV_ASSIGN_OR_RETURN(int64_t head, o_.service->Head(c.ws));
        EV_ASSIGN_OR_RETURN(std::vector<storage::Item> envs, o_.service->ListEnvironments(c.ws));
        json::array env_json;
        for (const auto& item : envs) env_json.push_back(ItemJson(item));
        workspace::WorkspaceLists lists;
        for (auto [kind, into] : {std::pair{ItemKind::kConfig, &lists.configs}, std::pair{ItemKind::kFlag, &lists.flags},
                                  std::pair{ItemKind::kSegment, &lists.segments},
                                  std::pair{ItemKind::kSecret, &lists.secrets}}) {
          EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, o_.service->ListItems(c.ws, kind));
          for (const auto& item : items) into->push_back(ItemJson(item));
        }
        EV_ASSIGN_OR_RETURN(int64_t after, o_.service->Head(c.ws));
        if (after != head) continue;
        absl::StatusOr<workspace::WorkspaceExport> exported = workspace::WorkspaceExportFromApi(
            json::object{{"key", c.ws.key}, {"name", c.ws.name}, {"environments", std::move(env_json)}}, lists);
        if (!exported.ok()) return absl::InternalError(base::ToAbsl("export: " + std::string(exported.status().message())));
        net::Response resp;
        resp.status = 200;
        if (format == "yaml") {
          resp.content_type = "application/yaml; charset=utf-8";
          resp.body = workspace::WorkspaceExportToYaml(*exported);
        } else {
          resp.body = json::serialize(workspace::WorkspaceExportToJson(*exported)) + "\n";
        }
        resp.headers.emplace_back("Content-Disposition",
                                  "attachment; filename=\"" + c.ws.key + ".edgevault." + format + "\"");
        return WithRevision(std::move(resp), head);
      }
      return services::WithErrorCode(
          absl::AbortedError("the workspace changed while it was exported, three times; try again"), "conflict");
    });

    // Reads back what …/export wrote (docs/design/workspace-export.md §3): the environments
    // the workspace lacks are created (parents first), every config, flag and segment goes
    // in as ONE batch (all or none), then the new environments' policies are set. Each step
    // is the caller's own request to its route (CallRoute), authorized, validated and
    // audited as such. Secrets are named, never imported.
    Route(r, http::verb::post, "/v1/workspaces/{ws}/import", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"document", "document_text", "reason", "dry_run"}));
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      const json::value* dry = body.if_contains("dry_run");
      if (dry != nullptr && !dry->is_bool()) return absl::InvalidArgumentError("field 'dry_run': must be a boolean");
      const bool dry_run = dry != nullptr && dry->get_bool();
      json::value doc;
      if (const json::value* d = body.if_contains("document"); d != nullptr) {
        doc = *d;
      } else if (const json::value* t = body.if_contains("document_text"); t != nullptr && t->is_string()) {
        // YAML or JSON text (JSON is YAML); bounded: an import holds at most 2,000 items.
        absl::StatusOr<json::value> parsed = workspace::ParseYamlText(t->get_string(), 1'000'000);
        if (!parsed.ok()) {
          return services::WithErrorCode(
              absl::InvalidArgumentError(base::ToAbsl("field 'document_text': " + std::string(parsed.status().message()))),
              "bad_document");
        }
        doc = *std::move(parsed);
      } else {
        return services::WithErrorCode(
            absl::InvalidArgumentError("the body needs 'document' (the export as JSON) or 'document_text' (YAML or "
                                       "JSON text)"),
            "bad_document");
      }
      absl::StatusOr<workspace::WorkspaceExport> file = workspace::ParseWorkspaceExport(doc);
      if (!file.ok()) {
        return services::WithErrorCode(
            absl::InvalidArgumentError(base::ToAbsl(std::string(file.status().message()) + "; nothing was imported")),
            "bad_document");
      }
      EV_ASSIGN_OR_RETURN(std::vector<storage::Item> envs, o_.service->ListEnvironments(c.ws));
      json::array env_json;
      for (const auto& item : envs) env_json.push_back(ItemJson(item));
      absl::StatusOr<workspace::WorkspaceImportPlan> plan = workspace::PlanWorkspaceImport(*file, env_json);
      if (!plan.ok()) {
        return services::WithErrorCode(
            absl::FailedPreconditionError(base::ToAbsl(std::string(plan.status().message()) + "; nothing was imported")),
            "environment_conflict");
      }
      if (plan->changes.size() > workspace::kMaxBatchChanges) {
        return services::WithErrorCode(
            absl::InvalidArgumentError(base::ToAbsl(
                "the file holds " + std::to_string(plan->changes.size()) + " items; one import writes at most " +
                std::to_string(workspace::kMaxBatchChanges) + " (one batch): split it; nothing was imported")),
            "too_many_items");
      }
      json::array created, existing, policies, secrets;
      for (const auto& e : plan->create) created.push_back(json::value(e.key));
      for (const std::string& e : plan->existing) existing.push_back(json::value(e));
      for (const std::string& s : plan->secrets_not_imported) secrets.push_back(json::value(s));
      const std::string ws_path = "/v1/workspaces/" + c.ws.key;
      // A step's refusal answers with the step's own status and code, saying what stands.
      auto refused = [](const RouteAnswer& a, const std::string& what) {
        json::object err{{"code", "import_step_refused"}, {"message", what}};
        const json::value* inner = a.body.is_object() ? a.body.get_object().if_contains("error") : nullptr;
        if (inner != nullptr && inner->is_object()) {
          const json::object& o = inner->get_object();
          if (const json::value* code = o.if_contains("code"); code != nullptr && code->is_string()) err["code"] = *code;
          if (const json::value* m = o.if_contains("message"); m != nullptr && m->is_string()) {
            err["message"] = std::string(m->get_string()) + "; " + what;
          }
        }
        return services::JsonResponse(a.status >= 400 ? a.status : 500, json::object{{"error", std::move(err)}});
      };
      // A policy is set after the batch (it would govern the batch itself), so it is
      // checked first: a bad one refuses the import before anything is written.
      for (const auto& e : plan->create) {
        if (!e.policy) continue;
        if (absl::StatusOr<workspace::EnvironmentPolicy> p = workspace::ParsePolicy(*e.policy); !p.ok()) {
          return services::WithErrorCode(
              absl::InvalidArgumentError(base::ToAbsl("environments." + e.key + "." +
                                                      std::string(p.status().message()) + "; nothing was imported")),
              "bad_document");
        }
      }
      json::object out{{"dry_run", dry_run}, {"environments_created", json::array()},
                       {"environments_existing", existing}, {"secrets_not_imported", secrets},
                       {"items", plan->changes.size()}};
      if (dry_run) out["environments_to_create"] = created;
      // The new environments and every item: ONE batch, one commit, all or nothing.
      if (!plan->create.empty() || !plan->changes.empty()) {
        json::array new_envs;
        for (const auto& e : plan->create) {
          json::object env{{"key", e.key}, {"name", e.name}, {"protected", e.is_protected}};
          if (!e.parent.empty()) env["parent"] = e.parent;
          new_envs.push_back(std::move(env));
        }
        json::value batch = json::object{{"changes", plan->changes}, {"environments", std::move(new_envs)},
                                         {"reason", reason}, {"dry_run", dry_run}};
        RouteAnswer a = CallRoute(req, nullptr, http::verb::post, ws_path + "/batch", &batch, {});
        if (a.status / 100 != 2) return refused(a, dry_run ? "nothing was imported (dry run)" : "nothing was imported");
        out["batch"] = std::move(a.body);
      } else {
        out["batch"] = nullptr;
      }
      if (dry_run) return services::JsonResponse(200, out);
      out["environments_created"] = created;
      // The new environments' policies last: a change-requests-only policy would refuse
      // the import's own batch.
      for (const auto& e : plan->create) {
        if (!e.policy) continue;
        json::value policy = *e.policy;
        policy.as_object()["reason"] = reason;
        RouteAnswer a = CallRoute(req, nullptr, http::verb::put,
                                  ws_path + "/environments/" + e.key + "/policy", &policy, {});
        if (a.status / 100 != 2) {
          return refused(a, "the items were imported, but environment " + e.key +
                                " has no policy yet: set it (PUT …/environments/" + e.key + "/policy)");
        }
        policies.push_back(json::value(e.key));
      }
      out["policies_set"] = std::move(policies);
      return services::JsonResponse(200, out);
    });

    // Renames (the display name; the key never changes). Administering, with a reason.
    Route(r, http::verb::patch, "/v1/workspaces/{ws}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"name", "reason"}));
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(std::string name, services::RequiredString(body, "name", 200));
      EV_ASSIGN_OR_RETURN(storage::Workspace ws, o_.service->RenameWorkspace(ActorFor(c.p, req), c.ws, name, reason));
      WorkspaceListChanged(ws.org_id);
      return services::JsonResponse(200, json::object{{"id", ws.id}, {"key", ws.key}, {"name", ws.name},
                                                      {"created_at", services::FormatTime(ws.created_at)}});
    });

    Route(r, http::verb::post, "/v1/workspaces/{ws}/environments", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(WriteRequest w, ReadWrite(req));
      auto& [body, reason, if_match] = w;
      EV_ASSIGN_OR_RETURN(int64_t head, o_.service->CreateEnvironment(ActorFor(c.p, req), c.ws, body, reason, if_match));
      return WithRevision(services::JsonResponse(201, json::object{{"revision", head}}), head);
    });

    // Rename and protect/unprotect (admin, as creating is). Answers the environment as it is
    // now; a change that changes nothing writes no revision.
    Route(r, http::verb::patch, "/v1/workspaces/{ws}/environments/{env}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(WriteRequest w, ReadWrite(req));
      auto& [body, reason, if_match] = w;
      std::string env(req.Param("env"));
      EV_ASSIGN_OR_RETURN(int64_t head, o_.service->UpdateEnvironment(ActorFor(c.p, req), c.ws, env, body, reason, if_match));
      EV_ASSIGN_OR_RETURN(storage::Item item, o_.service->GetItem(c.ws, ItemKind::kEnvironment, env));
      return WithRevision(services::JsonResponse(200, json::object{{"revision", head}, {"environment", ItemJson(item)}}), head);
    });

    // Delete (admin): refused while SDK keys are bound to it unless revoke_sdk_keys, and
    // while environments inherit from it unless reparent_children_to says where they go.
    Route(r, http::verb::delete_, "/v1/workspaces/{ws}/environments/{env}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      json::object body;
      if (!req.body().empty()) {
        EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
      }
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"reason", "reparent_children_to", "revoke_sdk_keys"}));
      if (!body.contains("reason")) {
        if (std::optional<std::string> q = req.QueryParam("reason")) body["reason"] = *q;
      }
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(std::optional<int64_t> if_match, IfMatch(req));
      workspace::Service::EnvironmentDeletion deletion;
      if (const json::value* to = body.if_contains("reparent_children_to"); to != nullptr) {
        if (to->is_null()) {
          deletion.reparent_children_to = "";
        } else if (to->is_string() && to->get_string().size() <= 64) {
          deletion.reparent_children_to = std::string(to->get_string());
        } else {
          return absl::InvalidArgumentError(
              "field 'reparent_children_to': must be an environment key, or null to make the children roots");
        }
      }
      bool revoke = false;
      if (const json::value* v = body.if_contains("revoke_sdk_keys"); v != nullptr) {
        if (!v->is_bool()) return absl::InvalidArgumentError("field 'revoke_sdk_keys': must be a boolean");
        revoke = v->get_bool();
      }
      std::string env(req.Param("env"));
      EV_RETURN_IF_ERROR(o_.service->IsProtected(c.ws, env).status());  // NotFound before asking auth
      EV_ASSIGN_OR_RETURN(std::vector<std::string> keys, ActiveSdkKeys(c, env));
      if (!keys.empty() && !revoke) {
        return services::WithErrorCode(
            absl::FailedPreconditionError(base::ToAbsl(
                std::to_string(keys.size()) + " SDK key(s) still read environment \"" + env + "\" (" + keys.front() +
                (keys.size() > 1 ? ", ..." : "") +
                "): revoke them with it (revoke_sdk_keys: true; edgevault env delete --revoke-sdk-keys) or "
                "one by one (edgevault sdk-key revoke)")),
            "environment_has_sdk_keys");
      }
      EV_ASSIGN_OR_RETURN(int64_t head, o_.service->DeleteEnvironment(ActorFor(c.p, req), c.ws, env, deletion,
                                                                      reason, if_match));
      // After the environment is gone: a refused delete revokes nothing.
      json::array revoked;
      for (const std::string& id : keys) {
        EV_RETURN_IF_ERROR(RevokeSdkKey(c, req, env, id).status());
        revoked.push_back(json::string(id));
      }
      return WithRevision(services::JsonResponse(200, json::object{{"deleted", true}, {"environment", env},
                                                                   {"revision", head},
                                                                   {"revoked_sdk_keys", std::move(revoked)}}),
                          head);
    });

    Route(r, http::verb::get, "/v1/workspaces/{ws}/environments", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(std::vector<storage::Item> envs, o_.service->ListEnvironments(c.ws));
      json::array e;
      for (const auto& item : envs) e.push_back(ItemJson(item));
      return services::JsonResponse(200, json::object{{"environments", std::move(e)}});
    });

    // Before the item routes: GET .../flags/stale is the report, not a flag (the key is reserved).
    Route(r, http::verb::get, "/v1/workspaces/{ws}/flags/stale", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(int64_t days, QueryInt(req, "days", 30, 0, 3650));
      absl::Time now = o_.env->Now();
      // "Not evaluated for N days" needs the usage delivery reported (docs/design/usage.md).
      std::optional<std::map<std::string, int64_t>> last_evaluated;
      if (o_.usage != nullptr) {
        EV_ASSIGN_OR_RETURN(last_evaluated, o_.usage->LastEvaluated(c.ws.id));
      }
      EV_ASSIGN_OR_RETURN(std::vector<workspace::StaleFlag> stale,
                          workspace::FindStaleFlags(*o_.service, c.ws, now, days,
                                                    last_evaluated ? &*last_evaluated : nullptr));
      json::array flags;
      for (workspace::StaleFlag& s : stale) {
        json::object o{{"key", s.key}, {"reason", s.reason}, {"evidence", std::move(s.evidence)}};
        // Who to ask: the flag's owner and lifecycle, as set.
        absl::StatusOr<storage::Item> item = o_.service->GetItem(c.ws, ItemKind::kFlag, s.key);
        json::value body = item.ok() ? ParseOrNull(item->body) : json::value(nullptr);
        for (const char* m : {"owner", "lifecycle", "remove_after"}) {
          const json::value* v = body.is_object() ? body.get_object().if_contains(m) : nullptr;
          if (v != nullptr) o[m] = *v;
        }
        flags.push_back(std::move(o));
      }
      return services::JsonResponse(200, json::object{{"days", days}, {"now", services::FormatTime(now)},
                                                      {"flags", std::move(flags)}});
    });
    InstallUsage(r);
    for (const KindRoute& k : kKinds) InstallKind(r, k);
    InstallAudit(r);
    InstallWebhooks(r);
    InstallOrgWebhooks(r);
    InstallChangeRequests(r);
    InstallAi(r);
    InstallLeakScan(r);
    InstallMcp(r);

    Route(r, http::verb::get, "/v1/workspaces/{ws}/environments/{env}/resolved", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(std::string doc, o_.service->Resolve(c.ws, req.Param("env")));
      net::Response resp = net::Response::Json(200, doc);
      resp.WithHeader("ETag", workspace::ResolvedDocumentEtag(doc));
      return resp;
    });

    // "Evaluate as": the flag for one context in every environment, by the evaluator delivery
    // uses, on the document delivery would serve (resolved now, so a write just made shows).
    Route(r, http::verb::post, "/v1/workspaces/{ws}/flags/{key}/evaluate", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"context"}));
      const json::value* given = body.if_contains("context");
      absl::StatusOr<eval::Context> context = eval::ContextFromOfrep(given != nullptr ? *given : json::value(nullptr));
      if (!context.ok()) {
        return services::WithErrorCode(
            absl::InvalidArgumentError(base::ToAbsl("field 'context': " + std::string(context.status().message()) +
                                                     " (send {\"context\": {\"targetingKey\": \"user-1\", ...attributes}})")),
            "invalid_context");
      }
      std::string key(req.Param("key"));
      EV_RETURN_IF_ERROR(o_.service->GetItem(c.ws, ItemKind::kFlag, key).status());
      EV_ASSIGN_OR_RETURN(std::vector<storage::Item> envs, o_.service->ListEnvironments(c.ws));
      json::array out;
      for (const storage::Item& env : envs) out.push_back(EvaluateIn(c.ws, env.key, key, *context));
      return services::JsonResponse(200, json::object{{"flag", key}, {"environments", std::move(out)}});
    });

    Route(r, http::verb::get, "/v1/workspaces/{ws}/revisions", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(int64_t after, QueryInt(req, "after", 0, 0, INT64_MAX));
      EV_ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
      EV_ASSIGN_OR_RETURN(std::vector<storage::Revision> revs,
                          o_.service->ListRevisions(c.ws, after, static_cast<int>(limit)));
      EV_ASSIGN_OR_RETURN(int64_t head, o_.service->Head(c.ws));
      json::array a;
      for (const auto& rev : revs) a.push_back(RevisionJson(rev));
      json::object o{{"revisions", std::move(a)}, {"head", head}};
      o["next_after"] = revs.empty() ? json::value(nullptr) : json::value(revs.back().seq);
      return WithRevision(services::JsonResponse(200, o), head);
    });

    Route(r, http::verb::post, "/v1/workspaces/{ws}/revisions/{n}/revert", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      int64_t n = 0;
      std::string_view ns = req.Param("n");
      auto [p, ec] = std::from_chars(ns.data(), ns.data() + ns.size(), n);
      if (ec != std::errc() || p != ns.data() + ns.size() || n < 1) {
        return absl::InvalidArgumentError("the revision number must be a positive integer");
      }
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"reason"}));
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(std::optional<int64_t> if_match, IfMatch(req));
      EV_ASSIGN_OR_RETURN(int64_t head, o_.service->Revert(ActorFor(c.p, req), c.ws, n, reason, if_match, Writer(c)));
      return WithRevision(services::JsonResponse(200, json::object{{"revision", head}, {"reverted", n}}), head);
    });

    Route(r, http::verb::post, "/v1/workspaces/{ws}/rollback", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"to_revision", "reason", "dry_run"}));
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(std::optional<int64_t> to, services::OptionalInt(body, "to_revision", 0, INT64_MAX));
      if (!to) return absl::InvalidArgumentError("field 'to_revision': is required");
      EV_ASSIGN_OR_RETURN(std::optional<bool> dry_run, services::OptionalBool(body, "dry_run"));
      EV_ASSIGN_OR_RETURN(std::optional<int64_t> if_match, IfMatch(req));
      if (dry_run.value_or(false)) {
        // Every check a rollback makes, and what it would write, item by item.
        std::vector<workspace::Service::PlannedRestore> plan;
        EV_ASSIGN_OR_RETURN(int64_t head, o_.service->Rollback(ActorFor(c.p, req), c.ws, *to, reason, if_match,
                                                               Writer(c), &plan));
        json::array changes;
        for (const auto& p : plan) {
          changes.push_back(json::object{{"kind", storage::ItemKindName(p.kind)}, {"key", p.key}, {"action", p.action}});
        }
        return WithRevision(services::JsonResponse(200, json::object{{"dry_run", true}, {"revision", head},
                                                                     {"to_revision", *to}, {"changes", std::move(changes)}}),
                            head);
      }
      EV_ASSIGN_OR_RETURN(int64_t before, o_.service->Head(c.ws));
      EV_ASSIGN_OR_RETURN(int64_t head,
                          o_.service->Rollback(ActorFor(c.p, req), c.ws, *to, reason, if_match, Writer(c)));
      return WithRevision(services::JsonResponse(200, json::object{{"revision", head}, {"to_revision", *to},
                                                                   {"revisions_written", head - before}}),
                          head);
    });

    Route(r, http::verb::get, "/v1/workspaces/{ws}/activity", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(int64_t after, QueryInt(req, "after", 0, 0, INT64_MAX));
      EV_ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
      // Activity = revisions (writes) + non-write events, each paged by its own cursor.
      EV_ASSIGN_OR_RETURN(std::vector<storage::Revision> revs,
                          o_.service->ListRevisions(c.ws, after, static_cast<int>(limit)));
      EV_ASSIGN_OR_RETURN(int64_t events_after, QueryInt(req, "events_after", 0, 0, INT64_MAX));
      EV_ASSIGN_OR_RETURN(std::vector<storage::Activity> acts,
                          o_.service->ListActivity(c.ws, events_after, static_cast<int>(limit)));
      json::array a;
      for (const auto& rev : revs) {
        json::object o = RevisionJson(rev);
        o["type"] = "revision";
        a.push_back(std::move(o));
      }
      for (const auto& act : acts) {
        a.push_back(json::object{{"type", "event"}, {"id", act.id}, {"time", services::FormatTime(act.time)},
                                 {"actor", act.actor}, {"action", act.action},
                                 {"details", ParseOrNull(act.details)}});
      }
      return services::JsonResponse(200, json::object{{"activity", std::move(a)}});
    });

    Route(r, http::verb::get, "/v1/workspaces/{ws}/events", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      net::Response resp;
      workspace::Service* service = o_.service;
      storage::Workspace ws = c.ws;
      ApiAuth* auth = o_.auth;
      Principal p = c.p;
      resp.sse = [service, ws, auth, p](std::shared_ptr<net::SseStream> stream) {
        struct State {
          std::mutex mu;
          int64_t last_sent = 0;
        };
        auto state = std::make_shared<State>();
        // The stream lives as long as the subscriber holds rights in the org: the first
        // recheck that finds its key revoked or its membership gone ends it (within one
        // recheck interval, even when no revision follows), and no revision is sent after.
        std::weak_ptr<net::SseStream> weak = stream;
        uint64_t watch = auth->WatchRevocation(p, [weak] {
          if (auto s = weak.lock()) s->Close();
        });
        auto send = [stream, state, auth, p](const storage::Revision& rev) {
          std::lock_guard<std::mutex> lock(state->mu);
          if (auth->Revoked(p)) {
            stream->Close();
            return;
          }
          if (rev.seq <= state->last_sent) return;
          state->last_sent = rev.seq;
          stream->Send({std::to_string(rev.seq), "revision", json::serialize(RevisionJson(rev))});
        };
        uint64_t id = service->Subscribe(ws.id, [send](const workspace::RevisionEvent& e) { send(e.revision); });
        stream->OnClose([service, id, auth, watch] {
          service->Unsubscribe(id);
          auth->Unwatch(watch);
        });
        // Resume: everything after Last-Event-ID first (the live feed skips what was sent).
        int64_t after = 0;
        std::string_view last = stream->last_event_id();
        if (!last.empty()) std::from_chars(last.data(), last.data() + last.size(), after);
        else {
          absl::StatusOr<int64_t> head = service->Head(ws);
          after = head.ok() ? *head : 0;
          std::lock_guard<std::mutex> lock(state->mu);
          state->last_sent = std::max(state->last_sent, after);
        }
        for (;;) {
          absl::StatusOr<std::vector<storage::Revision>> revs = service->ListRevisions(ws, after, 1000);
          if (!revs.ok() || revs->empty()) break;
          for (const auto& rev : *revs) send(rev);
          after = revs->back().seq;
        }
        stream->SendComment("connected");
      };
      return resp;
    });

    // Secret values: their own permission, checked against the environment each value
    // comes from (an inherited protected value is as protected as where it is set), and
    // recorded on every read (fail closed).
    auto secret_values = [this](net::Request& req, std::optional<std::string> key) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kReadSecretValues));
      std::string env(req.Param("env"));
      Principal p = c.p;
      workspace::SecretReadAuthorizer may_read = [p](std::string_view source, bool is_protected) {
        return ApiAuth::Authorize(p, Action::kReadSecretValues,
                                  is_protected ? std::set<std::string>{std::string(source)} : std::set<std::string>{});
      };
      EV_ASSIGN_OR_RETURN(workspace::SecretValues read,
                          o_.service->ReadSecretValues(ActorFor(c.p, req), c.ws, env, key, may_read));
      json::object o;
      o["environment"] = env;
      if (key) {
        o["key"] = *key;
        o["value"] = std::string(read.values.begin()->second.view());
      } else {
        json::object secrets;
        for (const auto& [k, v] : read.values) secrets[k] = std::string(v.view());
        o["secrets"] = std::move(secrets);
        json::object withheld;
        for (const auto& w : read.withheld) {
          withheld[w.key] = json::object{{"from", w.from}, {"reason", w.reason}};
        }
        o["withheld"] = std::move(withheld);
      }
      net::Response resp = services::JsonResponse(200, o);
      resp.WithHeader("Cache-Control", "no-store");
      return resp;
    };
    Route(r, http::verb::get, "/v1/workspaces/{ws}/environments/{env}/secrets",
          [secret_values](net::Request& req) { return secret_values(req, std::nullopt); });
    Route(r, http::verb::get, "/v1/workspaces/{ws}/environments/{env}/secrets/{key}",
          [secret_values](net::Request& req) { return secret_values(req, std::string(req.Param("key"))); });

    Route(r, http::verb::post, "/v1/workspaces/{ws}/environments/{env}/sdk-keys", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      std::string env(req.Param("env"));
      EV_ASSIGN_OR_RETURN(bool prot, o_.service->IsProtected(c.ws, env));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(c.p, Action::kWrite, prot ? std::set<std::string>{env} : std::set<std::string>{}));
      json::object body;
      if (!req.body().empty()) {
        EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
      }
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"name", "kind", "origins"}));
      EV_ASSIGN_OR_RETURN(std::optional<std::string> name, services::OptionalString(body, "name", 100));
      if (name && name->find_first_not_of(" \t\r\n") == std::string::npos) {
        return absl::InvalidArgumentError("field 'name': must not be empty (leave it out to name the key after the environment)");
      }
      // kind "client": a key safe in a web page (client-visible items only, CORS for
      // `origins`); docs/delivery.md, "Client keys".
      EV_ASSIGN_OR_RETURN(std::optional<std::string> kind_name, services::OptionalString(body, "kind", 16));
      if (kind_name && *kind_name != "server" && *kind_name != "client") {
        return absl::InvalidArgumentError("field 'kind': must be \"server\" (the default) or \"client\"");
      }
      const bool client = kind_name == "client";
      EV_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> origins_given,
                          services::OptionalStringArray(body, "origins", services::kMaxBrowserOrigins, 300));
      if (origins_given && !origins_given->empty() && !client) {
        return absl::InvalidArgumentError(
            "field 'origins': only client keys (\"kind\": \"client\") have browser origins; a server key "
            "must never be used from a browser");
      }
      std::vector<std::string> origins;
      if (origins_given) {
        EV_ASSIGN_OR_RETURN(origins, services::NormalizeBrowserOrigins(*origins_given));
      }
      json::object mint{{"org_id", c.ws.org_id}, {"workspace_id", c.ws.id},
                        {"environment", env}, {"name", name.value_or(env)},
                        {"created_by", c.p.ActorId()}};
      if (client) {
        mint["kind"] = "client";
        mint["origins"] = json::array(origins.begin(), origins.end());
      }
      EV_ASSIGN_OR_RETURN(json::object minted,
                          CallAuth("/internal/v1/sdk-keys", 201, "mint the SDK key", mint));
      // auth's answer is checked before use: a reply of another shape is a 503, not a crash.
      std::map<std::string, std::string> got;
      for (const char* field : {"id", "key", "prefix", "key_hash"}) {
        const json::value* v = minted.if_contains(field);
        if (v == nullptr || !v->is_string()) {
          return absl::UnavailableError("the auth service answered an unexpected body");
        }
        got[field] = std::string(v->get_string());
      }
      const storage::SdkKeyKind kind = client ? storage::SdkKeyKind::kClient : storage::SdkKeyKind::kServer;
      EV_RETURN_IF_ERROR(o_.service->PublishSdkKey(got["key_hash"], c.ws, env, kind, origins));
      EV_RETURN_IF_ERROR(o_.service->RecordActivity(ActorFor(c.p, req), c.ws, "workspace.sdk_key.create",
                                                    {{"environment", env}, {"sdk_key", got["id"]},
                                                     {"kind", storage::SdkKeyKindName(kind)}},
                                                    env, "sdk_key:" + got["id"]));
      json::object created{{"id", got["id"]}, {"key", got["key"]}, {"prefix", got["prefix"]},
                           {"environment", env}, {"kind", storage::SdkKeyKindName(kind)}};
      if (client) created["origins"] = json::array(origins.begin(), origins.end());
      return services::JsonResponse(201, created);
    });

    // SDK keys of a workspace: metadata only (the key is shown once, at creation).
    Route(r, http::verb::get, "/v1/workspaces/{ws}/sdk-keys", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(json::object listed,
                          CallAuth("/internal/v1/sdk-keys/list", 200, "list the SDK keys",
                                   json::object{{"org_id", c.ws.org_id}, {"workspace_id", c.ws.id}}));
      json::array keys;
      if (json::value* all = listed.if_contains("sdk_keys"); all != nullptr && all->is_array()) {
        keys = std::move(all->as_array());
      }
      for (json::value& k : keys) {
        if (!k.is_object()) return absl::UnavailableError("the auth service answered an unexpected body");
        k.as_object().erase("key_hash");
      }
      return services::JsonResponse(200, json::object{{"sdk_keys", std::move(keys)}});
    });

    // Revocation: auth marks the key revoked, then its edge KV binding is deleted, so
    // delivery refuses the key on its next request (it checks the binding every time).
    Route(r, http::verb::delete_, "/v1/workspaces/{ws}/environments/{env}/sdk-keys/{id}",
          [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      std::string env(req.Param("env")), id(req.Param("id"));
      EV_ASSIGN_OR_RETURN(bool prot, o_.service->IsProtected(c.ws, env));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(c.p, Action::kWrite, prot ? std::set<std::string>{env} : std::set<std::string>{}));
      EV_ASSIGN_OR_RETURN(bool already, RevokeSdkKey(c, req, env, id));
      if (already) {
        return services::WithErrorCode(absl::FailedPreconditionError("the SDK key is already revoked"),
                                       "already_revoked");
      }
      return services::JsonResponse(200, json::object{{"id", id}, {"environment", env}, {"revoked", true}});
    });
  }

  // Revokes SDK key `id` of environment `env` at auth, then deletes its edge KV binding
  // (also when it was revoked before: a KV deletion that failed then is finished now) and
  // records the revocation. Returns whether it was already revoked (nothing recorded).
  absl::StatusOr<bool> RevokeSdkKey(const Ctx& c, net::Request& req, const std::string& env, const std::string& id) {
    absl::StatusOr<json::object> revoked =
        CallAuth("/internal/v1/sdk-keys/revoke", 200, "revoke the SDK key",
                 json::object{{"org_id", c.ws.org_id}, {"workspace_id", c.ws.id}, {"environment", env},
                              {"id", id}, {"revoked_by", c.p.ActorId()}});
    if (absl::IsNotFound(revoked.status())) {
      return absl::NotFoundError(base::ToAbsl("no SDK key " + id + " for environment \"" + env + "\""));
    }
    EV_RETURN_IF_ERROR(revoked.status());
    const json::value* hash = revoked->if_contains("key_hash");
    if (hash == nullptr || !hash->is_string()) {
      return absl::UnavailableError("the auth service answered an unexpected body");
    }
    EV_RETURN_IF_ERROR(o_.service->UnpublishSdkKey(std::string(hash->as_string())));
    const json::value* already = revoked->if_contains("already_revoked");
    if (already != nullptr && already->is_bool() && already->as_bool()) return true;
    EV_RETURN_IF_ERROR(o_.service->RecordActivity(ActorFor(c.p, req), c.ws, "workspace.sdk_key.revoke",
                                                  {{"environment", env}, {"sdk_key", id}}, env, "sdk_key:" + id));
    return false;
  }

  // The ids of the SDK keys auth holds for environment `env` that are not revoked.
  absl::StatusOr<std::vector<std::string>> ActiveSdkKeys(const Ctx& c, const std::string& env) {
    EV_ASSIGN_OR_RETURN(json::object listed,
                        CallAuth("/internal/v1/sdk-keys/list", 200, "list the SDK keys",
                                 json::object{{"org_id", c.ws.org_id}, {"workspace_id", c.ws.id}}));
    const json::value* all = listed.if_contains("sdk_keys");
    if (all == nullptr || !all->is_array()) return absl::UnavailableError("the auth service answered an unexpected body");
    std::vector<std::string> ids;
    for (const json::value& k : all->get_array()) {
      const json::value* id = k.is_object() ? k.get_object().if_contains("id") : nullptr;
      const json::value* e = k.is_object() ? k.get_object().if_contains("environment") : nullptr;
      const json::value* revoked = k.is_object() ? k.get_object().if_contains("revoked_at") : nullptr;
      if (id == nullptr || !id->is_string() || e == nullptr || !e->is_string()) {
        return absl::UnavailableError("the auth service answered an unexpected body");
      }
      if (e->get_string() == env && (revoked == nullptr || revoked->is_null())) ids.emplace_back(id->get_string());
    }
    return ids;
  }

  // One environment's answer for the evaluate route: {environment, version, value, variant,
  // reason, rule_index?, rule_id?, in_experiment?, failed_prerequisite?} or, when the flag
  // cannot be evaluated there, {environment, reason: "ERROR", error: {code, message}}.
  json::object EvaluateIn(const storage::Workspace& ws, const std::string& env, const std::string& key,
                          const eval::Context& context) {
    json::object o{{"environment", env}};
    auto error = [&](std::string_view code, std::string message) {
      o["value"] = nullptr;
      o["reason"] = eval::kReasonError;
      o["error"] = json::object{{"code", code}, {"message", std::move(message)}};
      return o;
    };
    absl::StatusOr<std::string> doc = o_.service->Resolve(ws, env);
    if (!doc.ok()) return error(eval::kErrorGeneral, std::string(doc.status().message()));
    json::value parsed = ParseOrNull(*doc);
    static const json::object kEmpty;
    auto member = [&](std::string_view name) -> const json::object& {
      const json::value* v = parsed.is_object() ? parsed.get_object().if_contains(name) : nullptr;
      return v != nullptr && v->is_object() ? v->get_object() : kEmpty;
    };
    if (const json::value* v = parsed.is_object() ? parsed.get_object().if_contains("version") : nullptr) o["version"] = *v;
    const json::object& flags = member("flags");
    const json::value* flag = flags.if_contains(key);
    if (flag == nullptr || !flag->is_object()) {
      return error(eval::kErrorFlagNotFound, "the flag has no configuration in this environment (nor in one it inherits from)");
    }
    absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set = eval::FlagSet::Build(flags, member("segments"), env);
    if (!set.ok()) {
      return error(eval::kErrorGeneral, "the environment's flags could not be compiled: " + std::string(set.status().message()));
    }
    eval::EvalResult r = eval::Evaluate(**set, key, context);
    if (r.reason == eval::kReasonError) {
      return error(r.error_code, r.error_message.empty() ? std::string(r.error_code) : r.error_message);
    }
    o["value"] = r.value != nullptr ? *r.value : json::value(nullptr);
    if (r.variation >= 0) o["variant"] = eval::VariantName(flag->get_object(), r.variation);
    o["reason"] = r.reason;
    if (r.rule_index >= 0) o["rule_index"] = r.rule_index;
    if (!r.rule_id.empty()) o["rule_id"] = r.rule_id;
    if (r.in_experiment) o["in_experiment"] = true;
    if (!r.failed_prerequisite.empty()) o["failed_prerequisite"] = r.failed_prerequisite;
    return o;
  }

  // POSTs `body` to auth's signed internal `target`; Unavailable unless it answers
  // `want` with a JSON object, NotFound when it answers 404.
  absl::StatusOr<json::object> CallAuth(std::string target, int want, std::string_view what,
                                        const json::object& body) {
    net::ClientRequest call;
    call.method = "POST";
    call.target = std::move(target);
    call.headers.push_back({"Content-Type", "application/json"});
    call.body = json::serialize(body);
    absl::StatusOr<net::ClientResponse> resp = o_.auth_client->Do(o_.auth_host, o_.auth_port, call);
    if (resp.ok() && resp->status == 404) {
      return absl::NotFoundError(base::ToAbsl("the auth service does not know it (" + std::string(what) + ")"));
    }
    if (!resp.ok() || resp->status != want) {
      return absl::UnavailableError(base::ToAbsl("the auth service could not " + std::string(what) + "; try again"));
    }
    json::value v = ParseOrNull(resp->body);
    if (!v.is_object()) return absl::UnavailableError("the auth service answered an unexpected body");
    return std::move(v.as_object());
  }

  // PATCH of a config, flag or segment (docs/api.md): the body is a JSON Patch (RFC 6902,
  // application/json-patch+json) or a JSON Merge Patch (RFC 7396,
  // application/merge-patch+json) of the stored document, the reason is the query
  // parameter `reason`. The service applies it under the write lock, then validates,
  // authorizes and writes the result exactly like a PUT.
  absl::StatusOr<net::Response> PatchItem(net::Request& req, ItemKind kind) {
    EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
    std::string_view type = req.Header("Content-Type");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    bool merge = type == "application/merge-patch+json";
    if (!merge && type != "application/json-patch+json") {
      return services::WithErrorCode(
          absl::InvalidArgumentError("PATCH takes Content-Type application/json-patch+json (RFC 6902) or "
                                     "application/merge-patch+json (RFC 7396)"),
          "unsupported_media_type");
    }
    boost::system::error_code ec;
    json::value patch = json::parse(req.body(), ec);
    if (ec) {
      return services::WithErrorCode(
          absl::InvalidArgumentError(base::ToAbsl("the request body is not valid JSON: " + ec.message())), "bad_json");
    }
    if (std::optional<std::string> at = base::FindNonFiniteNumber(patch)) {
      return services::WithErrorCode(
          absl::InvalidArgumentError(base::ToAbsl("'" + *at + "': numbers must be finite")), "bad_json");
    }
    json::object reason_holder;
    if (std::optional<std::string> q = req.QueryParam("reason")) reason_holder["reason"] = *q;
    EV_ASSIGN_OR_RETURN(std::string reason, Reason(reason_holder));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> if_match, IfMatch(req));
    std::string key(req.Param("key"));
    auto apply = [&](const json::object& current) -> absl::StatusOr<json::object> {
      json::value result;
      if (merge) {
        result = base::ApplyMergePatch(current, patch);
      } else {
        absl::StatusOr<json::value> r = base::ApplyJsonPatch(current, patch);
        if (!r.ok()) {
          bool test_failed = r.status().code() == absl::StatusCode::kFailedPrecondition;
          return services::WithErrorCode(r.status(), test_failed ? "patch_test_failed" : "bad_patch");
        }
        result = *std::move(r);
      }
      if (!result.is_object()) {
        return services::WithErrorCode(absl::InvalidArgumentError("the patched document must be a JSON object"),
                                       "bad_patch");
      }
      return std::move(result.get_object());
    };
    auto leaks = std::make_shared<LeakReport>();
    EV_ASSIGN_OR_RETURN(int64_t head, o_.service->PatchItem(ActorFor(c.p, req), c.ws, kind, key, apply, reason,
                                                            if_match, WithLeakScan(Writer(c), leaks)));
    EV_ASSIGN_OR_RETURN(storage::Item item, o_.service->GetItem(c.ws, kind, key));
    json::object o = ItemJson(item);
    o["workspace_revision"] = head;
    AttachLeakWarnings(c, req, *leaks, head, o);
    return WithRevision(services::JsonResponse(200, o), head);
  }

  void InstallKind(net::Router& r, KindRoute k) {
    std::string base = "/v1/workspaces/{ws}/" + std::string(k.plural);
    ItemKind kind = k.kind;
    Route(r, http::verb::get, base, [this, kind](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, o_.service->ListItems(c.ws, kind));
      json::array a;
      for (const auto& item : items) a.push_back(ItemJson(item));
      return services::JsonResponse(200, json::object{{"items", std::move(a)}});
    });
    Route(r, http::verb::get, base + "/{key}", [this, kind](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(storage::Item item, o_.service->GetItem(c.ws, kind, req.Param("key")));
      return WithRevision(services::JsonResponse(200, ItemJson(item)), item.revision);
    });
    Route(r, http::verb::put, base + "/{key}", [this, kind](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(WriteRequest w, ReadWrite(req));
      auto& [body, reason, if_match] = w;
      std::string key(req.Param("key"));
      int64_t head;
      auto leaks = std::make_shared<LeakReport>();
      if (kind == ItemKind::kSecret) {
        EV_ASSIGN_OR_RETURN(head, o_.service->PutSecret(ActorFor(c.p, req), c.ws, key, body, reason, if_match,
                                                        Writer(c)));
      } else {
        EV_ASSIGN_OR_RETURN(head, o_.service->PutItem(ActorFor(c.p, req), c.ws, kind, key, body, reason, if_match,
                                                      WithLeakScan(Writer(c), leaks)));
      }
      EV_ASSIGN_OR_RETURN(storage::Item item, o_.service->GetItem(c.ws, kind, key));
      json::object o = ItemJson(item);
      o["workspace_revision"] = head;
      AttachLeakWarnings(c, req, *leaks, head, o);
      return WithRevision(services::JsonResponse(200, o), head);
    });
    if (kind != ItemKind::kSecret) {
      Route(r, http::verb::patch, base + "/{key}", [this, kind](net::Request& req) -> absl::StatusOr<net::Response> {
        return PatchItem(req, kind);
      });
    }
    Route(r, http::verb::delete_, base + "/{key}", [this, kind](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      json::object body;
      if (!req.body().empty()) {
        EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
      }
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"reason"}));
      if (!body.contains("reason")) {
        if (std::optional<std::string> q = req.QueryParam("reason")) body["reason"] = *q;
      }
      EV_ASSIGN_OR_RETURN(std::string reason, Reason(body));
      EV_ASSIGN_OR_RETURN(std::optional<int64_t> if_match, IfMatch(req));
      std::string key(req.Param("key"));
      EV_ASSIGN_OR_RETURN(int64_t head,
                          o_.service->DeleteItem(ActorFor(c.p, req), c.ws, kind, key, reason, if_match, Writer(c)));
      return WithRevision(services::JsonResponse(200, json::object{{"deleted", true}, {"revision", head}}), head);
    });
  }

  // Webhooks of a workspace (docs/design/webhooks.md): admins only; the secret is shown
  // once, by create and rotate-secret.
  // Evaluation usage (docs/design/usage.md): delivery's submissions and flag insights.
  void InstallUsage(net::Router& r) {
    net::RouteOptions from_delivery;
    from_delivery.internal_callers = {"delivery"};  // delivery's credential: this route only
    r.AddAsync(
        http::verb::post, "/internal/v1/usage",
        [this](net::Request& req, net::Responder respond) {
          boost::asio::post(pool_, net::CatchingTask([this, &req, respond = std::move(respond)]() {
            if (o_.usage == nullptr) {
              respond(net::Response::Error(503, "unavailable", "this api keeps no usage"));
              return;
            }
            absl::StatusOr<json::object> accepted = AcceptUsage(*o_.usage, req.body(), o_.env->Now(), &last_usage_prune_);
            respond(accepted.ok() ? services::JsonResponse(200, *accepted) : services::ErrorResponse(accepted.status()));
          }));
        },
        from_delivery);

    // Authorized as reading the flag: the workspace's read right, a flag that exists, an
    // environment that exists.
    Route(r, http::verb::get, "/v1/workspaces/{ws}/flags/{key}/insights", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      std::string key(req.Param("key"));
      EV_RETURN_IF_ERROR(o_.service->GetItem(c.ws, ItemKind::kFlag, key).status());
      std::optional<std::string> env = req.QueryParam("env");
      if (!env || env->empty()) {
        return services::WithErrorCode(
            absl::InvalidArgumentError("query parameter 'env' is required: the environment whose evaluations to show"),
            "bad_range");
      }
      EV_ASSIGN_OR_RETURN(InsightsRange range, ParseInsightsRange(req.QueryParam("from"), req.QueryParam("to"),
                                                                  req.QueryParam("step"), o_.env->Now()));
      EV_RETURN_IF_ERROR(o_.service->GetItem(c.ws, ItemKind::kEnvironment, *env).status());
      if (o_.usage == nullptr) return absl::UnavailableError("this api keeps no usage");
      EV_ASSIGN_OR_RETURN(json::object answer, FlagInsights(*o_.usage, c.ws.id, *env, key, range));
      return services::JsonResponse(200, answer);
    });

    // The SDK requests delivery answered for an environment, per endpoint and key kind.
    // Authorized as reading the workspace; the environment must exist.
    Route(r, http::verb::get, "/v1/workspaces/{ws}/environments/{env}/sdk-usage",
          [this](net::Request& req) -> absl::StatusOr<net::Response> {
            EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
            std::string env(req.Param("env"));
            EV_ASSIGN_OR_RETURN(InsightsRange range, ParseInsightsRange(req.QueryParam("from"), req.QueryParam("to"),
                                                                        req.QueryParam("step"), o_.env->Now()));
            EV_RETURN_IF_ERROR(o_.service->GetItem(c.ws, ItemKind::kEnvironment, env).status());
            if (o_.usage == nullptr) return absl::UnavailableError("this api keeps no usage");
            EV_ASSIGN_OR_RETURN(json::object answer, SdkUsage(*o_.usage, c.ws.id, env, range));
            return services::JsonResponse(200, answer);
          });
  }

  void InstallWebhooks(net::Router& r) {
    const std::string base = "/v1/workspaces/{ws}/webhooks";
    Route(r, http::verb::post, base, [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_ASSIGN_OR_RETURN(workspace::WebhookWithSecret created,
                          o_.service->CreateWebhook(ActorFor(c.p, req), c.ws, body));
      EV_ASSIGN_OR_RETURN(json::object o, WebhookJson(created.row));
      o["secret"] = created.secret;
      net::Response resp = services::JsonResponse(201, o);
      resp.WithHeader("Cache-Control", "no-store");
      return resp;
    });
    Route(r, http::verb::get, base, [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(std::vector<storage::WebhookRow> rows, o_.service->ListWebhooks(c.ws));
      json::array a;
      for (const auto& row : rows) {
        EV_ASSIGN_OR_RETURN(json::object o, WebhookJson(row));
        if (o.contains("org")) continue;  // an org webhook's copy: GET /v1/webhooks shows it
        a.push_back(std::move(o));
      }
      return services::JsonResponse(200, json::object{{"webhooks", std::move(a)}});
    });
    Route(r, http::verb::get, base + "/{id}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(storage::WebhookRow row, WorkspaceWebhook(c.ws, req.Param("id")));
      EV_ASSIGN_OR_RETURN(json::object o, WebhookJson(row));
      return services::JsonResponse(200, o);
    });
    Route(r, http::verb::patch, base + "/{id}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(WorkspaceWebhook(c.ws, req.Param("id")).status());
      EV_ASSIGN_OR_RETURN(storage::WebhookRow row,
                          o_.service->UpdateWebhook(ActorFor(c.p, req), c.ws, req.Param("id"), body));
      EV_ASSIGN_OR_RETURN(json::object o, WebhookJson(row));
      return services::JsonResponse(200, o);
    });
    Route(r, http::verb::post, base + "/{id}/rotate-secret", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_RETURN_IF_ERROR(WorkspaceWebhook(c.ws, req.Param("id")).status());
      EV_ASSIGN_OR_RETURN(workspace::WebhookWithSecret rotated,
                          o_.service->RotateWebhookSecret(ActorFor(c.p, req), c.ws, req.Param("id")));
      EV_ASSIGN_OR_RETURN(json::object o, WebhookJson(rotated.row));
      o["secret"] = rotated.secret;
      net::Response resp = services::JsonResponse(200, o);
      resp.WithHeader("Cache-Control", "no-store");
      return resp;
    });
    Route(r, http::verb::delete_, base + "/{id}", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      std::string id(req.Param("id"));
      EV_RETURN_IF_ERROR(WorkspaceWebhook(c.ws, id).status());
      EV_RETURN_IF_ERROR(o_.service->DeleteWebhook(ActorFor(c.p, req), c.ws, id));
      return services::JsonResponse(200, json::object{{"id", id}, {"deleted", true}});
    });
  }

  // A webhook of the workspace itself: an org webhook's copy is managed by the org's routes
  // only (409 org_webhook, naming them).
  absl::StatusOr<storage::WebhookRow> WorkspaceWebhook(const storage::Workspace& ws, std::string_view id) {
    EV_ASSIGN_OR_RETURN(storage::WebhookRow row, o_.service->GetWebhook(ws, id));
    EV_ASSIGN_OR_RETURN(workspace::WebhookSpec spec, workspace::WebhookSpecFromStored(row.body));
    if (spec.org) {
      return services::WithErrorCode(
          absl::FailedPreconditionError(base::ToAbsl("webhook " + row.id + " is an org webhook: manage it with /v1/webhooks/" +
                                                     row.id + " (edgevault org-webhook)")),
          "org_webhook");
    }
    return row;
  }

  // Org-wide webhooks (docs/design/webhooks.md "Org-wide webhooks"; workspace/org_webhooks.h):
  // the caller's org only (an id of another org is 404), admins only, same bodies as a
  // workspace's webhooks.
  void InstallOrgWebhooks(net::Router& r) {
    const std::string base = "/v1/webhooks";
    auto enter = [this](net::Request& req) -> absl::StatusOr<Principal> {
      EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      return p;
    };
    Route(r, http::verb::post, base, [this, enter](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, enter(req));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_ASSIGN_OR_RETURN(workspace::OrgWebhookWithSecret created,
                          workspace::OrgWebhooks(o_.service).Create(ActorFor(p, req), body));
      json::object o = OrgWebhookJson(created.hook);
      o["secret"] = created.secret;
      net::Response resp = services::JsonResponse(201, o);
      resp.WithHeader("Cache-Control", "no-store");
      return resp;
    });
    Route(r, http::verb::get, base, [this, enter](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, enter(req));
      EV_ASSIGN_OR_RETURN(std::vector<workspace::OrgWebhook> hooks, workspace::OrgWebhooks(o_.service).List(p.org_id));
      json::array a;
      for (const auto& hook : hooks) a.push_back(OrgWebhookJson(hook));
      return services::JsonResponse(200, json::object{{"webhooks", std::move(a)}});
    });
    Route(r, http::verb::get, base + "/{id}", [this, enter](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, enter(req));
      EV_ASSIGN_OR_RETURN(workspace::OrgWebhook hook, workspace::OrgWebhooks(o_.service).Get(p.org_id, req.Param("id")));
      return services::JsonResponse(200, OrgWebhookJson(hook));
    });
    Route(r, http::verb::patch, base + "/{id}", [this, enter](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, enter(req));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_ASSIGN_OR_RETURN(workspace::OrgWebhook hook,
                          workspace::OrgWebhooks(o_.service).Update(ActorFor(p, req), req.Param("id"), body));
      return services::JsonResponse(200, OrgWebhookJson(hook));
    });
    Route(r, http::verb::post, base + "/{id}/rotate-secret", [this, enter](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, enter(req));
      EV_ASSIGN_OR_RETURN(workspace::OrgWebhookWithSecret rotated,
                          workspace::OrgWebhooks(o_.service).RotateSecret(ActorFor(p, req), req.Param("id")));
      json::object o = OrgWebhookJson(rotated.hook);
      o["secret"] = rotated.secret;
      net::Response resp = services::JsonResponse(200, o);
      resp.WithHeader("Cache-Control", "no-store");
      return resp;
    });
    Route(r, http::verb::delete_, base + "/{id}", [this, enter](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, enter(req));
      std::string id(req.Param("id"));
      EV_RETURN_IF_ERROR(workspace::OrgWebhooks(o_.service).Delete(ActorFor(p, req), id));
      return services::JsonResponse(200, json::object{{"id", id}, {"deleted", true}});
    });
  }

  // An org webhook as the api shows it: the registration, the state over all its copies
  // (paused; failing when any workspace's copy gave up; retrying when any is retrying) and
  // each workspace's own state and last error.
  static json::object OrgWebhookJson(const workspace::OrgWebhook& hook) {
    workspace::WebhookSpec spec = hook.spec;
    spec.org = false;
    json::object o = spec.ToJson();
    o["id"] = hook.id;
    bool failing = false, retrying = false;
    std::string last_error;
    json::array workspaces;
    for (const workspace::OrgWebhookCopy& copy : hook.copies) {
      const storage::WebhookRow& row = copy.row;
      failing = failing || row.failing;
      retrying = retrying || !row.last_error.empty();
      if (last_error.empty() && !row.last_error.empty()) last_error = copy.ws.key + ": " + row.last_error;
      workspaces.push_back(json::object{
          {"workspace", copy.ws.key},
          {"state", !spec.active ? "paused" : row.failing ? "failing" : !row.last_error.empty() ? "retrying" : "ok"},
          {"last_error", row.last_error.empty() ? json::value(nullptr) : json::value(row.last_error)}});
    }
    o["state"] = !spec.active ? "paused" : failing ? "failing" : retrying ? "retrying" : "ok";
    o["last_error"] = last_error.empty() ? json::value(nullptr) : json::value(last_error);
    o["created_at"] = services::FormatTime(hook.created_at);
    o["updated_at"] = services::FormatTime(hook.updated_at);
    o["workspaces"] = std::move(workspaces);
    return o;
  }

  // A webhook as the api shows it: never its secret.
  static absl::StatusOr<json::object> WebhookJson(const storage::WebhookRow& row) {
    EV_ASSIGN_OR_RETURN(workspace::WebhookSpec spec, workspace::WebhookSpecFromStored(row.body));
    json::object o = spec.ToJson();
    o["id"] = row.id;
    o["state"] = !spec.active ? "paused" : row.failing ? "failing" : !row.last_error.empty() ? "retrying" : "ok";
    o["last_error"] = row.last_error.empty() ? json::value(nullptr) : json::value(row.last_error);
    o["created_at"] = services::FormatTime(row.created_at);
    o["updated_at"] = services::FormatTime(row.updated_at);
    return o;
  }

  // Promotions and change requests (docs/design/promotions.md; workspace/change_requests.h),
  // and the environment policies they follow.
  void InstallChangeRequests(net::Router& r) {
    Route(r, http::verb::put, "/v1/workspaces/{ws}/environments/{env}/policy", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kAdminister));
      EV_ASSIGN_OR_RETURN(WriteRequest w, ReadWrite(req));
      auto& [body, reason, if_match] = w;
      std::string env(req.Param("env"));
      EV_ASSIGN_OR_RETURN(int64_t head,
                          o_.service->SetEnvironmentPolicy(ActorFor(c.p, req), c.ws, env, body, reason, if_match));
      return WithRevision(services::JsonResponse(200, json::object{{"environment", env}, {"revision", head}}), head);
    });
    auto crs = [this]() -> absl::StatusOr<workspace::ChangeRequests*> {
      if (o_.change_requests == nullptr) return absl::UnavailableError("change requests are not enabled in this api");
      return o_.change_requests;
    };
    Route(r, http::verb::post, "/v1/workspaces/{ws}/promotions", [this, crs](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(workspace::ChangeRequests * cr, crs());
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      auto create = [&](const json::object& b) { return cr->Promote(ActorFor(c.p, req), c.ws, b); };
      EV_ASSIGN_OR_RETURN(json::object out, CreateChecked(c, body, create));
      return services::JsonResponse(out.contains("dry_run") ? 200 : 201, out);
    });
    Route(r, http::verb::post, "/v1/workspaces/{ws}/change-requests", [this, crs](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(workspace::ChangeRequests * cr, crs());
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      auto create = [&](const json::object& b) { return cr->Propose(ActorFor(c.p, req), c.ws, b); };
      EV_ASSIGN_OR_RETURN(json::object out, CreateChecked(c, body, create));
      return services::JsonResponse(out.contains("dry_run") ? 200 : 201, out);
    });
    // Batch writes (docs/api.md "Batch writes"): the changes of a change request, applied
    // at once as one direct write, all or nothing; authorized like single writes.
    Route(r, http::verb::post, "/v1/workspaces/{ws}/batch", [this, crs](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(workspace::ChangeRequests * cr, crs());
      EV_ASSIGN_OR_RETURN(WriteRequest w, ReadWrite(req));
      auto leaks = std::make_shared<LeakReport>();
      EV_ASSIGN_OR_RETURN(json::object out, cr->Batch(ActorFor(c.p, req), c.ws, w.body, w.reason, w.if_match,
                                                      WithLeakScan(Writer(c), leaks)));
      const json::value* rev = out.if_contains("revision");
      if (rev == nullptr || !rev->is_int64()) {
        // A dry run: the warnings its apply would carry, nothing recorded.
        if (!leaks->items.empty()) out["warnings"] = LeakWarningsJson(leaks->items);
        return services::JsonResponse(200, out);
      }
      AttachLeakWarnings(c, req, *leaks, rev->get_int64(), out);
      return WithRevision(services::JsonResponse(200, out), rev->get_int64());
    });
    Route(r, http::verb::get, "/v1/workspaces/{ws}/change-requests", [this, crs](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      EV_ASSIGN_OR_RETURN(workspace::ChangeRequests * cr, crs());
      EV_ASSIGN_OR_RETURN(int64_t before, QueryInt(req, "before", 0, 0, INT64_MAX));
      EV_ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
      EV_ASSIGN_OR_RETURN(json::array list, cr->List(c.ws, before, static_cast<int>(limit)));
      return services::JsonResponse(200, json::object{{"change_requests", std::move(list)}});
    });
    // One change request: {id} is its number; `op` does the rest.
    auto one = [this, crs](std::string_view op, Action action) {
      return [this, crs, op = std::string(op), action](net::Request& req) -> absl::StatusOr<net::Response> {
        EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, action));
        EV_ASSIGN_OR_RETURN(workspace::ChangeRequests * cr, crs());
        EV_ASSIGN_OR_RETURN(int64_t id, ChangeRequestId(req));
        if (op == "show") {
          EV_ASSIGN_OR_RETURN(json::object shown, cr->Show(c.ws, id));
          return services::JsonResponse(200, shown);
        }
        json::object body;
        if (!req.body().empty()) {
          EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
        }
        workspace::Actor actor = ActorFor(c.p, req);
        absl::StatusOr<json::object> out;
        if (op == "approve" || op == "reject") {
          EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"comment"}));
          EV_ASSIGN_OR_RETURN(std::optional<std::string> comment, services::OptionalString(body, "comment", 4000));
          out = cr->Review(actor, storage::RoleName(c.p.role), c.ws, id, op == "approve", comment.value_or(""));
        } else if (op == "comments") {
          EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"text"}));
          EV_ASSIGN_OR_RETURN(std::string text, services::RequiredString(body, "text", 4000));
          out = cr->Comment(actor, c.ws, id, text);
        } else if (op != "schedule") {
          EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {}));
          if (op == "close") out = cr->Close(actor, c.p.role >= storage::Role::kAdmin, c.ws, id);
          if (op == "rebase") out = cr->Rebase(actor, c.ws, id);
          if (op == "revert") out = cr->Revert(actor, c.ws, id);
          // The caller's own right on the effect (protected environments need admin);
          // the change request's approvals are checked by ChangeRequests.
          if (op == "apply") {
            auto leaks = std::make_shared<LeakReport>();
            out = cr->Apply(actor, c.ws, id, ApplyRight(c.p, leaks));
            if (out.ok()) {
              const json::value* rev = out->if_contains("applied_revision");
              AttachLeakWarnings(c, req, *leaks, rev != nullptr && rev->is_int64() ? rev->get_int64() : 0, *out);
            }
          }
          if (op == "unschedule") out = cr->Schedule(actor, c.ws, id, std::nullopt, {}, ApplyRight(c.p));
        }
        if (op == "schedule") {
          EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"apply_at"}));
          const json::value* at = body.if_contains("apply_at");
          if (at == nullptr) {
            return absl::InvalidArgumentError(
                "field 'apply_at': is required (an RFC 3339 time, or null to unschedule)");
          }
          std::optional<absl::Time> when;
          if (!at->is_null()) {
            absl::Time t;
            std::string err;
            if (!at->is_string() || at->get_string().size() > 64 ||
                !absl::ParseTime(absl::RFC3339_full, std::string(at->get_string()), &t, &err)) {
              return absl::InvalidArgumentError(
                  "field 'apply_at': must be an RFC 3339 time, e.g. 2026-03-04T05:06:07Z");
            }
            when = t;
          }
          out = cr->Schedule(actor, c.ws, id, when, ScheduleGrant(c.p), ApplyRight(c.p));
        }
        EV_RETURN_IF_ERROR(out.status());
        return services::JsonResponse(op == "revert" ? 201 : 200, *out);
      };
    };
    std::string base = "/v1/workspaces/{ws}/change-requests/{id}";
    Route(r, http::verb::get, base, one("show", Action::kRead));
    for (const char* op : {"approve", "reject", "comments", "close", "rebase", "apply", "revert", "schedule",
                           "unschedule"}) {
      Route(r, http::verb::post, base + "/" + op, one(op, Action::kWrite));
    }
  }

  // AI assistance (docs/design/ai.md): drafts of change requests from plain language and
  // risk reviews. The model only ever proposes: a draft runs as a change-request dry run.
  static absl::Status AiNotConfigured() {
    return services::WithErrorCode(
        absl::FailedPreconditionError(
            "AI assistance is not configured on this api: set ai.provider (openai or anthropic), ai.model, "
            "ai.base_url and ai.api_key_file or ai.api_key_env (docs/configuration.md#ai)"),
        "ai_not_configured");
  }

  static net::Response AiError(int http, std::string_view code, std::string_view message) {
    return net::Response::Error(http, std::string(code), std::string(message));
  }

  // One model call for `feature`: the org's budget first, then the call, its tokens spent
  // and an audit event (api.ai.call: who, feature, model, token counts; never the text).
  // A provider problem fills `err` (502/503) and returns its status.
  absl::StatusOr<AiCompletion> CallModel(const Ctx& c, const net::Request& req, std::string_view feature,
                                         const AiPrompt& prompt, AiCallError* err) {
    // A workspace too large for the prompt limit costs nothing: no call, no tokens.
    if (const size_t bytes = prompt.system.size() + prompt.user.size(); bytes > o_.ai_max_prompt_bytes) {
      err->http_status = 422;
      err->code = "ai_prompt_too_large";
      err->message = "the prompt for this " + std::string(feature == "draft" ? "workspace and request" : "review") +
                     " is " + std::to_string(bytes) + " bytes, over ai.max_prompt_bytes (" +
                     std::to_string(o_.ai_max_prompt_bytes) +
                     "): nothing was sent to the model; an operator can raise the limit (docs/configuration.md#ai)";
      return absl::FailedPreconditionError(base::ToAbsl(err->message));
    }
    if (o_.ai_budget != nullptr) EV_RETURN_IF_ERROR(o_.ai_budget->Check(c.p.org_id, o_.env->Now()));
    absl::StatusOr<AiCompletion> done = o_.ai_provider->Complete(prompt, err);
    int64_t in_tokens = done.ok() ? done->input_tokens : 0, out_tokens = done.ok() ? done->output_tokens : 0;
    if (o_.ai_budget != nullptr) o_.ai_budget->Spend(c.p.org_id, o_.env->Now(), in_tokens + out_tokens);
    if (o_.record_event) {
      json::object e;
      e["v"] = 1;
      e["id"] = audit::NewEventId(o_.env);
      e["time"] = audit::FormatEventTime(o_.env->Now());
      e["service"] = "api";
      e["action"] = "api.ai.call";
      e["outcome"] = done.ok() ? "success" : "error";
      e["actor"] = {{"id", c.p.ActorId()},
                    {"address", req.remote_address()},
                    {"user_agent", std::string(req.Header("User-Agent").substr(0, 256))}};
      e["org"] = c.p.org_id;
      e["workspace"] = c.ws.id;
      e["request_id"] = req.request_id();
      e["details"] = json::object{{"feature", feature},
                                  {"provider", o_.ai_provider->provider()},
                                  {"model", o_.ai_provider->model()},
                                  {"input_tokens", in_tokens},
                                  {"output_tokens", out_tokens},
                                  {"error", done.ok() ? std::string() : err->code}};
      EV_RETURN_IF_ERROR(o_.record_event(json::serialize(e)));
    }
    return done;
  }

  static net::Response ProviderFailure(const absl::Status& st, const AiCallError& err) {
    if (err.code.empty()) return services::ErrorResponse(st);
    net::Response r = AiError(err.http_status, err.code, err.message);
    if (!err.retry_after.empty()) r.WithHeader("Retry-After", err.retry_after);
    return r;
  }

  void InstallAi(net::Router& r) {
    Route(r, http::verb::post, "/v1/workspaces/{ws}/ai/draft", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      // Whoever may propose a change request may ask for a draft of one.
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"prompt"}));
      EV_ASSIGN_OR_RETURN(std::string prompt, services::RequiredString(body, "prompt", 4000));
      if (o_.ai_provider == nullptr) return AiNotConfigured();
      if (o_.change_requests == nullptr) return absl::UnavailableError("change requests are not enabled in this api");
      EV_ASSIGN_OR_RETURN(workspace::ChangeSetInput in, o_.service->ReadChangeSetInput(c.ws));
      AiCallError err;
      absl::StatusOr<AiCompletion> done = CallModel(c, req, "draft", DraftPrompt(c.ws.key, in, prompt), &err);
      if (!done.ok()) return ProviderFailure(done.status(), err);
      absl::StatusOr<json::object> draft = ParseDraft(done->text, c.ws.key, in);
      if (!draft.ok()) return AiError(422, "ai_output_invalid", base::ToStd(draft.status().message()));
      // The same path, validation and policies as a human's dry run (CreateChecked).
      json::object dry_body = *draft;
      dry_body["dry_run"] = true;
      workspace::Actor actor = ActorFor(c.p, req);
      auto create = [&](const json::object& b) { return o_.change_requests->Propose(actor, c.ws, b); };
      absl::StatusOr<json::object> dry = CreateChecked(c, dry_body, create);
      if (!dry.ok()) {
        if (!absl::IsInvalidArgument(dry.status()) && !absl::IsFailedPrecondition(dry.status())) return dry.status();
        return AiError(422, "ai_draft_invalid",
                       "the model's draft does not validate as a change request: " + std::string(dry.status().message()));
      }
      return services::JsonResponse(
          200, json::object{{"draft", *std::move(draft)},
                            {"dry_run", *std::move(dry)},
                            {"provider", o_.ai_provider->provider()},
                            {"model", o_.ai_provider->model()},
                            {"usage", {{"input_tokens", done->input_tokens}, {"output_tokens", done->output_tokens}}}});
    });
    // The exact part, and with explain: true a model's explanation of it.
    auto review = [this](const Ctx& c, const net::Request& req, const json::object& planned,
                         bool explain) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(workspace::ChangeSetInput in, o_.service->ReadChangeSetInput(c.ws));
      json::object out{{"exact", ComputeRiskExact(planned, in)}};
      if (explain) {
        if (o_.ai_provider == nullptr) return AiNotConfigured();
        AiCallError err;
        absl::StatusOr<AiCompletion> done =
            CallModel(c, req, "risk_explanation", RiskPrompt(c.ws.key, out["exact"].get_object()), &err);
        if (!done.ok()) return ProviderFailure(done.status(), err);
        absl::StatusOr<json::object> text = ParseExplanation(done->text);
        if (!text.ok()) return AiError(422, "ai_output_invalid", base::ToStd(text.status().message()));
        out["explanation"] = *std::move(text);
        out["provider"] = o_.ai_provider->provider();
        out["model"] = o_.ai_provider->model();
        out["usage"] = {{"input_tokens", done->input_tokens}, {"output_tokens", done->output_tokens}};
      }
      return services::JsonResponse(200, out);
    };
    Route(r, http::verb::post, "/v1/workspaces/{ws}/ai/risk", [this, review](net::Request& req) -> absl::StatusOr<net::Response> {
      // The changes are planned as a change-request dry run: the right to propose them.
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"changes", "explain"}));
      EV_ASSIGN_OR_RETURN(std::optional<bool> explain, services::OptionalBool(body, "explain"));
      if (!body.contains("changes")) return absl::InvalidArgumentError("field 'changes': is required (change-request entries)");
      if (o_.change_requests == nullptr) return absl::UnavailableError("change requests are not enabled in this api");
      json::object dry_body{{"title", "risk review"}, {"changes", body.at("changes")}, {"dry_run", true}};
      workspace::Actor actor = ActorFor(c.p, req);
      auto create = [&](const json::object& b) { return o_.change_requests->Propose(actor, c.ws, b); };
      EV_ASSIGN_OR_RETURN(json::object planned, CreateChecked(c, dry_body, create));
      return review(c, req, planned, explain.value_or(false));
    });
    Route(r, http::verb::post, "/v1/workspaces/{ws}/change-requests/{id}/risk",
          [this, review](net::Request& req) -> absl::StatusOr<net::Response> {
            EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
            if (o_.change_requests == nullptr) return absl::UnavailableError("change requests are not enabled in this api");
            EV_ASSIGN_OR_RETURN(int64_t id, ChangeRequestId(req));
            json::object body;
            if (!req.body().empty()) {
              EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
            }
            EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"explain"}));
            EV_ASSIGN_OR_RETURN(std::optional<bool> explain, services::OptionalBool(body, "explain"));
            EV_ASSIGN_OR_RETURN(json::object shown, o_.change_requests->Show(c.ws, id));
            return review(c, req, shown, explain.value_or(false));
          });
  }

  // Secret-leak scanning on demand and its one-action fix (docs/secret-scanning.md).
  void InstallLeakScan(net::Router& r) {
    // Every config and flag as stored now, scanned whatever the policies say (a scan is a
    // read): what was stored before scanning existed, or under "warn" or "off".
    Route(r, http::verb::get, "/v1/workspaces/{ws}/leak-scan", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kRead));
      json::array findings;
      json::object scanned;
      for (ItemKind kind : {ItemKind::kConfig, ItemKind::kFlag}) {
        EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, o_.service->ListItems(c.ws, kind));
        scanned[std::string(storage::ItemKindName(kind)) + "s"] = items.size();
        for (const storage::Item& item : items) {
          json::value body = ParseOrNull(item.body);
          if (!body.is_object()) continue;
          LeakReport::Item found{std::string(storage::ItemKindName(kind)), item.key,
                                 scan::LeakScanner::Get().ScanItem(storage::ItemKindName(kind), item.key, body.get_object())};
          for (json::value& f : LeakWarningsJson({found})) {
            f.as_object().erase("type");
            f.as_object()["revision"] = item.revision;
            findings.push_back(std::move(f));
          }
        }
      }
      return services::JsonResponse(200, json::object{{"findings", std::move(findings)}, {"scanned", std::move(scanned)}});
    });

    // Moves the string at `pointer` (/values/<env> or deeper) of a config into a secret's
    // value for <env>, then removes it from the config (deleting the config when no value
    // is left). Two writes, secret first: a failure in between never loses the value.
    Route(r, http::verb::post, "/v1/workspaces/{ws}/configs/{key}/move-to-secret",
          [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Ctx c, Enter(req, Action::kWrite));
      EV_ASSIGN_OR_RETURN(WriteRequest w, ReadWrite(req));
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(w.body, {"pointer", "secret"}));
      EV_ASSIGN_OR_RETURN(std::string pointer, services::RequiredString(w.body, "pointer", 2048));
      EV_ASSIGN_OR_RETURN(std::optional<std::string> secret_key, services::OptionalString(w.body, "secret", 200));
      std::string key(req.Param("key"));
      EV_ASSIGN_OR_RETURN(storage::Item item, o_.service->GetItem(c.ws, ItemKind::kConfig, key));
      if (w.if_match && *w.if_match != item.revision) {
        return absl::AbortedError("the config changed since (If-Match names a revision it is no longer at)");
      }
      json::value stored = ParseOrNull(item.body);
      if (!stored.is_object()) return absl::InternalError("the stored config is not a JSON object");
      json::object config = stored.get_object();
      absl::StatusOr<std::vector<std::string>> tokens = base::ParseJsonPointer(pointer);
      auto bad_pointer = [&](std::string why) {
        return services::WithErrorCode(absl::InvalidArgumentError(base::ToAbsl("field 'pointer': " + why)),
                                       "bad_pointer");
      };
      if (!tokens.ok() || tokens->size() < 2 || (*tokens)[0] != "values") {
        return bad_pointer("must point at an environment's value or inside it: /values/<env>[/...]");
      }
      const std::string env = (*tokens)[1];
      json::value* values = config.if_contains("values");
      json::value* at = values != nullptr && values->is_object() ? values->as_object().if_contains(env) : nullptr;
      for (size_t i = 2; at != nullptr && i < tokens->size(); ++i) {
        const std::string& t = (*tokens)[i];
        if (json::object* o = at->if_object()) {
          at = o->if_contains(t);
        } else if (json::array* a = at->if_array()) {
          size_t n = 0;
          auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
          at = ec == std::errc() && end == t.data() + t.size() && n < a->size() ? &(*a)[n] : nullptr;
        } else {
          at = nullptr;
        }
      }
      if (at == nullptr) return bad_pointer("config \"" + key + "\" has no value at " + pointer);
      if (!at->is_string()) return bad_pointer("the value at " + pointer + " is not a string (a secret holds a string)");
      // The secret's key: given, or derived from the config key and the path inside the value.
      std::string name = secret_key.value_or(key);
      if (!secret_key) {
        for (size_t i = 2; i < tokens->size(); ++i) {
          name += '.';
          for (char ch : (*tokens)[i]) {
            unsigned char u = static_cast<unsigned char>(ch);
            name += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : (ch == '.' || ch == '_' ? ch : '-');
          }
        }
        if (name.size() > workspace::kMaxKeyLength) name.resize(workspace::kMaxKeyLength);
      }
      EV_RETURN_IF_ERROR(workspace::ValidateKey(name, "secret"));
      // Never overwrite a secret value that is there already.
      absl::StatusOr<storage::Item> existing = o_.service->GetItem(c.ws, ItemKind::kSecret, name);
      if (existing.ok()) {
        json::value meta = workspace::Service::SecretMetadata(ParseOrNull(existing->body));
        const json::value* vals = meta.is_object() ? meta.get_object().if_contains("values") : nullptr;
        if (vals != nullptr && vals->is_object() && vals->get_object().contains(env)) {
          return services::WithErrorCode(
              absl::AlreadyExistsError(base::ToAbsl("secret \"" + name + "\" already has a value for environment \"" +
                                                    env + "\"; name another secret with \"secret\"")),
              "secret_exists");
        }
      } else if (!absl::IsNotFound(existing.status())) {
        return existing.status();
      }
      workspace::Actor actor = ActorFor(c.p, req);
      EV_ASSIGN_OR_RETURN(int64_t secret_rev,
                          o_.service->PutSecret(actor, c.ws, name, json::object{{"values", {{env, *at}}}}, w.reason,
                                                std::nullopt, Writer(c)));
      // Then out of the config: the member (or element) removed, or the environment's value.
      json::value patched = config;
      if (tokens->size() == 2) {
        patched.as_object()["values"].as_object().erase(env);
      } else {
        absl::StatusOr<json::value> r = base::ApplyJsonPatch(
            config, json::array{json::object{{"op", "remove"}, {"path", pointer}}});
        if (!r.ok()) return r.status();
        patched = *std::move(r);
      }
      const json::value* left = patched.as_object().if_contains("values");
      bool empty = left == nullptr || !left->is_object() || left->get_object().empty();
      absl::StatusOr<int64_t> head =
          empty ? o_.service->DeleteItem(actor, c.ws, ItemKind::kConfig, key, w.reason, std::nullopt, Writer(c))
                : o_.service->PutItem(actor, c.ws, ItemKind::kConfig, key, patched.as_object(), w.reason,
                                      std::nullopt, Writer(c));
      if (!head.ok()) {
        return absl::Status(head.status().code(),
                            base::ToAbsl("the value was stored in secret \"" + name + "\" (revision " +
                                         std::to_string(secret_rev) + ") but config \"" + key +
                                         "\" could not be changed: " + std::string(head.status().message()) +
                                         "; fix that and remove the value from the config"));
      }
      return WithRevision(services::JsonResponse(200, json::object{{"secret", name},
                                                                   {"environment", env},
                                                                   {"pointer", pointer},
                                                                   {"config", empty ? "deleted" : "updated"},
                                                                   {"secret_revision", secret_rev},
                                                                   {"revision", *head}}),
                          *head);
    });
  }

  // The org's audit events from the warehouse edgevault-audit writes (event_query.h):
  // admins and owners only (the api's "administer" action), always filtered to the
  // caller's org, newest first, paged by cursor.
  void InstallAudit(net::Router& r) {
    Route(r, http::verb::get, "/v1/audit/events", [this](net::Request& req) -> absl::StatusOr<net::Response> {
      EV_ASSIGN_OR_RETURN(Principal p, o_.auth->Authenticate(req));
      EV_RETURN_IF_ERROR(ApiAuth::Authorize(p, Action::kAdminister, {}));
      if (o_.audit_reader == nullptr) {
        return absl::UnavailableError("the audit warehouse is not configured for this api");
      }
      EV_ASSIGN_OR_RETURN(audit::EventQuery q, AuditQuery(req, p));
      EV_ASSIGN_OR_RETURN(audit::EventPage page, audit::QueryEvents(*o_.audit_reader, q));
      json::array events;
      for (const audit::AuditEvent& e : page.events) events.push_back(ParseOrNull(audit::CanonicalJson(e)));
      json::object o{{"events", std::move(events)}};
      o["next_cursor"] = page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
      return services::JsonResponse(200, o);
    });
  }

  absl::StatusOr<audit::EventQuery> AuditQuery(const net::Request& req, const Principal& p) {
    static constexpr std::string_view kKnown[] = {"actor", "action", "workspace", "since", "until", "limit", "cursor"};
    for (std::string_view pair : base::Split(req.query(), '&')) {
      if (pair.empty()) continue;
      std::string_view name = pair.substr(0, pair.find('='));
      if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown)) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "unknown query parameter '" + std::string(name.substr(0, 64)) +
            "'; use actor, action, workspace, since, until, limit or cursor"));
      }
    }
    audit::EventQuery q;
    q.org = p.org_id;
    auto text = [&](std::string_view name, size_t max, std::string* out) -> absl::Status {
      std::optional<std::string> v = req.QueryParam(name);
      if (!v) return absl::OkStatus();
      if (v->size() > max) {
        return absl::InvalidArgumentError(base::ToAbsl("query parameter '" + std::string(name) + "' is longer than " +
                                                       std::to_string(max) + " bytes"));
      }
      *out = *v;
      return absl::OkStatus();
    };
    EV_RETURN_IF_ERROR(text("actor", 200, &q.actor));
    EV_RETURN_IF_ERROR(text("action", 128, &q.action));
    EV_RETURN_IF_ERROR(text("workspace", 128, &q.workspace));
    EV_RETURN_IF_ERROR(text("cursor", 64, &q.cursor));
    if (!q.action.empty() && !audit::ValidActionFilter(q.action)) {
      return absl::InvalidArgumentError(
          "query parameter 'action' must be an action like auth.login, or a prefix like auth.*");
    }
    if (!q.cursor.empty() && !audit::ValidEventId(q.cursor)) {
      return absl::InvalidArgumentError("query parameter 'cursor' must be the next_cursor of a previous page");
    }
    // A workspace key is accepted too: events name workspaces by id.
    if (!q.workspace.empty()) {
      absl::StatusOr<storage::Workspace> ws = o_.service->GetWorkspace(p.org_id, q.workspace);
      if (ws.ok()) q.workspace = ws->id;
    }
    for (auto [name, out] : {std::pair{"since", &q.since}, std::pair{"until", &q.until}}) {
      std::optional<std::string> v = req.QueryParam(name);
      if (!v) continue;
      absl::Time t;
      std::string err;
      if (v->size() > 64 || !absl::ParseTime(absl::RFC3339_full, *v, &t, &err)) {
        return absl::InvalidArgumentError(base::ToAbsl("query parameter '" + std::string(name) +
                                                       "' must be an RFC 3339 time, e.g. 2026-03-04T05:06:07Z"));
      }
      *out = t;
    }
    if (q.since && q.until && *q.since >= *q.until) {
      return absl::InvalidArgumentError("query parameter 'since' must be before 'until'");
    }
    EV_ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
    q.limit = static_cast<int>(limit);
    return q;
  }

 private:
  ApiServiceOptions& o_;
  boost::asio::thread_pool& pool_;
  std::atomic<int64_t> last_usage_prune_{0};  // Unix minute of the usage store's last prune
  net::Router inner_;             // the same handlers, for MCP tools (CallRoute)
  std::unique_ptr<McpServer> mcp_;
};

ApiService::ApiService(ApiServiceOptions options)
    : options_(std::move(options)),
      pool_(static_cast<size_t>(std::max(1, options_.blocking_threads))),
      handlers_(std::make_unique<Handlers>(options_, pool_)) {}

ApiService::~ApiService() { pool_.join(); }

void ApiService::Install(net::Router& router) { handlers_->Install(router); }

void ApiService::WorkspaceListChangedElsewhere(const std::string& org_id) {
  handlers_->WorkspaceListChangedElsewhere(org_id);
}

}  // namespace edgevault::api
