#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "src/base/env.h"

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

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string ReadUntil(int fd, std::string& buffer, std::string_view marker) {
  for (int i = 0; i < 100 && buffer.find(marker) == std::string::npos; ++i) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) buffer.append(buf, static_cast<size_t>(n));
    if (n == 0) break;
  }
  return buffer;
}

int ReadPortFile(const std::string& data_dir, std::string_view name) {
  std::string text = ReadFile(data_dir + "/run/" + std::string(name) + ".port");
  return text.empty() ? 0 : std::atoi(text.c_str());
}

RefusingPort::RefusingPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port_ = ntohs(addr.sin_port);
  }
}

RefusingPort::~RefusingPort() {
  if (fd_ >= 0) ::close(fd_);
}

Proc Spawn(std::vector<std::string> args, const std::string& out_file,
           const std::vector<std::string>& env) {
  Proc p;
  p.out_file = out_file;
  p.pid = ::fork();
  if (p.pid == 0) {
    FILE* f = std::fopen(out_file.c_str(), "w");
    if (f != nullptr) {
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
    }
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return p;
}

int CountAuditLines(const std::string& data_dir, std::string_view action,
                    const std::vector<std::string>& needles) {
  int n = 0;
  std::string root = data_dir + "/audit/warehouse";
  std::error_code ec;
  if (!std::filesystem::exists(root, ec)) return 0;
  const std::string wanted = "\"action\":\"" + std::string(action) + "\"";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root, ec)) {
    if (entry.path().extension() != ".ndjson") continue;
    std::ifstream f(entry.path());
    for (std::string line; std::getline(f, line);) {
      bool match = line.find(wanted) != std::string::npos;
      for (const auto& needle : needles) match = match && line.find(needle) != std::string::npos;
      n += match;
    }
  }
  return n;
}

