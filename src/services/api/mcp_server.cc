#include "src/services/api/mcp_server.h"

#include "src/services/api/mcp_prompts.h"

#include <algorithm>
#include <cctype>

#include "src/audit/event.h"
#include "src/base/strings.h"
#include "src/services/common/http_json.h"

namespace edgevault::api {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

// JSON-RPC 2.0 error codes, and the MCP ones.
constexpr int kParseError = -32700;
constexpr int kRateLimited = -32000;  // implementation-defined server error; data.code says which
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kSessionNotFound = -32001;  // also used for 401/403 transport refusals
constexpr int kResourceNotFound = -32002;

json::object RpcError(int code, std::string_view message) { return {{"code", code}, {"message", message}}; }

net::Response RpcErrorResponse(int http_status, const json::value& id, int code, std::string_view message) {
  return services::JsonResponse(http_status,
                                json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", RpcError(code, message)}});
}

// 429 with Retry-After and a JSON-RPC error saying so (data.code "rate_limited").
net::Response RateLimitedResponse(const json::value& id, std::string_view message, int64_t retry_after_s) {
  json::object error = RpcError(kRateLimited, message);
  error["data"] = json::object{{"status", 429}, {"code", "rate_limited"}, {"retry_after_s", retry_after_s}};
  net::Response r = services::JsonResponse(429, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
  r.WithHeader("Retry-After", std::to_string(retry_after_s));
  return r;
}

bool Supported(std::string_view version) {
  return std::find(std::begin(kMcpProtocolVersions), std::end(kMcpProtocolVersions), version) !=
         std::end(kMcpProtocolVersions);
}

std::string Lower(std::string_view s) {
  std::string out(s.substr(0, 1024));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether an Accept header allows `type` ("application/json"): the type itself, its
// "application/*", or "*/*". An absent header allows everything.
bool Accepts(std::string_view accept, std::string_view type) {
  if (accept.empty()) return true;
  std::string a = Lower(accept);
  std::string major(type.substr(0, type.find('/')));
  for (std::string_view part : base::Split(a, ',')) {
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    std::string_view media = part.substr(0, part.find(';'));
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    if (media == type || media == "*/*" || media == major + "/*") return true;
  }
  return false;
}

// A clientInfo string as it may appear in audit events: printable, at most `max` bytes,
// cut on a UTF-8 character boundary.
std::string Clean(std::string_view s, size_t max) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out.push_back(c);
  }
  if (out.size() > max) {
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
    out.resize(n);
  }
  return out;
}

const json::object* ObjectMember(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr ? v->if_object() : nullptr;
}

std::string StringMember(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

struct McpServer::Call {
  net::Request& req;
  const Principal& p;
  Session session;
  json::value id;
};

McpServer::McpServer(McpServerOptions options)
    : options_(std::move(options)),
      tools_({.read_only = options_.read_only, .allow_secret_values = options_.allow_secret_values}),
      all_tools_({.read_only = false, .allow_secret_values = true}),
      session_limiter_(storage::NewMemoryRateLimiter({.env = options_.env})) {
  guard_->server = this;
  if (subscriptions_enabled()) {
    // An environment created or deleted changes what resources/list answers (§1c).
    std::weak_ptr<Guard> guard = guard_;
    all_revisions_ = options_.subscribe("", [guard](const std::string& workspace_id, const storage::Revision& rev) {
      if (rev.kind != storage::ItemKind::kEnvironment || (rev.before != "null" && rev.after != "null")) return;
      if (auto g = guard.lock()) {
        std::lock_guard<std::mutex> lock(g->mu);
        if (g->server != nullptr) g->server->ResourceListChanged(workspace_id, "");
      }
    });
  }
}

McpServer::~McpServer() {
  {
    // Waits for a callback that is running; later ones find no server.
    std::lock_guard<std::mutex> lock(guard_->mu);
    guard_->server = nullptr;
  }
  if (all_revisions_ != 0) options_.unsubscribe(all_revisions_);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) it = DropLocked(it);
}

void McpServer::ResourceListChanged(std::string_view workspace_id, std::string_view org_id) {
  std::vector<std::shared_ptr<net::SseStream>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      Session& s = it->second;
      const bool concerns = s.listed && ((!workspace_id.empty() && s.listed_workspaces.contains(std::string(workspace_id))) ||
                                         (!org_id.empty() && s.org == org_id));
      if (!concerns) {
        ++it;
        continue;
      }
      // Not a word about the org to a principal that holds no rights any more.
      if (options_.revoked && options_.revoked(s.principal)) {
        it = DropLocked(it);
        continue;
      }
      for (auto& w : s.streams) {
        if (auto stream = w.lock(); stream && !stream->closed()) streams.push_back(std::move(stream));
      }
      ++it;
    }
  }
  if (streams.empty()) return;
  static const std::string kMessage =
      json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/resources/list_changed"}});
  for (auto& s : streams) s->Send({.id = "", .event = "message", .data = kMessage});
}

