#pragma once
// AI model providers (docs/design/ai.md §1): one chat call, system + user text in, the
// model's text and token counts out, over an OpenAI-compatible chat-completions endpoint
// or the Anthropic Messages API. Built on net::HttpClient (timeouts, TLS verification).
// Provider problems come back as structured statuses the api maps to 502/503, never 500.
//
// Thread-safety: Complete() may be called from any number of threads at once.
//
//   AiProviderOptions o{.provider = "openai", .base_url = "http://127.0.0.1:11434/v1",
//                       .model = "llama3.1:8b"};
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<AiProvider> p, AiProvider::Create(o));
//   EV_ASSIGN_OR_RETURN(AiCompletion c, p->Complete({.system = "...", .user = "..."}));

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/net/http_client.h"

namespace edgevault::api {

struct AiProviderOptions {
  std::string provider;  // "openai" or "anthropic"
  std::string base_url;  // "" = the provider's public endpoint
  std::string model;
  std::string api_key;   // "" = no key sent
  absl::Duration timeout = absl::Seconds(60);
  int64_t max_output_tokens = 2000;
  base::Env* env = nullptr;  // nullptr = base::Env::Default()
  // Extra CA certificates (PEM) for an https:// base URL, besides the system trust store.
  std::string ca_file;
};

struct AiPrompt {
  std::string system;
  std::string user;
  bool json = true;  // ask for a JSON object (openai: response_format json_object)
};

struct AiCompletion {
  std::string text;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// A failed call: what the api answers (502/503), the error code, a message naming the
// provider's problem (never the prompt), Retry-After from a 429, and the tokens the
// provider reported (0 when none).
struct AiCallError {
  int http_status = 502;
  std::string code;  // ai_provider_unavailable, ai_provider_timeout, ai_provider_rate_limited, ai_provider_error
  std::string message;
  std::string retry_after;
};

class AiProvider {
 public:
  // Errors: InvalidArgument for an unknown provider, an empty model or a base URL that is
  // not http(s)://host[:port][/path].
  static absl::StatusOr<std::unique_ptr<AiProvider>> Create(AiProviderOptions options);
  virtual ~AiProvider() = default;

  // One call. Errors: Unavailable for every provider problem; `error` (when not null)
  // then receives the structured answer the api gives (AiCallError).
  virtual absl::StatusOr<AiCompletion> Complete(const AiPrompt& prompt, AiCallError* error) = 0;

  const std::string& provider() const { return options_.provider; }
  const std::string& model() const { return options_.model; }

 protected:
  explicit AiProvider(AiProviderOptions options) : options_(std::move(options)) {}
  AiProviderOptions options_;
};

namespace internal {
// Exposed for tests: the request body each wire format sends, and the parse of an answer.
std::string OpenAiRequestBody(const std::string& model, int64_t max_tokens, const AiPrompt& prompt);
std::string AnthropicRequestBody(const std::string& model, int64_t max_tokens, const AiPrompt& prompt);
// InvalidArgument naming what is missing or malformed.
absl::StatusOr<AiCompletion> ParseOpenAiAnswer(const std::string& body);
absl::StatusOr<AiCompletion> ParseAnthropicAnswer(const std::string& body);
}  // namespace internal

}  // namespace edgevault::api
