#include "src/audit/warehouse_open.h"

#include "src/audit/file_warehouse.h"
#include "src/audit/paths.h"
#include "src/audit/s3_warehouse.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

absl::StatusOr<std::unique_ptr<OpenedWarehouse>> OpenWarehouse(const OpenWarehouseOptions& options) {
  base::Env* env = options.env != nullptr ? options.env : base::Env::Default();
  auto out = std::make_unique<OpenedWarehouse>();
  if (options.url.kind == base::AuditWarehouseUrl::Kind::kFile) {
    const std::string dir =
        options.url.dir.empty() ? AuditWarehouseDir(options.data_dir) : options.url.dir;
    out->location = dir;
    out->reader = std::make_unique<FileWarehouseReader>(dir, env);
    if (options.writer) {
      EV_ASSIGN_OR_RETURN(std::unique_ptr<FileWarehouse> w,
                          FileWarehouse::Create({.dir = dir, .node = options.node, .env = env}));
      FileWarehouse* raw = w.get();
      out->writer_stats = [raw] { return raw->stats(); };
      out->writer = std::move(w);
    }
    return out;
  }
  out->is_file = false;
  net::S3ClientOptions co;
  co.endpoint = options.url.endpoint;
  co.bucket = options.url.bucket;
  co.region = options.url.region;
  co.virtual_host_style = options.url.virtual_host_style;
  co.connect_address = options.url.connect_address;
  co.ca_file = options.url.ca_file;
  co.credentials = options.credentials;
  co.env = env;
  EV_ASSIGN_OR_RETURN(out->client, net::S3Client::Create(std::move(co)));
  out->location = out->client->Describe(options.url.prefix);
  out->reader = std::make_unique<S3WarehouseReader>(out->client.get(), options.url.prefix);
  if (options.writer) {
    EV_ASSIGN_OR_RETURN(std::unique_ptr<S3Warehouse> w,
                        S3Warehouse::Create({.client = out->client.get(),
                                             .prefix = options.url.prefix,
                                             .node = options.node}));
    S3Warehouse* raw = w.get();
    out->writer_stats = [raw] { return raw->stats(); };
    out->writer = std::move(w);
  }
  return out;
}

}  // namespace edgevault::audit
