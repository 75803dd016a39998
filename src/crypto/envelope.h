#pragma once
// Envelope encryption of secret values (DESIGN.md §6; byte layout: docs/design/envelope.md).
// Each Seal draws a fresh 256-bit DEK and seals the value under it with AES-256-GCM; the DEK
// is wrapped with AES-256-GCM under the workspace KEK = HKDF-SHA256(master key, workspace id,
// "edgevault/workspace-kek/v1"). Both seals bind the EnvelopeContext as AAD, so an envelope
// copied to another workspace, item, environment or version fails to open. The envelope
// names its master key id, so rotation adds a key and Rewraps DEKs; old envelopes stay
// readable while their key is loaded.
// Thread-safety: pure functions over a const Keyring; safe to call concurrently.
//
//   crypto::EnvelopeContext ctx{"ws_123", "STRIPE_KEY", "production", /*version=*/7};
//   EV_ASSIGN_OR_RETURN(std::string sealed, crypto::Seal(keyring, ctx, value, env));
//   EV_ASSIGN_OR_RETURN(crypto::SecureBuffer plain, crypto::Open(keyring, ctx, sealed));
//
// Error codes, for every function below:
//   kAuthFailureCode (DataLoss, src/crypto/aead.h): the envelope does not authenticate —
//     any changed byte (including an unknown format version or a key id that is not a
//     valid id), a context other than the one it was sealed with, a truncated ciphertext;
//   FailedPrecondition: the envelope names a master key id that is not loaded ("master key
//     k2 is not loaded"), or the keyring is empty (Seal, Rewrap);
//   InvalidArgument: too short to be an envelope at all; for Seal, an empty workspace id or
//     a value or context field too large;
//   Internal: OpenSSL failed.
// No function ever returns partially decrypted or unauthenticated bytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "src/base/env.h"
#include "src/base/status.h"
#include "src/crypto/aead.h"
#include "src/crypto/keyring.h"

namespace edgevault::crypto {

inline constexpr uint8_t kEnvelopeVersion = 0x01;
// version(1) + key id(8) + DEK nonce(12) + wrapped DEK(32 + 16) + value nonce(12) + tag(16).
inline constexpr size_t kEnvelopeOverhead = 1 + 8 + 12 + 48 + 12 + 16;  // 97 bytes
inline constexpr std::string_view kWorkspaceKekInfo = "edgevault/workspace-kek/v1";

// Where a sealed value belongs. Every field is authenticated.
struct EnvelopeContext {
  std::string workspace_id;  // also the HKDF salt of the workspace KEK; must not be empty
  std::string item_key;
  std::string environment;
  int64_t version = 0;  // the item's revision number
};

// Seals `plaintext` under the keyring's active master key. Randomness (DEK, two nonces)
// comes from env->RandomBytes. Output: kEnvelopeOverhead + plaintext.size() bytes.
absl::StatusOr<std::string> Seal(const Keyring& keyring, const EnvelopeContext& context,
                                 std::string_view plaintext, base::Env* env);

// Authenticates and decrypts an envelope sealed for `context`.
absl::StatusOr<SecureBuffer> Open(const Keyring& keyring, const EnvelopeContext& context,
                                  std::string_view envelope);

// Re-wraps the DEK under the keyring's active master key (fresh DEK nonce from env) and
// leaves the value nonce, ciphertext and tag byte-for-byte unchanged. The whole envelope is
// authenticated first, so rotation never launders a damaged envelope. Re-wrapping an
// envelope already under the active key is allowed (it changes only the DEK nonce).
absl::StatusOr<std::string> Rewrap(const Keyring& keyring, const EnvelopeContext& context,
                                   std::string_view envelope, base::Env* env);

// The master key id an envelope names, without decrypting (to find envelopes to re-wrap).
// Not authenticated: Open is the only integrity check.
absl::StatusOr<std::string> EnvelopeKeyId(std::string_view envelope);

// The workspace KEK: HKDF-SHA256(ikm = master key, salt = workspace id,
// info = kWorkspaceKekInfo, 32 bytes). Exposed for tests and docs.
// Errors: InvalidArgument for an empty workspace id or a master key that is not 32 bytes.
absl::StatusOr<SecureBuffer> DeriveWorkspaceKek(const SecureBuffer& master_key,
                                                std::string_view workspace_id);

// The AAD both seals of an envelope bind (docs/design/envelope.md). Exposed for tests.
std::string EnvelopeAad(const EnvelopeContext& context);

}  // namespace edgevault::crypto
