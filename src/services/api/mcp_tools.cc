#include "src/services/api/mcp_tools.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/net/router.h"

namespace edgevault::api {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- Schemas ------------------------------------------------------------------------

json::object Str(std::string_view description, int max_length = 128) {
  return {{"type", "string"}, {"minLength", 1}, {"maxLength", max_length}, {"description", description}};
}
json::object Int(std::string_view description, int64_t minimum, int64_t maximum) {
  return {{"type", "integer"}, {"minimum", minimum}, {"maximum", maximum}, {"description", description}};
}
json::object Bool(std::string_view description) { return {{"type", "boolean"}, {"description", description}}; }
json::object Obj(std::string_view description) { return {{"type", "object"}, {"description", description}}; }
json::object Arr(std::string_view description) { return {{"type", "array"}, {"description", description}}; }
json::object Kind(std::string_view description) {
  return {{"type", "string"}, {"enum", {"config", "flag", "segment", "secret"}}, {"description", description}};
}
json::object Workspace() { return Str("the workspace's key (or id)"); }

// An input schema: an object of `props`, `required` ones required, nothing else allowed.
json::object Input(json::object props, std::initializer_list<std::string_view> required) {
  json::array req;
  for (std::string_view r : required) req.emplace_back(r);
  return {{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(req)},
          {"additionalProperties", false}};
}
// An output schema: an object with these members (others may follow).
json::object Output(json::object props, std::initializer_list<std::string_view> required = {}) {
  json::object o{{"type", "object"}, {"properties", std::move(props)}};
  if (required.size() > 0) {
    json::array req;
    for (std::string_view r : required) req.emplace_back(r);
    o["required"] = std::move(req);
  }
  return o;
}

// ---- Calling routes -------------------------------------------------------------------

std::string Plural(std::string_view kind) { return std::string(kind) + "s"; }

std::string WsPath(const json::object& args) {
  const json::value* ws = args.if_contains("workspace");
  return "/v1/workspaces/" + PercentEncode(ws != nullptr && ws->is_string() ? std::string(ws->get_string()) : std::string());
}

std::string S(const json::object& args, std::string_view name) {
  const json::value* v = args.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}
std::optional<int64_t> I(const json::object& args, std::string_view name) {
  const json::value* v = args.if_contains(name);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->get_int64();
}

bool Ok(const RouteAnswer& a) { return a.status >= 200 && a.status < 300; }

std::string ErrorCodeOf(const RouteAnswer& a) {
  const json::object* o = a.body.if_object();
  const json::value* e = o == nullptr ? nullptr : o->if_contains("error");
  const json::value* code = e != nullptr && e->is_object() ? e->get_object().if_contains("code") : nullptr;
  return code != nullptr && code->is_string() ? std::string(code->get_string()) : "http_" + std::to_string(a.status);
}

ToolOutcome Failure(const RouteAnswer& a) {
  ToolOutcome out;
  out.is_error = true;
  out.status = a.status;
  out.error_code = ErrorCodeOf(a);
  const json::object* o = a.body.if_object();
  const json::value* e = o == nullptr ? nullptr : o->if_contains("error");
  out.structured["error"] = e != nullptr ? *e : json::value(json::object{{"code", out.error_code}, {"message", ""}});
  out.structured["status"] = a.status;
  return out;
}

ToolOutcome Success(json::object structured, int status = 200) {
  ToolOutcome out;
  out.structured = std::move(structured);
  out.status = status;
  return out;
}

// The route's answer as the tool's: its body on success (an object), else the error.
ToolOutcome Answer(const RouteAnswer& a) {
  if (!Ok(a)) return Failure(a);
  if (a.body.is_object()) return Success(a.body.get_object(), a.status);
  return Success(json::object{{"result", a.body}}, a.status);
}

ToolOutcome BadArguments(std::string message) {
  ToolOutcome out;
  out.is_error = true;
  out.status = 400;
  out.error_code = "invalid_arguments";
  out.structured = {{"error", {{"code", "invalid_arguments"}, {"message", std::move(message)}}}, {"status", 400}};
  return out;
}

const json::array* ArrayMember(const json::value& v, std::string_view name) {
  const json::object* o = v.if_object();
  const json::value* m = o == nullptr ? nullptr : o->if_contains(name);
  return m != nullptr ? m->if_array() : nullptr;
}

// Every item of `kinds` (each kind's list route, in order), or the first error.
ToolOutcome ListKinds(const json::object& args, const RouteCaller& call, json::array* items) {
  std::string kind = S(args, "kind");
  std::vector<std::string> kinds =
      kind.empty() ? std::vector<std::string>{"config", "flag", "segment", "secret"} : std::vector<std::string>{kind};
  for (const std::string& k : kinds) {
    RouteAnswer a = call(http::verb::get, WsPath(args) + "/" + Plural(k), nullptr, {});
    if (!Ok(a)) return Failure(a);
    if (const json::array* got = ArrayMember(a.body, "items")) {
      for (const json::value& item : *got) items->push_back(item);
    }
  }
  return Success({});
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- The tools -------------------------------------------------------------------------

std::vector<McpTool> BuildTools() {
  std::vector<McpTool> t;
  json::object items_out = Output({{"items", Arr("the items")}}, {"items"});

  t.push_back({.name = "list_workspaces",
               .title = "List workspaces",
               .description = "The workspaces of your organisation (key, name, id).",
               .input_schema = Input({}, {}),
               .output_schema = Output({{"workspaces", Arr("{id, key, name, created_at} per workspace")}}, {"workspaces"}),
               .run = [](const json::object&, const RouteCaller& call) {
                 return Answer(call(http::verb::get, "/v1/workspaces", nullptr, {}));
               }});

  t.push_back({.name = "list_environments",
               .title = "List environments",
               .description = "A workspace's environments: key, name, parent (inherited from), protected, "
                              "policy (change_requests_required, required_approvals).",
               .input_schema = Input({{"workspace", Workspace()}}, {"workspace"}),
               .output_schema = Output({{"environments", Arr("the environments")}}, {"environments"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get, WsPath(args) + "/environments", nullptr, {}));
               }});

  t.push_back({.name = "list_items",
               .title = "List items",
               .description = "Configs, flags, segments and secrets of a workspace (secrets: names and metadata "
                              "only), optionally of one kind, paged by offset.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"kind", Kind("only items of this kind")},
                                      {"limit", Int("items per page (default 100)", 1, 500)},
                                      {"offset", Int("items to skip (default 0)", 0, 1000000)}},
                                     {"workspace"}),
               .output_schema = Output({{"items", Arr("the items")},
                                        {"total", {{"type", "integer"}}},
                                        {"next_offset", {{"type", {"integer", "null"}}}}},
                                       {"items", "total", "next_offset"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::array all;
                 ToolOutcome listed = ListKinds(args, call, &all);
                 if (listed.is_error) return listed;
                 size_t offset = static_cast<size_t>(I(args, "offset").value_or(0));
                 size_t limit = static_cast<size_t>(I(args, "limit").value_or(100));
                 json::array page;
                 for (size_t i = offset; i < all.size() && page.size() < limit; ++i) page.push_back(all[i]);
                 size_t next = offset + page.size();
                 json::object o{{"items", std::move(page)}, {"total", all.size()}};
                 o["next_offset"] = next < all.size() ? json::value(next) : json::value(nullptr);
                 return Success(std::move(o));
               }});

