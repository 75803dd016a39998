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
constexpr size_t kKeyIdAt = 1, kDekNonceAt = 9, kWrappedDekAt = 21, kValueNonceAt = 69,
                 kCiphertextAt = 81;

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
  std::string SealOrDie(const Keyring& keyring, const EnvelopeContext& ctx,
                        std::string_view plaintext) {
    absl::StatusOr<std::string> sealed = Seal(keyring, ctx, plaintext, &env_);
    EXPECT_TRUE(sealed.ok()) << sealed.status();
    return sealed.value_or("");
  }
  base::SimulatedEnv env_;
};

TEST_F(EnvelopeTest, SealThenOpenRoundTrips) {
  Keyring keyring = OneKey();
  for (size_t n : {0u, 1u, 16u, 100u, 5000u}) {
    std::string plain(n, 'v');
    std::string sealed = SealOrDie(keyring, Ctx(), plain);
    EXPECT_EQ(sealed.size(), kEnvelopeOverhead + n);
    absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->view(), plain);
  }
}

// Decrypts an envelope with the primitives only, following the spec byte by byte: catches
// any drift between envelope.cc and docs/design/envelope.md.
TEST_F(EnvelopeTest, LayoutMatchesSpec) {
  Keyring keyring = OneKey("k-2024_a", '\x5a');
  EnvelopeContext ctx{"ws", "item", "env", 0x0102030405060708};
  std::string sealed = SealOrDie(keyring, ctx, kSecret);
  ASSERT_EQ(sealed.size(), 97 + kSecret.size());
  EXPECT_EQ(sealed[0], '\x01');
  EXPECT_EQ(sealed.substr(kKeyIdAt, 8), "k-2024_a");
  EXPECT_EQ(*EnvelopeKeyId(sealed), "k-2024_a");

  std::string aad = std::string("\x01", 1) + std::string("\0\0\0\x02ws", 6) +
                    std::string("\0\0\0\x04item", 8) + std::string("\0\0\0\x03" "env", 7) +
                    "\x01\x02\x03\x04\x05\x06\x07\x08";
  EXPECT_EQ(base::HexEncode(EnvelopeAad(ctx)), base::HexEncode(aad));

  absl::StatusOr<SecureBuffer> kek =
      Hkdf(std::string(32, '\x5a'), "ws", "edgevault/workspace-kek/v1", 32);
  ASSERT_TRUE(kek.ok());
  absl::StatusOr<SecureBuffer> dek = AesGcmOpen(kek->view(), sealed.substr(kDekNonceAt, 12),
                                                sealed.substr(kWrappedDekAt, 48), aad);
  ASSERT_TRUE(dek.ok()) << dek.status();
  ASSERT_EQ(dek->size(), 32u);
  absl::StatusOr<SecureBuffer> value = AesGcmOpen(
      dek->view(), sealed.substr(kValueNonceAt, 12), sealed.substr(kCiphertextAt), aad);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->view(), kSecret);
}

TEST_F(EnvelopeTest, ShortKeyIdIsNulPadded) {
  std::string sealed = SealOrDie(OneKey("m1"), Ctx(), "x");
  EXPECT_EQ(sealed.substr(kKeyIdAt, 8), std::string("m1\0\0\0\0\0\0", 8));
}

