#include "src/storage/edge_kv_conformance.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {

bool EdgeKvConformanceLinked() { return true; }

void EdgeKvConformanceTest::SetUp() {
  kv_ = GetParam()();
  ASSERT_NE(kv_, nullptr) << "the factory returned no store";
}

namespace {

using base::StrCat;

// Every byte value, NULs included, in an order that is not sorted.
std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>((i * 167 + 13) & 0xff));
  s += std::string("\0\0tail\0", 7);
  return s;
}

// A value that names its version in every position, so a reader can tell a torn or mixed
// value from a whole one: "<version>;" repeated, its length varying with the version.
std::string ValueFor(int64_t version) {
  std::string unit = StrCat(version, ";");
  size_t size = 1000 + static_cast<size_t>(version % 7) * 1500;
  std::string out;
  out.reserve(size + unit.size());
  while (out.size() < size) out += unit;
  return out;
}

// Runs `fn(i)` on `n` threads released together; returns when all finished.
template <typename Fn>
void RunConcurrently(int n, Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      fn(i);
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
}

// ---- Reads of absent keys ----------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, MissingKeyIsNotFound) {
  EV_TEST_EXPECT_CODE(kv().Get("doc/ws_1/prod"), kNotFound);
  EV_TEST_EXPECT_CODE(kv().GetVersion("doc/ws_1/prod"), kNotFound);
  EV_TEST_EXPECT_CODE(kv().DeleteIfNotNewer("doc/ws_1/prod", 100), kNotFound);
  EV_TEST_ASSIGN(std::vector<std::string> keys, kv().ListKeys("", 10));
  EXPECT_TRUE(keys.empty());
}

// ---- Round trips -------------------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, PutThenGetRoundTripsBinaryValue) {
  const std::string value = AllBytes();
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer("doc/ws_1/prod", value, 42));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("doc/ws_1/prod"));
  EXPECT_EQ(got.value.size(), value.size());
  EXPECT_EQ(got.value, value);
  EXPECT_EQ(got.version, 42);
  EV_TEST_EXPECT_CODE(kv().Get("doc/ws_1/pro"), kNotFound);
  EV_TEST_EXPECT_CODE(kv().Get("doc/ws_1/prod2"), kNotFound);
}

TEST_P(EdgeKvConformanceTest, BinaryKeysWithNulBytesAreDistinct) {
  const std::string k1("k\0a", 3), k2("k\0b", 3), k3("k", 1), k4("k\xff\x80", 3);
  EV_TEST_ASSERT_OK(kv().PutIfNewer(k1, "one", 1));
  EV_TEST_ASSERT_OK(kv().PutIfNewer(k2, "two", 2));
  EV_TEST_ASSERT_OK(kv().PutIfNewer(k3, "three", 3));
  EV_TEST_ASSERT_OK(kv().PutIfNewer(k4, "four", 4));
  EV_TEST_ASSIGN(KvEntry e1, kv().Get(k1));
  EV_TEST_ASSIGN(KvEntry e2, kv().Get(k2));
  EV_TEST_ASSIGN(KvEntry e3, kv().Get(k3));
  EV_TEST_ASSIGN(KvEntry e4, kv().Get(k4));
  EXPECT_EQ(e1.value, "one");
  EXPECT_EQ(e2.value, "two");
  EXPECT_EQ(e3.value, "three");
  EXPECT_EQ(e4.value, "four");
  EXPECT_EQ(e4.version, 4);
}

TEST_P(EdgeKvConformanceTest, EmptyValueRoundTrips) {
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer("empty", "", 7));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("empty"));
  EXPECT_EQ(got.value, "");
  EXPECT_EQ(got.version, 7);
}

TEST_P(EdgeKvConformanceTest, OneMebibyteValueRoundTrips) {
  std::string value(1 << 20, '\0');
  for (size_t i = 0; i < value.size(); ++i) {
    value[i] = static_cast<char>((i * 31 + i / 4096) & 0xff);
  }
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer("big", value, 1));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("big"));
  EXPECT_EQ(got.version, 1);
  ASSERT_EQ(got.value.size(), value.size());
  EXPECT_TRUE(got.value == value);  // not EXPECT_EQ: a mismatch would print 2 MiB
}

