#include "cli/migrate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/data_dir.h"
#include "src/audit/paths.h"
#include "src/audit/sqlite_queue.h"
#include "src/audit/verify.h"
#include "src/audit/warehouse_open.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/net/s3_client.h"
#include "src/storage/control_store_open.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/workspace_store_postgres.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"
#include "src/storage/store_transfer.h"

namespace edgevault::cli {

namespace {

using base::StrCat;
using storage::StoreTransfer;
using storage::TransferRow;
using storage::TransferTable;

// Exit codes (migrate.h).
constexpr int kFailed = 1;
constexpr int kUsage = 2;

std::string Msg(const absl::Status& s) { return std::string(base::ToStd(s.message())); }

int Fail(const std::string& what) {
  std::fprintf(stderr, "edgevault migrate: %s\n", what.c_str());
  return kFailed;
}

int Usage(const std::string& what) {
  std::fprintf(stderr, "edgevault migrate: %s\n", what.c_str());
  return kUsage;
}

// Tests only: EDGEVAULT_MIGRATE_CRASH_AFTER_BATCHES=N ends the process (_exit, no clean-up,
// like a SIGKILL) after N imported batches, so a test can interrupt a migration at a
// chosen point and check that running it again completes it.
class CrashPoint {
 public:
  CrashPoint() {
    for (const auto& [name, value] : base::ProcessEnvironment()) {
      if (name == "EDGEVAULT_MIGRATE_CRASH_AFTER_BATCHES") left_ = std::atoll(value.c_str());
    }
  }
  void Batch() {
    if (left_ > 0 && --left_ == 0) {
      std::fprintf(stdout, "edgevault migrate: injected crash\n");
      std::fflush(stdout);
      ::_exit(86);
    }
  }

