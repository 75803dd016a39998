#pragma once
// Server metrics in Prometheus text format: requests by route and status, a
// latency histogram by route, connections and requests in flight, and the exceptions that
// escaped a handler (router.h, EscapedExceptionCount).
//
// Thread-safety: Record*() may be called from any thread and take no lock (each
// io thread owns a shard of relaxed atomics); Render() may run concurrently and
// sums the shards.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgevault::net {

class Metrics {
 public:
  // Upper bounds of the latency histogram buckets, in seconds.
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   5.0};

  // `route_patterns[i]` labels route index i; `shards` is the number of io threads.
  Metrics(std::string service, std::vector<std::string> route_patterns, size_t shards);
  ~Metrics();

  void RecordRequest(size_t shard, uint32_t route, int status, uint64_t duration_ns);
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void RequestStarted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void RequestFinished() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }

  int64_t connections() const { return connections_.load(std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // The whole exposition, "# HELP"/"# TYPE" lines included.
  std::string Render() const;

 private:
  // Status codes get their own counter when listed here; others count as their class.
  static constexpr std::array<int, 26> kStatuses = {
      100, 101, 200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400,
      401, 403, 404, 405, 408, 409, 412, 413, 429, 431, 500, 502, 503};
  static constexpr size_t kStatusSlots = kStatuses.size() + 5;  // + 1xx..5xx "other"
  static size_t StatusSlot(int status);
  static int SlotStatus(size_t slot);

  struct RouteCounters {
    std::array<std::atomic<uint64_t>, kStatusSlots> by_status{};
    std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets{};  // last = +Inf
    std::atomic<uint64_t> sum_ns{0};
  };
  struct alignas(64) Shard {
    std::unique_ptr<RouteCounters[]> routes;
  };

  std::string service_;
  std::vector<std::string> patterns_;
  std::vector<Shard> shards_;
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace edgevault::net
