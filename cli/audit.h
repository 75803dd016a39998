#pragma once
// `edgevault audit verify` and `edgevault audit tail`: read-only tools over the audit
// warehouse that audit.warehouse_url names: DATA_DIR/audit/warehouse by default, or
// S3-compatible storage (docs/audit.md, docs/design/audit-event.md).
// Thread-safety: each Run* is called once, from main().

#include <string>

#include "absl/time/time.h"

namespace edgevault::cli {

struct AuditVerifyOptions {
  std::string data_dir = "./edgevault-data";
  std::string from;  // YYYY-MM-DD; "" = the whole chain
  // audit.warehouse_url to read instead of the configured one (s3://bucket/prefix?...).
  std::string warehouse_url;
};

// Walks the chain; prints "OK: ..." or the first broken place. Returns 0 when intact,
// 1 when broken (or the warehouse is missing or unreadable), 2 for usage errors (a bad
// warehouse URL, missing S3 credentials).
int RunAuditVerify(const AuditVerifyOptions& options);

struct AuditTailOptions {
  std::string data_dir = "./edgevault-data";
  std::string warehouse_url;  // as AuditVerifyOptions::warehouse_url
  bool follow = false;
  bool json = false;   // raw warehouse lines instead of one-line summaries
  std::string actor;   // exact actor id
  std::string action;  // exact action, or a prefix ending in ".*" (auth.*)
  std::string since;   // RFC 3339; events at or after it
  absl::Duration poll_interval = absl::Milliseconds(500);
};

// Prints matching records in chain order; with follow, keeps polling for new ones until
// killed. Returns 0, 1 when the warehouse cannot be read, 2 for usage errors.
int RunAuditTail(const AuditTailOptions& options);

}  // namespace edgevault::cli
