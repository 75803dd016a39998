#pragma once
// Finite numbers only: Boost.JSON parses `1e999` as an infinite double and serialises it
// as `Infinity`, which is not JSON, so a body holding one could be stored but never read
// back. Every boundary that accepts JSON (request bodies, validators) and every reader of
// stored JSON checks with this. Header-only (the includer links Boost.JSON); pure.
//
//   if (std::optional<std::string> at = base::FindNonFiniteNumber(body)) {
//     return absl::InvalidArgumentError("field '" + *at + "': numbers must be finite");
//   }

#include <cmath>
#include <optional>
#include <string>

#include <boost/json.hpp>

namespace edgevault::base {

// The path of the first number in `v` that is not finite (infinity or NaN), written as
// members and indexes joined by '.', e.g. "values.prod" or "variations.1.value" (""
// for `v` itself); nullopt when every number is finite. Depth-first, members in order.
inline std::optional<std::string> FindNonFiniteNumber(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      if (!std::isfinite(v.get_double())) return std::string();
      return std::nullopt;
    case boost::json::kind::array: {
      const boost::json::array& a = v.get_array();
      for (size_t i = 0; i < a.size(); ++i) {
        if (std::optional<std::string> at = FindNonFiniteNumber(a[i])) {
          return at->empty() ? std::to_string(i) : std::to_string(i) + "." + *at;
        }
      }
      return std::nullopt;
    }
    case boost::json::kind::object:
      for (const auto& m : v.get_object()) {
        if (std::optional<std::string> at = FindNonFiniteNumber(m.value())) {
          std::string key(m.key().data(), m.key().size());
          return at->empty() ? key : key + "." + *at;
        }
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace edgevault::base
