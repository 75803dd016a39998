#include "src/services/api/ai_risk.h"

#include <map>
#include <set>

#include "src/eval/evaluator.h"
#include "src/workspace/model.h"

namespace edgevault::api {

namespace json = boost::json;

namespace {

json::value ParseBody(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

json::object ByKey(const std::vector<storage::Item>& items) {
  json::object out;
  for (const storage::Item& i : items) {
    json::value b = ParseBody(i.body);
    if (b.is_object()) out[i.key] = std::move(b);
  }
  return out;
}

std::string Text(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::value* Get(const json::value& body, std::string_view name) {
  return body.is_object() ? body.get_object().if_contains(name) : nullptr;
}

bool SameMember(const json::value& a, const json::value& b, std::string_view name) {
  const json::value* x = Get(a, name);
  const json::value* y = Get(b, name);
  if (x == nullptr || y == nullptr) return x == y;
  return *x == *y;
}

}  // namespace

json::object RiskSampleContext(int i) { return json::object{{"key", "risk-sample-" + std::to_string(i)}}; }

json::object ComputeRiskExact(const json::object& planned, const workspace::ChangeSetInput& in, int sample_size) {
  json::object flags_before = ByKey(in.flags), segments_before = ByKey(in.segments);
  json::object configs_before = ByKey(in.configs);
  json::object flags_after = flags_before, segments_after = segments_before;
  json::array configs, schema_changes, secrets, deletes;
  std::set<std::string> touched_flags;
  bool segments_changed = false;
  static const json::array kNone;
  const json::value* changes = planned.if_contains("changes");
  const json::array& list = changes != nullptr && changes->is_array() ? changes->get_array() : kNone;
  for (const json::value& cv : list) {
    const json::object* c = cv.if_object();
    if (c == nullptr) continue;
    std::string kind = Text(*c, "kind"), key = Text(*c, "key"), env = Text(*c, "environment");
    const json::value* del = c->if_contains("delete");
    const bool is_delete = del != nullptr && del->is_bool() && del->get_bool();
    const json::value* body = c->if_contains("body");
    if (is_delete) deletes.push_back(json::object{{"kind", kind}, {"key", key}});
    if (kind == "secret") {
      secrets.push_back(json::object{{"key", key}, {"environment", env}});
      continue;
    }
    if (kind == "config") {
      configs.push_back(json::object{{"key", key}, {"environment", env}});
      const json::value* before = configs_before.if_contains(key);
      if (env.empty() && before != nullptr && body != nullptr && body->is_object()) {
        json::array what;
        if (!SameMember(*before, *body, "type")) what.push_back("type");
        if (!SameMember(*before, *body, "schema")) what.push_back("schema");
        if (!what.empty()) schema_changes.push_back(json::object{{"kind", kind}, {"key", key}, {"what", std::move(what)}});
      }
      if (body != nullptr && body->is_object()) configs_before.insert_or_assign(key, *body);
      continue;
    }
    if (kind == "flag") {
      touched_flags.insert(key);
      const json::value* before = flags_after.if_contains(key);
      if (env.empty() && before != nullptr && body != nullptr && body->is_object() &&
          !SameMember(*before, *body, "variations")) {
        schema_changes.push_back(json::object{{"kind", kind}, {"key", key}, {"what", json::array{"variations"}}});
      }
      if (is_delete) flags_after.erase(key);
      else if (body != nullptr && body->is_object()) flags_after.insert_or_assign(key, *body);
      continue;
    }
    if (kind == "segment") {
      segments_changed = true;
      if (is_delete) segments_after.erase(key);
      else if (body != nullptr && body->is_object()) segments_after.insert_or_assign(key, *body);
    }
  }

  // The environments touched by effect, with protection and policy.
  json::array environments;
  std::vector<std::string> env_keys;
  if (const json::value* envs = planned.if_contains("environments"); envs != nullptr && envs->is_array()) {
    for (const json::value& e : envs->get_array()) {
      if (e.is_string()) env_keys.emplace_back(e.get_string());
    }
  }
  for (const std::string& e : env_keys) {
    const workspace::Environment* found = in.envs.Find(e);
    json::object o{{"key", e}, {"protected", found != nullptr && found->is_protected}};
    o["change_request_required"] = found != nullptr && found->policy && found->policy->change_requests_required;
    o["required_approvals"] = found != nullptr && found->policy ? found->policy->required_approvals : 0;
    environments.push_back(std::move(o));
  }

  // Flags: variation changes over the sample, per touched environment.
  json::array flag_risk;
  if (!touched_flags.empty() || segments_changed) {
    std::vector<eval::Context> sample;
    sample.reserve(static_cast<size_t>(sample_size));
    for (int i = 0; i < sample_size; ++i) sample.emplace_back(RiskSampleContext(i));
    for (const std::string& env : env_keys) {
      if (!in.envs.Contains(env)) continue;
      json::object rb = workspace::ResolveFlagsForEnvironment(flags_before, in.envs, env);
      json::object ra = workspace::ResolveFlagsForEnvironment(flags_after, in.envs, env);
      auto before = eval::FlagSet::Build(rb, segments_before, env);
      auto after = eval::FlagSet::Build(ra, segments_after, env);
      std::set<std::string> keys;
      for (const auto& kv : rb) {
        if (segments_changed || touched_flags.count(std::string(kv.key())) > 0) keys.insert(std::string(kv.key()));
      }
      for (const auto& kv : ra) {
        if (segments_changed || touched_flags.count(std::string(kv.key())) > 0) keys.insert(std::string(kv.key()));
      }
      for (const std::string& key : keys) {
        json::object o{{"key", key}, {"environment", env}, {"sample_size", sample_size}};
        if (!before.ok() || !after.ok()) {
          o["error"] = std::string((before.ok() ? after.status() : before.status()).message());
          flag_risk.push_back(std::move(o));
          continue;
        }
        int changed = 0;
        for (const eval::Context& ctx : sample) {
          eval::EvalResult x = eval::Evaluate(**before, key, ctx);
          eval::EvalResult y = eval::Evaluate(**after, key, ctx);
          bool same = x.variation == y.variation && (x.value == nullptr) == (y.value == nullptr) &&
                      (x.value == nullptr || *x.value == *y.value);
          if (!same) ++changed;
        }
        if (changed == 0 && touched_flags.count(key) == 0) continue;  // a segment change that does not reach it
        o["changed"] = changed;
        o["share"] = sample_size == 0 ? 0.0 : static_cast<double>(changed) / sample_size;
        flag_risk.push_back(std::move(o));
      }
    }
  }
  json::object out;
  out["environments"] = std::move(environments);
  out["flags"] = std::move(flag_risk);
  out["configs"] = std::move(configs);
  out["schema_changes"] = std::move(schema_changes);
  out["secrets"] = std::move(secrets);
  out["deletes"] = std::move(deletes);
  out["sample"] = json::object{{"size", sample_size}, {"contexts", "{\"key\": \"risk-sample-<i>\"}, i = 0.." +
                                                                      std::to_string(sample_size - 1)}};
  return out;
}

}  // namespace edgevault::api
