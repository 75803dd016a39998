#include "cli/item_cmds.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"
#include "cli/refs.h"
#include "src/base/json_patch.h"

namespace edgevault::cli {

namespace json = boost::json;

struct ItemCommands {
  std::string api_url, token, reason, ws, key, file;
  std::vector<std::string> envs;
  bool as_json = false;
  bool merge = false;  // flag patch: a JSON Merge Patch instead of a JSON Patch
  int rule = -1;       // flag rollout --rule (-1: the fallthrough)
  std::string env, from, to, variation;
  std::string pointer, secret;  // config move-to-secret
  int days = 30;                // flag stale
  std::string step;             // flag insights (from, to: the fields above)
  CLI::App* refs_scan = nullptr;  // refs scan: the api only when a workspace is named
  std::string refs_path;
  std::vector<std::string> refs_flags;
  std::vector<std::string> weights, add_users, remove_users;
  // Each registered command with what it does once parsed.
  std::vector<std::pair<CLI::App*, std::function<int(ItemCommands&, Client&)>>> commands;
};

namespace {

void Delete(ItemCommands* c) { delete c; }

std::string WsPath(const ItemCommands& c) { return "/v1/workspaces/" + QueryValue(c.ws); }
std::string ItemPath(const ItemCommands& c, std::string_view plural) {
  return WsPath(c) + "/" + std::string(plural) + "/" + QueryValue(c.key);
}

// The secret's value: the file's bytes exactly (--from-file), else standard input — one
// line typed without echo on a terminal, otherwise everything up to end of input with one
// final newline ("\n" or "\r\n") removed, so `printf '%s\n' "$V" | ...` and `< file` work.
std::optional<std::string> ReadSecretValue(const ItemCommands& c, std::string* error) {
  if (!c.file.empty()) {
    std::ifstream f(c.file, std::ios::binary);
    if (!f) {
      *error = "cannot read " + c.file;
      return std::nullopt;
    }
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }
  std::string value;
  if (::isatty(STDIN_FILENO)) return ReadHiddenLine("Value of " + c.key + " (not echoed): ").value_or("");
  value.assign(std::istreambuf_iterator<char>(std::cin), {});
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

// "dev=1, prod=2" from an object of per-environment values, each through `cell`.
std::string PerEnvironment(const json::object& values, const std::function<std::string(const json::value&)>& cell) {
  std::string out;
  for (const auto& kv : values) {
    if (!out.empty()) out += ", ";
    out += std::string(kv.key()) + "=" + cell(kv.value());
  }
  return out.empty() ? "-" : out;
}

// GET …/{plural}: a table with KEY, REVISION and `describe`'s columns per item.
int ListItems(ItemCommands& c, Client& client, std::string_view plural, std::vector<std::string> headers,
              const std::function<std::optional<std::vector<std::string>>(const json::value&)>& describe) {
  Reply r = client.Call("GET", WsPath(c) + "/" + std::string(plural));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* items = ArrayMember(r.body, "items");
    if (items == nullptr) return std::string("no \"items\" array in it");
    std::vector<std::vector<std::string>> rows;
    for (const json::value& item : *items) {
      std::optional<std::string> key = StringMember(item, "key"), revision = Field(item, "revision");
      std::optional<std::vector<std::string>> cells = describe(item);
      if (!key || !revision || !cells) return "an item without \"key\", \"revision\" or its fields";
      std::vector<std::string> row{*key};
      row.insert(row.end(), cells->begin(), cells->end());
      row.push_back(*revision);
      rows.push_back(std::move(row));
    }
    headers.insert(headers.begin(), "KEY");
    headers.push_back("REVISION");
    PrintTable(headers, rows);
    return std::nullopt;
  });
}

// DELETE …/{plural}/{key} with the reason.
int RemoveItem(ItemCommands& c, Client& client, std::string_view plural, std::string_view noun) {
  Reply r = client.Call("DELETE", ItemPath(c, plural) + "?reason=" + QueryValue(c.reason));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> revision = Field(r.body, "revision");
    if (!revision) return Missing("revision");
    std::printf("Deleted %.*s %s (workspace revision %s).\n", static_cast<int>(noun.size()), noun.data(),
                c.key.c_str(), revision->c_str());
    return std::nullopt;
  });
}

// The reply of a PUT: "<done> (workspace revision N)."
int Written(ItemCommands& c, const Reply& r, const std::string& done) {
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> revision = Field(r.body, "workspace_revision");
    if (!revision) return Missing("workspace_revision");
    std::printf("%s (workspace revision %s).\n", done.c_str(), revision->c_str());
    return std::nullopt;
  });
}

std::string JoinEnvs(const std::vector<std::string>& envs) {
  std::string out;
  for (const std::string& e : envs) out += (out.empty() ? "" : ", ") + e;
  return out;
}

int SecretSet(ItemCommands& c, Client& client) {
  std::string error;
  std::optional<std::string> value = ReadSecretValue(c, &error);
  if (!value) return Fail(error);
  json::object values;
  for (const std::string& env : c.envs) values[env] = *value;
  json::value body = json::object{{"values", std::move(values)}, {"reason", c.reason}};
  return Written(c, client.Call("PUT", ItemPath(c, "secrets"), &body),
                 "Set secret " + c.key + " in " + JoinEnvs(c.envs));
}

