#pragma once
// Help after a command line that did not parse (docs/cli.md, "Exit codes and errors"): the
// nearest command or option to a mistyped one, and the usage of the command a required
// argument is missing from.
// Thread-safety: pure functions (Hint reads the parsed app).
//
//   Nearest("toggel", {"on", "off", "list"})   // nullopt: nothing is near
//   Nearest("lsit", {"on", "off", "list"})     // "list"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace edgevault::cli {

// Optimal string alignment distance (insertions, deletions, substitutions and swaps of two
// neighbours each count 1).
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `typed` when it is close enough to be a typo: at most one edit
// for up to four characters, two for longer words (ties: the first candidate), or the
// only candidate `typed` is a prefix of. nullopt otherwise.
std::optional<std::string> Nearest(std::string_view typed, const std::vector<std::string>& candidates);

// What to print after CLI11's own message for `e`, a parse error of `app`: for an
// unexpected argument, "Did you mean 'X'?" against the subcommands and options of the
// deepest command given; for a missing argument, that command's usage. "" when there is
// nothing to add.
std::string Hint(const CLI::App& app, const CLI::ParseError& e);

}  // namespace edgevault::cli
