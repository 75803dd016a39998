#include "src/audit/chain_recovery.h"

#include <algorithm>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

namespace {

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

// Recovery reads the HEAD's file to check it, again to adopt what follows it, and the
// newest files for the dedup ids: usually one large file three times (37 MB at 100,000
// events; an S3 GET each on the object store). This keeps the last file read.
class LastFileReader {
 public:
  explicit LastFileReader(WarehouseReader& reader) : reader_(reader) {}
  // Valid until the next Read of another path.
  absl::StatusOr<std::string_view> Read(const std::string& path) {
    if (!held_ || path != path_) {
      held_ = false;
      EV_ASSIGN_OR_RETURN(content_, reader_.ReadFile(path));
      path_ = path;
      held_ = true;
    }
    return std::string_view(content_);
  }

 private:
  WarehouseReader& reader_;
  bool held_ = false;
  std::string path_;
  std::string content_;
};

// The event id of a warehouse line, read from its fixed canonical prefix.
std::string_view LineEventId(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"v\":1,\"id\":\"";
  if (line.substr(0, kPrefix.size()) != kPrefix) return {};
  size_t end = line.find('"', kPrefix.size());
  if (end == std::string_view::npos) return {};
  return line.substr(kPrefix.size(), end - kPrefix.size());
}

absl::Status RecentIds(LastFileReader& reader, const std::vector<WarehouseFile>& files,
                       size_t window, std::vector<std::string>* out) {
  // Newest files first until the window is full, then oldest first.
  std::vector<std::vector<std::string>> per_file;
  size_t total = 0;
  for (size_t i = files.size(); i-- > 0 && total < window;) {
    EV_ASSIGN_OR_RETURN(std::string_view content, reader.Read(files[i].path));
    Lines lines = SplitLines(content);
    std::vector<std::string> ids;
    ids.reserve(lines.complete.size());
    for (std::string_view l : lines.complete) {
      std::string_view id = LineEventId(l);
      if (!id.empty()) ids.emplace_back(id);
    }
    total += ids.size();
    per_file.push_back(std::move(ids));
  }
  for (size_t i = per_file.size(); i-- > 0;) {
    for (std::string& id : per_file[i]) out->push_back(std::move(id));
  }
  if (out->size() > window) out->erase(out->begin(), out->end() - static_cast<ptrdiff_t>(window));
  return absl::OkStatus();
}

}  // namespace

void RecentEventIds::Reset(const std::vector<std::string>& ids_oldest_first) {
  ids_.clear();
  order_.clear();
  for (const std::string& id : ids_oldest_first) Remember(id);
}

