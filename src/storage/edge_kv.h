#pragma once
// The edge KV (DESIGN.md §2, §4, §5): where the api writes each environment's
// pre-resolved document and the SDK-key → environment lookup, and where delivery reads
// them. Every value carries a version; a write never replaces a newer version with an
// older one, so out-of-order or repeated propagation is harmless.
//
// Backends: lmdb/ (embedded default: one writer process — the api — and any number of
// reader processes — delivery) and redis/ (many nodes; pub/sub invalidation). Every backend passes
// edge_kv_conformance.h.
//
// Keys used by EdgeVault (docs/design/resolved-document.md):
//   doc/<workspace_id>/<environment>   the resolved document (JSON)
//   sdk/<sha256 hex of the SDK key>     {"org_id","workspace_id","environment"} (JSON)
//
// Thread-safety: all methods are safe to call concurrently, from any number of
// processes sharing the backend.
//
// Error codes: NotFound (no such key), InvalidArgument (empty key, key > 511 bytes,
// negative version, negative ListKeys limit), ResourceExhausted (the store is full: LMDB
// map size), FailedPrecondition (a write through a handle opened read-only),
// Unavailable (busy/unreachable), Internal.
//
//   auto kv = storage::OpenLmdbEdgeKv({.path = data_dir + "/edge"});
//   EV_ASSIGN_OR_RETURN(bool written, (*kv)->PutIfNewer("doc/ws_1/prod", doc, 42));
//   EV_ASSIGN_OR_RETURN(storage::KvEntry e, (*kv)->Get("doc/ws_1/prod"));

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::storage {

struct KvEntry {
  std::string value;
  int64_t version = 0;
};

// One write of PutManyIfNewer (views: the caller keeps the bytes alive for the call).
struct KvWrite {
  std::string_view key;
  std::string_view value;
  int64_t version = 0;
};

class EdgeKv {
 public:
  virtual ~EdgeKv() = default;

  // Stores (value, version) unless the key already holds a version >= `version`.
  // Returns true when written, false when the stored version was newer or equal (the
  // stored entry is then unchanged).
  virtual absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                          int64_t version) = 0;

  virtual absl::StatusOr<KvEntry> Get(std::string_view key) = 0;

  // Only the version (cheap freshness checks by delivery). NotFound when absent.
  virtual absl::StatusOr<int64_t> GetVersion(std::string_view key) = 0;

  // Removes the key when its stored version <= `version` (a tombstone is not kept;
  // deleting an environment is rare). Returns true when removed. NotFound when absent.
  virtual absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) = 0;

  // Keys starting with `prefix`, ascending, at most `limit`.
  virtual absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix,
                                                            int limit) = 0;

  // PutIfNewer for each write, in order (propagation: every environment of a workspace
  // at once); returns, per write, whether it was written. Every key and version is
  // checked before anything is written (InvalidArgument). A backend may apply the batch
  // in one transaction (LMDB: one commit, one fsync); this default calls PutIfNewer one
  // by one, so after another error an earlier write may have happened — harmless, since
  // repeating a version-checked write changes nothing. Errors: PutIfNewer's.
  virtual absl::StatusOr<std::vector<bool>> PutManyIfNewer(const std::vector<KvWrite>& writes) {
    for (const KvWrite& w : writes) {
      if (w.key.empty() || w.key.size() > 511) {
        return absl::InvalidArgumentError("edge KV key must be 1 to 511 bytes");
      }
      if (w.version < 0) return absl::InvalidArgumentError("edge KV version must be >= 0");
    }
    std::vector<bool> written;
    written.reserve(writes.size());
    for (const KvWrite& w : writes) {
      absl::StatusOr<bool> one = PutIfNewer(w.key, w.value, w.version);
      if (!one.ok()) return one.status();
      written.push_back(*one);
    }
    return written;
  }
};

}  // namespace edgevault::storage
