#pragma once
// Opens the audit warehouse that audit.warehouse_url names (base::ParseAuditWarehouseUrl):
// the file warehouse under a directory, or the S3 warehouse (s3_warehouse.h) with its
// S3Client. Used by edgevault-audit (writer), `edgevault audit verify|tail` and the api's
// event query (readers).
// Thread-safety: as the backends (file_warehouse.h, s3_warehouse.h).
//
//   EV_ASSIGN_OR_RETURN(base::AuditWarehouseUrl url, base::ParseAuditWarehouseUrl(text));
//   EV_ASSIGN_OR_RETURN(auto w, OpenWarehouse({.url = url, .data_dir = d, .env = env,
//       .credentials = net::S3CredentialsFromEnvironment(base::ProcessEnvironment())}));
//   VerifyWarehouse(*w->reader, {});

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/audit/warehouse.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/net/s3_client.h"

namespace edgevault::audit {

struct OpenWarehouseOptions {
  base::AuditWarehouseUrl url;
  std::string data_dir;          // the file warehouse's default home: DATA_DIR/audit/warehouse
  std::string node = "node-1";   // the writer's node id
  bool writer = false;           // also open the writer (recovers the chain position)
  base::Env* env = nullptr;
  net::sigv4::Credentials credentials;  // for s3://
};

struct OpenedWarehouse {
  std::unique_ptr<net::S3Client> client;  // s3:// only; used by the reader and writer
  std::unique_ptr<WarehouseReader> reader;
  std::unique_ptr<AuditWarehouse> writer;  // when options.writer
  std::function<WarehouseWriterStats()> writer_stats;  // when options.writer
  std::string location;  // for messages: the directory or s3://bucket/prefix
  bool is_file = true;
};

// Errors: InvalidArgument (bad options, missing credentials, an unreadable ca_file), and,
// for the writer, those of opening the backend.
absl::StatusOr<std::unique_ptr<OpenedWarehouse>> OpenWarehouse(const OpenWarehouseOptions& options);

}  // namespace edgevault::audit
