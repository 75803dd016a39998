// edgevault-audit: the audit queue consumer and warehouse writer. Claims batches from
// the queue audit.queue_url names (DATA_DIR/audit/queue.db, or the fleet's PostgreSQL
// queue, which several audit nodes may drain together: each claim is leased to one of
// them), appends them to the warehouse audit.warehouse_url names
// (DATA_DIR/audit/warehouse by default, or S3-compatible storage), acks them once durable;
// serves GET /v1/audit/status. docs/audit.md.
#include <memory>

#include <boost/json.hpp>

#include "src/audit/consumer.h"
#include "src/audit/warehouse_open.h"
#include "src/audit/paths.h"
#include "src/audit/queue_open.h"
#include "src/base/log.h"
#include "src/services/common/http_json.h"
#include "src/services/common/service_main.h"

namespace edgevault::audit {
namespace {

// Members are destroyed in reverse order: the consumer (finishing its batch and joining
// its thread) before the warehouse and the queue it uses.
struct Pipeline {
  std::unique_ptr<AuditQueue> queue;
  std::string queue_location;  // for status and logs: no password
  std::unique_ptr<OpenedWarehouse> warehouse;  // writer, reader and (s3://) their client
  std::unique_ptr<AuditConsumer> consumer;
};

net::Response Status(Pipeline& p) {
  boost::json::object o;
  absl::StatusOr<int64_t> depth = p.queue->Depth();
  if (depth.ok()) {
    o["queue_depth"] = *depth;
  } else {
    o["queue_depth"] = nullptr;
    o["queue_error"] = std::string(depth.status().message());
  }
  WarehouseWriterStats s = p.warehouse->writer_stats();
  o["queue"] = p.queue_location;
  o["warehouse"] = p.warehouse->location;
  o["node"] = s.node;
  o["last_hash"] = s.last_hash;
  o["head"] = {{"seq", s.head_seq}, {"line", s.head_line}};
  o["current_file"] = s.current_file;
  o["events_written"] = s.events_written;
  o["duplicates_skipped"] = s.duplicates_skipped;
  absl::StatusOr<std::vector<WarehouseFile>> files = p.warehouse->reader->ListFiles();
  boost::json::array names;
  if (files.ok()) {
    for (const WarehouseFile& f : *files) names.emplace_back(f.path);
  }
  o["file_count"] = static_cast<int64_t>(names.size());
  // The newest files only: the full list can be long.
  boost::json::array newest;
  for (size_t i = names.size() > 20 ? names.size() - 20 : 0; i < names.size(); ++i) {
    newest.push_back(names[i]);
  }
  o["files"] = std::move(newest);
  AuditConsumer::Status c = p.consumer->status();
  o["consumer"] = {{"batches", c.batches}, {"events", c.events}, {"failures", c.failures},
                   {"last_error", c.last_error}};
  return services::JsonResponse(200, o);
}

absl::Status Install(services::ServiceContext& ctx) {
  const std::string& data_dir = ctx.config.data_dir;
  EV_RETURN_IF_ERROR(ctx.env->CreateDirs(AuditDir(data_dir), 0700));
  auto p = std::make_unique<Pipeline>();
  EV_ASSIGN_OR_RETURN(p->queue, OpenAuditQueue({.url = ctx.config.audit_queue_url,
                                                .data_dir = data_dir, .env = ctx.env}));
  p->queue_location = DescribeAuditQueue(ctx.config.audit_queue_url, data_dir);
  EV_ASSIGN_OR_RETURN(base::AuditWarehouseUrl url,
                      base::ParseAuditWarehouseUrl(ctx.config.audit_warehouse_url));
  EV_ASSIGN_OR_RETURN(
      p->warehouse,
      OpenWarehouse({.url = url, .data_dir = data_dir, .node = ctx.config.node_id, .writer = true,
                     .env = ctx.env,
                     .credentials = net::S3CredentialsFromEnvironment(base::ProcessEnvironment())}));
  p->consumer = std::make_unique<AuditConsumer>(AuditConsumerOptions{
      .queue = p->queue.get(), .warehouse = p->warehouse->writer.get(), .env = ctx.env});
  Pipeline* raw = p.get();
  ctx.router.Get("/v1/audit/status", [raw](net::Request&) { return Status(*raw); });
  ctx.Keep(std::move(p));  // destroyed after the server drained: the consumer finishes its batch
  raw->consumer->Start();
  EV_LOG(kInfo, "audit consumer started",
         {{"queue", raw->queue_location}, {"warehouse", raw->warehouse->location},
          {"last_hash", raw->warehouse->writer_stats().last_hash}});
  return absl::OkStatus();
}

}  // namespace
}  // namespace edgevault::audit

int main(int argc, char** argv) {
  return edgevault::services::RunService("audit", argc, argv, edgevault::audit::Install);
}
