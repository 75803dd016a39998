#pragma once
// edgevault-api's HTTP surface (docs/api.md, GET /v1/openapi.json): workspaces,
// environments, configs, flags, segments, resolved documents, revisions, revert,
// rollback, activity, live events (SSE), SDK keys and the org's audit events, and the MCP
// endpoint /mcp (mcp_server.h), whose tools run these same handlers. Handlers translate HTTP to
// workspace::Service calls after ApiAuth has authenticated and authorized the caller.
//
// Thread-safety: Install once; handlers then run concurrently on the service's blocking
// pool (SQLite and validation never run on an I/O thread).

#include <functional>
#include <memory>

#include <boost/asio/thread_pool.hpp>

#include "src/audit/warehouse.h"
#include "src/net/http_client.h"
#include "src/net/router.h"
#include "src/services/api/ai_budget.h"
#include "src/services/api/ai_provider.h"
#include "src/services/api/api_auth.h"
#include "src/services/api/leak_guard.h"
#include "src/storage/usage_store.h"
#include "src/workspace/change_requests.h"
#include "src/workspace/service.h"

namespace edgevault::api {

struct ApiServiceOptions {
  workspace::Service* service = nullptr;  // not owned
  ApiAuth* auth = nullptr;                // not owned
  net::HttpClient* auth_client = nullptr;  // signed calls to auth (SDK keys); not owned
  std::string auth_host = "127.0.0.1";
  uint16_t auth_port = 0;
  base::Env* env = nullptr;
  int blocking_threads = 4;
  // Records a denied request (401/403) as an audit event (docs/design/audit-event.md
  // JSON). nullptr = not recorded. Called on the blocking pool; must be thread-safe.
  std::function<void(const std::string& event_json)> record_denied;
  size_t max_reason_bytes = 1000;
  // The audit warehouse GET /v1/audit/events reads (DATA_DIR/audit/warehouse, written by
  // edgevault-audit on the same host); nullptr = the route answers 503. Not owned.
  audit::WarehouseReader* audit_reader = nullptr;
  // Change requests and promotions (docs/design/promotions.md); nullptr = their routes
  // answer 503. Not owned.
  workspace::ChangeRequests* change_requests = nullptr;
  // The MCP endpoint /mcp (docs/design/mcp.md; config mcp.*): served when mcp_enabled.
  bool mcp_enabled = false;
  bool mcp_read_only = false;
  bool mcp_allow_secret_values = false;
  size_t mcp_max_sessions_per_principal = 64;    // mcp.max_sessions_per_principal
  storage::RateLimit mcp_session_rate_limit = {.count = 20, .burst = 100};  // mcp.session_rate_limit_*
  absl::Duration mcp_session_idle = absl::Hours(1);  // mcp.session_idle_s
  // OAuth for MCP clients (docs/design/oauth.md): when mcp_oauth_resource is set, the api
  // serves protected-resource metadata (RFC 9728) naming mcp_oauth_issuer, and a 401 from
  // /mcp points to it.
  std::string mcp_oauth_resource;
  std::string mcp_oauth_issuer;
  // Enqueues an audit event (docs/design/audit-event.md JSON) of an agent's call; an error
  // withholds the call's answer. Empty = not recorded. Must be thread-safe.
  std::function<absl::Status(const std::string& event_json)> record_event;
  // Evaluation usage from delivery (docs/design/usage.md): POST /internal/v1/usage stores
  // into it, flag insights and the stale-flag report read it. nullptr = those routes
  // answer 503 and the report has no "not_evaluated" findings. Not owned.
  storage::UsageStore* usage = nullptr;
  // AI assistance (docs/design/ai.md; ai.* keys): drafts and risk-review explanations.
  // nullptr provider = ai.provider none (the model features answer 409 ai_not_configured;
  // risk reviews still compute their exact part). Not owned. ai_budget nullptr = unlimited.
  AiProvider* ai_provider = nullptr;
  AiBudget* ai_budget = nullptr;
  size_t ai_max_prompt_bytes = 200000;  // ai.max_prompt_bytes
  // Deleting a workspace (docs/api.md "Deleting a workspace"): the restore window (workspaces.delete_grace_days)
  // and where a workspace's SDK keys are listed (auth; their bindings leave the edge KV with
  // it and come back with a restore). sdk_keys nullptr = DELETE and restore answer 503.
  absl::Duration workspace_delete_grace = absl::Hours(24 * 7);
  storage::SdkKeyLister* sdk_keys = nullptr;
  // Several api nodes (PostgreSQL workspace store): tells the other nodes that the org's
  // workspace list changed (create, rename, delete, restore), so their MCP sessions list
  // again; they call ApiService::WorkspaceListChangedElsewhere. Empty on one host.
  std::function<absl::Status(const std::string& org_id)> announce_workspace_list;
};

class ApiService {
 public:
  explicit ApiService(ApiServiceOptions options);
  ~ApiService();
  void Install(net::Router& router);
  // Another api node created, renamed, deleted or restored a workspace of `org_id`.
  void WorkspaceListChangedElsewhere(const std::string& org_id);

 private:
  class Handlers;
  ApiServiceOptions options_;
  boost::asio::thread_pool pool_;
  std::unique_ptr<Handlers> handlers_;
};

// Scheduled apply (docs/design/promotions.md §5a). The grant stored with a schedule: the
// scheduling principal's role and scopes. ApplyRight: a principal's right to apply a
// change request (write on its effect; protected environments need admin).
// ScheduledApplyRight: the same right rebuilt from a stored grant, for the scheduler.
boost::json::object ScheduleGrant(const Principal& p);
// ApplyRight also applies the secret-leak policy (leak_guard.h) to what the apply stores;
// `leaks` (optional) receives its findings.
workspace::WriteAuthorizer ApplyRight(const Principal& p, std::shared_ptr<LeakReport> leaks = nullptr);
workspace::WriteAuthorizer ScheduledApplyRight(const std::string& by, const boost::json::object& grant);
// The rights `by` holds in the org at apply time (auth's /internal/v1/principals/rights):
// {"role", "scopes"}, NotFound when they were removed, disabled or revoked since.
// ScheduledApplyRightNow never grants more than either: the role is the lower of the
// recorded and the current one, an API key's scopes are those in both. NotFound refuses
// the apply (PermissionDenied: the request is marked failed); any other error is
// Unavailable, so the scheduler tries again later.
workspace::WriteAuthorizer ScheduledApplyRightNow(const std::string& by, const boost::json::object& grant,
                                                  const absl::StatusOr<boost::json::object>& current);

// The OpenAPI 3.1 document served at GET /v1/openapi.json.
const std::string& OpenApiDocument();

}  // namespace edgevault::api
