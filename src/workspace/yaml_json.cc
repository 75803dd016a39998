#include "src/workspace/yaml_json.h"

#include <stdexcept>
#include <string>

#include "yaml-cpp/yaml.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;

constexpr int kMaxYamlDepth = 200;

json::value YamlToJsonBounded(const YAML::Node& n, int depth, size_t* budget) {
  if (depth > kMaxYamlDepth) throw std::runtime_error("nested more than 200 levels deep");
  if (*budget == 0) throw std::runtime_error("too many values (aliases repeating a node count each time)");
  --*budget;
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJsonBounded(kv.second, depth + 1, budget);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& x : n) a.push_back(YamlToJsonBounded(x, depth + 1, budget));
      return a;
    }
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (n.Tag() == "!") return json::value(s);  // quoted: always a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      boost::system::error_code ec;
      json::value num = json::parse(s, ec);
      if (!ec && num.is_number()) return num;
      return json::value(s);
    }
    default:
      return nullptr;
  }
}

}  // namespace

json::value YamlToJson(const YAML::Node& n, size_t max_values) {
  size_t budget = max_values;
  return YamlToJsonBounded(n, 0, &budget);
}

absl::StatusOr<json::value> ParseYamlText(std::string_view text, size_t max_values) {
  try {
    return YamlToJson(YAML::Load(std::string(text)), max_values);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("not valid YAML: ") + e.what());
  }
}

}  // namespace edgevault::workspace
