#include "src/audit/verify.h"

#include <map>
#include <cstdio>
#include <set>

#include "src/base/strings.h"

namespace edgevault::audit {

namespace {

std::string FileName(const std::string& node, uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%010llu.ndjson", static_cast<unsigned long long>(seq));
  return node + buf;
}

class NodeVerifier {
 public:
  NodeVerifier(WarehouseReader& reader, const VerifyOptions& options, VerifyReport& report)
      : reader_(reader), options_(options), report_(report) {}

  // False once a problem was recorded. `head` was read before `files` were listed.
  bool Run(const std::string& node, const absl::StatusOr<std::optional<ChainHead>>& head,
           const std::vector<WarehouseFile>& files) {
    if (!head.ok()) {
      return Fail(reader_.Describe(node + ".head"), 0, base::ToStd(head.status().message()));
    }
    size_t start = 0;
    if (options_.from) {
      while (start < files.size() && absl::CivilDay(files[start].hour) < *options_.from) ++start;
    }
    if (files.empty()) {
      if (head->has_value()) {
        return Fail(reader_.Describe(node + ".head"), 0,
                    base::StrCat("HEAD records ", FileName(node, (*head)->seq), " line ",
                                 (*head)->line, " but the warehouse has no files for node ", node,
                                 ": files were removed"));
      }
      return true;
    }
    if (!head->has_value()) {
      return Fail(reader_.Describe(node + ".head"), 0,
                  base::StrCat("HEAD record missing for node ", node,
                               " while chain files exist: removed records at the end could not "
                               "be detected"));
    }
    const ChainHead& h = **head;
    bool head_seen = false;
    std::string expected_prev(kGenesisHash);
    uint64_t expected_seq = 1;
    bool trust_first_prev = false;
    if (start == files.size()) return true;  // nothing on or after --from
    if (options_.from && files[start].seq != 1) {
      // Earlier files are outside the range (or were removed by retention).
      expected_seq = files[start].seq;
      trust_first_prev = true;
    }
    int64_t events_after_head = 0;
    for (size_t i = start; i < files.size(); ++i) {
      const WarehouseFile& f = files[i];
      const std::string where = reader_.Describe(f.path);
      if (f.seq < expected_seq) {
        return Fail(where, 0, base::StrCat("duplicate file sequence number ", f.seq));
      }
      if (f.seq > expected_seq) {
        return Fail(where, 0,
                    base::StrCat("missing file gap: expected ", FileName(node, expected_seq),
                                 " before this file (files ", expected_seq, "..", f.seq - 1,
                                 " of the chain are missing)"));
      }
      ++expected_seq;
      absl::StatusOr<std::string> content = reader_.ReadFile(f.path);
      if (!content.ok()) return Fail(where, 0, base::ToStd(content.status().message()));
      ++report_.files;
      std::string_view rest = *content;
      int64_t line_no = 0;
      while (!rest.empty()) {
        ++line_no;
        size_t nl = rest.find('\n');
        if (nl == std::string_view::npos) {
          return Fail(where, line_no,
                      "truncated line: the file ends without a newline (cut mid-record)");
        }
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl + 1);
        absl::StatusOr<ParsedLine> p = ParseChainedLine(line);
        if (!p.ok()) return Fail(where, line_no, base::ToStd(p.status().message()));
        if (trust_first_prev) {
          expected_prev = p->prev_hash;
          trust_first_prev = false;
          report_.notes.push_back(base::StrCat("started at ", where,
                                               "; its first prev_hash was taken as given"));
        }
        if (p->prev_hash != expected_prev) {
          return Fail(where, line_no,
                      base::StrCat("prev_hash mismatch: the record says ", p->prev_hash,
                                   ", the previous record's hash is ", expected_prev,
                                   " (a record before it was removed, reordered or edited)"));
        }
        std::string computed = ChainHash(p->prev_hash, p->canonical);
        if (computed != p->hash) {
          return Fail(where, line_no,
                      base::StrCat("hash mismatch: the record says ", p->hash, ", its content hashes to ",
                                   computed, " (the record was edited)"));
        }
        absl::StatusOr<AuditEvent> e = ParseAuditEvent(p->canonical);
        if (!e.ok()) {
          return Fail(where, line_no, base::StrCat("invalid event: ", base::ToStd(e.status().message())));
        }
        if (absl::ToCivilHour(e->time, absl::UTCTimeZone()) != f.hour) {
          return Fail(where, line_no, "event time outside the file's hour partition");
        }
        if (CanonicalJson(*e) != p->canonical) {
          return Fail(where, line_no, "record is not in canonical form");
        }
        if (!ids_.insert(e->id).second) {
          return Fail(where, line_no, base::StrCat("duplicate event id ", e->id));
        }
        if (head_seen) ++events_after_head;
        if (f.seq == h.seq && line_no == h.line) {
          if (p->hash != h.hash) {
            return Fail(where, line_no,
                        base::StrCat("HEAD mismatch: HEAD records hash ", h.hash,
                                     " for this record, which hashes to ", p->hash));
          }
          head_seen = true;
        }
        expected_prev = p->hash;
        ++report_.events;
      }
    }
    if (!head_seen) {
      bool head_before_range = h.seq < files[start].seq;
      if (!head_before_range) {
        const WarehouseFile& last = files.back();
        return Fail(reader_.Describe(last.path), 0,
                    base::StrCat("records missing at the end: HEAD records ", FileName(node, h.seq),
                                 " line ", h.line, " (hash ", h.hash,
                                 ") but the chain ends before it (truncated or removed)"));
      }
    }
    if (events_after_head > 0) {
      report_.notes.push_back(base::StrCat(
          events_after_head, " record(s) of node ", node,
          " follow HEAD: a writer is running, or stopped between fsync and the HEAD update"));
    }
    return true;
  }