TEST_F(EnvelopeTest, EveryBitFlipFailsToOpen) {
  Keyring keyring = OneKey();
  std::string sealed = SealOrDie(keyring, Ctx(), kSecret);
  int auth_failures = 0, missing_keys = 0;
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), bad);
      ASSERT_FALSE(opened.ok()) << "byte " << i << " bit " << bit << " opened";
      if (i >= kKeyIdAt && i < kDekNonceAt &&
          opened.status().code() == absl::StatusCode::kFailedPrecondition) {
        // The only exception to the auth-failure code: a flip that turns "m1" into another
        // well-formed id, which this keyring does not hold (see KeyIdSwappedToAnotherLoaded
        // KeyFailsAuthentication for when it does).
        absl::StatusOr<std::string> id = EnvelopeKeyId(bad);
        ASSERT_TRUE(id.ok());
        EXPECT_NE(*id, "m1");
        EXPECT_TRUE(IsValidMasterKeyId(*id));
        EXPECT_NE(base::ToStd(opened.status().message())
                      .find(base::StrCat("master key ", *id, " is not loaded")),
                  std::string::npos)
            << opened.status();
        ++missing_keys;
        continue;
      }
      ASSERT_EQ(opened.status().code(), kAuthFailureCode)
          << "byte " << i << " bit " << bit << ": " << opened.status();
      ++auth_failures;
      // Rewrap must refuse the same envelope.
      ASSERT_FALSE(Rewrap(keyring, Ctx(), bad, &env_).ok()) << "byte " << i;
    }
  }
  EXPECT_EQ(auth_failures + missing_keys, static_cast<int>(8 * sealed.size()));
  EXPECT_GT(missing_keys, 0);  // e.g. "m1" -> "m0", "l1"
}

TEST_F(EnvelopeTest, EveryFieldClassFailsWithAuthFailureCode) {
  // One flip per field named in the spec, with a key id flip that stays a loaded id.
  Keyring keyring = OneKey("m1", '\x11');
  ASSERT_TRUE(keyring.Add("m0", TestKey('\x22')).ok());  // "m1" with bit 0 of '1' flipped
  std::string sealed = SealOrDie(keyring, Ctx(), kSecret);
  struct Field {
    const char* name;
    size_t at;
  } fields[] = {{"version", 0},      {"key id", kKeyIdAt + 1},   {"DEK nonce", kDekNonceAt},
                {"wrapped DEK", kWrappedDekAt}, {"wrapped DEK tag", kWrappedDekAt + 40},
                {"value nonce", kValueNonceAt}, {"ciphertext", kCiphertextAt},
                {"tag", sealed.size() - 1}};
  for (const Field& f : fields) {
    std::string bad = sealed;
    bad[f.at] = static_cast<char>(bad[f.at] ^ 0x01);
    absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), bad);
    EXPECT_EQ(opened.status().code(), kAuthFailureCode) << f.name << ": " << opened.status();
  }
}

TEST_F(EnvelopeTest, KeyIdSwappedToAnotherLoadedKeyFailsAuthentication) {
  Keyring keyring = OneKey("m1", '\x11');
  ASSERT_TRUE(keyring.Add("m2", TestKey('\x22')).ok());
  std::string sealed = SealOrDie(keyring, Ctx(), kSecret);
  std::string moved = sealed;
  moved[kKeyIdAt + 1] = '2';
  ASSERT_EQ(*EnvelopeKeyId(moved), "m2");
  EXPECT_EQ(Open(keyring, Ctx(), moved).status().code(), kAuthFailureCode);
}

TEST_F(EnvelopeTest, MovedCiphertextFailsToOpen) {
  Keyring keyring = OneKey();
  std::string sealed = SealOrDie(keyring, Ctx(), kSecret);
  EnvelopeContext other_ws = Ctx(), other_item = Ctx(), other_env = Ctx(), other_ver = Ctx();
  other_ws.workspace_id = "ws_01HZX6";
  other_item.item_key = "STRIPE_SECRET_KEY_2";
  other_env.environment = "staging";
  other_ver.version = 8;
  for (const EnvelopeContext& c : {other_ws, other_item, other_env, other_ver}) {
    absl::StatusOr<SecureBuffer> opened = Open(keyring, c, sealed);
    EXPECT_EQ(opened.status().code(), kAuthFailureCode) << opened.status();
    EXPECT_EQ(Rewrap(keyring, c, sealed, &env_).status().code(), kAuthFailureCode);
  }
  EXPECT_TRUE(Open(keyring, Ctx(), sealed).ok());
}

