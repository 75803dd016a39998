#include "src/eval/ofrep.h"

namespace edgevault::eval {

namespace json = boost::json;

absl::StatusOr<Context> ContextFromOfrep(const json::value& context) {
  if (context.is_null()) return Context();
  if (!context.is_object()) return absl::InvalidArgumentError("\"context\" must be a JSON object");
  json::object attrs = context.get_object();
  if (const json::value* tk = attrs.if_contains("targetingKey")) {
    if (!tk->is_string()) return absl::InvalidArgumentError("\"targetingKey\" must be a string");
    json::value key = *tk;
    attrs.erase("targetingKey");
    attrs["key"] = std::move(key);
  }
  return Context::FromJson(json::value(std::move(attrs)));
}

std::string VariantName(const json::object& flag, int variation) {
  const json::value* vars = flag.if_contains("variations");
  if (variation >= 0 && vars != nullptr && vars->is_array() &&
      static_cast<size_t>(variation) < vars->get_array().size()) {
    const json::value& v = vars->get_array()[static_cast<size_t>(variation)];
    const json::value* name = v.is_object() ? v.get_object().if_contains("name") : nullptr;
    if (name != nullptr && name->is_string() && !name->get_string().empty()) {
      return std::string(name->get_string());
    }
  }
  return std::to_string(variation);
}

std::vector<std::string> VariantNames(const json::value& flag) {
  std::vector<std::string> names;
  const json::object* o = flag.if_object();
  const json::value* vars = o != nullptr ? o->if_contains("variations") : nullptr;
  if (vars == nullptr || !vars->is_array()) return names;
  names.reserve(vars->get_array().size());
  for (size_t i = 0; i < vars->get_array().size(); ++i) names.push_back(VariantName(*o, static_cast<int>(i)));
  return names;
}

}  // namespace edgevault::eval
