// Invitations to orgs (docs/auth.md "Members"). POST /v1/users makes one; the invitee
// answers it with their own session (GET /v1/invitations, then accept or decline), and
// an account that the invitation created accepts it by logging in. An org's admins list
// and revoke the org's pending invitations.
#include "src/base/strings.h"
#include "src/services/auth/auth_impl.h"

namespace edgevault::auth {

namespace http = boost::beast::http;
namespace json = boost::json;
using storage::InvitationStatus;
using storage::Role;

namespace {

json::object InvitationJson(const storage::Invitation& inv, std::string_view org_name) {
  json::object o{{"id", inv.id},
                 {"org_id", inv.org_id},
                 {"role", storage::RoleName(inv.role)},
                 {"email", inv.email},
                 {"status", storage::InvitationStatusName(inv.status)},
                 {"created_at", services::FormatTime(inv.created_at)},
                 {"expires_at", services::FormatTime(inv.expires_at)}};
  if (!org_name.empty()) o["org"] = org_name;
  return o;
}

absl::Status NoSuchInvitation() {
  return absl::NotFoundError("no pending invitation with that id for you; see GET /v1/invitations");
}

}  // namespace

absl::Status AuthService::Impl::AcceptInvitation(storage::ControlStore& tx,
                                                 const storage::Invitation& inv,
                                                 const storage::User& user,
                                                 const net::Request& req) {
  absl::Time now = Now();
  EV_RETURN_IF_ERROR(tx.RespondToInvitation(inv.id, InvitationStatus::kAccepted, now));
  absl::Status added = tx.AddMembership({inv.org_id, user.id, inv.role, now});
  if (absl::IsAlreadyExists(added)) {
    return absl::AlreadyExistsError("you are already a member of this org");
  }
  EV_RETURN_IF_ERROR(added);
  return Audit(tx, "auth.invitation.accept", "success", "user:" + user.id, inv.org_id, req,
               {{"invitation", inv.id}, {"role", storage::RoleName(inv.role)}});
}

absl::Status AuthService::Impl::AcceptCreatingInvitation(const storage::User& user,
                                                         const net::Request& req) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::Invitation> pending,
                      store_.ListPendingInvitationsForEmail(user.email, Now()));
  for (const storage::Invitation& inv : pending) {
    if (!inv.creates_account) continue;
    absl::Status st = store_.WithTransaction(
        [&](storage::ControlStore& tx) { return AcceptInvitation(tx, inv, user, req); });
    // A concurrent login may have accepted it first; either way it is settled.
    if (st.ok() || absl::IsNotFound(st) || absl::IsAlreadyExists(st)) return absl::OkStatus();
    return st;
  }
  return absl::OkStatus();
}

void AuthService::Impl::InstallInvitations(net::Router& r) {
  // ---- the invitee ----
  Route(http::verb::get, "/v1/invitations", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "invitations", Access::kInvitations));
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(p.user_id));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Invitation> pending,
                        store_.ListPendingInvitationsForEmail(user.email, Now()));
    json::array a;
    for (const storage::Invitation& inv : pending) {
      absl::StatusOr<storage::Org> org = store_.GetOrg(inv.org_id);
      a.push_back(InvitationJson(inv, org.ok() ? org->name : ""));
    }
    return services::JsonResponse(200, json::object{{"invitations", std::move(a)}});
  });

  // The invitation must be addressed to the caller's email; anyone else's answers 404,
  // like an unknown id.
  auto respond = [this](net::Request& req, InvitationStatus answer) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "invitations", Access::kInvitations));
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(p.user_id));
    absl::StatusOr<storage::Invitation> inv = store_.GetInvitation(req.Param("id"));
    if (!inv.ok() && !absl::IsNotFound(inv.status())) return inv.status();
    if (!inv.ok() || inv->email != user.email) return NoSuchInvitation();
    absl::Status st = store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      if (answer == InvitationStatus::kAccepted) return AcceptInvitation(tx, *inv, user, req);
      EV_RETURN_IF_ERROR(tx.RespondToInvitation(inv->id, answer, Now()));
      return Audit(tx, "auth.invitation.decline", "success", "user:" + user.id, inv->org_id, req,
                   {{"invitation", inv->id}});
    });
    if (absl::IsNotFound(st)) return NoSuchInvitation();
    EV_RETURN_IF_ERROR(st);
    absl::StatusOr<storage::Org> org = store_.GetOrg(inv->org_id);
    json::object o{{"id", inv->id},
                   {"status", storage::InvitationStatusName(answer)},
                   {"org_id", inv->org_id},
                   {"role", storage::RoleName(inv->role)}};
    if (org.ok()) o["org"] = org->name;
    return services::JsonResponse(200, o);
  };
  Route(http::verb::post, "/v1/invitations/{id}/accept", r,
        [respond](net::Request& req) { return respond(req, InvitationStatus::kAccepted); });
  Route(http::verb::post, "/v1/invitations/{id}/decline", r,
        [respond](net::Request& req) { return respond(req, InvitationStatus::kDeclined); });

  // ---- the org's admins ----
  Route(http::verb::get, "/v1/org/invitations", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, Role::kAdmin, true));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Invitation> pending,
                        store_.ListPendingInvitationsOfOrg(p.org_id, Now()));
    json::array a;
    for (const storage::Invitation& inv : pending) {
      json::object o = InvitationJson(inv, "");
      o["invited_by"] = inv.invited_by;
      a.push_back(std::move(o));
    }
    return services::JsonResponse(200, json::object{{"invitations", std::move(a)}});
  });

  Route(http::verb::delete_, "/v1/org/invitations/{id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, Role::kAdmin, true));
    std::string id(req.Param("id"));
    absl::StatusOr<storage::Invitation> inv = store_.GetInvitation(id);
    if (!inv.ok() && !absl::IsNotFound(inv.status())) return inv.status();
    if (!inv.ok() || inv->org_id != p.org_id) {
      return absl::NotFoundError("no invitation with that id in this org");
    }
    EV_RETURN_IF_ERROR(CheckCanAssign(p, inv->role));
    absl::Status st = store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.RespondToInvitation(id, InvitationStatus::kRevoked, Now()));
      return Audit(tx, "auth.invitation.revoke", "success", p.ActorId(), p.org_id, req,
                   {{"invitation", id}});
    });
    if (absl::IsNotFound(st)) {
      return services::WithErrorCode(
          absl::FailedPreconditionError("the invitation is no longer pending"), "not_pending");
    }
    EV_RETURN_IF_ERROR(st);
    return services::JsonResponse(200, json::object{{"revoked", true}, {"id", id}});
  });
}

}  // namespace edgevault::auth
