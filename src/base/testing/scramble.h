#pragma once
// Test-only: damages a file in place, as a disk error or a stray writer would — for tests
// of what a store does with a damaged file. Not thread-safe with writers of the same file.
//
//   ASSERT_TRUE(base::testing::Scramble(dir + "/data.mdb", 2 * 4096));

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace edgevault::base::testing {

// Overwrites `path` from byte `from` to its end with pseudo-random bytes (from `seed`),
// keeping its inode and size. False when the file cannot be opened or written.
inline bool Scramble(const std::string& path, off_t from, uint64_t seed = 42) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && st.st_size >= from;
  if (ok) {
    std::mt19937_64 random(seed);
    std::vector<unsigned char> bytes(static_cast<size_t>(st.st_size - from));
    for (auto& b : bytes) b = static_cast<unsigned char>(random());
    ok = ::pwrite(fd, bytes.data(), bytes.size(), from) == static_cast<ssize_t>(bytes.size());
  }
  ::close(fd);
  return ok;
}

}  // namespace edgevault::base::testing
