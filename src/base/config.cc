#include "src/base/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <system_error>
#include <variant>

// Debian's toml++ is a compiled library built with exceptions, and only exports the
// throwing parse() (toml::v3::ex); TOML_EXCEPTIONS=0 would not link. So parsing throws
// toml::parse_error, and ParseTomlFile() below is the one place that catches it.
#include <toml++/toml.h>

#include "src/base/env.h"
#include "src/base/strings.h"

extern char** environ;

namespace edgevault::base {
namespace {

using Value = std::variant<int64_t, std::string>;

// Where a value came from: the config file's absolute path, an environment variable's
// name, or "--set". `base_dir` is what a relative data_dir from this source is relative
// to: the file's directory for the file, the working directory for env and --set (as a
// shell user would expect); "" when the working directory is unknown.
struct Source {
  std::string name;
  std::string base_dir;
};

// One declared key. Integer keys carry their range; string keys a validity check and
// the phrase describing what is valid. `set` stores an already-validated value.
struct KeySpec {
  enum class Kind { kInt, kString };
  std::string key;
  Kind kind = Kind::kInt;
  int64_t min = 0;
  int64_t max = 0;
  bool (*valid)(std::string_view) = nullptr;
  std::string expected;  // kString: "expected <this>, got ..."
  std::string help;      // the comment above the key in DefaultConfigToml()
  bool in_default_file = true;
  // The value may carry a password in URL userinfo (kv.url): error messages show it with
  // the userinfo replaced by "***".
  bool redact_userinfo = false;
  // kInt with range 0..1 written and read as a boolean: TOML true/false (or 0/1), text
  // "true"/"false"/"1"/"0".
  bool boolean = false;
  std::function<void(Config&, const Value&, const Source&)> set;
  std::function<Value(const Config&)> get;
};

// ---- Small helpers ----------------------------------------------------------------

// A TOML basic string literal (also used to quote bad values in error messages).
std::string Quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

// `url` with anything between "://" and the last '@' replaced by "***", so an error
// message quoting a bad URL does not leak its password.
std::string RedactUserinfo(std::string_view url) {
  size_t scheme = url.find("://");
  size_t at = url.rfind('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme + 3) {
    return std::string(url);
  }
  return StrCat(url.substr(0, scheme + 3), "***", url.substr(at));
}

// `path` made absolute against `base` (when relative) and lexically normalised, with no
// trailing separator. With an empty `base` a relative path is returned normalised but
// still relative; LoadConfig() rejects that at the end.
std::string MakeAbsolute(std::string_view base, std::string_view path) {
  std::filesystem::path p(path);
  if (p.is_relative() && !base.empty()) p = std::filesystem::path(base) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// The working directory, or "" when it cannot be determined (e.g. it was deleted).
std::string CurrentDir() {
  std::error_code ec;
  std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (ec) return "";
  return MakeAbsolute("", cwd.string());
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool ValidPath(std::string_view s) { return !s.empty() && s.find('\0') == std::string_view::npos; }
bool ValidOptionalPath(std::string_view s) { return s.find('\0') == std::string_view::npos; }

bool ValidNodeId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool ValidLogLevel(std::string_view s) {
  LogLevel ignored;
  return ParseLogLevel(s, &ignored);
}

bool ValidNonEmpty(std::string_view s) {
  return !s.empty() && s.size() <= 1024 && s.find('\0') == std::string_view::npos;
}
bool ValidEmail(std::string_view s) {
  size_t at = s.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < s.size() && s.size() <= 320 &&
         s.find_first_of(" \t\r\n") == std::string_view::npos;
}
bool ValidOriginList(std::string_view s) {
  if (s.empty()) return true;
  for (std::string_view o : Split(s, ',')) {
    if (!(o.substr(0, 7) == "http://" || o.substr(0, 8) == "https://") || o.back() == '/') {
      return false;
    }
  }
  return true;
}
bool ValidKvUrl(std::string_view s) { return ParseEdgeKvUrl(s).ok(); }
bool ValidWarehouseUrl(std::string_view s) { return ParseAuditWarehouseUrl(s).ok(); }
bool ValidRateLimitUrl(std::string_view s) {
  if (s.empty()) return true;
  absl::StatusOr<EdgeKvUrl> url = ParseEdgeKvUrl(s);
  return url.ok() && url->kind == EdgeKvUrl::Kind::kRedis;
}

// "" or "sqlite:" (the embedded control.db), or a postgres:// / postgresql:// URL; libpq
// checks the rest when auth connects (docs/design/postgres-schema.md).
bool ValidControlDbUrl(std::string_view s) {
  if (s.empty() || s == "sqlite:") return true;
  std::string_view rest;
  if (s.substr(0, 11) == "postgres://") rest = s.substr(11);
  if (s.substr(0, 13) == "postgresql://") rest = s.substr(13);
  return !rest.empty() && s.size() <= 4096 &&
         s.find_first_of(std::string_view(" \t\r\n\0", 5)) == std::string_view::npos;
}

// api.workspace_db_url: the embedded SQLite files, or a PostgreSQL URL (libpq checks the
// rest when the api starts; base/ does not link libpq).
bool ValidWorkspaceDbUrl(std::string_view s) {
  if (s.empty() || s == "sqlite:") return true;
  if (s.size() > 4096 || s.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string_view::npos) {
    return false;
  }
  for (std::string_view scheme : {"postgres://", "postgresql://"}) {
    if (s.size() > scheme.size() && s.substr(0, scheme.size()) == scheme) return true;
  }
  return false;
}
// An HTTP header name (RFC 9110 token), or empty.
bool ValidHeaderName(std::string_view s) {
  if (s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}
// Comma-separated IP addresses or CIDR ranges ("10.0.0.0/8, 192.0.2.1, fd00::/8"), or empty.
// Comma-separated host names or IP literals (IPv6 optionally in brackets); "" allowed.
bool ValidHostList(std::string_view v) {
  for (std::string_view part : Split(v, ',')) {
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.empty()) return v.empty();
    for (char c : part) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '-' || c == ':' || c == '[' || c == ']';
      if (!ok) return false;
    }
  }
  return true;
}

bool ValidAddressList(std::string_view s) {
  for (std::string_view entry : Split(s, ',')) {
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.empty()) continue;
    std::string address(entry.substr(0, entry.find('/')));
    unsigned char buf[16];
    bool v4 = inet_pton(AF_INET, address.c_str(), buf) == 1;
    bool v6 = !v4 && inet_pton(AF_INET6, address.c_str(), buf) == 1;
    if (!v4 && !v6) return false;
    if (entry.find('/') != std::string_view::npos) {
      std::string_view bits = entry.substr(entry.find('/') + 1);
      int n = 0;
      auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
      if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() || n < 0 ||
          n > (v4 ? 32 : 128)) {
        return false;
      }
    }
  }
  return true;
}

// "" or http(s)://host[:port][/path] without query, fragment, spaces or a trailing '/'.
bool ValidOptionalBaseUrl(std::string_view s) {
  if (s.empty()) return true;
  if (!s.starts_with("http://") && !s.starts_with("https://")) return false;
  if (s.back() == '/') return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') return false;
  }
  return s.find("://") + 3 < s.size();
}

bool ValidAiProvider(std::string_view s) { return s == "none" || s == "openai" || s == "anthropic"; }

// A model name as providers spell them ("gpt-4o-mini", "llama3.1:8b", "org/model"): printable ASCII.
bool ValidModelName(std::string_view s) {
  if (s.size() > 200) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '"' || c == '\\') {
      return false;
    }
  }
  return true;
}

bool ValidHost(std::string_view s) { return !s.empty() && s.find('\0') == std::string_view::npos; }

// The member of Config holding service `name`'s endpoint; nullptr for unknown names.
ServiceEndpoint Config::*EndpointMember(std::string_view name) {
  if (name == "console") return &Config::console;
  if (name == "api") return &Config::api;
  if (name == "delivery") return &Config::delivery;
  if (name == "auth") return &Config::auth;
  if (name == "audit") return &Config::audit;
  return nullptr;
}

// ---- The key table ----------------------------------------------------------------

KeySpec IntSpec(std::string key, int64_t min, int64_t max, std::string help) {
  KeySpec k;
  k.key = std::move(key);
  k.kind = KeySpec::Kind::kInt;
  k.min = min;
  k.max = max;
  k.help = std::move(help);
  return k;
}

