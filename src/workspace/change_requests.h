#pragma once
// Change requests and promotions (docs/design/promotions.md): creating a promotion from
// its diff, reviews under the environments' policies, comments, close, rebase and apply.
// The rows live in the workspace store (WorkspaceStore::WriteChangeRequest); every write
// goes through Service::WriteChangeRequest (row + audit event, one transaction) and apply
// through Service::ApplyChangeSet (items + row, one commit). Concurrent writes to one
// request are compare-and-set on its version: the loser gets Aborted (412), never a lost
// update. Free of HTTP: the api maps the errors once.
//
// Thread-safety: every method may be called concurrently.
//
// Errors: InvalidArgument (bad input, a change that does not validate: code
// "change_request_invalid" at apply), NotFound (no such request), PermissionDenied (the
// author approving their own request, a role the policy does not allow),
// FailedPrecondition (code "change_request_state": not allowed in this state;
// "change_request_conflict": items changed since the base; "approvals_required";
// "nothing_to_promote"), AlreadyExists (a second review in one round), Aborted.
//
//   ChangeRequests crs(service, stores);
//   EV_ASSIGN_OR_RETURN(json::object cr, crs.Promote(actor, ws, body));  // {"id": 3, ...}
//   EV_ASSIGN_OR_RETURN(cr, crs.Review(approver, "admin", ws, 3, true, ""));
//   EV_ASSIGN_OR_RETURN(cr, crs.Apply(actor, ws, 3, may_write));

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/workspace_store_provider.h"
#include "src/workspace/service.h"

namespace edgevault::workspace {

class ChangeRequests {
 public:
  // Neither is owned; both must outlive this object.
  ChangeRequests(Service* service, storage::WorkspaceStoreProvider* stores,
                 base::Env* env = base::Env::Default())
      : service_(service), stores_(stores), env_(env) {}

  // Told about every successful Schedule (workspace id, request id, apply_at): the
  // scheduler's index (change_request_scheduler.h). Set before any call; not thread-safe.
  using ScheduleListener = std::function<void(const std::string&, int64_t, absl::Time)>;
  void SetScheduleListener(ScheduleListener listener) { on_scheduled_ = std::move(listener); }

  // body: {from, to, items?: [{kind, key}], kinds?, title, description?, dry_run?}.
  // Computes and validates the diff (change_set.h ComputePromotion); with dry_run
  // returns {"dry_run": true, "changes", "environments", "base_revision",
  // "required_approvals"} and stores nothing, else the new request (ToJson). Creating
  // needs no approval rights: the policies apply to reviews and apply.
  absl::StatusOr<boost::json::object> Promote(const Actor& actor, const storage::Workspace& ws,
                                              const boost::json::object& body);

  // body: {title, description?, changes: [...], dry_run?}: a request that proposes the
  // changes directly (docs/design/promotions.md §2b; change_set.h ComputeProposal).
  // Secret values are sealed here (Service::SealProposedSecret) and stored only sealed,
  // with their data keys, in the request's transaction; no answer shows them. Answers
  // like Promote.
  absl::StatusOr<boost::json::object> Propose(const Actor& actor, const storage::Workspace& ws,
                                              const boost::json::object& body);

  // A batch (docs/api.md "Batch writes"): body {changes: [...], environments?: [...],
  // dry_run?} with the entries of Propose (0 to kMaxBatchChanges; 0 only with
  // environments) and new environments (change_set.h WithNewEnvironments: created first,
  // in the same commit; the effect names them in `environment_settings`, so creating one
  // needs the right to administer; the answer lists them in "environments_created"),
  // applied at once as a direct write: all
  // of them in one commit, or none (Service::ApplyChangeSet with op "batch"). Every
  // change is validated against the workspace with the earlier ones applied, then
  // `authorize` (the caller's right for a direct write, as for single writes) is asked
  // once with the effect of the whole set. Secret values are sealed here and re-sealed
  // for their revisions; nothing else stores them. Answers {"revision", "changes": N,
  // "environments", "items": [{kind, key, environment?, action}]}; with dry_run the same
  // with "dry_run": true and "base_revision" instead of "revision": every check of the
  // apply is made (ApplyChangeSet's dry_run: `authorize` on the effect, If-Match, the item
  // limit), nothing is sealed or stored, so its errors are the apply's. N is 0
  // (and revision the head) when every entry is already as given.
  // Errors: as Propose for the body (InvalidArgument naming `changes[i]`), then as
  // ApplyChangeSet (FailedPrecondition "batch_conflict" when an item moved meanwhile;
  // `if_match`: the head the caller read, as for single writes).
  absl::StatusOr<boost::json::object> Batch(const Actor& actor, const storage::Workspace& ws,
                                            const boost::json::object& body, std::string reason,
                                            std::optional<int64_t> if_match, const WriteAuthorizer& authorize);

  // The request with its changes, reviews, comments, current approvals and required count.
  absl::StatusOr<boost::json::object> Show(const storage::Workspace& ws, int64_t id);
  // Newest first, ids < before (0: from the newest), without changes/reviews/comments.
  absl::StatusOr<boost::json::array> List(const storage::Workspace& ws, int64_t before, int limit);

