// The write path, measured: revisions committed per second to one workspace and across
// 8 workspaces written in parallel, and the time from a write's return (the moment the
// api answers 2xx) to the new version being readable in the edge KV (p50/p99).
// Baseline in the same run: raw SQLite commits of one small row each with the same
// durability (WAL, synchronous=FULL) — the fsync-bound ceiling any revision store faces.
// Then the scaling case: new flags written per second (one PutItem each, a rule plus a
// 50/50 rollout, two environments) into workspaces already holding N flags, with the
// time until the KV holds the last write's version. The N flags are pre-filled with one
// store commit (not through the service) so the set-up does not dominate the run.
//
// The same measurements run on either workspace store: SQLite (one file per workspace, the
// default) or PostgreSQL (a server this program starts: initdb in /var/tmp, PostgreSQL's
// durable defaults — fsync, synchronous_commit, full_page_writes on), each against its own
// raw-commit baseline; "both" runs SQLite then PostgreSQL and prints their ratios.
//
//   build/bin/bench_write_path [writes_per_run=400] [sizes=10,1000,5000] [flag_writes=50]
//                              [backend=sqlite|postgres|both]
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "src/base/strings.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/postgres/workspace_store_postgres.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"
#include "src/workspace/service.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A flag as bench/delivery/drive.py writes it: a rule on an attribute, then a rollout.
json::object FlagBody(const std::string& env) {
  json::value v = json::parse(R"({"variations":[{"value":true,"name":"on"},{"value":false,"name":"off"}],
    "environments":{")" + env + R"(":{"on":true,"off_variation":1,"targets":[],
      "rules":[{"clauses":[{"attribute":"country","op":"in","values":["nz","au"]}],"variation":0}],
      "fallthrough":{"rollout":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]},
      "prerequisites":[]}}})");
  return v.as_object();
}

std::vector<int> ParseSizes(const char* arg) {
  std::vector<int> out;
  std::string s = arg;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    if (comma > pos) out.push_back(std::atoi(s.substr(pos, comma - pos).c_str()));
    pos = comma + 1;
  }
  return out;
}

double RawSqliteCommitsPerSecond(const std::string& path, int n) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)", nullptr, nullptr, nullptr);
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    std::string sql = base::StrCat("BEGIN IMMEDIATE; INSERT INTO t (body) VALUES ('{\"type\":\"integer\",",
                                   "\"values\":{\"dev\":", std::to_string(i), "}}'); COMMIT;");
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  double rate = n / Seconds(Clock::now() - start);
  sqlite3_close(db);
  return rate;
}

// One small row per transaction through one connection: PostgreSQL's commit ceiling.
double RawPostgresCommitsPerSecond(const std::string& url, int n) {
  auto pool = storage::PgPool::Create({.connect = {.url = url}, .max_connections = 1});
  if (!pool.ok() || !(*pool)->Exec("CREATE TABLE raw_commits (id BIGSERIAL PRIMARY KEY, body TEXT)").ok()) {
    std::fprintf(stderr, "raw PostgreSQL baseline: %s\n", pool.ok() ? "CREATE TABLE failed" : pool.status().ToString().c_str());
    std::abort();
  }
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    (void)(*pool)->Exec("INSERT INTO raw_commits (body) VALUES ($1)",
                        {base::StrCat("{\"type\":\"integer\",\"values\":{\"dev\":", std::to_string(i), "}}")});
  }
  return n / Seconds(Clock::now() - start);
}

struct SizeResult {
  int size;
  double flags_per_second;
  double last_visible_ms;
};
struct Results {
  double single = 0, parallel = 0, p50_us = 0, p99_us = 0;
  size_t latency_writes = 0;
  std::vector<SizeResult> scaling;
};

