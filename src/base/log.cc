#include "src/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <memory>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace edgevault::base {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
// Never destroyed (the pointer stays reachable): a log line written while the process
// exits must not touch a destroyed string or function. The services join their threads
// before main() returns; this keeps any other thread safe too.
struct LogState {
  std::mutex mu;  // guards service and sink
  std::string service = "edgevault";
  std::function<void(std::string_view)> sink;
};
LogState& State() {
  static LogState* const state = new LogState;
  return *state;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing stderr
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

// The length of the well-formed UTF-8 sequence at the start of `s` (1..4), or 0 when
// it is not one (bad lead byte, missing continuation, overlong form, surrogate, or
// beyond U+10FFFF). `s` is not empty and s[0] >= 0x80.
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(0);
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return len;
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warn") *out = LogLevel::kWarn;
  else if (text == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void SetLogService(std::string_view service) {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  s.service = std::string(service);
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void SetLogSink(std::function<void(std::string_view)> sink) {
  LogState& s = State();
  std::lock_guard lock(s.mu);
  s.sink = std::move(sink);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    size_t len = static_cast<unsigned char>(s[0]) < 0x80 ? 1 : Utf8SequenceLength(s);
    if (len == 0) {
      out.append("\xef\xbf\xbd");  // U+FFFD
      len = 1;
    } else {
      out.append(s.substr(0, len));
    }
    s.remove_prefix(len);
  }
  return out;
}

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  while (!s.empty()) {
    const unsigned char c = static_cast<unsigned char>(s[0]);
    if (c >= 0x80) {
      // JSON text is UTF-8: copy well-formed sequences, replace each byte of anything
      // else (binary data, a truncated sequence) with U+FFFD so the line stays valid.
      size_t len = Utf8SequenceLength(s);
      if (len == 0) {
        out->append("\\ufffd");
        len = 1;
      } else {
        out->append(s.substr(0, len));
      }
      s.remove_prefix(len);
      continue;
    }
    s.remove_prefix(1);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  // EV_LOG checks first (and so skips building the fields); direct callers are
  // filtered here.
  if (!LogEnabled(level)) return;
  std::string line;
  line.reserve(160);
  line.append("{\"ts\":\"");
  line.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  line.append("\",\"level\":\"");
  line.append(LevelName(level));
  line.append("\",\"service\":");
  std::function<void(std::string_view)> sink;
  {
    LogState& s = State();
    std::lock_guard lock(s.mu);
    AppendJsonString(&line, s.service);
    sink = s.sink;
  }
  line.append(",\"msg\":");
  AppendJsonString(&line, msg);
  for (const LogField& f : fields) {
    line.push_back(',');
    AppendJsonString(&line, f.key);
    line.push_back(':');
    std::visit(
        [&line](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            AppendJsonString(&line, v);
          } else if constexpr (std::is_same_v<T, bool>) {
            line.append(v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, double>) {
            if (std::isfinite(v)) {
              // Shortest text that reads back as the same double, independent of the
              // C locale (printf would write "0,5" under a German LC_NUMERIC).
              char buf[32];
              auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
              line.append(ec == std::errc() ? std::string_view(buf, end - buf) : "null");
            } else {
              line.append("null");
            }
          } else {
            line.append(std::to_string(v));
          }
        },
        f.value);
  }
  line.append("}\n");
  if (sink) {
    sink(line);
  } else {
    WriteAll(2, line);
  }
}

}  // namespace edgevault::base
