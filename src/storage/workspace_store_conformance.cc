#include "src/storage/workspace_store_conformance.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {

bool WorkspaceStoreConformanceLinked() { return true; }

void WorkspaceStoreConformanceTest::SetUp() {
  store_ = GetParam()();
  ASSERT_NE(store_, nullptr) << "the factory returned no store";
}

namespace {

using base::StrCat;

// Microsecond precision on purpose: every backend must keep it.
const absl::Time kT0 = absl::FromUnixMicros(1'800'000'000'123'457);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

Mutation Put(ItemKind kind, std::string key, std::string body, std::string env = "") {
  return Mutation{
      .kind = kind, .key = std::move(key), .body = std::move(body), .environment = std::move(env)};
}

Mutation Delete(ItemKind kind, std::string key) {
  return Mutation{.kind = kind, .key = std::move(key), .body = std::nullopt};
}

OutboxRow Outbox(std::string kind, std::string payload, absl::Time at = kT0) {
  return OutboxRow{.kind = std::move(kind), .payload = std::move(payload), .created_at = at};
}

CommitRequest Request(std::vector<Mutation> mutations, absl::Time at = kT0) {
  return CommitRequest{.actor = "user:usr_1",
                       .reason = "because",
                       .op = "put",
                       .time = at,
                       .mutations = std::move(mutations)};
}

std::string Body(int n) { return StrCat("{\"n\":", n, "}"); }

using testing::RunConcurrently;

// ---- Kinds -----------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, ItemKindNamesRoundTripAndUnknownIsInvalidArgument) {
  for (ItemKind kind : {ItemKind::kEnvironment, ItemKind::kConfig, ItemKind::kFlag,
                        ItemKind::kSegment, ItemKind::kSecret}) {
    EV_TEST_ASSIGN(ItemKind back, ParseItemKind(ItemKindName(kind)));
    EXPECT_EQ(back, kind);
  }
  EXPECT_EQ(ItemKindName(ItemKind::kEnvironment), "environment");
  EXPECT_EQ(ItemKindName(ItemKind::kConfig), "config");
  EXPECT_EQ(ItemKindName(ItemKind::kFlag), "flag");
  EXPECT_EQ(ItemKindName(ItemKind::kSegment), "segment");
  EXPECT_EQ(ItemKindName(ItemKind::kSecret), "secret");
  EV_TEST_EXPECT_CODE(ParseItemKind("Flag"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(ParseItemKind(""), kInvalidArgument);
  EV_TEST_EXPECT_CODE(ParseItemKind("unknown"), kInvalidArgument);
}

// ---- A new store -----------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, NewStoreIsEmptyWithHeadZero) {
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 0);
  EV_TEST_ASSIGN(std::string id, store().WorkspaceId());
  EXPECT_FALSE(id.empty());
  EV_TEST_ASSIGN(auto revisions, store().ListRevisions(0, 1000));
  EXPECT_TRUE(revisions.empty());
  EV_TEST_ASSIGN(auto items, store().ListItems(ItemKind::kConfig));
  EXPECT_TRUE(items.empty());
  EV_TEST_ASSIGN(int64_t count, store().CountItems(ItemKind::kFlag));
  EXPECT_EQ(count, 0);
  EV_TEST_ASSIGN(auto keys, store().AllKeysEver());
  EXPECT_TRUE(keys.empty());
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(1000));
  EXPECT_TRUE(pending.empty());
  EV_TEST_ASSIGN(auto activity, store().ListActivity(0, 1000));
  EXPECT_TRUE(activity.empty());
  EV_TEST_EXPECT_CODE(store().GetItem(ItemKind::kConfig, "x"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetRevision(1), kNotFound);
  EV_TEST_ASSIGN(auto body, store().BodyAt(ItemKind::kConfig, "x", 0));
  EXPECT_FALSE(body.has_value());
}

// ---- Commit ----------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, CommitsAssignRevisionsOneToNWithoutGap) {
  for (int i = 1; i <= 7; ++i) {
    EV_TEST_ASSIGN(CommitResult r,
              store().Commit(Request({Put(ItemKind::kConfig, StrCat("k", i % 3), Body(i))})));
    EXPECT_EQ(r.first_revision, i);
    EXPECT_EQ(r.last_revision, i);
    EXPECT_TRUE(r.outbox_ids.empty());
    EV_TEST_ASSIGN(int64_t head, store().Head());
    EXPECT_EQ(head, i);
  }
  EV_TEST_ASSIGN(std::vector<Revision> revisions, store().ListRevisions(0, 1000));
  ASSERT_EQ(revisions.size(), 7u);
  for (size_t i = 0; i < revisions.size(); ++i) {
    EXPECT_EQ(revisions[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ(revisions[i].after, Body(static_cast<int>(i + 1)));
  }
}

TEST_P(WorkspaceStoreConformanceTest,
       MultiMutationCommitWritesOneRevisionEachWithBeforeAfterChain) {
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kFlag, "seed", Body(0))})));
  CommitRequest c = Request(
      {Put(ItemKind::kConfig, "a", Body(1), "production"), Put(ItemKind::kConfig, "a", Body(2)),
       Put(ItemKind::kSegment, "b", Body(3), "staging"), Delete(ItemKind::kConfig, "a"),
       Delete(ItemKind::kFlag, "seed")},
      At(5));
  c.actor = "key:key_9";
  c.reason = "bulk edit";
  c.op = "import";
  c.outbox = {Outbox("propagate", R"({"environments":["production"]})"),
              Outbox("audit", R"({"event":"import"})")};
  EV_TEST_ASSIGN(CommitResult r, store().Commit(c));
  EXPECT_EQ(r.first_revision, 2);
  EXPECT_EQ(r.last_revision, 6);
  ASSERT_EQ(r.outbox_ids.size(), 2u);
  EXPECT_LT(r.outbox_ids[0], r.outbox_ids[1]);

  EV_TEST_ASSIGN(std::vector<Revision> revs, store().ListRevisions(1, 1000));
  ASSERT_EQ(revs.size(), 5u);
  const struct {
    ItemKind kind;
    const char* key;
    const char* env;
    std::string before, after;
  } want[] = {
      {ItemKind::kConfig, "a", "production", "null", Body(1)},
      {ItemKind::kConfig, "a", "", Body(1), Body(2)},
      {ItemKind::kSegment, "b", "staging", "null", Body(3)},
      {ItemKind::kConfig, "a", "", Body(2), "null"},
      {ItemKind::kFlag, "seed", "", Body(0), "null"},
  };
  for (size_t i = 0; i < revs.size(); ++i) {
    SCOPED_TRACE(StrCat("revision ", revs[i].seq));
    EXPECT_EQ(revs[i].seq, static_cast<int64_t>(i + 2));
    EXPECT_EQ(revs[i].kind, want[i].kind);
    EXPECT_EQ(revs[i].key, want[i].key);
    EXPECT_EQ(revs[i].environment, want[i].env);
    EXPECT_EQ(revs[i].before, want[i].before);
    EXPECT_EQ(revs[i].after, want[i].after);
    EXPECT_EQ(revs[i].actor, "key:key_9");
    EXPECT_EQ(revs[i].reason, "bulk edit");
    EXPECT_EQ(revs[i].op, "import");
    EXPECT_EQ(revs[i].time, At(5));
  }
  EV_TEST_EXPECT_CODE(store().GetItem(ItemKind::kConfig, "a"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetItem(ItemKind::kFlag, "seed"), kNotFound);
  EV_TEST_ASSIGN(Item b, store().GetItem(ItemKind::kSegment, "b"));
  EXPECT_EQ(b.revision, 4);
  EXPECT_EQ(b.body, Body(3));

  EV_TEST_ASSIGN(std::vector<OutboxRow> pending, store().PendingOutbox(10));
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, r.outbox_ids[0]);
  EXPECT_EQ(pending[0].kind, "propagate");
  EXPECT_EQ(pending[0].payload, R"({"environments":["production"]})");
  EXPECT_EQ(pending[1].kind, "audit");
}

