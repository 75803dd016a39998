#include "src/workspace/org_webhooks.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

// Rounds of "list the org's workspaces, write the new ones": a workspace created meanwhile
// shows up in the next round.
constexpr int kRounds = 3;

bool HasCopyIn(const OrgWebhook& hook, const std::string& workspace_id) {
  return std::any_of(hook.copies.begin(), hook.copies.end(),
                     [&](const OrgWebhookCopy& c) { return c.ws.id == workspace_id; });
}

// Calls `fn` once for each workspace of `org_id`, re-reading the list until it shows no
// workspace not seen before (or kRounds reads); stops at the first error.
absl::Status ForEachWorkspace(Service& service, std::string_view org_id,
                              const std::function<absl::Status(const storage::Workspace&)>& fn) {
  std::set<std::string> done;
  for (int round = 0; round < kRounds; ++round) {
    EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> workspaces, service.ListWorkspaces(org_id));
    bool any = false;
    for (const storage::Workspace& ws : workspaces) {
      if (!done.insert(ws.id).second) continue;
      any = true;
      EV_RETURN_IF_ERROR(fn(ws));
    }
    if (!any) break;
  }
  return absl::OkStatus();
}

absl::Status NoSuchHook(std::string_view id) {
  return absl::NotFoundError(base::ToAbsl("no org webhook \"" + std::string(id.substr(0, 64)) + "\""));
}

}  // namespace

absl::StatusOr<OrgWebhooks::Snapshot> OrgWebhooks::Read(std::string_view org_id) {
  Snapshot s;
  EV_ASSIGN_OR_RETURN(s.workspaces, service_->ListWorkspaces(org_id));
  std::map<std::string, OrgWebhook> by_id;
  for (const storage::Workspace& ws : s.workspaces) {
    EV_ASSIGN_OR_RETURN(std::vector<storage::WebhookRow> rows, service_->ListWebhooks(ws));
    for (storage::WebhookRow& row : rows) {
      absl::StatusOr<WebhookSpec> spec = WebhookSpecFromStored(row.body);
      if (!spec.ok() || !spec->org) continue;
      OrgWebhook& hook = by_id[row.id];
      if (hook.id.empty()) {
        hook.id = row.id;
        hook.created_at = row.created_at;
        hook.updated_at = absl::InfinitePast();
      }
      hook.created_at = std::min(hook.created_at, row.created_at);
      if (row.updated_at >= hook.updated_at) {
        hook.updated_at = row.updated_at;
        hook.spec = *std::move(spec);
      }
      hook.copies.push_back({ws, std::move(row)});
    }
  }
  for (auto& [id, hook] : by_id) s.hooks.push_back(std::move(hook));
  return s;
}

absl::StatusOr<std::string> OrgWebhooks::SecretOf(const OrgWebhook& hook) {
  // The most recently updated copy holds the current secret (a rotation that stopped
  // half-way left the older one elsewhere).
  const OrgWebhookCopy* newest = nullptr;
  for (const OrgWebhookCopy& c : hook.copies) {
    if (newest == nullptr || c.row.updated_at > newest->row.updated_at) newest = &c;
  }
  if (newest == nullptr) return NoSuchHook(hook.id);
  EV_ASSIGN_OR_RETURN(crypto::SecureBuffer secret, service_->OpenWebhookSecret(newest->ws.id, newest->row));
  return std::string(secret.view());
}

absl::Status OrgWebhooks::PutEverywhere(const Actor& actor, const OrgWebhook& hook,
                                        const std::optional<std::string>& secret, bool resume,
                                        std::string_view action) {
  std::optional<std::string> for_new_copies = secret;
  return ForEachWorkspace(*service_, actor.org_id, [&](const storage::Workspace& ws) -> absl::Status {
    if (HasCopyIn(hook, ws.id)) {
      return service_->PutOrgWebhookCopy(actor, ws, hook.id, hook.spec, secret, resume, action).status();
    }
    if (!for_new_copies) {
      EV_ASSIGN_OR_RETURN(std::string opened, SecretOf(hook));
      for_new_copies = std::move(opened);
    }
    return service_->PutOrgWebhookCopy(actor, ws, hook.id, hook.spec, for_new_copies, resume, "workspace.webhook.create")
        .status();
  });
}

