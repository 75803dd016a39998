#pragma once
// Flags from other tools, as EdgeVault flag bodies (docs/design/flags.md), for
// `edgevault import --from launchdarkly|unleash FILE` (docs/cli.md, "Importing flags").
// Pure functions over the parsed file: no I/O. Thread-safe.
//
// What maps is mapped exactly; what does not is refused with InvalidArgument naming the
// flag and the construct (`flag "checkout": environments.production.rules[1].clauses[0]:
// segmentMatch needs segments, which an import does not bring`), so an import never
// changes who gets what silently. The whole file is checked before the caller writes
// anything.
//
//   EV_ASSIGN_OR_RETURN(std::vector<ImportedFlag> flags, FlagsFromLaunchDarkly(doc));
//   for (auto& f : flags) changes.push_back({{"kind", "flag"}, {"key", f.key}, {"body", f.body}});

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace edgevault::cli {

struct ImportedFlag {
  std::string key;
  boost::json::object body;  // a flag body as PUT …/flags/{key} takes it (without reason)
};

// LaunchDarkly's REST API flag list (`GET /api/v2/flags/{project}?summary=0`):
// {"items": [{key, description?, variations: [{value, name?, description?}],
//   clientSideAvailability?: {usingEnvironmentId}, environments: {env: {on, salt,
//   offVariation?, fallthrough: {variation} | {rollout: {variations: [{variation, weight}],
//   bucketBy?, seed?}}, targets?: [{values, variation}], contextTargets?, rules?: [{_id?,
//   description?, clauses: [{attribute, op, values, negate?, contextKind?}], variation |
//   rollout}], prerequisites?: [{key, variation}]}}}]}. A single flag object (no "items")
// is read as a list of one. Environments keep their LaunchDarkly keys.
//
// Buckets: LaunchDarkly hashes sha1(flag key + "." + salt + "." + context key); EdgeVault
// hashes the same (flags.md §5) with one salt per flag, so an environment's `salt` becomes
// the flag's. Refused: environments of one flag with different salts (LaunchDarkly gives
// each environment its own; import one environment at a time with `only_environment`),
// context kinds other than "user", segmentMatch clauses, unknown operators.
absl::StatusOr<std::vector<ImportedFlag>> FlagsFromLaunchDarkly(const boost::json::value& doc,
                                                                const std::string& only_environment = "");

// Unleash's export (`GET /api/admin/features-batch/export`, or the older state export):
// {"features": [{name, description?, type?}], "featureStrategies": [{featureName,
// environment, name, parameters, constraints?}], "featureEnvironments": [{featureName,
// environment, enabled}], "variants"?/"featureVariants"?}. Each feature becomes a boolean
// flag (variations true, false) configured in each environment it has an entry for.
//
// Buckets: Unleash places a user at murmur3_32(groupId + ":" + userId, seed 0) % 100 + 1
// and serves a `flexibleRollout` of R% when that is <= R. EdgeVault's rollouts hash with
// sha1 (LaunchDarkly's scheme) and cannot express murmur3, so only what needs no hash
// imports: `default`, and `flexibleRollout` with rollout 0 or 100 (everyone or nobody);
// a partial rollout, other strategies, constraints and variants are refused (naming the
// feature and the strategy) rather than imported with different buckets.
absl::StatusOr<std::vector<ImportedFlag>> FlagsFromUnleash(const boost::json::value& doc);

}  // namespace edgevault::cli
