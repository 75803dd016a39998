#pragma once
// The data directory `edgevault up` runs on: its layout, first-run initialisation
// (configuration file and key files), the permission checks on later runs, and the
// lock that keeps a second `up` off a directory in use. Formats:
// docs/design/data-dir.md and docs/design/key-files.md.
// Thread-safety: functions are not meant to run concurrently on one directory
// (the lock below is what serialises processes).

#include <string>
#include <vector>

#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"

namespace edgevault::cli {

// Key files the first run creates, relative to the keys directory.
inline constexpr const char* kInitialKeyFiles[] = {"master.key", "internal.key"};
// Key files every start needs. The master keys are checked apart (crypto::LoadKeyring):
// they may come from elsewhere, and rotation retires master.key (docs/design/key-files.md).
inline constexpr const char* kKeyFiles[] = {"internal.key"};
// The JWT signing-key set (one PEM per key, docs/design/jwt.md), relative to the keys
// directory.
inline constexpr const char* kJwtSigningDir = "jwt-signing";

struct DataDirLayout {
  std::string root;         // absolute
  std::string config_file;  // root/edgevault.toml
  std::string keys_dir;     // root/keys (the default; config may name another)
  std::string run_dir;      // root/run: one <service>.pid per running child
  std::string lock_file;    // root/edgevault.lock

  // `dir` may be relative to the working directory.
  static DataDirLayout For(const std::string& dir);
};

// Creates the directory (0700), edgevault.toml for `port_base`, and keys/ (0700)
// holding fresh key files (0600) and keys/jwt-signing/ (0700) with one signing key,
// when edgevault.toml does not exist yet. Returns
// true when it initialised, false when the directory was already initialised.
// Errors: from the Env (naming the path), Internal when key generation fails.
absl::StatusOr<bool> InitDataDir(base::Env* env, const DataDirLayout& layout, int port_base);

// The configuration of an initialised data directory: its edgevault.toml with the
// process environment's EDGEVAULT_* overrides. Errors: FailedPrecondition when
// edgevault.toml does not exist (the message says to run `edgevault up` once);
// LoadConfig's errors for a bad file.
absl::StatusOr<base::Config> LoadDataDirConfig(base::Env* env, const DataDirLayout& layout);

// Checks that `keys_dir` holds every key file and a jwt-signing/ directory with at
// least one key, that no file is readable or writable by group or others, and that
// neither directory is open to them.
// Errors: NotFound naming a missing file or an empty/missing jwt-signing/;
// PermissionDenied naming the first file or directory whose mode is too open and the
// chmod that fixes it; InvalidArgument naming an unreadable signing key.
absl::Status CheckKeyFiles(base::Env* env, const std::string& keys_dir);

// An exclusive lock on layout.lock_file, held until destruction (flock(2), so it
// is released when the process dies however it dies).
class DataDirLock {
 public:
  // Errors: FailedPrecondition when another process holds it (the message names
  // the directory and that process's pid); Internal for I/O errors.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const DataDirLayout& layout);
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace edgevault::cli
