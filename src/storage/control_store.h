#pragma once
// The control DB as one store: the union of the narrow interfaces its consumers use
// (IdentityStore, CredentialStore, MfaStore, WorkspaceDirectory, ControlOutboxStore) plus
// transactions across them (DESIGN.md §2, §7). Only the auth service opens it; every
// other consumer takes the narrowest interface it needs (the audit relay a
// ControlOutboxStore, the api's workspace service a WorkspaceDirectory, which the api
// implements over auth's internal API).
//
// Every backend (sqlite/ now, postgres/ later) implements this class and passes
// control_store_conformance.h. Secrets are never stored in clear: tokens and keys as
// SHA-256 hex digests, passwords as Argon2id PHC strings, TOTP secrets sealed with the
// SecretSealer the backend was opened with. Times are absl::Time at microsecond precision
// or coarser.
//
// Thread-safety: all methods are safe to call concurrently; each call is atomic.
// WithTransaction runs a group of calls atomically (nested calls go to the same
// transaction through the ControlStore& it passes).
//
// Error codes: those of the narrow interfaces (the same for every backend; driver errors
// never leak).
//
//   auto store = storage::OpenSqliteControlStore({.path = dir + "/control.db", .env = env});
//   EV_RETURN_IF_ERROR((*store)->CreateUser(user));

#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/storage/control_outbox_store.h"
#include "src/storage/control_types.h"
#include "src/storage/credential_store.h"
#include "src/storage/identity_store.h"
#include "src/storage/mfa_store.h"
#include "src/storage/store_transfer.h"
#include "src/storage/workspace_directory.h"

namespace edgevault::storage {

class ControlStore : public IdentityStore,
                     public CredentialStore,
                     public MfaStore,
                     public WorkspaceDirectory,
                     public ControlOutboxStore,
                     // Over ControlTransferTables(), for `edgevault migrate`; on the
                     // store itself, not inside WithTransaction.
                     public StoreTransfer {
 public:
  ~ControlStore() override = default;

  // Runs `fn` in one transaction: commits when it returns OK, rolls back otherwise and
  // returns its status. Calls on `tx` are part of the transaction; calls on `this` from
  // inside `fn` are not allowed.
  virtual absl::Status WithTransaction(std::function<absl::Status(ControlStore& tx)> fn) = 0;

  // Workspaces, without the entitlement check (tools and tests; the api's path is
  // CreateWorkspaceWithinLimit). FailedPrecondition for an unknown org.
  virtual absl::Status CreateWorkspace(const Workspace& ws) = 0;
  // Its SDK keys go with it. NotFound when the org has no such workspace.
  virtual absl::Status DeleteWorkspace(std::string_view org_id, std::string_view id) = 0;

  // WorkspaceDirectory, for every backend: the org's entitlements from GetOrg, and the
  // limit check plus insert in one WithTransaction.
  absl::StatusOr<Entitlements> GetEntitlements(std::string_view org_id) override;
  absl::Status CreateWorkspaceWithinLimit(const Workspace& ws) override;
};

}  // namespace edgevault::storage
