#pragma once
// Where the audit pipeline keeps its files inside the data directory
// (docs/design/audit-event.md §Files). Pure functions; thread-safe.

#include <string>

namespace edgevault::audit {

inline std::string AuditDir(const std::string& data_dir) { return data_dir + "/audit"; }
inline std::string AuditQueuePath(const std::string& data_dir) {
  return data_dir + "/audit/queue.db";
}
inline std::string AuditWarehouseDir(const std::string& data_dir) {
  return data_dir + "/audit/warehouse";
}

}  // namespace edgevault::audit