  t.push_back({.name = "get_item",
               .title = "Get an item",
               .description = "One config, flag, segment or secret with its values or configuration per "
                              "environment (a secret: which environments have a value, never the value).",
               .input_schema = Input({{"workspace", Workspace()}, {"kind", Kind("the item's kind")},
                                      {"key", Str("the item's key")}},
                                     {"workspace", "kind", "key"}),
               .output_schema = Output({{"key", {{"type", "string"}}}, {"kind", {{"type", "string"}}},
                                        {"revision", {{"type", "integer"}}}},
                                       {"key", "kind"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get,
                                    WsPath(args) + "/" + Plural(S(args, "kind")) + "/" + PercentEncode(S(args, "key")),
                                    nullptr, {}));
               }});

  t.push_back({.name = "get_resolved_environment",
               .title = "Get a resolved environment",
               .description = "The document delivery serves for an environment: every config value and flag "
                              "configuration after inheritance (never secrets), with its version.",
               .input_schema = Input({{"workspace", Workspace()}, {"environment", Str("the environment's key")}},
                                     {"workspace", "environment"}),
               .output_schema = Output({{"version", {{"type", "integer"}}}}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get,
                                    WsPath(args) + "/environments/" + PercentEncode(S(args, "environment")) + "/resolved",
                                    nullptr, {}));
               }});

  t.push_back({.name = "export_workspace",
               .title = "Export a workspace",
               .description = "The whole workspace as one document (format edgevault.workspace/1) of one revision: "
                              "environments with parent, protection and policy; every config, flag and segment "
                              "whole; secrets by name only, never a value. `edgevault import --from workspace` "
                              "reads it back into another workspace.",
               .input_schema = Input({{"workspace", Workspace()}}, {"workspace"}),
               .output_schema = Output({{"format", {{"type", "string"}}},
                                        {"environments", Arr("the environments, parents first")},
                                        {"configs", {{"type", "object"}}},
                                        {"flags", {{"type", "object"}}},
                                        {"segments", {{"type", "object"}}},
                                        {"secrets", {{"type", "object"}}}},
                                       {"format"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get, WsPath(args) + "/export?format=json", nullptr, {}));
               }});

  t.push_back({.name = "search_items",
               .title = "Search items",
               .description = "Items whose key or description contains the query (case-insensitive); at most 100.",
               .input_schema = Input({{"workspace", Workspace()}, {"query", Str("text to look for", 200)},
                                      {"kind", Kind("only items of this kind")}},
                                     {"workspace", "query"}),
               .output_schema = Output({{"items", Arr("{kind, key, description?} per match")},
                                        {"truncated", {{"type", "boolean"}}}},
                                       {"items", "truncated"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::array all;
                 ToolOutcome listed = ListKinds(args, call, &all);
                 if (listed.is_error) return listed;
                 std::string query = Lower(S(args, "query"));
                 json::array found;
                 bool truncated = false;
                 for (const json::value& v : all) {
                   const json::object* item = v.if_object();
                   if (item == nullptr) continue;
                   auto text = [&](std::string_view m) {
                     const json::value* x = item->if_contains(m);
                     return x != nullptr && x->is_string() ? std::string(x->get_string()) : std::string();
                   };
                   std::string key = text("key"), description = text("description");
                   if (Lower(key).find(query) == std::string::npos && Lower(description).find(query) == std::string::npos) {
                     continue;
                   }
                   if (found.size() == 100) {
                     truncated = true;
                     break;
                   }
                   json::object hit{{"kind", text("kind")}, {"key", key}};
                   if (!description.empty()) hit["description"] = description;
                   found.push_back(std::move(hit));
                 }
                 return Success({{"items", std::move(found)}, {"truncated", truncated}});
               }});

  t.push_back({.name = "explain_flag",
               .title = "Explain a flag",
               .description = "Evaluates a flag for one context in every environment, as delivery would: the "
                              "value, variant, reason and matched rule per environment. The context is OFREP's: "
                              "{\"targetingKey\": \"user-1\", \"plan\": \"pro\", ...}.",
               .input_schema = Input({{"workspace", Workspace()}, {"flag", Str("the flag's key")},
                                      {"context", Obj("the evaluation context (default: empty)")}},
                                     {"workspace", "flag"}),
               .output_schema = Output({{"flag", {{"type", "string"}}},
                                        {"environments", Arr("{environment, value, variant?, reason, rule_index?, "
                                                             "rule_id?, error?} per environment")}},
                                       {"flag", "environments"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::object body;
                 if (const json::value* c = args.if_contains("context")) body["context"] = *c;
                 json::value b = body;
                 return Answer(call(http::verb::post, WsPath(args) + "/flags/" + PercentEncode(S(args, "flag")) + "/evaluate",
                                    &b, {}));
               }});

  t.push_back({.name = "flag_insights",
               .title = "Flag insights",
               .description = "How often a flag was evaluated in one environment over time, per variant and per "
                              "reason, as the delivery nodes counted it (docs/api.md \"Flag insights\"). Times are "
                              "RFC 3339; step is 1m..59m (last 2 days) or whole hours such as 1h or 24h.",
               .input_schema = Input({{"workspace", Workspace()}, {"flag", Str("the flag's key")},
                                      {"environment", Str("the environment's key")},
                                      {"from", Str("start, RFC 3339 (default: 24 h before 'to')")},
                                      {"to", Str("end, RFC 3339 (default: now)")},
                                      {"step", Str("bucket size such as 5m, 1h or 24h")}},
                                     {"workspace", "flag", "environment"}),
               .output_schema = Output({{"buckets", Arr("the start of each bucket")},
                                        {"total", {{"type", "integer"}}},
                                        {"variants", Arr("{variant, total, counts[]} per variant")},
                                        {"reasons", Arr("{reason, total, counts[]} per reason")}},
                                       {"buckets", "total", "variants", "reasons"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 std::string target = WsPath(args) + "/flags/" + PercentEncode(S(args, "flag")) +
                                      "/insights?env=" + PercentEncode(S(args, "environment"));
                 for (const char* q : {"from", "to", "step"}) {
                   if (std::string v = S(args, q); !v.empty()) target += std::string("&") + q + "=" + PercentEncode(v);
                 }
                 return Answer(call(http::verb::get, target, nullptr, {}));
               }});

  t.push_back({.name = "get_history",
               .title = "Get history",
               .description = "Revisions of a workspace after a revision number, oldest first (who, when, why, "
                              "before and after; secrets as metadata), optionally only those of one item.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"after", Int("revisions after this number (default 0)", 0, INT64_MAX)},
                                      {"limit", Int("revisions to read (default 100)", 1, 1000)},
                                      {"kind", Kind("only revisions of items of this kind")},
                                      {"key", Str("only revisions of the item with this key")}},
                                     {"workspace"}),
               .output_schema = Output({{"revisions", Arr("the revisions")}, {"head", {{"type", "integer"}}},
                                        {"next_after", {{"type", {"integer", "null"}}}}},
                                       {"revisions", "head"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 std::string target = WsPath(args) + "/revisions?after=" + std::to_string(I(args, "after").value_or(0)) +
                                      "&limit=" + std::to_string(I(args, "limit").value_or(100));
                 RouteAnswer a = call(http::verb::get, target, nullptr, {});
                 if (!Ok(a) || !a.body.is_object()) return Answer(a);
                 std::string kind = S(args, "kind"), key = S(args, "key");
                 json::object o = a.body.get_object();
                 if (const json::array* revs = ArrayMember(a.body, "revisions"); revs != nullptr && (!kind.empty() || !key.empty())) {
                   json::array kept;
                   for (const json::value& r : *revs) {
                     const json::object* ro = r.if_object();
                     if (ro == nullptr) continue;
                     const json::value* rk = ro->if_contains("kind");
                     const json::value* rkey = ro->if_contains("key");
                     if (!kind.empty() && (rk == nullptr || !rk->is_string() || rk->get_string() != kind)) continue;
                     if (!key.empty() && (rkey == nullptr || !rkey->is_string() || rkey->get_string() != key)) continue;
                     kept.push_back(r);
                   }
                   o["revisions"] = std::move(kept);
                 }
                 return Success(std::move(o));
               }});

  t.push_back({.name = "diff_revisions",
               .title = "Diff two revisions",
               .description = "What changed between workspace revision `from` and revision `to`: per item and "
                              "environment, the state before the first and after the last revision in between.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"from", Int("the older revision (0 = the empty workspace)", 0, INT64_MAX)},
                                      {"to", Int("the newer revision", 0, INT64_MAX)}},
                                     {"workspace", "from", "to"}),
               .output_schema = Output({{"from", {{"type", "integer"}}}, {"to", {{"type", "integer"}}},
                                        {"changes", Arr("{kind, key, environment, before, after, revisions} per change")}},
                                       {"from", "to", "changes"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 int64_t from = I(args, "from").value_or(0), to = I(args, "to").value_or(0);
                 if (to < from) return BadArguments("'to' must not be smaller than 'from'");
                 constexpr int64_t kMaxRevisions = 5000;
                 if (to - from > kMaxRevisions) {
                   return BadArguments("at most " + std::to_string(kMaxRevisions) +
                                       " revisions can be compared at once; narrow 'from'..'to'");
                 }
                 using Key = std::tuple<std::string, std::string, std::string>;
                 std::map<Key, json::object> changes;
                 std::vector<Key> order;
                 int64_t after = from;
                 while (after < to) {
                   int64_t limit = std::min<int64_t>(1000, to - after);
                   RouteAnswer a = call(http::verb::get,
                                        WsPath(args) + "/revisions?after=" + std::to_string(after) + "&limit=" + std::to_string(limit),
                                        nullptr, {});
                   if (!Ok(a)) return Failure(a);
                   const json::array* revs = ArrayMember(a.body, "revisions");
                   if (revs == nullptr || revs->empty()) break;
                   int64_t last = after;
                   for (const json::value& r : *revs) {
                     const json::object* ro = r.if_object();
                     const json::value* seq = ro == nullptr ? nullptr : ro->if_contains("seq");
                     if (seq == nullptr || !seq->is_int64()) continue;
                     last = seq->get_int64();
                     if (last > to) break;
                     auto text = [&](std::string_view m) {
                       const json::value* x = ro->if_contains(m);
                       return x != nullptr && x->is_string() ? std::string(x->get_string()) : std::string();
                     };
                     Key k{text("kind"), text("key"), text("environment")};
                     auto [it, fresh] = changes.try_emplace(k);
                     if (fresh) {
                       order.push_back(k);
                       it->second = {{"kind", std::get<0>(k)}, {"key", std::get<1>(k)}, {"environment", std::get<2>(k)},
                                     {"revisions", json::array()}};
                       const json::value* before = ro->if_contains("before");
                       it->second["before"] = before != nullptr ? *before : json::value(nullptr);
                     }
                     const json::value* after_v = ro->if_contains("after");
                     it->second["after"] = after_v != nullptr ? *after_v : json::value(nullptr);
                     it->second["revisions"].as_array().push_back(seq->get_int64());
                   }
                   if (last <= after) break;
                   after = last;
                 }
                 json::array out;
                 for (const Key& k : order) out.push_back(std::move(changes[k]));
                 return Success({{"from", from}, {"to", to}, {"changes", std::move(out)}});
               }});

  t.push_back({.name = "list_change_requests",
               .title = "List change requests",
               .description = "Change requests and promotions of a workspace, newest first, with their state.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"before", Int("only requests with a smaller id", 1, INT64_MAX)},
                                      {"limit", Int("requests to list (default 100)", 1, 1000)}},
                                     {"workspace"}),
               .output_schema = Output({{"change_requests", Arr("the change requests")}}, {"change_requests"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 std::string target = WsPath(args) + "/change-requests?limit=" + std::to_string(I(args, "limit").value_or(100));
                 if (std::optional<int64_t> before = I(args, "before")) target += "&before=" + std::to_string(*before);
                 return Answer(call(http::verb::get, target, nullptr, {}));
               }});

  t.push_back({.name = "get_change_request",
               .title = "Get a change request",
               .description = "One change request with its exact changes, reviews, comments and approvals.",
               .input_schema = Input({{"workspace", Workspace()}, {"id", Int("the change request's number", 1, INT64_MAX)}},
                                     {"workspace", "id"}),
               .output_schema = Output({{"id", {{"type", "integer"}}}, {"state", {{"type", "string"}}}}, {"id"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get, WsPath(args) + "/change-requests/" + std::to_string(I(args, "id").value_or(0)),
                                    nullptr, {}));
               }});

  t.push_back({.name = "read_secret_value",
               .title = "Read a secret value",
               .description = "The value of a secret in an environment. Every read is recorded.",
               .input_schema = Input({{"workspace", Workspace()}, {"environment", Str("the environment's key")},
                                      {"key", Str("the secret's key")}},
                                     {"workspace", "environment", "key"}),
               .output_schema = Output({{"environment", {{"type", "string"}}}, {"key", {{"type", "string"}}},
                                        {"value", {{"type", "string"}}}},
                                       {"environment", "key", "value"}),
               .secret_values = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get,
                                    WsPath(args) + "/environments/" + PercentEncode(S(args, "environment")) + "/secrets/" +
                                        PercentEncode(S(args, "key")),
                                    nullptr, {}));
               }});

  t.push_back({.name = "propose_change",
               .title = "Propose a change",
               .description =
                   "Dry run (default): validates the changes and answers the exact diff (before/after per item and "
                   "environment), the environments touched and the approvals they need, writing nothing. With "
                   "dry_run false it opens a change request for human review (needs a title). Changes, applied in "
                   "order: {kind: config, key, environment, value} (null removes the value), {kind: flag, key, "
                   "environment, configuration}, {kind: secret, key, environment, value}, {kind, key, body} (the "
                   "whole item), {kind, key, delete: true}.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"changes", Arr("1 to 100 changes")},
                                      {"dry_run", Bool("true (default): only compute the diff")},
                                      {"title", Str("the change request's title (needed when dry_run is false)", 200)},
                                      {"description", Str("why, for the reviewers", 4000)}},
                                     {"workspace", "changes"}),
               .output_schema = Output({{"changes", Arr("the planned changes, each with before and after")},
                                        {"environments", Arr("the environments the changes touch")}},
                                       {"changes"}),
               .read_only = false,
               .write = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::object body;
                 for (const char* m : {"changes", "title", "description"}) {
                   if (const json::value* v = args.if_contains(m)) body[m] = *v;
                 }
                 const json::value* dry = args.if_contains("dry_run");
                 body["dry_run"] = dry != nullptr && dry->is_bool() ? dry->get_bool() : true;
                 json::value b = body;
                 return Answer(call(http::verb::post, WsPath(args) + "/change-requests", &b, {}));
               }});

  // AI assistance (docs/design/ai.md): the api's model drafts; nothing is written.
  t.push_back({.name = "ai_draft",
               .title = "Draft a change with the api's model",
               .description =
                   "Turns plain language (\"roll out new-checkout to 10% of NO users in staging\") into a change "
                   "request body using the model the api is configured with, validated as a dry run: answers the "
                   "draft ({title, description, changes}, ready for propose_change with dry_run false) and the dry "
                   "run's exact diff. Writes nothing. 409 ai_not_configured when the api has no model.",
               .input_schema = Input({{"workspace", Workspace()}, {"prompt", Str("what to change, in plain language", 4000)}},
                                     {"workspace", "prompt"}),
               .output_schema = Output({{"draft", Obj("the change-request body to submit")},
                                        {"dry_run", Obj("the change-request dry run of the draft")}},
                                       {"draft", "dry_run"}),
               .write = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::value b = json::object{{"prompt", args.at("prompt")}};
                 return Answer(call(http::verb::post, WsPath(args) + "/ai/draft", &b, {}));
               }});

  t.push_back({.name = "ai_risk_review",
               .title = "Risk review of a change",
               .description =
                   "The exact risk of a change request (id) or of proposed changes (changes, as propose_change takes "
                   "them), computed without a model: environments touched and whether they are protected, the share "
                   "of a fixed sample of 10000 contexts whose flag variation changes, schema changes, secrets touched. "
                   "explain: true adds an explanation written by the api's model from those facts only.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"id", Int("a change request's number", 1, INT64_MAX)},
                                      {"changes", Arr("1 to 100 changes, instead of id")},
                                      {"explain", Bool("add the model's explanation")}},
                                     {"workspace"}),
               .output_schema = Output({{"exact", Obj("the computed risk")},
                                        {"explanation", Obj("{summary, concerns} by the model, with explain")}},
                                       {"exact"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::object body;
                 if (const json::value* e = args.if_contains("explain")) body["explain"] = *e;
                 std::optional<int64_t> id = I(args, "id");
                 if (id.has_value() == args.contains("changes")) return BadArguments("give exactly one of id and changes");
                 if (!id) body["changes"] = args.at("changes");
                 json::value b = std::move(body);
                 std::string target = id ? WsPath(args) + "/change-requests/" + std::to_string(*id) + "/risk"
                                         : WsPath(args) + "/ai/risk";
                 return Answer(call(http::verb::post, target, &b, {}));
               }});

  t.push_back({.name = "apply_change",
               .title = "Apply a change",
               .description =
                   "Writes one item: `body` is the whole item as the api's PUT takes it (config {type, values: {env: "
                   "value}, ...}, flag {variations, environments: {...}}, segment {...}, secret {values: {env: "
                   "\"value\" | null}}), or delete: true. Needs a reason. Where an environment's policy requires "
                   "change requests, a change request is opened instead (outcome change_request_opened) and waits "
                   "for human approval. Check it first with propose_change.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"kind", Kind("the item's kind")},
                                      {"key", Str("the item's key")},
                                      {"body", Obj("the whole item as the PUT route takes it")},
                                      {"delete", Bool("true: delete the item")},
                                      {"reason", Str("why (recorded with the revision)", 1000)},
                                      {"if_match", Int("apply only if the workspace is at this revision", 0, INT64_MAX)}},
                                     {"workspace", "kind", "key", "reason"}),
               .output_schema = Output({{"outcome", {{"type", "string"}, {"enum", {"applied", "change_request_opened"}}}},
                                        {"item", Obj("the item as it is now")},
                                        {"revision", {{"type", "integer"}}},
                                        {"change_request", Obj("the change request opened")},
                                        {"why", {{"type", "string"}}}},
                                       {"outcome"}),
               .read_only = false,
               .destructive = true,
               .write = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 const json::value* body_v = args.if_contains("body");
                 const json::value* del = args.if_contains("delete");
                 bool deleting = del != nullptr && del->is_bool() && del->get_bool();
                 if ((body_v != nullptr) == deleting) {
                   return BadArguments("give either 'body' (the item to write) or 'delete': true");
                 }
                 std::string kind = S(args, "kind"), key = S(args, "key"), reason = S(args, "reason");
                 Headers headers;
                 if (std::optional<int64_t> m = I(args, "if_match")) headers.emplace_back("If-Match", "\"" + std::to_string(*m) + "\"");
                 std::string target = WsPath(args) + "/" + Plural(kind) + "/" + PercentEncode(key);
                 json::value write;
                 if (deleting) {
                   write = json::object{{"reason", reason}};
                 } else {
                   json::object b = body_v->get_object();
                   b["reason"] = reason;
                   write = std::move(b);
                 }
                 RouteAnswer a = call(deleting ? http::verb::delete_ : http::verb::put, target, &write, headers);
                 if (Ok(a)) {
                   json::object o{{"outcome", "applied"}};
                   if (const json::object* got = a.body.if_object()) {
                     if (deleting) {
                       if (const json::value* r = got->if_contains("revision")) o["revision"] = *r;
                     } else {
                       o["item"] = *got;
                       if (const json::value* r = got->if_contains("workspace_revision")) o["revision"] = *r;
                     }
                   }
                   return Success(std::move(o), a.status);
                 }
                 if (a.status != 403 || ErrorCodeOf(a) != "change_request_required") return Failure(a);
                 // The environment takes changes only through change requests: propose the same change.
                 json::array changes;
                 if (deleting) {
                   changes.push_back({{"kind", kind}, {"key", key}, {"delete", true}});
                 } else if (kind == "secret") {
                   const json::value* values = body_v->get_object().if_contains("values");
                   if (values == nullptr || !values->is_object()) {
                     return BadArguments("body.values: a secret's body is {\"values\": {\"<environment>\": \"value\"}}");
                   }
                   for (const auto& kv : values->get_object()) {
                     changes.push_back({{"kind", kind}, {"key", key}, {"environment", kv.key()}, {"value", kv.value()}});
                   }
                 } else {
                   changes.push_back({{"kind", kind}, {"key", key}, {"body", body_v->get_object()}});
                 }
                 std::string why;
                 if (const json::value* e = a.body.is_object() ? a.body.get_object().if_contains("error") : nullptr;
                     e != nullptr && e->is_object()) {
                   if (const json::value* m = e->get_object().if_contains("message"); m != nullptr && m->is_string()) {
                     why = std::string(m->get_string());
                   }
                 }
                 std::string title = reason.substr(0, 200);
                 json::value proposal = json::object{
                     {"title", title},
                     {"description", "Opened by an MCP agent (apply_change): the change touches an environment that "
                                     "accepts changes only through change requests. Reason: " + reason.substr(0, 3000)},
                     {"changes", std::move(changes)}};
                 RouteAnswer opened = call(http::verb::post, WsPath(args) + "/change-requests", &proposal, {});
                 if (!Ok(opened)) return Failure(opened);
                 json::object o{{"outcome", "change_request_opened"}, {"why", why}};
                 o["change_request"] = opened.body.is_object() ? opened.body : json::value(json::object());
                 return Success(std::move(o), opened.status);
               }});

  t.push_back({.name = "create_promotion",
               .title = "Promote between environments",
               .description = "A change request that makes environment `to` serve what `from` serves (configs, "
                              "flag configurations, secrets by reference), optionally for some items or kinds. "
                              "dry_run true answers the diff only. The request waits for human approval.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"from", Str("the source environment")},
                                      {"to", Str("the target environment")},
                                      {"items", Arr("[{kind?, key}] to promote (default: everything that differs)")},
                                      {"kinds", Arr("kinds to promote: config, flag, secret")},
                                      {"title", Str("the change request's title (needed unless dry_run)", 200)},
                                      {"description", Str("why, for the reviewers", 4000)},
                                      {"dry_run", Bool("true: only compute the diff")}},
                                     {"workspace", "from", "to"}),
               .output_schema = Output({{"changes", Arr("the planned changes")}}),
               .read_only = false,
               .write = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::object body;
                 for (const char* m : {"from", "to", "items", "kinds", "title", "description", "dry_run"}) {
                   if (const json::value* v = args.if_contains(m)) body[m] = *v;
                 }
                 json::value b = body;
                 return Answer(call(http::verb::post, WsPath(args) + "/promotions", &b, {}));
               }});

  t.push_back({.name = "import_workspace",
               .title = "Import a workspace file",
               .description = "Reads an export (export_workspace's document, format edgevault.workspace/1) back "
                              "into a workspace: the environments it lacks and every config, flag and segment are "
                              "written as one batch (one commit, all or none, updating items that differ), then the "
                              "new environments' policies. Secrets are only named. Each step needs its own right "
                              "(environments and policies: admin). dry_run true checks it all without writing.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"document", Obj("the export document")},
                                      {"reason", Str("why (recorded with every step)", 1000)},
                                      {"dry_run", Bool("true: check only, write nothing")}},
                                     {"workspace", "document", "reason"}),
               .output_schema = Output({{"dry_run", {{"type", "boolean"}}},
                                        {"items", {{"type", "integer"}}},
                                        {"environments_created", Arr("environments created")},
                                        {"secrets_not_imported", Arr("secrets named only")},
                                        {"batch", Obj("the batch's answer, or null")}},
                                       {"dry_run"}),
               .read_only = false,
               .destructive = true,
               .write = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::object body;
                 for (const char* m : {"document", "reason", "dry_run"}) {
                   if (const json::value* v = args.if_contains(m)) body[m] = *v;
                 }
                 json::value b = body;
                 return Answer(call(http::verb::post, WsPath(args) + "/import", &b, {}));
               }});

  // Secret-leak detection (docs/secret-scanning.md).
  t.push_back({.name = "leak_scan",
               .title = "Scan for credentials",
               .description = "Every config and flag of a workspace scanned for credentials pasted where a secret "
                              "belongs (cloud keys, tokens, private keys, URLs with passwords, high-entropy values "
                              "under secret-like names): item, JSON pointer and kind per finding, never the value. "
                              "Fix a config's finding with config_move_to_secret.",
               .input_schema = Input({{"workspace", Workspace()}}, {"workspace"}),
               .output_schema = Output({{"findings", Arr("{kind, key, pointer, finding, description, revision}")},
                                        {"scanned", Obj("{configs, flags}: how many were scanned")}},
                                       {"findings"}),
               .run = [](const json::object& args, const RouteCaller& call) {
                 return Answer(call(http::verb::get, WsPath(args) + "/leak-scan", nullptr, {}));
               }});
  t.push_back({.name = "config_move_to_secret",
               .title = "Move a config value into a secret",
               .description = "Moves the string at `pointer` (/values/<env> or a pointer inside that value, as "
                              "leak_scan reports it) out of a config into a secret's value for that environment "
                              "(default name: the config key plus the path), removing it from the config.",
               .input_schema = Input({{"workspace", Workspace()},
                                      {"key", Str("the config's key")},
                                      {"pointer", Str("JSON pointer of the value, e.g. /values/prod/password", 2048)},
                                      {"secret", Str("the secret's key (default: derived from the config key and pointer)")},
                                      {"reason", Str("why (recorded with the revisions)", 1000)}},
                                     {"workspace", "key", "pointer", "reason"}),
               .output_schema = Output({{"secret", {{"type", "string"}}},
                                        {"environment", {{"type", "string"}}},
                                        {"config", {{"type", "string"}}},
                                        {"revision", {{"type", "integer"}}}},
                                       {"secret", "config"}),
               .read_only = false,
               .destructive = true,
               .write = true,
               .run = [](const json::object& args, const RouteCaller& call) {
                 json::object body;
                 for (const char* m : {"pointer", "secret", "reason"}) {
                   if (const json::value* v = args.if_contains(m)) body[m] = *v;
                 }
                 json::value b = body;
                 return Answer(call(http::verb::post,
                                    WsPath(args) + "/configs/" + PercentEncode(S(args, "key")) + "/move-to-secret", &b,
                                    {}));
               }});
  return t;
}

