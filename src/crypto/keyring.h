#pragma once
// The master keys (master KEKs) the api holds, by key id, and where they come from: the keys
// directory (`master.key`, `master-<id>.key`, `master.active`; docs/design/key-files.md), one
// key file, or an environment variable holding the hex key. Key bytes live only in
// SecureBuffers and never appear in errors or logs.
// Thread-safety: a Keyring is a plain value; const methods may run concurrently, mutation
// needs external synchronisation (load a new Keyring and swap a shared_ptr<const Keyring>).
//
//   EV_ASSIGN_OR_RETURN(crypto::Keyring keyring,
//                       crypto::LoadKeyring(env, crypto::KeyringSource::Directory(keys_dir)));
//   EV_ASSIGN_OR_RETURN(std::string sealed, crypto::Seal(keyring, context, value, env));

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/crypto/aead.h"

namespace edgevault::crypto {

inline constexpr size_t kMasterKeySize = 32;
inline constexpr size_t kMaxMasterKeyIdSize = 8;
// The id `master.key` (and a single file or environment variable) is loaded under.
inline constexpr std::string_view kDefaultMasterKeyId = "m1";

// True for 1 to 8 characters of [a-z0-9_-]: the ids an envelope can name.
bool IsValidMasterKeyId(std::string_view id);

// Parses the key-file format: 64 hex characters (either case) and an optional trailing '\n'.
// Errors: InvalidArgument saying what shape was expected; the text is never echoed.
absl::StatusOr<SecureBuffer> ParseMasterKey(std::string_view text);

class Keyring {
 public:
  Keyring() = default;
  Keyring(Keyring&&) = default;
  Keyring& operator=(Keyring&&) = default;
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // Adds a 32-byte master key under `id`. The first key added becomes the active one.
  // Errors: InvalidArgument (bad id, key not 32 bytes); AlreadyExists (id already loaded).
  absl::Status Add(std::string_view id, SecureBuffer key);
  // Makes `id` the key new envelopes (Seal, Rewrap) are sealed under. Errors: NotFound.
  absl::Status SetActive(std::string_view id);
  // Drops a key (after every envelope under it has been re-wrapped).
  // Errors: NotFound; FailedPrecondition when `id` is the active key.
  absl::Status Remove(std::string_view id);

  // The active key id; empty when no key is loaded.
  const std::string& active_id() const { return active_id_; }
  bool Contains(std::string_view id) const { return keys_.find(id) != keys_.end(); }
  // Loaded ids, sorted.
  std::vector<std::string> ids() const;
  bool empty() const { return keys_.empty(); }

  // The key bytes under `id`, or nullptr. For src/crypto only.
  const SecureBuffer* Find(std::string_view id) const;

 private:
  std::map<std::string, SecureBuffer, std::less<>> keys_;
  std::string active_id_;
};

// Where LoadKeyring finds the master keys.
struct KeyringSource {
  enum class Kind {
    kDirectory,            // `location` is the keys directory (DATA_DIR/keys)
    kFile,                 // `location` is one key file; loaded as `key_id`
    kEnvironmentVariable,  // `location` is a variable NAME looked up in `environment`
  };
  Kind kind = Kind::kDirectory;
  std::string location;
  std::string key_id = std::string(kDefaultMasterKeyId);
  // kEnvironmentVariable: the process environment as (name, value) pairs, as
  // base::ProcessEnvironment() returns it (main.cc) or a literal list (tests).
  std::vector<std::pair<std::string, std::string>> environment;

  static KeyringSource Directory(std::string dir);
  static KeyringSource File(std::string path,
                            std::string key_id = std::string(kDefaultMasterKeyId));
  static KeyringSource EnvironmentVariable(
      std::string name, std::vector<std::pair<std::string, std::string>> environment,
      std::string key_id = std::string(kDefaultMasterKeyId));
};

// The source the configuration names: keys.master_key_env, else keys.master_key_file, else
// the keys directory (docs/configuration.md).
KeyringSource MasterKeySource(const base::Config& config);

// Loads the keyring. File and directory sources refuse permissions for group or others, as
// every key file does. Errors (each naming the file or variable and what to do):
//   PermissionDenied: a key file, master.active or the directory grants group/others access
//     (or the OS refused to read it);
//   NotFound: the directory, file or variable does not exist, or the directory holds no
//     master key;
//   InvalidArgument: a key that is not 64 hex characters, a bad id in a file name or in
//     master.active, the same id twice;
//   FailedPrecondition: master.active names a key that is not there, or several keys and no
//     master.active;
//   Internal: other I/O errors.
absl::StatusOr<Keyring> LoadKeyring(base::Env* env, const KeyringSource& source);

// The api's keyring, reloadable while it runs (master-key rotation adds a key and changes
// master.active under a running api; docs/design/key-files.md). Readers take an immutable
// snapshot; Reload loads the source again and swaps the result in.
// Thread-safety: every method may be called concurrently.
class KeyringHolder {
 public:
  // Loads `source` once. Errors: those of LoadKeyring.
  static absl::StatusOr<std::unique_ptr<KeyringHolder>> Load(base::Env* env,
                                                             KeyringSource source);
  // A holder of a fixed keyring, with no source (tests, benchmarks): Reload keeps it.
  explicit KeyringHolder(Keyring keyring);

  std::shared_ptr<const Keyring> Get() const;
  // Loads the source again and swaps the result in. On error the current keyring stays
  // and LoadKeyring's error is returned.
  absl::Status Reload();

 private:
  KeyringHolder(base::Env* env, KeyringSource source, Keyring keyring);

  base::Env* env_ = nullptr;  // null: no source
  KeyringSource source_;
  mutable std::mutex mu_;
  std::shared_ptr<const Keyring> current_;
};

}  // namespace edgevault::crypto
