#pragma once
// `edgevault ai draft` and `edgevault ai risk` (docs/cli.md#ai, docs/design/ai.md): ask the
// api's configured model for a draft change request (a dry run; nothing is written), and
// the risk review of proposed changes or a change request. Same connection options,
// output and exit codes as the other api commands (cli/api_client.h).
// Thread-safety: called once from main().

#include <memory>

namespace CLI {
class App;
}

namespace edgevault::cli {

struct AiCommands;

std::unique_ptr<AiCommands, void (*)(AiCommands*)> AddAiCommands(CLI::App& app);

// After app.parse(): the parsed command's exit code, or -1 when none of these was given.
int RunAiCommands(AiCommands& commands);

}  // namespace edgevault::cli
