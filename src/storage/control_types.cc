#include "src/storage/control_types.h"

#include "src/base/strings.h"

namespace edgevault::storage {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kDeveloper:
      return "developer";
    case Role::kAdmin:
      return "admin";
    case Role::kOwner:
      return "owner";
  }
  return "unknown";
}

std::string_view SdkKeyKindName(SdkKeyKind kind) {
  return kind == SdkKeyKind::kClient ? "client" : "server";
}

std::string_view InvitationStatusName(InvitationStatus status) {
  switch (status) {
    case InvitationStatus::kPending:
      return "pending";
    case InvitationStatus::kAccepted:
      return "accepted";
    case InvitationStatus::kDeclined:
      return "declined";
    case InvitationStatus::kRevoked:
      return "revoked";
    case InvitationStatus::kExpired:
      return "expired";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kViewer, Role::kDeveloper, Role::kAdmin, Role::kOwner}) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(
      base::StrCat("unknown role \"", name, "\"; expected one of viewer, developer, admin, owner"));
}

}  // namespace edgevault::storage
