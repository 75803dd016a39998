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

// The revocation list: "<kid> <revoked-unix-seconds>" per line; blank lines and lines
// starting with '#' are comments.
absl::StatusOr<std::vector<std::string>> ParseRevocations(const std::string& path,
                                                          std::string_view text) {
  std::vector<std::string> kids;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    size_t space = line.find(' ');
    std::string_view kid = line.substr(0, space);
    std::string_view when = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(when.data(), when.data() + when.size(), seconds);
    if (kid.empty() || kid.size() > 128 || !std::all_of(kid.begin(), kid.end(), IsBase64UrlChar) ||
        when.empty() || ec != std::errc() || end != when.data() + when.size() || seconds < 0) {
      return absl::InvalidArgumentError(base::StrCat(
          "JWT signing key revocation list ", path, " line ", line_no,
          " is not \"<kid> <unix-seconds>\"; restore the file from a backup or fix the line"));
    }
    kids.emplace_back(kid);
  }
  return kids;
}

std::string RevocationsPath(const std::string& dir) {
  return base::StrCat(dir, "/", kRevokedSigningKeysFile);
}

absl::StatusOr<std::vector<std::string>> LoadRevocations(base::Env* env, const std::string& dir) {
  const std::string path = RevocationsPath(dir);
  absl::StatusOr<uint32_t> mode = env->FileMode(path);
  if (absl::IsNotFound(mode.status())) return std::vector<std::string>{};
  EV_RETURN_IF_ERROR(mode.status());
  if ((*mode & 077) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat("JWT signing key revocation list ", path, " has mode ", OctalMode(*mode),
                     ", which lets group or others access it; run `chmod 600 ", path, "`"));
  }
  EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  return ParseRevocations(path, text);
}

// The key files of a directory sorted into what is live and what each live key does.
struct KeyPlan {
  std::vector<KeyFile> live;      // not revoked, oldest first; never empty
  std::vector<KeyFile> revoked;   // files whose kid is on the revocation list
  std::vector<std::string> revoked_kids;
  size_t active = 0;              // index into live
  std::vector<bool> published;    // published[i]: live[i] is in the JWKS
};

absl::StatusOr<KeyPlan> PlanKeys(base::Env* env, const std::string& dir, absl::Time now,
                                 const SigningKeyPolicy& policy) {
  EV_ASSIGN_OR_RETURN(std::vector<KeyFile> files, ListKeyFiles(env, dir));
  KeyPlan plan;
  EV_ASSIGN_OR_RETURN(plan.revoked_kids, LoadRevocations(env, dir));
  for (KeyFile& f : files) {
    bool revoked = std::find(plan.revoked_kids.begin(), plan.revoked_kids.end(), f.kid) !=
                   plan.revoked_kids.end();
    (revoked ? plan.revoked : plan.live).push_back(std::move(f));
  }
  if (plan.live.empty()) {
    return absl::NotFoundError(base::StrCat(
        "every JWT signing key in ", dir,
        " is revoked; run `edgevault keys rotate-signing` to add a key"));
  }
  auto created = [](const KeyFile& f) { return absl::FromUnixSeconds(f.created_seconds); };
  // The newest settled key signs; with none settled, the oldest key, published longest
  // (a first key, a key rotated in right after it, or the replacement of a revoked key
  // when nothing else may sign).
  plan.active = 0;
  for (size_t i = plan.live.size(); i-- > 0;) {
    if (policy.settle <= absl::ZeroDuration() || created(plan.live[i]) + policy.settle <= now) {
      plan.active = i;
      break;
    }
  }
  plan.published.assign(plan.live.size(), true);
  for (size_t i = 0; i < plan.active; ++i) {
    // Retired once its successor has been signing for retire_after.
    absl::Time successor_signs_from = created(plan.live[i + 1]) + policy.settle;
    plan.published[i] = now - successor_signs_from < policy.retire_after;
  }
  return plan;
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
                                              absl::Time now, const SigningKeyPolicy& policy) {
  EV_ASSIGN_OR_RETURN(KeyPlan plan, PlanKeys(env, dir, now, policy));
  EV_RETURN_IF_ERROR(CheckDirMode(env, dir));
  const KeyFile& active_file = plan.live[plan.active];
  EV_ASSIGN_OR_RETURN(Ed25519PrivateKey active, LoadKeyFile(env, dir, active_file));
  SigningKeySet set{
      SigningKey{active_file.kid, active, absl::FromUnixSeconds(active_file.created_seconds)}, {},
      plan.revoked_kids};
  for (size_t i = plan.live.size(); i-- > 0;) {
    if (!plan.published[i]) continue;
    if (i == plan.active) {
      set.published.emplace_back(active_file.kid, active.PublicKey());
      continue;
    }
    EV_ASSIGN_OR_RETURN(Ed25519PrivateKey key, LoadKeyFile(env, dir, plan.live[i]));
    set.published.emplace_back(plan.live[i].kid, key.PublicKey());
  }
  return set;
}

