// Fuzzes what the C++ SDK (sdk/cpp) reads from a delivery it does not trust: the chunked
// body decoder and the Server-Sent Events parser of its transport (sdk/cpp/src/transport.h),
// the snapshot file (docs/design/sdk-snapshot-file.md) and a document compiled for
// evaluation (BuildSnapshot, before any signature check passes it: a compromised delivery
// may send anything).
// Input: raw bytes; the first byte picks the piece size the stream parsers are fed in.
// Properties:
//   - nothing reads past the input (ASan), throws or crashes;
//   - the chunked decoder and the SSE parser give the same output and the same verdict
//     whether the bytes come at once or in pieces (TCP may split them anywhere);
//   - an SSE event's data never exceeds the parser's bound;
//   - a parsed snapshot file formats back to a file that parses to the same parts.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "sdk/cpp/src/snapshot.h"
#include "sdk/cpp/src/transport.h"

namespace edgevault::fuzz {
namespace {

using sdk::internal::ChunkedDecoder;
using sdk::internal::SseEvent;
using sdk::internal::SseParser;

struct Dechunked {
  std::string out;
  bool ok = true;
  bool done = false;
};

Dechunked Dechunk(std::string_view in, size_t piece) {
  Dechunked r;
  ChunkedDecoder d;
  bool stop = false;
  for (size_t i = 0; i < in.size() && r.ok && !r.done; i += piece) {
    absl::StatusOr<bool> fed = d.Feed(in.substr(i, piece), [&](std::string_view p) {
      r.out.append(p);
      return true;
    }, &stop);
    if (!fed.ok()) {
      r.ok = false;
    } else {
      r.done = *fed;
    }
  }
  return r;
}

constexpr size_t kMaxEvent = 256;

struct Parsed {
  std::vector<SseEvent> events;
  bool ok = true;
};

Parsed ParseSse(std::string_view in, size_t piece) {
  Parsed r;
  SseParser p(kMaxEvent);
  for (size_t i = 0; i < in.size() && r.ok; i += piece) {
    r.ok = p.Feed(in.substr(i, piece), [&](SseEvent e) { r.events.push_back(std::move(e)); }).ok();
  }
  return r;
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault::fuzz;
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 16;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  Dechunked whole = Dechunk(in, in.size() + 1);
  Dechunked split = Dechunk(in, piece);
  FUZZ_CHECK(whole.ok == split.ok, "chunked verdict depends on the split");
  if (whole.ok) {
    FUZZ_CHECK(whole.done == split.done, "chunked end depends on the split");
    FUZZ_CHECK(whole.out == split.out, "chunked output depends on the split");
  }

  Parsed sse_whole = ParseSse(in, in.size() + 1);
  Parsed sse_split = ParseSse(in, piece);
  FUZZ_CHECK(sse_whole.ok == sse_split.ok, "SSE verdict depends on the split");
  FUZZ_CHECK(sse_whole.events.size() == sse_split.events.size(), "SSE events depend on the split");
  for (size_t i = 0; i < sse_whole.events.size(); ++i) {
    const auto& a = sse_whole.events[i];
    const auto& b = sse_split.events[i];
    FUZZ_CHECK(a.id == b.id && a.event == b.event && a.data == b.data, "SSE event depends on the split");
  }
  for (const auto& e : sse_split.events) FUZZ_CHECK(e.data.size() <= kMaxEvent, "SSE event over its bound");

  absl::StatusOr<edgevault::sdk::internal::SnapshotFile> file = edgevault::sdk::internal::ParseSnapshotFile(in);
  if (file.ok()) {
    absl::StatusOr<edgevault::sdk::internal::SnapshotFile> again = edgevault::sdk::internal::ParseSnapshotFile(
        edgevault::sdk::internal::FormatSnapshotFile(file->signature, file->document));
    FUZZ_CHECK(again.ok() && again->signature == file->signature && again->document == file->document,
               "a formatted snapshot file does not read back");
  }
  (void)edgevault::sdk::internal::BuildSnapshot(std::string(in), "");
  (void)edgevault::sdk::internal::ParseBaseUrl(in);
  return 0;
}
