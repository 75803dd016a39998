// edgevault-delivery: the data plane: pre-resolved configs and flag evaluation for SDKs.
#include "src/base/log.h"
#include "src/services/common/edge_kv_open.h"
#include "src/services/common/rate_limiter_open.h"
#include "src/services/common/service_main.h"
#include "src/services/delivery/delivery_service.h"

namespace edgevault::delivery {
namespace {

absl::Status Install(services::ServiceContext& ctx) {
  // kv.url: the embedded LMDB store (waits for the api to create it) or Redis. A damaged or
  // missing LMDB store does not stop start-up: delivery then answers from memory (nothing, at
  // first), /readyz says why, and each poll checks whether the api has rebuilt it.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<services::ManagedEdgeKv> opened,
                      services::OpenEdgeKv(ctx.config, /*read_only=*/true, ctx.env));
  // Kept until the server drained, then destroyed newest first: the watch, the service
  // (which joins its poll thread), the KV.
  services::ManagedEdgeKv* kv = ctx.Keep(std::move(opened));
  DeliveryOptions options;
  options.kv = kv;
  options.ofrep_rate_limit_per_second = ctx.config.delivery_settings.ofrep_rate_limit_per_second;
  options.ofrep_rate_limit_burst = ctx.config.delivery_settings.ofrep_rate_limit_burst;
  // rate_limit.url: the OFREP limit counted in a Redis every node shares (falling back to
  // this node's own count while it does not answer), or "" = this node only.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<services::SharedRateLimits> opened_limits,
                      services::SharedRateLimits::Open(ctx.config, ctx.env, "delivery"));
  services::SharedRateLimits* limits =
      opened_limits != nullptr ? ctx.Keep(std::move(opened_limits)) : nullptr;
  if (limits != nullptr) options.shared_rate_limiter = limits->limiter();
  options.env = ctx.env;
  options.on_poll = [kv] { kv->Maintain(); };
  EV_ASSIGN_OR_RETURN(std::unique_ptr<DeliveryService> created, DeliveryService::Create(options));
  DeliveryService* service = ctx.Keep(std::move(created));
  service->Install(ctx.router);
  ctx.hooks.not_ready_reason = [kv] { return kv->NotReadyReason(); };
  ctx.hooks.extra_metrics = [kv, limits](std::string* out) {
    kv->AppendMetrics("delivery", out);
    if (limits != nullptr) limits->AppendMetrics(out);
  };
  service->Start();
  // Redis: push invalidation (every accepted write, and every resubscription after an
  // outage, polls now). LMDB: nullptr; the api's POST /internal/v1/changed does this.
  DeliveryService* svc = service;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<services::EdgeKvWatch> watch,
                      services::WatchEdgeKv(ctx.config, [svc] { svc->Notify(); }));
  ctx.Keep(std::move(watch));
  return absl::OkStatus();
}

}  // namespace
}  // namespace edgevault::delivery

int main(int argc, char** argv) {
  return edgevault::services::RunService("delivery", argc, argv, edgevault::delivery::Install);
}
