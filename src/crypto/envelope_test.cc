#include "src/crypto/envelope.h"

#include <boost/json.hpp>

#include <cstring>
#include <deque>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

// Offsets from docs/design/envelope.md, spelled out here so a layout change fails a test.
constexpr size_t kDataKeyIdAt = 1, kValueNonceAt = 17, kCiphertextAt = 29;
// In a data key record's `wrapped`.
constexpr size_t kWrappedDekAt = 12;

SecureBuffer TestKey(char fill) { return SecureBuffer(std::string(32, fill)); }

Keyring OneKey(std::string_view id = "m1", char fill = '\x11') {
  Keyring k;
  EXPECT_TRUE(k.Add(id, TestKey(fill)).ok());
  return k;
}

EnvelopeContext Ctx() { return {"ws_01HZX5", "STRIPE_SECRET_KEY", "production", 7}; }

constexpr std::string_view kSecret = "sk_live_51H8xYzAbCdEfGhIjKlMnOpQrStUvWxYz";

class EnvelopeTest : public ::testing::Test {
 protected:
  SealedValue SealOrDie(const Keyring& keyring, const EnvelopeContext& ctx,
                        std::string_view plaintext) {
    absl::StatusOr<SealedValue> sealed = Seal(keyring, ctx, plaintext, &env_);
    EXPECT_TRUE(sealed.ok()) << sealed.status();
    return sealed.value_or(SealedValue{});
  }
  base::SimulatedEnv env_;
};

TEST_F(EnvelopeTest, SealThenOpenRoundTrips) {
  Keyring keyring = OneKey();
  for (size_t n : {0u, 1u, 16u, 100u, 5000u}) {
    std::string plain(n, 'v');
    SealedValue sealed = SealOrDie(keyring, Ctx(), plain);
    EXPECT_EQ(sealed.envelope.size(), kEnvelopeOverhead + n);
    EXPECT_EQ(sealed.data_key.id.size(), kDataKeyIdSize);
    EXPECT_EQ(sealed.data_key.master_key_id, "m1");
    EXPECT_EQ(sealed.data_key.wrapped.size(), kWrappedDataKeySize);
    absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), sealed.envelope, sealed.data_key);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->view(), plain);
  }
}

// Decrypts an envelope with the primitives only, following the spec byte by byte: catches
// any drift between envelope.cc and docs/design/envelope.md.
TEST_F(EnvelopeTest, LayoutMatchesSpec) {
  Keyring keyring = OneKey("k-2024_a", '\x5a');
  EnvelopeContext ctx{"ws", "item", "env", 0x0102030405060708};
  SealedValue sealed = SealOrDie(keyring, ctx, kSecret);
  const std::string& e = sealed.envelope;
  ASSERT_EQ(e.size(), 45 + kSecret.size());
  EXPECT_EQ(e[0], '\x02');
  EXPECT_EQ(e.substr(kDataKeyIdAt, 16), sealed.data_key.id);
  EXPECT_EQ(*EnvelopeDataKeyId(e), sealed.data_key.id);
  EXPECT_EQ(sealed.data_key.master_key_id, "k-2024_a");

  std::string aad = std::string("\x02", 1) + std::string("\0\0\0\x02ws", 6) +
                    std::string("\0\0\0\x04item", 8) + std::string("\0\0\0\x03" "env", 7) +
                    "\x01\x02\x03\x04\x05\x06\x07\x08" + sealed.data_key.id;
  EXPECT_EQ(base::HexEncode(EnvelopeAad(ctx, sealed.data_key.id)), base::HexEncode(aad));
  std::string dk_aad = std::string("EVDK\x02", 5) + std::string("\0\0\0\x02ws", 6) +
                       sealed.data_key.id;
  EXPECT_EQ(base::HexEncode(DataKeyAad("ws", sealed.data_key.id)), base::HexEncode(dk_aad));

  absl::StatusOr<SecureBuffer> kek =
      Hkdf(std::string(32, '\x5a'), "ws", "edgevault/workspace-kek/v1", 32);
  ASSERT_TRUE(kek.ok());
  const std::string& w = sealed.data_key.wrapped;
  absl::StatusOr<SecureBuffer> dek =
      AesGcmOpen(kek->view(), w.substr(0, 12), w.substr(kWrappedDekAt), dk_aad);
  ASSERT_TRUE(dek.ok()) << dek.status();
  ASSERT_EQ(dek->size(), 32u);
  absl::StatusOr<SecureBuffer> value =
      AesGcmOpen(dek->view(), e.substr(kValueNonceAt, 12), e.substr(kCiphertextAt), aad);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->view(), kSecret);
}

