// LoadOrCreateKeyFile under a fault-injecting Env (docs/design/durability.md): a key it
// returned is the key after any crash, a failure is reported, and no crash leaves a file
// that does not load.

#include <string>

#include "gtest/gtest.h"
#include "src/base/key_file.h"
#include "src/base/testing/fault_env.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::base {
namespace {

using testing::Fault;
using testing::FaultInjectionEnv;
using testing::FileOp;
using testing::kAllCrashes;
using testing::kAllFileOps;

class KeyFileFaultTest : public ::testing::Test {
 protected:
  std::string Dir() const { return tmp_->path() + "/keys/auth"; }
  absl::StatusOr<std::string> Load(Env* env) {
    return LoadOrCreateKeyFile(env, Dir(), "k.key", "test key", RandomKey(env));
  }
  std::unique_ptr<FaultInjectionEnv> NewEnv() {
    tmp_ = std::make_unique<testing::TempDir>("ev-keyfile-fault", "/dev/shm");
    return std::make_unique<FaultInjectionEnv>(&sim_);
  }
  std::function<int64_t(FileOp)> CleanCount() {
    return [this](FileOp op) {
      std::unique_ptr<FaultInjectionEnv> env = NewEnv();
      EXPECT_TRUE(Load(env.get()).ok());
      EXPECT_GT(env->count(op), 0);
      return env->count(op);
    };
  }

  SimulatedEnv sim_;
  std::unique_ptr<testing::TempDir> tmp_;
};

// Each write, fsync and rename of the first start fails once: the error is reported, and
// the key a retry returns is the key after a power loss.
TEST_F(KeyFileFaultTest, FailureIsReportedAndTheRetriedKeySurvivesPowerLoss) {
  testing::ForEachFaultPoint(kAllFileOps, {Fault::kFail}, CleanCount(), false, [&](const testing::FaultPoint& at) {
    const std::string context = at.Describe();
    std::unique_ptr<FaultInjectionEnv> env = NewEnv();
    env->Arm(at);
    EXPECT_FALSE(Load(env.get()).ok()) << context;
    absl::StatusOr<std::string> key = Load(env.get());
    ASSERT_TRUE(key.ok()) << context << ": " << key.status();
    env->Crash(Fault::kPowerLoss);
    env->Restart();
    absl::StatusOr<std::string> after = Load(env.get());
    ASSERT_TRUE(after.ok()) << context << ": " << after.status();
    EXPECT_EQ(*after, *key) << context << ": the key changed across a power loss";
  });
}

// A crash before each write, fsync and rename: the next start loads a key (the same one
// whenever the first start had returned it), never a half-written file.
TEST_F(KeyFileFaultTest, CrashAtEveryPointLeavesNoKeyOrTheWholeKey) {
  testing::ForEachFaultPoint(kAllFileOps, kAllCrashes, CleanCount(), true, [&](const testing::FaultPoint& at) {
    const std::string context = at.Describe();
    std::unique_ptr<FaultInjectionEnv> env = NewEnv();
    env->Arm(at);
    absl::StatusOr<std::string> first = Load(env.get());
    EXPECT_EQ(first.ok(), at.after_last()) << context;
    env->Crash(at.fault);
    env->Restart();
    absl::StatusOr<std::string> after = Load(env.get());
    ASSERT_TRUE(after.ok()) << context << ": " << after.status();
    EXPECT_EQ(after->size(), kKeyFileBytes) << context;
    if (first.ok()) {
      EXPECT_EQ(*after, *first) << context;
    }
  });
}

}  // namespace
}  // namespace edgevault::base
