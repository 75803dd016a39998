// Scheduled apply of change requests (issue 14; docs/design/promotions.md §5a) through
// the real binaries: a request scheduled a few seconds ahead is applied once by the api's
// scheduler, as the admin who scheduled it, and delivery serves the value; a schedule
// survives a SIGKILL of the api just before its time and applies exactly once after the
// restart; a request that conflicts by its time ends failed with the reason and writes
// nothing. Also the validation of the schedule route and the CLI.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"
#include "tests/integration/reviewers_fixture.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

std::string Rfc3339(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

class ScheduledApplyTest : public testing::ReviewersSuite {
 protected:
  static void SetUpTestSuite() { StartWithReviewers("sched"); }

  // staging and prod, a config pool (staging 20, prod 10), prod needs 2 approvals.
  std::string NewWorkspace(const std::string& key) {
    EXPECT_EQ(Admin("POST", "/v1/workspaces", json::object{{"key", key}, {"name", key}}).status, 201);
    std::string base = "/v1/workspaces/" + key;
    for (const char* env : {"staging", "prod"}) {
      EXPECT_EQ(Admin("POST", base + "/environments", json::object{{"key", env}, {"reason", "setup"}}).status, 201);
    }
    PutPool(base, 10);
    EXPECT_EQ(Admin("PUT", base + "/environments/prod/policy",
                    json::object{{"required_approvals", 2}, {"reason", "prod is reviewed"}})
                  .status,
              200);
    return base;
  }
  void PutPool(const std::string& base, int prod) {
    HttpReply put = Admin("PUT", base + "/configs/pool",
                          json::object{{"type", "integer"}, {"values", {{"staging", 20}, {"prod", prod}}}, {"reason", "r"}});
    EXPECT_EQ(put.status, 200) << put.body;
  }

  // An approved promotion of pool to prod; returns its path.
  std::string ApprovedRequest(const std::string& base) {
    HttpReply created = Api(author_, "POST", base + "/promotions",
                            json::object{{"from", "staging"}, {"to", "prod"}, {"title", "raise pool"}});
    EXPECT_EQ(created.status, 201) << created.body;
    std::string cr = base + "/change-requests/" + std::to_string(created.json.at("id").as_int64());
    EXPECT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{}).status, 200);
    EXPECT_EQ(Api(admin2_, "POST", cr + "/approve", json::object{}).status, 200);
    return cr;
  }

  HttpReply Schedule(const std::string& cr, absl::Time at, const std::string& token = "") {
    return Api(token.empty() ? admin1_ : token, "POST", cr + "/schedule", json::object{{"apply_at", Rfc3339(at)}});
  }

  std::string State(const std::string& cr) {
    HttpReply r = Admin("GET", cr);
    return r.status == 200 ? std::string(r.json.at("state").as_string()) : base::StrCat("HTTP ", r.status);
  }
  bool WaitState(const std::string& cr, const std::string& want) {
    return testing::PollUntil([&] { return State(cr) == want; }, 30000);
  }
  int64_t Head(const std::string& base) {
    HttpReply r = Admin("GET", base);
    return r.status == 200 ? r.json.at("revision").as_int64() : -1;
  }
  json::array RevisionsAfter(const std::string& base, int64_t after) {
    HttpReply r = Admin("GET", base + "/revisions?after=" + std::to_string(after));
    return r.status == 200 ? r.json.at("revisions").as_array() : json::array{};
  }
  static std::string Code(const HttpReply& r) {
    return r.json.is_object() && r.json.as_object().contains("error")
               ? std::string(r.json.at("error").at("code").as_string())
               : "";
  }

};


