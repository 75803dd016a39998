#include "src/crypto/document_signer.h"

#include "src/base/log.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/jwks.h"

namespace edgevault::crypto {

absl::StatusOr<std::unique_ptr<DocumentSigner>> DocumentSigner::Open(DocumentSignerOptions options) {
  if (options.env == nullptr || options.dir.empty()) {
    return absl::InvalidArgumentError("DocumentSignerOptions needs env and dir");
  }
  base::Env* env = options.env;
  // Only create: CreateDirs would also chmod an existing directory, silently "fixing" a
  // mode that LoadSigningKeys should report.
  if (!env->Exists(options.dir)) EV_RETURN_IF_ERROR(env->CreateDirs(options.dir, 0700));
  SigningKeyPolicy policy{.retire_after = options.retire_after, .settle = options.settle};
  absl::StatusOr<SigningKeySet> first = LoadSigningKeys(env, options.dir, env->Now(), policy);
  if (absl::IsNotFound(first.status())) {
    EV_RETURN_IF_ERROR(AddSigningKey(env, options.dir).status());
    first = LoadSigningKeys(env, options.dir, env->Now(), policy);
  }
  EV_RETURN_IF_ERROR(first.status());
  std::unique_ptr<DocumentSigner> signer(new DocumentSigner(std::move(options)));
  signer->set_ = std::make_shared<const SigningKeySet>(*std::move(first));
  signer->loaded_at_ = env->Now();
  return signer;
}

absl::Status DocumentSigner::Reload() {
  const absl::Time now = options_.env->Now();
  absl::StatusOr<SigningKeySet> set =
      LoadSigningKeys(options_.env, options_.dir, now,
                      SigningKeyPolicy{.retire_after = options_.retire_after, .settle = options_.settle});
  std::lock_guard<std::mutex> lock(mu_);
  loaded_at_ = now;
  if (!set.ok()) return set.status();
  set_ = std::make_shared<const SigningKeySet>(*std::move(set));
  return absl::OkStatus();
}

std::shared_ptr<const SigningKeySet> DocumentSigner::Current() {
  bool due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    due = options_.env->Now() - loaded_at_ >= options_.reload_interval;
  }
  if (due) {
    if (absl::Status st = Reload(); !st.ok()) {
      EV_LOG(kError, "document-signing keys could not be read again; the keys loaded before stay in use",
             {{"dir", options_.dir}, {"error", st.ToString()}});
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  return set_;
}

std::string DocumentSigner::Sign(std::string_view document) {
  std::shared_ptr<const SigningKeySet> set = Current();
  return FormatStoredDocumentSignature(
      {set->active.kid, set->active.key.Sign(DocumentSigningInput(document))});
}

std::string DocumentSigner::ActiveKid() { return Current()->active.kid; }

std::string DocumentSigner::Jwks() { return JwksJson(Current()->published); }

}  // namespace edgevault::crypto
