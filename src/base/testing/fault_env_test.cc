#include "src/base/testing/fault_env.h"

#include <string>

#include "gtest/gtest.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::base::testing {
namespace {

class FaultInjectionEnvTest : public ::testing::Test {
 protected:
  std::string Path(std::string_view name) const { return dir_.path() + "/" + std::string(name); }
  std::string Read(std::string_view name) {
    absl::StatusOr<std::string> text = sim_.ReadFile(Path(name));
    return text.ok() ? *text : std::string(text.status().ToString());
  }
  // A file with `durable` synced (name and bytes), then `volatile_tail` appended unsynced.
  std::unique_ptr<WritableFile> Write(std::string_view name, std::string_view durable,
                                      std::string_view volatile_tail) {
    auto f = env_.NewWritableFile(Path(name), FileOpen::kCreateExclusive, 0600);
    EXPECT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE((*f)->Append(durable).ok());
    EXPECT_TRUE((*f)->Sync().ok());
    EXPECT_TRUE(env_.SyncDir(dir_.path()).ok());
    EXPECT_TRUE((*f)->Append(volatile_tail).ok());
    return *std::move(f);
  }

  TempDir dir_{"ev-fault-env"};
  SimulatedEnv sim_;
  FaultInjectionEnv env_{&sim_};
};

TEST_F(FaultInjectionEnvTest, PowerLossKeepsOnlySyncedBytes) {
  auto f = Write("a", "synced;", "lost");
  ASSERT_EQ(Read("a"), "synced;lost");
  env_.Crash(Fault::kPowerLoss);
  EXPECT_EQ(Read("a"), "synced;");
  // The dead handle can do nothing more, even after the restart.
  EXPECT_TRUE(absl::IsUnavailable(f->Append("x")));
  env_.Restart();
  EXPECT_TRUE(absl::IsUnavailable(f->Sync()));
  EXPECT_EQ(Read("a"), "synced;");
}

TEST_F(FaultInjectionEnvTest, TornPowerLossKeepsHalfTheTail) {
  auto f = Write("a", "synced;", "abcdef");
  env_.Crash(Fault::kPowerLossTorn);
  EXPECT_EQ(Read("a"), "synced;abc");
}

TEST_F(FaultInjectionEnvTest, ProcessKillKeepsEverythingWritten) {
  auto f = Write("a", "synced;", "kept");
  env_.Crash(Fault::kProcessKill);
  EXPECT_EQ(Read("a"), "synced;kept");
  EXPECT_TRUE(absl::IsUnavailable(env_.ReadFile(Path("a")).status()));
}

TEST_F(FaultInjectionEnvTest, NameWithoutDirectorySyncIsLost) {
  auto f = env_.NewWritableFile(Path("new"), FileOpen::kCreateExclusive, 0600);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("data").ok());
  ASSERT_TRUE((*f)->Sync().ok());  // the bytes, not the name
  env_.Crash(Fault::kPowerLoss);
  EXPECT_FALSE(sim_.Exists(Path("new")));
}

TEST_F(FaultInjectionEnvTest, WriteFileAtomicallyCountsEveryStep) {
  ASSERT_TRUE(env_.WriteFileAtomically(Path("k"), "v1", 0600).ok());
  EXPECT_EQ(env_.count(FileOp::kWrite), 1);
  EXPECT_EQ(env_.count(FileOp::kSync), 2);  // the temporary file, then the directory
  EXPECT_EQ(env_.count(FileOp::kRename), 1);
  EXPECT_EQ(sim_.FileMode(Path("k")).value(), 0600u);
}

TEST_F(FaultInjectionEnvTest, RenameWithoutDirectorySyncIsUndone) {
  ASSERT_TRUE(env_.WriteFileAtomically(Path("k"), "old", 0600).ok());
  env_.InjectAt(FileOp::kSync, 4, Fault::kPowerLoss);  // the second write's directory fsync
  EXPECT_TRUE(absl::IsUnavailable(env_.WriteFileAtomically(Path("k"), "new", 0600)));
  EXPECT_EQ(env_.faults_fired(), 1);
  EXPECT_EQ(Read("k"), "old");
  EXPECT_EQ(sim_.ListDir(dir_.path()).value(), std::vector<std::string>{"k"});  // no temp file
}

TEST_F(FaultInjectionEnvTest, FailedDirectorySyncIsReported) {
  ASSERT_TRUE(env_.WriteFileAtomically(Path("k"), "old", 0600).ok());
  env_.InjectAt(FileOp::kSync, 4, Fault::kFail);
  EXPECT_FALSE(env_.WriteFileAtomically(Path("k"), "new", 0600).ok());
  EXPECT_EQ(Read("k"), "new");  // renamed, but not durable: the caller was told
  env_.Crash(Fault::kPowerLoss);
  EXPECT_EQ(Read("k"), "old");
}

TEST_F(FaultInjectionEnvTest, FailedRenameChangesNothing) {
  ASSERT_TRUE(env_.WriteFileAtomically(Path("k"), "old", 0600).ok());
  env_.InjectAt(FileOp::kRename, 2, Fault::kFail);
  EXPECT_FALSE(env_.WriteFileAtomically(Path("k"), "new", 0600).ok());
  EXPECT_EQ(Read("k"), "old");
  EXPECT_EQ(sim_.ListDir(dir_.path()).value(), std::vector<std::string>{"k"});
}

TEST_F(FaultInjectionEnvTest, FailedSyncLeavesDataForALaterSync) {
  auto f = Write("a", "", "");
  env_.InjectAt(FileOp::kSync, 3, Fault::kFail);
  ASSERT_TRUE(f->Append("batch").ok());
  EXPECT_FALSE(f->Sync().ok());
  ASSERT_TRUE(f->Sync().ok());
  env_.Crash(Fault::kPowerLoss);
  EXPECT_EQ(Read("a"), "batch");
}

TEST_F(FaultInjectionEnvTest, ShortWriteWritesHalfAndFails) {
  auto f = Write("a", "", "");
  env_.InjectAt(FileOp::kWrite, 3, Fault::kShortWrite);
  env_.InjectAt(FileOp::kWrite, 4, Fault::kFail);
  absl::Status st = f->Append("abcd");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("No space left"), std::string_view::npos) << st;
  EXPECT_FALSE(f->Append("efgh").ok());
  EXPECT_EQ(Read("a"), "ab");
}

}  // namespace
}  // namespace edgevault::base::testing
