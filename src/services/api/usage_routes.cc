#include "src/services/api/usage_routes.h"

#include <map>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/services/common/http_json.h"

namespace edgevault::api {
namespace json = boost::json;
namespace {

constexpr size_t kMaxField = 256;
constexpr int64_t kMaxCount = 1'000'000'000'000;

absl::Status Bad(std::string message) {
  return services::WithErrorCode(absl::InvalidArgumentError(base::ToAbsl(message)), "bad_usage");
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A string member of a row: 1..kMaxField bytes (0.. when `may_be_empty`).
absl::Status RowString(const json::object& row, std::string_view name, size_t index, bool may_be_empty,
                       std::string* out) {
  const json::value* v = row.if_contains(name);
  if (v == nullptr || !v->is_string() || v->get_string().size() > kMaxField ||
      (!may_be_empty && v->get_string().empty())) {
    return Bad(base::StrCat("row ", std::to_string(index), ": '", name, "' must be a string of ",
                            may_be_empty ? "0" : "1", " to 256 bytes"));
  }
  out->assign(v->get_string().data(), v->get_string().size());
  return absl::OkStatus();
}

absl::Status RowInt(const json::object& row, std::string_view name, size_t index, int64_t min, int64_t max,
                    int64_t* out) {
  const json::value* v = row.if_contains(name);
  if (v == nullptr || !(v->is_int64() || v->is_uint64())) {
    return Bad(base::StrCat("row ", std::to_string(index), ": '", name, "' must be an integer"));
  }
  if (v->is_uint64() && v->get_uint64() > static_cast<uint64_t>(INT64_MAX)) {
    return Bad(base::StrCat("row ", std::to_string(index), ": '", name, "' is out of range"));
  }
  const int64_t n = v->is_int64() ? v->get_int64() : static_cast<int64_t>(v->get_uint64());
  if (n < min || n > max) return Bad(base::StrCat("row ", std::to_string(index), ": '", name, "' is out of range"));
  *out = n;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UsageSubmission> ParseUsageSubmission(std::string_view body, absl::Time now) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return Bad("the body must be a JSON object (docs/design/usage.md)");
  const json::object& o = v.get_object();
  for (const auto& member : o) {
    if (member.key() != "format" && member.key() != "batch" && member.key() != "node" &&
        member.key() != "evaluations" && member.key() != "sdk_requests") {
      return Bad(base::StrCat("unknown field '", std::string_view(member.key()), "'"));
    }
  }
  const json::value* format = o.if_contains("format");
  if (format == nullptr || !format->is_int64() || format->get_int64() != 1) return Bad("'format' must be 1");
  UsageSubmission s;
  const json::value* batch = o.if_contains("batch");
  if (batch == nullptr || !batch->is_string() || batch->get_string().size() != 32 ||
      !IsLowerHex(batch->get_string())) {
    return Bad("'batch' must be 32 lower-case hex characters");
  }
  s.batch = std::string(batch->get_string());
  if (const json::value* node = o.if_contains("node"); node != nullptr) {
    if (!node->is_string() || node->get_string().size() > kMaxField) return Bad("'node' must be a short string");
    s.node = std::string(node->get_string());
  }
  const int64_t now_minute = storage::UsageMinuteOf(now);
  const int64_t oldest = storage::UsageMinuteOf(now - storage::kUsageHourRetention);
  size_t index = 0;
  for (const char* list : {"evaluations", "sdk_requests"}) {
    const json::value* rows = o.if_contains(list);
    if (rows == nullptr) continue;
    if (!rows->is_array()) return Bad(base::StrCat("'", list, "' must be an array"));
    const bool eval = std::string_view(list) == "evaluations";
    for (const json::value& r : rows->get_array()) {
      if (++index > kMaxUsageRows) return Bad("at most 20000 rows per submission");
      if (!r.is_object()) return Bad(base::StrCat("row ", std::to_string(index), " must be an object"));
      const json::object& row = r.get_object();
      storage::UsageRow u;
      u.kind = eval ? "evaluation" : "sdk_request";
      EV_RETURN_IF_ERROR(RowInt(row, "minute", index, INT64_MIN / 2, now_minute + 5, &u.minute));
      EV_RETURN_IF_ERROR(RowInt(row, "count", index, 1, kMaxCount, &u.count));
      EV_RETURN_IF_ERROR(RowString(row, "workspace_id", index, false, &u.workspace_id));
      EV_RETURN_IF_ERROR(RowString(row, "environment", index, false, &u.environment));
      if (eval) {
        EV_RETURN_IF_ERROR(RowString(row, "flag", index, false, &u.flag));
        EV_RETURN_IF_ERROR(RowString(row, "variant", index, true, &u.variant));
        EV_RETURN_IF_ERROR(RowString(row, "reason", index, false, &u.reason));
      } else {
        EV_RETURN_IF_ERROR(RowString(row, "endpoint", index, false, &u.flag));
        EV_RETURN_IF_ERROR(RowString(row, "sdk_kind", index, false, &u.variant));
      }
      if (row.size() != (eval ? 7u : 6u)) return Bad(base::StrCat("row ", std::to_string(index), " has unknown fields"));
      if (u.minute < oldest) continue;  // past the retention: nothing would keep it
      s.rows.push_back(std::move(u));
    }
  }
  return s;
}

absl::StatusOr<json::object> AcceptUsage(storage::UsageStore& store, std::string_view body, absl::Time now,
                                         std::atomic<int64_t>* last_prune_minute) {
  EV_ASSIGN_OR_RETURN(UsageSubmission s, ParseUsageSubmission(body, now));
  EV_ASSIGN_OR_RETURN(bool added, store.Add(s.batch, s.rows, now));
  const int64_t minute = storage::UsageMinuteOf(now);
  int64_t last = last_prune_minute->load();
  if (minute - last >= 60 && last_prune_minute->compare_exchange_strong(last, minute)) {
    if (absl::Status pruned = store.Prune(now); !pruned.ok()) {
      EV_LOG(kWarn, "usage: pruning old counts failed; retrying within the hour", {{"error", pruned.ToString()}});
      last_prune_minute->store(last);
    }
  }
  return json::object{{"accepted", added ? static_cast<int64_t>(s.rows.size()) : 0}, {"duplicate", !added}};
}

absl::StatusOr<InsightsRange> ParseInsightsRange(const std::optional<std::string>& from,
                                                 const std::optional<std::string>& to,
                                                 const std::optional<std::string>& step, absl::Time now) {
  auto time_of = [](const std::string& name, const std::string& text) -> absl::StatusOr<absl::Time> {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
      return services::WithErrorCode(
          absl::InvalidArgumentError(base::ToAbsl("query parameter '" + name +
                                                  "' must be an RFC 3339 time such as 2026-12-03T14:00:00Z")),
          "bad_range");
    }
    return t;
  };
  auto bad = [](std::string message) {
    return services::WithErrorCode(absl::InvalidArgumentError(base::ToAbsl(message)), "bad_range");
  };
  absl::Time end = now;
  if (to) {
    EV_ASSIGN_OR_RETURN(end, time_of("to", *to));
  }
  absl::Time start = end - absl::Hours(24);
  if (from) {
    EV_ASSIGN_OR_RETURN(start, time_of("from", *from));
  }
  if (start >= end) return bad("'from' must be before 'to'");
  absl::Duration d = end - start <= absl::Hours(2) ? absl::Minutes(1) : absl::Hours(1);
  if (step) {
    if (!absl::ParseDuration(*step, &d) || d < absl::Minutes(1)) {
      return bad("query parameter 'step' must be a duration of at least 1m, such as 1m, 5m, 1h or 24h");
    }
  }
  InsightsRange r;
  if (d < absl::Hours(1)) {
    if (d % absl::Minutes(1) != absl::ZeroDuration()) return bad("a 'step' below 1h must be a whole number of minutes");
    r.resolution = storage::UsageResolution::kMinute;
    r.step_minutes = absl::ToInt64Minutes(d);
    if (start < now - storage::kUsageMinuteRetention) {
      return bad("counts per minute are kept for 2 days: use a 'step' of 1h or more for older ranges");
    }
  } else {
    if (d % absl::Hours(1) != absl::ZeroDuration()) return bad("a 'step' of 1h or more must be a whole number of hours");
    r.resolution = storage::UsageResolution::kHour;
    r.step_minutes = absl::ToInt64Minutes(d);
  }
  const int64_t unit = r.resolution == storage::UsageResolution::kHour ? 60 : 1;
  int64_t from_minute = storage::UsageMinuteOf(start);
  from_minute -= ((from_minute % unit) + unit) % unit;
  const int64_t end_minute = storage::UsageMinuteOf(end - absl::Nanoseconds(1)) + 1;  // ceil
  const int64_t buckets = (end_minute - from_minute + r.step_minutes - 1) / r.step_minutes;
  if (buckets > kMaxInsightsBuckets) {
    return bad("the range holds more than " + std::to_string(kMaxInsightsBuckets) + " steps: use a larger 'step'");
  }
  r.from_minute = from_minute;
  r.to_minute = from_minute + buckets * r.step_minutes;
  return r;
}

namespace {

// One series: its `labels`, then the sum of its counts and the count per step
// ({...labels, total, counts}).
json::object SeriesJson(json::object labels, const std::vector<int64_t>& counts) {
  int64_t sum = 0;
  json::array c;
  for (int64_t n : counts) {
    sum += n;
    c.push_back(n);
  }
  labels["total"] = sum;
  labels["counts"] = std::move(c);
  return labels;
}

// What every usage answer starts with: the environment, the range and each step's start.
json::object RangeJson(const InsightsRange& range, const std::string& environment) {
  const int64_t buckets = (range.to_minute - range.from_minute) / range.step_minutes;
  json::array times;
  for (int64_t i = 0; i < buckets; ++i) {
    times.push_back(json::string(services::FormatTime(absl::FromUnixSeconds((range.from_minute + i * range.step_minutes) * 60))));
  }
  return json::object{{"environment", environment},
                      {"from", services::FormatTime(absl::FromUnixSeconds(range.from_minute * 60))},
                      {"to", services::FormatTime(absl::FromUnixSeconds(range.to_minute * 60))},
                      {"step_seconds", range.step_minutes * 60},
                      {"resolution", range.resolution == storage::UsageResolution::kHour ? "hour" : "minute"},
                      {"buckets", std::move(times)}};
}

}  // namespace

absl::StatusOr<json::object> FlagInsights(storage::UsageStore& store, const std::string& workspace_id,
                                          const std::string& environment, const std::string& flag,
                                          const InsightsRange& range) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::UsagePoint> points,
                      store.Query({.workspace_id = workspace_id, .environment = environment, .kind = "evaluation",
                                   .flag = flag, .from_minute = range.from_minute, .to_minute = range.to_minute,
                                   .resolution = range.resolution}));
  const size_t buckets = static_cast<size_t>((range.to_minute - range.from_minute) / range.step_minutes);
  std::map<std::string, std::vector<int64_t>> by_variant, by_reason;
  int64_t total = 0;
  for (const storage::UsagePoint& p : points) {
    const size_t i = static_cast<size_t>((p.bucket - range.from_minute) / range.step_minutes);
    if (i >= buckets) continue;
    auto& v = by_variant[p.variant];
    auto& r = by_reason[p.reason];
    v.resize(buckets);
    r.resize(buckets);
    v[i] += p.count;
    r[i] += p.count;
    total += p.count;
  }
  auto series = [](const std::map<std::string, std::vector<int64_t>>& m, const char* name) {
    json::array out;
    for (const auto& [key, counts] : m) {
      out.push_back(SeriesJson(json::object{{name, key}}, counts));
    }
    return out;
  };
  json::object out = RangeJson(range, environment);
  out["flag"] = flag;
  out["total"] = total;
  out["variants"] = series(by_variant, "variant");
  out["reasons"] = series(by_reason, "reason");
  return out;
}

