#pragma once
// Opens the edge KV that config key kv.url names (docs/configuration.md): the embedded LMDB
// store under DATA_DIR/edge (the default), or a Redis server shared by the api and any number
// of delivery nodes. edgevault-api and edgevault-delivery both open their KV here, so they
// always agree on the store; delivery also subscribes here to Redis's invalidation channel.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::EdgeKv> kv,
//                       services::OpenEdgeKv(ctx.config, /*read_only=*/true));
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<services::EdgeKvWatch> watch,
//                       services::WatchEdgeKv(ctx.config, [svc] { svc->Notify(); }));
//
// Thread-safety: the functions may be called from any thread; what they return is as
// thread-safe as the backend (storage/edge_kv.h: any number of threads).

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/base/config.h"
#include "src/storage/edge_kv.h"

namespace edgevault::services {

// Written by the api (version 1, value {"format":1}) once every document and SDK-key
// binding it holds is in a shared (Redis) KV; absent after Redis lost its data (restart
// without persistence, FLUSHALL, eviction). docs/design/edge-kv.md, "Populated marker".
inline constexpr std::string_view kPopulatedKey = "meta/populated";

// True when kv.url names a shared KV (Redis) rather than the embedded LMDB store.
bool EdgeKvIsShared(const base::Config& config);

// Opens the KV of config.kv_url.
//  - LMDB: DATA_DIR/edge. read_only (delivery) opens with MDB_RDONLY and waits up to 60 s
//    (polling every 100 ms) for the api to create the store, since `edgevault up` starts
//    both at once.
//  - Redis: connects (and loads the scripts) once, so a wrong address or password fails
//    start-up. read_only (delivery) wraps the store so that a key that is absent while
//    kPopulatedKey is absent too reads as Unavailable, not NotFound: after Redis restarts
//    empty, delivery then answers from memory with EdgeVault-Stale (fail-static) instead of
//    401/404 until the api has republished. The wrapper still allows writes (read_only only
//    names the caller's intent; delivery never writes).
// Errors: InvalidArgument (kv.url does not parse; the message names the key), the backends'
// open errors: NotFound (LMDB read_only: the api never created the store within 60 s),
// Unavailable (Redis unreachable), PermissionDenied (Redis AUTH refused), Internal.
absl::StatusOr<std::unique_ptr<storage::EdgeKv>> OpenEdgeKv(const base::Config& config,
                                                            bool read_only);

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
