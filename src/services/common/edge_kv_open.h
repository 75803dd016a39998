#pragma once
// Opens the edge KV that config key kv.url names (docs/configuration.md): the embedded LMDB
// store under DATA_DIR/edge (the default), or a Redis server shared by the api and any number
// of delivery nodes. edgevault-api and edgevault-delivery both open their KV here, so they
// always agree on the store; delivery also subscribes here to Redis's invalidation channel.
// What is opened is a ManagedEdgeKv: the store plus its upkeep (a damaged or lost LMDB store
// is rebuilt by the api and reopened by delivery; docs/delivery.md, "A damaged or lost
// store") and its state, for /readyz and /metrics.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<services::ManagedEdgeKv> kv,
//                       services::OpenEdgeKv(ctx.config, /*read_only=*/true));
//   ctx.hooks.not_ready_reason = [k = kv.get()] { return k->NotReadyReason(); };
//   ... every poll tick: kv->Maintain();
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<services::EdgeKvWatch> watch,
//                       services::WatchEdgeKv(ctx.config, [svc] { svc->Notify(); }));
//
// Thread-safety: the functions may be called from any thread; a ManagedEdgeKv's EdgeKv
// methods and its state accessors from any number of threads, Maintain from one thread at a
// time.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/storage/edge_kv.h"

namespace edgevault::services {

// Written by the api (version 1, value {"format":1}) once every document and SDK-key
// binding it holds is in the KV; absent from a store that is new, rebuilt, or lost its data
// (Redis restarted without persistence, FLUSHALL, eviction; LMDB damaged or deleted).
// docs/design/edge-kv.md, "Populated marker".
inline constexpr std::string_view kPopulatedKey = "meta/populated";

// True when kv.url names a shared KV (Redis) rather than the embedded LMDB store.
bool EdgeKvIsShared(const base::Config& config);

// The state of the edge KV as its user sees it (readiness, /metrics).
enum class EdgeKvState {
  kOk,           // readable, and the populated marker is there
  kUnpopulated,  // readable, but the api has not (re)published everything yet
  kDamaged,      // LMDB: the file is damaged (delivery answers from memory meanwhile)
  kMissing,      // LMDB: no store at DATA_DIR/edge (yet)
  kUnavailable,  // cannot be read now (Redis down, an I/O error)
};
inline constexpr int kEdgeKvStates = 5;
std::string_view EdgeKvStateName(EdgeKvState state);  // "ok", "unpopulated", ...

// The store, and its upkeep.
//
// As an EdgeKv, errors change meaning in two ways. A damaged LMDB store (DataLoss below) is
// Unavailable: it is derived data the api rebuilds, and callers answer Unavailable from
// memory (fail-static). And for a reader (delivery), a key that is absent while the populated
// marker is absent too is Unavailable, not NotFound: a store that is new, rebuilt or emptied
// is being re-filled, and "unknown SDK key"/"no document" would be wrong until it is.
class ManagedEdgeKv : public storage::EdgeKv {
 public:
  ~ManagedEdgeKv() override;

  // Checks the store and acts on what it finds; returns the state it leaves.
  //  - LMDB, writer (the api): a store found damaged, or whose directory was deleted or
  //    holds other files, is moved aside (DATA_DIR/edge.damaged-<time>) and a fresh, empty
  //    one created in its place; its missing populated marker is the republisher's cue.
  //  - LMDB, reader (delivery): a store the api rebuilt is opened in place of the old one;
  //    when data.mdb changed, every page is walked now and then (at most once per
  //    max(5 s, 50 x the walk's duration)) to find damage no read has touched yet.
  //  - Both backends: whether the populated marker is there.
  // Cheap (a few syscalls and one read): call it every poll tick, from one thread.
  EdgeKvState Maintain();

