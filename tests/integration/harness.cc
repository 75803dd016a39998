#include "tests/integration/harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

namespace edgevault::testing {

namespace json = boost::json;

std::string BinDir() {
  const char* d = std::getenv("EDGEVAULT_BIN_DIR");
  return d ? d : "build/bin";
}

CommandResult RunShell(const std::string& command) {
  std::string cmd = command + " 2>&1";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

CommandResult RunEdgevault(const std::string& args, const std::string& env) {
  return RunShell(env + (env.empty() ? "" : " ") + BinDir() + "/edgevault " + args);
}

int FreePortBase() {
  boost::asio::io_context ioc;
  using tcp = boost::asio::ip::tcp;
  for (int attempt = 0; attempt < 200; ++attempt) {
    tcp::acceptor probe(ioc, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    int base = probe.local_endpoint().port();
    probe.close();
    if (base > 65000) continue;
    bool ok = true;
    for (int i = 0; i < 5 && ok; ++i) {
      boost::system::error_code ec;
      tcp::acceptor a(ioc);
      a.open(tcp::v4(), ec);
      a.bind(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), base + i), ec);
      ok = !ec;
    }
    if (ok) return base;
  }
  return 0;
}

std::string HttpReply::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return v;
    }
  }
  return "";
}

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

std::unique_ptr<EdgeVaultUp> EdgeVaultUp::Start(std::vector<std::string> extra_args) {
  std::unique_ptr<EdgeVaultUp> up(new EdgeVaultUp());
  char tmpl[] = "/tmp/ev-it-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return nullptr;
  up->tmp_ = tmpl;
  up->data_ = up->tmp_ + "/data";
  up->out_file_ = up->tmp_ + "/up.out";
  up->base_ = FreePortBase();
  up->client_ = *net::HttpClient::Create({});
  std::vector<std::string> args = {BinDir() + "/edgevault", "up", "--data-dir", up->data_,
                                   "--port-base", std::to_string(up->base_)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  up->pid_ = ::fork();
  if (up->pid_ == 0) {
    FILE* f = std::fopen(up->out_file_.c_str(), "w");
    ::dup2(fileno(f), 1);
    ::dup2(fileno(f), 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (up->Output().find("EdgeVault is up") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return nullptr;
    int st = 0;
    if (::waitpid(up->pid_, &st, WNOHANG) == up->pid_) return nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string out = up->Output();
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(email:\s+(\S+))"))) up->email_ = m[1];
  if (std::regex_search(out, m, std::regex(R"(password:\s+(\S+))"))) up->password_ = m[1];
  up->admin_key_ = ReadAll(up->data_ + "/bootstrap-admin.key");
  while (!up->admin_key_.empty() && up->admin_key_.back() == '\n') up->admin_key_.pop_back();
  return up;
}

EdgeVaultUp::~EdgeVaultUp() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_, ec);
}

int EdgeVaultUp::port(std::string_view service) const {
  static constexpr std::string_view kNames[] = {"console", "api", "delivery", "auth", "audit"};
  for (int i = 0; i < 5; ++i) {
    if (kNames[i] == service) return base_ + i;
  }
  return 0;
}

std::string EdgeVaultUp::Output() const { return ReadAll(out_file_); }

pid_t EdgeVaultUp::ServicePid(std::string_view service) const {
  std::string text = ReadAll(data_ + "/run/" + std::string(service) + ".pid");
  return text.empty() ? -1 : static_cast<pid_t>(std::atoi(text.c_str()));
}

bool EdgeVaultUp::WaitHealthy(std::string_view service, int limit_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    net::ClientRequest req;
    req.method = "GET";
    req.target = "/healthz";
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(port(service)), req);
    if (r.ok() && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

HttpReply EdgeVaultUp::Call(std::string_view service, std::string method, std::string target,
                            std::string body, std::string bearer,
                            std::vector<std::pair<std::string, std::string>> headers) {
  net::ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.body = std::move(body);
  req.headers = std::move(headers);
  if (!req.body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  if (!bearer.empty()) req.headers.push_back({"Authorization", "Bearer " + bearer});
  HttpReply reply;
  auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(port(service)), req);
  if (!r.ok()) {
    reply.status = -1;
    reply.body = std::string(r.status().message());
    return reply;
  }
  reply.status = r->status;
  reply.body = r->body;
  reply.headers = r->headers;
  boost::system::error_code ec;
  reply.json = json::parse(reply.body, ec);
  if (ec) reply.json = nullptr;
  return reply;
}

HttpReply EdgeVaultUp::Json(std::string_view service, std::string method, std::string target,
                            const json::value& body, std::string bearer,
                            std::vector<std::pair<std::string, std::string>> headers) {
  return Call(service, std::move(method), std::move(target), json::serialize(body), std::move(bearer),
              std::move(headers));
}

std::string EdgeVaultUp::TokenForNewUser(const std::string& email, const std::string& role) {
  const std::string password = "integration password 1";
  HttpReply created = Json("auth", "POST", "/v1/users",
                           {{"email", email}, {"role", role}, {"password", password}}, admin_key_);
  if (created.status != 201) return "";
  HttpReply login = Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
  if (login.status != 200) return "";
  std::string session(login.json.at("session").as_string());
  HttpReply token = Call("auth", "POST", "/v1/token", "", session);
  if (token.status != 200) return "";
  return std::string(token.json.at("token").as_string());
}

}  // namespace edgevault::testing