TEST_P(WorkspaceStoreConformanceTest, DeleteOfMissingItemIsNotFoundAndWritesNothing) {
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "keep", Body(1))})));
  CommitRequest c =
      Request({Put(ItemKind::kConfig, "new", Body(2)), Put(ItemKind::kConfig, "keep", Body(3)),
               Delete(ItemKind::kConfig, "missing")});
  c.outbox = {Outbox("propagate", "{}")};
  EV_TEST_EXPECT_CODE(store().Commit(c), kNotFound);
  // Same key, other kind: still missing.
  EV_TEST_EXPECT_CODE(store().Commit(Request({Delete(ItemKind::kFlag, "keep")})), kNotFound);

  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 1);
  EV_TEST_EXPECT_CODE(store().GetItem(ItemKind::kConfig, "new"), kNotFound);
  EV_TEST_ASSIGN(Item keep, store().GetItem(ItemKind::kConfig, "keep"));
  EXPECT_EQ(keep.body, Body(1));
  EXPECT_EQ(keep.revision, 1);
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(10));
  EXPECT_TRUE(pending.empty());
  EV_TEST_ASSIGN(auto revs, store().ListRevisions(0, 10));
  EXPECT_EQ(revs.size(), 1u);
  // The next commit still gets revision 2.
  EV_TEST_ASSIGN(CommitResult r, store().Commit(Request({Put(ItemKind::kConfig, "new", Body(4))})));
  EXPECT_EQ(r.first_revision, 2);
}

TEST_P(WorkspaceStoreConformanceTest, StaleExpectedHeadIsAbortedAndWritesNothing) {
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(1))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(2))})));

  for (int64_t stale : {int64_t{0}, int64_t{1}, int64_t{3}}) {
    SCOPED_TRACE(StrCat("expected_head ", stale));
    CommitRequest c =
        Request({Put(ItemKind::kConfig, "a", Body(9)), Put(ItemKind::kFlag, "f", Body(9))});
    c.outbox = {Outbox("propagate", "{}")};
    c.expected_head = stale;
    EV_TEST_EXPECT_CODE(store().Commit(c), kAborted);
  }
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 2);
  EV_TEST_ASSIGN(Item a, store().GetItem(ItemKind::kConfig, "a"));
  EXPECT_EQ(a.body, Body(2));
  EV_TEST_EXPECT_CODE(store().GetItem(ItemKind::kFlag, "f"), kNotFound);
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(10));
  EXPECT_TRUE(pending.empty());

  // The current head is accepted.
  CommitRequest ok = Request({Put(ItemKind::kConfig, "a", Body(3))});
  ok.expected_head = 2;
  EV_TEST_ASSIGN(CommitResult r, store().Commit(ok));
  EXPECT_EQ(r.first_revision, 3);
}

TEST_P(WorkspaceStoreConformanceTest, InvalidCommitsAreInvalidArgumentAndWriteNothing) {
  EV_TEST_EXPECT_CODE(store().Commit(Request({})), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().Commit(Request({Put(ItemKind::kConfig, "", Body(1))})), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().Commit(Request({Delete(ItemKind::kConfig, "")})), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().Commit(Request({Put(static_cast<ItemKind>(99), "k", Body(1))})),
                 kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().Commit(Request({Put(ItemKind::kConfig, "k", "null")})), kInvalidArgument);
  // A bad mutation after good ones, and a bad outbox row after good mutations.
  EV_TEST_EXPECT_CODE(store().Commit(Request(
                     {Put(ItemKind::kConfig, "k", Body(1)), Put(ItemKind::kConfig, "", Body(1))})),
                 kInvalidArgument);
  CommitRequest bad_outbox = Request({Put(ItemKind::kConfig, "k", Body(1))});
  bad_outbox.outbox = {Outbox("propagate", "{}"), Outbox("", "{}")};
  EV_TEST_EXPECT_CODE(store().Commit(bad_outbox), kInvalidArgument);

  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 0);
  EV_TEST_ASSIGN(int64_t count, store().CountItems(ItemKind::kConfig));
  EXPECT_EQ(count, 0);
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(10));
  EXPECT_TRUE(pending.empty());
  EV_TEST_EXPECT_CODE(store().GetItem(static_cast<ItemKind>(99), "k"), kInvalidArgument);
}

TEST_P(WorkspaceStoreConformanceTest, OutboxOnlyCommitWritesNoRevision) {
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(1))})));
  CommitRequest c = Request({});
  c.outbox = {Outbox("propagate", R"({"all":true})")};
  c.expected_head = 1;
  EV_TEST_ASSIGN(CommitResult r, store().Commit(c));
  EXPECT_EQ(r.last_revision, 1);
  EXPECT_EQ(r.first_revision, 2);  // an empty range
  ASSERT_EQ(r.outbox_ids.size(), 1u);
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 1);
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(10));
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].payload, R"({"all":true})");
}

// ---- Items -----------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, ItemsFollowPutUpdateDeleteAndRecreate) {
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kFlag, "beta", Body(1))}, At(1))));
  EV_TEST_ASSIGN(Item created, store().GetItem(ItemKind::kFlag, "beta"));
  EXPECT_EQ(created.kind, ItemKind::kFlag);
  EXPECT_EQ(created.key, "beta");
  EXPECT_EQ(created.body, Body(1));
  EXPECT_EQ(created.revision, 1);
  EXPECT_EQ(created.created_at, At(1));
  EXPECT_EQ(created.updated_at, At(1));

  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "other", Body(0))}, At(2))));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kFlag, "beta", Body(2))}, At(3))));
  EV_TEST_ASSIGN(Item updated, store().GetItem(ItemKind::kFlag, "beta"));
  EXPECT_EQ(updated.body, Body(2));
  EXPECT_EQ(updated.revision, 3);
  EXPECT_EQ(updated.created_at, At(1));
  EXPECT_EQ(updated.updated_at, At(3));
  EV_TEST_ASSIGN(int64_t flags, store().CountItems(ItemKind::kFlag));
  EXPECT_EQ(flags, 1);

  EV_TEST_ASSERT_OK(store().Commit(Request({Delete(ItemKind::kFlag, "beta")}, At(4))));
  EV_TEST_EXPECT_CODE(store().GetItem(ItemKind::kFlag, "beta"), kNotFound);
  EV_TEST_ASSIGN(flags, store().CountItems(ItemKind::kFlag));
  EXPECT_EQ(flags, 0);
  EV_TEST_ASSIGN(auto listed, store().ListItems(ItemKind::kFlag));
  EXPECT_TRUE(listed.empty());

  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kFlag, "beta", Body(5))}, At(5))));
  EV_TEST_ASSIGN(Item recreated, store().GetItem(ItemKind::kFlag, "beta"));
  EXPECT_EQ(recreated.body, Body(5));
  EXPECT_EQ(recreated.revision, 5);
  EXPECT_EQ(recreated.created_at, At(5));  // a new item, not the old one revived
  EXPECT_EQ(recreated.updated_at, At(5));
  EV_TEST_ASSIGN(Revision rev, store().GetRevision(5));
  EXPECT_EQ(rev.before, "null");
}

TEST_P(WorkspaceStoreConformanceTest, ListItemsIsOrderedByKeyAndFilteredByKind) {
  EV_TEST_ASSERT_OK(store().Commit(
      Request({Put(ItemKind::kConfig, "m", Body(1)), Put(ItemKind::kConfig, "a.b", Body(2)),
               Put(ItemKind::kConfig, "z", Body(3)), Put(ItemKind::kSecret, "a", Body(4)),
               Put(ItemKind::kEnvironment, "production", Body(5))})));
  EV_TEST_ASSIGN(std::vector<Item> configs, store().ListItems(ItemKind::kConfig));
  ASSERT_EQ(configs.size(), 3u);
  EXPECT_EQ(configs[0].key, "a.b");
  EXPECT_EQ(configs[1].key, "m");
  EXPECT_EQ(configs[2].key, "z");
  for (const Item& i : configs) EXPECT_EQ(i.kind, ItemKind::kConfig);
  EV_TEST_ASSIGN(std::vector<Item> envs, store().ListItems(ItemKind::kEnvironment));
  ASSERT_EQ(envs.size(), 1u);
  EXPECT_EQ(envs[0].key, "production");
  EXPECT_EQ(envs[0].body, Body(5));
  EV_TEST_ASSIGN(int64_t secrets, store().CountItems(ItemKind::kSecret));
  EXPECT_EQ(secrets, 1);
  EV_TEST_ASSIGN(int64_t segments, store().CountItems(ItemKind::kSegment));
  EXPECT_EQ(segments, 0);
}

