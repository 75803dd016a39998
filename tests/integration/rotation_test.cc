// Master-key rotation through the real binaries (issue 5): `edgevault keys rotate-master`
// runs while secret writes and reads continue against a live `edgevault up`; afterwards
// every secret reads back, `retire-master` deletes the old key, and an api restarted
// without the old key still reads everything.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

testing::CommandResult Edgevault(const std::string& args) { return testing::RunEdgevault(args); }

class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_ = EdgeVaultUp::Start();
    ASSERT_NE(up_, nullptr);
    ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "rot"}, {"name", "rot"}}).status, 201);
    for (const char* env : {"prod", "dev"}) {
      json::object body{{"key", env}, {"name", env}, {"reason", "setup"}};
      if (std::string(env) == "dev") body["parent"] = "prod";
      ASSERT_EQ(Api("POST", "/v1/workspaces/rot/environments", body).status, 201);
    }
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }

  bool PutSecret(const std::string& key, const std::string& value) {
    HttpReply r = Api("PUT", "/v1/workspaces/rot/secrets/" + key,
                      json::object{{"values", {{"prod", value}}}, {"reason", "rotation test"}});
    return r.status == 200;
  }

  // Every secret value of prod, as the api decrypts them.
  std::map<std::string, std::string> ReadAll() {
    HttpReply r = Api("GET", "/v1/workspaces/rot/environments/prod/secrets");
    EXPECT_EQ(r.status, 200) << r.body;
    std::map<std::string, std::string> out;
    if (r.status != 200) return out;
    for (const auto& kv : r.json.at("secrets").as_object()) {
      out[std::string(kv.key())] = std::string(kv.value().as_string());
    }
    return out;
  }

  std::unique_ptr<EdgeVaultUp> up_;
};

TEST_F(RotationTest, RotateWhileWritingThenRetireTheOldKeyAndRestart) {
  const std::string keys = up_->data_dir() + "/keys";
  std::map<std::string, std::string> want;
  for (int i = 0; i < 40; ++i) {
    std::string key = base::StrCat("before_", i), value = base::StrCat("v-before-", i, "-\xe2\x9c\x93");
    ASSERT_TRUE(PutSecret(key, value)) << key;
    want[key] = value;
  }
  // The old key is active, so it cannot be retired.
  testing::CommandResult refused = Edgevault("keys retire-master m1 --data-dir " + up_->data_dir());
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_NE(refused.out.find("active master key"), std::string::npos) << refused.out;

  // Writes and reads keep going while the rotation runs.
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<int> read_failures{0}, reads{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string key = base::StrCat("during_", i), value = base::StrCat("v-during-", i);
      if (PutSecret(key, value)) {
        std::lock_guard<std::mutex> lock(mu);
        want[key] = value;
      }
    }
  });
  std::thread reader([&] {
    while (!stop.load()) {
      HttpReply r = Api("GET", "/v1/workspaces/rot/environments/dev/secrets/before_7");
      ++reads;
      if (r.status != 200 || r.json.at("value").as_string() != "v-before-7-\xe2\x9c\x93") ++read_failures;
    }
  });
  // Phases wait for progress, not for time (the deadlines only bound a failure).
  auto written = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return want.size();
  };
  auto progressed = [&](size_t writes, int read_count) {
    return testing::PollUntil([&] { return written() >= writes && reads.load() >= read_count; }, 60000);
  };
  const bool storm_started = progressed(45, 5);
  const size_t at_start = written();
  testing::CommandResult rotated = Edgevault("keys rotate-master --settle 0.5 --batch 7 --data-dir " + up_->data_dir());
  const size_t at_end = written();
  const bool storm_went_on = progressed(at_end + 5, reads.load() + 5);
  stop = true;
  writer.join();
  reader.join();
  ASSERT_TRUE(storm_started);
  ASSERT_TRUE(storm_went_on);
  ASSERT_EQ(rotated.code, 0) << rotated.out;
  EXPECT_NE(rotated.out.find("new master key m2 is active"), std::string::npos) << rotated.out;
  EXPECT_NE(rotated.out.find("data keys re-wrapped"), std::string::npos) << rotated.out;
  EXPECT_NE(rotated.out.find("master key m1 wraps no data key"), std::string::npos) << rotated.out;
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(read_failures.load(), 0);
  // Writes were not blocked while the rotation ran (it settles for 0.5 s alone).
  EXPECT_GT(at_end, at_start);
  EXPECT_EQ(std::filesystem::status(keys + "/master-m2.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // Every secret, old and new, reads back.
  EXPECT_EQ(ReadAll(), want);

  // m1 wraps nothing: retire it. The running api never needs it again...
  testing::CommandResult retired = Edgevault("keys retire-master m1 --data-dir " + up_->data_dir());
  ASSERT_EQ(retired.code, 0) << retired.out;
  EXPECT_FALSE(std::filesystem::exists(keys + "/master.key"));
  EXPECT_TRUE(PutSecret("after_retire", "v-after"));
  want["after_retire"] = "v-after";
  EXPECT_EQ(ReadAll(), want);

  // ...nor does a restarted one, which loads m2 alone.
  pid_t victim = up_->ServicePid("api");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(testing::PollUntil([&] { return up_->ServicePid("api") != victim; }, 60000));
  ASSERT_TRUE(up_->WaitHealthy("api", 30000));
  EXPECT_EQ(ReadAll(), want);

  // A second rotation goes to m3 and leaves m2 retirable; an unknown id is refused.
  testing::CommandResult again = Edgevault("keys rotate-master --settle 0 --data-dir " + up_->data_dir());
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("new master key m3 is active"), std::string::npos) << again.out;
  EXPECT_EQ(ReadAll(), want);
  EXPECT_EQ(Edgevault("keys retire-master m9 --data-dir " + up_->data_dir()).code, 2);
  EXPECT_EQ(Edgevault("keys retire-master m2 --data-dir " + up_->data_dir()).code, 0);
  EXPECT_EQ(ReadAll(), want);
}

