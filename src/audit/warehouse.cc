#include "src/audit/warehouse.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <boost/json.hpp>

#include "src/base/strings.h"
#include "src/audit/event.h"
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

bool AllDigits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int ToInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "node-1-0000000007.ndjson" → ("node-1", 7).
bool ParseFileName(std::string_view name, std::string* node, uint64_t* seq) {
  if (name.size() <= kChainFileSuffix.size() ||
      name.substr(name.size() - kChainFileSuffix.size()) != kChainFileSuffix) {
    return false;
  }
  std::string_view stem = name.substr(0, name.size() - kChainFileSuffix.size());
  size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return false;
  std::string_view n = stem.substr(0, dash), s = stem.substr(dash + 1);
  if (!ValidNodeId(n) || s.size() < 10 || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v == 0) return false;
  *node = std::string(n);
  *seq = v;
  return true;
}

}  // namespace

bool ValidNodeId(std::string_view node) {
  if (node.empty() || node.size() > 64) return false;
  for (char c : node) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return node != "." && node != "..";
}

std::string WarehouseFilePath(absl::CivilHour hour, std::string_view node, uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d/%02d/%02d/%02d/", static_cast<int>(hour.year()),
                hour.month(), hour.day(), hour.hour());
  char seq_buf[32];
  std::snprintf(seq_buf, sizeof seq_buf, "-%010llu", static_cast<unsigned long long>(seq));
  return base::StrCat(buf, node, seq_buf, kChainFileSuffix);
}

bool ParseWarehouseFilePath(std::string_view path, WarehouseFile* out) {
  std::vector<std::string_view> parts = base::Split(path, '/');
  if (parts.size() != 5 || !AllDigits(parts[0], 4) || !AllDigits(parts[1], 2) ||
      !AllDigits(parts[2], 2) || !AllDigits(parts[3], 2)) {
    return false;
  }
  const int y = ToInt(parts[0]), m = ToInt(parts[1]), d = ToInt(parts[2]), h = ToInt(parts[3]);
  absl::CivilHour hour(y, m, d, h);
  if (hour.year() != y || hour.month() != m || hour.day() != d || hour.hour() != h) return false;
  WarehouseFile f;
  if (!ParseFileName(parts[4], &f.node, &f.seq)) return false;
  f.path = std::string(path);
  f.hour = hour;
  *out = std::move(f);
  return true;
}

void SortChainFiles(std::vector<WarehouseFile>& files) {
  std::sort(files.begin(), files.end(), [](const WarehouseFile& a, const WarehouseFile& b) {
    return a.node != b.node ? a.node < b.node : a.seq < b.seq;
  });
}

std::string HeadRecordName(std::string_view node) { return base::StrCat(node, ".head"); }

std::string HeadRecordText(std::string_view node, uint64_t seq, int64_t line,
                           std::string_view hash) {
  std::string text = "{\"v\":1,\"node\":";
  AppendCanonicalString(&text, node);
  base::StrAppend(&text, ",\"seq\":", static_cast<unsigned long long>(seq), ",\"line\":", line,
                  ",\"hash\":\"", hash, "\"}\n");
  return text;
}

absl::StatusOr<ChainHead> ParseHeadRecord(std::string_view text, std::string_view node,
                                          std::string_view where) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(base::StrCat("HEAD record ", where, ": ", why));
  };
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return bad("not a JSON object");
  const boost::json::object& o = v.get_object();
  const boost::json::value* n = o.if_contains("node");
  const boost::json::value* s = o.if_contains("seq");
  const boost::json::value* l = o.if_contains("line");
  const boost::json::value* h = o.if_contains("hash");
  if (n == nullptr || !n->is_string() || s == nullptr || !s->is_int64() || l == nullptr ||
      !l->is_int64() || h == nullptr || !h->is_string() || h->get_string().size() != 64 ||
      s->get_int64() < 1 || l->get_int64() < 1) {
    return bad("expected {\"v\":1,\"node\":…,\"seq\":N,\"line\":N,\"hash\":\"<64 hex>\"}");
  }
  ChainHead head;
  head.node = std::string(n->get_string().data(), n->get_string().size());
  if (head.node != node) return bad("names another node");
  head.seq = static_cast<uint64_t>(s->get_int64());
  head.line = l->get_int64();
  head.hash = std::string(h->get_string().data(), h->get_string().size());
  return head;
}

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
