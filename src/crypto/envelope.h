#pragma once
// Envelope encryption of secret values (DESIGN.md §6; byte layout: docs/design/envelope.md).
// Each Seal draws a fresh 256-bit DEK (a "data key") and seals the value under it with
// AES-256-GCM. The DEK itself is not in the envelope: the envelope names it by a random
// 128-bit id, and the DataKey record (the DEK wrapped with AES-256-GCM under the workspace
// KEK = HKDF-SHA256(master key, workspace id, "edgevault/workspace-kek/v1")) is stored apart
// from it, in the workspace's data-key table. Revisions are append-only and keep envelopes
// for ever; master-key rotation re-wraps only the data-key records (RewrapDataKey), never an
// envelope. The value seal binds EnvelopeContext and the data key id as AAD, so an envelope
// copied to another workspace, item, environment or version fails to open; the DEK wrap
// binds workspace and data key id, so a record moved to another id or workspace fails too.
// Thread-safety: pure functions over a const Keyring; safe to call concurrently.
//
//   crypto::EnvelopeContext ctx{"ws_123", "STRIPE_KEY", "production", /*version=*/7};
//   EV_ASSIGN_OR_RETURN(crypto::SealedValue s, crypto::Seal(keyring, ctx, value, env));
//   // store s.envelope with the item and s.data_key in the data-key table, then later:
//   EV_ASSIGN_OR_RETURN(crypto::SecureBuffer plain,
//                       crypto::Open(keyring, ctx, s.envelope, s.data_key));
//
// Error codes, for every function below:
//   kAuthFailureCode (DataLoss, src/crypto/aead.h): something does not authenticate — any
//     changed byte of the envelope or of the data key record (including an unknown format
//     version), a context other than the one it was sealed with, a data key record of
//     another id or workspace, a truncated ciphertext;
//   FailedPrecondition: the data key is wrapped under a master key id that is not loaded
//     ("master key m2 is not loaded"), or the keyring is empty (Seal, RewrapDataKey);
//   InvalidArgument: too short to be an envelope (or a data key record) at all, a master
//     key id that is not a valid id; for Seal, an empty workspace id or a value or context
//     field too large;
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

inline constexpr uint8_t kEnvelopeVersion = 0x02;
inline constexpr size_t kDataKeyIdSize = 16;
// version(1) + data key id(16) + value nonce(12) + tag(16).
inline constexpr size_t kEnvelopeOverhead = 1 + kDataKeyIdSize + 12 + 16;  // 45 bytes
// A data key record's `wrapped`: DEK nonce(12) + AES-256-GCM(KEK, DEK)(32) + tag(16).
inline constexpr size_t kWrappedDataKeySize = 12 + 32 + 16;  // 60 bytes
inline constexpr std::string_view kWorkspaceKekInfo = "edgevault/workspace-kek/v1";

// Where a sealed value belongs. Every field is authenticated.
struct EnvelopeContext {
  std::string workspace_id;  // also the HKDF salt of the workspace KEK; must not be empty
  std::string item_key;
  std::string environment;
  int64_t version = 0;  // the item's revision number
};

// One DEK, wrapped under one master key, for one workspace.
struct DataKey {
  std::string id;             // kDataKeyIdSize random bytes (raw, not hex)
  std::string master_key_id;  // the master key `wrapped` is sealed under
  std::string wrapped;        // kWrappedDataKeySize bytes
};

struct SealedValue {
  std::string envelope;  // kEnvelopeOverhead + plaintext bytes
  DataKey data_key;      // a fresh DEK, wrapped under the keyring's active master key
};

// Seals `plaintext` under a fresh DEK wrapped with the keyring's active master key.
// Randomness (DEK, data key id, two nonces) comes from env->RandomBytes, in one draw.
absl::StatusOr<SealedValue> Seal(const Keyring& keyring, const EnvelopeContext& context,
                                 std::string_view plaintext, base::Env* env);

// Authenticates and decrypts an envelope sealed for `context`, with its data key record
// (the one whose id EnvelopeDataKeyId names).
absl::StatusOr<SecureBuffer> Open(const Keyring& keyring, const EnvelopeContext& context,
                                  std::string_view envelope, const DataKey& data_key);

// Re-wraps a data key under the keyring's active master key, with a fresh DEK nonce; the
// id and the DEK stay the same, so every envelope that names it still opens. The old
// wrapping is authenticated first, so rotation never launders a damaged record.
// Re-wrapping a record already under the active key is allowed (only the nonce changes).
absl::StatusOr<DataKey> RewrapDataKey(const Keyring& keyring, std::string_view workspace_id,
                                      const DataKey& data_key, base::Env* env);

// The data key id an envelope names (raw bytes), without decrypting, to find its record.
// Not authenticated: Open is the only integrity check. InvalidArgument when too short,
// kAuthFailureCode for an unknown format version.
absl::StatusOr<std::string> EnvelopeDataKeyId(std::string_view envelope);

// The workspace KEK: HKDF-SHA256(ikm = master key, salt = workspace id,
// info = kWorkspaceKekInfo, 32 bytes). Exposed for tests and docs.
// Errors: InvalidArgument for an empty workspace id or a master key that is not 32 bytes.
absl::StatusOr<SecureBuffer> DeriveWorkspaceKek(const SecureBuffer& master_key,
                                                std::string_view workspace_id);

// The AADs (docs/design/envelope.md). Exposed for tests.
std::string EnvelopeAad(const EnvelopeContext& context, std::string_view data_key_id);
std::string DataKeyAad(std::string_view workspace_id, std::string_view data_key_id);

}  // namespace edgevault::crypto
