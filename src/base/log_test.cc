#include "src/base/log.h"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/base/strings.h"

namespace edgevault::base {
namespace {

// ---- A strict reader for the flat JSON objects the logger writes ----------------------

struct JsonValue {
  enum class Kind { kString, kNumber, kBool, kNull } kind;
  std::string text;  // kString: the decoded string; kNumber: the literal as written
  bool boolean = false;
};

// Parses one JSON object whose values are scalars (all the logger writes), following
// RFC 8259 strictly: no control characters in strings, only the defined escapes,
// paired surrogates, well-formed UTF-8, the JSON number grammar. Returns the members
// in order, or nullopt (and a reason) when `text` is not such an object.
class FlatJsonParser {
 public:
  explicit FlatJsonParser(std::string_view text) : s_(text) {}

  std::optional<std::vector<std::pair<std::string, JsonValue>>> Parse() {
    std::vector<std::pair<std::string, JsonValue>> members;
    SkipSpace();
    if (!Eat('{')) return Fail("expected {");
    SkipSpace();
    if (Eat('}')) return Done(std::move(members));
    for (;;) {
      SkipSpace();
      std::optional<std::string> key = String();
      if (!key) return std::nullopt;
      SkipSpace();
      if (!Eat(':')) return Fail("expected :");
      SkipSpace();
      std::optional<JsonValue> value = Value();
      if (!value) return std::nullopt;
      members.emplace_back(std::move(*key), std::move(*value));
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat('}')) return Done(std::move(members));
      return Fail("expected , or }");
    }
  }

  const std::string& error() const { return error_; }

