#include "src/workspace/change_requests.h"

#include <algorithm>
#include <map>
#include <set>

#include "src/base/encoding.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

constexpr size_t kMaxTitle = 200;
constexpr size_t kMaxDescription = 4000;
constexpr size_t kMaxComment = 4000;

using base::WithErrorCode;

absl::Status WrongState(const storage::ChangeRequest& cr, std::string_view what) {
  return WithErrorCode(absl::FailedPreconditionError(base::ToAbsl(
                      "change request #" + std::to_string(cr.id) + " is " + cr.state + "; it cannot be " +
                      std::string(what))),
                  "change_request_state");
}

bool In(std::string_view state, std::initializer_list<std::string_view> states) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

std::string Time(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

// Leaving "scheduled" (or never in it): no apply time, no grant.
void ClearSchedule(storage::ChangeRequest& row) {
  row.apply_at.reset();
  row.schedule.clear();
}

json::object ParseBody(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return !ec && v.is_object() ? std::move(v.as_object()) : json::object();
}

std::set<std::string> Environments(const json::object& body) {
  std::set<std::string> out;
  if (const json::value* v = body.if_contains("environments"); v != nullptr && v->is_array()) {
    for (const json::value& e : v->get_array()) {
      if (e.is_string()) out.insert(std::string(e.get_string()));
    }
  }
  return out;
}

std::string JoinSet(const std::set<std::string>& s, std::string_view sep) {
  std::string out;
  for (const std::string& x : s) {
    if (!out.empty()) out += sep;
    out += x;
  }
  return out;
}

json::array ToArray(const std::set<std::string>& s) {
  json::array a;
  for (const std::string& x : s) a.emplace_back(x);
  return a;
}

// The stored body of a request: its request, its exact changes, what they touch.
json::object PlanBody(std::string_view type, json::value request, const PlannedChangeSet& plan) {
  json::array changes;
  for (const PlannedChange& c : plan.changes) changes.push_back(PlannedChangeToJson(c));
  return {{"type", type},
          {"request", std::move(request)},
          {"changes", std::move(changes)},
          {"environments", ToArray(plan.environments)}};
}

// The required count and the reviewer roles for a set of environments, from their
// policies: the maximum count, and the roles every policy allows.
struct Requirement {
  int approvals = 0;
  std::optional<std::set<std::string>> roles;  // nullopt: no policy (any reviewer role)
};

Requirement RequirementOf(const std::map<std::string, EnvironmentPolicy>& policies) {
  Requirement r;
  for (const auto& [env, p] : policies) {
    r.approvals = std::max(r.approvals, p.required_approvals);
    std::set<std::string> roles(p.approver_roles.begin(), p.approver_roles.end());
    if (!r.roles) {
      r.roles = roles;
    } else {
      std::set<std::string> both;
      for (const std::string& x : *r.roles) {
        if (roles.contains(x)) both.insert(x);
      }
      r.roles = both;
    }
  }
  return r;
}

// FailedPrecondition "approvals_required" unless `approvals` meet the policies.
absl::Status EnoughApprovals(int64_t id, size_t approvals, const std::map<std::string, EnvironmentPolicy>& policies) {
  const int required = RequirementOf(policies).approvals;
  if (static_cast<int>(approvals) >= required) return absl::OkStatus();
  return WithErrorCode(absl::FailedPreconditionError(base::ToAbsl(
                      "change request #" + std::to_string(id) + " has " + std::to_string(approvals) + " of the " +
                      std::to_string(required) + " approvals its environments require")),
                  "approvals_required");
}

absl::StatusOr<std::map<std::string, EnvironmentPolicy>> PoliciesNow(Service& service, const storage::Workspace& ws,
                                                                     const std::set<std::string>& envs) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, service.ListEnvironments(ws));
  EV_ASSIGN_OR_RETURN(EnvironmentSet set, EnvironmentSet::FromItems(items));
  std::map<std::string, EnvironmentPolicy> out;
  for (const std::string& e : envs) {
    const Environment* env = set.Find(e);
    if (env != nullptr && env->policy) out.emplace(e, *env->policy);
  }
  return out;
}

std::set<std::string> Approvers(const std::vector<storage::ChangeRequestReview>& reviews, int64_t round) {
  std::set<std::string> out;
  for (const auto& r : reviews) {
    if (r.round == round && r.decision == "approve") out.insert(r.actor);
  }
  return out;
}