TEST_F(EnvelopeTest, FieldBoundariesAreUnambiguous) {
  // "a" + "bc" and "ab" + "c" must not produce the same AAD.
  EnvelopeContext x{"ws", "a", "bc", 1}, y{"ws", "ab", "c", 1};
  EXPECT_NE(EnvelopeAad(x), EnvelopeAad(y));
  EnvelopeContext p{"wsa", "", "x", 1}, q{"ws", "a", "x", 1};
  EXPECT_NE(EnvelopeAad(p), EnvelopeAad(q));
  Keyring keyring = OneKey();
  std::string sealed = SealOrDie(keyring, x, kSecret);
  EXPECT_EQ(Open(keyring, y, sealed).status().code(), kAuthFailureCode);
}

TEST_F(EnvelopeTest, NegativeAndLargeVersionsAreDistinct) {
  Keyring keyring = OneKey();
  EnvelopeContext a = Ctx(), b = Ctx();
  a.version = -1;
  b.version = INT64_MAX;
  std::string sealed = SealOrDie(keyring, a, kSecret);
  EXPECT_TRUE(Open(keyring, a, sealed).ok());
  EXPECT_EQ(Open(keyring, b, sealed).status().code(), kAuthFailureCode);
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
  std::set<std::string> dek_nonces, wrapped, value_nonces, ciphertexts;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::string> sealed = Seal(keyring, Ctx(), kSecret, real);
    ASSERT_TRUE(sealed.ok());
    dek_nonces.insert(sealed->substr(kDekNonceAt, 12));
    wrapped.insert(sealed->substr(kWrappedDekAt, 48));
    value_nonces.insert(sealed->substr(kValueNonceAt, 12));
    ciphertexts.insert(sealed->substr(kCiphertextAt));
  }
  EXPECT_EQ(dek_nonces.size(), 50u);
  EXPECT_EQ(wrapped.size(), 50u);
  EXPECT_EQ(value_nonces.size(), 50u);
  EXPECT_EQ(ciphertexts.size(), 50u);
}

TEST_F(EnvelopeTest, TruncationAtEveryLengthFailsWithoutCrashing) {
  Keyring keyring = OneKey();
  std::string sealed = SealOrDie(keyring, Ctx(), kSecret);
  for (size_t n = 0; n < sealed.size(); ++n) {
    std::string_view cut = std::string_view(sealed).substr(0, n);
    absl::StatusOr<SecureBuffer> opened = Open(keyring, Ctx(), cut);
    ASSERT_FALSE(opened.ok()) << n;
    absl::StatusCode want =
        n < kEnvelopeOverhead ? absl::StatusCode::kInvalidArgument : kAuthFailureCode;
    ASSERT_EQ(opened.status().code(), want) << n << ": " << opened.status();
    ASSERT_EQ(Rewrap(keyring, Ctx(), cut, &env_).status().code(), want) << n;
    if (n < kEnvelopeOverhead) {
      ASSERT_EQ(EnvelopeKeyId(cut).status().code(), absl::StatusCode::kInvalidArgument) << n;
    }
  }
  EXPECT_EQ(Open(keyring, Ctx(), sealed + "x").status().code(), kAuthFailureCode);
}

