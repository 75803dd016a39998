// Shutdown (issue 13, item 12): SIGTERM reaches every service while it is under load; each
// drains, stops and joins every thread it started, and only then returns from main. The
// services log the threads they still have in their last line ("stopped", threads: 1 when
// nothing outlives main), `up` reports any service that did not exit 0, and a sanitizer
// build would print its report into the same output.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;
using testing::PollUntil;

// The lines of `output` that are JSON log lines of `service` with message `msg`.
std::vector<json::object> LogLines(const std::string& output, std::string_view service, std::string_view msg) {
  std::vector<json::object> out;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::string_view line(output.data() + start, end - start);
    start = end + 1;
    if (line.empty() || line.front() != '{') continue;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    const json::object& o = v.get_object();
    const json::value* s = o.if_contains("service");
    const json::value* m = o.if_contains("msg");
    if (s != nullptr && s->is_string() && s->get_string() == service && m != nullptr && m->is_string() &&
        m->get_string() == msg) {
      out.push_back(o);
    }
  }
  return out;
}

TEST(ShutdownTest, EveryServiceJoinsItsThreadsBeforeExitingUnderLoad) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  auto api = [&](std::string method, std::string target, const json::value& body) {
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "load"}}).status, 201);
  ASSERT_EQ(api("POST", "/v1/workspaces/load/environments", json::object{{"key", "prod"}, {"name", "P"}, {"reason", "setup"}}).status,
            201);
  HttpReply sdk = api("POST", "/v1/workspaces/load/environments/prod/sdk-keys", json::object{});
  ASSERT_EQ(sdk.status, 201) << sdk.body;
  const std::string sdk_key(sdk.json.at("key").as_string());

  // Load on every service: writes (the api's propagation, the audit relay and consumer
  // busy), SDK reads from delivery, JWKS from auth, the audit status, the console.
  std::atomic<int> writes{0}, reads{0};
  testing::LoadThreads load;
  load.Add([&] {
    for (int i = 0; !load.stopping(); ++i) {
      HttpReply r = api("PUT", "/v1/workspaces/load/configs/k" + std::to_string(i % 20),
                        json::object{{"type", "integer"}, {"values", {{"prod", i}}}, {"reason", "load"}});
      if (r.status == 200) ++writes;
    }
  });
  load.Add([&] {
    while (!load.stopping()) {
      if (up->Call("delivery", "GET", "/v1/config", "", sdk_key).status == 200) ++reads;
      up->Call("auth", "GET", "/.well-known/jwks.json");
      up->Call("audit", "GET", "/v1/audit/status");
      up->Call("console", "GET", "/");
    }
  });
  ASSERT_TRUE(PollUntil([&] { return writes >= 20 && reads >= 20; }, 60000))
      << writes << " writes, " << reads << " reads";

  EdgeVaultUp::Stopped stopped = up->Stop();  // SIGTERM while the load runs
  load.StopAndJoin();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  for (std::string_view service : {"console", "api", "delivery", "auth", "audit"}) {
    std::vector<json::object> lines = LogLines(stopped.output, service, "stopped");
    ASSERT_EQ(lines.size(), 1u) << service << " logged no \"stopped\" line:\n" << stopped.output;
    const json::value* threads = lines[0].if_contains("threads");
    ASSERT_TRUE(threads != nullptr && threads->is_int64()) << json::serialize(lines[0]);
    EXPECT_EQ(threads->get_int64(), 1) << service << " returned from main with threads still running: "
                                       << json::serialize(lines[0]);
  }
  for (std::string_view bad : {"threads still running at exit", "did not stop cleanly", "AddressSanitizer",
                                "LeakSanitizer", "runtime error:", "terminate called", "Segmentation fault"}) {
    EXPECT_EQ(stopped.output.find(bad), std::string::npos) << bad << " in:\n" << stopped.output;
  }
}

}  // namespace
}  // namespace edgevault
