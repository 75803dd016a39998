#include "src/eval/values.h"

#include <charconv>
#include <cmath>

#include "src/base/strings.h"

namespace edgevault::eval {

std::optional<double> NumberValue(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return static_cast<double>(v.get_int64());
    case boost::json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case boost::json::kind::double_:
      return v.get_double();
    default:
      return std::nullopt;
  }
}

std::optional<int64_t> IntegerValue(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return v.get_int64();
    case boost::json::kind::uint64:
      if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(v.get_uint64());
    case boost::json::kind::double_: {
      double d = v.get_double();
      // 2^63 is exactly representable; anything at or beyond it does not fit.
      if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 ||
          d >= 9223372036854775808.0) {
        return std::nullopt;
      }
      return static_cast<int64_t>(d);
    }
    default:
      return std::nullopt;
  }
}

std::optional<absl::Time> TimeValue(const boost::json::value& v) {
  if (const boost::json::string* s = v.if_string()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, base::ToAbsl(std::string_view(*s)), &t, &err)) {
      return std::nullopt;
    }
    return t;
  }
  if (std::optional<int64_t> ms = IntegerValue(v)) return absl::FromUnixMillis(*ms);
  if (std::optional<double> ms = NumberValue(v)) {
    return absl::UnixEpoch() + absl::Milliseconds(*ms);
  }
  return std::nullopt;
}

namespace {

bool NumbersEqual(const boost::json::value& a, const boost::json::value& b) {
  using boost::json::kind;
  if (a.kind() == kind::double_ || b.kind() == kind::double_) {
    return *NumberValue(a) == *NumberValue(b);
  }
  // Integers: compare exactly (no rounding through double).
  if (a.kind() == kind::int64 && b.kind() == kind::int64) return a.get_int64() == b.get_int64();
  if (a.kind() == kind::uint64 && b.kind() == kind::uint64) {
    return a.get_uint64() == b.get_uint64();
  }
  const boost::json::value& s = a.kind() == kind::int64 ? a : b;
  const boost::json::value& u = a.kind() == kind::int64 ? b : a;
  return s.get_int64() >= 0 && static_cast<uint64_t>(s.get_int64()) == u.get_uint64();
}

bool IsNumber(const boost::json::value& v) { return v.is_number(); }

}  // namespace

bool JsonEqual(const boost::json::value& a, const boost::json::value& b) {
  if (IsNumber(a) || IsNumber(b)) return IsNumber(a) && IsNumber(b) && NumbersEqual(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case boost::json::kind::string:
      return a.get_string() == b.get_string();
    case boost::json::kind::bool_:
      return a.get_bool() == b.get_bool();
    case boost::json::kind::null:
      return true;
    case boost::json::kind::array: {
      const boost::json::array& x = a.get_array();
      const boost::json::array& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!JsonEqual(x[i], y[i])) return false;
      }
      return true;
    }
    case boost::json::kind::object: {
      const boost::json::object& x = a.get_object();
      const boost::json::object& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& member : x) {
        const boost::json::value* other = y.if_contains(member.key());
        if (other == nullptr || !JsonEqual(member.value(), *other)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

std::optional<std::string_view> BucketableString(const boost::json::value& v,
                                                 std::string* scratch) {
  if (const boost::json::string* s = v.if_string()) return std::string_view(*s);
  if (!v.is_number()) return std::nullopt;
  char buf[32];
  char* end = nullptr;
  if (v.is_uint64()) {
    end = std::to_chars(buf, buf + sizeof buf, v.get_uint64()).ptr;
  } else if (std::optional<int64_t> i = IntegerValue(v)) {
    end = std::to_chars(buf, buf + sizeof buf, *i).ptr;
  } else {
    return std::nullopt;  // fractional or out of range
  }
  scratch->assign(buf, end);
  return std::string_view(*scratch);
}

std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 80;
  bool cut = s.size() > kMax;
  std::string out = boost::json::serialize(boost::json::string_view(s.substr(0, kMax)));
  if (cut) out.insert(out.size() - 1, "...");
  return out;
}

std::string_view JsonTypeName(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string:
      return "string";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "number";
    case boost::json::kind::bool_:
      return "boolean";
    case boost::json::kind::object:
      return "object";
    case boost::json::kind::array:
      return "array";
    case boost::json::kind::null:
      return "null";
  }
  return "null";
}

}  // namespace edgevault::eval
