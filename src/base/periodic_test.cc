#include "src/base/periodic.h"

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/testing/poll_until.h"

namespace edgevault::base {
namespace {

using testing::PollUntil;

// ---- The contract, on the SimulatedEnv (deterministic: runs happen only when told) ----

TEST(PeriodicTaskTest, RunsOnceEachIntervalOnTheSimulatedClock) {
  SimulatedEnv env;
  int runs = 0;
  auto task = env.Schedule("t", {.interval = absl::Seconds(10)}, [&] {
    ++runs;
    return NextRun::Interval();
  });
  EXPECT_EQ(env.RunDueTasks(), 0);  // the first run is one interval away
  env.AdvanceBy(absl::Seconds(9));
  EXPECT_EQ(env.RunDueTasks(), 0);
  env.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(env.RunDueTasks(), 1);
  EXPECT_EQ(env.RunDueTasks(), 0);  // not again until the next interval
  EXPECT_EQ(env.RunFor(absl::Seconds(100)), 10);
  EXPECT_EQ(runs, 11);
  EXPECT_EQ(task->runs(), 11);
}

TEST(PeriodicTaskTest, RunAtStartRunsAtOnce) {
  SimulatedEnv env;
  int runs = 0;
  auto task = env.Schedule("t", {.interval = absl::Minutes(1), .run_at_start = true}, [&] {
    ++runs;
    return NextRun::Interval();
  });
  EXPECT_EQ(env.RunDueTasks(), 1);
  EXPECT_EQ(runs, 1);
}

TEST(PeriodicTaskTest, WakeRunsEarlyAndWakesCoalesce) {
  SimulatedEnv env;
  int runs = 0;
  auto task = env.Schedule("t", {.interval = absl::Hours(1)}, [&] {
    ++runs;
    return NextRun::Interval();
  });
  task->Wake();
  task->Wake();
  task->Wake();
  EXPECT_EQ(env.RunDueTasks(), 1);
  EXPECT_EQ(runs, 1);
  // The interval counts from that run.
  env.AdvanceBy(absl::Minutes(59));
  EXPECT_EQ(env.RunDueTasks(), 0);
  env.AdvanceBy(absl::Minutes(1));
  EXPECT_EQ(env.RunDueTasks(), 1);
}

TEST(PeriodicTaskTest, AnInfiniteIntervalRunsOnlyWhenWoken) {
  SimulatedEnv env;
  int runs = 0;
  auto task = env.Schedule("t", {.interval = absl::InfiniteDuration()}, [&] {
    ++runs;
    return NextRun::Interval();
  });
  EXPECT_EQ(env.RunFor(absl::Hours(24 * 365)), 0);
  task->Wake();
  EXPECT_EQ(env.RunDueTasks(), 1);
}

TEST(PeriodicTaskTest, ImmediatelyAndAfterChooseTheNextRun) {
  SimulatedEnv env;
  int backlog = 3;
  std::vector<absl::Time> at;
  auto task = env.Schedule("t", {.interval = absl::Hours(1), .run_at_start = true}, [&] {
    at.push_back(env.Now());
    if (backlog > 0) return --backlog > 0 ? NextRun::Immediately() : NextRun::After(absl::Seconds(5));
    return NextRun::Interval();
  });
  const absl::Time t0 = env.Now();
  EXPECT_EQ(env.RunDueTasks(), 3);  // the backlog, then After(5 s) is in the future
  EXPECT_EQ(env.RunFor(absl::Seconds(5)), 1);
  ASSERT_EQ(at.size(), 4u);
  EXPECT_EQ(at[2], t0);
  EXPECT_EQ(at[3], t0 + absl::Seconds(5));
}

TEST(PeriodicTaskTest, StopWaitsAndTheTaskNeverRunsAgain) {
  SimulatedEnv env;
  int runs = 0;
  auto task = env.Schedule("t", {.interval = absl::Seconds(1), .run_at_start = true}, [&] {
    ++runs;
    return NextRun::Interval();
  });
  EXPECT_EQ(env.RunDueTasks(), 1);  // positive control
  task->Stop();
  task->Wake();
  EXPECT_EQ(env.RunFor(absl::Minutes(5)), 0);
  task->Stop();  // idempotent
  task.reset();
  EXPECT_EQ(runs, 1);
}

TEST(PeriodicTaskTest, FailuresBackOffExponentiallyUpToTheMaximumThenReset) {
  SimulatedEnv env;
  bool fail = true;
  std::vector<absl::Time> at;
  auto task = env.Schedule("t",
                           {.interval = absl::Seconds(30), .run_at_start = true,
                            .backoff_initial = absl::Seconds(1), .backoff_max = absl::Seconds(8),
                            .jitter = 0},
                           [&] {
                             at.push_back(env.Now());
                             return fail ? NextRun::BackOff() : NextRun::Interval();
                           });
  env.RunFor(absl::Seconds(1 + 2 + 4 + 8 + 8));
  ASSERT_EQ(at.size(), 6u);
  std::vector<absl::Duration> gaps;
  for (size_t i = 1; i < at.size(); ++i) gaps.push_back(at[i] - at[i - 1]);
  EXPECT_EQ(gaps, (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                               absl::Seconds(8), absl::Seconds(8)}));
  fail = false;
  env.RunFor(absl::Seconds(8));  // the next try succeeds ...
  ASSERT_EQ(at.size(), 7u);
  fail = true;
  env.RunFor(absl::Seconds(30));  // ... so the interval applies, and the back-off starts over
  ASSERT_EQ(at.size(), 8u);
  EXPECT_EQ(at[7] - at[6], absl::Seconds(30));
  env.RunFor(absl::Seconds(1));
  ASSERT_EQ(at.size(), 9u);
  EXPECT_EQ(at[8] - at[7], absl::Seconds(1));
}

TEST(PeriodicTaskTest, BackOffJitterShortensTheDelayWithinItsFraction) {
  PeriodicTaskOptions o{.interval = absl::Seconds(1), .backoff_max = absl::Seconds(100), .jitter = 0.5};
  int failures = 3;
  EXPECT_EQ(internal::DelayAfter(o, NextRun::BackOff(), &failures, 0.0), absl::Seconds(8));
  failures = 3;
  EXPECT_EQ(internal::DelayAfter(o, NextRun::BackOff(), &failures, 0.5), absl::Seconds(6));
  EXPECT_EQ(failures, 4);
  // Randomised on the simulated Env: never longer than the delay, never below half of it,
  // and not all the same.
  SimulatedEnv env;
  std::vector<absl::Time> at;
  auto task = env.Schedule("t",
                           {.interval = absl::Seconds(1), .run_at_start = true,
                            .backoff_initial = absl::Seconds(10), .backoff_max = absl::Seconds(10),
                            .jitter = 0.5},
                           [&] {
                             at.push_back(env.Now());
                             return NextRun::BackOff();
                           });
  env.RunFor(absl::Seconds(200));
  ASSERT_GE(at.size(), 21u);
  bool varied = false;
  for (size_t i = 1; i < at.size(); ++i) {
    EXPECT_LE(at[i] - at[i - 1], absl::Seconds(10));
    EXPECT_GE(at[i] - at[i - 1], absl::Seconds(5));
    varied = varied || (at[i] - at[i - 1]) != (at[1] - at[0]);
  }
  EXPECT_TRUE(varied);
}

TEST(PeriodicTaskTest, WithoutABackOffMaximumAFailureWaitsTheInterval) {
  PeriodicTaskOptions o{.interval = absl::Seconds(3)};
  int failures = 0;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(internal::DelayAfter(o, NextRun::BackOff(), &failures, 0.9), absl::Seconds(3));
  }
}

