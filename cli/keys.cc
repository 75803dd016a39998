#include "cli/keys.h"

#include "src/net/signing.h"

#include <cstdio>

#include "cli/data_dir.h"
#include "src/base/config.h"
#include "src/base/strings.h"
#include "src/crypto/document_signer.h"

namespace edgevault::cli {
namespace {

int Fail(std::string_view command, int code, std::string_view what, const absl::Status& st) {
  std::fprintf(stderr, "edgevault keys %.*s: %.*s: %.*s\n", static_cast<int>(command.size()),
               command.data(), static_cast<int>(what.size()), what.data(),
               static_cast<int>(st.message().size()), st.message().data());
  return code;
}

std::string SigningDir(const std::string& keys_dir) {
  return base::StrCat(keys_dir, "/", kJwtSigningDir);
}

// The keys directory and the signing-key policy auth runs with, from the data directory's
// configuration; an exit code (2) when it cannot be read.
struct Setup {
  std::string keys_dir;
  crypto::SigningKeyPolicy policy;
};
int LoadSetup(std::string_view command, base::Env* env, const std::string& data_dir, Setup* out) {
  absl::StatusOr<base::Config> config = LoadDataDirConfig(env, DataDirLayout::For(data_dir));
  if (absl::IsFailedPrecondition(config.status())) {
    return Fail(command, 2, "data directory not initialised", config.status());
  }
  if (!config.ok()) return Fail(command, 2, "invalid configuration", config.status());
  out->keys_dir = config->keys_dir;
  out->policy.retire_after = config->auth_settings.token_ttl + absl::Minutes(1);
  out->policy.settle = config->auth_settings.signing_key_settle;
  return 0;
}

void PrintPublished(const std::string& active, const std::vector<std::string>& published,
                    std::string_view previous = "published until tokens it signed have expired") {
  std::printf("published in the JWKS:\n");
  bool newer = true;
  for (const std::string& kid : published) {
    if (kid == active) newer = false;
    std::printf("  %s%s\n", kid.c_str(),
                kid == active ? "  (signing)"
                : newer       ? "  (settling: signs once verifiers have it)"
                              : base::StrCat("  (previous: ", previous, ")").c_str());
  }
}

}  // namespace

absl::StatusOr<RotateSigningResult> RotateSigningKey(base::Env* env, const std::string& keys_dir,
                                                     const crypto::SigningKeyPolicy& policy,
                                                     std::string_view subdir) {
  const std::string dir = base::StrCat(keys_dir, "/", subdir);
  // Only create: CreateDirs would also chmod an existing directory, silently "fixing" a
  // mode that LoadSigningKeys should report.
  if (!env->Exists(dir)) EV_RETURN_IF_ERROR(env->CreateDirs(dir, 0700));
  RotateSigningResult result;
  EV_ASSIGN_OR_RETURN(result.new_kid, crypto::AddSigningKey(env, dir));
  const absl::Time now = env->Now();
  EV_ASSIGN_OR_RETURN(result.pruned, crypto::PruneRetiredSigningKeys(env, dir, now, policy));
  EV_ASSIGN_OR_RETURN(crypto::SigningKeySet set, crypto::LoadSigningKeys(env, dir, now, policy));
  result.active = set.active.kid;
  for (const auto& [kid, key] : set.published) result.published.push_back(kid);
  return result;
}

absl::StatusOr<RevokeSigningResult> RevokeSigningKey(base::Env* env, const std::string& keys_dir,
                                                     std::string_view kid,
                                                     const crypto::SigningKeyPolicy& policy) {
  const std::string dir = SigningDir(keys_dir);
  const absl::Time now = env->Now();
  RevokeSigningResult result;
  // A broken set must not stand in the way of a revocation: pruning and reading the
  // current signer are best effort.
  result.pruned = crypto::PruneRetiredSigningKeys(env, dir, now, policy).value_or(0);
  absl::StatusOr<crypto::SigningKeySet> before = crypto::LoadSigningKeys(env, dir, now, policy);
  const bool was_signing = before.ok() && before->active.kid == kid;
  EV_ASSIGN_OR_RETURN(result.revoked, crypto::RevokeSigningKey(env, dir, kid, now));
  absl::StatusOr<crypto::SigningKeySet> after = crypto::LoadSigningKeys(env, dir, now, policy);
  if (was_signing || absl::IsNotFound(after.status())) {
    EV_ASSIGN_OR_RETURN(result.replacement, crypto::AddSigningKey(env, dir));
    after = crypto::LoadSigningKeys(env, dir, now, policy);
  }
  EV_RETURN_IF_ERROR(after.status());
  result.active = after->active.kid;
  for (const auto& [k, key] : after->published) result.published.push_back(k);
  return result;
}

int RunKeysRotateSigning(const KeysRotateOptions& options) {
  base::Env* env = base::Env::Default();
  Setup setup;
  if (int rc = LoadSetup("rotate-signing", env, options.data_dir, &setup); rc != 0) return rc;
  absl::StatusOr<RotateSigningResult> r = RotateSigningKey(env, setup.keys_dir, setup.policy);
  if (!r.ok()) return Fail("rotate-signing", 1, "rotation failed", r.status());
  std::printf("new JWT signing key: %s (published now; auth signs with it %s)\n",
              r->new_kid.c_str(),
              r->active == r->new_kid
                  ? "at once"
                  : base::StrCat("after ", absl::FormatDuration(setup.policy.settle),
                                 ", once every verifier has fetched it").c_str());
  PrintPublished(r->active, r->published);
  std::printf("retired keys deleted: %d\n", r->pruned);
  return 0;
}

int RunKeysRotateDocumentSigning(const KeysRotateOptions& options) {
  constexpr std::string_view kCommand = "rotate-document-signing";
  base::Env* env = base::Env::Default();
  Setup setup;
  if (int rc = LoadSetup(kCommand, env, options.data_dir, &setup); rc != 0) return rc;
  const crypto::SigningKeyPolicy policy{.retire_after = crypto::kDefaultDocumentSigningRetireAfter,
                                        .settle = crypto::kDefaultDocumentSigningSettle};
  absl::StatusOr<RotateSigningResult> r =
      RotateSigningKey(env, setup.keys_dir, policy, crypto::kDocumentSigningDir);
  if (!r.ok()) return Fail(kCommand, 1, "rotation failed", r.status());
  std::printf("new document-signing key: %s (published now at "
              "/.well-known/edgevault-document-keys.json; the api signs with it %s and then "
              "re-signs every document)\n",
              r->new_kid.c_str(),
              r->active == r->new_kid
                  ? "at once"
                  : base::StrCat("after ", absl::FormatDuration(policy.settle)).c_str());
  std::printf("pin the new key in every verifier (SDK, relay) before the old one is retired\n");
  PrintPublished(r->active, r->published, "published while the api re-signs every document");
  std::printf("retired keys deleted: %d\n", r->pruned);
  return 0;
}

int RunKeysInitServices(const KeysInitServicesOptions& options) {
  base::Env* env = base::Env::Default();
  const DataDirLayout layout = DataDirLayout::For(options.data_dir);
  std::string keys_dir = layout.keys_dir;
  std::string trust_dir = layout.root + "/trust";
  if (env->Exists(layout.config_file)) {
    absl::StatusOr<base::Config> config = LoadDataDirConfig(env, layout);
    if (!config.ok()) return Fail("init-services", 2, "invalid configuration", config.status());
    keys_dir = config->keys_dir;
    trust_dir = config->trust_dir;
  }
  if (absl::Status st = env->CreateDirs(keys_dir, 0700); !st.ok()) {
    return Fail("init-services", 1, "cannot create the keys directory", st);
  }
  absl::StatusOr<std::vector<std::string>> created = EnsureServiceCredentials(env, keys_dir, trust_dir);
  if (!created.ok()) return Fail("init-services", 1, "cannot create the credentials", created.status());
  for (const std::string& name : *created) {
    std::printf("created %s\n", net::ServiceCredentialPath(keys_dir, name).c_str());
  }
  std::printf("%zu credential(s) created; public keys published in %s\n", created->size(),
              trust_dir.c_str());
  return 0;
}

int RunKeysRevokeSigning(const KeysRevokeOptions& options) {
  base::Env* env = base::Env::Default();
  Setup setup;
  if (int rc = LoadSetup("revoke-signing", env, options.data_dir, &setup); rc != 0) return rc;
  absl::StatusOr<RevokeSigningResult> r =
      RevokeSigningKey(env, setup.keys_dir, options.kid, setup.policy);
  if (!r.ok()) return Fail("revoke-signing", 1, "revocation failed", r.status());
  if (r->revoked) {
    std::printf("revoked JWT signing key %s: auth stopped publishing it and signing with it; "
                "verifiers refuse its tokens within seconds\n", options.kid.c_str());
  } else {
    std::printf("JWT signing key %s was already revoked\n", options.kid.c_str());
  }
  if (!r->replacement.empty()) {
    std::printf("new JWT signing key: %s (%s)\n", r->replacement.c_str(),
                r->active == r->replacement ? "signing at once: no other key may"
                                            : "signs once it has settled");
  }
  PrintPublished(r->active, r->published);
  std::printf("retired keys deleted: %d\n", r->pruned);
  return 0;
}

}  // namespace edgevault::cli
