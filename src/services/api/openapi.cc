// The OpenAPI 3.1 description of edgevault-api, served at GET /v1/openapi.json.
// Keep in step with docs/api.md and src/services/api/api_service.cc; api_test checks that
// every route the service installs appears here.
#include <boost/json.hpp>
#include <tuple>

#include "src/services/api/api_service.h"

namespace edgevault::api {
namespace {

namespace json = boost::json;

json::object Ref(const char* name) { return {{"$ref", std::string("#/components/schemas/") + name}}; }

json::object Op(const char* summary, json::array params, std::optional<json::object> body,
                const char* ok_code, const char* ok_schema) {
  json::object op;
  op["summary"] = summary;
  op["parameters"] = std::move(params);
  if (body) {
    op["requestBody"] = {{"required", true},
                         {"content", {{"application/json", {{"schema", *body}}}}}};
  }
  json::object responses;
  responses[ok_code] = {{"description", "success"},
                        {"content", {{"application/json", {{"schema", Ref(ok_schema)}}}}}};
  for (const char* code : {"400", "401", "403", "404", "409", "412"}) {
    responses[code] = {{"description", "error"},
                       {"content", {{"application/json", {{"schema", Ref("Error")}}}}}};
  }
  op["responses"] = std::move(responses);
  return op;
}

json::object P(const char* name, const char* in = "path", const char* type = "string") {
  return {{"name", name}, {"in", in}, {"required", std::string(in) == "path"},
          {"schema", {{"type", type}}}};
}

json::object IfMatchParam() {
  return {{"name", "If-Match"}, {"in", "header"}, {"required", false},
          {"description", "\"<revision>\": apply only if the workspace is at this revision (else 412)"},
          {"schema", {{"type", "string"}}}};
}

json::object WithReason(json::object props, json::array required) {
  props["reason"] = {{"type", "string"}, {"minLength", 1}, {"maxLength", 1000}};
  required.emplace_back("reason");
  return {{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(required)}};
}

json::object Build() {
  json::object paths;
  json::object any_object{{"type", "object"}};
  paths["/v1/workspaces"] = {
      {"get", Op("List the org's workspaces (deleted ones too with ?include_deleted=true, admin)",
                 {P("include_deleted", "query")}, std::nullopt, "200", "Any")},
      {"post", Op("Create a workspace (admin)", {},
                  json::object{{"type", "object"},
                               {"properties", {{"key", {{"type", "string"}}}, {"name", {{"type", "string"}}}}},
                               {"required", json::array{"key"}}},
                  "201", "Any")}};
  paths["/v1/workspaces/{ws}"] = {
      {"get", Op("A workspace with its environments and head revision", {P("ws")}, std::nullopt, "200", "Any")},
      {"patch", Op("Rename a workspace: its display name; the key never changes (admin)", {P("ws")},
                   WithReason({{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 200}}}}, {"name"}), "200",
                   "Any")},
      {"delete", Op("Delete a workspace, restorable until purge_after (admin; confirm = its key); with "
                    "?purge=now, destroy an already deleted one (docs/api.md \"Deleting a workspace\")",
                    {P("ws"), P("purge", "query")},
                    WithReason({{"confirm", {{"type", "string"}}}}, {"confirm"}), "200", "Any")}};
  paths["/v1/workspaces/{ws}/restore"] = {
      {"post", Op("Restore a deleted workspace before its purge (admin)", {P("ws")}, WithReason({}, {}), "200",
                  "Any")}};
  paths["/v1/workspaces/{ws}/environments"] = {
      {"get", Op("List environments", {P("ws")}, std::nullopt, "200", "Any")},
      {"post", Op("Create an environment (admin)", {P("ws"), IfMatchParam()},
                  WithReason({{"key", {{"type", "string"}}}, {"name", {{"type", "string"}}},
                              {"parent", {{"type", json::array{"string", "null"}}}},
                              {"protected", {{"type", "boolean"}}}},
                             {"key"}),
                  "201", "WriteResult")}};
  for (const char* kind : {"configs", "flags", "segments", "secrets"}) {
    std::string base = std::string("/v1/workspaces/{ws}/") + kind;
    paths[base] = {{"get", Op("List items", {P("ws")}, std::nullopt, "200", "Any")}};
    paths[base + "/{key}"] = {
        {"get", Op("Get an item", {P("ws"), P("key")}, std::nullopt, "200", "Any")},
        {"put", Op("Create or replace an item (docs/design/items.md)", {P("ws"), P("key"), IfMatchParam()},
                   WithReason({}, {}), "200", "Any")},
        {"delete", Op("Delete an item (reason in the body or ?reason=)",
                      {P("ws"), P("key"), IfMatchParam(), P("reason", "query")}, std::nullopt, "200",
                      "WriteResult")}};
    if (std::string(kind) == "secrets") continue;
    json::object patch = Op("Change part of an item (docs/api.md): a JSON Patch (RFC 6902) or JSON Merge Patch "
                            "(RFC 7396) of its stored document, reason in ?reason=; validated, authorized and "
                            "written like a PUT. 409 patch_test_failed when a test op fails, 400 bad_patch "
                            "naming the op index; nothing is written on any error",
                            {P("ws"), P("key"), IfMatchParam(), P("reason", "query")}, std::nullopt, "200", "Any");
    patch["requestBody"] = {
        {"required", true},
        {"content", {{"application/json-patch+json",
                      {{"schema", {{"type", "array"},
                                   {"items", {{"type", "object"},
                                              {"properties", {{"op", {{"enum", json::array{"add", "remove", "replace",
                                                                                           "move", "copy", "test"}}}},
                                                              {"path", {{"type", "string"}}},
                                                              {"from", {{"type", "string"}}},
                                                              {"value", json::object{}}}},
                                              {"required", json::array{"op", "path"}}}}}}}},
                     {"application/merge-patch+json", {{"schema", {{"type", "object"}}}}}}}};
    paths[base + "/{key}"].as_object()["patch"] = std::move(patch);
  }
  paths["/v1/workspaces/{ws}/environments/{env}"] = {
      {"patch", Op("Rename an environment, change its parent (null: none; refused when it would make a "
                   "cycle) and/or protect or unprotect it (admin); the key cannot change. Answers "
                   "{revision, environment}; a change that changes nothing writes no revision",
                   {P("ws"), P("env"), IfMatchParam()},
                   [] {
                     json::object b = WithReason({{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 100}}},
                                                  {"parent", {{"type", json::array{"string", "null"}}}},
                                                  {"protected", {{"type", "boolean"}}}},
                                                 {});
                     b["additionalProperties"] = false;
                     return b;
                   }(),
                   "200", "Any")},
      {"delete", Op("Delete an environment and every value set in it (admin): 409 environment_protected, "
                    "environment_has_children (unless reparent_children_to: a key, or null for roots) or "
                    "environment_has_sdk_keys (unless revoke_sdk_keys). Answers {deleted, environment, "
                    "revision, revoked_sdk_keys}",
                    {P("ws"), P("env"), IfMatchParam()},
                    [] {
                      json::object b = WithReason({{"reparent_children_to", {{"type", json::array{"string", "null"}}}},
                                                   {"revoke_sdk_keys", {{"type", "boolean"}}}},
                                                  {});
                      b["additionalProperties"] = false;
                      return b;
                    }(),
                    "200", "Any")}};
  paths["/v1/workspaces/{ws}/environments/{env}/resolved"] = {
      {"get", Op("The resolved document delivery serves (docs/design/resolved-document.md)",
                 {P("ws"), P("env")}, std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/flags/{key}/evaluate"] = {
      {"post", Op("Evaluate a flag for an OFREP context ({targetingKey, ...attributes}) in every environment, "
                  "with delivery's evaluator on the document delivery serves: {flag, environments: "
                  "[{environment, version, value, variant?, reason, rule_index?, rule_id?, in_experiment?, "
                  "failed_prerequisite?, error?: {code, message}}]} (read permission)",
                  {P("ws"), P("key")},
                  json::object{{"type", "object"},
                               {"properties", {{"context", {{"type", "object"},
                                                            {"properties", {{"targetingKey", {{"type", "string"}}}}}}}}},
                               {"additionalProperties", false}},
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/flags/stale"] = {
      {"get", Op("Stale flags (docs/api.md): temporary flags serving one variation everywhere for `days` days, "
                 "not evaluated for `days` days, and flags past their remove_after date: {days, now, flags: "
                 "[{key, reason, evidence, owner?, lifecycle?, remove_after?}]}",
                 {P("ws"), P("days", "query", "integer")}, std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/flags/{key}/insights"] = {
      {"get", Op("Evaluations of a flag in one environment over time, as delivery counted them (docs/api.md "
                 "\"Flag insights\"): {flag, environment, from, to, step_seconds, resolution, buckets, total, "
                 "variants: [{variant, total, counts}], reasons: [{reason, total, counts}]} (read permission)",
                 {P("ws"), P("key"), P("env", "query"), P("from", "query"), P("to", "query"), P("step", "query")},
                 std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/environments/{env}/sdk-usage"] = {
      {"get", Op("The SDK requests delivery answered for one environment over time (docs/api.md \"SDK usage\"): "
                 "{environment, from, to, step_seconds, resolution, buckets, total, series: [{endpoint, key_kind, "
                 "total, counts}]} (read permission)",
                 {P("ws"), P("env"), P("from", "query"), P("to", "query"), P("step", "query")}, std::nullopt, "200",
                 "Any")}};
  paths["/v1/workspaces/{ws}/leak-scan"] = {
      {"get", Op("Every config and flag scanned for credentials (docs/secret-scanning.md): {findings: [{kind, "
                 "key, pointer, finding, description, revision}], scanned: {configs, flags}}, never a value",
                 {P("ws")}, std::nullopt, "200", "Any")}};
  // AI assistance (docs/design/ai.md).
  paths["/v1/workspaces/{ws}/ai/draft"] = {
      {"post", Op("A draft change request from plain language by the configured model, run as a change-request "
                  "dry run; writes nothing: {draft: {title, description, changes}, dry_run, provider, model, usage}. "
                  "409 ai_not_configured, 422 ai_output_invalid / ai_draft_invalid, 429 ai_budget_exhausted, "
                  "502/503 ai_provider_* (write permission)",
                  {P("ws")},
                  json::object{{"type", "object"},
                               {"properties", {{"prompt", {{"type", "string"}}}}},
                               {"required", {"prompt"}},
                               {"additionalProperties", false}},
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/ai/risk"] = {
      {"post", Op("Risk review of proposed changes (change-request entries): {exact: {environments, flags, configs, "
                  "schema_changes, secrets, deletes, sample}, explanation?} (write permission)",
                  {P("ws")},
                  json::object{{"type", "object"},
                               {"properties", {{"changes", {{"type", "array"}}}, {"explain", {{"type", "boolean"}}}}},
                               {"required", {"changes"}},
                               {"additionalProperties", false}},
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/change-requests/{id}/risk"] = {
      {"post", Op("Risk review of a change request: as POST .../ai/risk (read permission)", {P("ws"), P("id")},
                  json::object{{"type", "object"},
                               {"properties", {{"explain", {{"type", "boolean"}}}}},
                               {"additionalProperties", false}},
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/configs/{key}/move-to-secret"] = {
      {"post", Op("Move the string at a JSON pointer (/values/<env>[/...]) of a config into a secret's value "
                  "for that environment and remove it from the config (deleted when no value is left): "
                  "{secret, environment, pointer, config: updated|deleted, secret_revision, revision}",
                  {P("ws"), P("key")},
                  json::object{{"type", "object"},
                               {"properties", {{"pointer", {{"type", "string"}}},
                                               {"secret", {{"type", "string"}}},
                                               {"reason", {{"type", "string"}}}}},
                               {"required", {"pointer", "reason"}},
                               {"additionalProperties", false}},
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/environments/{env}/secrets"] = {
      {"get", Op("Every secret value visible in the environment (needs the secrets:read permission "
                 "where each value is set; values set where the caller may not read are listed under "
                 "'withheld'; each read is recorded)", {P("ws"), P("env")}, std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/environments/{env}/secrets/{key}"] = {
      {"get", Op("One secret value (needs the secrets:read permission where the value is set, 403 "
                 "otherwise; recorded)", {P("ws"), P("env"), P("key")},
                 std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/revisions"] = {
      {"get", Op("Revisions after a sequence number", {P("ws"), P("after", "query", "integer"),
                                                       P("limit", "query", "integer")},
                 std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/revisions/{n}/revert"] = {
      {"post", Op("Undo one revision as a new revision", {P("ws"), P("n", "path", "integer"), IfMatchParam()},
                  WithReason({}, {}), "200", "WriteResult")}};
  paths["/v1/workspaces/{ws}/rollback"] = {
      {"post", Op("Restore the workspace to its state after a revision", {P("ws"), IfMatchParam()},
                  WithReason({{"to_revision", {{"type", "integer"}, {"minimum", 0}}}}, {"to_revision"}),
                  "200", "WriteResult")}};
  paths["/v1/workspaces/{ws}/activity"] = {
      {"get", Op("Revisions plus non-write events", {P("ws"), P("after", "query", "integer"),
                                                     P("events_after", "query", "integer"),
                                                     P("limit", "query", "integer")},
                 std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/events"] = {
      {"get", Op("Server-Sent Events: one `revision` event per new revision (resumable with Last-Event-ID)",
                 {P("ws")}, std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/environments/{env}/sdk-keys"] = {
      {"post", Op("Mint an SDK key (read-only, this environment; kind server: evs_, or client: evc_ with "
                  "browser origins, client-visible items only); shown once", {P("ws"), P("env")},
                  any_object, "201", "Any")}};
  paths["/v1/workspaces/{ws}/environments/{env}/sdk-keys/{id}"] = {
      {"delete", Op("Revoke an SDK key: delivery refuses it from its next request on",
                    {P("ws"), P("env"), P("id")}, std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/sdk-keys"] = {
      {"get", Op("SDK keys of the workspace: id, prefix, name, environment, kind, origins, times; never the key",
                 {P("ws")}, std::nullopt, "200", "Any")}};
  paths["/v1/audit/events"] = {
      {"get", Op("The org's audit events from the warehouse, newest first (admin); next_cursor pages on",
                 {P("actor", "query"), P("action", "query"), P("workspace", "query"), P("since", "query"),
                  P("until", "query"), P("limit", "query", "integer"), P("cursor", "query")},
                 std::nullopt, "200", "AuditEvents")}};
  // Promotions and change requests (docs/design/promotions.md).
  paths["/v1/workspaces/{ws}/environments/{env}/policy"] = {
      {"put", Op("Set the environment's change-request policy (admin): required approvals, approver roles, "
                 "whether direct writes are refused (403 change_request_required), secret-leak scanning (leak_scan)",
                 {P("ws"), P("env"), IfMatchParam()},
                 WithReason({{"required_approvals", {{"type", "integer"}, {"minimum", 0}, {"maximum", 10}}},
                             {"approver_roles", {{"type", "array"}, {"items", {{"enum", json::array{"developer", "admin", "owner"}}}}}},
                             {"change_requests_required", {{"type", "boolean"}}},
                             {"leak_scan", {{"enum", json::array{"off", "warn", "block"}}}}},
                            {}),
                 "200", "WriteResult")}};
  json::object item_ref{{"type", "object"},
                        {"properties", {{"kind", {{"enum", json::array{"config", "flag", "secret"}}}},
                                        {"key", {{"type", "string"}}}}},
                        {"required", json::array{"key"}}};
  paths["/v1/workspaces/{ws}/promotions"] = {
      {"post", Op("Open a change request promoting what `from` serves into `to` (developer); validated like a "
                  "write; dry_run returns the diff and stores nothing (200), else the change request (201)",
                  {P("ws")},
                  json::object{{"type", "object"},
                               {"properties", {{"from", {{"type", "string"}}}, {"to", {{"type", "string"}}},
                                               {"items", {{"type", "array"}, {"items", item_ref}}},
                                               {"kinds", {{"type", "array"}, {"items", {{"enum", json::array{"config", "flag", "secret"}}}}}},
                                               {"title", {{"type", "string"}, {"maxLength", 200}}},
                                               {"description", {{"type", "string"}, {"maxLength", 4000}}},
                                               {"dry_run", {{"type", "boolean"}}}}},
                               {"required", json::array{"from", "to"}},
                               {"additionalProperties", false}},
                  "201", "ChangeRequest")}};
  json::object proposed_change{
      {"type", "object"},
      {"description", "One of: {kind: config, key, environment, value} (null removes the environment's own value); "
                      "{kind: flag, key, environment, configuration} (null removes it); {kind: secret, key, "
                      "environment, value} (a string, sealed at once and never shown again; null removes it); "
                      "{kind: config|flag|segment, key, body} (the whole item, created when missing); "
                      "{kind, key, delete: true}"},
      {"properties", {{"kind", {{"enum", json::array{"config", "flag", "segment", "secret"}}}},
                      {"key", {{"type", "string"}}},
                      {"environment", {{"type", "string"}}},
                      {"value", json::object{}},
                      {"configuration", {{"type", json::array{"object", "null"}}}},
                      {"body", {{"type", "object"}}},
                      {"delete", {{"const", true}}}}},
      {"required", json::array{"kind", "key"}},
      {"additionalProperties", false}};
  paths["/v1/workspaces/{ws}/change-requests"] = {
      {"get", Op("Change requests, newest first", {P("ws"), P("before", "query", "integer"), P("limit", "query", "integer")},
                 std::nullopt, "200", "Any")},
      {"post", Op("Open a change request proposing changes directly (developer): applied in order, validated like "
                  "writes; 409 nothing_to_change when nothing differs; dry_run returns the diff and stores nothing "
                  "(200), else the change request (201)",
                  {P("ws")},
                  json::object{{"type", "object"},
                               {"properties", {{"changes", {{"type", "array"}, {"minItems", 1}, {"maxItems", 100},
                                                            {"items", proposed_change}}},
                                               {"title", {{"type", "string"}, {"maxLength", 200}}},
                                               {"description", {{"type", "string"}, {"maxLength", 4000}}},
                                               {"dry_run", {{"type", "boolean"}}}}},
                               {"required", json::array{"changes"}},
                               {"additionalProperties", false}},
                  "201", "ChangeRequest")}};
  paths["/v1/workspaces/{ws}/export"] = {
      {"get", Op("The whole workspace as one file, format edgevault.workspace/1 (reader): environments with parent, "
                 "protection and policy, configs, flags and segments whole, secrets by name only (never a value); "
                 "of one revision (ETag). YAML by default; `edgevault import --from workspace` reads it back",
                 {P("ws"), P("format", "query", "string")}, std::nullopt, "200", "Any")}};
  paths["/v1/workspaces/{ws}/import"] = {
      {"post", Op("Read back an export (developer; each step needs its own right: environments and policies are "
                  "admin's): the environments the workspace lacks are created, parents first; every config, flag and "
                  "segment goes in with them as one batch (one commit, all or none); then the new environments' "
                  "policies (checked before anything is written). Secrets are named, never imported. dry_run checks "
                  "the whole batch and writes nothing",
                  {P("ws")},
                  WithReason({{"document", {{"type", "object"}}},
                              {"document_text", {{"type", "string"}}},
                              {"dry_run", {{"type", "boolean"}}}},
                             json::array{}),
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/batch"] = {
      {"post", Op("Apply several changes at once as one direct write (developer; admin for protected "
                  "environments; 403 change_request_required where a policy requires change requests): the "
                  "entries of a change request, validated in order, then all written in one commit or none; "
                  "environments (admin) are created first in the same commit; "
                  "dry_run lists what would change and writes nothing",
                  {P("ws"), IfMatchParam()},
                  WithReason({{"changes", {{"type", "array"}, {"minItems", 0}, {"maxItems", 2000},
                                           {"items", proposed_change}}},
                              {"environments",
                               {{"type", "array"},
                                {"maxItems", 100},
                                {"items", {{"type", "object"},
                                           {"required", json::array{"key"}},
                                           {"properties", {{"key", {{"type", "string"}}},
                                                           {"name", {{"type", "string"}}},
                                                           {"parent", {{"type", json::array{"string", "null"}}}},
                                                           {"protected", {{"type", "boolean"}}}}},
                                           {"additionalProperties", false}}}}},
                              {"dry_run", {{"type", "boolean"}}}},
                             {"changes"}),
                  "200", "Any")}};
  paths["/v1/workspaces/{ws}/change-requests/{id}"] = {
      {"get", Op("A change request with its diff, reviews and comments", {P("ws"), P("id", "path", "integer")},
                 std::nullopt, "200", "ChangeRequest")}};
  json::object comment_body{{"type", "object"}, {"properties", {{"comment", {{"type", "string"}}}}}, {"additionalProperties", false}};
  json::object empty_body{{"type", "object"}, {"additionalProperties", false}};
  for (auto [op, summary, body] : {
           std::tuple{"approve", "Approve (never the author's own; roles from the touched environments' policies; once per user per round)", comment_body},
           std::tuple{"reject", "Reject (final)", comment_body},
           std::tuple{"comments", "Add a comment",
                      json::object{{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}, {"required", json::array{"text"}}}},
           std::tuple{"close", "Close without applying (the author or an admin)", empty_body},
           std::tuple{"rebase", "Recompute the diff against the current workspace; approvals reset", empty_body},
           std::tuple{"revert", "Open a new change request (201) restoring every item an applied one changed", empty_body},
           std::tuple{"apply", "Apply in one commit: 409 change_request_conflict when an item changed since the base, "
                               "409 approvals_required, 400 change_request_invalid (marked failed, nothing written)", empty_body},
           std::tuple{"schedule", "Schedule an approved request for apply_at (RFC 3339, in the future, at most 366 days "
                                  "ahead; null unschedules): needs the right to apply it and its approvals now; the api "
                                  "applies it then as the caller, re-checking everything, or marks it failed",
                      json::object{{"type", "object"},
                                   {"properties", {{"apply_at", {{"type", json::array{"string", "null"}}, {"format", "date-time"}}}}},
                                   {"required", json::array{"apply_at"}},
                                   {"additionalProperties", false}}},
           std::tuple{"unschedule", "Return a scheduled request to approved (the right to apply it)", empty_body}}) {
    paths[std::string("/v1/workspaces/{ws}/change-requests/{id}/") + op] = {
        {"post", Op(summary, {P("ws"), P("id", "path", "integer")}, body, "200", "ChangeRequest")}};
  }
  paths["/v1/openapi.json"] = {{"get", Op("This document", {}, std::nullopt, "200", "Any")}};
  // Webhooks (docs/design/webhooks.md): admin only.
  json::object webhook_body{
      {"type", "object"},
      {"properties",
       {{"url", {{"type", "string"}, {"maxLength", 2048}, {"description", "http:// or https:// (certificate verified); no user-info, no fragment"}}},
        {"events", {{"description", "\"*\" or event types: revision.written, change_request.opened, "
                                    "change_request.approved, change_request.applied, change_request.failed, "
                                    "promotion.applied"}}},
        {"description", {{"type", "string"}, {"maxLength", 200}}},
        {"active", {{"type", "boolean"}}}}},
      {"additionalProperties", false}};
  json::object webhook_create = webhook_body;
  webhook_create["required"] = json::array{"url", "events"};
  paths["/v1/workspaces/{ws}/webhooks"] = {
      {"get", Op("The workspace's webhooks with their delivery state; never a secret (admin)", {P("ws")},
                 std::nullopt, "200", "Any")},
      {"post", Op("Register a webhook (admin); the answer holds its signing secret, shown only here",
                  {P("ws")}, webhook_create, "201", "Webhook")}};
  paths["/v1/workspaces/{ws}/webhooks/{id}"] = {
      {"get", Op("One webhook (admin)", {P("ws"), P("id")}, std::nullopt, "200", "Webhook")},
      {"patch", Op("Change url, events, description or active; naming active or url resumes a failing webhook (admin)",
                   {P("ws"), P("id")}, webhook_body, "200", "Webhook")},
      {"delete", Op("Delete a webhook: nothing more is sent to it (admin)", {P("ws"), P("id")}, std::nullopt,
                    "200", "Any")}};
  paths["/v1/workspaces/{ws}/webhooks/{id}/rotate-secret"] = {
      {"post", Op("A new signing secret, shown only here; the old one stops signing at once (admin)",
                  {P("ws"), P("id")}, std::nullopt, "200", "Webhook")}};
  // Org-wide webhooks: the events of every workspace of the caller's org (admin).
  paths["/v1/webhooks"] = {
      {"get", Op("The org's webhooks, each with its state in every workspace; never a secret (admin)", {},
                 std::nullopt, "200", "Any")},
      {"post", Op("Register an org webhook receiving the events of every workspace of the org, those created "
                  "later included (admin); the answer holds its signing secret, shown only here",
                  {}, webhook_create, "201", "OrgWebhook")}};
  paths["/v1/webhooks/{id}"] = {
      {"get", Op("One org webhook (admin)", {P("id")}, std::nullopt, "200", "OrgWebhook")},
      {"patch", Op("Change url, events, description or active in every workspace; naming active or url resumes "
                   "failing workspaces (admin)",
                   {P("id")}, webhook_body, "200", "OrgWebhook")},
      {"delete", Op("Delete an org webhook: nothing more is sent to it from any workspace (admin)", {P("id")},
                    std::nullopt, "200", "Any")}};
  paths["/v1/webhooks/{id}/rotate-secret"] = {
      {"post", Op("A new signing secret for every workspace, shown only here (admin)", {P("id")}, std::nullopt,
                  "200", "OrgWebhook")}};

  json::object schemas;
  schemas["Any"] = json::object{};
  schemas["Error"] = {{"type", "object"},
                      {"properties", {{"error", {{"type", "object"},
                                                 {"properties", {{"code", {{"type", "string"}}},
                                                                 {"message", {{"type", "string"}}}}},
                                                 {"required", json::array{"code", "message"}}}}}},
                      {"required", json::array{"error"}}};
  schemas["AuditEvents"] = {{"type", "object"},
                            {"properties", {{"events", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                                            {"next_cursor", {{"type", json::array{"string", "null"}}}}}},
                            {"required", json::array{"events", "next_cursor"}}};
  schemas["Webhook"] = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"url", {{"type", "string"}}},
        {"events", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"description", {{"type", "string"}}},
        {"active", {{"type", "boolean"}}},
        {"state", {{"type", "string"}, {"enum", json::array{"ok", "retrying", "failing", "paused"}}}},
        {"last_error", {{"type", json::array{"string", "null"}}}},
        {"secret", {{"type", "string"}, {"description", "only in the answers of create and rotate-secret"}}},
        {"created_at", {{"type", "string"}}},
        {"updated_at", {{"type", "string"}}}}},
      {"required", json::array{"id", "url", "events", "active", "state"}}};
  json::object org_webhook = schemas["Webhook"].as_object();
  org_webhook["properties"].as_object()["workspaces"] = {
      {"type", "array"},
      {"items",
       {{"type", "object"},
        {"properties", {{"workspace", {{"type", "string"}}},
                        {"state", {{"type", "string"}, {"enum", json::array{"ok", "retrying", "failing", "paused"}}}},
                        {"last_error", {{"type", json::array{"string", "null"}}}}}}}}};
  schemas["OrgWebhook"] = std::move(org_webhook);
  schemas["WriteResult"] = {{"type", "object"}, {"properties", {{"revision", {{"type", "integer"}}}}}};
  schemas["ChangeRequest"] = {
      {"type", "object"},
      {"properties", {{"id", {{"type", "integer"}}}, {"title", {{"type", "string"}}}, {"author", {{"type", "string"}}},
                      {"state", {{"enum", json::array{"open", "approved", "scheduled", "applied", "rejected", "closed", "failed"}}}},
                      {"base_revision", {{"type", "integer"}}}, {"round", {{"type", "integer"}}},
                      {"changes", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                      {"environments", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                      {"approvals", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                      {"required_approvals", {{"type", "integer"}}},
                      {"apply_at", {{"type", "string"}, {"format", "date-time"}, {"description", "when scheduled"}}},
                      {"scheduled_by", {{"type", "string"}, {"description", "the actor the scheduled apply acts as"}}}}}};

  json::object doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = {{"title", "EdgeVault api"}, {"version", "0.1.0"},
                 {"description", "The system of record and write path. Authenticate with a JWT from "
                                 "auth's POST /v1/token or an API key (Authorization: Bearer). Every "
                                 "write needs a reason; If-Match makes it conditional."}};
  doc["components"] = {{"schemas", std::move(schemas)},
                       {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}};
  doc["security"] = json::array{json::object{{"bearer", json::array{}}}};
  doc["paths"] = std::move(paths);
  return doc;
}

}  // namespace

const std::string& OpenApiDocument() {
  static const std::string* doc = new std::string(json::serialize(Build()));
  return *doc;
}

}  // namespace edgevault::api
