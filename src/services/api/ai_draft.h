#pragma once
// Strict parsing of what a model answers (docs/design/ai.md §3, §4): a draft becomes a
// change-request body, an explanation {summary, concerns}. The model's text is data: it is
// parsed, checked against the workspace and never executed. Everything a draft may name is
// checked here (workspace, kinds, keys, environments, fields); what a change does to an
// item is then validated by the change-request dry run, as for a human's request.
//
// Thread-safety: pure functions.

#include <string_view>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "src/workspace/change_set.h"

namespace edgevault::api {

inline constexpr size_t kMaxModelAnswerBytes = 64 * 1024;

// The model's text without one surrounding Markdown code fence (```json ... ```) and
// surrounding white space.
std::string_view StripCodeFence(std::string_view text);

// {"title", "description", "changes"}: a body for POST .../change-requests. Errors:
// InvalidArgument with code "ai_output_invalid" and a message naming the problem (not
// JSON, too large, unknown member, another workspace, a secret, an unknown environment or
// item, an empty draft with the model's reason).
absl::StatusOr<boost::json::object> ParseDraft(std::string_view text, std::string_view workspace_key,
                                               const workspace::ChangeSetInput& in);

// {"summary": string, "concerns": [string]} (at most 20 concerns, 2000 bytes each).
// InvalidArgument with code "ai_output_invalid".
absl::StatusOr<boost::json::object> ParseExplanation(std::string_view text);

}  // namespace edgevault::api
