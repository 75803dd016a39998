#include "src/workspace/webhooks.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "src/audit/event.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

using base::WithErrorCode;

absl::Status BadUrl(std::string what) {
  return WithErrorCode(absl::InvalidArgumentError(base::ToAbsl("field 'url': " + what)), "invalid_url");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

absl::StatusOr<std::vector<std::string>> EventsFrom(const json::value& v) {
  if (v.is_string() && v.get_string() == "*") return std::vector<std::string>{"*"};
  if (!v.is_array() || v.get_array().empty() || v.get_array().size() > 20) {
    return absl::InvalidArgumentError(
        "field 'events': must be \"*\" or an array of 1 to 20 event types, e.g. [\"revision.written\"]");
  }
  std::set<std::string> out;
  for (const json::value& e : v.get_array()) {
    if (!e.is_string()) return absl::InvalidArgumentError("field 'events': every entry must be a string");
    std::string_view type(e.get_string());
    if (type == "*") return std::vector<std::string>{"*"};
    if (!IsWebhookEventType(type)) {
      std::string known;
      for (std::string_view k : kWebhookEventTypes) known += (known.empty() ? "" : ", ") + std::string(k);
      return WithErrorCode(absl::InvalidArgumentError(base::ToAbsl("field 'events': unknown event type \"" +
                                                           std::string(type.substr(0, 64)) + "\"; use " +
                                                           known + " or \"*\"")),
                   "unknown_event_type");
    }
    out.insert(std::string(type));
  }
  return std::vector<std::string>(out.begin(), out.end());
}

}  // namespace

bool IsWebhookEventType(std::string_view type) {
  return std::find(std::begin(kWebhookEventTypes), std::end(kWebhookEventTypes), type) !=
         std::end(kWebhookEventTypes);
}

absl::StatusOr<std::optional<storage::OutboxRow>> WebhookOutboxRow(storage::WorkspaceStore& store,
                                                                   base::Env* env,
                                                                   const storage::Workspace& ws,
                                                                   std::string_view actor,
                                                                   const WebhookEvent& event,
                                                                   absl::Time time) {
  if (!IsWebhookEventType(event.type)) {
    return absl::InvalidArgumentError(base::ToAbsl("unknown webhook event type \"" + event.type + "\""));
  }
  EV_ASSIGN_OR_RETURN(std::vector<storage::WebhookRow> hooks, store.ListWebhooks());
  if (hooks.empty()) return std::optional<storage::OutboxRow>();
  json::object body;
  body["id"] = "whe_" + env->RandomHex(16);
  body["type"] = event.type;
  body["time"] = audit::FormatEventTime(time);
  body["org"] = ws.org_id;
  body["workspace"] = {{"id", ws.id}, {"key", ws.key}};
  body["actor"] = actor;
  body["data"] = event.data;
  return std::optional<storage::OutboxRow>(
      storage::OutboxRow{0, std::string(kWebhookOutboxKind), json::serialize(body), time, 0});
}

absl::StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  if (url.empty() || url.size() > kMaxWebhookUrlBytes) {
    return BadUrl("must be 1 to " + std::to_string(kMaxWebhookUrlBytes) + " bytes");
  }
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return BadUrl("must be printable ASCII without spaces (percent-encode the rest; punycode for names)");
    }
  }
  WebhookUrl out;
  std::string_view rest;
  if (StartsWithNoCase(url, "https://")) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (StartsWithNoCase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return BadUrl("must start with http:// or https://");
  }
  if (url.find('#') != std::string_view::npos) return BadUrl("must not have a fragment (#...)");
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    return BadUrl("must not contain user information (user:password@); authenticate with the signature");
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 2) return BadUrl("has an unterminated IPv6 literal");
    std::string_view v6 = authority.substr(1, close - 1);
    for (char c : v6) {
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
      if (!ok) return BadUrl("has an invalid IPv6 literal");
    }
    out.host = Lower(v6);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return BadUrl("has characters after the IPv6 literal");
      port_text = after.substr(1);
      if (port_text.empty()) return BadUrl("has an empty port");
    }
  } else {
    size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (host.empty() || host.size() > 253) return BadUrl("needs a host name or address");
    for (char c : host) {
      if (!HostChar(c)) return BadUrl("has an invalid host name (use letters, digits, '.' and '-')");
    }
    out.host = Lower(host);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return BadUrl("has an empty port");
    }
  }
  if (!port_text.empty()) {
    int port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 1 || port > 65535) {
      return BadUrl("has a port outside 1-65535");
    }
    out.port = static_cast<uint16_t>(port);
  }
  out.target = target.empty() ? "/" : (target[0] == '?' ? "/" + std::string(target) : std::string(target));
  return out;
}

