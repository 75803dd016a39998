// edgevault-delivery: the data plane: pre-resolved configs and flag evaluation for SDKs.
#include <chrono>
#include <thread>

#include "src/base/log.h"
#include "src/services/common/service_main.h"
#include "src/services/delivery/delivery_service.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"

namespace edgevault::delivery {
namespace {

absl::Status Install(services::ServiceContext& ctx) {
  storage::LmdbEdgeKvOptions kv_options;
  kv_options.path = ctx.config.data_dir + "/edge";
  kv_options.read_only = true;
  // The api creates the store; `edgevault up` starts both at once, so wait for it.
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> kv = storage::OpenLmdbEdgeKv(kv_options);
  for (int attempt = 0; !kv.ok() && absl::IsNotFound(kv.status()) && attempt < 600; ++attempt) {
    if (attempt == 0) EV_LOG(kInfo, "waiting for the api to create the edge KV", {{"path", kv_options.path}});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kv = storage::OpenLmdbEdgeKv(kv_options);
  }
  if (!kv.ok()) return kv.status();
  // The KV and the service live as long as the process (RunService never returns before
  // exit), so they are released on purpose rather than torn down under live handlers.
  DeliveryOptions options;
  options.kv = kv->release();
  EV_ASSIGN_OR_RETURN(std::unique_ptr<DeliveryService> service, DeliveryService::Create(options));
  service->Install(ctx.router);
  service->Start();
  service.release();
  return absl::OkStatus();
}

}  // namespace
}  // namespace edgevault::delivery

int main(int argc, char** argv) {
  return edgevault::services::RunService("delivery", argc, argv, edgevault::delivery::Install);
}
