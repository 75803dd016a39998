#pragma once
// The JWT signing-key set on disk: a directory (DATA_DIR/keys/jwt-signing/) holding one
// PKCS#8 PEM file, mode 0600, per Ed25519 key, named `<created-unix-seconds>-<kid>.pem`.
// The newest key signs; older keys stay published in the JWKS until tokens they signed
// can no longer be valid. Spec: docs/design/jwt.md. This is key-handling code.
// Thread-safety: functions keep no state; concurrent rotation of one directory by two
// processes is not coordinated (the CLI is the only writer).
//
//   EV_ASSIGN_OR_RETURN(crypto::SigningKeySet set,
//       crypto::LoadSigningKeys(env, dir, env->Now(), absl::Minutes(6)));
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

struct SigningKey {
  std::string kid;
  Ed25519PrivateKey key;
  absl::Time created;
};

struct SigningKeySet {
  // The newest key: the one to sign with.
  SigningKey active;
  // kid and public key, newest first: the active key plus every older key whose successor
  // was created less than `retire_after` ago. Feed to JwksJson.
  std::vector<std::pair<std::string, Ed25519PublicKey>> published;
};

// Generates an Ed25519 key (seed from env->RandomBytes) and writes it atomically, mode
// 0600, as `dir/<created>-<kid>.pem`; returns the kid. `created` is env->Now() in unix
// seconds, raised to one more than the newest existing key's when needed so the new key
// is always the newest (the active one). `dir` must exist.
// Errors: from the Env (naming the path); Internal when OpenSSL fails.
absl::StatusOr<std::string> AddSigningKey(base::Env* env, const std::string& dir);

// Reads every `<seconds>-<kid>.pem` in `dir` (other names are ignored). `retire_after` is
// the longest token lifetime plus clock leeway (e.g. 5 min + 1 min).
// Errors: NotFound when the directory is missing or holds no key (the message says to run
// `edgevault up` once or `edgevault keys rotate-signing`); PermissionDenied naming a key
// file that group or others can access, with the chmod that fixes it; InvalidArgument
// naming a file that is not an Ed25519 PKCS#8 PEM or whose kid does not match its key;
// other Env errors.
absl::StatusOr<SigningKeySet> LoadSigningKeys(base::Env* env, const std::string& dir,
                                              absl::Time now, absl::Duration retire_after);

// Deletes the key files LoadSigningKeys would no longer publish; returns how many.
// Never deletes the active key. Errors: as LoadSigningKeys, and from DeleteFile.
absl::StatusOr<int> PruneRetiredSigningKeys(base::Env* env, const std::string& dir,
                                            absl::Time now, absl::Duration retire_after);

}  // namespace edgevault::crypto
