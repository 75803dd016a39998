#include "src/services/delivery/delivery_service.h"

#include <malloc.h>

#include <algorithm>
#include <set>
#include <optional>
#include <utility>

#include "src/base/log.h"
#include "src/base/strings.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/hash.h"
#include "src/eval/ofrep.h"
#include "src/services/common/http_json.h"

namespace edgevault::delivery {
namespace json = boost::json;
namespace {

// "ws/env", or "ws/env#c" for the client document ('#' is never part of an environment key).
std::string TopicKey(std::string_view ws, std::string_view env, bool client) {
  std::string k;
  k.reserve(ws.size() + env.size() + 3);
  k.append(ws);
  k.push_back('/');
  k.append(env);
  if (client) k.append("#c");
  return k;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The SDK key of a request: the /client/{client_key}/ path segment (nothing else counts
// there), else Bearer, X-API-Key, or (streams only) ?key=.
std::string SdkKeyOf(net::Request& req, bool allow_query) {
  std::string_view in_path = req.Param("client_key");
  if (!in_path.empty()) return std::string(in_path);
  std::string_view bearer = services::BearerToken(req);
  if (!bearer.empty()) return std::string(bearer);
  std::string_view header = req.Header("X-API-Key");
  if (!header.empty()) return std::string(Trim(header));
  if (allow_query) {
    std::optional<std::string> q = req.QueryParam("key");
    if (q) return *q;
  }
  return "";
}

net::Response Unauthorized() {
  return net::Response::Error(401, "unauthorized",
                              "send a valid SDK key (evs_...) as 'Authorization: Bearer <key>' or "
                              "'X-API-Key'");
}

net::Response AuthError(const absl::Status& status) {
  return absl::IsUnauthenticated(status) ? Unauthorized() : services::ErrorResponse(status);
}

// The /client/{client_key}/ routes take client keys only: a server key there (in a URL,
// so in a browser) is refused before it is used.
bool ServerKeyOnClientRoute(net::Request& req, const SdkBinding& b) {
  return !b.client && !req.Param("client_key").empty();
}
net::Response ClientKeyRequired() {
  return net::Response::Error(403, "client_key_required",
                              "the /client/{key}/ routes take client SDK keys (evc_...) only; a server "
                              "key must never be used from a browser");
}

// The headers a browser may read from a cross-origin answer.
constexpr std::string_view kExposedHeaders = "ETag, EdgeVault-Stale, EdgeVault-Signature, Retry-After";

// CORS for an answer to `b`'s key: nothing for a server key (ever); for a client key
// `Vary: Origin`, plus Access-Control-Allow-Origin when the request's Origin is one of
// the key's origins (exact, normalised comparison). No credentials: delivery uses no cookies.
void AddCors(const SdkBinding& b, net::Request& req, net::Response& r) {
  if (!b.client) return;
  r.headers.emplace_back("Vary", "Origin");
  std::string_view origin = req.Header("Origin");
  if (origin.empty()) return;
  if (std::find(b.origins.begin(), b.origins.end(), origin) == b.origins.end()) return;
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  r.headers.emplace_back("Access-Control-Expose-Headers", std::string(kExposedHeaders));
}

net::Response SnapshotError(const absl::Status& status) {
  if (absl::IsNotFound(status)) {
    return net::Response::Error(404, "not_found",
                                "this environment has no published document yet; retry shortly");
  }
  return services::ErrorResponse(status);
}

// OFREP error bodies.
net::Response OfrepError(int status, std::string_view key, std::string_view code,
                         std::string_view details) {
  json::object o;
  if (!key.empty()) o["key"] = key;
  o["errorCode"] = code;
  o["errorDetails"] = details;
  return services::JsonResponse(status, o);
}

// The OFREP request context as our engine's Context (targetingKey -> key).
// PARSE_ERROR / INVALID_CONTEXT on failure, with the details in `details`.
bool ParseOfrepContext(const std::string& body, eval::Context* out, std::string_view* code,
                       std::string* details) {
  if (Trim(body).empty()) {
    *out = eval::Context();
    return true;
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    *code = "PARSE_ERROR";
    *details = "the request body is not valid JSON: " + ec.message();
    return false;
  }
  if (!v.is_object()) {
    *code = "PARSE_ERROR";
    *details = "the request body must be a JSON object {\"context\": {...}}";
    return false;
  }
  const json::value* ctx = v.get_object().if_contains("context");
  absl::StatusOr<eval::Context> c = eval::ContextFromOfrep(ctx != nullptr ? *ctx : json::value(nullptr));
  if (!c.ok()) {
    *code = "INVALID_CONTEXT";
    *details = std::string(c.status().message());
    return false;
  }
  *out = std::move(*c);
  return true;
}

// Where a request's evaluations are counted (usage.md §1): the minute is read once per request.
struct UsageTally {
  UsageCounters* counters = nullptr;
  int64_t minute = 0;
  void Count(const Snapshot& snap, std::string_view flag, std::string_view variant,
             std::string_view reason) const {
    if (counters != nullptr) {
      counters->CountEvaluation(minute, snap.workspace_id, snap.environment, flag, variant, reason);
    }
  }
};

// One evaluation as OFREP's success or failure object. Returns the HTTP status a single
// evaluation would answer (200, 400 or 404). A flag of the document is counted in `tally`.
int EvaluateOne(const Snapshot& snap, std::string_view key, const eval::Context& context,
                json::object* out, const UsageTally& tally) {
  out->clear();
  (*out)["key"] = key;
  auto fail = [&](int status, std::string_view code, std::string_view details) {
    (*out)["errorCode"] = code;
    (*out)["errorDetails"] = details;
    return status;
  };
  const eval::CompiledFlag* flag = snap.flags ? snap.flags->FindFlag(key) : nullptr;
  if (flag == nullptr) {
    auto c = snap.configs.find(key);
    if (c == snap.configs.end()) {
      if (!snap.flags_error.empty() && snap.variant_names.count(key)) {
        tally.Count(snap, key, "", eval::kReasonError);
        return fail(400, "GENERAL", snap.flags_error);
      }
      return fail(404, "FLAG_NOT_FOUND",
                  "no flag or config '" + std::string(key) + "' in this environment");
    }
    (*out)["value"] = c->second;
    (*out)["reason"] = eval::kReasonStatic;
    (*out)["metadata"] = json::object{{"version", snap.version}, {"kind", "config"}};
    return 200;
  }
  eval::EvalResult r = eval::Evaluate(*snap.flags, key, context);
  if (r.reason == eval::kReasonError) {
    tally.Count(snap, key, "", eval::kReasonError);
    if (r.error_code == eval::kErrorFlagNotFound) return fail(404, "FLAG_NOT_FOUND", r.error_message);
    if (r.error_code == eval::kErrorTargetingKeyMissing) {
      return fail(400, "TARGETING_KEY_MISSING",
                  r.error_message.empty() ? "this flag needs a targetingKey" : r.error_message);
    }
    return fail(400, "GENERAL", r.error_message.empty() ? "evaluation failed" : r.error_message);
  }
  // No variation (off, or a failed prerequisite, without an off variation): the caller
  // uses its default; OFREP 0.1 requires a value, so it is null.
  (*out)["value"] = r.value != nullptr ? *r.value : json::value(nullptr);
  (*out)["reason"] = r.reason;
  if (r.variation >= 0) {
    auto names = snap.variant_names.find(key);
    if (names != snap.variant_names.end() &&
        static_cast<size_t>(r.variation) < names->second.size()) {
      (*out)["variant"] = names->second[static_cast<size_t>(r.variation)];
    } else {
      (*out)["variant"] = std::to_string(r.variation);
    }
    tally.Count(snap, key, (*out)["variant"].get_string(), r.reason);
  } else {
    tally.Count(snap, key, "", r.reason);
  }
  json::object meta{{"version", snap.version}};
  if (r.rule_index >= 0) meta["ruleIndex"] = r.rule_index;
  if (!r.rule_id.empty()) meta["ruleId"] = r.rule_id;
  if (r.in_experiment) meta["inExperiment"] = true;
  if (!r.failed_prerequisite.empty()) meta["failedPrerequisite"] = r.failed_prerequisite;
  (*out)["metadata"] = std::move(meta);
  return 200;
}

// Counts one authenticated SDK request (usage.md §1) and returns the tally its evaluations
// are counted in; nothing when the service does not count usage.
UsageTally CountRequest(const DeliveryOptions& o, const SdkBinding& b, std::string_view endpoint) {
  if (o.usage == nullptr) return {};
  UsageTally t{o.usage, UnixMinute(absl::ToUnixSeconds(o.env->Now()))};
  o.usage->CountSdkRequest(t.minute, b.workspace_id, b.environment, b.client ? "client" : "server", endpoint);
  return t;
}

}  // namespace

TokenBucket::TokenBucket(int64_t per_second, int64_t burst)
    : interval_ns_(std::max<int64_t>(1, 1'000'000'000 / std::max<int64_t>(1, per_second))),
      tolerance_ns_(std::max<int64_t>(1, burst) * interval_ns_) {}

absl::Duration TokenBucket::TryTake(absl::Duration now) {
  const int64_t t = absl::ToInt64Nanoseconds(now);
  int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  for (;;) {
    int64_t next = tat;
    const int64_t wait = storage::GcraTake(&next, t, interval_ns_, tolerance_ns_);
    if (wait > 0) return absl::Nanoseconds(wait);
    if (tat_ns_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
      return absl::ZeroDuration();
    }
  }
}

bool IfNoneMatchMatches(std::string_view header, std::string_view etag) {
  if (header.empty()) return false;
  for (std::string_view part : base::Split(header, ',')) {
    part = Trim(part);
    if (part == "*") return true;
    if (part.size() > 2 && part[0] == 'W' && part[1] == '/') part.remove_prefix(2);
    if (part == etag) return true;
  }
  return false;
}

// A build of a document at least this large gives the memory of its parse (and of the
// snapshot it replaced) back to the system, once no large build has happened for kTrimQuiet.
constexpr size_t kTrimAfterBuildBytes = 256 << 10;
constexpr absl::Duration kTrimQuiet = absl::Seconds(2);

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(std::string bytes,
                                                              int64_t version,
                                                              std::string_view signature) {
  std::optional<crypto::DocumentSignature> sig;
  if (!signature.empty()) {
    absl::StatusOr<crypto::DocumentSignature> parsed = crypto::ParseStoredDocumentSignature(signature);
    if (!parsed.ok()) return parsed.status();
    sig = *std::move(parsed);
  }
  auto snap = std::make_shared<Snapshot>();
  {
    boost::system::error_code ec;
    json::value doc = json::parse(bytes, ec);
    if (ec || !doc.is_object()) {
      return absl::InvalidArgumentError("the resolved document is not a JSON object");
    }
    const json::object& o = doc.get_object();
    const json::value* format = o.if_contains("format");
    if (format == nullptr || !format->is_int64() || format->get_int64() != 1) {
      return absl::InvalidArgumentError("the resolved document's format is not 1");
    }
    eval::CompileDocument(o, snap.get());
  }
  snap->version = version;  // the KV entry's, which the api wrote with the document
  if (!snap->flags_error.empty()) {
    EV_LOG(kError, "delivery: flag set build failed",
           {{"workspace_id", snap->workspace_id}, {"environment", snap->environment},
            {"error", snap->flags_error}});
  }
  snap->etag = crypto::Sha256Etag(bytes);
  if (sig) {
    snap->signature = crypto::FormatDocumentSignatureHeader(*sig);
    snap->signature_kid = std::move(sig->kid);
  }
  snap->bytes = std::make_shared<const std::string>(std::move(bytes));
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

absl::StatusOr<std::unique_ptr<DeliveryService>> DeliveryService::Create(DeliveryOptions options) {
  if (options.kv == nullptr) return absl::InvalidArgumentError("DeliveryOptions.kv is required");
  if (options.poll_interval <= absl::ZeroDuration() || options.heartbeat_ticks < 1) {
    return absl::InvalidArgumentError("poll_interval and heartbeat_ticks must be positive");
  }
  if (options.ofrep_rate_limit_per_second < 0 || options.ofrep_rate_limit_burst < 0) {
    return absl::InvalidArgumentError(
        "ofrep_rate_limit_per_second and ofrep_rate_limit_burst must not be negative");
  }
  if (options.ofrep_rate_limit_burst == 0) {
    options.ofrep_rate_limit_burst = options.ofrep_rate_limit_per_second;
  }
  if (options.env == nullptr) options.env = base::Env::Default();
  return std::unique_ptr<DeliveryService>(new DeliveryService(options));
}

DeliveryService::~DeliveryService() { Stop(); }

void DeliveryService::Install(net::Router& router) {
  // Each route twice: as is, and under /client/{client_key}/ for browsers — a CORS
  // preflight carries no credentials, so the client key rides in the path where the
  // preflight can see it (docs/delivery.md, "Client keys"). Only client keys are accepted
  // there.
  for (const std::string prefix : {"", "/client/{client_key}"}) {
    router.Get(prefix + "/v1/config", [this](net::Request& req) { return HandleConfig(req); });
    router.Get(prefix + "/v1/stream", [this](net::Request& req) { return HandleStream(req); });
    router.Post(prefix + "/ofrep/v1/evaluate/flags/{key}",
                [this](net::Request& req) { return HandleEvaluateFlag(req); });
    router.Post(prefix + "/ofrep/v1/evaluate/flags",
                [this](net::Request& req) { return HandleEvaluateBulk(req); });
  }
  router.Get(std::string(kDocumentKeysPath), [this](net::Request& req) { return HandleDocumentKeys(req); });
  router.Add(boost::beast::http::verb::options, "/client/{client_key}/{rest...}",
             [this](net::Request& req) { return HandlePreflight(req); });
  net::RouteOptions internal;
  internal.internal_callers = {"api"};  // the api, after each propagation
  router.Add(boost::beast::http::verb::post, "/internal/v1/changed",
             [this](net::Request&) {
               Notify();
               return net::Response::Json(200, R"({"notified":true})");
             },
             internal);
}

void DeliveryService::Notify() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  if (poll_task_ != nullptr) poll_task_->Wake();
}

size_t DeliveryService::open_streams() {
  std::lock_guard<std::mutex> lock(topics_mu_);
  size_t n = 0;
  for (const auto& [key, topic] : topics_) n += topic.subscribers.size();
  return n;
}

void DeliveryService::Start() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  if (poll_task_ != nullptr) return;
  poll_task_ = options_.env->Schedule("delivery stream poll", {.interval = options_.poll_interval}, [this] {
    try {
      PollOnce();
    } catch (...) {
      net::RecordEscapedException("delivery's poll");  // a bug; the next tick tries again
    }
    return base::NextRun::Interval();
  });
}

void DeliveryService::Stop() {
  std::unique_ptr<base::PeriodicTask> task;
  {
    std::lock_guard<std::mutex> lock(poll_mu_);
    task = std::move(poll_task_);
  }
  if (task != nullptr) task->Stop();
}

absl::StatusOr<SdkBinding> DeliveryService::Authenticate(std::string_view sdk_key) {
  absl::StatusOr<Caller> caller = AuthenticateCaller(sdk_key);
  if (!caller.ok()) return caller.status();
  return std::move(caller->binding);
}

absl::StatusOr<DeliveryService::Caller> DeliveryService::AuthenticateCaller(
    std::string_view sdk_key) {
  if (sdk_key.empty()) return absl::UnauthenticatedError("no SDK key");
  std::string hash = crypto::Sha256Hex(sdk_key);
  std::string kv_key = storage::EdgeKvSdkKey(hash);
  {
    std::shared_lock<std::shared_mutex> lock(keys_mu_);
    auto it = keys_.find(hash);
    if (it != keys_.end()) {
      // A revoked key is deleted from the KV: check it is still there (cheap).
      absl::StatusOr<int64_t> v = options_.kv->GetVersion(kv_key);
      if (v.ok() || !absl::IsNotFound(v.status())) {  // fail-static
        return it->second;
      }
    }
  }
  absl::StatusOr<storage::KvEntry> entry = options_.kv->Get(kv_key);
  if (!entry.ok()) {
    if (absl::IsNotFound(entry.status())) {
      std::unique_lock<std::shared_mutex> lock(keys_mu_);
      keys_.erase(hash);
      return absl::UnauthenticatedError("unknown SDK key");
    }
    return entry.status();
  }
  boost::system::error_code ec;
  json::value v = json::parse(entry->value, ec);
  SdkBinding b;
  if (!ec && v.is_object()) {
    const json::object& o = v.get_object();
    auto str = [&](std::string_view name) {
      const json::value* f = o.if_contains(name);
      return f != nullptr && f->is_string() ? std::string(f->get_string()) : std::string();
    };
    b.org_id = str("org_id");
    b.workspace_id = str("workspace_id");
    b.environment = str("environment");
    b.client = str("kind") == "client";
    b.kv_key = kv_key;
    if (const json::value* origins = o.if_contains("origins"); origins != nullptr && origins->is_array()) {
      for (const json::value& origin : origins->get_array()) {
        if (origin.is_string()) b.origins.emplace_back(origin.get_string());
      }
    }
  }
  if (b.workspace_id.empty() || b.environment.empty()) {
    return absl::InternalError("the SDK key's KV entry is malformed");
  }
  std::unique_lock<std::shared_mutex> lock(keys_mu_);
  // try_emplace: a concurrent first request for the same key keeps the bucket it created.
  auto [it, inserted] = keys_.try_emplace(hash);
  it->second.binding = b;
  if (it->second.bucket == nullptr && options_.ofrep_rate_limit_per_second > 0) {
    it->second.bucket = std::make_shared<TokenBucket>(options_.ofrep_rate_limit_per_second,
                                                      options_.ofrep_rate_limit_burst);
    if (options_.shared_rate_limiter != nullptr) {
      it->second.rate_key = std::make_shared<const std::string>("ofrep:" + hash);
    }
  }
  return Caller{std::move(b), it->second.bucket, it->second.rate_key};
}

std::optional<net::Response> DeliveryService::OverRateLimit(const Caller& caller,
                                                           std::string_view flag_key) {
  if (caller.bucket == nullptr) return std::nullopt;
  std::optional<absl::Duration> wait;
  if (caller.rate_key != nullptr) {
    absl::StatusOr<absl::Duration> shared = options_.shared_rate_limiter->Take(
        *caller.rate_key, {.count = options_.ofrep_rate_limit_per_second,
                           .period = absl::Seconds(1),
                           .burst = options_.ofrep_rate_limit_burst});
    if (shared.ok()) wait = *shared;
  }
  if (!wait.has_value()) wait = caller.bucket->TryTake(options_.env->MonotonicNow());
  if (*wait <= absl::ZeroDuration()) return std::nullopt;
  const int64_t seconds = RetryAfterSeconds(*wait);
  net::Response limited = OfrepError(
      429, flag_key, "GENERAL",
      "rate limit of " + std::to_string(options_.ofrep_rate_limit_per_second) +
          " OFREP requests per second for this SDK key exceeded; retry after " +
          std::to_string(seconds) + " s");
  limited.headers.emplace_back("Retry-After", std::to_string(seconds));
  return limited;
}

absl::StatusOr<DeliveryService::Current> DeliveryService::SnapshotFor(
    const std::string& workspace_id, const std::string& environment, bool client) {
  std::string topic = TopicKey(workspace_id, environment, client);
  std::shared_ptr<const Snapshot> held;
  {
    std::shared_lock<std::shared_mutex> lock(snapshots_mu_);
    auto it = snapshots_.find(topic);
    if (it != snapshots_.end()) held = it->second;
  }
  std::string key = client ? storage::EdgeKvClientDocumentKey(workspace_id, environment)
                           : storage::EdgeKvDocumentKey(workspace_id, environment);
  absl::StatusOr<int64_t> version = options_.kv->GetVersion(key);
  if (!version.ok()) {
    if (absl::IsNotFound(version.status()) || held == nullptr) return version.status();
    return Current{held, true};
  }
  if (held != nullptr && held->version >= *version) return Current{held, false};
  absl::StatusOr<storage::KvEntry> entry = options_.kv->Get(key);
  if (!entry.ok()) {
    if (absl::IsNotFound(entry.status()) || held == nullptr) return entry.status();
    return Current{held, true};
  }
  // A document is served only with the signature of its own version (resolved-document.md
  // §8). The api writes the signature first; a reader that finds another version beside
  // the document (a newer pair half-written on a backend without batch transactions) keeps
  // the pair it holds.
  absl::StatusOr<storage::KvEntry> sig = options_.kv->Get(storage::EdgeKvSignatureKeyFor(key));
  std::string signature;
  if (sig.ok()) {
    if (sig->version != entry->version) {
      if (held != nullptr) return Current{held, false};
      return absl::UnavailableError("the environment's document is being updated; retry shortly");
    }
    signature = std::move(sig->value);
  } else if (absl::IsNotFound(sig.status())) {
    // A store written without signatures (an api before signing): served unsigned, and
    // verifiers refuse it. A signed document is never replaced by an unsigned one.
    if (held != nullptr && !held->signature.empty()) return Current{held, false};
  } else {
    if (held == nullptr) return sig.status();
    return Current{held, true};
  }
  absl::StatusOr<std::shared_ptr<const Snapshot>> built =
      BuildSnapshot(std::move(entry->value), entry->version, signature);
  if (!built.ok()) {
    EV_LOG(kError, "delivery: unreadable document in the KV",
           {{"key", key}, {"error", built.status().ToString()}});
    if (held == nullptr) return absl::InternalError("the environment's document is unreadable");
    return Current{held, true};
  }
  std::shared_ptr<const Snapshot> fresh = std::move(*built);
  std::shared_ptr<const Snapshot> served;
  {
    std::unique_lock<std::shared_mutex> lock(snapshots_mu_);
    std::shared_ptr<const Snapshot>& slot = snapshots_[topic];
    if (slot == nullptr || slot->version < fresh->version) slot = fresh;
    served = slot;
  }
  if (fresh->bytes->size() >= kTrimAfterBuildBytes) {
    // The parse tree of a large document is several times its bytes in small blocks, and
    // the snapshot it replaces is as large again; glibc keeps freed memory in its arenas (a
    // 1.7 MB document: ~50 MB kept against ~10 MB live), so the process would stay at its
    // largest build's size for good. The poll gives it back once builds have paused
    // (TrimAfterLargeBuilds): not here, where the next build would pay to fault it all in
    // again (bench/delivery/churn.sh; docs/performance.md "Memory under churn").
    large_build_at_us_.store(absl::ToUnixMicros(options_.env->Now()), std::memory_order_relaxed);
  }
  return Current{served, false};
}

std::optional<net::Response> DeliveryService::BeginDocument(net::Request& req, bool allow_query,
                                                            SdkBinding* binding, Current* current) {
  absl::StatusOr<SdkBinding> b = Authenticate(SdkKeyOf(req, allow_query));
  if (!b.ok()) return AuthError(b.status());
  if (ServerKeyOnClientRoute(req, *b)) return ClientKeyRequired();
  absl::StatusOr<Current> cur = SnapshotFor(b->workspace_id, b->environment, b->client);
  if (!cur.ok()) {
    net::Response error = SnapshotError(cur.status());
    AddCors(*b, req, error);
    return error;
  }
  CountRequest(options_, *b, allow_query ? "stream" : "config");
  *binding = *std::move(b);
  *current = *std::move(cur);
  return std::nullopt;
}

net::Response DeliveryService::HandleConfig(net::Request& req) {
  SdkBinding binding;
  Current cur;
  if (std::optional<net::Response> error = BeginDocument(req, false, &binding, &cur)) return *std::move(error);
  const Snapshot& snap = *cur.snapshot;
  net::Response r;
  if (IfNoneMatchMatches(req.Header("If-None-Match"), snap.etag)) {
    r.status = 304;
    r.content_type.clear();
  } else {
    r.shared_body = snap.bytes;
  }
  r.headers.emplace_back("ETag", snap.etag);
  if (!snap.signature.empty()) r.headers.emplace_back(std::string(kSignatureHeader), snap.signature);
  r.headers.emplace_back("Cache-Control", "no-cache");
  if (cur.stale) r.headers.emplace_back(std::string(kStaleHeader), "true");
  AddCors(binding, req, r);
  return r;
}

net::Response DeliveryService::HandleStream(net::Request& req) {
  SdkBinding binding;
  Current cur;
  if (std::optional<net::Response> error = BeginDocument(req, true, &binding, &cur)) return *std::move(error);
  net::Response r;
  if (cur.stale) r.headers.emplace_back(std::string(kStaleHeader), "true");
  AddCors(binding, req, r);
  std::string topic_key = TopicKey(binding.workspace_id, binding.environment, binding.client);
  std::shared_ptr<const Snapshot> snap = cur.snapshot;
  r.sse = [this, topic_key, snap, binding](std::shared_ptr<net::SseStream> stream) {
    Subscriber sub;
    sub.stream = stream;
    sub.key_kv_key = binding.kv_key;
    std::string version = std::to_string(snap->version);
    if (stream->last_event_id() == version) {
      sub.sent_version = snap->version;  // the client has it: wait for the next change
    } else {
      if (!snap->signature.empty()) {
        stream->Send({.id = version, .event = "signature", .data = snap->signature});
      }
      stream->Send({.id = version, .event = "config", .data = *snap->bytes});
      sub.sent_version = snap->version;
    }
    std::lock_guard<std::mutex> lock(topics_mu_);
    Topic& t = topics_[topic_key];
    t.workspace_id = binding.workspace_id;
    t.environment = binding.environment;
    t.client = binding.client;
    t.subscribers.push_back(std::move(sub));
  };
  return r;
}

void DeliveryService::TrimAfterLargeBuilds() {
  const int64_t at = large_build_at_us_.load(std::memory_order_relaxed);
  if (at == 0 || absl::ToUnixMicros(options_.env->Now()) - at < absl::ToInt64Microseconds(kTrimQuiet)) return;
  // A build after the load above moves the mark: it is trimmed after its own pause.
  int64_t expected = at;
  if (large_build_at_us_.compare_exchange_strong(expected, 0, std::memory_order_relaxed)) ::malloc_trim(0);
}

void DeliveryService::PollOnce() {
  if (options_.on_poll) options_.on_poll();
  TrimAfterLargeBuilds();
  RefreshSignatures();
  bool heartbeat = (++ticks_ % options_.heartbeat_ticks) == 0;
  // About once a second (every tick when the poll is slower): revoked keys' streams end.
  const int64_t key_check_ticks =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Seconds(1)) /
                               std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.poll_interval)));
  if (ticks_ % key_check_ticks == 0) CloseRevokedStreams();
  struct Streamed {
    std::string workspace_id, environment;
    bool client;
  };
  std::vector<Streamed> envs;
  {
    std::lock_guard<std::mutex> lock(topics_mu_);
    for (auto it = topics_.begin(); it != topics_.end();) {
      auto& subs = it->second.subscribers;
      subs.erase(std::remove_if(subs.begin(), subs.end(),
                                [](const Subscriber& s) { return s.stream->closed(); }),
                 subs.end());
      if (subs.empty()) {
        it = topics_.erase(it);
      } else {
        envs.push_back({it->second.workspace_id, it->second.environment, it->second.client});
        ++it;
      }
    }
  }
  for (const auto& [ws, env, client] : envs) {
    absl::StatusOr<Current> cur = SnapshotFor(ws, env, client);
    std::lock_guard<std::mutex> lock(topics_mu_);
    auto it = topics_.find(TopicKey(ws, env, client));
    if (it == topics_.end()) continue;
    for (Subscriber& s : it->second.subscribers) {
      if (cur.ok() && s.sent_version < cur->snapshot->version) {
        std::string id = std::to_string(cur->snapshot->version);
        if (!cur->snapshot->signature.empty()) {
          s.stream->Send({.id = id, .event = "signature", .data = cur->snapshot->signature});
        }
        s.stream->Send({.id = std::move(id), .event = "config", .data = *cur->snapshot->bytes});
        s.sent_version = cur->snapshot->version;
      } else if (heartbeat) {
        s.stream->SendComment("heartbeat");
      }
    }
  }
}

