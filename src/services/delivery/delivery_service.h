#pragma once
// The delivery service (DESIGN.md §5, docs/delivery.md): serves each environment's resolved
// document from the edge KV as an immutable in-memory snapshot (GET /v1/config, strong
// ETag), streams new versions (GET /v1/stream, SSE) and evaluates flags through OFREP
// (rate-limited per SDK key when DeliveryOptions asks for it: 429 with Retry-After).
// It reads the KV only; it links no decryption code (tests/integration/delivery_boundary_test).
//
//   EV_ASSIGN_OR_RETURN(auto delivery, DeliveryService::Create({.kv = kv}));
//   delivery->Install(router);
//   delivery->Start();   // the stream poll thread
//
// Thread-safety: every handler may run concurrently on any thread. Snapshots are published
// as std::shared_ptr<const Snapshot> and never change; a request holds the one it started
// with. Start/Stop are called from one controlling thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/eval/document.h"
#include "src/eval/evaluator.h"
#include "src/net/router.h"
#include "src/net/sse.h"
#include "src/services/delivery/usage_counters.h"
#include "src/storage/edge_kv.h"
#include "src/storage/rate_limiter.h"

namespace edgevault::delivery {

// One environment's published document, parsed and compiled once per version.
struct Snapshot : eval::CompiledDocument {  // version is the KV entry's
  std::shared_ptr<const std::string> bytes;  // the document, sent as it is
  std::string etag;                          // strong: "<first 32 hex of SHA-256(bytes)>"
  // The api's signature of `bytes` (resolved-document.md §8) as sent in EdgeVault-Signature
  // and the stream's `signature` event: "kid=<kid>; sig=<base64url>"; empty when the KV holds
  // none for this document (a store written without signatures).
  std::string signature;
  std::string signature_kid;
};

// What an SDK key gives access to (the KV's sdk/<sha256> entry).
struct SdkBinding {
  std::string org_id;
  std::string workspace_id;
  std::string environment;
  // A client key ("kind":"client"): reads the environment's client document (client-
  // visible items only) and gets CORS for exactly these origins (normalised, as browsers
  // send `Origin`). Server keys (client == false) never get a CORS header.
  bool client = false;
  std::vector<std::string> origins;
  // The key's edge-KV entry (sdk/<sha256 hex>): gone once the key is revoked.
  std::string kv_key;
};

struct DeliveryOptions {
  storage::EdgeKv* kv = nullptr;  // not owned; must outlive the service
  // How often the stream thread checks the KV for new versions of streamed environments.
  absl::Duration poll_interval = absl::Milliseconds(150);
  // A heartbeat comment is sent to every stream after this many poll ticks (15 s at 150 ms).
  int heartbeat_ticks = 100;
  // OFREP rate limit per SDK key (config delivery.ofrep_rate_limit_per_second / _burst,
  // docs/delivery.md): a token bucket refilled at this many requests per second that holds
  // at most `ofrep_rate_limit_burst` tokens (0 = one second's worth). Beyond it the OFREP
  // endpoints answer 429 with Retry-After. 0 = unlimited (the default).
  int64_t ofrep_rate_limit_per_second = 0;
  int64_t ofrep_rate_limit_burst = 0;
  // Where the OFREP limit is counted (config rate_limit.url, docs/design/rate-limits.md).
  // nullptr: a lock-free TokenBucket per SDK key in this process (each node limits on its
  // own). Otherwise this limiter, shared by every node, under "ofrep:<sha256 hex of the
  // key>"; when it fails (it should not: main.cc passes a FallbackRateLimiter) the key's
  // local bucket decides. Not owned; must outlive the service.
  storage::RateLimiter* shared_rate_limiter = nullptr;
  // The rate limit's clock (MonotonicNow) and the stream poll's periodic task;
  // nullptr = base::Env::Default(). Not owned.
  base::Env* env = nullptr;
  // Runs at the start of every poll (in the poll task): main.cc checks the KV's store
  // there (services::ManagedEdgeKv::Maintain: a damaged store, one the api rebuilt). May be
  // empty.
  std::function<void()> on_poll;
  // Usage counts (docs/design/usage.md): every flag evaluation and SDK request is counted
  // here for the shipper. nullptr = not counted. Not owned.
  UsageCounters* usage = nullptr;
};

// A token bucket as GCRA (storage::GcraTake): one atomic "theoretical arrival time", so
// taking a token is a compare-and-swap, never a lock. `per_second` tokens are added per second, up to `burst`.
// Thread-safety: TryTake may run concurrently from any number of threads.
class TokenBucket {
 public:
  // Values below 1 count as 1.
  TokenBucket(int64_t per_second, int64_t burst);
  // Takes one token at `now` (a monotonic clock reading) and returns zero, or takes none
  // and returns how long until one is available (> 0).
  absl::Duration TryTake(absl::Duration now);