int SecretUnset(ItemCommands& c, Client& client) {
  json::object values;
  for (const std::string& env : c.envs) values[env] = nullptr;
  json::value body = json::object{{"values", std::move(values)}, {"reason", c.reason}};
  return Written(c, client.Call("PUT", ItemPath(c, "secrets"), &body),
                 "Removed secret " + c.key + "'s own value in " + JoinEnvs(c.envs));
}

int SecretGet(ItemCommands& c, Client& client) {
  if (c.envs.size() != 1) return Fail("secret get prints one environment's value: give --env once");
  Reply r = client.Call("GET", WsPath(c) + "/environments/" + QueryValue(c.envs.front()) + "/secrets/" +
                                   QueryValue(c.key));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> value = StringMember(r.body, "value");
    if (!value) return Missing("value");
    std::fwrite(value->data(), 1, value->size(), stdout);
    std::printf("\n");
    return std::nullopt;
  });
}

int ConfigUnset(ItemCommands& c, Client& client) {
  Reply r;
  int rc = UpdateItem(client, WsPath(c), ItemPath(c, "configs"), c.reason, [&](json::value& body) -> std::optional<std::string> {
    json::object* values = body.is_object() ? body.get_object().if_contains("values") != nullptr
                                                  ? body.get_object()["values"].if_object()
                                                  : nullptr
                                            : nullptr;
    if (values == nullptr) return "no config " + c.key + " in " + c.ws;
    for (const std::string& env : c.envs) {
      if (values->erase(env) == 0) return "config " + c.key + " has no value of its own in " + env;
    }
    return std::nullopt;
  }, &r);
  if (rc != 0) return rc;
  return Written(c, r, "Removed config " + c.key + "'s own value in " + JoinEnvs(c.envs));
}

// flag on|off: the environments' `on`, nothing else of the flag changes.
int FlagToggle(ItemCommands& c, Client& client, bool on) {
  Reply r;
  int rc = UpdateItem(client, WsPath(c), ItemPath(c, "flags"), c.reason, [&](json::value& body) -> std::optional<std::string> {
    json::object* envs = nullptr;
    if (json::object* o = body.if_object()) {
      if (json::value* e = o->if_contains("environments")) envs = e->if_object();
    }
    if (envs == nullptr) return "no flag " + c.key + " in " + c.ws + " (create it with `edgevault flag set`)";
    for (const std::string& env : c.envs) {
      json::value* config = envs->if_contains(env);
      if (config == nullptr || !config->is_object()) {
        return "flag " + c.key + " has no configuration in " + env +
               " (give it one with `edgevault flag set` or `edgevault cr propose --flag`)";
      }
      config->get_object()["on"] = on;
    }
    return std::nullopt;
  }, &r);
  if (rc != 0) return rc;
  return Written(c, r, std::string(on ? "Turned on" : "Turned off") + " flag " + c.key + " in " + JoinEnvs(c.envs));
}

// flag patch: the file's JSON Patch (or, with --merge, JSON Merge Patch) sent as it is to
// PATCH (docs/api.md), which applies, validates and authorizes it in one step.
int FlagPatch(ItemCommands& c, Client& client) {
  std::ifstream f(c.file, std::ios::binary);
  if (!f) return Fail("cannot read " + c.file);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  json::value patch = json::parse(text, ec);
  if (ec) return Fail(c.file + " is not JSON: " + ec.message());
  if (!c.merge && !patch.is_array()) {
    return Fail(c.file + " is not a JSON Patch (an array of operations); for a merge patch (an object) add --merge");
  }
  Reply r = client.Call("PATCH", ItemPath(c, "flags") + "?reason=" + QueryValue(c.reason), &patch,
                        {{"Content-Type", c.merge ? "application/merge-patch+json" : "application/json-patch+json"}});
  return Written(c, r, "Patched flag " + c.key);
}

// Reads the flag, builds a JSON Patch from it with `ops` (which starts it with a `test` of
// what it read, so a parallel edit makes the server refuse it: 409 patch_test_failed) and
// sends it; on that refusal reads again, up to 5 times. `ops` returns an error message
// (exit 2) or nullopt.
int PatchFlag(ItemCommands& c, Client& client, const std::string& done,
              const std::function<std::optional<std::string>(const json::object& flag, json::array& ops)>& ops) {
  for (int attempt = 0;; ++attempt) {
    Reply got = client.Call("GET", ItemPath(c, "flags"));
    if (int rc = Check(got)) return rc;
    const json::object* flag = got.body.if_object();
    if (flag == nullptr) return Unexpected(got, "a flag object");
    json::array patch;
    if (std::optional<std::string> error = ops(*flag, patch)) return Fail(*error);
    json::value body = std::move(patch);
    Reply r = client.Call("PATCH", ItemPath(c, "flags") + "?reason=" + QueryValue(c.reason), &body,
                          {{"Content-Type", "application/json-patch+json"}});
    const json::object* error = ObjectMember(r.body, "error");
    bool raced = r.status == 409 && error != nullptr && StringMember(*error, "code") == "patch_test_failed";
    if (!raced || attempt == 4) return Written(c, r, done);
  }
}

// Members of an object by type (nullptr when absent or of another type). Member() and
// friends take a json::value: given an object they would point into a temporary copy.
const json::object* ObjectIn(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr ? v->if_object() : nullptr;
}
const json::array* ArrayIn(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr ? v->if_array() : nullptr;
}

