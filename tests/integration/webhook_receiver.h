#pragma once
// A webhook receiver for tests: a minimal HTTP/1.1 server on a loopback port that records
// each request and answers it with a settable status (tests/integration/webhooks_test.cc,
// api_nodes_test.cc). Thread-safety: Requests/Delivered/SetStatus from any thread.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"

namespace edgevault::testing {

// A minimal HTTP/1.1 receiver: a socket bound to a loopback port chosen by the kernel. Until
// Listen() it refuses connections (bound, not listening: nobody else can take the port);
// then it answers each request with `status` and records it. One request per connection.
class Receiver {
 public:
  struct Request {
    std::string head;  // request line and headers
    std::string body;
    int answered = 0;  // the status it was answered with
    std::string Header(std::string_view name) const {
      std::string lower_head = head;
      for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string key = "\r\n" + std::string(name) + ":";
      for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t at = lower_head.find(key);
      if (at == std::string::npos) return "";
      size_t start = at + key.size();
      size_t end = head.find("\r\n", start);
      std::string v = head.substr(start, end - start);
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      return v;
    }
  };

  Receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~Receiver() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  int port() const { return port_; }
  std::string Url(std::string_view path = "/hook") const {
    return base::StrCat("http://127.0.0.1:", std::to_string(port_), path);
  }
  void SetStatus(int status) { status_ = status; }
  // Answers each request this long after reading it (a slow receiver).
  void SetDelayMs(int ms) { delay_ms_ = ms; }

  void Listen() {
    ASSERT_EQ(::listen(fd_, 64), 0);
    thread_ = std::thread([this] { Serve(); });
  }

  std::vector<Request> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // Requests answered 2xx, from webhook `id` ("" = any).
  std::vector<Request> Delivered(const std::string& id = "") {
    std::vector<Request> out;
    for (Request& r : Requests()) {
      if (r.answered / 100 == 2 && (id.empty() || r.Header("X-EdgeVault-Webhook-Id") == id)) out.push_back(r);
    }
    return out;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{5, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string data;
      char buf[8192];
      size_t head_end = std::string::npos;
      size_t want = 0;
      for (;;) {
        if (head_end != std::string::npos && data.size() >= head_end + 4 + want) break;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
          Request probe{data.substr(0, head_end), "", 0};
          want = static_cast<size_t>(std::atoi(probe.Header("Content-Length").c_str()));
        }
      }
      if (head_end == std::string::npos) {
        ::close(c);
        continue;
      }
      if (int ms = delay_ms_; ms > 0) ::poll(nullptr, 0, ms);
      int status = status_;
      Request r{data.substr(0, head_end), data.substr(head_end + 4, want), status};
      std::string answer = base::StrCat("HTTP/1.1 ", std::to_string(status),
                                        status == 200 ? " OK" : " Error",
                                        "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      (void)!::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(std::move(r));
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> status_{200};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
};

}  // namespace edgevault::testing
