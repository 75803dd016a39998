#include "src/workspace/change_request_scheduler.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "src/base/log.h"
#include "src/base/status.h"

namespace edgevault::workspace {

absl::StatusOr<std::unique_ptr<ChangeRequestScheduler>> ChangeRequestScheduler::Create(
    ChangeRequestSchedulerOptions options) {
  if (options.change_requests == nullptr || options.stores == nullptr || options.directory == nullptr ||
      options.env == nullptr || !options.authorizer) {
    return absl::InvalidArgumentError("change request scheduler: change_requests, stores, directory, env and "
                                      "authorizer are required");
  }
  std::unique_ptr<ChangeRequestScheduler> s(new ChangeRequestScheduler(std::move(options)));
  ChangeRequestScheduler* raw = s.get();
  s->o_.change_requests->SetScheduleListener(
      [raw](const std::string& ws, int64_t id, absl::Time at) { raw->Add(ws, id, at); });
  return s;
}

ChangeRequestScheduler::~ChangeRequestScheduler() { Stop(); }

absl::Status ChangeRequestScheduler::Rebuild() {
  EV_ASSIGN_OR_RETURN(std::vector<std::string> ids, o_.stores->List());
  for (const std::string& ws : ids) {
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = o_.stores->Open(ws);
    absl::StatusOr<std::vector<storage::ChangeRequest>> rows =
        store.ok() ? (*store)->ListScheduledChangeRequests()
                   : absl::StatusOr<std::vector<storage::ChangeRequest>>(store.status());
    if (!rows.ok()) {
      EV_LOG(kError, "reading a workspace's scheduled change requests failed; they run after a restart that reads them",
             {{"workspace", ws}, {"error", rows.status().ToString()}});
      continue;
    }
    for (const storage::ChangeRequest& cr : *rows) {
      if (cr.apply_at) Add(ws, cr.id, *cr.apply_at);
    }
  }
  return absl::OkStatus();
}

void ChangeRequestScheduler::Add(const std::string& workspace_id, int64_t id, absl::Time apply_at) {
  std::lock_guard<std::mutex> lock(mu_);
  index_.emplace(apply_at, workspace_id, id);
  if (task_ != nullptr) task_->Wake();
}

std::optional<absl::Time> ChangeRequestScheduler::NextDue() {
  std::lock_guard<std::mutex> lock(mu_);
  if (index_.empty()) return std::nullopt;
  return std::get<0>(*index_.begin());
}

size_t ChangeRequestScheduler::Size() {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.size();
}

std::vector<ChangeRequestScheduler::Outcome> ChangeRequestScheduler::RunDue() {
  std::lock_guard<std::mutex> run(run_mu_);
  const absl::Time now = o_.env->Now();
  std::vector<std::tuple<absl::Time, std::string, int64_t>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!index_.empty() && std::get<0>(*index_.begin()) <= now) {
      due.push_back(*index_.begin());
      index_.erase(index_.begin());
    }
  }
  std::vector<Outcome> out;
  for (const auto& [at, ws, id] : due) {
    Outcome o = RunOne(ws, id, now);
    if (o.result == "retry") {
      EV_LOG(kWarn, "a scheduled change request could not be applied yet; retrying",
             {{"workspace", ws}, {"change_request", std::to_string(id)}, {"error", o.detail}});
      // Due again a little later (the row keeps its apply_at, which is then still past).
      std::lock_guard<std::mutex> lock(mu_);
      index_.emplace(now + o_.retry_after, ws, id);
    } else if (o.result == "waiting") {
      std::lock_guard<std::mutex> lock(mu_);
      index_.emplace(now + o_.deleted_recheck, ws, id);
    } else if (o.result != "skipped") {
      EV_LOG(kInfo, "scheduled change request handled",
             {{"workspace", ws}, {"change_request", std::to_string(id)}, {"result", o.result}, {"detail", o.detail}});
    }
    out.push_back(std::move(o));
  }
  return out;
}

ChangeRequestScheduler::Outcome ChangeRequestScheduler::RunOne(const std::string& workspace_id, int64_t id,
                                                               absl::Time now) {
  Outcome o{workspace_id, id, "retry", ""};
  absl::StatusOr<storage::Workspace> ws = o_.directory->GetWorkspaceById(workspace_id);
  if (!ws.ok()) {
    o.detail = ws.status().ToString();
    if (absl::IsNotFound(ws.status())) o.result = "skipped";  // purged: the request went with it
    return o;
  }
  if (ws->deleted_at) {
    o.result = "waiting";
    o.detail = "the workspace is deleted; the request applies if it is restored";
    return o;
  }
  // Who scheduled it, from the row as it is now (ApplyScheduled checks it is still due).
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = o_.stores->Open(workspace_id);
  absl::StatusOr<storage::ChangeRequest> cr =
      store.ok() ? (*store)->GetChangeRequest(id) : absl::StatusOr<storage::ChangeRequest>(store.status());
  if (!cr.ok()) {
    o.result = absl::IsNotFound(cr.status()) ? "skipped" : "retry";
    o.detail = cr.status().ToString();
    return o;
  }
  std::optional<ChangeRequests::ScheduleGrant> grant = ChangeRequests::GrantOf(*cr);
  if (!grant || !cr->apply_at || *cr->apply_at > now) {
    // Unscheduled, rebased, closed, applied by hand, or rescheduled later (that
    // schedule has its own entry).
    o.result = "skipped";
    o.detail = "not scheduled for now (" + cr->state + ")";
    return o;
  }
  absl::StatusOr<boost::json::object> applied =
      o_.change_requests->ApplyScheduled(*ws, id, now, o_.authorizer(*ws, grant->by, grant->grant));
  if (applied.ok()) {
    o.result = "applied";
    return o;
  }
  o.detail = applied.status().ToString();
  // A refusal was recorded as "failed" on the row; anything else is tried again.
  absl::StatusOr<storage::ChangeRequest> after = (*store)->GetChangeRequest(id);
  if (after.ok() && after->state == "failed") o.result = "failed";
  else if (after.ok() && after->state != "scheduled") o.result = "skipped";
  return o;
}

base::NextRun ChangeRequestScheduler::RunInBackground() {
  RunDue();
  std::lock_guard<std::mutex> lock(mu_);
  absl::Duration wait = o_.max_wait;
  if (!index_.empty()) wait = std::min(wait, std::get<0>(*index_.begin()) - o_.env->Now());
  return base::NextRun::After(wait);
}

absl::Status ChangeRequestScheduler::Start() {
  EV_RETURN_IF_ERROR(Rebuild());
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_ || task_ != nullptr) return absl::OkStatus();
  task_ = o_.env->Schedule("scheduled change requests", {.interval = o_.max_wait, .run_at_start = true},
                           [this] { return RunInBackground(); });
  return absl::OkStatus();
}

void ChangeRequestScheduler::Stop() {
  base::PeriodicTask* task = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    task = task_.get();  // never reset: Add may still read it
  }
  if (task != nullptr) task->Stop();
}

}  // namespace edgevault::workspace
