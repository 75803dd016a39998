#include "src/eval/document.h"

#include <algorithm>

#include "src/eval/ofrep.h"

namespace edgevault::eval {

namespace json = boost::json;

void CompileDocument(const json::object& o, CompiledDocument* out) {
  if (const json::value* v = o.if_contains("version"); v != nullptr && v->is_int64()) {
    out->version = v->get_int64();
  }
  if (const json::value* w = o.if_contains("workspace_id"); w != nullptr && w->is_string()) {
    out->workspace_id = std::string(w->get_string());
  }
  if (const json::value* e = o.if_contains("environment"); e != nullptr && e->is_string()) {
    out->environment = std::string(e->get_string());
  }
  static const json::object kEmpty;
  auto member_object = [&](std::string_view name) -> const json::object& {
    const json::value* v = o.if_contains(name);
    return v != nullptr && v->is_object() ? v->get_object() : kEmpty;
  };
  const json::object& flags = member_object("flags");
  const json::object& segments = member_object("segments");
  const json::object& configs = member_object("configs");
  for (const auto& [key, flag] : flags) {
    out->flag_keys.emplace_back(key);
    out->variant_names.emplace(std::string(key), VariantNames(flag));
  }
  for (const auto& [key, config] : configs) {
    const json::value* value = config.is_object() ? config.get_object().if_contains("value") : nullptr;
    if (value == nullptr) continue;
    out->config_keys.emplace_back(key);
    out->configs.emplace(std::string(key), *value);
  }
  std::sort(out->flag_keys.begin(), out->flag_keys.end());
  std::sort(out->config_keys.begin(), out->config_keys.end());
  absl::StatusOr<std::shared_ptr<const FlagSet>> set = FlagSet::Build(flags, segments, out->environment);
  if (set.ok()) {
    out->flags = std::move(*set);
  } else {
    out->flags = FlagSet::FromCompiled({}, {});
    out->flags_error =
        "the environment's flags could not be compiled: " + std::string(set.status().message());
  }
}

}  // namespace edgevault::eval