bool WebhookHostAllowed(std::string_view host, const std::vector<std::string>& allowed_hosts) {
  if (allowed_hosts.empty()) return true;
  std::string h = Lower(host);
  for (const std::string& a : allowed_hosts) {
    std::string_view want = a;
    if (want.size() >= 2 && want.front() == '[' && want.back() == ']') want = want.substr(1, want.size() - 2);
    if (Lower(want) == h) return true;
  }
  return false;
}

bool WebhookSpec::Subscribes(std::string_view type) const {
  for (const std::string& e : events) {
    if (e == "*" || e == type) return true;
  }
  return false;
}

json::object WebhookSpec::ToJson() const {
  json::array ev;
  for (const std::string& e : events) ev.emplace_back(e);
  json::object o{{"url", url}, {"events", std::move(ev)}, {"description", description}, {"active", active}};
  if (org) o["org"] = true;
  return o;
}

absl::StatusOr<WebhookSpec> WebhookSpecFromRequest(const json::object& body, const WebhookSpec* base,
                                                   const std::vector<std::string>& allowed_hosts) {
  for (const auto& kv : body) {
    std::string_view k = kv.key();
    if (k != "url" && k != "events" && k != "description" && k != "active") {
      return absl::InvalidArgumentError(base::ToAbsl("unknown field '" + std::string(k.substr(0, 64)) +
                                                     "'; use url, events, description, active"));
    }
  }
  WebhookSpec spec = base != nullptr ? *base : WebhookSpec{};
  if (const json::value* url = body.if_contains("url")) {
    if (!url->is_string()) return BadUrl("must be a string");
    std::string text(url->get_string());
    EV_ASSIGN_OR_RETURN(WebhookUrl parsed, ParseWebhookUrl(text));
    if (!WebhookHostAllowed(parsed.host, allowed_hosts)) {
      return WithErrorCode(absl::InvalidArgumentError(base::ToAbsl(
                       "field 'url': host \"" + parsed.host +
                       "\" is not in this api's api.webhook_allowed_hosts; ask the operator to add it")),
                   "host_not_allowed");
    }
    spec.url = std::move(text);
  } else if (base == nullptr) {
    return BadUrl("is required");
  }
  if (const json::value* events = body.if_contains("events")) {
    EV_ASSIGN_OR_RETURN(spec.events, EventsFrom(*events));
  } else if (base == nullptr) {
    return absl::InvalidArgumentError("field 'events': is required (\"*\" for every event type)");
  }
  if (const json::value* d = body.if_contains("description")) {
    if (!d->is_string() || d->get_string().size() > kMaxWebhookDescriptionBytes) {
      return absl::InvalidArgumentError(base::ToAbsl("field 'description': must be a string of at most " +
                                                     std::to_string(kMaxWebhookDescriptionBytes) + " bytes"));
    }
    spec.description = std::string(d->get_string());
  }
  if (const json::value* a = body.if_contains("active")) {
    if (!a->is_bool()) return absl::InvalidArgumentError("field 'active': must be true or false");
    spec.active = a->get_bool();
  }
  return spec;
}

absl::StatusOr<WebhookSpec> WebhookSpecFromStored(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return absl::InternalError("a stored webhook body is not a JSON object");
  const json::object& o = v.get_object();
  const json::value* url = o.if_contains("url");
  const json::value* events = o.if_contains("events");
  const json::value* description = o.if_contains("description");
  const json::value* active = o.if_contains("active");
  if (url == nullptr || !url->is_string() || events == nullptr || !events->is_array() || description == nullptr ||
      !description->is_string() || active == nullptr || !active->is_bool()) {
    return absl::InternalError("a stored webhook body lacks url, events, description or active");
  }
  WebhookSpec spec;
  spec.url = std::string(url->get_string());
  for (const json::value& e : events->get_array()) {
    if (!e.is_string()) return absl::InternalError("a stored webhook event type is not a string");
    spec.events.emplace_back(e.get_string());
  }
  spec.description = std::string(description->get_string());
  spec.active = active->get_bool();
  const json::value* org = o.if_contains("org");
  spec.org = org != nullptr && org->is_bool() && org->get_bool();
  return spec;
}

}  // namespace edgevault::workspace
