#pragma once
// A SecretSealer for store tests: reversible, bound to its context, and never leaving the
// plaintext bytes as they were (each byte is XOR-ed with 0xA5), so a test can check that a
// backend stores only what the sealer gave it. Not encryption: tests only (the real one is
// src/services/auth/totp_seal.h).
// Thread-safety: stateless; safe from any thread.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/storage/secret_sealer.h"

namespace edgevault::storage::testing {

class TestSealer final : public SecretSealer {
 public:
  static const TestSealer* Get() {
    static const TestSealer* const sealer = new TestSealer();
    return sealer;
  }
  absl::StatusOr<std::string> Seal(std::string_view plaintext, std::string_view context) const override {
    std::string out = "tst1:" + std::string(context) + ":";
    for (char c : plaintext) out.push_back(static_cast<char>(c ^ 0xA5));
    return out;
  }
  absl::StatusOr<std::string> Open(std::string_view sealed, std::string_view context) const override {
    std::string prefix = "tst1:" + std::string(context) + ":";
    if (sealed.substr(0, prefix.size()) != prefix) return absl::DataLossError("authentication failed");
    std::string out;
    for (char c : sealed.substr(prefix.size())) out.push_back(static_cast<char>(c ^ 0xA5));
    return out;
  }
};

}  // namespace edgevault::storage::testing
