#pragma once
// The EdgeVault C++ server SDK: a Client holds the signed resolved document of one
// environment (docs/design/resolved-document.md), keeps it current over delivery's
// GET /v1/stream (polling GET /v1/config with its ETag while the stream is down), verifies
// every document's Ed25519 signature against keys the application pinned, and evaluates
// flags in-process with the same engine delivery uses (src/eval), so an in-process answer
// equals delivery's OFREP answer for the same context. Docs: docs/sdk-cpp.md.
//
// Thread-safety: every const method (the getters, status(), SaveSnapshot()) may be called
// from any number of threads at once. Getters take no lock: each thread keeps its own
// reference to the current snapshot and checks one atomic generation counter per call.
// Listeners run on the client's background thread, one at a time.
//
//   edgevault::sdk::ClientOptions options;
//   options.base_url = "http://127.0.0.1:8082";
//   options.sdk_key = std::getenv("EDGEVAULT_SDK_KEY");
//   options.document_keys_jwks = pinned_jwks;  // GET /.well-known/edgevault-document-keys.json
//   absl::StatusOr<std::unique_ptr<edgevault::sdk::Client>> client =
//       edgevault::sdk::Client::Create(options);
//   if (!client.ok()) ...  // bad options, unreadable bootstrap file
//   (*client)->WaitUntilReady(std::chrono::seconds(5));
//   edgevault::sdk::Context user("user-42");
//   user.Set("plan", "pro");
//   edgevault::sdk::Evaluation<bool> on = (*client)->BoolValue("new-checkout", user, false);
//   if (on.value) ...  // on.variant, on.reason ("TARGETING_MATCH", "SPLIT", ...)
//
// No Boost or Beast type appears here: the implementation is behind pointers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::sdk {

// An evaluation context: the targeting key (OFREP's "targetingKey", the "key" attribute of
// docs/design/flags.md) and attributes. Copyable; build it once per request or user and
// reuse it: Set() rebuilds it, evaluating it does not.
class Context {
 public:
  Context();
  explicit Context(std::string_view targeting_key);
  ~Context();
  Context(const Context& other);
  Context& operator=(const Context& other);
  Context(Context&& other) noexcept;
  Context& operator=(Context&& other) noexcept;

  // Sets attribute `name` (a top-level member; "key" is the targeting key). Returns *this.
  Context& Set(std::string_view name, std::string_view value);
  Context& Set(std::string_view name, const char* value);
  Context& Set(std::string_view name, bool value);
  Context& Set(std::string_view name, int64_t value);
  Context& Set(std::string_view name, int value);
  Context& Set(std::string_view name, double value);
  // Sets `name` to a JSON value (object, array, any scalar). InvalidArgument when `json`
  // does not parse; the context is then unchanged.
  absl::Status SetJson(std::string_view name, std::string_view json);

  // An OFREP evaluation context, `{"targetingKey": "u1", ...attributes}` (the body's
  // "context" member), exactly as delivery reads it. InvalidArgument when it is not a JSON
  // object or targetingKey is not a string.
  static absl::StatusOr<Context> FromOfrepJson(std::string_view json);

  // The context as a JSON object in the engine's form ("key" for the targeting key).
  std::string ToJson() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// One evaluation's answer: `value` is the flag's variation, a config's value (reason
// STATIC), or the caller's default when the flag gave none (reason ERROR, DISABLED or
// PREREQUISITE_FAILED without an off variation).
template <typename T>
struct Evaluation {
  T value{};
  // The variation's name, else its index as text ("0"); empty for configs and defaults.
  std::string variant;
  // TARGETING_MATCH, SPLIT, DEFAULT, DISABLED, STATIC, PREREQUISITE_FAILED or ERROR.
  // Points to static storage: valid for the life of the program.
  std::string_view reason;
  // With reason ERROR: FLAG_NOT_FOUND, TYPE_MISMATCH, TARGETING_KEY_MISSING, GENERAL, or
  // PROVIDER_NOT_READY (no document yet). Static storage too; empty otherwise.
  std::string_view error_code;
  std::string error_message;
  int rule_index = -1;       // the matching rule, else -1
  bool in_experiment = false;  // the variation came from a percentage rollout
  int64_t version = 0;       // the document version evaluated (0: none yet)
  // True when the answer is the caller's default (errors, no variation).
  bool is_default = false;
};

// A change of document seen by listeners: the versions and the keys (flags and configs)
// whose JSON differs, sorted; a key added or removed counts as changed.
struct ChangeEvent {
  int64_t previous_version = 0;  // 0: the first document
  int64_t version = 0;
  std::vector<std::string> changed_keys;
};

enum class Mode {
  kStream,   // follow GET /v1/stream; poll GET /v1/config while the stream is down
  kPoll,     // poll GET /v1/config every poll_interval with If-None-Match
  kOffline,  // no network at all: the bootstrap file is the document
};

struct ClientOptions {
  // Delivery's base URL, "http://host:port" or "https://host[:port]" (an optional path
  // prefix is kept). Unused in kOffline mode.
  std::string base_url;
  // https:// only: PEM CA certificates the server's certificate must chain to; "" = the
  // system's CA store. The certificate must also name the URL's host (or its IP address).
  // TLS 1.2 or later. A CA file that does not exist, or holds no certificate, makes Create
  // fail; a certificate that is not trusted is a connection failure (status().last_error
  // says why, and the client retries with its back-off, serving what it has).
  std::string tls_ca_file;
  // A server key (evs_…) or a client key (evc_…: the client document is expected).
  std::string sdk_key;
  // The pinned document-signing keys, a JWKS (GET /.well-known/edgevault-document-keys.json
  // copied into your deployment, not fetched at run time from the delivery you verify).
  // Exactly one of the two is required; every document is refused without a pinned key.
  // The file is read again when a document arrives signed by a key it did not hold (a
  // rotation) and, as documents arrive, once document_keys_recheck has passed since the
  // last read (a key removed from it stops verifying); each read replaces the whole pinned
  // set. One that fails or holds no key keeps the keys in use.
  std::string document_keys_jwks;
  std::string document_keys_file;
  std::chrono::milliseconds document_keys_recheck{10000};
  // The workspace id (ws_…) and environment the key is for. Empty: the first verified
  // document sets them, and every later document must match.
  std::string workspace_id;
  std::string environment;