// ---- Revisions -------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, ListRevisionsPaginatesAndChecksBounds) {
  for (int i = 1; i <= 25; ++i) {
    EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "k", Body(i))})));
  }
  std::vector<int64_t> seen;
  int64_t after = 0;
  std::vector<size_t> page_sizes;
  for (;;) {
    EV_TEST_ASSIGN(std::vector<Revision> page, store().ListRevisions(after, 10));
    page_sizes.push_back(page.size());
    if (page.empty()) break;
    for (const Revision& r : page) seen.push_back(r.seq);
    after = page.back().seq;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{10, 10, 5, 0}));
  ASSERT_EQ(seen.size(), 25u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));

  EV_TEST_ASSIGN(auto from_middle, store().ListRevisions(20, 1000));
  ASSERT_EQ(from_middle.size(), 5u);
  EXPECT_EQ(from_middle.front().seq, 21);
  EV_TEST_ASSIGN(auto one, store().ListRevisions(0, 1));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].seq, 1);
  EV_TEST_ASSIGN(auto past_head, store().ListRevisions(25, 10));
  EXPECT_TRUE(past_head.empty());

  EV_TEST_EXPECT_CODE(store().ListRevisions(0, 0), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ListRevisions(0, -1), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ListRevisions(0, 1001), kInvalidArgument);
}

TEST_P(WorkspaceStoreConformanceTest, GetRevisionReturnsTheRowOrNotFound) {
  EV_TEST_ASSERT_OK(
      store().Commit(Request({Put(ItemKind::kSecret, "db.password", Body(1), "prod")}, At(7))));
  EV_TEST_ASSIGN(Revision r, store().GetRevision(1));
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(r.kind, ItemKind::kSecret);
  EXPECT_EQ(r.key, "db.password");
  EXPECT_EQ(r.environment, "prod");
  EXPECT_EQ(r.before, "null");
  EXPECT_EQ(r.after, Body(1));
  EXPECT_EQ(r.time, At(7));
  EV_TEST_EXPECT_CODE(store().GetRevision(0), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetRevision(2), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetRevision(-1), kNotFound);
}

TEST_P(WorkspaceStoreConformanceTest, BodyAtFollowsHistoryThroughDeleteAndRecreate) {
  // 1: put a=1   2: put other   3: put a=3   4: delete a   5: put other   6: put a=6
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(1))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "other", Body(2))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(3))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Delete(ItemKind::kConfig, "a")})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "other", Body(5))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(6))})));

  const std::optional<std::string> want[] = {std::nullopt, Body(1),      Body(1), Body(3),
                                             std::nullopt, std::nullopt, Body(6), Body(6)};
  for (int64_t seq = 0; seq <= 7; ++seq) {
    SCOPED_TRACE(StrCat("seq ", seq));
    EV_TEST_ASSIGN(std::optional<std::string> body, store().BodyAt(ItemKind::kConfig, "a", seq));
    EXPECT_EQ(body, want[seq]);
  }
  // Kind is part of the identity.
  EV_TEST_ASSIGN(auto flag, store().BodyAt(ItemKind::kFlag, "a", 6));
  EXPECT_FALSE(flag.has_value());
  EV_TEST_ASSIGN(auto other, store().BodyAt(ItemKind::kConfig, "other", 4));
  EXPECT_EQ(other, Body(2));
}

TEST_P(WorkspaceStoreConformanceTest, AllKeysEverIncludesDeletedItemsOnce) {
  EV_TEST_ASSERT_OK(store().Commit(
      Request({Put(ItemKind::kConfig, "a", Body(1)), Put(ItemKind::kFlag, "a", Body(1)),
               Put(ItemKind::kSegment, "s", Body(1))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(2))})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Delete(ItemKind::kSegment, "s")})));
  EV_TEST_ASSIGN(auto keys, store().AllKeysEver());
  std::set<std::pair<ItemKind, std::string>> got(keys.begin(), keys.end());
  EXPECT_EQ(got.size(), keys.size()) << "duplicates";
  EXPECT_EQ(got, (std::set<std::pair<ItemKind, std::string>>{
                     {ItemKind::kConfig, "a"}, {ItemKind::kFlag, "a"}, {ItemKind::kSegment, "s"}}));
  // Deleting an item keeps its revisions.
  EV_TEST_ASSIGN(auto revs, store().ListRevisions(0, 10));
  EXPECT_EQ(revs.size(), 5u);
}

// ---- Outbox ----------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, OutboxPendingOrderDoneAndAttempts) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    CommitRequest c = Request({Put(ItemKind::kConfig, "k", Body(i))});
    c.outbox = {Outbox("propagate", StrCat("{\"i\":", i, "}"), At(i)),
                Outbox("audit", StrCat("{\"a\":", i, "}"), At(i))};
    EV_TEST_ASSIGN(CommitResult r, store().Commit(c));
    ASSERT_EQ(r.outbox_ids.size(), 2u);
    ids.insert(ids.end(), r.outbox_ids.begin(), r.outbox_ids.end());
  }
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);

  EV_TEST_ASSIGN(std::vector<OutboxRow> pending, store().PendingOutbox(1000));
  ASSERT_EQ(pending.size(), 6u);
  for (size_t i = 0; i < pending.size(); ++i) {
    EXPECT_EQ(pending[i].id, ids[i]);
    EXPECT_EQ(pending[i].attempts, 0);
    EXPECT_EQ(pending[i].created_at, At(static_cast<int64_t>(i / 2)));
  }
  EXPECT_EQ(pending[2].kind, "propagate");
  EXPECT_EQ(pending[2].payload, "{\"i\":1}");
  EV_TEST_ASSIGN(auto first_two, store().PendingOutbox(2));
  ASSERT_EQ(first_two.size(), 2u);
  EXPECT_EQ(first_two[1].id, ids[1]);

  EV_TEST_ASSERT_OK(store().RecordOutboxAttempt(ids[0]));
  EV_TEST_ASSERT_OK(store().RecordOutboxAttempt(ids[0]));
  EV_TEST_ASSERT_OK(store().RecordOutboxAttempt(ids[3]));
  EV_TEST_ASSERT_OK(store().MarkOutboxDone(ids[1]));
  EV_TEST_ASSERT_OK(store().MarkOutboxDone(ids[4]));
  EV_TEST_EXPECT_OK(store().MarkOutboxDone(ids[4]));  // again: still fine
  EV_TEST_ASSIGN(pending, store().PendingOutbox(1000));
  ASSERT_EQ(pending.size(), 4u);
  EXPECT_EQ(pending[0].id, ids[0]);
  EXPECT_EQ(pending[0].attempts, 2);
  EXPECT_EQ(pending[1].id, ids[2]);
  EXPECT_EQ(pending[1].attempts, 0);
  EXPECT_EQ(pending[2].id, ids[3]);
  EXPECT_EQ(pending[2].attempts, 1);
  EXPECT_EQ(pending[3].id, ids[5]);

  EV_TEST_EXPECT_CODE(store().MarkOutboxDone(ids.back() + 100), kNotFound);
  EV_TEST_EXPECT_CODE(store().RecordOutboxAttempt(ids.back() + 100), kNotFound);
  EV_TEST_EXPECT_CODE(store().PendingOutbox(0), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().PendingOutbox(1001), kInvalidArgument);

  // By kind: only that kind's pending rows, oldest first.
  EV_TEST_ASSIGN(auto propagate, store().PendingOutboxOfKind("propagate", 1000));
  for (const auto& row : propagate) EXPECT_EQ(row.kind, "propagate");
  std::vector<int64_t> expected;
  for (const auto& row : pending) {
    if (row.kind == "propagate") expected.push_back(row.id);
  }
  ASSERT_EQ(propagate.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(propagate[i].id, expected[i]);
  EV_TEST_ASSIGN(auto none, store().PendingOutboxOfKind("no-such-kind", 10));
  EXPECT_TRUE(none.empty());
  EV_TEST_EXPECT_CODE(store().PendingOutboxOfKind("propagate", 0), kInvalidArgument);

  // Many at once: all or nothing.
  EV_TEST_EXPECT_CODE(store().MarkOutboxDoneMany({ids[0], ids.back() + 100}), kNotFound);
  EV_TEST_ASSIGN(auto still, store().PendingOutbox(100));
  EXPECT_EQ(still.front().id, ids[0]);  // the batch with an unknown id changed nothing
  EV_TEST_ASSERT_OK(store().MarkOutboxDoneMany({ids[0], ids[2], ids[1]}));
  EV_TEST_ASSERT_OK(store().MarkOutboxDoneMany({}));
  EV_TEST_ASSIGN(auto after, store().PendingOutbox(100));
  for (const OutboxRow& row : after) {
    EXPECT_NE(row.id, ids[0]);
    EXPECT_NE(row.id, ids[2]);
  }
}

