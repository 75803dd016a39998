#include "src/audit/file_warehouse.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include <boost/json.hpp>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

namespace {

constexpr std::string_view kSuffix = ".ndjson";

bool AllDigits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int ToInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "node-1-0000000007.ndjson" → ("node-1", 7).
bool ParseFileName(std::string_view name, std::string* node, uint64_t* seq) {
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return false;
  }
  std::string_view stem = name.substr(0, name.size() - kSuffix.size());
  size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return false;
  std::string_view n = stem.substr(0, dash), s = stem.substr(dash + 1);
  if (!ValidNodeId(n) || s.size() < 10 || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v == 0) return false;
  *node = std::string(n);
  *seq = v;
  return true;
}

absl::Status FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return base::ErrnoStatus("open", path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return base::ErrnoStatus("fsync", path, err);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoStatus("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

struct Lines {
  std::vector<std::string_view> complete;  // without '\n'
  size_t complete_bytes = 0;               // offset just past the last '\n'
  bool torn = false;                       // bytes after the last '\n'
};

Lines SplitLines(std::string_view content) {
  Lines out;
  size_t pos = 0;
  for (;;) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string_view::npos) break;
    out.complete.push_back(content.substr(pos, nl - pos));
    pos = nl + 1;
  }
  out.complete_bytes = pos;
  out.torn = pos < content.size();
  return out;
}

// The event id of a warehouse line, read from its fixed canonical prefix.
std::string_view LineEventId(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"v\":1,\"id\":\"";
  if (line.substr(0, kPrefix.size()) != kPrefix) return {};
  size_t end = line.find('"', kPrefix.size());
  if (end == std::string_view::npos) return {};
  return line.substr(kPrefix.size(), end - kPrefix.size());
}

}  // namespace

bool ValidNodeId(std::string_view node) {
  if (node.empty() || node.size() > 64) return false;
  for (char c : node) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return node != "." && node != "..";
}

std::string WarehouseFilePath(absl::CivilHour hour, std::string_view node, uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d/%02d/%02d/%02d/", static_cast<int>(hour.year()),
                hour.month(), hour.day(), hour.hour());
  char seq_buf[32];
  std::snprintf(seq_buf, sizeof seq_buf, "-%010llu", static_cast<unsigned long long>(seq));
  return base::StrCat(buf, node, seq_buf, kSuffix);
}

// ---------------------------------------------------------------- reader

absl::StatusOr<std::vector<WarehouseFile>> FileWarehouseReader::ListFiles(
    std::vector<std::string>* bad_names) {
  std::vector<WarehouseFile> out;
  EV_ASSIGN_OR_RETURN(std::vector<std::string> years, env_->ListDir(dir_));
  for (const std::string& y : years) {
    if (!AllDigits(y, 4)) continue;
    absl::StatusOr<std::vector<std::string>> months = env_->ListDir(dir_ + "/" + y);
    if (!months.ok()) continue;  // not a directory
    for (const std::string& m : *months) {
      if (!AllDigits(m, 2)) continue;
      std::string ym = y + "/" + m;
      EV_ASSIGN_OR_RETURN(std::vector<std::string> days, env_->ListDir(dir_ + "/" + ym));
      for (const std::string& d : days) {
        if (!AllDigits(d, 2)) continue;
        std::string ymd = ym + "/" + d;
        EV_ASSIGN_OR_RETURN(std::vector<std::string> hours, env_->ListDir(dir_ + "/" + ymd));
        for (const std::string& h : hours) {
          if (!AllDigits(h, 2)) continue;
          std::string ymdh = ymd + "/" + h;
          absl::CivilHour hour(ToInt(y), ToInt(m), ToInt(d), ToInt(h));
          bool valid_hour = hour.month() == ToInt(m) && hour.day() == ToInt(d) &&
                            hour.hour() == ToInt(h);
          EV_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_ + "/" + ymdh));
          for (const std::string& n : names) {
            if (n.size() < kSuffix.size() ||
                std::string_view(n).substr(n.size() - kSuffix.size()) != kSuffix) {
              continue;  // temporary files and the like
            }
            WarehouseFile f;
            if (!valid_hour || !ParseFileName(n, &f.node, &f.seq)) {
              if (bad_names != nullptr) bad_names->push_back(ymdh + "/" + n);
              continue;
            }
            f.path = ymdh + "/" + n;
            f.hour = hour;
            out.push_back(std::move(f));
          }
        }
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const WarehouseFile& a, const WarehouseFile& b) {
    return a.node != b.node ? a.node < b.node : a.seq < b.seq;
  });
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
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(base::StrCat("HEAD record ", path, ": ", why));
  };
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text->data(), text->size()), ec);
  if (ec || !v.is_object()) return bad("not a JSON object");
  const boost::json::object& o = v.get_object();
  const boost::json::value* n = o.if_contains("node");
  const boost::json::value* s = o.if_contains("seq");
  const boost::json::value* l = o.if_contains("line");
  const boost::json::value* h = o.if_contains("hash");
  if (n == nullptr || !n->is_string() || s == nullptr || !s->is_int64() || l == nullptr ||
      !l->is_int64() || h == nullptr || !h->is_string() || h->get_string().size() != 64 ||
      s->get_int64() < 1 || l->get_int64() < 1) {
    return bad("expected {\"v\":1,\"node\":…,\"seq\":N,\"line\":N,\"hash\":\"<64 hex>\"}");
  }
  ChainHead head;
  head.node = std::string(n->get_string().data(), n->get_string().size());
  if (head.node != node) return bad("names another node");
  head.seq = static_cast<uint64_t>(s->get_int64());
  head.line = l->get_int64();
  head.hash = std::string(h->get_string().data(), h->get_string().size());
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
    : options_(std::move(options)), reader_(options_.dir, options_.env) {}

