#include "src/workspace/rewrap.h"

#include <vector>

#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/envelope.h"

namespace edgevault::workspace {

absl::StatusOr<RewrapStats> RewrapDataKeys(storage::WorkspaceStore& store,
                                           std::string_view workspace_id,
                                           const crypto::Keyring& keyring, base::Env* env,
                                           const RewrapOptions& options) {
  if (options.batch < 1 || options.batch > 1000) {
    return absl::InvalidArgumentError("re-wrap: the batch size must be between 1 and 1000");
  }
  const std::string& active = keyring.active_id();
  if (active.empty()) return absl::FailedPreconditionError("re-wrap: no master key is loaded");

  EV_ASSIGN_OR_RETURN(auto before, store.CountDataKeysByMasterKey());
  int64_t total = 0;
  for (const auto& [id, n] : before) total += id == active ? 0 : n;

  RewrapStats stats;
  std::string after_id;
  while (true) {
    EV_ASSIGN_OR_RETURN(std::vector<storage::DataKeyRow> rows,
                        store.ListDataKeysNotUnder(active, after_id, options.batch));
    if (rows.empty()) break;
    std::vector<storage::DataKeyReplacement> replacements;
    replacements.reserve(rows.size());
    for (const storage::DataKeyRow& row : rows) {
      absl::StatusOr<std::string> raw_id = base::HexDecode(row.id);
      if (!raw_id.ok()) {
        return absl::DataLossError(
            base::StrCat("re-wrap: data key ", row.id, " has an id that is not hex"));
      }
      crypto::DataKey key{*std::move(raw_id), row.master_key_id, row.wrapped};
      absl::StatusOr<crypto::DataKey> fresh =
          crypto::RewrapDataKey(keyring, workspace_id, key, env);
      if (crypto::IsAuthenticationFailure(fresh.status())) {
        return absl::DataLossError(base::StrCat(
            "re-wrap: data key ", row.id, " of workspace ", workspace_id,
            " does not authenticate under master key ", row.master_key_id,
            "; it was damaged or copied from elsewhere, and is left as it is"));
      }
      EV_RETURN_IF_ERROR(fresh.status());
      replacements.push_back(
          {storage::DataKeyRow{row.id, fresh->master_key_id, std::move(fresh->wrapped)},
           row.master_key_id});
    }
    EV_ASSIGN_OR_RETURN(int changed, store.ReplaceDataKeys(replacements));
    stats.rewrapped += changed;
    after_id = rows.back().id;
    if (options.progress) options.progress(stats.rewrapped, total);
  }
  EV_ASSIGN_OR_RETURN(stats.after, store.CountDataKeysByMasterKey());
  return stats;
}

}  // namespace edgevault::workspace