 private:
  template <typename T>
  std::optional<T> Done(T v) {
    SkipSpace();
    if (pos_ != s_.size()) return Fail("trailing text");
    return v;
  }
  std::nullopt_t Fail(std::string why) {
    if (error_.empty()) error_ = why + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  std::optional<uint32_t> Hex4() {
    if (pos_ + 4 > s_.size()) return std::nullopt;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    return v;
  }
  // Length of the well-formed UTF-8 sequence at pos_, 0 if none (decoded independently
  // of the code under test).
  size_t Utf8Length() {
    auto b = [this](size_t i) -> uint32_t {
      return pos_ + i < s_.size() ? static_cast<unsigned char>(s_[pos_ + i]) : 0;
    };
    uint32_t c = b(0);
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return 0;
    }
    for (size_t i = 1; i < len; ++i) {
      if ((b(i) & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (b(i) & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
  }
  std::optional<std::string> String() {
    if (!Eat('"')) return Fail("expected string");
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) return Fail("raw control character in string");
      if (c >= 0x80) {
        size_t len = Utf8Length();
        if (len == 0) return Fail("invalid UTF-8");
        out.append(s_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= s_.size()) return Fail("dangling backslash");
      char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::optional<uint32_t> cp = Hex4();
          if (!cp) return Fail("bad \\u escape");
          if (*cp >= 0xdc00 && *cp <= 0xdfff) return Fail("lone low surrogate");
          if (*cp >= 0xd800 && *cp <= 0xdbff) {
            if (!EatWord("\\u")) return Fail("lone high surrogate");
            std::optional<uint32_t> lo = Hex4();
            if (!lo || *lo < 0xdc00 || *lo > 0xdfff) return Fail("bad surrogate pair");
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (*lo - 0xdc00);
          }
          AppendUtf8(&out, *cp);
          break;
        }
        default: return Fail("unknown escape");
      }
    }
  }
  std::optional<JsonValue> Value() {
    if (pos_ < s_.size() && s_[pos_] == '"') {
      std::optional<std::string> s = String();
      if (!s) return std::nullopt;
      return JsonValue{JsonValue::Kind::kString, std::move(*s)};
    }
    if (EatWord("true")) return JsonValue{JsonValue::Kind::kBool, "true", true};
    if (EatWord("false")) return JsonValue{JsonValue::Kind::kBool, "false", false};
    if (EatWord("null")) return JsonValue{JsonValue::Kind::kNull, "null"};
    static const std::regex kNumber(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
    std::string rest(s_.substr(pos_));
    std::smatch m;
    if (!std::regex_search(rest, m, kNumber) || m.length(0) == 0) {
      return Fail("expected a value");
    }
    pos_ += static_cast<size_t>(m.length(0));
    return JsonValue{JsonValue::Kind::kNumber, m.str(0)};
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

using Members = std::vector<std::pair<std::string, JsonValue>>;

// Parses one captured line (which must end in exactly one '\n').
Members ParseLine(std::string_view line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n') << line;
  std::string_view body = line.substr(0, line.size() - 1);
  EXPECT_EQ(body.find('\n'), std::string_view::npos) << "raw newline inside: " << line;
  FlatJsonParser parser(body);
  std::optional<Members> members = parser.Parse();
  EXPECT_TRUE(members.has_value()) << parser.error() << " in: " << line;
  return members.value_or(Members{});
}

const JsonValue* Find(const Members& m, std::string_view key) {
  for (const auto& [k, v] : m) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string StringField(const Members& m, std::string_view key) {
  const JsonValue* v = Find(m, key);
  if (v == nullptr || v->kind != JsonValue::Kind::kString) {
    ADD_FAILURE() << "no string field " << key;
    return "";
  }
  return v->text;
}

std::string RawField(const Members& m, std::string_view key) {
  const JsonValue* v = Find(m, key);
  if (v == nullptr) {
    ADD_FAILURE() << "no field " << key;
    return "";
  }
  return v->text;
}

// Captures log lines; restores the process-wide logger afterwards.
class LogTest : public testing::Test {
 protected:
  void SetUp() override {
    SetLogService("test");
    SetLogLevel(LogLevel::kDebug);
    SetLogSink([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kInfo);
    SetLogService("edgevault");
  }
  std::vector<std::string> Lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  // The only captured line, parsed.
  Members OnlyLine() {
    std::vector<std::string> lines = Lines();
    EXPECT_EQ(lines.size(), 1u);
    return lines.empty() ? Members{} : ParseLine(lines.back());
  }

  std::mutex mu_;
  std::vector<std::string> lines_;
};

// ---- Shape of a line ---------------------------------------------------------------

TEST_F(LogTest, LineHasTsLevelServiceMsgThenFieldsInOrder) {
  SetLogService("api");
  std::string host = "0.0.0.0";
  EV_LOG(kInfo, "listening", {{"port", 8081}, {"host", host}});
  Members m = OnlyLine();
  std::vector<std::string> keys;
  for (const auto& [k, v] : m) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"ts", "level", "service", "msg", "port", "host"}));
  EXPECT_TRUE(std::regex_match(StringField(m, "ts"),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << StringField(m, "ts");
  EXPECT_EQ(StringField(m, "level"), "info");
  EXPECT_EQ(StringField(m, "service"), "api");
  EXPECT_EQ(StringField(m, "msg"), "listening");
  EXPECT_EQ(RawField(m, "port"), "8081");
  EXPECT_EQ(StringField(m, "host"), "0.0.0.0");
}

TEST_F(LogTest, TimestampIsCurrentUtc) {
  absl::Time before = absl::Now();
  EV_LOG(kInfo, "tick");
  absl::Time after = absl::Now();
  absl::Time ts;
  std::string err;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ", StringField(OnlyLine(), "ts"),
                              absl::UTCTimeZone(), &ts, &err))
      << err;
  EXPECT_GE(ts, absl::FromUnixMillis(absl::ToUnixMillis(before)));
  EXPECT_LE(ts, after);
}

TEST_F(LogTest, EveryLevelHasItsName) {
  EV_LOG(kDebug, "d");
  EV_LOG(kInfo, "i");
  EV_LOG(kWarn, "w");
  EV_LOG(kError, "e");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(StringField(ParseLine(lines[0]), "level"), "debug");
  EXPECT_EQ(StringField(ParseLine(lines[1]), "level"), "info");
  EXPECT_EQ(StringField(ParseLine(lines[2]), "level"), "warn");
  EXPECT_EQ(StringField(ParseLine(lines[3]), "level"), "error");
}

TEST_F(LogTest, FieldValuesKeepTheirJsonTypes) {
  const std::string owned = "owned";
  const absl::string_view absl_view = "absl";
  const std::string_view std_view = "std";
  EV_LOG(kInfo, "types",
         {{"int", -42},
          {"int64_min", std::numeric_limits<int64_t>::min()},
          {"uint64_max", std::numeric_limits<uint64_t>::max()},
          {"unsigned", 7u},
          {"long_long", 1LL << 40},
          {"half", 0.5},
          {"yes", true},
          {"no", false},
          {"cstr", "c"},
          {"string", owned},
          {"absl_view", absl_view},
          {"std_view", std_view}});
  Members m = OnlyLine();
  EXPECT_EQ(RawField(m, "int"), "-42");
  EXPECT_EQ(RawField(m, "int64_min"), "-9223372036854775808");
  EXPECT_EQ(RawField(m, "uint64_max"), "18446744073709551615");
  EXPECT_EQ(RawField(m, "unsigned"), "7");
  EXPECT_EQ(RawField(m, "long_long"), "1099511627776");
  EXPECT_EQ(RawField(m, "half"), "0.5");
  EXPECT_EQ(Find(m, "yes")->kind, JsonValue::Kind::kBool);
  EXPECT_TRUE(Find(m, "yes")->boolean);
  EXPECT_FALSE(Find(m, "no")->boolean);
  EXPECT_EQ(StringField(m, "cstr"), "c");
  EXPECT_EQ(StringField(m, "string"), "owned");
  EXPECT_EQ(StringField(m, "absl_view"), "absl");
  EXPECT_EQ(StringField(m, "std_view"), "std");
}

// Regression: doubles were written with "%.6g", which dropped digits (1234567.25 became
// 1.23457e+06) and follows the C locale's decimal separator.
TEST_F(LogTest, DoublesReadBackExactly) {
  const double values[] = {1234567.25, 0.1, 1e-7, -3.75, 1e300, 0.0, 12.345678901234};
  for (double v : values) EV_LOG(kInfo, "d", {{"v", v}});
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), std::size(values));
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string raw = RawField(ParseLine(lines[i]), "v");
    EXPECT_EQ(std::strtod(raw.c_str(), nullptr), values[i]) << raw;
  }
}

TEST_F(LogTest, NonFiniteDoublesAreNull) {
  EV_LOG(kInfo, "nan",
         {{"nan", std::nan("")},
          {"inf", std::numeric_limits<double>::infinity()},
          {"ninf", -std::numeric_limits<double>::infinity()}});
  Members m = OnlyLine();
  EXPECT_EQ(Find(m, "nan")->kind, JsonValue::Kind::kNull);
  EXPECT_EQ(Find(m, "inf")->kind, JsonValue::Kind::kNull);
  EXPECT_EQ(Find(m, "ninf")->kind, JsonValue::Kind::kNull);
}

// ---- Escaping ----------------------------------------------------------------------

TEST_F(LogTest, QuotesBackslashesNewlinesAndControlCharactersAreEscaped) {
  std::string nasty = "say \"hi\" \\ path\nline2\r\ttab \b\f";
  nasty += std::string("\0\x01\x1f\x7f end", 9);
  EV_LOG(kWarn, nasty, {{"k\"ey\n", nasty}});
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    EXPECT_GE(static_cast<unsigned char>(line[i]), 0x20) << "raw control byte at " << i;
  }
  Members m = ParseLine(line);
  EXPECT_EQ(StringField(m, "msg"), nasty);
  EXPECT_EQ(StringField(m, "k\"ey\n"), nasty);
}

