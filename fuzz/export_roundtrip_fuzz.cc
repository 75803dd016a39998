// Fuzzes the renderings of `edgevault export` (cli/export_format.h) by reading them back
// with real parsers of each format and comparing with what went in:
//   json    Boost.JSON;
//   yaml    yaml-cpp, plus a check that no scalar is left to YAML's type resolution (a
//           plain key like NULL, TRUE, Y, 1E5 or 0_1 is a null, boolean or number to many
//           YAML readers, so it must be quoted);
//   dotenv  POSIX sh (`. file`, then each variable printed back). Before the shell runs,
//           a strict reader of the same grammar (NAME="..." lines, inside the quotes only
//           \\ \" \$ \` escapes, no unescaped $ or `) must accept the whole file: so the
//           shell only ever sees assignments, and a file that would run code is already
//           a finding without running it.
// Input (FuzzedDataProvider): 1-8 (item key, value) pairs. Keys follow the api's key rule
// (others are skipped, as the api never returns them); values are any UTF-8, NUL
// included (JSON "\u0000" reaches the CLI as a NUL byte). Two keys that map to one
// variable name are refused by the CLI before it renders anything, so such inputs are
// skipped too.
// Properties: a rendering that succeeds reads back to exactly the input set; a
// rendering that fails says InvalidArgument, and only for a set its format cannot
// hold (dotenv: a NUL byte, a name that is not a shell variable name).

#include <fuzzer/FuzzedDataProvider.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include "cli/export_format.h"
#include "fuzz/fuzz_util.h"
#include "src/base/log.h"
#include "src/workspace/model.h"

extern char** environ;

namespace edgevault::fuzz {
namespace {

using Vars = std::map<std::string, std::string>;
using cli::ExportFormat;

std::string Show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// ---- json

void CheckJson(const Vars& vars, const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  FUZZ_CHECK(!ec && v.is_object(), "json export does not parse: " + Show(text));
  const boost::json::object& o = v.get_object();
  FUZZ_CHECK(o.size() == vars.size(), "json export has " + std::to_string(o.size()) + " members");
  for (const auto& [k, val] : vars) {
    const boost::json::value* got = o.if_contains(k);
    FUZZ_CHECK(got && got->is_string() && got->get_string() == val, "json export changed " + k);
  }
}

// ---- yaml

// A plain scalar that some YAML 1.1 or 1.2 reader resolves to null, a boolean or a number.
bool YamlRetypes(const std::string& s) {
  static const std::regex kSpecial(
      "~|null|Null|NULL|"
      "y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|0o[0-7]+|"
      "[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+|"
      "[-+]?([0-9][0-9_]*)?\\.[0-9.]*([eE][-+][0-9]+)?|"
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)|<<|=");
  return std::regex_match(s, kSpecial);
}

void CheckYaml(const Vars& vars, const std::string& text) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("yaml export does not parse: ") + e.what() + "\n" + Show(text));
  }
  if (vars.empty()) return;
  FUZZ_CHECK(doc.IsMap(), "yaml export is not a mapping: " + Show(text));
  FUZZ_CHECK(doc.size() == vars.size(), "yaml export has " + std::to_string(doc.size()) + " entries");
  for (const auto& kv : doc) {
    FUZZ_CHECK(kv.first.IsScalar() && kv.second.IsScalar(), "yaml entry is not scalar: " + Show(text));
    const std::string key = kv.first.Scalar();
    auto it = vars.find(key);
    FUZZ_CHECK(it != vars.end(), "yaml export has an unknown key " + Show(key));
    FUZZ_CHECK(kv.second.Tag() == "!", "yaml value of " + key + " is not quoted: " + Show(text));
    FUZZ_CHECK(kv.second.Scalar() == it->second,
               "yaml export changed " + key + ": " + Show(kv.second.Scalar()) + " != " + Show(it->second));
    FUZZ_CHECK(kv.first.Tag() == "!" || !YamlRetypes(key),
               "yaml key " + key + " is a plain scalar that YAML reads as null/bool/number");
  }
}

// ---- dotenv

