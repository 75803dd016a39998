#pragma once
// Shared by the libFuzzer harnesses in fuzz/ (docs/testing.md#fuzzing): the check macro
// that turns a broken property into a crash libFuzzer records, and the per-process
// setup every harness wants (quiet logs; an EV_BUG_IF is a finding, not a log line).
// Single-threaded use from LLVMFuzzerTestOneInput.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

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
