#include "src/services/api/ai_provider.h"

#include <boost/json.hpp>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/workspace/webhooks.h"

namespace edgevault::api {

namespace json = boost::json;

namespace {

// At most this much of a provider's own error text is passed on.
constexpr size_t kMaxProviderMessage = 300;

std::string Clip(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxProviderMessage)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  return out;
}

const json::value* Member(const json::value& v, std::string_view name) {
  const json::object* o = v.if_object();
  return o == nullptr ? nullptr : o->if_contains(name);
}

int64_t TokenCount(const json::value* usage, std::string_view name) {
  const json::value* v = usage == nullptr ? nullptr : Member(*usage, name);
  if (v == nullptr) return 0;
  if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() < (uint64_t{1} << 62)) return static_cast<int64_t>(v->get_uint64());
  return 0;
}

absl::StatusOr<json::value> ParseAnswer(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return absl::InvalidArgumentError("the answer is not a JSON object");
  return v;
}

// The provider's own error message from {"error": {"message"}} (both formats use it).
std::string ProviderMessage(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return "";
  const json::value* e = Member(v, "error");
  if (e == nullptr) return "";
  if (e->is_string()) return Clip(e->get_string());
  const json::value* m = Member(*e, "message");
  return m != nullptr && m->is_string() ? Clip(m->get_string()) : "";
}

class HttpAiProvider final : public AiProvider {
 public:
  HttpAiProvider(AiProviderOptions o, workspace::WebhookUrl url, std::unique_ptr<net::HttpClient> client)
      : AiProvider(std::move(o)), url_(std::move(url)), client_(std::move(client)) {
    prefix_ = url_.target == "/" ? "" : url_.target;
  }

  absl::StatusOr<AiCompletion> Complete(const AiPrompt& prompt, AiCallError* error) override {
    AiCallError local;
    AiCallError& err = error != nullptr ? *error : local;
    const bool anthropic = options_.provider == "anthropic";
    net::ClientRequest req;
    req.method = "POST";
    req.target = prefix_ + (anthropic ? "/v1/messages" : "/chat/completions");
    req.headers.push_back({"Content-Type", "application/json"});
    req.headers.push_back({"Accept", "application/json"});
    if (anthropic) {
      req.headers.push_back({"anthropic-version", "2023-06-01"});
      if (!options_.api_key.empty()) req.headers.push_back({"x-api-key", options_.api_key});
      req.body = internal::AnthropicRequestBody(options_.model, options_.max_output_tokens, prompt);
    } else {
      if (!options_.api_key.empty()) req.headers.push_back({"Authorization", "Bearer " + options_.api_key});
      req.body = internal::OpenAiRequestBody(options_.model, options_.max_output_tokens, prompt);
    }
    auto fail = [&](int status, std::string code, std::string message) -> absl::Status {
      err.http_status = status;
      err.code = std::move(code);
      err.message = std::move(message);
      return absl::UnavailableError(base::ToAbsl(err.message));
    };
    const std::string who = "the AI provider (" + options_.provider + " at " + url_.host + ")";
    absl::StatusOr<net::ClientResponse> res =
        client_->Do(url_.host, url_.port, req, url_.tls ? net::Scheme::kHttps : net::Scheme::kHttp);
    if (!res.ok()) {
      if (res.status().code() == absl::StatusCode::kDeadlineExceeded) {
        return fail(503, "ai_provider_timeout", who + " did not answer within ai.timeout_ms");
      }
      if (res.status().code() == absl::StatusCode::kResourceExhausted) {
        return fail(502, "ai_provider_error", who + " sent an answer larger than the api accepts");
      }
      return fail(503, "ai_provider_unavailable",
                  who + " cannot be reached: " + Clip(base::ToStd(res.status().message())));
    }
    if (res->status == 429) {
      if (std::optional<std::string_view> ra = res->Header("Retry-After"); ra) err.retry_after = Clip(*ra);
      return fail(503, "ai_provider_rate_limited", who + " is rate limiting the api (HTTP 429)" +
                                                       (ProviderMessage(res->body).empty() ? "" : ": " + ProviderMessage(res->body)));
    }
    if (res->status < 200 || res->status > 299) {
      std::string m = ProviderMessage(res->body);
      return fail(502, "ai_provider_error",
                  who + " answered HTTP " + std::to_string(res->status) + (m.empty() ? "" : ": " + m));
    }
    absl::StatusOr<AiCompletion> parsed =
        anthropic ? internal::ParseAnthropicAnswer(res->body) : internal::ParseOpenAiAnswer(res->body);
    if (!parsed.ok()) {
      return fail(502, "ai_provider_error",
                  who + " sent an answer that is not its wire format: " + std::string(parsed.status().message()));
    }
    return parsed;
  }

