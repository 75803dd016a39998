// Fuzzes the write-time validation of item bodies (src/workspace/model.h, which calls
// src/eval/model.h and src/workspace/json_schema.h): environments, configs, flags and
// segments, against a fixed workspace (production ← staging ← dev, two stored flags, one
// stored segment).
// Input: byte 0 picks the kind, byte 1 the item key, the rest is the JSON body.
// Properties:
//   - errors are client errors (InvalidArgument; AlreadyExists/NotFound for environments);
//   - normalisation is idempotent: validating the normalised body gives it back unchanged;
//   - ValidateFlagWrite (the fast path the api uses) agrees with ValidateFlagBody;
//   - valid on write ⇒ compiles on delivery: every environment's resolved flags and the
//     segments build a FlagSet, and evaluating every flag for a few contexts returns;
//   - a new environment that validates keeps the set loadable (no cycle, parents exist).

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json.hpp>

#include "fuzz/fuzz_util.h"
#include "src/base/json_finite.h"
#include "src/eval/evaluator.h"
#include "src/services/common/http_json.h"
#include "src/workspace/model.h"

namespace edgevault::fuzz {
namespace {

namespace json = boost::json;
using workspace::EnvironmentSet;

const char* const kKeys[] = {"new-item", "base", "dep", "beta", "production", "staging", "dev", "x"};

struct World {
  EnvironmentSet envs;
  json::object flags;     // stored flag bodies by key
  json::object segments;  // stored segment bodies by key
  std::vector<eval::Context> contexts;
};

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

const World& GetWorld() {
  static const World* world = [] {
    auto* w = new World;
    std::vector<workspace::Environment> envs = {
        {"production", "Production", "", true},
        {"staging", "Staging", "production", false},
        {"dev", "Dev", "staging", false}};
    w->envs = *EnvironmentSet::FromEnvironments(envs);
    w->flags["base"] = Obj(R"({"variations":[{"value":true},{"value":false}],
        "environments":{"production":{"on":true,"off_variation":1,"fallthrough":{"variation":0}}}})");
    w->flags["dep"] = Obj(R"({"variations":[{"value":"a"},{"value":"b"},{"value":"c"}],
        "environments":{"staging":{"on":true,"prerequisites":[{"flag":"base","variation":0}],
        "rules":[{"clauses":[{"op":"segment_match","values":["beta"]}],"variation":1}],
        "fallthrough":{"rollout":[{"variation":0,"weight":50000},{"variation":2,"weight":50000}]}}}})");
    w->segments["beta"] = Obj(R"({"included":["u1"],"excluded":[],"rules":[
        {"clauses":[{"attribute":"plan","op":"in","values":["pro"]}]}]})");
    for (const char* c : {R"({"key":"u1","plan":"pro","age":33,"version":"2.1.0"})",
                          R"({"plan":"free","created":"2026-01-01T00:00:00Z"})",
                          R"({"key":"","email":"a@corp.example","org":{"id":7}})"}) {
      w->contexts.push_back(*eval::Context::FromJson(json::parse(c)));
    }
    return w;
  }();
  return *world;
}

class MapLookup : public workspace::FlagLookup {
 public:
  explicit MapLookup(const json::object& flags) : flags_(flags) {}
  absl::StatusOr<std::optional<json::object>> Find(std::string_view key) override {
    const json::value* v = flags_.if_contains(key);
    if (v == nullptr) return std::optional<json::object>();
    return std::optional<json::object>(v->as_object());
  }
  absl::StatusOr<json::object> All() override { return flags_; }

 private:
  const json::object& flags_;
};

// The store keeps json::serialize(body): it must read back as the same body.
void CheckStorable(const json::object& body) {
  std::string text = json::serialize(body);
  boost::system::error_code ec;
  json::value back = json::parse(text, ec);
  FUZZ_CHECK(!ec && SameJsonModuloDoubleRounding(back, json::value(body)),
             "a normalised body is not JSON text: " + text);
}

void CheckClientError(const absl::Status& s, std::initializer_list<absl::StatusCode> allowed) {
  bool ok = false;
  for (absl::StatusCode c : allowed) ok = ok || s.code() == c;
  FUZZ_CHECK(ok, "unexpected error code: " + s.ToString());
}

// Every environment's view of `flags` compiles together with `segments`, and every flag
// evaluates for every context without crashing.
void CheckCompilesEverywhere(const World& w, const json::object& flags,
                             const json::object& segments) {
  for (const std::string& env : w.envs.Keys()) {
    json::object resolved = workspace::ResolveFlagsForEnvironment(flags, w.envs, env);
    absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set =
        eval::FlagSet::Build(resolved, segments, env);
    FUZZ_CHECK(set.ok(), "validated flags do not compile for " + env + ": " +
                             set.status().ToString() + "\n" + json::serialize(resolved));
    for (const auto& kv : resolved) {
      for (const eval::Context& c : w.contexts) {
        eval::EvalResult r = eval::Evaluate(**set, kv.key(), c);
        FUZZ_CHECK(r.reason != eval::kReasonError || r.error_code != eval::kErrorGeneral ||
                       r.error_message.find("cycle") == std::string::npos,
                   "a validated set has a prerequisite cycle: " + r.error_message);
      }
    }
  }
}

