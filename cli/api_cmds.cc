#include "cli/api_cmds.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <yaml-cpp/yaml.h>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"
#include "cli/export_format.h"
#include "cli/flag_import.h"
#include "cli/history_diff.h"
#include "cli/mcp_stdio.h"
#include "src/base/env.h"
#include "src/base/strings.h"
#include "src/net/http_client.h"

namespace edgevault::cli {

namespace json = boost::json;

struct ApiCommands {
  // Global connection options.
  std::string api_url, auth_url, token;
  bool as_json = false;
  std::string reason;

  CLI::App* login = nullptr;
  std::string login_email, login_api_key;
  bool password_stdin = false;

  CLI::App* ws_create = nullptr;
  CLI::App* ws_list = nullptr;
  CLI::App* ws_rename = nullptr;
  CLI::App* ws_delete = nullptr;
  CLI::App* ws_restore = nullptr;
  bool include_deleted = false;  // ws list --deleted
  bool purge_now = false;        // ws delete --purge-now
  std::string ws, key, name, env, parent, type, file;
  bool is_protected = false;
  std::vector<std::string> values;

  CLI::App* env_create = nullptr;
  CLI::App* env_list = nullptr;
  CLI::App* env_rename = nullptr;
  CLI::App* env_protect = nullptr;
  CLI::App* env_unprotect = nullptr;
  CLI::App* env_parent = nullptr;  // env parent WS ENV (PARENT | --root)
  CLI::App* env_policy = nullptr;  // env policy WS ENV [--approvals N] [...]
  std::optional<int> policy_approvals;
  std::vector<std::string> policy_approver_roles;
  std::optional<bool> policy_change_requests;
  std::string policy_leak_scan;
  bool root = false;
  CLI::App* env_delete = nullptr;
  std::string reparent_children_to;
  bool children_become_roots = false, revoke_sdk_keys = false;
  CLI::App* config_set = nullptr;
  CLI::App* config_get = nullptr;
  CLI::App* flag_set = nullptr;
  CLI::App* flag_get = nullptr;
  CLI::App* flag_eval = nullptr;
  std::vector<std::string> eval_envs;
  std::string context;
  CLI::App* audit_events = nullptr;  // registered by AddAuditEventsCommand
  std::string actor, action, since, until;
  int events_limit = 100;
  int page_size = 1000;
  CLI::App* history = nullptr;
  int64_t after = 0;
  int limit = 50;
  bool diff = false;  // history --diff
  CLI::App* revert = nullptr;
  int64_t revision = 0;
  CLI::App* rollback = nullptr;
  CLI::App* sdk_key = nullptr;
  bool sdk_client = false;              // sdk-key create --client
  std::vector<std::string> sdk_origins;  // sdk-key create --origin (repeatable)
  CLI::App* sdk_key_list = nullptr;
  CLI::App* sdk_key_revoke = nullptr;
  CLI::App* webhook_add = nullptr;
  CLI::App* webhook_list = nullptr;
  CLI::App* webhook_rm = nullptr;
  CLI::App* org_webhook_add = nullptr;  // the same for the org's webhooks (no workspace)
  CLI::App* org_webhook_list = nullptr;
  CLI::App* org_webhook_rm = nullptr;
  std::string url, events = "*", description;
  CLI::App* run = nullptr;
  CLI::App* export_cmd = nullptr;
  CLI::App* import_cmd = nullptr;  // import --from dotenv FILE -w WS -e ENV [--secrets]
  std::string import_from = "dotenv";
  bool export_all = false;  // export --all: the whole workspace (workspace_export.h)
  CLI::App* profile_list = nullptr;  // profile list
  CLI::App* profile_use = nullptr;   // profile use NAME
  std::string profile_name;
  std::string import_only_env;               // --only-env (launchdarkly)
  std::vector<std::string> import_env_map;   // --env-map FROM=TO (launchdarkly, unleash)
  bool import_secrets = false;
  std::string format = "dotenv";
  std::vector<std::string> command;

  // Promotions and change requests (docs/design/promotions.md).
  CLI::App* promote = nullptr;
  std::string from, to, title, comment;  // `description` is shared with webhook add
  std::vector<std::string> items, kinds;
  bool dry_run = false;
  bool yes = false;  // rollback, env delete: no confirmation
  CLI::App* cr_list = nullptr;
  std::map<std::string, CLI::App*> cr_ops;  // show, approve, reject, apply, rebase, close, comment, revert,
                                            // schedule, unschedule
  int64_t cr_id = 0;
  std::string apply_at;  // cr schedule --at
  // cr propose: the proposed changes, by option (docs/cli.md).
  CLI::App* cr_propose = nullptr;
  CLI::App* mcp = nullptr;  // `edgevault mcp`: MCP over stdio (mcp_stdio.h)
  std::vector<std::string> propose_config, propose_flag, propose_secret, propose_unset, propose_body, propose_delete;
};

namespace {

// Asks "<what>. Go ahead? [y/N]" on the terminal. nullopt when the user said yes; else
// fails (exit 2) saying nothing changed: without a terminal, pointing at --yes and `other`.
std::optional<int> Confirm(const std::string& what, const std::string& other, const std::string& declined) {
  if (!::isatty(STDIN_FILENO)) {
    return Fail(what + "; nothing was changed. Pass --yes to go ahead" + (other.empty() ? "" : ", or " + other));
  }
  std::string shown = what;
  if (!shown.empty()) shown[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(shown[0])));
  std::fprintf(stderr, "%s.\nGo ahead? [y/N] ", shown.c_str());
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != "y" && answer != "Y" && answer != "yes") return Fail(declined + "; nothing was changed");
  return std::nullopt;
}

void Delete(ApiCommands* c) { delete c; }

// Output() with the command's --json.
int Output(const ApiCommands& c, const Reply& r, const std::function<std::optional<std::string>()>& human) {
  return Output(c.as_json, r, human);
}

std::string WsPath(const ApiCommands& c) { return "/v1/workspaces/" + c.ws; }

