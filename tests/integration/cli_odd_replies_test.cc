// Issue 5: the `edgevault` binary against an api that answers something unexpected — an
// HTML page, a number where an object belongs, a missing or mistyped field, an error body
// of the wrong shape. Each command must print what it got and exit 1; before, a Boost.JSON
// .at()/as_*() threw and the process died (std::terminate, a core dump). The "api" here is
// the test's own loopback HTTP server that answers canned bodies.
#include <sys/wait.h>

#include <map>
#include <ostream>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/http_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

struct Canned {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers every request with the reply set for "METHOD /path" (the query ignored), or 404.
class OddApi {
 public:
  OddApi() {
    net::Router router;
    for (auto verb : {boost::beast::http::verb::get, boost::beast::http::verb::post,
                      boost::beast::http::verb::put, boost::beast::http::verb::delete_}) {
      router.Add(verb, "/{path...}", [this](net::Request& req) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = replies_.find(base::StrCat(req.method_string(), " ", req.path()));
        if (it == replies_.end()) return net::Response::Error(404, "not_found", "no canned reply");
        net::Response r;
        r.status = it->second.status;
        r.content_type = it->second.content_type;
        r.body = it->second.body;
        return r;
      });
    }
    net::ServerOptions o;
    o.service = "odd-api";
    o.io_threads = 1;
    o.access_log = false;
    server_ = *net::HttpServer::Create(o, std::move(router));
    ok_ = server_->Start().ok();
  }
  bool ok() const { return ok_; }
  void Set(const std::string& method_and_path, Canned reply) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_[method_and_path] = std::move(reply);
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::mutex mu_;
  std::map<std::string, Canned> replies_;
  std::unique_ptr<net::HttpServer> server_;
  bool ok_ = false;
};

struct Case {
  std::string name;
  std::string args;             // the edgevault command line
  std::string method_and_path;  // the request it makes that gets the odd reply
  Canned reply;
  std::string shown;  // a piece of the reply the output must show
  // Ordinary replies to the requests it makes before that one (method and path → reply).
  std::vector<std::pair<std::string, Canned>> before = {};
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class CliOddRepliesTest : public ::testing::TestWithParam<Case> {};

TEST_P(CliOddRepliesTest, PrintsWhatItGotAndExits1) {
  const Case& c = GetParam();
  OddApi api;
  ASSERT_TRUE(api.ok());
  for (const auto& [what, reply] : c.before) api.Set(what, reply);
  api.Set(c.method_and_path, c.reply);
  testing::CommandResult r = testing::RunEdgevault(
      c.args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", api.port(),
                           " EDGEVAULT_TOKEN=evk_test EDGEVAULT_PROFILE=/nonexistent"));
  EXPECT_EQ(r.code, 1) << "exit code (-1: killed by a signal, e.g. an uncaught exception)\n" << r.out;
  EXPECT_NE(r.out.find(c.shown), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
}

Canned Json(std::string body, int status = 200) { return Canned{status, "application/json", std::move(body)}; }

INSTANTIATE_TEST_SUITE_P(
    Replies, CliOddRepliesTest,
    ::testing::Values(
        Case{"HtmlPage", "ws list", "GET /v1/workspaces",
             Canned{200, "text/html", "<html><body>Bad gateway</body></html>"}, "<html><body>Bad gateway"},
        Case{"NumberForObject", "ws list", "GET /v1/workspaces", Json("424242"), "424242"},
        Case{"ArrayIsAnObject", "ws list", "GET /v1/workspaces", Json(R"({"workspaces":{"a":1}})"),
             R"({"workspaces":{"a":1}})"},
        Case{"RowMissingFields", "ws list", "GET /v1/workspaces", Json(R"({"workspaces":[{"key":"k"}]})"),
             R"("key":"k")"},
        Case{"CreatedWithoutId", "ws create shop", "POST /v1/workspaces", Json("{}", 201), "{}"},
        Case{"EnvWithoutRevision", "env create shop prod -m r", "POST /v1/workspaces/shop/environments",
             Json(R"({"rev":1})", 201), R"({"rev":1})"},
        Case{"ConfigValuesNotAnObject", "config get shop k", "GET /v1/workspaces/shop/configs/k",
             Json(R"({"type":"string","revision":1,"values":[1,2]})"), "[1,2]"},
        Case{"ConfigSetCurrentIsANumber", "config set shop k -v prod=1 -m r",
             "GET /v1/workspaces/shop/configs/k", Json("1234567"), "1234567",
             {{"GET /v1/workspaces/shop", Json(R"({"key":"shop","revision":3})")}}},
        Case{"ConfigSetHeadMissing", "config set shop k -v prod=1 -m r", "GET /v1/workspaces/shop",
             Json(R"({"key":"shop"})"), R"({"key":"shop"})"},
        Case{"HistoryRevisionsNotAnArray", "history shop", "GET /v1/workspaces/shop/revisions",
             Json(R"({"revisions":"none"})"), "none"},
        Case{"SdkKeyNotAString", "sdk-key create shop prod", "POST /v1/workspaces/shop/environments/prod/sdk-keys",
             Json(R"({"key":7})", 201), R"({"key":7})"},
        Case{"SdkKeyListRowEmpty", "sdk-key list shop", "GET /v1/workspaces/shop/sdk-keys",
             Json(R"({"sdk_keys":[{}]})"), R"({"sdk_keys":[{}]})"},
        Case{"ExportConfigsMissing", "export -w shop -e prod", "GET /v1/workspaces/shop/environments/prod/resolved",
             Json(R"({"flags":{}})"), R"({"flags":{}})"},
        Case{"ExportConfigWithoutValue", "export -w shop -e prod",
             "GET /v1/workspaces/shop/environments/prod/resolved", Json(R"({"configs":{"a":{}}})"),
             R"({"configs":{"a":{}}})"},
        Case{"ErrorIsAString", "ws list", "GET /v1/workspaces", Json(R"({"error":"boom"})", 500), "boom"},
        Case{"ErrorMessageIsANumber", "ws list", "GET /v1/workspaces",
             Json(R"({"error":{"code":"x","message":5}})", 503), R"("message":5)"},
        Case{"RevertWithoutRevision", "revert shop 3 -m r", "POST /v1/workspaces/shop/revisions/3/revert",
             Json("[]"), "[]"},
        Case{"RollbackWithoutCounts", "rollback shop --to 2 -m r", "POST /v1/workspaces/shop/rollback",
             Json(R"({"revision":"x"})"), R"({"revision":"x"})"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// Login talks to auth: an odd reply there is the same.
TEST(CliOddLoginTest, PrintsWhatItGotAndExits1) {
  OddApi auth;
  ASSERT_TRUE(auth.ok());
  for (const std::string body : {"null", R"({"session":5})", "<html>login</html>"}) {
    auth.Set("POST /v1/login", Json(body));
    testing::CommandResult r = testing::RunShell(
        base::StrCat("echo pw | EDGEVAULT_PROFILE=/tmp/ev-odd-login-profile.json ", testing::BinDir(),
                     "/edgevault login --email a@b.c --password-stdin --api-url http://127.0.0.1:1 "
                     "--auth-url http://127.0.0.1:",
                     auth.port()));
    EXPECT_EQ(r.code, 1) << body << "\n" << r.out;
    EXPECT_NE(r.out.find(body), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace edgevault
