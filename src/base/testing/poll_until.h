#pragma once
// PollUntil: waits for a condition that another thread makes true (a server's worker, a
// real Env's periodic task), checking it every few milliseconds. The deadline only bounds
// how long a failing test waits; a passing test never waits for time to pass.
// Test-only. Thread-safety: `done` is called on the caller's thread only.
//
//   ASSERT_TRUE(base::testing::PollUntil([&] { return relay->moved() == 7; }));

#include <chrono>
#include <functional>
#include <thread>

#include "absl/time/time.h"

namespace edgevault::base::testing {

inline bool PollUntil(const std::function<bool()>& done,
                      absl::Duration deadline = absl::Seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(deadline);
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() > end) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace edgevault::base::testing
