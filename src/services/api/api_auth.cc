#include "src/services/api/api_auth.h"

#include <algorithm>

#include <boost/json.hpp>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/services/common/http_json.h"

namespace edgevault::api {

namespace json = boost::json;
using storage::Role;

bool Principal::HasScope(std::string_view s) const {
  for (const auto& x : scopes) {
    if (x == s) return true;
  }
  return false;
}

std::string Principal::ActorId() const {
  return subject.rfind("key:", 0) == 0 ? subject : "user:" + subject;
}

namespace {

absl::StatusOr<Principal> FromClaims(const crypto::JwtClaims& c) {
  Principal p;
  p.subject = c.sub;
  p.org_id = c.org;
  if (c.roles.empty()) return absl::UnauthenticatedError("the token carries no role");
  absl::StatusOr<Role> role = storage::ParseRole(c.roles.front());
  if (!role.ok()) return absl::UnauthenticatedError("the token carries an unknown role");
  p.role = *role;
  p.scopes = c.scopes;
  if (const boost::json::value* g = c.extra.if_contains("grant"); g != nullptr && g->is_string()) {
    p.grant = std::string(g->get_string()).substr(0, 64);
  }
  if (p.org_id.empty()) return absl::UnauthenticatedError("the token carries no org");
  return p;
}

}  // namespace

absl::StatusOr<Principal> ApiAuth::FromApiKey(std::string_view key) {
  std::string hash = crypto::Sha256Hex(key);
  absl::Time now = options_.env->Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = key_cache_.find(hash);
    if (it != key_cache_.end() && it->second.expires > now) return it->second.principal;
  }
  absl::StatusOr<json::object> answer =
      CallAuth("/internal/v1/api-keys/exchange", json::object{{"api_key", key}});
  if (absl::IsUnauthenticated(answer.status())) {
    return absl::UnauthenticatedError(
        "the API key is not valid: it is unknown, revoked or expired, or its owner is no longer an active member");
  }
  EV_RETURN_IF_ERROR(answer.status());
  const json::value* token = answer->if_contains("token");
  if (token == nullptr || !token->is_string()) {
    return absl::UnavailableError("the auth service answered an unexpected body");
  }
  // The exchanged JWT is verified like any other: auth vouches for the key through it.
  EV_ASSIGN_OR_RETURN(crypto::JwtClaims claims, options_.jwks->Verify(std::string(token->get_string())));
  EV_ASSIGN_OR_RETURN(Principal p, FromClaims(claims));
  std::lock_guard<std::mutex> lock(mu_);
  if (key_cache_.size() > 10000) key_cache_.clear();
  // Cached for at most the TTL and never beyond the token's own expiry.
  key_cache_[hash] = {p, std::min(now + options_.api_key_cache_ttl, claims.exp)};
  return p;
}

ApiAuth::~ApiAuth() { Stop(); }

absl::StatusOr<json::object> ApiAuth::CallAuth(std::string_view target, json::object body) {
  net::ClientRequest req;
  req.method = "POST";
  req.target = std::string(target);
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = json::serialize(body);
  absl::StatusOr<net::ClientResponse> resp =
      options_.auth_client->Do(options_.auth_host, options_.auth_port, req);
  if (!resp.ok()) {
    return absl::UnavailableError(base::ToAbsl("the auth service is unreachable: " +
                                               std::string(resp.status().message())));
  }
  if (resp->status == 401) return absl::UnauthenticatedError("auth answered HTTP 401");
  if (resp->status != 200) {
    return absl::UnavailableError(base::ToAbsl("the auth service answered HTTP " +
                                               std::to_string(resp->status)));
  }
  boost::system::error_code ec;
  json::value v = json::parse(resp->body, ec);
  if (ec || !v.is_object()) return absl::UnavailableError("the auth service answered an unexpected body");
  return std::move(v.get_object());
}

