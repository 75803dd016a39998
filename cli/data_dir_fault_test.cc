// The data-directory set-up (`edgevault up`'s first run) under a fault-injecting Env
// (docs/design/durability.md): each failed write, fsync or rename is reported and a retry
// finishes; a crash at any point leaves a directory that the next run completes, and keys
// a finished run created are the keys after a power loss.

#include <string>

#include "cli/data_dir.h"
#include "gtest/gtest.h"
#include "src/base/testing/fault_env.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::cli {
namespace {

using base::testing::Fault;
using base::testing::FaultInjectionEnv;
using base::testing::FaultPoint;
using base::testing::FileOp;
using base::testing::ForEachFaultPoint;
using base::testing::kAllCrashes;
using base::testing::kAllFileOps;

class DataDirFaultTest : public ::testing::Test {
 protected:
  std::unique_ptr<FaultInjectionEnv> NewEnv() {
    tmp_ = std::make_unique<base::testing::TempDir>("ev-datadir-fault", "/dev/shm");
    layout_ = DataDirLayout::For(tmp_->path() + "/data");
    return std::make_unique<FaultInjectionEnv>(&sim_);
  }
  std::string Trust() const { return layout_.root + "/trust"; }
  std::string MasterKey() {
    return sim_.ReadFile(layout_.keys_dir + "/master.key").value_or("<missing>");
  }
  std::function<int64_t(FileOp)> CleanCount() {
    return [this](FileOp op) {
      std::unique_ptr<FaultInjectionEnv> env = NewEnv();
      EXPECT_TRUE(InitDataDir(env.get(), layout_, 9000).ok());
      EXPECT_GT(env->count(op), 0);
      return env->count(op);
    };
  }
  // A finished, loadable data directory.
  void ExpectComplete(base::Env* env, const std::string& context) {
    EXPECT_TRUE(env->Exists(layout_.config_file)) << context;
    absl::Status keys = CheckKeyFiles(env, layout_.keys_dir, Trust());
    EXPECT_TRUE(keys.ok()) << context << ": " << keys;
    EXPECT_EQ(MasterKey().size(), 65u) << context;
  }

  base::SimulatedEnv sim_;
  std::unique_ptr<base::testing::TempDir> tmp_;
  DataDirLayout layout_;
};

TEST_F(DataDirFaultTest, FailureIsReportedAndARetryFinishesDurably) {
  ForEachFaultPoint(kAllFileOps, {Fault::kFail}, CleanCount(), false, [&](const FaultPoint& at) {
    const std::string context = at.Describe();
    std::unique_ptr<FaultInjectionEnv> env = NewEnv();
    env->Arm(at);
    EXPECT_FALSE(InitDataDir(env.get(), layout_, 9000).ok()) << context;
    absl::StatusOr<bool> retried = InitDataDir(env.get(), layout_, 9000);
    ASSERT_TRUE(retried.ok()) << context << ": " << retried.status();
    const std::string key = MasterKey();
    env->Crash(Fault::kPowerLoss);
    env->Restart();
    absl::StatusOr<bool> again = InitDataDir(env.get(), layout_, 9000);
    ASSERT_TRUE(again.ok()) << context << ": " << again.status();
    EXPECT_FALSE(*again) << context << ": the finished initialisation did not survive";
    ExpectComplete(env.get(), context);
    EXPECT_EQ(MasterKey(), key) << context << ": the master key changed across a power loss";
  });
}

TEST_F(DataDirFaultTest, CrashAtEveryPointIsCompletedByTheNextRun) {
  ForEachFaultPoint(kAllFileOps, kAllCrashes, CleanCount(), true, [&](const FaultPoint& at) {
    const std::string context = at.Describe();
    std::unique_ptr<FaultInjectionEnv> env = NewEnv();
    env->Arm(at);
    absl::StatusOr<bool> first = InitDataDir(env.get(), layout_, 9000);
    EXPECT_EQ(first.ok(), at.after_last()) << context;
    const std::string key = MasterKey();
    env->Crash(at.fault);
    env->Restart();
    absl::StatusOr<bool> next = InitDataDir(env.get(), layout_, 9000);
    ASSERT_TRUE(next.ok()) << context << ": " << next.status();
    ExpectComplete(env.get(), context);
    if (first.ok()) {
      EXPECT_FALSE(*next) << context;
      EXPECT_EQ(MasterKey(), key) << context;
    }
  });
}

}  // namespace
}  // namespace edgevault::cli
