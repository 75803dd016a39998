#pragma once
// FaultInjectionEnv: an Env for tests that passes everything to a base Env (the real file
// system in a temporary directory) while it counts every write, fsync (of a file or a
// directory) and rename, fails the Nth one on request, and simulates crashes: a power loss
// drops what was not made durable (bytes appended after the last Sync, names created or
// renamed after the last SyncDir of their directory), a process kill keeps everything
// written. After a crash every operation fails (Unavailable) until Restart(), so the unit
// under test can neither finish nor repair anything; then a new instance of the unit is
// opened on the same Env, as after a real restart. The model: docs/design/durability.md.
// Test-only. Thread-safety: every method may be called from any thread.
//
//   base::testing::FaultInjectionEnv env(&sim_env);
//   env.InjectAt(FileOp::kSync, 3, Fault::kPowerLoss);   // the 3rd fsync never happens
//   EXPECT_FALSE(RunWorkload(&env).ok());
//   env.Restart();
//   ...open the unit again and check it shows the old or the new state

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "src/base/env.h"

namespace edgevault::base::testing {

// The counted operations. kSync counts WritableFile::Sync and Env::SyncDir together.
enum class FileOp { kWrite, kSync, kRename };

enum class Fault {
  kFail,            // the operation fails (EIO; a write: ENOSPC) and changes nothing
  kShortWrite,      // writes only: the first half of the bytes is written, then ENOSPC
  kPowerLoss,       // a crash before the operation: everything not durable is lost
  kPowerLossTorn,   // as kPowerLoss, but each file keeps half of its non-durable tail
  kProcessKill,     // a crash before the operation: the file system keeps all writes
};

inline constexpr std::initializer_list<FileOp> kAllFileOps = {FileOp::kWrite, FileOp::kSync,
                                                              FileOp::kRename};
inline constexpr std::initializer_list<Fault> kAllCrashes = {Fault::kPowerLoss, Fault::kPowerLossTorn,
                                                            Fault::kProcessKill};

// One point of a fault campaign: `fault` at the `k`th operation of kind `op`, of `total`
// such operations in a run without faults; k == total + 1 means "after the last one"
// (nothing is armed; the test crashes explicitly).
struct FaultPoint {
  FileOp op;
  Fault fault;
  int64_t k;
  int64_t total;

  bool after_last() const { return k > total; }
  std::string Describe() const;  // "power loss before fsync #3 of 7", for test messages
};

// Calls `body` for each op in `ops`, each fault in `faults` and k = 1..total (and
// total + 1 when `with_after_last`), where total = clean_count(op), the operations a
// fault-free run of the workload makes.
void ForEachFaultPoint(std::initializer_list<FileOp> ops, std::initializer_list<Fault> faults,
                       const std::function<int64_t(FileOp)>& clean_count, bool with_after_last,
                       const std::function<void(const FaultPoint&)>& body);

class FaultInjectionEnv : public Env {
 public:
  explicit FaultInjectionEnv(Env* base);
  ~FaultInjectionEnv() override;

  // Arms `fault` for the `nth` (1-based, counted since construction) operation of kind
  // `op`. kShortWrite applies to kWrite only.
  void InjectAt(FileOp op, int64_t nth, Fault fault);
  // InjectAt(point.op, point.k, point.fault) unless the point is after the last one.
  void Arm(const FaultPoint& point);
  // Operations of kind `op` attempted so far (including failed ones).
  int64_t count(FileOp op) const;
  // Armed faults that have fired.
  int64_t faults_fired() const;

  // Crashes now, as the fault of the same name would (kPowerLoss, kPowerLossTorn or
  // kProcessKill).
  void Crash(Fault kind);
  bool crashed() const;
  // The process comes back: operations work again, what is on disk now is durable, and
  // handles opened before the crash stay dead.
  void Restart();

  absl::Time Now() override;
  absl::Duration MonotonicNow() override;
  void RandomBytes(void* out, size_t n) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status CreateDirs(const std::string& path, uint32_t mode) override;
  bool Exists(const std::string& path) override;
  absl::StatusOr<uint32_t> FileMode(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status DeleteFile(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                FileOpen how,
                                                                uint32_t mode) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;

 private:
  class File;
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;        // bytes that survive a power loss
    bool name_durable = false;  // the directory entry survives a power loss
  };
  struct PendingRename {
    std::string from, to;
    std::optional<std::string> old_to_content;  // what `to` held before, if anything
    uint32_t old_to_mode = 0600;
    std::optional<FileState> old_to_state;
  };
  struct Armed {
    FileOp op;
    int64_t nth;
    Fault fault;
    bool fired = false;
  };

  // Counts an operation of kind `op` and returns the fault armed for it, if any. A crash
  // fault is carried out here. Requires mu_.
  std::optional<Fault> CountLocked(FileOp op);
  void CrashLocked(Fault kind);
  absl::Status DeadLocked(std::string_view op, std::string_view path) const;
  FileState& TrackLocked(const std::string& path);

  // File handle operations (File forwards here so that one mutex guards all state).
  absl::Status FileAppend(File& f, std::string_view data);
  absl::Status FileSync(File& f);

  Env* const base_;
  mutable std::mutex mu_;
  std::map<FileOp, int64_t> counts_;
  std::vector<Armed> armed_;
  int64_t fired_ = 0;
  bool crashed_ = false;
  uint64_t generation_ = 0;  // handles from an older generation are dead
  std::map<std::string, FileState> files_;
  std::vector<PendingRename> renames_;
};

}  // namespace edgevault::base::testing