TEST_P(EdgeKvConformanceTest, ShorterNewerValueLeavesNoTrailingBytes) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("k", std::string(5000, 'x'), 1));
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer("k", "short", 2));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("k"));
  EXPECT_EQ(got.value, "short");
  EXPECT_EQ(got.version, 2);
}

// ---- The version rule ----------------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, PutIfNewerRefusesEqualAndOlderVersionsAndKeepsEntry) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/prod", "v10", 10));
  EV_TEST_ASSIGN(bool equal, kv().PutIfNewer("doc/ws_1/prod", "other at 10", 10));
  EXPECT_FALSE(equal);
  EV_TEST_ASSIGN(bool older, kv().PutIfNewer("doc/ws_1/prod", "v9", 9));
  EXPECT_FALSE(older);
  EV_TEST_ASSIGN(bool zero, kv().PutIfNewer("doc/ws_1/prod", "", 0));
  EXPECT_FALSE(zero);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("doc/ws_1/prod"));
  EXPECT_EQ(got.value, "v10");
  EXPECT_EQ(got.version, 10);
}

TEST_P(EdgeKvConformanceTest, PutIfNewerAcceptsNewerVersion) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/prod", "v10", 10));
  EV_TEST_ASSIGN(bool newer, kv().PutIfNewer("doc/ws_1/prod", "v11", 11));
  EXPECT_TRUE(newer);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("doc/ws_1/prod"));
  EXPECT_EQ(got.value, "v11");
  EXPECT_EQ(got.version, 11);
  EV_TEST_ASSIGN(bool jump, kv().PutIfNewer("doc/ws_1/prod", "max", INT64_MAX));
  EXPECT_TRUE(jump);
  EV_TEST_ASSIGN(KvEntry top, kv().Get("doc/ws_1/prod"));
  EXPECT_EQ(top.version, INT64_MAX);
  EXPECT_EQ(top.value, "max");
}

TEST_P(EdgeKvConformanceTest, VersionZeroIsAValidFirstVersion) {
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer("k", "zero", 0));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(int64_t version, kv().GetVersion("k"));
  EXPECT_EQ(version, 0);
}

TEST_P(EdgeKvConformanceTest, VersionsOfDifferentKeysAreIndependent) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("a", "a100", 100));
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer("b", "b1", 1));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(KvEntry a, kv().Get("a"));
  EV_TEST_ASSIGN(KvEntry b, kv().Get("b"));
  EXPECT_EQ(a.version, 100);
  EXPECT_EQ(b.version, 1);
  EXPECT_EQ(b.value, "b1");
}

TEST_P(EdgeKvConformanceTest, GetVersionReturnsStoredVersion) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/prod", "x", 5));
  EV_TEST_ASSIGN(int64_t v5, kv().GetVersion("doc/ws_1/prod"));
  EXPECT_EQ(v5, 5);
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/prod", "y", 3));  // refused
  EV_TEST_ASSIGN(int64_t still5, kv().GetVersion("doc/ws_1/prod"));
  EXPECT_EQ(still5, 5);
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/prod", "z", 1'000'000'000'000));
  EV_TEST_ASSIGN(int64_t big, kv().GetVersion("doc/ws_1/prod"));
  EXPECT_EQ(big, 1'000'000'000'000);
}

// ---- Deletes -------------------------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, DeleteIfNotNewerKeepsNewerEntry) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("k", "v5", 5));
  EV_TEST_ASSIGN(bool removed, kv().DeleteIfNotNewer("k", 4));
  EXPECT_FALSE(removed);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("k"));
  EXPECT_EQ(got.value, "v5");
  EXPECT_EQ(got.version, 5);
}

TEST_P(EdgeKvConformanceTest, DeleteIfNotNewerRemovesEqualVersion) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("k", "v5", 5));
  EV_TEST_ASSERT_OK(kv().PutIfNewer("other", "o", 1));
  EV_TEST_ASSIGN(bool removed, kv().DeleteIfNotNewer("k", 5));
  EXPECT_TRUE(removed);
  EV_TEST_EXPECT_CODE(kv().Get("k"), kNotFound);
  EV_TEST_EXPECT_CODE(kv().GetVersion("k"), kNotFound);
  EV_TEST_EXPECT_CODE(kv().DeleteIfNotNewer("k", 5), kNotFound);
  EV_TEST_ASSIGN(KvEntry other, kv().Get("other"));  // untouched
  EXPECT_EQ(other.value, "o");
}

