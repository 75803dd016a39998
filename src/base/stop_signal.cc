#include "src/base/stop_signal.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "src/base/strings.h"

namespace edgevault::base {

absl::StatusOr<std::unique_ptr<StopSignal>> StopSignal::Create() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(StrCat("stop signal: pipe: errno ", errno));
  }
  return std::unique_ptr<StopSignal>(new StopSignal(fds[0], fds[1]));
}

StopSignal::~StopSignal() {
  ::close(read_fd_);
  ::close(write_fd_);
}

void StopSignal::Stop() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  // The byte stays in the pipe: every later wait returns at once too.
  char byte = 1;
  [[maybe_unused]] ssize_t n = ::write(write_fd_, &byte, 1);
}

StopSignal::Wait StopSignal::WaitReadable(int fd, int timeout_ms) {
  for (;;) {
    if (stopping()) return Wait::kStopped;
    pollfd fds[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                     {.fd = read_fd_, .events = POLLIN, .revents = 0}};
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Wait::kFailed;
    if (fds[1].revents != 0 || stopping()) return Wait::kStopped;
    return ready == 0 ? Wait::kTimeout : Wait::kReadable;
  }
}

}  // namespace edgevault::base