// Every measurement but the baseline, on the workspaces of `stores` (the control DB and
// the edge KV in `dir`).
Results RunOn(const std::string& dir, storage::WorkspaceStoreProvider* stores, int n, const std::vector<int>& sizes,
              int flag_writes) {
  Results out;
  base::Env* env = base::Env::Default();
  auto control = *storage::OpenSqliteControlStore({dir + "/control.db", env});
  storage::Org org{"org_bench", "bench", {1000, 100, 1000000}, env->Now()};
  (void)control->CreateOrg(org);
  storage::LmdbEdgeKvOptions kvo;
  kvo.path = dir + "/edge";
  auto kv = *storage::OpenLmdbEdgeKv(kvo);
  workspace::ServiceOptions so;
  so.stores = stores;
  so.directory = control.get();
  so.kv = kv.get();
  so.env = env;
  auto service = *workspace::Service::Create(so);
  (void)service->Start();
  workspace::Actor actor{"user:bench", org.id, "127.0.0.1", "bench"};

  auto make_ws = [&](const std::string& key) {
    storage::Workspace ws = *service->CreateWorkspace(actor, key, key);
    (void)service->CreateEnvironment(actor, ws, json::object{{"key", "prod"}, {"name", "P"}}, "setup", std::nullopt);
    (void)service->CreateEnvironment(actor, ws, json::object{{"key", "dev"}, {"name", "D"}, {"parent", "prod"}}, "setup",
                                     std::nullopt);
    return ws;
  };
  auto put = [&](const storage::Workspace& ws, const std::string& key, int i) {
    json::object body{{"type", "integer"}, {"values", {{"dev", i}}}};
    return service->PutItem(actor, ws, storage::ItemKind::kConfig, key, body, "bench", std::nullopt,
                            workspace::AllowAnyWrite());
  };

  storage::Workspace one = make_ws("one");
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) (void)put(one, base::StrCat("k", std::to_string(i % 50)), i);
  out.single = n / Seconds(Clock::now() - start);

  std::vector<storage::Workspace> many;
  for (int w = 0; w < 8; ++w) many.push_back(make_ws(base::StrCat("many", std::to_string(w))));
  int per = std::max(1, n / 8);
  start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < 8; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < per; ++i) (void)put(many[w], base::StrCat("k", std::to_string(i % 50)), i);
    });
  }
  for (auto& t : threads) t.join();
  out.parallel = 8.0 * per / Seconds(Clock::now() - start);

  // Write returned → version visible in the KV.
  storage::Workspace lat = make_ws("latency");
  std::vector<double> micros;
  for (int i = 0; i < std::min(n, 300); ++i) {
    absl::StatusOr<int64_t> rev = put(lat, "k", i);
    auto t0 = Clock::now();
    if (!rev.ok()) continue;
    for (;;) {
      absl::StatusOr<int64_t> v = kv->GetVersion(base::StrCat("doc/", lat.id, "/dev"));
      if (v.ok() && *v >= *rev) break;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(micros.begin(), micros.end());
  auto pct = [&](double p) { return micros.empty() ? 0.0 : micros[static_cast<size_t>(p * (micros.size() - 1))]; };

  out.p50_us = pct(0.5);
  out.p99_us = pct(0.99);
  out.latency_writes = micros.size();

  // Scaling: new flags/s into a workspace that already holds `size` flags.
  for (int size : sizes) {
    storage::Workspace ws = make_ws(base::StrCat("size", std::to_string(size)));
    {
      std::shared_ptr<storage::WorkspaceStore> store = *stores->Open(ws.id);
      storage::CommitRequest c;
      c.actor = actor.id;
      c.reason = "prefill";
      c.op = "create";
      c.time = env->Now();
      std::string body = json::serialize(FlagBody("prod"));
      for (int i = 0; i < size; ++i) {
        c.mutations.push_back({storage::ItemKind::kFlag, base::StrCat("pre_", std::to_string(100000 + i)), body, ""});
      }
      c.outbox.push_back({0, "propagate", "{\"environments\":[\"\"]}", c.time, 0});
      if (!c.mutations.empty() && !store->Commit(c).ok()) std::abort();
    }
    (void)service->PropagateNow(ws.id);  // the pre-filled documents, before timing
    json::object flag = FlagBody("prod");
    absl::StatusOr<int64_t> rev;
    auto t0 = Clock::now();
    for (int i = 0; i < flag_writes; ++i) {
      rev = service->PutItem(actor, ws, storage::ItemKind::kFlag, base::StrCat("new_", std::to_string(i)), flag,
                             "bench", std::nullopt, workspace::AllowAnyWrite());
      if (!rev.ok()) {
        std::fprintf(stderr, "flag write failed: %s\n", rev.status().ToString().c_str());
        std::abort();
      }
    }
    auto t1 = Clock::now();
    for (;;) {
      absl::StatusOr<int64_t> v = kv->GetVersion(base::StrCat("doc/", ws.id, "/dev"));
      if (v.ok() && *v >= *rev) break;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    out.scaling.push_back({size, flag_writes / Seconds(t1 - t0),
                       std::chrono::duration<double, std::milli>(Clock::now() - t1).count()});
  }

  service.reset();
  return out;
}

void Print(const char* name, const char* baseline_what, double baseline, const Results& r, int flag_writes) {
  std::printf("== %s\n", name);
  std::printf("raw commits/s (%s, baseline): %.0f\n", baseline_what, baseline);
  std::printf("revisions/s, one workspace:             %.0f  (%.2fx baseline)\n", r.single, r.single / baseline);
  std::printf("revisions/s, 8 workspaces in parallel:  %.0f  (%.2fx baseline)\n", r.parallel, r.parallel / baseline);
  std::printf("write returned -> KV has the version: p50 %.0f us, p99 %.0f us (%zu writes)\n", r.p50_us, r.p99_us,
              r.latency_writes);
  for (const SizeResult& s : r.scaling) {
    std::printf("new flags/s into a workspace of %5d flags: %7.1f  (%d writes; last write in the KV %.1f ms after it returned)\n",
                s.size, s.flags_per_second, flag_writes, s.last_visible_ms);
  }
}

int Main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 400;
  std::vector<int> sizes = ParseSizes(argc > 2 ? argv[2] : "10,1000,5000");
  int flag_writes = argc > 3 ? std::atoi(argv[3]) : 50;
  std::string backend = argc > 4 ? argv[4] : "sqlite";
  if (backend != "sqlite" && backend != "postgres" && backend != "both") {
    std::fprintf(stderr, "backend must be sqlite, postgres or both, not \"%s\"\n", backend.c_str());
    return 2;
  }
  base::Env* env = base::Env::Default();
  std::string dir = (std::filesystem::temp_directory_path() / base::StrCat("ev-bench-write-", std::to_string(::getpid()))).string();
  std::optional<Results> sqlite, postgres;
  double sqlite_baseline = 0, postgres_baseline = 0;
  if (backend != "postgres") {
    std::filesystem::create_directories(dir + "/sqlite");
    sqlite_baseline = RawSqliteCommitsPerSecond(dir + "/sqlite/raw.db", n);
    auto stores = *storage::OpenSqliteWorkspaceStoreProvider({.dir = dir + "/sqlite/workspaces", .env = env});
    sqlite = RunOn(dir + "/sqlite", stores.get(), n, sizes, flag_writes);
    Print("SQLite (WAL, synchronous=FULL)", "SQLite, WAL, synchronous=FULL", sqlite_baseline, *sqlite, flag_writes);
  }
  if (backend != "sqlite") {
    storage::PostgresTestServer server({.durable = true});
    if (!server.Start()) {
      std::fprintf(stderr, "PostgreSQL did not start: %s\n", server.error().c_str());
      return 1;
    }
    absl::StatusOr<std::string> url = server.CreateDatabase();
    if (!url.ok()) {
      std::fprintf(stderr, "PostgreSQL: %s\n", url.status().ToString().c_str());
      return 1;
    }
    std::filesystem::create_directories(dir + "/postgres");
    postgres_baseline = RawPostgresCommitsPerSecond(*url, n);
    auto stores = *storage::OpenPostgresWorkspaceStoreProvider({.url = *url, .env = env});
    postgres = RunOn(dir + "/postgres", stores.get(), n, sizes, flag_writes);
    Print("PostgreSQL (local server on disk; fsync, synchronous_commit, full_page_writes on)",
          "PostgreSQL, one INSERT per transaction", postgres_baseline, *postgres, flag_writes);
  }
  if (sqlite && postgres) {
    std::printf("== PostgreSQL / SQLite\n");
    std::printf("raw commits/s: %.2fx; revisions/s one workspace: %.2fx; 8 in parallel: %.2fx; "
                "write -> KV p50: %.2fx, p99: %.2fx\n",
                postgres_baseline / sqlite_baseline, postgres->single / sqlite->single,
                postgres->parallel / sqlite->parallel, postgres->p50_us / sqlite->p50_us,
                postgres->p99_us / sqlite->p99_us);
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace edgevault

int main(int argc, char** argv) { return edgevault::Main(argc, argv); }