// The environment's configuration of `flag`, or an error message.
std::optional<std::string> EnvConfig(const ItemCommands& c, const json::object& flag, const std::string& env,
                                     const json::object** config) {
  const json::object* envs = ObjectIn(flag, "environments");
  *config = envs != nullptr ? ObjectIn(*envs, env) : nullptr;
  if (*config == nullptr) return "flag " + c.key + " has no configuration in " + env;
  return std::nullopt;
}

// A variation by index ("1") or by value as `flag get` shows it ("true", "blue"); -1 if none.
int64_t VariationIndex(const json::object& flag, const std::string& name) {
  const json::array* variations = ArrayIn(flag, "variations");
  if (variations == nullptr) return -1;
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos && name.size() < 9) {
    int64_t i = std::stoll(name);
    return i < static_cast<int64_t>(variations->size()) ? i : -1;
  }
  for (size_t i = 0; i < variations->size(); ++i) {
    const json::value* v = Member((*variations)[i], "value");
    if (v != nullptr && Compact(*v) == name) return static_cast<int64_t>(i);
  }
  return -1;
}

std::string EnvPointer(const std::string& env) { return "/environments" + base::JsonPointer({env}); }

// A percentage with at most 3 decimals ("12.5") in the model's 1/100000 units; -1 if not one.
int64_t Thousandths(const std::string& text) {
  size_t dot = text.find('.');
  std::string whole = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  auto digits = [](const std::string& d) { return d.find_first_not_of("0123456789") == std::string::npos; };
  if (whole.empty() || whole.size() > 3 || frac.size() > 3 || !digits(whole) || !digits(frac)) return -1;
  if (dot != std::string::npos && frac.empty()) return -1;
  while (frac.size() < 3) frac.push_back('0');
  return std::stoll(whole) * 1000 + std::stoll(frac);
}

int FlagRollout(ItemCommands& c, Client& client) {
  const std::string env = c.env;
  std::string where = c.rule >= 0 ? "rule " + std::to_string(c.rule) : "the fallthrough";
  return PatchFlag(c, client, "Set flag " + c.key + "'s rollout in " + env + " (" + where + ")",
                   [&](const json::object& flag, json::array& ops) -> std::optional<std::string> {
    const json::object* config = nullptr;
    if (auto e = EnvConfig(c, flag, env, &config)) return e;
    json::array rollout;
    int64_t total = 0;
    for (const std::string& w : c.weights) {
      size_t eq = w.find('=');
      if (eq == std::string::npos) return "'" + w + "': expected VARIATION=PERCENT, e.g. true=20";
      int64_t index = VariationIndex(flag, w.substr(0, eq));
      if (index < 0) return "'" + w.substr(0, eq) + "' is no variation of flag " + c.key + " (an index or a value)";
      int64_t weight = Thousandths(w.substr(eq + 1));
      if (weight < 0) return "'" + w + "': the weight must be a percentage, e.g. 20 or 12.5";
      total += weight;
      rollout.push_back(json::object{{"variation", index}, {"weight", weight}});
    }
    if (total != 100000) {
      return "the weights add up to " + std::to_string(total / 1000) + "." + std::to_string(total % 1000 + 1000).substr(1) +
             "%, not 100%";
    }
    std::string path = EnvPointer(env);
    const json::value* target = nullptr;
    if (c.rule >= 0) {
      const json::array* rules = ArrayIn(*config, "rules");
      if (rules == nullptr || static_cast<size_t>(c.rule) >= rules->size()) {
        return "flag " + c.key + " has no rule " + std::to_string(c.rule) + " in " + env;
      }
      target = &(*rules)[static_cast<size_t>(c.rule)];
      path += "/rules/" + std::to_string(c.rule);
    } else {
      target = config->if_contains("fallthrough");
      if (target == nullptr) return "flag " + c.key + " has no fallthrough in " + env;
      path += "/fallthrough";
    }
    json::object next = target->is_object() ? target->get_object() : json::object{};
    next.erase("variation");
    next["rollout"] = std::move(rollout);
    ops.push_back(json::object{{"op", "test"}, {"path", path}, {"value", *target}});
    ops.push_back(json::object{{"op", "replace"}, {"path", path}, {"value", std::move(next)}});
    return std::nullopt;
  });
}

int FlagTarget(ItemCommands& c, Client& client) {
  const std::string env = c.env;
  if (c.add_users.empty() && c.remove_users.empty()) return Fail("nothing to do: give --add USER... and/or --remove USER...");
  return PatchFlag(c, client, "Updated flag " + c.key + "'s targets in " + env,
                   [&](const json::object& flag, json::array& ops) -> std::optional<std::string> {
    const json::object* config = nullptr;
    if (auto e = EnvConfig(c, flag, env, &config)) return e;
    int64_t index = VariationIndex(flag, c.variation);
    if (index < 0) return "'" + c.variation + "' is no variation of flag " + c.key + " (an index or a value)";
    const json::array* old = ArrayIn(*config, "targets");
    json::array targets;
    bool found = false;
    for (const json::value& t : old != nullptr ? *old : json::array{}) {
      json::object entry = t.is_object() ? t.get_object() : json::object{};
      const json::value* v = entry.if_contains("variation");
      bool mine = v != nullptr && v->is_int64() && v->get_int64() == index;
      json::array values;
      for (const json::value& user : entry.contains("values") && entry["values"].is_array() ? entry["values"].get_array()
                                                                                            : json::array{}) {
        std::string u = user.is_string() ? std::string(user.get_string()) : "";
        bool drop = std::find(c.add_users.begin(), c.add_users.end(), u) != c.add_users.end() ||
                    (mine && std::find(c.remove_users.begin(), c.remove_users.end(), u) != c.remove_users.end());
        if (!drop) values.push_back(user);
      }
      if (mine) {
        found = true;
        for (const std::string& u : c.add_users) values.push_back(json::value(u));
      }
      if (!values.empty()) {
        entry["values"] = std::move(values);
        targets.push_back(std::move(entry));
      }
    }
    if (!found && !c.add_users.empty()) {
      json::array values;
      for (const std::string& u : c.add_users) values.push_back(json::value(u));
      targets.push_back(json::object{{"variation", index}, {"values", std::move(values)}});
    }
    ops.push_back(json::object{{"op", "test"}, {"path", EnvPointer(env)}, {"value", *config}});
    ops.push_back(json::object{{"op", "add"}, {"path", EnvPointer(env) + "/targets"}, {"value", std::move(targets)}});
    return std::nullopt;
  });
}

