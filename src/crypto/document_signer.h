#pragma once
// The api's document-signing key set (docs/design/resolved-document.md §8):
// DATA_DIR/keys/document-signing/, one Ed25519 PKCS#8 PEM per key named
// `<created-unix-seconds>-<kid>.pem` (0600; the files, rotation, settling and revocation
// are those of the JWT signing keys: crypto::LoadSigningKeys, jwt_keys.h). A key added by
// `edgevault keys rotate-document-signing` is published at once and signs after `settle`;
// the previous key stays published for `retire_after` after that, while the api re-signs
// every document in the KV (a republish). This is key-handling code: only the api links it.
// Thread-safety: every method may be called from any thread.
//
//   EV_ASSIGN_OR_RETURN(auto signer, crypto::DocumentSigner::Open({.env = env, .dir = dir}));
//   std::string stored = signer->Sign(document_bytes);   // "<kid>.<base64url sig>"
//   std::string jwks = signer->Jwks();

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/crypto/jwt_keys.h"

namespace edgevault::crypto {

// The directory's name under the keys directory.
inline constexpr std::string_view kDocumentSigningDir = "document-signing";
// Longer than any delivery poll interval and any verifier's refresh of the published keys,
// so nobody sees a signature by a key it could not have fetched.
inline constexpr absl::Duration kDefaultDocumentSigningSettle = absl::Seconds(10);
// How long the previous key stays published after its successor starts signing: the
// republish that re-signs every document takes seconds; the rest is margin for a KV that
// is unreachable meanwhile.
inline constexpr absl::Duration kDefaultDocumentSigningRetireAfter = absl::Hours(1);

struct DocumentSignerOptions {
  base::Env* env = nullptr;  // not owned
  std::string dir;           // DATA_DIR/keys/document-signing
  absl::Duration settle = kDefaultDocumentSigningSettle;
  absl::Duration retire_after = kDefaultDocumentSigningRetireAfter;
  // The key files are read again at most this often (a rotation shows within it).
  absl::Duration reload_interval = absl::Seconds(2);
};

class DocumentSigner {
 public:
  // Creates `dir` (0700) and a first key when it holds none, then loads the set.
  // Errors: InvalidArgument without env or dir; LoadSigningKeys' (PermissionDenied naming
  // a file or directory open to others, InvalidArgument naming a bad key file).
  static absl::StatusOr<std::unique_ptr<DocumentSigner>> Open(DocumentSignerOptions options);

  // The KV form of the signature of `document` by the active key:
  // "<kid>.<base64url(Ed25519(key, DocumentSigningInput(document)))>".
  std::string Sign(std::string_view document);
  // The kid Sign uses now.
  std::string ActiveKid();
  // The published public keys as a JWKS (newest first): what `meta/document-keys` holds.
  std::string Jwks();
  // Reads the key files again now (also done by the methods above every reload_interval).
  // On an error the set held so far stays in use. Errors: LoadSigningKeys'.
  absl::Status Reload();

 private:
  explicit DocumentSigner(DocumentSignerOptions options) : options_(std::move(options)) {}
  std::shared_ptr<const SigningKeySet> Current();

  const DocumentSignerOptions options_;
  std::mutex mu_;
  std::shared_ptr<const SigningKeySet> set_;  // guarded by mu_
  absl::Time loaded_at_;                      // guarded by mu_
};

}  // namespace edgevault::crypto