absl::StatusOr<std::string> Text(const json::object& body, std::string_view field, size_t max, bool required) {
  const json::value* v = body.if_contains(field);
  if (v == nullptr || v->is_null()) {
    if (required) return absl::InvalidArgumentError(base::ToAbsl("field '" + std::string(field) + "': is required"));
    return std::string();
  }
  if (!v->is_string() || v->get_string().size() > max ||
      (required && std::string_view(v->get_string()).find_first_not_of(" \t\r\n") == std::string_view::npos)) {
    return absl::InvalidArgumentError(base::ToAbsl("field '" + std::string(field) + "': must be " +
                                                   (required ? "a non-empty" : "a") + " string of at most " +
                                                   std::to_string(max) + " bytes"));
  }
  return std::string(v->get_string());
}

}  // namespace

absl::StatusOr<storage::ChangeRequest> ChangeRequests::Load(const storage::Workspace& ws, int64_t id) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  absl::StatusOr<storage::ChangeRequest> cr = store->GetChangeRequest(id);
  if (absl::IsNotFound(cr.status())) {
    return absl::NotFoundError(base::ToAbsl("no change request #" + std::to_string(id)));
  }
  return cr;
}

absl::StatusOr<json::object> ChangeRequests::ToJson(const storage::Workspace& ws, const storage::ChangeRequest& cr,
                                                     bool detail) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  json::object body = ParseBody(cr.body);
  EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequestReview> reviews, store->ListChangeRequestReviews(cr.id));
  EV_ASSIGN_OR_RETURN(auto policies, PoliciesNow(*service_, ws, Environments(body)));
  json::object o{{"id", cr.id},
                 {"title", cr.title},
                 {"description", cr.description},
                 {"author", cr.author},
                 {"state", cr.state},
                 {"base_revision", cr.base_revision},
                 {"round", cr.round},
                 {"created_at", Time(cr.created_at)},
                 {"updated_at", Time(cr.updated_at)}};
  if (!cr.state_reason.empty()) o["state_reason"] = cr.state_reason;
  if (cr.applied_revision > 0) o["applied_revision"] = cr.applied_revision;
  if (cr.apply_at) o["apply_at"] = Time(*cr.apply_at);
  if (std::optional<ScheduleGrant> g = GrantOf(cr)) o["scheduled_by"] = g->by;
  for (const char* member : {"type", "request", "environments", "changes"}) {
    if (const json::value* v = body.if_contains(member)) o[member] = *v;
  }
  o["approvals"] = ToArray(Approvers(reviews, cr.round));
  o["required_approvals"] = RequirementOf(policies).approvals;
  if (detail) {
    json::array rv;
    for (const auto& r : reviews) {
      json::object x{{"round", r.round}, {"actor", r.actor}, {"decision", r.decision}, {"time", Time(r.time)}};
      if (!r.comment.empty()) x["comment"] = r.comment;
      rv.push_back(std::move(x));
    }
    o["reviews"] = std::move(rv);
    EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequestComment> comments, store->ListChangeRequestComments(cr.id));
    json::array cm;
    for (const auto& c : comments) {
      cm.push_back(json::object{{"id", c.id}, {"actor", c.actor}, {"text", c.text}, {"time", Time(c.time)}});
    }
    o["comments"] = std::move(cm);
  }
  return o;
}

