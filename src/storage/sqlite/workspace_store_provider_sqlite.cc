#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

#include <algorithm>
#include <list>
#include <map>
#include <mutex>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/internal/workspace_store_checks.h"
#include "src/storage/sqlite/workspace_store_sqlite.h"

namespace edgevault::storage {

namespace {

using internal::IsPlainWorkspaceId;

class SqliteProvider : public WorkspaceStoreProvider {
 public:
  explicit SqliteProvider(SqliteWorkspaceStoreProviderOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::shared_ptr<WorkspaceStore>> Open(std::string_view id) override {
    return Get(id, /*create=*/false);
  }
  absl::StatusOr<std::shared_ptr<WorkspaceStore>> Create(std::string_view id) override {
    return Get(id, /*create=*/true);
  }

  absl::StatusOr<std::vector<std::string>> List() override {
    EV_ASSIGN_OR_RETURN(std::vector<std::string> names, options_.env->ListDir(options_.dir));
    std::vector<std::string> out;
    for (const std::string& name : names) {
      if (name.size() < 4 || name.substr(name.size() - 3) != ".db") continue;
      std::string id = name.substr(0, name.size() - 3);
      if (IsPlainWorkspaceId(id)) out.push_back(std::move(id));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::Status Destroy(std::string_view id_view) override {
    std::string id(id_view);
    if (!IsPlainWorkspaceId(id)) {
      return absl::InvalidArgumentError(base::ToAbsl(base::StrCat("\"", id.substr(0, 80), "\" is not a workspace id")));
    }
    std::shared_ptr<Slot> victim;  // the store closes when this goes, after the mutex
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = slots_.find(id); it != slots_.end()) {
        const std::shared_ptr<Slot>& slot = it->second;
        if (slot.use_count() != 1 || (slot->store != nullptr && slot->store.use_count() != 1)) {
          return absl::FailedPreconditionError(base::ToAbsl("the store of workspace " + id + " is in use"));
        }
        victim = slot;
        lru_.erase(victim->lru);
        slots_.erase(it);
      }
    }
    victim.reset();
    // The database last: without it, a leftover journal is never opened again.
    const std::string path = options_.dir + "/" + id + ".db";
    for (const std::string& p : {path + "-wal", path + "-shm", path + "-journal", path}) {
      absl::Status st = options_.env->DeleteFile(p);
      if (!st.ok() && !absl::IsNotFound(st)) return st;
    }
    return options_.env->SyncDir(options_.dir);
  }

  size_t OpenCount() override {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [id, slot] : slots_) n += slot->store != nullptr;
    return n;
  }

 private:
  // One workspace's place in the cache. `open_mu` serialises opening its file, so two
  // callers never open the same workspace twice; the provider's mutex is not held then.
  struct Slot {
    std::mutex open_mu;
    std::shared_ptr<WorkspaceStore> store;  // guarded by open_mu (read under mu_ to evict)
    std::list<std::string>::iterator lru;   // guarded by the provider's mu_
  };

  absl::StatusOr<std::shared_ptr<WorkspaceStore>> Get(std::string_view id_view, bool create) {
    std::string id(id_view);
    if (!IsPlainWorkspaceId(id)) {
      return absl::InvalidArgumentError(base::ToAbsl(base::StrCat("\"", id.substr(0, 80), "\" is not a workspace id")));
    }
    std::shared_ptr<Slot> slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = slots_.find(id);
      if (it == slots_.end()) {
        slot = std::make_shared<Slot>();
        lru_.push_front(id);
        slot->lru = lru_.begin();
        slots_.emplace(id, slot);
      } else {
        slot = it->second;
        lru_.splice(lru_.begin(), lru_, slot->lru);
      }
    }
    std::shared_ptr<WorkspaceStore> store;
    {
      std::unique_lock<std::mutex> lock(slot->open_mu);
      if (slot->store == nullptr) {
        std::string path = options_.dir + "/" + id + ".db";
        if (!create && !options_.env->Exists(path)) {
          lock.unlock();
          slot.reset();
          DropIfEmpty(id);
          return absl::NotFoundError(base::ToAbsl(base::StrCat("no store for workspace ", id)));
        }
        absl::StatusOr<std::unique_ptr<WorkspaceStore>> opened = OpenSqliteWorkspaceStore(
            {.path = path, .env = options_.env, .workspace_id = id});
        if (!opened.ok()) {
          lock.unlock();
          slot.reset();
          DropIfEmpty(id);
          return opened.status();
        }
        slot->store = std::shared_ptr<WorkspaceStore>(std::move(*opened));
      }
      store = slot->store;
    }
    slot.reset();
    EvictUnused();
    return store;
  }

  // Forgets the slot of a workspace that failed to open, unless someone else holds it.
  void DropIfEmpty(const std::string& id) {
    std::shared_ptr<Slot> victim;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(id);
    if (it == slots_.end() || it->second.use_count() != 1 || it->second->store != nullptr) return;
    victim = it->second;
    lru_.erase(victim->lru);
    slots_.erase(it);
  }

  // Closes least-recently-used stores nobody holds until at most max_open remain open.
  // A slot is unheld when only the map refers to it (nobody is opening it) and only the
  // slot refers to its store. The stores close after the mutex is released.
  void EvictUnused() {
    std::vector<std::shared_ptr<Slot>> victims;
    {
      std::lock_guard<std::mutex> lock(mu_);
      size_t excess = slots_.size() > options_.max_open ? slots_.size() - options_.max_open : 0;
      for (auto it = lru_.end(); excess > 0 && it != lru_.begin();) {
        --it;
        auto found = slots_.find(*it);
        const std::shared_ptr<Slot>& slot = found->second;
        bool unheld = slot.use_count() == 1 && (slot->store == nullptr || slot->store.use_count() == 1);
        if (!unheld) continue;
        victims.push_back(slot);
        slots_.erase(found);
        it = lru_.erase(it);
        --excess;
      }
    }
  }

  SqliteWorkspaceStoreProviderOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Slot>, std::less<>> slots_;
  std::list<std::string> lru_;  // most recently used first
};

}  // namespace

absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> OpenSqliteWorkspaceStoreProvider(
    SqliteWorkspaceStoreProviderOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("workspace store provider: empty dir");
  if (options.env == nullptr) return absl::InvalidArgumentError("workspace store provider: null env");
  if (options.max_open == 0) return absl::InvalidArgumentError("workspace store provider: max_open must be at least 1");
  EV_RETURN_IF_ERROR(options.env->CreateDirs(options.dir, 0700));
  return std::unique_ptr<WorkspaceStoreProvider>(new SqliteProvider(std::move(options)));
}

}  // namespace edgevault::storage
