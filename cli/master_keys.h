#pragma once
// `edgevault keys rotate-master` and `edgevault keys retire-master ID`: master-key rotation
// on the data directory (runbook: docs/design/key-files.md). rotate-master adds a master key
// to DATA_DIR/keys, makes it active (master.active), then re-wraps every data key of every
// workspace under it, printing progress, while the api keeps serving: the api reloads its
// keys before each secret write and whenever a data key names a key it has not loaded.
// Interrupted, `rotate-master --resume` continues; retire-master deletes an old key file
// only once no data key in any workspace is wrapped under it.
// Thread-safety: called once, from main(). Runs beside a live `edgevault up` (SQLite
// transactions and compare-and-set updates make concurrent writers safe).

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/storage/workspace_store_provider.h"

namespace edgevault::cli {

struct RotateMasterOptions {
  std::string data_dir = "./edgevault-data";
  bool resume = false;  // do not add a key: finish re-wrapping under the active one
  // After the first pass, wait this long and pass again, until a pass finds nothing: a
  // write that began before master.active changed may still commit under the old key.
  absl::Duration settle = absl::Seconds(2);
  int batch = 200;
};

struct RetireMasterOptions {
  std::string data_dir = "./edgevault-data";
  std::string key_id;
};

// Adds master-<id>.key (0600, a fresh 256-bit key; id m<N+1> above every numeric m-id in
// use) to `keys_dir` and writes master.active = id, both atomically. Returns the new id.
// Errors: those of crypto::LoadKeyring for the directory as it is (the directory must
// load before it is changed); Env write errors.
absl::StatusOr<std::string> AddMasterKey(base::Env* env, const std::string& keys_dir);

// Data keys per master key id, summed over every workspace of `stores`.
absl::StatusOr<std::map<std::string, int64_t>> CountDataKeys(storage::WorkspaceStoreProvider& stores);

// The commands. Exit codes: 0 done; 1 failure (named); 2 bad configuration or usage
// (an uninitialised data directory, a master key that does not come from the keys
// directory, an unfinished rotation without --resume, retiring the active key).
int RunKeysRotateMaster(const RotateMasterOptions& options);
int RunKeysRetireMaster(const RetireMasterOptions& options);

}  // namespace edgevault::cli