absl::StatusOr<Principal> ApiAuth::Admit(Principal p) {
  const absl::Time now = options_.env->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = tracked_.try_emplace({p.org_id, p.ActorId()});
  Tracked& t = it->second;
  t.last_seen = now;
  if (inserted && tracked_.size() > 100000) {
    // Far beyond any real org's users and keys: refuse to grow without bound.
    tracked_.erase(it);
    return absl::UnavailableError("too many distinct principals at this node; retry shortly");
  }
  if (!p.grant.empty()) {
    // The grant behind an OAuth token is rechecked too: revoked (by the user, or by a reuse
    // of one of its tokens), the token stops here.
    Tracked& g = tracked_[{p.org_id, "grant:" + p.grant}];
    g.last_seen = now;
    if (g.checked && g.gone) {
      return absl::UnauthenticatedError(
          "the OAuth grant behind this token was revoked or has ended; authorize the client again");
    }
  }
  if (!t.checked) return p;  // let in on its token; the next recheck asks auth
  if (t.gone) {
    return absl::UnauthenticatedError(
        "this credential no longer grants access to the org (the API key was revoked or expired, or "
        "the member was removed or disabled); log in again or use a valid API key");
  }
  p.role = std::min(p.role, t.role);
  if (p.subject.rfind("key:", 0) == 0) {
    std::vector<std::string> narrowed;
    for (const std::string& s : p.scopes) {
      if (std::find(t.scopes.begin(), t.scopes.end(), s) != t.scopes.end()) narrowed.push_back(s);
    }
    p.scopes = std::move(narrowed);
  }
  return p;
}

absl::Status ApiAuth::RecheckOnce() {
  const absl::Time now = options_.env->Now();
  std::vector<std::pair<std::string, std::string>> ask;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = tracked_.begin(); it != tracked_.end();) {
      if (it->second.pins == 0 && now - it->second.last_seen > options_.track_for) {
        it = tracked_.erase(it);
      } else {
        ask.push_back(it->first);
        ++it;
      }
    }
  }
  constexpr size_t kBatch = 10000;  // auth's limit per call
  for (size_t from = 0; from < ask.size(); from += kBatch) {
    json::array list;
    for (size_t i = from; i < std::min(ask.size(), from + kBatch); ++i) {
      list.emplace_back(json::object{{"org_id", ask[i].first}, {"actor", ask[i].second}});
    }
    absl::StatusOr<json::object> answer =
        CallAuth("/internal/v1/principals/check", json::object{{"principals", std::move(list)}});
    if (absl::IsUnauthenticated(answer.status())) {
      return absl::UnavailableError("the auth service refused the api's signed call (HTTP 401)");
    }
    EV_RETURN_IF_ERROR(answer.status());
    const json::value* answers = answer->if_contains("principals");
    if (answers == nullptr || !answers->is_array()) {
      return absl::UnavailableError("the auth service answered an unexpected body");
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const json::value& a : answers->get_array()) {
      const json::object* o = a.if_object();
      if (o == nullptr) continue;
      auto string_member = [o](std::string_view name) -> const json::string* {
        const json::value* v = o->if_contains(name);
        return v == nullptr ? nullptr : v->if_string();
      };
      const json::string* org = string_member("org_id");
      const json::string* actor = string_member("actor");
      const json::value* rights = o->if_contains("rights");
      if (org == nullptr || actor == nullptr || rights == nullptr) continue;
      auto it = tracked_.find({std::string(*org), std::string(*actor)});
      if (it == tracked_.end()) continue;
      Tracked& t = it->second;
      absl::StatusOr<storage::Role> role = absl::NotFoundError("");
      const json::object* r = rights->if_object();
      if (r != nullptr && r->if_contains("role") && r->at("role").is_string()) {
        role = storage::ParseRole(r->at("role").get_string());
      }
      t.checked = true;
      t.gone = !role.ok();  // null rights (or a role this node cannot read) let nothing in
      if (t.gone) {
        // Its cached identity goes too, so nothing is served from the cache after this.
        for (auto k = key_cache_.begin(); k != key_cache_.end();) {
          k = k->second.principal.org_id == *org && k->second.principal.ActorId() == *actor
                  ? key_cache_.erase(k)
                  : std::next(k);
        }
        continue;
      }
      t.role = *role;
      t.scopes.clear();
      if (const json::value* sc = r->if_contains("scopes"); sc != nullptr && sc->is_array()) {
        for (const json::value& x : sc->get_array()) {
          if (x.is_string()) t.scopes.emplace_back(x.get_string());
        }
      }
    }
  }
  // Watches of principals found gone fire now, each once, outside the lock.
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto w = watches_.begin(); w != watches_.end();) {
      bool gone = false;
      for (const auto& key : w->second.keys) {
        auto it = tracked_.find(key);
        gone = gone || (it != tracked_.end() && it->second.checked && it->second.gone);
      }
      if (!gone) {
        ++w;
        continue;
      }
      for (const auto& key : w->second.keys) {
        if (auto it = tracked_.find(key); it != tracked_.end() && it->second.pins > 0) --it->second.pins;
      }
      fire.push_back(std::move(w->second.on_revoked));
      w = watches_.erase(w);
    }
  }
  for (auto& f : fire) f();
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> ApiAuth::KeysOf(const Principal& p) {
  std::vector<std::pair<std::string, std::string>> keys{{p.org_id, p.ActorId()}};
  if (!p.grant.empty()) keys.emplace_back(p.org_id, "grant:" + p.grant);
  return keys;
}