 private:
  const int64_t interval_ns_;   // time one token takes to refill
  const int64_t tolerance_ns_;  // burst * interval: how far ahead of now the bucket may run
  std::atomic<int64_t> tat_ns_{0};
};

// The Retry-After value (whole seconds, >= 1) for a TryTake wait.
using storage::RetryAfterSeconds;

// Response header set when the answer comes from memory because the KV read failed.
inline constexpr std::string_view kStaleHeader = "EdgeVault-Stale";
// Response header carrying the document's signature (GET /v1/config, 200 and 304).
inline constexpr std::string_view kSignatureHeader = "EdgeVault-Signature";
// Where delivery serves the document-signing public keys (the KV's meta/document-keys).
inline constexpr std::string_view kDocumentKeysPath = "/.well-known/edgevault-document-keys.json";

class DeliveryService {
 public:
  // InvalidArgument when kv is null, poll_interval / heartbeat_ticks is not positive, or
  // an OFREP rate-limit setting is negative.
  static absl::StatusOr<std::unique_ptr<DeliveryService>> Create(DeliveryOptions options);
  ~DeliveryService();  // Stops the poll task.

  void Install(net::Router& router);
  // Starts / stops the stream poll, a periodic task of options.env every poll_interval
  // (idempotent).
  void Start();
  void Stop();

  // The handlers (public for tests and benchmarks; Install routes them).
  net::Response HandleConfig(net::Request& req);
  net::Response HandleStream(net::Request& req);
  net::Response HandleEvaluateFlag(net::Request& req);  // needs the {key} param
  net::Response HandleEvaluateBulk(net::Request& req);
  // CORS preflight (OPTIONS) of the /client/{client_key}/... routes: 204 with the
  // Access-Control-Allow-* headers when the path's key is a client key that lists the
  // request's Origin; otherwise an error without any of them (the browser then refuses).
  net::Response HandlePreflight(net::Request& req);
  // GET /.well-known/edgevault-document-keys.json: the JWKS of the document-signing keys,
  // unauthenticated (public keys); the last copy read when the KV cannot be read.
  net::Response HandleDocumentKeys(net::Request& req);

  // The SDK key's binding. Unauthenticated when the key is empty or unknown; the KV's
  // other errors when it cannot be read and the key is not cached.
  absl::StatusOr<SdkBinding> Authenticate(std::string_view sdk_key);

  struct Current {
    std::shared_ptr<const Snapshot> snapshot;
    bool stale = false;  // the KV could not be read; this is the last snapshot held
  };
  // The environment's newest snapshot, rebuilt when the KV holds a newer version.
  // NotFound when the KV has no document for it; the KV's error when it cannot be read
  // and no snapshot is held.
  // `client`: the environment's client document (cdoc/...) instead of the full one.
  absl::StatusOr<Current> SnapshotFor(const std::string& workspace_id,
                                      const std::string& environment, bool client = false);

  // Runs one poll (what the poll thread does each tick): on_poll, then the streamed
  // environments.
  void PollOnce();
  // A new version was written to the KV (the api calls POST /internal/v1/changed, signed,
  // after each propagation): polls now instead of at the next tick. Thread-safe.
  void Notify();
  // Open event streams subscribed to some environment (for tests and status).
  size_t open_streams();

