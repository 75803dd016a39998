#include "src/audit/correlation_key.h"

#include <openssl/crypto.h>

#include "absl/strings/str_format.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::audit {
namespace {

constexpr size_t kKeyBytes = 32;

// 64 lower-case hex characters and an optional '\n'.
absl::StatusOr<std::string> ParseKeyFile(const std::string& path, std::string_view text) {
  std::string_view hex = text;
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  bool lower = hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  absl::StatusOr<std::string> raw = base::HexDecode(hex);
  if (!lower || !raw.ok() || raw->size() != kKeyBytes) {
    return absl::InvalidArgumentError(base::StrCat(
        "key file ", path, " does not hold 64 lower-case hex characters; restore it from your backup"));
  }
  return raw;
}

absl::Status CheckPrivate(base::Env* env, const std::string& path, uint32_t forbidden,
                          std::string_view fix) {
  EV_ASSIGN_OR_RETURN(uint32_t mode, env->FileMode(path));
  if ((mode & forbidden) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s is accessible by group or others (mode %04o); run: chmod %s %s", path, mode, fix, path));
  }
  return absl::OkStatus();
}

// HKDF-SHA256(ikm, salt = "", info, L = 32): PRK = HMAC(zeros, ikm); OKM = HMAC(PRK, info || 0x01).
std::string LegacyDerivation(std::string_view ikm) {
  std::string prk = crypto::HmacSha256(std::string(32, '\0'), ikm);
  std::string okm = crypto::HmacSha256(prk, std::string("edgevault/audit-correlation/v1") + '\x01');
  OPENSSL_cleanse(prk.data(), prk.size());
  return okm;
}

}  // namespace

std::string CorrelationKeyPath(const std::string& keys_dir) {
  return base::StrCat(keys_dir, "/auth/audit-correlation.key");
}

absl::StatusOr<std::string> LoadOrCreateCorrelationKey(base::Env* env, const std::string& keys_dir) {
  const std::string dir = base::StrCat(keys_dir, "/auth");
  const std::string path = CorrelationKeyPath(keys_dir);
  if (env->Exists(path)) {
    EV_RETURN_IF_ERROR(CheckPrivate(env, dir, 077, "700"));
    EV_RETURN_IF_ERROR(CheckPrivate(env, path, 077, "600"));
    EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
    absl::StatusOr<std::string> key = ParseKeyFile(path, text);
    OPENSSL_cleanse(text.data(), text.size());
    return key;
  }
  std::string key;
  const std::string legacy = base::StrCat(keys_dir, "/internal.key");
  if (env->Exists(legacy)) {
    EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(legacy));
    absl::StatusOr<std::string> ikm = ParseKeyFile(legacy, text);
    OPENSSL_cleanse(text.data(), text.size());
    EV_RETURN_IF_ERROR(ikm.status());
    key = LegacyDerivation(*ikm);
    OPENSSL_cleanse(ikm->data(), ikm->size());
  } else {
    EV_ASSIGN_OR_RETURN(key, base::HexDecode(env->RandomHex(kKeyBytes)));
  }
  EV_RETURN_IF_ERROR(env->CreateDirs(dir, 0700));
  EV_RETURN_IF_ERROR(CheckPrivate(env, dir, 077, "700"));
  std::string text = base::HexEncode(key) + "\n";
  absl::Status st = env->WriteFileAtomically(path, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  EV_RETURN_IF_ERROR(st);
  return key;
}

}  // namespace edgevault::audit
