#include "cli/account_cmds.h"

#include <boost/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"
#include "src/base/env.h"

namespace edgevault::cli {

namespace json = boost::json;

struct AccountCommands {
  std::string auth_url, token, name, role, email, password, id;
  std::vector<std::string> scopes;
  int64_t expires_in_days = 90;
  bool as_json = false;
  std::string login_email;  // account password / totp: whose account (default: the token's)
  std::vector<std::pair<CLI::App*, std::function<int(AccountCommands&, Client&)>>> commands;
};

namespace {

void Delete(AccountCommands* c) { delete c; }

std::string Cell(const json::value& v, std::string_view name) {
  const json::value* m = Member(v, name);
  if (m == nullptr || m->is_null()) return "-";
  return Compact(*m);
}

std::string Joined(const json::value& v, std::string_view name) {
  const json::array* a = ArrayMember(v, name);
  if (a == nullptr) return "-";
  std::string out;
  for (const json::value& x : *a) out += (out.empty() ? "" : ",") + Compact(x);
  return out.empty() ? "-" : out;
}

int Whoami(AccountCommands& c, Client& client) {
  Reply r = client.Call("GET", "/v1/session");
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> kind = StringMember(r.body, "kind");
    if (!kind) return Missing("kind");
    std::string who = Cell(r.body, "email") != "-" ? Cell(r.body, "email") : Cell(r.body, "user_id");
    std::printf("%s in org %s as %s", who.c_str(), Cell(r.body, "org_id").c_str(), Cell(r.body, "role").c_str());
    if (*kind == "api_key") {
      std::printf(", with API key %s (scopes %s)\n", Cell(r.body, "api_key_id").c_str(), Joined(r.body, "scopes").c_str());
    } else {
      std::printf(", with a login session until %s\n", Cell(r.body, "expires_at").c_str());
    }
    return std::nullopt;
  });
}

// Revokes the API key the token is (an API key's whoami names it), then removes the token
// from the profile; a session token is ended with POST /v1/logout instead.
int Logout(AccountCommands& c, Client& client) {
  Reply me = client.Call("GET", "/v1/session");
  if (int rc = Check(me)) return rc;
  std::optional<std::string> kind = StringMember(me.body, "kind");
  Reply r;
  if (kind == "api_key") {
    std::optional<std::string> id = StringMember(me.body, "api_key_id");
    if (!id) return Unexpected(me, "no \"api_key_id\" for an API key");
    r = client.Call("DELETE", "/v1/api-keys/" + QueryValue(*id));
  } else {
    json::value empty = json::object{};
    r = client.Call("POST", "/v1/logout", &empty);
  }
  if (int rc = Check(r)) return rc;
  json::object profile = ReadProfile();
  bool forgot = profile.erase("token") > 0;
  if (forgot) {
    absl::Status st = WriteProfile(profile);
    if (!st.ok()) return Fail("the key is revoked, but the profile could not be rewritten: " + std::string(st.message()));
  }
  if (c.as_json) {
    std::printf("%s\n", r.raw.c_str());
  } else {
    std::printf("Logged out: %s%s.\n", kind == "api_key" ? "the API key is revoked" : "the session has ended",
                forgot ? " and the token removed from the profile" : "");
  }
  return 0;
}

int ApiKeyCreate(AccountCommands& c, Client& client) {
  json::object body{{"name", c.name}, {"expires_in", c.expires_in_days * 86400}};
  if (!c.scopes.empty()) {
    json::array scopes;
    for (const std::string& s : c.scopes) scopes.push_back(json::value(s));
    body["scopes"] = std::move(scopes);
  }
  if (!c.role.empty()) body["role"] = c.role;
  json::value v = std::move(body);
  Reply r = client.Call("POST", "/v1/api-keys", &v);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> key = StringMember(r.body, "key"), id = StringMember(r.body, "id");
    if (!key || !id) return std::string("no \"key\" or \"id\" in it");
    std::fprintf(stderr, "Created API key %s (%s, scopes %s, expires %s). It is shown once:\n", id->c_str(),
                 Cell(r.body, "role").c_str(), Joined(r.body, "scopes").c_str(), Cell(r.body, "expires_at").c_str());
    std::printf("%s\n", key->c_str());
    return std::nullopt;
  });
}

