#pragma once
// What every `edgevault` command that talks to a running api shares (docs/cli.md): the
// connection (URL and token from flags, EDGEVAULT_API_URL / EDGEVAULT_TOKEN, or the
// profile `edgevault login` wrote), the reply with checked access to its JSON, and the
// output conventions: a table by default, the server's JSON with --json, exit 0 on
// success, 1 when the server refused or answered what the command did not expect (its
// reply is printed), 2 for usage and local errors.
// Thread-safety: called from main()'s thread only.
//
//   std::optional<Client> client = Client::Connect(api_url_flag, token_flag, &error);
//   if (!client) return Fail(error);
//   Reply r = client->Call("GET", "/v1/workspaces");
//   return Output(as_json, r, [&]() -> std::optional<std::string> { ...print...; return std::nullopt; });

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/net/http_client.h"
#include "yaml-cpp/node/node.h"

namespace CLI {
class App;
}  // namespace CLI

namespace edgevault::cli {

struct Url {
  std::string host;
  uint16_t port = 80;
  bool https = false;
  std::string Origin() const;  // "https://host:port"
};
// http://host[:port] or https://host[:port] (port 443 by default; trailing slashes
// ignored); nullopt for anything else.
std::optional<Url> ParseUrl(std::string_view url);

// The extra CA certificates (PEM) the CLI trusts for https:// URLs besides the system's:
// $EDGEVAULT_CA_FILE (what --ca-file sets), else the profile's "ca_file", else "".
std::string CaFile();
// An HTTP client for `url`: for https://, TLS 1.2+ verifying the server against the
// system's CAs and CaFile(). InvalidArgument when the CA file cannot be read.
absl::StatusOr<std::unique_ptr<net::HttpClient>> NewHttpClient(const Url& url);

// Profiles (docs/cli.md "Profiles"): the CLI config file holds named profiles
// {"current": "prod", "profiles": {"prod": {api_url, token, auth_url?, ca_file?}, ...}}
// (a file of one flat profile, as older versions wrote, is the profile "default").
// $EDGEVAULT_PROFILE (what --profile sets) names the profile; holding a '/', it is instead
// the path of a config file (older versions' meaning). The file is
// ~/.config/edgevault/profile.json otherwise.
std::string ProfilePath();
// The selected profile's name: $EDGEVAULT_PROFILE when it is a name, else the file's
// "current", else "default".
std::string ProfileName();
// The whole config file, normalised to {"current", "profiles"} (empty when missing).
boost::json::object ReadProfiles();
// The selected profile's JSON object (empty when missing or unreadable).
boost::json::object ReadProfile();
// Replaces the selected profile with `profile` (the file becomes the named form, mode
// 0600); the file's "current" becomes this profile when it had none.
absl::Status WriteProfile(const boost::json::object& profile);

// --ca-file FILE and --profile NAME on `cmd`: each sets its variable (EDGEVAULT_CA_FILE,
// EDGEVAULT_PROFILE) for this process, which every client then reads.
void AddConnectionOptions(CLI::App* cmd);

// Prints "edgevault: <message>" on standard error; returns 2.
int Fail(const std::string& message);

struct Reply {
  int status = 0;            // -1 when the service could not be reached (raw: "the api at http://host:port (why)")
  boost::json::value body;   // null when the body is not JSON
  std::string raw;
};

// Checked access to a reply's JSON: nullptr / nullopt when `v` is not an object, lacks
// the member, or the member has another type. (Boost.JSON's .at()/as_*() throw instead.)
const boost::json::value* Member(const boost::json::value& v, std::string_view name);
const boost::json::object* ObjectMember(const boost::json::value& v, std::string_view name);
const boost::json::array* ArrayMember(const boost::json::value& v, std::string_view name);
std::optional<std::string> StringMember(const boost::json::value& v, std::string_view name);

// The reply's body for a message: as received, cut at 2000 bytes.
std::string Shown(const std::string& raw);
// The server answered, but not with what this command expects (an HTML error page from a
// proxy, a number where an object belongs, a missing field): says what it got; returns 1.
int Unexpected(const Reply& r, std::string_view what);
// The last reply any Client received (status 0 when none), for main()'s last resort;
// RememberReply records one received otherwise.
std::pair<int, std::string> LastReply();
void RememberReply(const Reply& r);

// Which service a Client talks to: the api (workspaces and items) or auth (who you are,
// API keys, members). Each has its URL flag, variable, profile member and default.
enum class Service { kApi, kAuth };

class Client {
 public:
  // The URL and token: the flag when non-empty, else the environment variable
  // (EDGEVAULT_API_URL or EDGEVAULT_AUTH_URL; EDGEVAULT_TOKEN), else the profile
  // (api_url or auth_url; token); the URL defaults to http://127.0.0.1:8081 (api) or
  // :8083 (auth). nullopt with *error saying what to do when the URL is malformed or there
  // is no token.
  static std::optional<Client> Connect(const std::string& url_flag, const std::string& token_flag,
                                       std::string* error, Service service = Service::kApi);

