#include "cli/export_format.h"

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

}  // namespace edgevault::cli
