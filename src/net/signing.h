#pragma once
// Internal request signing for service-to-service calls ("service bindings"): the
// caller adds three headers made with a shared 32-byte internal key, the callee checks
// them with a SignatureVerifier. Free functions and InternalKey are thread-compatible;
// SignatureVerifier is thread-safe.
//
//   // caller (HttpClient does this when HttpClientOptions::signing_key is set)
//   SignedHeaders h = Sign(key, "POST", "/internal/v1/propagate?env=prod", body, env->Now(), env);
//   // callee
//   SignatureVerifier verifier(key);
//   EV_RETURN_IF_ERROR(verifier.Verify(method, target, ts, nonce, sig, body, env->Now()));
//
// Wire format (spec: docs/design/internal-signing.md):
//   X-EV-Timestamp: unix seconds, decimal ASCII, no sign, no leading '+'.
//   X-EV-Nonce:     16 random bytes as 32 lower-case hex characters.
//   X-EV-Signature: HMAC-SHA256(key, canonical) as 64 lower-case hex characters, where
//   canonical = method '\n' target '\n' timestamp '\n' nonce '\n' hex(SHA-256(body))
//   with method and target exactly as on the request line (target = path + query).
// Only these three headers and the request line and body are covered: any other header
// (Content-Type, an acting-user header, ...) can be altered in transit.

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/base/status.h"

namespace edgevault::net {

inline constexpr std::string_view kTimestampHeader = "X-EV-Timestamp";
inline constexpr std::string_view kNonceHeader = "X-EV-Nonce";
inline constexpr std::string_view kSignatureHeader = "X-EV-Signature";
inline constexpr size_t kInternalKeySize = 32;

// The shared internal key. Every copy is wiped (OPENSSL_cleanse) when destroyed.
struct InternalKey {
  InternalKey() = default;  // all zero; only useful as an assignment target
  explicit InternalKey(std::span<const uint8_t, kInternalKeySize> key_bytes);
  InternalKey(const InternalKey&) = default;
  InternalKey& operator=(const InternalKey&) = default;
  ~InternalKey();

  std::array<uint8_t, kInternalKeySize> bytes{};
};

// Parses the key file text: exactly 64 lower-case hex characters, optionally followed by
// one '\n'. Errors: InvalidArgument (the message never contains the text).
absl::StatusOr<InternalKey> ParseInternalKey(std::string_view text);

// Reads the key file at `path` (format as ParseInternalKey). Errors, each naming `path`:
// NotFound / PermissionDenied / Internal from the Env; PermissionDenied when the file mode
// grants any permission to group or others (the message says to chmod 600);
// InvalidArgument when the content is malformed.
absl::StatusOr<InternalKey> LoadInternalKey(base::Env* env, const std::string& path);

// The text of a fresh key file (64 hex characters and '\n') drawn from env's random
// source. The caller writes it with mode 0600 and should wipe the string afterwards.
std::string GenerateInternalKeyFile(base::Env* env);

// The three header values for one request. Send them with the names above.
struct SignedHeaders {
  std::string timestamp;
  std::string nonce;
  std::string signature;
};

// Signs one request at time `now` with a fresh nonce from `env`. `method` and `target`
// must be sent exactly as given (no re-encoding of the target afterwards).
SignedHeaders Sign(const InternalKey& key, std::string_view method, std::string_view target,
                   std::string_view body, absl::Time now, base::Env* env);

struct SignatureVerifierOptions {
  // A request is accepted while |now - timestamp| <= window.
  absl::Duration window = absl::Seconds(60);
  // Upper bound on remembered nonces. When it is reached (after expiring old ones),
  // Verify fails closed with ResourceExhausted rather than forget a live nonce.
  // Only validly signed requests add nonces, so only key holders can fill it.
  size_t max_nonces = 1 << 20;
};

// Checks signed requests and rejects replays. A nonce is remembered until its request's
// timestamp leaves the window (timestamp + window), which is exactly as long as a replay
// of it could otherwise pass the timestamp check. Thread-safe.
class SignatureVerifier {
 public:
  explicit SignatureVerifier(const InternalKey& key, SignatureVerifierOptions options = {});

  SignatureVerifier(const SignatureVerifier&) = delete;
  SignatureVerifier& operator=(const SignatureVerifier&) = delete;

  // OK when the headers carry a valid, fresh, first-seen signature over this request.
  // Errors: Unauthenticated with a message saying which check failed ("missing
  // X-EV-Nonce header", "malformed X-EV-Timestamp", "stale X-EV-Timestamp ...",
  // "bad signature", "replayed nonce"); ResourceExhausted when the replay cache is full.
  absl::Status Verify(std::string_view method, std::string_view target,
                      std::string_view timestamp_header, std::string_view nonce_header,
                      std::string_view signature_header, std::string_view body, absl::Time now);

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

  void ExpireLocked(absl::Time now);

  const InternalKey key_;
  const SignatureVerifierOptions options_;

  std::mutex mu_;
  std::unordered_set<Nonce, NonceHash> seen_;  // guarded by mu_
  std::vector<Entry> expiry_heap_;             // guarded by mu_; a heap under LaterExpiry
};

}  // namespace edgevault::net
