#include "cli/export_format.h"

#include <boost/json.hpp>

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
    // JSON strings are valid YAML scalars, with every special character escaped.
    std::string quoted = format == ExportFormat::kYaml ? json::serialize(json::value(v)) : DotenvQuote(v);
    // As printf("%s%s%s\n") wrote it (pre-fuzzing behaviour, kept for the first harness run).
    out += k.c_str();
    out += format == ExportFormat::kYaml ? ": " : "=";
    out += quoted.c_str();
    out += "\n";
  }
  return out;
}

}  // namespace edgevault::cli
