#include "src/storage/redis/redis_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/storage/testing/candidate_port.h"

namespace edgevault::storage {

uint16_t CandidatePort() { return testing::CandidatePort(); }

RedisServer::RedisServer() {
  char tmpl[] = "/tmp/ev-redis-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
}

RedisServer::~RedisServer() {
  Kill();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

bool RedisServer::Start() {
  for (int tries = 0; tries < 5; ++tries) {
    if (port_ == 0 || (tries > 0 && !restarting_)) {
      port_ = CandidatePort();
      if (!tls_args_.empty()) {
        do {
          tls_port_ = CandidatePort();
        } while (tls_port_ == port_);
      }
    }
    if (Launch()) return true;
  }
  return false;
}

bool RedisServer::Restart() {
  Kill();
  restarting_ = true;
  bool ok = Start();
  restarting_ = false;
  return ok;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);  // in case a test stopped it
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::EnableTls(std::string cert_file, std::string key_file, std::string ca_file,
                            bool require_client_certificate) {
  tls_args_ = {"--tls-cert-file", std::move(cert_file), "--tls-key-file", std::move(key_file),
               "--tls-ca-cert-file", std::move(ca_file), "--tls-auth-clients",
               require_client_certificate ? "yes" : "no"};
}

void RedisServer::Pause() { ::kill(pid_, SIGSTOP); }
void RedisServer::Resume() { ::kill(pid_, SIGCONT); }

std::string RedisServer::Url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

RawReply RedisServer::Raw(const std::vector<std::string>& args) const {
  RawContext c(::redisConnect("127.0.0.1", port_));
  if (c == nullptr || c->err != 0) return nullptr;
  if (!password_.empty()) {
    RawReply auth(static_cast<redisReply*>(
        ::redisCommand(c.get(), "AUTH %b", password_.data(), password_.size())));
    if (auth == nullptr || auth->type == REDIS_REPLY_ERROR) return nullptr;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return RawReply(static_cast<redisReply*>(::redisCommandArgv(
      c.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
}

RedisEdgeKvOptions RedisServer::Options() const {
  RedisEdgeKvOptions o;
  o.port = port_;
  o.password = password_;
  return o;
}

bool RedisServer::Launch() {
  const std::string port = std::to_string(port_);
  const std::string dir = dir_.empty() ? "/tmp" : dir_;
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a crashed test process
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
    }
    std::vector<const char*> argv = {"redis-server", "--port", port.c_str(), "--save", "",
                                     "--appendonly", "no", "--bind", "127.0.0.1",
                                     "--daemonize", "no", "--dir", dir.c_str()};
    const std::string tls_port = std::to_string(tls_port_);
    if (!tls_args_.empty()) {
      argv.push_back("--tls-port");
      argv.push_back(tls_port.c_str());
      for (const std::string& a : tls_args_) argv.push_back(a.c_str());
    }
    if (!password_.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(password_.c_str());
    }
    argv.push_back(nullptr);
    ::execvp("redis-server", const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 1000; ++i) {  // up to ~10 s for the server to answer
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited: port taken, or no binary
      pid_ = -1;
      return false;
    }
    // Ours, not another test's server on the same port (ours then exits: port taken).
    RawReply info = Raw({"INFO", "server"});
    if (info != nullptr && info->type == REDIS_REPLY_STRING) {
      const std::string text(info->str, info->len);
      if (text.find("process_id:" + std::to_string(pid_) + "\r") != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return false;
}

namespace {

class SharedServerEnvironment : public ::testing::Environment {
 public:
  RedisServer* server() {
    std::lock_guard<std::mutex> lock(mu_);
    if (server_ == nullptr) {
      server_ = std::make_unique<RedisServer>();
      if (!server_->Start()) server_.reset();
    }
    return server_.get();
  }
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    server_.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<RedisServer> server_;
};

}  // namespace

RedisServer* SharedRedisServer() {
  static SharedServerEnvironment* env = [] {
    ::signal(SIGPIPE, SIG_IGN);
    auto* e = new SharedServerEnvironment();
    ::testing::AddGlobalTestEnvironment(e);  // gtest owns it and calls TearDown
    return e;
  }();
  RedisServer* server = env->server();
  if (server == nullptr) ADD_FAILURE() << "could not start redis-server";
  return server;
}

RedisServer* EmptySharedRedisServer() {
  RedisServer* server = SharedRedisServer();
  if (server == nullptr) return nullptr;
  RawReply flushed = server->Raw({"FLUSHALL"});
  if (flushed == nullptr || flushed->type != REDIS_REPLY_STATUS) {
    ADD_FAILURE() << "FLUSHALL failed";
    return nullptr;
  }
  return server;
}

}  // namespace edgevault::storage
