#include "src/audit/event_query.h"

#include <algorithm>

#include "absl/time/civil_time.h"

namespace edgevault::audit {

bool ValidActionFilter(std::string_view action) {
  if (action.size() > 2 && action.substr(action.size() - 2) == ".*") action.remove_suffix(2);
  if (action.empty() || action.size() > 128) return false;
  return std::all_of(action.begin(), action.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

namespace {

bool ActionMatches(std::string_view filter, std::string_view action) {
  if (filter.empty()) return true;
  if (filter.size() > 2 && filter.substr(filter.size() - 2) == ".*") {
    filter.remove_suffix(1);  // keep the dot: "auth.*" matches "auth.login", not "authx"
    return action.substr(0, filter.size()) == filter;
  }
  return action == filter;
}

// Whether any event of the hour partition `hour` can fall in [since, until).
bool HourOverlaps(absl::CivilHour hour, const EventQuery& q) {
  absl::Time start = absl::FromCivil(hour, absl::UTCTimeZone());
  absl::Time end = start + absl::Hours(1);
  if (q.since && end <= *q.since) return false;
  if (q.until && start >= *q.until) return false;
  return true;
}

}  // namespace

absl::StatusOr<EventPage> QueryEvents(WarehouseReader& reader, const EventQuery& q) {
  if (q.org.empty()) return absl::InvalidArgumentError("an audit query needs an org");
  if (q.limit < 1 || q.limit > 1000) return absl::InvalidArgumentError("limit must be between 1 and 1000");
  if (!q.cursor.empty() && !ValidEventId(q.cursor)) {
    return absl::InvalidArgumentError("cursor is not an event id; pass next_cursor from the previous page");
  }
  EventPage page;
  absl::StatusOr<std::vector<WarehouseFile>> files = reader.ListFiles();
  if (absl::IsNotFound(files.status())) return page;
  if (!files.ok()) return files.status();
  std::vector<AuditEvent> matches;
  for (const WarehouseFile& f : *files) {
    if (!HourOverlaps(f.hour, q)) continue;
    absl::StatusOr<std::string> content = reader.ReadFile(f.path);
    if (absl::IsNotFound(content.status())) continue;  // removed since the listing
    if (!content.ok()) return content.status();
    size_t pos = 0;
    // A final line without its newline may still be being written: not there yet.
    for (size_t nl; (nl = content->find('\n', pos)) != std::string::npos; pos = nl + 1) {
      absl::StatusOr<ParsedLine> line = ParseChainedLine(std::string_view(*content).substr(pos, nl - pos));
      absl::StatusOr<AuditEvent> e =
          line.ok() ? ParseAuditEvent(line->canonical) : absl::StatusOr<AuditEvent>(line.status());
      if (!e.ok()) {
        ++page.skipped_lines;
        continue;
      }
      if (e->org != q.org) continue;
      if (!q.actor.empty() && e->actor.id != q.actor) continue;
      if (!ActionMatches(q.action, e->action)) continue;
      if (!q.workspace.empty() && e->workspace != q.workspace) continue;
      if (q.since && e->time < *q.since) continue;
      if (q.until && e->time >= *q.until) continue;
      if (!q.cursor.empty() && e->id >= q.cursor) continue;
      matches.push_back(*std::move(e));
    }
  }
  // Ids start with the event time in zero-padded hex microseconds: descending id order is
  // newest first, and it is total, so the cursor (the last id shown) pages without gaps.
  std::sort(matches.begin(), matches.end(), [](const AuditEvent& a, const AuditEvent& b) { return a.id > b.id; });
  matches.erase(std::unique(matches.begin(), matches.end(),
                            [](const AuditEvent& a, const AuditEvent& b) { return a.id == b.id; }),
                matches.end());
  if (static_cast<int>(matches.size()) > q.limit) {
    matches.resize(q.limit);
    page.next_cursor = matches.back().id;
  }
  page.events = std::move(matches);
  return page;
}

}  // namespace edgevault::audit
