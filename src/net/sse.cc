#include "src/net/sse.h"

#include "src/base/strings.h"

namespace edgevault::net {

namespace {
void AppendField(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ");
  for (char c : value) {
    if (c != '\r' && c != '\n') out->push_back(c);
  }
  out->push_back('\n');
}
}  // namespace

std::string FormatSseEvent(const SseEvent& event) {
  std::string out;
  out.reserve(event.data.size() + event.id.size() + event.event.size() + 32);
  if (!event.id.empty()) AppendField(&out, "id", event.id);
  if (!event.event.empty()) AppendField(&out, "event", event.event);
  if (event.retry_ms >= 0) base::StrAppend(&out, "retry: ", event.retry_ms, "\n");
  std::string_view data = event.data;
  // Each line of data becomes its own "data:" field; an empty payload is one empty line.
  for (;;) {
    size_t nl = data.find_first_of("\r\n");
    out.append("data: ");
    out.append(data.substr(0, nl));
    out.push_back('\n');
    if (nl == std::string_view::npos) break;
    size_t skip = (data[nl] == '\r' && nl + 1 < data.size() && data[nl + 1] == '\n') ? 2 : 1;
    data.remove_prefix(nl + skip);
  }
  out.push_back('\n');
  return out;
}

std::string FormatSseComment(std::string_view text) {
  std::string out = ": ";
  for (char c : text) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  out += "\n\n";
  return out;
}

}  // namespace edgevault::net
