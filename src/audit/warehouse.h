#pragma once
// The audit warehouse: where edgevault-audit appends events for good, hash-chained so
// that a removed, edited, reordered or truncated record is detectable (VerifyWarehouse,
// `edgevault audit verify`). AuditWarehouse is the write side, WarehouseReader the read
// side used by verify and tail. The line format and the chain rule are here because every
// backend (files now, object storage later) shares them: docs/design/audit-event.md.
// Thread-safety: the free functions are pure. Implementations document their own.
//
//   std::string line = ChainedLine(CanonicalJson(e), prev_hash);  // ...,"hash":"…"}
//   EV_ASSIGN_OR_RETURN(ParsedLine p, ParseChainedLine(line));

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "src/audit/event.h"

namespace edgevault::audit {

// prev_hash of the first record of a chain.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// hex(SHA-256(prev_hash_hex || canonical)), lower case.
std::string ChainHash(std::string_view prev_hash_hex, std::string_view canonical);

// `canonical` with ,"prev_hash":"…","hash":"…" inserted before its final '}'; no newline.
// Stores the new hash in *hash_out when non-null.
std::string ChainedLine(std::string_view canonical, std::string_view prev_hash_hex,
                        std::string* hash_out = nullptr);

struct ParsedLine {
  std::string canonical;  // the hashed bytes: the line without the two chain members
  std::string prev_hash;
  std::string hash;
};
// Splits a warehouse line (without its newline). Errors: InvalidArgument starting with
// "bad JSON" when the line is not JSON, or "bad chain members" when it does not end in
// ,"prev_hash":"<64 hex>","hash":"<64 hex>"}. Does not check the hash (ChainHash does).
absl::StatusOr<ParsedLine> ParseChainedLine(std::string_view line);

// Appends batches of events. Implementations are durable on return.
class AuditWarehouse {
 public:
  virtual ~AuditWarehouse() = default;
  // Appends `events` (skipping ids already written recently: a retried batch is not
  // copied twice) and makes them durable before returning OK.
  // Errors: Internal/ResourceExhausted/PermissionDenied for I/O failures (nothing is
  // acknowledged; the caller retries the same batch later).
  virtual absl::Status Append(const std::vector<AuditEvent>& events) = 0;
};

// The last record a writer made durable (the HEAD record).
struct ChainHead {
  std::string node;
  uint64_t seq = 0;   // file
  int64_t line = 0;   // 1-based line in that file
  std::string hash;
};

// What a writer reports on GET /v1/audit/status.
struct WarehouseWriterStats {
  std::string node;
  std::string last_hash;      // of the newest durable record (kGenesisHash when none)
  uint64_t head_seq = 0;      // its file
  int64_t head_line = 0;      // its line
  std::string current_file;   // relative path; "" before the first append
  int64_t events_written = 0;      // by this writer since Create
  int64_t duplicates_skipped = 0;  // events dropped as already written
  int64_t files_created = 0;
};

// A file (or object) of one node's chain.
struct WarehouseFile {
  std::string path;  // relative to the warehouse root: 2026/03/04/05/node-1-0000000007.ndjson
  std::string node;
  uint64_t seq = 0;
  absl::CivilHour hour;  // the partition (from the directory names)
};

// True for [A-Za-z0-9._-]{1,64} other than "." and "..".
bool ValidNodeId(std::string_view node);
// "2026/03/04/05/node-1-0000000007.ndjson".
std::string WarehouseFilePath(absl::CivilHour hour, std::string_view node, uint64_t seq);
// The inverse of WarehouseFilePath for a path relative to the warehouse root; false when
// `path` is not a valid YYYY/MM/DD/HH/<node>-<seq>.ndjson name (a bad name: verify
// reports it). Names not ending in .ndjson are not chain files at all (callers skip them).
bool ParseWarehouseFilePath(std::string_view path, WarehouseFile* out);
inline constexpr std::string_view kChainFileSuffix = ".ndjson";
// Sorts by (node, seq): chain order.
void SortChainFiles(std::vector<WarehouseFile>& files);

// The HEAD record of a node: {"v":1,"node":…,"seq":N,"line":N,"hash":"…"} and a newline.
std::string HeadRecordText(std::string_view node, uint64_t seq, int64_t line,
                           std::string_view hash);
// "<node>.head": the HEAD record's name, beside the YYYY directories.
std::string HeadRecordName(std::string_view node);
// Parses a HEAD record of `node`. `where` names it in messages. Errors: InvalidArgument
// ("HEAD record <where>: …") when it does not parse or names another node.
absl::StatusOr<ChainHead> ParseHeadRecord(std::string_view text, std::string_view node,
                                          std::string_view where);

class WarehouseReader {
 public:
  virtual ~WarehouseReader() = default;
  // Every chain file, sorted by (node, seq). Names that look like chain files but do not
  // parse are returned in `bad_names` when non-null. Errors: NotFound (no warehouse),
  // PermissionDenied, Internal.
  virtual absl::StatusOr<std::vector<WarehouseFile>> ListFiles(
      std::vector<std::string>* bad_names = nullptr) = 0;
  // The bytes of a file from ListFiles. Errors: NotFound, PermissionDenied, Internal.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // The HEAD of `node`'s chain; nullopt when there is none. Errors: InvalidArgument
  // (a HEAD that does not parse), PermissionDenied, Internal.
  virtual absl::StatusOr<std::optional<ChainHead>> ReadHead(const std::string& node) = 0;
  // Nodes that have a HEAD record.
  virtual absl::StatusOr<std::vector<std::string>> HeadNodes() = 0;
  // A path for messages (absolute for files).
  virtual std::string Describe(const std::string& path) const = 0;
};

}  // namespace edgevault::audit