int FlagCopy(ItemCommands& c, Client& client) {
  if (c.from == c.to) return Fail("--from and --to name the same environment");
  return PatchFlag(c, client, "Copied flag " + c.key + "'s configuration from " + c.from + " to " + c.to,
                   [&](const json::object& flag, json::array& ops) -> std::optional<std::string> {
    const json::object* from = nullptr;
    if (auto e = EnvConfig(c, flag, c.from, &from)) return e;
    const json::object* envs = ObjectIn(flag, "environments");
    if (const json::value* to = envs->if_contains(c.to)) {
      ops.push_back(json::object{{"op", "test"}, {"path", EnvPointer(c.to)}, {"value", *to}});
    }
    ops.push_back(json::object{{"op", "test"}, {"path", EnvPointer(c.from)}, {"value", *from}});
    ops.push_back(json::object{{"op", "add"}, {"path", EnvPointer(c.to)}, {"value", *from}});
    return std::nullopt;
  });
}

int SegmentSet(ItemCommands& c, Client& client) {
  std::string error;
  std::optional<json::object> body = ReadDocument(c.file, &error);
  if (!body) return Fail(error);
  (*body)["reason"] = c.reason;
  json::value v = std::move(*body);
  return Written(c, client.Call("PUT", ItemPath(c, "segments"), &v), "Set segment " + c.key);
}

// `get` of a flag-like item: its JSON, pretty enough to read and valid to edit.
int ShowJson(ItemCommands& c, Client& client, std::string_view plural) {
  Reply r = client.Call("GET", ItemPath(c, plural));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    if (!r.body.is_object()) return std::string("not a JSON object");
    std::printf("%s\n", json::serialize(r.body).c_str());
    return std::nullopt;
  });
}

int WorkspaceShow(ItemCommands& c, Client& client) {
  Reply r = client.Call("GET", WsPath(c));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> key = StringMember(r.body, "key"), name = StringMember(r.body, "name"),
                               id = StringMember(r.body, "id"), revision = Field(r.body, "revision");
    const json::array* envs = ArrayMember(r.body, "environments");
    if (!key || !name || !id || !revision || envs == nullptr) {
      return std::string("no \"key\", \"name\", \"id\", \"revision\" or \"environments\" in it");
    }
    std::printf("%s (%s), id %s, revision %s\n", key->c_str(), name->c_str(), id->c_str(), revision->c_str());
    std::vector<std::vector<std::string>> rows;
    for (const json::value& e : *envs) {
      std::optional<std::string> ekey = StringMember(e, "key"), ename = StringMember(e, "name");
      const json::value* parent = Member(e, "parent");
      const json::value* is_protected = Member(e, "protected");
      if (!ekey || !ename) return std::string("an environment without \"key\" or \"name\"");
      rows.push_back({*ekey, *ename, parent == nullptr || parent->is_null() ? "-" : Compact(*parent),
                      is_protected != nullptr && is_protected->is_bool() && is_protected->get_bool() ? "yes" : "no"});
    }
    PrintTable({"ENVIRONMENT", "NAME", "PARENT", "PROTECTED"}, rows);
    return std::nullopt;
  });
}

// GET …/leak-scan: one row per finding; exit 1 when there is any (for CI).
int Scan(ItemCommands& c, Client& client) {
  Reply r = client.Call("GET", WsPath(c) + "/leak-scan");
  int rc = Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* findings = ArrayMember(r.body, "findings");
    if (findings == nullptr) return Missing("findings");
    std::vector<std::vector<std::string>> rows;
    for (const json::value& f : *findings) {
      std::optional<std::string> kind = StringMember(f, "kind"), key = StringMember(f, "key"),
                                 pointer = StringMember(f, "pointer"), finding = StringMember(f, "finding");
      if (!kind || !key || !pointer || !finding) return std::string("a finding without kind, key, pointer or finding");
      rows.push_back({*kind, *key, pointer->empty() ? "/" : *pointer, *finding});
    }
    if (rows.empty()) {
      std::printf("No credentials found.\n");
    } else {
      PrintTable({"KIND", "KEY", "POINTER", "FINDING"}, rows);
    }
    return std::nullopt;
  });
  if (rc != 0) return rc;
  const json::array* findings = ArrayMember(r.body, "findings");
  return findings != nullptr && !findings->empty() ? 1 : 0;
}