// `field` is a generic lambda `[](auto& c) -> auto& { return c.some.member; }`, so one
// accessor serves both the setter (Config&) and the getter (const Config&).
template <typename Field>
KeySpec IntKey(std::string key, int64_t min, int64_t max, std::string help, Field field) {
  KeySpec k = IntSpec(std::move(key), min, max, std::move(help));
  k.set = [field](Config& c, const Value& v, const Source&) {
    auto& f = field(c);
    f = static_cast<std::remove_reference_t<decltype(f)>>(std::get<int64_t>(v));
  };
  k.get = [field](const Config& c) -> Value { return static_cast<int64_t>(field(c)); };
  return k;
}

// An integer key stored as an absl::Duration: the integer counts `unit`s.
template <typename Field>
KeySpec DurationKey(std::string key, int64_t min, int64_t max, absl::Duration unit,
                    std::string help, Field field) {
  KeySpec k = IntSpec(std::move(key), min, max, std::move(help));
  k.set = [field, unit](Config& c, const Value& v, const Source&) {
    field(c) = unit * std::get<int64_t>(v);
  };
  k.get = [field, unit](const Config& c) -> Value {
    absl::Duration remainder;  // Debian's Abseil (20220623) requires a non-null pointer
    return absl::IDivDuration(field(c), unit, &remainder);
  };
  return k;
}

// A boolean key (KeySpec::boolean).
template <typename Field>
KeySpec BoolKey(std::string key, std::string help, Field field) {
  KeySpec k = IntSpec(std::move(key), 0, 1, std::move(help));
  k.boolean = true;
  k.set = [field](Config& c, const Value& v, const Source&) { field(c) = std::get<int64_t>(v) != 0; };
  k.get = [field](const Config& c) -> Value { return static_cast<int64_t>(field(c) ? 1 : 0); };
  return k;
}

KeySpec StringKey(std::string key, bool (*valid)(std::string_view), std::string expected,
                  std::string help,
                  std::function<void(Config&, const std::string&, const Source&)> set,
                  std::function<std::string(const Config&)> get) {
  KeySpec k;
  k.key = std::move(key);
  k.kind = KeySpec::Kind::kString;
  k.valid = valid;
  k.expected = std::move(expected);
  k.help = std::move(help);
  k.set = [set = std::move(set)](Config& c, const Value& v, const Source& src) {
    set(c, std::get<std::string>(v), src);
  };
  k.get = [get = std::move(get)](const Config& c) -> Value { return get(c); };
  return k;
}

// A path that may be "" (ValidOptionalPath), made absolute against the directory of the
// file (or the working directory of --set / the environment) it came from.
template <typename Field>
KeySpec OptionalPathKey(std::string key, std::string expected, std::string help, Field field) {
  return StringKey(
      std::move(key), ValidOptionalPath, std::move(expected), std::move(help),
      [field](Config& c, const std::string& v, const Source& src) {
        field(c) = v.empty() ? "" : MakeAbsolute(src.base_dir, v);
      },
      [field](const Config& c) { return field(c); });
}

