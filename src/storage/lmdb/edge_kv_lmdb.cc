#include "src/storage/lmdb/edge_kv_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/lmdb/lmdb_file_check.h"

namespace edgevault::storage {
namespace {

using base::StrCat;
using lmdb_internal::LmdbMeta;

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

// ---------------------------------------------------------------------------------------
// The fault guard. LMDB trusts its file: on a damaged one it fails an assertion
// (mdb_assert_fail calls the environment's assert callback, then abort()), or reads through
// a bad offset (SIGSEGV) or past the end of a truncated file (SIGBUS, the map being larger
// than the file). Every LMDB call of this backend runs inside Guarded(): the assert callback
// and the SIGSEGV/SIGBUS handlers jump back to it (siglongjmp) when the faulting thread is
// inside one, and Guarded() returns false; the environment is then marked damaged and never
// touched again (a write transaction cut short keeps LMDB's writer mutex: the store is given
// up, see MarkDamaged). A fault on a thread that is not inside Guarded() goes to the handler
// that was installed before ours (by default: the process dies with a core dump, as before).
//
// Rules for the code a guard runs (so that jumping out of it is defined C++): it declares no
// object with a non-trivial destructor (a jump would skip it), and it reads the map only in
// LMDB calls and in memcpy/loads into storage that exists before the guard; allocation
// (std::string::resize) happens before the bytes are copied, never around a read of the map.

struct FaultInfo {
  int signal = 0;  // SIGSEGV or SIGBUS; 0 for an LMDB assertion
  void* address = nullptr;
  char assertion[240] = {};
};

// Left uninitialised on purpose (a guard is set up on every read): the handlers fill in
// `info` before they jump.
struct FaultGuard {
  sigjmp_buf jump;
  struct {
    int signal;
    void* address;
    char assertion[sizeof FaultInfo::assertion];
  } info;
};

// Initial-exec TLS of a trivially initialised pointer: safe to read in a signal handler.
constinit thread_local FaultGuard* t_fault_guard = nullptr;

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

// A fault that is not ours: what would have happened without our handler.
void ForwardFault(int sig, siginfo_t* info, void* context) {
  const struct sigaction& previous = sig == SIGBUS ? g_previous_bus : g_previous_segv;
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    if (previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(sig, info, context);
      return;
    }
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  // The default action: restore it. A real fault re-runs its instruction on return and the
  // process dies of it (with a core dump); a signal someone sent is raised again.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) ::raise(sig);
}

void OnFault(int sig, siginfo_t* info, void* context) {
  FaultGuard* guard = t_fault_guard;
  if (guard != nullptr) {
    t_fault_guard = nullptr;
    guard->info.signal = sig;
    guard->info.address = info != nullptr ? info->si_addr : nullptr;
    guard->info.assertion[0] = '\0';
    // The handler runs with SA_NODEFER, so no signal is left blocked by jumping out.
    siglongjmp(guard->jump, 1);
  }
  ForwardFault(sig, info, context);
}

void OnLmdbAssert(MDB_env*, const char* message) {
  FaultGuard* guard = t_fault_guard;
  if (guard == nullptr) return;  // not inside Guarded(): LMDB prints the message and aborts
  t_fault_guard = nullptr;
  guard->info.signal = 0;
  guard->info.address = nullptr;
  size_t n = ::strnlen(message, sizeof guard->info.assertion - 1);
  std::memcpy(guard->info.assertion, message, n);
  guard->info.assertion[n] = '\0';
  siglongjmp(guard->jump, 1);
}

void InstallFaultHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnFault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &g_previous_segv);
    ::sigaction(SIGBUS, &sa, &g_previous_bus);
  });
}

// Runs fn(); true when it returned, false when a fault or an LMDB assertion cut it short
// (`*fault` says which). Not inlined, so the jump buffer's frame is exactly this one.
template <typename Fn>
[[gnu::noinline]] bool Guarded(Fn& fn, FaultInfo* fault) {
  FaultGuard guard;
  FaultGuard* const outer = t_fault_guard;
  if (sigsetjmp(guard.jump, 0) != 0) {
    t_fault_guard = outer;
    fault->signal = guard.info.signal;
    fault->address = guard.info.address;
    std::memcpy(fault->assertion, guard.info.assertion, sizeof fault->assertion);
    return false;
  }
  t_fault_guard = &guard;
  try {
    fn();
  } catch (...) {
    t_fault_guard = outer;
    throw;
  }
  t_fault_guard = outer;
  return true;
}

