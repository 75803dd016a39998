#include "cli/api_client.h"

#include <termios.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include "src/workspace/yaml_json.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <iostream>
#include <iterator>

#include "src/base/env.h"
#include "CLI/CLI.hpp"
#include "src/net/http_client.h"

namespace edgevault::cli {

namespace json = boost::json;

std::optional<Url> ParseUrl(std::string_view url) {
  Url u;
  if (url.substr(0, 7) == "http://") {
    url.remove_prefix(7);
  } else if (url.substr(0, 8) == "https://") {
    url.remove_prefix(8);
    u.https = true;
    u.port = 443;
  } else {
    return std::nullopt;
  }
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  size_t colon = url.rfind(':');
  if (colon == std::string_view::npos) {
    u.host = std::string(url);
    return u;
  }
  u.host = std::string(url.substr(0, colon));
  int port = std::atoi(std::string(url.substr(colon + 1)).c_str());
  if (port <= 0 || port > 65535 || u.host.empty()) return std::nullopt;
  u.port = static_cast<uint16_t>(port);
  return u;
}

std::string ProfilePath() {
  if (const char* p = std::getenv("EDGEVAULT_PROFILE"); p != nullptr && std::strchr(p, '/') != nullptr) return p;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.config/edgevault/profile.json";
}

json::object ReadProfiles() {
  std::ifstream f(ProfilePath());
  std::string text((std::istreambuf_iterator<char>(f)), {});
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return json::object{};
  json::object& o = v.get_object();
  if (const json::value* profiles = o.if_contains("profiles"); profiles != nullptr && profiles->is_object()) return o;
  if (o.empty()) return o;
  return json::object{{"current", "default"}, {"profiles", json::object{{"default", o}}}};  // the older flat file
}

std::string ProfileName() {
  if (const char* p = std::getenv("EDGEVAULT_PROFILE"); p != nullptr && *p != '\0' && std::strchr(p, '/') == nullptr) {
    return p;
  }
  json::object all = ReadProfiles();
  if (const json::value* current = all.if_contains("current"); current != nullptr && current->is_string()) {
    return std::string(current->get_string());
  }
  return "default";
}

json::object ReadProfile() {
  json::object all = ReadProfiles();
  const json::value* profiles = all.if_contains("profiles");
  const json::value* one = profiles != nullptr && profiles->is_object() ? profiles->get_object().if_contains(ProfileName())
                                                                         : nullptr;
  return one != nullptr && one->is_object() ? one->get_object() : json::object{};
}

absl::Status WriteProfile(const json::object& profile) {
  const std::string name = ProfileName();
  json::object all = ReadProfiles();
  if (!all["profiles"].is_object()) all["profiles"] = json::object{};
  all["profiles"].get_object()[name] = profile;
  if (!all.contains("current") || !all["current"].is_string()) all["current"] = name;
  const std::string path = ProfilePath();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  return base::Env::Default()->WriteFileAtomically(path, json::serialize(all) + "\n", 0600);
}

std::string Url::Origin() const {
  return std::string(https ? "https://" : "http://") + host + ":" + std::to_string(port);
}

std::string CaFile() {
  if (const char* v = std::getenv("EDGEVAULT_CA_FILE"); v != nullptr && *v != '\0') return v;
  json::object profile = ReadProfile();
  if (auto it = profile.find("ca_file"); it != profile.end() && it->value().is_string()) {
    return std::string(it->value().get_string());
  }
  return "";
}

absl::StatusOr<std::unique_ptr<net::HttpClient>> NewHttpClient(const Url& url) {
  net::HttpClientOptions options;
  if (url.https) options.tls = {.enabled = true, .system_trust = true, .ca_file = CaFile()};
  return net::HttpClient::Create(options);
}

// --profile NAME: the profile of the config file to use (api_client.h); sets
// EDGEVAULT_PROFILE for this process, as --ca-file does EDGEVAULT_CA_FILE.
static void AddProfileOption(CLI::App* cmd) {
  cmd->add_option_function<std::string>(
      "--profile", [](const std::string& name) { ::setenv("EDGEVAULT_PROFILE", name.c_str(), 1); },
      "the profile to use (default $EDGEVAULT_PROFILE, else the config file's current one)");
}

static void AddCaFileOption(CLI::App* cmd) {
  cmd->add_option_function<std::string>(
      "--ca-file", [](const std::string& file) { ::setenv("EDGEVAULT_CA_FILE", file.c_str(), 1); },
      "PEM file of CA certificates to trust for https:// besides the system's (default $EDGEVAULT_CA_FILE or the "
      "profile)");
}

void AddConnectionOptions(CLI::App* cmd) {
  AddCaFileOption(cmd);
  AddProfileOption(cmd);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "edgevault: %s\n", message.c_str());
  return 2;
}

