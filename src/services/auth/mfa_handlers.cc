// Second factors and passkeys: TOTP enrolment/confirmation/disable, recovery codes,
// the second login step (TOTP, recovery code or passkey), passkey registration and
// passwordless passkey login. docs/auth.md describes the flows.
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/crypto/qr_svg.h"
#include "src/crypto/totp.h"
#include "src/crypto/webauthn.h"
#include "src/services/auth/auth_impl.h"

namespace edgevault::auth {

namespace http = boost::beast::http;
namespace json = boost::json;
using storage::Role;

namespace {

absl::Status BadSecondFactor(std::string_view what) {
  return services::WithErrorCode(absl::UnauthenticatedError(base::ToAbsl(what)),
                                 "invalid_second_factor");
}

absl::StatusOr<std::string> B64UrlField(const json::object& o, std::string_view field,
                                        size_t max_bytes = 64 * 1024) {
  EV_ASSIGN_OR_RETURN(std::string s, services::RequiredString(o, field, max_bytes));
  absl::StatusOr<std::string> raw = base::Base64UrlDecode(s);
  if (!raw.ok()) {
    return absl::InvalidArgumentError(
        base::ToAbsl("field '" + std::string(field) + "': must be base64url"));
  }
  return raw;
}

// The `credential` member of a passkey finish request, as a PublicKeyCredential's JSON
// (id / rawId, response.{clientDataJSON, attestationObject | authenticatorData,
// signature, userHandle}), base64url throughout.
struct CredentialJson {
  std::string id;
  std::string client_data_json;
  std::string attestation_object;
  std::string authenticator_data;
  std::string signature;
};

absl::StatusOr<CredentialJson> ParseCredential(const json::object& body, bool assertion) {
  auto it = body.find("credential");
  if (it == body.end() || !it->value().is_object()) {
    return absl::InvalidArgumentError("field 'credential': must be the PublicKeyCredential as JSON");
  }
  const json::object& cred = it->value().get_object();
  CredentialJson c;
  EV_ASSIGN_OR_RETURN(c.id, B64UrlField(cred, "id", 1024));
  auto rit = cred.find("response");
  if (rit == cred.end() || !rit->value().is_object()) {
    return absl::InvalidArgumentError("field 'credential.response': must be an object");
  }
  const json::object& resp = rit->value().get_object();
  EV_ASSIGN_OR_RETURN(c.client_data_json, B64UrlField(resp, "clientDataJSON"));
  if (assertion) {
    EV_ASSIGN_OR_RETURN(c.authenticator_data, B64UrlField(resp, "authenticatorData"));
    EV_ASSIGN_OR_RETURN(c.signature, B64UrlField(resp, "signature"));
  } else {
    EV_ASSIGN_OR_RETURN(c.attestation_object, B64UrlField(resp, "attestationObject"));
  }
  return c;
}

std::string AlgName(int32_t alg) {
  switch (alg) {
    case -7: return "ES256";
    case -8: return "EdDSA";
    case -257: return "RS256";
    default: return std::to_string(alg);
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> AuthService::Impl::MfaMethods(const storage::User& user) {
  std::vector<std::string> methods;
  absl::StatusOr<storage::TotpState> totp = store_.GetTotp(user.id);
  if (totp.ok() && totp->confirmed) methods.push_back("totp");
  if (!totp.ok() && !absl::IsNotFound(totp.status())) return totp.status();
  EV_ASSIGN_OR_RETURN(std::vector<storage::PasskeyCredential> keys, store_.ListPasskeys(user.id));
  if (!keys.empty()) methods.push_back("passkey");
  if (totp.ok() && totp->confirmed) {
    EV_ASSIGN_OR_RETURN(int64_t codes, store_.CountUnusedRecoveryCodes(user.id));
    if (codes > 0) methods.push_back("recovery_code");
  }
  return methods;
}

std::vector<std::string> AuthService::Impl::NewRecoveryCodes(std::vector<std::string>* hashes) {
  std::vector<std::string> codes = crypto::GenerateRecoveryCodes(options_.env, 10);
  hashes->clear();
  for (const auto& c : codes) hashes->push_back(crypto::Sha256Hex(crypto::NormalizeRecoveryCode(c)));
  return codes;
}

absl::StatusOr<AuthService::Impl::MfaContext> AuthService::Impl::TakeMfa(std::string_view token) {
  if (token.substr(0, kMfaTokenPrefix.size()) != kMfaTokenPrefix) {
    return BadSecondFactor("the mfa_token is not valid; log in again");
  }
  absl::StatusOr<storage::Challenge> c = store_.TakeChallenge(crypto::Sha256Hex(token), "mfa", Now());
  if (absl::IsNotFound(c.status())) {
    return BadSecondFactor("the mfa_token is not valid or has expired; log in again");
  }
  EV_RETURN_IF_ERROR(c.status());
  return MfaContext{c->id, c->user_id, c->payload, c->expires_at};
}

absl::Status AuthService::Impl::RestoreMfa(const MfaContext& m) {
  storage::Challenge c;
  c.id = m.token_hash;
  c.kind = "mfa";
  c.user_id = m.user_id;
  c.payload = m.org_id;
  c.expires_at = m.expires_at;
  return store_.PutChallenge(c);
}

void AuthService::Impl::InstallMfa(net::Router& r) {
  // ---- second step of a login: TOTP code or recovery code ----
  Route(http::verb::post, "/v1/login/totp", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"mfa_token", "code", "recovery_code"}));
    EV_ASSIGN_OR_RETURN(std::string token, services::RequiredString(body, "mfa_token", 128));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> code, services::OptionalString(body, "code", 16));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> recovery,
                        services::OptionalString(body, "recovery_code", 64));
    if (code.has_value() == recovery.has_value()) {
      return absl::InvalidArgumentError("send exactly one of 'code' (TOTP) and 'recovery_code'");
    }
    EV_ASSIGN_OR_RETURN(MfaContext mfa, TakeMfa(token));
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(mfa.user_id));
    absl::Time now = Now();
    const std::string method = code ? "pwd+totp" : "pwd+recovery";
    // Second-factor failures have their own count, which a correct password does not
    // clear: knowing the password buys a bounded number of code guesses per window.
    LoginThrottle::Attempt attempt;
    if (absl::Status throttled =
            BeginAttempt({SecondFactorKey(user.id), AddressKey(ClientAddress(req))}, now, &attempt);
        !throttled.ok()) {
      EV_RETURN_IF_ERROR(RestoreMfa(mfa));
      EV_RETURN_IF_ERROR(AuditDenial("auth.login.second_factor", "user:" + user.id, mfa.org_id, req,
                                     {{"method", method}, {"reason", "throttled"}}));
      return throttled;
    }
    bool ok = false;
    bool replayed = false;
    if (code) {
      absl::StatusOr<storage::TotpState> totp = store_.GetTotp(user.id);
      if (totp.ok() && totp->confirmed) {
        std::optional<int64_t> step = crypto::MatchTotp(totp->secret, *code, now);
        if (step) {
          EV_ASSIGN_OR_RETURN(ok, store_.AdvanceTotpStep(user.id, *step));
          replayed = !ok;
        }
      }
    } else {
      EV_ASSIGN_OR_RETURN(ok, store_.ConsumeRecoveryCode(
                                  user.id, crypto::Sha256Hex(crypto::NormalizeRecoveryCode(*recovery))));
    }
    if (!ok) {
      EV_RETURN_IF_ERROR(RestoreMfa(mfa));
      EV_RETURN_IF_ERROR(AuditDenial("auth.login.second_factor", "user:" + user.id, mfa.org_id, req,
                                     {{"method", method}, {"reason", replayed ? "replayed" : "wrong_code"}}));
      return BadSecondFactor(replayed ? "this code was already used; wait for the next one"
                                      : "the code is wrong");
    }
    throttle_.Succeeded(attempt, ThrottleScope::kSecondFactor);
    EV_ASSIGN_OR_RETURN(storage::Membership m, store_.GetMembership(mfa.org_id, user.id));
    json::object out;
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_ASSIGN_OR_RETURN(out, StartSession(tx, user, m, method, req));
      return absl::OkStatus();
    }));
    return services::JsonResponse(200, out);
  });

  // ---- TOTP enrolment ----
  Route(http::verb::post, "/v1/mfa/totp/enroll", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "second factors"));
    absl::StatusOr<storage::TotpState> existing = store_.GetTotp(p.user_id);
    if (existing.ok() && existing->confirmed) {
      return services::WithErrorCode(
          absl::FailedPreconditionError("TOTP is already enabled; disable it first to enrol again"),
          "already_enabled");
    }
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(p.user_id));
    storage::TotpState st;
    st.user_id = p.user_id;
    st.secret = crypto::GenerateTotpSecret(options_.env);
    st.created_at = Now();
    EV_RETURN_IF_ERROR(store_.PutTotp(st));
    std::string uri = crypto::TotpUri(options_.rp_name, user.email, st.secret);
    EV_ASSIGN_OR_RETURN(std::string svg, crypto::QrCodeSvg(uri));
    json::object o;
    o["secret"] = base::Base32Encode(st.secret);
    o["otpauth_uri"] = uri;
    o["qr_svg"] = svg;
    return services::JsonResponse(200, o);
  });

  Route(http::verb::post, "/v1/mfa/totp/confirm", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "second factors"));
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"code"}));
    EV_ASSIGN_OR_RETURN(std::string code, services::RequiredString(body, "code", 16));
    absl::StatusOr<storage::TotpState> st = store_.GetTotp(p.user_id);
    if (absl::IsNotFound(st.status())) {
      return services::WithErrorCode(
          absl::FailedPreconditionError("start with POST /v1/mfa/totp/enroll"), "not_enrolled");
    }
    EV_RETURN_IF_ERROR(st.status());
    if (st->confirmed) {
      return services::WithErrorCode(absl::FailedPreconditionError("TOTP is already enabled"),
                                     "already_enabled");
    }
    std::optional<int64_t> step = crypto::MatchTotp(st->secret, code, Now());
    if (!step) return BadSecondFactor("the code is wrong; check the authenticator app's clock");
    EV_ASSIGN_OR_RETURN(bool fresh, store_.AdvanceTotpStep(p.user_id, *step));
    if (!fresh) return BadSecondFactor("this code was already used; wait for the next one");
    std::vector<std::string> hashes;
    std::vector<std::string> codes = NewRecoveryCodes(&hashes);
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.ConfirmTotp(p.user_id));
      EV_RETURN_IF_ERROR(tx.ReplaceRecoveryCodes(p.user_id, hashes));
      // Adding a factor changes what the account requires: other sessions end.
      EV_RETURN_IF_ERROR(tx.DeleteSessionsOfUser(p.user_id, p.session_hash).status());
      return Audit(tx, "auth.mfa.totp.enable", "success", p.ActorId(), p.org_id, req);
    }));
    json::object o;
    o["enabled"] = true;
    o["recovery_codes"] = ScopesJson(codes);
    return services::JsonResponse(200, o);
  });

  // Disabling needs re-authentication: the password and a current code.
  Route(http::verb::post, "/v1/mfa/totp/disable", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "second factors"));
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"password", "code"}));
    EV_ASSIGN_OR_RETURN(std::string password, services::RequiredString(body, "password", 1024));
    EV_ASSIGN_OR_RETURN(std::string code, services::RequiredString(body, "code", 16));
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(p.user_id));
    absl::Time now = Now();
    absl::StatusOr<storage::TotpState> st = store_.GetTotp(p.user_id);
    if (!st.ok() || !st->confirmed) {
      return services::WithErrorCode(absl::FailedPreconditionError("TOTP is not enabled"), "not_enrolled");
    }
    LoginThrottle::Attempt attempt;
    EV_RETURN_IF_ERROR(BeginAttempt({AccountKey(user.email), SecondFactorKey(user.id),
                                     AddressKey(ClientAddress(req))}, now, &attempt));
    bool ok = crypto::VerifyPassword(password, user.password_hash);
    std::optional<int64_t> step = crypto::MatchTotp(st->secret, code, now);
    if (ok && step) {
      EV_ASSIGN_OR_RETURN(ok, store_.AdvanceTotpStep(p.user_id, *step));
    } else {
      ok = false;
    }
    if (!ok) {
      EV_RETURN_IF_ERROR(AuditDenial("auth.mfa.totp.disable", p.ActorId(), p.org_id, req,
                                     {{"reason", "invalid_credentials"}}));
      return services::WithErrorCode(
          absl::PermissionDeniedError("re-authentication failed: the password or code is wrong"),
          "invalid_credentials");
    }
    throttle_.Succeeded(attempt, ThrottleScope::kSecondFactor);
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.DeleteTotp(p.user_id));
      return Audit(tx, "auth.mfa.totp.disable", "success", p.ActorId(), p.org_id, req);
    }));
    return services::JsonResponse(200, json::object{{"enabled", false}});
  });

  Route(http::verb::post, "/v1/mfa/recovery-codes", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "second factors"));
    absl::StatusOr<storage::TotpState> st = store_.GetTotp(p.user_id);
    if (!st.ok() || !st->confirmed) {
      return services::WithErrorCode(absl::FailedPreconditionError("TOTP is not enabled"), "not_enrolled");
    }
    std::vector<std::string> hashes;
    std::vector<std::string> codes = NewRecoveryCodes(&hashes);
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.ReplaceRecoveryCodes(p.user_id, hashes));
      return Audit(tx, "auth.mfa.recovery_codes.regenerate", "success", p.ActorId(), p.org_id, req);
    }));
    return services::JsonResponse(200, json::object{{"recovery_codes", ScopesJson(codes)}});
  });

  // ---- passkeys: registration ----
  Route(http::verb::post, "/v1/passkeys/register/begin", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "passkeys"));
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(p.user_id));
    EV_ASSIGN_OR_RETURN(std::vector<storage::PasskeyCredential> existing, store_.ListPasskeys(p.user_id));
    std::string challenge = crypto::NewChallenge(options_.env);
    storage::Challenge c;
    c.id = options_.env->RandomHex(16);
    c.kind = "passkey-register";
    c.user_id = p.user_id;
    c.payload = challenge;
    c.expires_at = Now() + options_.challenge_ttl;
    EV_RETURN_IF_ERROR(store_.PutChallenge(c));
    json::array params;
    for (int alg : {-8, -7, -257}) params.push_back(json::object{{"type", "public-key"}, {"alg", alg}});
    json::array exclude;
    for (const auto& k : existing) {
      exclude.push_back(json::object{{"type", "public-key"}, {"id", base::Base64UrlEncode(k.credential_id)}});
    }
    json::object pk;
    pk["rp"] = {{"id", options_.rp_id}, {"name", options_.rp_name}};
    pk["user"] = {{"id", base::Base64UrlEncode(user.id)}, {"name", user.email},
                  {"displayName", user.display_name.empty() ? user.email : user.display_name}};
    pk["challenge"] = base::Base64UrlEncode(challenge);
    pk["pubKeyCredParams"] = std::move(params);
    pk["timeout"] = absl::ToInt64Milliseconds(options_.challenge_ttl);
    pk["attestation"] = "none";
    pk["excludeCredentials"] = std::move(exclude);
    pk["authenticatorSelection"] = {{"residentKey", "preferred"}, {"userVerification", "preferred"}};
    return services::JsonResponse(200, json::object{{"challenge_id", c.id}, {"publicKey", std::move(pk)}});
  });

  Route(http::verb::post, "/v1/passkeys/register/finish", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "passkeys"));
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"challenge_id", "credential", "name"}));
    EV_ASSIGN_OR_RETURN(std::string challenge_id, services::RequiredString(body, "challenge_id", 64));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> name, services::OptionalString(body, "name", 100));
    EV_ASSIGN_OR_RETURN(CredentialJson cred, ParseCredential(body, false));
    absl::StatusOr<storage::Challenge> c = store_.TakeChallenge(challenge_id, "passkey-register", Now());
    if (!c.ok() || c->user_id != p.user_id) {
      return services::WithErrorCode(
          absl::FailedPreconditionError("the registration challenge is unknown, used or expired; start again"),
          "challenge_expired");
    }
    crypto::RegistrationExpectation exp;
    exp.challenge = c->payload;
    exp.rp_id = options_.rp_id;
    exp.allowed_origins = options_.origins;
    absl::StatusOr<crypto::RegisteredCredential> reg =
        crypto::VerifyRegistration(cred.client_data_json, cred.attestation_object, exp);
    if (!reg.ok()) {
      return services::WithErrorCode(
          absl::InvalidArgumentError(base::ToAbsl("the passkey registration was rejected: " +
                                                  std::string(reg.status().message()))),
          "passkey_rejected");
    }
    if (reg->credential_id != cred.id) {
      return services::WithErrorCode(absl::InvalidArgumentError("credential.id does not match the attested credential"),
                                     "passkey_rejected");
    }
    storage::PasskeyCredential k;
    k.credential_id = reg->credential_id;
    k.user_id = p.user_id;
    k.public_key_cose = reg->public_key_cose;
    k.algorithm = reg->algorithm;
    k.sign_count = reg->sign_count;
    k.name = name.value_or("passkey");
    k.aaguid = reg->aaguid;
    k.user_verified_at_registration = reg->user_verified;
    k.created_at = Now();
    absl::Status st = store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.AddPasskey(k));
      EV_RETURN_IF_ERROR(tx.DeleteSessionsOfUser(p.user_id, p.session_hash).status());
      return Audit(tx, "auth.passkey.register", "success", p.ActorId(), p.org_id, req,
                   {{"credential", base::Base64UrlEncode(k.credential_id)}, {"alg", AlgName(k.algorithm)}});
    });
    if (absl::IsAlreadyExists(st)) {
      return absl::AlreadyExistsError("this passkey is already registered");
    }
    EV_RETURN_IF_ERROR(st);
    return services::JsonResponse(201, json::object{{"id", base::Base64UrlEncode(k.credential_id)},
                                                    {"name", k.name},
                                                    {"algorithm", AlgName(k.algorithm)}});
  });

  Route(http::verb::get, "/v1/passkeys", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    EV_ASSIGN_OR_RETURN(std::vector<storage::PasskeyCredential> keys, store_.ListPasskeys(p.user_id));
    json::array a;
    for (const auto& k : keys) {
      json::object o{{"id", base::Base64UrlEncode(k.credential_id)}, {"name", k.name},
                     {"algorithm", AlgName(k.algorithm)}, {"created_at", services::FormatTime(k.created_at)}};
      o["last_used_at"] = k.last_used_at ? json::value(services::FormatTime(*k.last_used_at)) : json::value(nullptr);
      a.push_back(std::move(o));
    }
    return services::JsonResponse(200, json::object{{"passkeys", std::move(a)}});
  });

  Route(http::verb::delete_, "/v1/passkeys/{id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "passkeys"));
    absl::StatusOr<std::string> id = base::Base64UrlDecode(req.Param("id"));
    if (!id.ok() || id->empty()) return absl::InvalidArgumentError("the passkey id must be base64url");
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.DeletePasskey(p.user_id, *id));
      return Audit(tx, "auth.passkey.delete", "success", p.ActorId(), p.org_id, req,
                   {{"credential", std::string(req.Param("id"))}});
    }));
    return services::JsonResponse(200, json::object{{"deleted", true}});
  });

  // ---- passkeys: login (passwordless, or as the second factor with mfa_token) ----
  Route(http::verb::post, "/v1/login/passkey/begin", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    json::object body;
    if (!req.body().empty()) {
      EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
    }
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"mfa_token"}));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> mfa_token, services::OptionalString(body, "mfa_token", 128));
    std::string user_id;
    json::array allow;
    if (mfa_token) {
      // Peek the MFA context without spending it: take and put back.
      EV_ASSIGN_OR_RETURN(MfaContext mfa, TakeMfa(*mfa_token));
      EV_RETURN_IF_ERROR(RestoreMfa(mfa));
      user_id = mfa.user_id;
      EV_ASSIGN_OR_RETURN(std::vector<storage::PasskeyCredential> keys, store_.ListPasskeys(user_id));
      for (const auto& k : keys) {
        allow.push_back(json::object{{"type", "public-key"}, {"id", base::Base64UrlEncode(k.credential_id)}});
      }
    }
    std::string challenge = crypto::NewChallenge(options_.env);
    storage::Challenge c;
    c.id = options_.env->RandomHex(16);
    c.kind = "passkey-login";
    c.user_id = user_id;
    c.payload = challenge;
    c.expires_at = Now() + options_.challenge_ttl;
    EV_RETURN_IF_ERROR(store_.PutChallenge(c));
    json::object pk;
    pk["challenge"] = base::Base64UrlEncode(challenge);
    pk["rpId"] = options_.rp_id;
    pk["timeout"] = absl::ToInt64Milliseconds(options_.challenge_ttl);
    pk["allowCredentials"] = std::move(allow);
    // Passwordless login must prove the user, not just their presence.
    pk["userVerification"] = mfa_token ? "preferred" : "required";
    return services::JsonResponse(200, json::object{{"challenge_id", c.id}, {"publicKey", std::move(pk)}});
  });

  Route(http::verb::post, "/v1/login/passkey/finish", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"challenge_id", "credential", "mfa_token"}));
    EV_ASSIGN_OR_RETURN(std::string challenge_id, services::RequiredString(body, "challenge_id", 64));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> mfa_token, services::OptionalString(body, "mfa_token", 128));
    EV_ASSIGN_OR_RETURN(CredentialJson cred, ParseCredential(body, true));
    absl::Time now = Now();
    absl::StatusOr<storage::Challenge> c = store_.TakeChallenge(challenge_id, "passkey-login", now);
    if (!c.ok()) {
      return BadSecondFactor("the passkey challenge is unknown, used or expired; start again");
    }
    std::optional<MfaContext> mfa;
    if (mfa_token) {
      EV_ASSIGN_OR_RETURN(MfaContext m, TakeMfa(*mfa_token));
      mfa = m;
    } else if (!c->user_id.empty()) {
      return BadSecondFactor("this challenge was issued for a second factor; send the mfa_token");
    }
    // As a second factor the attempt counts against the account's second-factor
    // failures; passwordless, against the client address.
    const std::string actor = mfa ? "user:" + mfa->user_id : "passkey";
    LoginThrottle::Attempt attempt;
    absl::Status throttled =
        mfa ? BeginAttempt({SecondFactorKey(mfa->user_id), AddressKey(ClientAddress(req))}, now, &attempt)
            : BeginAttempt({AddressKey(ClientAddress(req))}, now, &attempt);
    auto refuse = [&](std::string_view reason, absl::Status answer) -> absl::Status {
      if (mfa) EV_RETURN_IF_ERROR(RestoreMfa(*mfa));
      EV_RETURN_IF_ERROR(AuditDenial("auth.login.passkey", actor, mfa ? mfa->org_id : "", req,
                                     {{"reason", reason}}));
      return answer;
    };
    if (!throttled.ok()) return refuse("throttled", throttled);
    absl::StatusOr<storage::PasskeyCredential> key = store_.GetPasskey(cred.id);
    if (!key.ok()) return refuse("unknown_passkey", BadSecondFactor("this passkey is not registered"));
    if (mfa && (mfa->user_id != key->user_id || c->user_id != mfa->user_id)) {
      return refuse("other_account", BadSecondFactor("this passkey belongs to another account"));
    }
    crypto::AssertionExpectation exp;
    exp.challenge = c->payload;
    exp.rp_id = options_.rp_id;
    exp.allowed_origins = options_.origins;
    exp.require_user_verification = !mfa.has_value();
    exp.public_key_cose = key->public_key_cose;
    exp.stored_sign_count = key->sign_count;
    absl::StatusOr<crypto::VerifiedAssertion> v =
        crypto::VerifyAssertion(cred.client_data_json, cred.authenticator_data, cred.signature, exp);
    if (!v.ok()) {
      return refuse(std::string(v.status().message()),
                    BadSecondFactor("the passkey assertion was rejected: " + std::string(v.status().message())));
    }
    throttle_.Succeeded(attempt, mfa ? ThrottleScope::kSecondFactor : ThrottleScope::kAddress);
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(key->user_id));
    if (user.disabled) return BadSecondFactor("this account is disabled");
    storage::Membership m;
    if (mfa) {
      EV_ASSIGN_OR_RETURN(m, store_.GetMembership(mfa->org_id, user.id));
    } else {
      EV_ASSIGN_OR_RETURN(m, LoginMembership(user, std::nullopt, req));
    }
    json::object out;
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.UpdatePasskeyUse(key->credential_id, v->sign_count, now));
      EV_ASSIGN_OR_RETURN(out, StartSession(tx, user, m, mfa ? "pwd+passkey" : "passkey", req));
      return absl::OkStatus();
    }));
    return services::JsonResponse(200, out);
  });
}

}  // namespace edgevault::auth