std::vector<KeySpec> BuildKeyTable() {
  std::vector<KeySpec> t;
  // Keys are grouped by TOML table; top-level keys come first (DefaultConfigToml relies
  // on both).
  KeySpec data_dir = StringKey(
      "data_dir", ValidPath, "a non-empty path",
      "Directory holding all EdgeVault data. A relative path is relative to this file's\n"
      "directory; when unset it is this file's directory, so the directory can be moved.",
      [](Config& c, const std::string& v, const Source& src) {
        c.data_dir = MakeAbsolute(src.base_dir, v);
      },
      [](const Config& c) { return c.data_dir; });
  data_dir.in_default_file = false;
  t.push_back(std::move(data_dir));
  t.push_back(StringKey(
      "node_id", ValidNodeId, "1 to 64 characters from [A-Za-z0-9._-]",
      "This node's name in logs and audit events: 1 to 64 characters from [A-Za-z0-9._-].",
      [](Config& c, const std::string& v, const Source&) { c.node_id = v; },
      [](const Config& c) { return c.node_id; }));
  t.push_back(StringKey(
      "log.level", ValidLogLevel, "one of debug, info, warn, error",
      "Least severe level written to the log: \"debug\", \"info\", \"warn\" or \"error\".",
      [](Config& c, const std::string& v, const Source&) { ParseLogLevel(v, &c.log_level); },
      [](const Config& c) { return std::string(LevelName(c.log_level)); }));

  t.push_back(IntKey(
      "server.io_threads", 0, 256, "I/O threads per service; 0 = one per CPU core.",
      [](auto& c) -> auto& { return c.io_threads; }));
  t.push_back(IntKey(
      "server.max_header_bytes", 1024, 1048576,
      "Largest request line + headers accepted; larger requests get 431.",
      [](auto& c) -> auto& { return c.limits.max_header_bytes; }));
  t.push_back(IntKey(
      "server.max_body_bytes", 1, 1073741824,
      "Largest request body accepted; larger bodies get 413.",
      [](auto& c) -> auto& { return c.limits.max_body_bytes; }));
  t.push_back(DurationKey(
      "server.read_timeout_ms", 1, 3600000, absl::Milliseconds(1),
      "Time a started request has to arrive completely; then 408.",
      [](auto& c) -> auto& { return c.limits.read_timeout; }));
  t.push_back(DurationKey(
      "server.idle_timeout_ms", 1, 86400000, absl::Milliseconds(1),
      "An idle keep-alive connection is closed after this long.",
      [](auto& c) -> auto& { return c.limits.idle_timeout; }));
  t.push_back(IntKey(
      "server.max_connections", 1, 1000000,
      "Open connections per service; beyond this new ones get 503.",
      [](auto& c) -> auto& { return c.limits.max_connections; }));
  t.push_back(DurationKey(
      "server.drain_timeout_ms", 0, 600000, absl::Milliseconds(1),
      "On SIGTERM, time in-flight requests get to finish.",
      [](auto& c) -> auto& { return c.limits.drain_timeout; }));

  for (std::string_view name : kServiceNames) {
    ServiceEndpoint Config::*endpoint = EndpointMember(name);
    t.push_back(StringKey(
        StrCat("services.", name, ".host"), ValidHost, "a non-empty host name or IP address",
        StrCat("Address the ", name, " service listens on."),
        [endpoint](Config& c, const std::string& v, const Source&) { (c.*endpoint).host = v; },
        [endpoint](const Config& c) { return (c.*endpoint).host; }));
    t.push_back(IntKey(
        StrCat("services.", name, ".port"), 0, 65535,
        StrCat("Port of the ", name, " service; 0 = any free port."), [endpoint](auto& c) -> auto& {
          return (c.*endpoint).port;
        }));
  }

  t.push_back(StringKey(
      "keys.dir", ValidPath, "a non-empty path",
      "Directory of the key files; a relative path is relative to data_dir.",
      // Stored as given; LoadConfig() resolves it against the final data_dir.
      [](Config& c, const std::string& v, const Source&) { c.keys_dir = v; },
      [](const Config& c) { return c.keys_dir.empty() ? std::string("keys") : c.keys_dir; }));
  t.push_back(StringKey(
      "keys.trust_dir", ValidPath, "a non-empty path",
      "Directory of the services' public keys (<service>.pub) that internal calls are\n"
      "checked against; a relative path is relative to data_dir.",
      [](Config& c, const std::string& v, const Source&) { c.trust_dir = v; },
      [](const Config& c) { return c.trust_dir.empty() ? std::string("trust") : c.trust_dir; }));
  KeySpec master_file = StringKey(
      "keys.master_key_file", ValidPath, "a non-empty path",
      "Read the master key from this file (mode 0600) instead of keys/master.key;\n"
      "a relative path is relative to this file's directory.",
      [](Config& c, const std::string& v, const Source& src) {
        c.master_key_file = MakeAbsolute(src.base_dir, v);
      },
      [](const Config& c) { return c.master_key_file; });
  master_file.in_default_file = false;
  t.push_back(std::move(master_file));
  KeySpec master_env = StringKey(
      "keys.master_key_env", ValidNonEmpty, "an environment variable name",
      "Read the master key (64 hex characters) from this environment variable instead.",
      [](Config& c, const std::string& v, const Source&) { c.master_key_env = v; },
      [](const Config& c) { return c.master_key_env; });
  master_env.in_default_file = false;
  t.push_back(std::move(master_env));
  KeySpec kv_url = StringKey(
      "kv.url", ValidKvUrl,
      "\"\" or \"lmdb:\" (the embedded LMDB store) or redis[s]://[[user]:password@]host[:port][/db][?...]",
      "The edge KV the api writes and delivery reads: \"\" or \"lmdb:\" = the embedded LMDB\n"
      "store under data_dir/edge (one machine); redis://[[user]:password@]host[:port][/db]\n"
      "= a Redis server shared by the api and any number of delivery nodes; rediss://...\n"
      "= the same over TLS, with ?ca_file=/ca.pem (default: the system's CA store),\n"
      "&cert_file=/c.pem&key_file=/c.key (a client certificate) and &server_name=name.\n"
      "Prefer EDGEVAULT_KV_URL over this file for a URL that holds a password.",
      [](Config& c, const std::string& v, const Source&) { c.kv_url = v; },
      [](const Config& c) { return c.kv_url; });
  kv_url.redact_userinfo = true;
  t.push_back(std::move(kv_url));
  t.push_back(StringKey(
      "audit.warehouse_url", ValidWarehouseUrl,
      "\"\", \"file:\", file:/absolute/dir or s3://bucket[/prefix][?endpoint=...&region=...&style=path|virtual]",
      "Where edgevault-audit writes the hash-chained audit warehouse and `edgevault audit\n"
      "verify` reads it: \"\" or \"file:\" = data_dir/audit/warehouse; file:/dir = that\n"
      "directory; s3://bucket/prefix?endpoint=http://host:port&region=us-east-1&style=path\n"
      "= an S3-compatible store (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\n"
      "and AWS_SESSION_TOKEN; docs/audit.md#s3). Every audit node needs its own node_id.",
      [](Config& c, const std::string& v, const Source&) { c.audit_warehouse_url = v; },
      [](const Config& c) { return c.audit_warehouse_url; }));
  KeySpec audit_queue_url = StringKey(
      "audit.queue_url", ValidWorkspaceDbUrl,
      "\"\" or \"sqlite:\" (data_dir/audit/queue.db) or postgres://user[:password]@host[:port]/db",
      "The audit queue the api and auth put audit events in and edgevault-audit drains:\n"
      "\"\" or \"sqlite:\" = data_dir/audit/queue.db (an audit consumer on every host with\n"
      "api or auth); postgres://user[:password]@host[:port]/db = one queue in PostgreSQL that\n"
      "every api and auth node feeds and one or more audit nodes drain (docs/deploy.md).\n"
      "Prefer EDGEVAULT_AUDIT_QUEUE_URL for a URL with a password.",
      [](Config& c, const std::string& v, const Source&) { c.audit_queue_url = v; },
      [](const Config& c) { return c.audit_queue_url; });
  audit_queue_url.redact_userinfo = true;
  t.push_back(std::move(audit_queue_url));
  KeySpec rate_limit_url = StringKey(
      "rate_limit.url", ValidRateLimitUrl,
      "\"\" (each process counts on its own) or redis[s]://[[user]:password@]host[:port][/db][?...]",
      "Where rate limits and login throttling are counted (docs/design/rate-limits.md):\n"
      "\"\" = in each process (N nodes give N x the rate; a restart forgets);\n"
      "redis://[[user]:password@]host[:port][/db] = one Redis every node shares (it may\n"
      "be the edge KV's); rediss://... = over TLS, with the parameters kv.url takes.\n"
      "Prefer EDGEVAULT_RATE_LIMIT_URL for a URL with a password.",
      [](Config& c, const std::string& v, const Source&) { c.rate_limit_url = v; },
      [](const Config& c) { return c.rate_limit_url; });
  rate_limit_url.redact_userinfo = true;
  t.push_back(std::move(rate_limit_url));
  t.push_back(DurationKey(
      "internal.signature_window_s", 1, 3600, absl::Seconds(1),
      "Signed internal calls are accepted within this many seconds of\n"
      "their timestamp (allowing for clock skew between nodes).",
      [](auto& c) -> auto& { return c.internal_signature_window; }));
  t.push_back(DurationKey(
      "up.restart_backoff_initial_ms", 1, 600000, absl::Milliseconds(1),
      "`edgevault up` restarts a crashed service after this delay,\n"
      "doubling it after each further crash up to restart_backoff_max_ms.",
      [](auto& c) -> auto& { return c.restart_backoff_initial; }));
  t.push_back(DurationKey(
      "up.restart_backoff_max_ms", 1, 600000, absl::Milliseconds(1),
      "Longest delay before a restart; at least restart_backoff_initial_ms.",
      [](auto& c) -> auto& { return c.restart_backoff_max; }));
  t.push_back(DurationKey(
      "up.stop_timeout_ms", 100, 600000, absl::Milliseconds(1),
      "On stop, time a service gets to exit after SIGTERM before SIGKILL.",
      [](auto& c) -> auto& { return c.stop_timeout; }));

  t.push_back(StringKey(
      "auth.bootstrap_email", ValidEmail, "an email address",
      "Email of the owner account created on the first start (its one-time password is\n"
      "printed once; an owner API key is written to DATA_DIR/bootstrap-admin.key).",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.bootstrap_email = v; },
      [](const Config& c) { return c.auth_settings.bootstrap_email; }));
  t.push_back(StringKey(
      "auth.issuer", ValidNonEmpty, "a non-empty string",
      "The `iss` of every JWT the auth service signs; verifiers check it.",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.issuer = v; },
      [](const Config& c) { return c.auth_settings.issuer; }));
  t.push_back(IntKey(
      "auth.argon2_memory_kib", 19456, 4194304,
      "Argon2id memory per password hash in KiB (OWASP minimum 19456). Raising it\n"
      "re-hashes each password at its next successful login.",
      [](auto& c) -> auto& { return c.auth_settings.argon2_memory_kib; }));
  t.push_back(IntKey(
      "auth.argon2_iterations", 2, 100, "Argon2id passes over memory (OWASP minimum 2).",
      [](auto& c) -> auto& { return c.auth_settings.argon2_iterations; }));
  t.push_back(DurationKey(
      "auth.token_ttl_s", 1, 300, absl::Seconds(1),
      "Lifetime of the JWTs POST /v1/token issues (at most 300 s).",
      [](auto& c) -> auto& { return c.auth_settings.token_ttl; }));
  t.push_back(DurationKey(
      "auth.session_idle_s", 60, 2592000, absl::Seconds(1),
      "A login session unused for this long ends.",
      [](auto& c) -> auto& { return c.auth_settings.session_idle; }));
  t.push_back(DurationKey(
      "auth.session_absolute_s", 60, 31536000, absl::Seconds(1),
      "A login session ends this long after login, used or not.",
      [](auto& c) -> auto& { return c.auth_settings.session_absolute; }));
  t.push_back(StringKey(
      "auth.webauthn_rp_id", ValidNonEmpty, "a host name",
      "WebAuthn relying-party id: the host name users reach the console at.",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.webauthn_rp_id = v; },
      [](const Config& c) { return c.auth_settings.webauthn_rp_id; }));
  t.push_back(StringKey(
      "auth.webauthn_origins", ValidOriginList, "comma-separated http(s) origins without a trailing /",
      "Origins passkey ceremonies may come from, comma-separated; empty = the\n"
      "console's http://localhost:PORT and http://127.0.0.1:PORT.",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.webauthn_origins = v; },
      [](const Config& c) { return c.auth_settings.webauthn_origins; }));
  t.push_back(IntKey(
      "auth.throttle_account_failures", 1, 1000,
      "Failed logins per account within throttle_window_s before it gets 429s.",
      [](auto& c) -> auto& { return c.auth_settings.throttle_account_failures; }));
  t.push_back(IntKey(
      "auth.throttle_address_failures", 1, 100000,
      "Failed logins per client address within throttle_window_s before it gets 429s.",
      [](auto& c) -> auto& { return c.auth_settings.throttle_address_failures; }));
  t.push_back(IntKey(
      "auth.throttle_second_factor_failures", 1, 1000,
      "Failed second factors (TOTP or recovery codes, passkeys after a password) per\n"
      "account within throttle_window_s before it gets 429s. A correct password does\n"
      "not reset this count; a correct second factor does.",
      [](auto& c) -> auto& { return c.auth_settings.throttle_second_factor_failures; }));
  t.push_back(DurationKey(
      "auth.throttle_window_s", 1, 86400, absl::Seconds(1),
      "The sliding window failed logins are counted in.",
      [](auto& c) -> auto& { return c.auth_settings.throttle_window; }));
  t.push_back(StringKey(
      "auth.client_address_header", ValidHeaderName, "an HTTP header name such as X-Forwarded-For",
      "Behind a reverse proxy: the header naming the client address that login throttling\n"
      "counts. Read only from connections from auth.trusted_proxies; empty = never.",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.client_address_header = v; },
      [](const Config& c) { return c.auth_settings.client_address_header; }));
  t.push_back(StringKey(
      "auth.trusted_proxies", ValidAddressList, "comma-separated IP addresses or CIDR ranges",
      "Comma-separated addresses or CIDR ranges of the reverse proxies whose\n"
      "auth.client_address_header is believed, e.g. \"10.0.0.0/8, 192.0.2.10\".",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.trusted_proxies = v; },
      [](const Config& c) { return c.auth_settings.trusted_proxies; }));
  t.push_back(DurationKey(
      "auth.signing_key_settle_s", 0, 3600, absl::Seconds(1),
      "A new JWT signing key is published this long before auth signs with it, so every\n"
      "verifier has fetched it first (more than their JWKS refresh of 3 s plus auth's\n"
      "key reload of 5 s).",
      [](auto& c) -> auto& { return c.auth_settings.signing_key_settle; }));
  t.push_back(DurationKey(
      "auth.invitation_ttl_s", 60, 7776000, absl::Seconds(1),
      "How long an invitation to an org (POST /v1/users) may be accepted.",
      [](auto& c) -> auto& { return c.auth_settings.invitation_ttl; }));
  KeySpec control_db_url = StringKey(
      "auth.control_db_url", ValidControlDbUrl,
      "\"\" or \"sqlite:\" (the embedded control.db) or postgres://user:password@host:port/database",
      "The control DB (users, orgs, sessions, keys) auth keeps: \"\" or \"sqlite:\" =\n"
      "data_dir/control.db (one auth node); postgres://user:password@host:port/database\n"
      "(any libpq URI, e.g. ?sslmode=verify-full) = a PostgreSQL database any number of\n"
      "auth nodes share. Prefer EDGEVAULT_AUTH_CONTROL_DB_URL for a URL with a password.",
      [](Config& c, const std::string& v, const Source&) { c.auth_settings.control_db_url = v; },
      [](const Config& c) { return c.auth_settings.control_db_url; });
  control_db_url.redact_userinfo = true;
  t.push_back(std::move(control_db_url));
  t.push_back(IntKey(
      "auth.control_db_pool_size", 1, 1000,
      "Connections each auth node opens to a PostgreSQL control DB at most (on demand);\n"
      "auth nodes x this must stay below the server's max_connections. Ignored for SQLite.",
      [](auto& c) -> auto& { return c.auth_settings.control_db_pool_size; }));
  t.push_back(IntKey(
      "delivery.ofrep_rate_limit_per_second", 0, 10000000,
      "OFREP evaluations per second each SDK key may make (token bucket; beyond it 429\n"
      "with Retry-After): on each delivery node, or across all of them when\n"
      "rate_limit.url names a Redis. 0 = unlimited.",
      [](auto& c) -> auto& { return c.delivery_settings.ofrep_rate_limit_per_second; }));
  t.push_back(IntKey(
      "delivery.ofrep_rate_limit_burst", 0, 10000000,
      "How many OFREP requests an SDK key may send at once before the per-second\n"
      "rate applies; 0 = the per-second rate.",
      [](auto& c) -> auto& { return c.delivery_settings.ofrep_rate_limit_burst; }));
  t.push_back(DurationKey(
      "delivery.usage_interval_s", 1, 3600, absl::Seconds(1),
      "How often each delivery node ships its evaluation and SDK-request counts to the\n"
      "api (and once more when it stops). 60 = whole minutes; lower only for tests.",
      [](auto& c) -> auto& { return c.delivery_settings.usage_interval; }));
  t.push_back(IntKey(
      "api.rate_limit_per_second", 0, 1000000,
      "Requests per second each user or API key may make to the api (token bucket;\n"
      "beyond it 429 with Retry-After): on each api node, or across all of them when\n"
      "rate_limit.url names a Redis. 0 = unlimited.",
      [](auto& c) -> auto& { return c.api_settings.rate_limit_per_second; }));
  t.push_back(IntKey(
      "api.rate_limit_burst", 0, 10000000,
      "How many api requests a user or API key may send at once before the per-second\n"
      "rate applies; 0 = the per-second rate.",
      [](auto& c) -> auto& { return c.api_settings.rate_limit_burst; }));
  t.push_back(IntKey(
      "api.max_open_workspaces", 1, 1000000,
      "Workspace stores the api keeps open beyond those in use; the least recently\n"
      "used close first (each SQLite workspace holds three file descriptors).",
      [](auto& c) -> auto& { return c.api_settings.max_open_workspaces; }));
  KeySpec workspace_db_url = StringKey(
      "api.workspace_db_url", ValidWorkspaceDbUrl,
      "\"\" or \"sqlite:\" (one SQLite file per workspace) or postgres://user[:password]@host[:port]/db",
      "Where the api keeps the workspaces (items, revisions, change requests, ...):\n"
      "\"\" or \"sqlite:\" = one SQLite file per workspace under data_dir/workspaces (one api);\n"
      "postgres://user[:password]@host[:port]/db = one PostgreSQL database that any number\n"
      "of api nodes share. Prefer EDGEVAULT_API_WORKSPACE_DB_URL for a URL with a password.",
      [](Config& c, const std::string& v, const Source&) { c.api_settings.workspace_db_url = v; },
      [](const Config& c) { return c.api_settings.workspace_db_url; });
  workspace_db_url.redact_userinfo = true;
  t.push_back(std::move(workspace_db_url));
  t.push_back(IntKey(
      "api.workspace_db_pool_size", 1, 1000,
      "Connections each api node opens to a PostgreSQL workspace store at most (on demand);\n"
      "api nodes x this must stay below the server's max_connections. Ignored for SQLite.",
      [](auto& c) -> auto& { return c.api_settings.workspace_db_pool_size; }));
  t.push_back(DurationKey(
      "api.principal_recheck_ms", 100, 60000, absl::Milliseconds(1),
      "How often the api rechecks with auth the users and API keys it let in during the\n"
      "last 10 minutes: the longest a revoked key, a removed or disabled member, or a\n"
      "lowered role keeps working at this node (docs/design/principal-recheck.md).",
      [](auto& c) -> auto& { return c.api_settings.principal_recheck_interval; }));
  t.push_back(DurationKey(
      "api.webhook_retry_initial_ms", 1, 3600000, absl::Milliseconds(1),
      "Wait after a webhook delivery fails before the next attempt; doubles per failure\n"
      "in a row up to api.webhook_retry_max_ms (docs/design/webhooks.md).",
      [](auto& c) -> auto& { return c.api_settings.webhook_retry_initial; }));
  t.push_back(DurationKey(
      "api.webhook_retry_max_ms", 1, 86400000, absl::Milliseconds(1),
      "The longest wait between two attempts of a webhook delivery.",
      [](auto& c) -> auto& { return c.api_settings.webhook_retry_max; }));
  t.push_back(IntKey(
      "api.webhook_max_attempts", 1, 1000,
      "Failed attempts in a row after which a webhook is marked failing and no longer\n"
      "called (its events are kept; PATCH it with active=true to resume).",
      [](auto& c) -> auto& { return c.api_settings.webhook_max_attempts; }));
  t.push_back(StringKey(
      "api.webhook_allowed_hosts", ValidHostList, "comma-separated host names or IP addresses",
      "Hosts webhooks may be registered for and delivered to, compared exactly; empty =\n"
      "any host, loopback and private addresses included (docs/design/webhooks.md).",
      [](Config& c, const std::string& v, const Source&) { c.api_settings.webhook_allowed_hosts = v; },
      [](const Config& c) { return c.api_settings.webhook_allowed_hosts; }));
  t.push_back(DurationKey(
      "workspaces.delete_grace_days", 0, 3650, absl::Hours(24),
      "Days a deleted workspace can be restored (POST /v1/workspaces/{ws}/restore) before\n"
      "the api destroys its data; 0 = at the purge task's next run (within a minute).",
      [](auto& c) -> auto& { return c.api_settings.workspace_delete_grace; }));
  t.push_back(BoolKey(
      "mcp.enabled",
      "Serve the Model Context Protocol endpoint /mcp on the api (docs/mcp.md).",
      [](auto& c) -> auto& { return c.mcp_settings.enabled; }));
  t.push_back(BoolKey(
      "mcp.read_only",
      "MCP agents get read tools only: the write tools (propose_change, apply_change,\n"
      "create_promotion) are neither listed nor run (docs/design/mcp.md section 4).",
      [](auto& c) -> auto& { return c.mcp_settings.read_only; }));
  t.push_back(BoolKey(
      "mcp.allow_secret_values",
      "Offer MCP agents the read_secret_value tool; a token still needs the right to\n"
      "read secret values. Off: agents see secret names and metadata only.",
      [](auto& c) -> auto& { return c.mcp_settings.allow_secret_values; }));
  t.push_back(IntKey(
      "mcp.max_sessions_per_principal", 1, 10000,
      "Open MCP sessions one user or API key may hold at an api node; initialize beyond\n"
      "it is refused (429) until one ends (DELETE /mcp) or goes idle.",
      [](auto& c) -> auto& { return c.mcp_settings.max_sessions_per_principal; }));
  t.push_back(DurationKey(
      "mcp.session_idle_s", 60, 86400, absl::Seconds(1),
      "An MCP session without requests (and without an open event stream) for this long\n"
      "ends; the client starts a new one.",
      [](auto& c) -> auto& { return c.mcp_settings.session_idle; }));
  t.push_back(IntKey(
      "mcp.session_rate_limit_per_second", 0, 1000000,
      "Requests per second one MCP session may make (token bucket; beyond it 429 with\n"
      "Retry-After): a runaway agent is slowed down without its user's other clients\n"
      "being. On top of the user's or key's api.rate_limit_per_second. 0 = unlimited.",
      [](auto& c) -> auto& { return c.mcp_settings.session_rate_limit_per_second; }));
  t.push_back(IntKey(
      "mcp.session_rate_limit_burst", 0, 10000000,
      "How many requests an MCP session may send at once before its per-second rate\n"
      "applies; 0 = the per-second rate.",
      [](auto& c) -> auto& { return c.mcp_settings.session_rate_limit_burst; }));
  // AI assistance (docs/design/ai.md).
  t.push_back(StringKey(
      "ai.provider", ValidAiProvider, "none, openai or anthropic",
      "The model provider the api's AI features call: none (the features answer 409\n"
      "ai_not_configured; risk reviews still compute their exact part), openai (any\n"
      "OpenAI-compatible chat-completions server: hosted, Ollama, vLLM, llama.cpp) or\n"
      "anthropic (the Messages API) (docs/design/ai.md).",
      [](Config& c, const std::string& v, const Source&) { c.ai_settings.provider = v; },
      [](const Config& c) { return c.ai_settings.provider; }));
  t.push_back(StringKey(
      "ai.base_url", ValidOptionalBaseUrl, "an http(s) URL without a trailing / (or \"\" for the provider's own)",
      "The provider's base URL: openai calls <base>/chat/completions (e.g.\n"
      "http://127.0.0.1:11434/v1 for Ollama), anthropic <base>/v1/messages. Empty = the\n"
      "provider's public endpoint.",
      [](Config& c, const std::string& v, const Source&) { c.ai_settings.base_url = v; },
      [](const Config& c) { return c.ai_settings.base_url; }));
  t.push_back(StringKey(
      "ai.model", ValidModelName, "a model name (printable ASCII, no spaces)",
      "The model the api asks (e.g. gpt-4o-mini, llama3.1:8b, claude-sonnet-4-5);\n"
      "required when ai.provider is not none.",
      [](Config& c, const std::string& v, const Source&) { c.ai_settings.model = v; },
      [](const Config& c) { return c.ai_settings.model; }));
  KeySpec ai_key_file = StringKey(
      "ai.api_key_file", ValidPath, "a non-empty path",
      "Read the provider's API key from this file (mode 0600); a relative path is\n"
      "relative to this file's directory.",
      [](Config& c, const std::string& v, const Source& src) { c.ai_settings.api_key_file = MakeAbsolute(src.base_dir, v); },
      [](const Config& c) { return c.ai_settings.api_key_file; });
  ai_key_file.in_default_file = false;
  t.push_back(std::move(ai_key_file));
  KeySpec ai_key_env = StringKey(
      "ai.api_key_env", ValidNonEmpty, "an environment variable name",
      "Read the provider's API key from this environment variable instead.",
      [](Config& c, const std::string& v, const Source&) { c.ai_settings.api_key_env = v; },
      [](const Config& c) { return c.ai_settings.api_key_env; });
  ai_key_env.in_default_file = false;
  t.push_back(std::move(ai_key_env));
  t.push_back(DurationKey(
      "ai.timeout_ms", 100, 600000, absl::Milliseconds(1),
      "The longest one call to the provider may take (connect, send, answer); beyond it\n"
      "the feature answers 503 ai_provider_timeout.",
      [](auto& c) -> auto& { return c.ai_settings.timeout; }));
  t.push_back(IntKey(
      "ai.org_monthly_token_budget", 0, 1000000000000,
      "Input plus output tokens (as the provider reports them) each org may use per\n"
      "calendar month (UTC); beyond it 429 ai_budget_exhausted. 0 = unlimited.",
      [](auto& c) -> auto& { return c.ai_settings.org_monthly_token_budget; }));
  t.push_back(IntKey(
      "ai.max_output_tokens", 16, 100000,
      "The most tokens the model may write in one answer (max_tokens of each call).",
      [](auto& c) -> auto& { return c.ai_settings.max_output_tokens; }));
  t.push_back(IntKey(
      "ai.max_prompt_bytes", 1000, 10000000,
      "The largest prompt the api sends to the provider (instructions, the workspace as\n"
      "the model sees it and the request, in bytes; roughly 4 bytes a token). A larger\n"
      "one is refused with 422 ai_prompt_too_large before any call or token is spent.",
      [](auto& c) -> auto& { return c.ai_settings.max_prompt_bytes; }));
  t.push_back(OptionalPathKey(
      "ai.ca_file", "a path (or \"\" for the system trust store only)",
      "PEM file of extra CA certificates an https:// ai.base_url's certificate may chain\n"
      "to (a private CA in front of a self-hosted model), trusted in addition to the\n"
      "system trust store. Read at start; an unreadable file stops start-up. A relative\n"
      "path is relative to this file's directory.",
      [](auto& c) -> auto& { return c.ai_settings.ca_file; }));
  // OAuth 2.1 for MCP clients (docs/design/oauth.md): auth is the authorization server.
  t.push_back(BoolKey(
      "oauth.enabled",
      "Let MCP clients sign in with OAuth: the api publishes protected-resource\n"
      "metadata for /mcp, auth serves the authorization server (docs/mcp.md#oauth).",
      [](auto& c) -> auto& { return c.oauth_settings.enabled; }));
  t.push_back(StringKey(
      "oauth.issuer_url", ValidOptionalBaseUrl, "an http(s) URL without a path (or \"\" for the default)",
      "auth's public base URL as MCP clients reach it: the OAuth issuer, and where the\n"
      "token, registration and revocation endpoints are. Empty = http://<auth.host>:<auth.port>.",
      [](Config& c, const std::string& v, const Source&) { c.oauth_settings.issuer_url = v; },
      [](const Config& c) { return c.oauth_settings.issuer_url; }));
  t.push_back(StringKey(
      "oauth.console_url", ValidOptionalBaseUrl, "an http(s) URL without a path (or \"\" for the default)",
      "The console's public base URL as a browser reaches it; its /oauth/authorize page\n"
      "asks the user's consent. Empty = http://<console.host>:<console.port>.",
      [](Config& c, const std::string& v, const Source&) { c.oauth_settings.console_url = v; },
      [](const Config& c) { return c.oauth_settings.console_url; }));
  t.push_back(StringKey(
      "oauth.mcp_resource", ValidOptionalBaseUrl, "an http(s) URL (or \"\" for the default)",
      "The api's MCP endpoint exactly as clients are configured with it (RFC 8707 resource\n"
      "indicator): OAuth access tokens are bound to it and accepted nowhere else.\n"
      "Empty = http://<api.host>:<api.port>/mcp.",
      [](Config& c, const std::string& v, const Source&) { c.oauth_settings.mcp_resource = v; },
      [](const Config& c) { return c.oauth_settings.mcp_resource; }));
  t.push_back(DurationKey(
      "oauth.refresh_token_ttl_s", 300, 31536000, absl::Seconds(1),
      "An OAuth grant unused (not refreshed) for this long ends; each refresh extends it.",
      [](auto& c) -> auto& { return c.oauth_settings.refresh_ttl; }));
  t.push_back(IntKey(
      "oauth.registrations_per_address", 1, 100000,
      "Open OAuth client registrations (POST /oauth/register) one client address may make\n"
      "within auth.throttle_window_s; beyond it 429 with Retry-After. Counted across auth\n"
      "nodes when rate_limit.url names a Redis.",
      [](auto& c) -> auto& { return c.oauth_settings.registrations_per_address; }));
  t.push_back(IntKey(
      "oauth.token_requests_per_address", 1, 1000000,
      "Requests to the OAuth token endpoint (POST /oauth/token) one client address may make\n"
      "within auth.throttle_window_s; beyond it 429 with Retry-After. Counted across auth\n"
      "nodes when rate_limit.url names a Redis.",
      [](auto& c) -> auto& { return c.oauth_settings.token_requests_per_address; }));
  t.push_back(IntKey(
      "oauth.token_requests_per_client", 1, 1000000,
      "Requests to the OAuth token endpoint one OAuth client (client_id) may make within\n"
      "auth.throttle_window_s, from any address; beyond it 429 with Retry-After.",
      [](auto& c) -> auto& { return c.oauth_settings.token_requests_per_client; }));
  t.push_back(OptionalPathKey(
      "api.webhook_ca_file", "a path (or \"\" for the system trust store only)",
      "PEM file of extra CA certificates that https:// webhook receivers' certificates\n"
      "may chain to, trusted in addition to the system trust store (a private CA).\n"
      "Read at start; an unreadable file stops start-up. A relative path is relative\n"
      "to this file's directory (docs/design/webhooks.md \"HTTPS\").",
      [](auto& c) -> auto& { return c.api_settings.webhook_ca_file; }));
  t.push_back(OptionalPathKey(
      "console.web_dir", "a path (or \"\" for the default)",
      "Directory of the built web app the console serves (index.html, assets/); a\n"
      "relative path is relative to this file's directory. Empty = the web/ directory\n"
      "next to the executables' bin/ (build/web in a source build).",
      [](auto& c) -> auto& { return c.console_settings.web_dir; }));
  t.push_back(OptionalPathKey(
      "console.tls_cert_file", "a path (or \"\" for plain HTTP)",
      "PEM certificate chain of the console's HTTPS listener; set together with\n"
      "console.tls_key_file. Set: the console serves HTTPS only (TLS 1.2+), its session\n"
      "cookie is __Host-ev_session; Secure. Replaced files are picked up without a\n"
      "restart. A relative path is relative to this file's directory.",
      [](auto& c) -> auto& { return c.console_settings.tls_cert_file; }));
  t.push_back(OptionalPathKey(
      "console.tls_key_file", "a path (or \"\" for plain HTTP)",
      "PEM private key of console.tls_cert_file; the file must be mode 0600 or stricter.\n"
      "A relative path is relative to this file's directory.",
      [](auto& c) -> auto& { return c.console_settings.tls_key_file; }));
  return t;
}

