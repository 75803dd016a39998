#include "src/audit/s3_warehouse.h"

#include "src/audit/chain_recovery.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

// ---------------------------------------------------------------- reader

absl::StatusOr<std::vector<WarehouseFile>> S3WarehouseReader::ListFiles(
    std::vector<std::string>* bad_names) {
  EV_ASSIGN_OR_RETURN(std::vector<net::S3Object> objects, client_->ListAll(prefix_));
  std::vector<WarehouseFile> out;
  for (const net::S3Object& o : objects) {
    std::string_view rel = std::string_view(o.key).substr(prefix_.size());
    if (!rel.ends_with(kChainFileSuffix)) continue;  // HEAD records and other objects
    WarehouseFile f;
    if (!ParseWarehouseFilePath(rel, &f)) {
      if (bad_names != nullptr) bad_names->emplace_back(rel);
      continue;
    }
    out.push_back(std::move(f));
  }
  SortChainFiles(out);
  return out;
}

absl::StatusOr<std::string> S3WarehouseReader::ReadFile(const std::string& path) {
  return client_->GetObject(prefix_ + path);
}

absl::StatusOr<std::optional<ChainHead>> S3WarehouseReader::ReadHead(const std::string& node) {
  const std::string key = prefix_ + HeadRecordName(node);
  absl::StatusOr<std::string> text = client_->GetObject(key);
  if (absl::IsNotFound(text.status())) return std::optional<ChainHead>();
  if (!text.ok()) return text.status();
  EV_ASSIGN_OR_RETURN(ChainHead head, ParseHeadRecord(*text, node, client_->Describe(key)));
  return std::optional<ChainHead>(std::move(head));
}

absl::StatusOr<std::vector<std::string>> S3WarehouseReader::HeadNodes() {
  // HEAD records sit beside the YYYY "directories": one level under the prefix.
  EV_ASSIGN_OR_RETURN(std::vector<net::S3Object> objects, client_->ListAll(prefix_, "/"));
  std::vector<std::string> out;
  constexpr std::string_view kHead = ".head";
  for (const net::S3Object& o : objects) {
    std::string_view rel = std::string_view(o.key).substr(prefix_.size());
    if (rel.size() > kHead.size() && rel.ends_with(kHead)) {
      std::string node(rel.substr(0, rel.size() - kHead.size()));
      if (ValidNodeId(node)) out.push_back(std::move(node));
    }
  }
  return out;
}

// ---------------------------------------------------------------- writer

S3Warehouse::S3Warehouse(S3WarehouseOptions options)
    : options_(std::move(options)), reader_(options_.client, options_.prefix),
      recent_(options_.dedup_window) {}

absl::StatusOr<std::unique_ptr<S3Warehouse>> S3Warehouse::Create(S3WarehouseOptions options) {
  if (options.client == nullptr) return absl::InvalidArgumentError("S3Warehouse: client is required");
  if (!options.prefix.empty() && options.prefix.back() != '/') {
    return absl::InvalidArgumentError("S3Warehouse: the prefix must be empty or end in '/'");
  }
  EV_RETURN_IF_ERROR(CheckWriterNodeId("S3Warehouse", options.node));
  std::unique_ptr<S3Warehouse> w(new S3Warehouse(std::move(options)));
  std::lock_guard<std::mutex> lock(w->mu_);
  EV_RETURN_IF_ERROR(w->Recover());
  return w;
}

absl::Status S3Warehouse::Recover() {
  EV_ASSIGN_OR_RETURN(RecoveredChain r, RecoverChain(reader_, options_.node, options_.dedup_window));
  if (!r.torn_file.empty()) {
    // Objects are written whole, so only someone else can have made this: verify says so.
    EV_LOG(kError, "audit warehouse object ends without a newline; leaving it for verify",
           {{"object", reader_.Describe(r.torn_file)}});
  }
  max_seq_ = r.max_seq;
  last_hash_ = r.last_hash;
  head_seq_ = r.head_seq;
  head_line_ = r.head_line;
  recent_.Reset(r.recent_ids);
  head_dirty_ = r.head_needs_write;
  if (head_dirty_) {
    EV_RETURN_IF_ERROR(WriteHead());
    head_dirty_ = false;
  }
  return absl::OkStatus();
}

absl::Status S3Warehouse::WriteHead() {
  // Replaced after every batch by this node's only writer: not a conditional write.
  return options_.client->PutObject(options_.prefix + HeadRecordName(options_.node),
                                    HeadRecordText(options_.node, head_seq_, head_line_, last_hash_),
                                    {.content_type = "application/json"});
}

absl::Status S3Warehouse::Append(const std::vector<AuditEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  if (needs_recovery_) {
    EV_RETURN_IF_ERROR(Recover());
    needs_recovery_ = false;
  }
  std::vector<const AuditEvent*> todo = recent_.Fresh(events, &duplicates_skipped_);
  auto hour_of = [](const AuditEvent* e) { return absl::ToCivilHour(e->time, absl::UTCTimeZone()); };
  size_t i = 0;
  while (i < todo.size()) {
    const absl::CivilHour hour = hour_of(todo[i]);
    const uint64_t seq = max_seq_ + 1;
    const std::string rel = WarehouseFilePath(hour, options_.node, seq);
    std::string body, hash = last_hash_;
    int64_t lines = 0;
    size_t group_end = i;
    for (; group_end < todo.size() && hour_of(todo[group_end]) == hour; ++group_end) {
      std::string prev = hash;
      body += ChainedLine(CanonicalJson(*todo[group_end]), prev, &hash);
      body.push_back('\n');
      ++lines;
    }
    absl::Status st = options_.client->PutObject(options_.prefix + rel, body, {.if_none_match = true});
    if (!st.ok()) {
      // The object may or may not exist now (a timeout after the store wrote it; another
      // writer's object): read the chain again before the next batch.
      needs_recovery_ = true;
      if (absl::IsAlreadyExists(st)) {
        EV_LOG(kError,
               "audit warehouse object already exists: another writer uses this node id; "
               "re-reading the chain",
               {{"object", reader_.Describe(rel)}, {"node", options_.node}});
      }
      return st;
    }
    max_seq_ = seq;
    last_hash_ = hash;
    head_seq_ = seq;
    head_line_ = lines;
    current_object_ = rel;
    ++objects_created_;
    for (size_t k = i; k < group_end; ++k) recent_.Remember(todo[k]->id);
    events_written_ += static_cast<int64_t>(group_end - i);
    head_dirty_ = true;
    i = group_end;
  }
  if (head_dirty_) {
    EV_RETURN_IF_ERROR(WriteHead());
    head_dirty_ = false;
  }
  return absl::OkStatus();
}

WarehouseWriterStats S3Warehouse::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  WarehouseWriterStats s;
  s.node = options_.node;
  s.last_hash = last_hash_;
  s.head_seq = head_seq_;
  s.head_line = head_line_;
  s.current_file = current_object_;
  s.events_written = events_written_;
  s.duplicates_skipped = duplicates_skipped_;
  s.files_created = objects_created_;
  return s;
}

}  // namespace edgevault::audit
