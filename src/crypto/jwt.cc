#include "src/crypto/jwt.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <array>
#include <cmath>
#include <cstdint>

#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/openssl_error.h"
#include "src/crypto/hash.h"

namespace edgevault::crypto {

namespace {

// Far above any token we issue; bounds the work an unauthenticated caller can cause.
constexpr size_t kMaxTokenSize = 16 * 1024;

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(base::StrCat("invalid token: ", why));
}

// Decodes one base64url part, accepting only the canonical unpadded encoding (so a token
// has exactly one spelling and a flipped trailing bit cannot slip through).
absl::StatusOr<std::string> DecodePart(std::string_view part, std::string_view name) {
  absl::StatusOr<std::string> raw = base::Base64UrlDecode(part);
  if (!raw.ok() || base::Base64UrlEncode(*raw) != part) {
    return Unauthenticated(base::StrCat(name, " is not base64url"));
  }
  return raw;
}

absl::StatusOr<boost::json::object> ParseObject(std::string_view text, std::string_view name) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()),
                                            ec);
  boost::json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return Unauthenticated(base::StrCat(name, " is not a JSON object"));
  return std::move(*o);
}

// A NumericDate (RFC 7519 §2): integer or fractional seconds since the epoch.
absl::StatusOr<absl::Time> NumericDate(const boost::json::value& v, std::string_view name) {
  if (v.is_int64()) return absl::FromUnixSeconds(v.get_int64());
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX / 2)) {
    return absl::FromUnixSeconds(static_cast<int64_t>(v.get_uint64()));
  }
  if (v.is_double() && std::isfinite(v.get_double()) && std::fabs(v.get_double()) < 1e15) {
    return absl::FromUnixSeconds(static_cast<int64_t>(std::floor(v.get_double())));
  }
  return Unauthenticated(base::StrCat("claim ", name, " is not a NumericDate"));
}

absl::StatusOr<std::string> StringClaim(const boost::json::object& o, std::string_view name,
                                        bool required) {
  const boost::json::value* v = o.if_contains(boost::json::string_view(name.data(), name.size()));
  if (v == nullptr) {
    if (required) return Unauthenticated(base::StrCat("missing claim ", name));
    return std::string();
  }
  if (!v->is_string()) return Unauthenticated(base::StrCat("claim ", name, " is not a string"));
  const boost::json::string& s = v->get_string();
  return std::string(s.data(), s.size());
}

absl::StatusOr<std::vector<std::string>> StringArrayClaim(const boost::json::object& o,
                                                          std::string_view name) {
  std::vector<std::string> out;
  const boost::json::value* v = o.if_contains(boost::json::string_view(name.data(), name.size()));
  if (v == nullptr) return out;
  if (!v->is_array()) return Unauthenticated(base::StrCat("claim ", name, " is not an array"));
  for (const boost::json::value& e : v->get_array()) {
    if (!e.is_string()) {
      return Unauthenticated(base::StrCat("claim ", name, " holds a non-string"));
    }
    out.emplace_back(e.get_string().data(), e.get_string().size());
  }
  return out;
}

bool IsRegistered(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "iss", "sub", "aud", "org", "jti", "roles", "scopes", "iat", "exp", "nbf"};
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

boost::json::array ToJsonArray(const std::vector<std::string>& v) {
  boost::json::array a;
  a.reserve(v.size());
  for (const std::string& s : v) a.emplace_back(boost::json::string_view(s.data(), s.size()));
  return a;
}

std::string Shorten(std::string_view s) {
  return s.size() <= 64 ? std::string(s) : std::string(s.substr(0, 64)) + "...";
}

}  // namespace

// ---- tokens

std::string SignJwt(const Ed25519PrivateKey& key, std::string_view kid, const JwtClaims& claims) {
  boost::json::object header;
  header["alg"] = "EdDSA";
  header["typ"] = "JWT";
  header["kid"] = boost::json::string_view(kid.data(), kid.size());

  boost::json::object body;
  body["iss"] = claims.iss;
  body["sub"] = claims.sub;
  body["aud"] = claims.aud;
  if (!claims.org.empty()) body["org"] = claims.org;
  if (!claims.jti.empty()) body["jti"] = claims.jti;
  if (!claims.roles.empty()) body["roles"] = ToJsonArray(claims.roles);
  if (!claims.scopes.empty()) body["scopes"] = ToJsonArray(claims.scopes);
  body["iat"] = absl::ToUnixSeconds(claims.iat);
  body["exp"] = absl::ToUnixSeconds(claims.exp);
  for (const auto& [name, value] : claims.extra) {
    if (!IsRegistered(std::string_view(name.data(), name.size()))) body[name] = value;
  }

  std::string out = base::StrCat(base::Base64UrlEncode(boost::json::serialize(header)), ".",
                                 base::Base64UrlEncode(boost::json::serialize(body)));
  std::string sig = key.Sign(out);
  base::StrAppend(&out, ".", base::Base64UrlEncode(sig));
  return out;
}

// ---- JwtVerifier

