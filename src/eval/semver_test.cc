#include "src/eval/semver.h"

#include <gtest/gtest.h>

namespace edgevault::eval {
namespace {

Semver V(std::string_view s) {
  std::optional<Semver> v = Semver::Parse(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(Semver{});
}

TEST(SemverTest, ParsesFullForm) {
  Semver v = V("1.22.333-rc.1+build.5");
  EXPECT_EQ(v.major, 1u);
  EXPECT_EQ(v.minor, 22u);
  EXPECT_EQ(v.patch, 333u);
  EXPECT_EQ(v.pre, std::vector<std::string>({"rc", "1"}));
}

TEST(SemverTest, MissingMinorAndPatchAreZero) {
  EXPECT_EQ(Compare(V("2"), V("2.0.0")), 0);
  EXPECT_EQ(Compare(V("2.1"), V("2.1.0")), 0);
  EXPECT_EQ(Compare(V("2-beta"), V("2.0.0-beta")), 0);
}

TEST(SemverTest, RejectsInvalid) {
  for (std::string_view bad :
       {"", "a", "1.", "1..2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-01", "1.2.3+",
        "1.2.3-a..b", "1.2.3-a_b", "-1.2.3", "v1.2.3", "99999999999999999999.0.0"}) {
    EXPECT_FALSE(Semver::Parse(bad).has_value()) << bad;
  }
}

TEST(SemverTest, PrecedenceFollowsSpecExample) {
  // semver.org §11: each is lower than the next.
  const char* ordered[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                           "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",      "1.0.0",
                           "1.0.1",        "1.1.0",         "2.0.0",           "10.0.0"};
  for (size_t i = 0; i + 1 < std::size(ordered); ++i) {
    EXPECT_LT(Compare(V(ordered[i]), V(ordered[i + 1])), 0) << ordered[i] << " < " << ordered[i + 1];
    EXPECT_GT(Compare(V(ordered[i + 1]), V(ordered[i])), 0);
  }
}

TEST(SemverTest, BuildMetadataIsIgnored) {
  EXPECT_EQ(Compare(V("1.0.0+a"), V("1.0.0+b")), 0);
  EXPECT_EQ(Compare(V("1.0.0-rc.1+x"), V("1.0.0-rc.1")), 0);
}

TEST(SemverTest, LongNumericIdentifiersCompareNumerically) {
  EXPECT_LT(Compare(V("1.0.0-99999999999999999999"), V("1.0.0-100000000000000000000")), 0);
}

}  // namespace
}  // namespace edgevault::eval
