// Scheduled apply (docs/design/promotions.md §5a): ChangeRequests::Schedule and the
// scheduler, on a SimulatedEnv clock that moves only when the test says so.
#include "src/base/status.h"
#include "src/workspace/change_request_scheduler.h"

#include <gtest/gtest.h>

#include "src/base/env.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/keyring.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

std::string Code(const absl::Status& st) { return base::ErrorCode(st); }

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = *storage::OpenSqliteControlStore({dir_.path() + "/control.db", &env_});
    storage::Org org{.id = "org_1", .name = "default"};
    org.created_at = env_.Now();
    ASSERT_TRUE(control_->CreateOrg(org).ok());
    kv_ = *storage::OpenLmdbEdgeKv({.path = dir_.path() + "/edge"});
    stores_ = *storage::OpenSqliteWorkspaceStoreProvider({.dir = dir_.path() + "/workspaces", .env = &env_, .max_open = 8});
    crypto::Keyring ring;
    ASSERT_TRUE(ring.Add("m1", crypto::SecureBuffer(std::string(32, 'k'))).ok());
    keyring_ = std::make_unique<crypto::KeyringHolder>(std::move(ring));
    ServiceOptions so{.stores = stores_.get(), .directory = control_.get(), .kv = kv_.get(), .env = &env_,
                      .keyring = keyring_.get()};
    service_ = *Service::Create(so);
    crs_ = std::make_unique<ChangeRequests>(service_.get(), stores_.get(), &env_);
    scheduler_ = NewScheduler();

    ws_ = *service_->CreateWorkspace(author_, "shop", "Shop");
    for (const char* env : {"staging", "prod"}) {
      ASSERT_TRUE(service_->CreateEnvironment(author_, ws_, json::object{{"key", env}}, "setup", std::nullopt).ok());
    }
    PutPool(20, 10);
    ASSERT_TRUE(service_->SetEnvironmentPolicy(author_, ws_, "prod",
                                               json::object{{"required_approvals", 2}, {"change_requests_required", true}},
                                               "policy", std::nullopt)
                    .ok());
  }

  std::unique_ptr<ChangeRequestScheduler> NewScheduler() {
    return *ChangeRequestScheduler::Create(
        {.change_requests = crs_.get(), .stores = stores_.get(), .directory = control_.get(), .env = &env_,
         .authorizer = [this](const storage::Workspace&, const std::string& by, const json::object& grant) -> WriteAuthorizer {
           authorized_as_ = by + " " + json::serialize(grant);
           return [this](const WriteEffect&) { return rights_; };
         }});
  }

  void PutPool(int staging, int prod) {
    absl::StatusOr<int64_t> r = service_->PutItem(
        author_, ws_, ItemKind::kConfig, "pool",
        {{"type", "integer"}, {"schema", {{"maximum", 100}}}, {"values", {{"staging", staging}, {"prod", prod}}}},
        "setup", std::nullopt, AllowAnyWrite());
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // An approved promotion of pool (staging 20 → prod).
  int64_t Approved() {
    absl::StatusOr<json::object> cr =
        crs_->Promote(author_, ws_, {{"from", "staging"}, {"to", "prod"}, {"title", "raise pool"}});
    EXPECT_TRUE(cr.ok()) << cr.status();
    int64_t id = cr->at("id").as_int64();
    EXPECT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());
    EXPECT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
    return id;
  }

  absl::StatusOr<json::object> Schedule(int64_t id, absl::Duration ahead, const Actor& who) {
    return crs_->Schedule(who, ws_, id, env_.Now() + ahead, json::object{{"role", "admin"}}, AllowAnyWrite());
  }

  std::string State(int64_t id) { return std::string(crs_->Show(ws_, id)->at("state").as_string()); }
  int64_t Prod() {
    std::string body = service_->GetItem(ws_, ItemKind::kConfig, "pool")->body;
    return json::parse(body).at("values").at("prod").as_int64();
  }
  int64_t Head() { return *service_->Head(ws_); }

  base::testing::TempDir dir_{"ev-sched"};
  base::SimulatedEnv env_;
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<crypto::KeyringHolder> keyring_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<ChangeRequests> crs_;
  std::unique_ptr<ChangeRequestScheduler> scheduler_;
  storage::Workspace ws_;
  absl::Status rights_ = absl::OkStatus();
  std::string authorized_as_;
  Actor author_{"user:usr_author", "org_1", "127.0.0.1", "r1"};
  Actor admin1_{"user:usr_a1", "org_1", "127.0.0.1", "r2"};
  Actor admin2_{"user:usr_a2", "org_1", "127.0.0.1", "r3"};
};

