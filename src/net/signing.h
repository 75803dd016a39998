#pragma once
// Internal request signing for service-to-service calls ("service bindings"). Every
// service holds its own Ed25519 credential (a private key only it reads) and signs its
// calls with it; the callee checks the signature against the caller's public key from the
// trust directory and then the route's list of allowed callers. So a service can call
// only the routes that name it: a compromised delivery node, whose credential no write
// route lists, can sign requests but not mint keys or forge audit attribution.
// Free functions and key objects are thread-compatible; SignatureVerifier is thread-safe.
//
//   // caller (HttpClient does this when HttpClientOptions::credential is set)
//   SignedHeaders h = Sign(credential, "auth", "POST", "/internal/v1/sdk-keys", body,
//                          env->Now(), env);
//   // callee
//   SignatureVerifier verifier("auth", TrustDirLoader(env, trust_dir));
//   EV_ASSIGN_OR_RETURN(std::string caller,
//                       verifier.Verify(method, target, caller_h, ts, nonce, sig, body, now));
//   if (!RouteAllows(route, caller)) -> 403
//
// Wire format (spec: docs/design/internal-signing.md):
//   X-EV-Caller:    the calling service's name ("api", ...).
//   X-EV-Timestamp: unix seconds, decimal ASCII, no sign, no leading '+'.
//   X-EV-Nonce:     16 random bytes as 32 lower-case hex characters.
//   X-EV-Signature: Ed25519(caller's key, canonical) as 128 lower-case hex characters,
//   canonical = "EV-SIG-2" '\n' caller '\n' audience '\n' method '\n' target '\n'
//               timestamp '\n' nonce '\n' hex(SHA-256(body))
//   with audience the callee's service name (so a request signed for one service cannot
//   be replayed to another), method and target exactly as on the request line.
// Only these headers, the request line and the body are covered: any other header
// (Content-Type, an acting-user header, ...) can be altered in transit.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/time/time.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/crypto/ed25519.h"

namespace edgevault::net {

inline constexpr std::string_view kCallerHeader = "X-EV-Caller";
inline constexpr std::string_view kTimestampHeader = "X-EV-Timestamp";
inline constexpr std::string_view kNonceHeader = "X-EV-Nonce";
inline constexpr std::string_view kSignatureHeader = "X-EV-Signature";

// Every service holds a credential (base::kServiceNames); true for those names.
bool IsServiceName(std::string_view name);

// Where a service's private key lives: KEYS_DIR/services/<service>.pem (0600, directory
// 0700), and its public key: TRUST_DIR/<service>.pub. docs/design/key-files.md.
std::string ServiceCredentialPath(std::string_view keys_dir, std::string_view service);
std::string TrustedKeyPath(std::string_view trust_dir, std::string_view service);

// One service's own signing key.
class ServiceCredential {
 public:
  // `pem`: an Ed25519 PKCS#8 private key. Errors: InvalidArgument for an unknown service
  // name or a PEM that is not an Ed25519 private key.
  static absl::StatusOr<ServiceCredential> FromPem(std::string_view service, std::string_view pem);
  // Errors: InvalidArgument for an unknown service name.
  static absl::StatusOr<ServiceCredential> FromKey(std::string_view service,
                                                   crypto::Ed25519PrivateKey key);
  // Reads the key file at `path`. Errors, each naming `path`: the Env's for a missing or
  // unreadable file; PermissionDenied when the file grants any permission to group or
  // others (the message says to chmod 600); InvalidArgument for bad content.
  static absl::StatusOr<ServiceCredential> Load(base::Env* env, const std::string& path,
                                                std::string_view service);

  const std::string& service() const { return service_; }
  const crypto::Ed25519PrivateKey& key() const { return key_; }
  // The public half as TRUST_DIR/<service>.pub holds it (SubjectPublicKeyInfo PEM).
  absl::StatusOr<std::string> PublicKeyPem() const;

 private:
  ServiceCredential(std::string service, crypto::Ed25519PrivateKey key)
      : service_(std::move(service)), key_(std::move(key)) {}
  std::string service_;
  crypto::Ed25519PrivateKey key_;
};

// The public keys a callee trusts, by service name.
class ServiceTrust {
 public:
  // Reads TRUST_DIR/<service>.pub for every name in base::kServiceNames; a missing file means
  // that service is not trusted, a missing directory trusts nobody. Errors:
  // PermissionDenied when the directory or a file is writable by group or others (anyone
  // who can write there could add a caller); InvalidArgument naming a malformed file.
  static absl::StatusOr<ServiceTrust> LoadDir(base::Env* env, const std::string& dir);

