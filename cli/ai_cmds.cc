#include "cli/ai_cmds.h"

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"

namespace edgevault::cli {

namespace json = boost::json;

struct AiCommands {
  std::string api_url, token, ws, prompt, save, file;
  int64_t cr_id = 0;
  bool as_json = false, explain = false;
  CLI::App* draft = nullptr;
  CLI::App* risk = nullptr;
};

namespace {

void Delete(AiCommands* c) { delete c; }

std::string WsPath(const AiCommands& c) { return "/v1/workspaces/" + QueryValue(c.ws); }

int Draft(AiCommands& c, Client& client) {
  json::value body = json::object{{"prompt", c.prompt}};
  Reply r = client.Call("POST", WsPath(c) + "/ai/draft", &body);
  if (r.status == 200 && !c.save.empty()) {
    const json::value* draft = Member(r.body, "draft");
    std::ofstream out(c.save, std::ios::trunc);
    if (draft == nullptr || !(out << json::serialize(*draft) << "\n")) return Fail("cannot write " + c.save);
  }
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::value* draft = Member(r.body, "draft");
    const json::value* dry = Member(r.body, "dry_run");
    if (draft == nullptr || dry == nullptr) return Missing(draft == nullptr ? "draft" : "dry_run");
    std::printf("Draft: %s\n", Field(*draft, "title").value_or("").c_str());
    if (std::optional<std::string> d = Field(*draft, "description"); d && !d->empty()) std::printf("%s\n", d->c_str());
    std::vector<std::vector<std::string>> rows;
    if (const json::array* changes = ArrayMember(*dry, "changes")) {
      for (const json::value& ch : *changes) {
        const json::value* before = Member(ch, "before");
        const json::value* after = Member(ch, "after");
        std::string env = Field(ch, "environment").value_or("");
        rows.push_back({Field(ch, "kind").value_or("?") + " " + Field(ch, "key").value_or("?"),
                        env.empty() ? "(whole item)" : env,
                        (before ? Compact(*before) : "null") + " -> " + (after ? Compact(*after) : "null")});
      }
    }
    PrintTable({"ITEM", "ENVIRONMENT", "CHANGE"}, rows);
    std::printf("Nothing was written. %s\n",
                c.save.empty() ? "Save the draft with --save FILE, then: edgevault cr propose WS -t TITLE -f FILE"
                               : ("Submit it with: edgevault cr propose " + c.ws + " -t TITLE -f " + c.save).c_str());
    return std::nullopt;
  });
}

int Risk(AiCommands& c, Client& client) {
  if ((c.cr_id > 0) == !c.file.empty()) return Fail("edgevault ai risk needs exactly one of --cr ID and --file FILE");
  json::object body;
  if (c.explain) body["explain"] = true;
  std::string target;
  if (c.cr_id > 0) {
    target = WsPath(c) + "/change-requests/" + std::to_string(c.cr_id) + "/risk";
  } else {
    std::string error;
    std::optional<json::object> doc = ReadDocument(c.file, &error);
    if (!doc) return Fail(error);
    const json::value* changes = doc->if_contains("changes");
    if (changes == nullptr || !changes->is_array()) return Fail(c.file + ": needs a \"changes\" list");
    body["changes"] = *changes;
    target = WsPath(c) + "/ai/risk";
  }
  json::value b = std::move(body);
  Reply r = client.Call("POST", target, &b);
  return Output(c.as_json, r, [&]() -> std::optional<std::string> {
    const json::value* exact = Member(r.body, "exact");
    if (exact == nullptr) return Missing("exact");
    std::vector<std::vector<std::string>> envs;
    if (const json::array* list = ArrayMember(*exact, "environments")) {
      for (const json::value& e : *list) {
        envs.push_back({Field(e, "key").value_or("?"), Field(e, "protected").value_or("false"),
                        Field(e, "change_request_required").value_or("false"), Field(e, "required_approvals").value_or("0")});
      }
    }
    PrintTable({"ENVIRONMENT", "PROTECTED", "CHANGE REQUESTS ONLY", "APPROVALS"}, envs);
    std::vector<std::vector<std::string>> flags;
    if (const json::array* list = ArrayMember(*exact, "flags")) {
      for (const json::value& f : *list) {
        flags.push_back({Field(f, "key").value_or("?"), Field(f, "environment").value_or("?"),
                         Field(f, "changed").value_or(Field(f, "error").value_or("?")) + " of " +
                             Field(f, "sample_size").value_or("?")});
      }
    }
    if (!flags.empty()) PrintTable({"FLAG", "ENVIRONMENT", "SAMPLE CONTEXTS CHANGED"}, flags);
    for (const char* part : {"schema_changes", "secrets", "deletes"}) {
      const json::array* list = ArrayMember(*exact, part);
      if (list == nullptr || list->empty()) continue;
      std::printf("%s:", part);
      for (const json::value& x : *list) {
        std::string env = Field(x, "environment").value_or("");
        std::printf(" %s%s", Field(x, "key").value_or("?").c_str(), env.empty() ? "" : ("@" + env).c_str());
      }
      std::printf("\n");
    }
    if (const json::value* ex = Member(r.body, "explanation")) {
      std::printf("\n%s\n", Field(*ex, "summary").value_or("").c_str());
      if (const json::array* concerns = ArrayMember(*ex, "concerns")) {
        for (const json::value& x : *concerns) std::printf("- %s\n", x.is_string() ? x.get_string().c_str() : "");
      }
    }
    return std::nullopt;
  });
}

}  // namespace

std::unique_ptr<AiCommands, void (*)(AiCommands*)> AddAiCommands(CLI::App& app) {
  std::unique_ptr<AiCommands, void (*)(AiCommands*)> c(new AiCommands(), Delete);
  CLI::App* ai = app.add_subcommand("ai", "AI assistance by the api's configured model (docs/design/ai.md)");
  ai->require_subcommand(1);
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--api-url", c->api_url, "api base URL (default $EDGEVAULT_API_URL, the profile, http://127.0.0.1:8081)");
    cmd->add_option("--token", c->token, "JWT or API key (default $EDGEVAULT_TOKEN or the profile)");
    cmd->add_flag("--json", c->as_json, "print the server's JSON");
    cmd->add_option("--workspace,-w", c->ws, "workspace key")->required();
    return cmd;
  };
  c->draft = common(ai->add_subcommand(
      "draft", "draft a change request from plain language; shows its dry-run diff, writes nothing"));
  c->draft->add_option("prompt", c->prompt, "what to change, e.g. \"roll out new-checkout to 10% in staging\"")->required();
  c->draft->add_option("--save", c->save, "write the draft ({title, description, changes}) to this file");
  c->risk = common(ai->add_subcommand(
      "risk", "risk review of a change request (--cr ID) or of proposed changes (--file FILE)"));
  c->risk->add_option("--cr", c->cr_id, "a change request's number");
  c->risk->add_option("--file,-f", c->file, "changes from a JSON or YAML file: {\"changes\": [...]}");
  c->risk->add_flag("--explain", c->explain, "add an explanation by the api's model");
  return c;
}

int RunAiCommands(AiCommands& c) {
  for (CLI::App* cmd : {c.draft, c.risk}) {
    if (cmd == nullptr || !cmd->parsed()) continue;
    std::string error;
    std::optional<Client> client = Client::Connect(c.api_url, c.token, &error);
    if (!client) return Fail(error);
    return cmd == c.draft ? Draft(c, *client) : Risk(c, *client);
  }
  return -1;
}

}  // namespace edgevault::cli
