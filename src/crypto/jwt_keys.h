#pragma once
// The JWT signing-key set on disk: a directory (DATA_DIR/keys/jwt-signing/) holding one
// PKCS#8 PEM file, mode 0600, per Ed25519 key, named `<created-unix-seconds>-<kid>.pem`,
// and an optional revocation list `revoked` (kids that must never be published or sign
// again). A new key is published at once but signs only after a settle period, so every
// verifier has fetched it before it sees a token it signed; older keys stay published in
// the JWKS until tokens they signed can no longer be valid. Spec: docs/design/jwt.md.
// This is key-handling code.
// Thread-safety: functions keep no state; concurrent rotation of one directory by two
// processes is not coordinated (the CLI is the only writer).
//
//   EV_ASSIGN_OR_RETURN(crypto::SigningKeySet set,
//       crypto::LoadSigningKeys(env, dir, env->Now(), {.settle = absl::Seconds(10)}));
//   std::string token = crypto::SignJwt(set.active.key, set.active.kid, claims);
//   std::string jwks = crypto::JwksJson(set.published);

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/crypto/jwt.h"

namespace edgevault::crypto {

// The retirement delay the CLI and services use: access tokens live at most 5 minutes,
// plus 1 minute for clock skew and JWKS caching.
inline constexpr absl::Duration kDefaultSigningKeyRetireAfter = absl::Minutes(6);
// How long a new key is published before it signs: more than a verifier's JWKS refresh
// interval (services::JwksCacheOptions::max_age, 3 s) plus the auth service's key reload
// interval (5 s), so no verifier sees a token signed by a key it has not fetched.
inline constexpr absl::Duration kDefaultSigningKeySettle = absl::Seconds(10);
// The revocation list's file name inside the signing-key directory.
inline constexpr std::string_view kRevokedSigningKeysFile = "revoked";

struct SigningKeyPolicy {
  // Longest token lifetime plus clock leeway: how long a key stays published after its
  // successor starts signing.
  absl::Duration retire_after = kDefaultSigningKeyRetireAfter;
  // How long a key is published before it signs (0: at once).
  absl::Duration settle = absl::ZeroDuration();
};

struct SigningKey {
  std::string kid;
  Ed25519PrivateKey key;
  absl::Time created;
};

struct SigningKeySet {
  // The key to sign with: the newest key that is not revoked and was created at least
  // `settle` ago; when there is none (a first key, a key rotated in right after it, or
  // the replacement of a revoked key), the oldest key that is not revoked — the one
  // published longest.
  SigningKey active;
  // kid and public key, newest first: keys newer than the active one (settling), the
  // active key, and every older key whose successor started signing less than
  // `retire_after` ago. Never a revoked key. Feed to JwksJson.
  std::vector<std::pair<std::string, Ed25519PublicKey>> published;
  // The revocation list's kids, in file order.
  std::vector<std::string> revoked;
};

// Generates an Ed25519 key (seed from env->RandomBytes) and writes it atomically, mode
// 0600, as `dir/<created>-<kid>.pem`; returns the kid. `created` is env->Now() in unix
// seconds, raised to one more than the newest existing key's when needed so the new key
// is always the newest (the active one). `dir` must exist.
// Errors: from the Env (naming the path); Internal when OpenSSL fails.
absl::StatusOr<std::string> AddSigningKey(base::Env* env, const std::string& dir);

// Reads every `<seconds>-<kid>.pem` in `dir` (other names are ignored) and the revocation
// list; revoked keys are left out as if their files were absent.
// Errors: NotFound when the directory is missing or holds no key that is not revoked (the
// message says to run `edgevault up` once or `edgevault keys rotate-signing`);
// PermissionDenied naming a key file or revocation list that group or others can access,
// with the chmod that fixes it; InvalidArgument naming a file that is not an Ed25519
// PKCS#8 PEM or whose kid does not match its key, or a malformed revocation-list line;
// other Env errors.
absl::StatusOr<SigningKeySet> LoadSigningKeys(base::Env* env, const std::string& dir,
                                              absl::Time now, const SigningKeyPolicy& policy);
// The same with settle = 0.
absl::StatusOr<SigningKeySet> LoadSigningKeys(base::Env* env, const std::string& dir,
                                              absl::Time now, absl::Duration retire_after);

// Deletes the key files LoadSigningKeys would no longer publish (retired or revoked);
// returns how many. Never deletes the active key or a settling one. Errors: as
// LoadSigningKeys, and from DeleteFile.
absl::StatusOr<int> PruneRetiredSigningKeys(base::Env* env, const std::string& dir,
                                            absl::Time now, const SigningKeyPolicy& policy);
absl::StatusOr<int> PruneRetiredSigningKeys(base::Env* env, const std::string& dir,
                                            absl::Time now, absl::Duration retire_after);

// The revocation list's text ("" when the file does not exist). Errors: Env errors.
absl::StatusOr<std::string> ReadSigningKeyRevocations(base::Env* env, const std::string& dir);

// Adds `kid` to the revocation list (atomically, mode 0600) with time `now`, then deletes
// its key file. Returns false when it was already revoked (nothing changes).
// Errors: NotFound when no key file in `dir` has that kid (the message lists the kids
// there); InvalidArgument when `kid` is not a key id; Env errors.
absl::StatusOr<bool> RevokeSigningKey(base::Env* env, const std::string& dir,
                                      std::string_view kid, absl::Time now);

}  // namespace edgevault::crypto