TEST_F(RotationTest, UnfinishedRotationMustBeResumedAndRetireRefusesWhileKeysRemain) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PutSecret(base::StrCat("s", i), base::StrCat("v", i)));
  // What a rotation killed right after switching keys leaves: m2 active, data keys under m1.
  const std::string keys = up_->data_dir() + "/keys";
  testing::CommandResult key = Edgevault("keys rotate-master --settle 0 --data-dir " + up_->data_dir());
  ASSERT_EQ(key.code, 0) << key.out;
  // Write under m2, then make m1 active again by hand and write more: now m2 keys remain
  // while m1 is active, as if an operator rolled back master.active.
  ASSERT_TRUE(PutSecret("under_m2", "x"));
  {
    std::FILE* f = std::fopen((keys + "/master.active").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("m1\n", f);
    std::fclose(f);
  }
  ASSERT_TRUE(PutSecret("under_m1", "y"));  // the api reloads: sealed under m1
  testing::CommandResult refused = Edgevault("keys retire-master m2 --data-dir " + up_->data_dir());
  EXPECT_EQ(refused.code, 1) << refused.out;
  EXPECT_NE(refused.out.find("still wrapped under m2"), std::string::npos) << refused.out;
  testing::CommandResult unfinished = Edgevault("keys rotate-master --settle 0 --data-dir " + up_->data_dir());
  EXPECT_EQ(unfinished.code, 2) << unfinished.out;
  EXPECT_NE(unfinished.out.find("--resume"), std::string::npos) << unfinished.out;
  testing::CommandResult resumed = Edgevault("keys rotate-master --resume --settle 0 --data-dir " + up_->data_dir());
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_EQ(Edgevault("keys retire-master m2 --data-dir " + up_->data_dir()).code, 0);
  std::map<std::string, std::string> all = ReadAll();
  EXPECT_EQ(all.size(), 7u);
  EXPECT_EQ(all["under_m2"], "x");
  EXPECT_EQ(all["under_m1"], "y");
}

}  // namespace
}  // namespace edgevault
