#pragma once
// The control DB's audit outbox: rows the auth service writes in the same transaction as
// the change they describe, which a relay (src/audit/control_outbox_relay.h) moves to the
// audit queue (DESIGN.md §8). The relay needs nothing else of the control DB.
//
// Thread-safety: every method may be called concurrently; each call is atomic.
// Errors: AlreadyExists (an id appended twice), InvalidArgument (empty id), Unavailable
// (busy; retry), Internal.
//
//   EV_ASSIGN_OR_RETURN(std::vector<storage::OutboxEvent> batch, outbox.PeekOutbox(100));
//   ... deliver ...
//   EV_RETURN_IF_ERROR(outbox.DeleteOutbox(ids));

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/storage/control_types.h"

namespace edgevault::storage {

class ControlOutboxStore {
 public:
  virtual ~ControlOutboxStore() = default;
  virtual absl::Status AppendOutbox(const OutboxEvent& e) = 0;
  // Oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<OutboxEvent>> PeekOutbox(int limit) = 0;
  // Ids that are absent are ignored.
  virtual absl::Status DeleteOutbox(const std::vector<std::string>& ids) = 0;
};

}  // namespace edgevault::storage
