#include "src/crypto/webauthn.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>

#include "src/base/encoding.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/cbor.h"
#include "src/crypto/hash.h"

namespace edgevault::crypto {
namespace {

// authenticatorData flag bits (WebAuthn §6.1; BE/BS from Level 3).
constexpr uint8_t kFlagUserPresent = 0x01;
constexpr uint8_t kFlagUserVerified = 0x04;
constexpr uint8_t kFlagBackupEligible = 0x08;
constexpr uint8_t kFlagBackedUp = 0x10;
constexpr uint8_t kFlagAttestedData = 0x40;
constexpr uint8_t kFlagExtensions = 0x80;

constexpr size_t kRpIdHashSize = 32;
constexpr size_t kFixedAuthDataSize = kRpIdHashSize + 1 + 4;
constexpr size_t kAaguidSize = 16;
constexpr size_t kMaxCredentialIdSize = 1023;  // §7.1 step 22 (L3) / CTAP2 limit
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

// COSE_Key labels (RFC 9052/9053).
constexpr int64_t kCoseKty = 1;
constexpr int64_t kCoseAlg = 3;
constexpr int64_t kCoseCrv = -1;  // EC2/OKP
constexpr int64_t kCoseX = -2;    // EC2/OKP
constexpr int64_t kCoseY = -3;    // EC2
constexpr int64_t kCoseD = -4;    // EC2/OKP private key
constexpr int64_t kCoseRsaN = -1;
constexpr int64_t kCoseRsaE = -2;
constexpr int64_t kCoseRsaD = -3;  // RSA private exponent
constexpr int64_t kKtyOkp = 1;
constexpr int64_t kKtyEc2 = 2;
constexpr int64_t kKtyRsa = 3;
constexpr int64_t kCrvP256 = 1;
constexpr int64_t kCrvEd25519 = 6;

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(base::StrCat("webauthn: ", what));
}

absl::Status Denied(std::string_view what) {
  return absl::PermissionDeniedError(base::StrCat("webauthn: ", what));
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// ---- COSE keys ----

struct CoseKey {
  int32_t alg = 0;
  PkeyPtr pkey;
};

const cbor::Value* FindBytes(const cbor::Value& map, int64_t label) {
  const cbor::Value* v = map.Find(label);
  return (v != nullptr && v->is_bytes()) ? v : nullptr;
}

// `what` names the failure, e.g. "ES256 public key is not a point on P-256".
absl::StatusOr<PkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld, std::string_view what) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return Malformed(what);
  }
  return PkeyPtr(raw);
}

absl::StatusOr<PkeyPtr> Ec2Key(const cbor::Value& key) {
  const cbor::Value* crv = key.Find(kCoseCrv);
  const cbor::Value* x = FindBytes(key, kCoseX);
  const cbor::Value* y = FindBytes(key, kCoseY);
  if (crv == nullptr || !crv->is_integer() || crv->integer() != kCrvP256) {
    return Malformed("ES256 key must use curve P-256 (crv 1)");
  }
  if (x == nullptr || y == nullptr || x->bytes().size() != 32 || y->bytes().size() != 32) {
    return Malformed("ES256 key needs 32-byte x and y coordinates");
  }
  if (key.Find(kCoseD) != nullptr) return Malformed("COSE key contains a private key");
  std::string point = "\x04" + x->bytes() + y->bytes();
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError("webauthn: OSSL_PARAM_BLD failed");
  }
  EV_ASSIGN_OR_RETURN(PkeyPtr pkey,
                      FromData("EC", bld.get(), "ES256 public key is not a point on P-256"));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return Malformed("ES256 public key is not a point on P-256");
  }
  return pkey;
}

absl::StatusOr<PkeyPtr> OkpKey(const cbor::Value& key) {
  const cbor::Value* crv = key.Find(kCoseCrv);
  const cbor::Value* x = FindBytes(key, kCoseX);
  if (crv == nullptr || !crv->is_integer() || crv->integer() != kCrvEd25519) {
    return Malformed("EdDSA key must use curve Ed25519 (crv 6)");
  }
  if (x == nullptr || x->bytes().size() != 32) return Malformed("Ed25519 key needs a 32-byte x");
  if (key.Find(kCoseD) != nullptr) return Malformed("COSE key contains a private key");
  EVP_PKEY* raw =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(x->bytes()), x->bytes().size());
  if (raw == nullptr) {
    ERR_clear_error();
    return Malformed("credential public key is not a valid Ed25519 key");
  }
  return PkeyPtr(raw);
}

