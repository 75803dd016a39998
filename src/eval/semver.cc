#include "src/eval/semver.h"

#include <algorithm>

namespace edgevault::eval {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}
bool AllDigits(std::string_view s) { return std::all_of(s.begin(), s.end(), IsDigit); }

// A numeric component: digits, no leading zero (except "0"), fits uint64.
std::optional<uint64_t> ParseNumber(std::string_view s) {
  if (s.empty() || !AllDigits(s)) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// Dot-separated identifiers; each non-empty and of [0-9A-Za-z-].
bool SplitIdentifiers(std::string_view s, std::vector<std::string>* out) {
  for (;;) {
    size_t dot = s.find('.');
    std::string_view id = s.substr(0, dot);
    if (id.empty() || !std::all_of(id.begin(), id.end(), IsIdentChar)) return false;
    if (out != nullptr) out->emplace_back(id);
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

int CompareIdentifier(const std::string& a, const std::string& b) {
  bool an = AllDigits(a), bn = AllDigits(b);
  if (an && bn) {
    // No leading zeros (checked at parse), so length then text orders numerically
    // without overflow.
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
  }
  if (an != bn) return an ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

std::optional<Semver> Semver::Parse(std::string_view text) {
  Semver v;
  size_t plus = text.find('+');
  if (plus != std::string_view::npos) {
    if (!SplitIdentifiers(text.substr(plus + 1), nullptr)) return std::nullopt;
    text = text.substr(0, plus);
  }
  size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    if (!SplitIdentifiers(text.substr(dash + 1), &v.pre)) return std::nullopt;
    for (const std::string& id : v.pre) {
      if (AllDigits(id) && id.size() > 1 && id[0] == '0') return std::nullopt;
    }
    text = text.substr(0, dash);
  }
  uint64_t* parts[3] = {&v.major, &v.minor, &v.patch};
  for (int i = 0; i < 3; ++i) {
    size_t dot = text.find('.');
    std::optional<uint64_t> n = ParseNumber(text.substr(0, dot));
    if (!n) return std::nullopt;
    *parts[i] = *n;
    if (dot == std::string_view::npos) return v;  // missing minor/patch count as 0
    if (i == 2) return std::nullopt;              // a fourth component
    text.remove_prefix(dot + 1);
  }
  return std::nullopt;
}

int Compare(const Semver& a, const Semver& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.pre.empty() || b.pre.empty()) {
    if (a.pre.empty() && b.pre.empty()) return 0;
    return a.pre.empty() ? 1 : -1;  // a release outranks its pre-releases
  }
  size_t n = std::min(a.pre.size(), b.pre.size());
  for (size_t i = 0; i < n; ++i) {
    int c = CompareIdentifier(a.pre[i], b.pre[i]);
    if (c != 0) return c;
  }
  if (a.pre.size() == b.pre.size()) return 0;
  return a.pre.size() < b.pre.size() ? -1 : 1;
}

}  // namespace edgevault::eval