// ---- Activity --------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, AppendActivityWritesTheEntryAndItsOutboxRows) {
  Activity a{.time = At(3),
             .actor = "user:usr_2",
             .action = "secret.read",
             .details = R"({"key":"db.password","environment":"production"})"};
  EV_TEST_ASSIGN(int64_t id1, store().AppendActivity(a, {Outbox("audit", R"({"e":1})", At(3))}));
  a.action = "export";
  EV_TEST_ASSIGN(int64_t id2, store().AppendActivity(a, {}));
  EXPECT_LT(id1, id2);

  EV_TEST_ASSIGN(std::vector<Activity> list, store().ListActivity(0, 10));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, id1);
  EXPECT_EQ(list[0].time, At(3));
  EXPECT_EQ(list[0].actor, "user:usr_2");
  EXPECT_EQ(list[0].action, "secret.read");
  EXPECT_EQ(list[0].details, R"({"key":"db.password","environment":"production"})");
  EXPECT_EQ(list[1].id, id2);
  EXPECT_EQ(list[1].action, "export");
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(10));
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].kind, "audit");
  EXPECT_EQ(pending[0].payload, R"({"e":1})");
  // Activity is not a revision.
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 0);
}

TEST_P(WorkspaceStoreConformanceTest, AppendActivityFailsClosedWhenItsOutboxRowIsRejected) {
  Activity a{.time = kT0, .actor = "user:usr_2", .action = "secret.read", .details = "{}"};
  EV_TEST_EXPECT_CODE(store().AppendActivity(a, {Outbox("audit", "{}"), Outbox("", "{}")}),
                 kInvalidArgument);
  EV_TEST_ASSIGN(auto list, store().ListActivity(0, 10));
  EXPECT_TRUE(list.empty()) << "the activity was written without its audit event";
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(10));
  EXPECT_TRUE(pending.empty());

  Activity no_action = a;
  no_action.action = "";
  EV_TEST_EXPECT_CODE(store().AppendActivity(no_action, {}), kInvalidArgument);
  EV_TEST_ASSIGN(list, store().ListActivity(0, 10));
  EXPECT_TRUE(list.empty());
}

TEST_P(WorkspaceStoreConformanceTest, ListActivityPaginatesAndChecksBounds) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 12; ++i) {
    EV_TEST_ASSIGN(
        int64_t id,
        store().AppendActivity(
            {.time = At(i), .actor = "user:usr_1", .action = StrCat("action", i), .details = "{}"},
            {}));
    ids.push_back(id);
  }
  std::vector<int64_t> seen;
  int64_t after = 0;
  int pages = 0;
  for (;;) {
    EV_TEST_ASSIGN(std::vector<Activity> page, store().ListActivity(after, 5));
    if (page.empty()) break;
    ++pages;
    EXPECT_LE(page.size(), 5u);
    for (const Activity& a : page) seen.push_back(a.id);
    after = page.back().id;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);
  EV_TEST_ASSIGN(auto tail, store().ListActivity(ids[9], 1000));
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].action, "action10");
  EXPECT_EQ(tail[0].time, At(10));
  EV_TEST_EXPECT_CODE(store().ListActivity(0, 0), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ListActivity(0, 1001), kInvalidArgument);
}

// ---- Concurrency -----------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, ConcurrentCommitsAreSerialisedWithoutGapOrDuplicate) {
  constexpr int kThreads = 8;
  constexpr int kCommits = 200;
  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> got(kThreads);
  RunConcurrently(kThreads, [&](int t) {
    for (int i = 0; i < kCommits; ++i) {
      CommitRequest c = Request(
          {Put(ItemKind::kConfig, StrCat("t", t), StrCat("{\"t\":", t, ",\"i\":", i, "}"))});
      absl::StatusOr<CommitResult> r = store().Commit(c);
      if (!r.ok() || r->first_revision != r->last_revision) {
        ++failures;
        continue;
      }
      got[t].push_back(r->first_revision);
    }
  });
  ASSERT_EQ(failures.load(), 0);
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, kThreads * kCommits);

  // Every seq handed out once, 1..1600.
  std::set<int64_t> all;
  for (const auto& v : got) {
    for (size_t i = 1; i < v.size(); ++i) EXPECT_LT(v[i - 1], v[i]) << "a thread went backwards";
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kCommits));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kCommits);

  // And the stored revisions are exactly 1..1600, each thread's in its own order.
  std::vector<int> next_i(kThreads, 0);
  int64_t expected = 1;
  int64_t after = 0;
  for (;;) {
    EV_TEST_ASSIGN(std::vector<Revision> page, store().ListRevisions(after, 1000));
    if (page.empty()) break;
    for (const Revision& r : page) {
      ASSERT_EQ(r.seq, expected++);
      int t = std::stoi(r.key.substr(1));
      ASSERT_GE(t, 0);
      ASSERT_LT(t, kThreads);
      EXPECT_EQ(r.after, StrCat("{\"t\":", t, ",\"i\":", next_i[t], "}"));
      EXPECT_EQ(r.before, next_i[t] == 0 ? std::string("null")
                                         : StrCat("{\"t\":", t, ",\"i\":", next_i[t] - 1, "}"));
      ++next_i[t];
    }
    after = page.back().seq;
  }
  EXPECT_EQ(expected - 1, kThreads * kCommits);
  for (int t = 0; t < kThreads; ++t) {
    EV_TEST_ASSIGN(Item item, store().GetItem(ItemKind::kConfig, StrCat("t", t)));
    EXPECT_EQ(item.body, StrCat("{\"t\":", t, ",\"i\":", kCommits - 1, "}"));
  }
}

TEST_P(WorkspaceStoreConformanceTest, ConcurrentExpectedHeadCommitsHaveOneWinnerPerHead) {
  constexpr int kThreads = 4;
  constexpr int kWinsPerThread = 20;
  std::atomic<int> wins{0}, aborted{0}, errors{0};
  RunConcurrently(kThreads, [&](int t) {
    int mine = 0;
    while (mine < kWinsPerThread) {
      absl::StatusOr<int64_t> head = store().Head();
      if (!head.ok()) {
        ++errors;
        return;
      }
      CommitRequest c = Request({Put(ItemKind::kFlag, "shared", StrCat("{\"t\":", t, "}"))});
      c.expected_head = *head;
      absl::StatusOr<CommitResult> r = store().Commit(c);
      if (r.ok()) {
        if (r->first_revision != *head + 1) ++errors;
        ++wins;
        ++mine;
      } else if (r.status().code() == absl::StatusCode::kAborted) {
        ++aborted;
      } else {
        ++errors;
        return;
      }
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins.load(), kThreads * kWinsPerThread);
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, kThreads * kWinsPerThread);
}

// ---- Values ----------------------------------------------------------------------------

TEST_P(WorkspaceStoreConformanceTest, TimesRoundTripAtMicrosecondPrecision) {
  const absl::Time t1 = absl::FromUnixMicros(1'700'000'000'000'001);
  const absl::Time t2 = absl::FromUnixMicros(1'900'000'000'999'999);
  const absl::Time before_epoch = absl::FromUnixMicros(-1'234'567);
  CommitRequest c = Request({Put(ItemKind::kConfig, "k", Body(1))}, t1);
  c.outbox = {Outbox("audit", "{}", t2)};
  EV_TEST_ASSERT_OK(store().Commit(c));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "k", Body(2))}, t2)));
  EV_TEST_ASSERT_OK(store().AppendActivity(
      {.time = before_epoch, .actor = "a", .action = "x", .details = "{}"}, {}));

  EV_TEST_ASSIGN(Item item, store().GetItem(ItemKind::kConfig, "k"));
  EXPECT_EQ(item.created_at, t1);
  EXPECT_EQ(item.updated_at, t2);
  EV_TEST_ASSIGN(Revision r1, store().GetRevision(1));
  EXPECT_EQ(r1.time, t1);
  EV_TEST_ASSIGN(auto pending, store().PendingOutbox(1));
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].created_at, t2);
  EV_TEST_ASSIGN(auto activity, store().ListActivity(0, 1));
  ASSERT_EQ(activity.size(), 1u);
  EXPECT_EQ(activity[0].time, before_epoch);
}