std::string DescribeFault(const FaultInfo& f, std::string_view during) {
  if (f.signal == 0) return StrCat("LMDB failed an assertion during ", during, ": ", f.assertion);
  std::string address = absl::StrFormat("%p", f.address);
  if (f.signal == SIGBUS) {
    return StrCat("SIGBUS at ", address, " during ", during,
                  ": a page LMDB needed lies past the end of data.mdb (truncated?)");
  }
  return StrCat("SIGSEGV at ", address, " during ", during,
                ": LMDB followed a damaged page offset out of its map");
}

// ---------------------------------------------------------------------------------------

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
  int data_fd = -1;                // LMDB's descriptor of data.mdb
  std::atomic<uint64_t> known_file_size{0};  // a size data.mdb had (FitsFile)
  dev_t data_dev = 0, lock_dev = 0;  // which files these are (a rebuilt store has new ones)
  ino_t data_ino = 0, lock_ino = 0;
  // Held around every write transaction. LMDB serialises writers on a mutex in lock.mdb;
  // a write transaction a fault cut short never releases that one, and a thread waiting
  // on it would wait for ever. Waiting here instead, the next writer finds the environment
  // damaged and never calls into LMDB.
  std::mutex write_mu;
  // Damage: set once, never cleared. `damage` is written before `damaged` is set.
  std::atomic<bool> damaged{false};
  std::mutex damage_mu;
  std::string damage;  // guarded by damage_mu
  // The writer's view of data.mdb after its own last commit (size, mtime, ctime), so that
  // Inspect notices a change made by someone else.
  std::mutex own_mu;
  struct stat own_stat {};  // guarded by own_mu
  bool own_known = false;   // guarded by own_mu
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
  // In a forked child the transaction and its reader slot belong to the parent; in a
  // damaged environment it is left alone (it may have been cut short by a fault).
  if (env->pid == ::getpid() && !env->damaged.load()) ::mdb_txn_abort(slot->txn);
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

// LMDB codes that mean the file is not what LMDB wrote.
bool IsDamageCode(int rc) {
  return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_PANIC || rc == MDB_INVALID ||
         rc == MDB_VERSION_MISMATCH;
}

// Returned by the guarded bodies below for a record that is not <8-byte version><value>
// (LMDB's own codes are 0, positive errno values, and -30799..-30780).
constexpr int kBadRecord = -1;

absl::Status DamagedStatus(SharedEnv& env) {
  std::lock_guard<std::mutex> lock(env.damage_mu);
  return absl::DataLossError(
      StrCat("edge KV ", env.path, " is damaged (", env.damage,
             "); nothing more is read from it: the api moves it aside and rebuilds it from the "
             "workspaces (docs/design/edge-kv.md, \"Damage\")"));
}

// Marks the environment damaged (the first description wins) and returns DataLoss.
absl::Status MarkDamaged(SharedEnv& env, std::string description) {
  {
    std::lock_guard<std::mutex> lock(env.damage_mu);
    if (!env.damaged.load(std::memory_order_relaxed)) {
      env.damage = std::move(description);
      env.damaged.store(true, std::memory_order_release);
      EV_LOG(kError, "edge KV store is damaged",
             {{"path", env.path}, {"damage", env.damage}, {"read_only", env.read_only}});
    }
  }
  return DamagedStatus(env);
}

