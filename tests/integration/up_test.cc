// Drives the real binaries: `edgevault up` and the services, over loopback.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/http_client.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::BinDir;
using testing::PollUntil;
using testing::Proc;
using testing::ReadFile;
using testing::ReadPortFile;
using testing::Spawn;
using testing::WaitExit;

constexpr const char* kServices[] = {"console", "api", "delivery", "auth", "audit"};

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
    // A clean stop first: `up` then waits for its children, so none is still writing in
    // the directory (a SIGKILLed `up` leaves them to die on their own, racing remove_all).
    if (up_.pid > 0 && Alive(up_.pid)) {
      ::kill(up_.pid, SIGTERM);
      if (WaitExit(up_.pid, 60000) == -1) {
        ::kill(up_.pid, SIGKILL);
        WaitExit(up_.pid, 5000);
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
  }
  int Healthz(int port) {
    net::ClientRequest req;
    req.method = "GET";
    req.target = "/healthz";
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(port), req);
    return r.ok() ? r->status : 0;
  }
  // Starts `up` with every service on a port the kernel picks and waits until each
  // reported its port and answers /healthz there.
  void StartUp() {
    up_ = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base", "0"},
                tmp_ + "/up.log");
    for (const char* name : kServices) {
      ASSERT_TRUE(PollUntil([&] { return ReadPortFile(data_, name) > 0; }, 30000))
          << name << " reported no port; log:\n" << ReadFile(tmp_ + "/up.log");
      ports_[name] = ReadPortFile(data_, name);
      ASSERT_TRUE(PollUntil([&] { return Healthz(ports_[name]) == 200; }, 30000))
          << name << " not healthy; log:\n" << ReadFile(tmp_ + "/up.log");
    }
  }
  pid_t ChildPid(const std::string& name) {
    std::string text = ReadFile(data_ + "/run/" + name + ".pid");
    return text.empty() ? -1 : std::stoi(text);
  }

  std::string tmp_, data_;
  std::map<std::string, int> ports_;
  Proc up_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(UpTest, AllFiveAnswerThenSurviveKillAndStopCleanly) {
  StartUp();
  struct stat st;
  ASSERT_EQ(::stat((data_ + "/keys/master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A second `up` on the same directory is refused.
  Proc second = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base", "0"},
                      tmp_ + "/second.log");
  EXPECT_EQ(WaitExit(second.pid, 30000), 1);
  EXPECT_NE(ReadFile(tmp_ + "/second.log").find("already running"), std::string::npos);

  // kill -9 of a child: it is restarted, on the same port (it inherits the socket `up`
  // bound), so its peers' addresses stay right.
  pid_t api = ChildPid("api");
  ASSERT_GT(api, 0);
  ASSERT_EQ(::kill(api, SIGKILL), 0);
  pid_t again = -1;
  EXPECT_TRUE(PollUntil(
      [&] {
        again = ChildPid("api");
        return again > 0 && again != api && Healthz(ports_["api"]) == 200;
      },
      30000))
      << "api was not restarted; log:\n" << ReadFile(tmp_ + "/up.log");
  EXPECT_EQ(ReadPortFile(data_, "api"), ports_["api"]);

  // The URLs `up` printed are the ports the services reported.
  const std::string log = ReadFile(tmp_ + "/up.log");
  for (const char* n : kServices) {
    EXPECT_NE(log.find(base::StrCat("http://127.0.0.1:", ports_[n])), std::string::npos) << n << "\n" << log;
  }

  std::vector<pid_t> children;
  for (const char* n : kServices) children.push_back(ChildPid(n));
  for (pid_t c : children) ASSERT_GT(c, 0);
  ASSERT_EQ(::kill(up_.pid, SIGTERM), 0);
  EXPECT_EQ(WaitExit(up_.pid, 60000), 0) << ReadFile(tmp_ + "/up.log");
  up_.pid = -1;
  // `up` reaped its children before exiting, so none of these pids is alive (or reused
  // this quickly).
  for (pid_t c : children) EXPECT_FALSE(Alive(c)) << "child " << c << " still alive";
  // A clean stop removes the run files.
  for (const char* n : kServices) {
    EXPECT_FALSE(std::filesystem::exists(data_ + "/run/" + n + ".pid")) << n;
    EXPECT_FALSE(std::filesystem::exists(data_ + "/run/" + n + ".port")) << n;
  }
}

// The first start's owner credentials come once, in a block of their own after the
// service URLs and before "EdgeVault is up", never in the services' log lines; the file
// auth handed them over in is gone, and a second start prints nothing of the kind.
TEST_F(UpTest, FirstStartPrintsTheOwnerOnceInABlockOfItsOwn) {
  StartUp();
  std::string log;
  ASSERT_TRUE(PollUntil([&] { return (log = ReadFile(tmp_ + "/up.log")).find("EdgeVault is up") != std::string::npos; }, 30000));
  size_t urls = log.find(base::StrCat("http://127.0.0.1:", ports_["audit"]));
  size_t block = log.find("First start: EdgeVault created the owner account");
  size_t password = log.find("password: ");
  size_t is_up = log.find("EdgeVault is up");
  ASSERT_NE(block, std::string::npos) << log;
  EXPECT_LT(urls, block) << log;
  EXPECT_LT(block, password) << log;
  EXPECT_LT(password, is_up) << log;
  EXPECT_EQ(log.find("password: ", password + 1), std::string::npos) << "printed twice:\n" << log;
  // The password is on no JSON log line.
  std::string pw = log.substr(password + 10, log.find('\n', password) - password - 10);
  ASSERT_GE(pw.size(), 16u);
  for (size_t at = log.find(pw); at != std::string::npos; at = log.find(pw, at + 1)) {
    size_t line_start = log.rfind('\n', at);
    EXPECT_NE(log[line_start == std::string::npos ? 0 : line_start + 1], '{') << log;
  }
  EXPECT_NE(log.find("edgevault login --api-url http://127.0.0.1:" + std::to_string(ports_["api"])), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(data_ + "/run/first-start"));

  ASSERT_EQ(::kill(up_.pid, SIGTERM), 0);
  ASSERT_EQ(WaitExit(up_.pid, 60000), 0);
  up_.pid = -1;
  std::filesystem::rename(tmp_ + "/up.log", tmp_ + "/first.log");
  StartUp();
  ASSERT_TRUE(PollUntil([&] { return (log = ReadFile(tmp_ + "/up.log")).find("EdgeVault is up") != std::string::npos; }, 30000));
  EXPECT_EQ(log.find("First start"), std::string::npos) << log;
  EXPECT_EQ(log.find(pw), std::string::npos) << log;
}

TEST_F(UpTest, KeyFileReadableByOthersIsRefused) {
  StartUp();
  ::kill(up_.pid, SIGTERM);
  ASSERT_EQ(WaitExit(up_.pid, 60000), 0);
  up_.pid = -1;
  std::string key = data_ + "/keys/services/delivery.pem";
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  Proc p = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base", "0"},
                 tmp_ + "/perm.log");
  EXPECT_EQ(WaitExit(p.pid, 30000), 1);
  std::string log = ReadFile(tmp_ + "/perm.log");
  EXPECT_NE(log.find(key), std::string::npos) << log;
  EXPECT_NE(log.find("chmod 600"), std::string::npos);
}

// Issue 12 item 3, upgrade path: a data directory from a release with the shared
// keys/internal.key starts, the key is retired (deleted) and auth's correlation key is the
// one the old auth derived from it; every service runs on its own credential.
TEST_F(UpTest, LegacyInternalKeyIsRetiredOnStart) {
  StartUp();
  ::kill(up_.pid, SIGTERM);
  ASSERT_EQ(WaitExit(up_.pid, 60000), 0);
  up_.pid = -1;
  const std::string legacy = data_ + "/keys/internal.key";
  const std::string correlation = data_ + "/keys/auth/audit-correlation.key";
  ASSERT_EQ(::unlink(correlation.c_str()), 0);  // as before the upgrade: auth derived it
  {
    FILE* f = std::fopen(legacy.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", f);
    std::fclose(f);
    ASSERT_EQ(::chmod(legacy.c_str(), 0600), 0);
  }
  StartUp();
  EXPECT_FALSE(std::filesystem::exists(legacy));
  // HKDF-SHA256(0xaa * 32, "", "edgevault/audit-correlation/v1"), as data_dir_test pins it.
  EXPECT_EQ(ReadFile(correlation), "bf58cbdc05b594c21ecc72fa96156f0456745aa477612c14d6aecf833bb1577d\n");
  for (const char* name : kServices) {
    EXPECT_TRUE(std::filesystem::exists(data_ + "/keys/services/" + name + ".pem")) << name;
    EXPECT_TRUE(std::filesystem::exists(data_ + "/trust/" + name + ".pub")) << name;
  }
  ::kill(up_.pid, SIGTERM);
  EXPECT_EQ(WaitExit(up_.pid, 60000), 0);
  up_.pid = -1;
}

TEST_F(UpTest, BadConfigValueFailsNamingTheKey) {
  StartUp();
  ::kill(up_.pid, SIGTERM);
  ASSERT_EQ(WaitExit(up_.pid, 60000), 0);
  up_.pid = -1;
  Proc p = Spawn({BinDir() + "/edgevault-api", "--config", data_ + "/edgevault.toml", "--set",
                  "server.max_body_bytes=lots"},
                 tmp_ + "/bad.log");
  EXPECT_EQ(WaitExit(p.pid, 30000), 2);
  EXPECT_NE(ReadFile(tmp_ + "/bad.log").find("server.max_body_bytes"), std::string::npos);
}

// A service whose configuration cannot work (here the api's ai.ca_file names no file) exits
// 2 at start; `up` then stops everything and exits 2 naming the service, instead of saying
// "EdgeVault is up" and restarting it forever.
TEST_F(UpTest, AServiceThatCannotStartWithItsConfigurationStopsUp) {
  Proc p = Spawn({BinDir() + "/edgevault", "up", "--data-dir", data_, "--port-base", "0", "--set",
                  "ai.provider=openai", "--set", "ai.model=m", "--set", "ai.ca_file=" + tmp_ + "/no-such-ca.crt"},
                 tmp_ + "/unstartable.log");
  EXPECT_EQ(WaitExit(p.pid, 60000), 2);
  const std::string log = ReadFile(tmp_ + "/unstartable.log");
  EXPECT_NE(log.find("ai.ca_file: TLS CA file"), std::string::npos) << log;
  EXPECT_NE(log.find("the api service cannot start with this configuration"), std::string::npos) << log;
  EXPECT_EQ(log.find("EdgeVault is up"), std::string::npos) << log;
  for (const char* name : kServices) {
    std::string pid_text = ReadFile(data_ + "/run/" + name + ".pid");
    if (!pid_text.empty()) {
      EXPECT_FALSE(Alive(std::stoi(pid_text))) << name << " still runs";
    }
  }
}

// A configured (fixed) port is the one `up` binds; when it is taken, `up` says which
// service and port, before starting anything.
TEST_F(UpTest, TakenFixedPortIsNamed) {
  testing::RefusingPort taken;
  ASSERT_NE(taken.port(), 0);
  // (--port-base would override every port; set them one by one.)
  std::vector<std::string> args = {BinDir() + "/edgevault", "up", "--data-dir", data_};
  for (const char* n : kServices) {
    args.push_back("--set");
    args.push_back(base::StrCat("services.", n, ".port=", std::string_view(n) == "api" ? taken.port() : 0));
  }
  Proc p = Spawn(args, tmp_ + "/taken.log");
  EXPECT_EQ(WaitExit(p.pid, 30000), 1);
  const std::string log = ReadFile(tmp_ + "/taken.log");
  EXPECT_NE(log.find(base::StrCat("cannot listen on 127.0.0.1:", taken.port(), " for the api service")),
            std::string::npos)
      << log;
  EXPECT_FALSE(std::filesystem::exists(data_ + "/run/console.pid")) << "a service was started";
}

TEST_F(UpTest, ListenFdMustBeAListeningSocket) {
  StartUp();
  ::kill(up_.pid, SIGTERM);
  ASSERT_EQ(WaitExit(up_.pid, 60000), 0);
  up_.pid = -1;
  // fd 1 is the log file Spawn opened, not a socket.
  Proc p = Spawn({BinDir() + "/edgevault-console", "--config", data_ + "/edgevault.toml", "--listen-fd", "1"},
                 tmp_ + "/fd.log");
  EXPECT_EQ(WaitExit(p.pid, 30000), 2);
  EXPECT_NE(ReadFile(tmp_ + "/fd.log").find("--listen-fd 1 is not a listening socket"), std::string::npos)
      << ReadFile(tmp_ + "/fd.log");
}

}  // namespace
}  // namespace edgevault
