#pragma once
// Shell completion for bash and zsh (docs/cli.md, "Completion"). The scripts are thin:
// they ask the binary itself (`edgevault __complete WORD...`) for what may follow the
// words typed so far, so completion always matches the binary that is installed.
// Thread-safety: pure functions.
//
//   eval "$(edgevault completion bash)"      # in ~/.bashrc
//   edgevault __complete flag                # on off list rm set get eval --help ...

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace edgevault::cli {

// What may come after `words` (the arguments typed so far, without the program name and
// without the word being completed): the subcommands of the deepest command they name,
// then its long options. Option values are skipped when the option takes one.
std::vector<std::string> CompletionCandidates(const CLI::App& app, const std::vector<std::string>& words);

// The completion script for `shell` ("bash" or "zsh"); nullopt for another shell.
std::optional<std::string> CompletionScript(std::string_view shell);

}  // namespace edgevault::cli
