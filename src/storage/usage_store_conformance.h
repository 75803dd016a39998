#pragma once
// The conformance suite of UsageStore (usage_store.h): every backend runs these cases
// against a fresh, empty store. In a backend's test file:
//   INSTANTIATE_USAGE_STORE_CONFORMANCE(Sqlite, [] { return NewSqliteUsageStore(); });
// Thread-safety: test code.

#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "src/storage/usage_store.h"

namespace edgevault::storage {

using UsageStoreFactory = std::function<std::unique_ptr<UsageStore>()>;

class UsageStoreConformanceTest : public ::testing::TestWithParam<UsageStoreFactory> {
 protected:
  void SetUp() override;
  UsageStore& store() { return *store_; }
  std::unique_ptr<UsageStore> store_;
};

bool UsageStoreConformanceLinked();

}  // namespace edgevault::storage

#define INSTANTIATE_USAGE_STORE_CONFORMANCE(name, factory)                                              \
  namespace edgevault::storage {                                                                        \
  [[maybe_unused]] static const bool ev_usage_store_conformance_##name = UsageStoreConformanceLinked(); \
  INSTANTIATE_TEST_SUITE_P(name, UsageStoreConformanceTest, ::testing::Values(UsageStoreFactory(factory)), \
                           [](const auto&) { return std::string(#name); });                             \
  } /* namespace edgevault::storage */
