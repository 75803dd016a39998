#include "src/net/router.h"

#include <atomic>
#include <exception>
#include <type_traits>

#include "src/net/raw_request.h"

#include "src/base/check.h"
#include "src/base/log.h"
#include "src/base/strings.h"

namespace edgevault::net {

namespace http = boost::beast::http;

// router.h spells RawRequest out from forward declarations; it must stay Beast's own type.
static_assert(std::is_same_v<RawRequest, http::request<http::string_body>>);

Request::Request(RawRequest& raw, std::string_view request_id, std::string_view remote)
    : raw_(raw),
      method_(raw.method()),
      target_(raw.target()),
      body_(&raw.body()),
      request_id_(request_id),
      remote_(remote) {
  size_t q = target_.find('?');
  if (q == std::string_view::npos) {
    path_ = target_;
  } else {
    path_ = target_.substr(0, q);
    query_ = target_.substr(q + 1);
  }
}

std::string_view Request::method_string() const { return raw_.method_string(); }

std::string_view Request::Header(std::string_view name) const {
  auto it = raw_.find(name);
  if (it == raw_.end()) return {};
  return it->value();
}

std::string_view Request::Param(std::string_view name) const {
  for (const auto& [k, v] : params_) {
    if (k == name) return v;
  }
  return {};
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  for (std::string_view part : base::Split(query_, '&')) {
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    if (PercentDecode(key, true) != name) continue;
    if (eq == std::string_view::npos) return std::string();
    return PercentDecode(part.substr(eq + 1), true);
  }
  return std::nullopt;
}

namespace {
std::atomic<uint64_t> g_escaped_exceptions{0};
}  // namespace

void RecordEscapedException(std::string_view where) noexcept {
  g_escaped_exceptions.fetch_add(1, std::memory_order_relaxed);
  std::string what;
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of a type not derived from std::exception";
  }
  EV_LOG(kError, "bug: an exception escaped; answered 500 and counted in "
                 "edgevault_handler_exceptions_total",
         {{"where", where}, {"exception", what}});
}

uint64_t EscapedExceptionCount() noexcept {
  return g_escaped_exceptions.load(std::memory_order_relaxed);
}

Response InternalErrorResponse(std::string_view request_id) {
  return Response::Error(
      500, "internal",
      base::StrCat("internal error: the request failed on a bug of the service (logged with "
                   "request id ", request_id, "); retry, and report it if it persists"));
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Error(int status, std::string_view code, std::string_view message) {
  std::string body = "{\"error\":{\"code\":";
  base::AppendJsonString(&body, code);
  body += ",\"message\":";
  base::AppendJsonString(&body, message);
  body += "}}";
  return Json(status, std::move(body));
}

Response& Response::WithHeader(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

namespace {

bool IsParam(std::string_view seg) { return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}'; }
bool IsRest(std::string_view seg) { return IsParam(seg) && seg.size() > 5 && seg.substr(seg.size() - 4) == "...}"; }
std::string_view ParamName(std::string_view seg) {
  seg = seg.substr(1, seg.size() - 2);
  if (seg.size() > 3 && seg.substr(seg.size() - 3) == "...") seg.remove_suffix(3);
  return seg;
}

// Matches `path` against the route's segments; fills params on success.
bool MatchPattern(const Router::Route& route, std::string_view path,
                  std::vector<std::pair<std::string_view, std::string>>* params) {
  params->clear();
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  for (size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& seg = route.segments[i];
    if (IsRest(seg)) {
      if (rest.empty()) return false;
      params->emplace_back(ParamName(seg), PercentDecode(rest, false));
      return true;
    }
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (IsParam(seg)) {
      if (part.empty()) return false;
      params->emplace_back(ParamName(seg), PercentDecode(part, false));
    } else if (part != seg) {
      return false;
    }
    if (i + 1 == route.segments.size()) return slash == std::string_view::npos;
    if (slash == std::string_view::npos) return false;
    rest = rest.substr(slash + 1);
  }
  return route.segments.empty() && rest.empty();
}

bool MethodMatches(http::verb route_method, http::verb request_method) {
  return route_method == request_method ||
         (request_method == http::verb::head && route_method == http::verb::get);
}

}  // namespace

Router& Router::Add(http::verb method, std::string_view pattern, Handler handler,
                    RouteOptions options) {
  Route r;
  r.method = method;
  r.pattern = std::string(pattern);
  r.handler = std::move(handler);
  r.options = options;
  return AddRoute(std::move(r));
}

Router& Router::AddAsync(http::verb method, std::string_view pattern, AsyncHandler handler,
                         RouteOptions options) {
  Route r;
  r.method = method;
  r.pattern = std::string(pattern);
  r.async_handler = std::move(handler);
  r.options = options;
  return AddRoute(std::move(r));
}

Router& Router::AddRoute(Route route) {
  EV_CHECK(!route.pattern.empty() && route.pattern.front() == '/');
  std::string_view body = std::string_view(route.pattern).substr(1);
  if (!body.empty()) {
    for (std::string_view seg : base::Split(body, '/')) route.segments.emplace_back(seg);
  }
  for (size_t i = 0; i < route.segments.size(); ++i) {
    if (IsParam(route.segments[i])) route.has_params = true;
    // A rest parameter must be the last segment.
    EV_CHECK(!IsRest(route.segments[i]) || i + 1 == route.segments.size());
  }
  route.index = static_cast<uint32_t>(routes_.size() + 1);
  routes_.push_back(std::make_unique<Route>(std::move(route)));
  const Route* r = routes_.back().get();
  if (r->has_params) {
    patterned_.push_back(r);
  } else {
    exact_[r->pattern].push_back(r);
  }
  return *this;
}

Router::MatchResult Router::Match(Request& req, const Route** route, std::string* allow) const {
  *route = nullptr;
  std::vector<const Route*> path_matches;
  auto it = exact_.find(std::string(req.path()));
  if (it != exact_.end()) {
    for (const Route* r : it->second) {
      if (MethodMatches(r->method, req.method())) {
        *route = r;
        req.route_ = r->pattern;
        req.params_.clear();
        return MatchResult::kFound;
      }
      path_matches.push_back(r);
    }
  }
  std::vector<std::pair<std::string_view, std::string>> params;
  for (const Route* r : patterned_) {
    if (!MatchPattern(*r, req.path(), &params)) continue;
    if (MethodMatches(r->method, req.method())) {
      *route = r;
      req.route_ = r->pattern;
      req.params_ = std::move(params);
      return MatchResult::kFound;
    }
    path_matches.push_back(r);
  }
  if (path_matches.empty()) return MatchResult::kNotFound;
  if (allow != nullptr) {
    allow->clear();
    for (const Route* r : path_matches) {
      std::string_view m = http::to_string(r->method);
      if (allow->find(m) != std::string::npos) continue;
      if (!allow->empty()) allow->append(", ");
      allow->append(m);
    }
  }
  return MatchResult::kMethodNotAllowed;
}

std::string_view Router::pattern(uint32_t index) const {
  if (index == 0 || index > routes_.size()) return "unmatched";
  return routes_[index - 1]->pattern;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

}  // namespace edgevault::net
