// RewrapDataKeys against the real SQLite workspace store and real envelopes: rotation
// while writes continue, resumption, and refusal of damaged rows.
#include "src/workspace/rewrap.h"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/envelope.h"
#include "src/storage/sqlite/workspace_store_sqlite.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::workspace {
namespace {

using storage::testing::ScratchDir;

constexpr char kWs[] = "ws_rewrap";

crypto::Keyring Ring(std::vector<std::pair<std::string, char>> keys, std::string active) {
  crypto::Keyring ring;
  for (auto& [id, fill] : keys) {
    EXPECT_TRUE(ring.Add(id, crypto::SecureBuffer(std::string(32, fill))).ok());
  }
  EXPECT_TRUE(ring.SetActive(active).ok());
  return ring;
}

// One secret value as the api stores it: the envelope (here kept by the test) and its
// data key row, committed together.
struct Stored {
  crypto::EnvelopeContext ctx;
  std::string envelope;
  std::string plaintext;
};

class RewrapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<storage::WorkspaceStore>> store =
        storage::OpenSqliteWorkspaceStore(
            {.path = ScratchDir::Get()->NewPath("rewrap", ".db"), .env = env_, .workspace_id = kWs});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Seals `n` values under `ring`'s active key in one commit (like PutSecret).
  void Write(const crypto::Keyring& ring, int n, std::vector<Stored>* out) {
    storage::CommitRequest c{.actor = "user:usr_1", .reason = "test", .op = "put",
                             .time = absl::Now()};
    std::vector<Stored> batch;
    for (int i = 0; i < n; ++i) {
      int id = next_++;
      Stored s{{kWs, base::StrCat("SECRET_", id), "production", id}, "", base::StrCat("value-", id)};
      absl::StatusOr<crypto::SealedValue> sealed = crypto::Seal(ring, s.ctx, s.plaintext, env_);
      ASSERT_TRUE(sealed.ok()) << sealed.status();
      s.envelope = sealed->envelope;
      c.data_keys.push_back({base::HexEncode(sealed->data_key.id), sealed->data_key.master_key_id,
                             sealed->data_key.wrapped});
      c.mutations.push_back({storage::ItemKind::kSecret, s.ctx.item_key, "{}", ""});
      batch.push_back(std::move(s));
    }
    EV_TEST_ASSERT_OK(store_->Commit(c));
    std::lock_guard<std::mutex> lock(mu_);
    for (Stored& s : batch) out->push_back(std::move(s));
  }

  // Opens a stored value with its data key row, as the api does.
  absl::StatusOr<std::string> Read(const crypto::Keyring& ring, const Stored& s) {
    EV_ASSIGN_OR_RETURN(std::string id, crypto::EnvelopeDataKeyId(s.envelope));
    EV_ASSIGN_OR_RETURN(storage::DataKeyRow row, store_->GetDataKey(base::HexEncode(id)));
    EV_ASSIGN_OR_RETURN(crypto::SecureBuffer plain,
                        crypto::Open(ring, s.ctx, s.envelope, {id, row.master_key_id, row.wrapped}));
    return std::string(plain.view());
  }

  base::Env* env_ = base::Env::Default();
  std::unique_ptr<storage::WorkspaceStore> store_;
  std::mutex mu_;
  int next_ = 1;
};

TEST_F(RewrapTest, MovesEveryDataKeyToTheActiveKeySoTheOldKeyCanGo) {
  crypto::Keyring old_ring = Ring({{"m1", '\x11'}}, "m1");
  std::vector<Stored> values;
  Write(old_ring, 25, &values);

  crypto::Keyring both = Ring({{"m1", '\x11'}, {"m2", '\x22'}}, "m2");
  std::vector<std::pair<int64_t, int64_t>> progress;
  RewrapOptions options{.batch = 10,
                        .progress = [&](int64_t done, int64_t total) {
                          progress.emplace_back(done, total);
                        }};
  EV_TEST_ASSIGN(RewrapStats stats, RewrapDataKeys(*store_, kWs, both, env_, options));
  EXPECT_EQ(stats.rewrapped, 25);
  EXPECT_EQ(stats.after, (std::map<std::string, int64_t>{{"m2", 25}}));
  EXPECT_EQ(progress, (std::vector<std::pair<int64_t, int64_t>>{{10, 25}, {20, 25}, {25, 25}}));

  // Without m1 every value still reads back; with m1 alone none does.
  crypto::Keyring only_new = Ring({{"m2", '\x22'}}, "m2");
  for (const Stored& s : values) {
    absl::StatusOr<std::string> got = Read(only_new, s);
    ASSERT_TRUE(got.ok()) << s.ctx.item_key << ": " << got.status();
    EXPECT_EQ(*got, s.plaintext);
    EXPECT_EQ(Read(old_ring, s).status().code(), absl::StatusCode::kFailedPrecondition);
  }
  // A second run has nothing to do.
  EV_TEST_ASSIGN(RewrapStats again, RewrapDataKeys(*store_, kWs, both, env_, {}));
  EXPECT_EQ(again.rewrapped, 0);
}

