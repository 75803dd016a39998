#pragma once
// The Model Context Protocol endpoint of edgevault-api (docs/design/mcp.md): Streamable
// HTTP at /mcp — JSON-RPC 2.0 over POST, the session's server→client SSE stream on GET,
// DELETE to end a session — with Mcp-Session-Id sessions bound to the principal that
// opened them and protocol-version negotiation. Tools (mcp_tools.h) run REST handlers
// through `call_route`, so every check of the REST route applies; every tools/call and
// resources/read is an audit event naming the agent.
//
//   McpServer mcp({.authenticate = ..., .call_route = ..., .record_event = ..., .env = env});
//   router.AddAsync(verb::post, "/mcp", [&](net::Request& req, net::Responder r) {
//     post(pool, [&] { r(mcp.Handle(req)); });      // Handle blocks: run it off the io thread
//   });
//
// Bad input is a 4xx with a JSON-RPC error body, never a 500. Thread-safety: Handle may run
// concurrently on any number of threads (sessions are guarded by a mutex).

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/net/router.h"
#include "src/net/sse.h"
#include "src/services/api/api_auth.h"
#include "src/services/api/mcp_tools.h"
#include "src/storage/rate_limiter.h"
#include "src/workspace/service.h"

namespace edgevault::api {

// The protocol revisions served, newest first (those of @modelcontextprotocol/sdk 1.32
// that have tool annotations).
inline constexpr std::string_view kMcpProtocolVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

struct McpServerOptions {
  // ApiAuth::Authenticate: Unauthenticated (401) or Unavailable.
  std::function<absl::StatusOr<Principal>(const net::Request&)> authenticate;
  // Runs the REST route `method target` with the credential headers of `outer`, as the
  // agent `agent` (ApiService's handlers; docs/design/mcp.md §3).
  std::function<RouteAnswer(const net::Request& outer, const workspace::AgentInfo& agent,
                            boost::beast::http::verb method, const std::string& target,
                            const boost::json::value* body,
                            const std::vector<std::pair<std::string, std::string>>& headers)>
      call_route;
  // Records a refused request (401/403) as api.request.denied; may be empty.
  std::function<void(const net::Request&, const absl::Status&)> record_denied;
  // Enqueues one audit event (docs/design/audit-event.md JSON). An error withholds the
  // tool's answer (fail closed). Empty = not recorded.
  std::function<absl::Status(const std::string& event_json)> record_event;
  base::Env* env = nullptr;
  bool read_only = false;            // mcp.read_only
  bool allow_secret_values = false;  // mcp.allow_secret_values
  // The protected-resource metadata URL a 401 names (RFC 9728 §5.1); "" = none.
  std::string resource_metadata_url;
  std::string server_version = "0.1.0";
  // Resource subscriptions (docs/design/mcp.md §1b); any of these empty = resources/subscribe
  // is not offered. `subscribe` calls `fn` with every revision of workspace `workspace_id`
  // ("" = of every workspace, with its id) (workspace::Service::Subscribe) and returns an id
  // for `unsubscribe`.
  std::function<uint64_t(const std::string& workspace_id,
                         std::function<void(const std::string& workspace_id, const storage::Revision&)> fn)>
      subscribe;
  std::function<void(uint64_t)> unsubscribe;
  // ApiAuth::WatchRevocation / Unwatch / Revoked: a session's GET stream pins its principal
  // and ends when a recheck finds it holds no rights in the org any more.
  std::function<uint64_t(const Principal&, std::function<void()>)> watch_revocation;
  std::function<void(uint64_t)> unwatch;
  std::function<bool(const Principal&)> revoked;
  size_t max_subscriptions_per_session = 100;
  size_t max_sessions = 10000;
  size_t max_sessions_per_principal = 64;  // mcp.max_sessions_per_principal; one more is 429
  absl::Duration session_idle = absl::Hours(1);  // mcp.session_idle_s
  // Requests one session may make (mcp.session_rate_limit_per_second / _burst), counted on
  // this node (a session lives on one node); beyond it 429 with Retry-After and a JSON-RPC
  // error whose data.code is "rate_limited". count 0 = unlimited. The principal's own limit
  // (api.rate_limit_*) is `authenticate`'s, counted once per /mcp request.
  storage::RateLimit session_rate_limit = {.count = 20, .burst = 100};
};

// RFC 9728 §3.1: the metadata URL of `resource` — its origin, then
// "/.well-known/oauth-protected-resource", then its path ("http://h:1/mcp" →
// "http://h:1/.well-known/oauth-protected-resource/mcp").
std::string ProtectedResourceMetadataUrl(std::string_view resource);

class McpServer {
 public:
  explicit McpServer(McpServerOptions options);
  ~McpServer();

