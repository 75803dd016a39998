#pragma once
// Structured logging: one JSON object per line on stderr (or a sink set by tests),
//   {"ts":"2026-11-28T15:33:00.123Z","level":"info","service":"api","msg":"listening","port":8081}
//
//   EV_LOG(kInfo, "listening", {{"port", 8081}, {"host", host}});
//
// Thread-safety: all functions are safe from any thread; each line is written
// whole with one write(2) so lines from several threads never interleave.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "absl/strings/string_view.h"

namespace edgevault::base {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error". Returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);

struct LogField {
  using Value = std::variant<std::string_view, int64_t, uint64_t, double, bool>;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, absl::string_view v)
      : key(k), value(std::string_view(v.data(), v.size())) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, long v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, long long v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, unsigned v) : key(k), value(static_cast<uint64_t>(v)) {}
  LogField(std::string_view k, unsigned long v) : key(k), value(static_cast<uint64_t>(v)) {}
  LogField(std::string_view k, unsigned long long v) : key(k), value(static_cast<uint64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};

// Process-wide settings; call once from main() before threads start.
void SetLogService(std::string_view service);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Replaces the output (default: write to fd 2). Each call receives one full line
// including the trailing newline. Pass nullptr to restore stderr.
void SetLogSink(std::function<void(std::string_view line)> sink);

bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Appends `s` to `out` as a JSON string literal (with quotes), escaping per RFC 8259.
void AppendJsonString(std::string* out, std::string_view s);
// `s` with each byte of every ill-formed UTF-8 sequence replaced by U+FFFD, as
// AppendJsonString writes it: for text from the wire (a path parameter) that a JSON
// serialiser that does not check UTF-8 (Boost.JSON) would otherwise copy as it is.
std::string ToValidUtf8(std::string_view s);

}  // namespace edgevault::base

#define EV_LOG(level, msg, ...)                                            \
  do {                                                                     \
    if (::edgevault::base::LogEnabled(::edgevault::base::LogLevel::level)) \
      ::edgevault::base::Log(::edgevault::base::LogLevel::level,           \
                             msg __VA_OPT__(, ) __VA_ARGS__);              \
  } while (0)