void RecentEventIds::Remember(const std::string& id) {
  if (!ids_.insert(id).second) return;
  order_.push_back(id);
  while (order_.size() > window_) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

std::vector<const AuditEvent*> RecentEventIds::Fresh(const std::vector<AuditEvent>& batch,
                                                     int64_t* skipped) const {
  std::vector<const AuditEvent*> todo;
  todo.reserve(batch.size());
  std::unordered_set<std::string_view> in_batch;
  for (const AuditEvent& e : batch) {
    if (ids_.count(e.id) > 0 || !in_batch.insert(e.id).second) {
      ++*skipped;
      continue;
    }
    todo.push_back(&e);
  }
  auto hour_of = [](const AuditEvent* e) { return absl::ToCivilHour(e->time, absl::UTCTimeZone()); };
  std::stable_sort(todo.begin(), todo.end(),
                   [&](const AuditEvent* a, const AuditEvent* b) { return hour_of(a) < hour_of(b); });
  return todo;
}

absl::Status CheckWriterNodeId(std::string_view who, std::string_view node) {
  if (ValidNodeId(node)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      base::StrCat(who, ": node id '", node, "' must match [A-Za-z0-9._-]{1,64}"));
}

absl::StatusOr<RecoveredChain> RecoverChain(WarehouseReader& reader, const std::string& node,
                                            size_t dedup_window) {
  RecoveredChain r;
  LastFileReader files_read(reader);
  std::vector<WarehouseFile> all;
  EV_ASSIGN_OR_RETURN(all, reader.ListFiles());
  std::vector<WarehouseFile> files;
  for (WarehouseFile& f : all) {
    if (f.node == node) files.push_back(std::move(f));
  }
  r.max_seq = files.empty() ? 0 : files.back().seq;

  absl::StatusOr<std::optional<ChainHead>> head = reader.ReadHead(node);
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
    r.last_hash = h.hash;
    r.head_seq = h.seq;
    r.head_line = h.line;
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const WarehouseFile& f) { return f.seq == h.seq; });
    bool consistent = false;
    if (it != files.end()) {
      EV_ASSIGN_OR_RETURN(std::string_view content, files_read.Read(it->path));
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
             {{"node", node}, {"head_seq", static_cast<uint64_t>(h.seq)}, {"head_line", h.line}});
      start_index = files.size();
    }
  } else if (!files.empty()) {
    // No HEAD (a warehouse written before HEAD existed, or HEAD lost): trust the newest
    // file's last complete record.
    for (size_t i = files.size(); i-- > 0;) {
      EV_ASSIGN_OR_RETURN(std::string_view content, files_read.Read(files[i].path));
      Lines lines = SplitLines(content);
      if (lines.complete.empty()) continue;
      absl::StatusOr<ParsedLine> p = ParseChainedLine(lines.complete.back());
      if (!p.ok()) break;
      r.last_hash = p->hash;
      r.head_seq = files[i].seq;
      r.head_line = static_cast<int64_t>(lines.complete.size());
      start_index = i;
      start_line = r.head_line;
      break;
    }
    EV_LOG(kWarn, "audit warehouse has no HEAD record; continuing from the newest record",
           {{"node", node}, {"seq", static_cast<uint64_t>(r.head_seq)}});
    r.head_needs_write = true;
  }

  // Adopt complete records after the start that continue the chain. Stop at the first
  // record that does not.
  bool stopped = false;
  uint64_t prev_seq = start_index < files.size() ? files[start_index].seq : 0;
  for (size_t i = start_index; i < files.size() && !stopped; ++i) {
    const WarehouseFile& f = files[i];
    if (i > start_index && f.seq != prev_seq + 1) break;  // a gap: leave it to verify
    prev_seq = f.seq;
    EV_ASSIGN_OR_RETURN(std::string_view content, files_read.Read(f.path));
    Lines lines = SplitLines(content);
    int64_t first = i == start_index ? start_line : 0;
    bool adopted_here = false;
    for (size_t n = static_cast<size_t>(first); n < lines.complete.size(); ++n) {
      absl::StatusOr<ParsedLine> p = ParseChainedLine(lines.complete[n]);
      if (!p.ok() || p->prev_hash != r.last_hash ||
          ChainHash(p->prev_hash, p->canonical) != p->hash) {
        EV_LOG(kError, "audit warehouse record does not continue the chain; leaving it for verify",
               {{"file", reader.Describe(f.path)}, {"line", static_cast<int64_t>(n + 1)}});
        stopped = true;
        break;
      }
      r.last_hash = p->hash;
      r.head_seq = f.seq;
      r.head_line = static_cast<int64_t>(n + 1);
      ++r.adopted;
      adopted_here = true;
    }
    if (adopted_here) r.adopted_files.push_back(f.path);
    if (!stopped && lines.torn) {
      if (i + 1 == files.size()) {
        // Never covered by HEAD nor acknowledged: the queue re-delivers it.
        r.torn_file = f.path;
        r.torn_keep_bytes = lines.complete_bytes;
      } else {
        stopped = true;
      }
    }
  }
  if (r.adopted > 0) {
    EV_LOG(kInfo, "audit warehouse: adopted records written after the last HEAD update",
           {{"records", r.adopted}});
    r.head_needs_write = true;
  }
  if (r.head_seq == 0) r.head_needs_write = false;
  EV_RETURN_IF_ERROR(RecentIds(files_read, files, dedup_window, &r.recent_ids));
  return r;
}

}  // namespace edgevault::audit
