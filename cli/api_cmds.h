#pragma once
// `edgevault` commands that talk to a running api (docs/cli.md): login, ws, env, config,
// flag (set, get, eval), history, revert, rollback, sdk-key, audit events. The api URL and token come from flags
// (--api-url, --token), else EDGEVAULT_API_URL / EDGEVAULT_TOKEN, else the profile
// `edgevault login` wrote (the profile --profile / $EDGEVAULT_PROFILE names in
// ~/.config/edgevault/profile.json, 0600; api_client.h); `profile list|use` manage them.
// Output: human-readable tables by default, --json for scripts. Exit codes: 0 success,
// 1 the server refused (its error message is printed) or answered something the command
// did not expect (an HTML page, a missing field: what it sent is printed), 2 usage or
// local errors.
// Thread-safety: called once from main().

#include <memory>
#include <string_view>

namespace CLI {
class App;
}

namespace edgevault::cli {

struct ApiCommands;

// Registers the subcommands on `app`; the returned object holds their parsed options.
std::unique_ptr<ApiCommands, void (*)(ApiCommands*)> AddApiCommands(CLI::App& app);

// Registers `audit events` (GET /v1/audit/events) on the `audit` command, whose other
// subcommands read the local warehouse.
void AddAuditEventsCommand(CLI::App& audit, ApiCommands& commands);

// After app.parse(): runs the parsed api command and returns its exit code, or -1 when
// none of these commands was given.
int RunApiCommands(ApiCommands& commands);

// main()'s last resort for an exception that escaped a command (a bug): prints `what` and
// the last reply a server sent, and returns the exit code, 1.
int ReportUncaughtException(std::string_view what);

}  // namespace edgevault::cli
