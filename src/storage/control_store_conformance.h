#pragma once
// The conformance suite of ControlStore: every backend (sqlite/ now, postgres/ later) runs
// these GoogleTest cases against fresh, empty stores, so all backends keep one contract
// (error codes, ordering, atomicity under concurrent callers, transaction rollback).
//
// In a backend's test file:
//   INSTANTIATE_CONTROL_STORE_CONFORMANCE(Sqlite, [] { return NewEmptySqliteStore(); });
// The factory is called once per test and must return a new, empty store (never null).
// Thread-safety: test code; the factory may be called from the test thread only.

#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "src/storage/control_store.h"

namespace edgevault::storage {

using ControlStoreFactory = std::function<std::unique_ptr<ControlStore>()>;

class ControlStoreConformanceTest : public ::testing::TestWithParam<ControlStoreFactory> {
 protected:
  void SetUp() override;
  ControlStore& store() { return *store_; }

  std::unique_ptr<ControlStore> store_;
};

// Defined next to the tests; referencing it keeps the linker from dropping them when the
// suite comes from a static library.
bool ControlStoreConformanceLinked();

}  // namespace edgevault::storage

// Use at global namespace scope (or inside namespace edgevault::storage).
#define INSTANTIATE_CONTROL_STORE_CONFORMANCE(name, factory)                 \
  namespace edgevault::storage {                                             \
  [[maybe_unused]] static const bool ev_control_store_conformance_##name =   \
      ControlStoreConformanceLinked();                                       \
  INSTANTIATE_TEST_SUITE_P(name, ControlStoreConformanceTest,                \
                           ::testing::Values(ControlStoreFactory(factory)),  \
                           [](const auto&) { return std::string(#name); }); \
  } /* namespace edgevault::storage */