// The strict reader: nullopt (and *why) when the file is anything but NAME="..." lines.
std::optional<Vars> ReadDotenvStrictly(const std::string& text, std::string* why) {
  Vars out;
  size_t i = 0;
  auto fail = [&](const std::string& w) {
    *why = w + " at byte " + std::to_string(i);
    return std::nullopt;
  };
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && text[i] != '=') ++i;
    std::string name = text.substr(start, i - start);
    if (!cli::IsShellVariableName(name)) return fail("not a variable name: " + Show(name));
    if (i + 1 >= text.size() || text[i + 1] != '"') return fail("no opening quote");
    i += 2;
    std::string value;
    for (;;) {
      if (i >= text.size()) return fail("unterminated quote");
      char c = text[i++];
      if (c == '"') break;
      if (c == '$' || c == '`') return fail("unescaped expansion");
      if (c == '\0') return fail("NUL byte");
      if (c == '\\') {
        if (i >= text.size()) return fail("backslash at the end");
        char n = text[i++];
        if (n != '\\' && n != '"' && n != '$' && n != '`') return fail("stray backslash");
        c = n;
      }
      value.push_back(c);
    }
    if (i >= text.size() || text[i] != '\n') return fail("no newline after the closing quote");
    ++i;
    if (out.count(name)) return fail("duplicate " + name);
    out[name] = value;
  }
  return out;
}

// Sources the file in /bin/sh and prints each variable back, NUL-separated.
std::string ReadDotenvWithShell(const std::string& text, const Vars& vars) {
  static const std::string path = [] {
    static std::string p = "/tmp/edgevault-export-fuzz-" + std::to_string(getpid()) + ".env";
    std::atexit([] { std::remove(p.c_str()); });
    return p;
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr, "cannot write " + path);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  std::vector<std::string> args = {
      "sh", "-c",
      ". \"$1\"; shift; for n; do eval \"printf '%s' \\\"\\${$n}\\\"\"; printf '\\000'; done",
      "sh", path};
  for (const auto& kv : vars) args.push_back(kv.first);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char env_path[] = "PATH=/usr/bin:/bin";
  char* envp[] = {env_path, nullptr};
  int out[2];
  FUZZ_CHECK(pipe(out) == 0, "pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  FUZZ_CHECK(rc == 0, "posix_spawn /bin/sh");
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  FUZZ_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sh failed on: " + Show(text));
  return got;
}

void CheckDotenv(const Vars& vars, const std::string& text) {
  std::string why;
  std::optional<Vars> strict = ReadDotenvStrictly(text, &why);
  FUZZ_CHECK(strict.has_value(), "dotenv export is not plain assignments (" + why + "):\n" + Show(text));
  FUZZ_CHECK(*strict == vars, "dotenv export reads back differently:\n" + Show(text));
  std::string expected;
  for (const auto& kv : vars) expected += kv.second + std::string(1, '\0');
  std::string got = ReadDotenvWithShell(text, vars);
  FUZZ_CHECK(got == expected, "sh reads the dotenv export back differently:\n" + Show(text) +
                                  "\nsh: " + Show(got));
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault;
  using namespace edgevault::fuzz;
  FuzzedDataProvider fdp(data, size);
  const int n = fdp.ConsumeIntegralInRange<int>(1, 8);
  Vars vars;
  for (int i = 0; i < n && fdp.remaining_bytes() > 0; ++i) {
    std::string key = fdp.ConsumeRandomLengthString(64);
    std::string value = fdp.ConsumeRandomLengthString(512);
    if (!workspace::IsValidKey(key) || base::ToValidUtf8(value) != value) return 0;
    if (!vars.emplace(cli::EnvVarFor(key), value).second) return 0;  // the CLI refuses a clash
  }
  bool dotenv_can_hold = true;
  for (const auto& [k, v] : vars) {
    dotenv_can_hold = dotenv_can_hold && cli::IsShellVariableName(k) && v.find('\0') == std::string::npos;
  }
  for (ExportFormat f : {ExportFormat::kJson, ExportFormat::kYaml, ExportFormat::kDotenv}) {
    absl::StatusOr<std::string> text = cli::FormatExport(f, vars);
    if (!text.ok()) {
      FUZZ_CHECK(text.status().code() == absl::StatusCode::kInvalidArgument, text.status().ToString());
      FUZZ_CHECK(f == ExportFormat::kDotenv && !dotenv_can_hold,
                 "refused a set the format can hold: " + text.status().ToString());
      continue;
    }
    switch (f) {
      case ExportFormat::kJson: CheckJson(vars, *text); break;
      case ExportFormat::kYaml: CheckYaml(vars, *text); break;
      case ExportFormat::kDotenv: CheckDotenv(vars, *text); break;
    }
  }
  CheckNoBugReported();
  return 0;
}
