#pragma once
// JSON Web Key Sets of Ed25519 public keys (RFC 7517, RFC 8037 "OKP"): written by the auth
// service (JWT keys, jwt.md) and the api (document-signing keys, resolved-document.md §8),
// read by every verifier. Public keys only: linking this never brings in private-key code.
// Thread-safety: plain functions, no state.
//
//   std::string jwks = crypto::JwksJson(published);
//   EV_ASSIGN_OR_RETURN(auto keys, crypto::ParseEd25519Jwks(jwks));

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/status.h"
#include "src/crypto/ed25519_public.h"

namespace edgevault::crypto {

// {"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"use":"sig","alg":"EdDSA"},...]}
// in the order given.
std::string JwksJson(const std::vector<std::pair<std::string, Ed25519PublicKey>>& keys);

// The OKP/Ed25519 keys of a JWKS as (kid, key), in document order; other keys (other
// kty/crv, use other than "sig", alg other than "EdDSA", bad x, members of the wrong JSON
// type) are skipped. A key without "kid" is filed under its thumbprint.
// Errors: InvalidArgument when the text is not a JWKS, or holds no usable key — except that
// with `allow_empty` an empty "keys" array gives an empty list.
absl::StatusOr<std::vector<std::pair<std::string, Ed25519PublicKey>>> ParseEd25519Jwks(
    std::string_view jwks_json, bool allow_empty = false);

}  // namespace edgevault::crypto