TEST_P(EdgeKvConformanceTest, DeleteIfNotNewerRemovesOlderVersionAndKeepsNoTombstone) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("k", "v5", 5));
  EV_TEST_ASSIGN(bool removed, kv().DeleteIfNotNewer("k", 9));
  EXPECT_TRUE(removed);
  EV_TEST_EXPECT_CODE(kv().Get("k"), kNotFound);
  // No tombstone: an older version may be written again after the delete.
  EV_TEST_ASSIGN(bool rewritten, kv().PutIfNewer("k", "v3", 3));
  EXPECT_TRUE(rewritten);
  EV_TEST_ASSIGN(KvEntry got, kv().Get("k"));
  EXPECT_EQ(got.value, "v3");
  EXPECT_EQ(got.version, 3);
}

// ---- Listing -------------------------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, ListKeysByPrefixInByteOrderUpToLimit) {
  const std::vector<std::string> all = {
      "doc/ws_2/a", "doc/ws_1/prod", "sdk/ab12", "doc/ws_10/x", "doc",
      "doc0",       "doc/ws_1/dev",  "do",       "doc/\x80",   "doc/ws_1/dev2"};
  for (size_t i = 0; i < all.size(); ++i) EV_TEST_ASSERT_OK(kv().PutIfNewer(all[i], "v", 1));

  EV_TEST_ASSIGN(std::vector<std::string> docs, kv().ListKeys("doc/", 100));
  const std::vector<std::string> want_docs = {"doc/ws_1/dev",  "doc/ws_1/dev2", "doc/ws_1/prod",
                                              "doc/ws_10/x",   "doc/ws_2/a",    "doc/\x80"};
  EXPECT_EQ(docs, want_docs);

  EV_TEST_ASSIGN(std::vector<std::string> first2, kv().ListKeys("doc/", 2));
  EXPECT_EQ(first2, std::vector<std::string>(want_docs.begin(), want_docs.begin() + 2));

  EV_TEST_ASSIGN(std::vector<std::string> everything, kv().ListKeys("", 100));
  std::vector<std::string> sorted = all;
  std::sort(sorted.begin(), sorted.end());  // std::string orders bytes as unsigned
  EXPECT_EQ(everything, sorted);

  EV_TEST_ASSIGN(std::vector<std::string> exact, kv().ListKeys("doc/ws_1/dev", 100));
  EXPECT_EQ(exact, (std::vector<std::string>{"doc/ws_1/dev", "doc/ws_1/dev2"}));
  EV_TEST_ASSIGN(std::vector<std::string> none, kv().ListKeys("nope/", 100));
  EXPECT_TRUE(none.empty());
  EV_TEST_ASSIGN(std::vector<std::string> after_all, kv().ListKeys("zzz", 100));
  EXPECT_TRUE(after_all.empty());
  EV_TEST_ASSIGN(std::vector<std::string> zero, kv().ListKeys("doc/", 0));
  EXPECT_TRUE(zero.empty());
}

TEST_P(EdgeKvConformanceTest, ListKeysOmitsDeletedKeys) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("sdk/a", "v", 1));
  EV_TEST_ASSERT_OK(kv().PutIfNewer("sdk/b", "v", 1));
  EV_TEST_ASSERT_OK(kv().PutIfNewer("sdk/c", "v", 1));
  EV_TEST_ASSERT_OK(kv().DeleteIfNotNewer("sdk/b", 1));
  EV_TEST_ASSIGN(std::vector<std::string> keys, kv().ListKeys("sdk/", 10));
  EXPECT_EQ(keys, (std::vector<std::string>{"sdk/a", "sdk/c"}));
}

// ---- Argument checks -----------------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, EmptyKeyIsInvalidArgument) {
  EV_TEST_EXPECT_CODE(kv().PutIfNewer("", "v", 1), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().Get(""), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().GetVersion(""), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().DeleteIfNotNewer("", 1), kInvalidArgument);
}

