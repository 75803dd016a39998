#pragma once
// EdgeVault configuration: one TOML file (normally DATA_DIR/edgevault.toml, written
// by `edgevault up` on first run), overridden by EDGEVAULT_* environment variables,
// overridden by command-line `--set key=value` flags. Every key is declared in one
// table (config.cc); unknown keys, wrong types and out-of-range values fail start-up
// with an error that names the key and where the bad value came from.
//
//   base::ConfigSources src;
//   src.file = "/var/lib/edgevault/edgevault.toml";
//   src.env = base::ProcessEnvironment();
//   src.overrides = {{"services.api.port", "9001"}};
//   EV_ASSIGN_OR_RETURN(base::Config cfg, base::LoadConfig(src));
//
// The environment variable for a key is EDGEVAULT_ + the key upper-cased with '.'
// replaced by '_': services.api.port → EDGEVAULT_SERVICES_API_PORT.
// Thread-safety: pure functions; Config is a plain value.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "src/base/log.h"
#include "src/base/status.h"

namespace edgevault::base {

// The names of the five services, in port order (console = port_base + 0, ...).
inline constexpr std::string_view kServiceNames[] = {"console", "api", "delivery", "auth",
                                                     "audit"};

struct ServiceEndpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port (tests)
};

// Limits every HTTP server enforces (src/net/http_server.h).
struct ServerLimits {
  size_t max_header_bytes = 16 * 1024;       // larger request head → 431
  size_t max_body_bytes = 1024 * 1024;       // larger body → 413
  absl::Duration read_timeout = absl::Seconds(10);   // a started request must finish → 408
  absl::Duration idle_timeout = absl::Seconds(60);   // idle keep-alive connection is closed
  size_t max_connections = 10000;            // beyond this, new connections get 503 and close
  absl::Duration drain_timeout = absl::Seconds(4);   // SIGTERM: time in-flight requests get
};

// The auth service (docs/auth.md).
struct AuthSettings {
  std::string bootstrap_email = "admin@edgevault.local";
  std::string issuer = "edgevault";
  int64_t argon2_memory_kib = 19456;  // OWASP minimum
  int64_t argon2_iterations = 2;
  absl::Duration token_ttl = absl::Minutes(5);
  absl::Duration session_idle = absl::Hours(12);
  absl::Duration session_absolute = absl::Hours(24 * 7);
  std::string webauthn_rp_id = "localhost";
  // Comma-separated origins passkey ceremonies may come from; "" = the console's
  // http://localhost:<port> and http://127.0.0.1:<port>.
  std::string webauthn_origins;
  int64_t throttle_account_failures = 5;
  int64_t throttle_address_failures = 20;
  int64_t throttle_second_factor_failures = 5;
  absl::Duration throttle_window = absl::Minutes(15);
  // The client address behind a reverse proxy (docs/auth.md "Throttling"): a header such
  // as X-Forwarded-For, read only from the comma-separated trusted_proxies (addresses or
  // CIDR ranges). Both empty = the connection's own address.
  std::string client_address_header;
  std::string trusted_proxies;
  // A new JWT signing key is published this long before it signs (docs/design/jwt.md).
  absl::Duration signing_key_settle = absl::Seconds(10);
  absl::Duration invitation_ttl = absl::Hours(24 * 7);
  // auth.control_db_url: "" or "sqlite:" = DATA_DIR/control.db; postgres://... = a
  // PostgreSQL control DB (storage/control_store_open.h). May hold a password.
  std::string control_db_url;
  // auth.control_db_pool_size: connections each auth node keeps to a PostgreSQL control DB
  // at most (ignored for SQLite).
  int64_t control_db_pool_size = 8;
};