int ApiKeyList(AccountCommands& c, Client& client) {
  Reply r = client.Call("GET", "/v1/api-keys");
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* keys = ArrayMember(r.body, "api_keys");
    if (keys == nullptr) return std::string("no \"api_keys\" array in it");
    std::vector<std::vector<std::string>> rows;
    for (const json::value& k : *keys) {
      std::string state = Cell(k, "revoked_at") != "-" ? "revoked" : "active";
      rows.push_back({Cell(k, "id"), Cell(k, "name"), Cell(k, "prefix"), Cell(k, "role"), Joined(k, "scopes"),
                      Cell(k, "expires_at"), Cell(k, "last_used_at"), state});
    }
    PrintTable({"ID", "NAME", "PREFIX", "ROLE", "SCOPES", "EXPIRES", "LAST USED", "STATE"}, rows);
    return std::nullopt;
  });
}

int ApiKeyRevoke(AccountCommands& c, Client& client) {
  Reply r = client.Call("DELETE", "/v1/api-keys/" + QueryValue(c.id));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::printf("Revoked API key %s: auth refuses it at once, every api node within about a second.\n",
                c.id.c_str());
    return std::nullopt;
  });
}

int MemberList(AccountCommands& c, Client& client) {
  Reply r = client.Call("GET", "/v1/members");
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* members = ArrayMember(r.body, "members");
    if (members == nullptr) return std::string("no \"members\" array in it");
    std::vector<std::vector<std::string>> rows;
    for (const json::value& m : *members) {
      const json::value* disabled = Member(m, "disabled");
      rows.push_back({Cell(m, "user_id"), Cell(m, "email"), Cell(m, "role"), Cell(m, "display_name"),
                      Cell(m, "since"), disabled != nullptr && disabled->is_bool() && disabled->get_bool() ? "disabled" : "active"});
    }
    PrintTable({"USER", "EMAIL", "ROLE", "NAME", "SINCE", "STATE"}, rows);
    return std::nullopt;
  });
}

int MemberInvite(AccountCommands& c, Client& client) {
  json::value body = json::object{{"email", c.email}, {"role", c.role}};
  Reply r = client.Call("POST", "/v1/users", &body);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::optional<std::string> id = StringMember(r.body, "id");
    if (!id) return Missing("id");
    std::printf("Invited %s as %s (invitation %s, expires %s).\n", c.email.c_str(), c.role.c_str(), id->c_str(),
                Cell(r.body, "expires_at").c_str());
    if (std::optional<std::string> otp = StringMember(r.body, "one_time_password")) {
      std::printf("One-time password (give it to them privately; it must be changed at first login):\n%s\n",
                  otp->c_str());
    }
    return std::nullopt;
  });
}

int MemberRole(AccountCommands& c, Client& client) {
  json::value body = json::object{{"role", c.role}};
  Reply r = client.Call("PATCH", "/v1/members/" + QueryValue(c.id), &body);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::printf("%s is now %s; their sessions in this org have ended.\n", c.id.c_str(), c.role.c_str());
    return std::nullopt;
  });
}

int MemberRemove(AccountCommands& c, Client& client) {
  Reply r = client.Call("DELETE", "/v1/members/" + QueryValue(c.id));
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::printf("Removed %s: their sessions in this org ended and their API keys stopped working.\n", c.id.c_str());
    return std::nullopt;
  });
}

// ---- OAuth grants (MCP agents): yours (account apps) and, for admins, the org's (member apps).

// GET …/oauth-grants as a table. The org's view (`by_member`) names the member who allowed
// each grant; your own view names the resource instead.
int GrantsOutput(const AccountCommands& c, const Reply& r, bool by_member) {
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* grants = ArrayMember(r.body, "grants");
    if (grants == nullptr) return std::string("no \"grants\" array in it");
    std::vector<std::vector<std::string>> rows;
    for (const json::value& g : *grants) {
      const json::value* client_v = Member(g, "client");
      const json::value* user_v = Member(g, "user");
      std::vector<std::string> row = {Cell(g, "id")};
      if (by_member) row.push_back(user_v != nullptr ? Cell(*user_v, "email") : "-");
      row.insert(row.end(), {client_v != nullptr ? Cell(*client_v, "name") : "-", Joined(g, "scopes"),
                             Cell(g, "last_used_at"), Cell(g, "created_at")});
      if (!by_member) row.push_back(Cell(g, "resource"));
      rows.push_back(std::move(row));
    }
    if (by_member) PrintTable({"ID", "MEMBER", "CLIENT", "SCOPES", "LAST USED", "CREATED"}, rows);
    else PrintTable({"ID", "CLIENT", "SCOPES", "LAST USED", "CREATED", "RESOURCE"}, rows);
    return std::nullopt;
  });
}

