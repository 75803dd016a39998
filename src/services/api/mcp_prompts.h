#pragma once
// The MCP prompts of edgevault-api (docs/design/mcp.md §3b): templates a user picks in an
// MCP client ("review a change request", "explain a flag", "plan a promotion"), filled with
// real data read through the same REST handlers the tools use (a RouteCaller), so a prompt
// shows nothing the token could not read over REST, and no secret value (the routes never
// answer one).
//
//   json::array list = McpPromptList();
//   PromptOutcome out = GetMcpPrompt("review_change_request", {{"workspace","shop"},{"id","3"}}, caller);
//
// Thread-safety: stateless; every function may run concurrently.

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "src/services/api/mcp_tools.h"

namespace edgevault::api {

// prompts/list's `prompts`: [{name, title, description, arguments: [{name, description, required}]}].
boost::json::array McpPromptList();

struct PromptOutcome {
  // InvalidArgument: unknown prompt, a missing or malformed argument (JSON-RPC -32602);
  // FailedPrecondition: a route refused (its status and code below).
  absl::Status status;
  boost::json::object result;  // {description, messages: [{role: "user", content: {type: "text", text}}]}
  int route_status = 200;      // the last route's HTTP status
  std::string error_code;      // its error code, "" on success
  std::string workspace;       // the workspace argument (for audit)
};

// prompts/get: `arguments` is params.arguments (string values, as the protocol has them).
PromptOutcome GetMcpPrompt(std::string_view name, const boost::json::object& arguments, const RouteCaller& call);

}  // namespace edgevault::api
