// Tests run against ceremonies recorded from real implementations: chromium_*.json from
// Chromium's CDP virtual authenticator (record.mjs) and synthetic_*.json from Node's crypto
// acting as an authenticator (record-synthetic.mjs).
#include "src/crypto/webauthn.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "src/base/encoding.h"
#include "src/base/env.h"
#include "src/crypto/cbor.h"
#include "src/crypto/hash.h"

namespace edgevault::crypto {
namespace {

struct Assertion {
  std::string challenge;
  std::string client_data_json;
  std::string authenticator_data;
  std::string signature;
};

struct Ceremony {
  std::string name;
  std::string rp_id;
  std::string origin;
  int32_t algorithm = 0;
  std::string attestation;
  bool user_verified = false;
  bool backup_eligible = false;
  bool backed_up = false;
  std::string reg_challenge;
  std::string credential_id;
  std::string reg_client_data_json;
  std::string attestation_object;
  std::vector<Assertion> assertions;
};

const std::vector<std::string> kFixtures = {
    "chromium_es256",
    "chromium_eddsa",
    "chromium_rs256",
    "synthetic_es256_packed",
    "synthetic_eddsa_packed",
    "synthetic_rs256_packed",
    "synthetic_es256_none_no_uv",
};

std::string B64(const boost::json::value& v) {
  auto s = base::Base64UrlDecode(std::string_view(v.as_string()));
  EXPECT_TRUE(s.ok());
  return s.ok() ? *s : std::string();
}

Ceremony Load(const std::string& name) {
  auto text =
      base::Env::Default()->ReadFile(std::string(EV_WEBAUTHN_TESTDATA) + "/" + name + ".json");
  EXPECT_TRUE(text.ok()) << name;
  boost::json::object j = boost::json::parse(*text).as_object();
  Ceremony c;
  c.name = name;
  c.rp_id = std::string(j.at("rpId").as_string());
  c.origin = std::string(j.at("origin").as_string());
  c.algorithm = static_cast<int32_t>(j.at("algorithm").as_int64());
  c.attestation = std::string(j.at("attestation").as_string());
  const auto& expect = j.at("expect").as_object();
  c.user_verified = expect.at("userVerified").as_bool();
  c.backup_eligible = expect.at("backupEligible").as_bool();
  c.backed_up = expect.at("backedUp").as_bool();
  const auto& reg = j.at("registration").as_object();
  c.reg_challenge = B64(reg.at("challenge"));
  c.credential_id = B64(reg.at("credentialId"));
  c.reg_client_data_json = B64(reg.at("clientDataJSON"));
  c.attestation_object = B64(reg.at("attestationObject"));
  for (const auto& a : j.at("assertions").as_array()) {
    const auto& o = a.as_object();
    c.assertions.push_back({B64(o.at("challenge")), B64(o.at("clientDataJSON")),
                            B64(o.at("authenticatorData")), B64(o.at("signature"))});
  }
  return c;
}

RegistrationExpectation RegExpect(const Ceremony& c) {
  RegistrationExpectation e;
  e.challenge = c.reg_challenge;
  e.rp_id = c.rp_id;
  e.allowed_origins = {"https://elsewhere.example", c.origin};
  return e;
}

RegisteredCredential MustRegister(const Ceremony& c) {
  auto cred = VerifyRegistration(c.reg_client_data_json, c.attestation_object, RegExpect(c));
  EXPECT_TRUE(cred.ok()) << c.name << ": " << cred.status();
  return cred.ok() ? *cred : RegisteredCredential{};
}

AssertionExpectation AssertExpect(const Ceremony& c, const RegisteredCredential& cred, size_t i,
                                  uint32_t stored_count) {
  AssertionExpectation e;
  e.challenge = c.assertions[i].challenge;
  e.rp_id = c.rp_id;
  e.allowed_origins = {c.origin};
  e.public_key_cose = cred.public_key_cose;
  e.stored_sign_count = stored_count;
  return e;
}

absl::StatusOr<VerifiedAssertion> Assert(const Ceremony& c, size_t i,
                                         const AssertionExpectation& e) {
  const Assertion& a = c.assertions[i];
  return VerifyAssertion(a.client_data_json, a.authenticator_data, a.signature, e);
}

void ExpectCode(const absl::Status& s, absl::StatusCode code, std::string_view needle) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(absl::string_view(needle.data(), needle.size())),
            absl::string_view::npos)
      << "message \"" << s.message() << "\" lacks \"" << needle << "\"";
}