namespace {

bool HasLiveStream(const std::vector<std::weak_ptr<net::SseStream>>& streams) {
  for (const auto& w : streams) {
    if (auto s = w.lock(); s && !s->closed()) return true;
  }
  return false;
}

}  // namespace

std::map<std::string, McpServer::Session>::iterator McpServer::DropLocked(
    std::map<std::string, Session>::iterator it) {
  for (auto& w : it->second.streams) {
    if (auto stream = w.lock()) stream->Close();  // its OnClose unwatches the principal
  }
  if (options_.unsubscribe) {
    for (auto& [uri, sub] : it->second.subscriptions) options_.unsubscribe(sub.id);
  }
  return sessions_.erase(it);
}

void McpServer::EndSession(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = sessions_.find(session_id); it != sessions_.end()) DropLocked(it);
}

bool McpServer::subscriptions_enabled() const {
  return options_.subscribe && options_.unsubscribe && options_.watch_revocation && options_.unwatch &&
         options_.revoked;
}

size_t McpServer::session_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

std::string ProtectedResourceMetadataUrl(std::string_view resource) {
  size_t scheme = resource.find("://");
  size_t slash = scheme == std::string_view::npos ? std::string_view::npos : resource.find('/', scheme + 3);
  std::string_view origin = resource.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : resource.substr(slash);
  if (path == "/") path = {};
  return std::string(origin) + "/.well-known/oauth-protected-resource" + std::string(path);
}

net::Response McpServer::Handle(net::Request& req) {
  // No browser talks to the api (DESIGN.md §1), and the MCP spec requires refusing
  // foreign origins against DNS rebinding: any Origin is refused.
  if (!req.Header("Origin").empty()) {
    return RpcErrorResponse(403, nullptr, kInvalidRequest,
                            "requests with an Origin header are refused: the api does not serve browsers; connect "
                            "from a desktop client or the MCP Inspector's proxy");
  }
  http::verb m = req.method();
  if (m != http::verb::post && m != http::verb::get && m != http::verb::delete_) {
    net::Response r = RpcErrorResponse(405, nullptr, kInvalidRequest, "/mcp takes POST, GET and DELETE");
    r.WithHeader("Allow", "POST, GET, DELETE");
    return r;
  }
  absl::StatusOr<Principal> p = options_.authenticate(req);
  if (!p.ok()) {
    if (options_.record_denied && absl::IsUnauthenticated(p.status())) options_.record_denied(req, p.status());
    int status = absl::IsUnauthenticated(p.status()) ? 401 : services::HttpStatusFor(p.status().code());
    std::string message = status >= 500 && status != 503 ? "internal error" : std::string(p.status().message());
    if (status == 429) {
      // The principal's own request rate (api.rate_limit_*), with the Retry-After it carries.
      return RateLimitedResponse(nullptr, message, std::max<int64_t>(1, services::RetryAfterOf(p.status()).value_or(1)));
    }
    net::Response r = RpcErrorResponse(status, nullptr, kSessionNotFound, message);
    if (status == 401) {
      // RFC 6750 §3: error= only when a token was sent; RFC 9728 §5.1: where the metadata is,
      // so an OAuth client can discover the authorization server from this answer.
      std::string challenge = "Bearer realm=\"edgevault-api\"";
      if (!options_.resource_metadata_url.empty()) {
        challenge += ", resource_metadata=\"" + options_.resource_metadata_url + "\"";
      }
      if (!req.Header("Authorization").empty() || !req.Header("X-API-Key").empty()) {
        challenge += ", error=\"invalid_token\"";
      }
      r.WithHeader("WWW-Authenticate", challenge);
    }
    return r;
  }
  if (absl::Status st = ApiAuth::Authorize(*p, Action::kRead, {}); !st.ok()) {
    if (options_.record_denied) options_.record_denied(req, st);
    return RpcErrorResponse(403, nullptr, kSessionNotFound, std::string(st.message()));
  }
  if (m == http::verb::get) return Get(req, *p);
  if (m == http::verb::delete_) return Delete(req, *p);
  return Post(req, *p);
}

