#include "src/net/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <span>
#include <utility>

#include "src/base/check.h"
#include "src/base/strings.h"

namespace edgevault::net {
namespace {

constexpr size_t kNonceBytes = 16;
constexpr size_t kSha256Bytes = 32;
constexpr size_t kSignatureBytes = 64;
constexpr char kHexDigits[] = "0123456789abcdef";

std::string HexEncode(const uint8_t* data, size_t n) {
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0xf];
  }
  return out;
}

int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes exactly 2 * out.size() lower-case hex characters. False on anything else.
bool DecodeLowerHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = LowerHexValue(hex[2 * i]);
    int lo = LowerHexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

// Unix seconds as written by Sign: 1 to 18 ASCII digits (18 keeps it far from overflow).
bool ParseTimestamp(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string Sha256Hex(std::string_view data) {
  uint8_t digest[kSha256Bytes];
  unsigned int len = 0;
  // Fails only on allocation failure inside OpenSSL; nothing sensible to continue with.
  EV_CHECK(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) == 1);
  EV_CHECK(len == kSha256Bytes);
  return HexEncode(digest, sizeof digest);
}

// "0644" for mode 0644.
std::string OctalMode(uint32_t mode) {
  char buf[12];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, mode, 8);
  std::string digits(buf, end);
  return std::string(digits.size() < 4 ? 4 - digits.size() : 0, '0') + digits;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

absl::Status Unauthenticated(std::string_view what) {
  return absl::UnauthenticatedError(base::StrCat("internal request signature: ", what));
}

}  // namespace


bool IsServiceName(std::string_view name) {
  for (std::string_view n : base::kServiceNames) {
    if (n == name) return true;
  }
  return false;
}

std::string ServiceCredentialPath(std::string_view keys_dir, std::string_view service) {
  return base::StrCat(keys_dir, "/services/", service, ".pem");
}

std::string TrustedKeyPath(std::string_view trust_dir, std::string_view service) {
  return base::StrCat(trust_dir, "/", service, ".pub");
}

absl::StatusOr<ServiceCredential> ServiceCredential::FromPem(std::string_view service,
                                                             std::string_view pem) {
  EV_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey key, crypto::Ed25519PrivateKey::FromPem(pem));
  return FromKey(service, std::move(key));
}

absl::StatusOr<ServiceCredential> ServiceCredential::FromKey(std::string_view service,
                                                             crypto::Ed25519PrivateKey key) {
  if (!IsServiceName(service)) {
    return absl::InvalidArgumentError(base::StrCat("unknown service name \"", service, "\""));
  }
  return ServiceCredential(std::string(service), std::move(key));
}

absl::StatusOr<ServiceCredential> ServiceCredential::Load(base::Env* env, const std::string& path,
                                                          std::string_view service) {
  absl::StatusOr<uint32_t> mode = env->FileMode(path);
  if (!mode.ok()) {
    return absl::Status(mode.status().code(),
                        base::StrCat("credential of service ", service, ": ", mode.status().message(),
                                     "; `edgevault up` creates it, or restore it from your backup"));
  }
  if ((*mode & 077) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat("credential file ", path, " has mode ", OctalMode(*mode),
                     ", which lets group or others access it; run `chmod 600 ", path, "`"));
  }
  EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  absl::StatusOr<ServiceCredential> c = FromPem(service, text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!c.ok()) {
    // Never echo the text: it is (nearly) a private key.
    return absl::InvalidArgumentError(
        base::StrCat("credential file ", path, " is not an Ed25519 PKCS#8 PEM private key (",
                     c.status().message(), ")"));
  }
  return c;
}

absl::StatusOr<std::string> ServiceCredential::PublicKeyPem() const {
  return key_.PublicKey().ToPem();
}

absl::StatusOr<ServiceTrust> ServiceTrust::LoadDir(base::Env* env, const std::string& dir) {
  ServiceTrust trust;
  if (!env->Exists(dir)) return trust;
  EV_ASSIGN_OR_RETURN(uint32_t dir_mode, env->FileMode(dir));
  if ((dir_mode & 022) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat("trust directory ", dir, " has mode ", OctalMode(dir_mode),
                     ", which lets group or others add keys; run `chmod 755 ", dir, "`"));
  }
  for (std::string_view service : base::kServiceNames) {
    const std::string path = TrustedKeyPath(dir, service);
    if (!env->Exists(path)) continue;
    EV_ASSIGN_OR_RETURN(uint32_t mode, env->FileMode(path));
    if ((mode & 022) != 0) {
      return absl::PermissionDeniedError(
          base::StrCat("trusted key ", path, " has mode ", OctalMode(mode),
                       ", which lets group or others replace it; run `chmod 644 ", path, "`"));
    }
    EV_ASSIGN_OR_RETURN(std::string pem, env->ReadFile(path));
    if (absl::Status st = trust.Add(service, pem); !st.ok()) {
      return absl::InvalidArgumentError(base::StrCat("trusted key ", path, ": ", st.message()));
    }
  }
  return trust;
}

