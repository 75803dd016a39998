// The delivery boundary: edgevault-delivery must not be able to decrypt secrets (it does
// not even link the code) and must hold nothing that authorizes a write. This inspects
// the built binary (no decryption entry point of OpenSSL among its imports, none of our
// envelope or keyring symbols), traces the running process (it opens nothing under keys/
// but its own credential), and signs requests with delivery's real credential against
// every internal route that writes (each refused). Positive controls (the api binary does
// decrypt; the trace does see delivery's own credential; the api's credential is
// accepted where delivery's is refused) keep a broken inspection from passing silently.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/net/http_client.h"
#include "src/net/signing.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

std::string Capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// Dynamic imports plus every symbol the static linker kept (demangled).
std::string Symbols(const std::string& binary) {
  return Capture("nm -D --undefined-only " + binary + " 2>&1") + Capture("nm -C " + binary + " 2>&1");
}

const std::vector<std::string> kForbidden = {
    "EVP_DecryptInit", "EVP_DecryptUpdate", "EVP_DecryptFinal", "EVP_CipherInit", "EVP_AEAD",
    "EVP_PKEY_decrypt", "edgevault::crypto::Open(", "edgevault::crypto::Keyring",
    "edgevault::crypto::AesGcmOpen", "edgevault::crypto::LoadKeyring",
    "edgevault::crypto::DeriveWorkspaceKek", "edgevault::crypto::RewrapDataKey"};

TEST(DeliveryBoundaryTest, DeliveryBinaryCannotDecrypt) {
  std::string symbols = Symbols(testing::BinDir() + "/edgevault-delivery");
  ASSERT_GT(symbols.size(), 1000u) << "nm printed almost nothing: " << symbols;
  for (const std::string& f : kForbidden) {
    EXPECT_EQ(symbols.find(f), std::string::npos) << "edgevault-delivery contains " << f;
  }
}

TEST(DeliveryBoundaryTest, InspectionFindsDecryptionWhereItExists) {
  std::string symbols = Symbols(testing::BinDir() + "/edgevault-api");
  EXPECT_NE(symbols.find("EVP_DecryptInit_ex"), std::string::npos);
  EXPECT_NE(symbols.find("edgevault::crypto::Open("), std::string::npos);
}

// Document signing (resolved-document.md §8): delivery passes the api's signatures on and
// links the verifier (public keys only), never the signing-key set, so it cannot sign.
const std::vector<std::string> kSigningForbidden = {
    "edgevault::crypto::DocumentSigner", "edgevault::crypto::LoadSigningKeys",
    "edgevault::crypto::AddSigningKey", "edgevault::crypto::SignJwt"};

TEST(DeliveryBoundaryTest, DeliveryBinaryCannotSignDocuments) {
  std::string symbols = Symbols(testing::BinDir() + "/edgevault-delivery");
  ASSERT_GT(symbols.size(), 1000u) << "nm printed almost nothing: " << symbols;
  for (const std::string& f : kSigningForbidden) {
    EXPECT_EQ(symbols.find(f), std::string::npos) << "edgevault-delivery contains " << f;
  }
  // It does carry the signature wire format, so the inspection looks at the right binary.
  EXPECT_NE(symbols.find("edgevault::crypto::ParseStoredDocumentSignature"), std::string::npos);
}

TEST(DeliveryBoundaryTest, InspectionFindsDocumentSigningWhereItExists) {
  std::string symbols = Symbols(testing::BinDir() + "/edgevault-api");
  EXPECT_NE(symbols.find("edgevault::crypto::DocumentSigner::Sign"), std::string::npos);
  EXPECT_NE(symbols.find("edgevault::crypto::LoadSigningKeys"), std::string::npos);
}

// Every path under `keys_dir` named by a file syscall in an strace -f output.
std::set<std::string> PathsUnder(const std::string& trace, const std::string& keys_dir) {
  std::set<std::string> out;
  std::istringstream in(trace);
  std::string line;
  while (std::getline(in, line)) {
    for (size_t at = line.find('"'); at != std::string::npos; at = line.find('"', at + 1)) {
      size_t end = line.find('"', at + 1);
      if (end == std::string::npos) break;
      std::string path = line.substr(at + 1, end - at - 1);
      if (path.rfind(keys_dir, 0) == 0) out.insert(path);
      at = end;
    }
  }
  return out;
}

