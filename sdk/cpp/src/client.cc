#include "edgevault/client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include <boost/json.hpp>

#include "sdk/cpp/src/snapshot.h"
#include "sdk/cpp/src/transport.h"
#include "src/base/env.h"
#include "src/base/periodic.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/hash.h"
#include "src/eval/evaluator.h"
#include "src/eval/ofrep.h"
#include "src/eval/values.h"

namespace edgevault::sdk {

namespace json = boost::json;
using internal::Snapshot;

// ---------------------------------------------------------------------------------------
// Context

struct Context::Impl {
  eval::Context ctx;
};

namespace {
void SetAttribute(Context::Impl& impl, std::string_view name, json::value v) {
  json::object attrs = impl.ctx.attributes();
  attrs[name] = std::move(v);
  impl.ctx = eval::Context(std::move(attrs));
}
}  // namespace

Context::Context() : impl_(std::make_unique<Impl>()) {}
Context::Context(std::string_view targeting_key) : Context() { Set("key", targeting_key); }
Context::~Context() = default;
Context::Context(const Context& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Context& Context::operator=(const Context& other) {
  if (this != &other) *impl_ = *other.impl_;
  return *this;
}
Context::Context(Context&& other) noexcept : impl_(std::make_unique<Impl>(std::move(*other.impl_))) {}
Context& Context::operator=(Context&& other) noexcept {
  if (this != &other) *impl_ = std::move(*other.impl_);
  return *this;
}
Context& Context::Set(std::string_view name, std::string_view value) {
  SetAttribute(*impl_, name, json::string(value));
  return *this;
}
Context& Context::Set(std::string_view name, const char* value) {
  return Set(name, std::string_view(value != nullptr ? value : ""));
}
Context& Context::Set(std::string_view name, bool value) {
  SetAttribute(*impl_, name, value);
  return *this;
}
Context& Context::Set(std::string_view name, int64_t value) {
  SetAttribute(*impl_, name, value);
  return *this;
}
Context& Context::Set(std::string_view name, int value) { return Set(name, static_cast<int64_t>(value)); }
Context& Context::Set(std::string_view name, double value) {
  SetAttribute(*impl_, name, value);
  return *this;
}
absl::Status Context::SetJson(std::string_view name, std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return absl::InvalidArgumentError(base::StrCat("attribute '", name, "' is not JSON: ", ec.message()));
  if (name == "key" && !v.is_string()) {
    return absl::InvalidArgumentError("the targeting key (\"key\") must be a string");
  }
  SetAttribute(*impl_, name, std::move(v));
  return absl::OkStatus();
}
absl::StatusOr<Context> Context::FromOfrepJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return absl::InvalidArgumentError("the context is not JSON: " + ec.message());
  EV_ASSIGN_OR_RETURN(eval::Context c, eval::ContextFromOfrep(v));
  Context out;
  out.impl_->ctx = std::move(c);
  return out;
}
std::string Context::ToJson() const { return json::serialize(impl_->ctx.attributes()); }

// ---------------------------------------------------------------------------------------
// Client

namespace {

constexpr std::string_view kProviderNotReady = "PROVIDER_NOT_READY";
std::atomic<uint64_t> next_client_id{1};

// Each thread's references to the snapshots of the clients it reads (a few, most recent
// first): a read checks the client's generation and takes the client's lock only when a
// new document was applied since this thread last looked.
struct CachedSnapshot {
  uint64_t client_id = 0;
  uint64_t generation = 0;
  std::shared_ptr<const Snapshot> snapshot;
};
constexpr size_t kCachedClients = 4;
thread_local CachedSnapshot tls_snapshots[kCachedClients];

bool MatchesType(const json::value& v, eval::ValueType t) {
  switch (t) {
    case eval::ValueType::kAny:
      return true;
    case eval::ValueType::kBool:
      return v.is_bool();
    case eval::ValueType::kString:
      return v.is_string();
    case eval::ValueType::kInteger:
      return eval::IntegerValue(v).has_value();
    case eval::ValueType::kNumber:
      return v.is_number();
    case eval::ValueType::kObject:
      return v.is_object() || v.is_array();
  }
  return false;
}

// A flag's or config's value as the getter's type (the type was checked already).
template <typename T>
T Convert(const json::value& v);
template <>
bool Convert<bool>(const json::value& v) {
  return v.get_bool();
}
template <>
double Convert<double>(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}
template <>
int64_t Convert<int64_t>(const json::value& v) {
  return eval::IntegerValue(v).value_or(0);
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  internal::BaseUrl base;
  std::shared_ptr<const internal::TlsContext> tls;  // https:// only
  crypto::DocumentVerifier verifier;  // used and replaced on the background thread only
  std::string keys_text;               // document_keys_file's contents when last loaded
  absl::Time keys_checked_at = absl::InfinitePast();
  bool client_document = false;
  const uint64_t id = next_client_id.fetch_add(1);
  base::Env* env = base::Env::Default();

  // The current snapshot: written under mu; generation counts the swaps.
  mutable std::mutex mu;
  std::shared_ptr<const Snapshot> current;
  std::atomic<uint64_t> generation{0};
  mutable std::condition_variable ready_cv;
  ClientStatus status;  // under mu

  std::mutex listeners_mu;
  std::map<int, std::function<void(const ChangeEvent&)>> listeners;
  int next_listener = 1;

  // Background state (the task's thread only, and Create before the task starts).
  std::string workspace_id, environment;  // pinned by options or the first document
  std::string etag;                       // of the current document

  std::atomic<bool> stopping{false};
  std::unique_ptr<base::PeriodicTask> task;

  std::shared_ptr<const Snapshot> Load() const {
    std::lock_guard<std::mutex> lock(mu);
    return current;
  }

  // The hot path: no lock unless a new document arrived since this thread last read.
  const Snapshot* Current() const {
    const uint64_t gen = generation.load(std::memory_order_acquire);
    CachedSnapshot* slot = nullptr;
    for (CachedSnapshot& c : tls_snapshots) {
      if (c.client_id == id) {
        slot = &c;
        break;
      }
    }
    if (slot != nullptr && slot->generation == gen) return slot->snapshot.get();
    if (slot == nullptr) {
      // Evict the last entry: shift the others down so the newest client is first.
      std::move_backward(tls_snapshots, tls_snapshots + kCachedClients - 1, tls_snapshots + kCachedClients);
      slot = &tls_snapshots[0];
      slot->client_id = id;
    }
    std::lock_guard<std::mutex> lock(mu);
    slot->snapshot = current;
    slot->generation = generation.load(std::memory_order_relaxed);
    return slot->snapshot.get();
  }

  void NoteFailure(const absl::Status& s, bool connection) {
    std::lock_guard<std::mutex> lock(mu);
    if (connection) ++status.connection_failures;
    status.last_error = s.ToString();
  }

  // Reads document_keys_file again; true when it changed and now pins another, non-empty
  // set of keys (which replaces the old set). A file that cannot be read or holds no key
  // keeps the keys in use (and says so in last_error).
  bool ReloadPinnedKeys() {
    if (options.document_keys_file.empty()) return false;
    keys_checked_at = env->Now();
    absl::StatusOr<std::string> text = env->ReadFile(options.document_keys_file);
    if (text.ok() && *text == keys_text) return false;
    absl::StatusOr<crypto::DocumentVerifier> fresh =
        text.ok() ? crypto::DocumentVerifier::FromJwks(*text) : absl::StatusOr<crypto::DocumentVerifier>(text.status());
    if (!fresh.ok() || fresh->size() == 0) {
      std::lock_guard<std::mutex> lock(mu);
      status.last_error = "pinned keys not reloaded from " + options.document_keys_file + ": " +
                          (fresh.ok() ? std::string("it holds no key") : fresh.status().ToString()) +
                          "; the keys loaded before stay in use";
      return false;
    }
    verifier = *std::move(fresh);
    keys_text = *std::move(text);
    std::lock_guard<std::mutex> lock(mu);
    ++status.key_reloads;
    return true;
  }

  // Verifies a document and its signature header and, when it is new, makes it current.
  absl::Status Apply(std::string bytes, std::string_view signature_header) {
    absl::Status s = ApplyVerified(std::move(bytes), signature_header);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      ++status.documents_refused;
      status.last_error = "document refused: " + s.ToString();
    }
    return s;
  }