absl::StatusOr<McpServer::Session> McpServer::FindSession(const net::Request& req, const Principal& p,
                                                          net::Response* error) {
  std::string_view id = req.Header("Mcp-Session-Id");
  if (id.empty()) {
    *error = RpcErrorResponse(400, nullptr, kInvalidRequest,
                              "the Mcp-Session-Id header is required; start a session with initialize");
    return absl::InvalidArgumentError("no session");
  }
  absl::Time now = options_.env->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(std::string(id.substr(0, 64)));
  // A session is idle when unused for session_idle with no stream open (a client
  // listening for notifications is using it).
  if (it != sessions_.end() && it->second.last_used + options_.session_idle < now &&
      !HasLiveStream(it->second.streams)) {
    DropLocked(it);
    it = sessions_.end();
  }
  // A session of another principal is answered like an unknown one: a session id names
  // nobody else's session.
  if (it == sessions_.end() || it->second.actor != p.ActorId() || it->second.org != p.org_id) {
    *error = RpcErrorResponse(404, nullptr, kSessionNotFound,
                              "session not found (it ended, expired or the api restarted): send initialize again");
    return absl::NotFoundError("no session");
  }
  it->second.last_used = now;
  return it->second;
}

absl::StatusOr<std::string> McpServer::CreateSession(const Principal& p, std::string client,
                                                     std::string client_version, std::string protocol,
                                                     absl::Duration* retry_after) {
  absl::Time now = options_.env->Now();
  Session s;
  s.id = "mcps_" + options_.env->RandomHex(16);
  s.actor = p.ActorId();
  s.org = p.org_id;
  s.principal = p;
  s.client = std::move(client);
  s.client_version = std::move(client_version);
  s.protocol = std::move(protocol);
  s.last_used = now;
  std::lock_guard<std::mutex> lock(mu_);
  auto drop = [&](std::map<std::string, Session>::iterator it) { return DropLocked(it); };
  // Expired sessions go first; then, over a limit, the least recently used.
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.last_used + options_.session_idle < now && !HasLiveStream(it->second.streams) ? drop(it)
                                                                                                   : std::next(it);
  }
  // Over its own limit a principal is refused: evicting its oldest session would end a
  // client's session that is still in use, silently (mcp.max_sessions_per_principal).
  size_t own = 0;
  absl::Time oldest_use = absl::InfiniteFuture();
  for (const auto& [id, other] : sessions_) {
    if (other.actor != s.actor || other.org != s.org) continue;
    ++own;
    oldest_use = std::min(oldest_use, other.last_used);
  }
  if (own >= options_.max_sessions_per_principal) {
    *retry_after = std::max(absl::Seconds(1), oldest_use + options_.session_idle - now);
    return absl::ResourceExhaustedError("too many open sessions");
  }
  // Over the node's limit the least recently used session of anyone goes (memory bound).
  if (sessions_.size() >= options_.max_sessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    if (oldest != sessions_.end()) drop(oldest);
  }
  std::string id = s.id;
  sessions_.emplace(id, std::move(s));
  return id;
}

net::Response McpServer::Get(net::Request& req, const Principal& p) {
  if (!Accepts(req.Header("Accept"), "text/event-stream") || req.Header("Accept").empty()) {
    return RpcErrorResponse(406, nullptr, kInvalidRequest, "GET /mcp opens an event stream: send Accept: text/event-stream");
  }
  net::Response error;
  absl::StatusOr<Session> s = FindSession(req, p, &error);
  if (!s.ok()) return error;
  if (!TakeSessionRequest(s->id, nullptr, &error).ok()) return error;
  net::Response resp;
  std::string id = s->id;
  Principal principal = p;
  resp.sse = [this, id, principal](std::shared_ptr<net::SseStream> stream) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = sessions_.find(id);
      if (it == sessions_.end()) {
        stream->Close();
        return;
      }
      auto& streams = it->second.streams;
      streams.erase(std::remove_if(streams.begin(), streams.end(), [](const auto& w) { return w.expired(); }),
                    streams.end());
      streams.push_back(stream);
    }
    if (options_.watch_revocation && options_.unwatch) {
      // The stream pins its principal, so an idle listener is still rechecked, and the
      // first recheck that finds it holds no rights ends the session: the stream closes
      // within one recheck interval and no notification follows (principal-recheck.md).
      std::weak_ptr<Guard> guard = guard_;
      uint64_t watch = options_.watch_revocation(principal, [guard, id] {
        if (auto g = guard.lock()) {
          std::lock_guard<std::mutex> lock(g->mu);
          if (g->server != nullptr) g->server->EndSession(id);
        }
      });
      stream->OnClose([unwatch = options_.unwatch, watch] { unwatch(watch); });
    }
    stream->SendComment("edgevault mcp session stream");
  };
  return resp;
}

