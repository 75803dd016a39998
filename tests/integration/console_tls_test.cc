// The console over HTTPS (console.tls_cert_file / console.tls_key_file) through the real
// binaries: `edgevault up` with a self-signed certificate made here by the openssl command
// line, a login over HTTPS (curl) that sets __Host-ev_session with Secure, HSTS over TLS,
// the Origin check expecting https://, plain HTTP refused on the TLS port, a key file
// readable by others refusing start-up, and replaced certificate files served without a
// restart, and the server ending a connection with close_notify (docs/console.md#tls).
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/tls_test_client.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace fs = std::filesystem;
using testing::EdgeVaultUp;
using testing::RunEdgevault;
using testing::RunShell;

// A self-signed certificate for 127.0.0.1 in `dir`/<name>.crt and <name>.key (mode 0600).
bool MakeCert(const fs::path& dir, const std::string& name) {
  const std::string crt = (dir / (name + ".crt")).string();
  const std::string key = (dir / (name + ".key")).string();
  testing::CommandResult r = RunShell(base::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=",
      name, " -addext subjectAltName=IP:127.0.0.1 -keyout ", key, " -out ", crt));
  if (r.code != 0) {
    std::fprintf(stderr, "openssl failed: %s\n", r.out.c_str());
    return false;
  }
  return ::chmod(key.c_str(), 0600) == 0;
}

std::string Fingerprint(const std::string& command_prefix) {
  testing::CommandResult r = RunShell(command_prefix + " | openssl x509 -noout -fingerprint -sha256");
  return r.code == 0 ? r.out : "";
}

class ConsoleTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / base::StrCat("ev-console-tls-", ::getpid()));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    ASSERT_TRUE(MakeCert(*root_, "one"));
    ASSERT_TRUE(MakeCert(*root_, "two"));
    fs::copy_file(*root_ / "one.crt", *root_ / "console.crt");
    fs::copy_file(*root_ / "one.key", *root_ / "console.key");
    ::chmod((*root_ / "console.key").c_str(), 0600);
    up_ = EdgeVaultUp::Start({"--set", "console.tls_cert_file=" + (*root_ / "console.crt").string(),
                              "--set", "console.tls_key_file=" + (*root_ / "console.key").string()})
              .release();
    ASSERT_NE(up_, nullptr);
    base_ = new std::string(base::StrCat("https://127.0.0.1:", up_->port("console")));
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
    if (root_) fs::remove_all(*root_);
  }

  // curl -k with the response headers on stdout (then the body); `lower` is that in lower
  // case (header names are case-insensitive), at the same offsets.
  struct CurlResult {
    int code = -1;
    std::string out, lower;
  };
  static CurlResult Curl(const std::string& args) {
    testing::CommandResult r = RunShell("curl -k -s -S --max-time 20 -D - " + args);
    CurlResult c{r.code, r.out, r.out};
    for (char& ch : c.lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return c;
  }
  static std::string Login(const std::string& origin) {
    return base::StrCat("-X POST -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: same-origin' ",
                        "-H 'Origin: ", origin, "' --data '{\"email\":\"", up_->owner_email(),
                        "\",\"password\":\"", up_->owner_password(), "\"}' ", *base_, "/bff/v1/login");
  }
  static std::string ServedFingerprint() {
    return Fingerprint(base::StrCat("openssl s_client -connect 127.0.0.1:", up_->port("console"),
                                    " </dev/null 2>/dev/null"));
  }

  static fs::path* root_;
  static EdgeVaultUp* up_;
  static std::string* base_;
};

fs::path* ConsoleTlsTest::root_ = nullptr;
EdgeVaultUp* ConsoleTlsTest::up_ = nullptr;
std::string* ConsoleTlsTest::base_ = nullptr;

TEST_F(ConsoleTlsTest, UpReportsTheConsoleAsHttps) {
  EXPECT_NE(up_->Output().find(base::StrCat("https://127.0.0.1:", up_->port("console"))),
            std::string::npos)
      << up_->Output();
}

TEST_F(ConsoleTlsTest, LoginOverHttpsSetsTheHostPrefixedSecureCookieAndHsts) {
  CurlResult r = Curl(Login(*base_));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(" 200"), std::string::npos) << r.out;
  const size_t at = r.lower.find("\nset-cookie: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const size_t value = at + std::string_view("\nset-cookie: ").size();
  const std::string cookie = r.out.substr(value, r.out.find('\r', value) - value);
  EXPECT_TRUE(cookie.starts_with("__Host-ev_session=evsn_")) << cookie;
  EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Domain"), std::string::npos) << cookie;
  EXPECT_NE(r.lower.find("\nstrict-transport-security: max-age="), std::string::npos) << r.out;

  // The web app's page over TLS carries HSTS too.
  CurlResult page = Curl(*base_ + "/");
  EXPECT_NE(page.lower.find("\nstrict-transport-security: max-age="), std::string::npos) << page.out;
}