// `flag eval`: the evaluate reply's environments (only those of --env when given), as a
// table or, with --json, the reply with the array filtered.
int RunFlagEval(const ApiCommands& c, Client& client) {
  json::value context = json::object{};
  if (!c.context.empty()) {
    boost::system::error_code ec;
    context = json::parse(c.context, ec);
    if (ec) return Fail("--context is not valid JSON (" + ec.message() + "): " + c.context);
    if (!context.is_object()) return Fail("--context must be a JSON object, like '{\"targetingKey\":\"user-1\"}'");
  }
  json::value body = json::object{{"context", context}};
  Reply r = client.Call("POST", WsPath(c) + "/flags/" + c.key + "/evaluate", &body);
  if (int rc = Check(r)) return rc;
  const json::array* all = ArrayMember(r.body, "environments");
  if (all == nullptr) return Unexpected(r, "no \"environments\" array in it");
  json::array shown;
  for (const json::value& e : *all) {
    std::optional<std::string> env = StringMember(e, "environment");
    if (!env) return Unexpected(r, "an environment without an \"environment\" string");
    if (c.eval_envs.empty() || std::find(c.eval_envs.begin(), c.eval_envs.end(), *env) != c.eval_envs.end()) {
      shown.push_back(e);
    }
  }
  for (const std::string& wanted : c.eval_envs) {
    bool found = std::any_of(shown.begin(), shown.end(),
                             [&](const json::value& e) { return StringMember(e, "environment") == wanted; });
    if (!found) {
      std::fprintf(stderr, "edgevault: workspace %s has no environment \"%s\"\n", c.ws.c_str(), wanted.c_str());
      return 1;
    }
  }
  if (c.as_json) {
    json::object out = r.body.get_object();
    out["environments"] = shown;
    std::printf("%s\n", json::serialize(out).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json::value& e : shown) {
    const json::value* value = Member(e, "value");
    std::optional<std::string> reason = StringMember(e, "reason");
    if (value == nullptr || !reason) return Unexpected(r, "an environment without \"value\" or \"reason\"");
    std::string variant = Field(e, "variant").value_or("-");
    std::string detail;
    if (const json::value* index = Member(e, "rule_index"); index != nullptr && index->is_int64()) {
      detail = "rule " + std::to_string(index->get_int64());
      if (std::optional<std::string> id = StringMember(e, "rule_id"); id && !id->empty()) detail += " (" + *id + ")";
    }
    if (std::optional<std::string> pre = StringMember(e, "failed_prerequisite")) {
      detail = "prerequisite " + *pre + " failed";
    }
    if (const json::value* x = Member(e, "in_experiment"); x != nullptr && x->is_bool() && x->get_bool()) {
      detail += detail.empty() ? "in experiment" : ", in experiment";
    }
    if (const json::value* error = Member(e, "error"); error != nullptr) {
      detail = Field(*error, "code").value_or("?") + ": " + Field(*error, "message").value_or("");
    }
    rows.push_back({*StringMember(e, "environment"), Compact(*value), variant, *reason, detail});
  }
  PrintTable({"ENVIRONMENT", "VALUE", "VARIANT", "REASON", "MATCHED"}, rows);
  return 0;
}

// `audit events`: pages through GET /v1/audit/events (newest first) following
// next_cursor until --limit events are printed or nothing older matches.
int RunAuditEvents(const ApiCommands& c, Client& client) {
  if (c.events_limit < 1) return Fail("--limit must be at least 1");
  std::string query;
  const std::pair<const char*, const std::string*> filters[] = {
      {"actor", &c.actor}, {"action", &c.action}, {"workspace", &c.ws}, {"since", &c.since}, {"until", &c.until}};
  for (const auto& [name, value] : filters) {
    if (!value->empty()) query += std::string("&") + name + "=" + QueryValue(*value);
  }
  std::vector<std::vector<std::string>> rows;
  const ActorNames names = c.as_json ? ActorNames() : ActorNames::Load(c.token);
  int printed = 0;
  std::string cursor;
  while (printed < c.events_limit) {
    const int page = std::min(c.events_limit - printed, c.page_size);
    std::string target = "/v1/audit/events?limit=" + std::to_string(page) + query;
    if (!cursor.empty()) target += "&cursor=" + QueryValue(cursor);
    Reply r = client.Call("GET", target);
    if (int rc = Check(r)) return rc;
    const json::array* events = ArrayMember(r.body, "events");
    const json::value* next = Member(r.body, "next_cursor");
    if (events == nullptr || next == nullptr || !(next->is_string() || next->is_null())) {
      return Unexpected(r, "no \"events\" array or \"next_cursor\" in it");
    }
    for (const json::value& e : *events) {
      if (printed == c.events_limit) break;
      ++printed;
      if (c.as_json) {
        std::printf("%s\n", json::serialize(e).c_str());
        continue;
      }
      std::optional<std::string> time = StringMember(e, "time"), action = StringMember(e, "action");
      const json::object* actor = ObjectMember(e, "actor");
      if (!time || !action || actor == nullptr) return Unexpected(r, "an event without \"time\", \"action\" or \"actor\"");
      const json::value* workspace = Member(e, "workspace");
      rows.push_back({*time, names.Name(Field(*actor, "id").value_or("-")), *action, Field(e, "outcome").value_or("-"),
                      workspace != nullptr && workspace->is_string() ? std::string(workspace->get_string()) : "-",
                      Field(e, "target").value_or("-")});
    }
    if (next->is_null() || events->empty()) break;
    cursor = std::string(next->get_string());
  }
  if (!c.as_json) PrintTable({"TIME", "ACTOR", "ACTION", "OUTCOME", "WORKSPACE", "TARGET"}, rows);
  return 0;
}

int RunLogin(ApiCommands& c) {
  if (c.api_url.empty()) c.api_url = "http://127.0.0.1:8081";
  if (!ParseUrl(c.api_url)) return Fail("--api-url must look like http://host:port or https://host:port");
  std::string token = c.login_api_key;
  if (token.empty()) {
    if (c.login_email.empty() || !c.password_stdin) {
      return Fail("log in with --api-key KEY, or --email E --password-stdin (password on standard input)");
    }
    std::string password;
    std::getline(std::cin, password);
    std::string auth_url = c.auth_url.empty() ? "http://127.0.0.1:8083" : c.auth_url;
    std::optional<Url> au = ParseUrl(auth_url);
    if (!au) return Fail("--auth-url must look like http://host:port or https://host:port");
    absl::StatusOr<std::unique_ptr<net::HttpClient>> made = NewHttpClient(*au);
    if (!made.ok()) return Fail(std::string(made.status().message()));
    std::unique_ptr<net::HttpClient> http = *std::move(made);
    auto post = [&](const std::string& target, const json::value& body, const std::string& bearer) {
      net::ClientRequest req{"POST", target, {{"Content-Type", "application/json"}}, json::serialize(body)};
      if (!bearer.empty()) req.headers.push_back({"Authorization", "Bearer " + bearer});
      Reply r;
      auto resp = http->Do(au->host, au->port, req, au->https ? net::Scheme::kHttps : net::Scheme::kHttp);
      r.status = resp.ok() ? resp->status : -1;
      r.raw = resp.ok() ? resp->body : std::string(resp.status().message());
      boost::system::error_code ec;
      r.body = json::parse(r.raw, ec);
      if (resp.ok()) RememberReply(r);
      return r;
    };
    Reply login = post("/v1/login", json::object{{"email", c.login_email}, {"password", password}}, "");
    if (int rc = Check(login)) return rc;
    if (Member(login.body, "mfa_required") != nullptr) {
      return Fail("this account needs a second factor: create an API key in the console and use --api-key");
    }
    std::optional<std::string> session_token = StringMember(login.body, "session");
    if (!session_token) return Unexpected(login, "no \"session\" string in the login reply");
    const std::string& session = *session_token;
    char host[256] = "host";
    ::gethostname(host, sizeof host - 1);
    // The widest scopes the user's role allows: auth refuses (403) a scope above the role,
    // so ask for all of them first (an owner or admin can then create workspaces and manage
    // members from the CLI), then a developer's, then the default (read).
    Reply key;
    for (const json::array& scopes : {json::array{"read", "write", "secrets:read", "admin"},
                                      json::array{"read", "write", "secrets:read"}, json::array{"read"}}) {
      key = post("/v1/api-keys",
                 json::object{{"name", std::string("cli@") + host}, {"scopes", scopes}, {"expires_in", 90 * 86400}},
                 session);
      if (key.status != 403) break;
    }
    if (int rc = Check(key)) return rc;
    std::optional<std::string> minted = StringMember(key.body, "key");
    if (!minted) return Unexpected(key, "no \"key\" string in the API key reply");
    token = *minted;
    post("/v1/logout", json::object{}, session);
  }
  std::string path = ProfilePath();
  json::object profile{{"api_url", c.api_url}, {"token", token}};
  // The CA file --ca-file (or EDGEVAULT_CA_FILE) named, for every later command.
  if (const char* ca = std::getenv("EDGEVAULT_CA_FILE"); ca != nullptr && *ca != '\0') {
    profile["ca_file"] = std::filesystem::absolute(ca).string();
  }
  // Where auth is, for whoami, logout, api-key and member (cli/account_cmds.h).
  if (!c.auth_url.empty() || !c.login_email.empty()) {
    profile["auth_url"] = c.auth_url.empty() ? "http://127.0.0.1:8083" : c.auth_url;
  }
  absl::Status st = WriteProfile(profile);
  if (!st.ok()) return Fail(std::string(st.message()));
  std::printf("Logged in; profile \"%s\" written to %s (mode 0600).\n", ProfileName().c_str(), path.c_str());
  return 0;
}

// `profile list` and `profile use NAME`: the profiles of the config file (api_client.h).
int RunProfile(ApiCommands& c) {
  json::object all = ReadProfiles();
  const std::string current = all.contains("current") && all["current"].is_string()
                                  ? std::string(all["current"].get_string())
                                  : std::string();
  json::object profiles = all.contains("profiles") && all["profiles"].is_object() ? all["profiles"].get_object()
                                                                                  : json::object{};
  if (c.profile_use->parsed()) {
    if (!profiles.contains(c.profile_name)) {
      return Fail("no profile \"" + c.profile_name + "\" in " + ProfilePath() +
                  "; create it with `edgevault login --profile " + c.profile_name + " --api-url URL ...`");
    }
    all["current"] = c.profile_name;
    absl::Status st = base::Env::Default()->WriteFileAtomically(ProfilePath(), json::serialize(all) + "\n", 0600);
    if (!st.ok()) return Fail(std::string(st.message()));
    std::printf("Using profile \"%s\".\n", c.profile_name.c_str());
    return 0;
  }
  if (c.as_json) {
    json::array out;
    for (const auto& member : profiles) {
      std::string name(member.key().data(), member.key().size());
      out.push_back(json::object{{"name", name}, {"current", name == current},
                                 {"api_url", StringMember(member.value(), "api_url").value_or("")}});
    }
    std::printf("%s\n", json::serialize(out).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& member : profiles) {
    std::string name(member.key().data(), member.key().size());
    rows.push_back({name == current ? "*" : "", name, StringMember(member.value(), "api_url").value_or("")});
  }
  PrintTable({"CURRENT", "NAME", "API URL"}, rows);
  return 0;
}

// Every config and secret of (workspace, env) as NAME → value. Secrets win nothing:
// a name that two items map to is an error, never a silent overwrite.
std::optional<std::map<std::string, std::string>> FetchVariables(ApiCommands& c, Client& client, int* rc) {
  std::map<std::string, std::string> vars;
  std::map<std::string, std::string> origin;
  auto add = [&](const std::string& key, std::string value, const char* what) {
    std::string name = EnvVarFor(key);
    if (auto it = origin.find(name); it != origin.end()) {
      std::fprintf(stderr, "edgevault: %s \"%s\" and %s both become %s; rename one\n", what, key.c_str(),
                   it->second.c_str(), name.c_str());
      return false;
    }
    origin[name] = std::string(what) + " \"" + key + "\"";
    vars[name] = std::move(value);
    return true;
  };
  Reply doc = client.Call("GET", WsPath(c) + "/environments/" + c.env + "/resolved");
  if ((*rc = Check(doc))) return std::nullopt;
  const json::object* configs = ObjectMember(doc.body, "configs");
  if (configs == nullptr) {
    *rc = Unexpected(doc, "no \"configs\" object in the resolved document");
    return std::nullopt;
  }
  for (const auto& kv : *configs) {
    const json::value* v = Member(kv.value(), "value");
    if (v == nullptr) {
      *rc = Unexpected(doc, "config \"" + std::string(kv.key()) + "\" has no \"value\"");
      return std::nullopt;
    }
    if (!add(std::string(kv.key()), v->is_string() ? std::string(v->get_string()) : json::serialize(*v), "config")) {
      *rc = 2;
      return std::nullopt;
    }
  }
  Reply secrets = client.Call("GET", WsPath(c) + "/environments/" + c.env + "/secrets");
  if ((*rc = Check(secrets))) return std::nullopt;
  const json::object* values = ObjectMember(secrets.body, "secrets");
  if (values == nullptr) {
    *rc = Unexpected(secrets, "no \"secrets\" object");
    return std::nullopt;
  }
  for (const auto& kv : *values) {
    if (!kv.value().is_string()) {
      *rc = Unexpected(secrets, "secret \"" + std::string(kv.key()) + "\" is not a string");
      return std::nullopt;
    }
    if (!add(std::string(kv.key()), std::string(kv.value().get_string()), "secret")) {
      *rc = 2;
      return std::nullopt;
    }
  }
  // Secrets set in an environment the caller may not read secrets in (for example
  // inherited from a protected one) are withheld by the api: say so, never silently.
  if (const json::value* withheld = secrets.body.get_object().if_contains("withheld");
      withheld != nullptr && withheld->is_object()) {
    for (const auto& kv : withheld->get_object()) {
      std::string from = "?";
      if (const json::object* w = kv.value().if_object()) {
        if (const json::value* f = w->if_contains("from"); f != nullptr && f->is_string()) from = f->get_string();
      }
      std::fprintf(stderr,
                   "edgevault: secret \"%s\" withheld: its value in \"%s\" comes from \"%s\", where you may not "
                   "read secrets (ask an admin, or set it in \"%s\" itself)\n",
                   std::string(kv.key()).c_str(), c.env.c_str(), from.c_str(), c.env.c_str());
    }
  }
  *rc = 0;
  return vars;
}

volatile sig_atomic_t g_child = 0;
void Forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

int RunChild(const std::vector<std::string>& command, const std::map<std::string, std::string>& vars) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    std::string name(entry.substr(0, entry.find('=')));
    if (!vars.count(name)) env_strings.emplace_back(entry);
  }
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Fail("fork failed");
  if (pid == 0) {
    ::execvpe(argv[0], argv.data(), envp.data());
    std::fprintf(stderr, "edgevault run: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  g_child = pid;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) ::signal(sig, Forward);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

// --ca-file FILE: extra CA certificates (PEM) for https:// URLs. It sets EDGEVAULT_CA_FILE
// for this process, which every client reads (api_client.h CaFile), and login stores it
// in the profile.
std::unique_ptr<ApiCommands, void (*)(ApiCommands*)> AddApiCommands(CLI::App& app) {
  std::unique_ptr<ApiCommands, void (*)(ApiCommands*)> c(new ApiCommands(), Delete);
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--api-url", c->api_url, "api base URL (default $EDGEVAULT_API_URL, the profile, http://127.0.0.1:8081)");
    cmd->add_option("--token", c->token, "JWT or API key (default $EDGEVAULT_TOKEN or the profile)");
    cmd->add_flag("--json", c->as_json, "print the server's JSON instead of a table");
    AddConnectionOptions(cmd);
    return cmd;
  };
  auto with_reason = [&](CLI::App* cmd) {
    cmd->add_option("--reason,-m", c->reason, "why (recorded in the revision)")->required();
    return cmd;
  };

  c->login = app.add_subcommand("login", "store the api URL and a token in the profile");
  c->login->add_option("--api-url", c->api_url, "api base URL");
  c->login->add_option("--auth-url", c->auth_url, "auth base URL (default http://127.0.0.1:8083)");
  AddConnectionOptions(c->login);
  CLI::App* profile = app.add_subcommand("profile", "the CLI's profiles (one per server): list, use");
  profile->require_subcommand(1);
  c->profile_list = profile->add_subcommand("list", "list the profiles; * marks the current one");
  c->profile_list->add_flag("--json", c->as_json, "print JSON");
  c->profile_use = profile->add_subcommand("use", "make NAME the current profile");
  c->profile_use->add_option("name", c->profile_name, "the profile")->required();
  c->login->add_option("--api-key", c->login_api_key, "an existing API key (evk_...)");
  c->login->add_option("--email", c->login_email, "log in with email and password, then mint a CLI API key");
  c->login->add_flag("--password-stdin", c->password_stdin, "read the password from standard input");

  CLI::App* ws = app.add_subcommand("ws", "workspaces");
  ws->require_subcommand(1);
  c->ws_create = common(ws->add_subcommand("create", "create a workspace"));
  c->ws_create->add_option("key", c->key, "workspace key")->required();
  c->ws_create->add_option("--name", c->name, "display name");
  c->ws_list = common(ws->add_subcommand("list", "list workspaces"));
  c->ws_list->add_flag("--deleted", c->include_deleted, "also list deleted workspaces not purged yet (admin)");
  c->ws_delete = with_reason(common(ws->add_subcommand(
      "delete", "delete a workspace (admin): restorable until the grace period ends, then destroyed")));
  c->ws_delete->add_option("workspace", c->ws)->required();
  c->ws_delete->add_flag("--yes,-y", c->yes, "do not ask to type the key (for scripts)");
  c->ws_delete->add_flag("--purge-now", c->purge_now,
                         "destroy an ALREADY deleted workspace now instead of at the end of its grace period");
  c->ws_restore = with_reason(common(ws->add_subcommand("restore", "restore a deleted workspace (admin)")));
  c->ws_restore->add_option("workspace", c->ws)->required();
  c->ws_rename = with_reason(common(ws->add_subcommand("rename", "change a workspace's display name (admin)")));
  c->ws_rename->add_option("workspace", c->ws)->required();
  c->ws_rename->add_option("name", c->name, "the new display name (the key stays)")->required();

  CLI::App* env = app.add_subcommand("env", "environments");
  env->require_subcommand(1);
  c->env_create = with_reason(common(env->add_subcommand("create", "create an environment")));
  c->env_create->add_option("workspace", c->ws)->required();
  c->env_create->add_option("key", c->key)->required();
  c->env_create->add_option("--name", c->name);
  c->env_create->add_option("--parent", c->parent, "inherit every value this environment does not set");
  c->env_create->add_flag("--protected", c->is_protected, "writes need the admin role");
  c->env_list = common(env->add_subcommand("list", "list a workspace's environments"));
  c->env_list->add_option("workspace", c->ws)->required();
  c->env_rename = with_reason(common(env->add_subcommand("rename", "change an environment's display name (admin)")));
  c->env_rename->add_option("workspace", c->ws)->required();
  c->env_rename->add_option("environment", c->env)->required();
  c->env_rename->add_option("name", c->name, "the new display name (the key stays)")->required();
  c->env_protect = with_reason(common(env->add_subcommand("protect", "make writes to an environment need the admin role (admin)")));
  c->env_protect->add_option("workspace", c->ws)->required();
  c->env_protect->add_option("environment", c->env)->required();
  c->env_unprotect = with_reason(common(env->add_subcommand("unprotect", "let developers write an environment again (admin)")));
  c->env_unprotect->add_option("workspace", c->ws)->required();
  c->env_unprotect->add_option("environment", c->env)->required();
  c->env_parent = with_reason(common(env->add_subcommand(
      "parent", "change what an environment inherits from: another environment, or none with --root (admin)")));
  c->env_parent->add_option("workspace", c->ws)->required();
  c->env_parent->add_option("environment", c->env)->required();
  c->env_parent->add_option("parent", c->parent, "the environment to inherit from");
  c->env_parent->add_flag("--root", c->root, "inherit from nothing");
  c->env_policy = with_reason(common(env->add_subcommand(
      "policy", "show or change an environment's review policy: approvals, who approves, change requests only, "
                "secret-leak scanning (admin; options not given keep their value)")));
  c->env_policy->add_option("workspace", c->ws)->required();
  c->env_policy->add_option("environment", c->env)->required();
  c->env_policy->add_option("--approvals", c->policy_approvals, "approvals a change request needs (0-10)")
      ->check(CLI::Range(0, 10));
  c->env_policy->add_option("--approver-roles", c->policy_approver_roles, "roles that may approve: developer, admin, owner")
      ->delimiter(',')->check(CLI::IsMember({"developer", "admin", "owner"}));
  c->env_policy->add_option("--change-requests-required", c->policy_change_requests,
                            "true: direct writes are refused, every change goes through a change request");
  c->env_policy->add_option("--leak-scan", c->policy_leak_scan, "what a write carrying a credential gets: off, warn, block")
      ->check(CLI::IsMember({"off", "warn", "block"}));
  c->env_delete = with_reason(common(env->add_subcommand(
      "delete", "delete an environment and every value set in it (admin)")));
  c->env_delete->add_option("workspace", c->ws)->required();
  c->env_delete->add_option("environment", c->env)->required();
  c->env_delete->add_option("--reparent-children-to", c->reparent_children_to,
                            "environments inheriting from it inherit from this one instead");
  c->env_delete->add_flag("--children-become-roots", c->children_become_roots,
                          "environments inheriting from it inherit from nothing instead");
  c->env_delete->add_flag("--revoke-sdk-keys", c->revoke_sdk_keys, "revoke the SDK keys that read it");
  c->env_delete->add_flag("--yes,-y", c->yes, "do not ask first (for scripts)");

  CLI::App* config = app.add_subcommand("config", "configs");
  config->require_subcommand(1);
  c->config_set = with_reason(common(config->add_subcommand(
      "set", "set values of a config (other environments keep theirs)")));
  c->config_set->add_option("workspace", c->ws)->required();
  c->config_set->add_option("key", c->key)->required();
  c->config_set->add_option("--type", c->type, "string, integer, number, boolean or json (default: kept, or string)");
  c->config_set->add_option("--value,-v", c->values, "ENV=VALUE (VALUE as JSON when it parses, else a string)")
      ->required()->take_all();
  c->config_get = common(config->add_subcommand("get", "show a config"));
  c->config_get->add_option("workspace", c->ws)->required();
  c->config_get->add_option("key", c->key)->required();

  CLI::App* flag = app.add_subcommand("flag", "feature flags");
  flag->require_subcommand(1);
  c->flag_set = with_reason(common(flag->add_subcommand("set", "create or replace a flag from a JSON or YAML file")));
  c->flag_set->add_option("workspace", c->ws)->required();
  c->flag_set->add_option("key", c->key)->required();
  c->flag_set->add_option("--file,-f", c->file, "the flag definition (.json, .yaml or .yml)")->required();
  c->flag_get = common(flag->add_subcommand("get", "show a flag"));
  c->flag_get->add_option("workspace", c->ws)->required();
  c->flag_get->add_option("key", c->key)->required();
  c->flag_eval = common(flag->add_subcommand(
      "eval", "evaluate a flag for one context in every environment (nothing is written)"));
  c->flag_eval->add_option("workspace", c->ws)->required();
  c->flag_eval->add_option("key", c->key)->required();
  c->flag_eval->add_option("--context", c->context,
                           "the evaluation context, a JSON object: '{\"targetingKey\":\"user-1\",\"plan\":\"pro\"}' "
                           "(default {})");
  c->flag_eval->add_option("--env,-e", c->eval_envs, "only these environments (repeatable)");

  c->history = common(app.add_subcommand("history", "revisions of a workspace"));
  c->history->add_option("workspace", c->ws)->required();
  c->history->add_option("--after", c->after, "only revisions after this number");
  c->history->add_option("--limit", c->limit, "at most this many (1-1000)");
  c->history->add_flag("--diff", c->diff, "under each revision, what it changed in each environment (before → after)");

  c->revert = with_reason(common(app.add_subcommand("revert", "undo one revision as a new revision")));
  c->revert->add_option("workspace", c->ws)->required();
  c->revert->add_option("revision", c->revision)->required();

  c->rollback = with_reason(common(app.add_subcommand("rollback", "restore a workspace to its state after a revision")));
  c->rollback->add_option("workspace", c->ws)->required();
  c->rollback->add_option("--to", c->revision, "the revision to return to")->required();
  c->rollback->add_flag("--dry-run", c->dry_run, "list what the rollback would change, write nothing");
  c->rollback->add_flag("--yes,-y", c->yes, "do not ask before a rollback that deletes items (for scripts)");

  CLI::App* sdk = app.add_subcommand("sdk-key", "SDK keys");
  sdk->require_subcommand(1);
  c->sdk_key = common(sdk->add_subcommand("create", "mint an SDK key for one environment (shown once)"));
  c->sdk_key->add_option("workspace", c->ws)->required();
  c->sdk_key->add_option("environment", c->env)->required();
  c->sdk_key->add_option("--name", c->name);
  c->sdk_key->add_flag("--client", c->sdk_client,
                       "a client key, safe in a web page: client-visible items only, CORS for --origin");
  c->sdk_key->add_option("--origin", c->sdk_origins,
                         "a browser origin allowed to use the client key (scheme://host[:port]; repeat for more)");
  c->sdk_key_list = common(sdk->add_subcommand("list", "SDK keys of a workspace (never the keys themselves)"));
  c->sdk_key_list->add_option("workspace", c->ws)->required();
  c->sdk_key_revoke = common(sdk->add_subcommand(
      "revoke", "revoke an SDK key: delivery refuses it from its next request on"));
  c->sdk_key_revoke->add_option("workspace", c->ws)->required();
  c->sdk_key_revoke->add_option("environment", c->env)->required();
  c->sdk_key_revoke->add_option("id", c->key, "the key's id (sdk_..., from `sdk-key list`)")->required();

  CLI::App* webhook = app.add_subcommand("webhook", "webhooks of a workspace (docs/design/webhooks.md)");
  webhook->require_subcommand(1);
  c->webhook_add = common(webhook->add_subcommand("add", "register a webhook; prints its signing secret (shown once)"));
  c->webhook_add->add_option("workspace", c->ws)->required();
  c->webhook_add->add_option("url", c->url, "http[s]://host[:port]/path")->required();
  c->webhook_add->add_option("--events", c->events,
                             "comma-separated event types, or * for all (default *)");
  c->webhook_add->add_option("--description", c->description);
  c->webhook_list = common(webhook->add_subcommand("list", "webhooks of a workspace with their delivery state"));
  c->webhook_list->add_option("workspace", c->ws)->required();
  c->webhook_rm = common(webhook->add_subcommand("rm", "delete a webhook: nothing more is sent to it"));
  c->webhook_rm->add_option("workspace", c->ws)->required();
  c->webhook_rm->add_option("id", c->key, "the webhook's id (wh_..., from `webhook list`)")->required();

  CLI::App* org_webhook = app.add_subcommand(
      "org-webhook", "webhooks of the whole org: every workspace's events, admins only (docs/design/webhooks.md)");
  org_webhook->require_subcommand(1);
  c->org_webhook_add = common(org_webhook->add_subcommand(
      "add", "register an org webhook for every workspace of the org; prints its signing secret (shown once)"));
  c->org_webhook_add->add_option("url", c->url, "http[s]://host[:port]/path")->required();
  c->org_webhook_add->add_option("--events", c->events, "comma-separated event types, or * for all (default *)");
  c->org_webhook_add->add_option("--description", c->description);
  c->org_webhook_list = common(org_webhook->add_subcommand("list", "the org's webhooks with their delivery state"));
  c->org_webhook_rm = common(org_webhook->add_subcommand("rm", "delete an org webhook: no workspace sends to it any more"));
  c->org_webhook_rm->add_option("id", c->key, "the webhook's id (wh_..., from `org-webhook list`)")->required();

  c->run = common(app.add_subcommand(
      "run", "run a command with every config and secret of an environment as environment variables"));
  c->run->add_option("--workspace,-w", c->ws)->required();
  c->run->add_option("--env,-e", c->env)->required();
  c->run->add_option("command", c->command, "the command and its arguments, after --")->required();
  c->export_cmd = common(app.add_subcommand(
      "export", "print every config and secret of an environment, or (--all) the whole workspace as a file "
                "`import --from workspace` reads back"));
  c->export_cmd->add_option("--workspace,-w", c->ws)->required();
  c->export_cmd->add_option("--env,-e", c->env, "the environment (required without --all)");
  c->export_cmd->add_flag("--all", c->export_all,
                          "the whole workspace: environments, configs, flags, segments, secret names (never values); "
                          "yaml (default) or json");
  c->export_cmd->add_option("--format", c->format, "dotenv, json or yaml")
      ->check(CLI::IsMember({"dotenv", "json", "yaml"}))->capture_default_str();

  c->import_cmd = with_reason(common(app.add_subcommand(
      "import", "set an environment's configs (or secrets) from a dotenv file, e.g. one `export` wrote, or a "
                "workspace's flags from a LaunchDarkly or Unleash export; all in one batch, or nothing")));
  c->import_cmd->add_option("--from", c->import_from,
                            "the file's format: dotenv, launchdarkly, unleash or workspace (a file `export --all` wrote)")
      ->check(CLI::IsMember({"dotenv", "launchdarkly", "unleash", "workspace"}))->capture_default_str();
  c->import_cmd->add_option("file", c->file, "the file")->required();
  c->import_cmd->add_option("--workspace,-w", c->ws)->required();
  c->import_cmd->add_option("--env,-e", c->env, "the environment (dotenv: required)");
  c->import_cmd->add_option("--only-env", c->import_only_env, "launchdarkly: import this environment only");
  c->import_cmd->add_option("--env-map", c->import_env_map,
                            "launchdarkly, unleash: FROM=TO puts the file's environment FROM into TO (repeatable)");
  c->import_cmd->add_flag("--secrets", c->import_secrets, "set secrets instead of configs (values never printed)");
  c->import_cmd->add_flag("--dry-run", c->dry_run, "list what it would set, write nothing");

  c->promote = common(app.add_subcommand(
      "promote", "open a change request that promotes what one environment serves into another"));
  c->promote->add_option("workspace", c->ws)->required();
  c->promote->add_option("--from", c->from, "the source environment")->required();
  c->promote->add_option("--to", c->to, "the target environment")->required();
  c->promote->add_option("--items", c->items, "only these item keys (comma-separated; KIND:KEY to name one kind)")
      ->delimiter(',');
  c->promote->add_option("--kinds", c->kinds, "only these kinds: config, flag, secret (comma-separated)")->delimiter(',');
  c->promote->add_option("--title,-t", c->title, "the change request's title (required unless --dry-run)");
  c->promote->add_option("--description,-d", c->description);
  c->promote->add_flag("--dry-run", c->dry_run, "show the diff; create nothing");
  CLI::App* cr = app.add_subcommand("cr", "change requests");
  cr->require_subcommand(1);
  c->mcp = app.add_subcommand("mcp",
                              "serve the Model Context Protocol over stdio for a local agent, relayed to the "
                              "api's /mcp with your token (docs/mcp.md)");
  c->mcp->add_option("--api-url", c->api_url, "api base URL (default $EDGEVAULT_API_URL, the profile, http://127.0.0.1:8081)");
  c->mcp->add_option("--token", c->token, "JWT or API key (default $EDGEVAULT_TOKEN or the profile)");
  c->cr_propose = common(cr->add_subcommand(
      "propose", "open a change request proposing changes directly (for change-request-only environments)"));
  c->cr_propose->add_option("workspace", c->ws)->required();
  c->cr_propose->add_option("--title,-t", c->title, "the change request's title (required unless --dry-run)");
  c->cr_propose->add_option("--description,-d", c->description);
  c->cr_propose->add_option("--file,-f", c->file, "changes from a JSON or YAML file: {\"changes\": [...]} as the api takes them");
  c->cr_propose->add_option("--body", c->propose_body, "KIND:KEY=FILE: the whole config, flag or segment from a file");
  c->cr_propose->add_option("--config", c->propose_config,
                            "KEY@ENV=VALUE: a config's value in one environment (as `config set` reads it)");
  c->cr_propose->add_option("--flag", c->propose_flag,
                            "KEY@ENV=FILE: a flag's configuration in one environment, from a JSON or YAML file");
  c->cr_propose->add_option("--secret", c->propose_secret,
                            "KEY@ENV: a secret's value in one environment, read as one line from standard input "
                            "(in the order given; never on the command line)");
  c->cr_propose->add_option("--unset", c->propose_unset,
                            "KIND:KEY@ENV: remove an environment's own value or configuration (it inherits again)");
  c->cr_propose->add_option("--delete", c->propose_delete, "KIND:KEY: delete an item");
  c->cr_propose->add_flag("--dry-run", c->dry_run, "show the diff; create nothing");
  c->cr_list = common(cr->add_subcommand("list", "change requests of a workspace, newest first"));
  c->cr_list->add_option("workspace", c->ws)->required();
  for (const char* op : {"show", "approve", "reject", "apply", "rebase", "close", "comment", "revert", "schedule",
                         "unschedule"}) {
    static const std::map<std::string, std::string> kHelp = {
        {"show", "show a change request with its diff, reviews and comments"},
        {"approve", "approve (never your own; roles from the environments' policies)"},
        {"reject", "reject (final)"},
        {"apply", "apply it: one atomic commit, refused when its items changed since (rebase)"},
        {"rebase", "recompute the diff against the current workspace (approvals reset)"},
        {"close", "close without applying (author or admin)"},
        {"comment", "add a comment"},
        {"revert", "open a change request that restores every item an applied one changed"},
        {"schedule", "have the api apply an approved change request at a time (as you, re-checked then)"},
        {"unschedule", "cancel a scheduled apply (back to approved)"}};
    CLI::App* cmd = common(cr->add_subcommand(op, kHelp.at(op)));
    cmd->add_option("workspace", c->ws)->required();
    cmd->add_option("id", c->cr_id, "the change request's number")->required();
    if (std::string(op) == "approve" || std::string(op) == "reject") cmd->add_option("--comment,-c", c->comment);
    if (std::string(op) == "comment") cmd->add_option("text", c->comment)->required();
    if (std::string(op) == "schedule") {
      cmd->add_option("--at", c->apply_at, "an RFC 3339 time (2026-03-04T05:06:07Z) or +DURATION from now (+10m, +2h)")
          ->required();
    }
    c->cr_ops[op] = cmd;
  }
  return c;
}

namespace {

// A change request as a few lines of text: header, state, approvals, each change.
void PrintChangeRequest(const json::value& cr, const ActorNames& names) {
  std::printf("#%s %s [%s]\n", Field(cr, "id").value_or("?").c_str(), Field(cr, "title").value_or("").c_str(),
              Field(cr, "state").value_or("?").c_str());
  const json::array* approvals = ArrayMember(cr, "approvals");
  std::printf("author %s, base revision %s, approvals %zu of %s\n", names.Name(Field(cr, "author").value_or("?")).c_str(),
              Field(cr, "base_revision").value_or("?").c_str(), approvals == nullptr ? size_t{0} : approvals->size(),
              Field(cr, "required_approvals").value_or("0").c_str());
  if (std::optional<std::string> why = Field(cr, "state_reason")) std::printf("reason: %s\n", why->c_str());
  if (std::optional<std::string> at = Field(cr, "apply_at")) {
    std::printf("scheduled for %s by %s\n", at->c_str(), names.Name(Field(cr, "scheduled_by").value_or("?")).c_str());
  }
  if (const json::array* changes = ArrayMember(cr, "changes")) {
    std::vector<std::vector<std::string>> rows;
    for (const json::value& ch : *changes) {
      std::string what;
      const json::value* del = Member(ch, "delete");
      if (del != nullptr && del->is_bool() && del->get_bool()) {
        what = "delete";
      } else if (const json::value* rm = Member(ch, "remove"); rm != nullptr && rm->is_bool() && rm->get_bool()) {
        what = "remove the secret's value";
      } else if (const json::object* source = ObjectMember(ch, "source"); source != nullptr && source->contains("proposal")) {
        what = "new secret value (sealed, never shown)";
      } else if (source != nullptr) {
        what = "secret value from " + Field(*source, "environment").value_or("?") + " (v" +
               Field(*source, "version").value_or("?") + ")";
      } else {
        const json::value* before = Member(ch, "before");
        const json::value* after = Member(ch, "after");
        what = (before ? Compact(*before) : "null") + " -> " + (after ? Compact(*after) : "null");
      }
      std::string env = Field(ch, "environment").value_or("?");
      rows.push_back({Field(ch, "kind").value_or("?") + " " + Field(ch, "key").value_or("?"),
                      env.empty() ? "(whole item)" : env, what});
    }
    PrintTable({"ITEM", "ENVIRONMENT", "CHANGE"}, rows);
  }
}

}  // namespace

namespace {

// "A@B" → {A, B}; nullopt without an '@' or with an empty side.
std::optional<std::pair<std::string, std::string>> SplitAt(const std::string& s, char sep) {
  size_t at = s.find(sep);
  if (at == std::string::npos || at == 0 || at + 1 == s.size()) return std::nullopt;
  return std::pair{s.substr(0, at), s.substr(at + 1)};
}

// `cr propose`: the options become the api's change entries, in the documented order.
int RunPropose(ApiCommands& c, Client& client) {
  if (!c.dry_run && c.title.empty()) return Fail("edgevault cr propose needs a title (-t TITLE) unless --dry-run");
  std::string error;
  json::array changes;
  if (!c.file.empty()) {
    std::optional<json::object> doc = ReadDocument(c.file, &error);
    if (!doc) return Fail(error);
    const json::value* list = doc->if_contains("changes");
    if (list == nullptr || !list->is_array()) return Fail(c.file + ": needs a \"changes\" list");
    changes = list->get_array();
  }
  for (const std::string& b : c.propose_body) {
    auto kind_key = SplitAt(b.substr(0, b.find('=')), ':');
    size_t eq = b.find('=');
    if (!kind_key || eq == std::string::npos) return Fail("--body takes KIND:KEY=FILE, got \"" + b + "\"");
    std::optional<json::object> doc = ReadDocument(b.substr(eq + 1), &error);
    if (!doc) return Fail(error);
    doc->erase("reason");
    changes.push_back(json::object{{"kind", kind_key->first}, {"key", kind_key->second}, {"body", *doc}});
  }
  // A string config takes VALUE as it is, any other type as JSON (as `config set` does).
  std::map<std::string, bool> is_string;
  for (const std::string& kv : c.propose_config) {
    size_t eq = kv.find('=');
    auto key_env = SplitAt(kv.substr(0, eq), '@');
    if (!key_env || eq == std::string::npos) return Fail("--config takes KEY@ENV=VALUE, got \"" + kv + "\"");
    if (!is_string.contains(key_env->first)) {
      Reply current = client.Call("GET", WsPath(c) + "/configs/" + key_env->first);
      if (current.status != 200) return Check(current);
      std::optional<std::string> type = Field(current.body, "type");
      is_string[key_env->first] = type.value_or("string") == "string";
    }
    std::string value = kv.substr(eq + 1);
    boost::system::error_code ec;
    json::value parsed = json::parse(value, ec);
    if (ec || is_string[key_env->first]) parsed = json::value(value);
    changes.push_back(json::object{{"kind", "config"}, {"key", key_env->first}, {"environment", key_env->second},
                                   {"value", parsed}});
  }
  for (const std::string& kv : c.propose_flag) {
    size_t eq = kv.find('=');
    auto key_env = SplitAt(kv.substr(0, eq), '@');
    if (!key_env || eq == std::string::npos) return Fail("--flag takes KEY@ENV=FILE, got \"" + kv + "\"");
    std::optional<json::object> doc = ReadDocument(kv.substr(eq + 1), &error);
    if (!doc) return Fail(error);
    changes.push_back(json::object{{"kind", "flag"}, {"key", key_env->first}, {"environment", key_env->second},
                                   {"configuration", *doc}});
  }
  for (const std::string& ke : c.propose_secret) {
    auto key_env = SplitAt(ke, '@');
    if (!key_env) return Fail("--secret takes KEY@ENV (the value comes from standard input), got \"" + ke + "\"");
    std::string value;
    if (!std::getline(std::cin, value)) {
      return Fail("--secret " + ke + ": no line left on standard input for its value");
    }
    if (!value.empty() && value.back() == '\r') value.pop_back();
    changes.push_back(json::object{{"kind", "secret"}, {"key", key_env->first}, {"environment", key_env->second},
                                   {"value", value}});
  }
  for (const std::string& u : c.propose_unset) {
    auto kind_rest = SplitAt(u, ':');
    auto key_env = kind_rest ? SplitAt(kind_rest->second, '@') : std::nullopt;
    if (!key_env) return Fail("--unset takes KIND:KEY@ENV, got \"" + u + "\"");
    json::object e{{"kind", kind_rest->first}, {"key", key_env->first}, {"environment", key_env->second}};
    e[kind_rest->first == "flag" ? "configuration" : "value"] = nullptr;
    changes.push_back(std::move(e));
  }
  for (const std::string& d : c.propose_delete) {
    auto kind_key = SplitAt(d, ':');
    if (!kind_key) return Fail("--delete takes KIND:KEY, got \"" + d + "\"");
    changes.push_back(json::object{{"kind", kind_key->first}, {"key", kind_key->second}, {"delete", true}});
  }
  if (changes.empty()) {
    return Fail("nothing to propose: give --config, --flag, --secret, --unset, --body, --delete or --file");
  }
  json::object body{{"changes", std::move(changes)}, {"dry_run", c.dry_run}};
  if (!c.title.empty()) body["title"] = c.title;
  if (!c.description.empty()) body["description"] = c.description;
  json::value v = body;
  Reply r = client.Call("POST", WsPath(c) + "/change-requests", &v);
  return Output(c, r, [&]() -> std::optional<std::string> {
    if (ArrayMember(r.body, "changes") == nullptr) return Missing("changes");
    if (c.dry_run) {
      std::printf("Dry run: would change (base revision %s, %s approvals required):\n",
                  Field(r.body, "base_revision").value_or("?").c_str(),
                  Field(r.body, "required_approvals").value_or("0").c_str());
    } else {
      std::printf("Opened change request #%s.\n", Field(r.body, "id").value_or("?").c_str());
    }
    PrintChangeRequest(r.body, ActorNames::Load(c.token));
    return std::nullopt;
  });
}

// A batch answer's "items" as table rows of the members `columns` ("?" where absent).
std::vector<std::vector<std::string>> BatchItemRows(const json::value& body, std::initializer_list<const char*> columns) {
  std::vector<std::vector<std::string>> rows;
  if (const json::array* items = ArrayMember(body, "items")) {
    for (const json::value& item : *items) {
      std::vector<std::string>& row = rows.emplace_back();
      for (const char* column : columns) row.push_back(StringMember(item, column).value_or("?"));
    }
  }
  return rows;
}

// `import --from launchdarkly|unleash FILE -w WS`: every flag of the file, converted
// (flag_import.h; what does not map is refused before anything is sent), as one batch of
// whole-flag changes: all of them in one commit, or none.
int ImportFlags(const ApiCommands& c, Client& client) {
  std::ifstream f(c.file, std::ios::binary);
  if (!f) return Fail("cannot read " + c.file);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return Fail(c.file + ": not JSON (" + ec.message() + "); nothing was imported");
  if (!c.import_only_env.empty() && c.import_from != "launchdarkly") return Fail("--only-env is for --from launchdarkly");
  absl::StatusOr<std::vector<ImportedFlag>> flags =
      c.import_from == "launchdarkly" ? FlagsFromLaunchDarkly(doc, c.import_only_env) : FlagsFromUnleash(doc);
  if (!flags.ok()) return Fail(c.file + ": " + std::string(flags.status().message()) + "; nothing was imported");
  std::map<std::string, std::string> env_map;
  for (const std::string& m : c.import_env_map) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) return Fail("--env-map takes FROM=TO, got \"" + m + "\"");
    env_map[m.substr(0, eq)] = m.substr(eq + 1);
  }
  json::array changes;
  for (ImportedFlag& flag : *flags) {
    if (!env_map.empty()) {
      json::object renamed;
      for (auto& member : flag.body["environments"].as_object()) {
        std::string from(member.key().data(), member.key().size());
        auto it = env_map.find(from);
        std::string to = it == env_map.end() ? from : it->second;
        if (renamed.contains(to)) return Fail("--env-map puts two environments of flag \"" + flag.key + "\" into " + to);
        renamed[to] = std::move(member.value());
      }
      flag.body["environments"] = std::move(renamed);
    }
    changes.push_back(json::object{{"kind", "flag"}, {"key", flag.key}, {"body", std::move(flag.body)}});
  }
  const size_t total = changes.size();
  json::value batch = json::object{{"changes", std::move(changes)}, {"reason", c.reason}, {"dry_run", c.dry_run}};
  Reply r = client.Call("POST", WsPath(c) + "/batch", &batch);
  if (r.status / 100 != 2) {
    int rc = Check(r);
    std::fprintf(stderr, "edgevault: nothing was imported\n");
    return rc;
  }
  if (c.as_json) {
    std::printf("%s\n", json::serialize(r.body).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = BatchItemRows(r.body, {"action", "key"});
  if (!rows.empty()) PrintTable({"ACTION", "FLAG"}, rows);
  if (c.dry_run) {
    std::printf("Dry run: nothing was written.\n");
    return 0;
  }
  std::printf("Imported %zu flag(s) into %s (%zu unchanged).\n", rows.size(), c.ws.c_str(), total - rows.size());
  return 0;
}

// `export -w WS --all [--format yaml|json]`: the whole workspace (workspace_export.h),
// secrets by name only.
int ExportWorkspace(const ApiCommands& c, Client& client) {
  if (!c.env.empty()) return Fail("--all exports every environment: leave out --env");
  const bool yaml = c.format == "dotenv" || c.format == "yaml";  // dotenv is only the per-environment default
  if (c.format == "dotenv" && c.export_cmd->count("--format") > 0) {
    return Fail("--all writes yaml or json, not dotenv");
  }
  // The api builds the file (GET …/export), of one revision, as the console downloads it.
  Reply r = client.Call("GET", WsPath(c) + "/export?format=" + (yaml ? "yaml" : "json"));
  if (int rc = Check(r)) return rc;
  std::fwrite(r.raw.data(), 1, r.raw.size(), stdout);
  return 0;
}

// `import -w WS --from workspace FILE`: the api's POST …/import (docs/api.md) does it: the
// environments the target lacks are created (parents first, with their protection and
// policy), then every config, flag and segment goes in as ONE batch (all or none). Secrets
// are named, never imported. The file is read (and, YAML, parsed) here.
int ImportWorkspace(const ApiCommands& c, Client& client) {
  std::string error;
  std::optional<json::object> doc = ReadDocument(c.file, &error);
  if (!doc) return Fail(error + "; nothing was imported");
  json::value body = json::object{{"document", std::move(*doc)}, {"reason", c.reason}, {"dry_run", c.dry_run}};
  Reply r = client.Call("POST", WsPath(c) + "/import", &body);
  if (int rc = Check(r)) return rc;
  if (!r.body.is_object()) return Unexpected(r, "not an object");
  auto strings = [&](std::string_view name) {
    std::vector<std::string> out;
    if (const json::array* a = ArrayMember(r.body, name)) {
      for (const json::value& v : *a) {
        if (v.is_string()) out.emplace_back(v.get_string());
      }
    }
    return out;
  };
  for (const std::string& s : strings("secrets_not_imported")) {
    std::fprintf(stderr, "edgevault: secret \"%s\" is listed by name only: set its values with `edgevault secret set`\n",
                 s.c_str());
  }
  const json::value* items = Member(r.body, "items");
  const int64_t total = items != nullptr && items->is_int64() ? items->get_int64() : 0;
  if (c.dry_run) {
    // The environments and the items are checked together, as one batch.
    for (const std::string& e : strings("environments_to_create")) std::printf("would create environment %s\n", e.c_str());
  }
  for (const std::string& e : strings("environments_created")) std::printf("Created environment %s.\n", e.c_str());
  for (const std::string& e : strings("policies_set")) std::printf("Set the policy of environment %s.\n", e.c_str());
  const json::value* batch = Member(r.body, "batch");
  if (batch == nullptr || batch->is_null()) {
    std::printf("%s0 items into %s.\n", c.dry_run ? "Dry run: would import " : "Imported ", c.ws.c_str());
    return 0;
  }
  if (c.as_json) {
    std::printf("%s\n", json::serialize(*batch).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = BatchItemRows(*batch, {"action", "kind", "key"});
  if (!rows.empty()) PrintTable({"ACTION", "KIND", "KEY"}, rows);
  if (c.dry_run) {
    std::printf("Dry run: nothing was written.\n");
    return 0;
  }
  std::printf("Imported %zu item(s) into %s (%lld unchanged).\n", rows.size(), c.ws.c_str(),
              static_cast<long long>(total) - static_cast<long long>(rows.size()));
  return 0;
}

}  // namespace

int RunApiCommands(ApiCommands& c) {
  if (c.login->parsed()) return RunLogin(c);
  if (c.profile_list->parsed() || c.profile_use->parsed()) return RunProfile(c);
  bool any = false;
  for (CLI::App* cmd : {c.ws_create, c.ws_list, c.ws_rename, c.ws_delete, c.ws_restore, c.env_create, c.env_list, c.env_rename, c.env_protect,
                        c.env_unprotect, c.env_parent, c.env_policy, c.env_delete, c.config_set, c.config_get, c.flag_set,
                        c.flag_get, c.flag_eval, c.history, c.revert, c.rollback, c.sdk_key, c.sdk_key_list, c.sdk_key_revoke,
                        c.webhook_add, c.webhook_list, c.webhook_rm, c.org_webhook_add, c.org_webhook_list,
                        c.org_webhook_rm, c.run, c.export_cmd, c.import_cmd, c.promote, c.cr_list,
                        c.cr_propose, c.mcp}) {
    any = any || cmd->parsed();
  }
  for (const auto& [op, cmd] : c.cr_ops) any = any || cmd->parsed();
  const bool audit_events = c.audit_events != nullptr && c.audit_events->parsed();
  if (!any && !audit_events) return -1;
  std::string error;
  std::optional<Client> client = Client::Connect(c.api_url, c.token, &error);
  if (!client) return Fail(error);
  if (c.mcp->parsed()) {
    return RelayMcpStdio(std::cin, std::cout, std::cerr,
                         [&](const std::string& method, const std::string& body,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
                           McpHttpReply r;
                           auto resp = client->Send(method, "/mcp", body, headers);
                           if (!resp.ok()) {
                             r.status = -1;
                             r.error = std::string(resp.status().message());
                             return r;
                           }
                           r.status = resp->status;
                           r.body = resp->body;
                           if (std::optional<std::string_view> id = resp->Header("Mcp-Session-Id")) {
                             r.session_id = std::string(*id);
                           }
                           return r;
                         });
  }

  if (c.ws_create->parsed()) {
    json::value body = json::object{{"key", c.key}, {"name", c.name.empty() ? c.key : c.name}};
    Reply r = client->Call("POST", "/v1/workspaces", &body);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> id = Field(r.body, "id");
      if (!id) return Missing("id");
      std::printf("Created workspace %s (%s).\n", c.key.c_str(), id->c_str());
      return std::nullopt;
    });
  }
  if (c.ws_list->parsed()) {
    Reply r = client->Call("GET", c.include_deleted ? "/v1/workspaces?include_deleted=true" : "/v1/workspaces");
    return Output(c, r, [&]() -> std::optional<std::string> {
      const json::array* workspaces = ArrayMember(r.body, "workspaces");
      if (workspaces == nullptr) return std::string("no \"workspaces\" array in it");
      std::vector<std::vector<std::string>> rows;
      for (const json::value& w : *workspaces) {
        std::optional<std::string> key = Field(w, "key"), name = Field(w, "name"), id = Field(w, "id");
        if (!key || !name || !id) return std::string("a workspace without \"key\", \"name\" or \"id\"");
        if (!c.include_deleted) {
          rows.push_back({*key, *name, *id});
          continue;
        }
        std::optional<std::string> purge = Field(w, "purge_after");
        rows.push_back({*key, *name, *id, purge ? "deleted, purged " + *purge : "live"});
      }
      if (c.include_deleted) {
        PrintTable({"KEY", "NAME", "ID", "STATE"}, rows);
      } else {
        PrintTable({"KEY", "NAME", "ID"}, rows);
      }
      return std::nullopt;
    });
  }
  if (c.ws_delete->parsed()) {
    // The key typed again is the API's own confirmation; --yes sends it without asking.
    if (!c.yes) {
      if (!::isatty(STDIN_FILENO)) {
        return Fail("deleting workspace " + c.ws + " needs its key typed again; nothing was changed. "
                    "Pass --yes to go ahead");
      }
      std::fprintf(stderr, "%s workspace %s: %s.\nType the workspace's key to confirm: ",
                   c.purge_now ? "This DESTROYS" : "This deletes", c.ws.c_str(),
                   c.purge_now ? "its items, history and secrets, now and for good"
                               : "nothing of it is served or readable until it is restored, and its data is "
                                 "destroyed when the grace period ends");
      std::string typed;
      std::getline(std::cin, typed);
      if (typed != c.ws) return Fail("the key typed does not match; nothing was changed");
    }
    json::value body = json::object{{"reason", c.reason}, {"confirm", c.ws}};
    Reply r = client->Call("DELETE", WsPath(c) + (c.purge_now ? "?purge=now" : ""), &body);
    return Output(c, r, [&]() -> std::optional<std::string> {
      if (c.purge_now) {
        std::printf("Purged workspace %s: its data is destroyed.\n", c.ws.c_str());
        return std::nullopt;
      }
      std::optional<std::string> purge = Field(r.body, "purge_after");
      if (!purge) return Missing("purge_after");
      std::printf("Deleted workspace %s. Restore it before %s with: edgevault ws restore %s -m REASON\n",
                  c.ws.c_str(), purge->c_str(), c.ws.c_str());
      return std::nullopt;
    });
  }
  if (c.ws_restore->parsed()) {
    json::value body = json::object{{"reason", c.reason}};
    Reply r = client->Call("POST", WsPath(c) + "/restore", &body);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> key = Field(r.body, "key");
      if (!key) return Missing("key");
      std::printf("Restored workspace %s.\n", key->c_str());
      return std::nullopt;
    });
  }
  if (c.ws_rename->parsed()) {
    json::value body = json::object{{"name", c.name}, {"reason", c.reason}};
    Reply r = client->Call("PATCH", WsPath(c), &body);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> name = Field(r.body, "name");
      if (!name) return Missing("name");
      std::printf("Renamed workspace %s to \"%s\".\n", c.ws.c_str(), name->c_str());
      return std::nullopt;
    });
  }
  if (c.env_create->parsed()) {
    json::object body{{"key", c.key}, {"name", c.name.empty() ? c.key : c.name}, {"reason", c.reason},
                      {"protected", c.is_protected}};
    if (!c.parent.empty()) body["parent"] = c.parent;
    json::value v = body;
    Reply r = client->Call("POST", WsPath(c) + "/environments", &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "revision");
      if (!revision) return Missing("revision");
      std::printf("Created environment %s (revision %s).\n", c.key.c_str(), revision->c_str());
      return std::nullopt;
    });
  }
  if (c.env_list->parsed()) {
    Reply r = client->Call("GET", WsPath(c) + "/environments");
    return Output(c, r, [&]() -> std::optional<std::string> {
      const json::array* envs = ArrayMember(r.body, "environments");
      if (envs == nullptr) return std::string("no \"environments\" array in it");
      std::vector<std::vector<std::string>> rows;
      for (const json::value& e : *envs) {
        std::optional<std::string> key = Field(e, "key"), name = Field(e, "name");
        const json::value* parent = Member(e, "parent");
        const json::value* is_protected = Member(e, "protected");
        if (!key || !name || is_protected == nullptr || !is_protected->is_bool()) {
          return std::string("an environment without \"key\", \"name\" or \"protected\"");
        }
        rows.push_back({*key, *name, parent == nullptr || parent->is_null() ? "-" : Compact(*parent),
                        is_protected->get_bool() ? "yes" : "no"});
      }
      PrintTable({"KEY", "NAME", "PARENT", "PROTECTED"}, rows);
      return std::nullopt;
    });
  }
  if (c.env_rename->parsed() || c.env_protect->parsed() || c.env_unprotect->parsed()) {
    json::object body{{"reason", c.reason}};
    std::string done;
    if (c.env_rename->parsed()) {
      body["name"] = c.name;
      done = "Renamed environment " + c.env + " to \"" + c.name + "\"";
    } else {
      body["protected"] = c.env_protect->parsed();
      done = std::string(c.env_protect->parsed() ? "Protected" : "Unprotected") + " environment " + c.env;
    }
    json::value v = body;
    Reply r = client->Call("PATCH", WsPath(c) + "/environments/" + c.env, &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "revision");
      if (!revision) return Missing("revision");
      std::printf("%s (workspace revision %s).\n", done.c_str(), revision->c_str());
      return std::nullopt;
    });
  }
  if (c.env_parent->parsed()) {
    if (c.root == !c.parent.empty()) {
      return Fail("say which environment " + c.env + " inherits from (edgevault env parent WS ENV PARENT -m REASON), "
                  "or --root for none, not both");
    }
    json::value v = json::object{{"reason", c.reason},
                                 {"parent", c.root ? json::value(nullptr) : json::value(c.parent)}};
    Reply r = client->Call("PATCH", WsPath(c) + "/environments/" + c.env, &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "revision");
      if (!revision) return Missing("revision");
      std::printf("Environment %s now inherits from %s (workspace revision %s).\n", c.env.c_str(),
                  c.root ? "nothing" : c.parent.c_str(), revision->c_str());
      return std::nullopt;
    });
  }
  if (c.env_policy->parsed()) {
    // The policy is replaced whole by PUT: start from the stored one.
    Reply ws = client->Call("GET", WsPath(c));
    if (int rc = Check(ws)) return rc;
    const json::array* envs = ArrayMember(ws.body, "environments");
    if (envs == nullptr) return Unexpected(ws, "no \"environments\" array");
    std::optional<json::object> policy;
    for (const json::value& e : *envs) {
      if (StringMember(e, "key") != c.env) continue;
      const json::object* p = ObjectMember(e, "policy");
      policy = p == nullptr ? json::object() : *p;
    }
    if (!policy) return Fail("workspace " + c.ws + " has no environment " + c.env + " (edgevault env list " + c.ws + ")");
    if (c.policy_approvals) (*policy)["required_approvals"] = *c.policy_approvals;
    if (!c.policy_approver_roles.empty()) {
      json::array roles;
      for (const std::string& r : c.policy_approver_roles) roles.push_back(json::string(r));
      (*policy)["approver_roles"] = std::move(roles);
    }
    if (c.policy_change_requests) (*policy)["change_requests_required"] = *c.policy_change_requests;
    if (!c.policy_leak_scan.empty()) (*policy)["leak_scan"] = c.policy_leak_scan;
    (*policy)["reason"] = c.reason;
    json::value v = *policy;
    Reply r = client->Call("PUT", WsPath(c) + "/environments/" + QueryValue(c.env) + "/policy", &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::printf("Environment %s: %s\n", c.env.c_str(), json::serialize(r.body).c_str());
      return std::nullopt;
    });
  }
  if (c.env_delete->parsed()) {
    if (c.children_become_roots && !c.reparent_children_to.empty()) {
      return Fail("--reparent-children-to and --children-become-roots exclude each other: say one");
    }
    if (!c.yes) {
      if (std::optional<int> no = Confirm("this deletes environment " + c.env + " of workspace " + c.ws +
                                              " and every value set in it (the api refuses while environments "
                                              "inherit from it or SDK keys read it, unless told what to do)",
                                          "", "not deleted")) {
        return *no;
      }
    }
    json::object body{{"reason", c.reason}};
    if (c.children_become_roots) body["reparent_children_to"] = nullptr;
    if (!c.reparent_children_to.empty()) body["reparent_children_to"] = c.reparent_children_to;
    if (c.revoke_sdk_keys) body["revoke_sdk_keys"] = true;
    json::value v = body;
    Reply r = client->Call("DELETE", WsPath(c) + "/environments/" + c.env, &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "revision");
      const json::array* revoked = ArrayMember(r.body, "revoked_sdk_keys");
      if (!revision || revoked == nullptr) return Missing("revision");
      std::printf("Deleted environment %s (workspace revision %s).\n", c.env.c_str(), revision->c_str());
      for (const json::value& id : *revoked) {
        std::printf("Revoked SDK key %s.\n", id.is_string() ? std::string(id.get_string()).c_str() : Compact(id).c_str());
      }
      return std::nullopt;
    });
  }
  if (c.config_set->parsed()) {
    // Merge: other environments keep their values, and a parallel change is never
    // overwritten (UpdateItem).
    Reply r;
    int rc = UpdateItem(*client, WsPath(c), WsPath(c) + "/configs/" + c.key, c.reason,
                        [&](json::value& current) -> std::optional<std::string> {
      json::object body = current.is_object() ? current.get_object() : json::object{};
      if (!c.type.empty()) body["type"] = c.type;
      if (!body.contains("type")) body["type"] = "string";
      if (!body.contains("values")) body["values"] = json::object{};
      if (!body["type"].is_string() || !body["values"].is_object()) {
        return "the config has no \"type\" string or \"values\" object";
      }
      bool is_string = body["type"].get_string() == "string";
      for (const std::string& kv : c.values) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) return "--value takes ENV=VALUE, got \"" + kv + "\"";
        std::string value = kv.substr(eq + 1);
        boost::system::error_code ec;
        json::value parsed = json::parse(value, ec);
        if (ec || is_string) parsed = json::value(value);
        body["values"].get_object()[kv.substr(0, eq)] = parsed;
      }
      current = std::move(body);
      return std::nullopt;
    }, &r);
    if (rc != 0) return rc;
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "workspace_revision");
      if (!revision) return Missing("workspace_revision");
      std::printf("Set %s (workspace revision %s).\n", c.key.c_str(), revision->c_str());
      return std::nullopt;
    });
  }
  if (c.config_get->parsed() || c.flag_get->parsed()) {
    std::string kind = c.config_get->parsed() ? "configs" : "flags";
    Reply r = client->Call("GET", WsPath(c) + "/" + kind + "/" + c.key);
    return Output(c, r, [&]() -> std::optional<std::string> {
      if (kind != "configs") {
        if (!r.body.is_object()) return std::string("the flag is not a JSON object");
        std::printf("%s\n", json::serialize(r.body).c_str());
        return std::nullopt;
      }
      std::optional<std::string> type = Field(r.body, "type"), revision = Field(r.body, "revision");
      const json::object* values = ObjectMember(r.body, "values");
      if (!type || !revision || values == nullptr) {
        return std::string("no \"type\", \"revision\" or \"values\" object in it");
      }
      std::printf("%s (%s), revision %s\n", c.key.c_str(), type->c_str(), revision->c_str());
      std::vector<std::vector<std::string>> rows;
      for (const auto& kv : *values) rows.push_back({std::string(kv.key()), Compact(kv.value())});
      PrintTable({"ENVIRONMENT", "VALUE"}, rows);
      return std::nullopt;
    });
  }
  if (c.flag_set->parsed()) {
    std::optional<json::object> doc = ReadDocument(c.file, &error);
    if (!doc) return Fail(error);
    (*doc)["reason"] = c.reason;
    json::value v = *doc;
    Reply r = client->Call("PUT", WsPath(c) + "/flags/" + c.key, &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "workspace_revision");
      if (!revision) return Missing("workspace_revision");
      std::printf("Set flag %s (workspace revision %s).\n", c.key.c_str(), revision->c_str());
      return std::nullopt;
    });
  }
  if (c.flag_eval->parsed()) return RunFlagEval(c, *client);
  if (audit_events) return RunAuditEvents(c, *client);
  if (c.history->parsed()) {
    Reply r = client->Call("GET", WsPath(c) + "/revisions?after=" + std::to_string(c.after) +
                                      "&limit=" + std::to_string(c.limit));
    return Output(c, r, [&]() -> std::optional<std::string> {
      const json::array* revisions = ArrayMember(r.body, "revisions");
      if (revisions == nullptr) return std::string("no \"revisions\" array in it");
      const ActorNames names = ActorNames::Load(c.token);
      std::vector<std::vector<std::string>> rows;
      for (const json::value& rev : *revisions) {
        std::vector<std::string> row;
        for (const char* name : {"seq", "time", "actor", "op", "kind", "key", "reason"}) {
          std::optional<std::string> cell = Field(rev, name);
          if (!cell) return "a revision without \"" + std::string(name) + "\"";
          row.push_back(*std::move(cell));
        }
        rows.push_back({row[0], row[1], names.Name(row[2]), row[3], row[4] + " " + row[5], row[6]});
        if (c.diff) {
          // One block per revision: its line, then what changed, environment by environment.
          std::printf("%s  %s  %s  %s  %s %s  \"%s\"\n", rows.back()[0].c_str(), rows.back()[1].c_str(),
                      rows.back()[2].c_str(), row[3].c_str(), row[4].c_str(), row[5].c_str(), row[6].c_str());
          const json::value* before = Member(rev, "before");
          const json::value* after = Member(rev, "after");
          for (const std::string& line : RevisionDiff(row[4], before ? *before : json::value(nullptr),
                                                      after ? *after : json::value(nullptr))) {
            std::printf("    %s\n", line.c_str());
          }
        }
      }
      if (!c.diff) PrintTable({"REV", "TIME", "ACTOR", "OP", "ITEM", "REASON"}, rows);
      return std::nullopt;
    });
  }
  if (c.revert->parsed()) {
    json::value v = json::object{{"reason", c.reason}};
    Reply r = client->Call("POST", WsPath(c) + "/revisions/" + std::to_string(c.revision) + "/revert", &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> revision = Field(r.body, "revision");
      if (!revision) return Missing("revision");
      std::printf("Reverted revision %lld (now at %s).\n", static_cast<long long>(c.revision), revision->c_str());
      return std::nullopt;
    });
  }
  if (c.rollback->parsed()) {
    // First what it would change (every check made, nothing written): printed for
    // --dry-run, and a rollback that deletes items asks before it goes on (--yes skips).
    json::value preview = json::object{{"to_revision", c.revision}, {"reason", c.reason}, {"dry_run", true}};
    Reply plan = client->Call("POST", WsPath(c) + "/rollback", &preview);
    if (c.dry_run) {
      return Output(c, plan, [&]() -> std::optional<std::string> {
        const json::array* changes = ArrayMember(plan.body, "changes");
        if (changes == nullptr) return Missing("changes");
        std::vector<std::vector<std::string>> rows;
        for (const json::value& ch : *changes) {
          rows.push_back({Field(ch, "action").value_or("?"), Field(ch, "kind").value_or("?"), Field(ch, "key").value_or("?")});
        }
        std::printf("Rolling back to revision %lld would write %zu revision(s):\n", static_cast<long long>(c.revision),
                    rows.size());
        if (!rows.empty()) PrintTable({"ACTION", "KIND", "KEY"}, rows);
        return std::nullopt;
      });
    }
    if (int rc = Check(plan)) return rc;
    const json::array* changes = ArrayMember(plan.body, "changes");
    if (changes == nullptr) return Unexpected(plan, Missing("changes"));
    std::vector<std::string> deleted;
    for (const json::value& ch : *changes) {
      if (StringMember(ch, "action") == "delete") {
        deleted.push_back(Field(ch, "kind").value_or("?") + " " + Field(ch, "key").value_or("?"));
      }
    }
    if (!deleted.empty() && !c.yes) {
      std::string list;
      for (const std::string& d : deleted) list += (list.empty() ? "" : ", ") + d;
      std::string what = "this rollback deletes " + std::to_string(deleted.size()) + " item(s) created since revision " +
                         std::to_string(c.revision) + " (" + list + ")";
      if (std::optional<int> no = Confirm(what, "--dry-run to see every change", "not rolled back")) return *no;
    }
    // Conditional on the head the preview saw, so what was confirmed is what is written.
    json::value v = json::object{{"to_revision", c.revision}, {"reason", c.reason}};
    std::vector<std::pair<std::string, std::string>> if_match;
    if (const json::value* head = Member(plan.body, "revision"); head != nullptr && head->is_int64()) {
      if_match.push_back({"If-Match", "\"" + std::to_string(head->get_int64()) + "\""});
    }
    Reply r = client->Call("POST", WsPath(c) + "/rollback", &v, if_match);
    if (r.status == 412) {
      std::fprintf(stderr, "edgevault: the workspace changed since the preview; nothing was rolled back. Run it again\n");
      return 1;
    }
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> written = Field(r.body, "revisions_written"), revision = Field(r.body, "revision");
      if (!written || !revision) return std::string("no \"revisions_written\" or \"revision\" in it");
      std::printf("Rolled back to revision %lld: %s revisions written (now at %s).\n",
                  static_cast<long long>(c.revision), written->c_str(), revision->c_str());
      return std::nullopt;
    });
  }

  if (c.sdk_key->parsed()) {
    json::object body{{"name", c.name.empty() ? c.env : c.name}};
    if (c.sdk_client) {
      body["kind"] = "client";
      body["origins"] = json::array(c.sdk_origins.begin(), c.sdk_origins.end());
    } else if (!c.sdk_origins.empty()) {
      return Fail("--origin needs --client (a server SDK key must never be used from a browser); nothing was created");
    }
    json::value v = std::move(body);
    Reply r = client->Call("POST", WsPath(c) + "/environments/" + c.env + "/sdk-keys", &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> key = StringMember(r.body, "key");
      if (!key) return std::string("no \"key\" string in it");
      std::printf("%s key for %s/%s (shown once, store it now):\n%s\n", c.sdk_client ? "Client SDK" : "SDK",
                  c.ws.c_str(), c.env.c_str(), key->c_str());
      return std::nullopt;
    });
  }
  if (c.sdk_key_list->parsed()) {
    Reply r = client->Call("GET", WsPath(c) + "/sdk-keys");
    return Output(c, r, [&]() -> std::optional<std::string> {
      const json::array* keys = ArrayMember(r.body, "sdk_keys");
      if (keys == nullptr) return std::string("no \"sdk_keys\" array in it");
      std::vector<std::vector<std::string>> rows;
      for (const json::value& k : *keys) {
        std::vector<std::string> row;
        for (const char* name : {"id", "environment", "prefix", "name", "created_at"}) {
          std::optional<std::string> cell = Field(k, name);
          if (!cell) return "an SDK key without \"" + std::string(name) + "\"";
          row.push_back(*std::move(cell));
        }
        const json::value* revoked = Member(k, "revoked_at");
        row[2] += "...";
        row.push_back(revoked == nullptr || revoked->is_null() ? std::string("active") : "revoked " + Compact(*revoked));
        // KIND and ORIGINS (an api older than client keys answers neither: a server key).
        std::optional<std::string> kind = Field(k, "kind");
        row.push_back(kind ? *kind : "server");
        std::string origins;
        if (const json::value* o = Member(k, "origins"); o != nullptr && o->is_array()) {
          for (const json::value& origin : o->get_array()) {
            if (!origin.is_string()) continue;
            origins += (origins.empty() ? "" : " ") + std::string(origin.get_string());
          }
        }
        row.push_back(origins.empty() ? "-" : origins);
        rows.push_back(std::move(row));
      }
      PrintTable({"ID", "ENVIRONMENT", "PREFIX", "NAME", "CREATED", "STATE", "KIND", "ORIGINS"}, rows);
      return std::nullopt;
    });
  }
  if (c.sdk_key_revoke->parsed()) {
    Reply r = client->Call("DELETE", WsPath(c) + "/environments/" + c.env + "/sdk-keys/" + c.key);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::printf("Revoked SDK key %s (%s/%s).\n", c.key.c_str(), c.ws.c_str(), c.env.c_str());
      return std::nullopt;
    });
  }
  // Workspace webhooks and the org's: the same bodies under another path.
  const bool org_hooks = c.org_webhook_add->parsed() || c.org_webhook_list->parsed() || c.org_webhook_rm->parsed();
  const std::string hooks_path = org_hooks ? std::string("/v1/webhooks") : WsPath(c) + "/webhooks";
  const std::string hooks_owner = org_hooks ? std::string("the org") : c.ws;
  if (c.webhook_add->parsed() || c.org_webhook_add->parsed()) {
    json::value events;
    if (c.events == "*") {
      events = "*";
    } else {
      json::array list;
      for (std::string_view e : base::Split(c.events, ',')) {
        if (!e.empty()) list.emplace_back(e);
      }
      events = std::move(list);
    }
    json::value v = json::object{{"url", c.url}, {"events", events}, {"description", c.description}};
    Reply r = client->Call("POST", hooks_path, &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::optional<std::string> id = StringMember(r.body, "id");
      std::optional<std::string> secret = StringMember(r.body, "secret");
      if (!id || !secret) return std::string("no \"id\" and \"secret\" strings in it");
      std::printf("Webhook %s registered for %s.\nSigning secret (shown once, store it now):\n%s\n", id->c_str(),
                  c.url.c_str(), secret->c_str());
      return std::nullopt;
    });
  }
  if (c.webhook_list->parsed() || c.org_webhook_list->parsed()) {
    Reply r = client->Call("GET", hooks_path);
    return Output(c, r, [&]() -> std::optional<std::string> {
      const json::array* hooks = ArrayMember(r.body, "webhooks");
      if (hooks == nullptr) return std::string("no \"webhooks\" array in it");
      std::vector<std::vector<std::string>> rows;
      for (const json::value& h : *hooks) {
        std::vector<std::string> row;
        for (const char* name : {"id", "url", "events", "state"}) {
          const json::value* cell = Member(h, name);
          if (cell == nullptr) return "a webhook without \"" + std::string(name) + "\"";
          row.push_back(cell->is_string() ? std::string(cell->get_string()) : Compact(*cell));
        }
        const json::value* error = Member(h, "last_error");
        row.push_back(error == nullptr || !error->is_string() ? std::string("") : std::string(error->get_string()));
        rows.push_back(std::move(row));
      }
      PrintTable({"ID", "URL", "EVENTS", "STATE", "LAST ERROR"}, rows);
      return std::nullopt;
    });
  }
  if (c.webhook_rm->parsed() || c.org_webhook_rm->parsed()) {
    Reply r = client->Call("DELETE", hooks_path + "/" + c.key);
    return Output(c, r, [&]() -> std::optional<std::string> {
      std::printf("Deleted webhook %s (%s).\n", c.key.c_str(), hooks_owner.c_str());
      return std::nullopt;
    });
  }
  if (c.run->parsed()) {
    std::vector<std::string> command = c.command;
    if (command.empty()) return Fail("edgevault run needs a command: edgevault run -w WS -e ENV -- CMD ARGS...");
    int rc = 0;
    auto vars = FetchVariables(c, *client, &rc);
    if (!vars) return rc;
    // An environment variable cannot hold a NUL byte: the child would silently get the
    // value cut short. Refuse, naming the variable, as `export --format dotenv` does.
    for (const auto& [name, value] : *vars) {
      if (value.find('\0') != std::string::npos) {
        return Fail(name + " holds a NUL byte, which an environment variable cannot carry; use "
                           "`edgevault export --format json` to read it");
      }
    }
    return RunChild(command, *vars);
  }
  if (c.promote->parsed()) {
    if (!c.dry_run && c.title.empty()) return Fail("edgevault promote needs a title (-t TITLE) unless --dry-run");
    json::object body{{"from", c.from}, {"to", c.to}, {"dry_run", c.dry_run}};
    if (!c.title.empty()) body["title"] = c.title;
    if (!c.description.empty()) body["description"] = c.description;
    if (!c.items.empty()) {
      json::array items;
      for (const std::string& it : c.items) {
        size_t colon = it.find(':');
        json::object item{{"key", colon == std::string::npos ? it : it.substr(colon + 1)}};
        if (colon != std::string::npos) item["kind"] = it.substr(0, colon);
        items.push_back(std::move(item));
      }
      body["items"] = std::move(items);
    }
    if (!c.kinds.empty()) body["kinds"] = json::value_from(c.kinds);
    json::value v = body;
    Reply r = client->Call("POST", WsPath(c) + "/promotions", &v);
    return Output(c, r, [&]() -> std::optional<std::string> {
      if (ArrayMember(r.body, "changes") == nullptr) return Missing("changes");
      if (c.dry_run) {
        std::printf("Dry run: %s -> %s would change (base revision %s, %s approvals required):\n", c.from.c_str(),
                    c.to.c_str(), Field(r.body, "base_revision").value_or("?").c_str(),
                    Field(r.body, "required_approvals").value_or("0").c_str());
      } else {
        std::printf("Opened change request #%s.\n", Field(r.body, "id").value_or("?").c_str());
      }
      PrintChangeRequest(r.body, ActorNames::Load(c.token));
      return std::nullopt;
    });
  }
  if (c.cr_propose->parsed()) return RunPropose(c, *client);
  if (c.cr_list->parsed()) {
    Reply r = client->Call("GET", WsPath(c) + "/change-requests");
    return Output(c, r, [&]() -> std::optional<std::string> {
      const json::array* list = ArrayMember(r.body, "change_requests");
      if (list == nullptr) return Missing("change_requests");
      const ActorNames names = ActorNames::Load(c.token);
      std::vector<std::vector<std::string>> rows;
      for (const json::value& cr : *list) {
        const json::array* approvals = ArrayMember(cr, "approvals");
        std::string state = Field(cr, "state").value_or("?");
        if (std::optional<std::string> at = Field(cr, "apply_at")) state += " " + *at;
        rows.push_back({Field(cr, "id").value_or("?"), state,
                        std::to_string(approvals == nullptr ? 0 : approvals->size()) + "/" +
                            Field(cr, "required_approvals").value_or("0"),
                        names.Name(Field(cr, "author").value_or("?")), Field(cr, "title").value_or("")});
      }
      PrintTable({"ID", "STATE", "APPROVALS", "AUTHOR", "TITLE"}, rows);
      return std::nullopt;
    });
  }
  for (const auto& [op, cmd] : c.cr_ops) {
    if (!cmd->parsed()) continue;
    std::string path = WsPath(c) + "/change-requests/" + std::to_string(c.cr_id);
    Reply r;
    if (op == "show") {
      r = client->Call("GET", path);
    } else {
      json::object body;
      if ((op == "approve" || op == "reject") && !c.comment.empty()) body["comment"] = c.comment;
      if (op == "comment") body["text"] = c.comment;
      if (op == "schedule") {
        absl::Duration ahead;
        if (!c.apply_at.empty() && c.apply_at[0] == '+' && absl::ParseDuration(c.apply_at.substr(1), &ahead)) {
          body["apply_at"] = absl::FormatTime(absl::RFC3339_sec, absl::Now() + ahead, absl::UTCTimeZone());
        } else {
          body["apply_at"] = c.apply_at;  // the api checks it
        }
      }
      json::value v = body;
      r = client->Call("POST", path + "/" + (op == "comment" ? std::string("comments") : op), &v);
    }
    return Output(c, r, [&]() -> std::optional<std::string> {
      if (!Field(r.body, "state")) return Missing("state");
      PrintChangeRequest(r.body, ActorNames::Load(c.token));
      return std::nullopt;
    });
  }
  if (c.import_cmd->parsed() && c.import_from == "workspace") return ImportWorkspace(c, *client);
  if (c.export_cmd->parsed() && c.export_all) return ExportWorkspace(c, *client);
  if (c.export_cmd->parsed() && c.env.empty()) return Fail("export needs --env ENV (or --all for the whole workspace)");
  if (c.import_cmd->parsed() && c.import_from != "dotenv") return ImportFlags(c, *client);
  if (c.import_cmd->parsed()) {
    if (c.env.empty()) return Fail("import --from dotenv needs --env ENV (the environment to set)");
    std::ifstream f(c.file, std::ios::binary);
    if (!f) return Fail("cannot read " + c.file);
    std::string text((std::istreambuf_iterator<char>(f)), {});
    absl::StatusOr<std::map<std::string, std::string>> vars = ParseDotenv(text);
    if (!vars.ok()) return Fail(c.file + ": " + std::string(vars.status().message()) + "; nothing was imported");
    // What each variable does to the environment: compared with the configs as they are
    // (secrets cannot be compared without reading them: they are always set).
    std::map<std::string, json::value> configs;
    if (!c.import_secrets) {
      Reply list = client->Call("GET", WsPath(c) + "/configs");
      if (int rc = Check(list)) return rc;
      const json::array* items = ArrayMember(list.body, "items");
      if (items == nullptr) return Unexpected(list, "no \"items\" array");
      for (const json::value& item : *items) {
        if (std::optional<std::string> key = StringMember(item, "key")) configs[*key] = item;
      }
    }
    std::vector<std::vector<std::string>> plan;  // action, key, variable
    for (const auto& [name, value] : *vars) {
      std::string key = KeyForEnvVar(name);
      std::string action = "set";
      if (!c.import_secrets) {
        auto it = configs.find(key);
        const json::object* values = it == configs.end() ? nullptr : ObjectMember(it->second, "values");
        const json::value* now = values == nullptr ? nullptr : values->if_contains(c.env);
        action = it == configs.end() ? "create" : now == nullptr ? "set" : "update";
        if (now != nullptr && ((now->is_string() && now->get_string() == value) || Compact(*now) == value)) {
          action = "unchanged";
        }
      }
      plan.push_back({action, key, name});
    }
    // One batch: the api validates every entry, then writes all of them in one commit or
    // none (a dry run validates and writes nothing).
    json::array changes;
    for (const auto& p : plan) {
      if (p[0] == "unchanged") continue;
      const std::string& value = vars->at(p[2]);
      if (c.import_secrets) {
        changes.push_back(json::object{{"kind", "secret"}, {"key", p[1]}, {"environment", c.env}, {"value", value}});
        continue;
      }
      auto it = configs.find(p[1]);
      if (it == configs.end()) {
        changes.push_back(json::object{{"kind", "config"}, {"key", p[1]},
                                       {"body", json::object{{"type", "string"}, {"values", json::object{{c.env, value}}}}}});
        continue;
      }
      std::optional<std::string> t = StringMember(it->second, "type");
      boost::system::error_code ec;
      json::value parsed = json::parse(value, ec);
      if (ec || !t || *t == "string") parsed = json::value(value);
      changes.push_back(json::object{{"kind", "config"}, {"key", p[1]}, {"environment", c.env}, {"value", parsed}});
    }
    if (changes.empty()) {
      if (c.dry_run) PrintTable({"ACTION", c.import_secrets ? "SECRET" : "CONFIG", "FROM"}, plan);
      std::printf("%s0 %s into %s/%s (%zu unchanged).\n", c.dry_run ? "Dry run: nothing was written; would import " : "Imported ",
                  c.import_secrets ? "secret(s)" : "config(s)", c.ws.c_str(), c.env.c_str(), plan.size());
      return 0;
    }
    json::value batch = json::object{{"changes", std::move(changes)}, {"reason", c.reason}, {"dry_run", c.dry_run}};
    Reply r = client->Call("POST", WsPath(c) + "/batch", &batch);
    if (r.status / 100 != 2) {
      int rc = Check(r);
      std::fprintf(stderr, "edgevault: nothing was imported\n");
      return rc;
    }
    if (c.dry_run) {
      PrintTable({"ACTION", c.import_secrets ? "SECRET" : "CONFIG", "FROM"}, plan);
      std::printf("Dry run: nothing was written.\n");
      return 0;
    }
    size_t written = 0;
    if (const json::value* n = r.body.is_object() ? r.body.get_object().if_contains("changes") : nullptr;
        n != nullptr && n->is_number()) {
      written = static_cast<size_t>(n->to_number<int64_t>());
    }
    std::printf("Imported %zu %s into %s/%s (%zu unchanged).\n", written, c.import_secrets ? "secret(s)" : "config(s)",
                c.ws.c_str(), c.env.c_str(), plan.size() - written);
    return 0;
  }
  if (c.export_cmd->parsed()) {
    int rc = 0;
    auto vars = FetchVariables(c, *client, &rc);
    if (!vars) return rc;
    absl::StatusOr<std::string> text = FormatExport(*ParseExportFormat(c.format), *vars);
    if (!text.ok()) return Fail(std::string(text.status().message()));
    std::fwrite(text->data(), 1, text->size(), stdout);
    return 0;
  }
  return -1;
}