FileWarehouse::~FileWarehouse() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

absl::StatusOr<std::unique_ptr<FileWarehouse>> FileWarehouse::Create(FileWarehouseOptions options) {
  if (options.env == nullptr) return absl::InvalidArgumentError("FileWarehouse: env is required");
  if (options.dir.empty()) return absl::InvalidArgumentError("FileWarehouse: dir is required");
  if (!ValidNodeId(options.node)) {
    return absl::InvalidArgumentError(
        base::StrCat("FileWarehouse: node id '", options.node, "' must match [A-Za-z0-9._-]{1,64}"));
  }
  if (options.dedup_window < 1) options.dedup_window = 1;
  EV_RETURN_IF_ERROR(options.env->CreateDirs(options.dir, 0700));
  std::unique_ptr<FileWarehouse> w(new FileWarehouse(std::move(options)));
  std::lock_guard<std::mutex> lock(w->mu_);
  EV_RETURN_IF_ERROR(w->Recover());
  return w;
}

void FileWarehouse::Remember(const std::string& id) {
  if (!recent_.insert(id).second) return;
  recent_order_.push_back(id);
  while (recent_order_.size() > options_.dedup_window) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

absl::Status FileWarehouse::Recover() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  cur_path_.clear();
  std::vector<WarehouseFile> all;
  EV_ASSIGN_OR_RETURN(all, reader_.ListFiles());
  std::vector<WarehouseFile> files;
  for (WarehouseFile& f : all) {
    if (f.node == options_.node) files.push_back(std::move(f));
  }
  max_seq_ = files.empty() ? 0 : files.back().seq;
  last_hash_ = std::string(kGenesisHash);
  head_seq_ = 0;
  head_line_ = 0;
  head_dirty_ = false;

  absl::StatusOr<std::optional<ChainHead>> head = reader_.ReadHead(options_.node);
  if (!head.ok()) {
    EV_LOG(kError, "audit warehouse HEAD unreadable; continuing from the newest file",
           {{"error", head.status().message()}});
    head = std::optional<ChainHead>();
  }

  // Where adoption starts: (index into files, lines already accounted for in that file).
  size_t start_index = files.size();
  int64_t start_line = 0;
  if (head->has_value()) {
    const ChainHead& h = **head;
    last_hash_ = h.hash;
    head_seq_ = h.seq;
    head_line_ = h.line;
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const WarehouseFile& f) { return f.seq == h.seq; });
    bool consistent = false;
    if (it != files.end()) {
      EV_ASSIGN_OR_RETURN(std::string content, reader_.ReadFile(it->path));
      Lines lines = SplitLines(content);
      if (h.line <= static_cast<int64_t>(lines.complete.size())) {
        absl::StatusOr<ParsedLine> p = ParseChainedLine(lines.complete[h.line - 1]);
        consistent = p.ok() && p->hash == h.hash;
      }
      start_index = static_cast<size_t>(it - files.begin());
      start_line = h.line;
    }
    if (!consistent) {
      EV_LOG(kError,
             "audit warehouse files do not match HEAD (damaged or tampered); leaving them for "
             "`edgevault audit verify` and continuing the chain from HEAD",
             {{"node", options_.node}, {"head_seq", static_cast<uint64_t>(h.seq)},
              {"head_line", h.line}});
      start_index = files.size();
    }
  } else if (!files.empty()) {
    // No HEAD (first run of a warehouse written before HEAD existed, or HEAD lost):
    // trust the newest file's last complete record.
    for (size_t i = files.size(); i-- > 0;) {
      EV_ASSIGN_OR_RETURN(std::string content, reader_.ReadFile(files[i].path));
      Lines lines = SplitLines(content);
      if (lines.complete.empty()) continue;
      absl::StatusOr<ParsedLine> p = ParseChainedLine(lines.complete.back());
      if (!p.ok()) break;
      last_hash_ = p->hash;
      head_seq_ = files[i].seq;
      head_line_ = static_cast<int64_t>(lines.complete.size());
      start_index = i;
      start_line = head_line_;
      break;
    }
    EV_LOG(kWarn, "audit warehouse has no HEAD record; continuing from the newest record",
           {{"node", options_.node}, {"seq", static_cast<uint64_t>(head_seq_)}});
    head_dirty_ = true;
  }

  // Adopt complete records after the start that continue the chain: they were fsynced
  // but the writer stopped before HEAD moved. Stop at the first record that does not.
  int64_t adopted = 0;
  bool stopped = false;
  uint64_t prev_seq = start_index < files.size() ? files[start_index].seq : 0;
  for (size_t i = start_index; i < files.size() && !stopped; ++i) {
    const WarehouseFile& f = files[i];
    if (i > start_index && f.seq != prev_seq + 1) break;  // a gap: leave it to verify
    prev_seq = f.seq;
    EV_ASSIGN_OR_RETURN(std::string content, reader_.ReadFile(f.path));
    Lines lines = SplitLines(content);
    int64_t first = i == start_index ? start_line : 0;
    bool adopted_here = false;
    for (size_t n = static_cast<size_t>(first); n < lines.complete.size(); ++n) {
      absl::StatusOr<ParsedLine> p = ParseChainedLine(lines.complete[n]);
      if (!p.ok() || p->prev_hash != last_hash_ || ChainHash(p->prev_hash, p->canonical) != p->hash) {
        EV_LOG(kError, "audit warehouse record does not continue the chain; leaving it for verify",
               {{"file", reader_.Describe(f.path)}, {"line", static_cast<int64_t>(n + 1)}});
        stopped = true;
        break;
      }
      last_hash_ = p->hash;
      head_seq_ = f.seq;
      head_line_ = static_cast<int64_t>(n + 1);
      ++adopted;
      adopted_here = true;
    }
    if (adopted_here) EV_RETURN_IF_ERROR(FsyncPath(reader_.Describe(f.path)));
    if (!stopped && lines.torn) {
      if (i + 1 == files.size()) {
        // A record cut short by a crash before its batch was fsynced: never covered by
        // HEAD nor acknowledged, so the queue re-delivers it. Drop the fragment.
        const std::string path = reader_.Describe(f.path);
        EV_LOG(kWarn, "audit warehouse: dropping a torn final line",
               {{"file", path}, {"bytes", static_cast<uint64_t>(content.size() - lines.complete_bytes)}});
        if (::truncate(path.c_str(), static_cast<off_t>(lines.complete_bytes)) != 0) {
          return base::ErrnoStatus("truncate", path, errno);
        }
        EV_RETURN_IF_ERROR(FsyncPath(path));
      } else {
        stopped = true;
      }
    }
  }
  if (adopted > 0) {
    EV_LOG(kInfo, "audit warehouse: adopted records written after the last HEAD update",
           {{"records", adopted}});
    head_dirty_ = true;
  }
  if (head_dirty_ && head_seq_ > 0) EV_RETURN_IF_ERROR(WriteHead());
  head_dirty_ = false;
  return RememberRecentFromFiles(files);
}