// Issue 12 item 3: delivery used to load keys/internal.key, the one HMAC key every
// internal call was signed with. Now it opens its own credential and nothing else there.
TEST(DeliveryBoundaryTest, DeliveryOpensNothingUnderKeysButItsOwnCredential) {
  auto ev = testing::EdgeVaultUp::Start();
  ASSERT_NE(ev, nullptr);
  const std::string data = ev->data_dir();
  ASSERT_EQ(ev->Stop().exit_code, 0);  // every key file exists now; the edge store is filled
  const std::string trace_file = data + "/../delivery.strace";
  const std::string out_file = data + "/../delivery.out";
  std::remove((data + "/run/delivery.port").c_str());
  const std::string strace = Capture("command -v strace");
  ASSERT_FALSE(strace.empty()) << "strace is missing (scripts/install-deps installs it)";
  testing::Proc p = testing::Spawn(
      {strace.substr(0, strace.find('\n')), "-f", "-qq", "-e", "trace=%file", "-o", trace_file,
       testing::BinDir() + "/edgevault-delivery", "--config", data + "/edgevault.toml", "--set",
       "services.delivery.port=0"},
      out_file);
  ASSERT_GT(p.pid, 0);
  int port = 0;
  ASSERT_TRUE(testing::PollUntil([&] { return (port = testing::ReadPortFile(data, "delivery")) > 0; }, 60000))
      << testing::ReadFile(out_file);
  // Stop delivery itself (strace's child): strace then exits with delivery's status.
  std::string children = testing::ReadFile("/proc/" + std::to_string(p.pid) + "/task/" +
                                           std::to_string(p.pid) + "/children");
  ASSERT_FALSE(children.empty());
  ::kill(std::stoi(children), SIGTERM);
  EXPECT_EQ(testing::WaitExit(p.pid, 60000), 0) << testing::ReadFile(out_file);
  const std::string trace = testing::ReadFile(trace_file);
  const std::string own = data + "/keys/services/delivery.pem";
  std::set<std::string> touched = PathsUnder(trace, data + "/keys");
  EXPECT_TRUE(touched.contains(own)) << "the trace does not show delivery reading its own credential:\n"
                                     << trace.substr(0, 4000);
  touched.erase(own);
  EXPECT_TRUE(touched.empty()) << "delivery touched " << *touched.begin();
  EXPECT_TRUE(std::filesystem::exists(data + "/keys/master.key") ||
              std::filesystem::exists(data + "/keys/master.active"));
  EXPECT_FALSE(std::filesystem::exists(data + "/keys/internal.key"));
}

// A request signed with delivery's real credential to any internal write route is refused
// (403, nothing changed); the same request signed with the api's credential is accepted.
TEST(DeliveryBoundaryTest, DeliverySignedRequestsToWriteRoutesAreRefused) {
  auto ev = testing::EdgeVaultUp::Start();
  ASSERT_NE(ev, nullptr);
  auto delivery = testing::SignedCaller::Load(*ev, "delivery");
  auto api = testing::SignedCaller::Load(*ev, "api");
  ASSERT_TRUE(delivery.ok()) << delivery.status();
  ASSERT_TRUE(api.ok()) << api.status();
  const std::string exchange = R"({"api_key":")" + ev->admin_key() + R"("})";

  // Positive control: the api's credential exchanges the owner's API key for a token.
  net::ClientResponse ok = (*api)->Post("auth", "/internal/v1/api-keys/exchange", exchange);
  ASSERT_EQ(ok.status, 200) << ok.body;
  boost::json::value who = boost::json::parse(ok.body);
  const std::string org(who.at("org_id").as_string());

  const std::vector<std::pair<std::string, std::string>> writes = {
      {"/internal/v1/api-keys/exchange", exchange},
      {"/internal/v1/sdk-keys", R"({"org_id":")" + org +
                                    R"(","workspace_id":"ws_x","environment":"prod","name":"evil","created_by":"user:x"})"},
      {"/internal/v1/sdk-keys/list", R"({"org_id":")" + org + R"(","workspace_id":"ws_x"})"},
      {"/internal/v1/sdk-keys/revoke", R"({"org_id":")" + org +
                                           R"(","workspace_id":"ws_x","environment":"prod","id":"sdk_x","revoked_by":"user:x"})"},
  };
  for (const auto& [target, body] : writes) {
    net::ClientResponse r = (*delivery)->Post("auth", target, body);
    EXPECT_EQ(r.status, 403) << target << ": " << r.body;
    EXPECT_NE(r.body.find("caller_not_allowed"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("token"), std::string::npos) << r.body;
  }
  // Signed for another audience (auth's, sent to the api): 401. Delivery may still call
  // what lists every service, such as the signed no-op /internal/v1/ping.
  EXPECT_EQ((*delivery)->Post("api", "/internal/v1/ping", "{}", "auth").status, 401);
  EXPECT_EQ((*delivery)->Post("api", "/internal/v1/ping", "{}").status, 200);  // reading is fine
}

}  // namespace
}  // namespace edgevault