// DELETE …/oauth-grants/ID: what a revocation means for the agent.
int RevokedGrantOutput(const AccountCommands& c, const Reply& r) {
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::printf("Revoked %s: its refresh tokens are refused at once, its access tokens at every api node within "
                "about a second.\n",
                c.id.c_str());
    return std::nullopt;
  });
}

int MemberAppsList(AccountCommands& c, Client& client) {
  return GrantsOutput(c, client.Call("GET", "/v1/org/oauth-grants"), /*by_member=*/true);
}

int MemberAppsRevoke(AccountCommands& c, Client& client) {
  return RevokedGrantOutput(c, client.Call("DELETE", "/v1/org/oauth-grants/" + QueryValue(c.id)));
}

// ---- account password / totp: auth takes these only from a login session (the CLI holds
// an API key), so each command logs in with the password it reads, does its one thing
// with that session and ends it.

// A login session of the account, or the exit code after saying why.
struct Session {
  std::string token;
  std::string password;  // the current password, as typed
  int rc = 0;
};

std::optional<std::string> Secret(const std::string& prompt, const std::string& what) {
  std::optional<std::string> v = ReadHiddenLine(prompt);
  if (!v || v->empty()) {
    Fail("no " + what + " on standard input (type it on a terminal, or pipe it in one line; never an argument)");
    return std::nullopt;
  }
  return v;
}

Session OpenSession(AccountCommands& c, Client& client) {
  Session s;
  std::string email = c.login_email;
  if (email.empty()) {
    Reply me = client.Call("GET", "/v1/session");
    if ((s.rc = Check(me)) != 0) return s;
    std::optional<std::string> e = StringMember(me.body, "email");
    if (!e) {
      s.rc = Fail("the token does not name an email; say whose account with --email");
      return s;
    }
    email = *e;
  }
  std::optional<std::string> password = Secret("Current password of " + email + " (not echoed): ", "current password");
  if (!password) {
    s.rc = 2;
    return s;
  }
  s.password = *password;
  Client anonymous = client.WithToken("");
  json::value body = json::object{{"email", email}, {"password", s.password}};
  Reply login = anonymous.Call("POST", "/v1/login", &body);
  if ((s.rc = Check(login)) != 0) return s;
  if (std::optional<std::string> mfa = StringMember(login.body, "mfa_token")) {
    std::optional<std::string> code =
        Secret("Code from your authenticator app, or a recovery code (to log in): ", "TOTP code to log in");
    if (!code) {
      s.rc = 2;
      return s;
    }
    // Six digits are a code; anything else is tried as a recovery code (xxxx-xxxx).
    bool digits = code->size() == 6 && std::all_of(code->begin(), code->end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    json::value second = json::object{{"mfa_token", *mfa}, {digits ? "code" : "recovery_code", *code}};
    login = anonymous.Call("POST", "/v1/login/totp", &second);
    if ((s.rc = Check(login)) != 0) return s;
  }
  std::optional<std::string> token = StringMember(login.body, "session");
  if (!token) {
    s.rc = Unexpected(login, "no \"session\" string in the login reply");
    return s;
  }
  s.token = *token;
  return s;
}

// Ends the session the command opened (best effort: it expires on its own otherwise).
void CloseSession(Client& client, const std::string& token) {
  json::value empty = json::object{};
  client.WithToken(token).Call("POST", "/v1/logout", &empty);
}

int AccountPassword(AccountCommands& c, Client& client) {
  Session s = OpenSession(c, client);
  if (s.rc != 0) return s.rc;
  std::optional<std::string> next = Secret("New password (at least 12 characters, not echoed): ", "new password");
  if (!next) {
    CloseSession(client, s.token);
    return 2;
  }
  if (::isatty(STDIN_FILENO)) {
    std::optional<std::string> again = ReadHiddenLine("The new password again: ");
    if (again != next) {
      CloseSession(client, s.token);
      return Fail("the two new passwords differ; nothing was changed");
    }
  }
  json::value body = json::object{{"current_password", s.password}, {"new_password", *next}};
  Reply r = client.WithToken(s.token).Call("POST", "/v1/password", &body);
  if (r.status / 100 != 2) CloseSession(client, s.token);
  if (std::optional<std::string> rotated = StringMember(r.body, "session"); rotated && r.status == 200) {
    CloseSession(client, *rotated);
  }
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    std::printf("Password changed. Every login session of yours has ended; API keys (this CLI's too) keep working.\n");
    return std::nullopt;
  });
}

// ---- account apps: the OAuth clients (MCP agents) you authorized; auth lists and revokes
// them only for a login session, so each command opens one with your password.

