// `edgevault` against an https:// api (issue 17): a real TLS server (net::HttpServer as the
// console runs it) with a self-signed certificate for 127.0.0.1 made here. The CLI trusts
// the system's CAs, plus the PEM file of --ca-file, EDGEVAULT_CA_FILE or the profile's
// ca_file (which `login --ca-file` stores); without it the certificate is refused and the
// message says which URL and why.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/http_server.h"
#include "src/net/router.h"
#include "src/net/tls_test_client.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace fs = std::filesystem;

class CliHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / base::StrCat("ev-cli-https-", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    absl::StatusOr<net::TlsFiles> files = net::MakeSelfSignedCert(dir_.string(), "api");
    ASSERT_TRUE(files.ok()) << files.status();
    cert_ = files->cert_file;
    net::Router r;
    r.Get("/v1/workspaces", [](net::Request& req) {
      if (req.Header("Authorization") != "Bearer tls-token") {
        return net::Response::Json(401, R"({"error":{"code":"unauthenticated","message":"bad token"}})");
      }
      return net::Response::Json(200, R"({"workspaces":[{"id":"ws_1","key":"over-tls","name":"Over TLS"}]})");
    });
    net::ServerOptions o;
    o.host = "127.0.0.1";
    o.io_threads = 1;
    o.access_log = false;
    o.tls_cert_file = files->cert_file;
    o.tls_key_file = files->key_file;
    absl::StatusOr<std::unique_ptr<net::HttpServer>> s = net::HttpServer::Create(o, std::move(r));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_TRUE(server_->Start().ok());
    url_ = base::StrCat("https://127.0.0.1:", server_->port());
  }
  void TearDown() override {
    if (server_) server_->Drain();
    server_.reset();
    fs::remove_all(dir_);
  }
  testing::CommandResult Cli(const std::string& args, const std::string& env = "") {
    return testing::RunEdgevault(args, base::StrCat("EDGEVAULT_PROFILE=", (dir_ / "profile.json").string(),
                                                    " EDGEVAULT_API_URL=", url_, " EDGEVAULT_TOKEN=tls-token ", env));
  }

  fs::path dir_;
  std::string cert_, url_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(CliHttpsTest, TrustsTheCaFileFromTheFlagTheEnvironmentOrTheProfile) {
  // Not in the system's store: refused, naming the URL and the certificate problem.
  testing::CommandResult r = Cli("ws list --json");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(url_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("certificate"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("over-tls"), std::string::npos) << r.out;
  // --ca-file, then EDGEVAULT_CA_FILE.
  r = Cli("ws list --json --ca-file " + cert_);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("over-tls"), std::string::npos) << r.out;
  r = Cli("ws list", "EDGEVAULT_CA_FILE=" + cert_);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("over-tls"), std::string::npos) << r.out;
  // A CA file that cannot be read: a local error (2), nothing sent.
  r = Cli("ws list --ca-file " + (dir_ / "missing.pem").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--ca-file"), std::string::npos) << r.out;
  // login stores the URL and the CA file; later commands need neither.
  r = testing::RunEdgevault(
      base::StrCat("login --api-url ", url_, " --api-key tls-token --ca-file ", cert_),
      base::StrCat("EDGEVAULT_PROFILE=", (dir_ / "profile.json").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  r = testing::RunEdgevault("ws list", base::StrCat("EDGEVAULT_PROFILE=", (dir_ / "profile.json").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("over-tls"), std::string::npos) << r.out;
  // Plain http:// to the TLS port is not an answer.
  r = testing::RunEdgevault("ws list", base::StrCat("EDGEVAULT_PROFILE=/nonexistent EDGEVAULT_TOKEN=tls-token "
                                                    "EDGEVAULT_API_URL=http://127.0.0.1:", server_->port()));
  EXPECT_NE(r.code, 0) << r.out;
}

}  // namespace
}  // namespace edgevault
