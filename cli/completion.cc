#include "cli/completion.h"

#include "CLI/CLI.hpp"

namespace edgevault::cli {

std::vector<std::string> CompletionCandidates(const CLI::App& app, const std::vector<std::string>& words) {
  const CLI::App* cmd = &app;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.rfind("-", 0) == 0) {
      // An option that takes a value swallows the next word (unless given as --opt=value).
      if (w.find('=') != std::string::npos) continue;
      for (const CLI::Option* o : cmd->get_options()) {
        if (o->check_name(w) && o->get_type_size() != 0) {
          ++i;
          break;
        }
      }
      continue;
    }
    for (const CLI::App* s : cmd->get_subcommands([](const CLI::App*) { return true; })) {
      if (s->get_name() == w) {
        cmd = s;
        break;
      }
    }
  }
  std::vector<std::string> out;
  for (const CLI::App* s : cmd->get_subcommands([](const CLI::App*) { return true; })) {
    if (!s->get_name().empty() && s->get_name()[0] != '_') out.push_back(s->get_name());
  }
  for (const CLI::Option* o : cmd->get_options()) {
    for (const std::string& l : o->get_lnames()) out.push_back("--" + l);
  }
  return out;
}

std::optional<std::string> CompletionScript(std::string_view shell) {
  if (shell == "bash") {
    return R"SH(# edgevault completion for bash: eval "$(edgevault completion bash)"
_edgevault() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)" -- "$cur"))
}
complete -o default -F _edgevault edgevault
)SH";
  }
  if (shell == "zsh") {
    return R"SH(#compdef edgevault
# edgevault completion for zsh: eval "$(edgevault completion zsh)" (after compinit)
_edgevault() {
  local -a candidates
  candidates=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT-1]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _edgevault edgevault
)SH";
  }
  return std::nullopt;
}

}  // namespace edgevault::cli
