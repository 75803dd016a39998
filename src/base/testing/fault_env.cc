#include "src/base/testing/fault_env.h"

#include <filesystem>
#include <system_error>

#include "src/base/strings.h"

namespace edgevault::base::testing {
namespace {

std::string ParentOf(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

bool IsCrash(Fault f) {
  return f == Fault::kPowerLoss || f == Fault::kPowerLossTorn || f == Fault::kProcessKill;
}

}  // namespace

class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::unique_ptr<WritableFile> base, uint64_t generation)
      : env_(env), base_(std::move(base)), generation_(generation) {}

  absl::Status Append(std::string_view data) override { return env_->FileAppend(*this, data); }
  absl::Status Sync() override { return env_->FileSync(*this); }
  absl::Status Close() override { return base_->Close(); }
  const std::string& path() const override { return base_->path(); }

 private:
  friend class FaultInjectionEnv;
  FaultInjectionEnv* env_;
  std::unique_ptr<WritableFile> base_;
  uint64_t generation_;
};

std::string FaultPoint::Describe() const {
  const char* what = "?";
  switch (fault) {
    case Fault::kFail: what = "failure of"; break;
    case Fault::kShortWrite: what = "short write at"; break;
    case Fault::kPowerLoss: what = "power loss before"; break;
    case Fault::kPowerLossTorn: what = "torn power loss before"; break;
    case Fault::kProcessKill: what = "process kill before"; break;
  }
  const char* name = op == FileOp::kWrite ? "write" : op == FileOp::kSync ? "fsync" : "rename";
  if (after_last()) return StrCat(what, " nothing: after the last ", name, " of ", total);
  return StrCat(what, " ", name, " #", k, " of ", total);
}

void ForEachFaultPoint(std::initializer_list<FileOp> ops, std::initializer_list<Fault> faults,
                       const std::function<int64_t(FileOp)>& clean_count, bool with_after_last,
                       const std::function<void(const FaultPoint&)>& body) {
  for (FileOp op : ops) {
    const int64_t total = clean_count(op);
    for (Fault fault : faults) {
      for (int64_t k = 1; k <= total + (with_after_last ? 1 : 0); ++k) body({op, fault, k, total});
    }
  }
}

FaultInjectionEnv::FaultInjectionEnv(Env* base) : base_(base) {}

void FaultInjectionEnv::Arm(const FaultPoint& point) {
  if (!point.after_last()) InjectAt(point.op, point.k, point.fault);
}
FaultInjectionEnv::~FaultInjectionEnv() = default;

void FaultInjectionEnv::InjectAt(FileOp op, int64_t nth, Fault fault) {
  std::lock_guard lock(mu_);
  armed_.push_back(Armed{op, nth, fault});
}

int64_t FaultInjectionEnv::count(FileOp op) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(op);
  return it == counts_.end() ? 0 : it->second;
}

int64_t FaultInjectionEnv::faults_fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

bool FaultInjectionEnv::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

void FaultInjectionEnv::Crash(Fault kind) {
  std::lock_guard lock(mu_);
  if (!crashed_) CrashLocked(kind);
}

void FaultInjectionEnv::Restart() {
  std::lock_guard lock(mu_);
  crashed_ = false;
  ++generation_;
  files_.clear();
  renames_.clear();
}

std::optional<Fault> FaultInjectionEnv::CountLocked(FileOp op) {
  const int64_t n = ++counts_[op];
  for (Armed& a : armed_) {
    if (a.fired || a.op != op || a.nth != n) continue;
    a.fired = true;
    ++fired_;
    if (IsCrash(a.fault)) CrashLocked(a.fault);
    return a.fault;
  }
  return std::nullopt;
}

