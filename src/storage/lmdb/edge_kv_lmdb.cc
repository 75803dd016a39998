#include "src/storage/lmdb/edge_kv_lmdb.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {
namespace {

using base::StrCat;

// Each LMDB value is an 8-byte big-endian version followed by the value bytes.
constexpr size_t kVersionBytes = 8;

void EncodeVersion(int64_t version, unsigned char* out) {
  uint64_t v = static_cast<uint64_t>(version);
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

// The stored version, or -1 when the record is too short or its version is negative
// (neither is ever written by this code: the file is damaged or not ours).
int64_t DecodeVersion(const MDB_val& v) {
  if (v.mv_size < kVersionBytes) return -1;
  const auto* p = static_cast<const unsigned char*>(v.mv_data);
  uint64_t version = 0;
  for (size_t i = 0; i < kVersionBytes; ++i) version = (version << 8) | p[i];
  if (version > static_cast<uint64_t>(INT64_MAX)) return -1;
  return static_cast<int64_t>(version);
}

MDB_val ValOf(std::string_view s) {
  return MDB_val{.mv_size = s.size(), .mv_data = const_cast<char*>(s.data())};
}

struct SharedEnv;

// One thread's read-only transaction on one environment, kept reset between reads.
// Ownership transitions (creation, thread exit, environment close) happen under the
// registry mutex; the owning thread uses `txn` without a lock between them.
struct ReadSlot {
  SharedEnv* env = nullptr;  // valid while txn != nullptr
  MDB_txn* txn = nullptr;    // nullptr once aborted (by thread exit or environment close)
};

// One LMDB environment, shared by every handle on its directory in this process.
struct SharedEnv {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  std::string path;  // realpath of the directory
  size_t map_size = 0;
  int max_readers = 0;
  bool read_only = false;
  pid_t pid = 0;    // the process that opened it; a forked child must not touch it
  uint64_t id = 0;  // never reused in this process; keys the per-thread read slots
  // Guarded by the registry mutex.
  int refs = 0;
  std::vector<std::shared_ptr<ReadSlot>> slots;
};

// Process-wide: the open environments by realpath. Never destroyed, so thread-exit
// cleanup may run at any point of process shutdown.
struct Registry {
  std::mutex mu;
  std::map<std::string, SharedEnv*> envs;
  uint64_t next_id = 1;
};

Registry& GlobalRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    // A child forked while another thread held the mutex would deadlock on its first open.
    ::pthread_atfork([] { GlobalRegistry().mu.lock(); }, [] { GlobalRegistry().mu.unlock(); },
                     [] { GlobalRegistry().mu.unlock(); });
    return r;
  }();
  return *registry;
}

// Aborts `slot`'s transaction (if still live) and unlinks it from its environment.
// Caller holds the registry mutex.
void DropSlotLocked(ReadSlot* slot) {
  if (slot->txn == nullptr) return;
  SharedEnv* env = slot->env;
  // In a forked child the transaction and its reader slot belong to the parent.
  if (env->pid == ::getpid()) ::mdb_txn_abort(slot->txn);
  slot->txn = nullptr;
  for (auto it = env->slots.begin(); it != env->slots.end(); ++it) {
    if (it->get() == slot) {
      env->slots.erase(it);
      break;
    }
  }
}

// The calling thread's read slots, one per environment it has read from.
class ThreadReadSlots {
 public:
  ~ThreadReadSlots() {
    Registry& registry = GlobalRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    for (Entry& e : entries_) DropSlotLocked(e.slot.get());
  }

  ReadSlot* Find(uint64_t env_id) const {
    for (const Entry& e : entries_) {
      if (e.env_id == env_id) return e.slot.get();
    }
    return nullptr;
  }

  // Caller holds the registry mutex. Prunes slots of closed environments.
  void AddLocked(uint64_t env_id, std::shared_ptr<ReadSlot> slot) {
    std::erase_if(entries_, [](const Entry& e) { return e.slot->txn == nullptr; });
    entries_.push_back(Entry{env_id, std::move(slot)});
  }

  // Caller holds the registry mutex.
  void RemoveLocked(ReadSlot* slot) {
    DropSlotLocked(slot);
    std::erase_if(entries_, [slot](const Entry& e) { return e.slot.get() == slot; });
  }

