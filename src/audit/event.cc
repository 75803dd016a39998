#include "src/audit/event.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::audit {

namespace json = boost::json;

namespace {

constexpr size_t kMaxEventBytes = 64 * 1024;

absl::Status FieldError(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      base::StrCat("audit event: field '", field, "': ", what));
}

// Reads a string member. `required`: missing or empty is an error.
absl::Status ReadString(const json::object& o, std::string_view prefix, std::string_view name,
                        bool required, size_t max_bytes, std::string* out) {
  std::string field = base::StrCat(prefix, name);
  const json::value* v = o.if_contains(json::string_view(name.data(), name.size()));
  if (v == nullptr || v->is_null()) {
    if (required) return FieldError(field, "missing");
    out->clear();
    return absl::OkStatus();
  }
  if (!v->is_string()) return FieldError(field, "must be a string");
  const json::string& s = v->get_string();
  if (required && s.empty()) return FieldError(field, "must not be empty");
  if (s.size() > max_bytes) {
    return FieldError(field, base::StrCat("longer than ", max_bytes, " bytes"));
  }
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

absl::Status RejectUnknown(const json::object& o, std::string_view prefix,
                           std::initializer_list<std::string_view> allowed) {
  for (const auto& kv : o) {
    std::string_view k(kv.key().data(), kv.key().size());
    bool known = false;
    for (std::string_view a : allowed) known = known || a == k;
    if (!known) return FieldError(base::StrCat(prefix, k), "unknown member");
  }
  return absl::OkStatus();
}

void AppendCanonicalValue(std::string* out, const json::value& v);

void AppendCanonicalObject(std::string* out, const json::object& o) {
  std::vector<const json::key_value_pair*> members;
  members.reserve(o.size());
  for (const auto& kv : o) members.push_back(&kv);
  std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
    return std::string_view(a->key().data(), a->key().size()) <
           std::string_view(b->key().data(), b->key().size());
  });
  out->push_back('{');
  bool first = true;
  for (const auto* kv : members) {
    if (!first) out->push_back(',');
    first = false;
    AppendCanonicalString(out, std::string_view(kv->key().data(), kv->key().size()));
    out->push_back(':');
    AppendCanonicalValue(out, kv->value());
  }
  out->push_back('}');
}

void AppendCanonicalValue(std::string* out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out->append("null");
      break;
    case json::kind::bool_:
      out->append(v.get_bool() ? "true" : "false");
      break;
    case json::kind::int64:
      base::StrAppend(out, v.get_int64());
      break;
    case json::kind::uint64:
      base::StrAppend(out, static_cast<unsigned long long>(v.get_uint64()));
      break;
    case json::kind::double_: {
      // Shortest text that reads back as the same double; ".0" keeps it a double.
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
      std::string_view text(buf, ec == std::errc() ? static_cast<size_t>(end - buf) : 0);
      out->append(text);
      if (text.find_first_of(".eEn") == std::string_view::npos) out->append(".0");
      break;
    }
    case json::kind::string:
      AppendCanonicalString(out, std::string_view(v.get_string().data(), v.get_string().size()));
      break;
    case json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const json::value& e : v.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonicalValue(out, e);
      }
      out->push_back(']');
      break;
    }
    case json::kind::object:
      AppendCanonicalObject(out, v.get_object());
      break;
  }
}

bool IsDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

int ToInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

void AppendCanonicalString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

std::string FormatEventTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseEventTime(std::string_view s) {
  // 0123456789012345678901234567
  // 2026-03-04T05:06:07.123456Z
  auto bad = [&] {
    return absl::InvalidArgumentError(base::StrCat(
        "expected RFC 3339 UTC with six fraction digits (2026-03-04T05:06:07.123456Z), got \"",
        s.substr(0, 64), "\""));
  };
  if (s.size() != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != '.' || s[26] != 'Z') {
    return bad();
  }
  std::string_view y = s.substr(0, 4), mo = s.substr(5, 2), d = s.substr(8, 2),
                   h = s.substr(11, 2), mi = s.substr(14, 2), se = s.substr(17, 2),
                   us = s.substr(20, 6);
  for (std::string_view part : {y, mo, d, h, mi, se, us}) {
    if (!IsDigits(part)) return bad();
  }
  absl::CivilSecond cs(ToInt(y), ToInt(mo), ToInt(d), ToInt(h), ToInt(mi), ToInt(se));
  if (cs.year() != ToInt(y) || cs.month() != ToInt(mo) || cs.day() != ToInt(d) ||
      cs.hour() != ToInt(h) || cs.minute() != ToInt(mi) || cs.second() != ToInt(se)) {
    return bad();  // 2026-02-30 and friends
  }
  return absl::FromCivil(cs, absl::UTCTimeZone()) + absl::Microseconds(ToInt(us));
}

std::string NewEventId(base::Env* env) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "evt_%013llx",
                static_cast<unsigned long long>(absl::ToUnixMicros(env->Now())));
  return std::string(buf) + env->RandomHex(8);
}