// The background task (Start) on the simulated clock: it applies at the due time, not
// before, and a schedule made after Start wakes it (no max_wait passes in between).
TEST_F(SchedulerTest, BackgroundTaskAppliesAtTheDueTimeOnly) {
  ASSERT_TRUE(scheduler_->Start().ok());
  EXPECT_EQ(env_.RunDueTasks(), 1);  // the first tick: nothing due
  int64_t id = Approved();
  ASSERT_TRUE(Schedule(id, absl::Seconds(30), admin1_).ok());
  const int64_t head = Head();
  env_.RunFor(absl::Seconds(29));
  EXPECT_EQ(State(id), "scheduled");
  EXPECT_EQ(Head(), head);
  env_.RunFor(absl::Seconds(1));
  EXPECT_EQ(State(id), "applied");
  EXPECT_EQ(Head(), head + 1);
  env_.RunFor(absl::Minutes(5));  // later ticks apply nothing again
  EXPECT_EQ(Head(), head + 1);
  scheduler_->Stop();
  PutPool(30, 20);
  int64_t later = Approved();
  ASSERT_TRUE(Schedule(later, absl::Seconds(1), admin1_).ok());
  EXPECT_EQ(env_.RunFor(absl::Minutes(1)), 0);  // stopped
  EXPECT_EQ(State(later), "scheduled");
}

// A request due while its workspace is deleted waits (no apply, no retry storm: it is looked
// at again every deleted_recheck), applies once the workspace is restored, and is dropped
// with the workspace when it is purged.
TEST_F(SchedulerTest, ARequestDueWhileItsWorkspaceIsDeletedWaitsAndAppliesAfterARestore) {
  ASSERT_TRUE(scheduler_->Start().ok());
  int64_t id = Approved();
  ASSERT_TRUE(Schedule(id, absl::Seconds(30), admin1_).ok());
  const int64_t head = Head();
  absl::StatusOr<storage::Workspace> deleted = service_->DeleteWorkspace(admin1_, ws_, "oops", absl::Hours(24 * 7), {});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  env_.RunFor(absl::Seconds(31));
  std::vector<ChangeRequestScheduler::Outcome> ran = scheduler_->RunDue();
  EXPECT_TRUE(ran.empty());  // the due entry was looked at by the task and waits a minute
  ASSERT_EQ(scheduler_->Size(), 1u);
  EXPECT_EQ(*scheduler_->NextDue(), env_.Now() - absl::Seconds(1) + absl::Minutes(1));
  env_.RunFor(absl::Minutes(3));
  absl::StatusOr<storage::Workspace> restored = service_->RestoreWorkspace(admin1_, *deleted, "undo", {});
  ASSERT_TRUE(restored.ok()) << restored.status();
  ws_ = *restored;
  EXPECT_EQ(State(id), "scheduled");
  EXPECT_EQ(Head(), head);  // nothing applied while it was deleted
  EXPECT_EQ(Prod(), 10);
  env_.RunFor(absl::Minutes(1));
  EXPECT_EQ(State(id), "applied");
  EXPECT_EQ(Prod(), 20);
}

TEST_F(SchedulerTest, AppliesOnceWhenDueAsWhoScheduledIt) {
  int64_t id = Approved();
  absl::StatusOr<json::object> scheduled = Schedule(id, absl::Seconds(30), admin1_);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->at("state").as_string(), "scheduled");
  EXPECT_EQ(scheduled->at("scheduled_by").as_string(), "user:usr_a1");
  EXPECT_TRUE(scheduled->contains("apply_at"));
  EXPECT_EQ(scheduler_->Size(), 1u);  // the listener told the scheduler
  const int64_t head = Head();

  env_.AdvanceBy(absl::Seconds(29));
  EXPECT_TRUE(scheduler_->RunDue().empty());  // not yet
  EXPECT_EQ(Head(), head);
  env_.AdvanceBy(absl::Seconds(1));
  std::vector<ChangeRequestScheduler::Outcome> ran = scheduler_->RunDue();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].result, "applied") << ran[0].detail;
  EXPECT_EQ(authorized_as_, R"(user:usr_a1 {"role":"admin"})");  // the scheduler's rights, rebuilt
  EXPECT_EQ(State(id), "applied");
  EXPECT_FALSE(crs_->Show(ws_, id)->contains("apply_at"));
  EXPECT_EQ(Prod(), 20);
  EXPECT_EQ(Head(), head + 1);
  std::vector<storage::Revision> revs = *service_->ListRevisions(ws_, head, 10);
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0].actor, "user:usr_a1");
  EXPECT_NE(revs[0].reason.find("(scheduled by user:usr_a1 for "), std::string::npos) << revs[0].reason;

  // Nothing left: again, or after a restart, nothing more is applied.
  env_.AdvanceBy(absl::Seconds(5));
  EXPECT_TRUE(scheduler_->RunDue().empty());
  std::unique_ptr<ChangeRequestScheduler> restarted = NewScheduler();
  ASSERT_TRUE(restarted->Rebuild().ok());
  EXPECT_EQ(restarted->Size(), 0u);
  EXPECT_EQ(Head(), head + 1);
}