TEST(PeriodicTaskTest, RunsOfOneTaskNeverOverlapOnTheSimulatedEnv) {
  SimulatedEnv env;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::atomic<int> runs{0};
  auto task = env.Schedule("t", {.interval = absl::Milliseconds(1), .run_at_start = true}, [&] {
    if (inside.fetch_add(1) != 0) overlapped = true;
    std::this_thread::yield();
    inside.fetch_sub(1);
    ++runs;
    return NextRun::Interval();
  });
  std::vector<std::thread> drivers;
  for (int t = 0; t < 4; ++t) {
    drivers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        task->Wake();
        env.RunDueTasks();
      }
    });
  }
  for (std::thread& t : drivers) t.join();
  EXPECT_GT(runs.load(), 0);
  EXPECT_FALSE(overlapped);
}

// ---- The same contract on the real Env's threads ----

TEST(PeriodicTaskRealEnvTest, WakeRunsEarly) {
  std::atomic<int> runs{0};
  auto task = Env::Default()->Schedule("t", {.interval = absl::Hours(1)}, [&] {
    ++runs;
    return NextRun::Interval();
  });
  task->Wake();
  EXPECT_TRUE(PollUntil([&] { return runs.load() == 1; }));
  task->Stop();
  EXPECT_EQ(task->runs(), 1);
}

TEST(PeriodicTaskRealEnvTest, StopWaitsForTheRunInProgressAndNothingRunsAfter) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> finished{false};
  std::atomic<int> runs{0};
  auto task = Env::Default()->Schedule("t", {.interval = absl::Hours(1), .run_at_start = true}, [&] {
    if (runs.fetch_add(1) == 0) {
      entered.set_value();
      released.wait();
    }
    finished = true;
    return NextRun::Immediately();
  });
  entered.get_future().wait();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    task->Stop();
    stopped = true;
  });
  release.set_value();
  stopper.join();
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(finished);  // Stop returned only after the run did
  const int after_stop = runs.load();
  task->Wake();
  task->Stop();  // joined: no thread is left that could run it
  EXPECT_EQ(runs.load(), after_stop);
}

TEST(PeriodicTaskRealEnvTest, RunsOfOneTaskNeverOverlap) {
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::atomic<int> runs{0};
  auto task = Env::Default()->Schedule("t", {.interval = absl::InfiniteDuration()}, [&] {
    if (inside.fetch_add(1) != 0) overlapped = true;
    std::this_thread::yield();
    inside.fetch_sub(1);
    ++runs;
    return NextRun::Interval();
  });
  std::vector<std::thread> wakers;
  for (int t = 0; t < 4; ++t) {
    wakers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) task->Wake();
    });
  }
  for (std::thread& t : wakers) t.join();
  task->Wake();
  EXPECT_TRUE(PollUntil([&] { return runs.load() > 0 && inside.load() == 0; }));
  task->Stop();
  EXPECT_FALSE(overlapped);
}

TEST(PeriodicTaskRealEnvTest, BackOffRetriesAfterAFailure) {
  std::atomic<int> runs{0};
  auto task = Env::Default()->Schedule(
      "t",
      {.interval = absl::Hours(1), .run_at_start = true, .backoff_initial = absl::Milliseconds(1),
       .backoff_max = absl::Milliseconds(4)},
      [&] { return ++runs < 4 ? NextRun::BackOff() : NextRun::Interval(); });
  EXPECT_TRUE(PollUntil([&] { return runs.load() == 4; }));
  task->Stop();
  EXPECT_EQ(runs.load(), 4);  // then the hour-long interval
}

}  // namespace
}  // namespace edgevault::base
