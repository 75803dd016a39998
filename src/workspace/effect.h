#pragma once
// The effect of a change: which environments it touches (DESIGN.md §4, "authorization by
// effect"). An environment is touched when its resolved document would change (configs,
// flags, segments: the bytes the resolver writes for it, resolver.h) or when the secret
// value it would serve changes (its own value or the nearest ancestor's). Authorization
// decides on this set, never on the environments a request body happens to name: a body
// that repeats prod's unchanged value touches only what it changes, and a change to a
// value that a protected environment inherits touches that environment too.
// Pure functions over validated, normalised bodies (items.md); thread-safe.
//
//   std::set<std::string> touched = ConfigEffect("db.pool", existing, &normalised, envs);
//   // {"dev"} when only dev's value changed; {"prod","staging","dev"} when prod's did and
//   // the others inherit it.

#include <map>
#include <set>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "src/workspace/model.h"
#include "src/workspace/resolver.h"

namespace edgevault::workspace {

// A config's or a flag's change from `before` to `after` (nullptr: the item is absent,
// i.e. a create or a delete): the environments whose entry for it differs.
std::set<std::string> ConfigEffect(std::string_view key, const boost::json::object* before,
                                   const boost::json::object* after, const EnvironmentSet& envs);
std::set<std::string> FlagEffect(std::string_view key, const boost::json::object* before,
                                 const boost::json::object* after, const EnvironmentSet& envs);

// A segment's change: when its entry differs, the environments whose flags reach it
// (directly, or through another segment's segment_match) in `flags_by_key` and
// `segments_by_key` (every other flag and segment, as stored); empty when its entry is the
// same (a description-only change).
std::set<std::string> SegmentEffect(std::string_view key, const boost::json::object* before,
                                    const boost::json::object* after, const EnvironmentSet& envs,
                                    const boost::json::object& flags_by_key,
                                    const boost::json::object& segments_by_key);

// SegmentEffect for many segment changes against the same flags and segments (a batch,
// a change request's apply): the segments each environment's flags reach are computed
// once, so each change costs a lookup per environment instead of a scan of every flag.
// Effect(key, before, after) == SegmentEffect(key, before, after, envs, flags, segments)
// while the flags' and the segments' segment references stay as they were built from
// (a change that alters them needs a new SegmentReach). Holds no reference to its inputs.
class SegmentReach {
 public:
  SegmentReach(const EnvironmentSet& envs, const boost::json::object& flags_by_key,
               const boost::json::object& segments_by_key);
  std::set<std::string> Effect(std::string_view key, const boost::json::object* before,
                               const boost::json::object* after) const;

 private:
  std::map<std::string, std::set<std::string>> reached_;  // environment → segment keys
};

// The segment keys a segment body names in its segment_match clauses (sorted).
std::set<std::string> SegmentReferences(const boost::json::object* segment);

// A secret's change ({"values": {"<env>": {"version", "envelope"}}} bodies): the
// environments whose served value (own, or the nearest ancestor's) differs.
std::set<std::string> SecretEffect(const boost::json::object* before,
                                   const boost::json::object* after, const EnvironmentSet& envs);

// Where a secret's value for `env` comes from: the environment of the nearest value along
// env's ancestor chain, or "" when neither env nor an ancestor has one.
std::string SecretSource(const boost::json::object& body, const EnvironmentSet& envs,
                         std::string_view env);

// Any set of changes at once (a rollback): the environments whose resolved document
// differs between the two snapshots (their versions are ignored).
std::set<std::string> DocumentsEffect(const WorkspaceSnapshot& before,
                                      const WorkspaceSnapshot& after);

}  // namespace edgevault::workspace
