// JWT signing-key rotation and revocation under a fault-injecting Env
// (docs/design/durability.md, key-files.md "Failures and recovery"): a crash before any
// write, fsync or rename leaves a set that loads; a key AddSigningKey returned and a
// revocation RevokeSigningKey confirmed survive a power loss.

#include <algorithm>
#include <string>

#include "gtest/gtest.h"
#include "src/base/testing/fault_env.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/jwt_keys.h"

namespace edgevault::crypto {
namespace {

using base::testing::Fault;
using base::testing::FaultInjectionEnv;
using base::testing::FaultPoint;
using base::testing::FileOp;
using base::testing::ForEachFaultPoint;
using base::testing::kAllCrashes;
using base::testing::kAllFileOps;

const absl::Duration kRetire = absl::Minutes(6);

class JwtKeysFaultTest : public ::testing::Test {
 protected:
  struct Result {
    absl::StatusOr<std::string> added = absl::UnknownError("not run");
    absl::StatusOr<bool> revoked = absl::UnknownError("not run");
  };

  // A directory with one key; returns its kid.
  std::string Prepare() {
    tmp_ = std::make_unique<base::testing::TempDir>("ev-jwt-fault", "/dev/shm");
    dir_ = tmp_->path() + "/jwt-signing";
    EXPECT_TRUE(sim_.CreateDirs(dir_, 0700).ok());
    absl::StatusOr<std::string> first = AddSigningKey(&sim_, dir_);
    EXPECT_TRUE(first.ok()) << first.status();
    sim_.AdvanceBy(absl::Seconds(1));
    return first.value_or("");
  }
  // Rotation: a second key, then the first one revoked.
  Result Run(base::Env* env, const std::string& first) {
    Result r;
    r.added = AddSigningKey(env, dir_);
    if (r.added.ok()) r.revoked = RevokeSigningKey(env, dir_, first, env->Now());
    return r;
  }
  std::function<int64_t(FileOp)> CleanCount() {
    return [this](FileOp op) {
      std::string first = Prepare();
      FaultInjectionEnv env(&sim_);
      Result r = Run(&env, first);
      EXPECT_TRUE(r.added.ok() && r.revoked.ok());
      EXPECT_GT(env.count(op), 0);
      return env.count(op);
    };
  }

  base::SimulatedEnv sim_;
  std::unique_ptr<base::testing::TempDir> tmp_;
  std::string dir_;
};

TEST_F(JwtKeysFaultTest, CrashAtEveryPointLeavesALoadableSetKeepingWhatWasConfirmed) {
  ForEachFaultPoint(kAllFileOps, kAllCrashes, CleanCount(), true, [&](const FaultPoint& at) {
    const std::string context = at.Describe();
    const std::string first = Prepare();
    FaultInjectionEnv env(&sim_);
    env.Arm(at);
    Result r = Run(&env, first);
    EXPECT_EQ(r.added.ok() && r.revoked.ok(), at.after_last()) << context;
    env.Crash(at.fault);
    env.Restart();
    absl::StatusOr<SigningKeySet> set = LoadSigningKeys(&env, dir_, env.Now(), kRetire);
    ASSERT_TRUE(set.ok()) << context << ": " << set.status();
    if (r.added.ok()) {
      EXPECT_EQ(set->active.kid, *r.added) << context << ": a confirmed key was lost";
    }
    const bool listed = std::find(set->revoked.begin(), set->revoked.end(), first) != set->revoked.end();
    if (r.revoked.ok()) {
      EXPECT_TRUE(listed) << context << ": a confirmed revocation was lost";
    }
    if (listed) {
      EXPECT_NE(set->active.kid, first) << context;
    }
  });
}

TEST_F(JwtKeysFaultTest, EveryFailureIsReported) {
  ForEachFaultPoint(kAllFileOps, {Fault::kFail}, CleanCount(), false, [&](const FaultPoint& at) {
    const std::string context = at.Describe();
    const std::string first = Prepare();
    FaultInjectionEnv env(&sim_);
    env.Arm(at);
    Result r = Run(&env, first);
    EXPECT_EQ(env.faults_fired(), 1) << context;
    EXPECT_FALSE(r.added.ok() && r.revoked.ok()) << context << ": the failure went unreported";
    EXPECT_TRUE(LoadSigningKeys(&env, dir_, env.Now(), kRetire).ok()) << context;
  });
}

}  // namespace
}  // namespace edgevault::crypto
