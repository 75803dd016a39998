// Fuzzes EdDSA JWT parsing and verification (src/crypto/jwt.h).
// Input (FuzzedDataProvider): a mode byte (from the end), then
//   mode 0: a compact token, verified as it is (forgeries never verify);
//   mode 1: header and payload JSON texts, assembled into a token signed with the test
//           key, so the claim checks behind the signature are reached;
//   mode 2: a JWKS document.
// Properties:
//   - Verify fails only with Unauthenticated or NotFound (unknown kid), FromJwks only with
//     InvalidArgument; nothing throws;
//   - a token that is not signed by the key never verifies (mode 0 cannot forge);
//   - verified claims obey the documented checks (exp, iat, iss, aud) and survive a
//     round trip: SignJwt(claims) verifies to the same claims;
//   - a JWKS that loads has at least one key.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "src/base/encoding.h"
#include "src/crypto/jwt.h"

namespace edgevault::fuzz {
namespace {

using crypto::JwtClaims;
using crypto::JwtVerifier;

constexpr std::string_view kIss = "edgevault";
constexpr std::string_view kAud = "api";

struct Keys {
  crypto::Ed25519PrivateKey key;
  std::string kid;
  JwtVerifier verifier;
};

const Keys& GetKeys() {
  static const Keys* k = [] {
    absl::StatusOr<crypto::Ed25519PrivateKey> key =
        crypto::Ed25519PrivateKey::FromRaw(std::string(32, '\x07'));
    FUZZ_CHECK(key.ok(), key.status().ToString());
    JwtVerifier v;
    v.AddKey(key->Kid(), key->PublicKey());
    return new Keys{*key, key->Kid(), std::move(v)};
  }();
  return *k;
}

absl::Time Now() { return absl::FromUnixSeconds(1'800'000'000); }

void CheckVerifyError(const absl::Status& s) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kUnauthenticated || s.code() == absl::StatusCode::kNotFound,
             "undocumented error: " + s.ToString());
}

bool SameClaims(const JwtClaims& a, const JwtClaims& b) {
  return a.iss == b.iss && a.sub == b.sub && a.aud == b.aud && a.org == b.org && a.jti == b.jti &&
         a.roles == b.roles && a.scopes == b.scopes && a.iat == b.iat && a.exp == b.exp &&
         a.extra == b.extra;
}

void CheckVerified(const JwtClaims& c) {
  FUZZ_CHECK(c.exp > Now() - crypto::kJwtLeeway, "expired token verified");
  FUZZ_CHECK(c.iat <= Now() + crypto::kJwtLeeway, "future iat verified");
  FUZZ_CHECK(c.iss == kIss && c.aud == kAud && !c.sub.empty(), "claims: " + c.iss + "/" + c.aud);
  const Keys& k = GetKeys();
  std::string again = crypto::SignJwt(k.key, k.kid, c);
  absl::StatusOr<JwtClaims> back = k.verifier.Verify(again, Now(), kIss, kAud);
  FUZZ_CHECK(back.ok(), "re-signed claims do not verify: " + back.status().ToString());
  FUZZ_CHECK(SameClaims(*back, c), "claims change in a sign/verify round trip");
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  edgevault::fuzz::GetKeys();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault;
  using namespace edgevault::fuzz;
  FuzzedDataProvider fdp(data, size);
  const Keys& k = GetKeys();
  switch (fdp.ConsumeIntegralInRange<int>(0, 2)) {
    case 0: {
      std::string token = fdp.ConsumeRemainingBytesAsString();
      absl::StatusOr<crypto::JwtClaims> c = k.verifier.Verify(token, Now(), kIss, kAud);
      if (!c.ok()) {
        CheckVerifyError(c.status());
        break;
      }
      // Only a token the key signed can verify: the signature over the first two parts.
      size_t dot2 = token.rfind('.');
      absl::StatusOr<std::string> sig = base::Base64UrlDecode(std::string_view(token).substr(dot2 + 1));
      FUZZ_CHECK(sig.ok() && *sig == k.key.Sign(std::string_view(token).substr(0, dot2)),
                 "a token verified without the key's signature: " + token);
      CheckVerified(*c);
      break;
    }
    case 1: {
      std::string header = fdp.ConsumeRandomLengthString(1024);
      std::string payload = fdp.ConsumeRemainingBytesAsString();
      std::string signing_input = base::Base64UrlEncode(header) + "." + base::Base64UrlEncode(payload);
      std::string token = signing_input + "." + base::Base64UrlEncode(k.key.Sign(signing_input));
      absl::StatusOr<crypto::JwtClaims> c = k.verifier.Verify(token, Now(), kIss, kAud);
      if (!c.ok()) {
        CheckVerifyError(c.status());
        break;
      }
      CheckVerified(*c);
      break;
    }
    case 2: {
      std::string jwks = fdp.ConsumeRemainingBytesAsString();
      absl::StatusOr<JwtVerifier> v = JwtVerifier::FromJwks(jwks);
      if (!v.ok()) {
        FUZZ_CHECK(v.status().code() == absl::StatusCode::kInvalidArgument, v.status().ToString());
      } else {
        FUZZ_CHECK(v->size() >= 1, "a JWKS loaded with no key");
      }
      break;
    }
  }
  CheckNoBugReported();
  return 0;
}