// The status for a failed LMDB call: damage codes mark the environment damaged.
absl::Status FailStatus(int rc, std::string_view what, SharedEnv& env) {
  if (IsDamageCode(rc)) return MarkDamaged(env, StrCat(what, ": ", ::mdb_strerror(rc)));
  return MdbStatus(rc, what, env);
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

absl::Status CorruptRecord(SharedEnv& env, std::string_view key) {
  return MarkDamaged(env, StrCat("the record of ", KeyForMessage(key),
                                 " is not <8-byte version><value>"));
}

// True when a value LMDB returned can be in the file: a damaged node can claim any size,
// and the copy would allocate it first. (Where the bytes are does not need checking: a read
// through a bad pointer faults inside the guard.) The file only grows, so a size it had is a
// safe bound; fstat only when the value is larger than that.
bool FitsFile(SharedEnv& env, const MDB_val& v) {
  if (v.mv_size <= env.known_file_size.load(std::memory_order_relaxed)) return true;
  struct stat st;
  if (::fstat(env.data_fd, &st) != 0) return false;
  env.known_file_size.store(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
  return v.mv_size <= static_cast<uint64_t>(st.st_size);
}

// Begins a read-only transaction, clearing reader slots of dead processes once if the
// lock table is full. Runs under a guard.
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

// The data file's identity and state.
bool StatFile(const std::string& path, struct stat* st) { return ::stat(path.c_str(), st) == 0; }
bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
bool SameContentStamp(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
         a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

// CheckLmdbMetas, repeated when it fails: a writer rewriting a meta page while we read it
// can show a torn page, so only a failure seen three times in a row counts.
absl::StatusOr<LmdbMeta> CheckMetasSettled(int fd) {
  absl::StatusOr<LmdbMeta> meta = lmdb_internal::CheckLmdbMetas(fd);
  for (int attempt = 1; attempt < 3 && !meta.ok() && absl::IsDataLoss(meta.status()); ++attempt) {
    meta = lmdb_internal::CheckLmdbMetas(fd);
  }
  return meta;
}

bool SameMeta(const LmdbMeta& a, const LmdbMeta& b) {
  auto same_tree = [](const lmdb_internal::LmdbTree& x, const lmdb_internal::LmdbTree& y) {
    return x.depth == y.depth && x.branch_pages == y.branch_pages && x.leaf_pages == y.leaf_pages &&
           x.overflow_pages == y.overflow_pages && x.entries == y.entries && x.root == y.root;
  };
  return a.page_size == b.page_size && a.last_page == b.last_page && a.txnid == b.txnid &&
         same_tree(a.free_tree, b.free_tree) && same_tree(a.main_tree, b.main_tree);
}

// Walks the whole tree of the newest snapshot, pinned by a read transaction so the writer
// cannot recycle its pages meanwhile. OK also when the walk stayed inconclusive (the meta
// page of the pinned snapshot was rewritten under it five times in a row: a busy writer
// whose commits LMDB itself reads fine).
absl::Status DeepCheck(SharedEnv& env) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    MDB_txn* txn = nullptr;
    int rc = 0;
    FaultInfo fault;
    auto begin = [&] { rc = BeginRead(env.env, &txn); };
    if (!Guarded(begin, &fault)) return MarkDamaged(env, DescribeFault(fault, "a check's read"));
    if (rc != 0) return FailStatus(rc, "begin the check's read", env);
    const uint64_t txnid = ::mdb_txn_id(txn);
    absl::Status result = absl::OkStatus();
    bool conclusive = false;
    absl::StatusOr<std::array<LmdbMeta, 2>> before = lmdb_internal::ReadLmdbMetas(env.data_fd);
    if (!before.ok()) {
      result = before.status();
      conclusive = true;
    } else {
      for (int m = 0; m < 2 && !conclusive; ++m) {
        const LmdbMeta& meta = (*before)[m];
        if (meta.txnid != txnid) continue;
        absl::Status walked = lmdb_internal::CheckLmdbTrees(env.data_fd, meta);
        absl::StatusOr<std::array<LmdbMeta, 2>> after = lmdb_internal::ReadLmdbMetas(env.data_fd);
        if (after.ok() && SameMeta((*after)[m], meta)) {
          result = walked;
          conclusive = true;
        }
      }
    }
    auto end = [&] { ::mdb_txn_abort(txn); };
    if (!Guarded(end, &fault)) return MarkDamaged(env, DescribeFault(fault, "a check's read"));
    if (!conclusive) continue;
    if (!result.ok() && absl::IsDataLoss(result)) {
      return MarkDamaged(env, std::string(result.message()));
    }
    return result;
  }
  return absl::OkStatus();
}

class LmdbEdgeKvImpl final : public LmdbEdgeKv {
 public:
  // Takes one reference on `env` (already counted by the caller).
  LmdbEdgeKvImpl(SharedEnv* env, bool read_only) : env_(env), read_only_(read_only) {}
  ~LmdbEdgeKvImpl() override { Release(env_); }

  LmdbEdgeKvImpl(const LmdbEdgeKvImpl&) = delete;
  LmdbEdgeKvImpl& operator=(const LmdbEdgeKvImpl&) = delete;

  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    EV_RETURN_IF_ERROR(ValidateEdgeKvVersion(version));
    EV_RETURN_IF_ERROR(CheckWritable());
    if (damaged()) return DamagedStatus(*env_);
    KvWrite write{key, value, version};
    char written = 0;
    EV_RETURN_IF_ERROR(WriteTxn(&write, 1, &written));
    return written != 0;
  }

  // All writes in one write transaction: one commit (one fsync) for the batch, and
  // readers see all of it or none of it.
  absl::StatusOr<std::vector<bool>> PutManyIfNewer(const std::vector<KvWrite>& writes) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvWrites(writes));
    EV_RETURN_IF_ERROR(CheckWritable());
    if (writes.empty()) return std::vector<bool>();
    if (damaged()) return DamagedStatus(*env_);
    std::vector<char> flags(writes.size(), 0);
    EV_RETURN_IF_ERROR(WriteTxn(writes.data(), writes.size(), flags.data()));
    return std::vector<bool>(flags.begin(), flags.end());
  }

  absl::StatusOr<KvEntry> Get(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    if (damaged()) return DamagedStatus(*env_);
    KvEntry entry;
    SharedEnv& env = *env_;
    EV_RETURN_IF_ERROR(WithReadTxn("get", key, [&](MDB_txn* txn) -> int {
      MDB_val k = ValOf(key);
      MDB_val v;
      if (int rc = ::mdb_get(txn, env.dbi, &k, &v); rc != 0) return rc;
      if (!FitsFile(env, v)) return kBadRecord;
      entry.version = DecodeVersion(v);
      if (entry.version < 0) return kBadRecord;
      entry.value.resize(v.mv_size - kVersionBytes);  // allocates; reads nothing of the map
      std::memcpy(entry.value.data(), static_cast<const char*>(v.mv_data) + kVersionBytes,
                  v.mv_size - kVersionBytes);
      return 0;
    }));
    return entry;
  }

  absl::StatusOr<int64_t> GetVersion(std::string_view key) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    if (damaged()) return DamagedStatus(*env_);
    int64_t version = -1;
    const SharedEnv& env = *env_;
    EV_RETURN_IF_ERROR(WithReadTxn("get", key, [&](MDB_txn* txn) -> int {
      MDB_val k = ValOf(key);
      MDB_val v;
      if (int rc = ::mdb_get(txn, env.dbi, &k, &v); rc != 0) return rc;
      version = DecodeVersion(v);
      return version < 0 ? kBadRecord : 0;
    }));
    return version;
  }

  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override {
    EV_RETURN_IF_ERROR(ValidateEdgeKvKey(key));
    EV_RETURN_IF_ERROR(ValidateEdgeKvVersion(version));
    EV_RETURN_IF_ERROR(CheckWritable());
    std::lock_guard<std::mutex> writing(env_->write_mu);  // see SharedEnv::write_mu
    if (damaged()) return DamagedStatus(*env_);
    int rc = 0;
    const char* stage = "begin write";
    bool removed = false;
    const SharedEnv& env = *env_;
    auto body = [&] {
      MDB_txn* txn = nullptr;
      if (rc = ::mdb_txn_begin(env.env, nullptr, 0, &txn); rc != 0) return;
      stage = "get";
      MDB_val k = ValOf(key);
      MDB_val current;
      if (rc = ::mdb_get(txn, env.dbi, &k, &current); rc == 0) {
        const int64_t stored = DecodeVersion(current);
        if (stored < 0) {
          rc = kBadRecord;
        } else if (stored <= version) {
          stage = "delete";
          rc = ::mdb_del(txn, env.dbi, &k, nullptr);
          removed = rc == 0;
        }
      }
      if (rc != 0 || !removed) {
        ::mdb_txn_abort(txn);
        return;
      }
      stage = "commit";
      rc = ::mdb_txn_commit(txn);
    };
    FaultInfo fault;
    if (!Guarded(body, &fault)) return MarkDamaged(*env_, DescribeFault(fault, "a delete"));
    if (rc == MDB_NOTFOUND) return NoSuchKey(*env_, key);
    if (rc == kBadRecord) return CorruptRecord(*env_, key);
    if (rc != 0) return FailStatus(rc, stage, *env_);
    if (removed) RecordOwnCommit();
    return removed;
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix,
                                                    int limit) override {
    if (limit < 0) {
      return absl::InvalidArgumentError(StrCat("edge KV list limit is ", limit, "; must be >= 0"));
    }
    std::vector<std::string> keys;
    // No stored key can start with a prefix longer than the key limit.
    if (limit == 0 || prefix.size() > kMaxEdgeKvKeyBytes) return keys;
    if (damaged()) return DamagedStatus(*env_);
    const SharedEnv& env = *env_;
    char found[kMaxEdgeKvKeyBytes];
    EV_RETURN_IF_ERROR(WithReadTxn("list", prefix, [&](MDB_txn* txn) -> int {
      keys.clear();
      MDB_cursor* cursor = nullptr;
      if (int rc = ::mdb_cursor_open(txn, env.dbi, &cursor); rc != 0) return rc;
      MDB_val k = ValOf(prefix);
      MDB_val v;
      int rc = ::mdb_cursor_get(cursor, &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
      while (rc == 0 && static_cast<int>(keys.size()) < limit) {
        if (k.mv_size > sizeof found) {
          rc = kBadRecord;
          break;
        }
        std::memcpy(found, k.mv_data, k.mv_size);  // the map is read here, not below
        if (k.mv_size < prefix.size() || std::memcmp(found, prefix.data(), prefix.size()) != 0) break;
        keys.emplace_back(found, k.mv_size);
        rc = ::mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
      // Read-only cursors are not freed with their transaction.
      ::mdb_cursor_close(cursor);
      return rc == MDB_NOTFOUND ? 0 : rc;
    }));
    return keys;
  }

  LmdbStoreState Inspect(bool deep, std::string* detail) override {
    auto report = [&](LmdbStoreState state, std::string text) {
      if (detail != nullptr) *detail = std::move(text);
      return state;
    };
    auto damaged_report = [&] {
      std::lock_guard<std::mutex> lock(env_->damage_mu);
      return report(LmdbStoreState::kDamaged, env_->damage);
    };
    // Replaced first: a damaged store the writer has rebuilt is a new one to open.
    const std::string data_path = env_->path + "/data.mdb";
    struct stat now, opened;
    if (!StatFile(data_path, &now)) {
      int err = errno;
      return report(LmdbStoreState::kReplaced,
                    StrCat(data_path, " is gone (", std::strerror(err), "): deleted or moved"));
    }
    if (::fstat(env_->data_fd, &opened) != 0 || !SameFile(now, opened)) {
      return report(LmdbStoreState::kReplaced,
                    StrCat(data_path, " is another file than the one open here (rebuilt or replaced)"));
    }
    if (damaged()) return damaged_report();
    absl::StatusOr<LmdbMeta> meta = CheckMetasSettled(env_->data_fd);
    if (!meta.ok()) {
      (void)MarkDamaged(*env_, std::string(meta.status().message()));
      return damaged_report();
    }
    bool walk = deep;
    if (!read_only_ && !walk) {
      std::lock_guard<std::mutex> lock(env_->own_mu);
      walk = env_->own_known && !SameContentStamp(env_->own_stat, opened);
      if (walk) {
        EV_LOG(kWarn, "edge KV data.mdb changed outside this process; checking every page",
               {{"path", env_->path}});
      }
    }
    if (walk) {
      absl::Status checked = DeepCheck(*env_);
      if (damaged()) return damaged_report();
      if (!checked.ok()) return report(LmdbStoreState::kOk, std::string(checked.message()));
      if (!read_only_) {
        std::lock_guard<std::mutex> lock(env_->own_mu);
        env_->own_stat = opened;
        env_->own_known = true;
      }
    }
    return report(LmdbStoreState::kOk, "");
  }

  bool damaged() const override { return env_->damaged.load(std::memory_order_acquire); }

  // Drops one reference; the last one closes the environment. Everything under the
  // registry mutex, so a concurrent open of the same directory either shares this
  // environment or starts after it is fully closed (never two at once).
  static void Release(SharedEnv* env) {
    Registry& registry = GlobalRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    if (--env->refs > 0) return;
    auto it = registry.envs.find(env->path);
    if (it != registry.envs.end() && it->second == env) registry.envs.erase(it);
    const bool own = env->pid == ::getpid();
    // A damaged environment is never touched again: a fault may have cut a transaction
    // short inside LMDB. It stays mapped (a small, bounded leak) rather than closed.
    const bool usable = own && !env->damaged.load();
    // Other threads' cached slots only ever match this environment's id, which is never
    // reused; marking them aborted lets those threads prune them.
    std::vector<std::shared_ptr<ReadSlot>> slots = std::move(env->slots);
    for (auto& slot : slots) {
      if (slot->txn != nullptr && usable) ::mdb_txn_abort(slot->txn);
      slot->txn = nullptr;
    }
    // A forked child leaves the parent's environment alone (closing it would clear the
    // parent's reader slots in the shared lock file).
    if (!usable) return;
    ::mdb_env_close(env->env);
    delete env;
  }

 private:
  // Applies `n` writes (PutIfNewer each) in one write transaction; `written[i]` says
  // whether write i was applied.
  absl::Status WriteTxn(const KvWrite* writes, size_t n, char* written) {
    std::lock_guard<std::mutex> writing(env_->write_mu);  // see SharedEnv::write_mu
    if (damaged()) return DamagedStatus(*env_);
    int rc = 0;
    const char* stage = "begin write";
    size_t at = 0;
    const SharedEnv& env = *env_;
    auto body = [&] {
      MDB_txn* txn = nullptr;
      if (rc = ::mdb_txn_begin(env.env, nullptr, 0, &txn); rc != 0) return;
      stage = "put";
      bool any = false;
      for (at = 0; at < n && rc == 0; ++at) {
        rc = PutIfNewerIn(env, txn, writes[at], &written[at]);
        any = any || written[at] != 0;
      }
      if (rc != 0 || !any) {
        ::mdb_txn_abort(txn);  // an error, or nothing changed: no commit, no fsync
        return;
      }
      stage = "commit";
      rc = ::mdb_txn_commit(txn);
    };
    FaultInfo fault;
    if (!Guarded(body, &fault)) return MarkDamaged(*env_, DescribeFault(fault, "a write"));
    if (rc == kBadRecord) return CorruptRecord(*env_, writes[at - 1].key);
    if (rc != 0) return FailStatus(rc, stage, *env_);
    if (std::string_view(stage) == "commit") RecordOwnCommit();
    return absl::OkStatus();
  }

  // PutIfNewer's body inside an open write transaction (the caller commits or aborts).
  // Runs under a guard: no objects with destructors.
  static int PutIfNewerIn(const SharedEnv& env, MDB_txn* txn, const KvWrite& w, char* written) {
    *written = 0;
    MDB_val k = ValOf(w.key);
    MDB_val current;
    int rc = ::mdb_get(txn, env.dbi, &k, &current);
    if (rc == 0) {
      const int64_t stored = DecodeVersion(current);
      if (stored < 0) return kBadRecord;
      if (stored >= w.version) return 0;
    } else if (rc != MDB_NOTFOUND) {
      return rc;
    }
    // MDB_RESERVE: LMDB hands back the space and we write version + value into it, so no
    // concatenated copy is built.
    MDB_val v{.mv_size = kVersionBytes + w.value.size(), .mv_data = nullptr};
    if (rc = ::mdb_put(txn, env.dbi, &k, &v, MDB_RESERVE); rc != 0) return rc;
    auto* out = static_cast<unsigned char*>(v.mv_data);
    EncodeVersion(w.version, out);
    if (!w.value.empty()) std::memcpy(out + kVersionBytes, w.value.data(), w.value.size());
    *written = 1;
    return 0;
  }

  // After a commit of ours: what data.mdb looks like now (Inspect compares).
  void RecordOwnCommit() {
    struct stat st;
    if (::fstat(env_->data_fd, &st) != 0) return;
    std::lock_guard<std::mutex> lock(env_->own_mu);
    env_->own_stat = st;
    env_->own_known = true;
  }

  absl::Status CheckWritable() const {
    if (!read_only_) return absl::OkStatus();
    return absl::FailedPreconditionError(
        StrCat("edge KV ", env_->path, " was opened read_only; writes go through the api"));
  }

  // Runs `body(txn)` inside this thread's read-only transaction on the environment, under a
  // fault guard (so `body` follows Guarded's rules), and maps its result: 0 is OK,
  // MDB_NOTFOUND is NotFound naming `key`, kBadRecord and LMDB's damage codes mark the
  // store damaged, others are MdbStatus. The result stands once the snapshot it read is
  // known to be a published one (below).
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
  // same). Otherwise `body` runs again on the newer snapshot. `body` must therefore
  // overwrite (not append to) its outputs, and must not read through this class again.
  template <typename Body>
  absl::Status WithReadTxn(std::string_view what, std::string_view key, Body&& body) {
    FaultInfo fault;
    ReadSlot* slot = t_read_slots.Find(env_->id);
    bool renew = true;
    if (slot == nullptr) {
      MDB_txn* txn = nullptr;
      int rc = 0;
      auto begin = [&] { rc = BeginRead(env_->env, &txn); };
      if (!Guarded(begin, &fault)) return MarkDamaged(*env_, DescribeFault(fault, "begin read"));
      if (rc != 0) return FailStatus(rc, "begin read", *env_);
      auto owned = std::make_shared<ReadSlot>(ReadSlot{.env = env_, .txn = txn});
      slot = owned.get();
      Registry& registry = GlobalRegistry();
      std::lock_guard<std::mutex> lock(registry.mu);
      env_->slots.push_back(owned);
      t_read_slots.AddLocked(env_->id, std::move(owned));
      renew = false;  // a fresh transaction is live already
    }
    constexpr int kMaxAttempts = 1000;
    enum class Outcome { kRead, kRenewFailed, kOverlapped };
    Outcome outcome = Outcome::kRead;
    int rc = 0;        // body's result
    int renew_rc = 0;  // mdb_txn_renew's, when it failed
    MDB_txn* const txn = slot->txn;
    auto run = [&] {
      if (renew && (renew_rc = ::mdb_txn_renew(txn)) != 0) {
        outcome = Outcome::kRenewFailed;
        return;
      }
      for (int attempt = 1;; ++attempt) {
        const size_t snapshot = ::mdb_txn_id(txn);
        rc = body(txn);
        ::mdb_txn_reset(txn);
        if ((renew_rc = ::mdb_txn_renew(txn)) != 0) {
          outcome = Outcome::kRenewFailed;
          return;
        }
        if (::mdb_txn_id(txn) == snapshot) {
          ::mdb_txn_reset(txn);
          return;
        }
        if (attempt == kMaxAttempts) {
          ::mdb_txn_reset(txn);
          outcome = Outcome::kOverlapped;
          return;
        }
      }
    };
    if (!Guarded(run, &fault)) return MarkDamaged(*env_, DescribeFault(fault, StrCat("a ", what)));
    switch (outcome) {
      case Outcome::kRenewFailed:
        DropFailedSlot(slot);
        return FailStatus(renew_rc, "renew read", *env_);
      case Outcome::kOverlapped:
        return absl::UnavailableError(StrCat("edge KV ", env_->path, ": ", kMaxAttempts,
                                             " reads in a row overlapped a commit; retry"));
      case Outcome::kRead:
        break;
    }
    if (rc == 0) return absl::OkStatus();
    if (rc == MDB_NOTFOUND) return NoSuchKey(*env_, key);
    if (rc == kBadRecord) return CorruptRecord(*env_, key);
    return FailStatus(rc, what, *env_);
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

// Checks the meta pages of an existing data.mdb before LMDB maps it.
absl::Status PrecheckDataFile(const std::string& data_path) {
  int fd = ::open(data_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = StrCat("edge KV ", data_path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  absl::StatusOr<LmdbMeta> meta = CheckMetasSettled(fd);
  ::close(fd);
  if (!meta.ok()) {
    return absl::Status(meta.status().code(), StrCat("edge KV ", data_path, ": ", meta.status().message()));
  }
  return absl::OkStatus();
}

// Opens the environment and its main database. Caller holds the registry mutex. On error
// the environment is closed, unless a fault cut an LMDB call short (then it is leaked).
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
  ::mdb_env_set_assert(shared->env, &OnLmdbAssert);
  auto fail = [&](int rc, std::string_view what) {
    absl::Status status = MdbStatus(rc, what, *shared);
    if (IsDamageCode(rc)) {
      status = absl::DataLossError(StrCat("edge KV ", real_path, ": data.mdb is damaged: ", what,
                                          ": ", ::mdb_strerror(rc)));
    }
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
  int rc = 0;
  MDB_txn* txn = nullptr;
  const char* stage = options.read_only ? "open read-only" : "open";
  FaultInfo fault;
  auto open = [&] {
    // MDB_NOTLS: reader slots belong to transaction objects, not threads, so the per-thread
    // reset transactions can be closed from any thread and handles may move across threads.
    unsigned flags = MDB_NOTLS | (options.read_only ? MDB_RDONLY : 0u);
    if ((rc = ::mdb_env_open(shared->env, real_path.c_str(), flags, 0600)) != 0) return;
    // Free the reader slots of processes that died without closing (a crashed delivery).
    int dead = 0;
    ::mdb_reader_check(shared->env, &dead);
    stage = "begin";
    rc = options.read_only ? BeginRead(shared->env, &txn)
                           : ::mdb_txn_begin(shared->env, nullptr, 0, &txn);
    if (rc != 0) return;
    stage = "open main database";
    if ((rc = ::mdb_dbi_open(txn, nullptr, 0, &shared->dbi)) != 0) {
      ::mdb_txn_abort(txn);
      return;
    }
    stage = "commit";
    rc = ::mdb_txn_commit(txn);
  };
  if (!Guarded(open, &fault)) {
    shared.release();  // leaked on purpose: LMDB was cut short inside it
    return absl::DataLossError(StrCat("edge KV ", real_path, ": data.mdb is damaged: ",
                                      DescribeFault(fault, stage)));
  }
  if (rc != 0) return fail(rc, stage);
  if (::mdb_env_get_maxkeysize(shared->env) < static_cast<int>(kMaxEdgeKvKeyBytes)) {
    absl::Status status = absl::InternalError(
        StrCat("edge KV ", real_path, ": liblmdb was built with a key limit of ",
               ::mdb_env_get_maxkeysize(shared->env), " bytes; EdgeKv needs ", kMaxEdgeKvKeyBytes));
    ::mdb_env_close(shared->env);
    return status;
  }
  ::mdb_env_get_fd(shared->env, &shared->data_fd);
  struct stat data_st, lock_st;
  if (::fstat(shared->data_fd, &data_st) != 0 || !StatFile(real_path + "/lock.mdb", &lock_st)) {
    int err = errno;
    ::mdb_env_close(shared->env);
    return absl::InternalError(StrCat("edge KV ", real_path, ": stat: ", std::strerror(err)));
  }
  shared->data_dev = data_st.st_dev;
  shared->data_ino = data_st.st_ino;
  shared->lock_dev = lock_st.st_dev;
  shared->lock_ino = lock_st.st_ino;
  if (!options.read_only) {
    shared->own_stat = data_st;
    shared->own_known = true;
  }
  return shared.release();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LmdbEdgeKv>> OpenLmdbStore(const LmdbEdgeKvOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("edge KV path is empty");
  if (options.map_size == 0) return absl::InvalidArgumentError("edge KV map_size is 0");
  if (options.max_readers < 1) {
    return absl::InvalidArgumentError(
        StrCat("edge KV max_readers is ", options.max_readers, "; must be >= 1"));
  }
  if (!options.read_only) EV_RETURN_IF_ERROR(MakeDirs(options.path));
  EV_ASSIGN_OR_RETURN(std::string real_path, RealPath(options.path));
  InstallFaultHandlers();
  const std::string data_path = real_path + "/data.mdb";
  const std::string lock_path = real_path + "/lock.mdb";

  Registry& registry = GlobalRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  struct stat data_st, lock_st;
  const bool data_exists = StatFile(data_path, &data_st);
  const bool lock_exists = StatFile(lock_path, &lock_st);
  // An empty data.mdb is one the writer is creating (LMDB creates the file, then writes
  // both meta pages): not there yet, for a reader. (The writer itself sees it as damaged.)
  if (options.read_only && (!data_exists || data_st.st_size == 0)) {
    return absl::NotFoundError(
        StrCat("edge KV ", real_path, ": no data.mdb yet (the writer creates the store)"));
  }
  auto it = registry.envs.find(real_path);
  // An entry made by another pid was inherited over fork(): this process opens its own.
  if (it != registry.envs.end() && it->second->pid == ::getpid()) {
    SharedEnv* env = it->second;
    const bool same_file =
        data_exists && data_st.st_dev == env->data_dev && data_st.st_ino == env->data_ino;
    if (same_file) {
      if (env->damaged.load()) return DamagedStatus(*env);
      if (env->read_only && !options.read_only) {
        return absl::FailedPreconditionError(
            StrCat("edge KV ", real_path,
                   " is already open read-only in this process; open it read-write first"));
      }
      ++env->refs;
      return std::unique_ptr<LmdbEdgeKv>(new LmdbEdgeKvImpl(env, options.read_only));
    }
    // The directory holds another store now (rebuilt, or deleted and recreated). LMDB's
    // locks are per process and lock file, so the new one can be opened beside the old one
    // only if its lock.mdb is a new file as well.
    if (lock_exists && lock_st.st_dev == env->lock_dev && lock_st.st_ino == env->lock_ino) {
      return absl::FailedPreconditionError(
          StrCat("edge KV ", real_path, ": data.mdb was replaced while this process holds the "
                 "old one's lock.mdb; restart the process"));
    }
    registry.envs.erase(it);  // the old environment lives on for its remaining handles
  }
  if (data_exists) {
    EV_RETURN_IF_ERROR(PrecheckDataFile(data_path));
  } else if (lock_exists) {
    // A writer would create an empty data.mdb under a lock file that readers may still hold
    // with the old store's transaction ids.
    return absl::DataLossError(StrCat("edge KV ", real_path,
                                      ": data.mdb is missing but lock.mdb is there (half a store)"));
  }
  EV_ASSIGN_OR_RETURN(SharedEnv * env, OpenEnvLocked(real_path, options, registry.next_id++));
  if (data_exists) {
    absl::Status checked = DeepCheck(*env);
    if (!checked.ok()) {
      if (!env->damaged.load()) {  // a damaged one may have been cut short: leaked
        ::mdb_env_close(env->env);
        delete env;
      }
      return absl::Status(checked.code(), StrCat("edge KV ", real_path, ": ", checked.message()));
    }
  }
  env->refs = 1;
  registry.envs[real_path] = env;
  return std::unique_ptr<LmdbEdgeKv>(new LmdbEdgeKvImpl(env, options.read_only));
}

absl::StatusOr<std::unique_ptr<EdgeKv>> OpenLmdbEdgeKv(const LmdbEdgeKvOptions& options) {
  EV_ASSIGN_OR_RETURN(std::unique_ptr<LmdbEdgeKv> kv, OpenLmdbStore(options));
  return std::unique_ptr<EdgeKv>(std::move(kv));
}

absl::StatusOr<std::string> MoveLmdbStoreAside(const std::string& path, absl::Time now) {
  const std::string base =
      StrCat(path, ".damaged-", absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone()));
  for (int n = 1; n < 1000; ++n) {
    std::string target = n == 1 ? base : StrCat(base, "-", n);
    struct stat st;
    if (::lstat(target.c_str(), &st) == 0) continue;
    if (::rename(path.c_str(), target.c_str()) == 0) return target;
    int err = errno;
    std::string message = StrCat("moving the edge KV ", path, " aside to ", target, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  return absl::InternalError(StrCat("moving the edge KV ", path, " aside: every name is taken"));
}

}  // namespace edgevault::storage
