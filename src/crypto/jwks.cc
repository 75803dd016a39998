#include "src/crypto/jwks.h"

#include <boost/json.hpp>

#include "src/base/encoding.h"

namespace edgevault::crypto {

std::string JwksJson(const std::vector<std::pair<std::string, Ed25519PublicKey>>& keys) {
  boost::json::array arr;
  for (const auto& [kid, key] : keys) {
    boost::json::object k;
    k["kty"] = "OKP";
    k["crv"] = "Ed25519";
    k["x"] = base::Base64UrlEncode(key.Raw());
    k["kid"] = kid;
    k["use"] = "sig";
    k["alg"] = "EdDSA";
    arr.emplace_back(std::move(k));
  }
  boost::json::object root;
  root["keys"] = std::move(arr);
  return boost::json::serialize(root);
}

absl::StatusOr<std::vector<std::pair<std::string, Ed25519PublicKey>>> ParseEd25519Jwks(
    std::string_view jwks_json, bool allow_empty) {
  boost::system::error_code ec;
  boost::json::value v =
      boost::json::parse(boost::json::string_view(jwks_json.data(), jwks_json.size()), ec);
  const boost::json::array* keys = nullptr;
  if (!ec && v.is_object()) {
    if (const boost::json::value* k = v.get_object().if_contains("keys")) keys = k->if_array();
  }
  if (keys == nullptr) {
    return absl::InvalidArgumentError("JWKS is not a JSON object with a \"keys\" array");
  }
  auto str = [](const boost::json::object& o, const char* name) -> std::string_view {
    const boost::json::value* m = o.if_contains(name);
    if (m == nullptr || !m->is_string()) return {};
    return std::string_view(m->get_string().data(), m->get_string().size());
  };
  std::vector<std::pair<std::string, Ed25519PublicKey>> out;
  for (const boost::json::value& entry : *keys) {
    const boost::json::object* o = entry.if_object();
    if (o == nullptr) continue;
    if (str(*o, "kty") != "OKP" || str(*o, "crv") != "Ed25519") continue;
    if (o->contains("use") && str(*o, "use") != "sig") continue;
    if (o->contains("alg") && str(*o, "alg") != "EdDSA") continue;
    absl::StatusOr<std::string> raw = base::Base64UrlDecode(str(*o, "x"));
    if (!raw.ok()) continue;
    absl::StatusOr<Ed25519PublicKey> key = Ed25519PublicKey::FromRaw(*raw);
    if (!key.ok()) continue;
    std::string kid(str(*o, "kid"));
    if (kid.empty()) kid = key->Kid();
    out.emplace_back(std::move(kid), *std::move(key));
  }
  if (out.empty() && !(allow_empty && keys->empty())) {
    return absl::InvalidArgumentError("JWKS holds no usable OKP/Ed25519 signing key");
  }
  return out;
}

}  // namespace edgevault::crypto