TEST_F(SchedulerTest, ScheduleSurvivesARestartAndAStaleSecondIndexNeverAppliesTwice) {
  int64_t id = Approved();
  ASSERT_TRUE(Schedule(id, absl::Minutes(5), admin2_).ok());
  const int64_t head = Head();
  // The process dies; a new one rebuilds its index from the stores.
  scheduler_.reset();
  scheduler_ = NewScheduler();
  EXPECT_EQ(scheduler_->Size(), 0u);
  ASSERT_TRUE(scheduler_->Rebuild().ok());
  ASSERT_EQ(scheduler_->Size(), 1u);
  EXPECT_EQ(*scheduler_->NextDue(), env_.Now() + absl::Minutes(5));
  std::unique_ptr<ChangeRequestScheduler> other = NewScheduler();  // a second index of the same stores
  ASSERT_TRUE(other->Rebuild().ok());

  env_.AdvanceBy(absl::Minutes(5));
  std::vector<ChangeRequestScheduler::Outcome> first = scheduler_->RunDue();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].result, "applied") << first[0].detail;
  std::vector<ChangeRequestScheduler::Outcome> second = other->RunDue();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].result, "skipped");
  EXPECT_EQ(Head(), head + 1);  // exactly one apply
}

TEST_F(SchedulerTest, ScheduleIsValidatedAndNeedsApprovalsAndTheRightToApply) {
  int64_t id = Approved();
  EXPECT_TRUE(absl::IsInvalidArgument(Schedule(id, absl::Seconds(-1), admin1_).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Schedule(id, absl::ZeroDuration(), admin1_).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Schedule(id, absl::Hours(24 * 367), admin1_).status()));
  absl::Status denied = crs_->Schedule(admin1_, ws_, id, env_.Now() + absl::Minutes(1), {},
                                       [](const WriteEffect& e) {
                                         EXPECT_TRUE(e.environments.contains("prod"));
                                         return absl::PermissionDeniedError("no");
                                       })
                            .status();
  EXPECT_TRUE(absl::IsPermissionDenied(denied)) << denied;
  EXPECT_EQ(State(id), "approved");

  // Not approved yet: refused with the approvals it lacks.
  int64_t open = crs_->Promote(author_, ws_, {{"from", "staging"}, {"to", "prod"}, {"title", "t2"}})->at("id").as_int64();
  EXPECT_EQ(Code(Schedule(open, absl::Minutes(1), admin1_).status()), "change_request_state");
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, open, true, "").ok());
  EXPECT_EQ(State(open), "open");

  // Unschedule: back to approved; the stale index entry is skipped at its time.
  ASSERT_TRUE(Schedule(id, absl::Minutes(1), admin1_).ok());
  absl::StatusOr<json::object> un = crs_->Schedule(admin1_, ws_, id, std::nullopt, {}, AllowAnyWrite());
  ASSERT_TRUE(un.ok()) << un.status();
  EXPECT_EQ(un->at("state").as_string(), "approved");
  EXPECT_FALSE(un->contains("apply_at"));
  EXPECT_EQ(Code(crs_->Schedule(admin1_, ws_, id, std::nullopt, {}, AllowAnyWrite()).status()),
            "change_request_state");
  // Rescheduled later: the first entry is skipped, the second applies.
  ASSERT_TRUE(Schedule(id, absl::Minutes(1), admin1_).ok());
  ASSERT_TRUE(Schedule(id, absl::Minutes(3), admin2_).ok());
  const int64_t head = Head();
  env_.AdvanceBy(absl::Minutes(2));
  std::vector<ChangeRequestScheduler::Outcome> early = scheduler_->RunDue();
  ASSERT_EQ(early.size(), 1u);  // the entry of the first time (unscheduled, then moved later)
  EXPECT_EQ(early[0].result, "skipped");
  EXPECT_EQ(Head(), head);
  env_.AdvanceBy(absl::Minutes(1));
  std::vector<ChangeRequestScheduler::Outcome> later = scheduler_->RunDue();
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].result, "applied") << later[0].detail;
  EXPECT_NE(authorized_as_.find("user:usr_a2"), std::string::npos);
}