TEST_F(EnvelopeTest, EveryBitFlipOfEnvelopeOrDataKeyFailsToOpen) {
  Keyring keyring = OneKey();
  SealedValue sealed = SealOrDie(keyring, Ctx(), kSecret);
  int checked = 0;
  for (size_t i = 0; i < sealed.envelope.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sealed.envelope;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), bad, sealed.data_key);
      ASSERT_FALSE(opened.ok()) << "envelope byte " << i << " bit " << bit << " opened";
      ASSERT_EQ(opened.status().code(), kAuthFailureCode)
          << "envelope byte " << i << " bit " << bit << ": " << opened.status();
      ++checked;
    }
  }
  for (size_t i = 0; i < sealed.data_key.wrapped.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      DataKey bad = sealed.data_key;
      bad.wrapped[i] = static_cast<char>(bad.wrapped[i] ^ (1 << bit));
      absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), sealed.envelope, bad);
      ASSERT_EQ(opened.status().code(), kAuthFailureCode)
          << "wrapped byte " << i << " bit " << bit << ": " << opened.status();
      // Rotation must refuse to re-wrap a damaged record.
      ASSERT_EQ(RewrapDataKey(keyring, "ws_01HZX5", bad, &env_).status().code(),
                kAuthFailureCode)
          << "wrapped byte " << i;
      ++checked;
    }
  }
  // A record whose id was changed (an attacker pointing a row at another envelope).
  for (size_t i = 0; i < kDataKeyIdSize; ++i) {
    DataKey bad = sealed.data_key;
    bad.id[i] = static_cast<char>(bad.id[i] ^ 0x40);
    std::string envelope = sealed.envelope;
    envelope.replace(kDataKeyIdAt, kDataKeyIdSize, bad.id);  // consistent, but not the wrap's
    EXPECT_EQ(Open(keyring, Ctx(), envelope, bad).status().code(), kAuthFailureCode) << i;
    EXPECT_EQ(Open(keyring, Ctx(), sealed.envelope, bad).status().code(), kAuthFailureCode);
  }
  EXPECT_EQ(checked, static_cast<int>(8 * (sealed.envelope.size() + kWrappedDataKeySize)));
}

