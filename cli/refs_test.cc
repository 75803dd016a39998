#include "cli/refs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "src/base/testing/temp_dir.h"

namespace edgevault::cli {
namespace {

TEST(GitGlobTest, StarsQuestionMarksClassesAndDoubleStars) {
  EXPECT_TRUE(GitGlobMatch("*.log", "debug.log"));
  EXPECT_FALSE(GitGlobMatch("*.log", "logs/debug.log"));  // '*' stops at '/'
  EXPECT_TRUE(GitGlobMatch("file?.txt", "file1.txt"));
  EXPECT_TRUE(GitGlobMatch("[abc].c", "b.c"));
  EXPECT_FALSE(GitGlobMatch("[!abc].c", "b.c"));
  EXPECT_TRUE(GitGlobMatch("[a-z]x", "qx"));
  EXPECT_TRUE(GitGlobMatch("**/build", "build"));
  EXPECT_TRUE(GitGlobMatch("**/build", "a/b/build"));
  EXPECT_TRUE(GitGlobMatch("out/**", "out/x/y.js"));
  EXPECT_TRUE(GitGlobMatch("a/**/b", "a/b"));
  EXPECT_TRUE(GitGlobMatch("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(GitGlobMatch("a/**/b", "a/x/c"));
  EXPECT_TRUE(GitGlobMatch("\\*star", "*star"));
  EXPECT_FALSE(GitGlobMatch("\\*star", "xstar"));
}

TEST(IgnoreRulesTest, NegationDirectoriesAnchorsAndNestedFiles) {
  IgnoreRules rules;
  rules.Add("", "# comment\n*.log\n!keep.log\nbuild/\n/root-only.txt\ndocs/*.html\n");
  rules.Add("web", "node_modules\n");
  EXPECT_TRUE(rules.Ignored("x.log", false));
  EXPECT_TRUE(rules.Ignored("a/b/x.log", false));
  EXPECT_FALSE(rules.Ignored("keep.log", false));  // a later "!" wins
  EXPECT_TRUE(rules.Ignored("build", true));
  EXPECT_FALSE(rules.Ignored("build", false));  // dir-only
  EXPECT_TRUE(rules.Ignored("src/build", true));
  EXPECT_TRUE(rules.Ignored("root-only.txt", false));
  EXPECT_FALSE(rules.Ignored("sub/root-only.txt", false));  // anchored
  EXPECT_TRUE(rules.Ignored("docs/a.html", false));
  EXPECT_FALSE(rules.Ignored("docs/x/a.html", false));
  EXPECT_TRUE(rules.Ignored("web/node_modules", true));
  EXPECT_FALSE(rules.Ignored("node_modules", true));  // the nested file applies under web/ only
}

TEST(FlagReferencesTest, WholeTokensOnly) {
  std::vector<FlagReference> refs = FindFlagReferences(
      "app.ts", "if (flags.on('new-checkout')) {}\nconst x = 'checkout';\n// new-checkout-v2 is another\n",
      {"checkout", "new-checkout"});
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].flag, "new-checkout");
  EXPECT_EQ(refs[0].line, 1u);
  EXPECT_EQ(refs[0].column, 15u);
  EXPECT_EQ(refs[1].flag, "checkout");
  EXPECT_EQ(refs[1].line, 2u);
  EXPECT_EQ(refs[1].text, "const x = 'checkout';");
}

TEST(ScanTreeTest, RespectsGitignoreAndSkipsBinariesAndGit) {
  base::testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  namespace fs = std::filesystem;
  auto write = [&](const std::string& rel, const std::string& text) {
    fs::path p = fs::path(dir.path()) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  };
  write(".gitignore", "dist/\n*.min.js\n");
  write("src/app.js", "flags.isOn(\"new-checkout\")\n");
  write("src/app.min.js", "flags.isOn(\"new-checkout\")\n");
  write("dist/app.js", "new-checkout\n");
  write(".git/HEAD", "new-checkout\n");
  write("web/.gitignore", "generated.ts\n");
  write("web/generated.ts", "new-checkout\n");
  write("web/page.ts", "// old-banner\nuse('new-checkout')\n");
  write("img.bin", std::string("new-checkout\0", 13));
  RefsScan scan = ScanTree(dir.path(), {"new-checkout", "old-banner", "unused"});
  EXPECT_TRUE(scan.errors.empty());
  std::vector<std::string> where;
  for (const FlagReference& r : scan.references) where.push_back(r.file + ":" + std::to_string(r.line) + " " + r.flag);
  EXPECT_EQ(where, (std::vector<std::string>{"src/app.js:1 new-checkout", "web/page.ts:1 old-banner",
                                             "web/page.ts:2 new-checkout"}));
}

}  // namespace
}  // namespace edgevault::cli