// The api service (docs/api.md).
struct ApiSettings {
  // Workspace stores kept open beyond those in use (least recently used close first).
  int64_t max_open_workspaces = 64;
  // api.workspace_db_url: where the workspace stores live (docs/configuration.md). "" or
  // "sqlite:" = one SQLite file per workspace under DATA_DIR/workspaces; a postgres:// or
  // postgresql:// URL = every workspace in that PostgreSQL database, shared by any number
  // of api nodes (docs/design/postgres-workspace-store.md).
  std::string workspace_db_url;
  // api.workspace_db_pool_size: connections each api node keeps to a PostgreSQL workspace
  // store at most (ignored for SQLite).
  int64_t workspace_db_pool_size = 8;
  // Webhook delivery (docs/design/webhooks.md): back-off after a failed attempt, doubling
  // up to the maximum; a webhook is marked failing after max_attempts failures in a row.
  absl::Duration webhook_retry_initial = absl::Seconds(1);
  absl::Duration webhook_retry_max = absl::Minutes(10);
  int64_t webhook_max_attempts = 25;
  // Comma-separated hosts webhooks may call; "" = any (docs/design/webhooks.md "SSRF").
  std::string webhook_allowed_hosts;
  // Requests per second per principal (user or API key); 0 = unlimited. Beyond it 429 with
  // Retry-After; counted across api nodes when rate_limit.url names a Redis.
  int64_t rate_limit_per_second = 0;
  int64_t rate_limit_burst = 0;  // 0 = rate_limit_per_second
  // PEM CA bundle trusted for https:// webhook receivers besides the system store; "" = none.
  std::string webhook_ca_file;
  // How often the api asks auth whether the users and API keys it has recently let in still
  // hold their rights (docs/design/principal-recheck.md): the most a revoked key, a removed
  // or disabled member or a lowered role keeps working at this node.
  absl::Duration principal_recheck_interval = absl::Seconds(1);
  // workspaces.delete_grace_days: how long a deleted workspace can be restored before the
  // api's purge task destroys its data (docs/api.md "Deleting a workspace").
  absl::Duration workspace_delete_grace = absl::Hours(24 * 7);
};

// The api's MCP endpoint (docs/design/mcp.md §7).
struct McpSettings {
  bool enabled = true;
  bool read_only = false;
  bool allow_secret_values = false;
  // Open sessions one principal (user or API key) may hold at an api node; one more is
  // refused (429) until one ends or goes idle.
  int64_t max_sessions_per_principal = 64;
  absl::Duration session_idle = absl::Hours(1);  // a session unused this long ends
  // Requests per second one session may make (token bucket of session_rate_limit_burst);
  // 0 = unlimited. On top of the principal's api.rate_limit_*.
  int64_t session_rate_limit_per_second = 20;
  int64_t session_rate_limit_burst = 100;  // 0 = session_rate_limit_per_second
};

// AI assistance in the api (docs/design/ai.md; ai.* keys): drafts of changes from plain
// language and explanations of risk reviews, by a configured model provider.
struct AiSettings {
  std::string provider = "none";  // "none", "openai" (chat completions) or "anthropic"
  // "" = the provider's public endpoint (https://api.openai.com/v1, https://api.anthropic.com).
  std::string base_url;
  std::string model;
  // Where the provider's API key comes from: a file (absolute after loading) or the NAME
  // of an environment variable; neither = no key (a local server that needs none).
  std::string api_key_file;
  std::string api_key_env;
  absl::Duration timeout = absl::Seconds(60);
  // Input plus output tokens each org may use per calendar month (UTC); 0 = unlimited.
  int64_t org_monthly_token_budget = 1000000;
  int64_t max_output_tokens = 2000;
  // The largest prompt (instructions plus the workspace as the model sees it plus the
  // request, in bytes) sent to the provider; a larger one is refused before any call.
  int64_t max_prompt_bytes = 200000;
  // PEM file of extra CA certificates an https:// provider's certificate may chain to (a
  // private CA in front of a self-hosted model), trusted besides the system store.
  std::string ca_file;
};

