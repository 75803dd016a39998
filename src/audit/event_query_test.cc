#include "src/audit/event_query.h"

#include <fstream>

#include "gtest/gtest.h"
#include "src/audit/file_warehouse.h"
#include "src/audit/test_util.h"

namespace edgevault::audit {
namespace {

using testing::SampleEvent;
using testing::TempDir;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15T08:00:00Z

class EventQueryTest : public ::testing::Test {
 protected:
  std::string Dir() const { return tmp_.path() + "/warehouse"; }
  void Write(const std::vector<AuditEvent>& events) {
    auto w = FileWarehouse::Create({.dir = Dir(), .node = "node-1", .env = &env_});
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Append(events).ok());
  }
  EventPage Query(EventQuery q) {
    FileWarehouseReader reader(Dir(), &env_);
    auto page = QueryEvents(reader, q);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? *std::move(page) : EventPage{};
  }
  static std::vector<int> Ns(const EventPage& p) {
    std::vector<int> out;
    for (const AuditEvent& e : p.events) out.push_back(static_cast<int>(e.details.at("n").as_int64()));
    return out;
  }

  TempDir tmp_;
  base::SimulatedEnv env_;
};

// Events 1..6 a minute apart, spread over two hour partitions; 4 belongs to another org,
// 5 is a different action in a workspace.
std::vector<AuditEvent> Sample() {
  std::vector<AuditEvent> out;
  for (int n = 1; n <= 6; ++n) {
    AuditEvent e = SampleEvent(n, kT0 + absl::Minutes(30 * n));
    if (n == 4) e.org = "org_2";
    if (n == 5) {
      e.action = "item.update";
      e.workspace = "ws_1";
    }
    out.push_back(e);
  }
  return out;
}

TEST_F(EventQueryTest, NoWarehouseIsAnEmptyPage) {
  EventPage p = Query({.org = "org_1"});
  EXPECT_TRUE(p.events.empty());
  EXPECT_EQ(p.next_cursor, "");
}

TEST_F(EventQueryTest, OnlyTheOrgsEventsNewestFirst) {
  Write(Sample());
  EXPECT_EQ(Ns(Query({.org = "org_1"})), (std::vector<int>{6, 5, 3, 2, 1}));
  EXPECT_EQ(Ns(Query({.org = "org_2"})), (std::vector<int>{4}));
  EXPECT_TRUE(Query({.org = "org_3"}).events.empty());
}

TEST_F(EventQueryTest, FiltersByActorActionWorkspaceAndTime) {
  Write(Sample());
  EXPECT_EQ(Ns(Query({.org = "org_1", .actor = "user:u2"})), (std::vector<int>{2}));
  EXPECT_EQ(Ns(Query({.org = "org_1", .action = "item.update"})), (std::vector<int>{5}));
  EXPECT_EQ(Ns(Query({.org = "org_1", .action = "auth.*"})), (std::vector<int>{6, 3, 2, 1}));
  EXPECT_TRUE(Query({.org = "org_1", .action = "auth"}).events.empty());  // exact, not a prefix
  EXPECT_EQ(Ns(Query({.org = "org_1", .workspace = "ws_1"})), (std::vector<int>{5}));
  // [since, until): 2 is at kT0+60m, 3 at +90m, 5 at +150m.
  EXPECT_EQ(Ns(Query({.org = "org_1", .since = kT0 + absl::Minutes(60), .until = kT0 + absl::Minutes(150)})),
            (std::vector<int>{3, 2}));
}

TEST_F(EventQueryTest, PagesWithTheCursorWithoutGapsOrRepeats) {
  Write(Sample());
  EventPage first = Query({.org = "org_1", .limit = 2});
  EXPECT_EQ(Ns(first), (std::vector<int>{6, 5}));
  ASSERT_FALSE(first.next_cursor.empty());
  EventPage second = Query({.org = "org_1", .limit = 2, .cursor = first.next_cursor});
  EXPECT_EQ(Ns(second), (std::vector<int>{3, 2}));
  EventPage third = Query({.org = "org_1", .limit = 2, .cursor = second.next_cursor});
  EXPECT_EQ(Ns(third), (std::vector<int>{1}));
  EXPECT_EQ(third.next_cursor, "");
}

TEST_F(EventQueryTest, SkipsLinesThatDoNotParse) {
  Write(Sample());
  FileWarehouseReader reader(Dir(), &env_);
  auto files = reader.ListFiles();
  ASSERT_TRUE(files.ok() && !files->empty());
  std::ofstream(Dir() + "/" + files->front().path, std::ios::app) << "not json\n";
  EventPage p = Query({.org = "org_1"});
  EXPECT_EQ(p.events.size(), 5u);
  EXPECT_EQ(p.skipped_lines, 1);
}

TEST_F(EventQueryTest, RejectsBadQueries) {
  FileWarehouseReader reader(Dir(), &env_);
  EXPECT_TRUE(absl::IsInvalidArgument(QueryEvents(reader, {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(QueryEvents(reader, {.org = "o", .limit = 0}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(QueryEvents(reader, {.org = "o", .cursor = "x"}).status()));
  EXPECT_TRUE(ValidActionFilter("auth.login"));
  EXPECT_TRUE(ValidActionFilter("auth.*"));
  EXPECT_FALSE(ValidActionFilter("*"));
  EXPECT_FALSE(ValidActionFilter("Auth login"));
}

}  // namespace
}  // namespace edgevault::audit