// A minimal CBOR encoder, only for building mutated attestation objects in tests.
std::string Head(int major, uint64_t n) {
  std::string out;
  const char m = static_cast<char>(major << 5);
  if (n < 24) {
    out.push_back(static_cast<char>(m | n));
  } else if (n < 0x100) {
    out = {static_cast<char>(m | 24), static_cast<char>(n)};
  } else if (n < 0x10000) {
    out = {static_cast<char>(m | 25), static_cast<char>(n >> 8), static_cast<char>(n)};
  } else {
    out.push_back(static_cast<char>(m | 26));
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  return out;
}

std::string Encode(const cbor::Value& v) {
  switch (v.type()) {
    case cbor::Value::Type::kInteger:
      return v.integer() >= 0 ? Head(0, static_cast<uint64_t>(v.integer()))
                              : Head(1, static_cast<uint64_t>(-1 - v.integer()));
    case cbor::Value::Type::kBytes:
      return Head(2, v.bytes().size()) + v.bytes();
    case cbor::Value::Type::kText:
      return Head(3, v.text().size()) + v.text();
    case cbor::Value::Type::kArray: {
      std::string out = Head(4, v.array().size());
      for (const auto& x : v.array()) out += Encode(x);
      return out;
    }
    case cbor::Value::Type::kMap: {
      std::string out = Head(5, v.map().size());
      for (const auto& [k, x] : v.map()) out += Encode(k) + Encode(x);
      return out;
    }
    case cbor::Value::Type::kBool:
      return v.boolean() ? "\xf5" : "\xf4";
    case cbor::Value::Type::kNull:
      return "\xf6";
  }
  return "";
}

using cbor::Value;

// Rebuilds an attestation object from its parts.
std::string AttestationObject(std::string_view fmt, Value att_stmt, std::string auth_data) {
  Value::Map m;
  m.emplace_back(Value::Text("fmt"), Value::Text(std::string(fmt)));
  m.emplace_back(Value::Text("attStmt"), std::move(att_stmt));
  m.emplace_back(Value::Text("authData"), Value::Bytes(std::move(auth_data)));
  return Encode(Value::FromMap(std::move(m)));
}

struct AttestationParts {
  std::string fmt;
  Value att_stmt;
  std::string auth_data;
};

AttestationParts Split(const std::string& attestation_object) {
  auto v = cbor::Decode(attestation_object);
  EXPECT_TRUE(v.ok());
  return {v->Find("fmt")->text(), *v->Find("attStmt"), v->Find("authData")->bytes()};
}

// Offset of the flags byte / the COSE key inside authenticatorData with attested data.
constexpr size_t kFlagsOffset = 32;

size_t CoseKeyOffset(const std::string& auth_data) {
  const size_t id_len =
      (static_cast<uint8_t>(auth_data[53]) << 8) | static_cast<uint8_t>(auth_data[54]);
  return 55 + id_len;
}

// ---- recorded ceremonies verify ----

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, RegistrationVerifiesWithExpectedAlgorithm) {
  const Ceremony c = Load(GetParam());
  auto cred = VerifyRegistration(c.reg_client_data_json, c.attestation_object, RegExpect(c));
  ASSERT_TRUE(cred.ok()) << cred.status();
  EXPECT_EQ(cred->algorithm, c.algorithm);
  EXPECT_EQ(cred->credential_id, c.credential_id);
  EXPECT_EQ(cred->attestation_format, c.attestation);
  EXPECT_EQ(cred->aaguid.size(), 16u);
  EXPECT_EQ(cred->user_verified, c.user_verified);
  EXPECT_EQ(cred->backup_eligible, c.backup_eligible);
  EXPECT_EQ(cred->backed_up, c.backed_up);
  EXPECT_FALSE(cred->public_key_cose.empty());
  // The stored key is exactly the COSE_Key bytes inside authData, a decodable map.
  auto key = cbor::Decode(cred->public_key_cose);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->Find(3)->integer(), c.algorithm);
}