// GET …/flags/stale: one row per finding with its evidence in a sentence.
int FlagStale(ItemCommands& c, Client& client) {
  Reply r = client.Call("GET", WsPath(c) + "/flags/stale?days=" + std::to_string(c.days));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* flags = ArrayMember(r.body, "flags");
    if (flags == nullptr) return Missing("flags");
    std::vector<std::vector<std::string>> rows;
    for (const json::value& f : *flags) {
      std::optional<std::string> key = StringMember(f, "key"), reason = StringMember(f, "reason");
      const json::value* evidence = Member(f, "evidence");  // a value: the helpers below point into it
      if (!key || !reason || evidence == nullptr || !evidence->is_object()) {
        return std::string("a flag without key, reason or evidence");
      }
      std::string why;
      if (*reason == "not_evaluated") {
        std::optional<std::string> last = Field(*evidence, "last_evaluated");
        why = "no evaluation in " + Field(*evidence, "days").value_or("?") + " days (last: " +
              (last && *last != "null" ? *last : std::string("never")) + ")";
      } else if (*reason == "past_remove_after") {
        why = "remove after " + Field(*evidence, "remove_after").value_or("?") + " (" +
              Field(*evidence, "days_past").value_or("?") + " days past)";
      } else {
        why = Field(*evidence, "days").value_or("?") + " days since revision " +
              Field(*evidence, "since_revision").value_or("?") + ":";
        if (const json::object* envs = ObjectMember(*evidence, "environments")) {
          for (const auto& kv : *envs) {
            const json::value* value = Member(kv.value(), "value");
            why += " " + std::string(kv.key()) + "=" + (value != nullptr ? Compact(*value) : std::string("default"));
          }
        }
      }
      rows.push_back({*key, *reason == "past_remove_after" ? "past removal date"
                            : *reason == "not_evaluated"   ? "not evaluated"
                                                           : "one variation everywhere",
                      StringMember(f, "owner").value_or("-"), why});
    }
    if (rows.empty()) {
      std::printf("No stale flags (window: %d days).\n", c.days);
    } else {
      PrintTable({"FLAG", "WHY", "OWNER", "EVIDENCE"}, rows);
    }
    return std::nullopt;
  });
}

// A bar of eight levels per bucket, scaled to the largest bucket of the series.
std::string Sparkline(const json::array& counts, int64_t max) {
  static const char* kBars[] = {" ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
  std::string out;
  for (const json::value& v : counts) {
    const int64_t n = v.is_int64() ? v.get_int64() : 0;
    out += kBars[n <= 0 || max <= 0 ? 0 : 1 + static_cast<int>((n * 7) / max)];
  }
  return out;
}

// `?from=…&to=…&step=…` of a usage range, as given ("" when none is).
std::string RangeQuery(const ItemCommands& c) {
  std::string q;
  if (!c.from.empty()) q += "&from=" + QueryValue(c.from);
  if (!c.to.empty()) q += "&to=" + QueryValue(c.to);
  if (!c.step.empty()) q += "&step=" + QueryValue(c.step);
  return q;
}

// One table of usage series, each row its labels, its total and a sparkline scaled to the
// largest count of the table. `labels` name the members that label a row.
void PrintUsageTable(const json::array& series, const std::vector<std::pair<std::string, std::string>>& labels,
                     const std::string& count_header) {
  int64_t max = 0;
  for (const json::value& s : series) {
    if (const json::array* counts = ArrayMember(s, "counts")) {
      for (const json::value& n : *counts) max = std::max<int64_t>(max, n.is_int64() ? n.get_int64() : 0);
    }
  }
  std::vector<std::string> header;
  for (const auto& [member, title] : labels) header.push_back(title);
  header.push_back(count_header);
  header.push_back("OVER TIME");
  std::vector<std::vector<std::string>> rows;
  for (const json::value& s : series) {
    std::vector<std::string> row;
    for (const auto& [member, title] : labels) {
      std::string label = StringMember(s, member).value_or("?");
      row.push_back(label.empty() ? "(none)" : label);
    }
    const json::array* counts = ArrayMember(s, "counts");
    row.push_back(Field(s, "total").value_or("0"));
    row.push_back(counts != nullptr ? Sparkline(*counts, max) : std::string());
    rows.push_back(std::move(row));
  }
  PrintTable(header, rows);
}

// GET …/flags/KEY/insights: evaluations per variant (and reason) with a sparkline each.
int FlagInsightsCommand(ItemCommands& c, Client& client) {
  Reply r = client.Call("GET", ItemPath(c, "flags") + "/insights?env=" + QueryValue(c.env) + RangeQuery(c));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* buckets = ArrayMember(r.body, "buckets");
    if (buckets == nullptr) return Missing("buckets");
    std::printf("%s in %s, %s to %s, every %s s: %s evaluations\n", c.key.c_str(), c.env.c_str(),
                Field(r.body, "from").value_or("?").c_str(), Field(r.body, "to").value_or("?").c_str(),
                Field(r.body, "step_seconds").value_or("?").c_str(), Field(r.body, "total").value_or("0").c_str());
    for (const char* group : {"variants", "reasons"}) {
      const json::array* series = ArrayMember(r.body, group);
      if (series == nullptr) return Missing(group);
      if (series->empty()) continue;
      const bool variants = std::string_view(group) == "variants";
      std::printf("\n");
      PrintUsageTable(*series, {{variants ? "variant" : "reason", variants ? "VARIANT" : "REASON"}}, "EVALUATIONS");
    }
    if (std::string(Field(r.body, "total").value_or("0")) == "0") std::printf("\nNo evaluations recorded in this range.\n");
    return std::nullopt;
  });
}