TEST_F(SchedulerTest, RebaseAndCloseOfAScheduledRequestClearTheSchedule) {
  int64_t id = Approved();
  ASSERT_TRUE(Schedule(id, absl::Minutes(1), admin1_).ok());
  // One more approval keeps it scheduled.
  Actor admin3{"user:usr_a3", "org_1", "", ""};
  absl::StatusOr<json::object> third = crs_->Review(admin3, "admin", ws_, id, true, "");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->at("state").as_string(), "scheduled");
  absl::StatusOr<json::object> rebased = crs_->Rebase(author_, ws_, id);
  ASSERT_TRUE(rebased.ok()) << rebased.status();
  EXPECT_EQ(rebased->at("state").as_string(), "open");
  EXPECT_FALSE(rebased->contains("apply_at"));
  int64_t other = Approved();
  ASSERT_TRUE(Schedule(other, absl::Minutes(1), admin1_).ok());
  ASSERT_TRUE(crs_->Close(author_, false, ws_, other).ok());
  const int64_t head = Head();
  env_.AdvanceBy(absl::Minutes(1));
  for (const auto& o : scheduler_->RunDue()) EXPECT_EQ(o.result, "skipped") << o.id;
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(State(other), "closed");
}

TEST_F(SchedulerTest, ConflictOrLostRightsOrApprovalsAtApplyTimeMarkFailedAndWriteNothing) {
  // An item changed after scheduling: failed, with the conflict as the reason.
  int64_t id = Approved();
  ASSERT_TRUE(Schedule(id, absl::Minutes(1), admin1_).ok());
  PutPool(20, 15);
  int64_t head = Head();
  env_.AdvanceBy(absl::Minutes(1));
  std::vector<ChangeRequestScheduler::Outcome> ran = scheduler_->RunDue();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].result, "failed") << ran[0].detail;
  absl::StatusOr<json::object> failed = crs_->Show(ws_, id);
  EXPECT_EQ(failed->at("state").as_string(), "failed");
  EXPECT_NE(std::string(failed->at("state_reason").as_string()).find("items changed"), std::string::npos);
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(Prod(), 15);

  // The scheduler lost the right to write there: failed with the denial.
  ASSERT_TRUE(crs_->Rebase(author_, ws_, id).ok());
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(Schedule(id, absl::Minutes(1), admin1_).ok());
  rights_ = absl::PermissionDeniedError("writing in protected environment \"prod\" needs the admin role");
  env_.AdvanceBy(absl::Minutes(1));
  ran = scheduler_->RunDue();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].result, "failed");
  EXPECT_NE(std::string(crs_->Show(ws_, id)->at("state_reason").as_string()).find("admin role"), std::string::npos);
  EXPECT_EQ(Head(), head);

  // The policy now wants more approvals than it has: failed, approvals re-checked at apply.
  rights_ = absl::OkStatus();
  int64_t again = Approved();
  ASSERT_TRUE(Schedule(again, absl::Minutes(1), admin1_).ok());
  ASSERT_TRUE(service_->SetEnvironmentPolicy(author_, ws_, "prod",
                                             json::object{{"required_approvals", 3}, {"change_requests_required", true}},
                                             "stricter", std::nullopt)
                  .ok());
  head = Head();
  env_.AdvanceBy(absl::Minutes(1));
  ran = scheduler_->RunDue();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].result, "failed");
  EXPECT_NE(std::string(crs_->Show(ws_, again)->at("state_reason").as_string()).find("2 of the 3 approvals"),
            std::string::npos);
  EXPECT_EQ(Head(), head);
}

TEST_F(SchedulerTest, ARequestNoLongerValidAtItsTimeEndsFailedWithTheReason) {
  int64_t id = Approved();
  ASSERT_TRUE(Schedule(id, absl::Minutes(1), admin1_).ok());
  // prod disappears behind the api's back: a value for it no longer validates.
  std::shared_ptr<storage::WorkspaceStore> store = *stores_->Open(ws_.id);
  storage::CommitRequest raw{.actor = "test", .reason = "raw", .op = "put", .time = env_.Now()};
  raw.mutations.push_back({ItemKind::kEnvironment, "prod", std::nullopt, "prod"});
  ASSERT_TRUE(store->Commit(raw).ok());
  const int64_t head = Head();
  env_.AdvanceBy(absl::Minutes(1));
  std::vector<ChangeRequestScheduler::Outcome> ran = scheduler_->RunDue();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].result, "failed") << ran[0].detail;
  absl::StatusOr<json::object> failed = crs_->Show(ws_, id);
  EXPECT_EQ(failed->at("state").as_string(), "failed");
  EXPECT_NE(std::string(failed->at("state_reason").as_string()).find("prod"), std::string::npos)
      << failed->at("state_reason");
  EXPECT_EQ(Head(), head);
  // The failure is recorded as an audit event of the scheduled apply.
  std::vector<storage::OutboxRow> pending = *store->PendingOutboxOfKind("audit", 1000);
  ASSERT_FALSE(pending.empty());
  EXPECT_NE(pending.back().payload.find("workspace.change_request.fail"), std::string::npos);
  EXPECT_NE(pending.back().payload.find(R"("scheduled":true)"), std::string::npos) << pending.back().payload;
}

}  // namespace
}  // namespace edgevault::workspace
