#pragma once
// Test-only helpers shared by the store tests and conformance suites: a per-process
// scratch directory and assertion macros for absl::Status / absl::StatusOr results.
// Thread-safety: ScratchDir::NewPath may be called from any thread.
//
//   std::string path = storage::testing::ScratchDir::Get()->NewPath("reopen", ".db");
//   EV_TEST_ASSERT_OK(store->Commit(c));
//   EV_TEST_ASSIGN(Item item, store->GetItem(kind, "k"));
//   EV_TEST_EXPECT_CODE(store->GetItem(kind, "nope"), kNotFound);

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "src/base/strings.h"

namespace edgevault::storage::testing {

// One temporary directory per test process, made on first use (so listing the tests
// leaves nothing behind) and removed after the last test; every NewPath is unique in it.
class ScratchDir : public ::testing::Environment {
 public:
  static ScratchDir* Get() {
    static ScratchDir* dir = [] {
      auto* d = new ScratchDir();
      ::testing::AddGlobalTestEnvironment(d);  // gtest owns and tears it down
      return d;
    }();
    return dir;
  }
  std::string NewPath(std::string_view name, std::string_view suffix = "") {
    std::lock_guard<std::mutex> lock(mu_);
    if (path_.empty()) {
      std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "ev_store_test.XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
      path_ = tmpl;
    }
    return base::StrCat(path_, "/", name, "-", counter_++, suffix);
  }
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
  }

 private:
  ScratchDir() = default;
  std::mutex mu_;
  std::string path_;
  int counter_ = 0;
};

// Runs `fn(i)` for i in 0..n-1 on n threads released together; returns when all finished.
template <typename Fn>
void RunConcurrently(int n, Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      fn(i);
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
}

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace edgevault::storage::testing

#define EV_TEST_ASSERT_OK(expr)                                                      \
  do {                                                                               \
    const auto& ev_result_ = (expr);                                                 \
    ASSERT_TRUE(ev_result_.ok()) << ::edgevault::storage::testing::StatusOf(ev_result_); \
  } while (0)
#define EV_TEST_EXPECT_OK(expr)                                                      \
  do {                                                                               \
    const auto& ev_result_ = (expr);                                                 \
    EXPECT_TRUE(ev_result_.ok()) << ::edgevault::storage::testing::StatusOf(ev_result_); \
  } while (0)
#define EV_TEST_EXPECT_CODE(expr, code_)                                               \
  do {                                                                                 \
    const auto& ev_result_ = (expr);                                                   \
    EXPECT_EQ(::edgevault::storage::testing::StatusOf(ev_result_).code(),              \
              absl::StatusCode::code_)                                                 \
        << ::edgevault::storage::testing::StatusOf(ev_result_);                        \
  } while (0)
#define EV_TEST_CONCAT_(a, b) a##b
#define EV_TEST_CONCAT(a, b) EV_TEST_CONCAT_(a, b)
#define EV_TEST_ASSIGN(lhs, expr) EV_TEST_ASSIGN_(EV_TEST_CONCAT(ev_tmp_, __LINE__), lhs, expr)
#define EV_TEST_ASSIGN_(tmp, lhs, expr)   \
  auto tmp = (expr);                      \
  ASSERT_TRUE(tmp.ok()) << tmp.status();  \
  lhs = std::move(tmp).value()