TEST_F(EnvelopeTest, DataKeyUnderAnotherLoadedMasterKeyFailsAuthentication) {
  Keyring keyring = OneKey("m1", '\x11');
  ASSERT_TRUE(keyring.Add("m2", TestKey('\x22')).ok());
  SealedValue sealed = SealOrDie(keyring, Ctx(), kSecret);
  DataKey relabelled = sealed.data_key;
  relabelled.master_key_id = "m2";
  EXPECT_EQ(Open(keyring, Ctx(), sealed.envelope, relabelled).status().code(), kAuthFailureCode);
  relabelled.master_key_id = "m9";
  absl::StatusOr<SecureBuffer> missing = Open(keyring, Ctx(), sealed.envelope, relabelled);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(base::ToStd(missing.status().message()).find("master key m9 is not loaded"),
            std::string::npos)
      << missing.status();
  relabelled.master_key_id = "NOT VALID";
  EXPECT_EQ(Open(keyring, Ctx(), sealed.envelope, relabelled).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, MovedCiphertextFailsToOpen) {
  Keyring keyring = OneKey();
  SealedValue sealed = SealOrDie(keyring, Ctx(), kSecret);
  EnvelopeContext other_ws = Ctx(), other_item = Ctx(), other_env = Ctx(), other_ver = Ctx();
  other_ws.workspace_id = "ws_01HZX6";
  other_item.item_key = "STRIPE_SECRET_KEY_2";
  other_env.environment = "staging";
  other_ver.version = 8;
  for (const EnvelopeContext& c : {other_ws, other_item, other_env, other_ver}) {
    absl::StatusOr<SecureBuffer> opened = Open(keyring, c, sealed.envelope, sealed.data_key);
    EXPECT_EQ(opened.status().code(), kAuthFailureCode) << opened.status();
  }
  // A data key record copied into another workspace's table does not unwrap there.
  EXPECT_EQ(RewrapDataKey(keyring, "ws_01HZX6", sealed.data_key, &env_).status().code(),
            kAuthFailureCode);
  // Nor does an envelope opened with another value's record (same workspace).
  SealedValue other = SealOrDie(keyring, Ctx(), kSecret);
  EXPECT_EQ(Open(keyring, Ctx(), sealed.envelope, other.data_key).status().code(),
            kAuthFailureCode);
  EXPECT_TRUE(Open(keyring, Ctx(), sealed.envelope, sealed.data_key).ok());
}

TEST_F(EnvelopeTest, FieldBoundariesAreUnambiguous) {
  // "a" + "bc" and "ab" + "c" must not produce the same AAD.
  const std::string id(16, 'i');
  EnvelopeContext x{"ws", "a", "bc", 1}, y{"ws", "ab", "c", 1};
  EXPECT_NE(EnvelopeAad(x, id), EnvelopeAad(y, id));
  EnvelopeContext p{"wsa", "", "x", 1}, q{"ws", "a", "x", 1};
  EXPECT_NE(EnvelopeAad(p, id), EnvelopeAad(q, id));
  Keyring keyring = OneKey();
  SealedValue sealed = SealOrDie(keyring, x, kSecret);
  EXPECT_EQ(Open(keyring, y, sealed.envelope, sealed.data_key).status().code(), kAuthFailureCode);
}

TEST_F(EnvelopeTest, NegativeAndLargeVersionsAreDistinct) {
  Keyring keyring = OneKey();
  EnvelopeContext a = Ctx(), b = Ctx();
  a.version = -1;
  b.version = INT64_MAX;
  SealedValue sealed = SealOrDie(keyring, a, kSecret);
  EXPECT_TRUE(Open(keyring, a, sealed.envelope, sealed.data_key).ok());
  EXPECT_EQ(Open(keyring, b, sealed.envelope, sealed.data_key).status().code(), kAuthFailureCode);
}

TEST_F(EnvelopeTest, WorkspacesGetDifferentKeks) {
  SecureBuffer master = TestKey('\x33');
  absl::StatusOr<SecureBuffer> a = DeriveWorkspaceKek(master, "ws_a");
  absl::StatusOr<SecureBuffer> b = DeriveWorkspaceKek(master, "ws_b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(a->view(), b->view());
  EXPECT_NE(a->view(), master.view());
  EXPECT_EQ(DeriveWorkspaceKek(master, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, EachSealUsesFreshDekAndNonces) {
  Keyring keyring = OneKey();
  base::Env* real = base::Env::Default();
  std::set<std::string> ids, wrapped, value_nonces, ciphertexts;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<SealedValue> sealed = Seal(keyring, Ctx(), kSecret, real);
    ASSERT_TRUE(sealed.ok());
    ids.insert(sealed->data_key.id);
    wrapped.insert(sealed->data_key.wrapped);
    value_nonces.insert(sealed->envelope.substr(kValueNonceAt, 12));
    ciphertexts.insert(sealed->envelope.substr(kCiphertextAt));
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(wrapped.size(), 50u);
  EXPECT_EQ(value_nonces.size(), 50u);
  EXPECT_EQ(ciphertexts.size(), 50u);
}

TEST_F(EnvelopeTest, TruncationAtEveryLengthFailsWithoutCrashing) {
  Keyring keyring = OneKey();
  SealedValue sealed = SealOrDie(keyring, Ctx(), kSecret);
  const std::string& e = sealed.envelope;
  for (size_t n = 0; n < e.size(); ++n) {
    std::string_view cut = std::string_view(e).substr(0, n);
    absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), cut, sealed.data_key);
    ASSERT_FALSE(opened.ok()) << n;
    absl::StatusCode want =
        n < kEnvelopeOverhead ? absl::StatusCode::kInvalidArgument : kAuthFailureCode;
    ASSERT_EQ(opened.status().code(), want) << n << ": " << opened.status();
    if (n < kEnvelopeOverhead) {
      ASSERT_EQ(EnvelopeDataKeyId(cut).status().code(), absl::StatusCode::kInvalidArgument) << n;
    }
  }
  EXPECT_EQ(Open(keyring, Ctx(), e + "x", sealed.data_key).status().code(), kAuthFailureCode);
  for (size_t n = 0; n < kWrappedDataKeySize + 2; ++n) {
    if (n == kWrappedDataKeySize) continue;
    DataKey bad = sealed.data_key;
    bad.wrapped.resize(n, 'x');
    ASSERT_EQ(Open(keyring, Ctx(), e, bad).status().code(), absl::StatusCode::kInvalidArgument)
        << n;
  }
}

TEST_F(EnvelopeTest, RewrapMovesToActiveKeyAndKeepsEnvelopeAndId) {
  Keyring old_ring = OneKey("m1", '\x11');
  SealedValue sealed = SealOrDie(old_ring, Ctx(), kSecret);

  Keyring ring = OneKey("m1", '\x11');
  ASSERT_TRUE(ring.Add("m2", TestKey('\x22')).ok());
  ASSERT_TRUE(ring.SetActive("m2").ok());
  absl::StatusOr<DataKey> rewrapped = RewrapDataKey(ring, Ctx().workspace_id, sealed.data_key, &env_);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status();
  EXPECT_EQ(rewrapped->master_key_id, "m2");
  EXPECT_EQ(rewrapped->id, sealed.data_key.id);
  ASSERT_EQ(rewrapped->wrapped.size(), kWrappedDataKeySize);
  EXPECT_NE(rewrapped->wrapped.substr(0, 12), sealed.data_key.wrapped.substr(0, 12));
  EXPECT_NE(rewrapped->wrapped.substr(12), sealed.data_key.wrapped.substr(12));

  // The old key can go once every record is re-wrapped; the envelope never changed.
  ASSERT_TRUE(ring.Remove("m1").ok());
  absl::StatusOr<SecureBuffer> opened = Open(ring, Ctx(), sealed.envelope, *rewrapped);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->view(), kSecret);

  // A record left behind under m1 now names a missing key, and says which.
  absl::StatusOr<SecureBuffer> stale = Open(ring, Ctx(), sealed.envelope, sealed.data_key);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(base::ToStd(stale.status().message()).find("master key m1 is not loaded"),
            std::string::npos)
      << stale.status();
  // And the re-wrapped record does not open with the old ring alone.
  EXPECT_EQ(Open(old_ring, Ctx(), sealed.envelope, *rewrapped).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(EnvelopeTest, RewrapUnderSameKeyChangesOnlyTheWrapping) {
  Keyring ring = OneKey();
  SealedValue sealed = SealOrDie(ring, Ctx(), kSecret);
  absl::StatusOr<DataKey> again = RewrapDataKey(ring, Ctx().workspace_id, sealed.data_key, &env_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, sealed.data_key.id);
  EXPECT_EQ(again->master_key_id, "m1");
  EXPECT_NE(again->wrapped, sealed.data_key.wrapped);
  EXPECT_EQ(Open(ring, Ctx(), sealed.envelope, *again)->view(), kSecret);
}

TEST_F(EnvelopeTest, EmptyKeyringIsFailedPrecondition) {
  Keyring empty;
  EXPECT_EQ(Seal(empty, Ctx(), kSecret, &env_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  SealedValue sealed = SealOrDie(OneKey(), Ctx(), kSecret);
  EXPECT_EQ(Open(empty, Ctx(), sealed.envelope, sealed.data_key).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RewrapDataKey(empty, Ctx().workspace_id, sealed.data_key, &env_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(EnvelopeTest, EmptyWorkspaceIdIsInvalidArgument) {
  EnvelopeContext ctx = Ctx();
  ctx.workspace_id.clear();
  EXPECT_EQ(Seal(OneKey(), ctx, kSecret, &env_).status().code(),
            absl::StatusCode::kInvalidArgument);
  SealedValue sealed = SealOrDie(OneKey(), Ctx(), kSecret);
  EXPECT_EQ(RewrapDataKey(OneKey(), "", sealed.data_key, &env_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, PreReleaseVersionOneIsRefusedByName) {
  Keyring keyring = OneKey();
  SealedValue sealed = SealOrDie(keyring, Ctx(), kSecret);
  std::string v1 = sealed.envelope;
  v1[0] = '\x01';
  absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), v1, sealed.data_key);
  EXPECT_EQ(opened.status().code(), kAuthFailureCode);
  EXPECT_NE(base::ToStd(opened.status().message()).find("unknown format version 0x01"),
            std::string::npos)
      << opened.status();
}

TEST_F(EnvelopeTest, ErrorsNeverCarryKeyOrPlaintextBytes) {
  Keyring keyring = OneKey("m1", 'K');  // key bytes are printable 'K's
  SealedValue sealed = SealOrDie(keyring, Ctx(), kSecret);
  const std::string& e = sealed.envelope;
  std::vector<absl::Status> errors;
  std::string bad = e;
  bad.back() = static_cast<char>(bad.back() ^ 1);
  errors.push_back(Open(keyring, Ctx(), bad, sealed.data_key).status());
  EnvelopeContext moved = Ctx();
  moved.version = 99;
  errors.push_back(Open(keyring, moved, e, sealed.data_key).status());
  errors.push_back(Open(keyring, Ctx(), e.substr(0, 30), sealed.data_key).status());
  bad = e;
  bad[0] = '\x03';
  errors.push_back(Open(keyring, Ctx(), bad, sealed.data_key).status());
  DataKey bad_key = sealed.data_key;
  bad_key.wrapped[20] = static_cast<char>(bad_key.wrapped[20] ^ 1);
  errors.push_back(Open(keyring, Ctx(), e, bad_key).status());
  for (const absl::Status& s : errors) {
    ASSERT_FALSE(s.ok());
    std::string msg(base::ToStd(s.message()));
    EXPECT_EQ(msg.find("KKKK"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kSecret.substr(0, 8)), std::string::npos) << msg;
    EXPECT_EQ(msg.find(Ctx().item_key), std::string::npos) << msg;
  }
}

// An Env whose random stream is a script: Seal draws DEK || data key id || DEK nonce ||
// value nonce in one call (docs/design/envelope.md), so a vector's fixed values reproduce its envelope.
class ScriptedRandomEnv : public base::SimulatedEnv {
 public:
  void Push(std::string bytes) { script_.push_back(std::move(bytes)); }
  void RandomBytes(void* out, size_t n) override {
    ASSERT_FALSE(script_.empty());
    ASSERT_EQ(script_.front().size(), n);
    std::memcpy(out, script_.front().data(), n);
    script_.pop_front();
  }

 private:
  std::deque<std::string> script_;
};

std::string Unhex(const boost::json::value& v) {
  absl::StatusOr<std::string> bytes = base::HexDecode(std::string(v.as_string()));
  EXPECT_TRUE(bytes.ok());
  return bytes.value_or("");
}

// vectors.json comes from generate.mjs, an implementation of the spec in Node.
TEST(EnvelopeVectorsTest, IndependentImplementationAgrees) {
  base::SimulatedEnv fs;
  absl::StatusOr<std::string> text = fs.ReadFile(EV_ENVELOPE_TESTDATA "/vectors.json");
  ASSERT_TRUE(text.ok()) << text.status();
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(*text, ec);
  ASSERT_FALSE(ec) << ec.message();
  const boost::json::array& vectors = doc.at("vectors").as_array();
  ASSERT_EQ(vectors.size(), 3u);
  for (const boost::json::value& v : vectors) {
    std::string name(v.at("name").as_string());
    const boost::json::object& c = v.at("context").as_object();
    EnvelopeContext ctx{std::string(c.at("workspace_id").as_string()),
                        std::string(c.at("item_key").as_string()),
                        std::string(c.at("environment").as_string()),
                        c.at("version").to_number<int64_t>()};
    std::string key_id(v.at("key_id").as_string());
    Keyring keyring;
    ASSERT_TRUE(keyring.Add(key_id, SecureBuffer(Unhex(v.at("master_key")))).ok()) << name;
    std::string want = Unhex(v.at("envelope"));
    std::string plaintext = Unhex(v.at("plaintext"));

    DataKey want_key{Unhex(v.at("data_key_id")), key_id, Unhex(v.at("wrapped_data_key"))};

    absl::StatusOr<SecureBuffer> opened = Open(keyring, ctx, want, want_key);
    ASSERT_TRUE(opened.ok()) << name << ": " << opened.status();
    EXPECT_EQ(opened->view(), plaintext) << name;
    EXPECT_EQ(*EnvelopeDataKeyId(want), want_key.id) << name;

    ScriptedRandomEnv scripted;
    scripted.Push(Unhex(v.at("dek")) + want_key.id + Unhex(v.at("dek_nonce")) +
                  Unhex(v.at("value_nonce")));
    absl::StatusOr<SealedValue> sealed = Seal(keyring, ctx, plaintext, &scripted);
    ASSERT_TRUE(sealed.ok()) << name << ": " << sealed.status();
    EXPECT_EQ(base::HexEncode(sealed->envelope), base::HexEncode(want)) << name;
    EXPECT_EQ(base::HexEncode(sealed->data_key.wrapped), base::HexEncode(want_key.wrapped))
        << name;
    EXPECT_EQ(sealed->data_key.master_key_id, key_id) << name;
  }
}

}  // namespace
}  // namespace edgevault::crypto
