#include "src/services/api/ai_draft.h"

#include <set>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/workspace/model.h"

namespace edgevault::api {

namespace json = boost::json;

namespace {

absl::Status Invalid(std::string message) {
  return base::WithErrorCode(absl::InvalidArgumentError(base::ToAbsl("the model's answer is not a valid draft: " + message)),
                             "ai_output_invalid");
}

absl::StatusOr<json::object> ParseObject(std::string_view text) {
  if (text.size() > kMaxModelAnswerBytes) {
    return Invalid("it is " + std::to_string(text.size()) + " bytes, more than " +
                   std::to_string(kMaxModelAnswerBytes));
  }
  std::string_view body = StripCodeFence(text);
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = 32;
  json::value v = json::parse(body, ec, {}, po);
  if (ec) return Invalid("it is not JSON (" + ec.message() + ")");
  if (!v.is_object()) return Invalid("it is not a JSON object");
  return std::move(v.get_object());
}

absl::Status OnlyMembers(const json::object& o, std::initializer_list<std::string_view> allowed, std::string_view where) {
  for (const auto& kv : o) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      return Invalid(std::string(where) + " has an unknown member \"" + std::string(kv.key().substr(0, 64)) + "\"");
    }
  }
  return absl::OkStatus();
}

bool ValidKey(std::string_view k) {
  if (k.empty() || k.size() > 128) return false;
  auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_digit(k[0])) return false;
  for (char c : k) {
    if (!lower_digit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

const std::vector<storage::Item>* ItemsOf(const workspace::ChangeSetInput& in, std::string_view kind) {
  if (kind == "config") return &in.configs;
  if (kind == "flag") return &in.flags;
  if (kind == "segment") return &in.segments;
  return nullptr;
}

bool Exists(const workspace::ChangeSetInput& in, std::string_view kind, std::string_view key) {
  const std::vector<storage::Item>* items = ItemsOf(in, kind);
  if (items == nullptr) return false;
  return std::any_of(items->begin(), items->end(), [&](const storage::Item& i) { return i.key == key; });
}

}  // namespace

std::string_view StripCodeFence(std::string_view t) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  t = trim(t);
  if (t.starts_with("```") && t.size() >= 6 && t.ends_with("```")) {
    std::string_view inner = t.substr(3, t.size() - 6);
    size_t nl = inner.find('\n');
    if (nl == std::string_view::npos) return trim(inner);
    std::string_view tag = inner.substr(0, nl);
    if (tag.find_first_of("{[\"") == std::string_view::npos) inner.remove_prefix(nl + 1);  // "json" or ""
    return trim(inner);
  }
  return t;
}

