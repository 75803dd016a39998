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
#include "absl/time/time.h"
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

// What Inspect found.
enum class LmdbStoreState {
  kOk,        // path/data.mdb is the file this handle has open, and it passed the checks
  kDamaged,   // the file is damaged (found now or earlier): every operation returns DataLoss
  kReplaced,  // path holds no data.mdb, or another file than this handle's (deleted, moved
              // aside, rebuilt): reopen to see it
};

// An open LMDB store: EdgeKv, plus checks of its files.
//
// Damage: LMDB trusts its file, and a damaged one makes it abort (a failed assertion), or
// fault reading through a bad offset (SIGSEGV) or past the end of a truncated file (SIGBUS).
// This backend checks the file before LMDB maps it (lmdb_file_check.h: meta pages and size,
// then every page of the tree), and runs every LMDB call under a guard that turns such an
// assertion or fault into DataLoss: the process stays up. Once damage is found the handle
// (and every handle sharing its environment) is damaged for good: every operation returns
// DataLoss without touching the file. The environment is not closed while handles remain;
// a damaged or replaced store is left open until the last handle goes.
class LmdbEdgeKv : public EdgeKv {
 public:
  // Checks the store's files. Quick (a stat, an fstat, two small preads; cheap enough to
  // run every poll tick): is path/data.mdb still the file this handle has open (kReplaced
  // wins over kDamaged), and are its meta pages and size sound. `deep` also walks every page of the tree (O(file size)),
  // under a read transaction so that concurrent commits cannot disturb it. A read-write
  // handle also walks when the file changed since its own last commit (another process
  // wrote it). Damage found here marks the handle damaged. `detail` (may be null) gets a
  // sentence for operators.
  virtual LmdbStoreState Inspect(bool deep, std::string* detail) = 0;
  // True once damage was found. Lock-free.
  virtual bool damaged() const = 0;
};

// Opens (or creates) the store at options.path. A second open of the same directory (same
// realpath) in this process shares the first one's environment — while the directory still
// holds the same data.mdb and it is not damaged; after the directory was rebuilt (new
// data.mdb and lock.mdb) it opens the new store alongside the old one. Its map_size and
// max_readers are then ignored. Before LMDB maps the file, its meta pages, size and every
// page of its tree are checked (LmdbEdgeKv above).
// Errors: InvalidArgument (empty path, map_size 0, max_readers < 1), NotFound (read_only
// and no store there), PermissionDenied (directory or files not accessible),
// FailedPrecondition (read-write open of a directory this process already holds
// read-only; data.mdb replaced while this process holds its lock.mdb), Unavailable (the
// lock table is full), DataLoss (the file is damaged, or empty: see docs/design/edge-kv.md
// "Damage"), Internal (version mismatch, other I/O errors).
absl::StatusOr<std::unique_ptr<LmdbEdgeKv>> OpenLmdbStore(const LmdbEdgeKvOptions& options);

// OpenLmdbStore, as a plain EdgeKv.
absl::StatusOr<std::unique_ptr<EdgeKv>> OpenLmdbEdgeKv(const LmdbEdgeKvOptions& options);

// Moves the store directory `path` aside, to "<path>.damaged-<UTC YYYYMMDDTHHMMSSZ>" (with
// "-2", "-3", ... when taken), so the writer can create a fresh one at `path`; processes that
// have it open keep reading the moved files. Returns the new name.
// Errors: NotFound (nothing at path), PermissionDenied, Internal.
absl::StatusOr<std::string> MoveLmdbStoreAside(const std::string& path, absl::Time now);

}  // namespace edgevault::storage