absl::Status FileWarehouse::RememberRecentFromFiles(const std::vector<WarehouseFile>& files) {
  recent_.clear();
  recent_order_.clear();
  // Newest files first until the window is full, then remember oldest first.
  std::vector<std::vector<std::string>> per_file;
  size_t total = 0;
  for (size_t i = files.size(); i-- > 0 && total < options_.dedup_window;) {
    EV_ASSIGN_OR_RETURN(std::string content, reader_.ReadFile(files[i].path));
    Lines lines = SplitLines(content);
    std::vector<std::string> ids;
    for (std::string_view l : lines.complete) {
      std::string_view id = LineEventId(l);
      if (!id.empty()) ids.emplace_back(id);
    }
    total += ids.size();
    per_file.push_back(std::move(ids));
  }
  for (size_t i = per_file.size(); i-- > 0;) {
    for (const std::string& id : per_file[i]) Remember(id);
  }
  return absl::OkStatus();
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
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return base::ErrnoStatus("create", path, errno);
  // Make the new name durable: the hour directory and, in case they are new, its parents.
  std::string dir = hour_dir;
  for (int level = 0; level < 5; ++level) {
    if (absl::Status st = FsyncPath(dir); !st.ok()) {
      ::close(fd);
      return st;
    }
    dir = dir.substr(0, dir.rfind('/'));
  }
  max_seq_ = seq;
  fd_ = fd;
  cur_seq_ = seq;
  cur_hour_ = hour;
  cur_path_ = rel;
  cur_lines_ = 0;
  cur_bytes_ = 0;
  ++files_created_;
  return absl::OkStatus();
}