  EdgeKvState state() const { return static_cast<EdgeKvState>(state_.load(std::memory_order_acquire)); }
  // Why the state is not kOk (empty when it is).
  std::string StateDetail() const;
  // Empty while the state is kOk; otherwise a sentence for /readyz.
  std::string NotReadyReason() const;
  // Appends the families edgevault_edge_kv_state (1 for the current state, per state),
  // edgevault_edge_kv_damage_detected_total and edgevault_edge_kv_reopened_total.
  void AppendMetrics(std::string_view service, std::string* out) const;

  // storage::EdgeKv.
  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override;
  absl::StatusOr<std::vector<bool>> PutManyIfNewer(
      const std::vector<storage::KvWrite>& writes) override;
  absl::StatusOr<storage::KvEntry> Get(std::string_view key) override;
  absl::StatusOr<int64_t> GetVersion(std::string_view key) override;
  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override;
  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix, int limit) override;

 protected:
  explicit ManagedEdgeKv(bool read_only) : read_only_(read_only) {}
  // The store to use now (may be null: no store open). Lock-free; what it returns stays
  // valid for the life of this object.
  virtual storage::EdgeKv* Current() const = 0;
  // The backend's upkeep: returns the state apart from the marker (kOk when readable).
  virtual EdgeKvState Upkeep(std::string* detail) = 0;
  // Why Current() is null.
  virtual absl::Status NoStore() const = 0;

  void CountDamage() { damage_detected_.fetch_add(1, std::memory_order_relaxed); }
  void CountReopen() { reopened_.fetch_add(1, std::memory_order_relaxed); }

 private:
  absl::Status Translate(absl::Status status) const;
  // A NotFound of a reader: Unavailable while the populated marker is absent too.
  absl::Status AbsentOrUnpopulated(storage::EdgeKv& kv, absl::Status not_found) const;
  void SetState(EdgeKvState state, std::string detail);

  const bool read_only_;
  std::atomic<int> state_{static_cast<int>(EdgeKvState::kMissing)};
  mutable std::mutex detail_mu_;
  std::string detail_;       // guarded by detail_mu_
  bool state_set_ = false;   // guarded by detail_mu_: Maintain has run
  std::atomic<uint64_t> damage_detected_{0};
  std::atomic<uint64_t> reopened_{0};
};

// Opens the KV of config.kv_url.
//  - LMDB: DATA_DIR/edge. The writer (the api) creates it; a damaged one found here is moved
//    aside and replaced by a fresh one at once (the republisher then re-fills it). A reader
//    (delivery) opens it with MDB_RDONLY, waiting up to 60 s (polling every 100 ms) for the
//    api to create it, since `edgevault up` starts both at once; a store still missing
//    after that, or damaged, is not an error: delivery starts, says so in /readyz, and
//    Maintain opens the store once the api has (re)built it.
//  - Redis: connects (and loads the scripts) once, so a wrong address or password fails
//    start-up.
// Errors: InvalidArgument (kv.url does not parse; the message names the key), the backends'
// open errors: Unavailable (Redis unreachable), PermissionDenied (Redis AUTH refused; the
// LMDB directory not writable), Internal.
absl::StatusOr<std::unique_ptr<ManagedEdgeKv>> OpenEdgeKv(const base::Config& config, bool read_only,
                                                         base::Env* env = nullptr);

// A running subscription to the KV's change notifications; stops when destroyed.
class EdgeKvWatch {
 public:
  virtual ~EdgeKvWatch() = default;
};

// Calls `on_change` (on the watch's own thread, one call at a time) whenever the KV may have
// changed under the caller: for Redis, on every invalidation message and after every
// (re)subscription (messages sent while disconnected are lost, so the owner re-checks
// everything then). For LMDB there is nothing to subscribe to — the api's signed
// POST /internal/v1/changed and delivery's own polling do this job — and it returns nullptr.
// Errors: InvalidArgument (kv.url does not parse, on_change empty), Internal (no thread
// could be started).
// Connection failures are not errors: the watch keeps reconnecting (backoff 50 ms to 2 s).
absl::StatusOr<std::unique_ptr<EdgeKvWatch>> WatchEdgeKv(const base::Config& config,
                                                         std::function<void()> on_change);

}  // namespace edgevault::services
