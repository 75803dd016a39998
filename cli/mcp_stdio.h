#pragma once
// `edgevault mcp`: the MCP stdio transport for local agents (Claude Desktop, editors),
// relayed to the api's Streamable HTTP endpoint /mcp with the user's credentials
// (docs/mcp.md "stdio"). Each line on stdin is one JSON-RPC message; it is POSTed to /mcp
// with the session id the api gave at initialize; each JSON-RPC answer is written to stdout
// as one line. Authorization, policies and audit are the api's: this is only a transport.
//
//   RelayMcpStdio(std::cin, std::cout, std::cerr, post);   // until stdin ends
//
// Thread-safety: one relay per process; not thread-safe.

#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace edgevault::cli {

struct McpHttpReply {
  int status = 0;          // -1: the api could not be reached (`error` says why)
  std::string body;
  std::string session_id;  // the Mcp-Session-Id header, "" when none
  std::string error;
};

// Sends one request to /mcp: `method` "POST" (with `body`) or "DELETE".
using McpPost = std::function<McpHttpReply(const std::string& method, const std::string& body,
                                           const std::vector<std::pair<std::string, std::string>>& headers)>;

// Relays until `in` ends, then ends the session (DELETE /mcp). A line that is not JSON
// gets a JSON-RPC parse error (-32700) on `out`; an api that cannot be reached gets the
// request an internal error (-32603) naming why. When the api has forgotten the session
// (404: it restarted or the session expired), the relay sends the client's initialize
// again and retries once. Diagnostics go to `log`. Returns the exit code, 0.
int RelayMcpStdio(std::istream& in, std::ostream& out, std::ostream& log, const McpPost& post);

}  // namespace edgevault::cli