void FaultInjectionEnv::CrashLocked(Fault kind) {
  crashed_ = true;
  ++generation_;
  if (kind == Fault::kProcessKill) {
    // The kernel keeps everything the process wrote; only the process is gone.
    files_.clear();
    renames_.clear();
    return;
  }
  // Renames not made durable by a directory fsync are undone, newest first.
  for (auto it = renames_.rbegin(); it != renames_.rend(); ++it) {
    (void)base_->Rename(it->to, it->from);
    auto moved = files_.find(it->to);
    if (moved != files_.end()) {
      files_[it->from] = moved->second;
      files_.erase(moved);
    }
    if (it->old_to_content.has_value()) {
      absl::StatusOr<std::unique_ptr<WritableFile>> f =
          base_->NewWritableFile(it->to, FileOpen::kTruncate, it->old_to_mode);
      if (f.ok()) {
        (void)(*f)->Append(*it->old_to_content);
        (void)(*f)->Sync();
        (void)(*f)->Close();
      }
      if (it->old_to_state.has_value()) files_[it->to] = *it->old_to_state;
    }
  }
  renames_.clear();
  for (const auto& [path, state] : files_) {
    if (!state.name_durable) {
      (void)base_->DeleteFile(path);
      continue;
    }
    uint64_t keep = state.synced;
    if (kind == Fault::kPowerLossTorn && state.size > state.synced) {
      keep += (state.size - state.synced) / 2;
    }
    if (keep < state.size) (void)base_->Truncate(path, keep);
  }
  files_.clear();
}

absl::Status FaultInjectionEnv::DeadLocked(std::string_view op, std::string_view path) const {
  return absl::UnavailableError(StrCat(op, " ", path, ": simulated crash (the process is gone)"));
}

FaultInjectionEnv::FileState& FaultInjectionEnv::TrackLocked(const std::string& path) {
  auto it = files_.find(path);
  if (it != files_.end()) return it->second;
  // A file this Env has not seen change since the last (re)start is entirely durable.
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) size = 0;
  return files_[path] = FileState{size, size, true};
}

absl::Status FaultInjectionEnv::FileAppend(File& f, std::string_view data) {
  std::lock_guard lock(mu_);
  if (crashed_ || f.generation_ != generation_) return DeadLocked("write", f.path());
  std::optional<Fault> fault = CountLocked(FileOp::kWrite);
  if (crashed_) return DeadLocked("write", f.path());
  FileState& state = TrackLocked(f.path());
  if (fault == Fault::kFail || fault == Fault::kShortWrite) {
    if (fault == Fault::kShortWrite && data.size() > 1) {
      std::string_view half = data.substr(0, data.size() / 2);
      if (f.base_->Append(half).ok()) state.size += half.size();
    }
    return absl::InternalError(StrCat("write ", f.path(), ": No space left on device"));
  }
  absl::Status st = f.base_->Append(data);
  if (st.ok()) state.size += data.size();
  return st;
}

absl::Status FaultInjectionEnv::FileSync(File& f) {
  std::lock_guard lock(mu_);
  if (crashed_ || f.generation_ != generation_) return DeadLocked("fsync", f.path());
  std::optional<Fault> fault = CountLocked(FileOp::kSync);
  if (crashed_) return DeadLocked("fsync", f.path());
  if (fault == Fault::kFail) {
    // The data stays where it was (in the page cache): a later Sync may still make it
    // durable, a power loss before that drops it.
    return absl::InternalError(StrCat("fsync ", f.path(), ": Input/output error"));
  }
  EV_RETURN_IF_ERROR(f.base_->Sync());
  FileState& state = TrackLocked(f.path());
  state.synced = state.size;
  return absl::OkStatus();
}

absl::Time FaultInjectionEnv::Now() { return base_->Now(); }
absl::Duration FaultInjectionEnv::MonotonicNow() { return base_->MonotonicNow(); }
void FaultInjectionEnv::RandomBytes(void* out, size_t n) { base_->RandomBytes(out, n); }

absl::StatusOr<std::string> FaultInjectionEnv::ReadFile(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    if (crashed_) return DeadLocked("read", path);
  }
  return base_->ReadFile(path);
}