bool TypeMatches(const json::value& v, std::string_view type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_int64() || v.is_uint64();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_bool();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  return false;
}

}  // namespace

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  // "." and ".." are path steps, not names: encode them so no route is reached by them.
  if (out == "." || out == "..") {
    std::string dots;
    for (size_t i = 0; i < out.size(); ++i) dots += "%2E";
    return dots;
  }
  return out;
}

absl::Status ValidateArguments(const json::object& schema, const json::value& args) {
  const json::object* a = args.if_object();
  if (a == nullptr) return absl::InvalidArgumentError("arguments must be a JSON object");
  const json::value* props_v = schema.if_contains("properties");
  const json::object* props = props_v != nullptr ? props_v->if_object() : nullptr;
  if (const json::value* req = schema.if_contains("required"); req != nullptr && req->is_array()) {
    for (const json::value& r : req->get_array()) {
      if (r.is_string() && !a->contains(r.get_string())) {
        return absl::InvalidArgumentError(base::ToAbsl("argument '" + std::string(r.get_string()) + "' is required"));
      }
    }
  }
  for (const auto& kv : *a) {
    std::string name(kv.key().substr(0, 64));
    const json::value* spec_v = props != nullptr ? props->if_contains(kv.key()) : nullptr;
    const json::object* spec = spec_v != nullptr ? spec_v->if_object() : nullptr;
    if (spec == nullptr) {
      std::string known;
      if (props != nullptr) {
        for (const auto& p : *props) known += (known.empty() ? "" : ", ") + std::string(p.key());
      }
      return absl::InvalidArgumentError(base::ToAbsl("unknown argument '" + name + "'" +
                                                     (known.empty() ? "" : "; this tool takes " + known)));
    }
    const json::value& v = kv.value();
    if (const json::value* type = spec->if_contains("type"); type != nullptr && type->is_string()) {
      if (!TypeMatches(v, type->get_string())) {
        return absl::InvalidArgumentError(
            base::ToAbsl("argument '" + name + "' must be of type " + std::string(type->get_string())));
      }
    }
    if (const json::value* e = spec->if_contains("enum"); e != nullptr && e->is_array()) {
      bool found = false;
      std::string allowed;
      for (const json::value& x : e->get_array()) {
        found = found || x == v;
        if (x.is_string()) allowed += (allowed.empty() ? "" : ", ") + std::string(x.get_string());
      }
      if (!found) return absl::InvalidArgumentError(base::ToAbsl("argument '" + name + "' must be one of " + allowed));
    }
    if (v.is_string()) {
      size_t n = v.get_string().size();
      const json::value* min = spec->if_contains("minLength");
      const json::value* max = spec->if_contains("maxLength");
      if ((min != nullptr && min->is_int64() && static_cast<int64_t>(n) < min->get_int64()) ||
          (max != nullptr && max->is_int64() && static_cast<int64_t>(n) > max->get_int64())) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "argument '" + name + "' must be 1 to " +
            (max != nullptr && max->is_int64() ? std::to_string(max->get_int64()) : std::string("any")) + " bytes"));
      }
    }
    if (v.is_int64() || v.is_uint64()) {
      const json::value* min = spec->if_contains("minimum");
      const json::value* max = spec->if_contains("maximum");
      bool low = min != nullptr && min->is_int64() && (v.is_int64() ? v.get_int64() < min->get_int64() : false);
      bool high = max != nullptr && max->is_int64() &&
                  (v.is_uint64() || (v.is_int64() && v.get_int64() > max->get_int64()));
      if (low || high) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "argument '" + name + "' must be between " +
            (min != nullptr && min->is_int64() ? std::to_string(min->get_int64()) : std::string("-inf")) + " and " +
            (max != nullptr && max->is_int64() ? std::to_string(max->get_int64()) : std::string("+inf"))));
      }
    }
  }
  return absl::OkStatus();
}

