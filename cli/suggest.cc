#include "cli/suggest.h"

#include <algorithm>

#include "CLI/CLI.hpp"

namespace edgevault::cli {

size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::optional<std::string> Nearest(std::string_view typed, const std::vector<std::string>& candidates) {
  if (typed.empty()) return std::nullopt;
  const size_t allowed = typed.size() <= 4 ? 1 : 2;
  std::optional<std::string> best;
  size_t best_distance = allowed + 1;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(typed, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (best) return best;
  std::vector<std::string> prefixed;
  for (const std::string& c : candidates) {
    if (c.size() > typed.size() && c.compare(0, typed.size(), typed) == 0) prefixed.push_back(c);
  }
  if (prefixed.size() == 1) return prefixed.front();
  return std::nullopt;
}

namespace {

// The deepest subcommand the command line named (the app itself when none).
const CLI::App* Deepest(const CLI::App& app) {
  const CLI::App* cur = &app;
  for (;;) {
    std::vector<const CLI::App*> given = cur->get_subcommands([](const CLI::App* s) { return s->parsed(); });
    if (given.empty()) return cur;
    cur = given.front();
  }
}

// The command's full name as typed: "edgevault flag on".
std::string Path(const CLI::App* cmd) {
  std::string out;
  for (const CLI::App* c = cmd; c != nullptr; c = c->get_parent()) {
    std::string name = c->get_parent() == nullptr ? "edgevault" : c->get_name();
    out = out.empty() ? name : name + " " + out;
  }
  return out;
}

}  // namespace

std::string Hint(const CLI::App& app, const CLI::ParseError& e) {
  // The first argument nothing took, and the command it was given to (the deepest one
  // that has leftovers).
  const CLI::App* cmd = Deepest(app);
  std::string typed;
  for (const CLI::App* c = cmd; c != nullptr && typed.empty(); c = c->get_parent()) {
    std::vector<std::string> extras = c->remaining();
    if (!extras.empty()) {
      cmd = c;
      typed = extras.front();
    }
  }
  if (!typed.empty()) {
    std::vector<std::string> candidates;
    const std::vector<const CLI::App*> subcommands = cmd->get_subcommands([](const CLI::App*) { return true; });
    if (typed[0] == '-') {
      for (const CLI::Option* o : cmd->get_options()) {
        for (const std::string& l : o->get_lnames()) candidates.push_back("--" + l);
      }
    } else {
      for (const CLI::App* s : subcommands) candidates.push_back(s->get_name());
    }
    if (std::optional<std::string> near = Nearest(typed, candidates)) {
      return "Did you mean '" + Path(cmd) + " " + *near + "'?";
    }
    if (typed[0] != '-' && !subcommands.empty()) return "See '" + Path(cmd) + " --help' for its commands.";
    return "";
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    // CLI11's help starts with the description, then "Usage: ...": print the usage on.
    std::string help = cmd->help();
    size_t usage = help.find("Usage:");
    if (usage == std::string::npos) return help;
    help = help.substr(usage);
    // "Usage: on [OPTIONS] ..." names the command as typed: "Usage: edgevault flag on ...".
    const std::string own = "Usage: " + cmd->get_name() + " ";
    if (help.rfind(own, 0) == 0) help = "Usage: " + Path(cmd) + " " + help.substr(own.size());
    return help;
  }
  return "";
}

}  // namespace edgevault::cli
