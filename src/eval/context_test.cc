#include "src/eval/context.h"

#include <gtest/gtest.h>

namespace edgevault::eval {
namespace {

boost::json::object Obj(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.get_object() : boost::json::object();
}

std::vector<std::string> PathOf(std::string_view text) {
  absl::StatusOr<AttributeRef> ref = AttributeRef::Parse(text);
  EXPECT_TRUE(ref.ok()) << text << ": " << ref.status();
  return ref.ok() ? ref->path() : std::vector<std::string>{};
}

TEST(AttributeRefTest, DottedNamesAreNestedPaths) {
  EXPECT_EQ(PathOf("plan"), std::vector<std::string>({"plan"}));
  EXPECT_EQ(PathOf("address.city"), std::vector<std::string>({"address", "city"}));
}

TEST(AttributeRefTest, PointerFormKeepsDotsAndUnescapes) {
  EXPECT_EQ(PathOf("/address.city"), std::vector<std::string>({"address.city"}));
  EXPECT_EQ(PathOf("/a/b.c"), std::vector<std::string>({"a", "b.c"}));
  EXPECT_EQ(PathOf("/a~1b/c~0d"), std::vector<std::string>({"a/b", "c~d"}));
}

TEST(AttributeRefTest, RejectsMalformed) {
  for (std::string_view bad : {"", "a..b", ".a", "a.", "/a~2", "/a~"}) {
    EXPECT_FALSE(AttributeRef::Parse(bad).ok()) << bad;
  }
}

TEST(AttributeRefTest, IsKey) {
  EXPECT_TRUE(AttributeRef::Parse("key")->IsKey());
  EXPECT_TRUE(AttributeRef::Parse("/key")->IsKey());
  EXPECT_FALSE(AttributeRef::Parse("key.x")->IsKey());
}

TEST(ContextTest, FindsNestedAndLiteralDottedKeys) {
  Context ctx(Obj(R"({"key":"u1","address":{"city":"Oslo"},"address.city":"Bergen"})"));
  const boost::json::value* nested = ctx.Find(*AttributeRef::Parse("address.city"));
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->as_string(), "Oslo");
  const boost::json::value* literal = ctx.Find(*AttributeRef::Parse("/address.city"));
  ASSERT_NE(literal, nullptr);
  EXPECT_EQ(literal->as_string(), "Bergen");
}

TEST(ContextTest, MissingNullAndNonObjectIntermediatesAreMissing) {
  Context ctx(Obj(R"({"a":null,"b":"text","c":{"d":null}})"));
  EXPECT_EQ(ctx.Find(*AttributeRef::Parse("a")), nullptr);
  EXPECT_EQ(ctx.Find(*AttributeRef::Parse("b.x")), nullptr);
  EXPECT_EQ(ctx.Find(*AttributeRef::Parse("c.d")), nullptr);
  EXPECT_EQ(ctx.Find(*AttributeRef::Parse("zzz")), nullptr);
}

TEST(ContextTest, KeyMustBeNonEmptyString) {
  EXPECT_EQ(Context(Obj(R"({"key":"u1"})")).Key(), std::optional<std::string_view>("u1"));
  EXPECT_FALSE(Context(Obj(R"({"key":""})")).Key().has_value());
  EXPECT_FALSE(Context(Obj(R"({"key":5})")).Key().has_value());
  EXPECT_FALSE(Context(Obj(R"({})")).Key().has_value());
}

TEST(ContextTest, FromJsonValidates) {
  EXPECT_TRUE(Context::FromJson(boost::json::parse(R"({"key":"u"})")).ok());
  EXPECT_EQ(Context::FromJson(boost::json::parse("[1]")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Context::FromJson(boost::json::parse(R"({"key":1})")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::eval