json::object McpTool::ToJson() const {
  json::object o{{"name", name}, {"title", title}, {"description", description}, {"inputSchema", input_schema},
                 {"outputSchema", output_schema}};
  o["annotations"] = {{"title", title}, {"readOnlyHint", read_only}, {"destructiveHint", destructive},
                      {"idempotentHint", read_only}, {"openWorldHint", false}};
  return o;
}

McpTools::McpTools(McpToolsOptions options) : options_(options), tools_(BuildTools()) {}

std::vector<const McpTool*> McpTools::Listed(bool may_write, bool may_read_secret_values) const {
  std::vector<const McpTool*> out;
  for (const McpTool& t : tools_) {
    if (t.write && (options_.read_only || !may_write)) continue;
    if (t.secret_values && (!options_.allow_secret_values || !may_read_secret_values)) continue;
    out.push_back(&t);
  }
  return out;
}

const McpTool* McpTools::Find(std::string_view name, bool may_write, bool may_read_secret_values) const {
  for (const McpTool* t : Listed(may_write, may_read_secret_values)) {
    if (t->name == name) return t;
  }
  return nullptr;
}

ToolOutcome McpTools::Call(const McpTool& tool, const json::value& args, const RouteCaller& call) {
  if (absl::Status st = ValidateArguments(tool.input_schema, args); !st.ok()) {
    return BadArguments(std::string(st.message()));
  }
  const json::object& a = args.get_object();
  ToolOutcome out = tool.run(a, call);
  out.workspace = S(a, "workspace");
  return out;
}

