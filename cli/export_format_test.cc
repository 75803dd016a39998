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

}  // namespace
}  // namespace edgevault::cli
