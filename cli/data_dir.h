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

// Key files the first run creates, relative to the keys directory. The master keys are
// checked apart (crypto::LoadKeyring): they may come from elsewhere, and rotation retires
// master.key (docs/design/key-files.md). The services' credentials are made by
// EnsureServiceCredentials.
inline constexpr const char* kInitialKeyFiles[] = {"master.key"};
// The shared HMAC key of releases before per-service credentials; `edgevault up` migrates
// it away (MigrateLegacyInternalKey).
inline constexpr const char* kLegacyInternalKeyFile = "internal.key";
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

// Gives every service (base::kServiceNames) its own Ed25519 credential: creates
// KEYS_DIR/services/ (0700) and a fresh KEYS_DIR/services/<name>.pem (0600) for each
// service that has none, and writes TRUST_DIR/<name>.pub (0644, directory 0755) whenever
// it is missing or does not match the private key. Returns the names of the services whose
// credential it created. Errors: the Env's, naming the path; InvalidArgument naming an
// existing credential that does not parse.
absl::StatusOr<std::vector<std::string>> EnsureServiceCredentials(base::Env* env,
                                                                  const std::string& keys_dir,
                                                                  const std::string& trust_dir);

// Retires the shared internal.key of older releases: derives auth's audit correlation key
// from it (so correlation values do not change) unless that key exists already, then
// deletes internal.key. Returns true when there was one. Errors: those of
// audit::LoadOrCreateCorrelationKey and of removing the file.
absl::StatusOr<bool> MigrateLegacyInternalKey(base::Env* env, const std::string& keys_dir);

// Checks that `keys_dir` holds every service's credential and a jwt-signing/ directory
// with at least one key, that `trust_dir` holds every service's public key, that no key
// file is readable or writable by group or others and no directory open to them.
// Errors: NotFound naming a missing file or an empty/missing jwt-signing/;
// PermissionDenied naming the first file or directory whose mode is too open and the
// chmod that fixes it; InvalidArgument naming an unreadable key.
absl::Status CheckKeyFiles(base::Env* env, const std::string& keys_dir, const std::string& trust_dir);

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
