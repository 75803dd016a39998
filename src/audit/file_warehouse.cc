#include "src/audit/file_warehouse.h"

#include <algorithm>

#include "src/audit/chain_recovery.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

// ---------------------------------------------------------------- reader

absl::StatusOr<std::vector<WarehouseFile>> FileWarehouseReader::ListFiles(
    std::vector<std::string>* bad_names) {
  std::vector<WarehouseFile> out;
  auto digits = [](const std::string& s, size_t n) {
    return s.size() == n && s.find_first_not_of("0123456789") == std::string::npos;
  };
  EV_ASSIGN_OR_RETURN(std::vector<std::string> years, env_->ListDir(dir_));
  for (const std::string& y : years) {
    if (!digits(y, 4)) continue;
    absl::StatusOr<std::vector<std::string>> months = env_->ListDir(dir_ + "/" + y);
    if (!months.ok()) continue;  // not a directory
    for (const std::string& m : *months) {
      if (!digits(m, 2)) continue;
      std::string ym = y + "/" + m;
      EV_ASSIGN_OR_RETURN(std::vector<std::string> days, env_->ListDir(dir_ + "/" + ym));
      for (const std::string& d : days) {
        if (!digits(d, 2)) continue;
        std::string ymd = ym + "/" + d;
        EV_ASSIGN_OR_RETURN(std::vector<std::string> hours, env_->ListDir(dir_ + "/" + ymd));
        for (const std::string& h : hours) {
          if (!digits(h, 2)) continue;
          std::string ymdh = ymd + "/" + h;
          EV_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_ + "/" + ymdh));
          for (const std::string& n : names) {
            if (!n.ends_with(kChainFileSuffix)) continue;  // temporary files and the like
            WarehouseFile f;
            if (!ParseWarehouseFilePath(ymdh + "/" + n, &f)) {
              if (bad_names != nullptr) bad_names->push_back(ymdh + "/" + n);
              continue;
            }
            out.push_back(std::move(f));
          }
        }
      }
    }
  }
  SortChainFiles(out);
  return out;
}

absl::StatusOr<std::string> FileWarehouseReader::ReadFile(const std::string& path) {
  return env_->ReadFile(dir_ + "/" + path);
}

absl::StatusOr<std::optional<ChainHead>> FileWarehouseReader::ReadHead(const std::string& node) {
  const std::string path = dir_ + "/" + HeadName(node);
  absl::StatusOr<std::string> text = env_->ReadFile(path);
  if (absl::IsNotFound(text.status())) return std::optional<ChainHead>();
  if (!text.ok()) return text.status();
  EV_ASSIGN_OR_RETURN(ChainHead head, ParseHeadRecord(*text, node, path));
  return std::optional<ChainHead>(std::move(head));
}

absl::StatusOr<std::vector<std::string>> FileWarehouseReader::HeadNodes() {
  EV_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<std::string> out;
  constexpr std::string_view kHead = ".head";
  for (const std::string& n : names) {
    if (n.size() > kHead.size() && std::string_view(n).substr(n.size() - kHead.size()) == kHead) {
      std::string node = n.substr(0, n.size() - kHead.size());
      if (ValidNodeId(node)) out.push_back(node);
    }
  }
  return out;
}

// ---------------------------------------------------------------- writer

FileWarehouse::FileWarehouse(FileWarehouseOptions options)
    : options_(std::move(options)), reader_(options_.dir, options_.env),
      recent_(options_.dedup_window) {}

FileWarehouse::~FileWarehouse() {
  if (file_ != nullptr) {
    // Every acknowledged batch was synced already; errors here change nothing.
    (void)file_->Sync();
    (void)file_->Close();
  }
}

absl::StatusOr<std::unique_ptr<FileWarehouse>> FileWarehouse::Create(FileWarehouseOptions options) {
  if (options.env == nullptr) return absl::InvalidArgumentError("FileWarehouse: env is required");
  if (options.dir.empty()) return absl::InvalidArgumentError("FileWarehouse: dir is required");
  EV_RETURN_IF_ERROR(CheckWriterNodeId("FileWarehouse", options.node));
  EV_RETURN_IF_ERROR(options.env->CreateDirs(options.dir, 0700));
  std::unique_ptr<FileWarehouse> w(new FileWarehouse(std::move(options)));
  std::lock_guard<std::mutex> lock(w->mu_);
  EV_RETURN_IF_ERROR(w->Recover());
  return w;
}