TEST_F(LogTest, ServiceNameIsEscaped) {
  SetLogService("we\"ird\n");
  EV_LOG(kInfo, "x");
  EXPECT_EQ(StringField(OnlyLine(), "service"), "we\"ird\n");
}

TEST_F(LogTest, Utf8PassesThrough) {
  const std::string text = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80";  // héllo ✓ 😀
  EV_LOG(kInfo, text, {{"t", text}});
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_NE(Lines()[0].find(text), std::string::npos);
  EXPECT_EQ(StringField(OnlyLine(), "t"), text);
}

// Regression: bytes that are not UTF-8 (e.g. from a decoded request path) were copied
// raw, so the line was not valid JSON and log shippers rejected it.
TEST_F(LogTest, InvalidUtf8IsReplacedSoTheLineStaysValidJson) {
  struct Case {
    std::string in;
    std::string out;
  };
  // n replacement characters (U+FFFD), one per byte that is not part of valid UTF-8.
  auto bad = [](int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += "\xef\xbf\xbd";
    return out;
  };
  const Case cases[] = {
      {"a\xffz", StrCat("a", bad(1), "z")},
      {"\xc3", bad(1)},                                // truncated 2-byte sequence
      {"\xe2\x82x", StrCat(bad(2), "x")},              // truncated 3-byte sequence
      {"\xc0\xaf", bad(2)},                            // overlong '/'
      {"\xe0\x80\xaf", bad(3)},                        // overlong '/'
      {"\xed\xa0\x80", bad(3)},                        // UTF-16 surrogate
      {"\xf4\x90\x80\x80", bad(4)},                    // beyond U+10FFFF
      {"\x80", bad(1)},                                // stray continuation byte
      {"ok \xf4\x8f\xbf\xbf", "ok \xf4\x8f\xbf\xbf"},  // U+10FFFF itself is fine
  };
  for (const Case& c : cases) EV_LOG(kInfo, "u", {{"v", c.in}});
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), std::size(cases));
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(StringField(ParseLine(lines[i]), "v"), cases[i].out) << "case " << i;
  }
}