TEST_F(ScheduledApplyTest, AppliesOnceAtItsTimeAndDeliveryServesIt) {
  std::string base = NewWorkspace("sched-main");
  HttpReply minted = Admin("POST", base + "/environments/prod/sdk-keys", json::object{});
  ASSERT_EQ(minted.status, 201) << minted.body;
  std::string sdk_key(minted.json.at("key").as_string());
  std::string cr = ApprovedRequest(base);

  // Validation: a time, in the future, within a year; a viewer never schedules.
  EXPECT_EQ(Schedule(cr, absl::Now() - absl::Seconds(5)).status, 400);
  EXPECT_EQ(Schedule(cr, absl::Now() + absl::Hours(24 * 400)).status, 400);
  HttpReply garbage = Api(admin1_, "POST", cr + "/schedule", json::object{{"apply_at", "tomorrow"}});
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  EXPECT_NE(garbage.body.find("RFC 3339"), std::string::npos) << garbage.body;
  EXPECT_EQ(Api(admin1_, "POST", cr + "/schedule", json::object{}).status, 400);
  EXPECT_EQ(Schedule(cr, absl::Now() + absl::Hours(1), viewer_).status, 403);
  EXPECT_EQ(State(cr), "approved");

  const int64_t head = Head(base);
  const absl::Time at = absl::Now() + absl::Seconds(3);
  HttpReply scheduled = Schedule(cr, at);
  ASSERT_EQ(scheduled.status, 200) << scheduled.body;
  EXPECT_EQ(scheduled.json.at("state").as_string(), "scheduled");
  EXPECT_EQ(scheduled.json.at("apply_at").as_string(), Rfc3339(at));
  EXPECT_EQ(std::string(scheduled.json.at("scheduled_by").as_string()).substr(0, 5), "user:");
  HttpReply listed = Api(viewer_, "GET", base + "/change-requests");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.json.at("change_requests").at(0).at("apply_at").as_string(), Rfc3339(at));

  ASSERT_TRUE(WaitState(cr, "applied")) << State(cr);
  std::printf("[   INFO   ] seen applied %.0f ms after its apply_at (polled every 20 ms)\n",
              absl::ToDoubleMilliseconds(absl::Now() - at));
  json::array revs = RevisionsAfter(base, head);
  ASSERT_EQ(revs.size(), 1u);  // once
  EXPECT_EQ(revs[0].at("op").as_string(), "change_request");
  EXPECT_EQ(revs[0].at("actor").as_string(), scheduled.json.at("scheduled_by").as_string());
  EXPECT_NE(std::string(revs[0].at("reason").as_string()).find("(scheduled by "), std::string::npos);
  absl::Time written;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, std::string(revs[0].at("time").as_string()), &written, &err));
  EXPECT_GE(written, absl::Floor(at - absl::UnixEpoch(), absl::Seconds(1)) + absl::UnixEpoch());  // never early (s)

  json::value doc;
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        HttpReply r = up_->Call("delivery", "GET", "/v1/config", "", sdk_key);
        if (r.status != 200 || !r.json.is_object() || !r.json.as_object().contains("version") ||
            r.json.at("version").as_int64() < head + 1) {
          return false;
        }
        doc = r.json;
        return true;
      },
      30000));
  EXPECT_EQ(doc.at("configs").at("pool").at("value").as_int64(), 20);

  std::string ws_id(Admin("GET", base).json.at("id").as_string());
  std::string id_needle = "\"change_request\":" + cr.substr(cr.rfind('/') + 1);
  EXPECT_TRUE(testing::PollUntil(
      [&] { return testing::CountAuditLines(up_->data_dir(), "workspace.change_request.schedule", {ws_id, id_needle}) == 1; },
      20000));
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        return testing::CountAuditLines(up_->data_dir(), "workspace.change_request.apply",
                                        {ws_id, id_needle, "(scheduled by "}) == 1;
      },
      20000));
}

TEST_F(ScheduledApplyTest, SurvivesAnApiKillJustBeforeItsTimeAndAppliesExactlyOnce) {
  std::string base = NewWorkspace("sched-kill");
  std::string cr = ApprovedRequest(base);
  const int64_t head = Head(base);
  const absl::Time at = absl::Now() + absl::Seconds(4);
  ASSERT_EQ(Schedule(cr, at).status, 200);

  const pid_t api = up_->ServicePid("api");
  ASSERT_GT(api, 0);
  std::this_thread::sleep_until(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(at - absl::Now()) -
                                std::chrono::milliseconds(500));
  ASSERT_EQ(::kill(api, SIGKILL), 0);
  ASSERT_TRUE(testing::PollUntil([&] { return up_->ServicePid("api") > 0 && up_->ServicePid("api") != api; }, 60000));
  ASSERT_TRUE(up_->WaitHealthy("api", 60000)) << up_->Output();
  std::printf("[   INFO   ] the api was back %.0f ms after the apply_at\n", absl::ToDoubleMilliseconds(absl::Now() - at));

  ASSERT_TRUE(WaitState(cr, "applied")) << State(cr);
  // Give a second apply every chance to happen, by progress rather than by time: a later
  // schedule (in another workspace) applying shows the restarted api's scheduler ran past
  // this request's time more than once.
  std::string sentinel_base = NewWorkspace("sched-kill-sentinel");
  std::string sentinel = ApprovedRequest(sentinel_base);
  ASSERT_EQ(Schedule(sentinel, absl::Now() + absl::Seconds(1)).status, 200);
  ASSERT_TRUE(WaitState(sentinel, "applied")) << State(sentinel);
  json::array revs = RevisionsAfter(base, head);
  ASSERT_EQ(revs.size(), 1u);  // exactly one apply in the history
  EXPECT_EQ(revs[0].at("op").as_string(), "change_request");
  EXPECT_EQ(Head(base), head + 1);
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 20);
  EXPECT_EQ(Admin("GET", cr).json.at("applied_revision").as_int64(), head + 1);
}