const json::value* Member(const json::value& v, std::string_view name) {
  const json::object* o = v.if_object();
  return o != nullptr ? o->if_contains(name) : nullptr;
}
const json::object* ObjectMember(const json::value& v, std::string_view name) {
  const json::value* m = Member(v, name);
  return m != nullptr ? m->if_object() : nullptr;
}
const json::array* ArrayMember(const json::value& v, std::string_view name) {
  const json::value* m = Member(v, name);
  return m != nullptr ? m->if_array() : nullptr;
}
std::optional<std::string> StringMember(const json::value& v, std::string_view name) {
  const json::value* m = Member(v, name);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return std::string(m->get_string());
}

namespace {

// The last reply a server sent, for LastReply().
std::pair<int, std::string>& TheLastReply() {
  static auto* last = new std::pair<int, std::string>();
  return *last;
}

}  // namespace

void RememberReply(const Reply& r) { TheLastReply() = {r.status, r.raw}; }

std::pair<int, std::string> LastReply() { return TheLastReply(); }

// The reply's body for a message: as received, cut at 2000 bytes.
std::string Shown(const std::string& raw) {
  if (raw.empty()) return "(an empty body)";
  if (raw.size() <= 2000) return raw;
  return raw.substr(0, 2000) + "... (" + std::to_string(raw.size()) + " bytes)";
}

// The server answered, but not with what this command expects (an HTML error page from a
// proxy, a number where an object belongs, a missing field): says what it got; exit 1.
int Unexpected(const Reply& r, std::string_view what) {
  std::fprintf(stderr, "edgevault: unexpected reply (HTTP %d): %.*s; the server sent:\n%s\n", r.status,
               static_cast<int>(what.size()), what.data(), Shown(r.raw).c_str());
  return 1;
}

std::optional<Client> Client::Connect(const std::string& url_flag, const std::string& token_flag, std::string* error,
                                     Service service) {
  const bool api = service == Service::kApi;
  json::object profile = ReadProfile();
  auto pick = [&](const std::string& flag, const char* env, const char* member) {
    if (!flag.empty()) return flag;
    if (const char* v = std::getenv(env); v && *v) return std::string(v);
    if (auto it = profile.find(member); it != profile.end() && it->value().is_string()) {
      return std::string(it->value().get_string());
    }
    return std::string();
  };
  std::string url = api ? pick(url_flag, "EDGEVAULT_API_URL", "api_url") : pick(url_flag, "EDGEVAULT_AUTH_URL", "auth_url");
  std::string token = pick(token_flag, "EDGEVAULT_TOKEN", "token");
  if (url.empty()) url = api ? "http://127.0.0.1:8081" : "http://127.0.0.1:8083";
  std::optional<Url> u = ParseUrl(url);
  if (!u) {
    *error = std::string(api ? "the api" : "the auth") + " URL must look like http://host:port or https://host:port, got \"" + url + "\"";
    return std::nullopt;
  }
  if (token.empty()) {
    *error = "no token: pass --token, set EDGEVAULT_TOKEN, or run `edgevault login`";
    return std::nullopt;
  }
  auto http = NewHttpClient(*u);
  if (!http.ok()) {
    *error = std::string(http.status().message()) + " (the CA file comes from --ca-file, EDGEVAULT_CA_FILE or the profile)";
    return std::nullopt;
  }
  return Client(service, *u, token, std::shared_ptr<net::HttpClient>(std::move(*http)));
}

absl::StatusOr<net::ClientResponse> Client::Send(const std::string& method, const std::string& target, std::string body,
                                                 std::vector<std::pair<std::string, std::string>> headers) {
  net::ClientRequest req;
  req.method = method;
  req.target = target;
  req.headers = std::move(headers);
  if (!token_.empty()) req.headers.push_back({"Authorization", "Bearer " + token_});
  req.body = std::move(body);
  return http_->Do(url_.host, url_.port, req, url_.https ? net::Scheme::kHttps : net::Scheme::kHttp);
}