absl::Status FileWarehouse::SyncAndClose() {
  if (fd_ < 0) return absl::OkStatus();
  int rc = ::fsync(fd_);
  int err = errno;
  ::close(fd_);
  fd_ = -1;
  if (rc != 0) return base::ErrnoStatus("fsync", reader_.Describe(cur_path_), err);
  return absl::OkStatus();
}

absl::Status FileWarehouse::WriteHead() {
  std::string text = "{\"v\":1,\"node\":";
  AppendCanonicalString(&text, options_.node);
  base::StrAppend(&text, ",\"seq\":", static_cast<unsigned long long>(head_seq_),
                  ",\"line\":", head_line_, ",\"hash\":\"", last_hash_, "\"}\n");
  return options_.env->WriteFileAtomically(
      options_.dir + "/" + FileWarehouseReader::HeadName(options_.node), text, 0600);
}

absl::Status FileWarehouse::Append(const std::vector<AuditEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  if (needs_recovery_) {
    EV_RETURN_IF_ERROR(Recover());
    needs_recovery_ = false;
  }
  std::vector<const AuditEvent*> todo;
  todo.reserve(events.size());
  std::unordered_set<std::string_view> in_batch;
  for (const AuditEvent& e : events) {
    if (recent_.count(e.id) > 0 || !in_batch.insert(e.id).second) {
      ++duplicates_skipped_;
      continue;
    }
    todo.push_back(&e);
  }
  if (!todo.empty()) {
    auto hour_of = [](const AuditEvent* e) {
      return absl::ToCivilHour(e->time, absl::UTCTimeZone());
    };
    std::stable_sort(todo.begin(), todo.end(),
                     [&](const AuditEvent* a, const AuditEvent* b) { return hour_of(a) < hour_of(b); });
    std::string hash = last_hash_;
    int64_t lines_in_file = cur_lines_;
    absl::Status st;
    size_t i = 0;
    while (i < todo.size() && st.ok()) {
      absl::CivilHour hour = hour_of(todo[i]);
      if (fd_ < 0 || cur_hour_ != hour || cur_bytes_ >= options_.max_file_bytes) {
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
      st = WriteAll(fd_, buf, reader_.Describe(cur_path_));
      cur_bytes_ += static_cast<int64_t>(buf.size());
    }
    if (st.ok() && ::fsync(fd_) != 0) st = base::ErrnoStatus("fsync", reader_.Describe(cur_path_), errno);
    if (!st.ok()) {
      // Some records may be on disk: recovery re-reads the files before the next append.
      needs_recovery_ = true;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return st;
    }
    cur_lines_ = lines_in_file;
    last_hash_ = hash;
    head_seq_ = cur_seq_;
    head_line_ = cur_lines_;
    for (const AuditEvent* e : todo) Remember(e->id);
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
