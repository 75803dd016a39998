#pragma once
// The conformance suite of RateLimiter: every backend (memory, redis/) runs these GoogleTest
// cases, so all keep one contract (burst then refusal, refusals count nothing, waits within
// one refill interval, independent keys, exact counts under concurrent callers, argument
// errors). Nothing depends on how fast the test runs: the limits refill once an hour, and
// waits are checked against the time the test measured.
//
// In a backend's test file:
//   INSTANTIATE_RATE_LIMITER_CONFORMANCE(Memory, [] { return NewMemoryRateLimiter({}); });
// The factory is called once per test and must return a limiter holding no counts.
// Thread-safety: test code; the factory is called from the test thread only.

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "src/storage/rate_limiter.h"

namespace edgevault::storage {

using RateLimiterFactory = std::function<std::unique_ptr<RateLimiter>()>;

inline void PrintTo(const RateLimiterFactory&, std::ostream* os) { *os << "RateLimiterFactory"; }

class RateLimiterConformanceTest : public ::testing::TestWithParam<RateLimiterFactory> {
 protected:
  void SetUp() override;
  RateLimiter& limiter() { return *limiter_; }

  std::unique_ptr<RateLimiter> limiter_;
};

// Referencing it keeps the linker from dropping the tests of the static library.
bool RateLimiterConformanceLinked();

}  // namespace edgevault::storage

#define INSTANTIATE_RATE_LIMITER_CONFORMANCE(name, factory)                      \
  namespace edgevault::storage {                                                 \
  [[maybe_unused]] static const bool ev_rate_limiter_conformance_##name =        \
      RateLimiterConformanceLinked();                                            \
  INSTANTIATE_TEST_SUITE_P(name, RateLimiterConformanceTest,                     \
                           ::testing::Values(RateLimiterFactory(factory)),       \
                           [](const auto&) { return std::string(#name); });      \
  } /* namespace edgevault::storage */
