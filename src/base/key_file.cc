#include "src/base/key_file.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"

namespace edgevault::base {
namespace {

void Wipe(std::string& s) {
  // volatile: the stores must happen although the string is about to go.
  volatile char* p = s.data();
  for (size_t i = 0; i < s.size(); ++i) p[i] = 0;
}

absl::Status RequirePrivate(Env* env, const std::string& path, std::string_view what,
                            std::string_view chmod) {
  EV_ASSIGN_OR_RETURN(uint32_t mode, env->FileMode(path));
  if ((mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s %s is accessible by group or others (mode %04o); run: chmod %s %s", std::string(what),
        path, mode, std::string(chmod), path));
  }
  return absl::OkStatus();
}

}  // namespace

InitialKey RandomKey(Env* env) {
  return [env]() -> absl::StatusOr<std::string> { return HexDecode(env->RandomHex(kKeyFileBytes)); };
}

absl::StatusOr<std::string> LoadOrCreateKeyFile(Env* env, const std::string& dir, std::string_view name,
                                                std::string_view what, const InitialKey& initial) {
  const std::string path = StrCat(dir, "/", name);
  // An existing directory is checked, never re-moded: a too open one is the operator's to fix.
  if (!env->Exists(dir)) EV_RETURN_IF_ERROR(env->CreateDirs(dir, 0700));
  EV_RETURN_IF_ERROR(RequirePrivate(env, dir, StrCat(what, " directory"), "700"));
  if (!env->Exists(path)) {
    EV_ASSIGN_OR_RETURN(std::string key, initial());
    if (key.size() != kKeyFileBytes) {
      Wipe(key);
      return absl::InternalError(StrCat("a new ", what, " must be 32 bytes"));
    }
    std::string text = HexEncode(key) + "\n";
    Wipe(key);
    absl::Status written = env->WriteFileAtomically(path, text, 0600);
    Wipe(text);
    EV_RETURN_IF_ERROR(written);
  } else {
    // The file may come from an earlier attempt whose directory fsync failed or never
    // ran (a crash right after the rename): make its name durable before anything is
    // sealed under this key, so a power loss cannot swap it for a new one.
    EV_RETURN_IF_ERROR(env->SyncDir(dir));
  }
  EV_RETURN_IF_ERROR(RequirePrivate(env, path, StrCat(what, " file"), "600"));
  EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  std::string_view hex = text;
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  const bool is_hex = hex.size() == 2 * kKeyFileBytes &&
                         std::all_of(hex.begin(), hex.end(), [](char c) {
                           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
                         });
  absl::StatusOr<std::string> key = is_hex ? HexDecode(hex) : absl::InvalidArgumentError("");
  Wipe(text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(StrCat(
        what, " file ", path, " does not hold 64 hex characters; restore it from your backup"));
  }
  return key;
}

}  // namespace edgevault::base
