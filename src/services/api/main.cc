// edgevault-api: the system of record and the write path.
#include "src/audit/event.h"
#include "src/audit/warehouse_open.h"
#include "src/audit/relay.h"
#include "src/audit/queue_open.h"
#include "src/base/log.h"
#include "src/base/strings.h"
#include "src/crypto/keyring.h"
#include "src/services/api/api_auth.h"
#include "src/services/api/api_service.h"
#include "src/services/api/edge_kv_republisher.h"
#include "src/services/api/signing_edge_kv.h"
#include "src/crypto/document_signer.h"
#include "src/services/api/remote_workspace_directory.h"
#include "src/services/api/webhook_dispatcher.h"
#include "src/services/common/edge_kv_open.h"
#include "src/services/common/jwks_cache.h"
#include "src/services/common/rate_limiter_open.h"
#include "src/services/common/service_main.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/pg_revision_listener.h"
#include "src/storage/usage_store.h"
#include "src/storage/workspace_store_open.h"
#include "src/workspace/change_request_scheduler.h"
#include "src/workspace/service.h"

namespace edgevault::api {
namespace {

absl::Status Install(services::ServiceContext& ctx) {
  const base::Config& config = ctx.config;
  // Everything below is handed to ctx.Keep in the order it is wired, so that after the
  // server drained RunService destroys it newest first: the relay, the republisher and
  // the propagation thread stop before the stores and clients they use go away.
  // kv.url: the embedded LMDB store (default) or Redis (docs/configuration.md). A damaged
  // LMDB store is moved aside and replaced by a fresh one here; the republisher re-fills it.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<services::ManagedEdgeKv> kv,
                      services::OpenEdgeKv(config, /*read_only=*/false, ctx.env));
  services::ManagedEdgeKv* managed_kv = kv.get();
  ctx.hooks.not_ready_reason = [managed_kv] { return managed_kv->NotReadyReason(); };
  // rate_limit.url: the per-principal request limit (api.rate_limit_per_second) counted in a
  // Redis every api node shares (this node's own count while it does not answer), or "" =
  // in this process.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<services::SharedRateLimits> opened_limits,
                      services::SharedRateLimits::Open(config, ctx.env, "api"));
  services::SharedRateLimits* limits =
      opened_limits != nullptr ? ctx.Keep(std::move(opened_limits)) : nullptr;
  storage::RateLimiter* rate_limiter =
      limits != nullptr ? limits->limiter()
                        : ctx.Keep(storage::NewMemoryRateLimiter({.env = ctx.env}));
  ctx.hooks.extra_metrics = [managed_kv, limits](std::string* out) {
    managed_kv->AppendMetrics("api", out);
    if (limits != nullptr) limits->AppendMetrics(out);
  };

