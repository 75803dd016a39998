#pragma once
// Internal to the WorkspaceStore backends (sqlite/, postgres/): the argument checks every
// backend makes before it writes, so that all of them refuse the same inputs with the same
// codes and messages (the conformance suite checks the codes). Not for use above storage/.
// Thread-safety: pure functions.

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/workspace_store.h"

namespace edgevault::storage::internal {

// The largest page a List*/Pending* call may ask for.
inline constexpr int kMaxWorkspacePage = 1000;
// How `before` / `after` spell "did not exist" / "deleted".
inline constexpr std::string_view kNullBody = "null";

// InvalidArgument "workspace store: <what>".
absl::Status WorkspaceStoreInvalid(std::string_view what);
// The stored name of a kind; InvalidArgument for a value outside the enum.
absl::StatusOr<std::string_view> KindText(ItemKind kind);
// InvalidArgument unless 1 <= limit <= kMaxWorkspacePage.
absl::Status CheckPage(int limit);
// A known kind, a non-empty key, a body other than exactly "null".
absl::Status ValidateMutation(const Mutation& m);
// A non-empty id and master key id.
absl::Status ValidateDataKeyRow(const DataKeyRow& k);
// Title, author and state set; a review / comment with an actor; outbox kinds non-empty.
absl::Status ValidateChangeRequestWrite(const ChangeRequestWrite& w);
// LeaseWebhook's arguments: a holder of 1..128 bytes, a ttl of zero to a day.
absl::Status ValidateLease(std::string_view holder, absl::Duration ttl);
// Every outbox row has a non-empty kind.
absl::Status ValidateOutboxRows(const std::vector<OutboxRow>& rows);
// A workspace id a provider accepts: [A-Za-z0-9_-]{1,128}. Ids reach providers from files
// and outbox rows too; the SQLite provider makes file names of them (never a path outside
// its directory), and the PostgreSQL one keeps the same rule so ids move between backends.
bool IsPlainWorkspaceId(std::string_view id);
// Everything Commit checks before it opens a transaction: at least one mutation or outbox
// row, then the checks above on each part.
absl::Status ValidateCommitRequest(const CommitRequest& c);

}  // namespace edgevault::storage::internal
