#pragma once
// The audit warehouse on S3-compatible object storage. Objects cannot be appended to, so
// the unit of writing is one object per appended batch and UTC hour, named like the file
// warehouse's files: <prefix>YYYY/MM/DD/HH/<node>-<seq>.ndjson with seq counting up per
// node, each holding whole hash-chained lines; <prefix><node>.head is the HEAD record,
// replaced after every batch. The chain, verify and tail therefore work on objects
// exactly as on files (VerifyWarehouse over S3WarehouseReader).
// Objects are created with If-None-Match: * so a store with conditional writes refuses
// to replace one (another writer using the same node id: AlreadyExists, and the writer
// re-reads the chain before its next batch); on a store without them, uniqueness rests
// on node ids being unique per writer. Layout: docs/design/audit-event.md#object-storage.
// Thread-safety: S3Warehouse serialises Append and stats() with a mutex; one writer per
// node id. S3WarehouseReader holds no state of its own (S3Client is thread-safe): any
// number of threads may use it, while writers run.
//
//   EV_ASSIGN_OR_RETURN(auto s3, net::S3Client::Create(client_options));
//   EV_ASSIGN_OR_RETURN(auto w, S3Warehouse::Create({.client = s3.get(), .prefix = "audit/",
//                                                     .node = "node-1"}));
//   EV_RETURN_IF_ERROR(w->Append(batch.events));

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/audit/chain_recovery.h"
#include "src/audit/warehouse.h"
#include "src/net/s3_client.h"

namespace edgevault::audit {

class S3WarehouseReader : public WarehouseReader {
 public:
  // `client` is not owned and must outlive the reader. `prefix` is "" or ends in '/'.
  S3WarehouseReader(net::S3Client* client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)) {}

  // Errors: those of S3Client (NotFound for a missing bucket, PermissionDenied,
  // Unavailable, ...).
  absl::StatusOr<std::vector<WarehouseFile>> ListFiles(
      std::vector<std::string>* bad_names = nullptr) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::optional<ChainHead>> ReadHead(const std::string& node) override;
  absl::StatusOr<std::vector<std::string>> HeadNodes() override;
  std::string Describe(const std::string& path) const override {
    return client_->Describe(prefix_ + path);
  }

 private:
  net::S3Client* client_;
  std::string prefix_;
};

struct S3WarehouseOptions {
  net::S3Client* client = nullptr;  // not owned; must outlive the warehouse
  std::string prefix;               // "" or ending in '/'
  std::string node = "node-1";      // config node_id
  size_t dedup_window = 100000;     // event ids remembered (the newest objects are read on start)
};

class S3Warehouse : public AuditWarehouse {
 public:
  // Reads the chain position (RecoverChain: HEAD, then objects written after it).
  // Errors: InvalidArgument (options), those of S3Client (the store is unreachable,
  // the bucket is missing, credentials are refused).
  static absl::StatusOr<std::unique_ptr<S3Warehouse>> Create(S3WarehouseOptions options);

  // Writes one object per UTC hour of the batch, then HEAD. Errors: those of S3Client;
  // AlreadyExists when the store refused to replace an object (another writer with this
  // node id). After any error the next Append re-reads the chain first.
  absl::Status Append(const std::vector<AuditEvent>& events) override;

  WarehouseWriterStats stats() const;

 private:
  explicit S3Warehouse(S3WarehouseOptions options);
  absl::Status Recover();
  absl::Status WriteHead();

  const S3WarehouseOptions options_;
  S3WarehouseReader reader_;
  mutable std::mutex mu_;
  uint64_t max_seq_ = 0;
  std::string last_hash_;
  uint64_t head_seq_ = 0;
  int64_t head_line_ = 0;
  std::string current_object_;
  bool head_dirty_ = false;
  bool needs_recovery_ = false;
  RecentEventIds recent_;
  int64_t events_written_ = 0;
  int64_t duplicates_skipped_ = 0;
  int64_t objects_created_ = 0;
};

}  // namespace edgevault::audit
