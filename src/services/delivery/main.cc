// edgevault-delivery: the data plane: pre-resolved configs and flag evaluation for SDKs.
#include "src/base/log.h"
#include "src/services/common/edge_kv_open.h"
#include "src/services/common/rate_limiter_open.h"
#include "src/services/common/service_main.h"
#include "src/net/http_client.h"
#include "src/services/delivery/delivery_service.h"
#include "src/services/delivery/usage_shipper.h"

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
  // Usage counts (docs/design/usage.md), kept before the service so they outlive it.
  UsageCounters* usage = ctx.Keep(std::make_unique<UsageCounters>());
  options.usage = usage;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<DeliveryService> created, DeliveryService::Create(options));
  DeliveryService* service = ctx.Keep(std::move(created));
  // Shipped to the api's POST /internal/v1/usage, signed with delivery's own credential (the
  // only api route that lists delivery). Kept after the service: destroyed first, its Stop
  // ships what the current minute counted.
  net::HttpClientOptions signed_options;
  signed_options.env = ctx.env;
  signed_options.credential = &ctx.credential;
  signed_options.audience = "api";
  // Short: a failed send is retried at the next interval with the same batch id, and the
  // flush at stop must finish well inside the supervisor's stop grace (`up` gives 5 s)
  // even when the api's socket still accepts (held by `up`) but nobody answers.
  signed_options.connect_timeout = absl::Seconds(1);
  signed_options.request_timeout = absl::Seconds(2);
  EV_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> api_client, net::HttpClient::Create(signed_options));
  net::HttpClient* api = ctx.Keep(std::move(api_client));
  const std::string api_host = ctx.config.api.host;
  const uint16_t api_port = ctx.config.api.port;
  EV_ASSIGN_OR_RETURN(
      std::unique_ptr<UsageShipper> shipper,
      UsageShipper::Create({.counters = usage,
                            .env = ctx.env,
                            .send = [api, api_host, api_port](const std::string& body) -> absl::Status {
                              net::ClientRequest req;
                              req.method = "POST";
                              req.target = "/internal/v1/usage";
                              req.body = body;
                              req.headers = {{"Content-Type", "application/json"}};
                              EV_ASSIGN_OR_RETURN(net::ClientResponse r, api->Do(api_host, api_port, req));
                              if (r.status != 200) {
                                return absl::UnavailableError("the api answered " + std::to_string(r.status) +
                                                              ": " + r.body.substr(0, 200));
                              }
                              return absl::OkStatus();
                            },
                            .node_id = ctx.config.node_id,
                            .interval = ctx.config.delivery_settings.usage_interval}));
  service->Install(ctx.router);
  ctx.hooks.not_ready_reason = [kv] { return kv->NotReadyReason(); };
  UsageShipper* usage_shipper = ctx.Keep(std::move(shipper));
  ctx.hooks.extra_metrics = [kv, limits, usage, usage_shipper](std::string* out) {
    kv->AppendMetrics("delivery", out);
    if (limits != nullptr) limits->AppendMetrics(out);
    out->append("# TYPE edgevault_usage_dropped_total counter\nedgevault_usage_dropped_total ");
    out->append(std::to_string(usage->dropped())).append("\n");
    out->append("# TYPE edgevault_usage_batches_shipped_total counter\nedgevault_usage_batches_shipped_total ");
    out->append(std::to_string(usage_shipper->shipped_batches())).append("\n");
    out->append("# TYPE edgevault_usage_batches_dropped_total counter\nedgevault_usage_batches_dropped_total ");
    out->append(std::to_string(usage_shipper->dropped_batches())).append("\n");
    out->append("# TYPE edgevault_usage_batches_pending gauge\nedgevault_usage_batches_pending ");
    out->append(std::to_string(usage_shipper->pending())).append("\n");
  };
  service->Start();
  usage_shipper->Start();
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
