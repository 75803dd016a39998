#include "cli/keys.h"

#include <cstdio>

#include "cli/data_dir.h"
#include "src/base/config.h"
#include "src/base/strings.h"
#include "src/crypto/jwt_keys.h"

namespace edgevault::cli {
namespace {

int Fail(int code, std::string_view what, const absl::Status& st) {
  std::fprintf(stderr, "edgevault keys rotate-signing: %.*s: %.*s\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(st.message().size()),
               st.message().data());
  return code;
}

}  // namespace

absl::StatusOr<RotateSigningResult> RotateSigningKey(base::Env* env, const std::string& keys_dir) {
  const std::string dir = base::StrCat(keys_dir, "/", kJwtSigningDir);
  // Only create: CreateDirs would also chmod an existing directory, silently "fixing" a
  // mode that LoadSigningKeys should report.
  if (!env->Exists(dir)) EV_RETURN_IF_ERROR(env->CreateDirs(dir, 0700));
  RotateSigningResult result;
  EV_ASSIGN_OR_RETURN(result.new_kid, crypto::AddSigningKey(env, dir));
  const absl::Time now = env->Now();
  EV_ASSIGN_OR_RETURN(result.pruned, crypto::PruneRetiredSigningKeys(
                                         env, dir, now, crypto::kDefaultSigningKeyRetireAfter));
  EV_ASSIGN_OR_RETURN(crypto::SigningKeySet set,
                      crypto::LoadSigningKeys(env, dir, now, crypto::kDefaultSigningKeyRetireAfter));
  for (const auto& [kid, key] : set.published) result.published.push_back(kid);
  return result;
}

int RunKeysRotateSigning(const KeysRotateOptions& options) {
  base::Env* env = base::Env::Default();
  absl::StatusOr<base::Config> config =
      LoadDataDirConfig(env, DataDirLayout::For(options.data_dir));
  if (absl::IsFailedPrecondition(config.status())) {
    return Fail(2, "data directory not initialised", config.status());
  }
  if (!config.ok()) return Fail(2, "invalid configuration", config.status());

  absl::StatusOr<RotateSigningResult> r = RotateSigningKey(env, config->keys_dir);
  if (!r.ok()) return Fail(1, "rotation failed", r.status());

  std::printf("new JWT signing key: %s (active; services pick it up on their next reload)\n",
              r->new_kid.c_str());
  std::printf("published in the JWKS:\n");
  for (size_t i = 0; i < r->published.size(); ++i) {
    std::printf("  %s%s\n", r->published[i].c_str(),
                i == 0 ? "  (active)"
                       : "  (previous; published until tokens it signed have expired)");
  }
  std::printf("retired keys deleted: %d\n", r->pruned);
  return 0;
}

}  // namespace edgevault::cli