TEST_P(WorkspaceStoreConformanceTest, LargeAndUnicodeBodiesRoundTrip) {
  std::string big = "{\"v\":\"";
  for (size_t i = 0; big.size() < (size_t{1} << 20) - 2; ++i) big.push_back("abcdefgh"[i % 8]);
  big += "\"}";
  ASSERT_EQ(big.size(), size_t{1} << 20);
  const std::string unicode = "{\"greeting\":\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80\"}";
  const std::string key = "caf\xc3\xa9.pool";

  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, key, big)})));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, key, unicode)})));
  EV_TEST_ASSIGN(Item item, store().GetItem(ItemKind::kConfig, key));
  EXPECT_EQ(item.key, key);
  EXPECT_EQ(item.body, unicode);
  EV_TEST_ASSIGN(Revision r1, store().GetRevision(1));
  EXPECT_EQ(r1.after.size(), big.size());
  EXPECT_TRUE(r1.after == big);
  EV_TEST_ASSIGN(Revision r2, store().GetRevision(2));
  EXPECT_TRUE(r2.before == big);
  EV_TEST_ASSIGN(std::optional<std::string> at1, store().BodyAt(ItemKind::kConfig, key, 1));
  ASSERT_TRUE(at1.has_value());
  EXPECT_TRUE(*at1 == big);
  EV_TEST_ASSIGN(auto keys, store().AllKeysEver());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].second, key);
}

// ---- Data keys ------------------------------------------------------------------------

DataKeyRow Key(std::string id, std::string master, std::string wrapped) {
  return DataKeyRow{std::move(id), std::move(master), std::move(wrapped)};
}

TEST_P(WorkspaceStoreConformanceTest, DataKeysArriveWithTheirCommitAndReadBackByteExact) {
  const std::string binary("\x00\xff\x01wrapped\x00", 11);
  CommitRequest c = Request({Put(ItemKind::kSecret, "db.password", Body(1))});
  c.data_keys = {Key("aa01", "m1", binary), Key("aa02", "m1", "w2")};
  EV_TEST_ASSERT_OK(store().Commit(c));
  EV_TEST_ASSIGN(DataKeyRow got, store().GetDataKey("aa01"));
  EXPECT_EQ(got.id, "aa01");
  EXPECT_EQ(got.master_key_id, "m1");
  EXPECT_EQ(got.wrapped, binary);
  EV_TEST_EXPECT_CODE(store().GetDataKey("zz"), kNotFound);
  EV_TEST_ASSIGN(auto counts, store().CountDataKeysByMasterKey());
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"m1", 2}}));
}

TEST_P(WorkspaceStoreConformanceTest, BadOrDuplicateDataKeysRefuseTheWholeCommit) {
  CommitRequest first = Request({Put(ItemKind::kSecret, "s", Body(1))});
  first.data_keys = {Key("k1", "m1", "w")};
  EV_TEST_ASSERT_OK(store().Commit(first));
  for (DataKeyRow bad : {Key("", "m1", "w"), Key("k2", "", "w"), Key("k1", "m1", "again")}) {
    CommitRequest c = Request({Put(ItemKind::kSecret, "s", Body(2))});
    c.data_keys = {Key("k3", "m1", "w"), bad};
    EV_TEST_EXPECT_CODE(store().Commit(c), kInvalidArgument);
  }
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 1);  // no revision from the refused commits
  EV_TEST_EXPECT_CODE(store().GetDataKey("k3"), kNotFound);
  EV_TEST_ASSIGN(DataKeyRow k1, store().GetDataKey("k1"));
  EXPECT_EQ(k1.wrapped, "w");
}

TEST_P(WorkspaceStoreConformanceTest, RotationListsReplacesAndCountsDataKeys) {
  CommitRequest c = Request({Put(ItemKind::kSecret, "s", Body(1))});
  for (int i = 0; i < 7; ++i) c.data_keys.push_back(Key(StrCat("k", i), "m1", StrCat("w", i)));
  c.data_keys.push_back(Key("k7", "m2", "w7"));
  EV_TEST_ASSERT_OK(store().Commit(c));

  // Pages of rows not under m2, ascending by id.
  EV_TEST_ASSIGN(auto page1, store().ListDataKeysNotUnder("m2", "", 3));
  ASSERT_EQ(page1.size(), 3u);
  EXPECT_EQ(page1[0].id, "k0");
  EXPECT_EQ(page1[2].id, "k2");
  EV_TEST_ASSIGN(auto page2, store().ListDataKeysNotUnder("m2", page1.back().id, 10));
  ASSERT_EQ(page2.size(), 4u);
  EXPECT_EQ(page2.back().id, "k6");
  EV_TEST_EXPECT_CODE(store().ListDataKeysNotUnder("m2", "", 0), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ListDataKeysNotUnder("m2", "", 1001), kInvalidArgument);

  // Compare-and-set: k0 and k1 apply; k2 names the wrong expected key and is skipped.
  std::vector<DataKeyReplacement> r = {{Key("k0", "m2", "n0"), "m1"},
                                       {Key("k1", "m2", "n1"), "m1"},
                                       {Key("k2", "m2", "n2"), "m9"}};
  EV_TEST_ASSIGN(int changed, store().ReplaceDataKeys(r));
  EXPECT_EQ(changed, 2);
  EV_TEST_ASSIGN(DataKeyRow k0, store().GetDataKey("k0"));
  EXPECT_EQ(k0.master_key_id, "m2");
  EXPECT_EQ(k0.wrapped, "n0");
  EV_TEST_ASSIGN(DataKeyRow k2, store().GetDataKey("k2"));
  EXPECT_EQ(k2.master_key_id, "m1");
  EXPECT_EQ(k2.wrapped, "w2");
  // Applying the same replacements again changes nothing (already under m2).
  EV_TEST_ASSIGN(int again, store().ReplaceDataKeys(r));
  EXPECT_EQ(again, 0);
  EV_TEST_ASSIGN(auto counts, store().CountDataKeysByMasterKey());
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"m1", 5}, {"m2", 3}}));
  EV_TEST_EXPECT_CODE(store().ReplaceDataKeys({{Key("k3", "", "x"), "m1"}}), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ReplaceDataKeys({{Key("k3", "m2", "x"), ""}}), kInvalidArgument);
  EV_TEST_ASSIGN(int none, store().ReplaceDataKeys({}));
  EXPECT_EQ(none, 0);
}

TEST_P(WorkspaceStoreConformanceTest, ConcurrentRewrapsApplyEachRowOnce) {
  CommitRequest c = Request({Put(ItemKind::kSecret, "s", Body(1))});
  for (int i = 0; i < 40; ++i) c.data_keys.push_back(Key(StrCat("k", 100 + i), "m1", "old"));
  EV_TEST_ASSERT_OK(store().Commit(c));
  std::atomic<int> total{0};
  RunConcurrently(4, [&](int t) {
    std::vector<DataKeyReplacement> r;
    for (int i = 0; i < 40; ++i) {
      r.push_back({Key(StrCat("k", 100 + i), "m2", StrCat("new-by-", t)), "m1"});
    }
    absl::StatusOr<int> n = store().ReplaceDataKeys(r);
    ASSERT_TRUE(n.ok()) << n.status();
    total += *n;
  });
  EXPECT_EQ(total.load(), 40);  // every row re-wrapped by exactly one of the four
  EV_TEST_ASSIGN(auto counts, store().CountDataKeysByMasterKey());
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"m2", 40}}));
}


// ---- Webhooks (docs/design/webhooks.md) ------------------------------------------------

