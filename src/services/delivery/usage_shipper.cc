#include "src/services/delivery/usage_shipper.h"

#include <algorithm>

#include <boost/json.hpp>

#include "src/base/encoding.h"
#include "src/base/log.h"

namespace edgevault::delivery {
namespace json = boost::json;

std::string UsageBody(const std::string& batch_id, const std::string& node_id,
                      const std::vector<UsageCount>& counts) {
  json::array evaluations, sdk;
  for (const UsageCount& c : counts) {
    if (c.kind == kUsageEvaluation) {
      evaluations.push_back(json::object{{"minute", c.minute}, {"workspace_id", c.workspace_id},
                                         {"environment", c.environment}, {"flag", c.flag},
                                         {"variant", c.variant}, {"reason", c.reason},
                                         {"count", c.count}});
    } else {
      sdk.push_back(json::object{{"minute", c.minute}, {"workspace_id", c.workspace_id},
                                 {"environment", c.environment}, {"sdk_kind", c.variant},
                                 {"endpoint", c.flag}, {"count", c.count}});
    }
  }
  return json::serialize(json::object{{"format", 1}, {"batch", batch_id}, {"node", node_id},
                                      {"evaluations", std::move(evaluations)},
                                      {"sdk_requests", std::move(sdk)}});
}

absl::StatusOr<std::unique_ptr<UsageShipper>> UsageShipper::Create(UsageShipperOptions options) {
  if (options.counters == nullptr || options.env == nullptr || !options.send) {
    return absl::InvalidArgumentError("UsageShipperOptions: counters, env and send are required");
  }
  if (options.interval <= absl::ZeroDuration() || options.max_pending_batches < 1 ||
      options.max_rows_per_body < 1) {
    return absl::InvalidArgumentError("UsageShipperOptions: interval and limits must be positive");
  }
  return std::unique_ptr<UsageShipper>(new UsageShipper(std::move(options)));
}

UsageShipper::~UsageShipper() { Stop(); }

void UsageShipper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (task_ != nullptr) return;
  // The first shipment just after a boundary of the interval (a minute: just after the
  // minute closed), so that a node's batches hold whole minutes; then every interval.
  const int64_t interval_s = std::max<int64_t>(1, absl::ToInt64Seconds(options_.interval));
  const int64_t now_s = absl::ToUnixSeconds(options_.env->Now());
  const absl::Duration first =
      std::min(options_.interval, absl::Seconds(interval_s - now_s % interval_s) + absl::Seconds(1));
  task_ = options_.env->Schedule("usage shipper", {.interval = options_.interval, .run_at_start = true},
                                 [this, first, aligned = false]() mutable {
                                   if (!aligned) {  // the run at start only sets the first wait
                                     aligned = true;
                                     return base::NextRun::After(first);
                                   }
                                   ShipOnce();
                                   return base::NextRun::Interval();
                                 });
}

void UsageShipper::Stop() {
  std::unique_ptr<base::PeriodicTask> task;
  {
    std::lock_guard<std::mutex> lock(mu_);
    task = std::move(task_);
  }
  if (task == nullptr) return;
  task->Stop();  // waits for a shipment in progress
  ShipOnce();    // the flush: what the current minute has counted so far
}

int UsageShipper::ShipOnce() {
  std::lock_guard<std::mutex> lock(ship_mu_);
  std::vector<UsageCount> counts = options_.counters->Drain();
  for (size_t start = 0; start < counts.size(); start += options_.max_rows_per_body) {
    size_t end = std::min(counts.size(), start + options_.max_rows_per_body);
    std::vector<UsageCount> part(counts.begin() + static_cast<std::ptrdiff_t>(start),
                                 counts.begin() + static_cast<std::ptrdiff_t>(end));
    uint8_t raw[16];
    options_.env->RandomBytes(raw, sizeof(raw));
    Batch b;
    b.id = base::HexEncode(std::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
    b.body = UsageBody(b.id, options_.node_id, part);
    pending_.push_back(std::move(b));
  }
  while (pending_.size() > options_.max_pending_batches) {
    pending_.pop_front();
    ++dropped_batches_;
    EV_LOG(kWarn, "usage: the api has not accepted usage for too long; the oldest batch is dropped",
           {{"pending", static_cast<int64_t>(pending_.size())}});
  }
  int sent = 0;
  while (!pending_.empty()) {
    absl::Status st = options_.send(pending_.front().body);
    if (!st.ok()) {
      EV_LOG(kWarn, "usage: submitting to the api failed; retrying at the next tick",
             {{"error", st.ToString()}, {"pending", static_cast<int64_t>(pending_.size())}});
      break;
    }
    pending_.pop_front();
    ++sent;
    ++shipped_batches_;
  }
  return sent;
}

size_t UsageShipper::pending() {
  std::lock_guard<std::mutex> lock(ship_mu_);
  return pending_.size();
}
int64_t UsageShipper::dropped_batches() {
  std::lock_guard<std::mutex> lock(ship_mu_);
  return dropped_batches_;
}
int64_t UsageShipper::shipped_batches() {
  std::lock_guard<std::mutex> lock(ship_mu_);
  return shipped_batches_;
}

}  // namespace edgevault::delivery