absl::StatusOr<json::object> SdkUsage(storage::UsageStore& store, const std::string& workspace_id,
                                      const std::string& environment, const InsightsRange& range) {
  const size_t buckets = static_cast<size_t>((range.to_minute - range.from_minute) / range.step_minutes);
  json::array series;
  int64_t total = 0;
  for (std::string_view endpoint : kSdkEndpoints) {
    EV_ASSIGN_OR_RETURN(std::vector<storage::UsagePoint> points,
                        store.Query({.workspace_id = workspace_id, .environment = environment, .kind = "sdk_request",
                                     .flag = std::string(endpoint), .from_minute = range.from_minute,
                                     .to_minute = range.to_minute, .resolution = range.resolution}));
    std::map<std::string, std::vector<int64_t>> by_kind;  // the SDK key kind is the row's variant
    for (const storage::UsagePoint& p : points) {
      const size_t i = static_cast<size_t>((p.bucket - range.from_minute) / range.step_minutes);
      if (i >= buckets) continue;
      auto& counts = by_kind[p.variant];
      counts.resize(buckets);
      counts[i] += p.count;
    }
    for (const auto& [kind, counts] : by_kind) {
      json::object one = SeriesJson(json::object{{"endpoint", endpoint}, {"key_kind", kind}}, counts);
      total += one.at("total").as_int64();
      series.push_back(std::move(one));
    }
  }
  json::object out = RangeJson(range, environment);
  out["total"] = total;
  out["series"] = std::move(series);
  return out;
}

}  // namespace edgevault::api