namespace {
constexpr std::string_view kScheme = "edgevault://";
constexpr size_t kMaxResources = 500;
}  // namespace

RouteAnswer McpTools::ListResources(const RouteCaller& call, json::array* resources,
                                    std::vector<std::string>* workspace_ids) {
  RouteAnswer ws = call(http::verb::get, "/v1/workspaces", nullptr, {});
  if (!Ok(ws)) return ws;
  const json::array* all = ArrayMember(ws.body, "workspaces");
  if (all == nullptr) return ws;
  for (const json::value& w : *all) {
    const json::object* wo = w.if_object();
    const json::value* key = wo == nullptr ? nullptr : wo->if_contains("key");
    if (key == nullptr || !key->is_string()) continue;
    std::string wkey(key->get_string());
    if (const json::value* id = wo->if_contains("id"); workspace_ids != nullptr && id != nullptr && id->is_string()) {
      workspace_ids->emplace_back(id->get_string());
    }
    RouteAnswer envs = call(http::verb::get, "/v1/workspaces/" + PercentEncode(wkey) + "/environments", nullptr, {});
    const json::array* list = Ok(envs) ? ArrayMember(envs.body, "environments") : nullptr;
    if (list == nullptr) continue;
    for (const json::value& e : *list) {
      const json::object* eo = e.if_object();
      const json::value* ekey = eo == nullptr ? nullptr : eo->if_contains("key");
      if (ekey == nullptr || !ekey->is_string()) continue;
      if (resources->size() == kMaxResources) return ws;
      std::string env(ekey->get_string());
      resources->push_back({{"uri", std::string(kScheme) + PercentEncode(wkey) + "/environments/" + PercentEncode(env) + "/resolved"},
                            {"name", wkey + "/" + env},
                            {"title", "Resolved " + env + " of " + wkey},
                            {"description", "The document delivery serves for environment " + env + " (no secrets)"},
                            {"mimeType", "application/json"}});
    }
  }
  return ws;
}

