#pragma once
// WebhookDispatcher: delivers the webhook events of every workspace (docs/design/webhooks.md)
// from the workspace outboxes (rows of kind "webhook", written with the change they describe)
// to the registered URLs: signed (X-EdgeVault-Signature), at least once, in order per webhook,
// one event at a time, retried with exponential back-off, and after max_attempts failures in
// a row the webhook is marked failing (its events are kept). Each webhook's cursor is stored
// with it, so a restart continues where delivery stopped. With several api nodes on one
// store, one node at a time sends a webhook's events (a lease in the store), so a receiver
// gets each event once in the normal course and always in order.
//
// One thread sends; Wake() (ServiceOptions::on_webhook_events) tells it a workspace has new
// events. Thread-safety: Wake, Start and Stop may be called from any thread; RunOnce only
// when the thread is not running (tests).
//
//   EV_ASSIGN_OR_RETURN(auto d, WebhookDispatcher::Create({.service = svc, .stores = stores,
//                                                          .client = http, .env = env}));
//   EV_RETURN_IF_ERROR(d->Start());
//   ... d->Wake(workspace_id) after a commit that wrote events ...

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/net/http_client.h"
#include "src/storage/workspace_store_provider.h"
#include "src/workspace/service.h"

namespace edgevault::api {

struct WebhookDispatcherOptions {
  workspace::Service* service = nullptr;              // opens signing secrets; not owned
  storage::WorkspaceStoreProvider* stores = nullptr;  // events, registrations, cursors; not owned
  // No service credential, no connection reuse (a POST on a connection the receiver closed
  // would not be retried by the client), TLS enabled for https:// URLs (with the operator's
  // trust: the system store plus api.webhook_ca_file); not owned.
  net::HttpClient* client = nullptr;
  base::Env* env = nullptr;
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Minutes(10);
  int max_attempts = 25;
  std::vector<std::string> allowed_hosts;  // empty = any (workspace/webhooks.h)
  // Several api nodes on one store: a webhook's events are sent by the node that holds its
  // lease (WorkspaceStore::LeaseWebhook), renewed before each event and released when the
  // node has nothing more to send or gives up, kept over a retry's back-off. `node_id`
  // names this process in the lease (a random suffix makes it unique per start).
  std::string node_id = "node-1";
  absl::Duration lease = absl::Minutes(1);  // longer than one attempt (the client's timeouts)
};

// The X-EdgeVault-Signature value: "t=<unix_seconds>,v1=<hex HMAC-SHA256(secret, t.body)>".
std::string WebhookSignatureHeader(std::string_view secret, int64_t unix_seconds, std::string_view body);

class WebhookDispatcher {
 public:
  // InvalidArgument when service, stores, client or env is missing, or the limits are not positive.
  static absl::StatusOr<std::unique_ptr<WebhookDispatcher>> Create(WebhookDispatcherOptions options);
  ~WebhookDispatcher();  // Stop()s

  // Queues every workspace once (their webhooks continue from their cursors) and starts
  // the thread. Errors: the store provider's.
  absl::Status Start();
  // Stops the thread and waits for it (an attempt in flight finishes first). Idempotent.
  void Stop();
  void Wake(const std::string& workspace_id);

  // One pass over `workspace_id` on the caller's thread: sends every due event of every
  // webhook. Returns the monotonic time (Env::MonotonicNow) at which the workspace wants
  // another pass (a retry, or more events behind a full page), or nullopt.
  std::optional<absl::Duration> RunOnce(const std::string& workspace_id);

 private:
  struct Backoff {
    int attempts = 0;      // failed attempts of the current event in a row
    absl::Duration due;    // MonotonicNow at which to try again
  };
  explicit WebhookDispatcher(WebhookDispatcherOptions options);
  // One due workspace per run (so Stop never waits for more than one), then at once again
  // while more are due, else when the next is due or a Wake comes.
  base::NextRun RunNextDue();
  // Sends one event; OK on a 2xx answer.
  absl::Status Send(const storage::WebhookRow& hook, std::string_view url, std::string_view secret,
                    const std::string& payload);

  WebhookDispatcherOptions o_;
  std::string holder_;  // o_.node_id + "/" + random: this process in webhook leases
  std::map<std::string, Backoff> backoff_;  // "<workspace>/<webhook>"; the sending thread only

  std::mutex mu_;
  std::map<std::string, absl::Duration> pending_;  // workspace → when its next pass is due
  bool stop_ = false;
  std::unique_ptr<base::PeriodicTask> task_;  // set once by Start, under mu_
};

}  // namespace edgevault::api