 private:
  workspace::WebhookUrl url_;
  std::string prefix_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AiProvider>> AiProvider::Create(AiProviderOptions o) {
  if (o.provider != "openai" && o.provider != "anthropic") {
    return absl::InvalidArgumentError(base::ToAbsl("ai.provider must be openai or anthropic, not \"" + o.provider + "\""));
  }
  if (o.model.empty()) {
    return absl::InvalidArgumentError(base::ToAbsl("ai.model must be set when ai.provider is " + o.provider));
  }
  if (o.base_url.empty()) o.base_url = o.provider == "openai" ? "https://api.openai.com/v1" : "https://api.anthropic.com";
  absl::StatusOr<workspace::WebhookUrl> url = workspace::ParseWebhookUrl(o.base_url);
  if (!url.ok() || url->target.find('?') != std::string::npos) {
    return absl::InvalidArgumentError(base::ToAbsl("ai.base_url \"" + o.base_url +
                                                   "\" must be http(s)://host[:port][/path] without a query"));
  }
  while (url->target.size() > 1 && url->target.back() == '/') url->target.pop_back();
  net::HttpClientOptions co;
  co.connect_timeout = std::min(o.timeout, absl::Seconds(10));
  co.request_timeout = o.timeout;
  co.max_response_body_bytes = 4 << 20;
  co.env = o.env;
  co.tls.enabled = true;
  co.tls.system_trust = true;
  co.tls.ca_file = o.ca_file;
  absl::StatusOr<std::unique_ptr<net::HttpClient>> created = net::HttpClient::Create(co);
  if (!created.ok()) {
    return absl::Status(created.status().code(), base::ToAbsl("ai.ca_file: " + std::string(created.status().message())));
  }
  std::unique_ptr<net::HttpClient> client = *std::move(created);
  return std::unique_ptr<AiProvider>(new HttpAiProvider(std::move(o), *std::move(url), std::move(client)));
}

namespace internal {

std::string OpenAiRequestBody(const std::string& model, int64_t max_tokens, const AiPrompt& prompt) {
  json::object body{{"model", model},
                    {"messages", json::array{json::object{{"role", "system"}, {"content", prompt.system}},
                                             json::object{{"role", "user"}, {"content", prompt.user}}}},
                    {"max_tokens", max_tokens},
                    {"temperature", 0}};
  if (prompt.json) body["response_format"] = json::object{{"type", "json_object"}};
  return json::serialize(body);
}

std::string AnthropicRequestBody(const std::string& model, int64_t max_tokens, const AiPrompt& prompt) {
  json::object body{{"model", model},
                    {"system", prompt.system},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", prompt.user}}}},
                    {"max_tokens", max_tokens},
                    {"temperature", 0}};
  return json::serialize(body);
}

absl::StatusOr<AiCompletion> ParseOpenAiAnswer(const std::string& body) {
  EV_ASSIGN_OR_RETURN(json::value v, ParseAnswer(body));
  const json::value* choices = Member(v, "choices");
  if (choices == nullptr || !choices->is_array() || choices->get_array().empty()) {
    return absl::InvalidArgumentError("no choices[0]");
  }
  const json::value* message = Member(choices->get_array()[0], "message");
  const json::value* content = message == nullptr ? nullptr : Member(*message, "content");
  if (content == nullptr || !content->is_string()) {
    return absl::InvalidArgumentError("choices[0].message.content is not a string");
  }
  AiCompletion c;
  c.text = std::string(content->get_string());
  const json::value* usage = Member(v, "usage");
  c.input_tokens = TokenCount(usage, "prompt_tokens");
  c.output_tokens = TokenCount(usage, "completion_tokens");
  return c;
}

absl::StatusOr<AiCompletion> ParseAnthropicAnswer(const std::string& body) {
  EV_ASSIGN_OR_RETURN(json::value v, ParseAnswer(body));
  const json::value* content = Member(v, "content");
  if (content == nullptr || !content->is_array()) return absl::InvalidArgumentError("content is not an array");
  AiCompletion c;
  bool any = false;
  for (const json::value& block : content->get_array()) {
    const json::value* type = Member(block, "type");
    const json::value* text = Member(block, "text");
    if (type == nullptr || !type->is_string() || type->get_string() != "text") continue;
    if (text == nullptr || !text->is_string()) return absl::InvalidArgumentError("a text block has no text");
    c.text.append(text->get_string().data(), text->get_string().size());
    any = true;
  }
  if (!any) return absl::InvalidArgumentError("content has no text block");
  const json::value* usage = Member(v, "usage");
  c.input_tokens = TokenCount(usage, "input_tokens");
  c.output_tokens = TokenCount(usage, "output_tokens");
  return c;
}

}  // namespace internal
}  // namespace edgevault::api