uint64_t ApiAuth::WatchRevocation(const Principal& p, std::function<void()> on_revoked) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::string>> keys = KeysOf(p);
  for (const auto& key : keys) {
    Tracked& t = tracked_[key];
    ++t.pins;
    t.last_seen = options_.env->Now();
  }
  uint64_t id = next_watch_++;
  watches_.emplace(id, Watch{std::move(keys), std::move(on_revoked)});
  return id;
}

void ApiAuth::Unwatch(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto w = watches_.find(id);
  if (w == watches_.end()) return;
  for (const auto& key : w->second.keys) {
    auto it = tracked_.find(key);
    if (it == tracked_.end()) continue;
    if (it->second.pins > 0) --it->second.pins;
    it->second.last_seen = options_.env->Now();
  }
  watches_.erase(w);
}

bool ApiAuth::GoneLocked(const Principal& p) const {
  for (const auto& key : KeysOf(p)) {
    auto it = tracked_.find(key);
    if (it != tracked_.end() && it->second.checked && it->second.gone) return true;
  }
  return false;
}

bool ApiAuth::Revoked(const Principal& p) {
  std::lock_guard<std::mutex> lock(mu_);
  return GoneLocked(p);
}

void ApiAuth::Start() {
  std::lock_guard<std::mutex> lock(task_mu_);
  if (recheck_task_ != nullptr) return;
  recheck_task_ = options_.env->Schedule("principal recheck", {.interval = options_.recheck_interval},
                                         [this] { return RecheckInBackground(); });
}

void ApiAuth::Stop() {
  std::unique_ptr<base::PeriodicTask> task;
  {
    std::lock_guard<std::mutex> lock(task_mu_);
    task = std::move(recheck_task_);
  }
  if (task != nullptr) task->Stop();
}

base::NextRun ApiAuth::RecheckInBackground() {
  absl::Status st = RecheckOnce();
  // Logged once per outage; the last answers stay in force meanwhile.
  if (!st.ok() && !recheck_failing_) {
    EV_LOG(kWarn, "rechecking principals with auth failed; retrying", {{"error", st.ToString()}});
  } else if (st.ok() && recheck_failing_) {
    EV_LOG(kInfo, "rechecking principals with auth works again");
  }
  recheck_failing_ = !st.ok();
  return base::NextRun::Interval();
}