absl::StatusOr<PkeyPtr> RsaKey(const cbor::Value& key) {
  const cbor::Value* n = FindBytes(key, kCoseRsaN);
  const cbor::Value* e = FindBytes(key, kCoseRsaE);
  if (n == nullptr || e == nullptr || e->bytes().empty() || e->bytes().size() > 8) {
    return Malformed("RS256 key needs byte strings n and e (e at most 8 bytes)");
  }
  if (key.Find(kCoseRsaD) != nullptr) return Malformed("COSE key contains a private key");
  std::unique_ptr<BIGNUM, BnDeleter> bn_n(
      BN_bin2bn(Bytes(n->bytes()), static_cast<int>(n->bytes().size()), nullptr));
  std::unique_ptr<BIGNUM, BnDeleter> bn_e(
      BN_bin2bn(Bytes(e->bytes()), static_cast<int>(e->bytes().size()), nullptr));
  if (bn_n == nullptr || bn_e == nullptr) return absl::InternalError("webauthn: BN_bin2bn failed");
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return Malformed(
        base::StrCat("RS256 modulus is ", bits, " bits; need ", kMinRsaBits, "..", kMaxRsaBits));
  }
  if (!BN_is_odd(bn_n.get()) || !BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) {
    return Malformed("RS256 key has an even modulus or an invalid exponent");
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError("webauthn: OSSL_PARAM_BLD failed");
  }
  return FromData("RSA", bld.get(), "RS256 public key is not a valid RSA key");
}

// Reads the alg label only, so the allow-list is applied before any key material is parsed.
absl::StatusOr<int32_t> CoseAlgorithm(const cbor::Value& key) {
  if (!key.is_map()) return Malformed("credential public key is not a COSE_Key map");
  const cbor::Value* alg = key.Find(kCoseAlg);
  if (alg == nullptr || !alg->is_integer()) return Malformed("COSE_Key has no integer alg (3)");
  if (alg->integer() < INT32_MIN || alg->integer() > INT32_MAX) {
    return Malformed("COSE_Key alg out of range");
  }
  return static_cast<int32_t>(alg->integer());
}

absl::StatusOr<CoseKey> ParseCoseKey(const cbor::Value& key) {
  EV_ASSIGN_OR_RETURN(int32_t alg, CoseAlgorithm(key));
  const cbor::Value* kty = key.Find(kCoseKty);
  if (kty == nullptr || !kty->is_integer()) return Malformed("COSE_Key has no integer kty (1)");
  CoseKey out;
  out.alg = alg;
  switch (alg) {
    case kCoseEs256: {
      if (kty->integer() != kKtyEc2) return Malformed("ES256 (-7) requires kty EC2 (2)");
      EV_ASSIGN_OR_RETURN(out.pkey, Ec2Key(key));
      return out;
    }
    case kCoseEdDsa: {
      if (kty->integer() != kKtyOkp) return Malformed("EdDSA (-8) requires kty OKP (1)");
      EV_ASSIGN_OR_RETURN(out.pkey, OkpKey(key));
      return out;
    }
    case kCoseRs256: {
      if (kty->integer() != kKtyRsa) return Malformed("RS256 (-257) requires kty RSA (3)");
      EV_ASSIGN_OR_RETURN(out.pkey, RsaKey(key));
      return out;
    }
    default:
      return Denied(base::StrCat("credential public key algorithm ", alg,
                                 " is not supported (supported: -7, -8, -257)"));
  }
}

absl::StatusOr<CoseKey> ParseCoseKeyBytes(std::string_view cose) {
  EV_ASSIGN_OR_RETURN(cbor::Value key, cbor::Decode(cose));
  return ParseCoseKey(key);
}

// True when `signature` is valid for `message` under `key` (SHA-256 for ES256/RS256; EdDSA
// signs the message itself).
bool VerifySignature(const CoseKey& key, std::string_view message, std::string_view signature) {
  if (key.alg == kCoseEdDsa && signature.size() != 64) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const char* digest = key.alg == kCoseEdDsa ? nullptr : "SHA256";
  const bool ok = ctx != nullptr &&
                  EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr,
                                          key.pkey.get(), nullptr) == 1 &&
                  EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message),
                                   message.size()) == 1;
  ERR_clear_error();
  return ok;
}