namespace {

absl::Status RejectUnknown(const json::object& body, std::initializer_list<std::string_view> known) {
  for (const auto& kv : body) {
    if (std::find(known.begin(), known.end(), kv.key()) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return absl::InvalidArgumentError(
        base::ToAbsl("field '" + std::string(kv.key()) + "': is not a known field (known: " + list + ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ChangeRequests::Draft> ChangeRequests::ReadDraft(const json::object& body) {
  Draft d;
  if (const json::value* v = body.if_contains("dry_run"); v != nullptr && !v->is_null()) {
    if (!v->is_bool()) return absl::InvalidArgumentError("field 'dry_run': must be a boolean");
    d.dry_run = v->get_bool();
  }
  if (!d.dry_run) {
    EV_ASSIGN_OR_RETURN(d.title, Text(body, "title", kMaxTitle, true));
  }
  EV_ASSIGN_OR_RETURN(d.description, Text(body, "description", kMaxDescription, false));
  return d;
}

absl::StatusOr<json::object> ChangeRequests::Create(const Actor& actor, const storage::Workspace& ws, Draft draft,
                                                    json::object planned, const PlannedChangeSet& plan, int64_t head,
                                                    json::object details, std::vector<storage::DataKeyRow> data_keys) {
  EV_ASSIGN_OR_RETURN(auto policies, PoliciesNow(*service_, ws, plan.environments));
  Requirement req = RequirementOf(policies);
  if (draft.dry_run) {
    planned.erase("sealed");
    planned["dry_run"] = true;
    planned["base_revision"] = head;
    planned["required_approvals"] = req.approvals;
    return planned;
  }
  storage::ChangeRequestWrite w;
  w.row.title = std::move(draft.title);
  w.row.description = std::move(draft.description);
  w.row.author = actor.id;
  w.row.state = req.approvals == 0 ? "approved" : "open";
  w.row.base_revision = head;
  w.row.body = json::serialize(planned);
  w.data_keys = std::move(data_keys);
  details["changes"] = static_cast<int64_t>(plan.changes.size());
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr,
                      service_->WriteChangeRequest(actor, ws, std::move(w), "workspace.change_request.create",
                                                   std::move(details), JoinSet(plan.environments, ",")));
  return ToJson(ws, cr, false);
}

absl::StatusOr<json::object> ChangeRequests::Promote(const Actor& actor, const storage::Workspace& ws,
                                                     const json::object& body) {
  EV_RETURN_IF_ERROR(RejectUnknown(body, {"from", "to", "items", "kinds", "title", "description", "dry_run"}));
  EV_ASSIGN_OR_RETURN(PromotionRequest request, ParsePromotionRequest(body));
  EV_ASSIGN_OR_RETURN(Draft draft, ReadDraft(body));
  EV_ASSIGN_OR_RETURN(ChangeSetInput in, service_->ReadChangeSetInput(ws));
  EV_ASSIGN_OR_RETURN(PlannedChangeSet plan, ComputePromotion(request, in));
  return Create(actor, ws, std::move(draft), PlanBody("promotion", PromotionRequestToJson(request), plan), plan,
                in.head, {{"from", request.from}, {"to", request.to}}, {});
}

absl::StatusOr<json::object> ChangeRequests::Propose(const Actor& actor, const storage::Workspace& ws,
                                                     const json::object& body) {
  EV_RETURN_IF_ERROR(RejectUnknown(body, {"changes", "title", "description", "dry_run"}));
  EV_ASSIGN_OR_RETURN(Draft draft, ReadDraft(body));
  const json::value* changes_v = body.if_contains("changes");
  if (changes_v == nullptr || !changes_v->is_array()) {
    return absl::InvalidArgumentError("field 'changes': must be a list of changes (see the API guide)");
  }
  if (changes_v->get_array().empty() || changes_v->get_array().size() > kMaxProposedChanges) {
    return absl::InvalidArgumentError("field 'changes': must list 1 to " + std::to_string(kMaxProposedChanges) +
                                      " changes");
  }
  // Secret values are sealed before anything is stored or planned: the stored request
  // names them by proposal id, and only the api opens them, at apply.
  json::array stored = changes_v->get_array();
  json::object sealed;
  std::vector<storage::DataKeyRow> data_keys;
  EV_RETURN_IF_ERROR(SealSecretValues(ws, stored, draft.dry_run, sealed, data_keys));
  EV_ASSIGN_OR_RETURN(ChangeSetInput in, service_->ReadChangeSetInput(ws));
  EV_ASSIGN_OR_RETURN(PlannedChangeSet plan, ComputeProposal(stored, in));
  json::object planned = PlanBody("change", json::object{{"changes", stored}}, plan);
  if (!sealed.empty()) planned["sealed"] = std::move(sealed);
  return Create(actor, ws, std::move(draft), std::move(planned), plan, in.head, {}, std::move(data_keys));
}

absl::Status ChangeRequests::SealSecretValues(const storage::Workspace& ws, json::array& stored, bool dry_run,
                                              json::object& sealed, std::vector<storage::DataKeyRow>& data_keys) {
  for (size_t i = 0; i < stored.size(); ++i) {
    json::object* e = stored[i].if_object();
    const json::value* kind = e == nullptr ? nullptr : e->if_contains("kind");
    json::value* value = e == nullptr ? nullptr : e->if_contains("value");
    if (kind == nullptr || !kind->is_string() || kind->get_string() != "secret" || value == nullptr || value->is_null()) {
      continue;
    }
    const json::value* key = e->if_contains("key");
    const json::value* env = e->if_contains("environment");
    if (!value->is_string() || key == nullptr || !key->is_string() || env == nullptr || !env->is_string()) {
      return absl::InvalidArgumentError(base::ToAbsl("changes[" + std::to_string(i) +
                                                      "]: a secret value must be a string (or null to remove it), "
                                                      "with its key and environment"));
    }
    if (dry_run) {
      *value = json::object{{"sealed", "dry-run-" + std::to_string(i)}};  // never sealed nor stored
      continue;
    }
    EV_ASSIGN_OR_RETURN(Service::SealedProposal p,
                        service_->SealProposedSecret(ws, std::string(key->get_string()),
                                                     std::string(env->get_string()), value->get_string()));
    sealed[p.id] = base::Base64Encode(p.envelope);
    data_keys.push_back(std::move(p.data_key));
    *value = json::object{{"sealed", p.id}};
  }
  return absl::OkStatus();
}

absl::StatusOr<json::object> ChangeRequests::Batch(const Actor& actor, const storage::Workspace& ws,
                                                   const json::object& body, std::string reason,
                                                   std::optional<int64_t> if_match, const WriteAuthorizer& authorize) {
  EV_RETURN_IF_ERROR(RejectUnknown(body, {"changes", "environments", "dry_run"}));
  bool dry_run = false;
  if (const json::value* d = body.if_contains("dry_run")) {
    if (!d->is_bool()) return absl::InvalidArgumentError("field 'dry_run': must be true or false");
    dry_run = d->get_bool();
  }
  const json::value* changes_v = body.if_contains("changes");
  if (changes_v == nullptr || !changes_v->is_array()) {
    return absl::InvalidArgumentError("field 'changes': must be a list of changes (see the API guide)");
  }
  json::array stored = changes_v->get_array();
  // Environments created first, in the same commit (docs/api.md "Batch writes").
  std::vector<json::object> new_envs;
  if (const json::value* e = body.if_contains("environments"); e != nullptr && !e->is_null()) {
    if (!e->is_array()) {
      return absl::InvalidArgumentError("field 'environments': must be a list of new environments "
                                        "({key, name?, parent?, protected?})");
    }
    for (size_t i = 0; i < e->get_array().size(); ++i) {
      const json::value& env = e->get_array()[i];
      if (!env.is_object()) {
        return absl::InvalidArgumentError("environments[" + std::to_string(i) + "]: must be an object");
      }
      new_envs.push_back(env.get_object());
    }
  }
  json::object sealed;
  std::vector<storage::DataKeyRow> data_keys;
  if (stored.size() <= kMaxBatchChanges) {
    EV_RETURN_IF_ERROR(SealSecretValues(ws, stored, dry_run, sealed, data_keys));
  }
  EV_ASSIGN_OR_RETURN(ChangeSetInput in, service_->ReadChangeSetInput(ws));
  std::vector<Environment> created;
  EV_ASSIGN_OR_RETURN(in.envs, WithNewEnvironments(in.envs, new_envs, &created));
  json::array created_keys;
  for (const Environment& env : created) created_keys.emplace_back(env.key);
  absl::StatusOr<PlannedChangeSet> plan =
      stored.empty() && !new_envs.empty() ? PlannedChangeSet{} : ComputeProposal(stored, in, kMaxBatchChanges);
  if (!plan.ok() && base::ErrorCode(plan.status()) == "nothing_to_change") {
    if (new_envs.empty()) {
      return json::object{{"revision", in.head}, {"changes", 0}, {"environments", json::array()},
                          {"items", json::array()}};
    }
    plan = PlannedChangeSet{};  // the environments alone
  }
  EV_RETURN_IF_ERROR(plan.status());
  for (const Environment& env : created) plan->environments.insert(env.key);
  json::array items;
  for (const PlannedChange& c : plan->changes) {
    json::object item{{"kind", storage::ItemKindName(c.kind)}, {"key", c.key}};
    if (!c.environment.empty()) item["environment"] = c.environment;
    item["action"] = c.delete_item ? "delete" : c.expected_revision == 0 ? "create" : "update";
    items.push_back(std::move(item));
  }
  json::object out{{"changes", static_cast<int64_t>(plan->changes.size())}, {"environments", ToArray(plan->environments)},
                   {"items", std::move(items)}};
  if (!created.empty()) out["environments_created"] = std::move(created_keys);
  Service::ChangeSetApply apply;
  apply.changes = std::move(plan->changes);
  apply.new_environments = std::move(new_envs);
  apply.reason = std::move(reason);
  apply.op = "batch";
  apply.if_match = if_match;
  if (dry_run) {
    // Checked as the apply would be (authorization on the effect, the leak policy, the
    // item limit, If-Match), under the write lock; nothing is sealed or written.
    apply.dry_run = true;
    EV_ASSIGN_OR_RETURN(int64_t head, service_->ApplyChangeSet(actor, ws, std::move(apply), authorize));
    out["dry_run"] = true;
    out["base_revision"] = head;
    return out;
  }
  for (const auto& kv : sealed) {
    EV_ASSIGN_OR_RETURN(std::string envelope, base::Base64Decode(std::string(kv.value().get_string())));
    apply.proposals.emplace(std::string(kv.key()), std::move(envelope));
  }
  apply.proposal_data_keys = std::move(data_keys);
  EV_ASSIGN_OR_RETURN(int64_t head, service_->ApplyChangeSet(actor, ws, std::move(apply), authorize));
  out["revision"] = head;
  return out;
}

absl::StatusOr<json::object> ChangeRequests::Show(const storage::Workspace& ws, int64_t id) {
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  return ToJson(ws, cr, true);
}

absl::StatusOr<json::array> ChangeRequests::List(const storage::Workspace& ws, int64_t before, int limit) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequest> rows, store->ListChangeRequests(before, limit));
  json::array out;
  for (const auto& cr : rows) {
    EV_ASSIGN_OR_RETURN(json::object o, ToJson(ws, cr, false));
    o.erase("changes");
    out.push_back(std::move(o));
  }
  return out;
}

absl::StatusOr<json::object> ChangeRequests::Review(const Actor& actor, std::string_view role,
                                                    const storage::Workspace& ws, int64_t id, bool approve,
                                                    std::string comment) {
  if (comment.size() > kMaxComment) {
    return absl::InvalidArgumentError(base::ToAbsl("field 'comment': at most " + std::to_string(kMaxComment) + " bytes"));
  }
  if (actor.id.rfind("key:", 0) == 0) {
    // An API key is not a person: its owner could approve their own request with it, or
    // count twice with two keys.
    return absl::PermissionDeniedError("change requests are reviewed by people: sign in instead of using an API key");
  }
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  // Parallel reviews of one request: the loser of the compare-and-set reads again.
  absl::StatusOr<storage::ChangeRequest> written;
  for (int attempt = 0; attempt < 5; ++attempt) {
    EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
    const char* verb = approve ? "approved" : "rejected";
    if (!In(cr.state, {"open", "approved", "scheduled"})) return WrongState(cr, verb);
    if (cr.author == actor.id) {
      return absl::PermissionDeniedError("the author of a change request never reviews it; ask another reviewer");
    }
    if (role == "viewer") return absl::PermissionDeniedError("viewers cannot review change requests");
    std::set<std::string> envs = Environments(ParseBody(cr.body));
    EV_ASSIGN_OR_RETURN(auto policies, PoliciesNow(*service_, ws, envs));
    Requirement req = RequirementOf(policies);
    if (req.roles && !req.roles->contains(std::string(role))) {
      return absl::PermissionDeniedError(base::ToAbsl(
          "reviewing this change request needs one of the roles " +
          JoinSet(*req.roles, ", ") +
          " (the policies of " + JoinSet(envs, ", ") + "); you are " +
          std::string(role)));
    }
    EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequestReview> reviews, store->ListChangeRequestReviews(cr.id));
    std::set<std::string> approvers = Approvers(reviews, cr.round);
    storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
    w.review = storage::ChangeRequestReview{.change_request_id = cr.id, .round = cr.round, .actor = actor.id,
                                            .decision = approve ? "approve" : "reject", .comment = comment};
    if (approve) {
      approvers.insert(actor.id);
      // A scheduled request stays scheduled: one more approval changes nothing else.
      if (static_cast<int>(approvers.size()) >= req.approvals && cr.state != "scheduled") w.row.state = "approved";
    } else {
      w.row.state = "rejected";
      ClearSchedule(w.row);
      w.row.state_reason = comment.empty() ? "rejected by " + actor.id : comment;
    }
    written =
        service_->WriteChangeRequest(actor, ws, std::move(w),
                                     approve ? "workspace.change_request.approve" : "workspace.change_request.reject",
                                     {{"round", cr.round}, {"approvals", static_cast<int64_t>(approvers.size())}},
                                     JoinSet(envs, ","));
    if (!absl::IsAborted(written.status())) break;
  }
  if (absl::IsAlreadyExists(written.status())) {
    return absl::AlreadyExistsError("you already reviewed this change request (approvals count once per user)");
  }
  EV_RETURN_IF_ERROR(written.status());
  return ToJson(ws, *written, false);
}

absl::StatusOr<json::object> ChangeRequests::Comment(const Actor& actor, const storage::Workspace& ws, int64_t id,
                                                     std::string text) {
  if (text.empty() || text.size() > kMaxComment) {
    return absl::InvalidArgumentError(base::ToAbsl("field 'text': must be 1 to " + std::to_string(kMaxComment) + " bytes"));
  }
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
  w.comment = storage::ChangeRequestComment{.change_request_id = cr.id, .actor = actor.id, .text = std::move(text)};
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest written,
                      service_->WriteChangeRequest(actor, ws, std::move(w), "workspace.change_request.comment", {}, ""));
  return ToJson(ws, written, true);
}

absl::StatusOr<json::object> ChangeRequests::Close(const Actor& actor, bool is_admin, const storage::Workspace& ws,
                                                   int64_t id) {
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  if (!In(cr.state, {"open", "approved", "scheduled", "failed"})) return WrongState(cr, "closed");
  if (cr.author != actor.id && !is_admin) {
    return absl::PermissionDeniedError("only the author or an admin closes a change request");
  }
  storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
  w.row.state = "closed";
  w.row.state_reason = "closed by " + actor.id;
  ClearSchedule(w.row);
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest written,
                      service_->WriteChangeRequest(actor, ws, std::move(w), "workspace.change_request.close", {}, ""));
  return ToJson(ws, written, false);
}

