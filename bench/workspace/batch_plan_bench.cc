// What one batch costs to plan and validate before its commit (src/workspace/change_set.h):
// ComputeProposal over N whole-item entries, then ValidateChanges of the planned set
// against the workspace as ApplyChangeSet does under the write lock. The workspace has 4
// environments (prod ← staging ← dev, sandbox) and N existing flags or segments beside the
// N new ones; every flag has 3 rules (one segment_match). A batch's cost must grow
// linearly with N: `edgevault import` sends whole workspaces as one batch.
//
//   build/bin/bench_batch_plan --benchmark_min_time=0.2
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "boost/json.hpp"
#include "src/workspace/change_set.h"
#include "src/workspace/model.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;

EnvironmentSet Envs() {
  std::vector<Environment> envs{{.key = "prod", .name = "prod"},
                                {.key = "staging", .name = "staging", .parent = "prod"},
                                {.key = "dev", .name = "dev", .parent = "staging"},
                                {.key = "sandbox", .name = "sandbox"}};
  return *EnvironmentSet::FromEnvironments(std::move(envs));
}

json::object Flag(int i) {
  json::array rules;
  rules.push_back(json::object{{"clauses", json::array{json::object{{"attribute", "country"}, {"op", "in"},
                                                                     {"values", json::array{"NO", "SE"}}}}},
                               {"variation", 0}});
  rules.push_back(json::object{{"clauses", json::array{json::object{{"attribute", "plan"}, {"op", "starts_with"},
                                                                     {"values", json::array{"pro"}}}}},
                               {"variation", 1}});
  rules.push_back(json::object{{"clauses", json::array{json::object{{"op", "segment_match"},
                                                                     {"values", json::array{"seg-" + std::to_string(i % 10)}}}}},
                               {"variation", 0}});
  json::object env{{"on", true}, {"rules", std::move(rules)},
                   {"fallthrough", json::object{{"rollout", json::array{json::object{{"variation", 0}, {"weight", 50000}},
                                                                        json::object{{"variation", 1}, {"weight", 50000}}}}}}};
  return json::object{{"variations", json::array{json::object{{"value", true}}, json::object{{"value", false}}}},
                      {"environments", json::object{{"prod", env}, {"dev", env}}}};
}

json::object Segment(int i) {
  return json::object{{"included", json::array{"user-" + std::to_string(i)}},
                      {"rules", json::array{json::object{{"clauses", json::array{json::object{
                                                              {"attribute", "email"}, {"op", "ends_with"},
                                                              {"values", json::array{"@example.com"}}}}}}}}};
}

// `kind` "flag" or "segment": N existing items and a batch creating N more. The ten
// segments the flags name always exist.
struct Fixture {
  ChangeSetInput in;
  json::array entries;
  Fixture(const std::string& kind, int n) {
    in.envs = Envs();
    for (int i = 0; i < 10; ++i) {
      in.segments.push_back({.kind = storage::ItemKind::kSegment, .key = "seg-" + std::to_string(i),
                             .body = json::serialize(Segment(i)), .revision = 1});
    }
    for (int i = 0; i < n; ++i) {
      if (kind == "flag") {
        in.flags.push_back({.kind = storage::ItemKind::kFlag, .key = "old-" + std::to_string(i),
                            .body = json::serialize(Flag(i)), .revision = 1});
        entries.push_back(json::object{{"kind", "flag"}, {"key", "new-" + std::to_string(i)}, {"body", Flag(i)}});
      } else {
        in.flags.push_back({.kind = storage::ItemKind::kFlag, .key = "old-" + std::to_string(i),
                            .body = json::serialize(Flag(i)), .revision = 1});
        entries.push_back(json::object{{"kind", "segment"}, {"key", "new-" + std::to_string(i)}, {"body", Segment(i)}});
      }
    }
  }
};

json::object ByKey(const std::vector<storage::Item>& items) {
  json::object out;
  for (const auto& item : items) out[item.key] = json::parse(item.body).as_object();
  return out;
}

void Plan(benchmark::State& state, const std::string& kind) {
  const int n = static_cast<int>(state.range(0));
  Fixture f(kind, n);
  for (auto _ : state) {
    absl::StatusOr<PlannedChangeSet> plan = ComputeProposal(f.entries, f.in, 2000);
    if (!plan.ok()) {
      state.SkipWithError(std::string(plan.status().message()).c_str());
      return;
    }
    absl::Status valid = ValidateChanges(plan->changes, f.in.envs, ByKey(f.in.flags), ByKey(f.in.segments));
    if (!valid.ok()) {
      state.SkipWithError(std::string(valid.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(plan);
  }
  state.SetComplexityN(n);
  state.counters["entries/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_BatchPlanFlags(benchmark::State& state) { Plan(state, "flag"); }
void BM_BatchPlanSegments(benchmark::State& state) { Plan(state, "segment"); }
BENCHMARK(BM_BatchPlanFlags)->Arg(50)->Arg(200)->Arg(800)->Unit(benchmark::kMillisecond)->Complexity();
BENCHMARK(BM_BatchPlanSegments)->Arg(50)->Arg(200)->Arg(800)->Unit(benchmark::kMillisecond)->Complexity();

}  // namespace
}  // namespace edgevault::workspace

BENCHMARK_MAIN();
