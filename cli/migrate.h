#pragma once
// `edgevault migrate`: copies a single-host installation (an `edgevault up` data
// directory: control.db, workspaces/*.db, the audit warehouse) into the fleet stores —
// one PostgreSQL database for the control DB and the workspaces, an S3-compatible bucket
// for the audit warehouse — row for row and byte for byte, then verifies the copy
// (docs/deploy.md "Moving up from one host", docs/design/migrate.md).
//
// Resumable: every unit is idempotent (rows whose primary key is in the target are
// skipped, objects already in the bucket are compared, not rewritten), so a run that
// crashed or was interrupted is completed by running the same command again.
// Thread-safety: RunMigrate is called once, from main().
//
//   edgevault migrate --data-dir /srv/ev --to postgres://ev@db/ev
//       --audit-to 's3://audit/ev/?endpoint=https://s3.example&region=eu-1'
//   (one command line)

#include <string>

namespace edgevault::cli {

struct MigrateOptions {
  std::string data_dir = "./edgevault-data";
  std::string to;        // postgres://... (control DB and workspaces)
  std::string audit_to;  // s3://BUCKET[/PREFIX]?endpoint=...: audit.warehouse_url's syntax
  int batch = 500;       // rows per import transaction (1..1000)
};

// Prints progress and a verification report on stdout. Returns 0 when the target holds
// an exact copy, 1 when something failed (unreachable target, a target holding another
// installation, a verification mismatch: the message says which and what to do), 2 for
// usage errors (a malformed URL, not a data directory, services still running).
int RunMigrate(const MigrateOptions& options);

}  // namespace edgevault::cli
