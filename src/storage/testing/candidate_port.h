#pragma once
// Tests only: a random TCP port for a server child process that cannot bind port 0 and
// report the port it got (redis-server, postgres). Header-only; thread-safe.
//
//   uint16_t port = storage::testing::CandidatePort();  // then start the child on it and
//                                                        // retry with another on failure

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>

namespace edgevault::storage::testing {

// A random port below the kernel's ephemeral range (net.ipv4.ip_local_port_range).
// Nothing is probed: the kernel never hands these ports to a bind(0) or an outgoing
// connection, so the services (on port 0) cannot take it, and when another test's server
// has it, ours fails to start and the caller tries another.
inline uint16_t CandidatePort() {
  int low = 32768;  // Linux's default when the range cannot be read
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    int lo = 0, hi = 0;
    if (std::fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 2048) low = lo;
    std::fclose(f);
  }
  // [1024, low) without the ports most often used by other software here.
  const int first = low > 12000 ? 10000 : 1024;
  static std::mutex mu;
  static std::mt19937 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  return static_cast<uint16_t>(std::uniform_int_distribution<int>(first, low - 1)(rng));
}

}  // namespace edgevault::storage::testing
