#include "cli/master_keys.h"

#include <cstdio>
#include <variant>
#include <vector>

#include "cli/data_dir.h"
#include "src/base/strings.h"
#include "src/crypto/keygen.h"
#include "src/crypto/keyring.h"
#include "src/storage/workspace_store_open.h"
#include "src/workspace/rewrap.h"

namespace edgevault::cli {
namespace {

std::string_view Msg(const absl::Status& s) { return base::ToStd(s.message()); }

int Fail(std::string_view command, int code, std::string_view what, const absl::Status& st) {
  std::fprintf(stderr, "edgevault keys %.*s: %.*s: %.*s\n", static_cast<int>(command.size()),
               command.data(), static_cast<int>(what.size()), what.data(),
               static_cast<int>(Msg(st).size()), Msg(st).data());
  return code;
}

std::string KeyFileName(std::string_view id) {
  return id == crypto::kDefaultMasterKeyId ? std::string("master.key")
                                           : base::StrCat("master-", id, ".key");
}

std::string FormatCounts(const std::map<std::string, int64_t>& counts) {
  if (counts.empty()) return "no data keys";
  std::string out;
  for (const auto& [id, n] : counts) base::StrAppend(&out, out.empty() ? "" : ", ", id, ": ", n);
  return out;
}

struct Setup {
  base::Config config;
  // The workspaces api.workspace_db_url names, as the api sees them (SQLite files or
  // PostgreSQL): a rotation that missed some would let retire-master delete a key in use.
  std::unique_ptr<storage::WorkspaceStoreProvider> stores;
};

// Loads the configuration and insists on the keys directory as the master key source.
// Returns the exit code on failure.
std::variant<Setup, int> Prepare(std::string_view command, base::Env* env,
                                 const std::string& data_dir) {
  absl::StatusOr<base::Config> config = LoadDataDirConfig(env, DataDirLayout::For(data_dir));
  if (absl::IsFailedPrecondition(config.status())) {
    return Fail(command, 2, "data directory not initialised", config.status());
  }
  if (!config.ok()) return Fail(command, 2, "invalid configuration", config.status());
  if (!config->master_key_env.empty() || !config->master_key_file.empty()) {
    return Fail(command, 2, "unsupported key source",
                absl::FailedPreconditionError(
                    "the master key comes from keys.master_key_env or keys.master_key_file, "
                    "which hold one key; rotation needs the keys directory "
                    "(docs/design/key-files.md)"));
  }
  absl::StatusOr<std::unique_ptr<storage::WorkspaceStoreProvider>> stores =
      storage::OpenConfiguredWorkspaceStores(*config, env);
  if (!stores.ok()) return Fail(command, 1, "opening the workspace stores failed", stores.status());
  return Setup{*config, std::move(*stores)};
}

// One pass over every workspace. Returns rows re-wrapped, or the exit code.
std::variant<int64_t, int> RewrapPass(base::Env* env, const Setup& setup,
                                      const crypto::Keyring& keyring, int batch) {
  absl::StatusOr<std::vector<std::string>> ids = setup.stores->List();
  if (!ids.ok()) return Fail("rotate-master", 1, "listing workspaces failed", ids.status());
  int64_t total = 0;
  for (const std::string& id : *ids) {
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = setup.stores->Open(id);
    if (!store.ok()) return Fail("rotate-master", 1, id, store.status());
    workspace::RewrapOptions options;
    options.batch = batch;
    options.progress = [&id](int64_t done, int64_t of) {
      std::printf("  %s: %lld of %lld data keys re-wrapped\n", id.c_str(),
                  static_cast<long long>(done), static_cast<long long>(of));
      std::fflush(stdout);
    };
    absl::StatusOr<workspace::RewrapStats> stats =
        workspace::RewrapDataKeys(**store, id, keyring, env, options);
    if (!stats.ok()) {
      return Fail("rotate-master", 1, base::StrCat("re-wrapping workspace ", id), stats.status());
    }
    total += stats->rewrapped;
  }
  return total;
}

}  // namespace

absl::StatusOr<std::string> AddMasterKey(base::Env* env, const std::string& keys_dir) {
  EV_ASSIGN_OR_RETURN(crypto::Keyring keyring,
                      crypto::LoadKeyring(env, crypto::KeyringSource::Directory(keys_dir)));
  int highest = 0;
  for (const std::string& id : keyring.ids()) {
    if (id.size() < 2 || id[0] != 'm') continue;
    int n = 0;
    bool numeric = true;
    for (char c : id.substr(1)) {
      if (c < '0' || c > '9') numeric = false;
      n = n * 10 + (c - '0');
    }
    if (numeric && n > highest) highest = n;
  }
  std::string id = base::StrCat("m", highest + 1);
  if (!crypto::IsValidMasterKeyId(id)) {
    return absl::ResourceExhaustedError("no master key id left below m9999999");
  }
  // The key first, then the pointer to it: a crash in between leaves an unused key file.
  EV_RETURN_IF_ERROR(env->WriteFileAtomically(base::StrCat(keys_dir, "/", KeyFileName(id)),
                                              crypto::GenerateSymmetricKeyFile(env), 0600));
  EV_RETURN_IF_ERROR(
      env->WriteFileAtomically(base::StrCat(keys_dir, "/master.active"), id + "\n", 0600));
  return id;
}

absl::StatusOr<std::map<std::string, int64_t>> CountDataKeys(storage::WorkspaceStoreProvider& stores) {
  std::map<std::string, int64_t> total;
  EV_ASSIGN_OR_RETURN(std::vector<std::string> ids, stores.List());
  for (const std::string& id : ids) {
    EV_ASSIGN_OR_RETURN(std::shared_ptr<storage::WorkspaceStore> store, stores.Open(id));
    EV_ASSIGN_OR_RETURN(auto counts, store->CountDataKeysByMasterKey());
    for (const auto& [key, n] : counts) total[key] += n;
  }
  return total;
}

int RunKeysRotateMaster(const RotateMasterOptions& options) {
  constexpr std::string_view kCmd = "rotate-master";
  base::Env* env = base::Env::Default();
  auto prepared = Prepare(kCmd, env, options.data_dir);
  if (const int* rc = std::get_if<int>(&prepared)) return *rc;
  const Setup& setup = std::get<Setup>(prepared);
  const crypto::KeyringSource source = crypto::KeyringSource::Directory(setup.config.keys_dir);

  absl::StatusOr<crypto::Keyring> keyring = crypto::LoadKeyring(env, source);
  if (!keyring.ok()) return Fail(kCmd, 1, "loading the master keys failed", keyring.status());
  absl::StatusOr<std::map<std::string, int64_t>> counts = CountDataKeys(*setup.stores);
  if (!counts.ok()) return Fail(kCmd, 1, "counting data keys failed", counts.status());
  int64_t behind = 0;
  for (const auto& [id, n] : *counts) behind += id == keyring->active_id() ? 0 : n;

  if (!options.resume) {
    if (behind > 0) {
      return Fail(kCmd, 2, "a rotation is unfinished",
                  absl::FailedPreconditionError(base::StrCat(
                      behind, " data keys are not yet under the active key ",
                      keyring->active_id(), " (", FormatCounts(*counts),
                      "); finish it with `edgevault keys rotate-master --resume`")));
    }
    absl::StatusOr<std::string> id = AddMasterKey(env, setup.config.keys_dir);
    if (!id.ok()) return Fail(kCmd, 1, "adding a master key failed", id.status());
    std::printf("new master key %s is active (%s/%s); new secrets are sealed under it\n",
                id->c_str(), setup.config.keys_dir.c_str(), KeyFileName(*id).c_str());
    keyring = crypto::LoadKeyring(env, source);
    if (!keyring.ok()) return Fail(kCmd, 1, "reloading the master keys failed", keyring.status());
  }
  std::printf("re-wrapping data keys under %s (%s)\n", keyring->active_id().c_str(),
              FormatCounts(*counts).c_str());
  std::fflush(stdout);

  // Pass until a pass finds nothing, waiting `settle` between passes: writes that
  // started before master.active changed may still commit under the old key.
  int64_t rewrapped = 0;
  for (int pass = 1;; ++pass) {
    auto r = RewrapPass(env, setup, *keyring, options.batch);
    if (const int* rc = std::get_if<int>(&r)) return *rc;
    int64_t n = std::get<int64_t>(r);
    rewrapped += n;
    if (pass > 1 && n == 0) break;
    env->SleepFor(options.settle);
  }
  counts = CountDataKeys(*setup.stores);
  if (!counts.ok()) return Fail(kCmd, 1, "counting data keys failed", counts.status());
  std::printf("done: %lld data keys re-wrapped; data keys per master key: %s\n",
              static_cast<long long>(rewrapped), FormatCounts(*counts).c_str());
  for (const std::string& id : keyring->ids()) {
    if (id == keyring->active_id() || counts->contains(id)) continue;
    std::printf("master key %s wraps no data key any more: remove it with "
                "`edgevault keys retire-master %s --data-dir %s`\n",
                id.c_str(), id.c_str(), options.data_dir.c_str());
  }
  return 0;
}

int RunKeysRetireMaster(const RetireMasterOptions& options) {
  constexpr std::string_view kCmd = "retire-master";
  base::Env* env = base::Env::Default();
  auto prepared = Prepare(kCmd, env, options.data_dir);
  if (const int* rc = std::get_if<int>(&prepared)) return *rc;
  const Setup& setup = std::get<Setup>(prepared);
  absl::StatusOr<crypto::Keyring> keyring =
      crypto::LoadKeyring(env, crypto::KeyringSource::Directory(setup.config.keys_dir));
  if (!keyring.ok()) return Fail(kCmd, 1, "loading the master keys failed", keyring.status());
  const std::string& id = options.key_id;
  if (!keyring->Contains(id)) {
    return Fail(kCmd, 2, "unknown key",
                absl::NotFoundError(base::StrCat("no master key ", id, " in ",
                                                 setup.config.keys_dir)));
  }
  if (id == keyring->active_id()) {
    return Fail(kCmd, 2, "refused",
                absl::FailedPreconditionError(base::StrCat(
                    id, " is the active master key; rotate first (`edgevault keys rotate-master`)")));
  }
  absl::StatusOr<std::map<std::string, int64_t>> counts = CountDataKeys(*setup.stores);
  if (!counts.ok()) return Fail(kCmd, 1, "counting data keys failed", counts.status());
  if (auto it = counts->find(id); it != counts->end()) {
    return Fail(kCmd, 1, "refused",
                absl::FailedPreconditionError(base::StrCat(
                    it->second, " data keys are still wrapped under ", id,
                    "; finish the rotation with `edgevault keys rotate-master --resume` first")));
  }
  std::string path = base::StrCat(setup.config.keys_dir, "/", KeyFileName(id));
  if (absl::Status st = env->DeleteFile(path); !st.ok()) {
    return Fail(kCmd, 1, "deleting the key file failed", st);
  }
  std::printf("master key %s retired: %s deleted; no data key was wrapped under it\n",
              id.c_str(), path.c_str());
  return 0;
}

}  // namespace edgevault::cli