TEST(AppendJsonStringTest, AppendsAQuotedEscapedLiteral) {
  std::string out = "x=";
  AppendJsonString(&out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, "x=\"a\\\"b\\\\c\\n\\u0001\"");
  out.clear();
  AppendJsonString(&out, "");
  EXPECT_EQ(out, "\"\"");
}

// ---- Levels ------------------------------------------------------------------------

TEST_F(LogTest, MessagesBelowTheLevelAreDropped) {
  SetLogLevel(LogLevel::kWarn);
  EXPECT_EQ(GetLogLevel(), LogLevel::kWarn);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarn));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EV_LOG(kDebug, "d");
  EV_LOG(kInfo, "i");
  EV_LOG(kWarn, "w");
  EV_LOG(kError, "e");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(StringField(ParseLine(lines[0]), "msg"), "w");
  EXPECT_EQ(StringField(ParseLine(lines[1]), "msg"), "e");
}

TEST_F(LogTest, DisabledEvLogDoesNotEvaluateItsFields) {
  SetLogLevel(LogLevel::kInfo);
  int evaluated = 0;
  auto expensive = [&evaluated] { return ++evaluated; };
  EV_LOG(kDebug, "skipped", {{"n", expensive()}});
  EXPECT_EQ(evaluated, 0);
  EV_LOG(kInfo, "logged", {{"n", expensive()}});
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(Lines().size(), 1u);
}

// Regression: Log() itself ignored the level, so a direct call (rather than EV_LOG)
// wrote debug lines at the default level.
TEST_F(LogTest, DirectLogCallsAreFilteredToo) {
  SetLogLevel(LogLevel::kError);
  Log(LogLevel::kWarn, "dropped");
  Log(LogLevel::kError, "kept");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(StringField(ParseLine(lines[0]), "msg"), "kept");
}

TEST(ParseLogLevelTest, AcceptsExactlyTheFourNames) {
  LogLevel level = LogLevel::kError;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("info", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
  EXPECT_TRUE(ParseLogLevel("warn", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  for (std::string_view bad : {"", "INFO", "warning", "err", "info "}) {
    level = LogLevel::kDebug;
    EXPECT_FALSE(ParseLogLevel(bad, &level)) << bad;
    EXPECT_EQ(level, LogLevel::kDebug) << "unchanged on failure";
  }
}

// ---- Output ------------------------------------------------------------------------

TEST_F(LogTest, ConcurrentLinesArriveWholeAndValid) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) {
        EV_LOG(kInfo, "concurrent", {{"thread", t}, {"i", i}, {"pad", std::string(100, 'x')}});
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const std::string& line : lines) {
    EXPECT_EQ(StringField(ParseLine(line), "msg"), "concurrent");
  }
}

TEST_F(LogTest, NullSinkRestoresStderr) {
  SetLogSink(nullptr);
  std::string path = testing::TempDir() + "/log_test_stderr.XXXXXX";
  int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  int saved = ::dup(2);
  ASSERT_GE(saved, 0);
  ::dup2(fd, 2);
  EV_LOG(kError, "to stderr", {{"n", 1}});
  ::dup2(saved, 2);
  ::close(saved);
  std::string content;
  char buf[4096];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, buf, sizeof buf)) > 0) content.append(buf, static_cast<size_t>(n));
  ::close(fd);
  std::filesystem::remove(path);
  Members m = ParseLine(content);
  EXPECT_EQ(StringField(m, "msg"), "to stderr");
  EXPECT_EQ(Lines().size(), 0u);
}

TEST(ToValidUtf8Test, KeepsWellFormedTextAndReplacesEachBadByte) {
  EXPECT_EQ(ToValidUtf8("plain \xc3\xa9 \xf0\x9f\x99\x82"), "plain \xc3\xa9 \xf0\x9f\x99\x82");
  EXPECT_EQ(ToValidUtf8(std::string("a\xf5\x01\0b", 5)), std::string("a\xef\xbf\xbd\x01\0b", 7));
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
}

}  // namespace
}  // namespace edgevault::base
