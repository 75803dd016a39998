#pragma once
// `edgevault` commands served by edgevault-auth (docs/cli.md): `whoami`, `logout` (revokes
// the profile's CLI key and forgets it), `api-key create|list|revoke` and `member
// list|invite|role|rm`. They reach auth at --auth-url, else EDGEVAULT_AUTH_URL, else the
// profile's auth_url (`edgevault login` stores it), else http://127.0.0.1:8083, with the
// same token, output and exit codes as the api commands (cli/api_client.h).
// Thread-safety: called once from main().

#include <memory>

namespace CLI {
class App;
}

namespace edgevault::cli {

struct AccountCommands;

std::unique_ptr<AccountCommands, void (*)(AccountCommands*)> AddAccountCommands(CLI::App& app);

// After app.parse(): runs the parsed command and returns its exit code, or -1 when none
// of these commands was given.
int RunAccountCommands(AccountCommands& commands);

}  // namespace edgevault::cli
