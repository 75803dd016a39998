#pragma once
// Tests only: a local HTTP server speaking both AI wire formats (docs/design/ai.md §6):
// POST /v1/chat/completions (OpenAI-compatible; base URL http://127.0.0.1:<port>/v1) and
// POST /v1/messages (Anthropic; base URL http://127.0.0.1:<port>). It records every
// request (path, provider headers, body) and answers from a script: the model text to
// return, a raw body (malformed output), an HTTP status (429, 500), or no answer at all
// until Release() (a provider that hangs). Port 0: the kernel picks.
//
// Thread-safety: every method may be called from any thread while the server runs.
//
//   AiFakeProvider fake;
//   ASSERT_TRUE(fake.Start().ok());
//   fake.Push({.text = R"({"summary": "fine", "concerns": []})"});
//   ... call the api with ai.base_url = fake.OpenAiBaseUrl() ...
//   EXPECT_EQ(fake.Requests().size(), 1u);

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/net/http_server.h"

namespace edgevault::api {

class AiFakeProvider {
 public:
  struct Reply {
    std::string text;      // the model's text, wrapped in the caller's wire format
    std::string raw_body;  // when set: sent as the whole body instead (malformed answers)
    int status = 200;
    bool hang = false;     // answer nothing until Release()
    int64_t input_tokens = 100;
    int64_t output_tokens = 20;
  };
  struct Recorded {
    std::string path;
    std::string authorization, api_key, anthropic_version;
    std::string body;
  };

  AiFakeProvider() = default;
  ~AiFakeProvider();  // Release()s hanging requests, stops the server

  // Plain HTTP; or HTTPS with this certificate chain and key (PEM files).
  absl::Status Start(std::string tls_cert_file = "", std::string tls_key_file = "");
  uint16_t port() const;
  std::string OpenAiBaseUrl() const { return Origin() + "/v1"; }
  std::string AnthropicBaseUrl() const { return Origin(); }

  // Replies are used in order; when none is queued, the default reply (text "{}").
  void Push(Reply r);
  void SetDefault(Reply r);
  std::vector<Recorded> Requests() const;
  // Waits until `n` requests have arrived (no timeout of its own: the test's times out).
  void WaitForRequests(size_t n) const;
  // Answers every hanging request with 500.
  void Release();

 private:
  void Handle(net::Request& req, net::Responder respond, bool anthropic);
  std::string Origin() const { return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port()); }
  bool tls_ = false;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<Reply> queue_;
  Reply default_;
  std::vector<Recorded> requests_;
  std::vector<net::Responder> hanging_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace edgevault::api