json::array McpTools::ResourceTemplates() {
  return {json::object{{"uriTemplate", "edgevault://{workspace}/environments/{environment}/resolved"},
                       {"name", "resolved-environment"},
                       {"title", "Resolved environment"},
                       {"description", "The document delivery serves for an environment (no secrets)"},
                       {"mimeType", "application/json"}},
          json::object{{"uriTemplate", "edgevault://{workspace}/{kind}/{key}"},
                       {"name", "item"},
                       {"title", "Item"},
                       {"description", "A config, flag, segment or secret (kind: configs, flags, segments, secrets); "
                                       "secrets as metadata only"},
                       {"mimeType", "application/json"}}};
}

std::string ResourceRef::WorkspaceSegment() const { return PercentEncode(workspace); }

absl::StatusOr<ResourceRef> McpTools::ParseResourceUri(std::string_view uri) {
  auto not_served = [&] {
    return absl::InvalidArgumentError(base::ToAbsl(
        "no resource " + std::string(uri.substr(0, 200)) +
        "; this server serves edgevault://{workspace}/environments/{environment}/resolved and "
        "edgevault://{workspace}/{configs|flags|segments|secrets}/{key}"));
  };
  if (uri.size() > 1000 || uri.substr(0, kScheme.size()) != kScheme) return not_served();
  std::vector<std::string_view> parts = base::Split(uri.substr(kScheme.size()), '/');
  for (std::string_view p : parts) {
    if (p.empty()) return not_served();
  }
  // Segments arrive percent-encoded, as resources/list wrote them; they go into a REST
  // path re-encoded after the decode (so no segment can add a path step).
  ResourceRef ref;
  if (parts.size() == 4 && parts[1] == "environments" && parts[3] == "resolved") {
    ref.kind = "resolved";
  } else if (parts.size() == 3 &&
             (parts[1] == "configs" || parts[1] == "flags" || parts[1] == "segments" || parts[1] == "secrets")) {
    ref.kind = std::string(parts[1].substr(0, parts[1].size() - 1));
  } else {
    return not_served();
  }
  ref.workspace = net::PercentDecode(parts[0], false);
  ref.name = net::PercentDecode(parts[2], false);
  if (ref.workspace.empty() || ref.name.empty()) return not_served();
  return ref;
}

absl::Status McpTools::ReadResource(std::string_view uri, const RouteCaller& call, RouteAnswer* answer,
                                    std::string* workspace) {
  EV_ASSIGN_OR_RETURN(ResourceRef ref, ParseResourceUri(uri));
  *workspace = ref.workspace;
  std::string path = "/v1/workspaces/" + ref.WorkspaceSegment() +
                     (ref.kind == "resolved" ? "/environments/" + PercentEncode(ref.name) + "/resolved"
                                             : "/" + ref.kind + "s/" + PercentEncode(ref.name));
  *answer = call(http::verb::get, path, nullptr, {});
  return absl::OkStatus();
}

}  // namespace edgevault::api
