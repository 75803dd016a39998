#include "src/eval/ofrep.h"

#include <gtest/gtest.h>

namespace edgevault::eval {
namespace {

boost::json::value Json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v;
}

TEST(OfrepContextTest, TargetingKeyBecomesTheKey) {
  absl::StatusOr<Context> c = ContextFromOfrep(Json(R"({"targetingKey":"u1","plan":"pro"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->Key().has_value());
  EXPECT_EQ(*c->Key(), "u1");
  EXPECT_FALSE(c->attributes().contains("targetingKey"));
  EXPECT_EQ(c->attributes().at("plan").as_string(), "pro");
}

TEST(OfrepContextTest, NullIsTheEmptyContext) {
  absl::StatusOr<Context> c = ContextFromOfrep(nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->Key().has_value());
}

TEST(OfrepContextTest, RejectsNonObjectsAndNonStringKeys) {
  EXPECT_TRUE(absl::IsInvalidArgument(ContextFromOfrep(Json("[1]")).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ContextFromOfrep(Json(R"({"targetingKey":7})")).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ContextFromOfrep(Json(R"({"key":false})")).status()));
}

TEST(OfrepVariantNameTest, NameElseIndex) {
  boost::json::object flag =
      Json(R"({"variations":[{"value":false,"name":"Off"},{"value":true},{"value":1,"name":""}]})").as_object();
  EXPECT_EQ(VariantName(flag, 0), "Off");
  EXPECT_EQ(VariantName(flag, 1), "1");
  EXPECT_EQ(VariantName(flag, 2), "2");
  EXPECT_EQ(VariantName(flag, 7), "7");
  EXPECT_EQ(VariantNames(flag), (std::vector<std::string>{"Off", "1", "2"}));
  EXPECT_TRUE(VariantNames(Json(R"({"variations":{}})")).empty());
  EXPECT_TRUE(VariantNames(Json("[1]")).empty());
}

}  // namespace
}  // namespace edgevault::eval