absl::Status ServiceTrust::Add(std::string_view service, std::string_view public_pem) {
  if (!IsServiceName(service)) {
    return absl::InvalidArgumentError(base::StrCat("unknown service name \"", service, "\""));
  }
  EV_ASSIGN_OR_RETURN(crypto::Ed25519PublicKey key, crypto::Ed25519PublicKey::FromPem(public_pem));
  Add(service, std::move(key));
  return absl::OkStatus();
}

void ServiceTrust::Add(std::string_view service, crypto::Ed25519PublicKey key) {
  keys_.insert_or_assign(std::string(service), std::move(key));
}

const crypto::Ed25519PublicKey* ServiceTrust::Find(std::string_view service) const {
  auto it = keys_.find(service);
  return it == keys_.end() ? nullptr : &it->second;
}

std::string CanonicalRequest(std::string_view caller, std::string_view audience,
                             std::string_view method, std::string_view target,
                             std::string_view timestamp, std::string_view nonce,
                             std::string_view body) {
  return base::StrCat("EV-SIG-2\n", caller, "\n", audience, "\n", method, "\n", target, "\n",
                      timestamp, "\n", nonce, "\n", Sha256Hex(body));
}

SignedHeaders Sign(const ServiceCredential& credential, std::string_view audience,
                   std::string_view method, std::string_view target, std::string_view body,
                   absl::Time now, base::Env* env) {
  EV_DCHECK(!HasLineBreak(method) && !HasLineBreak(target));
  SignedHeaders out;
  out.caller = credential.service();
  out.timestamp = base::StrCat(absl::ToUnixSeconds(now));
  out.nonce = env->RandomHex(kNonceBytes);
  std::string sig = credential.key().Sign(
      CanonicalRequest(out.caller, audience, method, target, out.timestamp, out.nonce, body));
  out.signature = HexEncode(reinterpret_cast<const uint8_t*>(sig.data()), sig.size());
  return out;
}

TrustLoader TrustDirLoader(base::Env* env, std::string dir) {
  return [env, dir = std::move(dir)] { return ServiceTrust::LoadDir(env, dir); };
}

size_t SignatureVerifier::NonceHash::operator()(const Nonce& n) const {
  // Nonces are random and only key holders can insert them, so no flooding concern.
  size_t h;
  std::memcpy(&h, n.data(), sizeof h);
  return h;
}

SignatureVerifier::SignatureVerifier(std::string audience, ServiceTrust trust,
                                     SignatureVerifierOptions options)
    : SignatureVerifier(std::move(audience), std::move(trust), TrustLoader(),
                        absl::InfiniteFuture(), options) {}

SignatureVerifier::SignatureVerifier(std::string audience, ServiceTrust trust, TrustLoader loader,
                                     absl::Time loaded_at, SignatureVerifierOptions options)
    : audience_(std::move(audience)),
      options_(options),
      loader_(std::move(loader)),
      trust_(std::make_shared<const ServiceTrust>(std::move(trust))),
      trust_loaded_at_(loaded_at) {
  EV_CHECK(options_.window > absl::ZeroDuration());
}

absl::StatusOr<std::unique_ptr<SignatureVerifier>> SignatureVerifier::WithLoader(
    std::string audience, TrustLoader loader, absl::Time now, SignatureVerifierOptions options) {
  EV_ASSIGN_OR_RETURN(ServiceTrust first, loader());
  return std::unique_ptr<SignatureVerifier>(new SignatureVerifier(
      std::move(audience), std::move(first), std::move(loader), now, options));
}