TEST_F(ConsoleTlsTest, OriginMustBeTheHttpsOrigin) {
  CurlResult r = Curl(Login(base::StrCat("http://127.0.0.1:", up_->port("console"))));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(" 403"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"csrf\""), std::string::npos) << r.out;
  EXPECT_EQ(r.lower.find("\nset-cookie:"), std::string::npos) << r.out;
}

TEST_F(ConsoleTlsTest, PlainHttpOnTheTlsPortGetsNoAnswer) {
  testing::HttpReply plain = up_->Call("console", "GET", "/healthz");
  EXPECT_NE(plain.status, 200);
  testing::CommandResult r = RunShell(base::StrCat(
      "curl -s -S --max-time 20 -o /dev/null -w '%{http_code}' http://127.0.0.1:", up_->port("console"),
      "/healthz"));
  EXPECT_NE(r.out.find("000"), std::string::npos) << r.out;
  // The other services still serve plain HTTP.
  EXPECT_EQ(up_->Call("api", "GET", "/healthz").status, 200);
}

// Issue 13: the console closed TLS connections with a bare TCP close, which a TLS client
// cannot tell from a truncation attack; an OpenSSL client now reads SSL_ERROR_ZERO_RETURN.
TEST_F(ConsoleTlsTest, ServerEndsConnectionsWithCloseNotify) {
  net::TlsTestClient c(static_cast<uint16_t>(up_->port("console")));
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_NE(c.ReadUntil("}").find(" 200 "), std::string::npos);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
  net::TlsTestClient::Ending got = c.ReadToEnd();
  EXPECT_NE(got.data.find(" 200 "), std::string::npos) << got.data;
  EXPECT_EQ(got.end, net::TlsTestClient::End::kCloseNotify) << net::EndName(got.end) << " " << got.detail;
}

TEST_F(ConsoleTlsTest, ReplacedCertificateFilesAreServedWithoutRestart) {
  const std::string one = Fingerprint("cat " + (*root_ / "one.crt").string());
  const std::string two = Fingerprint("cat " + (*root_ / "two.crt").string());
  ASSERT_FALSE(one.empty());
  ASSERT_NE(one, two);
  EXPECT_EQ(ServedFingerprint(), one);
  const pid_t pid = up_->ServicePid("console");

  // A mismatched pair (new certificate, old key) keeps the old one.
  fs::copy_file(*root_ / "two.crt", *root_ / "next.crt");
  fs::rename(*root_ / "next.crt", *root_ / "console.crt");
  EXPECT_EQ(ServedFingerprint(), one);

  fs::copy_file(*root_ / "two.key", *root_ / "next.key");
  ::chmod((*root_ / "next.key").c_str(), 0600);
  fs::rename(*root_ / "next.key", *root_ / "console.key");
  EXPECT_EQ(ServedFingerprint(), two);
  EXPECT_EQ(up_->ServicePid("console"), pid);  // no restart
  CurlResult r = Curl(*base_ + "/healthz");
  EXPECT_NE(r.out.find(" 200"), std::string::npos) << r.out;
}

TEST(ConsoleTlsConfigTest, KeyReadableByOthersRefusesStartUp) {
  char tmpl[] = "/tmp/ev-tls-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  ASSERT_TRUE(MakeCert(dir, "c"));
  ::chmod((dir / "c.key").c_str(), 0644);
  testing::CommandResult r = RunEdgevault(base::StrCat(
      "up --data-dir ", (dir / "data").string(), " --port-base 0 --set console.tls_cert_file=",
      (dir / "c.crt").string(), " --set console.tls_key_file=", (dir / "c.key").string()));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("chmod 600 " + (dir / "c.key").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0644"), std::string::npos) << r.out;

  // Only one of the two keys set.
  testing::CommandResult half = RunEdgevault(base::StrCat(
      "up --data-dir ", (dir / "data").string(), " --port-base 0 --set console.tls_cert_file=",
      (dir / "c.crt").string()));
  EXPECT_NE(half.code, 0);
  EXPECT_NE(half.out.find("must be set together"), std::string::npos) << half.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace edgevault
