// The master key at start-up (issue 5): a wrong, missing or world-readable key stops the
// api with a message naming the file and the fix — never a running service that would
// produce garbage; the key may also come from a file path or an environment variable
// named in the configuration.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::EdgeVaultUp;

struct Outcome {
  int exit_code = -1;  // -1: still running after the wait (then killed)
  std::string output;
};

// Runs edgevault-api on the data directory of `up` (on a free port) with extra --set
// flags and environment, waiting up to 3 s for it to exit.
Outcome RunApi(const EdgeVaultUp& up, const std::vector<std::string>& sets, const std::string& env_assign = "") {
  std::string out_file = up.data_dir() + "/../api-probe.out";
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::fopen(out_file.c_str(), "w");
    ::dup2(fileno(f), 1);
    ::dup2(fileno(f), 2);
    if (!env_assign.empty()) ::putenv(const_cast<char*>(env_assign.c_str()));
    std::vector<std::string> args = {testing::BinDir() + "/edgevault-api", "--config", up.data_dir() + "/edgevault.toml",
                                     "--set", "services.api.port=0"};
    for (const auto& s : sets) {
      args.push_back("--set");
      args.push_back(s);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  Outcome o;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      o.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
      break;
    }
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream f(out_file);
  o.output.assign(std::istreambuf_iterator<char>(f), {});
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
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("garbage.key"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("this is not a key"), std::string::npos) << "key text must never be echoed";

  Outcome missing = RunApi(*up, {"keys.master_key_file=" + dir + "/nope.key"});
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("nope.key"), std::string::npos) << missing.output;

  std::string open_key = dir + "/open.key";
  std::ofstream(open_key) << good << "\n";
  std::filesystem::permissions(open_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                             std::filesystem::perms::others_read);
  Outcome readable = RunApi(*up, {"keys.master_key_file=" + open_key});
  EXPECT_EQ(readable.exit_code, 1) << readable.output;
  EXPECT_NE(readable.output.find("chmod"), std::string::npos) << readable.output;

  // The right key from a file path or an environment variable: the api starts.
  std::filesystem::permissions(open_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(RunApi(*up, {"keys.master_key_file=" + open_key}).exit_code, -1);
  Outcome from_env = RunApi(*up, {"keys.master_key_env=EV_TEST_MASTER"}, "EV_TEST_MASTER=" + good);
  EXPECT_EQ(from_env.exit_code, -1) << from_env.output;
  Outcome empty_env = RunApi(*up, {"keys.master_key_env=EV_TEST_UNSET_MASTER"});
  EXPECT_EQ(empty_env.exit_code, 1) << empty_env.output;
  EXPECT_NE(empty_env.output.find("EV_TEST_UNSET_MASTER"), std::string::npos) << empty_env.output;
}

}  // namespace
}  // namespace edgevault
