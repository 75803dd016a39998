#pragma once
// `edgevault keys init-services` makes the services' own credentials (src/net/signing.h).
// `edgevault keys rotate-signing` and `edgevault keys revoke-signing`: manage the data
// directory's keys/jwt-signing/ set. rotate-signing adds a key (published at once, signing
// after the settle period) and prunes keys that are no longer published; revoke-signing
// puts a key on the revocation list and deletes it, so auth stops publishing it and
// signing with it at once, adding a replacement when it was the key signing. Running
// services pick the changes up by themselves. Spec: docs/design/jwt.md.
// Thread-safety: called once, from main(); does not take the data-directory lock, so it
// may run while `edgevault up` does.

#include <string>
#include <vector>

#include "src/base/env.h"
#include "src/base/status.h"
#include "src/crypto/jwt_keys.h"

namespace edgevault::cli {

struct KeysRotateOptions {
  std::string data_dir = "./edgevault-data";
};

struct KeysRevokeOptions {
  std::string data_dir = "./edgevault-data";
  std::string kid;
};

struct KeysInitServicesOptions {
  std::string data_dir = "./edgevault-data";
};

struct RotateSigningResult {
  std::string new_kid;
  std::string active;                  // the key signing now (new_kid once it has settled)
  std::vector<std::string> published;  // newest first
  int pruned = 0;
};

// Adds a key to `keys_dir`/jwt-signing (creating that directory, 0700, when absent), then
// prunes keys retired at env->Now() under `policy`.
// Errors: from crypto::AddSigningKey / LoadSigningKeys / PruneRetiredSigningKeys
// (PermissionDenied naming a key file or directory that is too open, InvalidArgument
// naming a corrupt key file, Env errors).
// `subdir`: the key set's directory under keys_dir — kJwtSigningDir (auth's JWT keys) or
// crypto::kDocumentSigningDir (the api's document-signing keys, resolved-document.md §8).
absl::StatusOr<RotateSigningResult> RotateSigningKey(base::Env* env, const std::string& keys_dir,
                                                     const crypto::SigningKeyPolicy& policy = {},
                                                     std::string_view subdir = "jwt-signing");

struct RevokeSigningResult {
  bool revoked = false;          // false: it was on the revocation list already
  std::string replacement;       // the key added because the revoked one was signing, or ""
  std::string active;            // the key signing now
  std::vector<std::string> published;  // newest first
  int pruned = 0;
};

// Revokes `kid` in `keys_dir`/jwt-signing (crypto::RevokeSigningKey). Keys already
// retired are pruned first, so an old key is never brought back to sign. When the revoked
// key was the one signing, or no key is left, a new key is added: the newest settled key
// that remains signs meanwhile, or, when there is none, the new key signs at once.
// Errors: NotFound for a kid the directory does not hold (the message lists the kids);
// InvalidArgument for a malformed kid; Env errors.
absl::StatusOr<RevokeSigningResult> RevokeSigningKey(base::Env* env, const std::string& keys_dir,
                                                     std::string_view kid,
                                                     const crypto::SigningKeyPolicy& policy = {});

// The commands: read DATA_DIR/edgevault.toml for the keys directory and
// auth.signing_key_settle_s, act, print what changed. Return the exit code: 0, 2 for bad
// configuration (including an uninitialised data directory), 1 for other failures
// (including an unknown kid).
int RunKeysRotateSigning(const KeysRotateOptions& options);
// `edgevault keys rotate-document-signing`: adds a document-signing key to
// KEYS_DIR/document-signing (published at once in meta/document-keys, signing after
// crypto::kDefaultDocumentSigningSettle; the api then re-signs every document) and prunes
// keys retired for longer than crypto::kDefaultDocumentSigningRetireAfter. Exit codes as
// RunKeysRotateSigning.
int RunKeysRotateDocumentSigning(const KeysRotateOptions& options);
// `edgevault keys init-services`: gives each service that has none its own credential
// (KEYS_DIR/services/NAME.pem) and publishes every public key to the trust directory
// (EnsureServiceCredentials); what `edgevault up` does at each start, for hosts that run
// single services. Without an edgevault.toml the default keys/ and trust/ of the data
// directory are used. Exit 0 on success, 1 on failure, 2 for a bad configuration.
int RunKeysInitServices(const KeysInitServicesOptions& options);
int RunKeysRevokeSigning(const KeysRevokeOptions& options);

}  // namespace edgevault::cli