const std::vector<KeySpec>& KeyTable() {
  static const std::vector<KeySpec>* table = new std::vector<KeySpec>(BuildKeyTable());
  return *table;
}

const KeySpec* FindKey(std::string_view key) {
  for (const KeySpec& k : KeyTable()) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

const KeySpec* FindKeyByEnvVar(std::string_view var) {
  static const auto* by_var = [] {
    auto* m = new std::map<std::string, const KeySpec*, std::less<>>();
    for (const KeySpec& k : KeyTable()) (*m)[EnvVarName(k.key)] = &k;
    return m;
  }();
  auto it = by_var->find(var);
  return it == by_var->end() ? nullptr : it->second;
}

// True when some declared key lies below `prefix` ("services.api" for services.api.port).
bool IsTablePrefix(std::string_view prefix) {
  for (const KeySpec& k : KeyTable()) {
    if (k.key.size() > prefix.size() && k.key.compare(0, prefix.size(), prefix) == 0 &&
        k.key[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "; did you mean 'services.api.port'?" for a near miss or a key missing its table,
// "" otherwise.
std::string Suggestion(std::string_view unknown) {
  const KeySpec* best = nullptr;
  size_t best_distance = 3;  // at most this many edits away
  for (const KeySpec& k : KeyTable()) {
    if (k.key.size() > unknown.size() &&
        k.key.compare(k.key.size() - unknown.size(), unknown.size(), unknown) == 0 &&
        k.key[k.key.size() - unknown.size() - 1] == '.') {
      return StrCat("; did you mean '", k.key, "'?");
    }
    size_t d = EditDistance(unknown, k.key);
    if (d <= best_distance) {
      best = &k;
      best_distance = d;
    }
  }
  return best == nullptr ? "" : StrCat("; did you mean '", best->key, "'?");
}

absl::Status KeyError(std::string_view key, const Source& src, std::string_view what) {
  return absl::InvalidArgumentError(StrCat("config key '", key, "' (from ", src.name, "): ", what));
}

absl::Status UnknownKeyError(std::string_view key, const Source& src) {
  return KeyError(key, src, StrCat("unknown key", Suggestion(key)));
}

std::string Expected(const KeySpec& spec) {
  if (spec.boolean) return "expected true or false";
  if (spec.kind == KeySpec::Kind::kInt) {
    return StrCat("expected an integer in ", spec.min, "..", spec.max);
  }
  return StrCat("expected ", spec.expected);
}

// Parses a value given as text (environment, --set).
absl::StatusOr<Value> ParseText(const KeySpec& spec, std::string_view text, const Source& src) {
  if (spec.boolean) {
    if (text == "true" || text == "1") return Value(int64_t{1});
    if (text == "false" || text == "0") return Value(int64_t{0});
    return KeyError(spec.key, src, StrCat(Expected(spec), ", got ", Quote(text)));
  }
  if (spec.kind == KeySpec::Kind::kInt) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < spec.min || v > spec.max) {
      return KeyError(spec.key, src, StrCat(Expected(spec), ", got ", Quote(text)));
    }
    return Value(v);
  }
  if (!spec.valid(text)) {
    return KeyError(spec.key, src,
                    StrCat(Expected(spec), ", got ",
                           Quote(spec.redact_userinfo ? RedactUserinfo(text) : std::string(text))));
  }
  return Value(std::string(text));
}

// How a TOML value is shown after "got": strings quoted, numbers and booleans as
// written, anything else by its kind.
std::string DescribeNode(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return Quote(node.as_string()->get());
    case toml::node_type::integer: return StrCat(node.as_integer()->get());
    case toml::node_type::floating_point:
    case toml::node_type::boolean: {
      std::ostringstream os;
      if (node.is_boolean()) {
        os << *node.as_boolean();
      } else {
        os << *node.as_floating_point();
      }
      return os.str();
    }
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// Converts a TOML value, which must already have the key's TOML type.
absl::StatusOr<Value> ConvertNode(const KeySpec& spec, const toml::node& node, const Source& src) {
  if (spec.boolean) {
    if (const toml::value<bool>* b = node.as_boolean()) return Value(int64_t{b->get() ? 1 : 0});
  }
  if (spec.kind == KeySpec::Kind::kInt) {
    if (const toml::value<int64_t>* i = node.as_integer()) {
      int64_t v = i->get();
      if (v >= spec.min && v <= spec.max) return Value(v);
    }
  } else if (const toml::value<std::string>* s = node.as_string()) {
    if (spec.valid(s->get())) return Value(s->get());
    if (spec.redact_userinfo) {
      return KeyError(spec.key, src,
                      StrCat(Expected(spec), ", got ", Quote(RedactUserinfo(s->get()))));
    }
  }
  return KeyError(spec.key, src, StrCat(Expected(spec), ", got ", DescribeNode(node)));
}

// The first leaf below an unknown table, so the error names the full key the user wrote.
std::string FirstLeaf(const std::string& key, const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr || table->empty()) return key;
  // toml++'s iterator owns the pair it dereferences to, so it must outlive the use.
  const auto first = table->begin();
  return FirstLeaf(StrCat(key, ".", first->first.str()), first->second);
}

absl::Status ApplyTomlTable(const toml::table& table, const std::string& prefix, const Source& src,
                            Config* cfg) {
  for (const auto& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : StrCat(prefix, ".", k.str());
    if (const KeySpec* spec = FindKey(key)) {
      EV_ASSIGN_OR_RETURN(Value v, ConvertNode(*spec, node, src));
      spec->set(*cfg, v, src);
    } else if (IsTablePrefix(key)) {
      const toml::table* sub = node.as_table();
      if (sub == nullptr) {
        return KeyError(key, src, StrCat("expected a table, got ", DescribeNode(node)));
      }
      EV_RETURN_IF_ERROR(ApplyTomlTable(*sub, key, src, cfg));
    } else {
      return UnknownKeyError(FirstLeaf(key, node), src);
    }
  }
  return absl::OkStatus();
}

// The one place toml++ may throw.
absl::StatusOr<toml::table> ParseTomlFile(const std::string& text, const std::string& path) {
  try {
    return toml::parse(std::string_view(text), std::string_view(path));
  } catch (const toml::parse_error& e) {
    const toml::source_position& at = e.source().begin;
    return absl::InvalidArgumentError(
        StrCat(path, ":", at.line, ":", at.column, ": invalid TOML: ", e.description()));
  } catch (const std::exception& e) {
    return absl::InternalError(StrCat("parsing ", path, ": ", e.what()));
  }
}

absl::Status ApplyText(const KeySpec& spec, std::string_view text, const Source& src, Config* cfg) {
  EV_ASSIGN_OR_RETURN(Value v, ParseText(spec, text, src));
  spec.set(*cfg, v, src);
  return absl::OkStatus();
}

absl::Status CheckCrossKeys(const Config& cfg) {
  if (cfg.restart_backoff_max < cfg.restart_backoff_initial) {
    return absl::InvalidArgumentError(StrCat("config key 'up.restart_backoff_max_ms' (",
                                             absl::ToInt64Milliseconds(cfg.restart_backoff_max),
                                             ") must be at least 'up.restart_backoff_initial_ms' (",
                                             absl::ToInt64Milliseconds(cfg.restart_backoff_initial),
                                             ")"));
  }
  if (cfg.console_settings.tls_cert_file.empty() != cfg.console_settings.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "config keys 'console.tls_cert_file' and 'console.tls_key_file' must be set together "
        "(both for HTTPS, neither for plain HTTP)");
  }
  constexpr size_t kServices = std::size(kServiceNames);
  for (size_t i = 0; i < kServices; ++i) {
    const ServiceEndpoint& a = *cfg.Endpoint(kServiceNames[i]);
    if (a.port == 0) continue;
    for (size_t j = i + 1; j < kServices; ++j) {
      const ServiceEndpoint& b = *cfg.Endpoint(kServiceNames[j]);
      if (a.port == b.port && a.host == b.host) {
        return absl::InvalidArgumentError(StrCat(
            "config keys 'services.", kServiceNames[i], ".port' and 'services.", kServiceNames[j],
            ".port' both use ", a.host, ":", a.port, "; give each service its own port"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {
std::string EndpointUrl(const ServiceEndpoint& e) {
  // An IPv6 literal needs brackets; a wildcard address is no address to send anyone to.
  std::string host = e.host == "0.0.0.0" ? "127.0.0.1" : e.host == "::" ? "::1" : e.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(e.port);
}
}  // namespace

std::string OAuthIssuerUrl(const Config& c) {
  return c.oauth_settings.issuer_url.empty() ? EndpointUrl(c.auth) : c.oauth_settings.issuer_url;
}
std::string OAuthConsoleUrl(const Config& c) {
  return c.oauth_settings.console_url.empty() ? EndpointUrl(c.console) : c.oauth_settings.console_url;
}
std::string OAuthMcpResource(const Config& c) {
  return c.oauth_settings.mcp_resource.empty() ? EndpointUrl(c.api) + "/mcp" : c.oauth_settings.mcp_resource;
}

const ServiceEndpoint* Config::Endpoint(std::string_view name) const {
  ServiceEndpoint Config::*member = EndpointMember(name);
  return member == nullptr ? nullptr : &(this->*member);
}

ServiceEndpoint* Config::MutableEndpoint(std::string_view name) {
  ServiceEndpoint Config::*member = EndpointMember(name);
  return member == nullptr ? nullptr : &(this->*member);
}

absl::StatusOr<Config> LoadConfig(const ConfigSources& sources) {
  Config cfg;
  const std::string cwd = CurrentDir();
  std::string file_dir;

  if (!sources.file.empty()) {
    cfg.config_file = MakeAbsolute(cwd, sources.file);
    if (!std::filesystem::path(cfg.config_file).is_absolute()) {
      return absl::FailedPreconditionError(
          StrCat("config file ", sources.file,
                 ": cannot make the path absolute because the current directory is "
                 "unknown; pass an absolute path"));
    }
    file_dir = MakeAbsolute("", std::filesystem::path(cfg.config_file).parent_path().string());
    absl::StatusOr<std::string> text = Env::Default()->ReadFile(cfg.config_file);
    if (!text.ok()) {
      if (absl::IsNotFound(text.status())) {
        return absl::NotFoundError(StrCat("config file ", cfg.config_file, " does not exist"));
      }
      return absl::Status(text.status().code(), StrCat("cannot read config file ", cfg.config_file,
                                                       ": ", ToStd(text.status().message())));
    }
    EV_ASSIGN_OR_RETURN(toml::table table, ParseTomlFile(*text, cfg.config_file));
    EV_RETURN_IF_ERROR(ApplyTomlTable(table, "", Source{cfg.config_file, file_dir}, &cfg));
  }

  constexpr std::string_view kPrefix = "EDGEVAULT_";
  for (const auto& [name, value] : sources.env) {
    if (name.compare(0, kPrefix.size(), kPrefix) != 0) continue;
    // Other tools share the prefix, so a name matching no key is not an error.
    const KeySpec* spec = FindKeyByEnvVar(name);
    if (spec == nullptr) continue;
    EV_RETURN_IF_ERROR(ApplyText(*spec, value, Source{name, cwd}, &cfg));
  }

  const Source set_source{"--set", cwd};
  for (const auto& [key, value] : sources.overrides) {
    const KeySpec* spec = FindKey(key);
    if (spec == nullptr) return UnknownKeyError(key, set_source);
    EV_RETURN_IF_ERROR(ApplyText(*spec, value, set_source, &cfg));
  }

  if (cfg.data_dir.empty()) cfg.data_dir = sources.file.empty() ? cwd : file_dir;
  if (!std::filesystem::path(cfg.data_dir).is_absolute()) {
    return absl::FailedPreconditionError(
        StrCat("config key 'data_dir': cannot resolve ",
               cfg.data_dir.empty() ? std::string("the default") : Quote(cfg.data_dir),
               " because the current directory is unknown; use an absolute path"));
  }
  cfg.keys_dir = MakeAbsolute(cfg.data_dir, cfg.keys_dir.empty() ? "keys" : cfg.keys_dir);
  cfg.trust_dir = MakeAbsolute(cfg.data_dir, cfg.trust_dir.empty() ? "trust" : cfg.trust_dir);

  EV_RETURN_IF_ERROR(CheckCrossKeys(cfg));
  return cfg;
}

std::string DefaultConfigToml(int port_base) {
  Config defaults;
  int offset = 0;
  for (std::string_view name : kServiceNames) {
    // port_base 0: every service on a port the kernel picks.
    defaults.MutableEndpoint(name)->port = static_cast<uint16_t>(port_base == 0 ? 0 : port_base + offset++);
  }

  std::string out =
      "# EdgeVault configuration, written by `edgevault up` on first run with every key\n"
      "# at its default.\n"
      "#\n"
      "# Each key can be overridden by an environment variable, EDGEVAULT_ + the key\n"
      "# upper-cased with '.' replaced by '_' (services.api.port ->\n"
      "# EDGEVAULT_SERVICES_API_PORT), and both by `--set key=value` on the command line.\n";
  // TOML opens each table once: keys are written grouped by table (top-level keys first,
  // then the tables in the order their first key is registered), whatever order the key
  // table lists them in.
  auto prefix_of = [](const KeySpec& spec) {
    size_t dot = spec.key.rfind('.');
    return dot == std::string::npos ? std::string() : spec.key.substr(0, dot);
  };
  std::vector<std::string> tables{""};
  for (const KeySpec& spec : KeyTable()) {
    if (std::find(tables.begin(), tables.end(), prefix_of(spec)) == tables.end()) tables.push_back(prefix_of(spec));
  }
  std::vector<const KeySpec*> ordered;
  for (const std::string& t : tables) {
    for (const KeySpec& spec : KeyTable()) {
      if (prefix_of(spec) == t) ordered.push_back(&spec);
    }
  }
  std::string table;  // the TOML table currently open ("" = top level)
  for (const KeySpec* spec_ptr : ordered) {
    const KeySpec& spec = *spec_ptr;
    size_t dot = spec.key.rfind('.');
    std::string prefix = prefix_of(spec);
    std::string leaf = dot == std::string::npos ? spec.key : spec.key.substr(dot + 1);
    if (prefix != table) {
      StrAppend(&out, "\n[", prefix, "]\n");
      table = prefix;
    } else {
      out += "\n";
    }
    for (std::string_view line : Split(spec.help, '\n')) StrAppend(&out, "# ", line, "\n");
    if (!spec.in_default_file) {
      StrAppend(&out, "# ", leaf, " = \".\"\n");
      continue;
    }
    Value v = spec.get(defaults);
    if (const int64_t* i = std::get_if<int64_t>(&v); i != nullptr && spec.boolean) {
      StrAppend(&out, leaf, " = ", *i != 0 ? "true" : "false", "\n");
    } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
      StrAppend(&out, leaf, " = ", *i, "\n");
    } else {
      StrAppend(&out, leaf, " = ", Quote(std::get<std::string>(v)), "\n");
    }
  }
  return out;
}

namespace {

// Decodes %XX escapes; false on a malformed escape.
bool PercentDecode(std::string_view in, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool ValidHostName(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
  });
}

// Calls `take(key, value)` for each key=value of a URL query (values %-decoded; empty
// parameters skipped); stops at the first error. A parameter without a value is `bad`.
absl::Status ForEachUrlParam(std::string_view query,
                             const std::function<absl::Status(std::string_view, std::string)>& take,
                             const std::function<absl::Status(std::string_view)>& bad) {
  for (std::string_view param : Split(query, '&')) {
    if (param.empty()) continue;
    size_t eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    std::string value;
    if (eq == std::string_view::npos || !PercentDecode(param.substr(eq + 1), &value) || value.empty()) {
      return bad(StrCat("parameter ", key, " needs a value (", key, "=...)"));
    }
    EV_RETURN_IF_ERROR(take(key, std::move(value)));
  }
  return absl::OkStatus();
}

absl::Status BadKvUrl(std::string_view why) {
  return absl::InvalidArgumentError(StrCat("edge KV URL: ", why));
}

}  // namespace

absl::StatusOr<AuditWarehouseUrl> ParseAuditWarehouseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("audit warehouse URL \"", url, "\": ", why));
  };
  AuditWarehouseUrl out;
  if (url.empty() || url == "file:") return out;
  if (url.substr(0, 5) == "file:") {
    std::string_view dir = url.substr(5);
    if (dir.substr(0, 2) == "//") dir.remove_prefix(2);  // file:///abs
    if (dir.empty() || dir.front() != '/' || dir.find('\0') != std::string_view::npos) {
      return bad("a file: URL names an absolute directory (file:/var/lib/edgevault/audit)");
    }
    out.dir = std::string(dir);
    return out;
  }
  constexpr std::string_view kScheme = "s3://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return bad("expected \"file:\", file:/dir or s3://bucket[/prefix][?endpoint=...]");
  }
  out.kind = AuditWarehouseUrl::Kind::kS3;
  std::string_view rest = url.substr(kScheme.size());
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find('#') != std::string_view::npos) return bad("fragments are not supported");
  size_t slash = rest.find('/');
  out.bucket = std::string(rest.substr(0, slash));
  if (out.bucket.size() < 3 || out.bucket.size() > 63 ||
      out.bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos ||
      out.bucket.front() == '.' || out.bucket.front() == '-' || out.bucket.back() == '.' ||
      out.bucket.back() == '-') {
    return bad("the bucket name must be 3-63 characters of a-z 0-9 . - (s3://bucket/prefix)");
  }
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (!prefix.empty()) {
    for (std::string_view seg : Split(prefix, '/')) {
      if (seg.empty() || seg == "." || seg == ".." ||
          seg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string_view::npos) {
        return bad("the prefix must be segments of A-Z a-z 0-9 . _ - separated by single '/'");
      }
    }
    out.prefix = StrCat(prefix, "/");
  }
  bool have_endpoint = false;
  EV_RETURN_IF_ERROR(ForEachUrlParam(
      query,
      [&](std::string_view key, std::string value) -> absl::Status {
        if (key == "endpoint") {
          if (value.substr(0, 7) != "http://" && value.substr(0, 8) != "https://") {
            return bad("endpoint must be http://host[:port] or https://host[:port]");
          }
          out.endpoint = value;
          have_endpoint = true;
        } else if (key == "region") {
          if (value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
            return bad("region must be a-z 0-9 - (us-east-1)");
          }
          out.region = value;
        } else if (key == "style") {
          if (value != "path" && value != "virtual") return bad("style must be path or virtual");
          out.virtual_host_style = value == "virtual";
        } else if (key == "resolve") {
          out.connect_address = value;
        } else if (key == "ca_file") {
          if (value.front() != '/' || value.find('\0') != std::string::npos) {
            return bad("ca_file must be an absolute path to a PEM file of CA certificates");
          }
          out.ca_file = value;
        } else {
          return bad(StrCat("unknown parameter \"", key, "\" (endpoint, region, style, resolve, ca_file)"));
        }
        return absl::OkStatus();
      },
      bad));
  if (!have_endpoint) out.endpoint = StrCat("https://s3.", out.region, ".amazonaws.com");
  if (!out.ca_file.empty() && out.endpoint.substr(0, 8) != "https://") {
    return bad("ca_file needs an https:// endpoint");
  }
  return out;
}