absl::StatusOr<SigningKeySet> LoadSigningKeys(base::Env* env, const std::string& dir,
                                              absl::Time now, absl::Duration retire_after) {
  return LoadSigningKeys(env, dir, now, SigningKeyPolicy{retire_after, absl::ZeroDuration()});
}

absl::StatusOr<int> PruneRetiredSigningKeys(base::Env* env, const std::string& dir,
                                            absl::Time now, const SigningKeyPolicy& policy) {
  // Loading first means a broken set (bad mode, corrupt active key) is reported rather
  // than pruned around.
  EV_RETURN_IF_ERROR(LoadSigningKeys(env, dir, now, policy).status());
  EV_ASSIGN_OR_RETURN(KeyPlan plan, PlanKeys(env, dir, now, policy));
  std::vector<const KeyFile*> doomed;
  for (const KeyFile& f : plan.revoked) doomed.push_back(&f);
  for (size_t i = 0; i < plan.live.size(); ++i) {
    if (!plan.published[i]) doomed.push_back(&plan.live[i]);
  }
  for (const KeyFile* f : doomed) {
    EV_RETURN_IF_ERROR(env->DeleteFile(base::StrCat(dir, "/", f->name)));
  }
  return static_cast<int>(doomed.size());
}

absl::StatusOr<int> PruneRetiredSigningKeys(base::Env* env, const std::string& dir,
                                            absl::Time now, absl::Duration retire_after) {
  return PruneRetiredSigningKeys(env, dir, now, SigningKeyPolicy{retire_after, absl::ZeroDuration()});
}

absl::StatusOr<std::string> ReadSigningKeyRevocations(base::Env* env, const std::string& dir) {
  absl::StatusOr<std::string> text = env->ReadFile(RevocationsPath(dir));
  if (absl::IsNotFound(text.status())) return std::string();
  return text;
}

absl::StatusOr<bool> RevokeSigningKey(base::Env* env, const std::string& dir,
                                      std::string_view kid, absl::Time now) {
  if (kid.empty() || kid.size() > 128 || !std::all_of(kid.begin(), kid.end(), IsBase64UrlChar)) {
    return absl::InvalidArgumentError(base::StrCat(
        "\"", kid, "\" is not a key id (43 characters of A-Z a-z 0-9 - _, as the JWKS shows)"));
  }
  EV_ASSIGN_OR_RETURN(std::vector<std::string> revoked, LoadRevocations(env, dir));
  absl::StatusOr<std::vector<KeyFile>> files = ListKeyFiles(env, dir);
  std::vector<KeyFile> all = files.ok() ? *std::move(files) : std::vector<KeyFile>{};
  bool already = std::find(revoked.begin(), revoked.end(), kid) != revoked.end();
  const KeyFile* file = nullptr;
  for (const KeyFile& f : all) {
    if (f.kid == kid) file = &f;
  }
  if (!already) {
    if (file == nullptr) {
      std::string known;
      for (const KeyFile& f : all) base::StrAppend(&known, known.empty() ? "" : ", ", f.kid);
      return absl::NotFoundError(base::StrCat("no JWT signing key with kid ", kid, " in ", dir,
                                              known.empty() ? "" : "; the keys there are ",
                                              known));
    }
    EV_ASSIGN_OR_RETURN(std::string text, ReadSigningKeyRevocations(env, dir));
    if (text.empty()) {
      text = "# Revoked JWT signing keys: never published, never used to sign "
             "(docs/design/jwt.md).\n# <kid> <revoked-unix-seconds>\n";
    } else if (text.back() != '\n') {
      text += '\n';
    }
    base::StrAppend(&text, kid, " ", absl::ToUnixSeconds(now), "\n");
    // The list first: once it is written the key is dead even if the delete below fails.
    EV_RETURN_IF_ERROR(env->WriteFileAtomically(RevocationsPath(dir), text, 0600));
  }
  if (file != nullptr) EV_RETURN_IF_ERROR(env->DeleteFile(base::StrCat(dir, "/", file->name)));
  return !already;
}
}  // namespace edgevault::crypto
