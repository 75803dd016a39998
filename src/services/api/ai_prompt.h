#pragma once
// Prompts for the AI features and their redaction (docs/design/ai.md §2). The builder
// describes a workspace from what the caller may read (item bodies as the read routes
// show them; secrets as key + environments only) and passes every string through
// Redact(): credentials leak_scan flags and EdgeVault key forms become placeholders.
//
// Thread-safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "src/services/api/ai_provider.h"
#include "src/workspace/change_set.h"

namespace edgevault::api {

// A copy of `v` with every string (and object member name) that holds a credential
// replaced: a string leak_scan flags (under its member name, or `name` at the top) by
// "[redacted:<kind>]", and each EdgeVault key form (evs_/evc_/evk_/evsn_/evo?_ followed by
// 20+ token characters) inside a string by "[redacted:edgevault_key]".
boost::json::value Redact(const boost::json::value& v, std::string_view name = "");
std::string RedactText(std::string_view text);

// The workspace as the model sees it: {"workspace", "environments": [{key, parent,
// protected}], "configs": [{key, type?, schema?, values}], "flags": [{key, variations,
// environments}], "segments": [{key, ...}], "secrets": [{key, environments: [names]}]},
// redacted. Secret bodies contribute only their key and environment names.
boost::json::object WorkspaceForPrompt(std::string_view workspace_key, const workspace::ChangeSetInput& in);

// The draft prompt: fixed instructions (the JSON shape of §3), the workspace inside
// <workspace>, the user's request (redacted) inside <request>.
AiPrompt DraftPrompt(std::string_view workspace_key, const workspace::ChangeSetInput& in, std::string_view request);

// The explanation prompt: the exact part of a risk review only.
AiPrompt RiskPrompt(std::string_view workspace_key, const boost::json::object& exact);

}  // namespace edgevault::api