WebhookRow Hook(std::string id, std::string body = "{\"url\":\"http://x/\"}") {
  WebhookRow w;
  w.id = std::move(id);
  w.body = std::move(body);
  w.secret = std::string("\x00sealed\xff", 8);
  w.secret_version = 1;
  w.created_at = At(1);
  w.updated_at = At(1);
  w.cursor = 999;  // ignored by CreateWebhook
  return w;
}

TEST_P(WorkspaceStoreConformanceTest, AWebhookStartsAfterTheOutboxAndArrivesWithItsAuditRowAndKey) {
  CommitRequest c = Request({Put(ItemKind::kConfig, "k", Body(1))});
  c.outbox = {Outbox("webhook", "{\"e\":1}"), Outbox("audit", "{}")};
  EV_TEST_ASSIGN(CommitResult r, store().Commit(c));
  EV_TEST_ASSIGN(WebhookRow created,
                 store().CreateWebhook(Hook("wh_1"), {Key("dk1", "m1", "w")}, {Outbox("audit", "{\"c\":1}")}));
  EXPECT_EQ(created.cursor, r.outbox_ids.back());  // only later events
  EXPECT_FALSE(created.failing);
  EXPECT_EQ(created.secret, std::string("\x00sealed\xff", 8));
  EXPECT_EQ(created.created_at, At(1));
  EV_TEST_ASSIGN(DataKeyRow key, store().GetDataKey("dk1"));
  EXPECT_EQ(key.wrapped, "w");
  EV_TEST_ASSIGN(auto audit, store().PendingOutboxOfKind("audit", 10));
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].payload, "{\"c\":1}");
  EV_TEST_EXPECT_CODE(store().CreateWebhook(Hook("wh_1"), {}, {Outbox("audit", "{\"again\":1}")}), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateWebhook(Hook(""), {}, {}), kInvalidArgument);
  // A refused create writes nothing: no row, no audit row, no data key.
  EV_TEST_EXPECT_CODE(store().CreateWebhook(Hook("wh_2"), {Key("dk2", "m1", "w")}, {Outbox("", "{}")}),
                      kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().GetWebhook("wh_2"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetDataKey("dk2"), kNotFound);
  EV_TEST_ASSIGN(audit, store().PendingOutboxOfKind("audit", 10));
  EXPECT_EQ(audit.size(), 2u);
}

TEST_P(WorkspaceStoreConformanceTest, WebhookUpdateKeepsDeliveryStateAndDeleteRemovesIt) {
  EV_TEST_ASSERT_OK(store().CreateWebhook(Hook("wh_b"), {}, {}).status());
  EV_TEST_ASSERT_OK(store().CreateWebhook(Hook("wh_a"), {}, {}).status());
  EV_TEST_ASSERT_OK(store().SetWebhookDelivery("wh_a", 7, true, "HTTP 500"));
  EV_TEST_ASSERT_OK(store().SetWebhookDelivery("wh_a", 5, true, "HTTP 503"));  // the cursor never goes back
  EV_TEST_ASSIGN(WebhookRow a, store().GetWebhook("wh_a"));
  EXPECT_EQ(a.cursor, 7);
  EXPECT_TRUE(a.failing);
  EXPECT_EQ(a.last_error, "HTTP 503");

  WebhookRow changed = Hook("wh_a", "{\"url\":\"http://y/\"}");
  changed.secret = "s2";
  changed.secret_version = 2;
  changed.updated_at = At(9);
  EV_TEST_ASSERT_OK(store().UpdateWebhook(changed, /*clear_failing=*/false, {}, {}));
  EV_TEST_ASSIGN(a, store().GetWebhook("wh_a"));
  EXPECT_EQ(a.body, "{\"url\":\"http://y/\"}");
  EXPECT_EQ(a.secret, "s2");
  EXPECT_EQ(a.secret_version, 2);
  EXPECT_EQ(a.created_at, At(1));
  EXPECT_EQ(a.updated_at, At(9));
  EXPECT_EQ(a.cursor, 7);
  EXPECT_TRUE(a.failing);
  EV_TEST_ASSERT_OK(store().UpdateWebhook(changed, /*clear_failing=*/true, {}, {}));
  EV_TEST_ASSIGN(a, store().GetWebhook("wh_a"));
  EXPECT_FALSE(a.failing);
  EXPECT_EQ(a.last_error, "");
  EXPECT_EQ(a.cursor, 7);

  EV_TEST_ASSIGN(auto all, store().ListWebhooks());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "wh_a");
  EXPECT_EQ(all[1].id, "wh_b");
  EV_TEST_EXPECT_CODE(store().UpdateWebhook(Hook("wh_zz"), false, {}, {}), kNotFound);
  EV_TEST_ASSERT_OK(store().DeleteWebhook("wh_a", {Outbox("audit", "{\"d\":1}")}));
  EV_TEST_EXPECT_CODE(store().GetWebhook("wh_a"), kNotFound);
  EV_TEST_EXPECT_CODE(store().DeleteWebhook("wh_a", {}), kNotFound);
  EV_TEST_EXPECT_CODE(store().SetWebhookDelivery("wh_a", 9, false, ""), kNotFound);
  EV_TEST_ASSIGN(all, store().ListWebhooks());
  ASSERT_EQ(all.size(), 1u);
  EV_TEST_ASSIGN(auto audit, store().PendingOutboxOfKind("audit", 10));
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].payload, "{\"d\":1}");
}

// One api node at a time delivers a webhook's events: the lease is granted when free or
// ended, renewed by its holder, refused to anyone else with the time it still runs, and
// released only by its holder. A zero ttl ends at once (the same instant counts as ended),
// which tests expiry without waiting on either clock.
TEST_P(WorkspaceStoreConformanceTest, AWebhookLeaseHasOneHolderUntilItEndsOrIsReleased) {
  EV_TEST_ASSERT_OK(store().CreateWebhook(Hook("wh_l"), {}, {}).status());
  EV_TEST_ASSERT_OK(store().CreateWebhook(Hook("wh_m"), {}, {}).status());
  EV_TEST_ASSIGN(absl::Duration wait, store().LeaseWebhook("wh_l", "api-1/a", absl::Minutes(1)));
  EXPECT_EQ(wait, absl::ZeroDuration());
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-2/b", absl::Minutes(1)));
  EXPECT_GT(wait, absl::ZeroDuration());
  EXPECT_LE(wait, absl::Minutes(1));
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-1/a", absl::Minutes(2)));  // renewed
  EXPECT_EQ(wait, absl::ZeroDuration());
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-2/b", absl::Minutes(1)));
  EXPECT_GT(wait, absl::Minutes(1));
  // Each webhook has its own lease.
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_m", "api-2/b", absl::Minutes(1)));
  EXPECT_EQ(wait, absl::ZeroDuration());
  // Only the holder releases.
  EV_TEST_ASSERT_OK(store().ReleaseWebhook("wh_l", "api-2/b"));
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-2/b", absl::Minutes(1)));
  EXPECT_GT(wait, absl::ZeroDuration());
  EV_TEST_ASSERT_OK(store().ReleaseWebhook("wh_l", "api-1/a"));
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-2/b", absl::ZeroDuration()));
  EXPECT_EQ(wait, absl::ZeroDuration());
  // A lease that ended is anyone's.
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-1/a", absl::Minutes(1)));
  EXPECT_EQ(wait, absl::ZeroDuration());
  // The delivery state is untouched by leases; updates keep the lease.
  EV_TEST_ASSERT_OK(store().SetWebhookDelivery("wh_l", 3, false, ""));
  EV_TEST_ASSERT_OK(store().UpdateWebhook(Hook("wh_l"), /*clear_failing=*/true, {}, {}));
  EV_TEST_ASSIGN(wait, store().LeaseWebhook("wh_l", "api-2/b", absl::Minutes(1)));
  EXPECT_GT(wait, absl::ZeroDuration());
  EV_TEST_ASSIGN(WebhookRow l, store().GetWebhook("wh_l"));
  EXPECT_EQ(l.cursor, 3);
  // Bad input, unknown webhooks.
  EV_TEST_EXPECT_CODE(store().LeaseWebhook("wh_l", "", absl::Minutes(1)), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().LeaseWebhook("wh_l", std::string(129, 'h'), absl::Minutes(1)), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().LeaseWebhook("wh_l", "api-1/a", absl::Seconds(-1)), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().LeaseWebhook("wh_zz", "api-1/a", absl::Minutes(1)), kNotFound);
  EV_TEST_EXPECT_CODE(store().ReleaseWebhook("wh_zz", "api-1/a"), kNotFound);
  EV_TEST_ASSERT_OK(store().DeleteWebhook("wh_l", {}));
  EV_TEST_EXPECT_CODE(store().LeaseWebhook("wh_l", "api-1/a", absl::Minutes(1)), kNotFound);
}

