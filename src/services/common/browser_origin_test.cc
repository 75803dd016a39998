#include "src/services/common/browser_origin.h"

#include <gtest/gtest.h>

namespace edgevault::services {
namespace {

TEST(BrowserOriginTest, NormalisesToWhatABrowserSends) {
  EXPECT_EQ(*NormalizeBrowserOrigin("https://app.example"), "https://app.example");
  EXPECT_EQ(*NormalizeBrowserOrigin("HTTPS://App.Example:443"), "https://app.example");
  EXPECT_EQ(*NormalizeBrowserOrigin("http://localhost:80"), "http://localhost");
  EXPECT_EQ(*NormalizeBrowserOrigin("http://127.0.0.1:5173"), "http://127.0.0.1:5173");
  EXPECT_EQ(*NormalizeBrowserOrigin("https://app.example:8443"), "https://app.example:8443");
  EXPECT_EQ(*NormalizeBrowserOrigin("http://[::1]:3000"), "http://[::1]:3000");
  EXPECT_EQ(*NormalizeBrowserOrigin("https://a-b.c1.example"), "https://a-b.c1.example");
}

TEST(BrowserOriginTest, RefusesEverythingElse) {
  for (const char* bad :
       {"", "app.example", "ftp://app.example", "https://", "https://*.example", "*",
        "https://app.example/", "https://app.example/path", "https://app.example?x=1",
        "https://app.example#f", "https://user@app.example", "https://app.example:",
        "https://app.example:0", "https://app.example:65536", "https://app.example:080",
        "https://app.example:x", "https://-app.example", "https://app..example",
        "https://app.example.", "null", "https://app example", "https://[zz]:1"}) {
    absl::StatusOr<std::string> o = NormalizeBrowserOrigin(bad);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(NormalizeBrowserOrigin("https://*.example").status().message().find("wildcard"),
            std::string_view::npos);
}

TEST(BrowserOriginTest, ListIsNormalisedDeduplicatedAndBounded) {
  absl::StatusOr<std::vector<std::string>> got =
      NormalizeBrowserOrigins({"https://A.example", "https://a.example:443", "http://b.example"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, (std::vector<std::string>{"https://a.example", "http://b.example"}));
  absl::StatusOr<std::vector<std::string>> bad = NormalizeBrowserOrigins({"https://ok.example", "nope"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("origins[1]"), std::string_view::npos);
  std::vector<std::string> many(kMaxBrowserOrigins + 1, "https://a.example");
  EXPECT_EQ(NormalizeBrowserOrigins(many).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::services
