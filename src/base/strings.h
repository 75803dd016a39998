#pragma once
// String helpers that speak std::string_view. Debian's Abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so absl::StrCat does not
// take std::string_view; these do, and ToStd() bridges Status::message().
//
//   std::string s = base::StrCat("port ", 8080, " on ", host_view);
//   base::StrAppend(&s, "; ", ToStd(status.message()));
//
// Thread-safety: pure functions.

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace edgevault::base {

inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ASCII case-insensitive equality (header names, tokens).
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Splits on every `sep`: "a//b" → {"a", "", "b"}; "" → {""}.
inline std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

namespace internal {

template <typename T>
void AppendPiece(std::string* out, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    out->append(v ? "true" : "false");
  } else if constexpr (std::is_same_v<T, char>) {
    out->push_back(v);
  } else if constexpr (std::is_integral_v<T>) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out->append(buf, end);
  } else if constexpr (std::is_floating_point_v<T>) {
    out->append(std::to_string(v));
  } else if constexpr (std::is_convertible_v<const T&, absl::string_view> &&
                       !std::is_convertible_v<const T&, std::string_view>) {
    out->append(ToStd(absl::string_view(v)));
  } else {
    out->append(std::string_view(v));
  }
}

}  // namespace internal

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (internal::AppendPiece(out, args), ...);
}

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  StrAppend(&out, args...);
  return out;
}

}  // namespace edgevault::base