absl::Status McpServer::TakeSessionRequest(const std::string& session_id, const json::value& id,
                                          net::Response* error) {
  const storage::RateLimit& limit = options_.session_rate_limit;
  if (limit.count <= 0) return absl::OkStatus();
  absl::StatusOr<absl::Duration> wait = session_limiter_->Take(session_id, limit);
  if (!wait.ok() || *wait <= absl::ZeroDuration()) return absl::OkStatus();  // the memory limiter does not fail
  const int64_t seconds = storage::RetryAfterSeconds(*wait);
  std::string message = "this MCP session made more than " + std::to_string(limit.count) + " requests per " +
                        absl::FormatDuration(limit.period) + " (mcp.session_rate_limit_per_second, burst " +
                        std::to_string(limit.burst > 0 ? limit.burst : limit.count) + "); retry after " +
                        std::to_string(seconds) + " s";
  *error = RateLimitedResponse(id, message, seconds);
  return absl::ResourceExhaustedError(message);
}

net::Response McpServer::Delete(net::Request& req, const Principal& p) {
  net::Response error;
  absl::StatusOr<Session> s = FindSession(req, p, &error);
  if (!s.ok()) return error;
  EndSession(s->id);
  net::Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

net::Response McpServer::Post(net::Request& req, const Principal& p) {
  std::string content_type = Lower(req.Header("Content-Type"));
  if (content_type.substr(0, content_type.find(';')) != "application/json") {
    return RpcErrorResponse(415, nullptr, kInvalidRequest, "POST /mcp takes Content-Type: application/json");
  }
  if (!Accepts(req.Header("Accept"), "application/json")) {
    return RpcErrorResponse(406, nullptr, kInvalidRequest,
                            "this server answers application/json: send Accept: application/json, text/event-stream");
  }
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec) return RpcErrorResponse(400, nullptr, kParseError, "the body is not JSON: " + ec.message());
  if (body.is_array()) {
    return RpcErrorResponse(400, nullptr, kInvalidRequest,
                            "JSON-RPC batches are not supported (MCP removed them in 2025-06-18): send one message per request");
  }
  const json::object* msg = body.if_object();
  if (msg == nullptr) return RpcErrorResponse(400, nullptr, kInvalidRequest, "a JSON-RPC message is a JSON object");
  const json::value* version = msg->if_contains("jsonrpc");
  if (version == nullptr || !version->is_string() || version->get_string() != "2.0") {
    return RpcErrorResponse(400, nullptr, kInvalidRequest, "member 'jsonrpc' must be \"2.0\"");
  }
  const json::value* id_v = msg->if_contains("id");
  json::value id = nullptr;
  if (id_v != nullptr) {
    if (!id_v->is_string() && !id_v->is_int64() && !id_v->is_uint64()) {
      return RpcErrorResponse(400, nullptr, kInvalidRequest, "member 'id' must be a string or an integer");
    }
    if (id_v->is_string() && id_v->get_string().size() > 256) {
      return RpcErrorResponse(400, nullptr, kInvalidRequest, "member 'id' is longer than 256 bytes");
    }
    id = *id_v;
  }
  const json::value* method_v = msg->if_contains("method");
  if (method_v == nullptr) {
    // A response to a request of ours: this server sends none, so it is acknowledged and dropped.
    if (id_v != nullptr && (msg->contains("result") || msg->contains("error"))) {
      net::Response r;
      r.status = 202;
      r.content_type.clear();
      return r;
    }
    return RpcErrorResponse(400, id, kInvalidRequest, "member 'method' is required");
  }
  if (!method_v->is_string()) return RpcErrorResponse(400, id, kInvalidRequest, "member 'method' must be a string");
  std::string method = std::string(method_v->get_string()).substr(0, 128);
  static const json::object kNoParams;
  const json::object* params = &kNoParams;
  if (const json::value* pv = msg->if_contains("params"); pv != nullptr && !pv->is_null()) {
    params = pv->if_object();
    if (params == nullptr) return RpcErrorResponse(400, id, kInvalidRequest, "member 'params' must be an object");
  }

  if (method == "initialize") {
    if (id_v == nullptr) return RpcErrorResponse(400, nullptr, kInvalidRequest, "initialize is a request: give it an id");
    if (!req.Header("Mcp-Session-Id").empty()) {
      return RpcErrorResponse(400, id, kInvalidRequest,
                              "initialize opens a new session: send it without an Mcp-Session-Id header");
    }
    std::string session_id;
    json::object error;
    int http_status = 200;
    absl::Duration retry_after;
    json::value result = Initialize(*params, p, &session_id, &error, &http_status, &retry_after);
    if (http_status == 429) {
      net::Response r = services::JsonResponse(429, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
      r.WithHeader("Retry-After", std::to_string(absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1)))));
      return r;
    }
    if (!error.empty()) {
      return services::JsonResponse(200, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
    }
    net::Response r = services::JsonResponse(200, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
    r.WithHeader("Mcp-Session-Id", session_id);
    return r;
  }

  std::string_view header_version = req.Header("MCP-Protocol-Version");
  if (!header_version.empty() && !Supported(header_version)) {
    std::string list;
    for (std::string_view v : kMcpProtocolVersions) list += (list.empty() ? "" : ", ") + std::string(v);
    return RpcErrorResponse(400, id, kInvalidRequest,
                            "unsupported MCP-Protocol-Version \"" + std::string(header_version.substr(0, 40)) +
                                "\"; this server speaks " + list);
  }
  net::Response error_response;
  absl::StatusOr<Session> session = FindSession(req, p, &error_response);
  if (!session.ok()) {
    return error_response;
  }
  if (!TakeSessionRequest(session->id, id, &error_response).ok()) return error_response;
  if (id_v == nullptr) {  // a notification: initialized, cancelled, progress...; nothing to do
    net::Response r;
    r.status = 202;
    r.content_type.clear();
    return r;
  }
  Call call{req, p, *std::move(session), id};
  json::object error;
  json::value result;
  if (method == "ping") {
    result = json::object();
  } else if (method == "tools/list") {
    bool may_write = ApiAuth::Authorize(p, Action::kWrite, {}).ok();
    bool may_read_secrets = ApiAuth::Authorize(p, Action::kReadSecretValues, {}).ok();
    json::array tools;
    for (const McpTool* t : tools_.Listed(may_write, may_read_secrets)) tools.push_back(t->ToJson());
    result = json::object{{"tools", std::move(tools)}};
  } else if (method == "tools/call") {
    result = ToolsCall(call, *params, &error);
  } else if (method == "resources/list") {
    result = ResourcesList(call, &error);
  } else if (method == "resources/templates/list") {
    result = json::object{{"resourceTemplates", McpTools::ResourceTemplates()}};
  } else if (method == "resources/read") {
    result = ResourcesRead(call, *params, &error);
  } else if ((method == "resources/subscribe" || method == "resources/unsubscribe") && subscriptions_enabled()) {
    result = ResourcesSubscribe(call, *params, method == "resources/subscribe", &error);
  } else if (method == "prompts/list") {
    result = json::object{{"prompts", McpPromptList()}};
  } else if (method == "prompts/get") {
    result = PromptsGet(call, *params, &error);
  } else {
    error = RpcError(kMethodNotFound, "method \"" + method + "\" is not served here; see tools/list and resources/list");
  }
  if (!error.empty()) {
    return services::JsonResponse(200, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
  }
  return services::JsonResponse(200, json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

json::value McpServer::Initialize(const json::object& params, const Principal& p, std::string* session_id,
                                  json::object* error, int* http_status, absl::Duration* retry_after) {
  const json::value* requested = params.if_contains("protocolVersion");
  if (requested == nullptr || !requested->is_string()) {
    *error = RpcError(kInvalidParams, "params.protocolVersion (a string such as \"2025-06-18\") is required");
    return nullptr;
  }
  const json::object* client = ObjectMember(params, "clientInfo");
  std::string name = client != nullptr ? Clean(StringMember(*client, "name"), 100) : "";
  if (name.empty()) {
    *error = RpcError(kInvalidParams, "params.clientInfo.name is required: it names your agent in the audit log");
    return nullptr;
  }
  std::string version = Clean(StringMember(*client, "version"), 100);
  std::string asked(requested->get_string());
  std::string negotiated = Supported(asked) ? asked : std::string(kMcpProtocolVersions[0]);
  absl::StatusOr<std::string> created = CreateSession(p, name, version, negotiated, retry_after);
  if (!created.ok()) {
    *http_status = 429;
    *error = RpcError(kInvalidRequest,
                      "this token holds " + std::to_string(options_.max_sessions_per_principal) +
                          " open MCP sessions already (mcp.max_sessions_per_principal): end one with DELETE /mcp "
                          "or retry once one has been idle for the session idle time");
    (*error)["data"] = json::object{{"status", 429}, {"code", "too_many_sessions"}};
    return nullptr;
  }
  *session_id = *std::move(created);
  return json::object{
      {"protocolVersion", negotiated},
      {"capabilities",
       {{"tools", {{"listChanged", false}}},
        {"resources", {{"subscribe", subscriptions_enabled()}, {"listChanged", subscriptions_enabled()}}},
        {"prompts", {{"listChanged", false}}}}},
      {"serverInfo", {{"name", "edgevault-api"}, {"title", "EdgeVault"}, {"version", options_.server_version}}},
      {"instructions",
       "EdgeVault holds configuration, feature flags and secrets per workspace and environment. Read with "
       "list_workspaces, list_items, get_item, get_resolved_environment, explain_flag and get_history. Before "
       "changing anything, call propose_change (a dry run showing the exact diff and the environments touched); "
       "apply_change needs a reason, and where an environment requires review it opens a change request that a "
       "human approves. Secret values are never shown unless the server allows it."}};
}

json::value McpServer::ToolsCall(Call& call, const json::object& params, json::object* error) {
  const json::value* name_v = params.if_contains("name");
  if (name_v == nullptr || !name_v->is_string()) {
    *error = RpcError(kInvalidParams, "params.name (the tool's name) is required");
    return nullptr;
  }
  std::string name = std::string(name_v->get_string()).substr(0, 128);
  json::value args = json::object();
  if (const json::value* a = params.if_contains("arguments"); a != nullptr && !a->is_null()) {
    if (!a->is_object()) {
      *error = RpcError(kInvalidParams, "params.arguments must be an object");
      return nullptr;
    }
    args = *a;
  }
  bool may_write = ApiAuth::Authorize(call.p, Action::kWrite, {}).ok();
  bool may_read_secrets = ApiAuth::Authorize(call.p, Action::kReadSecretValues, {}).ok();
  const McpTool* tool = tools_.Find(name, may_write, may_read_secrets);
  if (tool == nullptr) {
    bool exists = all_tools_.Find(name, true, true) != nullptr;
    std::string why = !exists ? "unknown tool \"" + name + "\"; see tools/list"
                      : options_.read_only && name != "read_secret_value"
                          ? "tool \"" + name + "\" is not available: this server is read-only (mcp.read_only)"
                          : "tool \"" + name + "\" is not available to this token or on this server";
    if (exists) {
      absl::Status audited = Audit(call, "api.mcp.tool_call", "denied", 403, "tool_unavailable", "",
                                   json::object{{"tool", name}});
      if (!audited.ok()) {
        *error = RpcError(kInternalError, "audit unavailable: the call is refused until it can be recorded");
        return nullptr;
      }
    }
    *error = RpcError(kInvalidParams, why);
    return nullptr;
  }
  RouteCaller caller = CallerFor(call, name);
  ToolOutcome out = McpTools::Call(*tool, args, caller);
  std::string_view outcome = !out.is_error ? "success" : (out.status == 401 || out.status == 403) ? "denied" : "error";
  absl::Status audited = Audit(call, "api.mcp.tool_call", outcome, out.status, out.error_code, out.workspace,
                               json::object{{"tool", name}});
  if (!audited.ok()) {
    *error = RpcError(kInternalError, "audit unavailable: the answer is withheld until the call can be recorded");
    return nullptr;
  }
  std::string text = json::serialize(out.structured);
  json::object result{{"content", json::array{json::object{{"type", "text"}, {"text", text}}}}};
  if (out.is_error) {
    result["isError"] = true;
  } else {
    result["structuredContent"] = std::move(out.structured);
  }
  return result;
}

json::value McpServer::PromptsGet(Call& call, const json::object& params, json::object* error) {
  const json::value* name_v = params.if_contains("name");
  if (name_v == nullptr || !name_v->is_string()) {
    *error = RpcError(kInvalidParams, "params.name (the prompt's name) is required");
    return nullptr;
  }
  std::string name = std::string(name_v->get_string()).substr(0, 128);
  static const json::object kNone;
  const json::object* args = &kNone;
  if (const json::value* a = params.if_contains("arguments"); a != nullptr && !a->is_null()) {
    args = a->if_object();
    if (args == nullptr) {
      *error = RpcError(kInvalidParams, "params.arguments must be an object of strings");
      return nullptr;
    }
  }
  PromptOutcome out = GetMcpPrompt(name, *args, CallerFor(call, "prompts/get:" + name));
  if (absl::IsInvalidArgument(out.status)) {
    *error = RpcError(kInvalidParams, std::string(out.status.message()));
    return nullptr;
  }
  int status = out.status.ok() ? 200 : out.route_status;
  std::string_view outcome = out.status.ok() ? "success" : (status == 401 || status == 403) ? "denied" : "error";
  if (!Audit(call, "api.mcp.prompt_get", outcome, status, out.error_code, out.workspace,
             json::object{{"tool", "prompts/get:" + name}})
           .ok()) {
    *error = RpcError(kInternalError, "audit unavailable: the answer is withheld until the call can be recorded");
    return nullptr;
  }
  if (!out.status.ok()) {
    *error = RpcError(kInvalidParams, std::string(out.status.message()));
    (*error)["data"] = json::object{{"status", status}};
    return nullptr;
  }
  return std::move(out.result);
}

RouteCaller McpServer::CallerFor(const Call& call, std::string tool) {
  workspace::AgentInfo agent{call.session.client, call.session.client_version, call.session.id, std::move(tool)};
  net::Request* req = &call.req;
  return [this, req, agent](http::verb method, const std::string& target, const json::value* body,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
    return options_.call_route(*req, agent, method, target, body, headers);
  };
}

json::value McpServer::ResourcesList(Call& call, json::object* error) {
  RouteCaller caller = CallerFor(call, "resources/list");
  json::array resources;
  std::vector<std::string> workspace_ids;
  RouteAnswer a = McpTools::ListResources(caller, &resources, &workspace_ids);
  if (a.status < 200 || a.status >= 300) {
    *error = RpcError(kInternalError, "listing the workspaces failed with HTTP " + std::to_string(a.status));
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = sessions_.find(call.session.id); it != sessions_.end()) {
      it->second.listed = true;
      it->second.listed_workspaces = std::set<std::string>(workspace_ids.begin(), workspace_ids.end());
    }
  }
  return json::object{{"resources", std::move(resources)}};
}

json::value McpServer::ResourcesRead(Call& call, const json::object& params, json::object* error) {
  const json::value* uri_v = params.if_contains("uri");
  if (uri_v == nullptr || !uri_v->is_string()) {
    *error = RpcError(kInvalidParams, "params.uri is required");
    return nullptr;
  }
  std::string uri = std::string(uri_v->get_string()).substr(0, 2000);
  RouteCaller caller = CallerFor(call, "resources/read");
  RouteAnswer answer;
  std::string workspace;
  if (absl::Status st = McpTools::ReadResource(uri, caller, &answer, &workspace); !st.ok()) {
    *error = RpcError(kResourceNotFound, std::string(st.message()));
    (*error)["data"] = json::object{{"uri", uri.substr(0, 300)}};
    return nullptr;
  }
  bool ok = answer.status >= 200 && answer.status < 300;
  std::string code;
  if (!ok) {
    const json::object* o = answer.body.if_object();
    const json::object* e = o != nullptr ? ObjectMember(*o, "error") : nullptr;
    code = e != nullptr ? StringMember(*e, "code") : "";
  }
  std::string_view outcome = ok ? "success" : (answer.status == 401 || answer.status == 403) ? "denied" : "error";
  if (!Audit(call, "api.mcp.resource_read", outcome, answer.status, code, workspace,
             json::object{{"uri", uri.substr(0, 300)}})
           .ok()) {
    *error = RpcError(kInternalError, "audit unavailable: the answer is withheld until the read can be recorded");
    return nullptr;
  }
  if (!ok) {
    *error = RpcError(answer.status == 404 ? kResourceNotFound : kInvalidParams,
                      "reading " + uri.substr(0, 300) + " failed: " + json::serialize(answer.body).substr(0, 500));
    (*error)["data"] = json::object{{"status", answer.status}, {"uri", uri.substr(0, 300)}};
    return nullptr;
  }
  return json::object{{"contents", json::array{json::object{
                                       {"uri", uri}, {"mimeType", "application/json"}, {"text", json::serialize(answer.body)}}}}};
}

json::value McpServer::ResourcesSubscribe(Call& call, const json::object& params, bool subscribe,
                                          json::object* error) {
  const json::value* uri_v = params.if_contains("uri");
  if (uri_v == nullptr || !uri_v->is_string()) {
    *error = RpcError(kInvalidParams, "params.uri is required");
    return nullptr;
  }
  std::string uri(uri_v->get_string());
  absl::StatusOr<ResourceRef> ref = McpTools::ParseResourceUri(uri);
  if (!ref.ok()) {
    *error = RpcError(kResourceNotFound, std::string(ref.status().message()));
    (*error)["data"] = json::object{{"uri", uri.substr(0, 300)}};
    return nullptr;
  }
  if (!subscribe) {
    // Unsubscribing from what was never subscribed is not an error (nothing changes).
    uint64_t id = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = sessions_.find(call.session.id);
      if (it != sessions_.end()) {
        if (auto sub = it->second.subscriptions.find(uri); sub != it->second.subscriptions.end()) {
          id = sub->second.id;
          it->second.subscriptions.erase(sub);
        }
      }
    }
    if (id != 0) options_.unsubscribe(id);
    return json::object();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(call.session.id);
    if (it != sessions_.end() && it->second.subscriptions.contains(uri)) return json::object();
    if (it != sessions_.end() && it->second.subscriptions.size() >= options_.max_subscriptions_per_session) {
      *error = RpcError(kInvalidParams, "a session holds at most " +
                                            std::to_string(options_.max_subscriptions_per_session) +
                                            " subscriptions: unsubscribe from one first");
      return nullptr;
    }
  }
  // The workspace must be readable by this principal in its org (the REST route decides,
  // as for resources/read); its id is what revisions are published under.
  RouteAnswer answer = CallerFor(call, "resources/subscribe")(
      http::verb::get, "/v1/workspaces/" + ref->WorkspaceSegment(), nullptr, {});
  bool ok = answer.status >= 200 && answer.status < 300;
  const json::object* body = answer.body.if_object();
  std::string code;
  if (!ok && body != nullptr) {
    const json::object* e = ObjectMember(*body, "error");
    code = e != nullptr ? StringMember(*e, "code") : "";
  }
  std::string_view outcome = ok ? "success" : (answer.status == 401 || answer.status == 403) ? "denied" : "error";
  if (!Audit(call, "api.mcp.resource_subscribe", outcome, answer.status, code, ref->workspace,
             json::object{{"uri", uri.substr(0, 300)}, {"tool", "resources/subscribe"}})
           .ok()) {
    *error = RpcError(kInternalError, "audit unavailable: the subscription is refused until it can be recorded");
    return nullptr;
  }
  std::string workspace_id = ok && body != nullptr ? StringMember(*body, "id") : "";
  if (!ok || workspace_id.empty()) {
    *error = RpcError(answer.status == 404 ? kResourceNotFound : kInvalidParams,
                      "cannot subscribe to " + uri.substr(0, 300) + ": " +
                          json::serialize(answer.body).substr(0, 500));
    (*error)["data"] = json::object{{"status", answer.status}, {"uri", uri.substr(0, 300)}};
    return nullptr;
  }
  std::weak_ptr<Guard> guard = guard_;
  std::string session_id = call.session.id;
  uint64_t id = options_.subscribe(workspace_id, [guard, session_id, uri](const std::string&, const storage::Revision& rev) {
    if (auto g = guard.lock()) {
      std::lock_guard<std::mutex> lock(g->mu);
      if (g->server != nullptr) g->server->OnRevision(session_id, uri, rev);
    }
  });
  bool kept = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session_id);
    if (it != sessions_.end() && !it->second.subscriptions.contains(uri)) {
      it->second.subscriptions.emplace(uri, Subscription{*std::move(ref), id});
      kept = true;
    }
  }
  if (!kept) options_.unsubscribe(id);  // the session ended meanwhile, or a parallel subscribe won
  return json::object();
}

