#pragma once
// `edgevault keys rotate-signing`: adds a new JWT signing key to the data directory's
// keys/jwt-signing/ set and prunes keys that are no longer published. Running services
// pick the new key up when they next reload the directory. Spec: docs/design/jwt.md.
// Thread-safety: called once, from main(); does not take the data-directory lock, so it
// may run while `edgevault up` does.

#include <string>
#include <vector>

#include "src/base/env.h"
#include "src/base/status.h"

namespace edgevault::cli {

struct KeysRotateOptions {
  std::string data_dir = "./edgevault-data";
};

struct RotateSigningResult {
  std::string new_kid;
  std::vector<std::string> published;  // newest (the new key) first
  int pruned = 0;
};

// Adds a key to `keys_dir`/jwt-signing (creating that directory, 0700, when absent), then
// prunes keys retired at env->Now() with crypto::kDefaultSigningKeyRetireAfter.
// Errors: from crypto::AddSigningKey / LoadSigningKeys / PruneRetiredSigningKeys
// (PermissionDenied naming a key file or directory that is too open, InvalidArgument
// naming a corrupt key file, Env errors).
absl::StatusOr<RotateSigningResult> RotateSigningKey(base::Env* env, const std::string& keys_dir);

// The command: reads DATA_DIR/edgevault.toml for the keys directory, rotates, prints
// the new kid and the published set. Returns the exit code: 0, 2 for bad configuration
// (including an uninitialised data directory), 1 for other failures.
int RunKeysRotateSigning(const KeysRotateOptions& options);

}  // namespace edgevault::cli