void FuzzEnvironment(const World& w, const json::object& body) {
  absl::StatusOr<workspace::Environment> parsed = workspace::ParseEnvironmentBody(body);
  if (!parsed.ok()) CheckClientError(parsed.status(), {absl::StatusCode::kInvalidArgument});
  if (parsed.ok()) {
    json::object norm = workspace::EnvironmentToJson(*parsed);
    absl::StatusOr<workspace::Environment> again = workspace::ParseEnvironmentBody(norm);
    FUZZ_CHECK(again.ok() && workspace::EnvironmentToJson(*again) == norm, json::serialize(norm));
  }
  absl::StatusOr<workspace::Environment> created = w.envs.ValidateNewEnvironment(body);
  if (!created.ok()) {
    CheckClientError(created.status(),
                     {absl::StatusCode::kInvalidArgument, absl::StatusCode::kAlreadyExists});
  } else {
    EnvironmentSet next = w.envs.With(*created);
    std::vector<workspace::Environment> all;
    for (const std::string& k : next.Keys()) all.push_back(*next.Find(k));
    absl::Status st = EnvironmentSet::FromEnvironments(all).status();
    FUZZ_CHECK(st.ok(), "a validated new environment breaks the set: " + st.ToString());
  }
  absl::StatusOr<workspace::Environment> updated = w.envs.ValidateEnvironmentUpdate(body);
  if (!updated.ok()) {
    CheckClientError(updated.status(),
                     {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound});
  } else {
    EnvironmentSet next = w.envs.With(*updated);
    std::vector<workspace::Environment> all;
    for (const std::string& k : next.Keys()) all.push_back(*next.Find(k));
    absl::Status st = EnvironmentSet::FromEnvironments(all).status();
    FUZZ_CHECK(st.ok(), "a validated environment update makes a cycle: " + st.ToString());
  }
}

void FuzzConfig(const World& w, std::string_view key, const json::object& body) {
  absl::StatusOr<json::object> norm = workspace::ValidateConfigBody(key, body, w.envs);
  if (!norm.ok()) return CheckClientError(norm.status(), {absl::StatusCode::kInvalidArgument});
  CheckStorable(*norm);
  absl::StatusOr<json::object> again = workspace::ValidateConfigBody(key, *norm, w.envs);
  FUZZ_CHECK(again.ok(), "normalised config body is refused: " + again.status().ToString());
  FUZZ_CHECK(*again == *norm, "normalisation is not idempotent:\n" + json::serialize(*norm) +
                                  "\n" + json::serialize(*again));
  (void)workspace::EnvironmentsNamed(storage::ItemKind::kConfig, *norm);
}

void FuzzFlag(const World& w, std::string_view key, const json::object& body) {
  json::object after = w.flags;
  after[key] = body;
  absl::StatusOr<json::object> norm = workspace::ValidateFlagBody(key, body, w.envs, after);
  MapLookup lookup(w.flags);
  absl::StatusOr<json::object> fast = workspace::ValidateFlagWrite(key, body, w.envs, lookup);
  FUZZ_CHECK(norm.status() == fast.status(),
             "ValidateFlagWrite and ValidateFlagBody disagree: " + norm.status().ToString() +
                 " vs " + fast.status().ToString());
  if (!norm.ok()) return CheckClientError(norm.status(), {absl::StatusCode::kInvalidArgument});
  FUZZ_CHECK(*norm == *fast, "ValidateFlagWrite normalised differently");
  CheckStorable(*norm);
  after[key] = *norm;
  absl::StatusOr<json::object> again = workspace::ValidateFlagBody(key, *norm, w.envs, after);
  FUZZ_CHECK(again.ok() && *again == *norm,
             "normalisation is not idempotent: " + again.status().ToString());
  CheckCompilesEverywhere(w, after, w.segments);
  // Deleting another stored flag afterwards must keep working (or name the dependant).
  MapLookup after_lookup(after);
  for (const char* other : {"base", "dep"}) {
    if (other == key) continue;
    absl::Status del = workspace::ValidateFlagDelete(other, w.envs, after_lookup);
    if (!del.ok()) CheckClientError(del, {absl::StatusCode::kInvalidArgument});
  }
  (void)workspace::EnvironmentsNamed(storage::ItemKind::kFlag, *norm);
}

void FuzzSegment(const World& w, std::string_view key, const json::object& body) {
  json::object after = w.segments;
  after[key] = body;
  absl::StatusOr<json::object> norm = workspace::ValidateSegmentBody(key, body, after);
  if (!norm.ok()) return CheckClientError(norm.status(), {absl::StatusCode::kInvalidArgument});
  CheckStorable(*norm);
  after[key] = *norm;
  absl::StatusOr<json::object> again = workspace::ValidateSegmentBody(key, *norm, after);
  FUZZ_CHECK(again.ok() && *again == *norm,
             "normalisation is not idempotent: " + again.status().ToString());
  CheckCompilesEverywhere(w, w.flags, after);
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  edgevault::fuzz::GetWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault::fuzz;
  if (size < 2) return 0;
  const int kind = data[0] % 4;
  const std::string key = kKeys[data[1] % (sizeof kKeys / sizeof kKeys[0])];
  boost::system::error_code ec;
  boost::json::value v =
      boost::json::parse(std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2), ec);
  // What the api's ParseJsonBody refuses never reaches the validators (api_request_body_fuzz).
  if (ec || !v.is_object() || edgevault::base::FindNonFiniteNumber(v)) return 0;
  const World& w = GetWorld();
  switch (kind) {
    case 0: FuzzEnvironment(w, v.as_object()); break;
    case 1: FuzzConfig(w, key, v.as_object()); break;
    case 2: FuzzFlag(w, key, v.as_object()); break;
    case 3: FuzzSegment(w, key, v.as_object()); break;
  }
  CheckNoBugReported();
  return 0;
}