TEST_P(FixtureTest, AssertionsVerifyWithRegisteredKeyInOrder) {
  const Ceremony c = Load(GetParam());
  const RegisteredCredential cred = MustRegister(c);
  ASSERT_GE(c.assertions.size(), 2u);
  uint32_t stored = cred.sign_count;
  for (size_t i = 0; i < c.assertions.size(); ++i) {
    auto got = Assert(c, i, AssertExpect(c, cred, i, stored));
    ASSERT_TRUE(got.ok()) << "assertion " << i << ": " << got.status();
    EXPECT_TRUE(got->sign_count > stored || (got->sign_count == 0 && stored == 0));
    EXPECT_EQ(got->user_verified, c.user_verified);
    EXPECT_EQ(got->backed_up, c.backed_up);
    stored = got->sign_count;
  }
}

TEST_P(FixtureTest, UserVerificationRequirementIsEnforced) {
  const Ceremony c = Load(GetParam());
  RegistrationExpectation e = RegExpect(c);
  e.require_user_verification = true;
  auto cred = VerifyRegistration(c.reg_client_data_json, c.attestation_object, e);
  AssertionExpectation ae = AssertExpect(c, MustRegister(c), 0, 0);
  ae.require_user_verification = true;
  auto got = Assert(c, 0, ae);
  if (c.user_verified) {
    EXPECT_TRUE(cred.ok()) << cred.status();
    EXPECT_TRUE(got.ok()) << got.status();
  } else {
    ExpectCode(cred.status(), absl::StatusCode::kPermissionDenied, "user verification (UV)");
    ExpectCode(got.status(), absl::StatusCode::kPermissionDenied, "user verification (UV)");
  }
}

TEST_P(FixtureTest, EveryFlippedBitInAssertionIsRejected) {
  const Ceremony c = Load(GetParam());
  const RegisteredCredential cred = MustRegister(c);
  const Assertion& a = c.assertions[0];
  const AssertionExpectation e = AssertExpect(c, cred, 0, 0);
  for (size_t i = 0; i < a.signature.size(); ++i) {
    for (int bit : {0x01, 0x80}) {
      std::string sig = a.signature;
      sig[i] = static_cast<char>(sig[i] ^ bit);
      auto got = VerifyAssertion(a.client_data_json, a.authenticator_data, sig, e);
      ASSERT_FALSE(got.ok()) << "signature byte " << i;
      EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
    }
  }
  for (size_t i = 0; i < a.authenticator_data.size(); ++i) {
    std::string data = a.authenticator_data;
    data[i] = static_cast<char>(data[i] ^ 0x01);
    EXPECT_FALSE(VerifyAssertion(a.client_data_json, data, a.signature, e).ok())
        << "authenticatorData byte " << i;
  }
  for (size_t i = 0; i < a.client_data_json.size(); ++i) {
    std::string json = a.client_data_json;
    json[i] = static_cast<char>(json[i] ^ 0x01);
    EXPECT_FALSE(VerifyAssertion(json, a.authenticator_data, a.signature, e).ok())
        << "clientDataJSON byte " << i;
  }
}

TEST_P(FixtureTest, EveryPrefixOfAttestationObjectIsRejected) {
  const Ceremony c = Load(GetParam());
  const RegistrationExpectation e = RegExpect(c);
  for (size_t n = 0; n < c.attestation_object.size(); ++n) {
    auto got = VerifyRegistration(c.reg_client_data_json, c.attestation_object.substr(0, n), e);
    ASSERT_FALSE(got.ok()) << "prefix " << n;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << "prefix " << n;
    EXPECT_FALSE(cbor::Decode(c.attestation_object.substr(0, n)).ok());
  }
  const std::string& ad = c.assertions[0].authenticator_data;
  const AssertionExpectation ae = AssertExpect(c, MustRegister(c), 0, 0);
  for (size_t n = 0; n < ad.size(); ++n) {
    auto got = VerifyAssertion(c.assertions[0].client_data_json, ad.substr(0, n),
                               c.assertions[0].signature, ae);
    ASSERT_FALSE(got.ok()) << "authenticatorData prefix " << n;
  }
}

