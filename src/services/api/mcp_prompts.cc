#include "src/services/api/mcp_prompts.h"

#include <map>

#include "src/base/strings.h"

namespace edgevault::api {

namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

constexpr size_t kMaxEmbeddedJson = 64 * 1024;  // per document a prompt embeds

struct Arg {
  const char* name;
  const char* description;
  bool required;
};

struct PromptSpec {
  const char* name;
  const char* title;
  const char* description;
  std::vector<Arg> args;
};

const std::vector<PromptSpec>& Specs() {
  static const std::vector<PromptSpec> specs = {
      {"review_change_request", "Review a change request",
       "Reads a pending change request (its diff, environments, approvals) and asks for a review: what "
       "changes, the risks, questions for the author. Agents never approve; a human does.",
       {{"workspace", "workspace key or id", true}, {"id", "the change request's number", true}}},
      {"explain_flag", "Explain why a flag serves a value",
       "Evaluates a flag for a context in every environment and asks for an explanation of each result "
       "(matched rule, targets, rollout, prerequisites, off).",
       {{"workspace", "workspace key or id", true},
        {"flag", "the flag's key", true},
        {"context", "the evaluation context as JSON, e.g. {\"targetingKey\":\"user-1\",\"plan\":\"pro\"} (default {})",
         false}}},
      {"plan_promotion", "Plan a promotion",
       "Computes (dry run, nothing changes) what promoting one environment to another would change and asks "
       "for a rollout plan: order, risks, what to check after. Needs the write right (the promotion route).",
       {{"workspace", "workspace key or id", true},
        {"from", "the source environment", true},
        {"to", "the target environment", true}}},
  };
  return specs;
}

std::string Embedded(const json::value& v) {
  std::string s = json::serialize(v);
  if (s.size() > kMaxEmbeddedJson) s = s.substr(0, kMaxEmbeddedJson) + " …(cut at 64 KiB)";
  return "```json\n" + s + "\n```";
}

bool Ok(const RouteAnswer& a) { return a.status >= 200 && a.status < 300; }

std::string ErrorCode(const RouteAnswer& a) {
  const json::object* o = a.body.if_object();
  const json::value* e = o != nullptr ? o->if_contains("error") : nullptr;
  const json::value* c = e != nullptr && e->is_object() ? e->get_object().if_contains("code") : nullptr;
  return c != nullptr && c->is_string() ? std::string(c->get_string()) : "";
}

}  // namespace

json::array McpPromptList() {
  json::array out;
  for (const PromptSpec& p : Specs()) {
    json::array args;
    for (const Arg& a : p.args) {
      args.push_back(json::object{{"name", a.name}, {"description", a.description}, {"required", a.required}});
    }
    out.push_back(json::object{
        {"name", p.name}, {"title", p.title}, {"description", p.description}, {"arguments", std::move(args)}});
  }
  return out;
}