// ---- authenticator data (§6.1) ----

struct AuthenticatorData {
  std::string_view rp_id_hash;
  uint8_t flags = 0;
  uint32_t sign_count = 0;
  bool has_attested_data = false;
  std::string_view aaguid;
  std::string_view credential_id;
  std::string_view public_key_cose;
  cbor::Value public_key;
};

uint32_t BigEndian(std::string_view b) {
  uint32_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

absl::StatusOr<AuthenticatorData> ParseAuthenticatorData(std::string_view data) {
  if (data.size() < kFixedAuthDataSize) {
    return Malformed(base::StrCat("authenticatorData is ", data.size(), " bytes; need at least ",
                                  kFixedAuthDataSize));
  }
  AuthenticatorData out;
  out.rp_id_hash = data.substr(0, kRpIdHashSize);
  out.flags = static_cast<uint8_t>(data[kRpIdHashSize]);
  out.sign_count = BigEndian(data.substr(kRpIdHashSize + 1, 4));
  if ((out.flags & kFlagBackedUp) && !(out.flags & kFlagBackupEligible)) {
    return Malformed("authenticatorData flags BS set without BE");
  }
  std::string_view rest = data.substr(kFixedAuthDataSize);
  if (out.flags & kFlagAttestedData) {
    if (rest.size() < kAaguidSize + 2) return Malformed("attested credential data truncated");
    out.has_attested_data = true;
    out.aaguid = rest.substr(0, kAaguidSize);
    const size_t id_len = (static_cast<uint8_t>(rest[kAaguidSize]) << 8) |
                          static_cast<uint8_t>(rest[kAaguidSize + 1]);
    rest.remove_prefix(kAaguidSize + 2);
    if (id_len == 0 || id_len > kMaxCredentialIdSize) {
      return Malformed(
          base::StrCat("credential ID length ", id_len, " is outside 1..", kMaxCredentialIdSize));
    }
    if (id_len > rest.size()) return Malformed("credential ID runs past authenticatorData");
    out.credential_id = rest.substr(0, id_len);
    rest.remove_prefix(id_len);
    size_t used = 0;
    auto key = cbor::DecodePrefix(rest, &used);
    if (!key.ok()) {
      return Malformed(
          base::StrCat("credential public key: ", base::ToStd(key.status().message())));
    }
    out.public_key = *std::move(key);
    out.public_key_cose = rest.substr(0, used);
    rest.remove_prefix(used);
  }
  if (out.flags & kFlagExtensions) {
    size_t used = 0;
    auto ext = cbor::DecodePrefix(rest, &used);
    if (!ext.ok()) {
      return Malformed(base::StrCat("extensions: ", base::ToStd(ext.status().message())));
    }
    if (!ext->is_map()) return Malformed("extensions are not a CBOR map");
    rest.remove_prefix(used);
  }
  if (!rest.empty()) {
    return Malformed(
        base::StrCat("authenticatorData has ", rest.size(), " unexpected trailing bytes"));
  }
  return out;
}

// ---- client data (§5.8.1) and the common checks ----

absl::Status CheckExpectation(std::string_view challenge, std::string_view rp_id,
                              const std::vector<std::string>& origins) {
  if (challenge.empty()) return Malformed("expectation has an empty challenge");
  if (rp_id.empty()) return Malformed("expectation has an empty rp_id");
  if (origins.empty()) return Malformed("expectation has no allowed origins");
  return absl::OkStatus();
}

absl::Status CheckClientData(std::string_view json, std::string_view want_type,
                             std::string_view challenge,
                             const std::vector<std::string>& allowed_origins) {
  boost::system::error_code ec;
  boost::json::value parsed =
      boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  if (ec) return Malformed(base::StrCat("clientDataJSON is not valid JSON: ", ec.message()));
  const boost::json::object* obj = parsed.if_object();
  if (obj == nullptr) return Malformed("clientDataJSON is not a JSON object");
  auto string_member = [&](std::string_view name) -> const boost::json::string* {
    auto it = obj->find(boost::json::string_view(name.data(), name.size()));
    return it == obj->end() ? nullptr : it->value().if_string();
  };

  const boost::json::string* type = string_member("type");
  if (type == nullptr) return Malformed("clientDataJSON has no string \"type\"");
  if (std::string_view(type->data(), type->size()) != want_type) {
    return Denied(base::StrCat("clientDataJSON type is \"", std::string_view(*type),
                               "\"; expected \"", want_type, "\""));
  }

  const boost::json::string* encoded = string_member("challenge");
  if (encoded == nullptr) return Malformed("clientDataJSON has no string \"challenge\"");
  auto decoded = base::Base64UrlDecode(std::string_view(encoded->data(), encoded->size()));
  if (!decoded.ok()) return Malformed("clientDataJSON challenge is not base64url");
  if (!ConstantTimeEquals(*decoded, challenge)) {
    return Denied("challenge does not match the one issued for this ceremony");
  }

  const boost::json::string* origin = string_member("origin");
  if (origin == nullptr) return Malformed("clientDataJSON has no string \"origin\"");
  const std::string_view origin_sv(origin->data(), origin->size());
  if (std::find(allowed_origins.begin(), allowed_origins.end(), origin_sv) ==
      allowed_origins.end()) {
    return Denied(base::StrCat("origin \"", origin_sv, "\" is not allowed"));
  }

  if (auto it = obj->find("crossOrigin"); it != obj->end()) {
    if (!it->value().is_bool()) return Malformed("clientDataJSON crossOrigin is not a boolean");
    if (it->value().get_bool()) return Denied("crossOrigin ceremonies (iframes) are not accepted");
  }

  // Token binding is not used by EdgeVault, so a client claiming it was "present" on the TLS
  // connection disagrees with our side of it (§7.1 step 10 / §7.2 step 14).
  if (auto it = obj->find("tokenBinding"); it != obj->end()) {
    const boost::json::object* tb = it->value().if_object();
    if (tb == nullptr) return Malformed("clientDataJSON tokenBinding is not an object");
    auto status = tb->find("status");
    if (status != tb->end() && status->value().is_string() &&
        status->value().get_string() == "present") {
      return Denied("token binding is present but not supported by this relying party");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAuthenticatorData(const AuthenticatorData& auth, std::string_view rp_id,
                                    bool require_user_verification) {
  if (!ConstantTimeEquals(auth.rp_id_hash, Sha256(rp_id))) {
    return Denied("rpIdHash does not match SHA-256 of the expected rp_id");
  }
  if (!(auth.flags & kFlagUserPresent)) return Denied("user presence (UP) flag is not set");
  if (require_user_verification && !(auth.flags & kFlagUserVerified)) {
    return Denied("user verification (UV) is required but the UV flag is not set");
  }
  return absl::OkStatus();
}

// §8.2 packed attestation, self-attestation branch only.
absl::Status VerifyPackedSelfAttestation(const cbor::Value& stmt, const CoseKey& key,
                                         std::string_view auth_data,
                                         std::string_view client_data_hash) {
  if (stmt.Find("x5c") != nullptr || stmt.Find("ecdaaKeyId") != nullptr) {
    return Denied(
        "packed attestation with a certificate chain (x5c/ECDAA) is not supported; request "
        "attestation \"none\"");
  }
  const cbor::Value* alg = stmt.Find("alg");
  const cbor::Value* sig = stmt.Find("sig");
  if (alg == nullptr || !alg->is_integer() || sig == nullptr || !sig->is_bytes() ||
      stmt.map().size() != 2) {
    return Malformed("packed attStmt must be exactly {alg: int, sig: bytes}");
  }
  if (alg->integer() != key.alg) {
    return Denied(base::StrCat("packed self-attestation alg ", alg->integer(),
                               " does not match the credential key alg ", key.alg));
  }
  std::string message(auth_data);
  message.append(client_data_hash);
  if (!VerifySignature(key, message, sig->bytes())) {
    return Denied("packed self-attestation signature is invalid");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RegisteredCredential> VerifyRegistration(std::string_view client_data_json,
                                                        std::string_view attestation_object,
                                                        const RegistrationExpectation& expected) {
  EV_RETURN_IF_ERROR(
      CheckExpectation(expected.challenge, expected.rp_id, expected.allowed_origins));
  EV_RETURN_IF_ERROR(CheckClientData(client_data_json, "webauthn.create", expected.challenge,
                                     expected.allowed_origins));
  const std::string client_data_hash = Sha256(client_data_json);

  auto decoded = cbor::Decode(attestation_object);
  if (!decoded.ok()) {
    return Malformed(base::StrCat("attestationObject: ", base::ToStd(decoded.status().message())));
  }
  const cbor::Value& att = *decoded;
  const cbor::Value* fmt = att.Find("fmt");
  const cbor::Value* stmt = att.Find("attStmt");
  const cbor::Value* auth_bytes = att.Find("authData");
  if (fmt == nullptr || !fmt->is_text() || stmt == nullptr || !stmt->is_map() ||
      auth_bytes == nullptr || !auth_bytes->is_bytes()) {
    return Malformed(
        "attestationObject must be a map with fmt (text), attStmt (map), authData (bytes)");
  }

  EV_ASSIGN_OR_RETURN(AuthenticatorData auth, ParseAuthenticatorData(auth_bytes->bytes()));
  EV_RETURN_IF_ERROR(
      CheckAuthenticatorData(auth, expected.rp_id, expected.require_user_verification));
  if (!auth.has_attested_data) {
    return Malformed("authenticatorData has no attested credential data (AT flag clear)");
  }

  EV_ASSIGN_OR_RETURN(int32_t alg, CoseAlgorithm(auth.public_key));
  if (std::find(expected.allowed_algorithms.begin(), expected.allowed_algorithms.end(), alg) ==
      expected.allowed_algorithms.end()) {
    return Denied(base::StrCat("credential public key algorithm ", alg, " is not allowed"));
  }
  EV_ASSIGN_OR_RETURN(CoseKey key, ParseCoseKey(auth.public_key));

  if (fmt->text() == "none") {
    if (!stmt->map().empty())
      return Malformed("attestation format \"none\" needs an empty attStmt");
  } else if (fmt->text() == "packed") {
    EV_RETURN_IF_ERROR(
        VerifyPackedSelfAttestation(*stmt, key, auth_bytes->bytes(), client_data_hash));
  } else {
    return Denied(base::StrCat("attestation format \"", fmt->text(),
                               "\" is not supported (accepted: none, packed self-attestation); "
                               "request attestation \"none\""));
  }

  RegisteredCredential out;
  out.credential_id = std::string(auth.credential_id);
  out.public_key_cose = std::string(auth.public_key_cose);
  out.algorithm = alg;
  out.sign_count = auth.sign_count;
  out.aaguid = std::string(auth.aaguid);
  out.user_verified = (auth.flags & kFlagUserVerified) != 0;
  out.backup_eligible = (auth.flags & kFlagBackupEligible) != 0;
  out.backed_up = (auth.flags & kFlagBackedUp) != 0;
  out.attestation_format = fmt->text();
  return out;
}

absl::StatusOr<VerifiedAssertion> VerifyAssertion(std::string_view client_data_json,
                                                  std::string_view authenticator_data,
                                                  std::string_view signature,
                                                  const AssertionExpectation& expected) {
  EV_RETURN_IF_ERROR(
      CheckExpectation(expected.challenge, expected.rp_id, expected.allowed_origins));
  auto key = ParseCoseKeyBytes(expected.public_key_cose);
  if (!key.ok()) {
    return Malformed(
        base::StrCat("stored credential public key: ", base::ToStd(key.status().message())));
  }
  EV_RETURN_IF_ERROR(CheckClientData(client_data_json, "webauthn.get", expected.challenge,
                                     expected.allowed_origins));
  EV_ASSIGN_OR_RETURN(AuthenticatorData auth, ParseAuthenticatorData(authenticator_data));
  if (auth.has_attested_data) {
    return Malformed("assertion authenticatorData must not carry attested credential data");
  }
  EV_RETURN_IF_ERROR(
      CheckAuthenticatorData(auth, expected.rp_id, expected.require_user_verification));

  std::string message(authenticator_data);
  message.append(Sha256(client_data_json));
  if (!VerifySignature(*key, message, signature)) {
    return Denied("assertion signature verification failed");
  }

  if ((auth.sign_count != 0 || expected.stored_sign_count != 0) &&
      auth.sign_count <= expected.stored_sign_count) {
    return absl::FailedPreconditionError(
        "signature counter did not increase: possible cloned authenticator");
  }

  VerifiedAssertion out;
  out.sign_count = auth.sign_count;
  out.user_verified = (auth.flags & kFlagUserVerified) != 0;
  out.backed_up = (auth.flags & kFlagBackedUp) != 0;
  return out;
}

std::string NewChallenge(base::Env* env) {
  std::string out(32, '\0');
  env->RandomBytes(out.data(), out.size());
  return out;
}

}  // namespace edgevault::crypto