absl::StatusOr<OrgWebhookWithSecret> OrgWebhooks::Create(const Actor& actor, const json::object& body) {
  EV_ASSIGN_OR_RETURN(WebhookSpec spec, WebhookSpecFromRequest(body, nullptr, service_->webhook_allowed_hosts()));
  spec.org = true;
  EV_ASSIGN_OR_RETURN(std::vector<storage::Workspace> workspaces, service_->ListWorkspaces(actor.org_id));
  if (workspaces.empty()) {
    return base::WithErrorCode(
        absl::FailedPreconditionError("the org has no workspace yet, and an org webhook is kept with the org's "
                                      "workspaces: create a workspace first"),
        "no_workspace");
  }
  OrgWebhook hook;
  hook.id = "wh_" + service_->env()->RandomHex(8);
  hook.spec = spec;
  std::string secret = "whsec_" + service_->env()->RandomHex(32);
  absl::Status put = PutEverywhere(actor, hook, secret, false, "workspace.webhook.create");
  if (!put.ok()) {
    // Nothing half-registered stays behind: remove the copies written so far.
    absl::StatusOr<std::vector<storage::Workspace>> all = service_->ListWorkspaces(actor.org_id);
    for (const storage::Workspace& ws : all.ok() ? *all : workspaces) {
      absl::Status removed = service_->DeleteWebhook(actor, ws, hook.id);
      if (!removed.ok() && !absl::IsNotFound(removed)) {
        EV_LOG(kWarn, "removing a copy of an org webhook whose creation failed did not work",
               {{"workspace", ws.id}, {"webhook", hook.id}, {"error", removed.ToString()}});
      }
    }
    return put;
  }
  EV_ASSIGN_OR_RETURN(OrgWebhook created, Get(actor.org_id, hook.id));
  return OrgWebhookWithSecret{std::move(created), std::move(secret)};
}

absl::StatusOr<std::vector<OrgWebhook>> OrgWebhooks::List(std::string_view org_id) {
  EV_ASSIGN_OR_RETURN(Snapshot s, Read(org_id));
  return std::move(s.hooks);
}

absl::StatusOr<OrgWebhook> OrgWebhooks::Get(std::string_view org_id, std::string_view id) {
  EV_ASSIGN_OR_RETURN(Snapshot s, Read(org_id));
  for (OrgWebhook& hook : s.hooks) {
    if (hook.id == id) return std::move(hook);
  }
  return NoSuchHook(id);
}

absl::StatusOr<OrgWebhook> OrgWebhooks::Update(const Actor& actor, std::string_view id, const json::object& patch) {
  EV_ASSIGN_OR_RETURN(OrgWebhook hook, Get(actor.org_id, id));
  EV_ASSIGN_OR_RETURN(WebhookSpec spec, WebhookSpecFromRequest(patch, &hook.spec, service_->webhook_allowed_hosts()));
  hook.spec = std::move(spec);
  const bool resume = patch.contains("active") || patch.contains("url");
  EV_RETURN_IF_ERROR(PutEverywhere(actor, hook, std::nullopt, resume, "workspace.webhook.update"));
  return Get(actor.org_id, id);
}

absl::StatusOr<OrgWebhookWithSecret> OrgWebhooks::RotateSecret(const Actor& actor, std::string_view id) {
  EV_ASSIGN_OR_RETURN(OrgWebhook hook, Get(actor.org_id, id));
  std::string secret = "whsec_" + service_->env()->RandomHex(32);
  EV_RETURN_IF_ERROR(PutEverywhere(actor, hook, secret, false, "workspace.webhook.rotate_secret"));
  EV_ASSIGN_OR_RETURN(OrgWebhook rotated, Get(actor.org_id, id));
  return OrgWebhookWithSecret{std::move(rotated), std::move(secret)};
}

absl::Status OrgWebhooks::Delete(const Actor& actor, std::string_view id) {
  EV_RETURN_IF_ERROR(Get(actor.org_id, id).status());
  return ForEachWorkspace(*service_, actor.org_id, [&](const storage::Workspace& ws) -> absl::Status {
    absl::Status removed = service_->DeleteWebhook(actor, ws, id);
    return absl::IsNotFound(removed) ? absl::OkStatus() : removed;
  });
}

absl::Status OrgWebhooks::Attach(const Actor& actor, const storage::Workspace& ws) {
  EV_ASSIGN_OR_RETURN(Snapshot s, Read(ws.org_id));
  for (const OrgWebhook& hook : s.hooks) {
    if (HasCopyIn(hook, ws.id)) continue;
    EV_ASSIGN_OR_RETURN(std::string secret, SecretOf(hook));
    EV_RETURN_IF_ERROR(
        service_->PutOrgWebhookCopy(actor, ws, hook.id, hook.spec, secret, false, "workspace.webhook.create").status());
  }
  return absl::OkStatus();
}

}  // namespace edgevault::workspace
