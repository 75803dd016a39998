// The C++ SDK's in-process evaluation (sdk/cpp, docs/sdk-cpp.md): one getter call on the bench
// flag sets (bench/eval/bench_flags.h), through the whole SDK path (the per-thread snapshot
// check, flag lookup, the engine, the variant name and the typed value), per second per core;
// 2 threads show that reads do not contend. The same flags through the engine alone are
// bench_eval's, and the same flag over OFREP is bench_delivery's BM_OfrepEvaluateFlag (the
// delivery handler without the network) and bench/delivery/run.sh (wrk over loopback).
// The client runs offline on a signed snapshot file, so no network is involved.
// Run: build/bin/bench_sdk
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "bench/eval/bench_flags.h"
#include "edgevault/client.h"
#include "src/crypto/document_signature.h"
#include "src/crypto/ed25519.h"
#include "src/crypto/jwks.h"

namespace edgevault::sdk {
namespace {

namespace json = boost::json;

struct Fixture {
  std::unique_ptr<Client> client;
  Fixture() {
    json::object flags;
    flags["new-checkout"] = bench::NewCheckoutFlag();
    flags["onoff"] = bench::OnOffFlag();
    flags["rules"] = bench::RulesFlag();
    flags["targets"] = bench::TargetsFlag();
    flags["twenty"] = bench::TwentyRulesFlag();
    json::object doc{{"format", 1}, {"workspace_id", "ws_1"}, {"workspace", "shop"}, {"environment", "prod"},
                     {"version", 9},
                     {"configs", json::object{{"db.host", {{"type", "string"}, {"value", "db.prod"}, {"from", "prod"}}}}},
                     {"flags", flags}, {"segments", json::object{}}};
    const std::string bytes = json::serialize(doc);
    crypto::Ed25519PrivateKey key = *crypto::Ed25519PrivateKey::FromRaw(std::string(32, 'b'));
    const std::string path =
        (std::filesystem::temp_directory_path() / ("bench_sdk_" + std::to_string(::getpid()))).string();
    std::ofstream(path) << crypto::FormatDocumentSignatureHeader({key.Kid(), key.Sign(crypto::DocumentSigningInput(bytes))})
                        << "\n"
                        << bytes << "\n";
    ClientOptions o;
    o.mode = Mode::kOffline;
    o.bootstrap_file = path;
    o.document_keys_jwks = crypto::JwksJson({{key.Kid(), key.PublicKey()}});
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Create(o);
    std::filesystem::remove(path);
    if (!c.ok()) std::abort();
    client = *std::move(c);
  }
};

const Client& TheClient() {
  static Fixture* fixture = new Fixture();
  return *fixture->client;
}

Context Ofrep(std::string_view json_text) {
  absl::StatusOr<Context> c = Context::FromOfrepJson(json_text);
  if (!c.ok()) std::abort();
  return *c;
}

template <typename Getter>
void Run(benchmark::State& state, const Getter& get, std::string_view want_reason) {
  if (get().reason != want_reason) {
    state.SkipWithError("unexpected reason");
    return;
  }
  for (auto _ : state) {
    auto r = get();
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

// The flag and context of bench_delivery's BM_OfrepEvaluateFlag.
void BM_SdkNewCheckoutAsOfrepBench(benchmark::State& state) {
  const Client& c = TheClient();
  const Context ctx = Ofrep(R"({"targetingKey":"user-1","plan":"pro"})");
  Run(state, [&] { return c.BoolValue("new-checkout", ctx, false); }, "TARGETING_MATCH");
}
BENCHMARK(BM_SdkNewCheckoutAsOfrepBench)->Threads(1)->Threads(2)->UseRealTime();

void BM_SdkOnOff(benchmark::State& state) {
  const Client& c = TheClient();
  const Context ctx("user-1");
  Run(state, [&] { return c.BoolValue("onoff", ctx, false); }, "DEFAULT");
}
BENCHMARK(BM_SdkOnOff)->Threads(1)->Threads(2)->UseRealTime();

void BM_SdkTenRulesMissThenRollout(benchmark::State& state) {
  const Client& c = TheClient();
  const Context ctx = Ofrep(R"({"targetingKey":"user-4711","country":"US","email":"a@b.org","app":{"version":"9.9.9"}})");
  Run(state, [&] { return c.StringValue("rules", ctx, ""); }, "SPLIT");
}
BENCHMARK(BM_SdkTenRulesMissThenRollout);

void BM_SdkThousandTargetsHit(benchmark::State& state) {
  const Client& c = TheClient();
  const Context ctx("user-777");
  Run(state, [&] { return c.BoolValue("targets", ctx, false); }, "TARGETING_MATCH");
}
BENCHMARK(BM_SdkThousandTargetsHit);

void BM_SdkTwentyRulesLastMatches(benchmark::State& state) {
  const Client& c = TheClient();
  const Context ctx = Ofrep(R"({"targetingKey":"user-19","country":"DE","plan":"pro-team","seats":25,
      "app":{"version":"9.9.9"},"email":"user-19@corp.example"})");
  Run(state, [&] { return c.StringValue("twenty", ctx, ""); }, "TARGETING_MATCH");
}
BENCHMARK(BM_SdkTwentyRulesLastMatches)->Threads(1)->Threads(2)->UseRealTime();

void BM_SdkConfig(benchmark::State& state) {
  const Client& c = TheClient();
  const Context ctx("user-1");
  Run(state, [&] { return c.StringValue("db.host", ctx, ""); }, "STATIC");
}
BENCHMARK(BM_SdkConfig);

}  // namespace
}  // namespace edgevault::sdk

BENCHMARK_MAIN();