  // A wrong or missing master key stops start-up here, with the file and the fix named.
  // The holder reloads the keys when `edgevault keys rotate-master` changes them.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<crypto::KeyringHolder> keyring,
                      crypto::KeyringHolder::Load(ctx.env, crypto::MasterKeySource(config)));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::WorkspaceStoreProvider> stores,
                      storage::OpenConfiguredWorkspaceStores(config, ctx.env));
  workspace::ServiceOptions so;
  so.keyring = ctx.Keep(std::move(keyring));
  so.stores = ctx.Keep(std::move(stores));
  storage::EdgeKv* plain_kv = ctx.Keep(std::move(kv));
  // Every document the api writes to the KV is signed (resolved-document.md §8) with the
  // document-signing key set, created on first start (keys/document-signing/, 0700/0600).
  EV_ASSIGN_OR_RETURN(std::unique_ptr<crypto::DocumentSigner> signer,
                      crypto::DocumentSigner::Open(
                          {.env = ctx.env,
                           .dir = config.keys_dir + "/" + std::string(crypto::kDocumentSigningDir)}));
  SigningEdgeKv* signing_kv =
      ctx.Keep(std::make_unique<SigningEdgeKv>(plain_kv, ctx.Keep(std::move(signer)), ctx.env));
  // The key set is in meta/document-keys before any document it signs is read.
  if (absl::Status st = signing_kv->MaintainKeys(); !st.ok()) {
    EV_LOG(kWarn, "edge KV: publishing the document-signing keys failed; retrying in the background",
           {{"error", st.ToString()}});
  }
  so.kv = signing_kv;
  so.env = ctx.env;
  net::HttpClientOptions plain;
  plain.env = ctx.env;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> jwks_client, net::HttpClient::Create(plain));
  net::HttpClient* jwks_http = ctx.Keep(std::move(jwks_client));
  // Signed with the api's own credential; auth's and delivery's internal routes list the
  // api as a caller (docs/design/internal-signing.md).
  net::HttpClientOptions signed_options;
  signed_options.env = ctx.env;
  signed_options.credential = &ctx.credential;
  signed_options.audience = "auth";
  EV_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> auth_client, net::HttpClient::Create(signed_options));
  net::HttpClient* auth_http = ctx.Keep(std::move(auth_client));
  // Workspace metadata and entitlements come from auth, which owns control.db: the api
  // never opens it (docs/api.md "The control DB").
  EV_ASSIGN_OR_RETURN(std::unique_ptr<RemoteWorkspaceDirectory> directory,
                      RemoteWorkspaceDirectory::Create({.client = auth_http,
                                                        .host = config.auth.host,
                                                        .port = static_cast<uint16_t>(config.auth.port),
                                                        .env = ctx.env}));
  RemoteWorkspaceDirectory* remote_directory = ctx.Keep(std::move(directory));
  so.directory = remote_directory;
  // Push to delivery after each propagation (delivery also polls, so a lost notice only
  // delays an update until its next poll).
  signed_options.connect_timeout = absl::Milliseconds(200);
  signed_options.request_timeout = absl::Milliseconds(500);
  signed_options.audience = "delivery";
  EV_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> delivery_client, net::HttpClient::Create(signed_options));
  so.on_published = [client = ctx.Keep(std::move(delivery_client)), host = config.delivery.host, port = config.delivery.port] {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/internal/v1/changed";
    absl::StatusOr<net::ClientResponse> r = client->Do(host, port, req);
    if (!r.ok()) EV_LOG(kDebug, "notifying delivery failed", {{"error", r.status().ToString()}});
  };
  // Webhooks (docs/design/webhooks.md): the service hands new events to the dispatcher,
  // which exists only after the service; `wake` is set below, before anything is served.
  for (std::string_view host : base::Split(config.api_settings.webhook_allowed_hosts, ',')) {
    while (!host.empty() && host.front() == ' ') host.remove_prefix(1);
    while (!host.empty() && host.back() == ' ') host.remove_suffix(1);
    if (!host.empty()) so.webhook_allowed_hosts.emplace_back(host);
  }
  auto wake = std::make_shared<std::function<void(const std::string&)>>();
  so.on_webhook_events = [wake](const std::string& workspace_id) {
    if (*wake) (*wake)(workspace_id);
  };
  EV_ASSIGN_OR_RETURN(std::unique_ptr<workspace::Service> created, workspace::Service::Create(so));
  workspace::Service* service = ctx.Keep(std::move(created));
  net::HttpClientOptions webhook_http;
  webhook_http.env = ctx.env;
  webhook_http.connect_timeout = absl::Seconds(5);
  webhook_http.request_timeout = absl::Seconds(10);
  webhook_http.max_idle_per_host = 0;
  webhook_http.max_response_body_bytes = 64 * 1024;
  // https:// receivers: verified against the system trust store plus the operator's CA file.
  webhook_http.tls = {.enabled = true, .system_trust = true, .ca_file = config.api_settings.webhook_ca_file};
  absl::StatusOr<std::unique_ptr<net::HttpClient>> webhook_client = net::HttpClient::Create(webhook_http);
  if (!webhook_client.ok()) {
    return absl::Status(webhook_client.status().code(),
                        base::ToAbsl("api.webhook_ca_file: " + std::string(webhook_client.status().message())));
  }
  EV_ASSIGN_OR_RETURN(std::unique_ptr<WebhookDispatcher> dispatcher,
                      WebhookDispatcher::Create({.service = service,
                                                 .stores = so.stores,
                                                 .client = ctx.Keep(*std::move(webhook_client)),
                                                 .env = ctx.env,
                                                 .retry_initial = config.api_settings.webhook_retry_initial,
                                                 .retry_max = config.api_settings.webhook_retry_max,
                                                 .max_attempts = static_cast<int>(config.api_settings.webhook_max_attempts),
                                                 .allowed_hosts = so.webhook_allowed_hosts,
                                                 .node_id = config.node_id}));
  WebhookDispatcher* webhooks = ctx.Keep(std::move(dispatcher));
  *wake = [webhooks](const std::string& workspace_id) { webhooks->Wake(workspace_id); };

  services::JwksCacheOptions jo;
  jo.host = config.auth.host;
  jo.port = config.auth.port;
  jo.client = jwks_http;
  jo.env = ctx.env;
  jo.issuer = config.auth_settings.issuer;
  auto* jwks = ctx.Keep(std::make_unique<services::JwksCache>(jo));

  ApiAuthOptions ao;
  ao.jwks = jwks;
  ao.auth_client = auth_http;
  ao.auth_host = config.auth.host;
  ao.auth_port = config.auth.port;
  ao.env = ctx.env;
  ao.rate_limiter = rate_limiter;
  ao.rate_limit = {.count = config.api_settings.rate_limit_per_second,
                   .period = absl::Seconds(1),
                   .burst = config.api_settings.rate_limit_burst};
  ao.recheck_interval = config.api_settings.principal_recheck_interval;
  const bool oauth = config.oauth_settings.enabled && config.mcp_settings.enabled;
  if (oauth) ao.mcp_resource = base::OAuthMcpResource(config);
  auto* auth = ctx.Keep(std::make_unique<ApiAuth>(ao));
  auth->Start();

  ApiServiceOptions opts;
  opts.service = service;
  opts.auth = auth;
  opts.auth_client = auth_http;
  opts.auth_host = config.auth.host;
  opts.auth_port = config.auth.port;
  opts.env = ctx.env;
  // Audit (issue 7): the queue takes denied requests directly and every workspace's
  // audit outbox rows through the relay below.
  // audit.queue_url: the host's file, or the fleet's PostgreSQL queue.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<audit::AuditQueue> queue,
                      audit::OpenAuditQueue({.url = config.audit_queue_url,
                                             .data_dir = config.data_dir, .env = ctx.env}));
  audit::AuditQueue* audit_queue = ctx.Keep(std::move(queue));
  base::Env* env = ctx.env;
  opts.record_denied = [audit_queue, env](const std::string& event_json) {
    absl::StatusOr<audit::AuditEvent> e = audit::ParseAuditEvent(event_json);
    absl::Status st = e.ok() ? audit_queue->Enqueue({*e}, env->Now()) : e.status();
    if (!st.ok()) EV_LOG(kError, "recording a denied request failed", {{"error", st.ToString()}});
  };
  // MCP agents' calls (docs/design/mcp.md §6): enqueued directly; a failure withholds the
  // agent's answer.
  opts.record_event = [audit_queue, env](const std::string& event_json) -> absl::Status {
    EV_ASSIGN_OR_RETURN(audit::AuditEvent e, audit::ParseAuditEvent(event_json));
    absl::Status st = audit_queue->Enqueue({e}, env->Now());
    if (!st.ok()) EV_LOG(kError, "recording an MCP call failed", {{"error", st.ToString()}});
    return st;
  };
  opts.mcp_enabled = config.mcp_settings.enabled;
  opts.mcp_read_only = config.mcp_settings.read_only;
  opts.mcp_allow_secret_values = config.mcp_settings.allow_secret_values;
  opts.mcp_max_sessions_per_principal = static_cast<size_t>(config.mcp_settings.max_sessions_per_principal);
  opts.mcp_session_idle = config.mcp_settings.session_idle;
  opts.mcp_session_rate_limit = {.count = config.mcp_settings.session_rate_limit_per_second,
                                 .burst = config.mcp_settings.session_rate_limit_burst};
  if (oauth) {
    opts.mcp_oauth_resource = base::OAuthMcpResource(config);
    opts.mcp_oauth_issuer = base::OAuthIssuerUrl(config);
  }
  // GET /v1/audit/events reads the warehouse audit.warehouse_url names. One that cannot be
  // opened (an S3 store without credentials) leaves that route answering 503, not the api down.
  EV_ASSIGN_OR_RETURN(base::AuditWarehouseUrl warehouse_url,
                      base::ParseAuditWarehouseUrl(config.audit_warehouse_url));
  absl::StatusOr<std::unique_ptr<audit::OpenedWarehouse>> warehouse = audit::OpenWarehouse(
      {.url = warehouse_url, .data_dir = config.data_dir, .env = ctx.env,
       .credentials = net::S3CredentialsFromEnvironment(base::ProcessEnvironment())});
  if (warehouse.ok()) {
    opts.audit_reader = ctx.Keep(std::move(*warehouse))->reader.get();
  } else {
    EV_LOG(kError, "the audit warehouse cannot be opened; GET /v1/audit/events answers 503",
           {{"error", warehouse.status().ToString()}});
  }
  opts.change_requests = ctx.Keep(std::make_unique<workspace::ChangeRequests>(service, so.stores, ctx.env));
  // Evaluation usage from delivery (docs/design/usage.md): DATA_DIR/usage.db or tables in
  // the PostgreSQL workspace database.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::UsageStore> usage, storage::OpenConfiguredUsageStore(config, ctx.env));
  opts.usage = ctx.Keep(std::move(usage));
  opts.workspace_delete_grace = config.api_settings.workspace_delete_grace;
  opts.sdk_keys = remote_directory;
  // Scheduled apply (docs/design/promotions.md §5a): started below with the service; it
  // applies as whoever scheduled, with no more than the rights recorded in the schedule
  // AND the rights auth says they hold at apply time.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<workspace::ChangeRequestScheduler> created_scheduler,
                      workspace::ChangeRequestScheduler::Create({.change_requests = opts.change_requests,
                                                                 .stores = so.stores,
                                                                 .directory = remote_directory,
                                                                 .env = ctx.env,
                                                                 .authorizer =
                                                                     [remote_directory](const storage::Workspace& ws,
                                                                                        const std::string& by,
                                                                                        const boost::json::object& grant) {
                                                                       return ScheduledApplyRightNow(
                                                                           by, grant,
                                                                           remote_directory->CurrentRights(ws.org_id, by));
                                                                     }}));
  // AI assistance (docs/design/ai.md): a provider client when ai.provider is set.
  const base::AiSettings& ai = config.ai_settings;
  if (ai.provider != "none") {
    AiProviderOptions po{.provider = ai.provider, .base_url = ai.base_url, .model = ai.model, .api_key = "",
                         .timeout = ai.timeout, .max_output_tokens = ai.max_output_tokens, .env = ctx.env,
                         .ca_file = ai.ca_file};
    if (!ai.api_key_file.empty()) {
      EV_ASSIGN_OR_RETURN(po.api_key, ctx.env->ReadFile(ai.api_key_file));
    } else if (!ai.api_key_env.empty()) {
      for (const auto& [name, value] : base::ProcessEnvironment()) {
        if (name == ai.api_key_env) po.api_key = value;
      }
      if (po.api_key.empty()) {
        return absl::InvalidArgumentError(
            base::ToAbsl("ai.api_key_env names " + ai.api_key_env + ", which is not set or empty"));
      }
    }
    while (!po.api_key.empty() && (po.api_key.back() == '\n' || po.api_key.back() == '\r' ||
                                   po.api_key.back() == ' ' || po.api_key.back() == '\t')) {
      po.api_key.pop_back();
    }
    EV_ASSIGN_OR_RETURN(std::unique_ptr<AiProvider> provider, AiProvider::Create(std::move(po)));
    opts.ai_provider = ctx.Keep(std::move(provider));
  }
  opts.ai_budget = ctx.Keep(std::make_unique<AiBudget>(ai.org_monthly_token_budget, opts.usage));
  opts.ai_max_prompt_bytes = static_cast<size_t>(ai.max_prompt_bytes);
  workspace::ChangeRequestScheduler* scheduler = ctx.Keep(std::move(created_scheduler));
  // Several api nodes on one PostgreSQL: a workspace created, renamed, deleted or restored
  // through this node is announced to the others (their MCP sessions list again), on a
  // connection of its own; the notice names this process so its own listener skips it.
  const std::string& workspace_db_url = config.api_settings.workspace_db_url;
  const bool shared_workspaces =
      workspace_db_url.starts_with("postgres://") || workspace_db_url.starts_with("postgresql://");
  const std::string node_token = ctx.env->RandomHex(8);
  if (shared_workspaces) {
    EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgPool> notify_pool,
                        storage::PgPool::Create({.connect = {.url = workspace_db_url,
                                                             .application_name = "edgevault-api-notify"},
                                                 .max_connections = 1}));
    storage::PgPool* pool = ctx.Keep(std::move(notify_pool));
    opts.announce_workspace_list = [pool, node_token](const std::string& org_id) {
      return storage::NotifyWorkspaceListChanged(*pool, {org_id, node_token});
    };
  }
  auto* api = ctx.Keep(std::make_unique<ApiService>(opts));
  api->Install(ctx.router);
  EV_RETURN_IF_ERROR(service->Start());
  // Workspaces in PostgreSQL may be written through any api node: this node's event
  // subscribers hear of the others' revisions through LISTEN/NOTIFY, and catch up by
  // head after the listening connection was lost (storage/postgres/pg_revision_listener.h).
  if (shared_workspaces) {
    EV_ASSIGN_OR_RETURN(
        std::unique_ptr<storage::PgRevisionListener> listener,
        storage::PgRevisionListener::Start(
            {.url = workspace_db_url,
             .env = ctx.env,
             .on_notice = [service](const storage::RevisionNotice& n) {
               service->RevisionsCommitted(n.workspace_id, n.first, n.last);
             },
             .on_resync =
                 [service] {
                   service->CatchUpSubscribers();
                   service->RecheckEveryOutbox();
                 },
             .on_workspace_list =
                 [api, node_token](const storage::WorkspaceListNotice& n) {
                   if (n.sender != node_token) api->WorkspaceListChangedElsewhere(n.org_id);
                 }}));
    ctx.Keep(std::move(listener));
  }
  EV_RETURN_IF_ERROR(webhooks->Start());
  EV_RETURN_IF_ERROR(scheduler->Start());
  // The edge KV may be new, or come back empty (Redis without persistence) or rebuilt (a
  // damaged or deleted LMDB store): re-fill it from the system of record. The first check
  // runs before the api serves, so a fresh install is populated from the start.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<EdgeKvRepublisher> republisher,
                      EdgeKvRepublisher::Create({.service = service, .directory = remote_directory,
                                                 .sdk_keys = remote_directory, .kv = so.kv,
                                                 .stores = so.stores,
                                                 .on_published = so.on_published,
                                                 .maintain = [managed_kv, signing_kv] {
                                                   managed_kv->Maintain();
                                                   if (absl::Status st = signing_kv->MaintainKeys(); !st.ok()) {
                                                     EV_LOG(kWarn, "edge KV: document-signing key upkeep failed",
                                                            {{"error", st.ToString()}});
                                                   }
                                                 },
                                                 .env = ctx.env}));
  if (absl::StatusOr<bool> first = republisher->CheckOnce(); !first.ok()) {
    EV_LOG(kWarn, "edge KV: the first republish check failed; retrying in the background",
           {{"error", first.status().ToString()}});
  }
  managed_kv->Maintain();
  ctx.Keep(std::move(republisher))->Start();
  audit::OutboxRelayOptions ro;
  workspace::Service* svc = service;
  ro.peek = [svc](int limit) { return svc->PeekAuditOutbox(limit); };
  ro.remove = [svc](const std::vector<std::string>& ids) { return svc->RemoveAuditOutbox(ids); };
  ro.queue = audit_queue;
  ro.env = ctx.env;
  ro.source = "api";
  EV_ASSIGN_OR_RETURN(std::unique_ptr<audit::OutboxRelay> relay, audit::OutboxRelay::Create(std::move(ro)));
  ctx.Keep(std::move(relay))->Start();
  // Deleted workspaces whose grace period is over (docs/api.md "Deleting a workspace"): their data is
  // destroyed; the purge's audit event goes to the queue (the workspace's outbox goes
  // with its store), attributed to the api itself.
  ctx.Keep(service->SchedulePurge(
      absl::Minutes(1),
      [remote_directory](const storage::Workspace& ws) { return remote_directory->ListSdkKeys(ws.org_id, ws.id); },
      [audit_queue, env = ctx.env](const storage::Workspace& ws, std::string_view reason) -> absl::Status {
        workspace::Actor system{.id = "system:purge", .org_id = ws.org_id};
        EV_ASSIGN_OR_RETURN(audit::AuditEvent e,
                            audit::ParseAuditEvent(workspace::PurgeAuditEvent(env, system, ws, reason)));
        return audit_queue->Enqueue({e}, env->Now());
      }));
  return absl::OkStatus();
}

}  // namespace
}  // namespace edgevault::api

int main(int argc, char** argv) {
  return edgevault::services::RunService("api", argc, argv, edgevault::api::Install);
}