int AppsList(AccountCommands& c, Client& client) {
  Session s = OpenSession(c, client);
  if (s.rc != 0) return s.rc;
  Reply r = client.WithToken(s.token).Call("GET", "/v1/account/oauth-grants");
  CloseSession(client, s.token);
  return GrantsOutput(c, r, /*by_member=*/false);
}

int AppsRevoke(AccountCommands& c, Client& client) {
  Session s = OpenSession(c, client);
  if (s.rc != 0) return s.rc;
  Reply r = client.WithToken(s.token).Call("DELETE", "/v1/account/oauth-grants/" + QueryValue(c.id));
  CloseSession(client, s.token);
  return RevokedGrantOutput(c, r);
}

// Confirms a pending enrolment with a code; prints the recovery codes once.
int ConfirmTotp(AccountCommands& c, Client& session) {
  std::optional<std::string> code = Secret("Code from your authenticator app: ", "TOTP code");
  if (!code) return 2;
  json::value body = json::object{{"code", *code}};
  Reply r = session.Call("POST", "/v1/mfa/totp/confirm", &body);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::array* codes = ArrayMember(r.body, "recovery_codes");
    if (codes == nullptr) return Missing("recovery_codes");
    std::printf("TOTP is on: logging in now needs a code. Your other sessions have ended.\n"
                "Recovery codes (each works once instead of a code; store them offline, they are not shown again):\n");
    for (const json::value& v : *codes) std::printf("  %s\n", Compact(v).c_str());
    return std::nullopt;
  });
}

int TotpEnable(AccountCommands& c, Client& client) {
  Session s = OpenSession(c, client);
  if (s.rc != 0) return s.rc;
  Client session = client.WithToken(s.token);
  json::value empty = json::object{};
  Reply r = session.Call("POST", "/v1/mfa/totp/enroll", &empty);
  int rc = Check(r);
  std::optional<std::string> secret = StringMember(r.body, "secret"), uri = StringMember(r.body, "otpauth_uri");
  if (rc == 0 && (!secret || !uri)) rc = Unexpected(r, "no \"secret\" or \"otpauth_uri\" in the enrolment reply");
  if (rc == 0) {
    std::printf("Add this account to your authenticator app (the secret is shown once):\n  secret: %s\n  URI:    %s\n",
                secret->c_str(), uri->c_str());
    std::fflush(stdout);
    if (::isatty(STDIN_FILENO)) {
      rc = ConfirmTotp(c, session);
    } else {
      std::printf("Then finish with: edgevault account totp confirm  (reads your password and a code from standard input)\n");
    }
  }
  CloseSession(client, s.token);
  return rc;
}

int TotpConfirm(AccountCommands& c, Client& client) {
  Session s = OpenSession(c, client);
  if (s.rc != 0) return s.rc;
  Client session = client.WithToken(s.token);
  int rc = ConfirmTotp(c, session);
  CloseSession(client, s.token);
  return rc;
}

int TotpDisable(AccountCommands& c, Client& client) {
  Session s = OpenSession(c, client);
  if (s.rc != 0) return s.rc;
  // Each code is accepted once: the one that logged in cannot disable too.
  std::optional<std::string> code =
      Secret("Another code, newer than the one you logged in with (wait for the app to show it): ", "second TOTP code");
  int rc = 2;
  if (code) {
    json::value body = json::object{{"password", s.password}, {"code", *code}};
    Reply r = client.WithToken(s.token).Call("POST", "/v1/mfa/totp/disable", &body);
    rc = Output(c.as_json, r, [&]() -> std::optional<std::string> {
      std::printf("TOTP is off: logging in needs only your password (or a passkey) now.\n");
      return std::nullopt;
    });
  }
  CloseSession(client, s.token);
  return rc;
}

}  // namespace