void McpServer::OnRevision(const std::string& session_id, const std::string& uri, const storage::Revision& rev) {
  std::vector<std::shared_ptr<net::SseStream>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return;
    auto sub = it->second.subscriptions.find(uri);
    if (sub == it->second.subscriptions.end()) return;
    const ResourceRef& ref = sub->second.ref;
    // A resolved document holds no secrets, and any other change may change it (through
    // inheritance, segments, prerequisites): it is announced for every non-secret revision.
    bool touches = ref.kind == "resolved" ? rev.kind != storage::ItemKind::kSecret
                                          : storage::ItemKindName(rev.kind) == ref.kind && rev.key == ref.name;
    if (!touches) return;
    // Not a word about a workspace to a principal that holds no rights any more: the
    // session ends instead (the recheck's watch does the same at once when it fires).
    if (options_.revoked(it->second.principal)) {
      DropLocked(it);
      return;
    }
    for (auto& w : it->second.streams) {
      if (auto s = w.lock(); s && !s->closed()) streams.push_back(std::move(s));
    }
  }
  if (streams.empty()) return;  // no stream open: the notification is not kept (no resumption)
  std::string message = json::serialize(json::object{
      {"jsonrpc", "2.0"}, {"method", "notifications/resources/updated"}, {"params", {{"uri", uri}}}});
  for (auto& s : streams) s->Send({.id = "", .event = "message", .data = message});
}

