#pragma once
// Who is who in the control DB: orgs (with their entitlements), users, memberships with
// roles, and invitations to orgs (DESIGN.md §3, §7; docs/auth.md "Members"). The auth
// service is its only user; backends implement it as part of ControlStore.
//
// Thread-safety: every method may be called concurrently; each call is atomic.
//
// Error codes (every backend; driver errors never leak):
//   NotFound           the row does not exist
//   AlreadyExists      a unique key is taken (email, org name, the one pending invitation
//                      of an email to an org)
//   InvalidArgument    a value the store cannot hold (empty id, unknown role)
//   FailedPrecondition a row it refers to is missing (a membership of an unknown user)
//   Unavailable        the database is busy or unreachable; the caller may retry
//   Internal           anything else
//
//   EV_ASSIGN_OR_RETURN(storage::User user, identity.GetUserByEmail(email));

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/control_types.h"

namespace edgevault::storage {

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // Orgs.
  virtual absl::Status CreateOrg(const Org& org) = 0;
  virtual absl::StatusOr<Org> GetOrg(std::string_view id) = 0;
  virtual absl::StatusOr<Org> GetOrgByName(std::string_view name) = 0;
  virtual absl::Status SetEntitlements(std::string_view org_id, const Entitlements& e) = 0;
  virtual absl::StatusOr<int64_t> CountUsers() = 0;  // across all orgs

  // Users.
  virtual absl::Status CreateUser(const User& user) = 0;
  virtual absl::StatusOr<User> GetUser(std::string_view id) = 0;
  virtual absl::StatusOr<User> GetUserByEmail(std::string_view email) = 0;
  // Replaces password_hash and must_change_password.
  virtual absl::Status UpdatePassword(std::string_view user_id, std::string_view hash,
                                      bool must_change_password) = 0;
  virtual absl::Status SetUserDisabled(std::string_view user_id, bool disabled) = 0;

  // Memberships.
  virtual absl::Status AddMembership(const Membership& m) = 0;
  virtual absl::StatusOr<Membership> GetMembership(std::string_view org_id,
                                                   std::string_view user_id) = 0;
  virtual absl::StatusOr<std::vector<Membership>> ListMembers(std::string_view org_id) = 0;
  virtual absl::StatusOr<std::vector<Membership>> ListMembershipsOfUser(
      std::string_view user_id) = 0;
  virtual absl::Status UpdateRole(std::string_view org_id, std::string_view user_id,
                                  Role role) = 0;
  virtual absl::Status RemoveMembership(std::string_view org_id, std::string_view user_id) = 0;
  virtual absl::StatusOr<int64_t> CountMembersWithRole(std::string_view org_id, Role role) = 0;

  // Invitations. Create: AlreadyExists when the org has a pending invitation for the email
  // that has not expired at inv.created_at (an expired one is marked expired first);
  // FailedPrecondition for an unknown org; InvalidArgument for a status other than
  // kPending or an unknown role.
  virtual absl::Status CreateInvitation(const Invitation& inv) = 0;
  // As stored: a pending invitation may have expired (compare expires_at).
  virtual absl::StatusOr<Invitation> GetInvitation(std::string_view id) = 0;
  // Pending invitations not expired at `now`, oldest first.
  virtual absl::StatusOr<std::vector<Invitation>> ListPendingInvitationsForEmail(
      std::string_view email, absl::Time now) = 0;
  virtual absl::StatusOr<std::vector<Invitation>> ListPendingInvitationsOfOrg(
      std::string_view org_id, absl::Time now) = 0;
  // Moves a pending invitation not expired at `at` to `status` (kAccepted, kDeclined or
  // kRevoked) in one atomic step, so of two concurrent responses one wins. NotFound when
  // it is absent, no longer pending or expired; InvalidArgument for another status.
  virtual absl::Status RespondToInvitation(std::string_view id, InvitationStatus status,
                                           absl::Time at) = 0;
};

}  // namespace edgevault::storage