TEST_P(FixtureTest, RandomMutationsOfAttestationObjectNeverCrash) {
  const Ceremony c = Load(GetParam());
  const RegistrationExpectation e = RegExpect(c);
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string data = c.attestation_object;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) data[rng() % data.size()] = static_cast<char>(rng());
    auto got = VerifyRegistration(c.reg_client_data_json, data, e);
    if (!got.ok()) {
      EXPECT_NE(got.status().code(), absl::StatusCode::kOk);
      EXPECT_NE(got.status().code(), absl::StatusCode::kInternal) << got.status();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Recorded, FixtureTest, ::testing::ValuesIn(kFixtures),
                         [](const auto& info) { return info.param; });

// Registrations whose attestation signature binds clientDataJSON and authData: every flipped
// bit must fail (for "none", unsigned fields such as an unknown JSON key may legitimately change).
TEST(WebAuthnTest, PackedRegistrationRejectsEveryFlippedBit) {
  for (const char* name :
       {"synthetic_es256_packed", "synthetic_eddsa_packed", "synthetic_rs256_packed"}) {
    const Ceremony c = Load(name);
    const RegistrationExpectation e = RegExpect(c);
    for (size_t i = 0; i < c.reg_client_data_json.size(); ++i) {
      std::string json = c.reg_client_data_json;
      json[i] = static_cast<char>(json[i] ^ 0x01);
      EXPECT_FALSE(VerifyRegistration(json, c.attestation_object, e).ok())
          << name << " clientDataJSON byte " << i;
    }
    AttestationParts parts = Split(c.attestation_object);
    for (size_t i = 0; i < parts.auth_data.size(); ++i) {
      std::string ad = parts.auth_data;
      ad[i] = static_cast<char>(ad[i] ^ 0x01);
      EXPECT_FALSE(VerifyRegistration(c.reg_client_data_json,
                                      AttestationObject("packed", parts.att_stmt, ad), e)
                       .ok())
          << name << " authData byte " << i;
    }
  }
}

// ---- individual checks, each against a real recording ----

TEST(WebAuthnTest, WrongChallengeIsRejected) {
  const Ceremony c = Load("chromium_es256");
  RegistrationExpectation e = RegExpect(c);
  e.challenge = c.assertions[0].challenge;
  ExpectCode(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status(),
             absl::StatusCode::kPermissionDenied, "challenge");
  e.challenge = c.reg_challenge.substr(1);
  ExpectCode(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status(),
             absl::StatusCode::kPermissionDenied, "challenge");

  const RegisteredCredential cred = MustRegister(c);
  AssertionExpectation ae = AssertExpect(c, cred, 0, 0);
  ae.challenge = c.assertions[1].challenge;  // replaying assertion 0 for ceremony 1
  ExpectCode(Assert(c, 0, ae).status(), absl::StatusCode::kPermissionDenied, "challenge");
}

TEST(WebAuthnTest, WrongOriginIsRejected) {
  const Ceremony c = Load("chromium_eddsa");
  RegistrationExpectation e = RegExpect(c);
  e.allowed_origins = {"https://vault.example.com", c.origin + "/"};
  ExpectCode(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status(),
             absl::StatusCode::kPermissionDenied, "origin");
  AssertionExpectation ae = AssertExpect(c, MustRegister(c), 0, 0);
  ae.allowed_origins = {"http://localhost"};
  ExpectCode(Assert(c, 0, ae).status(), absl::StatusCode::kPermissionDenied, "origin");
}

TEST(WebAuthnTest, WrongRpIdIsRejected) {
  const Ceremony c = Load("chromium_rs256");
  RegistrationExpectation e = RegExpect(c);
  e.rp_id = "example.com";
  ExpectCode(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status(),
             absl::StatusCode::kPermissionDenied, "rpIdHash");
  AssertionExpectation ae = AssertExpect(c, MustRegister(c), 0, 0);
  ae.rp_id = "localhost.";
  ExpectCode(Assert(c, 0, ae).status(), absl::StatusCode::kPermissionDenied, "rpIdHash");
}

