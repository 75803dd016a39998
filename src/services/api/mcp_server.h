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
  size_t max_sessions = 10000;
  size_t max_sessions_per_principal = 64;
  absl::Duration session_idle = absl::Hours(1);
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

 private:
  struct Session {
    std::string id;
    std::string actor;  // Principal::ActorId()
    std::string org;
    std::string client, client_version;
    std::string protocol;
    absl::Time last_used;
    std::vector<std::weak_ptr<net::SseStream>> streams;
  };
  struct Call;  // one JSON-RPC request being answered

  net::Response Post(net::Request& req, const Principal& p);
  net::Response Get(net::Request& req, const Principal& p);
  net::Response Delete(net::Request& req, const Principal& p);
  // The session named by the request's Mcp-Session-Id, if it exists, is live and belongs
  // to `p` (then its last use is now); otherwise the HTTP error to answer.
  absl::StatusOr<Session> FindSession(const net::Request& req, const Principal& p, net::Response* error);
  std::string CreateSession(const Principal& p, std::string client, std::string client_version,
                            std::string protocol);

  boost::json::value Initialize(const boost::json::object& params, const Principal& p, std::string* session_id,
                                boost::json::object* error);
  boost::json::value ToolsCall(Call& call, const boost::json::object& params, boost::json::object* error);
  boost::json::value ResourcesRead(Call& call, const boost::json::object& params, boost::json::object* error);
  boost::json::value ResourcesList(Call& call, boost::json::object* error);
  boost::json::value PromptsGet(Call& call, const boost::json::object& params, boost::json::object* error);
  // Runs routes for `call` as its agent calling `tool` (valid while `call` lives).
  RouteCaller CallerFor(const Call& call, std::string tool);
  // Enqueues the audit event of an agent's action; the status of record_event.
  absl::Status Audit(const Call& call, std::string_view action, std::string_view outcome, int status,
                     std::string_view error, std::string_view workspace, boost::json::object extra);

  McpServerOptions options_;
  McpTools tools_;
  McpTools all_tools_;  // every tool, to tell "unavailable here" from "unknown"
  mutable std::mutex mu_;
  std::map<std::string, Session> sessions_;
};

}  // namespace edgevault::api
