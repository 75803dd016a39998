// Fuzzes WebAuthn relying-party verification (src/crypto/webauthn.h): registration
// (clientDataJSON + attestationObject: CBOR, authenticator data, COSE key, "packed"
// self-attestation) and assertions (clientDataJSON + authenticatorData + signature
// against a stored COSE key). The expectations (challenge, rp id, origin) and stored
// keys come from the recorded ceremonies in src/crypto/testdata/webauthn/, so a seed made
// from a recording passes every check and mutations start deep inside the verifier.
// Input (FuzzedDataProvider): ceremony index and mode (from the end), clientDataJSON,
// then attestationObject (registration) or authenticatorData and signature (assertion).
// Properties:
//   - errors are the documented codes (InvalidArgument, PermissionDenied,
//     FailedPrecondition); nothing reads out of bounds or throws;
//   - a registration that verifies yields a usable credential: an allowed algorithm, a
//     16-byte AAGUID, a COSE key that the assertion verifier can load (a garbage
//     signature is then PermissionDenied, never InvalidArgument for the key);
//   - an assertion that verifies increased the counter (or both counts are zero).

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "fuzz/fuzz_util.h"
#include "src/base/encoding.h"
#include "src/base/env.h"
#include "src/crypto/webauthn.h"

namespace edgevault::fuzz {
namespace {

namespace json = boost::json;
using namespace edgevault::crypto;

struct Ceremony {
  RegistrationExpectation reg;
  AssertionExpectation assertion;  // the first recorded assertion's challenge, stored key
};

std::vector<Ceremony>& Ceremonies() {
  static std::vector<Ceremony> c;
  return c;
}

std::string B64(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return "";
  absl::StatusOr<std::string> s = base::Base64UrlDecode(std::string_view(v->get_string()));
  return s.ok() ? *s : "";
}

std::string Str(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

void LoadCeremonies() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(EV_WEBAUTHN_TESTDATA)) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    absl::StatusOr<std::string> text = base::Env::Default()->ReadFile(f);
    FUZZ_CHECK(text.ok(), f);
    json::object j = json::parse(*text).as_object();
    const json::object& reg = j["registration"].as_object();
    const json::object& first = j["assertions"].as_array()[0].as_object();
    Ceremony c;
    c.reg.challenge = B64(reg, "challenge");
    c.reg.rp_id = Str(j, "rpId");
    c.reg.allowed_origins = {Str(j, "origin")};
    absl::StatusOr<RegisteredCredential> cred =
        VerifyRegistration(B64(reg, "clientDataJSON"), B64(reg, "attestationObject"), c.reg);
    FUZZ_CHECK(cred.ok(), f + ": the recording does not verify: " + cred.status().ToString());
    c.assertion.challenge = B64(first, "challenge");
    c.assertion.rp_id = c.reg.rp_id;
    c.assertion.allowed_origins = c.reg.allowed_origins;
    c.assertion.public_key_cose = cred->public_key_cose;
    c.assertion.stored_sign_count = 0;
    Ceremonies().push_back(std::move(c));
  }
  FUZZ_CHECK(!Ceremonies().empty(), "no recorded ceremonies in " EV_WEBAUTHN_TESTDATA);
}

void CheckCode(const absl::Status& s) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument ||
                 s.code() == absl::StatusCode::kPermissionDenied ||
                 s.code() == absl::StatusCode::kFailedPrecondition,
             "undocumented error code: " + s.ToString());
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  edgevault::fuzz::LoadCeremonies();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault::fuzz;
  using namespace edgevault::crypto;
  FuzzedDataProvider fdp(data, size);
  const auto& all = Ceremonies();
  const Ceremony& c = all[fdp.ConsumeIntegralInRange<size_t>(0, all.size() - 1)];
  const bool registration = fdp.ConsumeBool();
  std::string client_data = fdp.ConsumeRandomLengthString(2048);

  if (registration) {
    std::string attestation = fdp.ConsumeRemainingBytesAsString();
    absl::StatusOr<RegisteredCredential> cred = VerifyRegistration(client_data, attestation, c.reg);
    if (!cred.ok()) {
      CheckCode(cred.status());
      return 0;
    }
    const auto& algs = c.reg.allowed_algorithms;
    FUZZ_CHECK(std::find(algs.begin(), algs.end(), cred->algorithm) != algs.end(),
               "algorithm " + std::to_string(cred->algorithm));
    FUZZ_CHECK(cred->aaguid.size() == 16, "aaguid size");
    FUZZ_CHECK(!cred->credential_id.empty() && !cred->public_key_cose.empty(), "empty credential");
    FUZZ_CHECK(cred->attestation_format == "none" || cred->attestation_format == "packed",
               cred->attestation_format);
    // The stored key must be usable by the assertion verifier.
    AssertionExpectation e = c.assertion;
    e.public_key_cose = cred->public_key_cose;
    absl::StatusOr<VerifiedAssertion> a = VerifyAssertion(
        client_data, attestation.substr(0, 37), std::string(64, '\x01'), e);
    FUZZ_CHECK(!a.ok(), "a garbage assertion verified");
    CheckCode(a.status());
  } else {
    std::string auth_data = fdp.ConsumeRandomLengthString(1024);
    std::string signature = fdp.ConsumeRemainingBytesAsString();
    absl::StatusOr<VerifiedAssertion> a = VerifyAssertion(client_data, auth_data, signature, c.assertion);
    if (!a.ok()) {
      CheckCode(a.status());
      return 0;
    }
    FUZZ_CHECK(a->sign_count > c.assertion.stored_sign_count ||
                   (a->sign_count == 0 && c.assertion.stored_sign_count == 0),
               "counter did not increase");
  }
  CheckNoBugReported();
  return 0;
}
