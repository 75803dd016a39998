// The audit pipeline end to end on the real binaries: auth writes login events to its
// outbox, its relay moves them to DATA_DIR/audit/queue.db, edgevault-audit appends them to
// the warehouse; every event lands exactly once, also across a kill -9 of edgevault-audit,
// and `edgevault audit verify` passes. No password ever reaches an audit file.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "gtest/gtest.h"
#include "src/audit/file_warehouse.h"
#include "src/base/env.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::EdgeVaultUp;

constexpr std::string_view kWrongPassword = "Wrong-Pass-MARKER-7f3a9c";

// request_id → how many auth.login records carry it; plus every event id's count.
struct WarehouseView {
  std::map<std::string, int> logins_by_request;
  std::map<std::string, int> ids;
};

WarehouseView ReadWarehouse(const std::string& data_dir) {
  WarehouseView view;
  audit::FileWarehouseReader reader(data_dir + "/audit/warehouse", base::Env::Default());
  auto files = reader.ListFiles();
  if (!files.ok()) return view;
  for (const audit::WarehouseFile& f : *files) {
    auto content = reader.ReadFile(f.path);
    if (!content.ok()) continue;
    size_t pos = 0;
    for (size_t nl; (nl = content->find('\n', pos)) != std::string::npos; pos = nl + 1) {
      auto p = audit::ParseChainedLine(std::string_view(*content).substr(pos, nl - pos));
      if (!p.ok()) continue;
      auto e = audit::ParseAuditEvent(p->canonical);
      if (!e.ok()) continue;
      ++view.ids[e->id];
      if (e->action == "auth.login") ++view.logins_by_request[e->request_id];
    }
  }
  return view;
}

// Polls (20 s at most) until every request id has a login record.
WarehouseView WaitForLogins(const std::string& data_dir, const std::vector<std::string>& reqs) {
  WarehouseView v;
  testing::PollUntil([&] {
    v = ReadWarehouse(data_dir);
    bool all = true;
    for (const auto& r : reqs) all = all && v.logins_by_request.count(r) > 0;
    return all;
  }, 20000);
  return v;
}

