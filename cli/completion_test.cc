#include "cli/completion.h"

#include <algorithm>

#include "CLI/CLI.hpp"
#include "gtest/gtest.h"

namespace edgevault::cli {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

TEST(CompletionTest, CandidatesFollowTheCommandTreeAndSkipOptionValues) {
  CLI::App app{"test"};
  CLI::App* flag = app.add_subcommand("flag", "flags");
  CLI::App* on = flag->add_subcommand("on", "turn on");
  std::string url, ws;
  std::vector<std::string> envs;
  bool json = false;
  on->add_option("--api-url", url);
  on->add_option("--env,-e", envs);
  on->add_flag("--json", json);
  on->add_option("workspace", ws);
  flag->add_subcommand("list", "list");
  app.add_subcommand("__hidden", "not offered");

  std::vector<std::string> top = CompletionCandidates(app, {});
  EXPECT_TRUE(Has(top, "flag"));
  EXPECT_FALSE(Has(top, "__hidden"));
  std::vector<std::string> in_flag = CompletionCandidates(app, {"flag"});
  EXPECT_TRUE(Has(in_flag, "on"));
  EXPECT_TRUE(Has(in_flag, "list"));
  EXPECT_FALSE(Has(in_flag, "flag"));
  // An option's value is not mistaken for a command: "list" here is the URL.
  std::vector<std::string> in_on = CompletionCandidates(app, {"flag", "on", "--api-url", "list", "-e", "prod", "--json"});
  EXPECT_TRUE(Has(in_on, "--env"));
  EXPECT_TRUE(Has(in_on, "--api-url"));
  EXPECT_FALSE(Has(in_on, "list"));
}

TEST(CompletionTest, ScriptsForBashAndZshOnly) {
  EXPECT_NE(CompletionScript("bash")->find("complete -o default -F _edgevault edgevault"), std::string::npos);
  EXPECT_NE(CompletionScript("zsh")->find("compdef _edgevault edgevault"), std::string::npos);
  EXPECT_EQ(CompletionScript("fish"), std::nullopt);
}

}  // namespace
}  // namespace edgevault::cli
