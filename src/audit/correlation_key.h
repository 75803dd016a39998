#pragma once
// The key of the audit correlation hash (CorrelationHash in event.h): a secret only the
// auth service reads, in KEYS_DIR/auth/audit-correlation.key (the 64-hex-character key
// file format of docs/design/key-files.md, mode 0600, directory 0700). Spec:
// docs/design/audit-event.md.
// Thread-safety: not meant to run concurrently on one keys directory (auth calls it once
// at start; `edgevault up` once before it starts the services).

#include <string>

#include "src/base/env.h"
#include "src/base/status.h"

namespace edgevault::audit {

// KEYS_DIR/auth/audit-correlation.key
std::string CorrelationKeyPath(const std::string& keys_dir);

// The 32 raw key bytes. When the file is missing it is created: from the legacy shared
// internal key when KEYS_DIR/internal.key still exists (HKDF-SHA256, info
// "edgevault/audit-correlation/v1", so correlation values stay what they were before the
// per-service credentials), else from fresh random bytes. Errors: PermissionDenied when the
// file or its directory is open to group or others (the message says the chmod);
// InvalidArgument for malformed content; the Env's errors, naming the path.
absl::StatusOr<std::string> LoadOrCreateCorrelationKey(base::Env* env, const std::string& keys_dir);

}  // namespace edgevault::audit