TEST_P(EdgeKvConformanceTest, KeyOf511BytesWorksAnd512IsInvalidArgument) {
  const std::string max_key(511, 'k');
  const std::string too_long(512, 'k');
  EV_TEST_ASSIGN(bool written, kv().PutIfNewer(max_key, "v", 1));
  EXPECT_TRUE(written);
  EV_TEST_ASSIGN(KvEntry got, kv().Get(max_key));
  EXPECT_EQ(got.value, "v");
  EV_TEST_ASSIGN(std::vector<std::string> keys, kv().ListKeys(max_key, 10));
  EXPECT_EQ(keys, std::vector<std::string>{max_key});

  EV_TEST_EXPECT_CODE(kv().PutIfNewer(too_long, "v", 1), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().Get(too_long), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().GetVersion(too_long), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().DeleteIfNotNewer(too_long, 1), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().PutIfNewer(std::string(100'000, 'k'), "v", 1), kInvalidArgument);
  EV_TEST_ASSIGN(std::vector<std::string> long_prefix, kv().ListKeys(too_long, 10));
  EXPECT_TRUE(long_prefix.empty());
}

TEST_P(EdgeKvConformanceTest, NegativeVersionIsInvalidArgumentAndWritesNothing) {
  EV_TEST_EXPECT_CODE(kv().PutIfNewer("k", "v", -1), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().PutIfNewer("k", "v", INT64_MIN), kInvalidArgument);
  EV_TEST_EXPECT_CODE(kv().Get("k"), kNotFound);
  EV_TEST_ASSERT_OK(kv().PutIfNewer("k", "v", 0));
  EV_TEST_EXPECT_CODE(kv().DeleteIfNotNewer("k", -1), kInvalidArgument);
  EV_TEST_ASSIGN(int64_t version, kv().GetVersion("k"));
  EXPECT_EQ(version, 0);
}

TEST_P(EdgeKvConformanceTest, NegativeListLimitIsInvalidArgument) {
  EV_TEST_EXPECT_CODE(kv().ListKeys("", -1), kInvalidArgument);
}

// ---- Concurrency ---------------------------------------------------------------------------

TEST_P(EdgeKvConformanceTest, ConcurrentPutIfNewerOnOneKeyEndsAtHighestVersion) {
  constexpr int kThreads = 8;
  constexpr int kVersions = 1000;
  std::vector<std::vector<int64_t>> accepted(kThreads);
  std::vector<std::string> errors(kThreads);
  RunConcurrently(kThreads, [&](int t) {
    std::vector<int64_t> order(kVersions);
    std::iota(order.begin(), order.end(), 1);
    std::mt19937 rng(static_cast<uint32_t>(1234 + t));  // fixed seed: reproducible
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t v : order) {
      absl::StatusOr<bool> written = kv().PutIfNewer("doc/ws_1/prod", ValueFor(v), v);
      if (!written.ok()) {
        errors[t] = written.status().ToString();
        return;
      }
      if (*written) accepted[t].push_back(v);
    }
  });
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(errors[t], "") << "thread " << t;

  EV_TEST_ASSIGN(KvEntry final_entry, kv().Get("doc/ws_1/prod"));
  EXPECT_EQ(final_entry.version, kVersions);
  EXPECT_EQ(final_entry.value, ValueFor(kVersions));

  // Each accepted write raised the stored version, so a thread's accepted versions rise
  // strictly and no version was accepted twice across threads.
  std::set<int64_t> seen;
  size_t total = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(std::is_sorted(accepted[t].begin(), accepted[t].end()));
    EXPECT_EQ(std::adjacent_find(accepted[t].begin(), accepted[t].end()), accepted[t].end());
    seen.insert(accepted[t].begin(), accepted[t].end());
    total += accepted[t].size();
  }
  EXPECT_EQ(seen.size(), total) << "a version was accepted by two threads";
  EXPECT_EQ(seen.count(kVersions), 1u);
}

TEST_P(EdgeKvConformanceTest, ReadersConcurrentWithWriterNeverSeeTornValue) {
  constexpr int kReaders = 3;
  constexpr int64_t kLast = 300;
  std::atomic<bool> writer_done{false};
  std::vector<std::string> errors(kReaders + 1);
  std::vector<int64_t> reads(kReaders, 0);
  RunConcurrently(kReaders + 1, [&](int t) {
    if (t == kReaders) {  // the writer
      for (int64_t v = 1; v <= kLast; ++v) {
        absl::StatusOr<bool> written = kv().PutIfNewer("doc/ws_1/prod", ValueFor(v), v);
        if (!written.ok() || !*written) {
          errors[t] =
              StrCat("put ", v, ": ", written.ok() ? "refused" : written.status().ToString());
          break;
        }
      }
      writer_done.store(true);
      return;
    }
    int64_t last_seen = 0;
    bool finished = false;
    while (!finished) {
      finished = writer_done.load();  // one more full pass after the writer stops
      absl::StatusOr<KvEntry> got = kv().Get("doc/ws_1/prod");
      if (!got.ok()) {
        if (got.status().code() == absl::StatusCode::kNotFound && last_seen == 0) continue;
        errors[t] = got.status().ToString();
        return;
      }
      ++reads[t];
      if (got->value != ValueFor(got->version)) {
        errors[t] = StrCat("torn value at version ", got->version, ": ", got->value.size(),
                           " bytes, starting ", got->value.substr(0, 24));
        return;
      }
      if (got->version < last_seen) {
        errors[t] = StrCat("version went back from ", last_seen, " to ", got->version);
        return;
      }
      last_seen = got->version;
      absl::StatusOr<int64_t> version = kv().GetVersion("doc/ws_1/prod");
      if (!version.ok() || *version < last_seen) {
        errors[t] = StrCat("GetVersion after ", last_seen, ": ",
                           version.ok() ? StrCat(*version) : version.status().ToString());
        return;
      }
    }
    if (last_seen != kLast) errors[t] = StrCat("last version seen ", last_seen);
  });
  for (int t = 0; t <= kReaders; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  for (int t = 0; t < kReaders; ++t) EXPECT_GT(reads[t], 0) << "reader " << t;
}

// ---- PutManyIfNewer (propagation writes every environment at once) ---------------------

TEST_P(EdgeKvConformanceTest, PutManyIfNewerAppliesTheVersionRulePerKey) {
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/prod", "prod v10", 10));
  EV_TEST_ASSERT_OK(kv().PutIfNewer("doc/ws_1/dev", "dev v3", 3));
  std::vector<KvWrite> writes = {{"doc/ws_1/prod", "prod v7", 7},
                                 {"doc/ws_1/dev", "dev v7", 7},
                                 {"doc/ws_1/staging", "staging v7", 7}};
  EV_TEST_ASSIGN(std::vector<bool> written, kv().PutManyIfNewer(writes));
  EXPECT_EQ(written, (std::vector<bool>{false, true, true}));
  EV_TEST_ASSIGN(KvEntry prod, kv().Get("doc/ws_1/prod"));
  EXPECT_EQ(prod.value, "prod v10");
  EXPECT_EQ(prod.version, 10);
  EV_TEST_ASSIGN(KvEntry dev, kv().Get("doc/ws_1/dev"));
  EXPECT_EQ(dev.value, "dev v7");
  EXPECT_EQ(dev.version, 7);
  EV_TEST_ASSIGN(KvEntry staging, kv().Get("doc/ws_1/staging"));
  EXPECT_EQ(staging.value, "staging v7");
  // Repeating the batch changes nothing.
  EV_TEST_ASSIGN(std::vector<bool> again, kv().PutManyIfNewer(writes));
  EXPECT_EQ(again, (std::vector<bool>{false, false, false}));
  EV_TEST_ASSIGN(KvEntry dev_again, kv().Get("doc/ws_1/dev"));
  EXPECT_EQ(dev_again.value, "dev v7");
}

TEST_P(EdgeKvConformanceTest, PutManyIfNewerWithABadEntryWritesNothing) {
  std::string long_key(512, 'k');
  std::vector<KvWrite> bad_key = {{"doc/ws_1/prod", "v1", 1}, {long_key, "x", 1}};
  EXPECT_EQ(kv().PutManyIfNewer(bad_key).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<KvWrite> bad_version = {{"doc/ws_1/prod", "v1", 1}, {"doc/ws_1/dev", "x", -1}};
  EXPECT_EQ(kv().PutManyIfNewer(bad_version).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<KvWrite> empty_key = {{"doc/ws_1/prod", "v1", 1}, {"", "x", 1}};
  EXPECT_EQ(kv().PutManyIfNewer(empty_key).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv().Get("doc/ws_1/prod").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(EdgeKvConformanceTest, PutManyIfNewerOfNothingIsOk) {
  EV_TEST_ASSIGN(std::vector<bool> written, kv().PutManyIfNewer({}));
  EXPECT_TRUE(written.empty());
}

}  // namespace
}  // namespace edgevault::storage