bool PollUntil(const std::function<bool()>& done, int limit_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

KillOnExit::~KillOnExit() {
  if (*pid > 0) {
    ::kill(*pid, SIGKILL);
    WaitExit(*pid, 30000);
  }
}

int WaitExit(pid_t pid, int limit_ms) {
  int code = -1;
  PollUntil(
      [&] {
        int st = 0;
        if (::waitpid(pid, &st, WNOHANG) != pid) return false;
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
      },
      limit_ms);
  return code;
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

std::unique_ptr<EdgeVaultUp> EdgeVaultUp::Start(std::vector<std::string> extra_args) {
  std::unique_ptr<EdgeVaultUp> up(new EdgeVaultUp());
  char tmpl[] = "/tmp/ev-it-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return nullptr;
  up->tmp_ = tmpl;
  up->data_ = up->tmp_ + "/data";
  up->out_file_ = up->tmp_ + "/up.out";
  up->client_ = *net::HttpClient::Create({});
  if (!up->Launch(std::move(extra_args))) return nullptr;
  std::string out = up->Output();
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(email:\s+(\S+))"))) up->email_ = m[1];
  if (std::regex_search(out, m, std::regex(R"(password:\s+(\S+))"))) up->password_ = m[1];
  up->admin_key_ = ReadFile(up->data_ + "/bootstrap-admin.key");
  while (!up->admin_key_.empty() && up->admin_key_.back() == '\n') up->admin_key_.pop_back();
  return up;
}

bool EdgeVaultUp::Restart(std::vector<std::string> extra_args) {
  if (pid_ > 0) return false;
  out_file_ = tmp_ + "/up-" + std::to_string(++restarts_) + ".out";
  return Launch(std::move(extra_args));
}

bool EdgeVaultUp::Launch(std::vector<std::string> extra_args) {
  std::vector<std::string> args = {BinDir() + "/edgevault", "up", "--data-dir", data_,
                                   "--port-base", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = Spawn(args, out_file_).pid;
  bool exited = false;
  bool started = PollUntil(
      [&] {
        int st = 0;
        exited = ::waitpid(pid_, &st, WNOHANG) == pid_;
        return exited || Output().find("EdgeVault is up") != std::string::npos;
      },
      60000);
  if (exited) pid_ = -1;
  // "up" is printed once every service answered /healthz; each wrote its port file
  // right after it started listening, so the files are there or about to be.
  if (!started || exited || !PollUntil([&] { return ReloadPorts(); }, 10000)) {
    std::fprintf(stderr, "edgevault up did not start:\n%s\n", Output().c_str());
    return false;
  }
  return true;
}

EdgeVaultUp::Stopped EdgeVaultUp::Stop() {
  Stopped out;
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    out.exit_code = WaitExit(pid_, 60000);
    if (out.exit_code == -1) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  out.output = Output();
  return out;
}

EdgeVaultUp::~EdgeVaultUp() {
  Stop();
  // Children of a SIGKILLed `up` (they also get SIGTERM from the kernel when it dies).
  for (const auto& [name, port] : ports_) {
    pid_t child = ServicePid(name);
    if (child > 0) ::kill(child, SIGKILL);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_, ec);
}

bool EdgeVaultUp::ReloadPorts() {
  for (std::string_view name : {"console", "api", "delivery", "auth", "audit"}) {
    int p = ReadPortFile(data_, name);
    if (p <= 0) return false;
    ports_[std::string(name)] = p;
  }
  return true;
}

int EdgeVaultUp::port(std::string_view service) const {
  auto it = ports_.find(service);
  return it == ports_.end() ? 0 : it->second;
}

std::string EdgeVaultUp::Output() const { return ReadFile(out_file_); }

pid_t EdgeVaultUp::ServicePid(std::string_view service) const {
  std::string text = ReadFile(data_ + "/run/" + std::string(service) + ".pid");
  return text.empty() ? -1 : static_cast<pid_t>(std::atoi(text.c_str()));
}

bool EdgeVaultUp::WaitHealthy(std::string_view service, int limit_ms) {
  return PollUntil([&] { return Call(service, "GET", "/healthz").status == 200; }, limit_ms);
}

HttpReply EdgeVaultUp::Call(std::string_view service, std::string method, std::string target,
                            std::string body, std::string bearer,
                            std::vector<std::pair<std::string, std::string>> headers) {
  net::ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.body = std::move(body);
  req.headers = std::move(headers);
  bool typed = false;
  for (const auto& [name, value] : req.headers) typed = typed || name == "Content-Type";
  if (!req.body.empty() && !typed) req.headers.push_back({"Content-Type", "application/json"});
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

absl::StatusOr<std::unique_ptr<SignedCaller>> SignedCaller::Load(const EdgeVaultUp& up,
                                                                  std::string_view as_service) {
  absl::StatusOr<net::ServiceCredential> credential = net::ServiceCredential::Load(
      base::Env::Default(), net::ServiceCredentialPath(up.data_dir() + "/keys", as_service), as_service);
  if (!credential.ok()) return credential.status();
  return std::unique_ptr<SignedCaller>(new SignedCaller(up, std::move(*credential)));
}

net::ClientResponse SignedCaller::Post(std::string_view to_service, const std::string& target,
                                       const std::string& body, std::string_view audience) {
  net::HttpClientOptions options;
  options.credential = &credential_;
  options.audience = std::string(audience.empty() ? to_service : audience);
  absl::StatusOr<std::unique_ptr<net::HttpClient>> client = net::HttpClient::Create(options);
  if (!client.ok()) {
    net::ClientResponse failed;
    failed.body = client.status().ToString();
    return failed;
  }
  net::ClientRequest req;
  req.method = "POST";
  req.target = target;
  req.body = body;
  req.headers = {{"Content-Type", "application/json"}};
  absl::StatusOr<net::ClientResponse> r = (*client)->Do("127.0.0.1", static_cast<uint16_t>(up_.port(to_service)), req);
  if (!r.ok()) {
    net::ClientResponse failed;
    failed.body = r.status().ToString();
    return failed;
  }
  return *std::move(r);
}

}  // namespace edgevault::testing