// OAuth 2.1 for MCP clients (docs/design/oauth.md; oauth.* keys). URLs "" = derived from
// the services' addresses (OAuthIssuerUrl and friends below).
struct OAuthSettings {
  bool enabled = true;
  std::string issuer_url;    // auth's public base URL
  std::string console_url;   // the console's public base URL (consent page)
  std::string mcp_resource;  // the api's /mcp as clients name it
  absl::Duration refresh_ttl = absl::Hours(24 * 30);
  // Open client registrations (POST /oauth/register) per client address within
  // auth.throttle_window_s, counted across auth nodes when rate_limit.url names a Redis.
  int64_t registrations_per_address = 20;
  // Requests to POST /oauth/token per client address and per OAuth client within
  // auth.throttle_window_s (shared across auth nodes like the registrations).
  int64_t token_requests_per_address = 600;
  int64_t token_requests_per_client = 60;
};

// The delivery service (docs/delivery.md).
struct DeliverySettings {
  // OFREP requests per second per SDK key (token bucket); 0 = unlimited.
  int64_t ofrep_rate_limit_per_second = 0;
  int64_t ofrep_rate_limit_burst = 0;  // bucket size; 0 = ofrep_rate_limit_per_second
  // How often usage counts are shipped to the api (docs/design/usage.md §2).
  absl::Duration usage_interval = absl::Seconds(60);
};

// The console service (docs/console.md).
struct ConsoleSettings {
  // Directory of the built web app (index.html, assets/); absolute after loading.
  // "" = <directory of the edgevault-console executable>/../web (build/web).
  std::string web_dir;
  // PEM certificate chain and private key: both set = the console serves HTTPS only
  // (docs/console.md#tls). Absolute after loading; "" = plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

struct Config {
  std::string config_file;  // absolute path of the file loaded ("" when none)
  std::string data_dir;     // absolute; default: the config file's directory
  std::string node_id = "node-1";
  LogLevel log_level = LogLevel::kInfo;
  int io_threads = 0;  // 0 = one per core
  ServerLimits limits;
  ServiceEndpoint console, api, delivery, auth, audit;
  std::string keys_dir;  // absolute; default DATA_DIR/keys
  // The services' public keys for internal signing (src/net/signing.h); absolute;
  // default DATA_DIR/trust.
  std::string trust_dir;
  // Where the master key comes from instead of keys_dir (docs/secrets.md): a file path
  // (absolute after loading), or the NAME of an environment variable holding it.
  std::string master_key_file;
  std::string master_key_env;
  // kv.url: the edge KV the api writes and delivery reads (docs/configuration.md); "" or
  // "lmdb:" = the embedded LMDB store under DATA_DIR/edge. Parse with ParseEdgeKvUrl.
  std::string kv_url;
  // audit.warehouse_url: where edgevault-audit writes the audit warehouse and `audit
  // verify` reads it (docs/audit.md#s3); "" or "file:" = DATA_DIR/audit/warehouse. Parse
  // with ParseAuditWarehouseUrl.
  std::string audit_warehouse_url;
  // audit.queue_url: the audit queue api and auth put events in and edgevault-audit drains
  // (docs/configuration.md); "" or "sqlite:" = DATA_DIR/audit/queue.db (one host);
  // postgres://... = one queue shared by every node (audit/queue_open.h).
  std::string audit_queue_url;
  // rate_limit.url: where rate limits and login throttling count (docs/design/rate-limits.md):
  // "" = in each process; "redis://..." = shared by every node. Parse with ParseEdgeKvUrl.
  std::string rate_limit_url;
  absl::Duration internal_signature_window = absl::Seconds(60);
  // `edgevault up` supervision.
  absl::Duration restart_backoff_initial = absl::Milliseconds(200);
  absl::Duration restart_backoff_max = absl::Seconds(5);
  absl::Duration stop_timeout = absl::Seconds(5);
  AuthSettings auth_settings;  // the auth service's own settings (auth.* keys)
  DeliverySettings delivery_settings;  // delivery.* keys
  ApiSettings api_settings;  // api.* keys
  McpSettings mcp_settings;  // mcp.* keys
  AiSettings ai_settings;    // ai.* keys
  OAuthSettings oauth_settings;  // oauth.* keys
  ConsoleSettings console_settings;  // console.* keys

