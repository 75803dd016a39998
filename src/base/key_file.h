#pragma once
// Small private key files that one service reads and creates on its own first start: 32
// bytes as 64 hex characters (written lower-case) and an optional '\n' (the master.key format,
// docs/design/key-files.md), mode 0600 in a directory of mode 0700. Auth's audit
// correlation key and TOTP seal key are such files.
// Thread-safety: not meant to run concurrently on one file (each is loaded once at start).
//
//   EV_ASSIGN_OR_RETURN(std::string key, base::LoadOrCreateKeyFile(
//       env, keys_dir + "/auth", "totp-seal.key", "TOTP seal key", RandomKey(env)));

#include <functional>
#include <string>
#include <string_view>

#include "src/base/env.h"
#include "src/base/status.h"

namespace edgevault::base {

inline constexpr size_t kKeyFileBytes = 32;

// Makes the bytes of a key file that does not exist yet.
using InitialKey = std::function<absl::StatusOr<std::string>()>;
// 32 fresh random bytes from `env`.
InitialKey RandomKey(Env* env);

// The 32 raw bytes of `dir`/`name`. When the file is missing, creates `dir` (0700) and writes
// the file (0600, atomically) from `initial()` first; an existing file's directory is
// fsynced, so a returned key survives a power loss (docs/design/durability.md). The
// caller should wipe the result.
// Errors, each naming the path and `what`: PermissionDenied when the directory or the file
// lets group or others in (with the chmod that fixes it); InvalidArgument for content that
// is not 64 hex characters (never echoed); `initial`'s and the Env's errors.
absl::StatusOr<std::string> LoadOrCreateKeyFile(Env* env, const std::string& dir, std::string_view name,
                                                std::string_view what, const InitialKey& initial);

}  // namespace edgevault::base
