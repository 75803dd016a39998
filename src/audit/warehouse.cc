#include "src/audit/warehouse.h"

#include <boost/json.hpp>

#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::audit {

namespace {

constexpr std::string_view kPrevKey = ",\"prev_hash\":\"";
constexpr std::string_view kHashKey = "\",\"hash\":\"";
constexpr std::string_view kEnd = "\"}";
// ,"prev_hash":"<64>","hash":"<64>"}
constexpr size_t kSuffixSize = kPrevKey.size() + 64 + kHashKey.size() + 64 + kEnd.size();

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string ChainHash(std::string_view prev_hash_hex, std::string_view canonical) {
  std::string data;
  data.reserve(prev_hash_hex.size() + canonical.size());
  data.append(prev_hash_hex);
  data.append(canonical);
  return crypto::Sha256Hex(data);
}

std::string ChainedLine(std::string_view canonical, std::string_view prev_hash_hex,
                        std::string* hash_out) {
  std::string hash = ChainHash(prev_hash_hex, canonical);
  std::string line;
  line.reserve(canonical.size() + kSuffixSize);
  line.append(canonical.substr(0, canonical.size() - 1));  // without the final '}'
  line.append(kPrevKey);
  line.append(prev_hash_hex);
  line.append(kHashKey);
  line.append(hash);
  line.append(kEnd);
  if (hash_out != nullptr) *hash_out = std::move(hash);
  return line;
}

absl::StatusOr<ParsedLine> ParseChainedLine(std::string_view line) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(line.data(), line.size()), ec);
  if (ec) return absl::InvalidArgumentError(base::StrCat("bad JSON: ", ec.message()));
  if (!v.is_object()) return absl::InvalidArgumentError("bad JSON: not an object");
  if (line.size() < kSuffixSize + 2) {
    return absl::InvalidArgumentError("bad chain members: line too short");
  }
  std::string_view suffix = line.substr(line.size() - kSuffixSize);
  std::string_view prev = suffix.substr(kPrevKey.size(), 64);
  std::string_view hash = suffix.substr(kPrevKey.size() + 64 + kHashKey.size(), 64);
  if (suffix.substr(0, kPrevKey.size()) != kPrevKey ||
      suffix.substr(kPrevKey.size() + 64, kHashKey.size()) != kHashKey ||
      suffix.substr(kSuffixSize - kEnd.size()) != kEnd || !IsLowerHex64(prev) ||
      !IsLowerHex64(hash)) {
    return absl::InvalidArgumentError(
        "bad chain members: the line must end in ,\"prev_hash\":\"<64 hex>\",\"hash\":\"<64 hex>\"}");
  }
  ParsedLine p;
  p.canonical.reserve(line.size() - kSuffixSize + 1);
  p.canonical.append(line.substr(0, line.size() - kSuffixSize));
  p.canonical.push_back('}');
  p.prev_hash = std::string(prev);
  p.hash = std::string(hash);
  return p;
}

}  // namespace edgevault::audit
