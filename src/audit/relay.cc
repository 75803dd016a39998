#include "src/audit/relay.h"

#include <cstdio>

#include "src/base/encoding.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::audit {

absl::StatusOr<std::unique_ptr<OutboxRelay>> OutboxRelay::Create(OutboxRelayOptions options) {
  if (!options.peek || !options.remove) {
    return absl::InvalidArgumentError("OutboxRelay: peek and remove callbacks are required");
  }
  if (options.queue == nullptr || options.env == nullptr) {
    return absl::InvalidArgumentError("OutboxRelay: queue and env are required");
  }
  if (options.batch < 1) return absl::InvalidArgumentError("OutboxRelay: batch must be >= 1");
  return std::unique_ptr<OutboxRelay>(new OutboxRelay(std::move(options)));
}

OutboxRelay::~OutboxRelay() { Stop(); }

AuditEvent OutboxRelay::MalformedEvent(const std::string& row_id, const std::string& raw,
                                       const absl::Status& why) {
  // The id is derived from the source and the row id, so re-sending after a crash yields
  // the same id and the queue drops the copy. The raw row is not copied (it might hold
  // something it should not); its digest lets an operator match it to the outbox.
  AuditEvent e;
  e.id = "evt_" + crypto::Sha256Hex(options_.source + "\n" + row_id).substr(0, 28);
  e.time = absl::FromUnixMicros(absl::ToUnixMicros(options_.env->Now()));
  e.service = "audit";
  e.actor.id = "system";
  e.action = "audit.malformed_event";
  e.outcome = "error";
  e.target = row_id;
  e.details["source"] = options_.source;
  e.details["error"] = std::string(base::ToStd(why.message())).substr(0, 512);
  e.details["raw_sha256"] = crypto::Sha256Hex(raw);
  return e;
}

absl::StatusOr<int> OutboxRelay::RunOnce() {
  EV_ASSIGN_OR_RETURN(OutboxRows rows, options_.peek(options_.batch));
  if (rows.empty()) return 0;
  std::vector<AuditEvent> events;
  std::vector<std::string> ids;
  events.reserve(rows.size());
  ids.reserve(rows.size());
  for (auto& [id, raw] : rows) {
    absl::StatusOr<AuditEvent> e = ParseAuditEvent(raw);
    if (e.ok()) {
      events.push_back(*std::move(e));
    } else {
      EV_LOG(kError, "audit outbox row is not a valid event; relaying a malformed_event instead",
             {{"source", options_.source}, {"row", id}, {"error", e.status().message()}});
      events.push_back(MalformedEvent(id, raw, e.status()));
    }
    ids.push_back(id);
  }
  EV_RETURN_IF_ERROR(options_.queue->Enqueue(events, options_.env->Now()));
  // A crash here re-sends the same ids on the next pass; the queue ignores them.
  EV_RETURN_IF_ERROR(options_.remove(ids));
  std::lock_guard<std::mutex> lock(mu_);
  moved_ += static_cast<int64_t>(ids.size());
  return static_cast<int>(ids.size());
}

base::NextRun OutboxRelay::RunInBackground() {
  absl::StatusOr<int> n = RunOnce();
  if (!n.ok()) {
    EV_LOG(kWarn, "audit relay pass failed; retrying",
           {{"source", options_.source}, {"error", n.status().message()}});
    return base::NextRun::Interval();
  }
  return *n == options_.batch ? base::NextRun::Immediately()  // more may be waiting
                              : base::NextRun::Interval();
}

void OutboxRelay::Start() {
  if (task_ != nullptr) return;
  task_ = options_.env->Schedule("audit relay " + options_.source,
                                 {.interval = options_.poll_interval, .run_at_start = true},
                                 [this] { return RunInBackground(); });
}

void OutboxRelay::Stop() {
  if (task_ != nullptr) task_->Stop();
  task_.reset();
}

int64_t OutboxRelay::moved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return moved_;
}

}  // namespace edgevault::audit
