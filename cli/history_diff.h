#pragma once
// `edgevault history --diff`: what one revision changed, per environment, as people read
// it ("prod: 20 → 25", "dev: on: true → false"). Pure functions over the api's revision
// JSON (kind, before, after; secrets arrive as versions only, never values), so they are
// tested without a server. Thread-safe (no state).
//
//   for (const std::string& line : RevisionDiff("config", before, after)) printf("  %s\n", line.c_str());

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace edgevault::cli {

// One line per change: for configs and secrets each environment whose own value differs
// ("prod: 20 → 25", "dev: (inherits) → 6", "prod: v3 → v4"), for flags each environment
// whose configuration differs with its changed members ("prod: on: true → false",
// "prod: rules changed"), then members shared by every environment ("type: ...",
// "variations changed"); environments and segments list their changed members. A
// creation or deletion is one line ("created", "deleted"). Values are cut at 60
// characters; empty when nothing differs.
std::vector<std::string> RevisionDiff(std::string_view kind, const boost::json::value& before,
                                      const boost::json::value& after);

}  // namespace edgevault::cli