PromptOutcome GetMcpPrompt(std::string_view name, const json::object& arguments, const RouteCaller& call) {
  PromptOutcome out;
  const PromptSpec* spec = nullptr;
  for (const PromptSpec& p : Specs()) {
    if (name == p.name) spec = &p;
  }
  if (spec == nullptr) {
    out.status = absl::InvalidArgumentError(base::ToAbsl("unknown prompt \"" + std::string(name.substr(0, 100)) +
                                                         "\"; see prompts/list"));
    return out;
  }
  std::map<std::string, std::string, std::less<>> args;
  for (const Arg& a : spec->args) {
    const json::value* v = arguments.if_contains(a.name);
    if (v == nullptr || (v->is_string() && v->get_string().empty())) {
      if (a.required) {
        out.status = absl::InvalidArgumentError(base::ToAbsl(std::string("argument '") + a.name + "' is required"));
        return out;
      }
      continue;
    }
    if (!v->is_string() || v->get_string().size() > 4096) {
      out.status = absl::InvalidArgumentError(
          base::ToAbsl(std::string("argument '") + a.name + "' must be a string of at most 4096 bytes"));
      return out;
    }
    args[a.name] = std::string(v->get_string());
  }
  for (const auto& [k, v] : arguments) {
    if (!args.contains(std::string_view(k))) {
      bool known = false;
      for (const Arg& a : spec->args) known = known || k == a.name;
      if (!known) {
        out.status = absl::InvalidArgumentError(base::ToAbsl("unknown argument '" + std::string(k) + "'"));
        return out;
      }
    }
  }
  out.workspace = args["workspace"];
  const std::string ws = "/v1/workspaces/" + PercentEncode(out.workspace);
  auto refused = [&](const RouteAnswer& a, std::string what) {
    out.route_status = a.status;
    out.error_code = ErrorCode(a);
    out.status = absl::FailedPreconditionError(
        base::ToAbsl(what + " failed with HTTP " + std::to_string(a.status) + ": " +
                     json::serialize(a.body).substr(0, 500)));
    return out;
  };
  std::string description, text;
  if (name == "review_change_request") {
    const std::string& id = args["id"];
    if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) {
      out.status = absl::InvalidArgumentError("argument 'id' must be a change request number");
      return out;
    }
    RouteAnswer cr = call(http::verb::get, ws + "/change-requests/" + id, nullptr, {});
    if (!Ok(cr)) return refused(cr, "reading change request " + id);
    description = "Review of change request #" + id + " in " + out.workspace;
    text = "Review EdgeVault change request #" + id + " in workspace \"" + out.workspace +
           "\". You cannot approve, reject or apply it (agents never approve): a human reviewer decides.\n"
           "For each change, say what it does in which environments (an environment inherits what it does not "
           "override, so a change to a parent reaches its children), and check: flags that change what "
           "production serves, rollouts that jump, removed targets or rules, config values that break their "
           "type or schema, secrets rotated without a reason. Then give a verdict for the reviewer "
           "(looks safe / needs changes / risky), the risks, and questions for the author.\n\n"
           "The change request as the api answers it (secret values are never included):\n" +
           Embedded(cr.body);
  } else if (name == "explain_flag") {
    json::value context = json::object();
    if (auto it = args.find("context"); it != args.end()) {
      boost::system::error_code ec;
      context = json::parse(it->second, ec);
      if (ec || !context.is_object()) {
        out.status = absl::InvalidArgumentError("argument 'context' must be a JSON object");
        return out;
      }
    }
    const std::string flag = ws + "/flags/" + PercentEncode(args["flag"]);
    RouteAnswer def = call(http::verb::get, flag, nullptr, {});
    if (!Ok(def)) return refused(def, "reading flag " + args["flag"]);
    json::value body = json::object{{"context", context}};
    RouteAnswer eval = call(http::verb::post, flag + "/evaluate", &body, {});
    if (!Ok(eval)) return refused(eval, "evaluating flag " + args["flag"]);
    description = "Why flag " + args["flag"] + " serves what it serves";
    text = "Explain, for someone who did not write it, why EdgeVault flag \"" + args["flag"] + "\" in workspace \"" +
           out.workspace + "\" serves what it serves to this context in each environment:\n" + Embedded(context) +
           "\n\nFor each environment name the value and the reason (flag off, individual target, the matched rule "
           "and which clause matched, percentage rollout bucket, prerequisite not met, fallthrough). Point out "
           "environments that disagree and what would change the outcome.\n\nThe evaluation:\n" +
           Embedded(eval.body) + "\n\nThe flag's definition:\n" + Embedded(def.body);
  } else {  // plan_promotion
    json::object promotion;
    promotion["from"] = args["from"];
    promotion["to"] = args["to"];
    promotion["dry_run"] = true;
    json::value body = std::move(promotion);
    RouteAnswer diff = call(http::verb::post, ws + "/promotions", &body, {});
    if (!Ok(diff)) return refused(diff, "computing the promotion " + args["from"] + " → " + args["to"]);
    description = "Plan for promoting " + args["from"] + " to " + args["to"] + " in " + out.workspace;
    text = "Plan promoting environment \"" + args["from"] + "\" to \"" + args["to"] + "\" in EdgeVault workspace \"" +
           out.workspace + "\". Below is the dry run: exactly what would change (nothing has changed yet).\n"
           "Propose an order (one promotion or several smaller ones), flag the risky changes (flags that turn on, "
           "rollouts, config values that differ a lot, secrets), what to watch after each step, and how to roll "
           "back. The promotion itself is created with the create_promotion tool and approved by a human.\n\n" +
           Embedded(diff.body);
  }
  out.result = json::object{
      {"description", description},
      {"messages", json::array{json::object{{"role", "user"}, {"content", {{"type", "text"}, {"text", text}}}}}}};
  return out;
}

}  // namespace edgevault::api