 private:
  struct Entry {
    uint64_t env_id;
    std::shared_ptr<ReadSlot> slot;
  };
  std::vector<Entry> entries_;
};

thread_local ThreadReadSlots t_read_slots;

absl::Status MdbStatus(int rc, std::string_view what, const SharedEnv& env) {
  std::string where = StrCat("edge KV ", env.path, ": ", what, ": ");
  switch (rc) {
    case MDB_NOTFOUND:
      return absl::NotFoundError(StrCat(where, "not found"));
    case MDB_MAP_FULL:
      return absl::ResourceExhaustedError(
          StrCat(where, "the store is full: its LMDB map_size is ", env.map_size,
                 " bytes; raise the edge KV map_size (LmdbEdgeKvOptions::map_size) and "
                 "restart the writer"));
    case MDB_READERS_FULL:
      return absl::UnavailableError(
          StrCat(where, "all ", env.max_readers,
                 " LMDB reader slots are in use (one per reading thread per process); "
                 "reduce reader threads or raise max_readers and recreate lock.mdb"));
    case MDB_MAP_RESIZED:
      return absl::UnavailableError(
          StrCat(where, "another process grew the store beyond this process's map_size of ",
                 env.map_size, " bytes; restart it with the writer's map_size"));
    case ENOENT:
      return absl::NotFoundError(StrCat(where, ::mdb_strerror(rc)));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(StrCat(where, ::mdb_strerror(rc)));
    case ENOSPC:
      return absl::ResourceExhaustedError(StrCat(where, ::mdb_strerror(rc)));
    case EAGAIN:
    case EBUSY:
      return absl::UnavailableError(StrCat(where, ::mdb_strerror(rc)));
    default:
      return absl::InternalError(StrCat(where, ::mdb_strerror(rc)));
  }
}

// The key for an error message: itself when short printable ASCII, else its size.
std::string KeyForMessage(std::string_view key) {
  bool printable = key.size() <= 128;
  for (char c : key) printable = printable && c >= 0x20 && c < 0x7f;
  return printable ? StrCat("\"", key, "\"") : StrCat("a ", key.size(), "-byte key");
}

absl::Status NoSuchKey(const SharedEnv& env, std::string_view key) {
  return absl::NotFoundError(StrCat("edge KV ", env.path, ": no entry for ", KeyForMessage(key)));
}

absl::Status CorruptRecord(const SharedEnv& env, std::string_view key) {
  return absl::InternalError(StrCat("edge KV ", env.path, ": the record of ", KeyForMessage(key),
                                    " is not <8-byte version><value>"));
}

// Begins a read-only transaction, clearing reader slots of dead processes once if the
// lock table is full.
int BeginRead(MDB_env* env, MDB_txn** txn) {
  int rc = ::mdb_txn_begin(env, nullptr, MDB_RDONLY, txn);
  if (rc == MDB_READERS_FULL) {
    int dead = 0;
    if (::mdb_reader_check(env, &dead) == 0 && dead > 0) {
      rc = ::mdb_txn_begin(env, nullptr, MDB_RDONLY, txn);
    }
  }
  return rc;
}

class LmdbEdgeKv final : public EdgeKv {
 public:
  // Takes one reference on `env` (already counted by the caller).
  LmdbEdgeKv(SharedEnv* env, bool read_only) : env_(env), read_only_(read_only) {}
  ~LmdbEdgeKv() override { Release(env_); }

