#include "src/crypto/envelope.h"

#include <cstdio>

#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

// Field offsets of format version 0x02 (docs/design/envelope.md).
constexpr size_t kDataKeyIdOffset = 1;
constexpr size_t kValueNonceOffset = kDataKeyIdOffset + kDataKeyIdSize;  // 17
constexpr size_t kValueOffset = kValueNonceOffset + kAesGcmNonceSize;    // 29
static_assert(kValueOffset + kAesGcmTagSize == kEnvelopeOverhead);
constexpr size_t kDekSize = 32;
static_assert(kAesGcmNonceSize + kDekSize + kAesGcmTagSize == kWrappedDataKeySize);
constexpr std::string_view kDataKeyAadTag = "EVDK";

// Context fields are names, not documents; the limit keeps the AAD small and its u32
// length prefixes far from overflow.
constexpr size_t kMaxContextField = 64 * 1024;
// The same 1 GiB limit AesGcmSeal enforces, checked here to give a clearer message.
constexpr size_t kMaxPlaintext = size_t{1} << 30;

struct ParsedEnvelope {
  std::string_view data_key_id;
  std::string_view value_nonce;
  std::string_view value_sealed;  // ciphertext || tag
};

absl::Status AuthFailure(std::string_view why) {
  return absl::Status(kAuthFailureCode,
                      base::StrCat("secret envelope: authentication failed (", why, ")"));
}

absl::Status KeyNotLoaded(const Keyring& keyring, std::string_view id) {
  std::string loaded;
  for (const std::string& k : keyring.ids()) {
    base::StrAppend(&loaded, loaded.empty() ? "" : ", ", k);
  }
  return absl::FailedPreconditionError(base::StrCat(
      "master key ", id, " is not loaded; the data key was wrapped under it (loaded: ",
      loaded.empty() ? "none" : loaded, "). Restore ",
      id == kDefaultMasterKeyId ? std::string("master.key") : base::StrCat("master-", id, ".key"),
      " in the keys directory (docs/design/key-files.md)"));
}

absl::StatusOr<ParsedEnvelope> Parse(std::string_view envelope) {
  if (envelope.size() < kEnvelopeOverhead) {
    return absl::InvalidArgumentError(
        base::StrCat("not a secret envelope: ", envelope.size(), " bytes, fewer than the ",
                     kEnvelopeOverhead, " every envelope has"));
  }
  auto version = static_cast<uint8_t>(envelope[0]);
  if (version != kEnvelopeVersion) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", version);
    return AuthFailure(base::StrCat("unknown format version ", hex,
                                    "; this build reads 0x02: the envelope is damaged, was "
                                    "written by a newer EdgeVault, or is a pre-release 0x01 "
                                    "envelope (docs/design/envelope.md)"));
  }
  ParsedEnvelope p;
  p.data_key_id = envelope.substr(kDataKeyIdOffset, kDataKeyIdSize);
  p.value_nonce = envelope.substr(kValueNonceOffset, kAesGcmNonceSize);
  p.value_sealed = envelope.substr(kValueOffset);
  return p;
}

