#pragma once
// Structural checks of an LMDB 0.9 data file (data.mdb), made with pread(2) on a file
// descriptor — never through LMDB or its memory map — so that a damaged file is reported as
// DataLoss instead of taking the process down. LMDB trusts its file: a damaged page makes it
// fail an assertion (abort()), follow an offset out of its map (SIGSEGV), or touch a page
// past the end of a truncated file (SIGBUS). The format is liblmdb 0.9's (MDB_DATA_VERSION
// 1, 64-bit little-endian build); mdb.c defines it privately, docs/design/edge-kv.md
// ("Damage") summarises what is checked.
//
//   EV_ASSIGN_OR_RETURN(LmdbMeta meta, CheckLmdbMetas(fd));        // cheap: two small preads
//   EV_RETURN_IF_ERROR(CheckLmdbTrees(fd, meta));                  // O(file size)
//
// Thread-safety: functions of the file only; any thread. The file may be written
// concurrently (see each function for what that means).

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::storage::lmdb_internal {

inline constexpr uint64_t kNoPage = ~uint64_t{0};  // LMDB's P_INVALID: an empty tree

// One B+tree's record in a meta page (LMDB's MDB_db).
struct LmdbTree {
  uint16_t depth = 0;
  uint64_t branch_pages = 0;
  uint64_t leaf_pages = 0;
  uint64_t overflow_pages = 0;
  uint64_t entries = 0;
  uint64_t root = kNoPage;
};

// One meta page (LMDB's MDB_meta).
struct LmdbMeta {
  uint32_t page_size = 0;
  uint64_t last_page = 0;  // the highest page number the transaction used
  uint64_t txnid = 0;      // the transaction that wrote this meta
  LmdbTree free_tree;      // LMDB's free-page list (FREE_DBI)
  LmdbTree main_tree;      // the unnamed database: the edge KV's records
};

// Reads and checks both meta pages and the file size: each must be a meta page (flag,
// magic 0xBEEFC0DE, data version 1) with the same page size, a power of two from 512 to
// 65536; the file must hold at least both meta pages; each tree's root must be "empty" or a
// page after the metas, inside the file, with a depth of at most 32 (LMDB's cursor stack).
// Returns both metas, [0] and [1] as stored. A writer rewrites the older meta at each commit,
// so a reader can see one torn; the fields checked here never change after creation or stay
// valid in any mix, so a torn meta does not fail the check.
// Errors: DataLoss naming the file offset and what is wrong; Internal (fstat/pread failed).
absl::StatusOr<std::array<LmdbMeta, 2>> ReadLmdbMetas(int fd);

// The meta LMDB uses (the higher txnid) after ReadLmdbMetas' checks.
absl::StatusOr<LmdbMeta> CheckLmdbMetas(int fd);

// Walks every page reachable from `meta`'s two trees and checks it: a page number after the
// metas, at most meta.last_page, inside the file, reached once; its header names that page
// number and the page type the tree expects (branch or leaf; an overflow page where a leaf
// points to one); its free-space bounds and every node's offset, key and data lie inside
// the page (or its overflow pages); every leaf is at the tree's depth; branch pages of the
// main tree hold at least two nodes; the page and entry counts equal the meta's; no node
// uses sub-databases or duplicates (the edge KV uses neither). For the main tree also: keys
// strictly ascending (bytewise) and every value an edge KV record (8-byte big-endian version
// <= INT64_MAX, then the value).
// The caller must keep `meta`'s snapshot from being recycled while this runs (hold a read
// transaction at meta.txnid), or the writer may reuse its pages.
// Errors: DataLoss naming the page; Internal (pread failed).
absl::Status CheckLmdbTrees(int fd, const LmdbMeta& meta);

}  // namespace edgevault::storage::lmdb_internal