int RunVerify(const std::string& data_dir, std::string* output) {
  std::string out_file = data_dir + "/../verify.out";
  std::string cmd = testing::BinDir() + "/edgevault audit verify --data-dir " + data_dir + " > " +
                    out_file + " 2>&1";
  int st = std::system(cmd.c_str());
  std::ifstream f(out_file);
  *output = std::string(std::istreambuf_iterator<char>(f), {});
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void ExpectEachOnce(const WarehouseView& v, const std::vector<std::string>& reqs) {
  for (const auto& r : reqs) {
    auto it = v.logins_by_request.find(r);
    EXPECT_TRUE(it != v.logins_by_request.end() && it->second == 1)
        << r << " appears " << (it == v.logins_by_request.end() ? 0 : it->second) << " times";
  }
  for (const auto& [id, n] : v.ids) EXPECT_EQ(n, 1) << id;
}

TEST(AuditIntegrationTest, LoginsLandExactlyOnceAcrossKill9AndVerifyPasses) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_TRUE(up) << "edgevault up did not start";
  ASSERT_FALSE(up->owner_password().empty()) << up->Output();
  const std::string data = up->data_dir();

  auto login = [&](const std::string& req_id, const std::string& email, std::string_view pw) {
    boost::json::object body{{"email", email}, {"password", pw}};
    return up->Json("auth", "POST", "/v1/login", body, "", {{"X-Request-Id", req_id}});
  };

  // Right and wrong logins.
  std::vector<std::string> first;
  for (int i = 0; i < 2; ++i) {
    first.push_back("it-ok-" + std::to_string(i));
    EXPECT_EQ(login(first.back(), up->owner_email(), up->owner_password()).status, 200);
  }
  for (int i = 0; i < 3; ++i) {
    first.push_back("it-bad-" + std::to_string(i));
    EXPECT_EQ(login(first.back(), up->owner_email(), kWrongPassword).status, 401);
  }
  WarehouseView v = WaitForLogins(data, first);
  ExpectEachOnce(v, first);
  std::string out;
  EXPECT_EQ(RunVerify(data, &out), 0) << out;
  EXPECT_NE(out.find("OK:"), std::string::npos) << out;

  // A burst of logins while edgevault-audit is killed with SIGKILL; `up` restarts it.
  pid_t audit_pid = up->ServicePid("audit");
  ASSERT_GT(audit_pid, 0);
  std::vector<std::string> burst;
  for (int i = 0; i < 24; ++i) burst.push_back("it-burst-" + std::to_string(i));
  std::atomic<int> sent{0};
  std::thread client([&] {
    for (int i = 0; i < static_cast<int>(burst.size()); ++i) {
      if (i % 2 == 0) {
        login(burst[i], up->owner_email(), up->owner_password());
      } else {  // unknown accounts: denied without locking the owner out
        login(burst[i], "nobody" + std::to_string(i) + "@example.com", kWrongPassword);
      }
      sent = i + 1;
    }
  });
  ASSERT_TRUE(testing::PollUntil([&] { return sent >= 6; }, 60000));
  ASSERT_EQ(::kill(audit_pid, SIGKILL), 0);
  client.join();
  testing::PollUntil([&] {
    pid_t again = up->ServicePid("audit");
    return again > 0 && again != audit_pid;
  }, 20000);
  EXPECT_NE(up->ServicePid("audit"), audit_pid);
  EXPECT_TRUE(up->WaitHealthy("audit", 20000));

  std::vector<std::string> all = first;
  all.insert(all.end(), burst.begin(), burst.end());
  v = WaitForLogins(data, all);
  ExpectEachOnce(v, all);
  EXPECT_EQ(RunVerify(data, &out), 0) << out;

  // The status endpoint reports the chain.
  testing::HttpReply status = up->Call("audit", "GET", "/v1/audit/status");
  EXPECT_EQ(status.status, 200) << status.body;
  ASSERT_TRUE(status.json.is_object()) << status.body;
  EXPECT_EQ(status.json.at("last_hash").as_string().size(), 64u);
  EXPECT_GE(status.json.at("file_count").as_int64(), 1);

  // No password, right or wrong, in any audit file (queue and WAL included).
  int scanned = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data + "/audit")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    ++scanned;
    EXPECT_EQ(bytes.find(up->owner_password()), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find(kWrongPassword), std::string::npos) << entry.path();
  }
  EXPECT_GE(scanned, 3);
}

TEST(AuditIntegrationTest, VerifyReportsTamperingWithExitCode1) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_TRUE(up);
  const std::string data = up->data_dir();
  boost::json::object body{{"email", up->owner_email()}, {"password", kWrongPassword}};
  up->Json("auth", "POST", "/v1/login", body, "", {{"X-Request-Id", "it-tamper"}});
  WarehouseView v = WaitForLogins(data, {"it-tamper"});
  ASSERT_EQ(v.logins_by_request["it-tamper"], 1);
  std::string out;
  ASSERT_EQ(RunVerify(data, &out), 0) << out;

  audit::FileWarehouseReader reader(data + "/audit/warehouse", base::Env::Default());
  auto files = reader.ListFiles();
  ASSERT_TRUE(files.ok() && !files->empty());
  std::string path = reader.Describe(files->front().path);
  std::string content;
  {
    std::ifstream f(path);
    content.assign(std::istreambuf_iterator<char>(f), {});
  }
  size_t at = content.find("\"outcome\":\"");
  ASSERT_NE(at, std::string::npos);
  content.replace(at, 11, "\"outcome\" :\"");  // still JSON, no longer the hashed bytes
  { std::ofstream(path, std::ios::trunc) << content; }
  EXPECT_EQ(RunVerify(data, &out), 1) << out;
  EXPECT_NE(out.find(path), std::string::npos) << out;
  EXPECT_NE(out.find("line 1"), std::string::npos) << out;

  std::string usage_cmd = testing::BinDir() + "/edgevault audit verify --from yesterday >/dev/null 2>&1";
  int st = std::system(usage_cmd.c_str());
  EXPECT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 2);
}

}  // namespace
}  // namespace edgevault
