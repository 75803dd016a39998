#pragma once
// Periodic tasks: EdgeVault's one way to run background work (a relay, a poll, a
// recheck, a retry loop). A task is a function the Env runs again and again: after an
// interval, at once when woken, later on failure (back-off with jitter). Services never
// start their own looping thread or wait on a condition variable with a timeout; they ask
// their Env, so a test with a SimulatedEnv decides when each run happens
// (docs/design/periodic-tasks.md).
//
//   std::unique_ptr<base::PeriodicTask> task = env->Schedule(
//       "audit relay", {.interval = absl::Milliseconds(200)}, [this] {
//         absl::StatusOr<int> moved = RunOnce();
//         if (!moved.ok()) return base::NextRun::BackOff();
//         return *moved == batch ? base::NextRun::Immediately() : base::NextRun::Interval();
//       });
//   task->Wake();   // something changed: run as soon as possible
//   task.reset();   // Stop()s: waits for a run in progress; the function never runs again
//
// Contract, for every Env:
//   - Runs of one task never overlap; a task's runs are ordered.
//   - The first run happens at once (run_at_start) or one interval after Schedule.
//   - Wake() makes the next run due now (also while backing off). A Wake during a run
//     makes one more run follow it; several Wakes before a run coalesce into one run.
//   - After Stop() (or the handle's destruction) returns, the function is not running
//     and never runs again. Stop must not be called from inside the task's own function.
//   - The function does not throw (EdgeVault code does not); it reports through NextRun.
// The real Env runs each task on a thread of its own that waits on the monotonic clock.
// SimulatedEnv runs no thread: a task runs on the test's thread, inside
// SimulatedEnv::RunDueTasks()/RunFor(), when its due time on the simulated clock has come
// or it was woken.
//
// Thread-safety: Wake and Stop may be called from any thread, at any time, any number of
// times (except Stop from the task itself).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"

namespace edgevault::base {

class Env;

// What one run of a task asks for next.
class NextRun {
 public:
  // After the task's interval: the usual answer (the back-off, if any, resets).
  static NextRun Interval() { return NextRun(Kind::kInterval, absl::ZeroDuration()); }
  // More work is waiting: run again at once (the back-off resets).
  static NextRun Immediately() { return NextRun(Kind::kAfter, absl::ZeroDuration()); }
  // After `delay` (a due time the task knows, e.g. the next scheduled change request or
  // per-item retry); negative counts as zero. The back-off resets.
  static NextRun After(absl::Duration delay) { return NextRun(Kind::kAfter, delay); }
  // The run failed: wait the task's back-off delay (see PeriodicTaskOptions) and try again.
  static NextRun BackOff() { return NextRun(Kind::kBackOff, absl::ZeroDuration()); }

  enum class Kind { kInterval, kAfter, kBackOff };
  Kind kind() const { return kind_; }
  absl::Duration delay() const { return delay_; }

 private:
  NextRun(Kind kind, absl::Duration delay) : kind_(kind), delay_(delay) {}
  Kind kind_;
  absl::Duration delay_;
};

struct PeriodicTaskOptions {
  // Time between runs; must be positive. InfiniteDuration: run only when woken (or when
  // a run asked for After/Immediately).
  absl::Duration interval = absl::Seconds(1);
  // true: the first run is due at Schedule; false: one interval later.
  bool run_at_start = false;
  // Back-off after NextRun::BackOff(): the n-th failure in a row waits
  // min(backoff_initial × 2^(n-1), backoff_max), of which a random `jitter` fraction is
  // taken off (so many nodes that failed together do not retry together). With
  // backoff_max zero (the default) a failure simply waits `interval`, like a success.
  absl::Duration backoff_initial = absl::ZeroDuration();  // zero: `interval`
  absl::Duration backoff_max = absl::ZeroDuration();
  double jitter = 0.2;  // in [0, 1]
};

using PeriodicFn = std::function<NextRun()>;

// The handle Env::Schedule returns. Destroying it Stop()s the task.
class PeriodicTask {
 public:
  virtual ~PeriodicTask() = default;
  // Makes the next run due now.
  virtual void Wake() = 0;
  // Stops the task; waits for a run in progress to finish. Idempotent.
  virtual void Stop() = 0;
  // Completed runs so far (for tests and status).
  virtual int64_t runs() const = 0;
};

namespace internal {

// The delay before the next run that `next` asks for; `failures` counts the back-offs in
// a row (updated). `random01` is a uniform number in [0, 1) for the jitter.
absl::Duration DelayAfter(const PeriodicTaskOptions& options, NextRun next, int* failures,
                          double random01);

// The real Env's implementation: one thread per task, waiting on the monotonic clock.
// `env` supplies the jitter's randomness only.
std::unique_ptr<PeriodicTask> StartThreadTask(Env* env, std::string name,
                                              PeriodicTaskOptions options, PeriodicFn fn);

// SimulatedEnv's implementation: tasks that run only when the owner says so.
class SimulatedScheduler;
std::shared_ptr<SimulatedScheduler> NewSimulatedScheduler();
std::unique_ptr<PeriodicTask> ScheduleSimulated(const std::shared_ptr<SimulatedScheduler>& scheduler,
                                                Env* env, std::string name,
                                                PeriodicTaskOptions options, PeriodicFn fn);
// Runs every task due at env->Now() (or woken), earliest first, until none is due; a task
// that keeps asking for Immediately is run at most `max_runs` times in all. Returns the
// number of runs.
int RunDueSimulated(SimulatedScheduler& scheduler, Env* env, int max_runs);
// The earliest due time of a live task, or InfiniteFuture.
absl::Time NextDueSimulated(SimulatedScheduler& scheduler);

}  // namespace internal
}  // namespace edgevault::base
