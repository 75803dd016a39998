// The file warehouse under a fault-injecting Env (docs/design/durability.md): every write,
// fsync and rename it makes is failed once, and a crash is simulated before each of them,
// with three kinds of crash. After a failure the warehouse must have said so; after a
// crash and a restart the warehouse opens, verifies, holds every acknowledged event once,
// nothing that was never sent, and takes the re-delivered rest without duplicates.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/audit/file_warehouse.h"
#include "src/audit/test_util.h"
#include "src/audit/verify.h"
#include "src/base/testing/fault_env.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::audit {
namespace {

using base::testing::Fault;
using base::testing::FaultInjectionEnv;
using base::testing::FaultPoint;
using base::testing::FileOp;
using base::testing::ForEachFaultPoint;
using base::testing::kAllCrashes;
using base::testing::kAllFileOps;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15T08:00:00Z

std::vector<AuditEvent> Batch(int from, int to, absl::Time base) {
  std::vector<AuditEvent> out;
  for (int i = from; i < to; ++i) out.push_back(testing::SampleEvent(i, base + absl::Seconds(i)));
  return out;
}

// Two runs of the writer (a restart between them), four batches: new hours, a restart
// with recovery, and one batch that spans two hours (a file switch inside Append).
std::vector<std::vector<std::vector<AuditEvent>>> Workload() {
  std::vector<AuditEvent> spanning = Batch(12, 14, kT0 + absl::Hours(2));
  for (AuditEvent& e : Batch(14, 16, kT0 + absl::Hours(3))) spanning.push_back(std::move(e));
  return {{Batch(0, 4, kT0), Batch(4, 8, kT0 + absl::Hours(1))},
          {Batch(8, 12, kT0 + absl::Hours(1)), spanning}};
}
constexpr int kEvents = 16;

class FileWarehouseFaultTest : public ::testing::Test {
 protected:
  struct Run {
    std::set<std::string> acked;      // ids of batches whose Append returned OK
    std::set<std::string> attempted;  // ids of every batch handed to Append
    bool error_reported = false;      // Create or Append returned an error
    // count(kSync) before and after each writer went away: the fsyncs of its destructor.
    std::vector<std::pair<int64_t, int64_t>> destructor_syncs;
    bool InDestructor(FileOp op, int64_t k) const {
      for (const auto& [before, after] : destructor_syncs) {
        if (op == FileOp::kSync && k > before && k <= after) return true;
      }
      return false;
    }
  };

  std::unique_ptr<FaultInjectionEnv> NewEnv() {
    dir_ = std::make_unique<base::testing::TempDir>("ev-wh-fault", "/dev/shm");
    return std::make_unique<FaultInjectionEnv>(&sim_);
  }
  std::string Dir() const { return dir_->path() + "/warehouse"; }

  absl::StatusOr<std::unique_ptr<FileWarehouse>> Open(base::Env* env) {
    return FileWarehouse::Create({.dir = Dir(), .node = "node-1", .env = env});
  }

  // Runs the workload. With `retry`, a failed Create or Append is tried again (as the
  // audit consumer does: the queue re-delivers an unacknowledged batch); without, the
  // run stops at the first error (the process is gone).
  Run RunWorkload(FaultInjectionEnv& env, bool retry) {
    Run run;
    for (const auto& phase : Workload()) {
      absl::StatusOr<std::unique_ptr<FileWarehouse>> w = Open(&env);
      if (!w.ok()) {
        run.error_reported = true;
        if (!retry) return run;
        w = Open(&env);
        EXPECT_TRUE(w.ok()) << w.status();
        if (!w.ok()) return run;
      }
      for (const std::vector<AuditEvent>& batch : phase) {
        for (const AuditEvent& e : batch) run.attempted.insert(e.id);
        absl::Status st = (*w)->Append(batch);
        if (!st.ok()) {
          run.error_reported = true;
          if (!retry) return run;
          st = (*w)->Append(batch);
          EXPECT_TRUE(st.ok()) << st;
          if (!st.ok()) return run;
        }
        for (const AuditEvent& e : batch) run.acked.insert(e.id);
      }
      const int64_t before = env.count(FileOp::kSync);
      w->reset();
      run.destructor_syncs.emplace_back(before, env.count(FileOp::kSync));
    }
    return run;
  }

  // The event ids in the warehouse, with how often each occurs; also checks the chain.
  std::map<std::string, int> VerifiedIds(const std::string& context) {
    FileWarehouseReader reader(Dir(), &sim_);
    absl::StatusOr<VerifyReport> r = VerifyWarehouse(reader, {});
    EXPECT_TRUE(r.ok()) << context << ": " << r.status();
    if (r.ok()) {
      EXPECT_TRUE(r->ok) << context << ": " << r->file << ":" << r->line << ": " << r->problem;
    }
    std::map<std::string, int> ids;
    absl::StatusOr<std::vector<WarehouseFile>> files = reader.ListFiles();
    EXPECT_TRUE(files.ok()) << context;
    if (!files.ok()) return ids;
    for (const WarehouseFile& f : *files) {
      std::string text = reader.ReadFile(f.path).value_or("");
      constexpr std::string_view kId = "\"id\":\"evt_";
      for (size_t at = text.find(kId); at != std::string::npos; at = text.find(kId, at + 1)) {
        size_t start = at + kId.size() - 4;
        ++ids[text.substr(start, text.find('"', start) - start)];
      }
    }
    return ids;
  }