TEST_F(RewrapTest, RotationWhileWritesContinueLeavesEverythingReadable) {
  crypto::Keyring old_ring = Ring({{"m1", '\x11'}}, "m1");
  crypto::Keyring both = Ring({{"m1", '\x11'}, {"m2", '\x22'}}, "m2");
  std::vector<Stored> values;
  Write(old_ring, 200, &values);

  // A writer keeps sealing under the OLD key (an api that has not reloaded yet) while two
  // re-wrappers run at once; then the loop the CLI runs: re-wrap until a pass finds nothing.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) Write(old_ring, 3, &values);
  });
  std::atomic<int64_t> total{0};
  std::vector<std::thread> rewrappers;
  for (int t = 0; t < 2; ++t) {
    rewrappers.emplace_back([&] {
      absl::StatusOr<RewrapStats> s = RewrapDataKeys(*store_, kWs, both, env_, {.batch = 7});
      ASSERT_TRUE(s.ok()) << s.status();
      total += s->rewrapped;
    });
  }
  for (std::thread& t : rewrappers) t.join();
  stop = true;
  writer.join();
  EV_TEST_ASSIGN(RewrapStats last, RewrapDataKeys(*store_, kWs, both, env_, {}));
  total += last.rewrapped;
  EXPECT_EQ(last.after.size(), 1u);
  EXPECT_EQ(last.after["m2"], static_cast<int64_t>(values.size()));
  EXPECT_EQ(total.load(), static_cast<int64_t>(values.size()));  // each row exactly once

  crypto::Keyring only_new = Ring({{"m2", '\x22'}}, "m2");
  for (const Stored& s : values) {
    absl::StatusOr<std::string> got = Read(only_new, s);
    ASSERT_TRUE(got.ok()) << s.ctx.item_key << ": " << got.status();
    EXPECT_EQ(*got, s.plaintext);
  }
}

TEST_F(RewrapTest, ResumesAfterAnInterruptedRun) {
  crypto::Keyring old_ring = Ring({{"m1", '\x11'}}, "m1");
  std::vector<Stored> values;
  Write(old_ring, 30, &values);
  crypto::Keyring both = Ring({{"m1", '\x11'}, {"m2", '\x22'}}, "m2");
  // What a run killed after its first batch leaves: 10 rows under m2, 20 still under m1.
  EV_TEST_ASSIGN(auto first, store_->ListDataKeysNotUnder("m2", "", 10));
  std::vector<storage::DataKeyReplacement> r;
  for (const auto& row : first) {
    EV_TEST_ASSIGN(std::string raw, base::HexDecode(row.id));
    EV_TEST_ASSIGN(crypto::DataKey fresh,
                   crypto::RewrapDataKey(both, kWs, {raw, row.master_key_id, row.wrapped}, env_));
    r.push_back({{row.id, fresh.master_key_id, fresh.wrapped}, row.master_key_id});
  }
  EV_TEST_ASSIGN(int changed, store_->ReplaceDataKeys(r));
  ASSERT_EQ(changed, 10);
  EV_TEST_ASSIGN(RewrapStats rest, RewrapDataKeys(*store_, kWs, both, env_, {}));
  EXPECT_EQ(rest.rewrapped, 20);
  EXPECT_EQ(rest.after, (std::map<std::string, int64_t>{{"m2", 30}}));
}

TEST_F(RewrapTest, DamagedRowStopsWithDataLossAndMissingKeyWithFailedPrecondition) {
  crypto::Keyring old_ring = Ring({{"m1", '\x11'}}, "m1");
  std::vector<Stored> values;
  Write(old_ring, 3, &values);
  // A key the re-wrapper does not hold.
  crypto::Keyring other = Ring({{"m3", '\x33'}}, "m3");
  absl::StatusOr<RewrapStats> missing = RewrapDataKeys(*store_, kWs, other, env_, {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(missing.status().message()).find("master key m1 is not loaded"),
            std::string::npos)
      << missing.status();

  // A row relabelled as wrapped under m2 while it is really under m1: does not verify.
  EV_TEST_ASSIGN(auto rows, store_->ListDataKeysNotUnder("zz", "", 10));
  ASSERT_EQ(rows.size(), 3u);
  storage::DataKeyRow lie = rows[0];
  lie.master_key_id = "m2";
  EV_TEST_ASSIGN(int changed, store_->ReplaceDataKeys({{lie, "m1"}}));
  ASSERT_EQ(changed, 1);
  crypto::Keyring both = Ring({{"m1", '\x11'}, {"m2", '\x22'}}, "m1");
  absl::StatusOr<RewrapStats> damaged = RewrapDataKeys(*store_, kWs, both, env_, {});
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(damaged.status().message()).find(lie.id), std::string::npos)
      << damaged.status();
  EV_TEST_EXPECT_CODE(RewrapDataKeys(*store_, kWs, both, env_, {.batch = 0}), kInvalidArgument);
  EV_TEST_EXPECT_CODE(RewrapDataKeys(*store_, kWs, crypto::Keyring(), env_, {}),
                      kFailedPrecondition);
}

}  // namespace
}  // namespace edgevault::workspace
