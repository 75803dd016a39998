#include "src/audit/relay.h"

#include <map>

#include "gtest/gtest.h"
#include "src/audit/sqlite_queue.h"
#include "src/audit/test_util.h"

namespace edgevault::audit {
namespace {

using testing::SampleEvent;
using testing::TempDir;

// An in-memory outbox whose remove can be made to fail (the process "crashes" after the
// queue accepted the batch and before the rows left the outbox).
struct FakeOutbox {
  std::map<std::string, std::string> rows;  // id order = insertion order for our ids
  bool crash_on_remove = false;
  int removes = 0;

  OutboxRelayOptions Options(AuditQueue* q, base::Env* env, int batch) {
    OutboxRelayOptions o;
    o.peek = [this](int limit) -> absl::StatusOr<OutboxRows> {
      OutboxRows out;
      for (const auto& [id, json] : rows) {
        if (static_cast<int>(out.size()) == limit) break;
        out.emplace_back(id, json);
      }
      return out;
    };
    o.remove = [this](const std::vector<std::string>& ids) -> absl::Status {
      if (crash_on_remove) return absl::InternalError("simulated crash before remove");
      for (const auto& id : ids) rows.erase(id);
      ++removes;
      return absl::OkStatus();
    };
    o.queue = q;
    o.env = env;
    o.batch = batch;
    o.source = "fake";
    return o;
  }
};

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto q = SqliteAuditQueue::Open({.path = dir_.path() + "/queue.db"});
    ASSERT_TRUE(q.ok()) << q.status();
    queue_ = *std::move(q);
    for (int i = 0; i < 7; ++i) {
      AuditEvent e = SampleEvent(i, env_.Now() + absl::Seconds(i));
      outbox_.rows[e.id] = CanonicalJson(e);
    }
  }
  std::vector<std::string> QueuedIds() {
    auto b = queue_->Claim(1000, absl::Seconds(1), env_.Now() + absl::Hours(100));
    EXPECT_TRUE(b.ok());
    return b.ok() ? b->ids() : std::vector<std::string>{};
  }
  TempDir dir_;
  base::SimulatedEnv env_;
  std::unique_ptr<SqliteAuditQueue> queue_;
  FakeOutbox outbox_;
};

TEST_F(RelayTest, MovesEverythingAndEmptiesTheOutbox) {
  auto relay = OutboxRelay::Create(outbox_.Options(queue_.get(), &env_, 3));
  ASSERT_TRUE(relay.ok());
  EXPECT_EQ(*(*relay)->RunOnce(), 3);
  EXPECT_EQ(*(*relay)->RunOnce(), 3);
  EXPECT_EQ(*(*relay)->RunOnce(), 1);
  EXPECT_EQ(*(*relay)->RunOnce(), 0);
  EXPECT_TRUE(outbox_.rows.empty());
  EXPECT_EQ(*queue_->Depth(), 7);
  EXPECT_EQ((*relay)->moved(), 7);
}

TEST_F(RelayTest, CrashBetweenEnqueueAndRemoveDoesNotDuplicate) {
  std::vector<std::string> expected;
  for (const auto& [id, json] : outbox_.rows) expected.push_back(id);
  {
    auto relay = OutboxRelay::Create(outbox_.Options(queue_.get(), &env_, 5));
    ASSERT_TRUE(relay.ok());
    outbox_.crash_on_remove = true;
    EXPECT_FALSE((*relay)->RunOnce().ok());  // enqueued 5, outbox untouched
  }
  EXPECT_EQ(outbox_.rows.size(), 7u);
  EXPECT_EQ(*queue_->Depth(), 5);
  // The consumer even delivers and acks two of them before the relay comes back.
  auto b = queue_->Claim(2, absl::Seconds(30), env_.Now());
  ASSERT_TRUE(queue_->Ack(b->ids()).ok());
  // "Restart": a fresh relay re-sends the same rows; the queue ignores the known ids.
  outbox_.crash_on_remove = false;
  auto relay = OutboxRelay::Create(outbox_.Options(queue_.get(), &env_, 5));
  ASSERT_TRUE(relay.ok());
  while (*(*relay)->RunOnce() > 0) {
  }
  EXPECT_TRUE(outbox_.rows.empty());
  std::vector<std::string> queued = QueuedIds();
  std::vector<std::string> expected_pending(expected.begin() + 2, expected.end());
  EXPECT_EQ(queued, expected_pending);  // each event once, acked ones not again
}

TEST_F(RelayTest, MalformedRowBecomesAnErrorEventWithAStableId) {
  outbox_.rows.clear();
  outbox_.rows["row-1"] = R"({"v":1,"password":"hunter2"})";
  outbox_.crash_on_remove = true;
  auto relay = OutboxRelay::Create(outbox_.Options(queue_.get(), &env_, 10));
  ASSERT_TRUE(relay.ok());
  EXPECT_FALSE((*relay)->RunOnce().ok());
  outbox_.crash_on_remove = false;
  env_.AdvanceBy(absl::Seconds(5));
  EXPECT_EQ(*(*relay)->RunOnce(), 1);
  auto b = queue_->Claim(10, absl::Seconds(1), env_.Now());
  ASSERT_EQ(b->events.size(), 1u);
  const AuditEvent& e = b->events[0];
  EXPECT_EQ(e.action, "audit.malformed_event");
  EXPECT_EQ(e.outcome, "error");
  EXPECT_EQ(e.target, "row-1");
  EXPECT_EQ(CanonicalJson(e).find("hunter2"), std::string::npos);
}

TEST_F(RelayTest, BackgroundTaskDrainsAtOnceThenPollsAndStops) {
  auto o = outbox_.Options(queue_.get(), &env_, 2);
  o.poll_interval = absl::Seconds(5);
  auto relay = OutboxRelay::Create(std::move(o));
  ASSERT_TRUE(relay.ok());
  (*relay)->Start();
  EXPECT_EQ((*relay)->moved(), 0);  // nothing runs until the simulated Env says so
  // Full batches of 2 follow each other at once; the last (1 row) waits for the interval.
  EXPECT_EQ(env_.RunDueTasks(), 4);
  EXPECT_EQ((*relay)->moved(), 7);
  EXPECT_EQ(*queue_->Depth(), 7);
  AuditEvent late = SampleEvent(100, env_.Now());
  outbox_.rows[late.id] = CanonicalJson(late);
  env_.AdvanceBy(absl::Seconds(4));
  EXPECT_EQ(env_.RunDueTasks(), 0);
  env_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(env_.RunDueTasks(), 1);
  EXPECT_EQ((*relay)->moved(), 8);
  (*relay)->Stop();
  AuditEvent after_stop = SampleEvent(101, env_.Now());
  outbox_.rows[after_stop.id] = CanonicalJson(after_stop);
  EXPECT_EQ(env_.RunFor(absl::Minutes(1)), 0);
  EXPECT_EQ((*relay)->moved(), 8);
}

TEST(RelayCreateTest, RejectsMissingCallbacks) {
  OutboxRelayOptions o;
  EXPECT_EQ(OutboxRelay::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::audit
