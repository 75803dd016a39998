// API keys, users and members, and the signed internal endpoints other services call.
#include <algorithm>
#include <limits>

#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"

#include "src/services/auth/auth_impl.h"
#include "src/services/common/browser_origin.h"

namespace edgevault::auth {

namespace http = boost::beast::http;
namespace json = boost::json;
using storage::Role;

namespace {

// The most a role's key may do: viewers read, developers also write, admins and owners
// may also read secret values and administer.
bool ScopeAllowedForRole(std::string_view scope, Role role) {
  if (scope == "read") return true;
  if (scope == "write") return role >= Role::kDeveloper;
  if (scope == "secrets:read") return role >= Role::kDeveloper;
  if (scope == "admin") return role >= Role::kAdmin;
  return false;
}

json::object ApiKeyJson(const storage::ApiKey& k) {
  json::object o;
  o["id"] = k.id;
  o["name"] = k.name;
  o["prefix"] = k.prefix;
  o["role"] = storage::RoleName(k.role);
  o["scopes"] = ScopesJson(k.scopes);
  o["created_by"] = k.created_by;
  o["created_at"] = services::FormatTime(k.created_at);
  auto opt = [](const std::optional<absl::Time>& t) {
    return t ? json::value(services::FormatTime(*t)) : json::value(nullptr);
  };
  o["expires_at"] = opt(k.expires_at);
  o["last_used_at"] = opt(k.last_used_at);
  o["revoked_at"] = opt(k.revoked_at);
  return o;
}

// An SDK key for the api (internal endpoints): metadata and the hash that names its edge KV
// binding; never the key.
json::object SdkKeyJson(const storage::SdkKey& k) {
  auto opt = [](const std::optional<absl::Time>& t) {
    return t ? json::value(services::FormatTime(*t)) : json::value(nullptr);
  };
  return json::object{{"id", k.id},
                      {"name", k.name},
                      {"prefix", k.prefix},
                      {"workspace_id", k.workspace_id},
                      {"environment", k.environment},
                      {"kind", storage::SdkKeyKindName(k.kind)},
                      {"origins", json::array(k.origins.begin(), k.origins.end())},
                      {"created_by", k.created_by},
                      {"created_at", services::FormatTime(k.created_at)},
                      {"last_used_at", opt(k.last_used_at)},
                      {"revoked_at", opt(k.revoked_at)},
                      {"key_hash", k.key_hash}};
}

// A workspace row for the api (internal endpoints); created_at in microseconds so the
// api's copy is the stored value exactly.
json::object WorkspaceJson(const storage::Workspace& w) {
  json::object o{{"id", w.id},
                      {"org_id", w.org_id},
                      {"key", w.key},
                      {"name", w.name},
                      {"created_at_us", absl::ToUnixMicros(w.created_at)}};
  if (w.deleted_at && w.purge_after) {
    o["deleted_at_us"] = absl::ToUnixMicros(*w.deleted_at);
    o["purge_after_us"] = absl::ToUnixMicros(*w.purge_after);
  }
  return o;
}

json::object RightsJson(const AuthService::Impl::Rights& r) {
  return json::object{{"role", storage::RoleName(r.role)}, {"scopes", ScopesJson(r.scopes)}};
}

}  // namespace

absl::Status CheckCanAssign(const Principal& p, Role role) {
  if (p.role == Role::kOwner) return absl::OkStatus();
  if (p.role == Role::kAdmin && role <= Role::kDeveloper) return absl::OkStatus();
  return absl::PermissionDeniedError(base::ToAbsl(
      std::string(p.role == Role::kAdmin ? "an " : "a ") + std::string(storage::RoleName(p.role)) + " cannot grant the " +
      std::string(storage::RoleName(role)) + " role"));
}

void AuthService::Impl::InstallAdmin(net::Router& r) {
  // ---- API keys ----
  Route(http::verb::post, "/v1/api-keys", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    if (p.kind == Principal::Kind::kApiKey && !p.HasScope("admin")) {
      return absl::PermissionDeniedError("creating API keys with an API key needs the 'admin' scope");
    }
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"name", "scopes", "expires_in", "role"}));
    EV_ASSIGN_OR_RETURN(std::string name, services::RequiredString(body, "name", 100));
    EV_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> scopes,
                        services::OptionalStringArray(body, "scopes", 8, 32));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> expires_in,
                        services::OptionalInt(body, "expires_in", 60, int64_t{10} * 365 * 86400));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> role_name, services::OptionalString(body, "role", 32));
    Role role = p.role;
    if (role_name) {
      absl::StatusOr<Role> parsed = storage::ParseRole(*role_name);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError("field 'role': must be one of viewer, developer, admin, owner");
      }
      if (*parsed > p.role) {
        return absl::PermissionDeniedError("a key cannot have a higher role than its creator");
      }
      role = *parsed;
    }
    std::vector<std::string> granted = scopes.value_or(std::vector<std::string>{"read"});
    for (const auto& s : granted) {
      bool known = false;
      for (std::string_view k : kScopes) known = known || k == s;
      if (!known) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "field 'scopes': unknown scope \"" + s + "\" (known: read, write, secrets:read, admin)"));
      }
      if (!ScopeAllowedForRole(s, role)) {
        return absl::PermissionDeniedError(base::ToAbsl(
            "scope \"" + s + "\" is not allowed for the " + std::string(storage::RoleName(role)) + " role"));
      }
      if (p.kind == Principal::Kind::kApiKey && !p.HasScope(s)) {
        return absl::PermissionDeniedError(base::ToAbsl("this API key cannot grant scope \"" + s + "\" it lacks"));
      }
    }
    absl::Time now = Now();
    std::string key = NewSecretToken(kApiKeyPrefix);
    storage::ApiKey k;
    k.id = NewId("key_");
    k.key_hash = crypto::Sha256Hex(key);
    k.prefix = key.substr(0, kApiKeyPrefix.size() + 4);
    k.org_id = p.org_id;
    k.created_by = p.user_id;
    k.name = name;
    k.scopes = granted;
    k.role = role;
    k.created_at = now;
    if (expires_in) k.expires_at = now + absl::Seconds(*expires_in);
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.CreateApiKey(k));
      return Audit(tx, "auth.api_key.create", "success", p.ActorId(), p.org_id, req,
                   {{"api_key", k.id}, {"name", k.name}, {"role", storage::RoleName(k.role)},
                    {"scopes", ScopesJson(k.scopes)}});
    }));
    json::object o = ApiKeyJson(k);
    o["key"] = key;  // shown once
    return services::JsonResponse(201, o);
  });

  Route(http::verb::get, "/v1/api-keys", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    EV_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys, store_.ListApiKeys(p.org_id));
    bool all = p.role >= Role::kAdmin && (p.kind == Principal::Kind::kSession || p.HasScope("admin"));
    json::array a;
    for (const auto& k : keys) {
      if (all || k.created_by == p.user_id) a.push_back(ApiKeyJson(k));
    }
    return services::JsonResponse(200, json::object{{"api_keys", std::move(a)}});
  });

  Route(http::verb::delete_, "/v1/api-keys/{id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    std::string id(req.Param("id"));
    EV_ASSIGN_OR_RETURN(storage::ApiKey k, store_.GetApiKey(p.org_id, id));
    if (k.created_by != p.user_id) {
      bool admin = p.role >= Role::kAdmin && (p.kind == Principal::Kind::kSession || p.HasScope("admin"));
      if (!admin) return absl::PermissionDeniedError("only the key's creator or an admin can revoke it");
      // Nobody acts above their role: an admin manages the keys of developers and
      // viewers; a key of an admin or owner (or acting as one) is an owner's to revoke.
      if (p.role != Role::kOwner) {
        Role reach = k.role;
        absl::StatusOr<storage::Membership> creator = store_.GetMembership(p.org_id, k.created_by);
        // A creator who left the org holds no role here; any other failed read refuses
        // (fail closed: an unreadable role is not a low one).
        if (!creator.ok() && !absl::IsNotFound(creator.status())) return creator.status();
        if (creator.ok()) reach = std::max(reach, creator->role);
        if (reach >= Role::kAdmin) {
          return absl::PermissionDeniedError("only an owner can revoke a key of an admin or owner");
        }
      }
    }
    absl::Status st = store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.RevokeApiKey(p.org_id, id, Now()));
      return Audit(tx, "auth.api_key.revoke", "success", p.ActorId(), p.org_id, req, {{"api_key", id}});
    });
    if (absl::IsFailedPrecondition(st)) {
      return services::WithErrorCode(absl::FailedPreconditionError("the key is already revoked"), "already_revoked");
    }
    EV_RETURN_IF_ERROR(st);
    return services::JsonResponse(200, json::object{{"revoked", true}, {"id", id}});
  });

  // ---- users and members ----
  // Adding an email to the org is always an invitation, and the answer is the same
  // whether or not the address already has an account (no enumeration): an unknown
  // address gets an account (with the given or a one-time password) whose first login
  // accepts the invitation; an existing account keeps its password and its owner accepts
  // or declines with their own session (GET /v1/invitations). Either way the person is a
  // member only after that.
  Route(http::verb::post, "/v1/users", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, Role::kAdmin, true));
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"email", "role", "password", "display_name"}));
    EV_ASSIGN_OR_RETURN(std::string raw_email, services::RequiredString(body, "email", 320));
    EV_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(raw_email));
    EV_ASSIGN_OR_RETURN(std::string role_name, services::RequiredString(body, "role", 32));
    absl::StatusOr<Role> role = storage::ParseRole(role_name);
    if (!role.ok()) {
      return absl::InvalidArgumentError("field 'role': must be one of viewer, developer, admin, owner");
    }
    EV_RETURN_IF_ERROR(CheckCanAssign(p, *role));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> password, services::OptionalString(body, "password", 4096));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> display, services::OptionalString(body, "display_name", 200));
    std::string one_time;
    if (password) {
      EV_RETURN_IF_ERROR(crypto::CheckPasswordPolicy(*password, email));
    } else {
      one_time = NewOneTimePassword();
    }
    // Hashed whether or not an account is made, so both answers take the same time.
    EV_ASSIGN_OR_RETURN(std::string hash,
                        crypto::HashPassword(password ? *password : one_time, options_.password));
    absl::Time now = Now();
    storage::Invitation inv;
    inv.id = NewId(kInvitationPrefix);
    inv.org_id = p.org_id;
    inv.email = email;
    inv.role = *role;
    inv.invited_by = p.ActorId();
    inv.created_at = now;
    inv.expires_at = now + options_.invitation_ttl;
    absl::Status st = store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      absl::StatusOr<storage::User> existing = tx.GetUserByEmail(email);
      if (existing.ok()) {
        if (tx.GetMembership(p.org_id, existing->id).ok()) {
          return absl::AlreadyExistsError("this email is already a member of the org");
        }
      } else if (absl::IsNotFound(existing.status())) {
        storage::User user;
        user.id = NewId("usr_");
        user.email = email;
        user.display_name = display.value_or("");
        user.password_hash = hash;
        user.must_change_password = !password.has_value();
        user.created_at = now;
        EV_RETURN_IF_ERROR(tx.CreateUser(user));
        inv.creates_account = true;
      } else {
        return existing.status();
      }
      absl::Status created = tx.CreateInvitation(inv);
      if (absl::IsAlreadyExists(created)) {
        return absl::AlreadyExistsError(
            "this email already has a pending invitation to the org (GET /v1/org/invitations)");
      }
      EV_RETURN_IF_ERROR(created);
      return Audit(tx, "auth.member.invite", "success", p.ActorId(), p.org_id, req,
                   {{"invitation", inv.id}, {"role", storage::RoleName(*role)},
                    {"account_created", inv.creates_account}});
    });
    EV_RETURN_IF_ERROR(st);
    json::object o{{"id", inv.id},
                   {"email", email},
                   {"role", storage::RoleName(*role)},
                   {"status", "pending"},
                   {"expires_at", services::FormatTime(inv.expires_at)}};
    // Present whenever no password was given. It opens an account only if the address
    // had none; a person who already has an account logs in with their own password.
    if (!password) o["one_time_password"] = one_time;
    return services::JsonResponse(201, o);
  });

  Route(http::verb::get, "/v1/members", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Membership> ms, store_.ListMembers(p.org_id));
    json::array a;
    for (const auto& m : ms) {
      EV_ASSIGN_OR_RETURN(storage::User u, store_.GetUser(m.user_id));
      a.push_back(json::object{{"user_id", u.id}, {"email", u.email}, {"role", storage::RoleName(m.role)},
                               {"display_name", u.display_name}, {"disabled", u.disabled},
                               {"since", services::FormatTime(m.created_at)}});
    }
    return services::JsonResponse(200, json::object{{"members", std::move(a)}});
  });

  // Changing a role is a privilege change: the member's sessions end.
  Route(http::verb::patch, "/v1/members/{user_id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, Role::kAdmin, true));
    std::string user_id(req.Param("user_id"));
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"role"}));
    EV_ASSIGN_OR_RETURN(std::string role_name, services::RequiredString(body, "role", 32));
    absl::StatusOr<Role> role = storage::ParseRole(role_name);
    if (!role.ok()) {
      return absl::InvalidArgumentError("field 'role': must be one of viewer, developer, admin, owner");
    }
    if (user_id == p.user_id) {
      return absl::PermissionDeniedError("you cannot change your own role; ask another owner or admin");
    }
    EV_ASSIGN_OR_RETURN(storage::Membership m, store_.GetMembership(p.org_id, user_id));
    EV_RETURN_IF_ERROR(CheckCanAssign(p, *role));
    if (m.role >= Role::kAdmin && p.role != Role::kOwner) {
      return absl::PermissionDeniedError("only an owner can change an admin's or owner's role");
    }
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      if (m.role == Role::kOwner && *role != Role::kOwner) {
        EV_ASSIGN_OR_RETURN(int64_t owners, tx.CountMembersWithRole(p.org_id, Role::kOwner));
        if (owners <= 1) return absl::FailedPreconditionError("the org must keep at least one owner");
      }
      EV_RETURN_IF_ERROR(tx.UpdateRole(p.org_id, user_id, *role));
      // Only the sessions opened for this org: the member's standing elsewhere is not
      // this org's to change.
      EV_RETURN_IF_ERROR(tx.DeleteSessionsOfUserInOrg(user_id, p.org_id, "").status());
      return Audit(tx, "auth.member.role_change", "success", p.ActorId(), p.org_id, req,
                   {{"user_id", user_id}, {"from", storage::RoleName(m.role)}, {"to", storage::RoleName(*role)}});
    }));
    return services::JsonResponse(200, json::object{{"user_id", user_id}, {"role", storage::RoleName(*role)}});
  });

  Route(http::verb::delete_, "/v1/members/{user_id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, Role::kAdmin, true));
    std::string user_id(req.Param("user_id"));
    EV_ASSIGN_OR_RETURN(storage::Membership m, store_.GetMembership(p.org_id, user_id));
    if (m.role >= Role::kAdmin && p.role != Role::kOwner) {
      return absl::PermissionDeniedError("only an owner can remove an admin or owner");
    }
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      if (m.role == Role::kOwner) {
        EV_ASSIGN_OR_RETURN(int64_t owners, tx.CountMembersWithRole(p.org_id, Role::kOwner));
        if (owners <= 1) return absl::FailedPreconditionError("the org must keep at least one owner");
      }
      EV_RETURN_IF_ERROR(tx.RemoveMembership(p.org_id, user_id));
      EV_RETURN_IF_ERROR(tx.DeleteSessionsOfUserInOrg(user_id, p.org_id, "").status());
      return Audit(tx, "auth.member.remove", "success", p.ActorId(), p.org_id, req, {{"user_id", user_id}});
    }));
    return services::JsonResponse(200, json::object{{"removed", true}, {"user_id", user_id}});
  });

  // ---- internal (signed service bindings) ----
  // Only the api may call these: minting and revoking SDK keys and exchanging API keys
  // are writes and credential grants, never something an edge node needs.
  net::RouteOptions internal;
  internal.internal_callers = {"api"};

  // The api exchanges an API key for a JWT (and caches it briefly).
  Route(http::verb::post, "/internal/v1/api-keys/exchange", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_ASSIGN_OR_RETURN(std::string key, services::RequiredString(body, "api_key", 256));
    if (key.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) {
      return absl::UnauthenticatedError("the API key is not valid");
    }
    EV_ASSIGN_OR_RETURN(Principal p, PrincipalForApiKey(key));
    absl::Time exp;
    EV_ASSIGN_OR_RETURN(std::string jwt, MintJwt(p, &exp));
    return services::JsonResponse(200, json::object{{"token", jwt}, {"expires_at", services::FormatTime(exp)},
                                                    {"org_id", p.org_id}, {"role", storage::RoleName(p.role)},
                                                    {"scopes", ScopesJson(p.scopes)}, {"api_key_id", p.api_key_id}});
  }, internal);

  // The api mints SDK keys (read-only, one environment; server or client kind); auth
  // stores their hashes.
  Route(http::verb::post, "/internal/v1/sdk-keys", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    storage::SdkKey k;
    EV_ASSIGN_OR_RETURN(k.org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(k.workspace_id, services::RequiredString(body, "workspace_id", 64));
    EV_ASSIGN_OR_RETURN(k.environment, services::RequiredString(body, "environment", 64));
    EV_ASSIGN_OR_RETURN(k.name, services::RequiredString(body, "name", 100));
    EV_ASSIGN_OR_RETURN(k.created_by, services::RequiredString(body, "created_by", 128));
    // kind and origins: the api validated them (its callers' errors are named there);
    // checked again here because the stored row is what republishing trusts.
    EV_ASSIGN_OR_RETURN(std::optional<std::string> kind, services::OptionalString(body, "kind", 16));
    if (kind && *kind != "server" && *kind != "client") {
      return absl::InvalidArgumentError("field 'kind': must be \"server\" or \"client\"");
    }
    if (kind == "client") k.kind = storage::SdkKeyKind::kClient;
    EV_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> origins,
                        services::OptionalStringArray(body, "origins", services::kMaxBrowserOrigins, 300));
    if (origins) {
      EV_ASSIGN_OR_RETURN(k.origins, services::NormalizeBrowserOrigins(*origins));
    }
    std::string_view prefix = k.kind == storage::SdkKeyKind::kClient ? kClientSdkKeyPrefix : kSdkKeyPrefix;
    std::string key = NewSecretToken(prefix);
    k.id = NewId("sdk_");
    k.key_hash = crypto::Sha256Hex(key);
    k.prefix = key.substr(0, prefix.size() + 4);
    k.created_at = Now();
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.CreateSdkKey(k));
      return Audit(tx, "auth.sdk_key.create", "success", k.created_by, k.org_id, req,
                   {{"sdk_key", k.id}, {"workspace_id", k.workspace_id}, {"environment", k.environment},
                    {"kind", storage::SdkKeyKindName(k.kind)}});
    }));
    return services::JsonResponse(201, json::object{{"id", k.id}, {"key", key}, {"key_hash", k.key_hash},
                                                    {"prefix", k.prefix}});
  }, internal);

  // The api lists a workspace's SDK keys (GET /v1/workspaces/{ws}/sdk-keys).
  Route(http::verb::post, "/internal/v1/sdk-keys/list", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id", "workspace_id"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string workspace_id, services::RequiredString(body, "workspace_id", 64));
    EV_ASSIGN_OR_RETURN(std::vector<storage::SdkKey> keys, store_.ListSdkKeys(org_id, workspace_id));
    json::array a;
    for (const auto& k : keys) a.push_back(SdkKeyJson(k));
    return services::JsonResponse(200, json::object{{"sdk_keys", std::move(a)}});
  }, internal);

  // The api revokes an SDK key of one environment (404 for a key of another), then
  // deletes its edge KV binding with the hash answered here. Revoking a revoked key answers 200 with already_revoked, so the api can retry a
  // KV deletion that failed the first time.
  Route(http::verb::post, "/internal/v1/sdk-keys/revoke", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(
        body, {"org_id", "workspace_id", "environment", "id", "revoked_by"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string workspace_id, services::RequiredString(body, "workspace_id", 64));
    EV_ASSIGN_OR_RETURN(std::string environment, services::RequiredString(body, "environment", 64));
    EV_ASSIGN_OR_RETURN(std::string id, services::RequiredString(body, "id", 64));
    EV_ASSIGN_OR_RETURN(std::string revoked_by, services::RequiredString(body, "revoked_by", 128));
    EV_ASSIGN_OR_RETURN(std::vector<storage::SdkKey> keys, store_.ListSdkKeys(org_id, workspace_id));
    auto it = std::find_if(keys.begin(), keys.end(), [&](const storage::SdkKey& k) {
      return k.id == id && k.environment == environment;
    });
    if (it == keys.end()) {
      return absl::NotFoundError("no SDK key " + id + " for environment \"" + environment + "\"");
    }
    bool already = it->revoked_at.has_value();
    if (!already) {
      EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
        EV_RETURN_IF_ERROR(tx.RevokeSdkKey(org_id, id, Now()));
        return Audit(tx, "auth.sdk_key.revoke", "success", revoked_by, org_id, req,
                     {{"sdk_key", id}, {"workspace_id", workspace_id}, {"environment", it->environment}});
      }));
    }
    json::object o = SdkKeyJson(*it);
    o["already_revoked"] = already;
    return services::JsonResponse(200, o);
  }, internal);

  // ---- the api's workspace directory (storage::WorkspaceDirectory over HTTP; the api's
  // RemoteWorkspaceDirectory is the client). Errors keep their codes on the wire: 400
  // invalid_argument, 404 not_found, 409 conflict (key taken), 429 entitlement_exceeded
  // (the org is at max_workspaces).

  // internal callers: api (RouteOptions `internal` above)
  // Records a workspace unless the org is at its limit: the count and the insert are one
  // transaction here, so parallel creates through any number of api processes never
  // exceed it.
  Route(http::verb::post, "/internal/v1/workspaces/create", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"id", "org_id", "key", "name", "created_at_us"}));
    storage::Workspace ws;
    EV_ASSIGN_OR_RETURN(ws.id, services::RequiredString(body, "id", 64));
    EV_ASSIGN_OR_RETURN(ws.org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(ws.key, services::RequiredString(body, "key", 128));
    EV_ASSIGN_OR_RETURN(ws.name, services::RequiredString(body, "name", 200));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> at,
                        services::OptionalInt(body, "created_at_us", 0, std::numeric_limits<int64_t>::max()));
    ws.created_at = at ? absl::FromUnixMicros(*at) : Now();
    absl::Status st = store_.CreateWorkspaceWithinLimit(ws);
    if (absl::IsResourceExhausted(st)) return services::WithErrorCode(st, "entitlement_exceeded");
    EV_RETURN_IF_ERROR(st);
    return services::JsonResponse(201, WorkspaceJson(ws));
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // One workspace, by {"id"} or by {"org_id", "key"}.
  Route(http::verb::post, "/internal/v1/workspaces/get", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"id", "org_id", "key"}));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> id, services::OptionalString(body, "id", 64));
    storage::Workspace ws;
    if (id.has_value()) {
      EV_ASSIGN_OR_RETURN(ws, store_.GetWorkspaceById(*id));
    } else {
      EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
      EV_ASSIGN_OR_RETURN(std::string key, services::RequiredString(body, "key", 128));
      EV_ASSIGN_OR_RETURN(ws, store_.GetWorkspaceByKey(org_id, key));
    }
    return services::JsonResponse(200, WorkspaceJson(ws));
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // Sets a workspace's display name; answers the row. 404 when the org has no such workspace.
  Route(http::verb::post, "/internal/v1/workspaces/rename", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id", "id", "name"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string id, services::RequiredString(body, "id", 64));
    EV_ASSIGN_OR_RETURN(std::string name, services::RequiredString(body, "name", 200));
    EV_RETURN_IF_ERROR(store_.RenameWorkspace(org_id, id, name));
    EV_ASSIGN_OR_RETURN(storage::Workspace ws, store_.GetWorkspaceById(id));
    return services::JsonResponse(200, WorkspaceJson(ws));
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // Marks a workspace deleted (docs/design/control-db.md "Deleted workspaces"); answers the
  // row. 404 when the org has no such workspace, 409 failed_precondition when it is deleted.
  Route(http::verb::post, "/internal/v1/workspaces/delete", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id", "id", "deleted_at_us", "purge_after_us"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string id, services::RequiredString(body, "id", 64));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> at,
                        services::OptionalInt(body, "deleted_at_us", 0, std::numeric_limits<int64_t>::max()));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> purge,
                        services::OptionalInt(body, "purge_after_us", 0, std::numeric_limits<int64_t>::max()));
    if (!at || !purge || *purge < *at) {
      return absl::InvalidArgumentError("deleted_at_us and purge_after_us are required, purge_after_us >= deleted_at_us");
    }
    EV_ASSIGN_OR_RETURN(storage::Workspace ws, store_.MarkWorkspaceDeleted(org_id, id, absl::FromUnixMicros(*at),
                                                                           absl::FromUnixMicros(*purge)));
    return services::JsonResponse(200, WorkspaceJson(ws));
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // Clears a workspace's deletion; answers the row. 404; 409 when it is not deleted.
  Route(http::verb::post, "/internal/v1/workspaces/restore", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id", "id"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string id, services::RequiredString(body, "id", 64));
    EV_ASSIGN_OR_RETURN(storage::Workspace ws, store_.RestoreWorkspace(org_id, id));
    return services::JsonResponse(200, WorkspaceJson(ws));
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // Deleted workspaces of every org due for purge at now_us, earliest first (limit 1..1000).
  Route(http::verb::post, "/internal/v1/workspaces/due-for-purge", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"now_us", "limit"}));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> now,
                        services::OptionalInt(body, "now_us", 0, std::numeric_limits<int64_t>::max()));
    EV_ASSIGN_OR_RETURN(std::optional<int64_t> limit, services::OptionalInt(body, "limit", 1, 1000));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> due,
                        store_.ListWorkspacesDueForPurge(now ? absl::FromUnixMicros(*now) : Now(),
                                                         static_cast<int>(limit.value_or(100))));
    json::array a;
    for (const storage::Workspace& w : due) a.push_back(WorkspaceJson(w));
    return services::JsonResponse(200, json::object{{"workspaces", std::move(a)}});
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // Removes a deleted workspace's row and SDK keys, once the api destroyed its data.
  // 404; 409 when it is not deleted (restored meanwhile).
  Route(http::verb::post, "/internal/v1/workspaces/purge", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id", "id"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string id, services::RequiredString(body, "id", 64));
    EV_RETURN_IF_ERROR(store_.PurgeWorkspace(org_id, id));
    return services::JsonResponse(200, json::object{{"purged", true}});
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // The org's workspaces, oldest first.
  Route(http::verb::post, "/internal/v1/workspaces/list", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> all, store_.ListWorkspaces(org_id));
    json::array a;
    for (const storage::Workspace& w : all) a.push_back(WorkspaceJson(w));
    return services::JsonResponse(200, json::object{{"workspaces", std::move(a)}});
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // The org's entitlements (404 for an unknown org).
  Route(http::verb::post, "/internal/v1/orgs/entitlements", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(storage::Entitlements e, store_.GetEntitlements(org_id));
    return services::JsonResponse(200, json::object{{"max_workspaces", e.max_workspaces},
                                                    {"max_environments", e.max_environments},
                                                    {"max_items", e.max_items}});
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // The rights an actor holds in an org NOW, for work the api does later on someone's
  // behalf (a scheduled apply, docs/design/promotions.md §5a): {"actor": "user:usr_…"} →
  // the member's role (404 when no longer a member, or disabled); {"actor": "key:key_…"} →
  // the key's role and scopes (404 when revoked or expired).
  Route(http::verb::post, "/internal/v1/principals/rights", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"org_id", "actor"}));
    EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(body, "org_id", 64));
    EV_ASSIGN_OR_RETURN(std::string actor, services::RequiredString(body, "actor", 128));
    EV_ASSIGN_OR_RETURN(std::optional<Rights> rights, CurrentRights(org_id, actor));
    if (!rights) return absl::NotFoundError(base::ToAbsl(actor + " holds no rights in this org"));
    return services::JsonResponse(200, RightsJson(*rights));
  }, internal);

  // internal callers: api (RouteOptions `internal` above)
  // The api's recheck of every principal it has recently let in (docs/design/principal-recheck.md):
  // {"principals": [{"org_id", "actor"}, ...]} (at most 10000) → the same list, each with
  // "rights": {"role", "scopes"} or null when it holds none any more.
  Route(http::verb::post, "/internal/v1/principals/check", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"principals"}));
    const json::value* list = body.if_contains("principals");
    if (list == nullptr || !list->is_array()) {
      return absl::InvalidArgumentError("principals: must be an array of {\"org_id\", \"actor\"}");
    }
    if (list->get_array().size() > 10000) return absl::InvalidArgumentError("principals: at most 10000 per call");
    json::array out;
    for (const json::value& v : list->get_array()) {
      if (!v.is_object()) return absl::InvalidArgumentError("principals: each entry must be an object");
      const json::object& o = v.get_object();
      EV_RETURN_IF_ERROR(services::RejectUnknownFields(o, {"org_id", "actor"}));
      EV_ASSIGN_OR_RETURN(std::string org_id, services::RequiredString(o, "org_id", 64));
      EV_ASSIGN_OR_RETURN(std::string actor, services::RequiredString(o, "actor", 128));
      EV_ASSIGN_OR_RETURN(std::optional<Rights> rights, CurrentRights(org_id, actor));
      out.emplace_back(json::object{{"org_id", org_id},
                                    {"actor", actor},
                                    {"rights", rights ? json::value(RightsJson(*rights)) : json::value(nullptr)}});
    }
    return services::JsonResponse(200, json::object{{"principals", std::move(out)}});
  }, internal);
}

}  // namespace edgevault::auth
