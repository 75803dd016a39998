#pragma once
// How many file descriptors this process holds now (the entries of /proc/self/fd), for
// tests that bound what a component keeps open. -1 when /proc is not mounted. Test-only.

#include <dirent.h>

namespace edgevault::base::testing {

inline int OpenDescriptors() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n - 3;  // ".", ".." and the DIR's own descriptor
}

}  // namespace edgevault::base::testing
