#pragma once
// The LMDB backend of EdgeKv (layout and value encoding: docs/design/edge-kv.md): one
// directory holding data.mdb + lock.mdb (0600), one writer process (the api) and any number
// of reader processes (delivery) sharing it through LMDB's lock file.
//
// Thread-safety: as EdgeKv. Opening the same directory twice in one process returns two
// handles on one shared LMDB environment (LMDB forbids opening an environment twice per
// process); the environment closes when the last handle is destroyed. Reads reuse one
// read-only transaction per thread and environment (reset between calls); each reading
// thread of each process therefore holds one reader slot of `max_readers` until the thread
// exits or the environment closes. A process must not use a handle inherited over fork():
// the child opens its own.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<EdgeKv> kv,
//                       OpenLmdbEdgeKv({.path = data_dir + "/edge", .read_only = true}));

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/storage/edge_kv.h"

namespace edgevault::storage {

struct LmdbEdgeKvOptions {
  // A directory; created 0700 (with missing parents) if missing, unless read_only.
  std::string path;
  // The LMDB map: the most the store can hold. Writes past it fail with ResourceExhausted.
  // Every process opening the directory should use the same value (a reader whose map is
  // smaller than what the writer has filled gets Unavailable).
  size_t map_size = 1ull << 30;
  // Opens with MDB_RDONLY (delivery): writes return FailedPrecondition; the directory and
  // its files must already exist (the writer creates them).
  bool read_only = false;
  // Reader slots in lock.mdb, fixed by the first process that creates the lock file.
  int max_readers = 512;
};

// Opens (or creates) the store at options.path. A second open of the same directory (same
// realpath) in this process shares the first one's environment; its map_size and
// max_readers are then ignored.
// Errors: InvalidArgument (empty path, map_size 0, max_readers < 1), NotFound (read_only
// and no store there), PermissionDenied (directory or files not accessible),
// FailedPrecondition (read-write open of a directory this process already holds
// read-only), Unavailable (the lock table is full), Internal (not an LMDB store, version
// mismatch, other I/O errors).
absl::StatusOr<std::unique_ptr<EdgeKv>> OpenLmdbEdgeKv(const LmdbEdgeKvOptions& options);

}  // namespace edgevault::storage
