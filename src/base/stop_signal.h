#pragma once
// A stop flag that also wakes a thread blocked in poll(): for background tasks that hold a
// connection open and wait on its socket (the PostgreSQL revision listener, the Redis KV
// watcher). Stop() sets the flag and writes to a self-pipe that WaitReadable polls beside
// the socket, so a task waiting for a quiet connection returns at once.
// Thread-safety: every method may be called from any thread; Stop is idempotent.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<StopSignal> stop, StopSignal::Create());
//   while (!stop->stopping()) {
//     switch (stop->WaitReadable(fd, 30000)) { ... }
//   }

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"

namespace edgevault::base {

class StopSignal {
 public:
  // Errors: Internal (no pipe).
  static absl::StatusOr<std::unique_ptr<StopSignal>> Create();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void Stop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  enum class Wait {
    kReadable,  // `fd` has data (or an error or hang-up to read)
    kTimeout,   // nothing within timeout_ms
    kStopped,   // Stop was called (before or during the wait)
    kFailed,    // poll() failed
  };
  // Waits until `fd` is readable, `timeout_ms` passes (-1: no limit) or Stop. EINTR is
  // retried.
  Wait WaitReadable(int fd, int timeout_ms);

 private:
  StopSignal(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  const int read_fd_;
  const int write_fd_;
  std::atomic<bool> stopping_{false};
};

}  // namespace edgevault::base