TEST_F(ScheduledApplyTest, ConflictBeforeItsTimeEndsFailedWithTheReasonAndWritesNothing) {
  std::string base = NewWorkspace("sched-conflict");
  std::string cr = ApprovedRequest(base);
  ASSERT_EQ(Schedule(cr, absl::Now() + absl::Seconds(3)).status, 200);
  PutPool(base, 15);  // prod changes after the request was made
  const int64_t head = Head(base);

  ASSERT_TRUE(WaitState(cr, "failed")) << State(cr);
  HttpReply shown = Admin("GET", cr);
  EXPECT_NE(std::string(shown.json.at("state_reason").as_string()).find("items changed"), std::string::npos)
      << shown.body;
  EXPECT_FALSE(shown.json.as_object().contains("apply_at"));
  EXPECT_EQ(Head(base), head);  // nothing written
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 15);
  // Failed is not final: rebase, approve again, apply.
  HttpReply rebased = Api(author_, "POST", cr + "/rebase", json::object{});
  ASSERT_EQ(rebased.status, 200) << rebased.body;
  EXPECT_EQ(rebased.json.at("state").as_string(), "open");
  // A request that is not approved is not scheduled.
  HttpReply early = Schedule(cr, absl::Now() + absl::Hours(1));
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_EQ(Code(early), "change_request_state");
}

// Authorization by effect: scheduling (and unscheduling) a change to a protected
// environment needs what applying it needs, the admin role; another org never sees it.
TEST_F(ScheduledApplyTest, ProtectedEnvironmentsNeedAnAdminToScheduleOrUnschedule) {
  std::string base = NewWorkspace("sched-protected");
  HttpReply prot = Admin("PATCH", base + "/environments/prod", json::object{{"protected", true}, {"reason", "r"}});
  ASSERT_EQ(prot.status, 200) << prot.body;
  std::string cr = ApprovedRequest(base);
  HttpReply dev = Schedule(cr, absl::Now() + absl::Hours(1), author_);
  EXPECT_EQ(dev.status, 403) << dev.body;
  EXPECT_NE(dev.body.find("admin"), std::string::npos) << dev.body;
  ASSERT_EQ(Schedule(cr, absl::Now() + absl::Hours(1)).status, 200);
  EXPECT_EQ(Api(author_, "POST", cr + "/unschedule", json::object{}).status, 403);
  EXPECT_EQ(State(cr), "scheduled");
  HttpReply un = Api(admin2_, "POST", cr + "/unschedule", json::object{});
  ASSERT_EQ(un.status, 200) << un.body;
  EXPECT_EQ(un.json.at("state").as_string(), "approved");
  EXPECT_EQ(Api(admin2_, "POST", cr + "/unschedule", json::object{}).status, 409);  // not scheduled
}