TEST_F(EnvelopeTest, RewrapMovesToActiveKeyAndKeepsValueBytes) {
  Keyring old_ring = OneKey("m1", '\x11');
  std::string sealed = SealOrDie(old_ring, Ctx(), kSecret);

  Keyring ring = OneKey("m1", '\x11');
  ASSERT_TRUE(ring.Add("m2", TestKey('\x22')).ok());
  ASSERT_TRUE(ring.SetActive("m2").ok());
  absl::StatusOr<std::string> rewrapped = Rewrap(ring, Ctx(), sealed, &env_);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status();
  EXPECT_EQ(*EnvelopeKeyId(*rewrapped), "m2");
  ASSERT_EQ(rewrapped->size(), sealed.size());
  EXPECT_EQ(rewrapped->substr(kValueNonceAt), sealed.substr(kValueNonceAt));  // untouched
  EXPECT_NE(rewrapped->substr(kDekNonceAt, 12), sealed.substr(kDekNonceAt, 12));
  EXPECT_NE(rewrapped->substr(kWrappedDekAt, 48), sealed.substr(kWrappedDekAt, 48));

  // The old key can go once everything is re-wrapped.
  ASSERT_TRUE(ring.Remove("m1").ok());
  absl::StatusOr<SecureBuffer> opened = Open(ring, Ctx(), *rewrapped);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->view(), kSecret);

  // An envelope left behind under m1 now names a missing key, and says which.
  absl::StatusOr<SecureBuffer> stale = Open(ring, Ctx(), sealed);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(base::ToStd(stale.status().message()).find("master key m1 is not loaded"),
            std::string::npos)
      << stale.status();
  // And the new envelope does not open with the old ring alone.
  EXPECT_EQ(Open(old_ring, Ctx(), *rewrapped).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(EnvelopeTest, RewrapUnderSameKeyChangesOnlyDekNonceAndWrap) {
  Keyring ring = OneKey();
  std::string sealed = SealOrDie(ring, Ctx(), kSecret);
  absl::StatusOr<std::string> again = Rewrap(ring, Ctx(), sealed, &env_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->substr(0, kDekNonceAt), sealed.substr(0, kDekNonceAt));
  EXPECT_EQ(again->substr(kValueNonceAt), sealed.substr(kValueNonceAt));
  EXPECT_NE(*again, sealed);
  EXPECT_EQ(Open(ring, Ctx(), *again)->view(), kSecret);
}

TEST_F(EnvelopeTest, EmptyKeyringIsFailedPrecondition) {
  Keyring empty;
  EXPECT_EQ(Seal(empty, Ctx(), kSecret, &env_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::string sealed = SealOrDie(OneKey(), Ctx(), kSecret);
  EXPECT_EQ(Open(empty, Ctx(), sealed).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Rewrap(empty, Ctx(), sealed, &env_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(EnvelopeTest, EmptyWorkspaceIdIsInvalidArgument) {
  EnvelopeContext ctx = Ctx();
  ctx.workspace_id.clear();
  EXPECT_EQ(Seal(OneKey(), ctx, kSecret, &env_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, ErrorsNeverCarryKeyOrPlaintextBytes) {
  Keyring keyring = OneKey("m1", 'K');  // key bytes are printable 'K's
  std::string sealed = SealOrDie(keyring, Ctx(), kSecret);
  std::vector<absl::Status> errors;
  std::string bad = sealed;
  bad.back() = static_cast<char>(bad.back() ^ 1);
  errors.push_back(Open(keyring, Ctx(), bad).status());
  EnvelopeContext moved = Ctx();
  moved.version = 99;
  errors.push_back(Open(keyring, moved, sealed).status());
  errors.push_back(Open(keyring, Ctx(), sealed.substr(0, 50)).status());
  bad = sealed;
  bad[0] = '\x02';
  errors.push_back(Open(keyring, Ctx(), bad).status());
  for (const absl::Status& s : errors) {
    ASSERT_FALSE(s.ok());
    std::string msg(base::ToStd(s.message()));
    EXPECT_EQ(msg.find("KKKK"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kSecret.substr(0, 8)), std::string::npos) << msg;
    EXPECT_EQ(msg.find(Ctx().item_key), std::string::npos) << msg;
  }
}

// An Env whose random stream is a script: Seal draws DEK || DEK nonce || value nonce in one
// call (docs/design/envelope.md), so a vector's fixed values reproduce its envelope.
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

    absl::StatusOr<SecureBuffer> opened = Open(keyring, ctx, want);
    ASSERT_TRUE(opened.ok()) << name << ": " << opened.status();
    EXPECT_EQ(opened->view(), plaintext) << name;
    EXPECT_EQ(*EnvelopeKeyId(want), key_id) << name;

    ScriptedRandomEnv scripted;
    scripted.Push(Unhex(v.at("dek")) + Unhex(v.at("dek_nonce")) + Unhex(v.at("value_nonce")));
    absl::StatusOr<std::string> sealed = Seal(keyring, ctx, plaintext, &scripted);
    ASSERT_TRUE(sealed.ok()) << name << ": " << sealed.status();
    EXPECT_EQ(base::HexEncode(*sealed), base::HexEncode(want)) << name;
  }
}

}  // namespace
}  // namespace edgevault::crypto
