#pragma once
// Where a warehouse writer continues its node's chain after a (re)start, from what a
// WarehouseReader shows: HEAD, then any complete records after it that continue the
// chain (written durably, but the writer stopped before HEAD moved), and the event ids of
// the newest records (so a re-delivered batch is not written twice). Shared by every
// backend (file_warehouse.h, s3_warehouse.h); each applies the result its own way (the
// file backend fsyncs adopted files and cuts a torn final line). Rules:
// docs/design/audit-event.md, "Writer start (recovery)".
// Thread-safety: a function of what the reader returns; callers serialise per node.
//
//   EV_ASSIGN_OR_RETURN(RecoveredChain r, RecoverChain(reader, "node-1", 100000));
//   last_hash_ = r.last_hash;  // the next record's prev_hash

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/audit/warehouse.h"

namespace edgevault::audit {

struct RecoveredChain {
  std::string last_hash{kGenesisHash};  // the newest record the chain continues from
  uint64_t head_seq = 0;                // its file (0: no record yet)
  int64_t head_line = 0;                // its line
  uint64_t max_seq = 0;                 // the node's highest file seq (new files go above)
  bool head_needs_write = false;        // HEAD is missing or behind adopted records
  int64_t adopted = 0;                  // records after HEAD taken into the chain
  std::vector<std::string> adopted_files;  // paths of files holding adopted records
  // The node's newest file ends in bytes after its last newline that no HEAD covers (a
  // record cut short by a crash): keep `torn_keep_bytes` of `torn_file`.
  std::string torn_file;
  size_t torn_keep_bytes = 0;
  std::vector<std::string> recent_ids;  // event ids of the newest records, oldest first
};

// The event ids a writer remembers (at most `window`, the newest) so that a re-delivered
// batch is not written twice.
class RecentEventIds {
 public:
  explicit RecentEventIds(size_t window) : window_(window < 1 ? 1 : window) {}
  void Reset(const std::vector<std::string>& ids_oldest_first);
  void Remember(const std::string& id);
  // The events of `batch` not yet written and not repeated within it, in batch order,
  // stable-sorted by UTC hour (the partition); adds the others to *skipped.
  std::vector<const AuditEvent*> Fresh(const std::vector<AuditEvent>& batch, int64_t* skipped) const;

 private:
  size_t window_;
  std::unordered_set<std::string> ids_;
  std::deque<std::string> order_;
};

// A writer's node id must name its files: InvalidArgument naming `who` otherwise.
absl::Status CheckWriterNodeId(std::string_view who, std::string_view node);

// Errors: from the reader (listing and reading; an unreadable HEAD is logged and treated
// as missing).
absl::StatusOr<RecoveredChain> RecoverChain(WarehouseReader& reader, const std::string& node,
                                            size_t dedup_window);

}  // namespace edgevault::audit