// The scheduled apply runs with no more than the rights its scheduler holds AT APPLY
// TIME (auth's /internal/v1/principals/rights): an admin demoted to developer after
// scheduling a change to a protected environment, or a member removed, does not get it
// applied; the request ends failed with the reason and nothing is written.
TEST_F(ScheduledApplyTest, ASchedulerDemotedOrRemovedSinceSchedulingAppliesNothing) {
  std::string base = NewWorkspace("sched-demoted");
  ASSERT_EQ(Admin("PATCH", base + "/environments/prod", json::object{{"protected", true}, {"reason", "r"}}).status,
            200);
  std::string demoted = up_->TokenForNewUser("demoted-sched@example.com", "admin");
  std::string removed = up_->TokenForNewUser("removed-sched@example.com", "admin");
  ASSERT_FALSE(demoted.empty());
  ASSERT_FALSE(removed.empty());
  std::string first = ApprovedRequest(base);
  const absl::Time at = absl::Now() + absl::Seconds(4);
  ASSERT_EQ(Schedule(first, at, demoted).status, 200);

  auto user_id = [&](const std::string& email) -> std::string {
    HttpReply members = up_->Call("auth", "GET", "/v1/members", "", up_->admin_key());
    if (members.status != 200) return "";
    for (const json::value& m : members.json.at("members").as_array()) {
      if (m.at("email").as_string() == email) return std::string(m.at("user_id").as_string());
    }
    return "";
  };
  std::string demoted_id = user_id("demoted-sched@example.com");
  ASSERT_FALSE(demoted_id.empty());
  HttpReply demote = up_->Json("auth", "PATCH", "/v1/members/" + demoted_id, {{"role", "developer"}}, up_->admin_key());
  ASSERT_EQ(demote.status, 200) << demote.body;

  const int64_t head = Head(base);
  ASSERT_TRUE(WaitState(first, "failed")) << State(first);
  HttpReply shown = Admin("GET", first);
  ASSERT_EQ(shown.status, 200);
  EXPECT_NE(std::string(shown.json.at("state_reason").as_string()).find("admin"), std::string::npos) << shown.body;
  EXPECT_EQ(RevisionsAfter(base, head).size(), 0u);

  // Removed from the org: the same, with the reason saying so.
  std::string second = ApprovedRequest(base);
  ASSERT_EQ(Schedule(second, absl::Now() + absl::Seconds(4), removed).status, 200);
  std::string removed_id = user_id("removed-sched@example.com");
  ASSERT_FALSE(removed_id.empty());
  HttpReply gone = up_->Call("auth", "DELETE", "/v1/members/" + removed_id, "", up_->admin_key());
  ASSERT_EQ(gone.status / 100, 2) << gone.body;
  const int64_t head2 = Head(base);
  ASSERT_TRUE(WaitState(second, "failed")) << State(second);
  shown = Admin("GET", second);
  EXPECT_NE(std::string(shown.json.at("state_reason").as_string()).find("no longer holds rights"), std::string::npos)
      << shown.body;
  EXPECT_EQ(RevisionsAfter(base, head2).size(), 0u);
}

TEST_F(ScheduledApplyTest, OpenApiListsTheScheduleRoutes) {
  HttpReply r = up_->Call("api", "GET", "/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  const json::object& paths = r.json.at("paths").as_object();
  for (const char* op : {"schedule", "unschedule"}) {
    EXPECT_TRUE(paths.contains(std::string("/v1/workspaces/{ws}/change-requests/{id}/") + op)) << op;
  }
}

TEST_F(ScheduledApplyTest, CliSchedulesShowsAndUnschedules) {
  std::string base = NewWorkspace("sched-cli");
  std::string cr = ApprovedRequest(base);
  std::string id = cr.substr(cr.rfind('/') + 1);
  auto cli = [&](const std::string& args, const std::string& token) {
    return testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", token, " EDGEVAULT_PROFILE=/nonexistent"));
  };
  testing::CommandResult scheduled = cli("cr schedule sched-cli " + id + " --at +2h", admin1_);
  ASSERT_EQ(scheduled.code, 0) << scheduled.out;
  EXPECT_NE(scheduled.out.find("[scheduled]"), std::string::npos) << scheduled.out;
  EXPECT_NE(scheduled.out.find("scheduled for "), std::string::npos) << scheduled.out;
  testing::CommandResult listed = cli("cr list sched-cli", viewer_);
  EXPECT_NE(listed.out.find("scheduled 20"), std::string::npos) << listed.out;
  EXPECT_NE(cli("cr schedule sched-cli " + id + " --at yesterday", admin1_).code, 0);
  testing::CommandResult un = cli("cr unschedule sched-cli " + id, admin1_);
  ASSERT_EQ(un.code, 0) << un.out;
  EXPECT_NE(un.out.find("[approved]"), std::string::npos) << un.out;
  EXPECT_EQ(State(cr), "approved");
}

}  // namespace
}  // namespace edgevault