 private:
  long long left_ = 0;
};

// A table's rows and a digest of their content: SHA-256 over the sorted SHA-256 of every
// row's canonical encoding (EncodeTransferRow), so the backends' orders do not matter.
struct TableDigest {
  int64_t rows = 0;
  std::string sha256;
  bool operator==(const TableDigest&) const = default;
};

absl::StatusOr<TableDigest> Digest(StoreTransfer& store, const TransferTable& table, int batch) {
  std::vector<std::string> hashes;
  for (int64_t offset = 0;;) {
    EV_ASSIGN_OR_RETURN(std::vector<TransferRow> rows, store.ExportRows(table.name, offset, batch));
    if (rows.empty()) break;
    for (const TransferRow& r : rows)
      hashes.push_back(crypto::Sha256(storage::EncodeTransferRow(r)));
    offset += static_cast<int64_t>(rows.size());
  }
  std::sort(hashes.begin(), hashes.end());
  std::string all;
  for (const std::string& h : hashes) all += h;
  return TableDigest{.rows = static_cast<int64_t>(hashes.size()), .sha256 = crypto::Sha256Hex(all)};
}

// Copies every row of `table` (pages of `batch`, one import transaction each). Returns the
// rows inserted (rows already in the target are skipped).
absl::StatusOr<int64_t> CopyTable(StoreTransfer& from, StoreTransfer& to,
                                  const TransferTable& table, int batch, CrashPoint& crash) {
  int64_t inserted = 0;
  for (int64_t offset = 0;;) {
    EV_ASSIGN_OR_RETURN(std::vector<TransferRow> rows, from.ExportRows(table.name, offset, batch));
    if (rows.empty()) break;
    EV_ASSIGN_OR_RETURN(int64_t n, to.ImportRows(table.name, rows));
    inserted += n;
    offset += static_cast<int64_t>(rows.size());
    crash.Batch();
  }
  return inserted;
}

// Every row encoding of `table`, for the "different installation" check.
absl::StatusOr<std::set<std::string>> RowSet(StoreTransfer& store, const TransferTable& table,
                                             int batch) {
  std::set<std::string> out;
  for (int64_t offset = 0;;) {
    EV_ASSIGN_OR_RETURN(std::vector<TransferRow> rows, store.ExportRows(table.name, offset, batch));
    if (rows.empty()) break;
    for (const TransferRow& r : rows) out.insert(storage::EncodeTransferRow(r));
    offset += static_cast<int64_t>(rows.size());
  }
  return out;
}

bool IsSqliteUrl(const std::string& url) { return url.empty() || url == "sqlite:"; }

struct Source {
  std::string data_dir;
  base::Config config;
  std::unique_ptr<storage::ControlStore> control;
  std::unique_ptr<storage::WorkspaceStoreProvider> workspaces;
  std::unique_ptr<audit::OpenedWarehouse> warehouse;
};

struct Target {
  std::string description;
  std::unique_ptr<storage::ControlStore> control;
  std::unique_ptr<storage::WorkspaceStoreProvider> workspaces;
  std::unique_ptr<audit::OpenedWarehouse> warehouse;  // reader and client; no writer
  std::string prefix;                                 // the bucket prefix
};

// Appends what the source's audit queue still holds to the source warehouse, as the
// audit service would have, so the warehouse copied next is complete.
absl::StatusOr<int64_t> DrainAuditQueue(base::Env* env, Source& source) {
  const std::string path = audit::AuditQueuePath(source.data_dir);
  if (!env->Exists(path)) return 0;
  EV_ASSIGN_OR_RETURN(auto queue, audit::SqliteAuditQueue::Open({.path = path}));
  EV_ASSIGN_OR_RETURN(int64_t depth, queue->Depth());
  if (depth == 0) return 0;
  EV_ASSIGN_OR_RETURN(base::AuditWarehouseUrl url,
                      base::ParseAuditWarehouseUrl(source.config.audit_warehouse_url));
  EV_ASSIGN_OR_RETURN(auto writer, audit::OpenWarehouse({.url = url,
                                                         .data_dir = source.data_dir,
                                                         .node = source.config.node_id,
                                                         .writer = true,
                                                         .env = env}));
  int64_t appended = 0;
  while (true) {
    // The services are stopped, so no lease is live: a zero-length lease claims all.
    EV_ASSIGN_OR_RETURN(audit::ClaimedBatch b, queue->Claim(500, absl::Minutes(5), env->Now()));
    if (b.events.empty()) break;
    EV_RETURN_IF_ERROR(writer->writer->Append(b.events));
    EV_RETURN_IF_ERROR(queue->Ack(b.ids()));
    appended += static_cast<int64_t>(b.events.size());
  }
  return appended;
}

// The objects under the target prefix (relative names) that the source does not have,
// or has with other bytes: a target in use by another installation.
absl::Status CheckTargetWarehouse(Target& target,
                                  const std::map<std::string, std::string>& source) {
  EV_ASSIGN_OR_RETURN(std::vector<net::S3Object> objects,
                      target.warehouse->client->ListAll(target.prefix));
  for (const net::S3Object& o : objects) {
    const std::string name = o.key.substr(target.prefix.size());
    auto it = source.find(name);
    if (it == source.end()) {
      return absl::FailedPreconditionError(
          StrCat("the audit bucket already holds \"", o.key,
                 "\", which this data dir does not have: another installation (or a fleet "
                 "that already wrote to it) uses that prefix; choose an empty prefix"));
    }
    EV_ASSIGN_OR_RETURN(std::string bytes, target.warehouse->client->GetObject(o.key));
    if (bytes != it->second) {
      return absl::FailedPreconditionError(
          StrCat("the audit bucket's \"", o.key,
                 "\" differs from this data dir's copy: "
                 "another installation uses that prefix; choose an empty prefix"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int RunMigrate(const MigrateOptions& options) {
  base::Env* env = base::Env::Default();
  if (options.batch < 1 || options.batch > 1000) return Usage("--batch must be 1..1000");
  if (options.to.empty()) return Usage("--to postgres://... is required");
  if (absl::Status s = storage::ValidatePostgresUrl(options.to); !s.ok()) {
    return Usage(StrCat("--to: ", Msg(s)));
  }
  if (options.audit_to.empty())
    return Usage("--audit-to s3://BUCKET/PREFIX?endpoint=... is required");
  absl::StatusOr<base::AuditWarehouseUrl> audit_url =
      base::ParseAuditWarehouseUrl(options.audit_to);
  if (!audit_url.ok()) return Usage(StrCat("--audit-to: ", Msg(audit_url.status())));
  if (audit_url->kind != base::AuditWarehouseUrl::Kind::kS3) {
    return Usage("--audit-to must be an s3:// URL (the fleet's audit.warehouse_url)");
  }

  // ---- The source: an initialised data dir whose services are stopped.
  Source source;
  const DataDirLayout layout = DataDirLayout::For(options.data_dir);
  absl::StatusOr<base::Config> config = LoadDataDirConfig(env, layout);
  if (!config.ok()) {
    return Usage(
        StrCat(layout.root, " is not an EdgeVault data directory: ", Msg(config.status())));
  }
  source.config = *std::move(config);
  source.data_dir = source.config.data_dir.empty() ? layout.root : source.config.data_dir;
  if (!IsSqliteUrl(source.config.auth_settings.control_db_url) ||
      !IsSqliteUrl(source.config.api_settings.workspace_db_url)) {
    return Usage(StrCat("the installation in ", layout.root,
                        " already keeps its control DB or workspaces outside the data dir "
                        "(auth.control_db_url, api.workspace_db_url); migrate copies a "
                        "single-host installation"));
  }
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(layout);
  if (!lock.ok()) {
    return Usage(StrCat("the services must be stopped first: ", Msg(lock.status()),
                        ". Stop it (Ctrl-C) and run migrate again"));
  }
  const std::string control_path = source.data_dir + "/control.db";
  if (!env->Exists(control_path)) {
    return Usage(StrCat(control_path, " does not exist: start `edgevault up --data-dir ",
                        layout.root, "` once before migrating"));
  }
  std::printf("edgevault migrate: from %s (services stopped; holding %s)\n", layout.root.c_str(),
              layout.lock_file.c_str());

  auto sqlite_control = storage::OpenSqliteControlStore({.path = control_path, .env = env});
  if (!sqlite_control.ok())
    return Fail(StrCat("cannot open ", control_path, ": ", Msg(sqlite_control.status())));
  source.control = *std::move(sqlite_control);
  auto sqlite_ws = storage::OpenSqliteWorkspaceStoreProvider(
      {.dir = source.data_dir + "/workspaces", .env = env, .max_open = 4});
  if (!sqlite_ws.ok()) return Fail(StrCat("cannot open the workspaces: ", Msg(sqlite_ws.status())));
  source.workspaces = *std::move(sqlite_ws);
  absl::StatusOr<std::vector<std::string>> workspace_ids = source.workspaces->List();
  if (!workspace_ids.ok())
    return Fail(StrCat("cannot list the workspaces: ", Msg(workspace_ids.status())));

  // ---- The target: reachable, and empty or holding (part of) this very installation.
  Target target;
  storage::ControlStoreOpenOptions control_options{.url = options.to, .env = env, .pool_size = 4};
  target.description = storage::DescribeControlStoreUrl(control_options);
  std::printf("to %s and %s\n", target.description.c_str(),
              StrCat("s3://", audit_url->bucket, "/", audit_url->prefix).c_str());
  auto pg_control = storage::OpenControlStore(control_options);
  if (!pg_control.ok()) {
    return Fail(StrCat("cannot use the target database ", target.description, ": ",
                       Msg(pg_control.status()), ". Nothing was copied"));
  }
  target.control = *std::move(pg_control);
  auto pg_ws = storage::OpenPostgresWorkspaceStoreProvider(
      {.url = options.to, .env = env, .max_connections = 4});
  if (!pg_ws.ok()) {
    return Fail(StrCat("cannot use the target database for workspaces: ", Msg(pg_ws.status())));
  }
  target.workspaces = *std::move(pg_ws);
  auto s3 = audit::OpenWarehouse(
      {.url = *audit_url,
       .env = env,
       .credentials = net::S3CredentialsFromEnvironment(base::ProcessEnvironment())});
  if (!s3.ok()) return Usage(StrCat("--audit-to: ", Msg(s3.status())));
  target.warehouse = *std::move(s3);
  target.prefix = audit_url->prefix;

  for (const TransferTable& t : storage::ControlTransferTables()) {
    absl::StatusOr<std::set<std::string>> theirs = RowSet(*target.control, t, options.batch);
    if (!theirs.ok())
      return Fail(StrCat("cannot read the target's ", t.name, ": ", Msg(theirs.status())));
    if (theirs->empty()) continue;
    absl::StatusOr<std::set<std::string>> ours = RowSet(*source.control, t, options.batch);
    if (!ours.ok()) return Fail(StrCat("cannot read ", t.name, ": ", Msg(ours.status())));
    for (const std::string& row : *theirs) {
      if (!ours->contains(row)) {
        return Fail(StrCat("the target database already holds a different installation (table ",
                           t.name,
                           " has rows this data dir does not have). migrate needs an "
                           "empty database, or one this data dir was being migrated into. "
                           "Nothing was copied"));
      }
    }
  }
  {
    absl::StatusOr<std::vector<std::string>> theirs = target.workspaces->List();
    if (!theirs.ok())
      return Fail(StrCat("cannot list the target's workspaces: ", Msg(theirs.status())));
    const std::set<std::string> ours(workspace_ids->begin(), workspace_ids->end());
    for (const std::string& id : *theirs) {
      if (!ours.contains(id)) {
        return Fail(StrCat("the target database already holds workspace ", id,
                           ", which this data dir does not have: a different installation. "
                           "Nothing was copied"));
      }
    }
  }

  // The source warehouse: drain the queue into it first, then read every object.
  absl::StatusOr<int64_t> drained = DrainAuditQueue(env, source);
  if (!drained.ok()) return Fail(StrCat("cannot drain the audit queue: ", Msg(drained.status())));
  if (*drained > 0)
    std::printf("audit queue: %lld queued events appended to the warehouse first\n",
                static_cast<long long>(*drained));
  absl::StatusOr<base::AuditWarehouseUrl> source_url =
      base::ParseAuditWarehouseUrl(source.config.audit_warehouse_url);
  if (!source_url.ok()) return Fail(Msg(source_url.status()));
  auto source_warehouse = audit::OpenWarehouse(
      {.url = *source_url,
       .data_dir = source.data_dir,
       .env = env,
       .credentials = net::S3CredentialsFromEnvironment(base::ProcessEnvironment())});
  if (!source_warehouse.ok())
    return Fail(StrCat("cannot open the audit warehouse: ", Msg(source_warehouse.status())));
  source.warehouse = *std::move(source_warehouse);
  std::map<std::string, std::string> objects;  // relative name -> bytes
  std::vector<std::string> nodes;
  {
    absl::StatusOr<std::vector<audit::WarehouseFile>> files = source.warehouse->reader->ListFiles();
    if (!files.ok() && !absl::IsNotFound(files.status())) {
      return Fail(StrCat("cannot list the audit warehouse: ", Msg(files.status())));
    }
    if (files.ok()) {
      for (const audit::WarehouseFile& f : *files) {
        absl::StatusOr<std::string> bytes = source.warehouse->reader->ReadFile(f.path);
        if (!bytes.ok()) return Fail(StrCat("cannot read ", f.path, ": ", Msg(bytes.status())));
        objects[f.path] = *std::move(bytes);
      }
      absl::StatusOr<std::vector<std::string>> heads = source.warehouse->reader->HeadNodes();
      if (!heads.ok()) return Fail(StrCat("cannot list the chain heads: ", Msg(heads.status())));
      nodes = *heads;
      for (const std::string& node : nodes) {
        const std::string name = audit::HeadRecordName(node);
        absl::StatusOr<std::string> bytes = source.warehouse->reader->ReadFile(name);
        if (!bytes.ok()) return Fail(StrCat("cannot read ", name, ": ", Msg(bytes.status())));
        objects[name] = *std::move(bytes);
      }
    }
  }
  if (absl::Status s = CheckTargetWarehouse(target, objects); !s.ok()) {
    return Fail(StrCat(Msg(s), ". Nothing was copied"));
  }

  // ---- Copy. Each batch is one transaction and idempotent: a re-run completes a crashed one.
  CrashPoint crash;
  std::printf("control DB:\n");
  for (const TransferTable& t : storage::ControlTransferTables()) {
    absl::StatusOr<int64_t> n =
        CopyTable(*source.control, *target.control, t, options.batch, crash);
    if (!n.ok())
      return Fail(StrCat("copying ", t.name, ": ", Msg(n.status()),
                         ". Run the same command again to resume"));
    std::printf("  %-24s %lld rows copied\n", std::string(t.name).c_str(),
                static_cast<long long>(*n));
  }
  for (const std::string& id : *workspace_ids) {
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> from = source.workspaces->Open(id);
    if (!from.ok()) return Fail(StrCat("cannot open workspace ", id, ": ", Msg(from.status())));
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> to = target.workspaces->Create(id);
    if (!to.ok())
      return Fail(StrCat("cannot create workspace ", id, " in the target: ", Msg(to.status())));
    int64_t copied = 0;
    for (const TransferTable& t : storage::WorkspaceTransferTables()) {
      absl::StatusOr<int64_t> n = CopyTable(**from, **to, t, options.batch, crash);
      if (!n.ok()) {
        return Fail(StrCat("copying workspace ", id, " table ", t.name, ": ", Msg(n.status()),
                           ". Run the same command again to resume"));
      }
      copied += *n;
    }
    std::printf("workspace %s: %lld rows copied\n", id.c_str(), static_cast<long long>(copied));
  }
  int64_t put = 0;
  for (const auto& [name, bytes] : objects) {
    const std::string key = target.prefix + name;
    absl::Status s = target.warehouse->client->PutObject(key, bytes, {.if_none_match = true});
    if (absl::IsAlreadyExists(s)) {
      absl::StatusOr<std::string> there = target.warehouse->client->GetObject(key);
      if (!there.ok()) return Fail(StrCat("cannot read back ", key, ": ", Msg(there.status())));
      if (*there != bytes)
        return Fail(StrCat(key, " in the bucket differs from the data dir's copy"));
      continue;
    }
    if (!s.ok())
      return Fail(
          StrCat("cannot write ", key, ": ", Msg(s), ". Run the same command again to resume"));
    ++put;
    crash.Batch();
  }
  std::printf("audit warehouse: %lld objects copied (%zu in all)\n", static_cast<long long>(put),
              objects.size());

  // ---- Verify: counts and digests per table, revision heads, the warehouse's objects and chain.
  std::printf("verify:\n");
  std::vector<std::string> mismatches;
  for (const TransferTable& t : storage::ControlTransferTables()) {
    absl::StatusOr<TableDigest> a = Digest(*source.control, t, options.batch);
    absl::StatusOr<TableDigest> b = Digest(*target.control, t, options.batch);
    if (!a.ok() || !b.ok())
      return Fail(StrCat("verifying ", t.name, ": ", Msg(!a.ok() ? a.status() : b.status())));
    std::printf("  control %-24s %6lld rows  %s  %s\n", std::string(t.name).c_str(),
                static_cast<long long>(a->rows), a->sha256.substr(0, 16).c_str(),
                *a == *b ? "ok" : "DIFFERENT");
    if (!(*a == *b)) mismatches.push_back(StrCat("control table ", t.name));
  }
  for (const std::string& id : *workspace_ids) {
    auto from = source.workspaces->Open(id);
    auto to = target.workspaces->Open(id);
    if (!from.ok() || !to.ok())
      return Fail(
          StrCat("verifying workspace ", id, ": ", Msg(!from.ok() ? from.status() : to.status())));
    absl::StatusOr<int64_t> head_a = (*from)->Head();
    absl::StatusOr<int64_t> head_b = (*to)->Head();
    if (!head_a.ok() || !head_b.ok())
      return Fail(StrCat("verifying workspace ", id, ": cannot read the head"));
    bool same = *head_a == *head_b;
    int64_t rows = 0;
    std::string tables;
    for (const TransferTable& t : storage::WorkspaceTransferTables()) {
      absl::StatusOr<TableDigest> a = Digest(**from, t, options.batch);
      absl::StatusOr<TableDigest> b = Digest(**to, t, options.batch);
      if (!a.ok() || !b.ok()) return Fail(StrCat("verifying workspace ", id, " table ", t.name));
      rows += a->rows;
      if (!(*a == *b)) {
        same = false;
        tables += StrCat(" ", t.name);
      }
    }
    std::printf("  workspace %s: head %lld, %lld rows in %zu tables  %s\n", id.c_str(),
                static_cast<long long>(*head_a), static_cast<long long>(rows),
                storage::WorkspaceTransferTables().size(), same ? "ok" : "DIFFERENT");
    if (!same)
      mismatches.push_back(
          StrCat("workspace ", id, " (head ", *head_a, " vs ", *head_b, ";", tables, ")"));
  }
  int64_t objects_ok = 0;
  for (const auto& [name, bytes] : objects) {
    absl::StatusOr<std::string> there = target.warehouse->client->GetObject(target.prefix + name);
    if (there.ok() && *there == bytes) {
      ++objects_ok;
    } else {
      mismatches.push_back(StrCat("audit object ", name));
    }
  }
  for (const std::string& node : nodes) {
    absl::StatusOr<std::optional<audit::ChainHead>> head = target.warehouse->reader->ReadHead(node);
    if (head.ok() && head->has_value()) {
      std::printf("  audit chain %s: head file %llu line %lld hash %s\n", node.c_str(),
                  static_cast<unsigned long long>((*head)->seq),
                  static_cast<long long>((*head)->line), (*head)->hash.c_str());
    } else {
      mismatches.push_back(StrCat("audit chain ", node, ": no HEAD record in the bucket"));
    }
  }
  std::printf("  audit objects: %lld of %zu byte-identical\n", static_cast<long long>(objects_ok),
              objects.size());
  if (!objects.empty()) {
    absl::StatusOr<audit::VerifyReport> report =
        audit::VerifyWarehouse(*target.warehouse->reader, {});
    if (!report.ok()) return Fail(StrCat("audit verify on the target: ", Msg(report.status())));
    if (report->ok) {
      std::printf("  audit verify on the target: OK (%lld nodes, %lld files, %lld events)\n",
                  static_cast<long long>(report->nodes), static_cast<long long>(report->files),
                  static_cast<long long>(report->events));
    } else {
      mismatches.push_back(StrCat("audit verify on the target: ", report->file, ":", report->line,
                                  ": ", report->problem));
    }
  }
  if (!mismatches.empty()) {
    for (const std::string& m : mismatches)
      std::fprintf(stderr, "edgevault migrate: DIFFERENT: %s\n", m.c_str());
    return Fail(
        "the copy does not match the source; run the same command again (it resumes), "
        "and if it still differs, the target was written by something else");
  }
  std::printf(
      "migrated and verified: %zu workspaces, %zu audit objects. Point the fleet at "
      "%s (auth.control_db_url, api.workspace_db_url) and the bucket "
      "(audit.warehouse_url); copy keys/ as docs/deploy.md says.\n",
      workspace_ids->size(), objects.size(), target.description.c_str());
  return 0;
}

}  // namespace edgevault::cli
