#pragma once
// Shared by the libFuzzer harnesses in fuzz/ (docs/testing.md#fuzzing): the check macro
// that turns a broken property into a crash libFuzzer records, and the per-process
// setup every harness wants (quiet logs; an EV_BUG_IF is a finding, not a log line).
// Single-threaded use from LLVMFuzzerTestOneInput.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "src/base/check.h"
#include "src/base/log.h"

namespace edgevault::fuzz {

[[noreturn]] inline void PropertyFailed(const char* file, int line, const char* expr,
                                        const std::string& detail) {
  std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n%s\n", file, line, expr,
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// FUZZ_CHECK(cond, detail): aborts (a libFuzzer crash, with the input saved) when `cond`
// is false; `detail` is any expression convertible to std::string, evaluated only then.
#define FUZZ_CHECK(cond, detail)                                                        \
  do {                                                                                  \
    if (!(cond)) ::edgevault::fuzz::PropertyFailed(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)

// Errors our validators may return for bad input: InvalidArgument (→ 400) and the
// other 4xx codes. Anything else (Internal, Unknown, ...) would answer 500 to a client.
inline bool IsClientError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

// JSON equality, except that two doubles may differ in their last bits: Boost.JSON 1.81
// does not read back every double it writes exactly (9.223371018427387E19 parses to a
// neighbour), which is a property of the library, not of our code.
inline bool SameJsonModuloDoubleRounding(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 4e-16 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!SameJsonModuloDoubleRounding(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const boost::json::value* other = y.if_contains(kv.key());
      if (other == nullptr || !SameJsonModuloDoubleRounding(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// Call once from LLVMFuzzerInitialize: the harnesses feed garbage on purpose, so the
// services' log lines about it would drown libFuzzer's output; only EV_BUG_IF reports
// ("msg":"bug") still reach stderr.
inline void QuietLogs() {
  base::SetLogLevel(base::LogLevel::kError);
  base::SetLogSink([](std::string_view line) {
    if (line.find("\"bug\"") != std::string_view::npos) {
      std::fwrite(line.data(), 1, line.size(), stderr);  // ends in a newline
    }
  });
}

// An EV_BUG_IF fired during this input: our code noticed a broken invariant.
inline void CheckNoBugReported() {
  static uint64_t seen = 0;
  uint64_t now = base::Bugs();
  FUZZ_CHECK(now == seen, "EV_BUG_IF fired (see the log line above)");
}

}  // namespace edgevault::fuzz