absl::StatusOr<json::object> ChangeRequests::Rebase(const Actor& actor, const storage::Workspace& ws, int64_t id) {
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  if (!In(cr.state, {"open", "approved", "scheduled", "failed"})) return WrongState(cr, "rebased");
  json::object body = ParseBody(cr.body);
  EV_ASSIGN_OR_RETURN(ChangeSetInput in, service_->ReadChangeSetInput(ws));
  EV_ASSIGN_OR_RETURN(PlannedChangeSet plan, Plan(ws, body, in));
  EV_ASSIGN_OR_RETURN(auto policies, PoliciesNow(*service_, ws, plan.environments));
  storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
  json::object rebased = PlanBody(body["type"].is_string() ? std::string(body["type"].get_string()) : "promotion",
                                  body["request"], plan);
  if (const json::value* sealed = body.if_contains("sealed")) rebased["sealed"] = *sealed;  // the proposed secret values
  w.row.body = json::serialize(rebased);
  w.row.base_revision = in.head;
  w.row.round = cr.round + 1;
  w.row.state = RequirementOf(policies).approvals == 0 ? "approved" : "open";
  w.row.state_reason.clear();
  ClearSchedule(w.row);  // a new diff is reviewed and scheduled anew
  json::object details{{"base_revision", in.head}, {"round", cr.round + 1}};
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest written,
                      service_->WriteChangeRequest(actor, ws, std::move(w), "workspace.change_request.rebase",
                                                   std::move(details), JoinSet(plan.environments, ",")));
  return ToJson(ws, written, false);
}

