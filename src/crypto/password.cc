#include "src/crypto/password.h"

#include <sodium.h>

#include <charconv>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

constexpr std::string_view kPhcPrefix = "$argon2id$";
constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kMinPasswordCodePoints = 12;

// sodium_init() is idempotent and thread-safe, but running it once keeps it off hot paths.
bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

struct PhcCost {
  uint64_t memory_kib = 0;
  uint64_t iterations = 0;
  uint64_t parallelism = 0;
};

bool ParseUint(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 10) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Reads "key=value" where key is `name`.
bool ParseField(std::string_view field, std::string_view name, uint64_t* out) {
  if (field.size() <= name.size() + 1 || field.substr(0, name.size()) != name ||
      field[name.size()] != '=') {
    return false;
  }
  return ParseUint(field.substr(name.size() + 1), out);
}

// Parses "$argon2id$v=19$m=..,t=..,p=..$salt$hash"; false for anything else.
bool ParsePhc(std::string_view phc, PhcCost* cost) {
  std::vector<std::string_view> parts = base::Split(phc, '$');
  if (parts.size() != 6 || !parts[0].empty() || parts[1] != "argon2id" || parts[2] != "v=19" ||
      parts[4].empty() || parts[5].empty()) {
    return false;
  }
  std::vector<std::string_view> costs = base::Split(parts[3], ',');
  return costs.size() == 3 && ParseField(costs[0], "m", &cost->memory_kib) &&
         ParseField(costs[1], "t", &cost->iterations) &&
         ParseField(costs[2], "p", &cost->parallelism);
}

size_t CountCodePoints(std::string_view utf8) {
  size_t n = 0;
  for (char c : utf8) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;  // skip continuation bytes
  }
  return n;
}

}  // namespace

absl::Status ValidatePasswordParams(const PasswordParams& params) {
  if (params.parallelism != 1) {
    return absl::InvalidArgumentError(
        "parallelism must be 1: libsodium's Argon2id always computes a single lane");
  }
  const uint32_t min_memory = params.allow_weak ? crypto_pwhash_MEMLIMIT_MIN / 1024
                                                : PasswordParams::kMinMemoryKib;
  if (params.memory_kib < min_memory) {
    return absl::InvalidArgumentError(base::StrCat(
        "memory_kib must be at least ", min_memory, " (got ", params.memory_kib, ")"));
  }
  const uint32_t min_iterations =
      params.allow_weak ? crypto_pwhash_OPSLIMIT_MIN : PasswordParams::kMinIterations;
  if (params.iterations < min_iterations) {
    return absl::InvalidArgumentError(base::StrCat(
        "iterations must be at least ", min_iterations, " (got ", params.iterations, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> HashPassword(std::string_view password,
                                         const PasswordParams& params) {
  if (absl::Status s = ValidatePasswordParams(params); !s.ok()) return s;
  if (!SodiumReady()) return absl::InternalError("libsodium failed to initialize");
  if (password.size() > crypto_pwhash_PASSWD_MAX) {
    return absl::InvalidArgumentError("password is too long to hash");
  }
  char out[crypto_pwhash_STRBYTES];
  // The salt comes from libsodium's CSPRNG (randombytes); the PHC string records it.
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params.iterations,
                            static_cast<size_t>(params.memory_kib) * 1024,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError(base::StrCat(
        "Argon2id could not allocate ", params.memory_kib, " KiB; lower memory_kib"));
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view password, std::string_view phc) {
  // libsodium wants a NUL-terminated string shorter than STRBYTES.
  if (phc.size() >= crypto_pwhash_STRBYTES || phc.substr(0, kPhcPrefix.size()) != kPhcPrefix ||
      phc.find('\0') != std::string_view::npos) {
    return false;
  }
  if (!SodiumReady()) return false;
  std::string terminated(phc);
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool NeedsRehash(std::string_view phc, const PasswordParams& params) {
  PhcCost cost;
  if (!ParsePhc(phc, &cost)) return true;
  return cost.memory_kib < params.memory_kib || cost.iterations < params.iterations;
}

absl::Status CheckPasswordPolicy(std::string_view password, std::string_view email) {
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        "password is longer than 1024 bytes; choose a shorter password");
  }
  if (CountCodePoints(password) < kMinPasswordCodePoints) {
    return absl::InvalidArgumentError(
        "password is shorter than 12 characters; choose a longer password, e.g. a passphrase "
        "of several words");
  }
  if (!email.empty() && base::EqualsIgnoreCase(password, email)) {
    return absl::InvalidArgumentError(
        "password must not be your email address; choose a different password");
  }
  return absl::OkStatus();
}

namespace internal {

std::string DummyHash(const PasswordParams& params) {
  static std::mutex mu;
  static auto* cache = new std::map<std::pair<uint32_t, uint32_t>, std::string>();
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(params.memory_kib, params.iterations);
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  // Nobody ever needs to know this password: any wrong password costs the same to reject.
  absl::StatusOr<std::string> phc = HashPassword("edgevault-dummy-password", params);
  if (!phc.ok()) return "";
  return cache->emplace(key, *std::move(phc)).first->second;
}

}  // namespace internal

void DummyVerify(const PasswordParams& params) {
  std::string phc = internal::DummyHash(params);
  if (phc.empty()) return;
  (void)VerifyPassword("not-the-dummy-password", phc);
}

}  // namespace edgevault::crypto