// GET …/environments/ENV/sdk-usage: the SDK requests delivery answered, per endpoint and
// key kind, with a sparkline each.
int SdkUsageCommand(ItemCommands& c, Client& client) {
  std::string query = RangeQuery(c);
  if (!query.empty()) query[0] = '?';
  Reply r = client.Call("GET", WsPath(c) + "/environments/" + QueryValue(c.env) + "/sdk-usage" + query);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* series = ArrayMember(r.body, "series");
    if (series == nullptr) return Missing("series");
    std::printf("SDK requests to %s, %s to %s, every %s s: %s requests\n", c.env.c_str(),
                Field(r.body, "from").value_or("?").c_str(), Field(r.body, "to").value_or("?").c_str(),
                Field(r.body, "step_seconds").value_or("?").c_str(), Field(r.body, "total").value_or("0").c_str());
    if (series->empty()) {
      std::printf("\nNo SDK requests recorded in this range.\n");
      return std::nullopt;
    }
    std::printf("\n");
    PrintUsageTable(*series, {{"endpoint", "ENDPOINT"}, {"key_kind", "KEY KIND"}}, "REQUESTS");
    return std::nullopt;
  });
}

// refs scan: the keys (--flag, and every flag of -w WS from the api), then the tree.
int RefsScanCommand(ItemCommands& c) {
  std::vector<std::string> keys = c.refs_flags;
  if (!c.ws.empty()) {
    std::string error;
    std::optional<Client> client = Client::Connect(c.api_url, c.token, &error);
    if (!client) return Fail(error);
    Reply r = client->Call("GET", WsPath(c) + "/flags");
    if (int rc = Check(r)) return rc;
    const json::array* items = ArrayMember(r.body, "items");
    if (items == nullptr) return Unexpected(r, "no \"items\" array in it");
    for (const json::value& item : *items) {
      if (std::optional<std::string> key = StringMember(item, "key")) keys.push_back(*key);
    }
  }
  if (keys.empty()) return Fail("no flag keys to look for: name a workspace (-w WS) or keys (--flag KEY)");
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  RefsScan scan = ScanTree(c.refs_path, keys);
  for (const std::string& e : scan.errors) std::fprintf(stderr, "edgevault: %s\n", e.c_str());
  std::set<std::string> used;
  for (const FlagReference& r : scan.references) used.insert(r.flag);
  if (c.as_json) {
    json::array refs, unused;
    for (const FlagReference& r : scan.references) {
      refs.push_back(json::object{{"flag", r.flag}, {"file", r.file}, {"line", r.line}, {"column", r.column},
                                  {"text", r.text}});
    }
    for (const std::string& k : keys) {
      if (!used.contains(k)) unused.emplace_back(k);
    }
    std::printf("%s\n", json::serialize(json::object{{"references", std::move(refs)},
                                                      {"unreferenced", std::move(unused)},
                                                      {"files_scanned", scan.files_scanned}}).c_str());
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const FlagReference& r : scan.references) {
      rows.push_back({r.flag, r.file + ":" + std::to_string(r.line) + ":" + std::to_string(r.column), r.text.substr(0, 80)});
    }
    if (!rows.empty()) PrintTable({"FLAG", "WHERE", "LINE"}, rows);
    std::string unused;
    for (const std::string& k : keys) {
      if (!used.contains(k)) unused += (unused.empty() ? "" : ", ") + k;
    }
    std::printf("%zu references in %zu files scanned.%s%s\n", scan.references.size(), scan.files_scanned,
                unused.empty() ? "" : " Not found: ", unused.c_str());
  }
  return scan.errors.empty() ? 0 : 1;
}

int ConfigMoveToSecret(ItemCommands& c, Client& client) {
  json::object body{{"pointer", c.pointer}, {"reason", c.reason}};
  if (!c.secret.empty()) body["secret"] = c.secret;
  json::value v = body;
  Reply r = client.Call("POST", ItemPath(c, "configs") + "/move-to-secret", &v);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> secret = StringMember(r.body, "secret"), config = StringMember(r.body, "config"),
                               env = StringMember(r.body, "environment"), revision = Field(r.body, "revision");
    if (!secret || !config || !env || !revision) return std::string("no secret, config, environment or revision in it");
    std::printf("Moved %s of config %s into secret %s (environment %s); the config was %s (workspace revision %s).\n",
                c.pointer.c_str(), c.key.c_str(), secret->c_str(), env->c_str(), config->c_str(), revision->c_str());
    return std::nullopt;
  });
}

}  // namespace

