#pragma once
// Helpers shared by the audit unit tests: temporary directories and sample events.
// Not thread-safe; test-only.

#include <cstdio>
#include <string>

#include "src/audit/event.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::audit::testing {

// A temporary directory removed with its contents (/tmp/ev-audit-XXXXXX).
class TempDir : public base::testing::TempDir {
 public:
  TempDir() : base::testing::TempDir("ev-audit") {}
};

// A valid event at `time` whose id encodes `n`.
inline AuditEvent SampleEvent(int n, absl::Time time) {
  AuditEvent e;
  char buf[64];
  std::snprintf(buf, sizeof buf, "evt_%012llx%016llx",
                static_cast<unsigned long long>(absl::ToUnixMicros(time)),
                static_cast<unsigned long long>(n));
  e.id = buf;
  e.time = time;
  e.service = "auth";
  e.actor.id = "user:u" + std::to_string(n);
  e.actor.address = "127.0.0.1";
  e.actor.user_agent = "test";
  e.action = "auth.login";
  e.org = "org_1";
  e.outcome = n % 3 == 0 ? "denied" : "success";
  e.request_id = "req-" + std::to_string(n);
  e.details["n"] = n;
  return e;
}

}  // namespace edgevault::audit::testing