TEST_P(WorkspaceStoreConformanceTest, OutboxOfKindAfterACursorAndDoneThrough) {
  std::vector<int64_t> hooks;
  for (int i = 0; i < 4; ++i) {
    CommitRequest c = Request({Put(ItemKind::kConfig, "k", Body(i))});
    c.outbox = {Outbox("audit", "{}"), Outbox("webhook", StrCat("{\"i\":", i, "}"))};
    EV_TEST_ASSIGN(CommitResult r, store().Commit(c));
    hooks.push_back(r.outbox_ids[1]);
  }
  EV_TEST_ASSIGN(auto after, store().PendingOutboxOfKindAfter("webhook", hooks[0], 2));
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].id, hooks[1]);
  EXPECT_EQ(after[0].payload, "{\"i\":1}");
  EXPECT_EQ(after[1].id, hooks[2]);
  EV_TEST_EXPECT_CODE(store().PendingOutboxOfKindAfter("webhook", 0, 0), kInvalidArgument);
  EV_TEST_ASSIGN(int64_t n, store().MarkOutboxOfKindDoneThrough("webhook", hooks[1]));
  EXPECT_EQ(n, 2);
  EV_TEST_ASSIGN(n, store().MarkOutboxOfKindDoneThrough("webhook", hooks[1]));
  EXPECT_EQ(n, 0);
  EV_TEST_ASSIGN(auto left, store().PendingOutboxOfKindAfter("webhook", 0, 100));
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, hooks[2]);
  // Other kinds are untouched.
  EV_TEST_ASSIGN(auto audit, store().PendingOutboxOfKind("audit", 100));
  EXPECT_EQ(audit.size(), 4u);
}

// ---- change requests

ChangeRequestWrite NewCr(std::string title, absl::Time at = kT0) {
  ChangeRequestWrite w;
  w.row.title = std::move(title);
  w.row.author = "user:usr_1";
  w.row.state = "open";
  w.row.base_revision = 3;
  w.row.body = R"({"changes":[]})";
  w.row.created_at = at;
  w.row.updated_at = at;
  return w;
}

TEST_P(WorkspaceStoreConformanceTest, ChangeRequestsGetIdsOneToNAndListNewestFirst) {
  for (int i = 1; i <= 3; ++i) {
    EV_TEST_ASSIGN(ChangeRequest cr, store().WriteChangeRequest(NewCr(StrCat("cr ", i), At(i))));
    EXPECT_EQ(cr.id, i);
    EXPECT_EQ(cr.version, 1);
  }
  EV_TEST_ASSIGN(ChangeRequest got, store().GetChangeRequest(2));
  EXPECT_EQ(got.title, "cr 2");
  EXPECT_EQ(got.author, "user:usr_1");
  EXPECT_EQ(got.state, "open");
  EXPECT_EQ(got.base_revision, 3);
  EXPECT_EQ(got.round, 1);
  EXPECT_EQ(got.body, R"({"changes":[]})");
  EXPECT_EQ(got.created_at, At(2));
  EV_TEST_ASSIGN(auto page, store().ListChangeRequests(0, 2));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, 3);
  EXPECT_EQ(page[1].id, 2);
  EV_TEST_ASSIGN(auto rest, store().ListChangeRequests(2, 10));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, 1);
  EV_TEST_EXPECT_CODE(store().GetChangeRequest(9), kNotFound);
  EV_TEST_EXPECT_CODE(store().ListChangeRequests(0, 0), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().WriteChangeRequest(NewCr("")), kInvalidArgument);
}

TEST_P(WorkspaceStoreConformanceTest, ChangeRequestUpdatesCompareAndSetTheVersion) {
  EV_TEST_ASSIGN(ChangeRequest cr, store().WriteChangeRequest(NewCr("promote")));
  ChangeRequestWrite w{.row = cr, .expected_version = 1};
  w.row.state = "approved";
  w.row.updated_at = At(5);
  w.outbox.push_back(Outbox("audit", R"({"a":1})"));
  EV_TEST_ASSIGN(ChangeRequest updated, store().WriteChangeRequest(w));
  EXPECT_EQ(updated.version, 2);
  // The same write again is stale: refused, nothing written (no second outbox row).
  w.row.state = "closed";
  EV_TEST_EXPECT_CODE(store().WriteChangeRequest(w), kAborted);
  EV_TEST_ASSIGN(ChangeRequest got, store().GetChangeRequest(cr.id));
  EXPECT_EQ(got.state, "approved");
  EXPECT_EQ(got.version, 2);
  EXPECT_EQ(got.updated_at, At(5));
  EXPECT_EQ(got.created_at, kT0);
  EV_TEST_ASSIGN(auto outbox, store().PendingOutbox(10));
  EXPECT_EQ(outbox.size(), 1u);
  ChangeRequestWrite unknown{.row = cr, .expected_version = 1};
  unknown.row.id = 42;
  EV_TEST_EXPECT_CODE(store().WriteChangeRequest(unknown), kNotFound);
}