std::unique_ptr<ItemCommands, void (*)(ItemCommands*)> AddItemCommands(CLI::App& app) {
  std::unique_ptr<ItemCommands, void (*)(ItemCommands*)> c(new ItemCommands(), Delete);
  ItemCommands& o = *c;
  // A command with the connection options, WS and (when `with_key`) KEY, and what it runs.
  auto add = [&](CLI::App* group, const char* name, const char* help, bool with_key,
                 std::function<int(ItemCommands&, Client&)> run) {
    CLI::App* cmd = group->add_subcommand(name, help);
    cmd->add_option("--api-url", o.api_url, "api base URL (default $EDGEVAULT_API_URL, the profile, http://127.0.0.1:8081)");
    cmd->add_option("--token", o.token, "JWT or API key (default $EDGEVAULT_TOKEN or the profile)");
    cmd->add_flag("--json", o.as_json, "print the server's JSON instead of a table");
    AddConnectionOptions(cmd);
    cmd->add_option("workspace", o.ws, "workspace key or id")->required();
    if (with_key) cmd->add_option("key", o.key, "the item's key")->required();
    o.commands.push_back({cmd, std::move(run)});
    return cmd;
  };
  auto reason = [&](CLI::App* cmd) {
    cmd->add_option("--reason,-m", o.reason, "why (recorded in the revision)")->required();
    return cmd;
  };
  auto envs = [&](CLI::App* cmd, const char* help) {
    cmd->add_option("--env,-e", o.envs, help)->required();
    return cmd;
  };

  CLI::App* secret = app.add_subcommand("secret", "secrets: values are read from standard input or a file, never the command line");
  secret->require_subcommand(1);
  CLI::App* set = reason(envs(add(secret, "set", "set a secret's value in one or more environments (the others keep theirs)", true, SecretSet),
                              "environment to set (repeatable)"));
  set->add_option("--from-file", o.file, "read the value from this file, byte for byte (default: standard input)");
  envs(add(secret, "get", "print a secret's value in one environment (needs permission to read secret values; audited)", true, SecretGet),
       "the environment");
  add(secret, "list", "secrets of a workspace: which environments have a value, never the values", false,
      [](ItemCommands& c, Client& client) {
        return ListItems(c, client, "secrets", {"ENVIRONMENTS"}, [](const json::value& item) -> std::optional<std::vector<std::string>> {
          const json::object* values = ObjectMember(item, "values");
          if (values == nullptr) return std::nullopt;
          return std::vector<std::string>{PerEnvironment(*values, [](const json::value& meta) {
            const json::value* version = Member(meta, "version");
            return version != nullptr ? "v" + Compact(*version) : std::string("set");
          })};
        });
      });
  reason(envs(add(secret, "unset", "remove a secret's own value in environments (they inherit again)", true, SecretUnset),
              "environment (repeatable)"));
  reason(add(secret, "rm", "delete a secret in every environment", true,
             [](ItemCommands& c, Client& client) { return RemoveItem(c, client, "secrets", "secret"); }));

  CLI::App* config = app.get_subcommand("config");
  add(config, "list", "configs of a workspace with each environment's own value", false, [](ItemCommands& c, Client& client) {
    return ListItems(c, client, "configs", {"TYPE", "VALUES"}, [](const json::value& item) -> std::optional<std::vector<std::string>> {
      std::optional<std::string> type = StringMember(item, "type");
      const json::object* values = ObjectMember(item, "values");
      if (!type || values == nullptr) return std::nullopt;
      return std::vector<std::string>{*type, PerEnvironment(*values, [](const json::value& v) { return Compact(v); })};
    });
  });
  reason(envs(add(config, "unset", "remove a config's own value in environments (they inherit again)", true, ConfigUnset),
              "environment (repeatable)"));
  reason(add(config, "rm", "delete a config in every environment", true,
             [](ItemCommands& c, Client& client) { return RemoveItem(c, client, "configs", "config"); }));

  CLI::App* move = reason(add(config, "move-to-secret", "move a value that holds a credential out of a config into a "
                                                    "secret (docs/secret-scanning.md)", true, ConfigMoveToSecret));
  move->add_option("--pointer,-p", o.pointer, "where the value is: /values/ENV or a JSON pointer inside it, as "
                                              "edgevault scan prints it")->required();
  move->add_option("--secret", o.secret, "the secret's key (default: the config key, plus the path inside the value)");
  add(&app, "scan", "scan a workspace's configs and flags for credentials (exit 1 when any is found)", false, Scan);
  CLI::App* refs = app.add_subcommand("refs", "where flag keys are used in source code");
  refs->require_subcommand(1);
  o.refs_scan = refs->add_subcommand("scan", "find flag keys in a source tree (files git ignores are skipped)");
  o.refs_scan->add_option("path", o.refs_path, "the directory (or file) to scan")->required();
  o.refs_scan->add_option("--workspace,-w", o.ws, "look for every flag of this workspace (asks the api)");
  o.refs_scan->add_option("--flag", o.refs_flags, "a flag key to look for (repeatable)");
  o.refs_scan->add_option("--api-url", o.api_url, "api base URL (default $EDGEVAULT_API_URL, the profile, http://127.0.0.1:8081)");
  o.refs_scan->add_option("--token", o.token, "JWT or API key (default $EDGEVAULT_TOKEN or the profile)");
  o.refs_scan->add_flag("--json", o.as_json, "{references: [{flag, file, line, column, text}], unreferenced, files_scanned}");

  CLI::App* flag = app.get_subcommand("flag");
  add(flag, "list", "flags of a workspace: on or off in each environment", false, [](ItemCommands& c, Client& client) {
    return ListItems(c, client, "flags", {"ENVIRONMENTS"}, [](const json::value& item) -> std::optional<std::vector<std::string>> {
      const json::object* environments = ObjectMember(item, "environments");
      if (environments == nullptr) return std::nullopt;
      return std::vector<std::string>{PerEnvironment(*environments, [](const json::value& config) {
        const json::value* on = Member(config, "on");
        return on != nullptr && on->is_bool() && on->get_bool() ? std::string("on") : std::string("off");
      })};
    });
  });
  reason(envs(add(flag, "on", "turn a flag on in environments (its rules apply); nothing else changes", true,
                  [](ItemCommands& c, Client& client) { return FlagToggle(c, client, true); }),
              "environment (repeatable)"));
  reason(envs(add(flag, "off", "turn a flag off in environments (everyone gets its off variation): the kill switch", true,
                  [](ItemCommands& c, Client& client) { return FlagToggle(c, client, false); }),
              "environment (repeatable)"));
  CLI::App* patch = reason(add(flag, "patch", "change part of a flag with a JSON Patch (RFC 6902) file, or a JSON Merge "
                                              "Patch (RFC 7396) with --merge; validated and authorized like a full write",
                               true, FlagPatch));
  patch->add_option("--file,-f", o.file, "the patch (.json)")->required();
  patch->add_flag("--merge", o.merge, "the file is a JSON Merge Patch (an object), not a JSON Patch (an array)");
  CLI::App* rollout = reason(add(flag, "rollout", "set a percentage rollout of the fallthrough (or --rule N) in "
                                                 "an environment: VARIATION=PERCENT..., adding up to 100",
                                 true, FlagRollout));
  rollout->add_option("--env,-e", o.env, "environment")->required();
  rollout->add_option("--rule", o.rule, "the rule's index (default: the fallthrough)")->check(CLI::NonNegativeNumber);
  rollout->add_option("weights", o.weights, "VARIATION=PERCENT (variation by index or value), e.g. false=80 true=20")
      ->required();
  CLI::App* target = reason(add(flag, "target", "add or remove individual targets of a variation in an environment",
                                true, FlagTarget));
  target->add_option("--env,-e", o.env, "environment")->required();
  target->add_option("--variation", o.variation, "the variation (index or value)")->required();
  target->add_option("--add", o.add_users, "context keys to serve the variation (taken from any other variation)");
  target->add_option("--remove", o.remove_users, "context keys to stop targeting");
  CLI::App* copy = reason(add(flag, "copy", "copy a flag's configuration from one environment to another", true, FlagCopy));
  copy->add_option("--from", o.from, "the environment to copy from")->required();
  copy->add_option("--to", o.to, "the environment to copy to")->required();
  CLI::App* insights = add(flag, "insights", "evaluations of a flag in an environment over time, per variant and "
                                             "reason, as delivery counted them", true, FlagInsightsCommand);
  insights->add_option("--env,-e", o.env, "environment")->required();
  insights->add_option("--from", o.from, "start, RFC 3339 (default: 24 h before --to)");
  insights->add_option("--to", o.to, "end, RFC 3339 (default: now)");
  insights->add_option("--step", o.step, "bucket size: 1m, 5m, 1h, 24h ... (default 1h; 1m for ranges up to 2 h)");
  CLI::App* usage = add(&app, "usage", "the SDK requests delivery answered for an environment over time, per "
                                       "endpoint (config, stream, ofrep, ofrep_bulk) and key kind", false, SdkUsageCommand);
  usage->add_option("--env,-e", o.env, "environment")->required();
  usage->add_option("--from", o.from, "start, RFC 3339 (default: 24 h before --to)");
  usage->add_option("--to", o.to, "end, RFC 3339 (default: now)");
  usage->add_option("--step", o.step, "bucket size: 1m, 5m, 1h, 24h ... (default 1h; 1m for ranges up to 2 h)");
  add(flag, "stale", "temporary flags serving one variation everywhere for --days, not evaluated for --days, and "
                     "flags past their removal date, with the evidence", false, FlagStale)
      ->add_option("--days", o.days, "how long a flag must have served one variation (default 30)")
      ->check(CLI::Range(0, 3650));
  reason(add(flag, "rm", "delete a flag (refused while another flag needs it as a prerequisite)", true,
             [](ItemCommands& c, Client& client) { return RemoveItem(c, client, "flags", "flag"); }));

  CLI::App* segment = app.add_subcommand("segment", "segments: named groups of users flags target");
  segment->require_subcommand(1);
  reason(add(segment, "set", "create or replace a segment from a JSON or YAML file", true, SegmentSet))
      ->add_option("--file,-f", o.file, "the segment definition (.json, .yaml or .yml)")->required();
  add(segment, "get", "show a segment", true, [](ItemCommands& c, Client& client) { return ShowJson(c, client, "segments"); });
  add(segment, "list", "segments of a workspace", false, [](ItemCommands& c, Client& client) {
    return ListItems(c, client, "segments", {"INCLUDED", "EXCLUDED", "RULES"}, [](const json::value& item) -> std::optional<std::vector<std::string>> {
      auto count = [&](const char* m) {
        const json::array* a = ArrayMember(item, m);
        return a != nullptr ? std::to_string(a->size()) : std::string("0");
      };
      return std::vector<std::string>{count("included"), count("excluded"), count("rules")};
    });
  });
  reason(add(segment, "rm", "delete a segment (refused while a flag uses it)", true,
             [](ItemCommands& c, Client& client) { return RemoveItem(c, client, "segments", "segment"); }));

  add(app.get_subcommand("ws"), "show", "a workspace: id, head revision and its environments", false, WorkspaceShow);
  return c;
}

int RunItemCommands(ItemCommands& c) {
  if (c.refs_scan != nullptr && c.refs_scan->parsed()) return RefsScanCommand(c);
  for (auto& [cmd, run] : c.commands) {
    if (!cmd->parsed()) continue;
    std::string error;
    std::optional<Client> client = Client::Connect(c.api_url, c.token, &error);
    if (!client) return Fail(error);
    return run(c, *client);
  }
  return -1;
}

}  // namespace edgevault::cli
