#include "src/workspace/stale_flags.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "src/base/status.h"
#include "src/workspace/model.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

constexpr std::string_view kOneVariation = "serving_one_variation";
constexpr std::string_view kPastRemoveAfter = "past_remove_after";

std::optional<int64_t> Index(const json::value* v) {
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->get_int64();
}

// The variations a split (a fallthrough or rule: {variation} or {rollout: [...]}) can serve.
bool AddServed(const json::object& split, std::set<int64_t>& served) {
  if (std::optional<int64_t> v = Index(split.if_contains("variation"))) {
    served.insert(*v);
    return true;
  }
  const json::value* rollout = split.if_contains("rollout");
  if (rollout == nullptr || !rollout->is_array()) return false;
  for (const json::value& w : rollout->get_array()) {
    const json::object* o = w.if_object();
    if (o == nullptr) return false;
    std::optional<int64_t> v = Index(o->if_contains("variation"));
    const json::value* weight = o->if_contains("weight");
    if (!v || weight == nullptr || !weight->is_number()) return false;
    if (weight->to_number<double>() > 0) served.insert(*v);
  }
  return true;
}

std::string Time(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

}  // namespace

std::optional<std::map<std::string, int64_t>> SingleVariationPerEnvironment(const json::object& flag) {
  const json::value* envs = flag.if_contains("environments");
  if (envs == nullptr || !envs->is_object()) return std::nullopt;
  std::map<std::string, int64_t> out;
  for (const auto& [env, config_v] : envs->get_object()) {
    if (config_v.is_null()) continue;
    const json::object* config = config_v.if_object();
    if (config == nullptr) return std::nullopt;
    const json::value* on = config->if_contains("on");
    int64_t off = Index(config->if_contains("off_variation")).value_or(-1);
    if (on == nullptr || !on->is_bool() || !on->get_bool()) {
      out[std::string(env)] = off;
      continue;
    }
    std::set<int64_t> served;
    if (const json::value* p = config->if_contains("prerequisites"); p != nullptr && p->is_array() && !p->get_array().empty()) {
      served.insert(off);  // a prerequisite that fails serves the off variation
    }
    if (const json::value* targets = config->if_contains("targets"); targets != nullptr && targets->is_array()) {
      for (const json::value& t : targets->get_array()) {
        const json::object* o = t.if_object();
        const json::value* values = o != nullptr ? o->if_contains("values") : nullptr;
        if (values != nullptr && values->is_array() && values->get_array().empty()) continue;
        std::optional<int64_t> v = o != nullptr ? Index(o->if_contains("variation")) : std::nullopt;
        if (!v) return std::nullopt;
        served.insert(*v);
      }
    }
    if (const json::value* rules = config->if_contains("rules"); rules != nullptr && rules->is_array()) {
      for (const json::value& r : rules->get_array()) {
        if (!r.is_object() || !AddServed(r.get_object(), served)) return std::nullopt;
      }
    }
    const json::value* fallthrough = config->if_contains("fallthrough");
    if (fallthrough == nullptr || !fallthrough->is_object() || !AddServed(fallthrough->get_object(), served)) {
      return std::nullopt;
    }
    if (served.size() != 1) return std::nullopt;
    out[std::string(env)] = *served.begin();
  }
  return out;
}

std::vector<StaleFlag> StaleFlagsOf(const std::map<std::string, json::object>& flags,
                                    const std::map<std::string, std::vector<FlagVersion>>& history, absl::Time now,
                                    int64_t days) {
  std::vector<StaleFlag> out;
  for (const auto& [key, body] : flags) {
    const json::value* lifecycle = body.if_contains("lifecycle");
    if (lifecycle != nullptr && lifecycle->is_string() && lifecycle->get_string() == "permanent") continue;

    // Serving one variation: the run of versions, up to the current one, that serve the
    // same variation per environment as the current one does.
    std::optional<std::map<std::string, int64_t>> current = SingleVariationPerEnvironment(body);
    auto h = history.find(key);
    if (current && !current->empty() && h != history.end() && !h->second.empty()) {
      const FlagVersion* since = nullptr;
      for (auto it = h->second.rbegin(); it != h->second.rend(); ++it) {
        if (!it->body) break;
        std::optional<std::map<std::string, int64_t>> then = SingleVariationPerEnvironment(*it->body);
        if (!then || *then != *current) break;
        since = &*it;
      }
      if (since != nullptr && now - since->time >= absl::Hours(24) * days) {
        json::object envs;
        const json::value* variations = body.if_contains("variations");
        for (const auto& [env, index] : *current) {
          json::object e{{"variation", index}};
          const json::value* value = nullptr;
          if (index >= 0 && variations != nullptr && variations->is_array() &&
              static_cast<size_t>(index) < variations->get_array().size() && variations->get_array()[index].is_object()) {
            value = variations->get_array()[index].get_object().if_contains("value");
          }
          e["value"] = value != nullptr ? *value : json::value(nullptr);
          if (index < 0) e["note"] = "off without an off variation: callers get their default value";
          envs[env] = std::move(e);
        }
        out.push_back({key, std::string(kOneVariation),
                       json::object{{"since", Time(since->time)},
                                    {"since_revision", since->seq},
                                    {"days", absl::ToInt64Hours(now - since->time) / 24},
                                    {"environments", std::move(envs)}}});
      }
    }

    // Past its removal date: the whole day named has passed.
    if (const json::value* date = body.if_contains("remove_after"); date != nullptr && date->is_string()) {
      if (std::optional<absl::Time> day = ParseCalendarDate(date->get_string())) {
        absl::Time due = *day + absl::Hours(24);
        if (now >= due) {
          out.push_back({key, std::string(kPastRemoveAfter),
                         json::object{{"remove_after", *date}, {"days_past", absl::ToInt64Hours(now - due) / 24}}});
        }
      }
    }
  }
  return out;
}

