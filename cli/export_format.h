#pragma once
// What `edgevault export` prints and `edgevault run` injects (docs/cli.md): the variable
// name of an item key, and the dotenv, JSON and YAML renderings of a variable set. Each
// rendering reads back exactly with a real parser of its format (POSIX `sh` for dotenv,
// any JSON parser, any YAML 1.1 or 1.2 parser); fuzz/export_roundtrip_fuzz.cc checks that.
// Pure functions; thread-safe.
//
//   std::map<std::string, std::string> vars{{EnvVarFor("db.url"), "postgres://..."}};
//   absl::StatusOr<std::string> text = FormatExport(ExportFormat::kDotenv, vars);

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace edgevault::cli {

enum class ExportFormat { kDotenv, kJson, kYaml };
// "dotenv", "json", "yaml"; nullopt otherwise.
std::optional<ExportFormat> ParseExportFormat(std::string_view name);

// `database.pool-size` → `DATABASE_POOL_SIZE`: letters upper-cased, digits kept, every
// other byte becomes '_'.
std::string EnvVarFor(std::string_view key);

// [A-Za-z_][A-Za-z0-9_]*: a name `NAME=value` assigns in a POSIX shell.
bool IsShellVariableName(std::string_view name);

// The whole output, one variable per line in name order:
//   dotenv  NAME="value" with \ " $ ` escaped (newlines stay literal inside the quotes);
//   json    one object {"NAME":"value",...};
//   yaml    NAME: "value" (a JSON string, which is a YAML double-quoted scalar), the
//           name itself quoted when a YAML parser would otherwise read it as a
//           number, boolean or null.
// Errors: InvalidArgument for dotenv when a name is not a shell variable name (it starts
// with a digit or is empty) or a value holds a NUL byte (no shell variable can).
absl::StatusOr<std::string> FormatExport(ExportFormat format,
                                         const std::map<std::string, std::string>& vars);

// Reads a dotenv file (`edgevault import --from dotenv`): `NAME=value` lines, optionally
// `export NAME=value`; blank lines and `#` comments skipped; a value in double quotes may
// span lines and unescapes \\ \" \$ \` (and \n as a newline), in single quotes it is
// literal, unquoted it runs to the end of the line (a ` #` starts a comment) with
// surrounding blanks removed. Reads back what FormatExport(kDotenv) writes. Errors:
// InvalidArgument naming the line: not NAME=value, a name that is not a shell variable
// name, an unterminated quote, a name given twice.
absl::StatusOr<std::map<std::string, std::string>> ParseDotenv(std::string_view text);

// The item key an imported variable becomes: `DATABASE_URL` → `database_url` (lower-case;
// EnvVarFor maps it back to the same name).
std::string KeyForEnvVar(std::string_view name);

}  // namespace edgevault::cli
