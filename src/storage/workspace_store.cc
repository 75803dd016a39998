#include "src/storage/workspace_store.h"

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/internal/workspace_store_checks.h"

namespace edgevault::storage {

std::string_view ItemKindName(ItemKind kind) {
  switch (kind) {
    case ItemKind::kEnvironment:
      return "environment";
    case ItemKind::kConfig:
      return "config";
    case ItemKind::kFlag:
      return "flag";
    case ItemKind::kSegment:
      return "segment";
    case ItemKind::kSecret:
      return "secret";
  }
  return "unknown";
}

absl::StatusOr<ItemKind> ParseItemKind(std::string_view name) {
  for (ItemKind kind : {ItemKind::kEnvironment, ItemKind::kConfig, ItemKind::kFlag,
                        ItemKind::kSegment, ItemKind::kSecret}) {
    if (name == ItemKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      base::StrCat("unknown item kind \"", name,
                   "\"; expected one of environment, config, flag, segment, secret"));
}

namespace internal {

using base::StrCat;

absl::Status WorkspaceStoreInvalid(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("workspace store: ", what));
}

absl::StatusOr<std::string_view> KindText(ItemKind kind) {
  std::string_view name = ItemKindName(kind);
  if (name == "unknown") {
    return WorkspaceStoreInvalid(StrCat("unknown item kind value ", static_cast<int>(kind)));
  }
  return name;
}

absl::Status CheckPage(int limit) {
  if (limit < 1 || limit > kMaxWorkspacePage) {
    return WorkspaceStoreInvalid(StrCat("page limit ", limit, " is outside 1..", kMaxWorkspacePage));
  }
  return absl::OkStatus();
}

absl::Status ValidateMutation(const Mutation& m) {
  EV_RETURN_IF_ERROR(KindText(m.kind).status());
  if (m.key.empty()) return WorkspaceStoreInvalid("empty item key");
  // "null" is how before/after spell "absent"; a body that is JSON null would be ambiguous.
  if (m.body.has_value() && *m.body == kNullBody) {
    return WorkspaceStoreInvalid(StrCat("the body of ", ItemKindName(m.kind), " \"", m.key,
                                        "\" is JSON null; delete the item instead"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDataKeyRow(const DataKeyRow& k) {
  if (k.id.empty() || k.master_key_id.empty()) {
    return WorkspaceStoreInvalid("a data key needs an id and a master key id");
  }
  return absl::OkStatus();
}

absl::Status ValidateLease(std::string_view holder, absl::Duration ttl) {
  if (holder.empty() || holder.size() > 128) return WorkspaceStoreInvalid("a lease holder is 1 to 128 bytes");
  if (ttl < absl::ZeroDuration() || ttl > absl::Hours(24)) {
    return WorkspaceStoreInvalid("a lease lasts from zero to 24 hours");
  }
  return absl::OkStatus();
}

absl::Status ValidateOutboxRows(const std::vector<OutboxRow>& rows) {
  for (const OutboxRow& r : rows) {
    if (r.kind.empty()) return WorkspaceStoreInvalid("empty outbox row kind");
  }
  return absl::OkStatus();
}

absl::Status ValidateChangeRequestWrite(const ChangeRequestWrite& w) {
  if (w.row.title.empty() || w.row.author.empty() || w.row.state.empty()) {
    return WorkspaceStoreInvalid("a change request needs a title, an author and a state");
  }
  if (w.review && w.review->actor.empty()) return WorkspaceStoreInvalid("a review needs an actor");
  if (w.comment && w.comment->actor.empty()) return WorkspaceStoreInvalid("a comment needs an actor");
  return ValidateOutboxRows(w.outbox);
}

bool IsPlainWorkspaceId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status ValidateCommitRequest(const CommitRequest& c) {
  if (c.mutations.empty() && c.outbox.empty()) {
    return WorkspaceStoreInvalid("a commit needs at least one mutation or outbox row");
  }
  for (const Mutation& m : c.mutations) EV_RETURN_IF_ERROR(ValidateMutation(m));
  for (const DataKeyRow& k : c.data_keys) EV_RETURN_IF_ERROR(ValidateDataKeyRow(k));
  EV_RETURN_IF_ERROR(ValidateOutboxRows(c.outbox));
  if (c.change_request) {
    EV_RETURN_IF_ERROR(ValidateChangeRequestWrite(*c.change_request));
    if (c.change_request->row.id == 0) {
      return WorkspaceStoreInvalid("a commit can only update a change request");
    }
  }
  return absl::OkStatus();
}

}  // namespace internal

}  // namespace edgevault::storage
