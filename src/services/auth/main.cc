// edgevault-auth: identity: passwords, sessions, tokens, MFA, API keys.
#include <cstdio>
#include <cstdlib>

#include "src/audit/control_outbox_relay.h"
#include "src/audit/correlation_key.h"
#include "src/audit/queue_open.h"
#include "src/base/log.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/services/auth/auth_service.h"
#include "src/services/auth/totp_seal.h"
#include "src/services/common/rate_limiter_open.h"
#include "src/services/common/service_main.h"
#include "src/storage/control_store_open.h"

namespace edgevault::auth {
namespace {

std::vector<std::string> Origins(const base::Config& config) {
  std::vector<std::string> out;
  if (!config.auth_settings.webauthn_origins.empty()) {
    for (std::string_view o : base::Split(config.auth_settings.webauthn_origins, ',')) out.emplace_back(o);
    return out;
  }
  std::string port = std::to_string(config.console.port);
  out.push_back("http://localhost:" + port);
  out.push_back("http://127.0.0.1:" + port);
  return out;
}

absl::Status Install(services::ServiceContext& ctx) {
  const base::Config& config = ctx.config;
  // The store, the service and the audit relay are handed to ctx.Keep: RunService
  // destroys them, relay first, once the server has drained.
  // TOTP secrets are sealed with a key only auth holds (keys/auth/totp-seal.key, made
  // here when missing); opening the store with it seals any row an older version left in
  // clear text (docs/design/sealed-totp.md).
  EV_ASSIGN_OR_RETURN(std::unique_ptr<TotpSealer> sealer,
                      TotpSealer::LoadOrCreate(ctx.env, config.keys_dir + "/auth"));
  // auth.control_db_url: control.db in the data dir, or a PostgreSQL database shared by
  // several auth nodes (docs/configuration.md).
  storage::ControlStoreOpenOptions store_options;
  store_options.url = config.auth_settings.control_db_url;
  store_options.pool_size = static_cast<int>(config.auth_settings.control_db_pool_size);
  store_options.data_dir = config.data_dir;
  store_options.env = ctx.env;
  store_options.totp_sealer = ctx.Keep(std::move(sealer));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::ControlStore> store,
                      storage::OpenControlStore(store_options));
  EV_LOG(kInfo, "control DB open", {{"at", storage::DescribeControlStoreUrl(store_options)}});
  AuthOptions options;
  options.store = ctx.Keep(std::move(store));
  options.env = ctx.env;
  options.signing_keys_dir = config.keys_dir + "/jwt-signing";
  options.password.memory_kib = static_cast<uint32_t>(config.auth_settings.argon2_memory_kib);
  options.password.iterations = static_cast<uint32_t>(config.auth_settings.argon2_iterations);
  options.issuer = config.auth_settings.issuer;
  options.token_ttl = config.auth_settings.token_ttl;
  options.session_idle = config.auth_settings.session_idle;
  options.session_absolute = config.auth_settings.session_absolute;
  options.rp_id = config.auth_settings.webauthn_rp_id;
  options.origins = Origins(config);
  options.throttle.max_account_failures = static_cast<int>(config.auth_settings.throttle_account_failures);
  options.throttle.max_address_failures = static_cast<int>(config.auth_settings.throttle_address_failures);
  options.throttle.max_second_factor_failures =
      static_cast<int>(config.auth_settings.throttle_second_factor_failures);
  options.throttle.window = config.auth_settings.throttle_window;
  options.throttle.max_registrations = static_cast<int>(config.oauth_settings.registrations_per_address);
  options.throttle.max_token_requests_per_address =
      static_cast<int>(config.oauth_settings.token_requests_per_address);
  options.throttle.max_token_requests_per_client = static_cast<int>(config.oauth_settings.token_requests_per_client);
  // rate_limit.url: failures counted in a Redis every auth node shares (this process's own
  // table decides while it does not answer), or "" = this process only.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<services::SharedRateLimits> opened_limits,
                      services::SharedRateLimits::Open(config, ctx.env, "auth"));
  if (opened_limits != nullptr) {
    services::SharedRateLimits* limits = ctx.Keep(std::move(opened_limits));
    options.throttle.shared = limits->attempt_window();
    options.throttle.on_shared_error = [limits](const absl::Status& e) { limits->RecordFallback(e); };
    ctx.hooks.extra_metrics = [limits](std::string* out) { limits->AppendMetrics(out); };
  }
  options.client_address.header = config.auth_settings.client_address_header;
  for (std::string_view proxy : base::Split(config.auth_settings.trusted_proxies, ',')) {
    options.client_address.trusted_proxies.emplace_back(proxy);
  }
  options.signing_key_settle = config.auth_settings.signing_key_settle;
  options.invitation_ttl = config.auth_settings.invitation_ttl;
  // The correlation key is auth's alone (keys/auth/); created on first start, from the
  // legacy internal.key when an older install still has one (docs/design/audit-event.md).
  EV_ASSIGN_OR_RETURN(options.correlation_key, audit::LoadOrCreateCorrelationKey(ctx.env, config.keys_dir));
  // OAuth for MCP clients (docs/design/oauth.md). The client-id MAC key is derived from
  // the correlation key (both auth's alone) under its own label, so it needs no key file.
  options.oauth.enabled = config.oauth_settings.enabled && config.mcp_settings.enabled;
  options.oauth.issuer_url = base::OAuthIssuerUrl(config);
  options.oauth.consent_url = base::OAuthConsoleUrl(config) + "/oauth/authorize";
  options.oauth.resource = base::OAuthMcpResource(config);
  options.oauth.refresh_ttl = config.oauth_settings.refresh_ttl;
  options.oauth.client_id_key = crypto::HmacSha256(options.correlation_key, "edgevault oauth client-id key v1");
  EV_ASSIGN_OR_RETURN(std::unique_ptr<AuthService> created, AuthService::Create(options));
  AuthService* service = ctx.Keep(std::move(created));

