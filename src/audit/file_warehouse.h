#pragma once
// The file warehouse: NDJSON files under DATA_DIR/audit/warehouse, partitioned by the
// event time's UTC hour, YYYY/MM/DD/HH/<node>-<seq>.ndjson, one hash-chained record per
// line, plus <node>.head (the last durable record). Files are created O_EXCL with mode
// 0600, appended with O_APPEND, fsynced after every batch (and their directory on
// creation) and never rewritten; the one exception is recovery dropping a torn final
// line that no HEAD ever covered. Format: docs/design/audit-event.md. Every file operation
// goes through the Env; what each failed write, fsync or rename leaves behind and how
// the next start repairs it: docs/design/durability.md.
// Thread-safety: FileWarehouse serialises Append and stats() with a mutex; one writer
// per node and directory (edgevault-audit). FileWarehouseReader is safe to use while
// a writer runs (it may see a record being written: callers treat a final line
// without its newline as "not yet there").
//
//   EV_ASSIGN_OR_RETURN(auto w, FileWarehouse::Create({.dir = d, .node = "node-1", .env = env}));
//   EV_RETURN_IF_ERROR(w->Append(batch.events));

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/audit/chain_recovery.h"
#include "src/audit/warehouse.h"
#include "src/base/env.h"

namespace edgevault::audit {

class FileWarehouseReader : public WarehouseReader {
 public:
  FileWarehouseReader(std::string dir, base::Env* env) : dir_(std::move(dir)), env_(env) {}

  absl::StatusOr<std::vector<WarehouseFile>> ListFiles(
      std::vector<std::string>* bad_names = nullptr) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::optional<ChainHead>> ReadHead(const std::string& node) override;
  absl::StatusOr<std::vector<std::string>> HeadNodes() override;
  std::string Describe(const std::string& path) const override { return dir_ + "/" + path; }

  static std::string HeadName(std::string_view node) { return HeadRecordName(node); }

 private:
  std::string dir_;
  base::Env* env_;
};

struct FileWarehouseOptions {
  std::string dir;              // DATA_DIR/audit/warehouse; created (0700) when missing
  std::string node = "node-1";  // config node_id
  base::Env* env = nullptr;
  // Event ids remembered for idempotency (the newest files are scanned on start).
  size_t dedup_window = 100000;
  // A new file is started once the current one reaches this size.
  int64_t max_file_bytes = 64 << 20;
};

class FileWarehouse : public AuditWarehouse {
 public:
  // Opens the warehouse and recovers the chain position: HEAD, then any complete records
  // after it that continue the chain (a crash between fsync and the HEAD update), then
  // drops a torn final line. When the files disagree with HEAD (damage or tampering) it
  // logs an error, leaves the files as they are for `verify` to report and continues
  // the chain from HEAD. New records always go to a new file.
  // Errors: InvalidArgument (options), PermissionDenied/Internal (I/O).
  static absl::StatusOr<std::unique_ptr<FileWarehouse>> Create(FileWarehouseOptions options);
  ~FileWarehouse() override;

  absl::Status Append(const std::vector<AuditEvent>& events) override;

  using Stats = WarehouseWriterStats;
  Stats stats() const;

 private:
  explicit FileWarehouse(FileWarehouseOptions options);
  absl::Status Recover();
  // True when it removed files (the node's files held no complete line at all).
  absl::StatusOr<bool> DropFilesWithoutRecords();
  absl::Status OpenNewFile(absl::CivilHour hour);
  absl::Status SyncAndClose();
  absl::Status WriteHead();
  // fsync of an existing file (records adopted on recovery, a cut torn line).
  absl::Status SyncExisting(const std::string& path);

  const FileWarehouseOptions options_;
  FileWarehouseReader reader_;
  mutable std::mutex mu_;
  std::unique_ptr<base::WritableFile> file_;  // the file being appended to, if any
  absl::CivilHour cur_hour_;
  uint64_t cur_seq_ = 0;
  std::string cur_path_;
  int64_t cur_lines_ = 0;
  int64_t cur_bytes_ = 0;
  uint64_t max_seq_ = 0;
  std::string last_hash_;
  uint64_t head_seq_ = 0;
  int64_t head_line_ = 0;
  bool head_dirty_ = false;
  bool needs_recovery_ = false;
  RecentEventIds recent_;
  int64_t events_written_ = 0;
  int64_t duplicates_skipped_ = 0;
  int64_t files_created_ = 0;
};

}  // namespace edgevault::audit