Reply Client::Call(const std::string& method, const std::string& target, const json::value* body,
                 std::vector<std::pair<std::string, std::string>> headers) {
  if (body) {
    bool typed = false;  // a PATCH names its patch type
    for (const auto& [name, value] : headers) typed = typed || name == "Content-Type";
    if (!typed) headers.push_back({"Content-Type", "application/json"});
  }
  Reply r;
  auto resp = Send(method, target, body ? json::serialize(*body) : std::string(), std::move(headers));
  if (!resp.ok()) {
    r.status = -1;
    r.raw = std::string(service_ == Service::kApi ? "the api" : "the auth service") + " at " + url_.Origin() + " (" +
            std::string(resp.status().message()) + ")";
    return r;
  }
  r.status = resp->status;
  r.raw = resp->body;
  boost::system::error_code ec;
  r.body = json::parse(resp->body, ec);
  RememberReply(r);
  return r;
}

// Prints the server's error and returns 1, or returns 0 for a 2xx.
int Check(const Reply& r) {
  if (r.status >= 200 && r.status < 300) return 0;
  if (r.status < 0) {
    const bool api = r.raw.rfind("the api ", 0) == 0;
    std::fprintf(stderr,
                 "edgevault: cannot reach %s; is edgevault-%s running there? The URL comes from %s, %s or the "
                 "profile (`edgevault login`)\n",
                 r.raw.c_str(), api ? "api" : "auth", api ? "--api-url" : "--auth-url",
                 api ? "EDGEVAULT_API_URL" : "EDGEVAULT_AUTH_URL");
    return 1;
  }
  // {"error":{"code","message"}} (docs/http.md); anything else is shown as it came.
  const json::object* error = ObjectMember(r.body, "error");
  const json::value* message = error != nullptr ? error->if_contains("message") : nullptr;
  std::fprintf(stderr, "edgevault: HTTP %d: %s\n", r.status,
               message != nullptr && message->is_string() ? message->get_string().c_str()
                                                          : Shown(r.raw).c_str());
  return 1;
}

int UpdateItem(Client& client, const std::string& workspace_path, const std::string& item_path,
               const std::string& reason, const std::function<std::optional<std::string>(json::value& body)>& modify,
               Reply* put) {
  constexpr int kAttempts = 8;
  for (int attempt = 1;; ++attempt) {
    Reply ws = client.Call("GET", workspace_path);
    if (int rc = Check(ws)) return rc;
    const json::value* head = Member(ws.body, "revision");
    if (head == nullptr || !head->is_int64()) return Unexpected(ws, "no \"revision\" number");
    Reply current = client.Call("GET", item_path);
    json::value body;  // null: no such item yet
    if (current.status == 200) {
      if (!current.body.is_object()) return Unexpected(current, "the item is not a JSON object");
      json::object o = current.body.get_object();
      for (const char* meta : {"key", "kind", "revision", "updated_at"}) o.erase(meta);
      body = std::move(o);
    } else if (current.status != 404) {
      return Check(current);
    }
    if (std::optional<std::string> error = modify(body)) return Fail(*error);
    if (!body.is_object()) return Fail("nothing to write");
    body.get_object()["reason"] = reason;
    *put = client.Call("PUT", item_path, &body, {{"If-Match", "\"" + std::to_string(head->get_int64()) + "\""}});
    if (put->status != 412) return 0;
    if (attempt == kAttempts) {
      std::fprintf(stderr, "edgevault: the workspace kept changing while merging (%d attempts); try again\n",
                   kAttempts);
      return 1;
    }
  }
}

