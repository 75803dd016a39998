#pragma once
// The conformance suite of EdgeKv: every backend (lmdb/, redis/) runs these
// GoogleTest cases against fresh, empty stores, so all backends keep one contract (error
// codes, the version rule, byte-exact values, key order, atomicity under concurrent callers).
//
// In a backend's test file:
//   INSTANTIATE_EDGE_KV_CONFORMANCE(Lmdb, [] { return NewEmptyLmdbEdgeKv(); });
// The factory is called once per test and must return a new, empty store (never null).
// Thread-safety: test code; the factory is called from the test thread only.

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "src/storage/edge_kv.h"

namespace edgevault::storage {

using EdgeKvFactory = std::function<std::unique_ptr<EdgeKv>()>;

// GoogleTest prints a failing test's parameter; without this it dumps the std::function's
// bytes. Found by argument-dependent lookup through EdgeKv.
inline void PrintTo(const EdgeKvFactory&, std::ostream* os) { *os << "EdgeKvFactory"; }

class EdgeKvConformanceTest : public ::testing::TestWithParam<EdgeKvFactory> {
 protected:
  void SetUp() override;
  EdgeKv& kv() { return *kv_; }

  std::unique_ptr<EdgeKv> kv_;
};

// Defined next to the tests; referencing it keeps the linker from dropping them when the
// suite comes from a static library.
bool EdgeKvConformanceLinked();

}  // namespace edgevault::storage

// Use at global namespace scope. The name generator gives every instantiation the plain
// name `name`, so test names never contain the factory's bytes.
#define INSTANTIATE_EDGE_KV_CONFORMANCE(name, factory)                       \
  namespace edgevault::storage {                                            \
  [[maybe_unused]] static const bool ev_edge_kv_conformance_##name =        \
      EdgeKvConformanceLinked();                                            \
  INSTANTIATE_TEST_SUITE_P(name, EdgeKvConformanceTest,                     \
                           ::testing::Values(EdgeKvFactory(factory)),       \
                           [](const auto&) { return std::string(#name); }); \
  } /* namespace edgevault::storage */