std::shared_ptr<const ServiceTrust> SignatureVerifier::CurrentTrust(absl::Time now) {
  std::lock_guard lock(trust_mu_);
  if (loader_ && now - trust_loaded_at_ >= options_.trust_refresh) {
    // A failed re-read (a file being replaced, a bad mode) keeps the last good trust and
    // is tried again at the next refresh; the start-up load already proved the setup.
    absl::StatusOr<ServiceTrust> fresh = loader_();
    if (fresh.ok()) trust_ = std::make_shared<const ServiceTrust>(*std::move(fresh));
    trust_loaded_at_ = now;
  }
  return trust_;
}

absl::StatusOr<std::string> SignatureVerifier::Verify(
    std::string_view method, std::string_view target, std::string_view caller_header,
    std::string_view timestamp_header, std::string_view nonce_header,
    std::string_view signature_header, std::string_view body, absl::Time now) {
  if (caller_header.empty()) return Unauthenticated("missing X-EV-Caller header");
  if (timestamp_header.empty()) return Unauthenticated("missing X-EV-Timestamp header");
  if (nonce_header.empty()) return Unauthenticated("missing X-EV-Nonce header");
  if (signature_header.empty()) return Unauthenticated("missing X-EV-Signature header");
  if (!IsServiceName(caller_header)) return Unauthenticated("unknown caller in X-EV-Caller");
  // The canonical string separates fields by '\n'; a field containing one could shift them.
  if (method.empty() || target.empty() || HasLineBreak(method) || HasLineBreak(target)) {
    return Unauthenticated("malformed request line");
  }
  int64_t timestamp;
  if (!ParseTimestamp(timestamp_header, &timestamp)) {
    return Unauthenticated("malformed X-EV-Timestamp (want unix seconds in decimal digits)");
  }
  Nonce nonce;
  if (!DecodeLowerHex(nonce_header, nonce)) {
    return Unauthenticated("malformed X-EV-Nonce (want 32 lower-case hex characters)");
  }
  std::array<uint8_t, kSignatureBytes> presented;
  if (!DecodeLowerHex(signature_header, presented)) {
    return Unauthenticated("malformed X-EV-Signature (want 128 lower-case hex characters)");
  }

  const absl::Time signed_at = absl::FromUnixSeconds(timestamp);
  const absl::Duration skew = now - signed_at;
  if (skew > options_.window || skew < -options_.window) {
    return Unauthenticated(base::StrCat(
        "stale X-EV-Timestamp: ", absl::FormatDuration(absl::AbsDuration(skew)),
        skew > absl::ZeroDuration() ? " behind" : " ahead of", " this server's clock, outside the ",
        absl::FormatDuration(options_.window), " window; check clock sync between the hosts"));
  }

  std::shared_ptr<const ServiceTrust> trust = CurrentTrust(now);
  const crypto::Ed25519PublicKey* key = trust->Find(caller_header);
  if (key == nullptr) {
    return Unauthenticated(base::StrCat("no trusted key for caller \"", caller_header,
                                        "\" (its .pub file is missing from the trust directory)"));
  }
  std::string canonical = CanonicalRequest(caller_header, audience_, method, target,
                                           timestamp_header, nonce_header, body);
  if (!key->Verify(canonical, std::string_view(reinterpret_cast<const char*>(presented.data()),
                                               presented.size()))) {
    return Unauthenticated(
        "bad signature (wrong key or audience, or request altered after signing)");
  }

  std::lock_guard lock(mu_);
  ExpireLocked(now);
  if (seen_.contains(nonce)) return Unauthenticated("replayed nonce");
  if (seen_.size() >= options_.max_nonces) {
    return absl::ResourceExhaustedError(
        base::StrCat("internal request signature: replay cache full (", seen_.size(),
                     " nonces within the window); rejecting rather than forgetting a live nonce"));
  }
  seen_.insert(nonce);
  expiry_heap_.push_back(Entry{signed_at + options_.window, nonce});
  std::push_heap(expiry_heap_.begin(), expiry_heap_.end(), LaterExpiry());
  return std::string(caller_header);
}

size_t SignatureVerifier::RememberedNonces() {
  std::lock_guard lock(mu_);
  return seen_.size();
}

void SignatureVerifier::ExpireLocked(absl::Time now) {
  while (!expiry_heap_.empty() && expiry_heap_.front().expires < now) {
    std::pop_heap(expiry_heap_.begin(), expiry_heap_.end(), LaterExpiry());
    seen_.erase(expiry_heap_.back().nonce);
    expiry_heap_.pop_back();
  }
}

}  // namespace edgevault::net