absl::StatusOr<PlannedChangeSet> ChangeRequests::Plan(const storage::Workspace& ws, const json::object& body,
                                                      const ChangeSetInput& in) {
  const json::value* req_v = body.if_contains("request");
  const json::value* type = body.if_contains("type");
  if (req_v == nullptr || !req_v->is_object() || type == nullptr || !type->is_string()) {
    return absl::DataLossError("the stored change request has no request");
  }
  if (type->get_string() == "promotion") {
    EV_ASSIGN_OR_RETURN(PromotionRequest request, ParsePromotionRequest(req_v->get_object()));
    return ComputePromotion(request, in);
  }
  if (type->get_string() == "change") {
    const json::value* changes = req_v->get_object().if_contains("changes");
    if (changes == nullptr || !changes->is_array()) return absl::DataLossError("the stored change request has no changes");
    return ComputeProposal(changes->get_array(), in);
  }
  const json::value* of = req_v->get_object().if_contains("revert_of");
  if (type->get_string() != "revert" || of == nullptr || !of->is_int64()) {
    return absl::DataLossError("the stored change request has an unknown type");
  }
  // The revisions the reverted request's apply wrote: its last revision and the ones
  // before it, one per change.
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest reverted, Load(ws, of->get_int64()));
  json::object reverted_body = ParseBody(reverted.body);
  const json::value* changes = reverted_body.if_contains("changes");
  int64_t n = changes != nullptr && changes->is_array() ? static_cast<int64_t>(changes->get_array().size()) : 0;
  if (reverted.state != "applied" || n < 1 || n > 1000) {
    return WrongState(reverted, "reverted (only an applied change request is)");
  }
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  EV_ASSIGN_OR_RETURN(std::vector<storage::Revision> revs,
                      store->ListRevisions(reverted.applied_revision - n, static_cast<int>(n)));
  return ComputeRevert(revs, in);
}

