#pragma once
// Master-key rotation's re-wrap step (docs/design/key-files.md): moves every data key of a
// workspace that is not under the keyring's active master key to it, a batch of rows per
// transaction. Envelopes in items and revisions are never touched (they name their data
// key by id), so the append-only history stays append-only. Resumable by construction: a
// row is selected by the key it is under, and each replacement is a compare-and-set, so a
// second run (or a concurrent one) continues where the first stopped and never re-wraps a
// row twice.
// Thread-safety: stateless; safe to run concurrently with the api's writes and reads and
// with other re-wraps of the same store (another process included).
//
//   EV_ASSIGN_OR_RETURN(workspace::RewrapStats s,
//       workspace::RewrapDataKeys(*store, "ws_123", keyring, env, {.batch = 200}));

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/crypto/keyring.h"
#include "src/storage/workspace_store.h"

namespace edgevault::workspace {

struct RewrapOptions {
  int batch = 200;  // rows per transaction, 1..1000
  // After each batch: rows re-wrapped so far by this call, and how many rows were not
  // under the active key when it started (a rough total: writes may add or finish some).
  std::function<void(int64_t done, int64_t total)> progress;
};

struct RewrapStats {
  int64_t rewrapped = 0;                 // rows this call moved to the active key
  std::map<std::string, int64_t> after;  // data keys per master key id when it finished
};

// Re-wraps the data keys of `store` (the workspace `workspace_id`) not under
// keyring.active_id(). Errors: FailedPrecondition when the keyring is empty, or when a row
// names a master key that is not loaded (the message names it); DataLoss when a row does
// not authenticate (names the data key id; nothing after it is re-wrapped, everything
// before it stays re-wrapped); InvalidArgument for a bad batch size; the store's errors.
absl::StatusOr<RewrapStats> RewrapDataKeys(storage::WorkspaceStore& store,
                                           std::string_view workspace_id,
                                           const crypto::Keyring& keyring, base::Env* env,
                                           const RewrapOptions& options);

}  // namespace edgevault::workspace