  // One request with the Bearer token (and the JSON body, when given: Content-Type
  // application/json unless `headers` name another).
  Reply Call(const std::string& method, const std::string& target, const boost::json::value* body = nullptr,
             std::vector<std::pair<std::string, std::string>> headers = {});
  // The raw request with the Bearer token, for a caller that handles the reply itself
  // (the MCP stdio relay).
  absl::StatusOr<net::ClientResponse> Send(const std::string& method, const std::string& target, std::string body,
                                           std::vector<std::pair<std::string, std::string>> headers);
  // The same service with another bearer ("" = none): a login session the command opened.
  Client WithToken(std::string token) const {
    Client c = *this;
    c.token_ = std::move(token);
    return c;
  }

 private:
  Client(Service service, Url u, std::string token, std::shared_ptr<net::HttpClient> http)
      : service_(service), url_(std::move(u)), token_(std::move(token)), http_(std::move(http)) {}
  Service service_;
  Url url_;
  std::string token_;
  std::shared_ptr<net::HttpClient> http_;
};

// Actor ids ("user:usr_…", "key:key_…") as people read them: a member's email (with the
// display name when there is one), "API key <name>". Loaded once from auth (GET
// /v1/members and GET /v1/api-keys, with the token and auth URL of Client::Connect) by
// Load; an id auth does not tell this token about, or any id when auth cannot be reached,
// stays as it is, so nothing is hidden.
class ActorNames {
 public:
  static ActorNames Load(const std::string& token_flag);
  std::string Name(std::string_view actor) const;

 private:
  std::vector<std::pair<std::string, std::string>> names_;  // actor id → name
};

// Prints the server's error and returns 1, or returns 0 for a 2xx.
int Check(const Reply& r);

// Read, modify, write one item of a workspace without losing a parallel change: reads the
// workspace head, then the item (`item_path`, e.g. /v1/workspaces/shop/configs/db.pool),
// hands `modify` its PUT body (the reply without key, kind, revision and updated_at; null
// when the item does not exist) and PUTs the result with `reason`, conditional on that
// head (If-Match). When someone wrote meanwhile (412) it reads and modifies again, up to
// 8 times. `modify` returns an error message (the command then exits 2) or nullopt.
// Returns 0 with the PUT's reply (whatever its status) in *put, else the exit code after
// printing why.
int UpdateItem(Client& client, const std::string& workspace_path, const std::string& item_path,
               const std::string& reason,
               const std::function<std::optional<std::string>(boost::json::value& body)>& modify, Reply* put);

// A JSON value for a sentence or a table cell: strings as they are, the rest serialised,
// cut at 60 characters.
std::string Compact(const boost::json::value& v);
void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// Prints a 2xx reply: the server's JSON with `as_json`, else what `human` prints. `human`
// returns nullopt when it printed, else what it missed in the reply (nothing is printed
// then: the command exits 1 showing the reply).
int Output(bool as_json, const Reply& r, const std::function<std::optional<std::string>()>& human);

// `name` of a reply's body, compacted for a sentence or a table cell; nullopt if absent.
std::optional<std::string> Field(const boost::json::value& body, std::string_view name);
std::string Missing(std::string_view name);  // "no \"name\" in it"

// The file as a JSON object: .yaml/.yml parsed as YAML, anything else as JSON. nullopt
// with *error naming the file and the problem.
// YamlToJson throws std::runtime_error for a document nested more than 200 levels or
// expanding (through aliases) to more than 5,000,000 values.
boost::json::value YamlToJson(const YAML::Node& n);
std::optional<boost::json::object> ReadDocument(const std::string& path, std::string* error);

// One line of standard input that must not show: on a terminal, `prompt` on standard error
// and the line typed without echo; otherwise the next line as it comes ("\r\n" or "\n"
// removed), so scripts pipe secrets in, never pass them as arguments. nullopt at end of
// input.
std::optional<std::string> ReadHiddenLine(const std::string& prompt);

// A query parameter's value: everything but RFC 3986's unreserved characters escaped.
// Also right for one path segment.
std::string QueryValue(std::string_view v);

}  // namespace edgevault::cli
