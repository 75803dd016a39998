#pragma once
// Local verification of EdgeVault access tokens (EdDSA JWTs from edgevault-auth) for the
// other services: the auth service's JWKS is fetched, cached, refetched before use once it
// is older than max_age (seconds), and refetched early when a token names an unknown
// `kid` — at most once per min_refresh_interval, so forged kids cannot turn into a request
// flood against auth. The fetched set is authoritative: a key it no longer holds (revoked
// or retired) is refused from then on, and an empty set refuses every token, so a key
// revoked at auth stops verifying here within max_age. docs/design/jwt.md has the rules.
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
  // How long a fetched key set is used before it is refetched: the longest a key auth
  // stopped publishing still verifies here. A new key settles at auth for longer than
  // this (crypto::kDefaultSigningKeySettle) before it signs.
  absl::Duration max_age = absl::Seconds(3);
  // Fetches are at most this frequent (staleness and unknown kids alike).
  absl::Duration min_refresh_interval = absl::Seconds(1);
  // While auth cannot be reached the last set keeps verifying, but only this long after
  // it was fetched: by then every token auth issued before it went away has expired
  // (5 min lifetime + 1 min for skew), so nothing legitimate is refused.
  absl::Duration max_stale = absl::Minutes(6);
};

class JwksCache {
 public:
  explicit JwksCache(JwksCacheOptions options);

  // The token's claims when it is valid now. Errors: Unauthenticated for every invalid
  // token (the message says why, e.g. "unknown key id", "token expired"); Unavailable
  // when no key set has been fetched within max_stale and auth cannot be reached.
  absl::StatusOr<crypto::JwtClaims> Verify(std::string_view token);
  // The same for a token that must name `audience` instead of options.audience (OAuth
  // tokens bound to the api's MCP resource, docs/design/oauth.md).
  absl::StatusOr<crypto::JwtClaims> Verify(std::string_view token, std::string_view audience);

  // Fetches the JWKS now. Errors: Unavailable (auth unreachable or not 200),
  // InvalidArgument (not a JWKS, or entries without a usable key; an empty "keys" array is
  // a valid set of no keys).
  absl::Status Refresh();

  int64_t fetches() const;  // successful fetches so far (tests, metrics)

 private:
  std::shared_ptr<const crypto::JwtVerifier> Current();
  // Refreshes unless one was attempted less than min_refresh_interval ago.
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