std::vector<StaleFlag> NotEvaluatedFlagsOf(const std::map<std::string, json::object>& flags,
                                           const std::map<std::string, absl::Time>& created,
                                           const std::map<std::string, int64_t>& last_evaluated, absl::Time now,
                                           int64_t days) {
  std::vector<StaleFlag> out;
  if (days < 1) return out;
  const absl::Time since = now - absl::Hours(24 * days);
  for (const auto& [key, body] : flags) {
    const json::value* lifecycle = body.if_contains("lifecycle");
    if (lifecycle != nullptr && lifecycle->is_string() && lifecycle->get_string() == "permanent") continue;
    auto made = created.find(key);
    if (made == created.end() || made->second > since) continue;  // too young to tell
    auto last = last_evaluated.find(key);
    std::optional<absl::Time> last_time;
    if (last != last_evaluated.end()) last_time = absl::FromUnixSeconds(last->second * 60);
    // A recorded minute that ends after `since` is an evaluation within the window.
    if (last_time && *last_time + absl::Minutes(1) > since) continue;
    json::object evidence{{"days", days},
                          {"created_at", absl::FormatTime(absl::RFC3339_sec, made->second, absl::UTCTimeZone())},
                          {"last_evaluated", last_time ? json::value(absl::FormatTime(absl::RFC3339_sec, *last_time,
                                                                                      absl::UTCTimeZone()))
                                                       : json::value(nullptr)}};
    out.push_back({key, "not_evaluated", std::move(evidence)});
  }
  return out;
}

absl::StatusOr<std::vector<StaleFlag>> FindStaleFlags(Service& service, const storage::Workspace& ws, absl::Time now,
                                                      int64_t days,
                                                      const std::map<std::string, int64_t>* last_evaluated) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, service.ListItems(ws, storage::ItemKind::kFlag));
  std::map<std::string, json::object> flags;
  std::map<std::string, absl::Time> created;
  for (const storage::Item& item : items) {
    boost::system::error_code ec;
    json::value v = json::parse(item.body, ec);
    if (!ec && v.is_object()) flags[item.key] = std::move(v.get_object());
    created[item.key] = item.created_at;
  }
  std::map<std::string, std::vector<FlagVersion>> history;
  if (!flags.empty()) {
    int64_t after = 0;
    for (;;) {
      EV_ASSIGN_OR_RETURN(std::vector<storage::Revision> page, service.ListRevisions(ws, after, 1000));
      if (page.empty()) break;
      for (const storage::Revision& r : page) {
        if (r.kind != storage::ItemKind::kFlag || !flags.contains(r.key)) continue;
        FlagVersion v{r.seq, r.time, std::nullopt};
        boost::system::error_code ec;
        json::value body = json::parse(r.after, ec);
        if (!ec && body.is_object()) v.body = std::move(body.get_object());
        history[r.key].push_back(std::move(v));
      }
      after = page.back().seq;
    }
  }
  std::vector<StaleFlag> stale = StaleFlagsOf(flags, history, now, days);
  if (last_evaluated != nullptr) {
    for (StaleFlag& f : NotEvaluatedFlagsOf(flags, created, *last_evaluated, now, days)) stale.push_back(std::move(f));
    std::stable_sort(stale.begin(), stale.end(), [](const StaleFlag& a, const StaleFlag& b) {
      return std::tie(a.key, a.reason) < std::tie(b.key, b.reason);
    });
  }
  return stale;
}

}  // namespace edgevault::workspace