  // Errors: InvalidArgument for an unknown service name or a malformed PEM.
  absl::Status Add(std::string_view service, std::string_view public_pem);
  void Add(std::string_view service, crypto::Ed25519PublicKey key);
  // nullptr when `service` has no trusted key.
  const crypto::Ed25519PublicKey* Find(std::string_view service) const;
  size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, crypto::Ed25519PublicKey, std::less<>> keys_;
};

// The four header values for one request. Send them with the names above.
struct SignedHeaders {
  std::string caller;
  std::string timestamp;
  std::string nonce;
  std::string signature;
};

// Signs one request to `audience` at time `now` with a fresh nonce from `env`. `method` and
// `target` must be sent exactly as given (no re-encoding of the target afterwards).
SignedHeaders Sign(const ServiceCredential& credential, std::string_view audience,
                   std::string_view method, std::string_view target, std::string_view body,
                   absl::Time now, base::Env* env);

// The bytes signed (exposed for the spec's test vector and the tests).
std::string CanonicalRequest(std::string_view caller, std::string_view audience,
                             std::string_view method, std::string_view target,
                             std::string_view timestamp, std::string_view nonce,
                             std::string_view body);

struct SignatureVerifierOptions {
  // A request is accepted while |now - timestamp| <= window.
  absl::Duration window = absl::Seconds(60);
  // Upper bound on remembered nonces. When it is reached (after expiring old ones),
  // Verify fails closed with ResourceExhausted rather than forget a live nonce.
  // Only validly signed requests add nonces, so only key holders can fill it.
  size_t max_nonces = 1 << 20;
  // With a loader, the trust is re-read when a request arrives at least this long after
  // the last read: a key added, replaced (rotation) or removed (revocation) in the trust
  // directory takes effect within this time, without a restart.
  absl::Duration trust_refresh = absl::Seconds(2);
};

// Reads the trust directory (ServiceTrust::LoadDir) each time it is called.
using TrustLoader = std::function<absl::StatusOr<ServiceTrust>()>;
TrustLoader TrustDirLoader(base::Env* env, std::string dir);

// Checks signed requests addressed to one service and rejects replays. A nonce is
// remembered until its request's timestamp leaves the window (timestamp + window), which is
// exactly as long as a replay of it could otherwise pass the timestamp check. Thread-safe.
class SignatureVerifier {
 public:
  // `audience`: the name of the service that verifies. A fixed trust never changes.
  SignatureVerifier(std::string audience, ServiceTrust trust, SignatureVerifierOptions options = {});
  // Loads the trust now and re-loads it as options.trust_refresh says. Errors: the
  // loader's.
  static absl::StatusOr<std::unique_ptr<SignatureVerifier>> WithLoader(
      std::string audience, TrustLoader loader, absl::Time now, SignatureVerifierOptions options = {});

  SignatureVerifier(const SignatureVerifier&) = delete;
  SignatureVerifier& operator=(const SignatureVerifier&) = delete;

  // The calling service's name when the headers carry a valid, fresh, first-seen
  // signature by that service over this request to this audience. Whether that caller may
  // call the route is the caller's business (RouteOptions::internal_callers).
  // Errors: Unauthenticated with a message saying which check failed ("missing X-EV-Caller
  // header", "unknown caller", "malformed X-EV-Timestamp", "stale X-EV-Timestamp ...",
  // "no trusted key for caller ...", "bad signature", "replayed nonce");
  // ResourceExhausted when the replay cache is full.
  absl::StatusOr<std::string> Verify(std::string_view method, std::string_view target,
                                     std::string_view caller_header,
                                     std::string_view timestamp_header,
                                     std::string_view nonce_header,
                                     std::string_view signature_header, std::string_view body,
                                     absl::Time now);

  const std::string& audience() const { return audience_; }
  // Nonces currently remembered (for tests and metrics).
  size_t RememberedNonces();

 private:
  using Nonce = std::array<uint8_t, 16>;
  struct NonceHash {
    size_t operator()(const Nonce& n) const;
  };
  struct Entry {
    absl::Time expires;  // forget the nonce once now > expires
    Nonce nonce;
  };
  // Makes std::push_heap/pop_heap keep the earliest expiry on top.
  struct LaterExpiry {
    bool operator()(const Entry& a, const Entry& b) const { return a.expires > b.expires; }
  };

  SignatureVerifier(std::string audience, ServiceTrust trust, TrustLoader loader,
                    absl::Time loaded_at, SignatureVerifierOptions options);
  void ExpireLocked(absl::Time now);
  std::shared_ptr<const ServiceTrust> CurrentTrust(absl::Time now);

  const std::string audience_;
  const SignatureVerifierOptions options_;
  const TrustLoader loader_;  // may be empty (fixed trust)

  std::mutex trust_mu_;
  std::shared_ptr<const ServiceTrust> trust_;  // guarded by trust_mu_
  absl::Time trust_loaded_at_;                 // guarded by trust_mu_

  std::mutex mu_;
  std::unordered_set<Nonce, NonceHash> seen_;  // guarded by mu_
  std::vector<Entry> expiry_heap_;             // guarded by mu_; a heap under LaterExpiry
};

}  // namespace edgevault::net