absl::StatusOr<json::object> ParseDraft(std::string_view text, std::string_view workspace_key,
                                        const workspace::ChangeSetInput& in) {
  EV_ASSIGN_OR_RETURN(json::object o, ParseObject(text));
  EV_RETURN_IF_ERROR(OnlyMembers(o, {"workspace", "title", "description", "changes"}, "the draft"));
  const json::value* ws = o.if_contains("workspace");
  if (ws == nullptr || !ws->is_string()) return Invalid("\"workspace\" is missing");
  if (ws->get_string() != workspace_key) {
    return Invalid("it targets workspace \"" + std::string(ws->get_string().subview().substr(0, 64)) +
                   "\", not \"" + std::string(workspace_key) + "\"");
  }
  const json::value* title = o.if_contains("title");
  if (title == nullptr || !title->is_string() || title->get_string().empty() || title->get_string().size() > 200) {
    return Invalid("\"title\" must be a string of 1 to 200 characters");
  }
  const json::value* description = o.if_contains("description");
  if (description != nullptr && !description->is_string() && !description->is_null()) {
    return Invalid("\"description\" must be a string");
  }
  if (description != nullptr && description->is_string() && description->get_string().size() > 4000) {
    return Invalid("\"description\" is longer than 4000 characters");
  }
  const json::value* changes = o.if_contains("changes");
  if (changes == nullptr || !changes->is_array()) return Invalid("\"changes\" must be an array");
  const json::array& list = changes->get_array();
  if (list.empty()) {
    std::string why = description != nullptr && description->is_string()
                          ? std::string(description->get_string().subview().substr(0, 300))
                          : std::string("no reason given");
    return Invalid("the model proposed no change (" + why + ")");
  }
  if (list.size() > workspace::kMaxProposedChanges) {
    return Invalid("it has " + std::to_string(list.size()) + " changes, more than " +
                   std::to_string(workspace::kMaxProposedChanges));
  }
  std::set<std::pair<std::string, std::string>> created;  // (kind, key) made by a body entry
  json::array out;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = "changes[" + std::to_string(i) + "]";
    const json::object* e = list[i].if_object();
    if (e == nullptr) return Invalid(where + " is not an object");
    EV_RETURN_IF_ERROR(OnlyMembers(*e, {"kind", "key", "environment", "value", "configuration", "body", "delete"}, where));
    const json::value* kind = e->if_contains("kind");
    const json::value* key = e->if_contains("key");
    if (kind == nullptr || !kind->is_string()) return Invalid(where + ".kind is missing");
    std::string k(kind->get_string());
    if (k == "secret") return Invalid(where + " changes a secret; drafts never touch secrets");
    if (k != "config" && k != "flag" && k != "segment") return Invalid(where + ".kind must be config, flag or segment");
    if (key == nullptr || !key->is_string() || !ValidKey(key->get_string())) {
      return Invalid(where + ".key must be an item key ([a-z0-9][a-z0-9._-]{0,127})");
    }
    std::string item(key->get_string());
    const bool exists = Exists(in, k, item) || created.count({k, item}) > 0;
    const json::value* env = e->if_contains("environment");
    const bool has_body = e->contains("body");
    const bool has_delete = e->contains("delete");
    if (has_delete) {
      const json::value* d = e->if_contains("delete");
      if (!d->is_bool() || !d->get_bool() || e->size() != 3) {
        return Invalid(where + ": a delete is {kind, key, delete: true} and nothing else");
      }
      if (!exists) return Invalid(where + " deletes " + k + " \"" + item + "\", which does not exist");
    } else if (has_body) {
      if (!e->at("body").is_object() || e->size() != 3) {
        return Invalid(where + ": a whole-item change is {kind, key, body: {...}} and nothing else");
      }
      created.insert({k, item});
    } else {
      if (k == "segment") return Invalid(where + ": a segment is changed with a body or delete entry");
      const char* member = k == "config" ? "value" : "configuration";
      if (env == nullptr || !env->is_string()) return Invalid(where + ".environment is missing");
      if (!in.envs.Contains(env->get_string())) {
        return Invalid(where + " names environment \"" + std::string(env->get_string().subview().substr(0, 64)) +
                       "\", which this workspace does not have");
      }
      if (!e->contains(member) || e->size() != 4) {
        return Invalid(where + ": a " + k + " change in one environment is {kind, key, environment, " + member + "}");
      }
      if (k == "flag" && !e->at(member).is_object() && !e->at(member).is_null()) {
        return Invalid(where + ".configuration must be an object or null");
      }
      if (!exists) {
        return Invalid(where + " changes " + k + " \"" + item + "\", which does not exist (create it with a body entry first)");
      }
    }
    out.push_back(*e);
  }
  json::object draft{{"title", *title},
                     {"description", description != nullptr && description->is_string() ? *description : json::value("")},
                     {"changes", std::move(out)}};
  return draft;
}

absl::StatusOr<json::object> ParseExplanation(std::string_view text) {
  EV_ASSIGN_OR_RETURN(json::object o, ParseObject(text));
  EV_RETURN_IF_ERROR(OnlyMembers(o, {"summary", "concerns"}, "the explanation"));
  const json::value* summary = o.if_contains("summary");
  if (summary == nullptr || !summary->is_string() || summary->get_string().size() > 4000) {
    return Invalid("\"summary\" must be a string of at most 4000 characters");
  }
  json::array concerns;
  if (const json::value* c = o.if_contains("concerns"); c != nullptr) {
    if (!c->is_array() || c->get_array().size() > 20) return Invalid("\"concerns\" must be an array of at most 20 strings");
    for (const json::value& x : c->get_array()) {
      if (!x.is_string() || x.get_string().size() > 2000) return Invalid("each concern must be a string of at most 2000 characters");
      concerns.push_back(x);
    }
  }
  return json::object{{"summary", *summary}, {"concerns", std::move(concerns)}};
}

}  // namespace edgevault::api