void DeliveryService::CloseRevokedStreams() {
  std::set<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(topics_mu_);
    for (const auto& [name, topic] : topics_) {
      for (const Subscriber& s : topic.subscribers) {
        if (!s.key_kv_key.empty()) keys.insert(s.key_kv_key);
      }
    }
  }
  std::set<std::string> revoked;
  for (const std::string& key : keys) {
    // Fail-static, as for requests: only a key the KV says is gone ends its streams.
    if (absl::IsNotFound(options_.kv->GetVersion(key).status())) revoked.insert(key);
  }
  if (revoked.empty()) return;
  {
    std::unique_lock<std::shared_mutex> lock(keys_mu_);
    for (const std::string& key : revoked) keys_.erase(key.substr(key.find('/') + 1));
  }
  std::lock_guard<std::mutex> lock(topics_mu_);
  for (auto& [name, topic] : topics_) {
    // Close() may finish on the stream's own thread later: drop them from the topic now.
    std::erase_if(topic.subscribers, [&](const Subscriber& s) {
      if (!revoked.contains(s.key_kv_key)) return false;
      s.stream->Close();
      return true;
    });
  }
}

void DeliveryService::RefreshSignatures() {
  std::lock_guard<std::mutex> refresh_lock(refresh_mu_);
  absl::StatusOr<int64_t> record_version = options_.kv->GetVersion(storage::kEdgeKvDocumentSignerKey);
  if (!record_version.ok()) return;  // none yet, or the KV is unreadable: next tick
  if (*record_version != signer_record_version_) {
    absl::StatusOr<storage::KvEntry> record = options_.kv->Get(storage::kEdgeKvDocumentSignerKey);
    if (!record.ok()) return;
    boost::system::error_code ec;
    json::value v = json::parse(record->value, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    const json::value* active = o != nullptr ? o->if_contains("active") : nullptr;
    if (active == nullptr || !active->is_string()) return;
    active_signer_kid_ = std::string(active->get_string());
    signer_record_version_ = record->version;
  }
  std::vector<std::pair<std::string, std::shared_ptr<const Snapshot>>> outdated;
  {
    std::shared_lock<std::shared_mutex> lock(snapshots_mu_);
    for (const auto& [topic, snap] : snapshots_) {
      if (!snap->signature.empty() && snap->signature_kid != active_signer_kid_) {
        outdated.emplace_back(topic, snap);
      }
    }
  }
  for (auto& [topic, snap] : outdated) {
    const bool client = topic.size() > 2 && topic.compare(topic.size() - 2, 2, "#c") == 0;
    std::string key = client ? storage::EdgeKvClientDocumentKey(snap->workspace_id, snap->environment)
                             : storage::EdgeKvDocumentKey(snap->workspace_id, snap->environment);
    absl::StatusOr<storage::KvEntry> sig = options_.kv->Get(storage::EdgeKvSignatureKeyFor(key));
    if (!sig.ok() || sig->version != snap->version) continue;  // not re-signed yet, or newer
    absl::StatusOr<crypto::DocumentSignature> parsed = crypto::ParseStoredDocumentSignature(sig->value);
    if (!parsed.ok() || parsed->kid == snap->signature_kid) continue;
    auto copy = std::make_shared<Snapshot>(*snap);
    copy->signature = crypto::FormatDocumentSignatureHeader(*parsed);
    copy->signature_kid = parsed->kid;
    std::unique_lock<std::shared_mutex> lock(snapshots_mu_);
    std::shared_ptr<const Snapshot>& slot = snapshots_[topic];
    if (slot == snap) slot = std::move(copy);  // unless a newer version arrived meanwhile
  }
}

net::Response DeliveryService::HandleDocumentKeys(net::Request&) {
  absl::StatusOr<storage::KvEntry> entry = options_.kv->Get(storage::kEdgeKvDocumentKeysKey);
  std::shared_ptr<const std::string> keys;
  bool stale = false;
  {
    std::lock_guard<std::mutex> lock(document_keys_mu_);
    if (entry.ok()) {
      if (document_keys_ == nullptr || *document_keys_ != entry->value) {
        document_keys_ = std::make_shared<const std::string>(std::move(entry->value));
      }
    } else if (!absl::IsNotFound(entry.status())) {
      stale = document_keys_ != nullptr;
    }
    if (entry.ok() || stale) keys = document_keys_;
  }
  if (keys == nullptr) {
    if (absl::IsNotFound(entry.status())) {
      return net::Response::Error(404, "not_found",
                                  "no document-signing keys are published yet; the api publishes them "
                                  "when it starts");
    }
    return services::ErrorResponse(entry.status());
  }
  net::Response r;
  r.content_type = "application/json";
  r.shared_body = std::move(keys);
  r.headers.emplace_back("Cache-Control", "no-cache");
  // Public keys: any page may read them.
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  if (stale) r.headers.emplace_back(std::string(kStaleHeader), "true");
  return r;
}

std::optional<net::Response> DeliveryService::BeginOfrep(net::Request& req,
                                                        std::string_view flag_key,
                                                        OfrepCall* call) {
  absl::StatusOr<Caller> caller = AuthenticateCaller(SdkKeyOf(req, false));
  if (!caller.ok()) return AuthError(caller.status());
  if (ServerKeyOnClientRoute(req, caller->binding)) return ClientKeyRequired();
  call->caller = *std::move(caller);
  if (std::optional<net::Response> limited = OverRateLimit(call->caller, flag_key)) {
    AddCors(call->caller.binding, req, *limited);
    return limited;
  }
  std::string_view code;
  std::string details;
  if (!ParseOfrepContext(req.body(), &call->context, &code, &details)) {
    net::Response bad = OfrepError(400, flag_key, code, details);
    AddCors(call->caller.binding, req, bad);
    return bad;
  }
  return std::nullopt;
}

net::Response DeliveryService::HandleEvaluateFlag(net::Request& req) {
  // The path may carry any bytes; echoed as they are, a key that is not UTF-8 made the
  // JSON answer unreadable (fuzz/corpus/delivery_document_fuzz/regress-key-not-utf8).
  std::string key = base::ToValidUtf8(req.Param("key"));
  OfrepCall call;
  if (std::optional<net::Response> error = BeginOfrep(req, key, &call)) return *std::move(error);
  const eval::Context& context = call.context;
  const SdkBinding* b = &call.caller.binding;
  absl::StatusOr<Current> cur = SnapshotFor(b->workspace_id, b->environment, b->client);
  net::Response r;
  if (!cur.ok()) {
    if (absl::IsNotFound(cur.status())) {
      r = OfrepError(404, key, "FLAG_NOT_FOUND", "this environment has no published document yet");
    } else {
      r = services::ErrorResponse(cur.status());
    }
  } else {
    // A client key's snapshot holds client-visible items only: a server-only flag is
    // FLAG_NOT_FOUND exactly as a missing one (same status, same message).
    json::object out;
    int status = EvaluateOne(*cur->snapshot, key, context, &out, CountRequest(options_, *b, "ofrep"));
    r = services::JsonResponse(status, out);
    if (cur->stale) r.headers.emplace_back(std::string(kStaleHeader), "true");
  }
  AddCors(*b, req, r);
  return r;
}

net::Response DeliveryService::HandleEvaluateBulk(net::Request& req) {
  OfrepCall call;
  if (std::optional<net::Response> error = BeginOfrep(req, "", &call)) return *std::move(error);
  const eval::Context& context = call.context;
  const SdkBinding* b = &call.caller.binding;
  absl::StatusOr<Current> cur = SnapshotFor(b->workspace_id, b->environment, b->client);
  if (!cur.ok()) {
    net::Response error = absl::IsNotFound(cur.status())
                              ? services::JsonResponse(200, json::object{{"flags", json::array()}})
                              : services::ErrorResponse(cur.status());
    AddCors(*b, req, error);
    return error;
  }
  const Snapshot& snap = *cur->snapshot;
  const UsageTally tally = CountRequest(options_, *b, "ofrep_bulk");
  json::array flags;
  flags.reserve(snap.flag_keys.size() + snap.config_keys.size());
  json::object one;
  for (const std::string& k : snap.flag_keys) {
    EvaluateOne(snap, k, context, &one, tally);
    flags.emplace_back(std::move(one));
    one = json::object();
  }
  for (const std::string& k : snap.config_keys) {
    if (snap.variant_names.count(k)) continue;  // a flag of the same key wins
    EvaluateOne(snap, k, context, &one, UsageTally{});
    flags.emplace_back(std::move(one));
    one = json::object();
  }
  std::string body = json::serialize(json::object{{"flags", std::move(flags)}});
  // Derived from the evaluated result, so a changed context that changes a value changes it.
  std::string etag = crypto::Sha256Etag(body);
  net::Response r;
  if (IfNoneMatchMatches(req.Header("If-None-Match"), etag)) {
    r.status = 304;
    r.content_type.clear();
  } else {
    r = net::Response::Json(200, std::move(body));
  }
  r.headers.emplace_back("ETag", etag);
  if (cur->stale) r.headers.emplace_back(std::string(kStaleHeader), "true");
  AddCors(*b, req, r);
  return r;
}

net::Response DeliveryService::HandlePreflight(net::Request& req) {
  std::string key(req.Param("client_key"));
  absl::StatusOr<SdkBinding> b = Authenticate(key);
  if (!b.ok()) return AuthError(b.status());
  if (!b->client) return ClientKeyRequired();
  net::Response r;
  std::string_view origin = req.Header("Origin");
  if (origin.empty() ||
      std::find(b->origins.begin(), b->origins.end(), origin) == b->origins.end()) {
    r = net::Response::Error(403, "origin_not_allowed",
                             "this client key does not list the request's Origin; add it with "
                             "'edgevault sdk-key create --client --origin <origin>'");
    r.headers.emplace_back("Vary", "Origin");
    return r;
  }
  r.status = 204;
  r.content_type.clear();
  r.headers.emplace_back("Vary", "Origin");
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST");
  r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, If-None-Match, Last-Event-ID");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

}  // namespace edgevault::delivery