absl::StatusOr<Principal> ApiAuth::Authenticate(const net::Request& req) {
  EV_ASSIGN_OR_RETURN(Principal p, Identify(req));
  if (options_.rate_limiter == nullptr || options_.rate_limit.count <= 0) return p;
  // A route an MCP tool runs (kAgentHeader, which only the tool layer sets: the served
  // routes and /mcp drop it from clients' requests) belongs to a /mcp request that was
  // counted already; counting it again made every tools/call cost two.
  if (!req.Header(kAgentHeader).empty()) return p;
  absl::StatusOr<absl::Duration> wait =
      options_.rate_limiter->Take("api:" + p.subject, options_.rate_limit);
  if (!wait.ok() || *wait <= absl::ZeroDuration()) return p;  // a failing limiter admits
  const int64_t seconds = storage::RetryAfterSeconds(*wait);
  return services::WithRetryAfter(
      services::WithErrorCode(
          absl::ResourceExhaustedError(base::ToAbsl(
              "rate limit of " + std::to_string(options_.rate_limit.count) +
              " requests per second for this user or API key exceeded; retry after " +
              std::to_string(seconds) + " s")),
          "rate_limited"),
      seconds);
}

absl::StatusOr<Principal> ApiAuth::Identify(const net::Request& req) {
  std::string_view token = services::BearerToken(req);
  if (token.empty()) token = req.Header("X-API-Key");
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "send a token from POST /v1/token (auth) or an API key as 'Authorization: Bearer <token>'");
  }
  if (token.substr(0, 4) == "evk_") {
    EV_ASSIGN_OR_RETURN(Principal p, FromApiKey(token));
    return Admit(std::move(p));
  }
  if (token.substr(0, 5) == "evsn_") {
    return absl::UnauthenticatedError(
        "a login session is not accepted here; exchange it for a token with POST /v1/token on auth");
  }
  absl::StatusOr<crypto::JwtClaims> claims = options_.jwks->Verify(token);
  if (absl::IsUnauthenticated(claims.status()) && !options_.mcp_resource.empty() &&
      (req.path() == "/mcp" || !req.Header(kAgentHeader).empty())) {
    // An OAuth token is bound to the MCP resource (RFC 8707): good here, nowhere else.
    absl::StatusOr<crypto::JwtClaims> bound = options_.jwks->Verify(token, options_.mcp_resource);
    if (bound.ok()) claims = std::move(bound);
  }
  if (!claims.ok()) return claims.status();
  EV_ASSIGN_OR_RETURN(Principal p, FromClaims(*claims));
  return Admit(std::move(p));
}

absl::Status ApiAuth::Authorize(const Principal& p, Action action,
                                const std::set<std::string>& protected_envs) {
  auto deny = [&](std::string why) {
    return absl::PermissionDeniedError(base::ToAbsl(why));
  };
  std::string role(storage::RoleName(p.role));
  switch (action) {
    case Action::kRead:
      if (!p.HasScope("read")) return deny("this token lacks the 'read' scope");
      return absl::OkStatus();
    case Action::kWrite:
    case Action::kReadSecretValues: {
      const char* scope = action == Action::kWrite ? "write" : "secrets:read";
      const char* what = action == Action::kWrite ? "writing" : "reading secret values";
      if (p.role < Role::kDeveloper) {
        return deny(std::string(what) + " needs the developer role or higher; you are " + role);
      }
      if (!protected_envs.empty() && p.role < Role::kAdmin) {
        return deny(std::string(what) + " in protected environment \"" + *protected_envs.begin() +
                    "\" needs the admin role; you are " + role);
      }
      if (!p.HasScope(scope)) return deny(std::string("this token lacks the '") + scope + "' scope");
      return absl::OkStatus();
    }
    case Action::kAdminister:
      if (p.role < Role::kAdmin) return deny("this needs the admin role or higher; you are " + role);
      if (!p.HasScope("admin")) return deny("this token lacks the 'admin' scope");
      return absl::OkStatus();
  }
  return deny("unknown action");
}

}  // namespace edgevault::api
