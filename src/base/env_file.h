#pragma once
// Writable file handles, Env's primitive for every file EdgeVault writes (the audit
// warehouse, key files, the data directory). Env::WriteFileAtomically and the warehouse
// are built on them, so a test Env (src/base/testing/fault_env.h) sees every write, fsync
// and rename and can fail or "crash" at any of them. Durability contract and what each
// failure means: docs/design/durability.md.
// Thread-safety: one WritableFile is used by one thread at a time (callers serialise);
// different handles are independent.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<base::WritableFile> f,
//                       env->NewWritableFile(path, base::FileOpen::kCreateExclusive, 0600));
//   EV_RETURN_IF_ERROR(f->Append(bytes));
//   EV_RETURN_IF_ERROR(f->Sync());   // only now are the bytes durable
//   EV_RETURN_IF_ERROR(f->Close());

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "src/base/status.h"

namespace edgevault::base {

// How Env::NewWritableFile opens `path`.
enum class FileOpen {
  kCreateExclusive,  // a new file (O_CREAT|O_EXCL); AlreadyExists when the name is taken
  kTruncate,         // create or empty an existing file
  kAppendExisting,   // an existing file, writes go to its end; NotFound when absent
};

class WritableFile {
 public:
  virtual ~WritableFile() = default;  // closes without syncing when still open

  // Appends all of `data` at the end of the file. On error some prefix of `data` may have
  // been written (a short write). Errors: Internal with the errno text (ENOSPC: "No space
  // left on device"), FailedPrecondition once closed.
  virtual absl::Status Append(std::string_view data) = 0;
  // fsync: the bytes appended so far (and the size) survive a crash once this returns OK.
  // It does not make a new file's *name* durable: that takes Env::SyncDir of its directory.
  // Errors: Internal (EIO and other errno), FailedPrecondition once closed.
  virtual absl::Status Sync() = 0;
  // Releases the descriptor. Does not sync. Errors: Internal.
  virtual absl::Status Close() = 0;

  virtual const std::string& path() const = 0;
};

}  // namespace edgevault::base
