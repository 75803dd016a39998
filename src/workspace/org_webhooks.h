#pragma once
// Org-wide webhooks (docs/design/webhooks.md "Org-wide webhooks"): one registration (id, url,
// events, secret) that receives the events of every workspace of an org, those created later
// included. It is kept as a copy in each workspace of the org: a webhook row marked
// `"org": true` with the same id and secret (sealed for that workspace). So each workspace's
// events reach it from that workspace's outbox, in order, with the cursor, retries, state and
// last_error of any webhook (the dispatcher does not tell them apart), and the registration
// survives and scales like the workspace stores. The org's routes manage all the copies at
// once; workspace routes do not show or change them.
//
// Copies are written one workspace after another (each under its workspace's lock, audited
// there), not in one transaction: a create that fails half-way removes the copies it wrote; an
// update or delete that fails half-way says so, and repeating it finishes the job. A workspace
// created while an org webhook is created or deleted is caught by re-reading the org's
// workspaces until no new one appears.
//
// Thread-safety: every method may be called concurrently.
//
//   OrgWebhooks hooks(service);
//   EV_ASSIGN_OR_RETURN(OrgWebhookWithSecret created, hooks.Create(actor, body));
//   // after creating a workspace:
//   EV_RETURN_IF_ERROR(hooks.Attach(actor, ws));

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/workspace/service.h"
#include "src/workspace/webhooks.h"

namespace edgevault::workspace {

// One workspace's copy of an org webhook.
struct OrgWebhookCopy {
  storage::Workspace ws;
  storage::WebhookRow row;
};

struct OrgWebhook {
  std::string id;
  WebhookSpec spec;  // of the most recently updated copy
  absl::Time created_at, updated_at;
  std::vector<OrgWebhookCopy> copies;  // in the order of the org's workspaces
};

struct OrgWebhookWithSecret {
  OrgWebhook hook;
  std::string secret;  // "whsec_" + 64 hex digits; shown once
};

class OrgWebhooks {
 public:
  explicit OrgWebhooks(Service* service) : service_(service) {}  // not owned

  // Every method works on the org of `actor` (or `org_id`) only: another org's webhook is
  // NotFound. Errors: InvalidArgument (named field, as a workspace webhook's body), NotFound,
  // FailedPrecondition with code "secrets_disabled", "too_many_webhooks" (a workspace has 20
  // webhooks already) or "no_workspace" (the org has none yet: there is nowhere to keep it),
  // and the stores' errors.
  absl::StatusOr<OrgWebhookWithSecret> Create(const Actor& actor, const boost::json::object& body);
  absl::StatusOr<std::vector<OrgWebhook>> List(std::string_view org_id);
  absl::StatusOr<OrgWebhook> Get(std::string_view org_id, std::string_view id);
  // Changes the fields `patch` names in every copy; naming `active` or `url` also resumes
  // failing copies. A workspace missing its copy gets one.
  absl::StatusOr<OrgWebhook> Update(const Actor& actor, std::string_view id, const boost::json::object& patch);
  // One new secret for every copy.
  absl::StatusOr<OrgWebhookWithSecret> RotateSecret(const Actor& actor, std::string_view id);
  absl::Status Delete(const Actor& actor, std::string_view id);
  // Gives `ws` (a new workspace of actor's org) a copy of each of the org's webhooks.
  absl::Status Attach(const Actor& actor, const storage::Workspace& ws);

 private:
  // Every copy of every org webhook of `org_id`, grouped by id, plus the org's workspaces.
  struct Snapshot {
    std::vector<storage::Workspace> workspaces;
    std::vector<OrgWebhook> hooks;  // by id
  };
  absl::StatusOr<Snapshot> Read(std::string_view org_id);
  // Writes the copy of `hook` (spec, and `secret` when set, else the secret of an existing
  // copy) into every workspace of the org, re-reading the workspace list until it is stable.
  absl::Status PutEverywhere(const Actor& actor, const OrgWebhook& hook, const std::optional<std::string>& secret,
                             bool resume, std::string_view action);
  absl::StatusOr<std::string> SecretOf(const OrgWebhook& hook);

  Service* const service_;
};

}  // namespace edgevault::workspace
