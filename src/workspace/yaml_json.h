#pragma once
// YAML as JSON, bounded (the CLI's files, the api's POST …/import): aliases let a small
// file name the same node many times over ("billion laughs"), so the depth and the number
// of values converted are capped and such a file fails instead of eating the machine.
// Scalars: a quoted one is a string; true/false/null/~ and JSON numbers are typed.
// Thread-safe (no state).

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"
#include "boost/json.hpp"
#include "yaml-cpp/node/node.h"

namespace edgevault::workspace {

// Throws std::runtime_error past 200 levels or `max_values` values.
boost::json::value YamlToJson(const YAML::Node& n, size_t max_values = 5'000'000);

// `text` as YAML (JSON is YAML too): InvalidArgument "not valid YAML: …" (syntax, depth,
// the value cap).
absl::StatusOr<boost::json::value> ParseYamlText(std::string_view text, size_t max_values);

}  // namespace edgevault::workspace