  LmdbEdgeKv(const LmdbEdgeKv&) = delete;
  LmdbEdgeKv& operator=(const LmdbEdgeKv&) = delete;

  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    EV_RETURN_IF_ERROR(ValidateEdgeKvVersion(version));
    EV_RETURN_IF_ERROR(CheckWritable());
    MDB_txn* txn = nullptr;
    if (int rc = ::mdb_txn_begin(env_->env, nullptr, 0, &txn); rc != 0) {
      return MdbStatus(rc, "begin write", *env_);
    }
    absl::StatusOr<bool> written = PutIfNewerIn(txn, key, value, version);
    if (!written.ok() || !*written) {
      ::mdb_txn_abort(txn);
      return written;
    }
    if (int rc = ::mdb_txn_commit(txn); rc != 0) return MdbStatus(rc, "commit", *env_);
    return true;
  }

  // All writes in one write transaction: one commit (one fsync) for the batch, and
  // readers see all of it or none of it.
  absl::StatusOr<std::vector<bool>> PutManyIfNewer(const std::vector<KvWrite>& writes) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvWrites(writes));
    EV_RETURN_IF_ERROR(CheckWritable());
    std::vector<bool> written;
    written.reserve(writes.size());
    if (writes.empty()) return written;
    MDB_txn* txn = nullptr;
    if (int rc = ::mdb_txn_begin(env_->env, nullptr, 0, &txn); rc != 0) {
      return MdbStatus(rc, "begin write", *env_);
    }
    bool any = false;
    for (const KvWrite& w : writes) {
      absl::StatusOr<bool> one = PutIfNewerIn(txn, w.key, w.value, w.version);
      if (!one.ok()) {
        ::mdb_txn_abort(txn);
        return one.status();
      }
      written.push_back(*one);
      any = any || *one;
    }
    if (!any) {
      ::mdb_txn_abort(txn);  // nothing changed: no commit, no fsync
      return written;
    }
    if (int rc = ::mdb_txn_commit(txn); rc != 0) return MdbStatus(rc, "commit", *env_);
    return written;
  }

  absl::StatusOr<KvEntry> Get(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    KvEntry entry;
    EV_RETURN_IF_ERROR(WithReadTxn([&](MDB_txn* txn) -> absl::Status {
      MDB_val k = ValOf(key);
      MDB_val v;
      if (int rc = ::mdb_get(txn, env_->dbi, &k, &v); rc != 0) {
        return rc == MDB_NOTFOUND ? NoSuchKey(*env_, key) : MdbStatus(rc, "get", *env_);
      }
      entry.version = DecodeVersion(v);
      if (entry.version < 0) return CorruptRecord(*env_, key);
      entry.value.assign(static_cast<const char*>(v.mv_data) + kVersionBytes,
                         v.mv_size - kVersionBytes);
      return absl::OkStatus();
    }));
    return entry;
  }

  absl::StatusOr<int64_t> GetVersion(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    int64_t version = -1;
    EV_RETURN_IF_ERROR(WithReadTxn([&](MDB_txn* txn) -> absl::Status {
      MDB_val k = ValOf(key);
      MDB_val v;
      if (int rc = ::mdb_get(txn, env_->dbi, &k, &v); rc != 0) {
        return rc == MDB_NOTFOUND ? NoSuchKey(*env_, key) : MdbStatus(rc, "get", *env_);
      }
      version = DecodeVersion(v);
      if (version < 0) return CorruptRecord(*env_, key);
      return absl::OkStatus();
    }));
    return version;
  }

  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    EV_RETURN_IF_ERROR(ValidateEdgeKvVersion(version));
    EV_RETURN_IF_ERROR(CheckWritable());
    MDB_txn* txn = nullptr;
    if (int rc = ::mdb_txn_begin(env_->env, nullptr, 0, &txn); rc != 0) {
      return MdbStatus(rc, "begin write", *env_);
    }
    MDB_val k = ValOf(key);
    MDB_val current;
    if (int rc = ::mdb_get(txn, env_->dbi, &k, &current); rc != 0) {
      ::mdb_txn_abort(txn);
      return rc == MDB_NOTFOUND ? NoSuchKey(*env_, key) : MdbStatus(rc, "get", *env_);
    }
    int64_t stored = DecodeVersion(current);
    if (stored < 0) {
      ::mdb_txn_abort(txn);
      return CorruptRecord(*env_, key);
    }
    if (stored > version) {
      ::mdb_txn_abort(txn);
      return false;
    }
    if (int rc = ::mdb_del(txn, env_->dbi, &k, nullptr); rc != 0) {
      ::mdb_txn_abort(txn);
      return MdbStatus(rc, "delete", *env_);
    }
    if (int rc = ::mdb_txn_commit(txn); rc != 0) return MdbStatus(rc, "commit", *env_);
    return true;
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix,
                                                    int limit) override {
    if (limit < 0) {
      return absl::InvalidArgumentError(StrCat("edge KV list limit is ", limit, "; must be >= 0"));
    }
    std::vector<std::string> keys;
    // No stored key can start with a prefix longer than the key limit.
    if (limit == 0 || prefix.size() > kMaxEdgeKvKeyBytes) return keys;
    EV_RETURN_IF_ERROR(WithReadTxn([&](MDB_txn* txn) -> absl::Status {
      keys.clear();
      MDB_cursor* cursor = nullptr;
      if (int rc = ::mdb_cursor_open(txn, env_->dbi, &cursor); rc != 0) {
        return MdbStatus(rc, "open cursor", *env_);
      }
      MDB_val k = ValOf(prefix);
      MDB_val v;
      int rc = ::mdb_cursor_get(cursor, &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
      while (rc == 0 && static_cast<int>(keys.size()) < limit) {
        std::string_view found(static_cast<const char*>(k.mv_data), k.mv_size);
        if (found.substr(0, prefix.size()) != prefix) break;
        keys.emplace_back(found);
        rc = ::mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
      // Read-only cursors are not freed with their transaction.
      ::mdb_cursor_close(cursor);
      if (rc != 0 && rc != MDB_NOTFOUND) return MdbStatus(rc, "list", *env_);
      return absl::OkStatus();
    }));
    return keys;
  }

  // Drops one reference; the last one closes the environment. Everything under the
  // registry mutex, so a concurrent open of the same directory either shares this
  // environment or starts after it is fully closed (never two at once).
  static void Release(SharedEnv* env) {
    Registry& registry = GlobalRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    if (--env->refs > 0) return;
    auto it = registry.envs.find(env->path);
    if (it != registry.envs.end() && it->second == env) registry.envs.erase(it);
    // Other threads' cached slots only ever match this environment's id, which is never
    // reused; marking them aborted lets those threads prune them.
    std::vector<std::shared_ptr<ReadSlot>> slots = std::move(env->slots);
    for (auto& slot : slots) {
      if (slot->txn != nullptr && env->pid == ::getpid()) ::mdb_txn_abort(slot->txn);
      slot->txn = nullptr;
    }
    // A forked child leaves the parent's environment alone (closing it would clear the
    // parent's reader slots in the shared lock file).
    if (env->pid == ::getpid()) ::mdb_env_close(env->env);
    delete env;
  }

 private:
  // PutIfNewer's body inside an open write transaction (the caller commits or aborts).
  absl::StatusOr<bool> PutIfNewerIn(MDB_txn* txn, std::string_view key, std::string_view value,
                                    int64_t version) {
    MDB_val k = ValOf(key);
    MDB_val current;
    int rc = ::mdb_get(txn, env_->dbi, &k, &current);
    if (rc == 0) {
      int64_t stored = DecodeVersion(current);
      if (stored < 0) return CorruptRecord(*env_, key);
      if (stored >= version) return false;
    } else if (rc != MDB_NOTFOUND) {
      return MdbStatus(rc, "get", *env_);
    }
    // MDB_RESERVE: LMDB hands back the space and we write version + value into it, so no
    // concatenated copy is built.
    MDB_val v{.mv_size = kVersionBytes + value.size(), .mv_data = nullptr};
    if (rc = ::mdb_put(txn, env_->dbi, &k, &v, MDB_RESERVE); rc != 0) {
      return MdbStatus(rc, "put", *env_);
    }
    auto* out = static_cast<unsigned char*>(v.mv_data);
    EncodeVersion(version, out);
    if (!value.empty()) std::memcpy(out + kVersionBytes, value.data(), value.size());
    return true;
  }

  absl::Status CheckWritable() const {
    if (!read_only_) return absl::OkStatus();
    return absl::FailedPreconditionError(
        StrCat("edge KV ", env_->path, " was opened read_only; writes go through the api"));
  }

  // Runs `fn` inside this thread's read-only transaction on the environment and returns
  // its status once the snapshot it read is known to be a published one (below).
  //
  // The transaction is kept per thread and renewed/reset around each read: a reset
  // transaction keeps its reader slot but pins no snapshot, so an idle reader never holds
  // back page reuse, and the hot path takes no lock and allocates nothing of its own.
  //
  // Why the second renew: an LMDB 0.9 reader takes the published txnid T and then copies
  // meta page T&1. If it is delayed between the two while the writer publishes T+1 and
  // starts writing T+2's meta into the same page (the pwrite lands in the page cache before
  // the fsync that precedes publication), it reads T+2's tree, and the next read, which
  // sees T+1 published, goes back one version (the conformance suite caught this with 4
  // threads on 2 cores). After reading we therefore renew again: if the published txnid is
  // still the one we started from, nothing was published while we copied, so what we read
  // was snapshot T itself (x86-64 store order; LMDB's own reader protocol assumes the
  // same). Otherwise `fn` runs again on the newer snapshot. `fn` must therefore overwrite
  // (not append to) its outputs, and must not read through this class again.
  template <typename Fn>
  absl::Status WithReadTxn(Fn&& fn) {
    ReadSlot* slot = t_read_slots.Find(env_->id);
    if (slot == nullptr) {
      MDB_txn* txn = nullptr;
      if (int rc = BeginRead(env_->env, &txn); rc != 0) return MdbStatus(rc, "begin read", *env_);
      auto owned = std::make_shared<ReadSlot>(ReadSlot{.env = env_, .txn = txn});
      slot = owned.get();
      Registry& registry = GlobalRegistry();
      std::lock_guard<std::mutex> lock(registry.mu);
      env_->slots.push_back(owned);
      t_read_slots.AddLocked(env_->id, std::move(owned));
    } else if (int rc = ::mdb_txn_renew(slot->txn); rc != 0) {
      DropFailedSlot(slot);
      return MdbStatus(rc, "renew read", *env_);
    }
    constexpr int kMaxAttempts = 1000;
    for (int attempt = 1;; ++attempt) {
      const size_t snapshot = ::mdb_txn_id(slot->txn);
      absl::Status status = fn(slot->txn);
      ::mdb_txn_reset(slot->txn);
      if (int rc = ::mdb_txn_renew(slot->txn); rc != 0) {
        DropFailedSlot(slot);
        return MdbStatus(rc, "renew read", *env_);
      }
      if (::mdb_txn_id(slot->txn) == snapshot) {
        ::mdb_txn_reset(slot->txn);
        return status;
      }
      if (attempt == kMaxAttempts) {
        ::mdb_txn_reset(slot->txn);
        return absl::UnavailableError(StrCat("edge KV ", env_->path, ": ", kMaxAttempts,
                                             " reads in a row overlapped a commit; retry"));
      }
    }
  }

  // A transaction whose renew failed is not worth reasoning about: drop it; the next read
  // begins a fresh one.
  void DropFailedSlot(ReadSlot* slot) {
    Registry& registry = GlobalRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    t_read_slots.RemoveLocked(slot);
  }

  SharedEnv* const env_;
  const bool read_only_;
};

// mkdir -p, each created component 0700 (chmod as well, so the umask cannot widen or
// narrow it). Existing components are left as they are.
absl::Status MakeDirs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          StrCat("edge KV path ", path, " exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/') continue;
    std::string prefix = path.substr(0, at);
    if (::mkdir(prefix.c_str(), 0700) == 0) {
      if (::chmod(prefix.c_str(), 0700) != 0) {
        int err = errno;
        return absl::InternalError(StrCat("chmod ", prefix, ": ", std::strerror(err)));
      }
    } else if (errno != EEXIST) {
      int err = errno;
      std::string message = StrCat("mkdir ", prefix, ": ", std::strerror(err));
      if (err == EACCES || err == EPERM || err == EROFS) {
        return absl::PermissionDeniedError(message);
      }
      return absl::InternalError(message);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    int err = errno;
    std::string message = StrCat("edge KV path ", path, ": ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(StrCat(message, " (the writer creates the store)"));
    }
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  std::string out(resolved);
  ::free(resolved);
  return out;
}

// Opens the environment and its main database. Caller holds the registry mutex.
absl::StatusOr<SharedEnv*> OpenEnvLocked(const std::string& real_path,
                                         const LmdbEdgeKvOptions& options, uint64_t id) {
  auto shared = std::make_unique<SharedEnv>();
  shared->path = real_path;
  shared->map_size = options.map_size;
  shared->max_readers = options.max_readers;
  shared->read_only = options.read_only;
  shared->pid = ::getpid();
  shared->id = id;
  if (int rc = ::mdb_env_create(&shared->env); rc != 0) {
    return MdbStatus(rc, "create environment", *shared);
  }
  auto fail = [&](int rc, std::string_view what) {
    absl::Status status = MdbStatus(rc, what, *shared);
    ::mdb_env_close(shared->env);  // also required after a failed mdb_env_open
    return status;
  };
  if (int rc = ::mdb_env_set_mapsize(shared->env, options.map_size); rc != 0) {
    return fail(rc, "set map size");
  }
  if (int rc = ::mdb_env_set_maxreaders(shared->env, static_cast<unsigned>(options.max_readers));
      rc != 0) {
    return fail(rc, "set max readers");
  }
  // MDB_NOTLS: reader slots belong to transaction objects, not threads, so the per-thread
  // reset transactions can be closed from any thread and handles may move across threads.
  unsigned flags = MDB_NOTLS | (options.read_only ? MDB_RDONLY : 0u);
  if (int rc = ::mdb_env_open(shared->env, real_path.c_str(), flags, 0600); rc != 0) {
    return fail(rc, options.read_only ? "open read-only" : "open");
  }
  if (::mdb_env_get_maxkeysize(shared->env) < static_cast<int>(kMaxEdgeKvKeyBytes)) {
    absl::Status status = absl::InternalError(
        StrCat("edge KV ", real_path, ": liblmdb was built with a key limit of ",
               ::mdb_env_get_maxkeysize(shared->env), " bytes; EdgeKv needs ", kMaxEdgeKvKeyBytes));
    ::mdb_env_close(shared->env);
    return status;
  }
  // Free the reader slots of processes that died without closing (a crashed delivery).
  int dead = 0;
  ::mdb_reader_check(shared->env, &dead);

  MDB_txn* txn = nullptr;
  int rc = options.read_only ? BeginRead(shared->env, &txn)
                             : ::mdb_txn_begin(shared->env, nullptr, 0, &txn);
  if (rc != 0) return fail(rc, "begin");
  if (rc = ::mdb_dbi_open(txn, nullptr, 0, &shared->dbi); rc != 0) {
    ::mdb_txn_abort(txn);
    return fail(rc, "open main database");
  }
  if (rc = ::mdb_txn_commit(txn); rc != 0) return fail(rc, "commit");
  return shared.release();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EdgeKv>> OpenLmdbEdgeKv(const LmdbEdgeKvOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("edge KV path is empty");
  if (options.map_size == 0) return absl::InvalidArgumentError("edge KV map_size is 0");
  if (options.max_readers < 1) {
    return absl::InvalidArgumentError(
        StrCat("edge KV max_readers is ", options.max_readers, "; must be >= 1"));
  }
  if (!options.read_only) EV_RETURN_IF_ERROR(MakeDirs(options.path));
  EV_ASSIGN_OR_RETURN(std::string real_path, RealPath(options.path));

  Registry& registry = GlobalRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.envs.find(real_path);
  // An entry made by another pid was inherited over fork(): this process opens its own.
  if (it != registry.envs.end() && it->second->pid == ::getpid()) {
    SharedEnv* env = it->second;
    if (env->read_only && !options.read_only) {
      return absl::FailedPreconditionError(
          StrCat("edge KV ", real_path,
                 " is already open read-only in this process; open it read-write first"));
    }
    ++env->refs;
    return std::unique_ptr<EdgeKv>(new LmdbEdgeKv(env, options.read_only));
  }
  EV_ASSIGN_OR_RETURN(SharedEnv * env, OpenEnvLocked(real_path, options, registry.next_id++));
  env->refs = 1;
  registry.envs[real_path] = env;
  return std::unique_ptr<EdgeKv>(new LmdbEdgeKv(env, options.read_only));
}

}  // namespace edgevault::storage