absl::Status McpServer::Audit(const Call& call, std::string_view action, std::string_view outcome, int status,
                              std::string_view error, std::string_view workspace, json::object extra) {
  if (!options_.record_event) return absl::OkStatus();
  workspace::AgentInfo agent{call.session.client, call.session.client_version, call.session.id, ""};
  if (const json::value* tool = extra.if_contains("tool"); tool != nullptr && tool->is_string()) {
    agent.tool = std::string(tool->get_string());
    extra.erase("tool");
  } else {
    agent.tool = std::string(action == "api.mcp.resource_read" ? "resources/read" : "");
  }
  json::object e;
  e["v"] = 1;
  e["id"] = audit::NewEventId(options_.env);
  e["time"] = audit::FormatEventTime(options_.env->Now());
  e["service"] = "api";
  e["action"] = action;
  e["outcome"] = outcome;
  e["actor"] = {{"id", call.p.ActorId()},
                {"address", call.req.remote_address()},
                {"user_agent", "mcp:" + agent.client + "/" + agent.client_version}};
  e["org"] = call.p.org_id;
  e["request_id"] = call.req.request_id();
  json::object details = std::move(extra);
  details["agent"] = workspace::AgentJson(agent);
  details["status"] = status;
  details["error"] = error;
  details["workspace"] = Clean(workspace, 128);
  e["details"] = std::move(details);
  return options_.record_event(json::serialize(e));
}

}  // namespace edgevault::api
