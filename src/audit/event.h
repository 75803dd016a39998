#pragma once
// The audit event (schema v=1, docs/design/audit-event.md): what every producer writes to
// its outbox, what the audit queue carries and what the warehouse stores, one per line.
// ParseAuditEvent validates a producer's JSON; CanonicalJson renders the one byte form that
// the warehouse hash chain covers. Pure functions on plain values; thread-safe.
//
//   EV_ASSIGN_OR_RETURN(audit::AuditEvent e, audit::ParseAuditEvent(outbox_row.json));
//   std::string bytes = audit::CanonicalJson(e);  // fixed member order, no whitespace

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"

namespace edgevault::audit {

inline constexpr int kAuditSchemaVersion = 1;

struct AuditActor {
  std::string id;          // user:<id>, key:<id>, agent:<id>, system, email-hash:<hex>
  std::string address;     // client address as the service saw it; "" when none
  std::string user_agent;  // ≤ 256 bytes; "" when none

  friend bool operator==(const AuditActor&, const AuditActor&) = default;
};

struct AuditEvent {
  int v = kAuditSchemaVersion;
  std::string id;        // evt_ + hex µs since epoch (≥ 12 digits, 13 today) + 16 hex random
  absl::Time time;       // microsecond precision, rendered in UTC
  std::string service;   // producer: auth, api, ...
  AuditActor actor;
  std::string action;    // dotted verb: auth.login, item.update, secret.read, ...
  std::string org;
  std::string workspace;
  std::string environment;
  std::string target;    // what was acted on (item key, user id, key id, ...)
  std::string outcome;   // success | denied | error
  std::string request_id;
  boost::json::object details;  // action-specific; never secrets (see the spec)

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

// Parses and validates one event. Required: v (== 1), id (evt_ + 28..40 lower-case hex),
// time ("YYYY-MM-DDTHH:MM:SS.ffffffZ", exactly six fraction digits), service, actor.id,
// action, outcome (success|denied|error). Optional strings default to "", details to {}.
// Unknown members are rejected (a typo must not silently drop data).
// Errors: InvalidArgument naming the field ("audit event: field 'actor.id': missing").
absl::StatusOr<AuditEvent> ParseAuditEvent(std::string_view json);

// The canonical serialisation: every member, in the order of the struct above, no
// whitespace; details members sorted by key (bytewise) at every depth; strings escaped
// as the spec says. ParseAuditEvent(CanonicalJson(e)) == e.
std::string CanonicalJson(const AuditEvent& e);

// "2026-03-04T05:06:07.123456Z".
std::string FormatEventTime(absl::Time t);
// The inverse of FormatEventTime; InvalidArgument for any other shape.
absl::StatusOr<absl::Time> ParseEventTime(std::string_view text);

// True for "evt_" followed by 28 to 40 lower-case hex digits.
bool ValidEventId(std::string_view id);

// A new event id: "evt_" + microseconds since the epoch in hex (zero-padded to 13 digits,
// so ids sort by time) + 16 random hex digits from `env`.
std::string NewEventId(base::Env* env);

// Keyed correlation value for a secret-adjacent identifier (an e-mail that failed to
// log in, a token's id): hex of the first 16 bytes of HMAC-SHA256(key, value). The key
// derivation is in the spec (HKDF from the internal key).
std::string CorrelationHash(std::string_view key, std::string_view value);

// Appends `s` as a canonical JSON string literal: '"', '\\' and control characters are
// escaped (\b \f \n \r \t short forms, others \u00xx lower-case); everything else,
// including '/' and non-ASCII UTF-8, is copied as is.
void AppendCanonicalString(std::string* out, std::string_view s);

}  // namespace edgevault::audit