TEST(WebAuthnTest, CeremonyTypesCannotBeSwapped) {
  const Ceremony c = Load("chromium_es256");
  const RegisteredCredential cred = MustRegister(c);
  // A create() clientDataJSON presented as an assertion.
  AssertionExpectation ae = AssertExpect(c, cred, 0, 0);
  ae.challenge = c.reg_challenge;
  ExpectCode(VerifyAssertion(c.reg_client_data_json, c.assertions[0].authenticator_data,
                             c.assertions[0].signature, ae)
                 .status(),
             absl::StatusCode::kPermissionDenied, "type");
  // A get() clientDataJSON presented as a registration.
  RegistrationExpectation e = RegExpect(c);
  e.challenge = c.assertions[0].challenge;
  ExpectCode(VerifyRegistration(c.assertions[0].client_data_json, c.attestation_object, e).status(),
             absl::StatusCode::kPermissionDenied, "webauthn.create");
}

TEST(WebAuthnTest, CrossOriginIsRejected) {
  const Ceremony c = Load("chromium_es256");
  std::string json = c.reg_client_data_json;
  const size_t at = json.find("\"crossOrigin\":false");
  ASSERT_NE(at, std::string::npos);
  json.replace(at, 19, "\"crossOrigin\":true");
  ExpectCode(VerifyRegistration(json, c.attestation_object, RegExpect(c)).status(),
             absl::StatusCode::kPermissionDenied, "crossOrigin");
}

TEST(WebAuthnTest, SignatureCounterMustIncrease) {
  const Ceremony c = Load("chromium_es256");
  const RegisteredCredential cred = MustRegister(c);
  auto first = Assert(c, 0, AssertExpect(c, cred, 0, cred.sign_count));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Assert(c, 1, AssertExpect(c, cred, 1, first->sign_count));
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_GT(second->sign_count, first->sign_count);

  // Same count again, and an older assertion after a newer one: both look like a clone.
  for (auto [i, stored] :
       {std::pair<size_t, uint32_t>{1, second->sign_count},
        std::pair<size_t, uint32_t>{0, second->sign_count}, std::pair<size_t, uint32_t>{0, 1000}}) {
    auto got = Assert(c, i, AssertExpect(c, cred, i, stored));
    EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(got.status().message(),
              "signature counter did not increase: possible cloned authenticator");
  }
}

