#pragma once
// The MCP tools and resources of edgevault-api (docs/design/mcp.md §3–5). Each tool is a
// call of one or more REST routes through a RouteCaller, which runs the very handler the
// router runs for that route: authentication, authorization by effect, validation,
// environment policies and audit happen there, never here. This file only checks the
// arguments' shape, picks the routes and shapes their answers.
//
//   McpTools tools({.read_only = false, .allow_secret_values = false});
//   for (const McpTool* t : tools.Listed(may_write, may_read_secrets)) ...
//   ToolOutcome out = tools.Call("get_item", args, caller, may_write, may_read_secrets);
//
// Thread-safety: an McpTools is immutable after construction; Call may run concurrently.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::api {

// A REST route's answer: its HTTP status and its JSON body (null when it had none).
struct RouteAnswer {
  int status = 0;
  boost::json::value body;
};

// Runs the REST route for `method` and `target` (path + query, parameters
// percent-encoded) with `body` (nullptr = none) and extra request headers, as the MCP
// caller, and answers what the route answers.
using RouteCaller = std::function<RouteAnswer(boost::beast::http::verb method, const std::string& target,
                                              const boost::json::value* body,
                                              const std::vector<std::pair<std::string, std::string>>& headers)>;

// A tool's result: `structured` is structuredContent (success) or {error, status} (isError).
struct ToolOutcome {
  bool is_error = false;
  boost::json::object structured;
  int status = 200;        // the HTTP status of the last route called (400 for bad arguments)
  std::string error_code;  // the REST error code, "" on success
  std::string workspace;   // the workspace argument, "" when none (for audit)
};

struct McpTool {
  std::string name, title, description;
  boost::json::object input_schema, output_schema;
  bool read_only = true;     // annotations.readOnlyHint
  bool destructive = false;  // annotations.destructiveHint
  bool write = false;        // needs the write action; hidden in read-only mode (§4)
  bool secret_values = false;  // read_secret_value: needs both switches of §5
  std::function<ToolOutcome(const boost::json::object& args, const RouteCaller& call)> run;

  // The tool as tools/list shows it: {name, title, description, inputSchema, outputSchema, annotations}.
  boost::json::object ToJson() const;
};

// A resource URI taken apart: the resolved document of an environment
// (kind "resolved", name = the environment) or one item (kind "config", "flag",
// "segment" or "secret", name = its key). Workspace and name are percent-decoded.
struct ResourceRef {
  std::string workspace;
  std::string kind;
  std::string name;
  // The workspace as a REST path segment (re-encoded, so it cannot add a path step).
  std::string WorkspaceSegment() const;
};

struct McpToolsOptions {
  bool read_only = false;
  bool allow_secret_values = false;
};

class McpTools {
 public:
  explicit McpTools(McpToolsOptions options);

  // The tools a principal sees: write tools only when the server is not read-only and
  // `may_write`; read_secret_value only when allowed and `may_read_secret_values`.
  std::vector<const McpTool*> Listed(bool may_write, bool may_read_secret_values) const;
  // The tool `name` when Listed would show it, else nullptr.
  const McpTool* Find(std::string_view name, bool may_write, bool may_read_secret_values) const;
  // Runs `tool` with `args` (an object, checked against its input schema first).
  static ToolOutcome Call(const McpTool& tool, const boost::json::value& args, const RouteCaller& call);

  // Resources (§1): the resolved documents of every environment the caller can read, and
  // reading one by URI. Read returns InvalidArgument for a URI this server does not serve
  // (JSON-RPC -32002), else the route's answer (a 4xx answer is an error result).
  // `workspace_ids` (optional) gets the id of every workspace listed.
  static RouteAnswer ListResources(const RouteCaller& call, boost::json::array* resources,
                                   std::vector<std::string>* workspace_ids = nullptr);
  static boost::json::array ResourceTemplates();
  static absl::Status ReadResource(std::string_view uri, const RouteCaller& call, RouteAnswer* answer,
                                   std::string* workspace);
  // What a resource URI names; InvalidArgument for a URI this server does not serve.
  static absl::StatusOr<ResourceRef> ParseResourceUri(std::string_view uri);

 private:
  McpToolsOptions options_;
  std::vector<McpTool> tools_;
};

// `s` with every byte but A-Z a-z 0-9 - . _ ~ percent-encoded (one path segment or query value).
std::string PercentEncode(std::string_view s);

// Checks `args` against the schema subset the tools use (type, properties, required,
// additionalProperties: false, enum, minLength/maxLength, minimum/maximum, items.type).
// InvalidArgument naming the member.
absl::Status ValidateArguments(const boost::json::object& schema, const boost::json::value& args);

}  // namespace edgevault::api