absl::StatusOr<JwtVerifier> JwtVerifier::FromJwks(std::string_view jwks_json, bool allow_empty) {
  EV_ASSIGN_OR_RETURN(auto keys, ParseEd25519Jwks(jwks_json, allow_empty));
  JwtVerifier verifier;
  for (auto& [kid, key] : keys) verifier.AddKey(std::move(kid), std::move(key));
  return verifier;
}

void JwtVerifier::AddKey(std::string kid, Ed25519PublicKey key) {
  keys_.insert_or_assign(std::move(kid), std::move(key));
}

absl::StatusOr<JwtClaims> JwtVerifier::Verify(std::string_view token, absl::Time now,
                                              std::string_view expected_iss,
                                              std::string_view expected_aud) const {
  if (token.size() > kMaxTokenSize) return Unauthenticated("token too large");
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated("not three dot-separated parts");
  }
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = token.substr(dot2 + 1);

  // Header: fixed algorithm, no extensions, a key we know.
  EV_ASSIGN_OR_RETURN(std::string header_json, DecodePart(header_b64, "header"));
  EV_ASSIGN_OR_RETURN(boost::json::object header, ParseObject(header_json, "header"));
  const boost::json::value* alg = header.if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->get_string() != "EdDSA") {
    std::string got = alg != nullptr && alg->is_string()
                          ? std::string(alg->get_string().data(), alg->get_string().size())
                          : std::string("(missing)");
    return Unauthenticated(base::StrCat("alg ", Shorten(got), " is not allowed (only EdDSA)"));
  }
  if (header.contains("crit")) return Unauthenticated("crit header is not supported");
  const boost::json::value* kid_v = header.if_contains("kid");
  if (kid_v == nullptr || !kid_v->is_string()) return Unauthenticated("missing kid header");
  std::string_view kid(kid_v->get_string().data(), kid_v->get_string().size());
  auto key = keys_.find(kid);
  if (key == keys_.end()) {
    return absl::NotFoundError(base::StrCat("unknown key id \"", Shorten(kid),
                                            "\"; refresh the JWKS and retry"));
  }

  EV_ASSIGN_OR_RETURN(std::string sig, DecodePart(sig_b64, "signature"));
  if (!key->second.Verify(token.substr(0, dot2), sig)) return Unauthenticated("bad signature");

  // Claims (only now that they are known to come from the issuer).
  EV_ASSIGN_OR_RETURN(std::string payload_json, DecodePart(payload_b64, "payload"));
  EV_ASSIGN_OR_RETURN(boost::json::object payload, ParseObject(payload_json, "payload"));
  JwtClaims c;
  const boost::json::value* exp = payload.if_contains("exp");
  const boost::json::value* iat = payload.if_contains("iat");
  if (exp == nullptr) return Unauthenticated("missing claim exp");
  if (iat == nullptr) return Unauthenticated("missing claim iat");
  EV_ASSIGN_OR_RETURN(c.exp, NumericDate(*exp, "exp"));
  EV_ASSIGN_OR_RETURN(c.iat, NumericDate(*iat, "iat"));
  if (c.exp <= now - kJwtLeeway) return Unauthenticated("token expired");
  if (c.iat > now + kJwtLeeway) return Unauthenticated("token issued in the future (iat)");
  if (const boost::json::value* nbf = payload.if_contains("nbf")) {
    EV_ASSIGN_OR_RETURN(absl::Time t, NumericDate(*nbf, "nbf"));
    if (t > now + kJwtLeeway) return Unauthenticated("token not yet valid (nbf)");
  }
  EV_ASSIGN_OR_RETURN(c.sub, StringClaim(payload, "sub", /*required=*/true));
  if (c.sub.empty()) return Unauthenticated("empty claim sub");
  EV_ASSIGN_OR_RETURN(c.iss, StringClaim(payload, "iss", /*required=*/true));
  if (c.iss != expected_iss) {
    return Unauthenticated(base::StrCat("wrong issuer \"", Shorten(c.iss), "\""));
  }
  const boost::json::value* aud = payload.if_contains("aud");
  bool aud_ok = false;
  if (aud != nullptr && aud->is_string()) {
    aud_ok = aud->get_string() == boost::json::string_view(expected_aud.data(), expected_aud.size());
  } else if (aud != nullptr && aud->is_array()) {
    for (const boost::json::value& a : aud->get_array()) {
      if (a.is_string() &&
          a.get_string() == boost::json::string_view(expected_aud.data(), expected_aud.size())) {
        aud_ok = true;
      }
    }
  }
  if (!aud_ok) {
    return Unauthenticated(base::StrCat("audience does not include \"", expected_aud, "\""));
  }
  c.aud = std::string(expected_aud);
  EV_ASSIGN_OR_RETURN(c.org, StringClaim(payload, "org", /*required=*/false));
  EV_ASSIGN_OR_RETURN(c.jti, StringClaim(payload, "jti", /*required=*/false));
  EV_ASSIGN_OR_RETURN(c.roles, StringArrayClaim(payload, "roles"));
  EV_ASSIGN_OR_RETURN(c.scopes, StringArrayClaim(payload, "scopes"));
  for (const auto& [name, value] : payload) {
    if (!IsRegistered(std::string_view(name.data(), name.size()))) c.extra[name] = value;
  }
  return c;
}

}  // namespace edgevault::crypto