  // The count of an operation in a run without faults.
  std::function<int64_t(FileOp)> CleanCount() {
    return [this](FileOp op) {
      std::unique_ptr<FaultInjectionEnv> env = NewEnv();
      Run run = RunWorkload(*env, /*retry=*/false);
      EXPECT_EQ(run.acked.size(), static_cast<size_t>(kEvents));
      EXPECT_FALSE(run.error_reported);
      EXPECT_GT(env->count(op), 3);
      return env->count(op);
    };
  }

  base::SimulatedEnv sim_;
  std::unique_ptr<base::testing::TempDir> dir_;
};

// Each write, fsync and rename fails once: the warehouse reports it (or it was the
// closing fsync, after every batch had been acknowledged), and a retry completes with
// every event stored once and a chain that verifies.
TEST_F(FileWarehouseFaultTest, EveryFailedOperationIsReportedAndARetryRecovers) {
  auto check = [&](const FaultPoint& at) {
    const std::string context = at.Describe();
    std::unique_ptr<FaultInjectionEnv> env = NewEnv();
    env->Arm(at);
    Run run = RunWorkload(*env, /*retry=*/true);
    EXPECT_EQ(env->faults_fired(), 1) << context;
    EXPECT_TRUE(run.error_reported || run.InDestructor(at.op, at.k))
        << context << ": the failure went unreported";
    EXPECT_EQ(run.acked.size(), static_cast<size_t>(kEvents)) << context;
    std::map<std::string, int> ids = VerifiedIds(context);
    EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents)) << context;
    for (const auto& [id, times] : ids) EXPECT_EQ(times, 1) << context << ": " << id;
  };
  ForEachFaultPoint(kAllFileOps, {Fault::kFail}, CleanCount(), false, check);
  ForEachFaultPoint({FileOp::kWrite}, {Fault::kShortWrite}, CleanCount(), false, check);
}

// A crash before each write, fsync and rename (and one after the last): after a restart
// the warehouse opens and verifies, holds every acknowledged event exactly once and no
// event that was never sent; the re-delivered rest is stored once.
TEST_F(FileWarehouseFaultTest, CrashAtEveryPointLeavesTheOldOrTheNewState) {
  ForEachFaultPoint(kAllFileOps, kAllCrashes, CleanCount(), true, [&](const FaultPoint& at) {
    const std::string context = at.Describe();
    std::unique_ptr<FaultInjectionEnv> env = NewEnv();
    env->Arm(at);
    Run run = RunWorkload(*env, /*retry=*/false);
    if (at.after_last()) {
      EXPECT_FALSE(env->crashed()) << context;
      EXPECT_FALSE(run.error_reported) << context;
      env->Crash(at.fault);
    } else {
      EXPECT_TRUE(run.error_reported || run.InDestructor(at.op, at.k)) << context;
    }
    EXPECT_TRUE(env->crashed()) << context;
    env->Restart();

    {
      absl::StatusOr<std::unique_ptr<FileWarehouse>> w = Open(env.get());
      ASSERT_TRUE(w.ok()) << context << ": " << w.status();
    }
    std::map<std::string, int> ids = VerifiedIds(context + ", after the restart");
    for (const std::string& id : run.acked) {
      EXPECT_EQ(ids.count(id), 1u) << context << ": acknowledged " << id << " was lost";
    }
    for (const auto& [id, times] : ids) {
      EXPECT_EQ(times, 1) << context << ": " << id;
      EXPECT_EQ(run.attempted.count(id), 1u) << context << ": " << id << " was never sent";
    }

    // The queue re-delivers every batch not acknowledged.
    absl::StatusOr<std::unique_ptr<FileWarehouse>> w = Open(env.get());
    ASSERT_TRUE(w.ok()) << context << ": " << w.status();
    for (const auto& phase : Workload()) {
      for (const std::vector<AuditEvent>& batch : phase) {
        if (run.acked.count(batch.front().id) != 0) continue;
        absl::Status st = (*w)->Append(batch);
        EXPECT_TRUE(st.ok()) << context << ": " << st;
      }
    }
    w->reset();
    ids = VerifiedIds(context + ", after re-delivery");
    EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents)) << context;
    for (const auto& [id, times] : ids) EXPECT_EQ(times, 1) << context << ": " << id;
  });
}

}  // namespace
}  // namespace edgevault::audit
