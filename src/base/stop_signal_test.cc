#include "src/base/stop_signal.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"

namespace edgevault::base {
namespace {

class StopSignalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0);
    auto s = StopSignal::Create();
    ASSERT_TRUE(s.ok()) << s.status();
    stop_ = std::move(*s);
  }
  void TearDown() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int fds_[2] = {-1, -1};
  std::unique_ptr<StopSignal> stop_;
};

TEST_F(StopSignalTest, ReportsATimeoutAndThenReadableData) {
  EXPECT_FALSE(stop_->stopping());
  EXPECT_EQ(stop_->WaitReadable(fds_[0], 0), StopSignal::Wait::kTimeout);
  ASSERT_EQ(::write(fds_[1], "x", 1), 1);
  EXPECT_EQ(stop_->WaitReadable(fds_[0], -1), StopSignal::Wait::kReadable);
}

// A thread waiting with no time limit on a quiet socket returns when another thread
// stops it; every later wait returns at once, even with data to read; Stop twice is fine.
TEST_F(StopSignalTest, StopWakesAWaitWithoutATimeLimit) {
  StopSignal::Wait got = StopSignal::Wait::kReadable;
  std::thread waiter([&] { got = stop_->WaitReadable(fds_[0], -1); });
  stop_->Stop();
  waiter.join();
  EXPECT_EQ(got, StopSignal::Wait::kStopped);
  EXPECT_TRUE(stop_->stopping());
  ASSERT_EQ(::write(fds_[1], "x", 1), 1);
  EXPECT_EQ(stop_->WaitReadable(fds_[0], -1), StopSignal::Wait::kStopped);
  stop_->Stop();
  EXPECT_EQ(stop_->WaitReadable(fds_[0], 0), StopSignal::Wait::kStopped);
}

}  // namespace
}  // namespace edgevault::base
