#pragma once
// Ships delivery's usage counts (usage_counters.h) to the api's POST /internal/v1/usage
// (docs/design/usage.md §2): every `interval` on its own thread and once more on Stop, so a
// clean stop loses nothing and a crash loses at most one interval. A submission that fails
// keeps its batch id and is sent again first at the next tick (the api counts a batch id
// once); at most max_pending_batches wait, the oldest is dropped beyond that.
//
// Thread-safety: ShipOnce is serialised internally; Start/Stop from one owner thread.
//
//   EV_ASSIGN_OR_RETURN(auto shipper, UsageShipper::Create({.counters = &counters,
//                                                            .env = env, .send = post}));
//   shipper->Start();   // ... shipper->Stop() ships what is left

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/services/delivery/usage_counters.h"

namespace edgevault::delivery {

struct UsageShipperOptions {
  UsageCounters* counters = nullptr;  // not owned
  base::Env* env = nullptr;           // clock and batch ids; not owned
  // POSTs one body to the api; OK only when the api accepted it (200).
  std::function<absl::Status(const std::string& body)> send;
  std::string node_id = "node-1";
  absl::Duration interval = absl::Seconds(60);
  size_t max_pending_batches = 16;
  size_t max_rows_per_body = 20000;
};

class UsageShipper {
 public:
  // InvalidArgument when counters, env or send is missing or a limit is not positive.
  static absl::StatusOr<std::unique_ptr<UsageShipper>> Create(UsageShipperOptions options);
  ~UsageShipper();  // Stop()

  void Start();
  // Stops the thread, then ships one last time (counts of the current minute included).
  void Stop();

  // One tick: drains the counters into new batches, then sends the waiting batches oldest
  // first until one fails. Returns how many were sent.
  int ShipOnce();

  size_t pending();
  int64_t dropped_batches();
  int64_t shipped_batches();

 private:
  struct Batch {
    std::string id;
    std::string body;
  };
  explicit UsageShipper(UsageShipperOptions options) : options_(std::move(options)) {}

  UsageShipperOptions options_;
  std::mutex ship_mu_;  // serialises ShipOnce
  std::deque<Batch> pending_;  // guarded by ship_mu_
  int64_t dropped_batches_ = 0;  // guarded by ship_mu_
  int64_t shipped_batches_ = 0;  // guarded by ship_mu_

  std::mutex mu_;  // guards task_
  // The periodic task of options.env (docs/design/periodic-tasks.md) that ships each
  // interval; null when not started.
  std::unique_ptr<base::PeriodicTask> task_;
};

// The submission body of usage.md §2 for `counts` (the caller keeps a body's row count
// within the limit).
std::string UsageBody(const std::string& batch_id, const std::string& node_id,
                      const std::vector<UsageCount>& counts);

}  // namespace edgevault::delivery