  absl::Status ApplyVerified(std::string bytes, std::string_view signature_header) {
    if (signature_header.empty()) {
      return absl::UnauthenticatedError("the document came without a signature");
    }
    EV_ASSIGN_OR_RETURN(crypto::DocumentSignature sig, crypto::ParseDocumentSignatureHeader(signature_header));
    std::shared_ptr<const Snapshot> old = Load();
    const crypto::DocumentExpectation expect{.workspace_id = workspace_id,
                                             .environment = environment,
                                             .client = client_document,
                                             .min_version = old != nullptr ? old->version : 0};
    // The pinned file is the truth: read again at most every kKeysRecheck (a key removed
    // from it stops verifying), and at once for a key it did not hold (a rotation).
    if (env->Now() - keys_checked_at >= absl::FromChrono(options.document_keys_recheck)) ReloadPinnedKeys();
    absl::StatusOr<crypto::VerifiedDocument> checked = verifier.Verify(bytes, sig, expect);
    if (absl::IsNotFound(checked.status()) && ReloadPinnedKeys()) checked = verifier.Verify(bytes, sig, expect);
    EV_ASSIGN_OR_RETURN(crypto::VerifiedDocument verified, std::move(checked));
    if (old != nullptr && old->bytes == bytes) return absl::OkStatus();  // nothing new
    EV_ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> snap,
                        internal::BuildSnapshot(std::move(bytes), std::string(signature_header)));
    if (workspace_id.empty()) workspace_id = snap->workspace_id;
    if (environment.empty()) environment = snap->environment;
    etag = crypto::Sha256Etag(snap->bytes);
    ChangeEvent event;
    event.previous_version = old != nullptr ? old->version : 0;
    event.version = verified.version;
    event.changed_keys = internal::ChangedKeys(old.get(), *snap);
    {
      std::lock_guard<std::mutex> lock(mu);
      current = snap;
      generation.fetch_add(1, std::memory_order_release);
      status.ready = true;
      status.version = snap->version;
      ++status.documents_applied;
    }
    ready_cv.notify_all();
    std::vector<std::function<void(const ChangeEvent&)>> calls;
    {
      std::lock_guard<std::mutex> lock(listeners_mu);
      for (const auto& [unused, fn] : listeners) calls.push_back(fn);
    }
    for (const auto& fn : calls) fn(event);
    return absl::OkStatus();
  }