  Mode mode = Mode::kStream;
  // A snapshot file (docs/design/sdk-snapshot-file.md; Client::SaveSnapshot writes one)
  // loaded and verified before anything else. Required in kOffline mode. An unreadable or
  // unverifiable file makes Create fail.
  std::string bootstrap_file;

  std::chrono::milliseconds poll_interval{30000};  // kPoll; kStream's fallback polls once per retry
  // Reconnect back-off: min(initial × 2^(n-1), max) after the n-th failure in a row, with
  // jitter; a stream that delivered a document resets it.
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds connect_timeout{2000};
  // A stream that sends nothing (delivery heartbeats every 15 s) for this long is
  // reconnected.
  std::chrono::milliseconds stream_idle_timeout{45000};
  std::chrono::milliseconds request_timeout{10000};  // one GET /v1/config
  // Larger documents are refused.
  size_t max_document_bytes = 16u << 20;
};

// What the client knows about its delivery, for health checks and logs.
struct ClientStatus {
  bool ready = false;        // a verified document is loaded
  int64_t version = 0;       // its version
  bool streaming = false;    // a stream is open and has answered
  int64_t documents_applied = 0;
  int64_t documents_refused = 0;   // failed verification (tampered, unknown key, older, ...)
  int64_t connection_failures = 0;  // streams or polls that failed or ended
  int64_t key_reloads = 0;   // times document_keys_file was read again with other keys
  std::string last_error;    // the most recent failure or refusal, "" when none
};

class Client {
 public:
  // Checks the options, loads the pinned keys and the bootstrap file, and (unless
  // kOffline) starts the background thread that fetches and follows the document.
  // Returns at once: use WaitUntilReady to wait for the first document.
  // Errors: InvalidArgument for a bad option (no key, no pinned keys, a base_url that is
  // not http://host[:port][/prefix], kOffline without bootstrap_file); InvalidArgument or
  // NotFound for an unreadable pinned-key file or bootstrap file; the verifier's codes
  // (Unauthenticated, NotFound, FailedPrecondition) for a bootstrap file that fails
  // verification.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Stops the background thread (an open stream is closed within about 100 ms).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Waits until a verified document is loaded; false when `timeout` passes first. The
  // getters answer before that with the default (ERROR / PROVIDER_NOT_READY).
  bool WaitUntilReady(std::chrono::milliseconds timeout) const;

  // Typed getters: the flag `key` (or config `key`, reason STATIC) for `context`. A value
  // of another type is ERROR / TYPE_MISMATCH with the default. Never fail, never block.
  Evaluation<bool> BoolValue(std::string_view key, const Context& context, bool default_value) const;
  Evaluation<std::string> StringValue(std::string_view key, const Context& context,
                                      std::string_view default_value) const;
  // Any JSON number.
  Evaluation<double> NumberValue(std::string_view key, const Context& context,
                                 double default_value) const;
  // A number with no fractional part.
  Evaluation<int64_t> IntegerValue(std::string_view key, const Context& context,
                                   int64_t default_value) const;
  // A JSON object or array, as JSON text (OpenFeature's "structure").
  Evaluation<std::string> ObjectValue(std::string_view key, const Context& context,
                                      std::string_view default_json) const;
  // A value of any type, as JSON text (what OFREP's "value" holds).
  Evaluation<std::string> JsonValue(std::string_view key, const Context& context,
                                    std::string_view default_json) const;

  // Flag and config keys of the current document, sorted.
  std::vector<std::string> FlagKeys() const;
  std::vector<std::string> ConfigKeys() const;

  // Calls `listener` after each new document is applied (on the background thread; keep it
  // short, and do not destroy the Client from inside it). Returns an id for Remove.
  int AddChangeListener(std::function<void(const ChangeEvent&)> listener);
  void RemoveChangeListener(int id);

  ClientStatus status() const;

  // Writes the current verified document and its signature as a snapshot file (for a
  // later bootstrap_file), atomically (temporary file + rename).
  // Errors: FailedPrecondition when no document is loaded; Internal on a write failure.
  absl::Status SaveSnapshot(const std::string& path) const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgevault::sdk