absl::Status FaultInjectionEnv::CreateDirs(const std::string& path, uint32_t mode) {
  std::lock_guard lock(mu_);
  if (crashed_) return DeadLocked("mkdir", path);
  // Directories are modelled as durable once created (see docs/design/durability.md).
  return base_->CreateDirs(path, mode);
}

bool FaultInjectionEnv::Exists(const std::string& path) { return base_->Exists(path); }

absl::StatusOr<uint32_t> FaultInjectionEnv::FileMode(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    if (crashed_) return DeadLocked("stat", path);
  }
  return base_->FileMode(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionEnv::ListDir(const std::string& dir) {
  {
    std::lock_guard lock(mu_);
    if (crashed_) return DeadLocked("opendir", dir);
  }
  return base_->ListDir(dir);
}

absl::Status FaultInjectionEnv::DeleteFile(const std::string& path) {
  std::lock_guard lock(mu_);
  if (crashed_) return DeadLocked("unlink", path);
  EV_RETURN_IF_ERROR(base_->DeleteFile(path));
  // Modelled as durable at once (a power loss never brings a deleted file back).
  files_.erase(path);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(
    const std::string& path, FileOpen how, uint32_t mode) {
  std::lock_guard lock(mu_);
  if (crashed_) return DeadLocked("open", path);
  const bool existed = base_->Exists(path);
  std::optional<FileState> before;
  if (existed) before = TrackLocked(path);
  EV_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, base_->NewWritableFile(path, how, mode));
  switch (how) {
    case FileOpen::kCreateExclusive:
      files_[path] = FileState{0, 0, false};
      break;
    case FileOpen::kTruncate:
      // Emptying an existing file is modelled as durable; a new name is not.
      files_[path] = FileState{0, 0, before.has_value() && before->name_durable};
      break;
    case FileOpen::kAppendExisting:
      break;  // TrackLocked above
  }
  return std::unique_ptr<WritableFile>(new File(this, std::move(f), generation_));
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (crashed_) return DeadLocked("fsync", dir);
  std::optional<Fault> fault = CountLocked(FileOp::kSync);
  if (crashed_) return DeadLocked("fsync", dir);
  if (fault == Fault::kFail) return absl::InternalError(StrCat("fsync ", dir, ": Input/output error"));
  EV_RETURN_IF_ERROR(base_->SyncDir(dir));
  std::erase_if(renames_, [&](const PendingRename& r) { return ParentOf(r.to) == dir; });
  for (auto& [path, state] : files_) {
    if (ParentOf(path) == dir) state.name_durable = true;
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (crashed_) return DeadLocked("rename", to);
  std::optional<Fault> fault = CountLocked(FileOp::kRename);
  if (crashed_) return DeadLocked("rename", to);
  if (fault == Fault::kFail) return absl::InternalError(StrCat("rename ", to, ": Input/output error"));
  PendingRename pending{from, to, std::nullopt, 0600, std::nullopt};
  if (base_->Exists(to)) {
    absl::StatusOr<std::string> old = base_->ReadFile(to);
    absl::StatusOr<uint32_t> mode = base_->FileMode(to);
    if (old.ok()) pending.old_to_content = *std::move(old);
    if (mode.ok()) pending.old_to_mode = *mode;
    pending.old_to_state = TrackLocked(to);
  }
  std::optional<FileState> moved;
  if (base_->Exists(from)) moved = TrackLocked(from);
  EV_RETURN_IF_ERROR(base_->Rename(from, to));
  files_.erase(from);
  if (moved.has_value()) files_[to] = *moved;
  renames_.push_back(std::move(pending));
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::Truncate(const std::string& path, uint64_t size) {
  std::lock_guard lock(mu_);
  if (crashed_) return DeadLocked("truncate", path);
  FileState& state = TrackLocked(path);
  EV_RETURN_IF_ERROR(base_->Truncate(path, size));
  // Modelled as durable at once: a power loss never brings the cut bytes back.
  state.size = std::min(state.size, size);
  state.synced = std::min(state.synced, size);
  return absl::OkStatus();
}

}  // namespace edgevault::base::testing