 private:
  bool Fail(const std::string& file, int64_t line, std::string_view problem) {
    report_.ok = false;
    report_.file = file;
    report_.line = line;
    report_.problem = std::string(problem);
    return false;
  }

  WarehouseReader& reader_;
  const VerifyOptions& options_;
  VerifyReport& report_;
  std::set<std::string> ids_;
};

}  // namespace

absl::StatusOr<VerifyReport> VerifyWarehouse(WarehouseReader& reader, const VerifyOptions& options) {
  // A writer puts a file (or appends to it) before it moves that node's HEAD. So every HEAD
  // is read before the files are listed and read: what a HEAD names is then in the listing,
  // and a writer running meanwhile only adds records after HEAD. Read the other way round, a
  // file written between the listing and the HEAD read looked like records removed at the
  // end. A node whose files are listed but whose HEAD was not there yet (its writer's first
  // file) is looked at again with a fresh snapshot, a few times.
  using Heads = std::map<std::string, absl::StatusOr<std::optional<ChainHead>>>;
  Heads heads;
  std::map<std::string, std::vector<WarehouseFile>> by_node;
  std::vector<std::string> bad_names;
  constexpr int kSnapshots = 3;
  for (int attempt = 1; attempt <= kSnapshots; ++attempt) {
    heads.clear();
    by_node.clear();
    bad_names.clear();
    absl::StatusOr<std::vector<std::string>> head_nodes = reader.HeadNodes();
    if (!head_nodes.ok()) return head_nodes.status();
    for (const std::string& n : *head_nodes) heads.emplace(n, reader.ReadHead(n));
    absl::StatusOr<std::vector<WarehouseFile>> files = reader.ListFiles(&bad_names);
    if (!files.ok()) return files.status();
    for (WarehouseFile& f : *files) by_node[f.node].push_back(std::move(f));
    bool headless = false;
    for (const auto& [node, node_files] : by_node) {
      if (!heads.contains(node)) headless = true;
    }
    if (!headless) break;
    if (attempt == kSnapshots) {
      // Still no HEAD: read it now to report it (missing, or unreadable).
      for (const auto& [node, node_files] : by_node) {
        if (!heads.contains(node)) heads.emplace(node, reader.ReadHead(node));
      }
    }
  }
  VerifyReport report;
  if (!bad_names.empty()) {
    report.ok = false;
    report.file = reader.Describe(bad_names.front());
    report.problem = "unexpected file name in the warehouse (expected <node>-<10-digit seq>.ndjson "
                     "in a valid YYYY/MM/DD/HH directory)";
    return report;
  }
  for (const auto& [node, head] : heads) by_node[node];  // a HEAD without files is checked too
  for (const auto& [node, node_files] : by_node) {
    ++report.nodes;
    NodeVerifier v(reader, options, report);
    auto head = heads.find(node);
    if (!v.Run(node, head->second, node_files)) return report;
  }
  return report;
}

}  // namespace edgevault::audit