absl::Status ValidateContext(const EnvelopeContext& context) {
  if (context.workspace_id.empty()) {
    return absl::InvalidArgumentError("secret envelope: the workspace id must not be empty");
  }
  if (context.workspace_id.size() > kMaxContextField ||
      context.item_key.size() > kMaxContextField ||
      context.environment.size() > kMaxContextField) {
    return absl::InvalidArgumentError(base::StrCat(
        "secret envelope: workspace id, item key and environment are limited to ",
        kMaxContextField, " bytes each"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDataKey(const DataKey& data_key) {
  if (data_key.id.size() != kDataKeyIdSize || data_key.wrapped.size() != kWrappedDataKeySize) {
    return absl::InvalidArgumentError(base::StrCat(
        "data key record: the id must be ", kDataKeyIdSize, " bytes and the wrapped key ",
        kWrappedDataKeySize, " bytes"));
  }
  if (!IsValidMasterKeyId(data_key.master_key_id)) {
    return absl::InvalidArgumentError("data key record: the master key id is not a valid id");
  }
  return absl::OkStatus();
}

void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void AppendField(std::string* out, std::string_view field) {
  AppendU32(out, static_cast<uint32_t>(field.size()));
  out->append(field);
}

// Wraps `dek` under the active master key for `workspace_id`. Errors as Seal.
absl::StatusOr<DataKey> WrapDek(const Keyring& keyring, std::string_view workspace_id,
                                std::string_view id, std::string_view dek,
                                std::string_view dek_nonce) {
  const std::string& active = keyring.active_id();
  const SecureBuffer* master = keyring.Find(active);
  if (master == nullptr) {
    return absl::FailedPreconditionError("secret envelope: no master key is loaded");
  }
  EV_ASSIGN_OR_RETURN(SecureBuffer kek, DeriveWorkspaceKek(*master, workspace_id));
  EV_ASSIGN_OR_RETURN(std::string wrapped,
                      AesGcmSeal(kek.view(), dek_nonce, dek, DataKeyAad(workspace_id, id)));
  DataKey out;
  out.id = std::string(id);
  out.master_key_id = active;
  out.wrapped.reserve(kWrappedDataKeySize);
  out.wrapped.append(dek_nonce);
  out.wrapped.append(wrapped);
  return out;
}

// Unwraps the DEK of a data key record. Errors as Open.
absl::StatusOr<SecureBuffer> UnwrapDek(const Keyring& keyring, std::string_view workspace_id,
                                       const DataKey& data_key) {
  EV_RETURN_IF_ERROR(ValidateDataKey(data_key));
  const SecureBuffer* master = keyring.Find(data_key.master_key_id);
  if (master == nullptr) return KeyNotLoaded(keyring, data_key.master_key_id);
  EV_ASSIGN_OR_RETURN(SecureBuffer kek, DeriveWorkspaceKek(*master, workspace_id));
  std::string_view wrapped(data_key.wrapped);
  absl::StatusOr<SecureBuffer> dek =
      AesGcmOpen(kek.view(), wrapped.substr(0, kAesGcmNonceSize), wrapped.substr(kAesGcmNonceSize),
                 DataKeyAad(workspace_id, data_key.id));
  if (IsAuthenticationFailure(dek.status())) {
    return AuthFailure(
        "the data key does not verify: the record was changed, or belongs to another id or "
        "workspace, or is wrapped under another master key than it names");
  }
  return dek;
}

}  // namespace

std::string EnvelopeAad(const EnvelopeContext& context, std::string_view data_key_id) {
  std::string aad;
  aad.reserve(1 + 12 + context.workspace_id.size() + context.item_key.size() +
              context.environment.size() + 8 + data_key_id.size());
  aad.push_back(static_cast<char>(kEnvelopeVersion));
  AppendField(&aad, context.workspace_id);
  AppendField(&aad, context.item_key);
  AppendField(&aad, context.environment);
  AppendU64(&aad, static_cast<uint64_t>(context.version));
  aad.append(data_key_id);
  return aad;
}

std::string DataKeyAad(std::string_view workspace_id, std::string_view data_key_id) {
  std::string aad(kDataKeyAadTag);
  aad.push_back(static_cast<char>(kEnvelopeVersion));
  AppendField(&aad, workspace_id);
  aad.append(data_key_id);
  return aad;
}

absl::StatusOr<SecureBuffer> DeriveWorkspaceKek(const SecureBuffer& master_key,
                                                std::string_view workspace_id) {
  if (workspace_id.empty()) {
    return absl::InvalidArgumentError("workspace KEK: the workspace id must not be empty");
  }
  if (master_key.size() != kMasterKeySize) {
    return absl::InvalidArgumentError(
        base::StrCat("workspace KEK: the master key must be ", kMasterKeySize, " bytes"));
  }
  return Hkdf(master_key.view(), workspace_id, kWorkspaceKekInfo, kAesGcmKeySize);
}

absl::StatusOr<SealedValue> Seal(const Keyring& keyring, const EnvelopeContext& context,
                                 std::string_view plaintext, base::Env* env) {
  EV_RETURN_IF_ERROR(ValidateContext(context));
  if (plaintext.size() > kMaxPlaintext) {
    return absl::InvalidArgumentError("secret envelope: the value is larger than 1 GiB");
  }
  // One draw for DEK || data key id || DEK nonce || value nonce: each getrandom(2) call
  // costs about a microsecond, a sizeable part of a Seal (bench/crypto/envelope_bench.cc).
  SecureBuffer random(kDekSize + kDataKeyIdSize + 2 * kAesGcmNonceSize);
  env->RandomBytes(random.data(), random.size());
  std::string_view r = random.view();
  std::string_view dek = r.substr(0, kDekSize);
  std::string_view id = r.substr(kDekSize, kDataKeyIdSize);
  std::string_view dek_nonce = r.substr(kDekSize + kDataKeyIdSize, kAesGcmNonceSize);
  std::string_view value_nonce =
      r.substr(kDekSize + kDataKeyIdSize + kAesGcmNonceSize, kAesGcmNonceSize);

  SealedValue out;
  EV_ASSIGN_OR_RETURN(out.data_key, WrapDek(keyring, context.workspace_id, id, dek, dek_nonce));
  EV_ASSIGN_OR_RETURN(std::string sealed,
                      AesGcmSeal(dek, value_nonce, plaintext, EnvelopeAad(context, id)));
  out.envelope.reserve(kEnvelopeOverhead + plaintext.size());
  out.envelope.push_back(static_cast<char>(kEnvelopeVersion));
  out.envelope.append(id);
  out.envelope.append(value_nonce);
  out.envelope.append(sealed);
  return out;
}

absl::StatusOr<SecureBuffer> Open(const Keyring& keyring, const EnvelopeContext& context,
                                  std::string_view envelope, const DataKey& data_key) {
  EV_ASSIGN_OR_RETURN(ParsedEnvelope p, Parse(envelope));
  EV_RETURN_IF_ERROR(ValidateContext(context));
  if (p.data_key_id != data_key.id) {
    return AuthFailure("the envelope names another data key than the record given");
  }
  EV_ASSIGN_OR_RETURN(SecureBuffer dek, UnwrapDek(keyring, context.workspace_id, data_key));
  absl::StatusOr<SecureBuffer> value =
      AesGcmOpen(dek.view(), p.value_nonce, p.value_sealed, EnvelopeAad(context, p.data_key_id));
  if (IsAuthenticationFailure(value.status())) {
    return AuthFailure(
        "the value ciphertext does not verify: the envelope was changed, or belongs to "
        "another workspace, item, environment or version");
  }
  return value;
}

absl::StatusOr<DataKey> RewrapDataKey(const Keyring& keyring, std::string_view workspace_id,
                                      const DataKey& data_key, base::Env* env) {
  if (workspace_id.empty()) {
    return absl::InvalidArgumentError("data key record: the workspace id must not be empty");
  }
  EV_ASSIGN_OR_RETURN(SecureBuffer dek, UnwrapDek(keyring, workspace_id, data_key));
  char dek_nonce[kAesGcmNonceSize];
  env->RandomBytes(dek_nonce, sizeof dek_nonce);
  return WrapDek(keyring, workspace_id, data_key.id, dek.view(),
                 std::string_view(dek_nonce, sizeof dek_nonce));
}

absl::StatusOr<std::string> EnvelopeDataKeyId(std::string_view envelope) {
  EV_ASSIGN_OR_RETURN(ParsedEnvelope p, Parse(envelope));
  return std::string(p.data_key_id);
}

}  // namespace edgevault::crypto