absl::Status FileWarehouse::Recover() {
  if (file_ != nullptr) {
    (void)file_->Close();
    file_.reset();
  }
  cur_path_.clear();
  EV_ASSIGN_OR_RETURN(RecoveredChain r, RecoverChain(reader_, options_.node, options_.dedup_window));
  max_seq_ = r.max_seq;
  last_hash_ = r.last_hash;
  head_seq_ = r.head_seq;
  head_line_ = r.head_line;
  // Adopted records were written but maybe not fsynced: make them durable before HEAD
  // points at them.
  for (const std::string& f : r.adopted_files) EV_RETURN_IF_ERROR(SyncExisting(reader_.Describe(f)));
  if (!r.torn_file.empty()) {
    const std::string path = reader_.Describe(r.torn_file);
    EV_LOG(kWarn, "audit warehouse: dropping a torn final line",
           {{"file", path}, {"keep_bytes", static_cast<uint64_t>(r.torn_keep_bytes)}});
    EV_RETURN_IF_ERROR(options_.env->Truncate(path, r.torn_keep_bytes));
    EV_RETURN_IF_ERROR(SyncExisting(path));
  }
  if (r.head_seq == 0) {
    EV_ASSIGN_OR_RETURN(bool dropped, DropFilesWithoutRecords());
    if (dropped) max_seq_ = 0;  // the chain starts again at seq 1, with no gap
  }
  if (r.head_needs_write) EV_RETURN_IF_ERROR(WriteHead());
  head_dirty_ = false;
  recent_.Reset(r.recent_ids);
  return absl::OkStatus();
}

absl::StatusOr<bool> FileWarehouse::DropFilesWithoutRecords() {
  // No record of this node anywhere, so no HEAD either: a crash came between creating the
  // node's first file and its first HEAD. Files without a single complete line hold
  // nothing that was ever acknowledged, but verify would call them "HEAD missing while
  // chain files exist" (docs/design/audit-event.md, "Failures and recovery").
  EV_ASSIGN_OR_RETURN(std::vector<WarehouseFile> files, reader_.ListFiles());
  std::vector<std::string> doomed;
  for (const WarehouseFile& f : files) {
    if (f.node != options_.node) continue;
    EV_ASSIGN_OR_RETURN(std::string content, reader_.ReadFile(f.path));
    if (content.find('\n') != std::string::npos) return false;  // leave it to verify
    doomed.push_back(reader_.Describe(f.path));
  }
  for (const std::string& path : doomed) {
    EV_LOG(kWarn, "audit warehouse: removing a file without records left by a crash before the first HEAD",
           {{"file", path}});
    EV_RETURN_IF_ERROR(options_.env->DeleteFile(path));
    EV_RETURN_IF_ERROR(options_.env->SyncDir(path.substr(0, path.rfind('/'))));
  }
  return !doomed.empty();
}

absl::Status FileWarehouse::OpenNewFile(absl::CivilHour hour) {
  const uint64_t seq = max_seq_ + 1;
  const std::string rel = WarehouseFilePath(hour, options_.node, seq);
  const std::string path = reader_.Describe(rel);
  const std::string hour_dir = path.substr(0, path.rfind('/'));
  // Each level 0700 (CreateDirs sets the mode of the last component only).
  for (size_t at = options_.dir.size() + 1; at <= hour_dir.size(); ++at) {
    if (at == hour_dir.size() || hour_dir[at] == '/') {
      EV_RETURN_IF_ERROR(options_.env->CreateDirs(hour_dir.substr(0, at), 0700));
    }
  }
  EV_ASSIGN_OR_RETURN(std::unique_ptr<base::WritableFile> file,
                      options_.env->NewWritableFile(path, base::FileOpen::kCreateExclusive, 0600));
  // Make the new name durable: the hour directory and, in case they are new, its parents.
  // (On failure the empty file stays: the next start finds it, and its seq is never reused.)
  std::string dir = hour_dir;
  for (int level = 0; level < 5; ++level) {
    EV_RETURN_IF_ERROR(options_.env->SyncDir(dir));
    dir = dir.substr(0, dir.rfind('/'));
  }
  max_seq_ = seq;
  file_ = std::move(file);
  cur_seq_ = seq;
  cur_hour_ = hour;
  cur_path_ = rel;
  cur_lines_ = 0;
  cur_bytes_ = 0;
  ++files_created_;
  return absl::OkStatus();
}

