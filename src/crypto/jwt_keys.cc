#include "src/crypto/jwt_keys.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

constexpr std::string_view kSuffix = ".pem";

struct KeyFile {
  std::string name;  // file name inside the directory
  int64_t created_seconds;
  std::string kid;
};

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_';
}

// "<created-unix-seconds>-<kid>.pem", e.g. "1800000000-kPrK_qmx....pem".
bool ParseKeyFileName(const std::string& name, KeyFile* out) {
  std::string_view s = name;
  if (s.size() <= kSuffix.size() || s.substr(s.size() - kSuffix.size()) != kSuffix) return false;
  s.remove_suffix(kSuffix.size());
  size_t dash = s.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash > 18) return false;
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + dash, seconds);
  if (ec != std::errc() || end != s.data() + dash || seconds < 0) return false;
  std::string_view kid = s.substr(dash + 1);
  if (kid.empty() || !std::all_of(kid.begin(), kid.end(), IsBase64UrlChar)) return false;
  out->name = name;
  out->created_seconds = seconds;
  out->kid = std::string(kid);
  return true;
}

std::string OctalMode(uint32_t mode) { return absl::StrFormat("%04o", mode); }

// The key files of `dir`, oldest first; NotFound when there are none.
absl::StatusOr<std::vector<KeyFile>> ListKeyFiles(base::Env* env, const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = env->ListDir(dir);
  if (!names.ok() && names.status().code() != absl::StatusCode::kNotFound) {
    return names.status();
  }
  std::vector<KeyFile> files;
  if (names.ok()) {
    for (const std::string& n : *names) {
      KeyFile f;
      if (ParseKeyFileName(n, &f)) files.push_back(std::move(f));
    }
  }
  if (files.empty()) {
    return absl::NotFoundError(base::StrCat(
        "no JWT signing key in ", dir,
        "; run `edgevault up` once to initialise the data directory, or "
        "`edgevault keys rotate-signing` to add a key"));
  }
  std::sort(files.begin(), files.end(), [](const KeyFile& a, const KeyFile& b) {
    return a.created_seconds != b.created_seconds ? a.created_seconds < b.created_seconds
                                                  : a.name < b.name;
  });
  return files;
}

// published[i] is whether files[i] (oldest first) is still published at `now`.
std::vector<bool> PublishedMask(const std::vector<KeyFile>& files, absl::Time now,
                                absl::Duration retire_after) {
  std::vector<bool> published(files.size(), false);
  published.back() = true;
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    absl::Time successor_created = absl::FromUnixSeconds(files[i + 1].created_seconds);
    published[i] = now - successor_created < retire_after;
  }
  return published;
}

absl::StatusOr<Ed25519PrivateKey> LoadKeyFile(base::Env* env, const std::string& dir,
                                              const KeyFile& f) {
  std::string path = base::StrCat(dir, "/", f.name);
  EV_ASSIGN_OR_RETURN(uint32_t mode, env->FileMode(path));
  if ((mode & 077) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat("JWT signing key file ", path, " has mode ", OctalMode(mode),
                     ", which lets group or others access it; run `chmod 600 ", path, "`"));
  }
  EV_ASSIGN_OR_RETURN(std::string pem, env->ReadFile(path));
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::FromPem(pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        base::StrCat("JWT signing key file ", path, ": ", key.status().message()));
  }
  if (key->Kid() != f.kid) {
    return absl::InvalidArgumentError(base::StrCat(
        "JWT signing key file ", path, " is named for kid ", f.kid,
        " but holds the key with kid ", key->Kid(), "; restore the file or remove it"));
  }
  return key;
}

absl::Status CheckDirMode(base::Env* env, const std::string& dir) {
  absl::StatusOr<uint32_t> mode = env->FileMode(dir);
  if (!mode.ok()) return absl::OkStatus();  // ListKeyFiles reports the missing directory
  if ((*mode & 022) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat("JWT signing key directory ", dir, " has mode ", OctalMode(*mode),
                     ", which lets group or others add keys; run `chmod 700 ", dir, "`"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> AddSigningKey(base::Env* env, const std::string& dir) {
  // An Ed25519 private key is 32 uniformly random bytes (RFC 8032 §5.1.5); drawing them
  // from the Env keeps randomness behind base/ like every other key we generate.
  std::string seed(32, '\0');
  env->RandomBytes(seed.data(), seed.size());
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::FromRaw(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  if (!key.ok()) {
    return absl::InternalError(
        base::StrCat("Ed25519 key generation failed: ", key.status().message()));
  }
  EV_ASSIGN_OR_RETURN(std::string pem, key->ToPem());
  std::string kid = key->Kid();
  // The new key must sort after every existing one (it is the active key from now on),
  // even when two rotations fall in the same second or the clock stepped back.
  int64_t created = absl::ToUnixSeconds(env->Now());
  absl::StatusOr<std::vector<KeyFile>> existing = ListKeyFiles(env, dir);
  if (existing.ok()) created = std::max(created, existing->back().created_seconds + 1);
  std::string path = base::StrCat(dir, "/", created, "-", kid, kSuffix);
  absl::Status st = env->WriteFileAtomically(path, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  EV_RETURN_IF_ERROR(st);
  return kid;
}

absl::StatusOr<SigningKeySet> LoadSigningKeys(base::Env* env, const std::string& dir,
                                              absl::Time now, absl::Duration retire_after) {
  EV_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(env, dir));
  EV_RETURN_IF_ERROR(CheckDirMode(env, dir));
  std::vector<bool> published = PublishedMask(files, now, retire_after);

  const KeyFile& newest = files.back();
  EV_ASSIGN_OR_RETURN(Ed25519PrivateKey active, LoadKeyFile(env, dir, newest));
  SigningKeySet set{SigningKey{newest.kid, active, absl::FromUnixSeconds(newest.created_seconds)},
                    {}};
  set.published.emplace_back(newest.kid, active.PublicKey());
  for (size_t i = files.size() - 1; i-- > 0;) {
    if (!published[i]) continue;
    EV_ASSIGN_OR_RETURN(Ed25519PrivateKey key, LoadKeyFile(env, dir, files[i]));
    set.published.emplace_back(files[i].kid, key.PublicKey());
  }
  return set;
}

absl::StatusOr<int> PruneRetiredSigningKeys(base::Env* env, const std::string& dir,
                                            absl::Time now, absl::Duration retire_after) {
  // Loading first means a broken set (bad mode, corrupt active key) is reported rather
  // than pruned around.
  EV_RETURN_IF_ERROR(LoadSigningKeys(env, dir, now, retire_after).status());
  EV_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(env, dir));
  std::vector<bool> published = PublishedMask(files, now, retire_after);
  int deleted = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (published[i]) continue;
    EV_RETURN_IF_ERROR(env->DeleteFile(base::StrCat(dir, "/", files[i].name)));
    ++deleted;
  }
  return deleted;
}

}  // namespace edgevault::crypto
