#include "src/services/api/leak_guard.h"

#include <algorithm>
#include <optional>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/services/common/http_json.h"

namespace edgevault::api {

namespace json = boost::json;

std::string_view LeakModeName(LeakMode mode) {
  switch (mode) {
    case LeakMode::kOff:
      return "off";
    case LeakMode::kWarn:
      return "warn";
    case LeakMode::kBlock:
      return "block";
  }
  return "warn";
}

namespace {

LeakMode ModeOf(const workspace::WriteEffect& effect, const std::string& env) {
  auto it = effect.policies.find(env);
  if (it == effect.policies.end() || !it->second.leak_scan) return LeakMode::kWarn;
  const std::string& m = *it->second.leak_scan;
  return m == "off" ? LeakMode::kOff : m == "block" ? LeakMode::kBlock : LeakMode::kWarn;
}

// The environment a config finding's pointer is under ("/values/<env>/..."), or "".
std::string ConfigEnvironment(const std::string& pointer) {
  constexpr std::string_view kPrefix = "/values/";
  if (pointer.rfind(kPrefix, 0) != 0) return "";
  size_t end = pointer.find('/', kPrefix.size());
  return pointer.substr(kPrefix.size(), end == std::string::npos ? std::string::npos : end - kPrefix.size());
}

// The strictest mode of the touched environments that serve the value `body` sets in
// `env`: `env` itself and every touched environment below it that inherits the value
// (no environment between them sets its own). nullopt when none of them is touched: the
// write does not change what any environment serves from that value.
std::optional<LeakMode> ServingMode(const workspace::WriteEffect& effect, const json::object& body,
                                    const std::string& env) {
  const json::object* values = nullptr;
  if (const json::value* v = body.if_contains("values"); v != nullptr) values = v->if_object();
  auto sets_own = [&](const std::string& e) { return values != nullptr && values->contains(e); };
  std::optional<LeakMode> mode;
  for (const std::string& served : effect.environments) {
    bool inherits = served == env;
    if (!inherits && !sets_own(served)) {
      // Walk up from `served` until `env`, a root, or an environment with its own value.
      std::string e = served;
      for (size_t steps = 0; steps <= effect.parents.size(); ++steps) {
        auto p = effect.parents.find(e);
        if (p == effect.parents.end() || p->second.empty()) break;
        e = p->second;
        if (e == env) {
          inherits = true;
          break;
        }
        if (sets_own(e)) break;
      }
    }
    if (inherits) mode = std::max(mode.value_or(LeakMode::kOff), ModeOf(effect, served));
  }
  return mode;
}

}  // namespace

LeakMode EffectiveLeakMode(const workspace::WriteEffect& effect) {
  if (effect.environments.empty()) return LeakMode::kWarn;
  LeakMode mode = LeakMode::kOff;
  for (const std::string& env : effect.environments) mode = std::max(mode, ModeOf(effect, env));
  return mode;
}

std::vector<LeakReport::Item> ScanWritten(const workspace::WriteEffect& effect, LeakMode* strictest) {
  std::vector<LeakReport::Item> out;
  LeakMode overall = EffectiveLeakMode(effect);
  LeakMode worst = LeakMode::kOff;
  for (const workspace::WriteEffect::Written& w : effect.written) {
    if (w.body == nullptr) continue;
    std::string kind(storage::ItemKindName(w.kind));
    std::vector<scan::LeakFinding> kept;
    for (scan::LeakFinding& f : scan::LeakScanner::Get().ScanItem(kind, w.key, *w.body)) {
      // A config value counts under its own environment's policy, and only when the write
      // changes what that environment serves: a value stored before is not judged again
      // by a write to another environment.
      LeakMode mode = overall;
      if (w.kind == storage::ItemKind::kConfig) {
        if (std::string env = ConfigEnvironment(f.pointer); !env.empty()) {
          std::optional<LeakMode> serving = ServingMode(effect, *w.body, env);
          if (!serving) continue;
          mode = *serving;
        }
      }
      if (mode == LeakMode::kOff) continue;
      worst = std::max(worst, mode);
      kept.push_back(std::move(f));
    }
    if (!kept.empty()) out.push_back({kind, w.key, std::move(kept)});
  }
  if (strictest != nullptr) *strictest = worst;
  return out;
}

absl::Status SecretDetectedError(const std::vector<LeakReport::Item>& items) {
  std::string what;
  size_t shown = 0, total = 0;
  for (const LeakReport::Item& item : items) {
    for (const scan::LeakFinding& f : item.findings) {
      ++total;
      if (shown == 5) continue;
      ++shown;
      if (!what.empty()) what += "; ";
      what += item.kind + " \"" + item.key + "\" at " + (f.pointer.empty() ? "/" : f.pointer) + ": " + f.kind +
              " (" + f.description + ")";
    }
  }
  if (total > shown) what += "; and " + std::to_string(total - shown) + " more";
  return services::WithErrorCode(
      absl::InvalidArgumentError(base::ToAbsl(
          "this looks like a credential and the environment's policy (leak_scan: block) refuses it: " + what +
          ". Store it as a secret instead (PUT /v1/workspaces/{ws}/secrets/{key}, or edgevault config "
          "move-to-secret for a value already stored)")),
      "secret_detected");
}

workspace::WriteAuthorizer WithLeakScan(workspace::WriteAuthorizer inner, std::shared_ptr<LeakReport> report) {
  return [inner = std::move(inner), report](const workspace::WriteEffect& effect) -> absl::Status {
    if (inner) EV_RETURN_IF_ERROR(inner(effect));
    report->items.clear();
    report->mode = EffectiveLeakMode(effect);
    if (effect.written.empty()) return absl::OkStatus();
    LeakMode worst = LeakMode::kOff;
    std::vector<LeakReport::Item> found = ScanWritten(effect, &worst);
    if (worst == LeakMode::kBlock) return SecretDetectedError(found);
    report->items = std::move(found);
    return absl::OkStatus();
  };
}

json::array LeakWarningsJson(const std::vector<LeakReport::Item>& items) {
  json::array out;
  for (const LeakReport::Item& item : items) {
    for (const scan::LeakFinding& f : item.findings) {
      out.push_back(json::object{{"type", "secret_detected"}, {"kind", item.kind}, {"key", item.key},
                                 {"pointer", f.pointer}, {"finding", f.kind}, {"description", f.description}});
    }
  }
  return out;
}

}  // namespace edgevault::api