  std::vector<std::pair<std::string, std::string>> AuthHeaders() const {
    return {{"Authorization", "Bearer " + options.sdk_key}};
  }

  internal::GetOptions GetOpts(bool stream) const {
    internal::GetOptions o;
    o.connect_timeout = options.connect_timeout;
    o.idle_timeout = stream ? options.stream_idle_timeout : options.request_timeout;
    o.total_timeout = stream ? std::chrono::milliseconds(0) : options.request_timeout;
    // A stream carries many documents; each event is bounded by the SSE parser instead.
    o.max_body_bytes = stream ? UINT64_MAX : options.max_document_bytes;
    o.stopping = [this] { return stopping.load(); };
    o.tls = tls.get();
    return o;
  }

  // One GET /v1/config with If-None-Match.
  absl::Status PollOnce() {
    auto headers = AuthHeaders();
    if (!etag.empty()) headers.emplace_back("If-None-Match", etag);
    internal::ResponseHead head;
    std::string body;
    absl::Status s = internal::Get(
        base, "/v1/config", headers, GetOpts(false),
        [&](const internal::ResponseHead& h) {
          head = h;
          return true;
        },
        [&](std::string_view piece) {
          body.append(piece);
          return true;
        });
    if (!s.ok()) {
      NoteFailure(s, true);
      return s;
    }
    if (head.status == 304) return absl::OkStatus();
    if (head.status != 200) {
      absl::Status e = absl::UnavailableError(
          base::StrCat("GET /v1/config answered ", head.status, ": ", body.substr(0, 300)));
      NoteFailure(e, true);
      return e;
    }
    return Apply(std::move(body), head.Header("EdgeVault-Signature").value_or(""));
  }

