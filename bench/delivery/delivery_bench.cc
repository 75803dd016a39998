// The delivery request path without the network (src/services/delivery/delivery_service.h):
// route match + SDK-key check + snapshot freshness check + handler, for one OFREP flag
// evaluation and for GET /v1/config (the shared document bytes, no copy; with its
// EdgeVault-Signature header). ns/op.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "src/base/encoding.h"
#include "src/crypto/hash.h"
#include "src/net/raw_request.h"
#include "src/net/router.h"
#include "src/services/delivery/delivery_service.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"

namespace edgevault::delivery {
namespace {

constexpr char kKey[] = "evs_bench_key";

const char kDocument[] =
    R"({"format":1,"workspace_id":"ws_1","workspace":"shop","environment":"prod","version":9,)"
    R"("configs":{"db.host":{"type":"string","value":"db.prod","from":"prod"}},)"
    R"("flags":{"new-checkout":{"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],)"
    R"("environments":{"prod":{"on":true,"rules":[{"id":"pro","clauses":[)"
    R"({"attribute":"plan","op":"in","values":["pro","enterprise"]}],"variation":1}],)"
    R"("fallthrough":{"variation":0}}}}},"segments":{}})";

struct Fixture {
  std::string dir;
  std::unique_ptr<storage::EdgeKv> kv;
  UsageCounters usage;  // as edgevault-delivery counts (docs/design/usage.md)
  std::unique_ptr<DeliveryService> service;
  net::Router router;

  explicit Fixture(bool count_usage = true) {
    char tmpl[] = "/tmp/ev-delivery-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    kv = std::move(*storage::OpenLmdbEdgeKv({.path = dir + "/edge"}));
    (void)kv->PutIfNewer("sdk/" + crypto::Sha256Hex(kKey),
                         R"({"org_id":"o","workspace_id":"ws_1","environment":"prod"})", 1);
    // A signature beside the document, as the api writes it (resolved-document.md §8); the
    // bench does not verify it, so any well-formed value does.
    (void)kv->PutIfNewer("sig/ws_1/prod",
                         std::string(43, 'k') + "." + base::Base64UrlEncode(std::string(64, '\x01')), 9);
    (void)kv->PutIfNewer("doc/ws_1/prod", kDocument, 9);
    service = std::move(*DeliveryService::Create({.kv = kv.get(), .usage = count_usage ? &usage : nullptr}));
    service->Install(router);
  }
  ~Fixture() {
    service.reset();
    kv.reset();
    std::filesystem::remove_all(dir);
  }

  net::Response Run(net::RawRequest& raw) {
    net::Request req(raw, "bench", "127.0.0.1");
    const net::Router::Route* route = nullptr;
    std::string allow;
    if (router.Match(req, &route, &allow) != net::Router::MatchResult::kFound) std::abort();
    return route->handler(req);
  }
};

net::RawRequest MakeRaw(boost::beast::http::verb verb, const char* target, std::string body) {
  net::RawRequest raw{verb, target, 11};
  raw.set(boost::beast::http::field::authorization, std::string("Bearer ") + kKey);
  raw.body() = std::move(body);
  raw.prepare_payload();
  return raw;
}

void BM_OfrepEvaluateFlag(benchmark::State& state) {
  Fixture f(/*count_usage=*/state.range(0) != 0);
  net::RawRequest raw = MakeRaw(boost::beast::http::verb::post, "/ofrep/v1/evaluate/flags/new-checkout",
                                R"({"context":{"targetingKey":"user-1","plan":"pro"}})");
  for (auto _ : state) {
    net::Response r = f.Run(raw);
    if (r.status != 200) state.SkipWithError("evaluation failed");
    benchmark::DoNotOptimize(r.body.data());
  }
}
// Arg 1: usage counted, as the service runs; arg 0: not counted (the counting's cost).
BENCHMARK(BM_OfrepEvaluateFlag)->Arg(1)->Arg(0);

void BM_ConfigSnapshot(benchmark::State& state) {
  Fixture f;
  net::RawRequest raw = MakeRaw(boost::beast::http::verb::get, "/v1/config", "");
  for (auto _ : state) {
    net::Response r = f.Run(raw);
    if (r.status != 200 || r.shared_body == nullptr) state.SkipWithError("config failed");
    benchmark::DoNotOptimize(r.shared_body.get());
  }
}
BENCHMARK(BM_ConfigSnapshot);

void BM_ConfigNotModified(benchmark::State& state) {
  Fixture f;
  net::RawRequest raw = MakeRaw(boost::beast::http::verb::get, "/v1/config", "");
  net::Response first = f.Run(raw);
  for (const auto& [name, value] : first.headers) {
    if (name == "ETag") raw.set(boost::beast::http::field::if_none_match, value);
  }
  for (auto _ : state) {
    net::Response r = f.Run(raw);
    if (r.status != 304) state.SkipWithError("expected 304");
    benchmark::DoNotOptimize(r.status);
  }
}
BENCHMARK(BM_ConfigNotModified);

}  // namespace
}  // namespace edgevault::delivery

BENCHMARK_MAIN();
