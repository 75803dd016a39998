#include "src/base/periodic.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "src/base/env.h"

namespace edgevault::base {
namespace internal {
namespace {

double Random01(Env* env) {
  uint64_t bits = 0;
  env->RandomBytes(&bits, sizeof bits);
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

// The jitter draws randomness only when there is a back-off to jitter.
bool NeedsRandom(const PeriodicTaskOptions& options, NextRun next) {
  return next.kind() == NextRun::Kind::kBackOff && options.backoff_max > absl::ZeroDuration() &&
         options.jitter > 0;
}

class ThreadTask final : public PeriodicTask {
 public:
  using Clock = std::chrono::steady_clock;

  ThreadTask(Env* env, std::string name, PeriodicTaskOptions options, PeriodicFn fn)
      : env_(env), name_(std::move(name)), options_(options), fn_(std::move(fn)) {}
  ~ThreadTask() override { Stop(); }

  void Start() {
    std::optional<Clock::time_point> due =
        options_.run_at_start ? std::optional(Clock::now()) : DueAfter(options_.interval);
    thread_ = std::thread([this, due] { Loop(due); });
  }

  void Wake() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    std::lock_guard<std::mutex> join(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  int64_t runs() const override { return runs_.load(std::memory_order_relaxed); }

 private:
  // nullopt: not before a Wake.
  static std::optional<Clock::time_point> DueAfter(absl::Duration d) {
    if (d == absl::InfiniteDuration()) return std::nullopt;
    return Clock::now() + absl::ToChronoNanoseconds(std::max(d, absl::ZeroDuration()));
  }

  void Loop(std::optional<Clock::time_point> due) {
    int failures = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      while (!stop_ && !woken_ && (!due || Clock::now() < *due)) {
        if (due) {
          cv_.wait_until(lock, *due);
        } else {
          cv_.wait(lock);
        }
      }
      if (stop_) return;
      woken_ = false;
      lock.unlock();
      NextRun next = fn_();
      double r = NeedsRandom(options_, next) ? Random01(env_) : 0;
      due = DueAfter(DelayAfter(options_, next, &failures, r));
      runs_.fetch_add(1, std::memory_order_relaxed);
      lock.lock();
    }
  }

  Env* const env_;
  const std::string name_;
  const PeriodicTaskOptions options_;
  const PeriodicFn fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::atomic<int64_t> runs_{0};
  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

absl::Duration DelayAfter(const PeriodicTaskOptions& options, NextRun next, int* failures,
                          double random01) {
  switch (next.kind()) {
    case NextRun::Kind::kInterval:
      *failures = 0;
      return options.interval;
    case NextRun::Kind::kAfter:
      *failures = 0;
      return std::max(next.delay(), absl::ZeroDuration());
    case NextRun::Kind::kBackOff:
      break;
  }
  if (options.backoff_max <= absl::ZeroDuration()) return options.interval;
  absl::Duration delay =
      options.backoff_initial > absl::ZeroDuration() ? options.backoff_initial : options.interval;
  for (int i = 0; i < *failures && delay < options.backoff_max; ++i) delay *= 2;
  delay = std::min(delay, options.backoff_max);
  ++*failures;
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  return delay - delay * (jitter * std::clamp(random01, 0.0, 1.0));
}

std::unique_ptr<PeriodicTask> StartThreadTask(Env* env, std::string name,
                                              PeriodicTaskOptions options, PeriodicFn fn) {
  auto task = std::make_unique<ThreadTask>(env, std::move(name), options, std::move(fn));
  task->Start();
  return task;
}

// ---- SimulatedEnv's tasks ----

struct SimTaskState {
  std::string name;
  PeriodicTaskOptions options;
  PeriodicFn fn;
  absl::Time due = absl::InfiniteFuture();  // InfiniteFuture: not before a Wake
  uint64_t order = 0;                       // ties on `due` run in Schedule order
  bool woken = false;
  bool running = false;
  bool stopped = false;
  std::thread::id runner;
  int failures = 0;
  std::atomic<int64_t> runs{0};
};

class SimulatedScheduler {
 public:
  std::mutex mu;
  std::condition_variable idle;  // a run finished
  std::vector<std::shared_ptr<SimTaskState>> tasks;
  uint64_t next_order = 0;
};

namespace {

absl::Time DueAt(absl::Time now, absl::Duration d) {
  if (d == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return now + std::max(d, absl::ZeroDuration());
}

class SimTask final : public PeriodicTask {
 public:
  SimTask(std::shared_ptr<SimulatedScheduler> scheduler, std::shared_ptr<SimTaskState> state)
      : scheduler_(std::move(scheduler)), state_(std::move(state)) {}
  ~SimTask() override { Stop(); }

  void Wake() override {
    std::lock_guard<std::mutex> lock(scheduler_->mu);
    state_->woken = true;
  }

  void Stop() override {
    std::unique_lock<std::mutex> lock(scheduler_->mu);
    state_->stopped = true;
    // From inside the task's own run (a contract violation) waiting would never end.
    scheduler_->idle.wait(lock, [&] {
      return !state_->running || state_->runner == std::this_thread::get_id();
    });
    auto& tasks = scheduler_->tasks;
    tasks.erase(std::remove(tasks.begin(), tasks.end(), state_), tasks.end());
  }

  int64_t runs() const override { return state_->runs.load(std::memory_order_relaxed); }

 private:
  const std::shared_ptr<SimulatedScheduler> scheduler_;
  const std::shared_ptr<SimTaskState> state_;
};

}  // namespace

std::shared_ptr<SimulatedScheduler> NewSimulatedScheduler() {
  return std::make_shared<SimulatedScheduler>();
}

std::unique_ptr<PeriodicTask> ScheduleSimulated(const std::shared_ptr<SimulatedScheduler>& scheduler,
                                                Env* env, std::string name,
                                                PeriodicTaskOptions options, PeriodicFn fn) {
  auto state = std::make_shared<SimTaskState>();
  state->name = std::move(name);
  state->options = options;
  state->fn = std::move(fn);
  absl::Time now = env->Now();
  state->due = options.run_at_start ? now : DueAt(now, options.interval);
  std::lock_guard<std::mutex> lock(scheduler->mu);
  state->order = scheduler->next_order++;
  scheduler->tasks.push_back(state);
  return std::make_unique<SimTask>(scheduler, std::move(state));
}

int RunDueSimulated(SimulatedScheduler& scheduler, Env* env, int max_runs) {
  int done = 0;
  std::unique_lock<std::mutex> lock(scheduler.mu);
  while (done < max_runs) {
    const absl::Time now = env->Now();
    std::shared_ptr<SimTaskState> pick;
    for (const std::shared_ptr<SimTaskState>& s : scheduler.tasks) {
      if (s->stopped || s->running || !(s->woken || s->due <= now)) continue;
      // Woken tasks count as due now; among due ones the earliest, then the oldest.
      absl::Time due = s->woken ? std::min(s->due, now) : s->due;
      absl::Time best = pick ? (pick->woken ? std::min(pick->due, now) : pick->due) : absl::InfiniteFuture();
      if (!pick || due < best || (due == best && s->order < pick->order)) pick = s;
    }
    if (!pick) break;
    pick->running = true;
    pick->woken = false;
    pick->runner = std::this_thread::get_id();
    lock.unlock();
    NextRun next = pick->fn();
    double r = NeedsRandom(pick->options, next) ? Random01(env) : 0;
    lock.lock();
    pick->due = DueAt(env->Now(), DelayAfter(pick->options, next, &pick->failures, r));
    pick->running = false;
    pick->runner = std::thread::id();
    pick->runs.fetch_add(1, std::memory_order_relaxed);
    ++done;
    scheduler.idle.notify_all();
  }
  return done;
}

absl::Time NextDueSimulated(SimulatedScheduler& scheduler) {
  std::lock_guard<std::mutex> lock(scheduler.mu);
  absl::Time next = absl::InfiniteFuture();
  for (const std::shared_ptr<SimTaskState>& s : scheduler.tasks) {
    if (s->stopped) continue;
    next = std::min(next, s->due);
  }
  return next;
}

}  // namespace internal

// ---- Env's and SimulatedEnv's time and background work (declared in env.h) ----

std::unique_ptr<PeriodicTask> Env::Schedule(std::string name, PeriodicTaskOptions options,
                                            PeriodicFn fn) {
  return internal::StartThreadTask(this, std::move(name), options, std::move(fn));
}

void Env::SleepFor(absl::Duration d) {
  if (d > absl::ZeroDuration()) std::this_thread::sleep_for(absl::ToChronoNanoseconds(d));
}

std::unique_ptr<PeriodicTask> SimulatedEnv::Schedule(std::string name, PeriodicTaskOptions options,
                                                     PeriodicFn fn) {
  return internal::ScheduleSimulated(scheduler_, this, std::move(name), options, std::move(fn));
}

void SimulatedEnv::SleepFor(absl::Duration d) { AdvanceBy(d); }

int SimulatedEnv::RunDueTasks(int max_runs) {
  return internal::RunDueSimulated(*scheduler_, this, max_runs);
}

int SimulatedEnv::RunFor(absl::Duration d) {
  const absl::Time until = Now() + d;
  int runs = RunDueTasks();
  // Bounded: a task that is always due at once must not spin this forever.
  for (int steps = 0; steps < 100'000; ++steps) {
    absl::Time next = internal::NextDueSimulated(*scheduler_);
    if (next > until) break;
    if (next > Now()) SetTime(next);
    int ran = RunDueTasks();
    runs += ran;
    if (ran == 0 && next <= Now()) break;  // due but running on another thread
  }
  if (until > Now()) SetTime(until);
  return runs + RunDueTasks();
}

}  // namespace edgevault::base