// rediss://...?ca_file=/abs&cert_file=/abs&key_file=/abs&server_name=name
absl::Status ParseRedisTlsParams(std::string_view query, EdgeKvUrl* out) {
  EV_RETURN_IF_ERROR(ForEachUrlParam(
      query,
      [&](std::string_view key, std::string value) -> absl::Status {
        if (key == "ca_file" || key == "cert_file" || key == "key_file") {
          if (value.front() != '/' || value.find('\0') != std::string::npos) {
            return BadKvUrl(StrCat(key, " must be an absolute path to a PEM file"));
          }
          (key == "ca_file" ? out->tls_ca_file : key == "cert_file" ? out->tls_cert_file : out->tls_key_file) = value;
        } else if (key == "server_name") {
          if (!ValidHostName(value)) return BadKvUrl("server_name must be a host name");
          out->tls_server_name = value;
        } else {
          return BadKvUrl(StrCat("unknown parameter \"", key, "\" (ca_file, cert_file, key_file, server_name)"));
        }
        return absl::OkStatus();
      },
      BadKvUrl));
  if (out->tls_cert_file.empty() != out->tls_key_file.empty()) {
    return BadKvUrl("cert_file and key_file go together (a client certificate and its key)");
  }
  return absl::OkStatus();
}

absl::StatusOr<EdgeKvUrl> ParseEdgeKvUrl(std::string_view url) {
  EdgeKvUrl out;
  if (url.empty() || url == "lmdb:") return out;
  std::string_view rest;
  if (url.substr(0, 9) == "rediss://") {
    out.tls = true;
    rest = url.substr(9);
  } else if (url.substr(0, 8) == "redis://") {
    rest = url.substr(8);
  } else {
    return BadKvUrl("expected \"lmdb:\" or a URL starting with redis:// or rediss:// (TLS)");
  }
  out.kind = EdgeKvUrl::Kind::kRedis;
  if (rest.find('#') != std::string_view::npos) return BadKvUrl("fragments are not supported");
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    if (!out.tls) {
      return BadKvUrl("redis:// takes no parameters; ca_file, cert_file, key_file and server_name "
                      "are for rediss:// (TLS)");
    }
    EV_RETURN_IF_ERROR(ParseRedisTlsParams(rest.substr(q + 1), &out));
    rest = rest.substr(0, q);
  }
  size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return BadKvUrl("the part before '@' must be :password or user:password");
    }
    if (!PercentDecode(userinfo.substr(0, colon), &out.username) ||
        !PercentDecode(userinfo.substr(colon + 1), &out.password)) {
      return BadKvUrl("malformed %-escape in the user or password");
    }
    if (out.password.empty()) return BadKvUrl("the password after ':' is empty");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  bool has_port = false;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return BadKvUrl("unterminated [IPv6 address]");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return BadKvUrl("expected ':' after ']'");
    has_port = !after.empty();
    if (has_port) port_text = after.substr(1);
    if (out.host.empty() || out.host.find_first_not_of("0123456789abcdefABCDEF:.") !=
                                std::string::npos) {
      return BadKvUrl("bad IPv6 address");
    }
  } else {
    size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port_text = authority.substr(colon + 1);
    if (!ValidHostName(out.host)) return BadKvUrl("missing or invalid host name");
  }
  if (has_port) {
    int64_t port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port < 1 || port > 65535) {
      return BadKvUrl("the port must be an integer in 1..65535");
    }
    out.port = static_cast<uint16_t>(port);
  }
  if (!path.empty()) {
    int64_t db = -1;
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc() || end != path.data() + path.size() || db < 0 || db > 1000000) {
      return BadKvUrl("the path must be a database number (/0, /1, ...)");
    }
    out.db = static_cast<int>(db);
  }
  return out;
}

std::string EnvVarName(std::string_view key) {
  std::string out = "EDGEVAULT_";
  for (char c : key) {
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if (c == '.') {
      out += '_';
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ProcessEnvironment() {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseOverride(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        StrCat("--set expects key=value (e.g. --set services.api.port=9001), got ", Quote(text)));
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

}  // namespace edgevault::base