  // The endpoint of service `name` (one of kServiceNames); nullptr for unknown names.
  const ServiceEndpoint* Endpoint(std::string_view name) const;
  ServiceEndpoint* MutableEndpoint(std::string_view name);
};

struct ConfigSources {
  std::string file;  // TOML file; "" = none (defaults + env + overrides only)
  // Environment as (name, value) pairs; only EDGEVAULT_* names are looked at.
  std::vector<std::pair<std::string, std::string>> env;
  // Command-line overrides as (dotted key, value); applied last.
  std::vector<std::pair<std::string, std::string>> overrides;
};

// kv.url, parsed. `redis://[[user]:password@]host[:port][/db]`; user and password may be
// percent-encoded; port defaults to 6379 and db to 0.
struct EdgeKvUrl {
  enum class Kind { kLmdb, kRedis };
  Kind kind = Kind::kLmdb;
  std::string host;  // kRedis: a name, IPv4 address or IPv6 address (without brackets)
  uint16_t port = 6379;
  std::string username;  // "" = the default user
  std::string password;  // "" = no AUTH
  int db = 0;
  // rediss://: TLS, with the query's ca_file, cert_file, key_file (absolute paths; "" = the
  // system's CA store, no client certificate) and server_name ("" = host).
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
};

// InvalidArgument saying what is wrong with `url` (the message never contains the
// password).
absl::StatusOr<EdgeKvUrl> ParseEdgeKvUrl(std::string_view url);

// audit.warehouse_url, parsed: "" or "file:" (DATA_DIR/audit/warehouse), "file:/abs/dir", or
// s3://BUCKET[/PREFIX][?endpoint=http://host[:port]&region=R&style=path|virtual&resolve=ADDR].
struct AuditWarehouseUrl {
  enum class Kind { kFile, kS3 };
  Kind kind = Kind::kFile;
  std::string dir;     // kFile: "" = DATA_DIR/audit/warehouse
  std::string bucket;  // kS3
  std::string prefix;  // kS3: "" or ending in '/'
  std::string endpoint;  // kS3: default https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  bool virtual_host_style = false;
  std::string connect_address;  // kS3 resolve=: connect here instead of resolving the host
  std::string ca_file;  // kS3 ca_file=: extra trusted CAs (PEM) for an https endpoint
};

// InvalidArgument saying what is wrong with `url`.
absl::StatusOr<AuditWarehouseUrl> ParseAuditWarehouseUrl(std::string_view url);

// Loads and validates. Errors (InvalidArgument unless noted) name the key and the
// source, e.g. "config key 'services.api.port' (from EDGEVAULT_SERVICES_API_PORT):
// expected an integer in 0..65535, got \"abc\"". A missing file is NotFound; a TOML
// syntax error names the file, line and column.
absl::StatusOr<Config> LoadConfig(const ConfigSources& sources);

// The OAuth URLs in effect: the oauth.* key when set, else derived from the services'
// configured addresses (a wildcard host becomes loopback).
std::string OAuthIssuerUrl(const Config& c);    // http://<auth>
std::string OAuthConsoleUrl(const Config& c);   // http://<console>
std::string OAuthMcpResource(const Config& c);  // http://<api>/mcp

// The TOML text `edgevault up` writes on first run: every key with its default and a
// comment, services on 127.0.0.1 at port_base + 0..4 (port_base 0: every port 0, a free
// port picked at each start).
std::string DefaultConfigToml(int port_base);

// EDGEVAULT_SERVICES_API_PORT for "services.api.port".
std::string EnvVarName(std::string_view key);

// The current process environment (environ) as pairs.
std::vector<std::pair<std::string, std::string>> ProcessEnvironment();

// Parses "key=value" (from --set). InvalidArgument when there is no '='.
absl::StatusOr<std::pair<std::string, std::string>> ParseOverride(std::string_view text);

}  // namespace edgevault::base