 private:
  struct Subscriber {
    std::shared_ptr<net::SseStream> stream;
    int64_t sent_version = -1;
    std::string key_kv_key;  // the SDK key's KV entry, rechecked while the stream is open
  };
  // Ends every open stream whose SDK key's KV entry is gone (the key was revoked): a
  // stream opened before the revocation hears nothing more. One KV read per distinct key.
  void CloseRevokedStreams();
  struct Topic {
    std::string workspace_id;
    std::string environment;
    bool client = false;
    std::vector<Subscriber> subscribers;
  };
  // An authenticated SDK key, as cached by hash.
  struct Caller {
    SdkBinding binding;
    std::shared_ptr<TokenBucket> bucket;  // null when OFREP is not rate-limited
    std::shared_ptr<const std::string> rate_key;  // the shared limiter's key; null without one
  };
  // What both OFREP handlers need before evaluating.
  struct OfrepCall {
    Caller caller;
    eval::Context context;
  };

  explicit DeliveryService(DeliveryOptions options) : options_(options) {}
  // The poll thread's part of a key rotation: when meta/document-signer names a new active
  // key, the api re-signs every document at its version; held snapshots whose signature is
  // by another key take the re-signed entry as soon as it is there.
  void RefreshSignatures();
  // Authenticate, plus the key's rate-limit bucket (one map lookup for both).
  absl::StatusOr<Caller> AuthenticateCaller(std::string_view sdk_key);
  // The 429 (OFREP error body, Retry-After) when the caller is over its OFREP rate limit.
  std::optional<net::Response> OverRateLimit(const Caller& caller, std::string_view flag_key);
  // Authenticates, applies the rate limit and parses the OFREP context into `call`; or
  // returns the error response to send (401, 429, 400 naming `flag_key`; "" for bulk).
  std::optional<net::Response> BeginOfrep(net::Request& req, std::string_view flag_key,
                                          OfrepCall* call);
  // Authenticates the request's key (a client key on the /client/ routes) and finds its
  // environment's document (full or client) for GET /v1/config and /v1/stream; or returns
  // the error response to send (401, 403, 404, 503; CORS for a client key's origin).
  std::optional<net::Response> BeginDocument(net::Request& req, bool allow_query,
                                             SdkBinding* binding, Current* current);

  DeliveryOptions options_;

  std::shared_mutex keys_mu_;
  std::unordered_map<std::string, Caller> keys_;  // sha256 hex -> binding and bucket

  std::shared_mutex snapshots_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Snapshot>> snapshots_;  // "ws/env[#c]"

  std::mutex topics_mu_;
  std::unordered_map<std::string, Topic> topics_;  // "ws/env[#c]"

  // Env time (Unix µs) of the last build of a large document whose freed memory is not yet
  // given back to the system; 0 = none. TrimAfterLargeBuilds (from the poll) gives it back
  // once builds have paused.
  std::atomic<int64_t> large_build_at_us_{0};
  void TrimAfterLargeBuilds();

  std::mutex poll_mu_;  // guards poll_task_ (Start/Stop against Notify)
  std::unique_ptr<base::PeriodicTask> poll_task_;
  int64_t ticks_ = 0;
  std::mutex refresh_mu_;  // RefreshSignatures runs one at a time
  int64_t signer_record_version_ = -1;  // guarded by refresh_mu_
  std::string active_signer_kid_;       // guarded by refresh_mu_

  std::mutex document_keys_mu_;
  std::shared_ptr<const std::string> document_keys_;  // last JWKS read from the KV
};

// The document snapshot for `bytes` at `version` (exposed for tests and benchmarks).
// InvalidArgument when the bytes are not a JSON object or its format is not 1.
// `signature`: the KV's stored form "<kid>.<sig>" of the document's signature, or "" for
// none; a malformed one is InvalidArgument.
absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(std::string bytes,
                                                              int64_t version,
                                                              std::string_view signature = {});

// True when an If-None-Match header value matches `etag` (a list, `*`, weak forms).
bool IfNoneMatchMatches(std::string_view header, std::string_view etag);

}  // namespace edgevault::delivery