ActorNames ActorNames::Load(const std::string& token_flag) {
  ActorNames names;
  std::string error;
  std::optional<Client> auth = Client::Connect("", token_flag, &error, Service::kAuth);
  if (!auth) return names;
  Reply members = auth->Call("GET", "/v1/members");
  if (const json::array* list = members.status == 200 ? ArrayMember(members.body, "members") : nullptr) {
    for (const json::value& m : *list) {
      std::optional<std::string> id = StringMember(m, "user_id"), email = StringMember(m, "email");
      if (!id || !email) continue;
      std::optional<std::string> display = StringMember(m, "display_name");
      names.names_.push_back({"user:" + *id, display && !display->empty() ? *display + " <" + *email + ">" : *email});
    }
  }
  Reply keys = auth->Call("GET", "/v1/api-keys");
  if (const json::array* list = keys.status == 200 ? ArrayMember(keys.body, "api_keys") : nullptr) {
    for (const json::value& k : *list) {
      std::optional<std::string> id = StringMember(k, "id"), name = StringMember(k, "name");
      if (id && name) names.names_.push_back({"key:" + *id, "API key " + *name});
    }
  }
  return names;
}

std::string ActorNames::Name(std::string_view actor) const {
  for (const auto& [id, name] : names_) {
    if (id == actor) return name;
  }
  return std::string(actor);
}

std::string Compact(const json::value& v) {
  std::string s = v.is_string() ? std::string(v.get_string()) : json::serialize(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::printf("%s\n", out.c_str());
  };
  line(headers);
  for (const auto& row : rows) line(row);
}

int Output(bool as_json, const Reply& r, const std::function<std::optional<std::string>()>& human) {
  if (int rc = Check(r)) return rc;
  if (as_json) {
    std::printf("%s\n", r.raw.c_str());
    return 0;
  }
  if (std::optional<std::string> missing = human()) return Unexpected(r, *missing);
  // A write the api let through under a "warn" secret-leak policy (docs/secret-scanning.md).
  if (const json::array* warnings = ArrayMember(r.body, "warnings")) {
    for (const json::value& w : *warnings) {
      std::optional<std::string> kind = StringMember(w, "kind"), key = StringMember(w, "key"),
                                 pointer = StringMember(w, "pointer"), description = StringMember(w, "description");
      if (!kind || !key || !pointer || !description) continue;
      std::fprintf(stderr, "warning: %s \"%s\" at %s looks like a credential (%s); move it into a secret%s\n",
                   kind->c_str(), key->c_str(), pointer->empty() ? "/" : pointer->c_str(), description->c_str(),
                   *kind == "config" ? (" with: edgevault config move-to-secret WS " + *key + " --pointer " + *pointer +
                                        " -m REASON").c_str()
                                     : "");
    }
  }
  return 0;
}

// `name` of a reply's body, compacted for a sentence or a table cell; nullopt if absent.
std::optional<std::string> Field(const json::value& body, std::string_view name) {
  const json::value* m = Member(body, name);
  if (m == nullptr) return std::nullopt;
  return Compact(*m);
}

std::string Missing(std::string_view name) { return "no \"" + std::string(name) + "\" in it"; }

json::value YamlToJson(const YAML::Node& n) { return workspace::YamlToJson(n); }

// The file as a JSON object: .yaml/.yml parsed as YAML, anything else as JSON.
std::optional<json::object> ReadDocument(const std::string& path, std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = "cannot read " + path;
    return std::nullopt;
  }
  std::string text((std::istreambuf_iterator<char>(f)), {});
  json::value v;
  bool yaml = path.size() > 5 && (path.substr(path.size() - 5) == ".yaml" || path.substr(path.size() - 4) == ".yml");
  if (yaml) {
    try {
      v = YamlToJson(YAML::Load(text));
    } catch (const std::exception& e) {
      *error = path + ": not valid YAML: " + e.what();
      return std::nullopt;
    }
  } else {
    boost::system::error_code ec;
    v = json::parse(text, ec);
    if (ec) {
      *error = path + ": not valid JSON: " + ec.message();
      return std::nullopt;
    }
  }
  if (!v.is_object()) {
    *error = path + ": must hold an object";
    return std::nullopt;
  }
  return v.get_object();
}


// A query parameter's value: everything but RFC 3986's unreserved characters escaped.
std::string QueryValue(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : v) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

std::optional<std::string> ReadHiddenLine(const std::string& prompt) {
  std::string line;
  if (::isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "%s", prompt.c_str());
    termios old{};
    bool restore = ::tcgetattr(STDIN_FILENO, &old) == 0;
    if (restore) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    bool got = static_cast<bool>(std::getline(std::cin, line));
    if (restore) ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
    if (!got) return std::nullopt;
    return line;
  }
  if (!std::getline(std::cin, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace edgevault::cli
