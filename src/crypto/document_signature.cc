#include "src/crypto/document_signature.h"

#include <boost/json.hpp>

#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/jwks.h"

namespace edgevault::crypto {
namespace {

constexpr size_t kSignatureBytes = 64;
// A kid is an RFC 7638 thumbprint (43 characters); anything far longer is not ours.
constexpr size_t kMaxKidBytes = 128;

bool IsBase64UrlText(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Only the canonical unpadded spelling of exactly 64 bytes: one signature, one text.
absl::StatusOr<DocumentSignature> Make(std::string_view kid, std::string_view sig_text) {
  if (kid.empty() || kid.size() > kMaxKidBytes || !IsBase64UrlText(kid)) {
    return absl::InvalidArgumentError("document signature: the kid is not a key id");
  }
  absl::StatusOr<std::string> raw = base::Base64UrlDecode(sig_text);
  if (!raw.ok() || raw->size() != kSignatureBytes || base::Base64UrlEncode(*raw) != sig_text) {
    return absl::InvalidArgumentError(
        "document signature: sig is not the unpadded base64url of 64 bytes");
  }
  return DocumentSignature{std::string(kid), *std::move(raw)};
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

absl::Status NotExpected(std::string_view what) {
  return absl::FailedPreconditionError(
      base::StrCat("the signed document is not the one expected: ", what));
}

}  // namespace

std::string DocumentSigningInput(std::string_view document) {
  std::string input;
  input.reserve(kDocumentSignatureContext.size() + document.size());
  input.append(kDocumentSignatureContext).append(document);
  return input;
}

std::string FormatStoredDocumentSignature(const DocumentSignature& s) {
  return base::StrCat(s.kid, ".", base::Base64UrlEncode(s.signature));
}

absl::StatusOr<DocumentSignature> ParseStoredDocumentSignature(std::string_view value) {
  const size_t dot = value.find('.');
  if (dot == std::string_view::npos) {
    return absl::InvalidArgumentError("document signature: expected <kid>.<sig>");
  }
  return Make(value.substr(0, dot), value.substr(dot + 1));
}

std::string FormatDocumentSignatureHeader(const DocumentSignature& s) {
  return base::StrCat("kid=", s.kid, "; sig=", base::Base64UrlEncode(s.signature));
}

absl::StatusOr<DocumentSignature> ParseDocumentSignatureHeader(std::string_view value) {
  std::string_view kid, sig;
  bool have_kid = false, have_sig = false;
  for (std::string_view part : base::Split(value, ';')) {
    part = TrimSpaces(part);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError("document signature: expected kid=<kid>; sig=<sig>");
    }
    std::string_view name = TrimSpaces(part.substr(0, eq));
    std::string_view v = TrimSpaces(part.substr(eq + 1));
    if (name == "kid" && !have_kid) {
      kid = v;
      have_kid = true;
    } else if (name == "sig" && !have_sig) {
      sig = v;
      have_sig = true;
    } else {
      return absl::InvalidArgumentError(
          base::StrCat("document signature: unexpected or repeated parameter \"", name, "\""));
    }
  }
  if (!have_kid || !have_sig) {
    return absl::InvalidArgumentError("document signature: both kid= and sig= are required");
  }
  return Make(kid, sig);
}

absl::StatusOr<DocumentVerifier> DocumentVerifier::FromJwks(std::string_view jwks_json) {
  EV_ASSIGN_OR_RETURN(auto keys, ParseEd25519Jwks(jwks_json));
  DocumentVerifier verifier;
  for (auto& [kid, key] : keys) verifier.AddKey(std::move(kid), std::move(key));
  return verifier;
}

void DocumentVerifier::AddKey(std::string kid, Ed25519PublicKey key) {
  keys_.insert_or_assign(std::move(kid), std::move(key));
}

absl::StatusOr<VerifiedDocument> DocumentVerifier::Verify(std::string_view document,
                                                          const DocumentSignature& signature,
                                                          const DocumentExpectation& expect) const {
  auto key = keys_.find(signature.kid);
  if (key == keys_.end()) {
    return absl::NotFoundError(
        base::StrCat("unknown document-signing key \"", signature.kid.substr(0, kMaxKidBytes),
                     "\": not among the pinned keys"));
  }
  if (!key->second.Verify(DocumentSigningInput(document), signature.signature)) {
    return absl::UnauthenticatedError(
        base::StrCat("the document's signature does not verify under key ", signature.kid));
  }
  // Signed by the control plane; now make sure it is the document that was asked for.
  boost::system::error_code ec;
  boost::json::value v =
      boost::json::parse(boost::json::string_view(document.data(), document.size()), ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return NotExpected("not a JSON object");
  auto member = [&](std::string_view name) { return o->if_contains(name); };
  const boost::json::value* format = member("format");
  if (format == nullptr || !format->is_int64() || format->get_int64() != 1) {
    return NotExpected("format is not 1");
  }
  auto string_is = [&](std::string_view name, std::string_view want) {
    const boost::json::value* m = member(name);
    return m != nullptr && m->is_string() && std::string_view(m->get_string()) == want;
  };
  if (!expect.workspace_id.empty() && !string_is("workspace_id", expect.workspace_id)) {
    return NotExpected(base::StrCat("it is not workspace ", expect.workspace_id, "'s"));
  }
  if (!expect.environment.empty() && !string_is("environment", expect.environment)) {
    return NotExpected(base::StrCat("it is not environment ", expect.environment, "'s"));
  }
  const bool is_client = string_is("audience", "client");
  if (is_client != expect.client || (!is_client && member("audience") != nullptr)) {
    return NotExpected(expect.client ? "a client document was expected"
                                     : "a full document was expected");
  }
  const boost::json::value* version = member("version");
  if (version == nullptr || !version->is_int64() || version->get_int64() < 0) {
    return NotExpected("it has no version");
  }
  if (version->get_int64() < expect.min_version) {
    return NotExpected(base::StrCat("version ", version->get_int64(), " is older than ",
                                    expect.min_version, " (a replayed document)"));
  }
  return VerifiedDocument{signature.kid, version->get_int64()};
}

}  // namespace edgevault::crypto