  // Follows GET /v1/stream until it ends, fails or the client stops. `connected` tells
  // whether it was answered with 200.
  absl::Status RunStream(bool* connected) {
    auto headers = AuthHeaders();
    headers.emplace_back("Accept", "text/event-stream");
    if (std::shared_ptr<const Snapshot> cur = Load(); cur != nullptr) {
      headers.emplace_back("Last-Event-ID", std::to_string(cur->version));
    }
    internal::SseParser parser(options.max_document_bytes);
    std::string signature, signature_id;
    int status_code = 0;
    absl::Status parse_error = absl::OkStatus();
    absl::Status s = internal::Get(
        base, "/v1/stream", headers, GetOpts(true),
        [&](const internal::ResponseHead& h) {
          status_code = h.status;
          if (h.status != 200) return false;
          *connected = true;
          std::lock_guard<std::mutex> lock(mu);
          status.streaming = true;
          return true;
        },
        [&](std::string_view piece) {
          parse_error = parser.Feed(piece, [&](internal::SseEvent e) {
            if (e.event == "signature") {
              signature = std::move(e.data);
              signature_id = std::move(e.id);
            } else if (e.event == "config") {
              // The signature event precedes its config event with the same id.
              std::string sig = signature_id == e.id ? std::move(signature) : std::string();
              signature.clear();
              signature_id.clear();
              (void)Apply(std::move(e.data), sig);
            }
          });
          return parse_error.ok();
        });
    {
      std::lock_guard<std::mutex> lock(mu);
      status.streaming = false;
    }
    if (stopping.load()) return absl::CancelledError("stopping");
    if (!s.ok()) return s;
    if (!parse_error.ok()) return parse_error;
    if (status_code != 200) {
      return absl::UnavailableError(base::StrCat("GET /v1/stream answered ", status_code));
    }
    return absl::UnavailableError("the stream ended");
  }

  base::NextRun RunOnce() {
    if (options.mode == Mode::kStream) {
      bool connected = false;
      absl::Status s = RunStream(&connected);
      if (stopping.load()) return base::NextRun::Interval();
      NoteFailure(s, true);
      // Catch up at once while the stream is down (polling is the fallback), then
      // reconnect after the back-off.
      (void)PollOnce();
      if (connected) {
        return base::NextRun::After(absl::FromChrono(options.backoff_initial));
      }
      return base::NextRun::BackOff();
    }
    absl::Status s = PollOnce();
    return s.ok() || !absl::IsUnavailable(s) ? base::NextRun::Interval() : base::NextRun::BackOff();
  }

