#pragma once
// Webhooks in the workspace domain (docs/design/webhooks.md): the event types, the event
// body, the outbox row that carries an event in the same transaction as the change it
// describes, and the validation of a registration (URL, events, description, active).
// Delivery (HTTP, signatures, retries) lives in the api: src/services/api/webhook_dispatcher.h.
//
// Other features emit their events through WebhookOutboxRow, inside their own commit:
//
//   // under the workspace's write lock, with the store the change commits to:
//   EV_ASSIGN_OR_RETURN(std::optional<storage::OutboxRow> row,
//                       WebhookOutboxRow(store, env, ws, actor.id,
//                                        {"change_request.approved", {{"change_request", id}}}, now));
//   if (row) commit.outbox.push_back(*std::move(row));
//   ...commit...
//   service.WebhookEventsCommitted(ws.id);  // wakes the dispatcher
//
// Thread-safety: pure functions, except WebhookOutboxRow, which reads `store` (thread-safe).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/storage/workspace_directory.h"
#include "src/storage/workspace_store.h"

namespace edgevault::workspace {

// The outbox kind of webhook events.
inline constexpr std::string_view kWebhookOutboxKind = "webhook";

inline constexpr std::string_view kWebhookEventTypes[] = {
    "revision.written",        "change_request.opened",  "change_request.approved",
    "change_request.applied",  "change_request.failed",  "promotion.applied"};
bool IsWebhookEventType(std::string_view type);

// Limits of a registration.
inline constexpr size_t kMaxWebhookUrlBytes = 2048;
inline constexpr size_t kMaxWebhookDescriptionBytes = 200;
inline constexpr size_t kMaxWebhooksPerWorkspace = 20;

struct WebhookEvent {
  std::string type;          // one of kWebhookEventTypes
  boost::json::object data;  // type-specific; NEVER a secret value (or ciphertext)
};

// The outbox row carrying `event` (its payload is the exact body every delivery sends),
// or nullopt when the workspace has no webhook at all (then nothing needs writing). Call
// under the workspace's write lock and commit the row in the same transaction as the change
// it describes. InvalidArgument for an unknown type; the store's errors.
absl::StatusOr<std::optional<storage::OutboxRow>> WebhookOutboxRow(storage::WorkspaceStore& store,
                                                                   base::Env* env,
                                                                   const storage::Workspace& ws,
                                                                   std::string_view actor,
                                                                   const WebhookEvent& event,
                                                                   absl::Time time);

// Where a delivery goes: http[s]://host[:port][target].
struct WebhookUrl {
  bool tls = false;    // https://: the certificate is verified (docs/design/webhooks.md "HTTPS")
  std::string host;    // lower-case; an IPv6 literal without its brackets
  uint16_t port = 80;  // 443 for https:// without a port
  std::string target;  // origin-form path and query, at least "/"
};
// InvalidArgument (with the error code payload "invalid_url") naming what is wrong: see
// docs/design/webhooks.md "Registration".
absl::StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url);

// A registration as stored in WebhookRow::body.
struct WebhookSpec {
  std::string url;
  std::vector<std::string> events;  // sorted, unique; {"*"} = every type
  std::string description;
  bool active = true;
  // This row is one workspace's copy of an org-wide webhook (org_webhooks.h): managed
  // through the org's routes only. Stored as "org": true; never set from a request body.
  bool org = false;

  bool Subscribes(std::string_view type) const;
  boost::json::object ToJson() const;
};

// Validates a create body (`base` nullptr: url and events required) or a PATCH (`base`
// set: only the fields given change). Unknown fields, bad types, an unknown event type, a
// bad URL or a host not in `allowed_hosts` (when non-empty; error code
// "host_not_allowed") are InvalidArgument naming the field.
absl::StatusOr<WebhookSpec> WebhookSpecFromRequest(const boost::json::object& body, const WebhookSpec* base,
                                                   const std::vector<std::string>& allowed_hosts);
// The stored body back (Internal when it is not a valid spec).
absl::StatusOr<WebhookSpec> WebhookSpecFromStored(std::string_view body);
// Whether `host` (as in WebhookUrl::host) may be called: always when the list is empty.
bool WebhookHostAllowed(std::string_view host, const std::vector<std::string>& allowed_hosts);

}  // namespace edgevault::workspace
