#include "cli/history_diff.h"

#include <set>

namespace edgevault::cli {

namespace json = boost::json;

namespace {

std::string Shown(const json::value* v, std::string_view absent) {
  if (v == nullptr || v->is_null()) return std::string(absent);
  std::string s = json::serialize(*v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool Scalar(const json::value* v) { return v == nullptr || !(v->is_object() || v->is_array()); }

const json::object* Obj(const json::value& v) { return v.if_object(); }

const json::value* In(const json::object* o, std::string_view key) {
  return o == nullptr ? nullptr : o->if_contains(key);
}

// Members of two objects that differ: "name: a → b" for scalars, "name changed" otherwise.
void MemberLines(const json::object* a, const json::object* b, const std::set<std::string>& skip,
                 const std::string& prefix, std::vector<std::string>* out) {
  std::set<std::string> keys;
  for (const json::object* o : {a, b}) {
    if (o == nullptr) continue;
    for (const auto& kv : *o) keys.insert(std::string(kv.key()));
  }
  for (const std::string& k : keys) {
    if (skip.count(k) > 0) continue;
    const json::value* x = In(a, k);
    const json::value* y = In(b, k);
    if ((x == nullptr && y == nullptr) || (x != nullptr && y != nullptr && *x == *y)) continue;
    if (Scalar(x) && Scalar(y)) {
      out->push_back(prefix + k + ": " + Shown(x, "(none)") + " → " + Shown(y, "(none)"));
    } else {
      out->push_back(prefix + k + " changed");
    }
  }
}

}  // namespace

std::vector<std::string> RevisionDiff(std::string_view kind, const json::value& before, const json::value& after) {
  std::vector<std::string> out;
  const json::object* a = Obj(before);
  const json::object* b = Obj(after);
  if (a == nullptr && b == nullptr) return out;
  if (a == nullptr && kind == "environment") return {"created"};
  if (b == nullptr && kind == "environment") return {"deleted"};
  std::string per_env = kind == "flag" ? "environments" : (kind == "config" || kind == "secret") ? "values" : "";
  if (!per_env.empty()) {
    const json::object* x = In(a, per_env) ? In(a, per_env)->if_object() : nullptr;
    const json::object* y = In(b, per_env) ? In(b, per_env)->if_object() : nullptr;
    std::set<std::string> envs;
    for (const json::object* o : {x, y}) {
      if (o == nullptr) continue;
      for (const auto& kv : *o) envs.insert(std::string(kv.key()));
    }
    for (const std::string& env : envs) {
      const json::value* was = In(x, env);
      const json::value* now = In(y, env);
      if (was != nullptr && now != nullptr && *was == *now) continue;
      if (kind == "secret") {
        auto version = [](const json::value* v) -> std::string {
          const json::value* n = v != nullptr && v->is_object() ? v->get_object().if_contains("version") : nullptr;
          if (n == nullptr) return "(none)";
          std::string shown(1, 'v');  // appended: GCC 12 reports a false -Wrestrict for "v" + std::string&&
          shown += json::serialize(*n);
          return shown;
        };
        out.push_back(env + ": " + version(was) + " → " + version(now));
      } else if (kind == "flag" && was != nullptr && now != nullptr && was->is_object() && now->is_object()) {
        MemberLines(&was->get_object(), &now->get_object(), {}, env + ": ", &out);
      } else {
        out.push_back(env + ": " + Shown(was, "(inherits)") + " → " + Shown(now, "(inherits)"));
      }
    }
  }
  if (a == nullptr) out.insert(out.begin(), "created");
  if (b == nullptr) out.insert(out.begin(), "deleted");
  if (a != nullptr && b != nullptr) MemberLines(a, b, {per_env, "key"}, "", &out);
  return out;
}

}  // namespace edgevault::cli