std::unique_ptr<AccountCommands, void (*)(AccountCommands*)> AddAccountCommands(CLI::App& app) {
  std::unique_ptr<AccountCommands, void (*)(AccountCommands*)> c(new AccountCommands(), Delete);
  AccountCommands& o = *c;
  auto add = [&](CLI::App* group, const char* name, const char* help, std::function<int(AccountCommands&, Client&)> run) {
    CLI::App* cmd = group->add_subcommand(name, help);
    cmd->add_option("--auth-url", o.auth_url, "auth base URL (default $EDGEVAULT_AUTH_URL, the profile, http://127.0.0.1:8083)");
    cmd->add_option("--token", o.token, "JWT, session or API key (default $EDGEVAULT_TOKEN or the profile)");
    cmd->add_flag("--json", o.as_json, "print the server's JSON instead of a table");
    AddConnectionOptions(cmd);
    o.commands.push_back({cmd, std::move(run)});
    return cmd;
  };
  const auto roles = CLI::IsMember({"owner", "admin", "developer", "viewer"});

  add(&app, "whoami", "who the token belongs to: user, org, role, and the API key's scopes", Whoami);
  add(&app, "logout", "revoke the profile's CLI API key and remove it from the profile", Logout);

  CLI::App* key = app.add_subcommand("api-key", "API keys for scripts and CI (docs/auth.md)");
  key->require_subcommand(1);
  CLI::App* create = add(key, "create", "mint an API key; printed once on standard output", ApiKeyCreate);
  create->add_option("name", o.name, "what it is for, e.g. ci-deploy")->required();
  create->add_option("--scope", o.scopes, "read, write, secrets:read, admin (repeatable; default read)")
      ->check(CLI::IsMember({"read", "write", "secrets:read", "admin"}));
  create->add_option("--role", o.role, "act as this role, at most your own (default yours)")->check(roles);
  create->add_option("--expires-in-days", o.expires_in_days, "lifetime in days (1-3650, default 90)")
      ->check(CLI::Range(1, 3650));
  add(key, "list", "your API keys (an admin's: the org's), never the keys themselves", ApiKeyList);
  add(key, "revoke", "revoke an API key: it stops working at once", ApiKeyRevoke)
      ->add_option("id", o.id, "the key's id (key_...)")->required();

  CLI::App* account =
      app.add_subcommand("account", "your own account: password, second factor, authorized apps (docs/auth.md)");
  account->require_subcommand(1);
  auto with_email = [&](CLI::App* cmd) {
    cmd->add_option("--email", o.login_email, "the account (default: the token's)");
    return cmd;
  };
  with_email(add(account, "password",
                 "change your password: reads the current one, then the new one, from the terminal (not echoed) or "
                 "standard input, never arguments",
                 AccountPassword));
  CLI::App* totp = account->add_subcommand("totp", "TOTP codes from an authenticator app as a second factor");
  totp->require_subcommand(1);
  with_email(add(totp, "enable", "start TOTP: prints the secret to add to your app, then asks for a code", TotpEnable));
  with_email(add(totp, "confirm", "finish an enrolment started without a terminal: reads the password and a code",
                 TotpConfirm));
  with_email(add(totp, "disable", "stop TOTP: reads your password, a code to log in and a newer code", TotpDisable));
  CLI::App* apps = account->add_subcommand("apps", "the OAuth clients (MCP agents) you authorized (docs/mcp.md)");
  apps->require_subcommand(1);
  with_email(add(apps, "list", "the apps you authorized: client, scopes, last use; reads your password", AppsList));
  with_email(add(apps, "revoke", "end an app's access (its grant); reads your password", AppsRevoke))
      ->add_option("id", o.id, "the grant's id (ogr_..., from account apps list)")
      ->required();

  CLI::App* member = app.add_subcommand("member", "the org's members (admins and owners)");
  member->require_subcommand(1);
  add(member, "list", "members with their roles", MemberList);
  CLI::App* invite = add(member, "invite", "invite an email with a role; prints a one-time password for a new account", MemberInvite);
  invite->add_option("email", o.email)->required();
  invite->add_option("--role", o.role, "owner, admin, developer or viewer")->required()->check(roles);
  CLI::App* role = add(member, "role", "change a member's role (their sessions in this org end)", MemberRole);
  role->add_option("user", o.id, "the member's user id (usr_..., from member list)")->required();
  role->add_option("role", o.role, "owner, admin, developer or viewer")->required()->check(roles);
  add(member, "rm", "remove a member: sessions end, their API keys stop working", MemberRemove)
      ->add_option("user", o.id, "the member's user id (usr_...)")->required();
  CLI::App* member_apps = member->add_subcommand("apps", "the OAuth clients (MCP agents) members authorized (admins)");
  member_apps->require_subcommand(1);
  add(member_apps, "list", "every live grant in the org: member, client, scopes, last use", MemberAppsList);
  add(member_apps, "revoke", "end an agent's access (a grant of an admin or owner: owners only)", MemberAppsRevoke)
      ->add_option("id", o.id, "the grant's id (ogr_..., from member apps list)")->required();
  return c;
}

int RunAccountCommands(AccountCommands& c) {
  for (auto& [cmd, run] : c.commands) {
    if (!cmd->parsed()) continue;
    std::string error;
    std::optional<Client> client = Client::Connect(c.auth_url, c.token, &error, Service::kAuth);
    if (!client) return Fail(error);
    return run(c, *client);
  }
  return -1;
}

}  // namespace edgevault::cli
