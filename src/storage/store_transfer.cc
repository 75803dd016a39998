#include "src/storage/store_transfer.h"

#include <string>

#include "src/base/strings.h"

namespace edgevault::storage {

namespace {

using T = TransferType;

}  // namespace

// The columns of control-db.md (SQLite schema version 4, PostgreSQL `control` step 2)
// that both backends hold. Not here: SQLite's totp.sealed (PostgreSQL holds only sealed
// secrets; the SQLite backend exports sealed rows only and imports them as sealed).
const std::vector<TransferTable>& ControlTransferTables() {
  static const auto* const kTables = new std::vector<TransferTable>{
      {"orgs",
       {{"id"},
        {"name"},
        {"max_workspaces", T::kInt},
        {"max_environments", T::kInt},
        {"max_items", T::kInt},
        {"created_at", T::kInt}},
       "id"},
      {"users",
       {{"id"},
        {"email"},
        {"display_name"},
        {"password_hash"},
        {"disabled", T::kBool},
        {"must_change_password", T::kBool},
        {"created_at", T::kInt}},
       "id"},
      {"memberships",
       {{"org_id"}, {"user_id"}, {"role"}, {"created_at", T::kInt}},
       "org_id, user_id"},
      {"sessions",
       {{"token_hash"},
        {"user_id"},
        {"org_id"},
        {"created_at", T::kInt},
        {"last_seen_at", T::kInt},
        {"idle_expires_at", T::kInt},
        {"absolute_expires_at", T::kInt},
        {"client_address"},
        {"user_agent"},
        {"auth_methods"}},
       "token_hash"},
      {"api_keys",
       {{"id"},
        {"key_hash"},
        {"prefix"},
        {"org_id"},
        {"created_by"},
        {"name"},
        {"scopes_json"},
        {"role"},
        {"created_at", T::kInt},
        {"expires_at", T::kInt},
        {"last_used_at", T::kInt},
        {"revoked_at", T::kInt}},
       "id"},
      {"workspaces", {{"id"}, {"org_id"}, {"key"}, {"name"}, {"created_at", T::kInt}, {"deleted_at", T::kInt}, {"purge_after", T::kInt}}, "id"},
      {"sdk_keys",
       {{"id"},
        {"key_hash"},
        {"prefix"},
        {"org_id"},
        {"workspace_id"},
        {"environment"},
        {"name"},
        {"created_by"},
        {"created_at", T::kInt},
        {"last_used_at", T::kInt},
        {"revoked_at", T::kInt},
        {"kind"},
        {"origins_json"}},
       "id"},
      {"totp",
       {{"user_id"},
        {"secret", T::kBytes},
        {"confirmed", T::kBool},
        {"last_step", T::kInt},
        {"created_at", T::kInt}},
       "user_id"},
      {"recovery_codes", {{"user_id"}, {"code_hash"}, {"used_at", T::kInt}}, "user_id, code_hash"},
      {"passkeys",
       {{"credential_id", T::kBytes},
        {"user_id"},
        {"public_key_cose", T::kBytes},
        {"algorithm", T::kInt},
        {"sign_count", T::kInt},
        {"name"},
        {"aaguid", T::kBytes},
        {"user_verified_at_registration", T::kBool},
        {"created_at", T::kInt},
        {"last_used_at", T::kInt}},
       "credential_id"},
      {"challenges",
       {{"id"}, {"kind"}, {"user_id"}, {"payload", T::kBytes}, {"expires_at", T::kInt}},
       "id"},
      {"outbox", {{"id"}, {"json"}, {"created_at", T::kInt}}, "id"},
      {"invitations",
       {{"id"},
        {"org_id"},
        {"email"},
        {"role"},
        {"invited_by"},
        {"creates_account", T::kBool},
        {"status"},
        {"created_at", T::kInt},
        {"expires_at", T::kInt},
        {"responded_at", T::kInt}},
       "id"},
  };
  return *kTables;
}

// The tables of workspace-db.md (SQLite schema version 5) = postgres-workspace-store.md
// without `workspace_id` (the store's own) and without SQLite's `meta`.
const std::vector<TransferTable>& WorkspaceTransferTables() {
  static const auto* const kTables = new std::vector<TransferTable>{
      {"items",
       {{"kind"},
        {"key"},
        {"body"},
        {"revision", T::kInt},
        {"created_at", T::kInt},
        {"updated_at", T::kInt}},
       "kind, key"},
      {"revisions",
       {{"seq", T::kInt},
        {"time", T::kInt},
        {"actor"},
        {"reason"},
        {"op"},
        {"kind"},
        {"key"},
        {"environment"},
        {"before"},
        {"after"}},
       "seq"},
      {"outbox",
       {{"id", T::kInt},
        {"kind"},
        {"payload"},
        {"created_at", T::kInt},
        {"attempts", T::kInt},
        {"done_at", T::kInt}},
       "id"},
      {"activity", {{"id", T::kInt}, {"time", T::kInt}, {"actor"}, {"action"}, {"details"}}, "id"},
      {"data_keys", {{"id"}, {"master_key_id"}, {"wrapped", T::kBytes}}, "id"},
      {"change_requests",
       {{"id", T::kInt},
        {"version", T::kInt},
        {"title"},
        {"description"},
        {"author"},
        {"state"},
        {"state_reason"},
        {"base_revision", T::kInt},
        {"round", T::kInt},
        {"applied_revision", T::kInt},
        {"body"},
        {"created_at", T::kInt},
        {"updated_at", T::kInt},
        {"apply_at", T::kInt},
        {"schedule"}},
       "id"},
      {"change_request_reviews",
       {{"change_request_id", T::kInt},
        {"round", T::kInt},
        {"actor"},
        {"decision"},
        {"comment"},
        {"time", T::kInt}},
       "change_request_id, round, actor"},
      {"change_request_comments",
       {{"id", T::kInt}, {"change_request_id", T::kInt}, {"actor"}, {"text"}, {"time", T::kInt}},
       "id"},
      {"webhooks",
       {{"id"},
        {"body"},
        {"secret", T::kBytes},
        {"secret_version", T::kInt},
        {"created_at", T::kInt},
        {"updated_at", T::kInt},
        {"cursor", T::kInt},
        {"failing", T::kInt},
        {"last_error"}},
       "id"},
  };
  return *kTables;
}

absl::StatusOr<const TransferTable*> FindTransferTable(const std::vector<TransferTable>& tables,
                                                       std::string_view name) {
  for (const TransferTable& t : tables) {
    if (t.name == name) return &t;
  }
  return absl::InvalidArgumentError(base::StrCat("transfer: no table \"", name, "\""));
}

absl::Status CheckTransferRows(const TransferTable& table, const std::vector<TransferRow>& rows) {
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != table.columns.size()) {
      return absl::InvalidArgumentError(base::StrCat("import into ", table.name, ": row ", r,
                                                     " has ", rows[r].size(), " values, the table ",
                                                     table.columns.size(), " columns"));
    }
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const TransferValue& v = rows[r][c];
      const TransferType type = table.columns[c].type;
      const bool is_int = std::holds_alternative<int64_t>(v);
      const bool is_bytes = std::holds_alternative<std::string>(v);
      bool fits = std::holds_alternative<std::monostate>(v);
      if (type == TransferType::kInt) fits = fits || is_int;
      if (type == TransferType::kBool) {
        fits = fits || (is_int && (std::get<int64_t>(v) == 0 || std::get<int64_t>(v) == 1));
      }
      if (type == TransferType::kText || type == TransferType::kBytes) fits = fits || is_bytes;
      if (!fits) {
        return absl::InvalidArgumentError(base::StrCat("import into ", table.name, ": row ", r,
                                                       ", column ", table.columns[c].name,
                                                       ": value does not fit the column"));
      }
    }
  }
  return absl::OkStatus();
}

std::string EncodeTransferRow(const TransferRow& row) {
  std::string out;
  for (const TransferValue& v : row) {
    if (std::holds_alternative<std::monostate>(v)) {
      out += 'N';
    } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
      out += 'I';
      out += std::to_string(*i);
      out += ';';
    } else {
      const std::string& s = std::get<std::string>(v);
      out += 'S';
      out += std::to_string(s.size());
      out += ':';
      out += s;
    }
  }
  return out;
}

}  // namespace edgevault::storage
