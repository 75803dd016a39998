#pragma once
// Env is EdgeVault's only route to the operating system's clock, randomness and
// file system (as in LevelDB's Options::env). Production code receives an Env*
// through its Options; tests pass a SimulatedEnv whose clock only moves when told.
//
//   base::Env* env = base::Env::Default();
//   absl::Time now = env->Now();
//   EV_RETURN_IF_ERROR(env->WriteFileAtomically(path, bytes, 0600));
//
// Thread-safety: every method of every Env may be called from any thread.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/base/env_file.h"
#include "src/base/periodic.h"
#include "src/base/status.h"

namespace edgevault::base {

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide real Env. Never null, never destroyed.
  static Env* Default();

  // Wall-clock time.
  virtual absl::Time Now() = 0;
  // Monotonic time, for intervals and timeouts only.
  virtual absl::Duration MonotonicNow() = 0;

  // Fills `out` with cryptographically secure random bytes.
  virtual void RandomBytes(void* out, size_t n) = 0;
  // `n` random bytes as lower-case hex (2n characters).
  std::string RandomHex(size_t n);

  // File system. Errors: NotFound, PermissionDenied, Internal (with errno text).
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Writes `path` via a temporary file, fsync, rename and an fsync of the directory, with
  // mode `mode`, through the file primitives below (so a fault-injecting Env sees each
  // step). OK means the new content is durable; on error `path` holds its old content or,
  // if only the final directory fsync failed, the new one (not yet durable).
  absl::Status WriteFileAtomically(const std::string& path, std::string_view data, uint32_t mode);
  // Creates `path` and missing parents; sets `mode` on the last component.
  virtual absl::Status CreateDirs(const std::string& path, uint32_t mode) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Permission bits (st_mode & 07777). NotFound when absent.
  virtual absl::StatusOr<uint32_t> FileMode(const std::string& path) = 0;
  // Names (not paths) of the entries in `dir`, sorted, without "." and "..".
  // Errors: NotFound, PermissionDenied, Internal; Unimplemented by an Env without it.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
    return absl::UnimplementedError("ListDir " + dir + ": not supported by this Env");
  }
  // Removes the file `path`. Errors: NotFound, PermissionDenied, Internal;
  // Unimplemented by an Env without it.
  virtual absl::Status DeleteFile(const std::string& path) {
    return absl::UnimplementedError("DeleteFile " + path + ": not supported by this Env");
  }

  // ---- File handles, durability and renames (env_file.h; docs/design/durability.md) ----
  // The defaults are the real file system (PosixEnv and SimulatedEnv use them);
  // testing::FaultInjectionEnv overrides them to fail or "crash" at any step.

  // Opens `path` for writing as `how` says; a file it creates gets exactly `mode` (not
  // masked by the umask). Errors: AlreadyExists (kCreateExclusive), NotFound
  // (kAppendExisting, or a missing directory), PermissionDenied, Internal.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                        FileOpen how,
                                                                        uint32_t mode);
  // fsync of the directory `dir`: makes the names created, renamed or removed in it
  // durable. Errors: NotFound, PermissionDenied, Internal.
  virtual absl::Status SyncDir(const std::string& dir);
  // rename(2): atomically replaces `to` (same file system). Durable after SyncDir of the
  // directory. Errors: NotFound, PermissionDenied, Internal.
  virtual absl::Status Rename(const std::string& from, const std::string& to);
  // Cuts `path` to `size` bytes (durable after a Sync of a handle on it).
  // Errors: NotFound, PermissionDenied, Internal.
  virtual absl::Status Truncate(const std::string& path, uint64_t size);
  // ---- end of file handles ----

  // ---- Time and background work (src/base/periodic.h, docs/design/periodic-tasks.md) ----

  // Starts a periodic task named `name` (for logs) that runs `fn` as PeriodicTaskOptions
  // and the NextRun it returns say; the handle Stop()s it. The default runs it on a thread
  // of its own; SimulatedEnv runs it only inside RunDueTasks/RunFor.
  virtual std::unique_ptr<PeriodicTask> Schedule(std::string name, PeriodicTaskOptions options,
                                                 PeriodicFn fn);
  // Blocks the caller for `d` (a one-off wait in a command-line tool or at start-up; a
  // loop that waits is a periodic task instead). SimulatedEnv advances its clock instead.
  virtual void SleepFor(absl::Duration d);
};

// An Env for tests: a clock that starts at `start` and only moves when
// AdvanceBy/SetTime is called; a deterministic random stream seeded by `seed`;
// the file system is the real one (tests use temporary directories).
class SimulatedEnv : public Env {
 public:
  explicit SimulatedEnv(absl::Time start = absl::FromUnixSeconds(1'800'000'000),
                        uint64_t seed = 42);

  void AdvanceBy(absl::Duration d);
  void SetTime(absl::Time t);

  absl::Time Now() override;
  absl::Duration MonotonicNow() override;
  void RandomBytes(void* out, size_t n) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status CreateDirs(const std::string& path, uint32_t mode) override;
  bool Exists(const std::string& path) override;
  absl::StatusOr<uint32_t> FileMode(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status DeleteFile(const std::string& path) override;

  // ---- Time and background work ----
  // Tasks run on the calling thread, only here: RunDueTasks runs every task that is due
  // at Now() or was woken (earliest first; again while runs ask for Immediately, at most
  // `max_runs` runs) and returns how many ran. RunFor moves the clock forward by `d` in
  // steps, stopping at each task's due time to run what is due then.
  std::unique_ptr<PeriodicTask> Schedule(std::string name, PeriodicTaskOptions options,
                                         PeriodicFn fn) override;
  void SleepFor(absl::Duration d) override;  // AdvanceBy(d)
  int RunDueTasks(int max_runs = 10'000);
  int RunFor(absl::Duration d);

 private:
  const std::shared_ptr<internal::SimulatedScheduler> scheduler_ = internal::NewSimulatedScheduler();
  std::mutex mu_;
  absl::Time now_;
  absl::Time start_;
  uint64_t rng_state_;
};

// Status from the current errno, naming the operation and path:
// "open /x/y: Permission denied". Maps ENOENT→NotFound, EACCES/EPERM→PermissionDenied.
absl::Status ErrnoStatus(std::string_view op, std::string_view path, int err);

}  // namespace edgevault::base
