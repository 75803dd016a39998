// The edge KV's LMDB backend (src/storage/lmdb/edge_kv_lmdb.h) per call:
//   - Get of a 4 KiB resolved document (the delivery hot path), plus the same with 2 threads;
//   - GetVersion (freshness check);
//   - PutIfNewer accepted (version rises: one write transaction + commit with fsync) and
//     refused (version not newer: the write transaction is aborted);
//   - baselines: a raw mdb_get of the same key through an already-open read transaction,
//     with and without the 4 KiB copy into a std::string, so Get / baseline shows the
//     wrapper's overhead (two renew/reset pairs of the cached read transaction — see
//     WithReadTxn — the key checks and the Status plumbing).
// The store lives in a fresh directory under $TMPDIR (default /tmp), removed afterwards.
// Run: build/bin/bench_edge_kv

#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "src/storage/lmdb/edge_kv_lmdb.h"

namespace edgevault::storage {
namespace {

constexpr char kKey[] = "doc/ws_0123456789abcdef/production";

std::string Document() {
  std::string doc = R"({"version":42,"items":{)";
  int i = 0;
  while (doc.size() < 4096 - 64) {
    doc += "\"item_" + std::to_string(i++) + "\":{\"value\":\"some configured value\"},";
  }
  doc.pop_back();
  doc += "}}";
  doc.resize(4096, ' ');
  return doc;
}

// One store for the whole run (opened on first use, closed at exit).
struct Fixture {
  std::string dir;
  std::string raw_dir;
  std::unique_ptr<EdgeKv> kv;
  std::string doc = Document();
  int64_t next_version = 1;

  Fixture() {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/edge_kv_bench.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl + "/edge";
    auto opened = OpenLmdbEdgeKv({.path = dir});
    if (!opened.ok()) std::abort();
    kv = std::move(*opened);
    Fill(*kv, next_version++);
    // The baseline's copy: same records, its own directory, our environment on it closed
    // again, so raw LMDB may open it (LMDB allows one environment per path per process).
    raw_dir = tmpl + "/raw";
    auto raw = OpenLmdbEdgeKv({.path = raw_dir});
    if (!raw.ok()) std::abort();
    Fill(**raw, 1);
  }

  void Fill(EdgeKv& store, int64_t version) {
    if (!store.PutIfNewer(kKey, doc, version).ok()) std::abort();
    // Neighbours, so the key is not alone in the tree.
    for (int i = 0; i < 1000; ++i) {
      if (!store.PutIfNewer("doc/ws_" + std::to_string(i) + "/prod", doc, 1).ok()) std::abort();
    }
  }
  ~Fixture() {
    kv.reset();
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(dir).parent_path(), ec);
  }
};

Fixture& F() {
  static Fixture fixture;
  return fixture;
}

void BM_Get4KiB(benchmark::State& state) {
  EdgeKv& kv = *F().kv;
  for (auto _ : state) {
    absl::StatusOr<KvEntry> entry = kv.Get(kKey);
    if (!entry.ok()) std::abort();
    benchmark::DoNotOptimize(entry->value.data());
  }
  state.SetBytesProcessed(state.iterations() * 4096);
}
BENCHMARK(BM_Get4KiB);
BENCHMARK(BM_Get4KiB)->Threads(2)->UseRealTime();

void BM_GetVersion(benchmark::State& state) {
  EdgeKv& kv = *F().kv;
  for (auto _ : state) {
    absl::StatusOr<int64_t> version = kv.GetVersion(kKey);
    if (!version.ok()) std::abort();
    benchmark::DoNotOptimize(*version);
  }
}
BENCHMARK(BM_GetVersion);

void BM_PutIfNewerAccepted(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    absl::StatusOr<bool> written = f.kv->PutIfNewer(kKey, f.doc, f.next_version++);
    if (!written.ok() || !*written) std::abort();
  }
}
BENCHMARK(BM_PutIfNewerAccepted);

void BM_PutIfNewerRefused(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    absl::StatusOr<bool> written = f.kv->PutIfNewer(kKey, f.doc, 0);
    if (!written.ok() || *written) std::abort();
  }
}
BENCHMARK(BM_PutIfNewerRefused);

// Baselines: raw LMDB reading an identical copy of the store (the fixture's raw_dir), with a
// read transaction opened once outside the loop; with the 4 KiB copy into a std::string
// (compare with BM_Get4KiB) and without it (compare with BM_GetVersion).
template <bool kCopy>
void BM_BaselineRawMdbGet(benchmark::State& state) {
  Fixture& f = F();
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  if (mdb_env_create(&env) != 0 || mdb_env_set_mapsize(env, 1ull << 30) != 0 ||
      mdb_env_open(env, f.raw_dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) != 0 ||
      mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0 ||
      mdb_dbi_open(txn, nullptr, 0, &dbi) != 0) {
    std::abort();
  }
  MDB_val key{.mv_size = sizeof(kKey) - 1, .mv_data = const_cast<char*>(kKey)};
  for (auto _ : state) {
    MDB_val val;
    if (mdb_get(txn, dbi, &key, &val) != 0) std::abort();
    if constexpr (kCopy) {
      std::string value(static_cast<const char*>(val.mv_data) + 8, val.mv_size - 8);
      benchmark::DoNotOptimize(value.data());
    } else {
      benchmark::DoNotOptimize(val.mv_data);
    }
  }
  if (kCopy) state.SetBytesProcessed(state.iterations() * 4096);
  mdb_txn_abort(txn);
  mdb_env_close(env);
}
BENCHMARK(BM_BaselineRawMdbGet<true>)->Name("BM_BaselineRawMdbGet4KiB");
BENCHMARK(BM_BaselineRawMdbGet<false>)->Name("BM_BaselineRawMdbGetNoCopy");

}  // namespace
}  // namespace edgevault::storage

BENCHMARK_MAIN();