absl::StatusOr<json::object> ChangeRequests::Revert(const Actor& actor, const storage::Workspace& ws, int64_t id) {
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  if (cr.state != "applied") return WrongState(cr, "reverted (only an applied change request is)");
  json::object request{{"revert_of", id}};
  EV_ASSIGN_OR_RETURN(ChangeSetInput in, service_->ReadChangeSetInput(ws));
  EV_ASSIGN_OR_RETURN(PlannedChangeSet plan, Plan(ws, json::object{{"type", "revert"}, {"request", request}}, in));
  Draft draft{.title = ("Revert #" + std::to_string(id) + ": " + cr.title).substr(0, kMaxTitle),
              .description = "Restores every item change request #" + std::to_string(id) + " changed."};
  return Create(actor, ws, std::move(draft), PlanBody("revert", request, plan), plan, in.head, {{"revert_of", id}}, {});
}

absl::StatusOr<json::object> ChangeRequests::Apply(const Actor& actor, const storage::Workspace& ws, int64_t id,
                                                   const WriteAuthorizer& may_write) {
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  // A scheduled request may also be applied now: the scheduler then finds it applied.
  if (!In(cr.state, {"open", "approved", "scheduled"})) return WrongState(cr, "applied");
  return ApplyLoaded(actor, ws, cr, may_write, "", false);
}

