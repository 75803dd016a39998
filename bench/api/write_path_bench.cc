// The write path, measured: revisions committed per second to one workspace and across
// 8 workspaces written in parallel, and the time from a write's return (the moment the
// api answers 2xx) to the new version being readable in the edge KV (p50/p99).
// Baseline in the same run: raw SQLite commits of one small row each with the same
// durability (WAL, synchronous=FULL) — the fsync-bound ceiling any revision store faces.
//
//   build/bin/bench_write_path [writes_per_run=400]
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
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/workspace/service.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

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

int Main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 400;
  std::string dir = (std::filesystem::temp_directory_path() / base::StrCat("ev-bench-write-", std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  base::Env* env = base::Env::Default();
  auto control = *storage::OpenSqliteControlStore({dir + "/control.db", env});
  storage::Org org{"org_bench", "bench", {1000, 100, 1000000}, env->Now()};
  (void)control->CreateOrg(org);
  storage::LmdbEdgeKvOptions kvo;
  kvo.path = dir + "/edge";
  auto kv = *storage::OpenLmdbEdgeKv(kvo);
  workspace::ServiceOptions so;
  so.workspaces_dir = dir + "/workspaces";
  so.control = control.get();
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
    return service->PutItem(actor, ws, storage::ItemKind::kConfig, key, body, "bench", std::nullopt);
  };

  double baseline = RawSqliteCommitsPerSecond(dir + "/raw.db", n);

  storage::Workspace one = make_ws("one");
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) (void)put(one, base::StrCat("k", std::to_string(i % 50)), i);
  double single = n / Seconds(Clock::now() - start);

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
  double parallel = 8.0 * per / Seconds(Clock::now() - start);

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

  std::printf("raw SQLite commits/s (WAL, synchronous=FULL, baseline): %.0f\n", baseline);
  std::printf("revisions/s, one workspace:                            %.0f  (%.2fx baseline)\n", single, single / baseline);
  std::printf("revisions/s, 8 workspaces in parallel:                 %.0f  (%.2fx baseline)\n", parallel,
              parallel / baseline);
  std::printf("write returned -> KV has the version: p50 %.0f us, p99 %.0f us (%zu writes)\n", pct(0.5), pct(0.99),
              micros.size());
  service.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace edgevault

int main(int argc, char** argv) { return edgevault::Main(argc, argv); }