  template <typename T, typename Fn>
  Evaluation<T> Evaluate(std::string_view key, const Context& context, eval::ValueType type, T default_value,
                         const Fn& convert) const {
    Evaluation<T> out;
    out.value = std::move(default_value);
    out.is_default = true;
    const Snapshot* snap = Current();
    auto error = [&](std::string_view code, std::string message) {
      out.reason = eval::kReasonError;
      out.error_code = code;
      out.error_message = std::move(message);
      return std::move(out);
    };
    if (snap == nullptr) return error(kProviderNotReady, "no verified document yet");
    out.version = snap->version;
    const eval::CompiledFlag* flag = snap->flags->FindFlag(key);
    if (flag == nullptr) {
      auto c = snap->configs.find(key);
      if (c == snap->configs.end()) {
        if (!snap->flags_error.empty() && snap->variant_names.count(key)) {
          return error(eval::kErrorGeneral, snap->flags_error);
        }
        return error(eval::kErrorFlagNotFound, base::StrCat("no flag or config '", key, "' in this environment"));
      }
      if (!MatchesType(c->second, type)) {
        return error(eval::kErrorTypeMismatch, base::StrCat("config '", key, "' has another type"));
      }
      out.value = convert(c->second);
      out.reason = eval::kReasonStatic;
      out.is_default = false;
      return out;
    }
    eval::EvalResult r = eval::Evaluate(*snap->flags, key, context.impl().ctx, type);
    out.rule_index = r.rule_index;
    out.in_experiment = r.in_experiment;
    if (r.reason == eval::kReasonError) return error(r.error_code, std::move(r.error_message));
    out.reason = r.reason;
    if (r.value == nullptr) return out;
    out.value = convert(*r.value);
    out.is_default = false;
    auto names = snap->variant_names.find(key);
    if (names != snap->variant_names.end() && static_cast<size_t>(r.variation) < names->second.size()) {
      out.variant = names->second[static_cast<size_t>(r.variation)];
    } else {
      out.variant = std::to_string(r.variation);
    }
    return out;
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  if (options.sdk_key.empty() && options.mode != Mode::kOffline) {
    return absl::InvalidArgumentError("ClientOptions.sdk_key is required (an evs_… or evc_… key)");
  }
  if (options.document_keys_jwks.empty() == options.document_keys_file.empty()) {
    return absl::InvalidArgumentError(
        "exactly one of ClientOptions.document_keys_jwks and document_keys_file is required: the "
        "pinned document-signing keys (GET /.well-known/edgevault-document-keys.json)");
  }
  if (options.backoff_initial.count() <= 0 || options.backoff_max < options.backoff_initial ||
      options.poll_interval.count() <= 0 || options.connect_timeout.count() <= 0 ||
      options.request_timeout.count() <= 0 || options.stream_idle_timeout.count() <= 0 ||
      options.document_keys_recheck.count() <= 0) {
    return absl::InvalidArgumentError(
        "poll_interval, backoff_initial, connect/request/stream_idle timeouts and document_keys_recheck must "
        "be positive, backoff_max at least backoff_initial");
  }
  std::string jwks = options.document_keys_jwks;
  if (!options.document_keys_file.empty()) {
    EV_ASSIGN_OR_RETURN(jwks, impl->env->ReadFile(options.document_keys_file));
    impl->keys_text = jwks;
    impl->keys_checked_at = impl->env->Now();
  }
  EV_ASSIGN_OR_RETURN(impl->verifier, crypto::DocumentVerifier::FromJwks(jwks));
  if (impl->verifier.size() == 0) return absl::InvalidArgumentError("the pinned JWKS holds no key");
  if (options.mode == Mode::kOffline) {
    if (options.bootstrap_file.empty()) {
      return absl::InvalidArgumentError("Mode::kOffline needs ClientOptions.bootstrap_file");
    }
  } else {
    EV_ASSIGN_OR_RETURN(impl->base, internal::ParseBaseUrl(options.base_url));
    if (impl->base.tls) {
      EV_ASSIGN_OR_RETURN(impl->tls, internal::TlsContext::Create({.ca_file = options.tls_ca_file}, "tls_ca_file"));
    } else if (!options.tls_ca_file.empty()) {
      return absl::InvalidArgumentError("ClientOptions.tls_ca_file needs an https:// base_url");
    }
  }
  impl->client_document = options.sdk_key.starts_with("evc_");
  impl->workspace_id = options.workspace_id;
  impl->environment = options.environment;
  impl->options = std::move(options);
  if (!impl->options.bootstrap_file.empty()) {
    EV_ASSIGN_OR_RETURN(std::string file, impl->env->ReadFile(impl->options.bootstrap_file));
    EV_ASSIGN_OR_RETURN(internal::SnapshotFile parsed, internal::ParseSnapshotFile(file));
    if (absl::Status s = impl->Apply(std::move(parsed.document), parsed.signature); !s.ok()) {
      return absl::Status(s.code(), base::StrCat("bootstrap file ", impl->options.bootstrap_file, ": ", s.message()));
    }
  }
  std::unique_ptr<Client> client(new Client(std::move(impl)));
  Impl* i = client->impl_.get();
  if (i->options.mode != Mode::kOffline) {
    i->task = i->env->Schedule("edgevault sdk sync",
                               {.interval = absl::FromChrono(i->options.poll_interval),
                                .run_at_start = true,
                                .backoff_initial = absl::FromChrono(i->options.backoff_initial),
                                .backoff_max = absl::FromChrono(i->options.backoff_max)},
                               [i] { return i->RunOnce(); });
  }
  return client;
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  impl_->stopping.store(true);
  if (impl_->task != nullptr) impl_->task->Stop();
}

bool Client::WaitUntilReady(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->ready_cv.wait_for(lock, timeout, [&] { return impl_->current != nullptr; });
}

Evaluation<bool> Client::BoolValue(std::string_view key, const Context& context, bool default_value) const {
  return impl_->Evaluate<bool>(key, context, eval::ValueType::kBool, default_value, Convert<bool>);
}
Evaluation<std::string> Client::StringValue(std::string_view key, const Context& context,
                                            std::string_view default_value) const {
  return impl_->Evaluate<std::string>(key, context, eval::ValueType::kString, std::string(default_value),
                                      [](const json::value& v) { return std::string(v.get_string()); });
}
Evaluation<double> Client::NumberValue(std::string_view key, const Context& context, double default_value) const {
  return impl_->Evaluate<double>(key, context, eval::ValueType::kNumber, default_value, Convert<double>);
}
Evaluation<int64_t> Client::IntegerValue(std::string_view key, const Context& context,
                                         int64_t default_value) const {
  return impl_->Evaluate<int64_t>(key, context, eval::ValueType::kInteger, default_value, Convert<int64_t>);
}
Evaluation<std::string> Client::ObjectValue(std::string_view key, const Context& context,
                                            std::string_view default_json) const {
  return impl_->Evaluate<std::string>(key, context, eval::ValueType::kObject, std::string(default_json),
                                      [](const json::value& v) { return json::serialize(v); });
}
Evaluation<std::string> Client::JsonValue(std::string_view key, const Context& context,
                                          std::string_view default_json) const {
  return impl_->Evaluate<std::string>(key, context, eval::ValueType::kAny, std::string(default_json),
                                      [](const json::value& v) { return json::serialize(v); });
}

std::vector<std::string> Client::FlagKeys() const {
  std::shared_ptr<const Snapshot> s = impl_->Load();
  return s != nullptr ? s->flag_keys : std::vector<std::string>{};
}
std::vector<std::string> Client::ConfigKeys() const {
  std::shared_ptr<const Snapshot> s = impl_->Load();
  return s != nullptr ? s->config_keys : std::vector<std::string>{};
}

int Client::AddChangeListener(std::function<void(const ChangeEvent&)> listener) {
  std::lock_guard<std::mutex> lock(impl_->listeners_mu);
  int id = impl_->next_listener++;
  impl_->listeners.emplace(id, std::move(listener));
  return id;
}

void Client::RemoveChangeListener(int id) {
  std::lock_guard<std::mutex> lock(impl_->listeners_mu);
  impl_->listeners.erase(id);
}

ClientStatus Client::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->status;
}

absl::Status Client::SaveSnapshot(const std::string& path) const {
  std::shared_ptr<const Snapshot> s = impl_->Load();
  if (s == nullptr) return absl::FailedPreconditionError("no verified document is loaded yet");
  return impl_->env->WriteFileAtomically(path, internal::FormatSnapshotFile(s->signature, s->bytes), 0644);
}

}  // namespace edgevault::sdk