bool ValidEventId(std::string_view id) {
  // 12+ hex digits of microseconds (13 from 1978 to 2112) and 16 random hex digits.
  if (id.size() < 4 + 28 || id.size() > 4 + 40 || id.substr(0, 4) != "evt_") return false;
  for (char c : id.substr(4)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string CorrelationHash(std::string_view key, std::string_view value) {
  return base::HexEncode(crypto::HmacSha256(key, value).substr(0, 16));
}

absl::StatusOr<AuditEvent> ParseAuditEvent(std::string_view text) {
  if (text.size() > kMaxEventBytes) {
    return absl::InvalidArgumentError(
        base::StrCat("audit event: larger than ", kMaxEventBytes, " bytes"));
  }
  boost::system::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) {
    return absl::InvalidArgumentError(base::StrCat("audit event: not JSON: ", ec.message()));
  }
  if (!root.is_object()) return absl::InvalidArgumentError("audit event: not a JSON object");
  const json::object& o = root.get_object();
  auto st = RejectUnknown(o, "", {"v", "id", "time", "service", "actor", "action", "org",
                                  "workspace", "environment", "target", "outcome",
                                  "request_id", "details"});
  if (!st.ok()) return st;

  AuditEvent e;
  const json::value* v = o.if_contains("v");
  if (v == nullptr) return FieldError("v", "missing");
  if (!v->is_int64() || v->get_int64() != kAuditSchemaVersion) {
    return FieldError("v", base::StrCat("unsupported schema version (this reader knows ",
                                        kAuditSchemaVersion, ")"));
  }
  std::string time_text;
  struct Member {
    std::string_view name;
    bool required;
    size_t max;
    std::string* out;
  };
  const Member members[] = {
      {"id", true, 64, &e.id},
      {"time", true, 64, &time_text},
      {"service", true, 64, &e.service},
      {"action", true, 128, &e.action},
      {"org", false, 128, &e.org},
      {"workspace", false, 128, &e.workspace},
      {"environment", false, 128, &e.environment},
      {"target", false, 1024, &e.target},
      {"outcome", true, 16, &e.outcome},
      {"request_id", false, 128, &e.request_id},
  };
  for (const Member& m : members) {
    if (auto s = ReadString(o, "", m.name, m.required, m.max, m.out); !s.ok()) return s;
  }
  if (!ValidEventId(e.id)) {
    return FieldError("id", "expected evt_ followed by 28 to 40 lower-case hex digits");
  }
  absl::StatusOr<absl::Time> t = ParseEventTime(time_text);
  if (!t.ok()) return FieldError("time", base::ToStd(t.status().message()));
  e.time = *t;
  if (e.outcome != "success" && e.outcome != "denied" && e.outcome != "error") {
    return FieldError("outcome", "expected success, denied or error");
  }

  const json::value* actor = o.if_contains("actor");
  if (actor == nullptr) return FieldError("actor", "missing");
  if (!actor->is_object()) return FieldError("actor", "must be an object");
  const json::object& a = actor->get_object();
  if (auto s = RejectUnknown(a, "actor.", {"id", "address", "user_agent"}); !s.ok()) return s;
  if (auto s = ReadString(a, "actor.", "id", true, 256, &e.actor.id); !s.ok()) return s;
  if (auto s = ReadString(a, "actor.", "address", false, 128, &e.actor.address); !s.ok()) return s;
  if (auto s = ReadString(a, "actor.", "user_agent", false, 256, &e.actor.user_agent); !s.ok()) {
    return s;
  }

  const json::value* details = o.if_contains("details");
  if (details != nullptr && !details->is_null()) {
    if (!details->is_object()) return FieldError("details", "must be an object");
    e.details = details->get_object();
  }
  return e;
}

std::string CanonicalJson(const AuditEvent& e) {
  std::string out;
  out.reserve(512);
  base::StrAppend(&out, "{\"v\":", e.v, ",\"id\":");
  AppendCanonicalString(&out, e.id);
  out.append(",\"time\":");
  AppendCanonicalString(&out, FormatEventTime(e.time));
  out.append(",\"service\":");
  AppendCanonicalString(&out, e.service);
  out.append(",\"actor\":{\"id\":");
  AppendCanonicalString(&out, e.actor.id);
  out.append(",\"address\":");
  AppendCanonicalString(&out, e.actor.address);
  out.append(",\"user_agent\":");
  AppendCanonicalString(&out, e.actor.user_agent);
  out.append("},\"action\":");
  AppendCanonicalString(&out, e.action);
  out.append(",\"org\":");
  AppendCanonicalString(&out, e.org);
  out.append(",\"workspace\":");
  AppendCanonicalString(&out, e.workspace);
  out.append(",\"environment\":");
  AppendCanonicalString(&out, e.environment);
  out.append(",\"target\":");
  AppendCanonicalString(&out, e.target);
  out.append(",\"outcome\":");
  AppendCanonicalString(&out, e.outcome);
  out.append(",\"request_id\":");
  AppendCanonicalString(&out, e.request_id);
  out.append(",\"details\":");
  AppendCanonicalObject(&out, e.details);
  out.push_back('}');
  return out;
}

}  // namespace edgevault::audit
