// The master key at start-up (issue 5): a wrong, missing or world-readable key stops the
// api with a message naming the file and the fix — never a running service that would
// produce garbage; the key may also come from a file path or an environment variable
// named in the configuration.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/http_client.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::EdgeVaultUp;

struct Outcome {
  bool started = false;  // it reported its port and answered /healthz (then it got SIGTERM)
  int exit_code = -1;    // its exit code (after the SIGTERM when it started)
  std::string output;
};

// Runs edgevault-api alone, on a port the kernel picks, in a data directory of its own
// with the keys of `up`, plus extra --set flags and environment. Waits until it either
// exits or starts; a started api is stopped with SIGTERM. The 60 s limits only bound how
// long a broken build makes the test wait.
Outcome RunApi(const EdgeVaultUp& up, const std::vector<std::string>& sets, const std::string& env_assign = "") {
  static int runs = 0;
  const std::string dir = up.data_dir() + "/../standalone-" + std::to_string(++runs);
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  std::vector<std::string> args = {testing::BinDir() + "/edgevault-api", "--config", up.data_dir() + "/edgevault.toml",
                                   "--set", "services.api.port=0", "--set", "data_dir=" + dir,
                                   "--set", "keys.dir=" + up.data_dir() + "/keys"};
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  testing::Proc p = testing::Spawn(args, dir + ".out", env_assign.empty() ? std::vector<std::string>{}
                                                                         : std::vector<std::string>{env_assign});
  auto client = *net::HttpClient::Create({});
  Outcome o;
  testing::PollUntil(
      [&] {
        int st = 0;
        if (::waitpid(p.pid, &st, WNOHANG) == p.pid) {
          o.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          p.pid = -1;
          return true;
        }
        int port = testing::ReadPortFile(dir, "api");
        if (port <= 0) return false;
        net::ClientRequest req;
        req.method = "GET";
        req.target = "/healthz";
        auto r = client->Do("127.0.0.1", static_cast<uint16_t>(port), req);
        o.started = r.ok() && r->status == 200;
        return o.started;
      },
      60000);
  if (p.pid > 0) {
    ::kill(p.pid, SIGTERM);
    o.exit_code = testing::WaitExit(p.pid, 60000);
    if (o.exit_code == -1) {
      ::kill(p.pid, SIGKILL);
      ::waitpid(p.pid, nullptr, 0);
    }
  }
  o.output = testing::ReadFile(p.out_file);
  return o;
}

TEST(MasterKeyTest, BadKeysStopStartUpAndAlternativeSourcesWork) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  std::string dir = up->data_dir() + "/..";
  std::string good;
  {
    std::ifstream f(up->data_dir() + "/keys/master.key");
    good.assign(std::istreambuf_iterator<char>(f), {});
  }
  while (!good.empty() && good.back() == '\n') good.pop_back();

  std::string garbage = dir + "/garbage.key";
  std::ofstream(garbage) << "this is not a key\n";
  std::filesystem::permissions(garbage, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Outcome bad = RunApi(*up, {"keys.master_key_file=" + garbage});
  EXPECT_FALSE(bad.started) << bad.output;
  EXPECT_EQ(bad.exit_code, 2) << bad.output;  // a configuration that cannot work
  EXPECT_NE(bad.output.find("garbage.key"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("this is not a key"), std::string::npos) << "key text must never be echoed";

  Outcome missing = RunApi(*up, {"keys.master_key_file=" + dir + "/nope.key"});
  EXPECT_FALSE(missing.started) << missing.output;
  EXPECT_EQ(missing.exit_code, 2) << missing.output;  // a configuration that cannot work
  EXPECT_NE(missing.output.find("nope.key"), std::string::npos) << missing.output;

  std::string open_key = dir + "/open.key";
  std::ofstream(open_key) << good << "\n";
  std::filesystem::permissions(open_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                             std::filesystem::perms::others_read);
  Outcome readable = RunApi(*up, {"keys.master_key_file=" + open_key});
  EXPECT_FALSE(readable.started) << readable.output;
  EXPECT_EQ(readable.exit_code, 2) << readable.output;  // a configuration that cannot work
  EXPECT_NE(readable.output.find("chmod"), std::string::npos) << readable.output;

  // The right key from a file path or an environment variable: the api starts.
  std::filesystem::permissions(open_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Outcome from_file = RunApi(*up, {"keys.master_key_file=" + open_key});
  EXPECT_TRUE(from_file.started) << from_file.output;
  EXPECT_EQ(from_file.exit_code, 0) << from_file.output;
  Outcome from_env = RunApi(*up, {"keys.master_key_env=EV_TEST_MASTER"}, "EV_TEST_MASTER=" + good);
  EXPECT_TRUE(from_env.started) << from_env.output;
  EXPECT_EQ(from_env.exit_code, 0) << from_env.output;
  Outcome empty_env = RunApi(*up, {"keys.master_key_env=EV_TEST_UNSET_MASTER"});
  EXPECT_FALSE(empty_env.started) << empty_env.output;
  EXPECT_EQ(empty_env.exit_code, 2) << empty_env.output;  // a configuration that cannot work
  EXPECT_NE(empty_env.output.find("EV_TEST_UNSET_MASTER"), std::string::npos) << empty_env.output;
}

}  // namespace
}  // namespace edgevault