  // approve = true: approves (state → approved once the required count is reached);
  // false: rejects (final). `role` is the reviewer's role name ("viewer", "developer",
  // "admin", "owner"); the author never reviews their own request, a viewer never
  // reviews, and the role must be in approver_roles of every touched environment that has
  // a policy. Allowed in open, approved and scheduled (an approval keeps it scheduled; a
  // rejection ends the schedule).
  absl::StatusOr<boost::json::object> Review(const Actor& actor, std::string_view role,
                                             const storage::Workspace& ws, int64_t id, bool approve,
                                             std::string comment);
  absl::StatusOr<boost::json::object> Comment(const Actor& actor, const storage::Workspace& ws, int64_t id,
                                              std::string text);
  // The author, or an admin (`is_admin`). Allowed in open, approved, scheduled and failed.
  absl::StatusOr<boost::json::object> Close(const Actor& actor, bool is_admin, const storage::Workspace& ws,
                                            int64_t id);
  // Recomputes the diff against the current workspace; approvals reset (a new round) and a
  // schedule is cleared. Allowed in open, approved, scheduled and failed.
  absl::StatusOr<boost::json::object> Rebase(const Actor& actor, const storage::Workspace& ws, int64_t id);
  // Opens a new change request that restores every item an applied request changed
  // (change_set.h ComputeRevert), reviewed and applied like any other. Allowed in applied.
  absl::StatusOr<boost::json::object> Revert(const Actor& actor, const storage::Workspace& ws, int64_t id);
  // Applies it (Service::ApplyChangeSet). `may_write` is the caller's own authorization
  // on the effect (protected environments); the approvals are checked against the
  // policies of the environments the apply touches, as they are now. A change that no
  // longer validates marks the request failed (and writes no item). Allowed in open, approved
  // and scheduled (applying a scheduled one now: the scheduler then finds it applied).
  absl::StatusOr<boost::json::object> Apply(const Actor& actor, const storage::Workspace& ws, int64_t id,
                                            const WriteAuthorizer& may_write);

  // Scheduled apply (docs/design/promotions.md §5a). With `apply_at`: an approved (or
  // already scheduled) request becomes "scheduled" for that time, on behalf of `actor`;
  // `grant` (opaque here, e.g. the caller's role and scopes) is stored with it and handed
  // back to the scheduler to authorize that actor at apply time. The caller must be able
  // to apply it now: enough approvals under the policies as they are now (FailedPrecondition
  // "approvals_required"), and `may_write` on the planned environments (protected ones
  // as they are now). apply_at must be after now and at most kMaxScheduleAhead ahead
  // (InvalidArgument). Without `apply_at`: a scheduled request returns to "approved".
  static constexpr absl::Duration kMaxScheduleAhead = absl::Hours(24 * 366);
  absl::StatusOr<boost::json::object> Schedule(const Actor& actor, const storage::Workspace& ws, int64_t id,
                                               std::optional<absl::Time> apply_at, boost::json::object grant,
                                               const WriteAuthorizer& may_write);
  // The scheduler's apply of a request that is due: only when it is still "scheduled" with
  // apply_at <= `now` (else FailedPrecondition "change_request_state" and nothing happens). Applies it
  // as the actor who scheduled it (revisions' reason and the audit event say "scheduled");
  // `may_write` is that actor's right now. A refusal (no longer valid, conflict, missing
  // approvals or rights) marks the request "failed" with the reason and returns it; the
  // other errors (Aborted, Unavailable, ...) leave it scheduled for a retry.
  absl::StatusOr<boost::json::object> ApplyScheduled(const storage::Workspace& ws, int64_t id, absl::Time now,
                                                     const WriteAuthorizer& may_write);
  // Who scheduled `cr` and the grant stored with it (nullopt when it is not scheduled).
  struct ScheduleGrant {
    std::string by;
    boost::json::object grant;
  };
  static std::optional<ScheduleGrant> GrantOf(const storage::ChangeRequest& cr);

 private:
  // What every new request has besides its changes.
  struct Draft {
    std::string title;
    std::string description;
    bool dry_run = false;
  };
  static absl::StatusOr<Draft> ReadDraft(const boost::json::object& body);
  // Replaces each secret value of `changes` by {"sealed": "<proposal id>"}, sealed
  // (Service::SealProposedSecret) unless `dry_run`; the envelopes (base64) by id in
  // `sealed`, their data keys in `data_keys`.
  absl::Status SealSecretValues(const storage::Workspace& ws, boost::json::array& changes, bool dry_run,
                                boost::json::object& sealed, std::vector<storage::DataKeyRow>& data_keys);
  // Stores a new request with body `planned` (or, for a dry run, returns it with the
  // required approvals and without its sealed values).
  absl::StatusOr<boost::json::object> Create(const Actor& actor, const storage::Workspace& ws, Draft draft,
                                             boost::json::object planned, const PlannedChangeSet& plan, int64_t head,
                                             boost::json::object details, std::vector<storage::DataKeyRow> data_keys);
  absl::StatusOr<boost::json::object> ApplyLoaded(const Actor& actor, const storage::Workspace& ws,
                                                  const storage::ChangeRequest& cr, const WriteAuthorizer& may_write,
                                                  std::string_view reason_suffix, bool scheduled);
  absl::StatusOr<storage::ChangeRequest> Load(const storage::Workspace& ws, int64_t id);
  // The diff of a stored request's body ({"type", "request"}) against the workspace now.
  absl::StatusOr<PlannedChangeSet> Plan(const storage::Workspace& ws, const boost::json::object& body,
                                        const ChangeSetInput& in);
  // The request as JSON; with `detail`, its reviews and comments too.
  absl::StatusOr<boost::json::object> ToJson(const storage::Workspace& ws, const storage::ChangeRequest& cr,
                                             bool detail);

  Service* service_;
  storage::WorkspaceStoreProvider* stores_;
  base::Env* env_;
  ScheduleListener on_scheduled_;
};

}  // namespace edgevault::workspace
