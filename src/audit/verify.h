#pragma once
// Walks every node's hash chain in a warehouse, in (file seq, line) order, and reports
// either the counts or the first broken place: which file, which 1-based line, and what
// is wrong (bad JSON, prev_hash mismatch, hash mismatch, missing file gap, truncated line,
// records missing at the end according to HEAD, ...). Rules: docs/design/audit-event.md.
// Thread-safety: a pure function of what the reader returns.
//
//   FileWarehouseReader reader(data_dir + "/audit/warehouse", env);
//   EV_ASSIGN_OR_RETURN(VerifyReport r, VerifyWarehouse(reader, {}));
//   if (!r.ok) std::printf("%s:%lld: %s\n", r.file.c_str(), (long long)r.line, r.problem.c_str());

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "src/audit/warehouse.h"

namespace edgevault::audit {

struct VerifyOptions {
  // Start at the first file (in chain order) whose partition day is on or after `from`;
  // that file's first prev_hash is taken as given.
  std::optional<absl::CivilDay> from;
};

struct VerifyReport {
  bool ok = true;
  int64_t nodes = 0;
  int64_t files = 0;
  int64_t events = 0;
  // When !ok: the first broken place. `file` is a path for people (absolute for the file
  // warehouse); `line` is 1-based, 0 when the problem is the file itself or HEAD.
  std::string file;
  int64_t line = 0;
  std::string problem;
  std::vector<std::string> notes;  // things worth saying that are not breaks
};

// Errors: only when the warehouse cannot be listed at all (NotFound, PermissionDenied,
// Internal); everything wrong inside it is reported in the VerifyReport.
absl::StatusOr<VerifyReport> VerifyWarehouse(WarehouseReader& reader, const VerifyOptions& options);

}  // namespace edgevault::audit
