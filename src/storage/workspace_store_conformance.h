#pragma once
// The conformance suite of WorkspaceStore: every backend (sqlite/ now, postgres/ later) runs
// these GoogleTest cases against fresh, empty stores, so all backends keep one contract
// (revision numbering without gaps, atomic commits, error codes, ordering, pagination,
// serialised concurrent commits, microsecond times, large bodies).
//
// In a backend's test file:
//   INSTANTIATE_WORKSPACE_STORE_CONFORMANCE(Sqlite, [] { return NewEmptySqliteStore(); });
// The factory is called once per test and must return a new, empty store (never null)
// whose workspace id is set.
// Thread-safety: test code; the factory may be called from the test thread only.

#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "src/storage/workspace_store.h"

namespace edgevault::storage {

using WorkspaceStoreFactory = std::function<std::unique_ptr<WorkspaceStore>()>;

class WorkspaceStoreConformanceTest : public ::testing::TestWithParam<WorkspaceStoreFactory> {
 protected:
  void SetUp() override;
  WorkspaceStore& store() { return *store_; }

  std::unique_ptr<WorkspaceStore> store_;
};

// Defined next to the tests; referencing it keeps the linker from dropping them when the
// suite comes from a static library.
bool WorkspaceStoreConformanceLinked();

}  // namespace edgevault::storage

// Use at global namespace scope (or inside namespace edgevault::storage). The name
// generator keeps the instantiation's name (not the factory's bytes) in test names.
#define INSTANTIATE_WORKSPACE_STORE_CONFORMANCE(name, factory)                \
  namespace edgevault::storage {                                              \
  [[maybe_unused]] static const bool ev_workspace_store_conformance_##name =  \
      WorkspaceStoreConformanceLinked();                                      \
  INSTANTIATE_TEST_SUITE_P(name, WorkspaceStoreConformanceTest,               \
                           ::testing::Values(WorkspaceStoreFactory(factory)), \
                           [](const auto&) { return std::string(#name); });   \
  } /* namespace edgevault::storage */
