#include "cli/export_format.h"

#include <gtest/gtest.h>

namespace edgevault::cli {
namespace {

using Vars = std::map<std::string, std::string>;

TEST(ExportFormatTest, EnvVarForUpperCasesAndReplacesSeparators) {
  EXPECT_EQ(EnvVarFor("database.pool-size"), "DATABASE_POOL_SIZE");
  EXPECT_EQ(EnvVarFor("a_b9"), "A_B9");
}

TEST(ExportFormatTest, DotenvEscapesWhatTheShellExpands) {
  absl::StatusOr<std::string> out =
      FormatExport(ExportFormat::kDotenv, {{"A", "x\"$`\\\ny"}, {"B", ""}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "A=\"x\\\"\\$\\`\\\\\ny\"\nB=\"\"\n");
}

// Regression (fuzz/corpus/export_roundtrip_fuzz/regress-dotenv-nul): a NUL byte in a value
// ended the printf'd line early and left the quote open, so the next variable's line
// became shell code when the file was sourced.
TEST(ExportFormatTest, DotenvRefusesNulInAValue) {
  absl::StatusOr<std::string> out =
      FormatExport(ExportFormat::kDotenv, {{"A", std::string("x\0y", 3)}, {"B", "; touch pwned #"}});
  ASSERT_FALSE(out.ok()) << *out;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("NUL"), absl::string_view::npos);
}

// Regression: `9LIVES="x"` is not an assignment to a shell but a command named 9LIVES=x.
TEST(ExportFormatTest, DotenvRefusesANameStartingWithADigit) {
  absl::StatusOr<std::string> out = FormatExport(ExportFormat::kDotenv, {{"9LIVES", "x"}});
  ASSERT_FALSE(out.ok()) << *out;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ExportFormatTest, JsonAndYamlHoldWhatDotenvCannot) {
  Vars v{{"9LIVES", std::string("a\0b", 3)}};
  absl::StatusOr<std::string> json = FormatExport(ExportFormat::kJson, v);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, "{\"9LIVES\":\"a\\u0000b\"}\n");
  absl::StatusOr<std::string> yaml = FormatExport(ExportFormat::kYaml, v);
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(*yaml, "\"9LIVES\": \"a\\u0000b\"\n");
}

// Regression: plain YAML keys NULL, Y, ON, 1E5 are null, booleans and numbers to YAML
// readers (PyYAML, Kubernetes), not the variable names they stand for.
TEST(ExportFormatTest, YamlQuotesKeysYamlWouldRetype) {
  absl::StatusOr<std::string> out = FormatExport(
      ExportFormat::kYaml, {{"NULL", "a"}, {"Y", "b"}, {"ON", "c"}, {"1E5", "d"}, {"PORT", "80"}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "\"1E5\": \"d\"\n\"NULL\": \"a\"\n\"ON\": \"c\"\nPORT: \"80\"\n\"Y\": \"b\"\n");
}

TEST(ParseDotenvTest, ReadsBackWhatExportWrites) {
  std::map<std::string, std::string> vars{{"A", "plain"}, {"B", "line1\nsay \"hi\" $HOME `x` \\ end"}, {"C", ""}};
  absl::StatusOr<std::string> text = FormatExport(ExportFormat::kDotenv, vars);
  ASSERT_TRUE(text.ok());
  absl::StatusOr<std::map<std::string, std::string>> back = ParseDotenv(*text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, vars);
}

TEST(ParseDotenvTest, CommonDotenvForms) {
  absl::StatusOr<std::map<std::string, std::string>> v = ParseDotenv(
      "# comment\n\nexport DB_URL=postgres://x # the db\nNAME='it''s' \nQ=\"a\\nb\"\nEMPTY=\n  SPACED = v  \n");
  ASSERT_FALSE(v.ok());  // 'it''s' leaves text after the closing quote
  v = ParseDotenv("# comment\n\nexport DB_URL=postgres://x # the db\nNAME='a $b'\nQ=\"a\\nb\"\nEMPTY=\n  SPACED = v  \n");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, (std::map<std::string, std::string>{
                    {"DB_URL", "postgres://x"}, {"NAME", "a $b"}, {"Q", "a\nb"}, {"EMPTY", ""}, {"SPACED", "v"}}));
  EXPECT_EQ(KeyForEnvVar("DB_URL"), "db_url");
  EXPECT_EQ(EnvVarFor(KeyForEnvVar("DB_URL")), "DB_URL");
}

TEST(ParseDotenvTest, BadLinesAreNamed) {
  EXPECT_EQ(ParseDotenv("A=1\nnot a line\n").status().message(), "line 2: not NAME=value");
  EXPECT_EQ(ParseDotenv("1A=x\n").status().message(), "line 1: \"1A\" is not a variable name");
  EXPECT_EQ(ParseDotenv("A=\"open\nB=2\n").status().message(), "line 3: the quote \" opened here is never closed");
  EXPECT_EQ(ParseDotenv("A=1\nA=2\n").status().message(), "line 2: A is set twice");
}

}  // namespace
}  // namespace edgevault::cli
