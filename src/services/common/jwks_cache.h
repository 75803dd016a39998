#pragma once
// Local verification of EdgeVault access tokens (EdDSA JWTs from edgevault-auth) for the
// other services: the auth service's JWKS is fetched once, cached, refetched when it is
// older than max_age, and refetched early when a token names an unknown `kid` (a signing
// key rotated in) — at most once per min_refresh_interval, so forged kids cannot turn
// into a request flood against auth. docs/design/jwt.md has the token rules.
//
//   services::JwksCache jwks({.host = "127.0.0.1", .port = 8083, .client = client.get(),
//                             .env = env});
//   absl::StatusOr<crypto::JwtClaims> claims = jwks.Verify(bearer_token);
//
// Thread-safety: Verify and Refresh may be called concurrently; a fetch in progress
// blocks other refreshers, never verifications with the cached key set.

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/crypto/jwt.h"
#include "src/net/http_client.h"

namespace edgevault::services {

struct JwksCacheOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string path = "/.well-known/jwks.json";
  net::HttpClient* client = nullptr;  // not owned
  base::Env* env = nullptr;           // clock; not owned
  std::string issuer = "edgevault";
  std::string audience = "edgevault";
  absl::Duration max_age = absl::Minutes(5);
  absl::Duration min_refresh_interval = absl::Seconds(10);
};

class JwksCache {
 public:
  explicit JwksCache(JwksCacheOptions options);

  // The token's claims when it is valid now. Errors: Unauthenticated for every invalid
  // token (the message says why, e.g. "unknown key id", "token expired"); Unavailable
  // when no key set has ever been fetched and auth cannot be reached.
  absl::StatusOr<crypto::JwtClaims> Verify(std::string_view token);

  // Fetches the JWKS now. Errors: Unavailable (auth unreachable or not 200),
  // InvalidArgument (a JWKS without a usable key).
  absl::Status Refresh();

  int64_t fetches() const;  // successful fetches so far (tests, metrics)

 private:
  std::shared_ptr<const crypto::JwtVerifier> Current();
  // Refreshes unless one happened less than min_refresh_interval ago (`force_age` lets
  // a stale cache refresh regardless).
  absl::Status MaybeRefresh();

  JwksCacheOptions options_;
  mutable std::mutex mu_;
  std::mutex fetch_mu_;
  std::shared_ptr<const crypto::JwtVerifier> verifier_;
  absl::Time fetched_at_ = absl::InfinitePast();
  absl::Time last_attempt_ = absl::InfinitePast();
  int64_t fetches_ = 0;
};

}  // namespace edgevault::services