absl::StatusOr<json::object> ChangeRequests::ApplyLoaded(const Actor& actor, const storage::Workspace& ws,
                                                         const storage::ChangeRequest& cr,
                                                         const WriteAuthorizer& may_write,
                                                         std::string_view reason_suffix, bool scheduled) {
  const int64_t id = cr.id;
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  json::object body = ParseBody(cr.body);
  std::set<std::string> planned_envs = Environments(body);
  Service::ChangeSetApply set;
  if (const json::value* changes = body.if_contains("changes"); changes != nullptr && changes->is_array()) {
    for (const json::value& c : changes->get_array()) {
      EV_ASSIGN_OR_RETURN(PlannedChange change, PlannedChangeFromJson(c));
      set.changes.push_back(std::move(change));
    }
  }
  if (const json::value* sealed = body.if_contains("sealed"); sealed != nullptr && sealed->is_object()) {
    for (const auto& kv : sealed->get_object()) {
      if (!kv.value().is_string()) continue;
      EV_ASSIGN_OR_RETURN(std::string envelope, base::Base64Decode(std::string(kv.value().get_string())));
      set.proposals.emplace(std::string(kv.key()), std::move(envelope));
    }
  }
  EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequestReview> reviews, store->ListChangeRequestReviews(cr.id));
  const size_t approvals = Approvers(reviews, cr.round).size();
  set.reason = "change request #" + std::to_string(cr.id) + ": " + cr.title + std::string(reason_suffix);
  set.change_request_id = cr.id;
  set.change_request = storage::ChangeRequestWrite{.row = cr, .expected_version = cr.version};
  set.change_request.row.state = "applied";
  set.change_request.row.state_reason.clear();
  ClearSchedule(set.change_request.row);
  // Decided under the write lock, on the effect the apply actually has and the policies
  // as they are now: enough approvals for every touched environment, then the caller's
  // own right to write there.
  WriteAuthorizer authorize = [&](const WriteEffect& effect) -> absl::Status {
    for (const std::string& e : effect.environments) {
      if (!planned_envs.contains(e)) {
        return WithErrorCode(absl::FailedPreconditionError(base::ToAbsl(
                            "applying now would also change \"" + e +
                            "\", which the change request was not reviewed for; rebase it")),
                        "change_request_conflict");
      }
    }
    EV_RETURN_IF_ERROR(EnoughApprovals(cr.id, approvals, effect.policies));
    return may_write(effect);
  };
  absl::StatusOr<int64_t> head = service_->ApplyChangeSet(actor, ws, std::move(set), authorize);
  if (absl::IsInvalidArgument(head.status())) {
    // No longer valid: nothing was written; the request is marked failed with the reason.
    storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
    w.row.state = "failed";
    w.row.state_reason = std::string(head.status().message());
    ClearSchedule(w.row);
    json::object details{{"reason", std::string(head.status().message())}};
    if (scheduled) details["scheduled"] = true;
    absl::Status marked = service_->WriteChangeRequest(actor, ws, std::move(w), "workspace.change_request.fail",
                                                       std::move(details), "")
                              .status();
    if (!marked.ok() && !absl::IsAborted(marked)) return marked;
    return WithErrorCode(absl::InvalidArgumentError(base::ToAbsl("change request #" + std::to_string(cr.id) +
                                                            " no longer validates, nothing was written: " +
                                                            std::string(head.status().message()))),
                    "change_request_invalid");
  }
  EV_RETURN_IF_ERROR(head.status());
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest applied, Load(ws, id));
  return ToJson(ws, applied, false);
}

std::optional<ChangeRequests::ScheduleGrant> ChangeRequests::GrantOf(const storage::ChangeRequest& cr) {
  if (cr.state != "scheduled" || cr.schedule.empty()) return std::nullopt;
  json::object o = ParseBody(cr.schedule);
  const json::value* by = o.if_contains("by");
  const json::value* grant = o.if_contains("grant");
  if (by == nullptr || !by->is_string()) return std::nullopt;
  return ScheduleGrant{std::string(by->get_string()), grant != nullptr && grant->is_object() ? grant->get_object() : json::object()};
}

