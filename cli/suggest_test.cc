#include "cli/suggest.h"

#include "CLI/CLI.hpp"
#include "gtest/gtest.h"

namespace edgevault::cli {
namespace {

TEST(SuggestTest, EditDistanceCountsSwapsAsOne) {
  EXPECT_EQ(EditDistance("list", "list"), 0u);
  EXPECT_EQ(EditDistance("lsit", "list"), 1u);
  EXPECT_EQ(EditDistance("lst", "list"), 1u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(SuggestTest, NearestIsATypoOrTheOnlyCompletion) {
  const std::vector<std::string> cmds{"create", "list", "rename", "protect", "unprotect"};
  EXPECT_EQ(Nearest("lsit", cmds), "list");
  EXPECT_EQ(Nearest("craete", cmds), "create");
  EXPECT_EQ(Nearest("ren", cmds), "rename");         // the only completion
  EXPECT_EQ(Nearest("pr", cmds), "protect");         // ... of "pr"
  EXPECT_EQ(Nearest("delete", cmds), std::nullopt);  // nothing near
  EXPECT_EQ(Nearest("", cmds), std::nullopt);
  EXPECT_EQ(Nearest("x", {"a", "b"}), "a");  // one edit of a one-letter word: the first
}

// The hints through a real CLI11 parse, as main() prints them.
TEST(SuggestTest, HintsNameTheNearestCommandOrOptionAndTheUsage) {
  auto hint = [](std::vector<std::string> args) {
    CLI::App app{"test"};
    CLI::App* flag = app.add_subcommand("flag", "flags");
    flag->require_subcommand(1);
    CLI::App* on = flag->add_subcommand("on", "turn on");
    std::string ws, reason;
    on->add_option("workspace", ws)->required();
    on->add_option("--reason,-m", reason)->required();
    flag->add_subcommand("list", "list");
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& e) {
      return Hint(app, e);
    }
    return std::string("(parsed)");
  };
  EXPECT_EQ(hint({"flag", "lsit"}), "Did you mean 'edgevault flag list'?");
  EXPECT_EQ(hint({"flag", "on", "shop", "-m", "x", "--reasn", "y"}), "Did you mean 'edgevault flag on --reason'?");
  EXPECT_EQ(hint({"flagg", "list"}), "Did you mean 'edgevault flag'?");
  EXPECT_EQ(hint({"flag", "zzzzzz"}), "See 'edgevault flag --help' for its commands.");
  std::string usage = hint({"flag", "on"});  // the workspace is missing
  EXPECT_EQ(usage.rfind("Usage: edgevault flag on [OPTIONS] workspace", 0), 0u) << usage;
  EXPECT_NE(usage.find("workspace"), std::string::npos) << usage;
}

}  // namespace
}  // namespace edgevault::cli