  // One HTTP request to /mcp (POST, GET or DELETE). Blocks while a tool runs.
  net::Response Handle(net::Request& req);

  size_t session_count() const;

  // What resources/list answers changed (docs/design/mcp.md §1c): an environment of workspace
  // `workspace_id` was created or deleted, or (with `org_id`) a workspace of that org was
  // created, renamed or deleted. Each session that listed resources and could see it (the
  // workspace was in its list, or its principal is of that org) gets
  // notifications/resources/list_changed on its open GET streams. Environment changes are
  // seen by the server itself (it subscribes to every workspace's revisions); workspace
  // changes are the caller's to report.
  void ResourceListChanged(std::string_view workspace_id, std::string_view org_id);

 private:
  struct Subscription {
    ResourceRef ref;
    uint64_t id = 0;  // of options_.subscribe
  };
  struct Session {
    std::string id;
    std::string actor;  // Principal::ActorId()
    std::string org;
    Principal principal;  // as it opened the session (for the revocation check)
    std::string client, client_version;
    std::string protocol;
    absl::Time last_used;
    std::vector<std::weak_ptr<net::SseStream>> streams;
    std::map<std::string, Subscription> subscriptions;  // by URI
    bool listed = false;                    // called resources/list (so list_changed concerns it)
    std::set<std::string> listed_workspaces;  // ids of the workspaces its last list showed
  };
  // Callbacks from the workspace service and ApiAuth reach the server through this, so
  // one that runs after the destructor started finds `server` null (see ~McpServer).
  struct Guard {
    std::mutex mu;
    McpServer* server = nullptr;
  };
  struct Call;  // one JSON-RPC request being answered

  net::Response Post(net::Request& req, const Principal& p);
  net::Response Get(net::Request& req, const Principal& p);
  net::Response Delete(net::Request& req, const Principal& p);
  // The session named by the request's Mcp-Session-Id, if it exists, is live and belongs
  // to `p` (then its last use is now); otherwise the HTTP error to answer.
  absl::StatusOr<Session> FindSession(const net::Request& req, const Principal& p, net::Response* error);
  // OK, or (over options_.session_rate_limit) the 429 to answer request `id` of `session_id` with.
  absl::Status TakeSessionRequest(const std::string& session_id, const boost::json::value& id, net::Response* error);
  // A new session's id; ResourceExhausted when `p` holds max_sessions_per_principal live
  // sessions already (then *retry_after is when its least recently used one goes idle).
  absl::StatusOr<std::string> CreateSession(const Principal& p, std::string client, std::string client_version,
                                            std::string protocol, absl::Duration* retry_after);

  // The initialize result, or a JSON-RPC error in *error; *http_status 429 (and
  // *retry_after) when the principal has too many sessions open.
  boost::json::value Initialize(const boost::json::object& params, const Principal& p, std::string* session_id,
                                boost::json::object* error, int* http_status, absl::Duration* retry_after);
  boost::json::value ToolsCall(Call& call, const boost::json::object& params, boost::json::object* error);
  boost::json::value ResourcesRead(Call& call, const boost::json::object& params, boost::json::object* error);
  boost::json::value ResourcesList(Call& call, boost::json::object* error);
  boost::json::value ResourcesSubscribe(Call& call, const boost::json::object& params, bool subscribe,
                                       boost::json::object* error);
  // A revision of a workspace the session `session_id` subscribed to `uri` in.
  void OnRevision(const std::string& session_id, const std::string& uri, const storage::Revision& rev);
  // Drops session `it`: closes its streams, ends its subscriptions. Needs mu_ held.
  std::map<std::string, Session>::iterator DropLocked(std::map<std::string, Session>::iterator it);
  void EndSession(const std::string& session_id);
  bool subscriptions_enabled() const;
  boost::json::value PromptsGet(Call& call, const boost::json::object& params, boost::json::object* error);
  // Runs routes for `call` as its agent calling `tool` (valid while `call` lives).
  RouteCaller CallerFor(const Call& call, std::string tool);
  // Enqueues the audit event of an agent's action; the status of record_event.
  absl::Status Audit(const Call& call, std::string_view action, std::string_view outcome, int status,
                     std::string_view error, std::string_view workspace, boost::json::object extra);

  McpServerOptions options_;
  McpTools tools_;
  McpTools all_tools_;  // every tool, to tell "unavailable here" from "unknown"
  std::shared_ptr<Guard> guard_ = std::make_shared<Guard>();
  mutable std::mutex mu_;
  std::map<std::string, Session> sessions_;
  std::unique_ptr<storage::RateLimiter> session_limiter_;  // keyed by session id
  uint64_t all_revisions_ = 0;  // options_.subscribe("") for list_changed; 0 = none
};

}  // namespace edgevault::api
