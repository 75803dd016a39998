#pragma once
// `edgevault` commands for every item of a workspace beyond `config set|get` and `flag
// set|get|eval` (docs/cli.md): secrets (set from standard input or a file, never argv;
// get; list metadata; unset one environment; rm), config list/unset/rm, flag
// list/on/off/rm, segments (set from a file, get, list, rm) and `ws show`. Same connection
// options, output and exit codes as the other api commands (cli/api_client.h).
// Thread-safety: called once from main().

#include <memory>

namespace CLI {
class App;
}

namespace edgevault::cli {

struct ItemCommands;

// Registers the commands; the `config`, `flag` and `ws` groups must already exist on
// `app` (AddApiCommands makes them), `secret` and `segment` are added here.
std::unique_ptr<ItemCommands, void (*)(ItemCommands*)> AddItemCommands(CLI::App& app);

// After app.parse(): runs the parsed command and returns its exit code, or -1 when none
// of these commands was given.
int RunItemCommands(ItemCommands& commands);

}  // namespace edgevault::cli
