#include "src/crypto/envelope.h"

#include <cstdio>

#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

// Field offsets of format version 0x01 (docs/design/envelope.md).
constexpr size_t kKeyIdOffset = 1;
constexpr size_t kKeyIdField = kMaxMasterKeyIdSize;  // 8, NUL-padded
constexpr size_t kDekNonceOffset = kKeyIdOffset + kKeyIdField;                    // 9
constexpr size_t kDekSize = 32;
constexpr size_t kWrappedDekSize = kDekSize + kAesGcmTagSize;                     // 48
constexpr size_t kWrappedDekOffset = kDekNonceOffset + kAesGcmNonceSize;          // 21
constexpr size_t kValueNonceOffset = kWrappedDekOffset + kWrappedDekSize;         // 69
constexpr size_t kValueOffset = kValueNonceOffset + kAesGcmNonceSize;             // 81
static_assert(kValueOffset + kAesGcmTagSize == kEnvelopeOverhead);

// Context fields are names, not documents; the limit keeps the AAD small and its u32
// length prefixes far from overflow.
constexpr size_t kMaxContextField = 64 * 1024;
// The same 1 GiB limit AesGcmSeal enforces, checked here to give a clearer message.
constexpr size_t kMaxPlaintext = size_t{1} << 30;

struct ParsedEnvelope {
  std::string key_id;
  std::string_view dek_nonce;
  std::string_view wrapped_dek;
  std::string_view value_nonce;
  std::string_view value_sealed;  // ciphertext || tag
  std::string_view value_part;    // value nonce || ciphertext || tag (what Rewrap keeps)
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
      "master key ", id, " is not loaded; the envelope was sealed under it (loaded: ",
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
                                    "; this build reads 0x01: the envelope is damaged or was "
                                    "written by a newer EdgeVault"));
  }
  std::string_view field = envelope.substr(kKeyIdOffset, kKeyIdField);
  size_t end = field.find('\0');
  std::string_view id = field.substr(0, end);
  bool padding_ok = end == std::string_view::npos ||
                    field.find_first_not_of('\0', end) == std::string_view::npos;
  if (!padding_ok || !IsValidMasterKeyId(id)) {
    return AuthFailure("the master key id field does not hold a valid key id");
  }
  ParsedEnvelope p;
  p.key_id = std::string(id);
  p.dek_nonce = envelope.substr(kDekNonceOffset, kAesGcmNonceSize);
  p.wrapped_dek = envelope.substr(kWrappedDekOffset, kWrappedDekSize);
  p.value_nonce = envelope.substr(kValueNonceOffset, kAesGcmNonceSize);
  p.value_sealed = envelope.substr(kValueOffset);
  p.value_part = envelope.substr(kValueNonceOffset);
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

std::string KeyIdField(std::string_view id) {
  std::string field(id);
  field.resize(kKeyIdField, '\0');
  return field;
}

// Unwraps the DEK of a parsed envelope. Errors as Open.
absl::StatusOr<SecureBuffer> UnwrapDek(const Keyring& keyring, const EnvelopeContext& context,
                                       const ParsedEnvelope& p, std::string_view aad) {
  const SecureBuffer* master = keyring.Find(p.key_id);
  if (master == nullptr) return KeyNotLoaded(keyring, p.key_id);
  EV_ASSIGN_OR_RETURN(SecureBuffer kek, DeriveWorkspaceKek(*master, context.workspace_id));
  absl::StatusOr<SecureBuffer> dek = AesGcmOpen(kek.view(), p.dek_nonce, p.wrapped_dek, aad);
  if (IsAuthenticationFailure(dek.status())) {
    return AuthFailure(
        "the wrapped DEK does not verify: the envelope was changed, or belongs to another "
        "workspace, item, environment or version");
  }
  return dek;
}

absl::StatusOr<SecureBuffer> OpenValue(const SecureBuffer& dek, const ParsedEnvelope& p,
                                       std::string_view aad) {
  absl::StatusOr<SecureBuffer> value = AesGcmOpen(dek.view(), p.value_nonce, p.value_sealed, aad);
  if (IsAuthenticationFailure(value.status())) {
    return AuthFailure("the value ciphertext does not verify: the envelope was changed");
  }
  return value;
}

}  // namespace