TEST(WebAuthnTest, CounterlessPasskeysStayAtZero) {
  const Ceremony c = Load("synthetic_eddsa_packed");
  const RegisteredCredential cred = MustRegister(c);
  ASSERT_EQ(cred.sign_count, 0u);
  auto got = Assert(c, 0, AssertExpect(c, cred, 0, 0));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->sign_count, 0u);
  // Once a nonzero count was stored, a zero count is a regression.
  EXPECT_EQ(Assert(c, 1, AssertExpect(c, cred, 1, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(WebAuthnTest, NonzeroInitialCountIsReturnedAndEnforced) {
  const Ceremony c = Load("synthetic_rs256_packed");
  const RegisteredCredential cred = MustRegister(c);
  EXPECT_EQ(cred.sign_count, 5u);
  EXPECT_TRUE(Assert(c, 0, AssertExpect(c, cred, 0, cred.sign_count)).ok());
  EXPECT_EQ(Assert(c, 0, AssertExpect(c, cred, 0, 6)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(WebAuthnTest, AssertionWithAnotherCredentialsKeyFails) {
  const Ceremony es = Load("chromium_es256");
  const Ceremony es2 = Load("synthetic_es256_packed");
  AssertionExpectation ae = AssertExpect(es, MustRegister(es), 0, 0);
  ae.public_key_cose = MustRegister(es2).public_key_cose;
  ExpectCode(Assert(es, 0, ae).status(), absl::StatusCode::kPermissionDenied, "signature");
}

TEST(WebAuthnTest, AlgorithmNotAllowedIsRejected) {
  const Ceremony c = Load("chromium_eddsa");
  RegistrationExpectation e = RegExpect(c);
  e.allowed_algorithms = {kCoseEs256};
  ExpectCode(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status(),
             absl::StatusCode::kPermissionDenied, "algorithm -8 is not allowed");
}

// Replaces the COSE key in a real "none" registration with one using alg -35 (ES384).
TEST(WebAuthnTest, UnsupportedAlgorithmIsRejected) {
  const Ceremony c = Load("chromium_es256");
  AttestationParts parts = Split(c.attestation_object);
  const size_t key_at = CoseKeyOffset(parts.auth_data);
  Value::Map key;
  key.emplace_back(Value::Integer(1), Value::Integer(2));
  key.emplace_back(Value::Integer(3), Value::Integer(-35));
  key.emplace_back(Value::Integer(-1), Value::Integer(2));
  key.emplace_back(Value::Integer(-2), Value::Bytes(std::string(48, 'x')));
  key.emplace_back(Value::Integer(-3), Value::Bytes(std::string(48, 'y')));
  const std::string ad = parts.auth_data.substr(0, key_at) + Encode(Value::FromMap(key));
  const std::string att = AttestationObject("none", parts.att_stmt, ad);
  RegistrationExpectation e = RegExpect(c);
  ExpectCode(VerifyRegistration(c.reg_client_data_json, att, e).status(),
             absl::StatusCode::kPermissionDenied, "algorithm -35 is not allowed");
  e.allowed_algorithms.push_back(-35);  // a caller allowing it still cannot get it verified
  ExpectCode(VerifyRegistration(c.reg_client_data_json, att, e).status(),
             absl::StatusCode::kPermissionDenied, "not supported");
}

TEST(WebAuthnTest, MismatchedKeyTypeOrCurveIsMalformed) {
  const Ceremony c = Load("chromium_es256");
  AttestationParts parts = Split(c.attestation_object);
  const size_t key_at = CoseKeyOffset(parts.auth_data);
  auto key = cbor::Decode(parts.auth_data.substr(key_at));
  ASSERT_TRUE(key.ok());
  auto with = [&](int64_t label, Value v) {
    Value::Map m = key->map();
    for (auto& [k, x] : m) {
      if (k.integer() == label) x = v;
    }
    return AttestationObject("none", parts.att_stmt,
                             parts.auth_data.substr(0, key_at) + Encode(Value::FromMap(m)));
  };
  const RegistrationExpectation e = RegExpect(c);
  ExpectCode(VerifyRegistration(c.reg_client_data_json, with(1, Value::Integer(1)), e).status(),
             absl::StatusCode::kInvalidArgument, "kty");
  ExpectCode(VerifyRegistration(c.reg_client_data_json, with(-1, Value::Integer(2)), e).status(),
             absl::StatusCode::kInvalidArgument, "P-256");
  ExpectCode(
      VerifyRegistration(c.reg_client_data_json, with(-3, Value::Bytes(std::string(32, '\x01'))), e)
          .status(),
      absl::StatusCode::kInvalidArgument, "not a point on P-256");
}

TEST(WebAuthnTest, AttestationFormatsOtherThanNoneAndPackedSelfAreRejected) {
  const Ceremony c = Load("synthetic_es256_packed");
  const RegistrationExpectation e = RegExpect(c);
  AttestationParts parts = Split(c.attestation_object);

  ExpectCode(VerifyRegistration(c.reg_client_data_json,
                                AttestationObject("tpm", parts.att_stmt, parts.auth_data), e)
                 .status(),
             absl::StatusCode::kPermissionDenied, "attestation format \"tpm\" is not supported");

  Value::Map with_x5c = parts.att_stmt.map();
  with_x5c.emplace_back(Value::Text("x5c"),
                        Value::FromArray({Value::Bytes(std::string(100, '\x30'))}));
  ExpectCode(
      VerifyRegistration(c.reg_client_data_json,
                         AttestationObject("packed", Value::FromMap(with_x5c), parts.auth_data), e)
          .status(),
      absl::StatusCode::kPermissionDenied, "x5c");

  Value::Map wrong_alg = parts.att_stmt.map();
  for (auto& [k, v] : wrong_alg) {
    if (k.text() == "alg") v = Value::Integer(kCoseRs256);
  }
  ExpectCode(
      VerifyRegistration(c.reg_client_data_json,
                         AttestationObject("packed", Value::FromMap(wrong_alg), parts.auth_data), e)
          .status(),
      absl::StatusCode::kPermissionDenied, "does not match");

  // The packed statement moved onto a "none" object, and "none" with a statement.
  ExpectCode(VerifyRegistration(c.reg_client_data_json,
                                AttestationObject("none", parts.att_stmt, parts.auth_data), e)
                 .status(),
             absl::StatusCode::kInvalidArgument, "empty attStmt");

  // Self-attestation signed by a different key (another recording's signature).
  const Ceremony other = Load("synthetic_es256_none_no_uv");
  Value::Map foreign_sig = parts.att_stmt.map();
  for (auto& [k, v] : foreign_sig) {
    if (k.text() == "sig") v = Value::Bytes(other.assertions[0].signature);
  }
  ExpectCode(VerifyRegistration(
                 c.reg_client_data_json,
                 AttestationObject("packed", Value::FromMap(foreign_sig), parts.auth_data), e)
                 .status(),
             absl::StatusCode::kPermissionDenied, "self-attestation signature");
}

TEST(WebAuthnTest, AuthenticatorDataFlagsAreChecked) {
  const Ceremony c = Load("chromium_es256");  // "none": authData is not signed at registration
  const RegistrationExpectation e = RegExpect(c);
  AttestationParts parts = Split(c.attestation_object);
  auto with_flags = [&](uint8_t clear, uint8_t set) {
    std::string ad = parts.auth_data;
    ad[kFlagsOffset] = static_cast<char>((static_cast<uint8_t>(ad[kFlagsOffset]) & ~clear) | set);
    return VerifyRegistration(c.reg_client_data_json, AttestationObject("none", parts.att_stmt, ad),
                              e)
        .status();
  };
  ExpectCode(with_flags(0x01, 0), absl::StatusCode::kPermissionDenied, "user presence (UP)");
  ExpectCode(with_flags(0, 0x10), absl::StatusCode::kInvalidArgument, "BS set without BE");
  ExpectCode(with_flags(0, 0x80), absl::StatusCode::kInvalidArgument, "extensions");
  // AT clear: the credential bytes become trailing garbage.
  ExpectCode(with_flags(0x40, 0), absl::StatusCode::kInvalidArgument, "trailing");
  EXPECT_TRUE(with_flags(0, 0x18).ok());  // BE+BS is fine

  // AT clear with nothing after the fixed part: no credential to register.
  std::string bare = parts.auth_data.substr(0, 37);
  bare[kFlagsOffset] = static_cast<char>(static_cast<uint8_t>(bare[kFlagsOffset]) & ~0x40);
  ExpectCode(
      VerifyRegistration(c.reg_client_data_json, AttestationObject("none", parts.att_stmt, bare), e)
          .status(),
      absl::StatusCode::kInvalidArgument, "AT flag");

  // Bytes after the COSE key without an ED flag.
  ExpectCode(
      VerifyRegistration(
          c.reg_client_data_json,
          AttestationObject("none", parts.att_stmt, parts.auth_data + std::string("\xa0", 1)), e)
          .status(),
      absl::StatusCode::kInvalidArgument, "trailing");
}

TEST(WebAuthnTest, MalformedClientDataIsInvalidArgument) {
  const Ceremony c = Load("chromium_es256");
  const RegistrationExpectation e = RegExpect(c);
  for (const char* json :
       {"", "[]", "{", "{\"type\":\"webauthn.create\"}",
        "{\"type\":\"webauthn.create\",\"challenge\":\"!!\",\"origin\":\"x\"}", "{\"type\":1}"}) {
    EXPECT_EQ(VerifyRegistration(json, c.attestation_object, e).status().code(),
              absl::StatusCode::kInvalidArgument)
        << json;
  }
}

TEST(WebAuthnTest, EmptyExpectationIsInvalidArgument) {
  const Ceremony c = Load("chromium_es256");
  RegistrationExpectation e = RegExpect(c);
  e.challenge.clear();
  EXPECT_EQ(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status().code(),
            absl::StatusCode::kInvalidArgument);
  e = RegExpect(c);
  e.allowed_origins.clear();
  EXPECT_EQ(VerifyRegistration(c.reg_client_data_json, c.attestation_object, e).status().code(),
            absl::StatusCode::kInvalidArgument);
  AssertionExpectation ae = AssertExpect(c, MustRegister(c), 0, 0);
  ae.public_key_cose = "\xa0";
  ExpectCode(Assert(c, 0, ae).status(), absl::StatusCode::kInvalidArgument, "stored credential");
}

TEST(WebAuthnTest, NewChallengeIs32RandomBytes) {
  base::SimulatedEnv env;
  const std::string a = NewChallenge(&env);
  const std::string b = NewChallenge(&env);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(b.size(), 32u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace edgevault::crypto
