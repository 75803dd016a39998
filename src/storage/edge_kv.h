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
// Keys used by EdgeVault (docs/design/resolved-document.md), built by the functions below:
//   doc/<workspace_id>/<environment>   the resolved document (JSON)
//   cdoc/<workspace_id>/<environment>  the client document: client-visible items only
//   sig/<workspace_id>/<environment>   the document's signature "<kid>.<sig>", same version
//   csig/<workspace_id>/<environment>  the client document's signature, same version
//   sdk/<sha256 hex of the SDK key>     {"org_id","workspace_id","environment"} (JSON)
//   meta/document-keys                 the document-signing public keys (JWKS)
//
// Thread-safety: all methods are safe to call concurrently, from any number of
// processes sharing the backend.
//
// Error codes: NotFound (no such key), InvalidArgument (empty key, key > 511 bytes,
// negative version, negative ListKeys limit), ResourceExhausted (the store is full: LMDB
// map size), FailedPrecondition (a write through a handle opened read-only),
// Unavailable (busy/unreachable), DataLoss (LMDB: the store's file is damaged; the store is
// then unusable, docs/design/edge-kv.md "Damage"), Internal.
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

// The key of an environment's resolved document, and of an SDK key's binding.
inline std::string EdgeKvDocumentKey(std::string_view workspace_id, std::string_view env) {
  std::string k;
  k.reserve(5 + workspace_id.size() + env.size());
  k.append("doc/").append(workspace_id).append("/").append(env);
  return k;
}
// The client document (client-visible items only) that client SDK keys read.
inline std::string EdgeKvClientDocumentKey(std::string_view workspace_id, std::string_view env) {
  std::string k;
  k.reserve(6 + workspace_id.size() + env.size());
  k.append("cdoc/").append(workspace_id).append("/").append(env);
  return k;
}
// The signature entry that goes with a document key (doc/… -> sig/…, cdoc/… -> csig/…),
// or "" when `document_key` is neither.
inline std::string EdgeKvSignatureKeyFor(std::string_view document_key) {
  if (document_key.substr(0, 4) == "doc/") return "sig/" + std::string(document_key.substr(4));
  if (document_key.substr(0, 5) == "cdoc/") return "csig/" + std::string(document_key.substr(5));
  return std::string();
}
// The document-signing public keys (JWKS JSON), resolved-document.md §8.
inline constexpr std::string_view kEdgeKvDocumentKeysKey = "meta/document-keys";
// {"format":1,"active":"<kid>"}: the key that signed (or is re-signing) every document;
// its version rises at each change, which tells readers to pick up re-signed entries.
inline constexpr std::string_view kEdgeKvDocumentSignerKey = "meta/document-signer";
inline std::string EdgeKvSdkKey(std::string_view key_hash) {
  std::string k;
  k.reserve(4 + key_hash.size());
  k.append("sdk/").append(key_hash);
  return k;
}

// The contract's key limit (LMDB's compile-time maximum); every backend enforces it.
inline constexpr size_t kMaxEdgeKvKeyBytes = 511;

// The argument checks every backend makes before touching its store: InvalidArgument for
// an empty key or one longer than kMaxEdgeKvKeyBytes, and for a negative version. The
// messages are built out of line: these checks run on every delivery read.
[[gnu::cold, gnu::noinline]] inline absl::Status BadEdgeKvKey(size_t size) {
  if (size == 0) return absl::InvalidArgumentError("edge KV key is empty");
  return absl::InvalidArgumentError("edge KV key is " + std::to_string(size) +
                                    " bytes; the limit is " + std::to_string(kMaxEdgeKvKeyBytes));
}
[[gnu::cold, gnu::noinline]] inline absl::Status BadEdgeKvVersion(int64_t version) {
  return absl::InvalidArgumentError("edge KV version is " + std::to_string(version) +
                                    "; versions are >= 0");
}
inline absl::Status ValidateEdgeKvKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxEdgeKvKeyBytes) return BadEdgeKvKey(key.size());
  return absl::OkStatus();
}
inline absl::Status ValidateEdgeKvVersion(int64_t version) {
  if (version < 0) return BadEdgeKvVersion(version);
  return absl::OkStatus();
}
// Both, for every write of a batch (PutManyIfNewer checks all before writing any).
inline absl::Status ValidateEdgeKvWrites(const std::vector<KvWrite>& writes) {
  for (const KvWrite& w : writes) {
    if (absl::Status st = ValidateEdgeKvKey(w.key); !st.ok()) return st;
    if (absl::Status st = ValidateEdgeKvVersion(w.version); !st.ok()) return st;
  }
  return absl::OkStatus();
}

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
    if (absl::Status st = ValidateEdgeKvWrites(writes); !st.ok()) return st;
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