void AddAuditEventsCommand(CLI::App& audit, ApiCommands& c) {
  c.audit_events = audit.add_subcommand(
      "events", "the org's audit events from the api, newest first (admin; pages through them)");
  c.audit_events->add_option("--api-url", c.api_url, "api base URL (default $EDGEVAULT_API_URL, the profile, http://127.0.0.1:8081)");
  c.audit_events->add_option("--token", c.token, "JWT or API key with the admin scope (default $EDGEVAULT_TOKEN or the profile)");
  c.audit_events->add_flag("--json", c.as_json, "print each event as one JSON line");
  c.audit_events->add_option("--actor", c.actor, "only this actor id (user:usr_..., key:key_...)");
  c.audit_events->add_option("--action", c.action, "only this action, or a prefix like auth.*");
  c.audit_events->add_option("--workspace,-w", c.ws, "only this workspace (key or id)");
  c.audit_events->add_option("--since", c.since, "only events at or after this RFC 3339 time");
  c.audit_events->add_option("--until", c.until, "only events before this RFC 3339 time");
  c.audit_events->add_option("--limit", c.events_limit, "print at most this many (default 100)")
      ->check(CLI::Range(1, 1000000));
  c.audit_events->add_option("--page-size", c.page_size, "events per request (1-1000, default 1000)")
      ->check(CLI::Range(1, 1000));
}

int ReportUncaughtException(std::string_view what) {
  std::fprintf(stderr, "edgevault: internal error (a bug; please report it): %.*s\n",
               static_cast<int>(what.size()), what.data());
  auto [status, raw] = LastReply();
  if (status != 0) {
    std::fprintf(stderr, "edgevault: the last reply from the server (HTTP %d) was:\n%s\n", status,
                 Shown(raw).c_str());
  }
  return 1;
}

}  // namespace edgevault::cli
