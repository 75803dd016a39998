#pragma once
// Semantic versions (semver 2.0.0) for the semver_* clause operators: parsing and
// precedence, including pre-release identifiers; build metadata is ignored.
// Thread-safety: value type and pure functions.
//
//   std::optional<Semver> a = Semver::Parse("1.2.3-rc.1");
//   std::optional<Semver> b = Semver::Parse("1.2");   // lenient: "1.2.0"
//   bool older = Compare(*a, *b) < 0;

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgevault::eval {

struct Semver {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  // Dot-separated pre-release identifiers ("rc", "1" for "-rc.1"); empty for a release.
  std::vector<std::string> pre;

  // Parses MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]. A missing minor or patch counts as 0
  // (as LaunchDarkly does: "2" is "2.0.0", "2.1" is "2.1.0"). Numeric components and
  // numeric pre-release identifiers must not have leading zeros; identifiers are
  // [0-9A-Za-z-]+. Returns nullopt for anything else (including overflow).
  static std::optional<Semver> Parse(std::string_view text);
};

// Semver precedence: <0, 0, >0. A pre-release sorts before its release; identifiers
// compare numerically when both are numeric, numeric before alphanumeric, otherwise by
// ASCII; a longer list wins when all shared identifiers are equal.
int Compare(const Semver& a, const Semver& b);

}  // namespace edgevault::eval
