// Flag evaluation cost (src/eval/evaluator.h), per Evaluate() call on a prebuilt FlagSet:
//   - a flag with 10 rules x 3 clauses that the context misses, then a percentage rollout
//     (the worst ordinary path: every rule is tried, then SHA-1 bucketing);
//   - the same flag where the last rule matches with a fixed variation;
//   - a flag with 1000 individual targets (hit and miss);
//   - a plain on/off flag;
//   - Bucket() alone;
//   - a flag with 20 rules mixing in / starts_with / gte / semver_gt / matches / in clauses,
//     where the last rule matches, and where no rule matches (fixed fallthrough);
//   - baselines in the same run: the plain on/off flag and a raw std::unordered_map
//     lookup of a flag key among 1000.
// Every case reports items_per_second = evaluations per second on one core.
// Run: build/bin/bench_eval

#include <benchmark/benchmark.h>

#include <string>
#include <unordered_map>

#include "src/base/strings.h"
#include "bench/eval/bench_flags.h"
#include "src/eval/evaluator.h"

namespace edgevault::eval {
namespace {

using bench::Json;
using bench::RulesFlag;
using bench::TargetsFlag;
using bench::TwentyRulesFlag;

std::shared_ptr<const FlagSet> BuildSet() {
  boost::json::object flags;
  flags["rules"] = RulesFlag();
  flags["targets"] = TargetsFlag();
  flags["twenty"] = TwentyRulesFlag();
  flags["onoff"] = bench::OnOffFlag();
  absl::StatusOr<std::shared_ptr<const FlagSet>> set = FlagSet::Build(flags, {}, "prod");
  if (!set.ok()) std::abort();
  return *set;
}

const FlagSet& Set() {
  static const std::shared_ptr<const FlagSet> set = BuildSet();
  return *set;
}

Context Ctx(std::string_view text) { return Context(Json(text).as_object()); }

void Run(benchmark::State& state, std::string_view flag, const Context& ctx,
         std::string_view want_reason) {
  const FlagSet& set = Set();
  if (Evaluate(set, flag, ctx).reason != want_reason) {
    state.SkipWithError("unexpected reason");
    return;
  }
  for (auto _ : state) {
    EvalResult r = Evaluate(set, flag, ctx);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TenRulesMissThenRollout(benchmark::State& state) {
  Context ctx = Ctx(R"({"key":"user-4711","country":"US","email":"a@b.org",
                        "app":{"version":"9.9.9"}})");
  Run(state, "rules", ctx, kReasonSplit);
}
BENCHMARK(BM_TenRulesMissThenRollout);

void BM_TenRulesLastMatches(benchmark::State& state) {
  Context ctx = Ctx(R"({"key":"user-4711","country":"C9","email":"a@example9.com",
                        "app":{"version":"2.10.0"}})");
  Run(state, "rules", ctx, kReasonTargetingMatch);
}
BENCHMARK(BM_TenRulesLastMatches);

void BM_ThousandTargetsHit(benchmark::State& state) {
  Run(state, "targets", Ctx(R"({"key":"user-777"})"), kReasonTargetingMatch);
}
BENCHMARK(BM_ThousandTargetsHit);

void BM_ThousandTargetsMiss(benchmark::State& state) {
  Run(state, "targets", Ctx(R"({"key":"someone-else"})"), kReasonDefault);
}
BENCHMARK(BM_ThousandTargetsMiss);

void BM_OnOff(benchmark::State& state) {
  Run(state, "onoff", Ctx(R"({"key":"user-1"})"), kReasonDefault);
}
BENCHMARK(BM_OnOff);

Context TwentyRulesContext(std::string_view email) {
  return Ctx(base::StrCat(R"({"key":"user-19","country":"DE","plan":"pro-team","seats":25,
      "app":{"version":"9.9.9"},"email":")", email, R"("})"));
}

void BM_TwentyRulesLastMatches(benchmark::State& state) {
  Context ctx = TwentyRulesContext("user-19@corp.example");
  const FlagSet& set = Set();
  if (Evaluate(set, "twenty", ctx).rule_index != 19) {
    state.SkipWithError("rule 19 should match");
    return;
  }
  Run(state, "twenty", ctx, kReasonTargetingMatch);
}
BENCHMARK(BM_TwentyRulesLastMatches);

void BM_TwentyRulesNoMatchFallthrough(benchmark::State& state) {
  Run(state, "twenty", TwentyRulesContext("someone@elsewhere.example"), kReasonDefault);
}
BENCHMARK(BM_TwentyRulesNoMatchFallthrough);

// Baseline: the least any evaluation can cost, finding the flag by key.
void BM_BaselineUnorderedMapLookup(benchmark::State& state) {
  StringMap<int> flags;
  for (int i = 0; i < 1000; ++i) flags.emplace(base::StrCat("flag-", i), i);
  std::string_view key = "flag-777";
  for (auto _ : state) {
    auto it = flags.find(key);
    benchmark::DoNotOptimize(it);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineUnorderedMapLookup);

void BM_Bucket(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(Bucket("new-checkout", "new-checkout", "user-4711", std::nullopt));
  }
}
BENCHMARK(BM_Bucket);

}  // namespace
}  // namespace edgevault::eval

BENCHMARK_MAIN();
