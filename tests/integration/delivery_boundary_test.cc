// The delivery boundary (DESIGN.md §1, §6): edgevault-delivery must not be able to
// decrypt secrets — it does not even link the code. This inspects the built binary: no
// decryption entry point of OpenSSL among its imports, none of our envelope or keyring
// symbols in it. A positive control runs the same inspection on edgevault-api, which
// does decrypt, so a broken inspection (wrong tool, empty output) cannot pass silently.
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
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
    "EVP_PKEY_decrypt", "edgevault::crypto::Open", "edgevault::crypto::Keyring",
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
  EXPECT_NE(symbols.find("edgevault::crypto::Open"), std::string::npos);
}

}  // namespace
}  // namespace edgevault
