#include "cli/export_format.h"

#include <cctype>

#include <boost/json.hpp>

#include "src/base/strings.h"

namespace edgevault::cli {

std::optional<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "dotenv") return ExportFormat::kDotenv;
  if (name == "json") return ExportFormat::kJson;
  if (name == "yaml") return ExportFormat::kYaml;
  return std::nullopt;
}

std::string EnvVarFor(std::string_view key) {
  std::string out;
  for (char ch : key) {
    if (ch >= 'a' && ch <= 'z') out.push_back(char(ch - 'a' + 'A'));
    else if ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) out.push_back(ch);
    else out.push_back('_');
  }
  return out;
}

bool IsShellVariableName(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char c : n) {
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

namespace {

// Double-quoted, escaping what a POSIX shell expands inside double quotes (\\ " $ `);
// newlines stay literal inside the quotes, which `set -a; . file` and multi-line-aware
// dotenv parsers both read back exactly.
std::string DotenvQuote(std::string_view v) {
  std::string out = "\"";
  for (char ch : v) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '$': out += "\\$"; break;
      case '`': out += "\\`"; break;
      default: out.push_back(ch);
    }
  }
  return out + "\"";
}

// True when `k` written as a plain YAML scalar is the string `k` to every YAML 1.1 and 1.2
// reader: a shell name (no number, sign, dot or indicator can start it) that is none of
// the words YAML 1.1 reads as a boolean or null (y, yes, on, true, null, ...).
bool YamlPlainKeyIsString(std::string_view k) {
  if (!IsShellVariableName(k)) return false;
  std::string lower(k);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (std::string_view word : {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}) {
    if (lower == word) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> FormatExport(ExportFormat format,
                                         const std::map<std::string, std::string>& vars) {
  namespace json = boost::json;
  std::string out;
  if (format == ExportFormat::kJson) {
    json::object o;
    for (const auto& [k, v] : vars) o[k] = v;
    out = json::serialize(o);
    out += "\n";
    return out;
  }
  for (const auto& [k, v] : vars) {
    if (format == ExportFormat::kYaml) {
      // JSON strings are YAML double-quoted scalars, with every special character escaped.
      out += YamlPlainKeyIsString(k) ? k : json::serialize(json::value(k));
      out += ": ";
      out += json::serialize(json::value(v));
    } else {
      if (!IsShellVariableName(k)) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "variable " + k + " is not a shell variable name (it starts with a digit); rename "
            "the item, or export with --format json or yaml"));
      }
      if (v.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(base::ToAbsl(
            "the value of " + k + " holds a NUL byte, which no environment variable can "
            "hold; export with --format json or yaml"));
      }
      out += k;
      out += "=";
      out += DotenvQuote(v);
    }
    out += "\n";
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseDotenv(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  int line = 0;
  auto fail = [&](const std::string& why) {
    return absl::InvalidArgumentError(base::StrCat("line ", std::to_string(line), ": ", why));
  };
  auto blank = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; };
  while (pos < text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    pos = end + 1;
    while (!l.empty() && blank(l.front())) l.remove_prefix(1);
    while (!l.empty() && blank(l.back())) l.remove_suffix(1);
    if (l.empty() || l.front() == '#') continue;
    if (l.substr(0, 7) == "export ") l.remove_prefix(7);
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) return fail("not NAME=value");
    std::string name(l.substr(0, eq));
    while (!name.empty() && blank(name.back())) name.pop_back();
    if (!IsShellVariableName(name)) return fail(base::StrCat("\"", name.substr(0, 80), "\" is not a variable name"));
    // The value starts right after '=' in the raw text (a quoted one may run on).
    size_t start = static_cast<size_t>(l.data() - text.data()) + eq + 1;
    while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
    std::string value;
    if (start < text.size() && (text[start] == '"' || text[start] == '\'')) {
      char quote = text[start];
      size_t i = start + 1;
      bool closed = false;
      for (; i < text.size(); ++i) {
        char ch = text[i];
        if (ch == '\n') ++line;
        if (ch == quote) {
          closed = true;
          break;
        }
        if (quote == '"' && ch == '\\' && i + 1 < text.size()) {
          char next = text[i + 1];
          if (next == '\\' || next == '"' || next == '$' || next == '`') {
            value.push_back(next);
            ++i;
            continue;
          }
          if (next == 'n') {
            value.push_back('\n');
            ++i;
            continue;
          }
        }
        value.push_back(ch);
      }
      if (!closed) return fail(base::StrCat("the quote ", std::string(1, quote), " opened here is never closed"));
      // Only blanks or a comment may follow the closing quote.
      size_t rest_end = text.find('\n', i + 1);
      if (rest_end == std::string_view::npos) rest_end = text.size();
      std::string_view rest = text.substr(i + 1, rest_end - i - 1);
      while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
      if (!rest.empty() && rest.front() != '#') return fail("text after the closing quote");
      pos = rest_end + 1;
    } else {
      std::string_view v = l.substr(eq + 1);
      if (size_t hash = v.find(" #"); hash != std::string_view::npos) v = v.substr(0, hash);
      while (!v.empty() && blank(v.front())) v.remove_prefix(1);
      while (!v.empty() && blank(v.back())) v.remove_suffix(1);
      value = std::string(v);
    }
    if (!out.emplace(name, std::move(value)).second) return fail(base::StrCat(name, " is set twice"));
  }
  return out;
}

std::string KeyForEnvVar(std::string_view name) {
  std::string key;
  for (char ch : name) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  return key;
}

}  // namespace edgevault::cli
