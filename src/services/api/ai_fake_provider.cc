#include "src/services/api/ai_fake_provider.h"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include "src/base/status.h"

namespace edgevault::api {

namespace json = boost::json;

AiFakeProvider::~AiFakeProvider() {
  Release();
  if (server_) server_->Drain();
}

absl::Status AiFakeProvider::Start(std::string tls_cert_file, std::string tls_key_file) {
  tls_ = !tls_cert_file.empty();
  default_.text = "{}";
  net::Router router;
  router.AddAsync(boost::beast::http::verb::post, "/v1/chat/completions",
                  [this](net::Request& req, net::Responder respond) { Handle(req, std::move(respond), false); });
  router.AddAsync(boost::beast::http::verb::post, "/v1/messages",
                  [this](net::Request& req, net::Responder respond) { Handle(req, std::move(respond), true); });
  net::ServerOptions o;
  o.service = "ai-fake-provider";
  o.io_threads = 2;
  o.access_log = false;
  o.tls_cert_file = std::move(tls_cert_file);
  o.tls_key_file = std::move(tls_key_file);
  EV_ASSIGN_OR_RETURN(server_, net::HttpServer::Create(o, std::move(router)));
  return server_->Start();
}

uint16_t AiFakeProvider::port() const { return server_ ? server_->port() : 0; }

void AiFakeProvider::Push(Reply r) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(r));
}

void AiFakeProvider::SetDefault(Reply r) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(r);
}

std::vector<AiFakeProvider::Recorded> AiFakeProvider::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void AiFakeProvider::WaitForRequests(size_t n) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return requests_.size() >= n; });
}

void AiFakeProvider::Release() {
  std::vector<net::Responder> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting.swap(hanging_);
  }
  for (net::Responder& r : waiting) r(net::Response::Error(500, "released", "the test released this request"));
}

void AiFakeProvider::Handle(net::Request& req, net::Responder respond, bool anthropic) {
  Reply reply;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back({std::string(req.path()), std::string(req.Header("Authorization")),
                         std::string(req.Header("x-api-key")), std::string(req.Header("anthropic-version")),
                         req.body()});
    if (!queue_.empty()) {
      reply = std::move(queue_.front());
      queue_.pop_front();
    } else {
      reply = default_;
    }
    if (reply.hang) hanging_.push_back(respond);
  }
  cv_.notify_all();
  if (reply.hang) return;
  std::string body = reply.raw_body;
  if (body.empty() && reply.status == 200) {
    json::object o;
    if (anthropic) {
      o = {{"id", "msg_fake"},
           {"type", "message"},
           {"role", "assistant"},
           {"content", json::array{json::object{{"type", "text"}, {"text", reply.text}}}},
           {"stop_reason", "end_turn"},
           {"usage", {{"input_tokens", reply.input_tokens}, {"output_tokens", reply.output_tokens}}}};
    } else {
      o = {{"id", "chatcmpl-fake"},
           {"object", "chat.completion"},
           {"choices", json::array{json::object{{"index", 0},
                                                {"message", {{"role", "assistant"}, {"content", reply.text}}},
                                                {"finish_reason", "stop"}}}},
           {"usage", {{"prompt_tokens", reply.input_tokens}, {"completion_tokens", reply.output_tokens}}}};
    }
    body = json::serialize(o);
  } else if (body.empty()) {
    body = json::serialize(json::object{{"error", {{"type", "fake_error"}, {"message", "fake provider status " + std::to_string(reply.status)}}}});
  }
  net::Response r = net::Response::Json(reply.status, std::move(body));
  if (reply.status == 429) r.WithHeader("Retry-After", "7");
  respond(std::move(r));
}

}  // namespace edgevault::api