absl::StatusOr<json::object> ChangeRequests::Schedule(const Actor& actor, const storage::Workspace& ws, int64_t id,
                                                      std::optional<absl::Time> apply_at, json::object grant,
                                                      const WriteAuthorizer& may_write) {
  const absl::Time now = env_->Now();
  if (apply_at && (*apply_at <= now || *apply_at > now + kMaxScheduleAhead)) {
    return absl::InvalidArgumentError(base::ToAbsl(
        "field 'apply_at': must be in the future and at most 366 days ahead (now is " + Time(now) + ")"));
  }
  EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, service_->OpenLive(ws.id));
  absl::StatusOr<storage::ChangeRequest> written;
  for (int attempt = 0; attempt < 5; ++attempt) {
    EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
    storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
    json::object details;
    if (!apply_at && cr.state != "scheduled") return WrongState(cr, "unscheduled (it is not scheduled)");
    if (apply_at && !In(cr.state, {"approved", "scheduled"})) {
      return WrongState(cr, "scheduled (only an approved change request is)");
    }
    // Scheduling and unscheduling need the right to apply it: the caller's own right on the
    // environments it changes (protected ones need admin), as they are now.
    std::set<std::string> envs = Environments(ParseBody(cr.body));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Item> items, service_->ListEnvironments(ws));
    EV_ASSIGN_OR_RETURN(EnvironmentSet set, EnvironmentSet::FromItems(items));
    WriteEffect effect;
    effect.environments = envs;
    for (const std::string& e : envs) {
      const Environment* env = set.Find(e);
      if (env == nullptr) continue;
      if (env->is_protected) effect.protected_environments.insert(e);
      if (env->policy) effect.policies.emplace(e, *env->policy);
    }
    EV_RETURN_IF_ERROR(may_write(effect));
    if (!apply_at) {
      w.row.state = "approved";
      ClearSchedule(w.row);
    } else {
      // ... and, to schedule, the approvals under the policies as they are now.
      EV_ASSIGN_OR_RETURN(std::vector<storage::ChangeRequestReview> reviews, store->ListChangeRequestReviews(cr.id));
      EV_RETURN_IF_ERROR(EnoughApprovals(cr.id, Approvers(reviews, cr.round).size(), effect.policies));
      w.row.state = "scheduled";
      w.row.state_reason.clear();
      w.row.apply_at = *apply_at;
      w.row.schedule = json::serialize(json::object{{"by", actor.id}, {"grant", grant}});
      details["apply_at"] = Time(*apply_at);
    }
    written = service_->WriteChangeRequest(actor, ws, std::move(w),
                                           apply_at ? "workspace.change_request.schedule"
                                                    : "workspace.change_request.unschedule",
                                           std::move(details), "");
    if (!absl::IsAborted(written.status())) break;
  }
  EV_RETURN_IF_ERROR(written.status());
  if (apply_at && on_scheduled_) on_scheduled_(ws.id, id, *apply_at);
  return ToJson(ws, *written, false);
}

absl::StatusOr<json::object> ChangeRequests::ApplyScheduled(const storage::Workspace& ws, int64_t id, absl::Time now,
                                                            const WriteAuthorizer& may_write) {
  EV_ASSIGN_OR_RETURN(storage::ChangeRequest cr, Load(ws, id));
  std::optional<ScheduleGrant> grant = GrantOf(cr);
  if (!grant || !cr.apply_at || *cr.apply_at > now) {
    return WrongState(cr, "applied by the scheduler (it is not due)");
  }
  // The one who scheduled it acts; the request id names the schedule.
  Actor actor{grant->by, ws.org_id, "scheduler", "scheduled-cr-" + std::to_string(id)};
  const std::string suffix = " (scheduled by " + grant->by + " for " + Time(*cr.apply_at) + ")";
  absl::StatusOr<json::object> applied = ApplyLoaded(actor, ws, cr, may_write, suffix, true);
  const absl::Status& st = applied.status();
  // Nobody is waiting for an answer: a refusal that a retry would not change ends the
  // schedule (an invalid change was marked failed by ApplyLoaded already).
  const bool marked_invalid = base::ErrorCode(st) == "change_request_invalid";
  if (absl::IsFailedPrecondition(st) || absl::IsPermissionDenied(st) || (absl::IsInvalidArgument(st) && !marked_invalid)) {
    storage::ChangeRequestWrite w{.row = cr, .expected_version = cr.version};
    w.row.state = "failed";
    w.row.state_reason = std::string(st.message());
    ClearSchedule(w.row);
    absl::Status marked = service_->WriteChangeRequest(actor, ws, std::move(w), "workspace.change_request.fail",
                                                       {{"reason", std::string(st.message())}, {"scheduled", true}},
                                                       "")
                              .status();
    if (!marked.ok()) return marked;  // Aborted: it changed meanwhile; the scheduler looks again
  }
  return applied;
}

}  // namespace edgevault::workspace
