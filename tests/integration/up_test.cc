// Drives the real binaries: `edgevault up` and the services, over loopback.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gtest/gtest.h"
#include "src/net/http_client.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::BinDir;
using testing::FreePortBase;

struct Proc {
  pid_t pid = -1;
  std::string out_file;
};

Proc Spawn(std::vector<std::string> args, const std::string& out_file) {
  Proc p;
  p.out_file = out_file;
  p.pid = ::fork();
  if (p.pid == 0) {
    FILE* f = std::fopen(out_file.c_str(), "w");
    ::dup2(fileno(f), 1);
    ::dup2(fileno(f), 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return p;
}

// Exit code of `p`, waiting at most `limit`; -1 when it is still running.
int WaitExit(pid_t pid, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    if (std::chrono::steady_clock::now() > end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }

class UpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-up-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    data_ = tmp_ + "/data";
    auto c = net::HttpClient::Create(net::HttpClientOptions{});
    ASSERT_TRUE(c.ok());
    client_ = *std::move(c);
  }
  void TearDown() override {
    if (up_.pid > 0 && Alive(up_.pid)) {
      ::kill(up_.pid, SIGKILL);
      WaitExit(up_.pid, std::chrono::seconds(5));
    }
    std::filesystem::remove_all(tmp_);
  }
  int Healthz(int port) {
    net::ClientRequest req;
    req.method = "GET";
    req.target = "/healthz";
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(port), req);
    return r.ok() ? r->status : 0;
  }
  // Polls until /healthz answers 200 (true) or `limit` passes (false).
  bool WaitHealthy(int port, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (Healthz(port) == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void StartUp() {
    base_ = FreePortBase();
    ASSERT_NE(base_, 0);
    up_ = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base",
                 std::to_string(base_)},
                tmp_ + "/up.log");
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(WaitHealthy(base_ + i, std::chrono::seconds(20)))
          << "service " << i << " not healthy; log:\n" << ReadFile(tmp_ + "/up.log");
    }
  }
  pid_t ChildPid(const std::string& name) {
    std::string text = ReadFile(data_ + "/run/" + name + ".pid");
    return text.empty() ? -1 : std::stoi(text);
  }

  std::string tmp_, data_;
  int base_ = 0;
  Proc up_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(UpTest, AllFiveAnswerThenSurviveKillAndStopCleanly) {
  StartUp();
  struct stat st;
  ASSERT_EQ(::stat((data_ + "/keys/master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A second `up` on the same directory is refused.
  Proc second = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base",
                       std::to_string(base_)},
                      tmp_ + "/second.log");
  EXPECT_EQ(WaitExit(second.pid, std::chrono::seconds(10)), 1);
  EXPECT_NE(ReadFile(tmp_ + "/second.log").find("already running"), std::string::npos);

  // kill -9 of a child: it is restarted.
  pid_t api = ChildPid("api");
  ASSERT_GT(api, 0);
  ASSERT_EQ(::kill(api, SIGKILL), 0);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  pid_t again = -1;
  while (std::chrono::steady_clock::now() < end) {
    again = ChildPid("api");
    if (again > 0 && again != api && Healthz(base_ + 1) == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(again, api);
  EXPECT_EQ(Healthz(base_ + 1), 200);

  std::vector<pid_t> children;
  for (const char* n : {"console", "api", "delivery", "auth", "audit"}) children.push_back(ChildPid(n));
  ASSERT_EQ(::kill(up_.pid, SIGTERM), 0);
  EXPECT_EQ(WaitExit(up_.pid, std::chrono::seconds(10)), 0) << ReadFile(tmp_ + "/up.log");
  up_.pid = -1;
  for (pid_t c : children) EXPECT_FALSE(c > 0 && Alive(c)) << "child " << c << " still alive";
}

TEST_F(UpTest, KeyFileReadableByOthersIsRefused) {
  StartUp();
  ::kill(up_.pid, SIGTERM);
  ASSERT_EQ(WaitExit(up_.pid, std::chrono::seconds(10)), 0);
  up_.pid = -1;
  std::string key = data_ + "/keys/internal.key";
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  Proc p = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base",
                  std::to_string(base_)},
                 tmp_ + "/perm.log");
  EXPECT_EQ(WaitExit(p.pid, std::chrono::seconds(10)), 1);
  std::string log = ReadFile(tmp_ + "/perm.log");
  EXPECT_NE(log.find(key), std::string::npos) << log;
  EXPECT_NE(log.find("chmod 600"), std::string::npos);
}

TEST_F(UpTest, BadConfigValueFailsNamingTheKey) {
  StartUp();
  ::kill(up_.pid, SIGTERM);
  ASSERT_EQ(WaitExit(up_.pid, std::chrono::seconds(10)), 0);
  up_.pid = -1;
  Proc p = Spawn({BinDir() + "/edgevault-api", "--config", data_ + "/edgevault.toml", "--set",
                  "server.max_body_bytes=lots"},
                 tmp_ + "/bad.log");
  EXPECT_EQ(WaitExit(p.pid, std::chrono::seconds(10)), 2);
  EXPECT_NE(ReadFile(tmp_ + "/bad.log").find("server.max_body_bytes"), std::string::npos);
}

}  // namespace
}  // namespace edgevault
