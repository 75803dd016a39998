#pragma once
// Signatures of resolved documents (docs/design/resolved-document.md §8): the api signs
// every full and client document with Ed25519 over "edgevault-document-v1\n" || bytes;
// delivery passes the signature on (KV entry sig/… or csig/…, the EdgeVault-Signature
// header, the stream's `signature` event); SDKs and relays verify it with keys they pinned.
// This library verifies and formats; it links Ed25519 *public*-key code only
// (ed25519_public.h), so the delivery service, relays and SDKs may link it. Signing lives
// with the api's key set (src/crypto/document_signer.h).
// Thread-safety: DocumentVerifier is immutable after construction (AddKey must not race
// with Verify); the functions keep no state.
//
//   EV_ASSIGN_OR_RETURN(auto verifier, crypto::DocumentVerifier::FromJwks(pinned_jwks));
//   EV_ASSIGN_OR_RETURN(auto sig, crypto::ParseDocumentSignatureHeader(header));
//   absl::StatusOr<crypto::VerifiedDocument> ok = verifier.Verify(body, sig,
//       {.workspace_id = "ws_1", .environment = "prod", .min_version = last_good_version});

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/status.h"
#include "src/crypto/ed25519_public.h"

namespace edgevault::crypto {

// Prefixed to the document bytes before signing, so a document signature can never be
// taken for any other EdgeVault signature (JWTs, internal calls).
inline constexpr std::string_view kDocumentSignatureContext = "edgevault-document-v1\n";

// What Ed25519 signs: kDocumentSignatureContext || document.
std::string DocumentSigningInput(std::string_view document);

struct DocumentSignature {
  std::string kid;        // RFC 7638 thumbprint of the signing key (43 characters)
  std::string signature;  // 64 raw bytes
};

// The KV form "<kid>.<base64url signature, unpadded>" (sig/… and csig/… entries).
std::string FormatStoredDocumentSignature(const DocumentSignature& s);
// Errors: InvalidArgument when not "<kid>.<sig>" with a kid of base64url characters and a
// canonical base64url signature of 64 bytes.
absl::StatusOr<DocumentSignature> ParseStoredDocumentSignature(std::string_view value);

// The header / SSE form "kid=<kid>; sig=<base64url>" (EdgeVault-Signature).
std::string FormatDocumentSignatureHeader(const DocumentSignature& s);
// Accepts the two parameters in either order, spaces around ';' and '=' optional.
// Errors: InvalidArgument naming what is wrong (missing kid or sig, bad encoding, length).
absl::StatusOr<DocumentSignature> ParseDocumentSignatureHeader(std::string_view value);

// What the verifier checks besides the signature, so that a validly signed document of
// another environment, of the other audience, or an older one (a replay) is refused.
struct DocumentExpectation {
  std::string_view workspace_id;  // "" = any
  std::string_view environment;   // "" = any
  // true: the document must be a client document ("audience":"client"); false: a full
  // document (no audience member).
  bool client = false;
  // Refuse a document whose version is lower (the last version this verifier accepted:
  // an older, validly signed document must not replace it). Equal is accepted.
  int64_t min_version = 0;
};

struct VerifiedDocument {
  std::string kid;
  int64_t version = 0;
};

class DocumentVerifier {
 public:
  DocumentVerifier() = default;

  // The keys of a JWKS (jwks.h rules). Errors: InvalidArgument as ParseEd25519Jwks.
  static absl::StatusOr<DocumentVerifier> FromJwks(std::string_view jwks_json);
  // Adds or replaces the key filed under `kid`.
  void AddKey(std::string kid, Ed25519PublicKey key);
  size_t size() const { return keys_.size(); }

  // Checks `signature` over `document`, then the document's identity against `expect`.
  // Errors:
  //   NotFound "unknown document-signing key ..." when the kid is not pinned here;
  //   Unauthenticated when the signature does not verify (tampered bytes, another key,
  //     the signature of another document);
  //   FailedPrecondition when the signed document is not the one expected (not a format-1
  //     document, another workspace or environment, the other audience, or a version
  //     below expect.min_version).
  absl::StatusOr<VerifiedDocument> Verify(std::string_view document, const DocumentSignature& signature,
                                          const DocumentExpectation& expect) const;

 private:
  std::map<std::string, Ed25519PublicKey, std::less<>> keys_;
};

}  // namespace edgevault::crypto
