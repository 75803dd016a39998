#include "src/net/metrics.h"

#include <cstdio>

#include "src/base/strings.h"
#include "src/net/router.h"

namespace edgevault::net {

namespace {
void AppendLabelValue(std::string* out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') out->push_back('\\');
    if (c == '\n') {
      out->append("\\n");
      continue;
    }
    out->push_back(c);
  }
}
}  // namespace

Metrics::Metrics(std::string service, std::vector<std::string> route_patterns, size_t shards)
    : service_(std::move(service)), patterns_(std::move(route_patterns)) {
  if (shards == 0) shards = 1;
  shards_.resize(shards);
  for (Shard& s : shards_) s.routes = std::make_unique<RouteCounters[]>(patterns_.size());
}

Metrics::~Metrics() = default;

size_t Metrics::StatusSlot(int status) {
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 5;
  return kStatuses.size() + static_cast<size_t>(cls - 1);
}

int Metrics::SlotStatus(size_t slot) {
  if (slot < kStatuses.size()) return kStatuses[slot];
  return static_cast<int>(slot - kStatuses.size() + 1);  // 1..5 = "1xx".."5xx"
}

void Metrics::RecordRequest(size_t shard, uint32_t route, int status, uint64_t duration_ns) {
  if (route >= patterns_.size()) route = 0;
  RouteCounters& rc = shards_[shard % shards_.size()].routes[route];
  rc.by_status[StatusSlot(status)].fetch_add(1, std::memory_order_relaxed);
  double seconds = static_cast<double>(duration_ns) / 1e9;
  size_t b = 0;
  while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
  rc.buckets[b].fetch_add(1, std::memory_order_relaxed);
  rc.sum_ns.fetch_add(duration_ns, std::memory_order_relaxed);
}

std::string Metrics::Render() const {
  std::string out;
  std::string svc;
  AppendLabelValue(&svc, service_);

  out += "# HELP edgevault_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE edgevault_http_requests_total counter\n";
  for (size_t r = 0; r < patterns_.size(); ++r) {
    for (size_t slot = 0; slot < kStatusSlots; ++slot) {
      uint64_t n = 0;
      for (const Shard& s : shards_) n += s.routes[r].by_status[slot].load(std::memory_order_relaxed);
      if (n == 0) continue;
      int st = SlotStatus(slot);
      std::string code = st < 10 ? base::StrCat(st, "xx") : base::StrCat(st);
      out += "edgevault_http_requests_total{service=\"" + svc + "\",route=\"";
      AppendLabelValue(&out, patterns_[r]);
      base::StrAppend(&out, "\",status=\"", code, "\"} ", n, "\n");
    }
  }

  out += "# HELP edgevault_http_request_duration_seconds Time from a complete request to its response written.\n";
  out += "# TYPE edgevault_http_request_duration_seconds histogram\n";
  for (size_t r = 0; r < patterns_.size(); ++r) {
    std::array<uint64_t, kLatencyBuckets.size() + 1> buckets{};
    uint64_t sum_ns = 0;
    for (const Shard& s : shards_) {
      for (size_t b = 0; b < buckets.size(); ++b) {
        buckets[b] += s.routes[r].buckets[b].load(std::memory_order_relaxed);
      }
      sum_ns += s.routes[r].sum_ns.load(std::memory_order_relaxed);
    }
    uint64_t total = 0;
    for (uint64_t b : buckets) total += b;
    if (total == 0) continue;
    std::string labels = "service=\"" + svc + "\",route=\"";
    AppendLabelValue(&labels, patterns_[r]);
    labels += "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      cumulative += buckets[b];
      char le[32];
      if (b < kLatencyBuckets.size()) {
        std::snprintf(le, sizeof le, "%g", kLatencyBuckets[b]);
      } else {
        std::snprintf(le, sizeof le, "+Inf");
      }
      base::StrAppend(&out, "edgevault_http_request_duration_seconds_bucket{", labels,
                      ",le=\"", le, "\"} ", cumulative, "\n");
    }
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(sum_ns) / 1e9);
    base::StrAppend(&out, "edgevault_http_request_duration_seconds_sum{", labels, "} ", sum, "\n");
    base::StrAppend(&out, "edgevault_http_request_duration_seconds_count{", labels, "} ", total,
                    "\n");
  }

  base::StrAppend(&out,
                  "# HELP edgevault_http_requests_in_flight Requests being handled now.\n"
                  "# TYPE edgevault_http_requests_in_flight gauge\n"
                  "edgevault_http_requests_in_flight{service=\"", svc, "\"} ", in_flight(), "\n",
                  "# HELP edgevault_http_connections Open client connections.\n"
                  "# TYPE edgevault_http_connections gauge\n"
                  "edgevault_http_connections{service=\"", svc, "\"} ", connections(), "\n",
                  "# HELP edgevault_http_connections_rejected_total Connections refused at the max_connections limit.\n"
                  "# TYPE edgevault_http_connections_rejected_total counter\n"
                  "edgevault_http_connections_rejected_total{service=\"", svc, "\"} ",
                  rejected_.load(std::memory_order_relaxed), "\n",
                  "# HELP edgevault_handler_exceptions_total Exceptions that escaped a request "
                  "handler or a task it posted (bugs; each was answered 500 and logged).\n"
                  "# TYPE edgevault_handler_exceptions_total counter\n"
                  "edgevault_handler_exceptions_total{service=\"", svc, "\"} ",
                  EscapedExceptionCount(), "\n");
  return out;
}

}  // namespace edgevault::net