absl::Status FileWarehouse::SyncAndClose() {
  if (file_ == nullptr) return absl::OkStatus();
  absl::Status st = file_->Sync();
  absl::Status closed = file_->Close();
  file_.reset();
  return st.ok() ? closed : st;
}

absl::Status FileWarehouse::SyncExisting(const std::string& path) {
  EV_ASSIGN_OR_RETURN(std::unique_ptr<base::WritableFile> file,
                      options_.env->NewWritableFile(path, base::FileOpen::kAppendExisting, 0600));
  absl::Status st = file->Sync();
  absl::Status closed = file->Close();
  return st.ok() ? closed : st;
}

absl::Status FileWarehouse::WriteHead() {
  return options_.env->WriteFileAtomically(
      options_.dir + "/" + FileWarehouseReader::HeadName(options_.node),
      HeadRecordText(options_.node, head_seq_, head_line_, last_hash_), 0600);
}

absl::Status FileWarehouse::Append(const std::vector<AuditEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  if (needs_recovery_) {
    EV_RETURN_IF_ERROR(Recover());
    needs_recovery_ = false;
  }
  std::vector<const AuditEvent*> todo = recent_.Fresh(events, &duplicates_skipped_);
  if (!todo.empty()) {
    auto hour_of = [](const AuditEvent* e) {
      return absl::ToCivilHour(e->time, absl::UTCTimeZone());
    };
    std::string hash = last_hash_;
    int64_t lines_in_file = cur_lines_;
    absl::Status st;
    size_t i = 0;
    while (i < todo.size() && st.ok()) {
      absl::CivilHour hour = hour_of(todo[i]);
      if (file_ == nullptr || cur_hour_ != hour || cur_bytes_ >= options_.max_file_bytes) {
        st = SyncAndClose();
        if (st.ok()) st = OpenNewFile(hour);
        if (!st.ok()) break;
        lines_in_file = 0;
      }
      std::string buf;
      for (; i < todo.size() && hour_of(todo[i]) == hour; ++i) {
        std::string prev = hash;
        buf += ChainedLine(CanonicalJson(*todo[i]), prev, &hash);
        buf.push_back('\n');
        ++lines_in_file;
      }
      st = file_->Append(buf);
      cur_bytes_ += static_cast<int64_t>(buf.size());
    }
    if (st.ok()) st = file_->Sync();
    if (!st.ok()) {
      // Some records may be on disk: recovery re-reads the files before the next append.
      needs_recovery_ = true;
      if (file_ != nullptr) (void)file_->Close();
      file_.reset();
      return st;
    }
    cur_lines_ = lines_in_file;
    last_hash_ = hash;
    head_seq_ = cur_seq_;
    head_line_ = cur_lines_;
    for (const AuditEvent* e : todo) recent_.Remember(e->id);
    events_written_ += static_cast<int64_t>(todo.size());
    head_dirty_ = true;
  }
  if (head_dirty_) {
    EV_RETURN_IF_ERROR(WriteHead());
    head_dirty_ = false;
  }
  return absl::OkStatus();
}

FileWarehouse::Stats FileWarehouse::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.node = options_.node;
  s.last_hash = last_hash_;
  s.head_seq = head_seq_;
  s.head_line = head_line_;
  s.current_file = cur_path_;
  s.events_written = events_written_;
  s.duplicates_skipped = duplicates_skipped_;
  s.files_created = files_created_;
  return s;
}

}  // namespace edgevault::audit