  std::string key_file = config.data_dir + "/bootstrap-admin.key";
  EV_ASSIGN_OR_RETURN(
      AuthService::BootstrapResult boot,
      service->Bootstrap(config.auth_settings.bootstrap_email,
                         [&](const AuthService::BootstrapResult& r) {
                           return ctx.env->WriteFileAtomically(key_file, r.api_key + "\n", 0600);
                         }));
  const char* first_start_file = std::getenv("EDGEVAULT_FIRST_START_FILE");
  if (boot.created && first_start_file != nullptr && *first_start_file != '\0') {
    // Under `edgevault up`: it prints this once, after every service is up, and deletes
    // the file (0600, in the 0700 run/ directory).
    EV_RETURN_IF_ERROR(ctx.env->WriteFileAtomically(first_start_file, boot.email + "\n" + boot.password + "\n", 0600));
    EV_LOG(kInfo, "bootstrap owner created", {{"email", boot.email}, {"api_key_file", key_file}});
  } else if (boot.created) {
    // Printed once, to the terminal only: never logged, never printed again.
    std::printf(
        "\nEdgeVault created the owner account (shown once; the password must be changed at first login):\n"
        "  email:    %s\n  password: %s\n"
        "An owner API key is in %s (mode 0600).\n\n",
        boot.email.c_str(), boot.password.c_str(), key_file.c_str());
    std::fflush(stdout);
    EV_LOG(kInfo, "bootstrap owner created", {{"email", boot.email}, {"api_key_file", key_file}});
  }
  // Audit (issue 7): start relaying the outbox once Bootstrap's own events are in it.
  // The queue audit.queue_url names: the host's file, or the fleet's PostgreSQL queue.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<audit::AuditQueue> queue,
                      audit::OpenAuditQueue({.url = config.audit_queue_url,
                                             .data_dir = config.data_dir, .env = ctx.env}));
  audit::AuditQueue* audit_queue = ctx.Keep(std::move(queue));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<audit::ControlOutboxRelay> relay,
                      audit::ControlOutboxRelay::Start(options.store, audit_queue, ctx.env));
  ctx.Keep(std::move(relay));
  service->Install(ctx.router);
  return absl::OkStatus();
}

}  // namespace
}  // namespace edgevault::auth

int main(int argc, char** argv) {
  return edgevault::services::RunService("auth", argc, argv, edgevault::auth::Install);
}