TEST_P(WorkspaceStoreConformanceTest, ChangeRequestDataKeysCommitWithTheRowOrNotAtAll) {
  ChangeRequestWrite w = NewCr("propose");
  w.data_keys = {Key("cd01", "m1", "w1")};
  EV_TEST_ASSIGN(ChangeRequest cr, store().WriteChangeRequest(w));
  EV_TEST_ASSIGN(DataKeyRow got, store().GetDataKey("cd01"));
  EXPECT_EQ(got.wrapped, "w1");
  // A key that exists already refuses the whole write: no second request.
  ChangeRequestWrite again = NewCr("propose again");
  again.data_keys = {Key("cd02", "m1", "w2"), Key("cd01", "m1", "w3")};
  EXPECT_FALSE(store().WriteChangeRequest(again).ok());
  EV_TEST_EXPECT_CODE(store().GetDataKey("cd02"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetChangeRequest(cr.id + 1), kNotFound);
  ChangeRequestWrite bad = NewCr("bad key");
  bad.data_keys = {Key("", "m1", "w")};
  EV_TEST_EXPECT_CODE(store().WriteChangeRequest(bad), kInvalidArgument);
}

TEST_P(WorkspaceStoreConformanceTest, OneReviewPerUserPerRoundAndCommentsInOrder) {
  EV_TEST_ASSIGN(ChangeRequest cr, store().WriteChangeRequest(NewCr("promote")));
  auto review = [&](const ChangeRequest& at, std::string actor, int64_t round) {
    ChangeRequestWrite w{.row = at, .expected_version = at.version};
    w.review = ChangeRequestReview{.round = round, .actor = std::move(actor), .decision = "approve", .time = At(1)};
    return store().WriteChangeRequest(w);
  };
  EV_TEST_ASSIGN(cr, review(cr, "user:a", 1));
  EV_TEST_ASSIGN(cr, review(cr, "user:b", 1));
  // user:a again in round 1: refused, and the row's version does not move.
  EV_TEST_EXPECT_CODE(review(cr, "user:a", 1), kAlreadyExists);
  EV_TEST_ASSIGN(ChangeRequest got, store().GetChangeRequest(cr.id));
  EXPECT_EQ(got.version, cr.version);
  EV_TEST_ASSIGN(cr, review(cr, "user:a", 2));  // a new round (rebase) counts again
  EV_TEST_ASSIGN(auto reviews, store().ListChangeRequestReviews(cr.id));
  ASSERT_EQ(reviews.size(), 3u);
  EXPECT_EQ(reviews[0].round, 1);
  EXPECT_EQ(reviews[2].round, 2);
  EXPECT_EQ(reviews[2].actor, "user:a");

  for (int i = 0; i < 2; ++i) {
    ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
    w.comment = ChangeRequestComment{.actor = "user:c", .text = StrCat("note ", i), .time = At(i)};
    EV_TEST_ASSIGN(cr, store().WriteChangeRequest(w));
  }
  EV_TEST_ASSIGN(auto comments, store().ListChangeRequestComments(cr.id));
  ASSERT_EQ(comments.size(), 2u);
  EXPECT_EQ(comments[0].text, "note 0");
  EXPECT_EQ(comments[1].text, "note 1");
  EXPECT_LT(comments[0].id, comments[1].id);
}

TEST_P(WorkspaceStoreConformanceTest, CommitMovesTheChangeRequestInTheSameTransaction) {
  EV_TEST_ASSIGN(ChangeRequest cr, store().WriteChangeRequest(NewCr("promote")));
  CommitRequest c = Request({Put(ItemKind::kConfig, "a", Body(1)), Put(ItemKind::kConfig, "b", Body(2))});
  c.change_request = ChangeRequestWrite{.row = cr, .expected_version = cr.version};
  c.change_request->row.state = "applied";
  EV_TEST_ASSIGN(CommitResult r, store().Commit(c));
  EXPECT_EQ(r.last_revision, 2);
  EV_TEST_ASSIGN(ChangeRequest got, store().GetChangeRequest(cr.id));
  EXPECT_EQ(got.state, "applied");
  EXPECT_EQ(got.applied_revision, 2);
  // Applying again with the old version: refused as a whole, no revision written.
  EV_TEST_EXPECT_CODE(store().Commit(c), kAborted);
  EV_TEST_ASSIGN(int64_t head, store().Head());
  EXPECT_EQ(head, 2);
}

// ---- Transfer (edgevault migrate) ------------------------------------------------------

std::vector<std::vector<std::string>> AllTransferRows(StoreTransfer& s) {
  std::vector<std::vector<std::string>> out;
  for (const TransferTable& t : WorkspaceTransferTables()) {
    std::vector<std::string> rows;
    for (int64_t offset = 0;;) {
      absl::StatusOr<std::vector<TransferRow>> page = s.ExportRows(t.name, offset, 3);
      EXPECT_TRUE(page.ok()) << t.name << ": " << page.status();
      if (!page.ok() || page->empty()) break;
      for (const TransferRow& r : *page) rows.push_back(EncodeTransferRow(r));
      offset += static_cast<int64_t>(page->size());
    }
    out.push_back(std::move(rows));
  }
  return out;
}

TEST_P(WorkspaceStoreConformanceTest, TransferCopiesTheWholeHistoryAndTheCopyGoesOn) {
  CommitRequest first = Request({Put(ItemKind::kEnvironment, "prod", "{}"),
                                 Put(ItemKind::kConfig, "db.pool", Body(1), "prod")});
  first.outbox = {Outbox("propagate", "{\"rev\":2}"), Outbox("audit", "{\"a\":1}")};
  EV_TEST_ASSERT_OK(store().Commit(first));
  CommitRequest secret = Request({Put(ItemKind::kSecret, "db.password", Body(2), "prod")}, At(1));
  secret.data_keys = {Key("aa01", "m1", std::string("\x00\xffwrapped", 9))};
  EV_TEST_ASSERT_OK(store().Commit(secret));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "db.pool", Body(3), "prod")}, At(2))));
  EV_TEST_ASSERT_OK(store().Commit(Request({Delete(ItemKind::kConfig, "db.pool")}, At(3))));
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kFlag, "checkout", Body(4))}, At(4))));
  EV_TEST_ASSIGN(std::vector<OutboxRow> pending, store().PendingOutbox(10));
  ASSERT_FALSE(pending.empty());
  EV_TEST_ASSERT_OK(store().MarkOutboxDone(pending[0].id));
  EV_TEST_ASSERT_OK(store().RecordOutboxAttempt(pending[1].id));
  EV_TEST_ASSERT_OK(store().AppendActivity(
      Activity{.time = At(5), .actor = "user:usr_1", .action = "secret.read", .details = "{}"},
      {Outbox("audit", "{\"read\":1}")}));
  ChangeRequestWrite cr = NewCr("promote");
  cr.comment = ChangeRequestComment{.actor = "user:b", .text = "looks good", .time = At(6)};
  EV_TEST_ASSIGN(ChangeRequest created, store().WriteChangeRequest(cr));
  ChangeRequestWrite review;
  review.row = created;
  review.expected_version = created.version;
  review.review = ChangeRequestReview{.change_request_id = created.id, .round = 1,
                                      .actor = "user:b", .decision = "approve", .time = At(7)};
  EV_TEST_ASSERT_OK(store().WriteChangeRequest(review));
  EV_TEST_ASSERT_OK(store().CreateWebhook(Hook("wh_1"), {Key("bb01", "m1", "w")}, {}));
  EV_TEST_ASSIGN(int64_t head, store().Head());

  std::unique_ptr<WorkspaceStore> target = GetParam()();
  ASSERT_NE(target, nullptr);
  for (const TransferTable& t : WorkspaceTransferTables()) {
    EV_TEST_ASSIGN(int64_t n, store().CountRows(t.name));
    EXPECT_GT(n, 0) << t.name << ": the test fills every table";
    for (int64_t offset = 0; offset < n; offset += 3) {
      EV_TEST_ASSIGN(std::vector<TransferRow> rows, store().ExportRows(t.name, offset, 3));
      EV_TEST_ASSIGN(int64_t inserted, target->ImportRows(t.name, rows));
      EXPECT_EQ(inserted, static_cast<int64_t>(rows.size())) << t.name;
      EV_TEST_ASSIGN(int64_t again, target->ImportRows(t.name, rows));
      EXPECT_EQ(again, 0) << t.name << ": a resumed import writes nothing twice";
    }
  }
  EXPECT_EQ(AllTransferRows(*target), AllTransferRows(store()));

  // Same history through the store's API, and the copy is a working store: the next
  // commit continues the revision and outbox numbering.
  EV_TEST_ASSIGN(int64_t copied_head, target->Head());
  EXPECT_EQ(copied_head, head);
  EV_TEST_ASSIGN(std::vector<Revision> revs, target->ListRevisions(0, 100));
  ASSERT_EQ(static_cast<int64_t>(revs.size()), head);
  EXPECT_EQ(revs[3].time, At(2));
  EV_TEST_ASSIGN(std::optional<std::string> old, target->BodyAt(ItemKind::kConfig, "db.pool", 4));
  EXPECT_EQ(old, Body(3));
  EV_TEST_ASSIGN(DataKeyRow dk, target->GetDataKey("aa01"));
  EXPECT_EQ(dk.wrapped, std::string("\x00\xffwrapped", 9));
  EV_TEST_ASSIGN(std::vector<OutboxRow> copied_pending, target->PendingOutbox(10));
  EXPECT_EQ(copied_pending.size(), 2u);  // the first commit's second row and the read's audit row
  EV_TEST_ASSIGN(CommitResult next, target->Commit(Request(
                                        {Put(ItemKind::kConfig, "db.pool", Body(9), "prod")}, At(9))));
  EXPECT_EQ(next.first_revision, head + 1);
  EV_TEST_ASSIGN(std::vector<ChangeRequestReview> reviews, target->ListChangeRequestReviews(created.id));
  EXPECT_EQ(reviews.size(), 1u);
}

TEST_P(WorkspaceStoreConformanceTest, TransferRefusesBadRowsAndUnknownTables) {
  EV_TEST_ASSERT_OK(store().Commit(Request({Put(ItemKind::kConfig, "a", Body(1))})));
  EV_TEST_EXPECT_CODE(store().CountRows("meta"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ExportRows("revisions", 0, 0), kInvalidArgument);
  EV_TEST_ASSIGN(std::vector<TransferRow> revs, store().ExportRows("revisions", 0, 10));
  ASSERT_EQ(revs.size(), 1u);
  std::unique_ptr<WorkspaceStore> target = GetParam()();
  ASSERT_NE(target, nullptr);
  std::vector<TransferRow> two = {revs[0], revs[0]};
  two[1][0] = int64_t{2};
  two[1][1] = std::string("not a time");
  EV_TEST_EXPECT_CODE(target->ImportRows("revisions", two), kInvalidArgument);
  EV_TEST_ASSIGN(int64_t head, target->Head());
  EXPECT_EQ(head, 0) << "nothing of a refused batch is written";
}

}  // namespace
}  // namespace edgevault::storage
