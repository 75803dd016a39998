#pragma once
// The exact part of a risk review (docs/design/ai.md §4): computed from a change set's
// planned changes and the workspace, without any model. For flags: the share of a
// deterministic sample of contexts whose variation changes, evaluating every touched
// environment's flags and segments before and after with src/eval.
//
// Thread-safety: pure function.

#include <cstddef>

#include <boost/json.hpp>

#include "src/workspace/change_set.h"

namespace edgevault::api {

inline constexpr int kRiskSampleSize = 10000;

// The sample's i-th context: {"key": "risk-sample-<i>"}.
boost::json::object RiskSampleContext(int i);

// `planned` is a change-request dry run or a stored request: {"changes": [PlannedChangeToJson
// ...], "environments": [...], "required_approvals"?}. `in` is the workspace as stored (the
// "before"). Returns {"environments", "flags", "configs", "schema_changes", "secrets",
// "deletes", "sample": {"size", "contexts"}}.
boost::json::object ComputeRiskExact(const boost::json::object& planned, const workspace::ChangeSetInput& in,
                                     int sample_size = kRiskSampleSize);

}  // namespace edgevault::api