std::string EnvelopeAad(const EnvelopeContext& context) {
  std::string aad;
  aad.reserve(1 + 12 + context.workspace_id.size() + context.item_key.size() +
              context.environment.size() + 8);
  aad.push_back(static_cast<char>(kEnvelopeVersion));
  AppendField(&aad, context.workspace_id);
  AppendField(&aad, context.item_key);
  AppendField(&aad, context.environment);
  AppendU64(&aad, static_cast<uint64_t>(context.version));
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

absl::StatusOr<std::string> Seal(const Keyring& keyring, const EnvelopeContext& context,
                                 std::string_view plaintext, base::Env* env) {
  EV_RETURN_IF_ERROR(ValidateContext(context));
  if (plaintext.size() > kMaxPlaintext) {
    return absl::InvalidArgumentError("secret envelope: the value is larger than 1 GiB");
  }
  const std::string& active = keyring.active_id();
  const SecureBuffer* master = keyring.Find(active);
  if (master == nullptr) {
    return absl::FailedPreconditionError("secret envelope: no master key is loaded");
  }
  EV_ASSIGN_OR_RETURN(SecureBuffer kek, DeriveWorkspaceKek(*master, context.workspace_id));

  // One draw for DEK || DEK nonce || value nonce: each getrandom(2) call costs about a
  // microsecond, a third of a Seal's budget (bench/crypto/envelope_bench.cc).
  SecureBuffer random(kDekSize + 2 * kAesGcmNonceSize);
  env->RandomBytes(random.data(), random.size());
  SecureBuffer dek(random.view().substr(0, kDekSize));
  std::string_view dek_nonce_view = random.view().substr(kDekSize, kAesGcmNonceSize);
  std::string_view value_nonce_view =
      random.view().substr(kDekSize + kAesGcmNonceSize, kAesGcmNonceSize);

  std::string aad = EnvelopeAad(context);
  EV_ASSIGN_OR_RETURN(std::string wrapped, AesGcmSeal(kek.view(), dek_nonce_view, dek.view(), aad));
  EV_ASSIGN_OR_RETURN(std::string sealed,
                      AesGcmSeal(dek.view(), value_nonce_view, plaintext, aad));

  std::string out;
  out.reserve(kEnvelopeOverhead + plaintext.size());
  out.push_back(static_cast<char>(kEnvelopeVersion));
  out.append(KeyIdField(active));
  out.append(dek_nonce_view);
  out.append(wrapped);
  out.append(value_nonce_view);
  out.append(sealed);
  return out;
}

absl::StatusOr<SecureBuffer> Open(const Keyring& keyring, const EnvelopeContext& context,
                                  std::string_view envelope) {
  EV_ASSIGN_OR_RETURN(ParsedEnvelope p, Parse(envelope));
  EV_RETURN_IF_ERROR(ValidateContext(context));
  std::string aad = EnvelopeAad(context);
  EV_ASSIGN_OR_RETURN(SecureBuffer dek, UnwrapDek(keyring, context, p, aad));
  return OpenValue(dek, p, aad);
}

absl::StatusOr<std::string> Rewrap(const Keyring& keyring, const EnvelopeContext& context,
                                   std::string_view envelope, base::Env* env) {
  EV_ASSIGN_OR_RETURN(ParsedEnvelope p, Parse(envelope));
  EV_RETURN_IF_ERROR(ValidateContext(context));
  const std::string& active = keyring.active_id();
  const SecureBuffer* master = keyring.Find(active);
  if (master == nullptr) {
    return absl::FailedPreconditionError("secret envelope: no master key is loaded");
  }
  std::string aad = EnvelopeAad(context);
  EV_ASSIGN_OR_RETURN(SecureBuffer dek, UnwrapDek(keyring, context, p, aad));
  // Authenticate the value too; the temporary plaintext is wiped at the end of the statement.
  EV_RETURN_IF_ERROR(OpenValue(dek, p, aad).status());
  EV_ASSIGN_OR_RETURN(SecureBuffer kek, DeriveWorkspaceKek(*master, context.workspace_id));
  char dek_nonce[kAesGcmNonceSize];
  env->RandomBytes(dek_nonce, sizeof dek_nonce);
  std::string_view dek_nonce_view(dek_nonce, sizeof dek_nonce);
  EV_ASSIGN_OR_RETURN(std::string wrapped, AesGcmSeal(kek.view(), dek_nonce_view, dek.view(), aad));

  std::string out;
  out.reserve(envelope.size());
  out.push_back(static_cast<char>(kEnvelopeVersion));
  out.append(KeyIdField(active));
  out.append(dek_nonce_view);
  out.append(wrapped);
  out.append(p.value_part);
  return out;
}

absl::StatusOr<std::string> EnvelopeKeyId(std::string_view envelope) {
  EV_ASSIGN_OR_RETURN(ParsedEnvelope p, Parse(envelope));
  return p.key_id;
}

}  // namespace edgevault::crypto
