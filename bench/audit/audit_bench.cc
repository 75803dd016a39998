// Audit pipeline throughput: events per second through queue → warehouse → ack, with
// the real SQLite queue (WAL, synchronous=FULL) and the file warehouse (fsync per batch,
// HEAD rename per batch), in batches of 1, 10 and 100. Results: docs/audit.md.
#include <stdlib.h>

#include <filesystem>

#include "benchmark/benchmark.h"
#include "src/audit/file_warehouse.h"
#include "src/audit/sqlite_queue.h"

namespace edgevault::audit {
namespace {

AuditEvent Event(int64_t n, absl::Time t) {
  AuditEvent e;
  char buf[64];
  std::snprintf(buf, sizeof buf, "evt_%013llx%016llx",
                static_cast<unsigned long long>(absl::ToUnixMicros(t)),
                static_cast<unsigned long long>(n));
  e.id = buf;
  e.time = t;
  e.service = "auth";
  e.actor.id = "user:usr_0123456789abcdef";
  e.actor.address = "127.0.0.1:50000";
  e.actor.user_agent = "bench/1.0";
  e.action = "auth.login";
  e.org = "org_0123456789abcdef";
  e.outcome = "success";
  e.request_id = "0123456789abcdef";
  e.details["methods"] = "pwd";
  return e;
}

// Per iteration: Enqueue a batch, Claim it, Append it (fsync), Ack it.
void BM_QueueToWarehouse(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  char tmpl[] = "/tmp/ev-audit-bench-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  base::SimulatedEnv env;
  auto queue = SqliteAuditQueue::Open({.path = dir + "/queue.db"});
  auto warehouse = FileWarehouse::Create({.dir = dir + "/warehouse", .node = "bench", .env = &env});
  if (!queue.ok() || !warehouse.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  int64_t n = 0;
  std::vector<AuditEvent> events(batch);
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      events[i] = Event(n, env.Now() + absl::Microseconds(n));
      ++n;
    }
    if (!(*queue)->Enqueue(events, env.Now()).ok()) state.SkipWithError("enqueue");
    auto claimed = (*queue)->Claim(batch, absl::Seconds(30), env.Now());
    if (!claimed.ok() || !(*warehouse)->Append(claimed->events).ok() ||
        !(*queue)->Ack(claimed->ids()).ok()) {
      state.SkipWithError("claim/append/ack");
    }
  }
  state.SetItemsProcessed(n);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_QueueToWarehouse)->Arg(1)->Arg(10)->Arg(100)->UseRealTime();

// The warehouse alone (fsync per batch), to separate its cost from the queue's.
void BM_WarehouseAppend(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  char tmpl[] = "/tmp/ev-audit-bench-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  base::SimulatedEnv env;
  auto warehouse = FileWarehouse::Create({.dir = dir + "/warehouse", .node = "bench", .env = &env});
  if (!warehouse.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  int64_t n = 0;
  std::vector<AuditEvent> events(batch);
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      events[i] = Event(n, env.Now() + absl::Microseconds(n));
      ++n;
    }
    if (!(*warehouse)->Append(events).ok()) state.SkipWithError("append");
  }
  state.SetItemsProcessed(n);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WarehouseAppend)->Arg(1)->Arg(10)->Arg(100)->UseRealTime();

// Opening a warehouse whose current hour file holds N records (one node, one file, HEAD at
// its end): what the audit service does before it answers /healthz. The realistic size is
// the dedup window (100,000 events, ~37 MB of NDJSON).
void BM_WarehouseOpen(benchmark::State& state) {
  const int64_t records = state.range(0);
  char tmpl[] = "/tmp/ev-audit-bench-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  base::SimulatedEnv env;
  {
    auto warehouse = FileWarehouse::Create(
        {.dir = dir + "/warehouse", .node = "bench", .env = &env, .max_file_bytes = int64_t{1} << 40});
    if (!warehouse.ok()) {
      state.SkipWithError("setup failed");
      return;
    }
    std::vector<AuditEvent> events(1000);
    for (int64_t n = 0; n < records;) {
      events.resize(static_cast<size_t>(std::min<int64_t>(1000, records - n)));
      for (AuditEvent& e : events) {
        e = Event(n, env.Now() + absl::Microseconds(n));
        ++n;
      }
      if (!(*warehouse)->Append(events).ok()) state.SkipWithError("append");
    }
  }
  for (auto _ : state) {
    auto warehouse = FileWarehouse::Create({.dir = dir + "/warehouse", .node = "bench", .env = &env});
    if (!warehouse.ok()) state.SkipWithError("open");
  }
  state.SetItemsProcessed(state.iterations() * records);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WarehouseOpen)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace edgevault::audit

BENCHMARK_MAIN();
