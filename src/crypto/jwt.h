#pragma once
// EdDSA (Ed25519) JSON Web Tokens: the auth service signs access tokens with SignJwt, the
// api and the other verifiers check them with a JwtVerifier built from the auth service's
// JWKS. Only alg "EdDSA" exists here; there is no alg negotiation. Spec: docs/design/jwt.md.
// Thread-safety: key objects and JwtVerifier are immutable after construction, so const
// methods may run concurrently; AddKey must not race with Verify.
//
//   EV_ASSIGN_OR_RETURN(auto key, crypto::Ed25519PrivateKey::FromPem(pem));
//   std::string token = crypto::SignJwt(key, key.Kid(), claims);
//
//   EV_ASSIGN_OR_RETURN(auto verifier, crypto::JwtVerifier::FromJwks(jwks_json));
//   absl::StatusOr<crypto::JwtClaims> c = verifier.Verify(token, now, "edgevault", "api");
//   if (c.status().code() == absl::StatusCode::kNotFound) { /* refresh JWKS, retry once */ }

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "absl/time/time.h"
#include "src/base/status.h"
#include "src/crypto/ed25519.h"
#include "src/crypto/jwks.h"

namespace edgevault::crypto {

// Clock skew tolerated on exp, iat and nbf.
inline constexpr absl::Duration kJwtLeeway = absl::Seconds(30);

struct JwtClaims {
  std::string iss, sub, aud, org, jti;  // org and jti are omitted from the token when empty
  std::vector<std::string> roles, scopes;  // omitted when empty
  absl::Time iat = absl::InfinitePast();
  absl::Time exp = absl::InfinitePast();
  // Any other claims. When signing, members named like a registered claim above (or
  // "nbf") are ignored; when verifying, every unregistered claim lands here.
  boost::json::object extra;
};

// Compact JWS: base64url({"alg":"EdDSA","typ":"JWT","kid":kid}) "." base64url(claims) "."
// base64url(signature). iat/exp are written as integer NumericDate seconds.
std::string SignJwt(const Ed25519PrivateKey& key, std::string_view kid, const JwtClaims& claims);

// JwksJson (the JWKS the auth service publishes) lives in jwks.h.

class JwtVerifier {
 public:
  JwtVerifier() = default;

  // Reads the OKP/Ed25519 keys of a JWKS; other keys (other kty/crv, use other than "sig",
  // alg other than "EdDSA", bad x, members of the wrong JSON type) are skipped. A key
  // without "kid" is filed under its thumbprint. Errors: InvalidArgument when the text is
  // not a JWKS, or holds no usable key — except that with `allow_empty` an empty "keys"
  // array gives a verifier that refuses every token (an issuer publishing no key).
  static absl::StatusOr<JwtVerifier> FromJwks(std::string_view jwks_json, bool allow_empty = false);

  // Adds or replaces the key filed under `kid`.
  void AddKey(std::string kid, Ed25519PublicKey key);
  size_t size() const { return keys_.size(); }

  // Checks signature and claims of a compact JWS. exp must be > now - kJwtLeeway; iat and
  // (if present) nbf must be <= now + kJwtLeeway; iss must equal expected_iss; aud must
  // equal expected_aud or be an array containing it (claims.aud is then expected_aud).
  // Errors:
  //   NotFound "unknown key id ..." when the header's kid is not in this verifier — the
  //     signer may have rotated: refresh the JWKS and retry once, then treat as
  //     Unauthenticated;
  //   Unauthenticated, naming the reason, for everything else: malformed token, alg other
  //     than "EdDSA", a "crit" header, missing kid, bad signature, expired, not yet valid,
  //     wrong issuer or audience, missing exp/iat/sub, claims of the wrong type.
  absl::StatusOr<JwtClaims> Verify(std::string_view token, absl::Time now,
                                   std::string_view expected_iss,
                                   std::string_view expected_aud) const;

 private:
  std::map<std::string, Ed25519PublicKey, std::less<>> keys_;
};

}  // namespace edgevault::crypto
