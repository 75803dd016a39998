#pragma once
// The api's secret-leak policy on writes (docs/secret-scanning.md): every config and flag
// body a write stores (workspace::WriteEffect::written: PUT, PATCH, change-request and
// promotion apply) is scanned (src/scan/leak_scan.h). A config value set in <env> is
// judged by the strictest `leak_scan` (environment policy; unset = "warn") of the touched
// environments that serve it (<env> and those below it inheriting the value), anything
// else by the strictest of the environments the write touches:
//   off   nothing is scanned;
//   warn  the write succeeds; the findings are collected for the response and activity;
//   block the write is refused: InvalidArgument, error code "secret_detected", naming the
//         item, the JSON pointer and the kind of each finding, never the value.
// Revert and rollback restore history: they fill no `written` and are never refused here.
//
// Thread-safety: a LeakReport belongs to one request; the functions are pure.
//
//   auto report = std::make_shared<LeakReport>();
//   EV_ASSIGN_OR_RETURN(head, service->PutItem(..., WithLeakScan(Writer(c), report)));
//   if (!report->items.empty()) o["warnings"] = LeakWarningsJson(*report);

#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "src/scan/leak_scan.h"
#include "src/workspace/service.h"

namespace edgevault::api {

enum class LeakMode { kOff, kWarn, kBlock };
// "off" / "warn" / "block".
std::string_view LeakModeName(LeakMode mode);
// The strictest mode of the environments in effect.environments (unset or no policy =
// warn); warn when the write touches no environment.
LeakMode EffectiveLeakMode(const workspace::WriteEffect& effect);

struct LeakReport {
  struct Item {
    std::string kind;  // "config" / "flag"
    std::string key;
    std::vector<scan::LeakFinding> findings;
  };
  LeakMode mode = LeakMode::kWarn;
  std::vector<Item> items;
};

// The findings in effect.written that a policy other than "off" applies to, item by item
// (items without findings left out). A config value's finding (/values/<env>/...) counts
// only when the write touches <env> or an environment inheriting the value from it, under
// the strictest mode of those; every other finding under
// EffectiveLeakMode. `strictest` (may be null) gets the strictest mode of a kept finding
// (kOff when none).
std::vector<LeakReport::Item> ScanWritten(const workspace::WriteEffect& effect, LeakMode* strictest);

// Runs `inner` first (authorization), then the leak policy on what the write stores.
// `report` (not null) receives the mode and the findings of a write that goes ahead.
workspace::WriteAuthorizer WithLeakScan(workspace::WriteAuthorizer inner, std::shared_ptr<LeakReport> report);

// The error of a blocked write: InvalidArgument "secret_detected".
absl::Status SecretDetectedError(const std::vector<LeakReport::Item>& items);

// [{"kind", "key", "pointer", "finding", "description"}], one per finding, for answers,
// activity and audit details.
boost::json::array LeakWarningsJson(const std::vector<LeakReport::Item>& items);

}  // namespace edgevault::api
