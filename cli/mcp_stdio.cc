#include "cli/mcp_stdio.h"

#include <boost/json.hpp>
#include <istream>
#include <ostream>

namespace edgevault::cli {

namespace json = boost::json;

namespace {

constexpr size_t kMaxLine = 1 << 20;  // the api's default server.max_body_bytes

void WriteError(std::ostream& out, const json::value& id, int code, const std::string& message) {
  out << json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}})
      << "\n";
  out.flush();
}

}  // namespace

int RelayMcpStdio(std::istream& in, std::ostream& out, std::ostream& log, const McpPost& post) {
  std::string session, protocol, initialize;
  std::string line;
  auto headers = [&] {
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"},
                                                           {"Accept", "application/json, text/event-stream"}};
    if (!session.empty()) h.emplace_back("Mcp-Session-Id", session);
    if (!protocol.empty()) h.emplace_back("MCP-Protocol-Version", protocol);
    return h;
  };
  // Opens a session again with the client's own initialize (answer dropped: the client
  // has it), after the api forgot the old one.
  auto reinitialize = [&]() -> bool {
    session.clear();
    McpHttpReply r = post("POST", initialize, headers());
    if (r.status != 200 || r.session_id.empty()) return false;
    session = r.session_id;
    post("POST", R"({"jsonrpc":"2.0","method":"notifications/initialized"})", headers());
    log << "edgevault mcp: the api had forgotten the session; a new one was opened\n";
    return true;
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line.size() > kMaxLine) {
      WriteError(out, nullptr, -32600, "message larger than 1 MiB");
      continue;
    }
    boost::system::error_code ec;
    json::value msg = json::parse(line, ec);
    if (ec) {
      WriteError(out, nullptr, -32700, "not JSON: " + ec.message());
      continue;
    }
    const json::object* o = msg.if_object();
    const json::value* id_v = o != nullptr ? o->if_contains("id") : nullptr;
    json::value id = id_v != nullptr ? *id_v : json::value(nullptr);
    const json::value* method_v = o != nullptr ? o->if_contains("method") : nullptr;
    bool is_request = id_v != nullptr && method_v != nullptr;
    bool is_initialize = method_v != nullptr && method_v->is_string() && method_v->get_string() == "initialize";
    if (is_initialize) {
      session.clear();
      protocol.clear();
      initialize = line;
    }
    McpHttpReply r = post("POST", line, headers());
    if (r.status == 404 && !is_initialize && !initialize.empty() && reinitialize()) {
      r = post("POST", line, headers());
    }
    if (r.status < 0) {
      log << "edgevault mcp: cannot reach the api: " << r.error << "\n";
      if (is_request) WriteError(out, id, -32603, "cannot reach the EdgeVault api: " + r.error);
      continue;
    }
    if (r.status == 202) continue;  // a notification or response, accepted
    json::value answer = json::parse(r.body, ec);
    if (ec || !answer.is_object()) {
      log << "edgevault mcp: the api answered HTTP " << r.status << " without JSON\n";
      if (is_request) {
        WriteError(out, id, -32603, "the EdgeVault api answered HTTP " + std::to_string(r.status) + " without JSON");
      }
      continue;
    }
    if (is_initialize && r.status == 200) {
      session = r.session_id;
      const json::value* result = answer.get_object().if_contains("result");
      const json::value* version = result != nullptr && result->is_object() ? result->get_object().if_contains("protocolVersion")
                                                                              : nullptr;
      if (version != nullptr && version->is_string()) protocol = std::string(version->get_string());
    }
    if (!is_request) {
      // The api refused a notification (401, a lost session): nothing to answer on stdout.
      log << "edgevault mcp: HTTP " << r.status << ": " << r.body.substr(0, 500) << "\n";
      continue;
    }
    // Transport errors come with id null; the client matches answers by id.
    answer.get_object()["id"] = id;
    out << json::serialize(answer) << "\n";
    out.flush();
  }
  if (!session.empty()) post("DELETE", "", headers());
  return 0;
}

}  // namespace edgevault::cli
