#pragma once
// Reading the audit warehouse back for people: the events of one org, filtered by actor,
// action, workspace and time, newest first, a page at a time (GET /v1/audit/events in the
// api, docs/api.md). It scans the chain files through a WarehouseReader, skipping the hour
// partitions outside [since, until); a line that does not parse (a torn final line, or
// damage, which `edgevault audit verify` reports) is skipped and counted.
// Thread-safety: QueryEvents is a pure function of the reader's files; it is as
// thread-safe as the reader (FileWarehouseReader is).
//
//   EventQuery q{.org = p.org_id, .action = "auth.login", .limit = 50};
//   EV_ASSIGN_OR_RETURN(EventPage page, QueryEvents(reader, q));
//   // page.events newest first; page.next_cursor feeds the next call's q.cursor

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/audit/event.h"
#include "src/audit/warehouse.h"

namespace edgevault::audit {

struct EventQuery {
  std::string org;                  // required: only this org's events
  std::string actor;                // "" = any; else actor.id exactly
  std::string action;               // "" = any; "auth.login" exactly, or "auth.*" a prefix
  std::string workspace;            // "" = any; else the event's workspace (id) exactly
  std::optional<absl::Time> since;  // time >= since
  std::optional<absl::Time> until;  // time < until
  int limit = 100;
  std::string cursor;  // "" = from the newest; else the next_cursor of the previous page
};

struct EventPage {
  std::vector<AuditEvent> events;  // newest first (by event id, which sorts by time)
  std::string next_cursor;         // "" when there is nothing older
  int skipped_lines = 0;           // lines that did not parse
};

// True when `action` is a valid filter: [a-z0-9_.]+, optionally ending in ".*".
bool ValidActionFilter(std::string_view action);

// Errors: InvalidArgument (org empty, limit outside 1..1000, a cursor that is not an
// event id); PermissionDenied/Internal from the reader. A missing warehouse is an empty
// page (nothing was written yet).
absl::StatusOr<EventPage> QueryEvents(WarehouseReader& reader, const EventQuery& q);

}  // namespace edgevault::audit
