#pragma once
// edgevault-auth's handlers: login (password, TOTP, recovery code, passkey), sessions,
// token exchange (EdDSA JWT) and JWKS, TOTP and passkey enrolment, API keys, members,
// and the signed internal endpoints the api calls (API-key exchange, SDK keys).
// The HTTP surface is documented in docs/auth.md; formats in docs/design/jwt.md,
// docs/design/password-hash.md, docs/design/webauthn.md and docs/design/control-db.md.
//
//   EV_ASSIGN_OR_RETURN(auto auth, auth::AuthService::Create(options));
//   auth->Install(router);
//
// Thread-safety: Install once; afterwards every handler may run concurrently on any
// number of threads. Slow work (Argon2id, SQLite) runs on the service's own blocking
// pool, never on an I/O thread.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/crypto/jwt_keys.h"
#include "src/crypto/password.h"
#include "src/net/router.h"
#include "src/services/auth/client_address.h"
#include "src/services/auth/throttle.h"
#include "src/storage/control_store.h"

namespace edgevault::auth {

struct AuthOptions {
  storage::ControlStore* store = nullptr;  // not owned; outlives the service
  base::Env* env = nullptr;                // clock and randomness; not owned
  std::string signing_keys_dir;            // keys/jwt-signing (src/crypto/jwt_keys.h)
  crypto::PasswordParams password;
  std::string issuer = "edgevault";
  std::string audience = "edgevault";
  absl::Duration token_ttl = absl::Minutes(5);  // at most 5 minutes
  absl::Duration session_idle = absl::Hours(12);
  absl::Duration session_absolute = absl::Hours(24 * 7);
  absl::Duration mfa_ttl = absl::Minutes(5);        // login → second factor
  absl::Duration challenge_ttl = absl::Minutes(5);  // WebAuthn ceremonies
  // The key directory is re-read at most this often; the revocation list on every use,
  // so a revoked key stops signing and leaves the JWKS at once.
  absl::Duration key_reload_interval = absl::Seconds(5);
  // How long a new signing key is published before it signs (docs/design/jwt.md).
  absl::Duration signing_key_settle = crypto::kDefaultSigningKeySettle;
  // How long an invitation to an org may be accepted.
  absl::Duration invitation_ttl = absl::Hours(24 * 7);
  std::string rp_id = "localhost";  // WebAuthn relying-party id
  std::string rp_name = "EdgeVault";
  std::vector<std::string> origins;  // WebAuthn origins accepted
  // Login throttling (throttle.h); throttle.shared counts it across nodes (rate_limit.url).
  ThrottleOptions throttle;
  // Where the throttled client address comes from (trusted proxies and their header).
  ClientAddressOptions client_address;
  int blocking_threads = 4;
  // Key of the correlation hash in audit events (docs/design/audit-event.md); main.cc
  // reads it from keys/auth/audit-correlation.key (src/audit/correlation_key.h).
  std::string correlation_key;
  // The OAuth 2.1 authorization server for MCP clients (docs/design/oauth.md).
  struct OAuth {
    bool enabled = false;
    std::string issuer_url;   // auth's public base URL: the issuer, token/register/revoke endpoints
    std::string consent_url;  // the console's consent page (the authorization endpoint)
    std::string resource;     // the api's MCP endpoint: the only resource tokens are minted for
    std::string client_id_key;  // HMAC key of the stateless client ids (oauth.h)
    absl::Duration code_ttl = absl::Seconds(60);
    absl::Duration refresh_ttl = absl::Hours(24 * 30);  // idle: each refresh extends it
  };
  OAuth oauth;
};

class AuthService {
 public:
  // Errors: InvalidArgument for bad options (including a bad client_address); the errors
  // of LoadSigningKeys.
  static absl::StatusOr<std::unique_ptr<AuthService>> Create(AuthOptions options);
  ~AuthService();

  void Install(net::Router& router);

  struct BootstrapResult {
    bool created = false;
    std::string email;
    std::string password;  // one-time; must be changed at first login
    std::string api_key;   // owner key (evk_...)
  };
  // When the control DB has no user: creates org "default", an owner with a random
  // one-time password and an owner API key, in one transaction. Otherwise returns
  // created=false and touches nothing.
  // `persist` runs inside the transaction, before commit (it writes
  // bootstrap-admin.key), so a failure there leaves no half-made owner behind.
  absl::StatusOr<BootstrapResult> Bootstrap(
      std::string_view owner_email,
      const std::function<absl::Status(const BootstrapResult&)>& persist);

  class Impl;

 private:
  explicit AuthService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Key prefixes (recognisable in logs, secret scanners and support tickets).
inline constexpr std::string_view kSessionPrefix = "evsn_";
inline constexpr std::string_view kApiKeyPrefix = "evk_";
inline constexpr std::string_view kSdkKeyPrefix = "evs_";
// Client SDK keys (safe in a web page: client-visible items only, CORS for their origins).
inline constexpr std::string_view kClientSdkKeyPrefix = "evc_";
inline constexpr std::string_view kMfaTokenPrefix = "evmfa_";
inline constexpr std::string_view kInvitationPrefix = "inv_";

// Scopes an API key may carry; a key's scopes are also capped by its role.
inline constexpr std::string_view kScopes[] = {"read", "write", "secrets:read", "admin"};

}  // namespace edgevault::auth
