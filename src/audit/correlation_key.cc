#include "src/audit/correlation_key.h"

#include <openssl/crypto.h>

#include "src/base/key_file.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::audit {
namespace {

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
  auto initial = [env, keys_dir]() -> absl::StatusOr<std::string> {
    // An install from before per-service credentials: keep its correlation values.
    if (!env->Exists(base::StrCat(keys_dir, "/internal.key"))) return base::RandomKey(env)();
    EV_ASSIGN_OR_RETURN(std::string ikm, base::LoadOrCreateKeyFile(env, keys_dir, "internal.key",
                                                                   "legacy internal key", nullptr));
    std::string key = LegacyDerivation(ikm);
    OPENSSL_cleanse(ikm.data(), ikm.size());
    return key;
  };
  return base::LoadOrCreateKeyFile(env, base::StrCat(keys_dir, "/auth"), "audit-correlation.key",
                                   "audit correlation key", initial);
}

}  // namespace edgevault::audit
