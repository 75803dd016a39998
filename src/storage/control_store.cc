#include "src/storage/control_store.h"

#include <string>

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {

absl::StatusOr<Entitlements> ControlStore::GetEntitlements(std::string_view org_id) {
  EV_ASSIGN_OR_RETURN(Org org, GetOrg(org_id));
  return org.entitlements;
}

absl::Status ControlStore::CreateWorkspaceWithinLimit(const Workspace& ws) {
  if (ws.id.empty() || ws.org_id.empty() || ws.key.empty()) {
    return absl::InvalidArgumentError("control store: a workspace needs an id, an org id and a key");
  }
  // The count and the insert in one transaction: parallel creates (in this process or
  // another) can never both pass the check.
  return WithTransaction([&](ControlStore& tx) -> absl::Status {
    EV_ASSIGN_OR_RETURN(Org org, tx.GetOrg(ws.org_id));
    EV_ASSIGN_OR_RETURN(std::vector<Workspace> existing, tx.ListWorkspaces(ws.org_id));
    if (static_cast<int64_t>(existing.size()) >= org.entitlements.max_workspaces) {
      return absl::ResourceExhaustedError(base::StrCat(
          "the org's plan allows ", std::to_string(org.entitlements.max_workspaces), " workspaces"));
    }
    return tx.CreateWorkspace(ws);
  });
}

}  // namespace edgevault::storage
