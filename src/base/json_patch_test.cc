#include "src/base/json_patch.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace edgevault::base {
namespace {
namespace json = boost::json;

json::value J(std::string_view s) { return json::parse(s); }

// Applies `patch` to `doc` and expects `want` (a JSON document).
void ExpectPatch(std::string_view doc, std::string_view patch, std::string_view want) {
  absl::StatusOr<json::value> got = ApplyJsonPatch(J(doc), J(patch));
  ASSERT_TRUE(got.ok()) << got.status() << " for " << patch;
  EXPECT_TRUE(JsonEqual(*got, J(want))) << json::serialize(*got) << " != " << want;
}

absl::Status PatchError(std::string_view doc, std::string_view patch) {
  return ApplyJsonPatch(J(doc), J(patch)).status();
}

TEST(JsonPointerTest, ParsesAndEscapes) {
  EXPECT_EQ(*ParseJsonPointer(""), std::vector<std::string>{});
  EXPECT_EQ(*ParseJsonPointer("/"), std::vector<std::string>{""});
  EXPECT_EQ(*ParseJsonPointer("/a~1b/m~0n/0"), (std::vector<std::string>{"a/b", "m~n", "0"}));
  // "~01" is "~1" literally, not "/": decode ~1 after ~0 would be wrong.
  EXPECT_EQ(*ParseJsonPointer("/~01"), std::vector<std::string>{"~1"});
  EXPECT_EQ(JsonPointer({"a/b", "m~n"}), "/a~1b/m~0n");
  EXPECT_EQ(ParseJsonPointer("a").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonPointer("/a~").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonPointer("/a~2").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonPointerTest, Rfc6901Section5Examples) {
  json::value doc = J(R"({"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,
                          "k\"l":6," ":7,"m~n":8})");
  auto at = [&](std::string_view p) {
    return ApplyJsonPatch(doc, json::array{json::object{{"op", "copy"}, {"from", p}, {"path", "/out"}}});
  };
  EXPECT_TRUE(JsonEqual(at("/foo")->at("out"), J(R"(["bar","baz"])")));
  EXPECT_EQ(at("/foo/0")->at("out"), "bar");
  EXPECT_EQ(at("/")->at("out"), 0);
  EXPECT_EQ(at("/a~1b")->at("out"), 1);
  EXPECT_EQ(at("/c%d")->at("out"), 2);
  EXPECT_EQ(at("/i\\j")->at("out"), 5);
  EXPECT_EQ(at("/ ")->at("out"), 7);
  EXPECT_EQ(at("/m~0n")->at("out"), 8);
}

TEST(JsonEqualTest, NumbersByValueObjectsUnordered) {
  EXPECT_TRUE(JsonEqual(J("1"), J("1.0")));
  EXPECT_FALSE(JsonEqual(J("1"), J("\"1\"")));
  EXPECT_TRUE(JsonEqual(J(R"({"a":1,"b":[1,2]})"), J(R"({"b":[1,2],"a":1})")));
  EXPECT_FALSE(JsonEqual(J("[1,2]"), J("[2,1]")));
  EXPECT_FALSE(JsonEqual(J(R"({"a":1})"), J(R"({"a":1,"b":2})")));
  EXPECT_FALSE(JsonEqual(J("null"), J("false")));
}

// RFC 6902 Appendix A, A.1 to A.16.
TEST(JsonPatchTest, Rfc6902AppendixA) {
  ExpectPatch(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
              R"({"baz":"qux","foo":"bar"})");                                                      // A.1
  ExpectPatch(R"({"foo":["bar","baz"]})", R"([{"op":"add","path":"/foo/1","value":"qux"}])",
              R"({"foo":["bar","qux","baz"]})");                                                    // A.2
  ExpectPatch(R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])", R"({"foo":"bar"})");  // A.3
  ExpectPatch(R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])",
              R"({"foo":["bar","baz"]})");                                                          // A.4
  ExpectPatch(R"({"baz":"qux","foo":"bar"})", R"([{"op":"replace","path":"/baz","value":"boo"}])",
              R"({"baz":"boo","foo":"bar"})");                                                      // A.5
  ExpectPatch(R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
              R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
              R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})");                   // A.6
  ExpectPatch(R"({"foo":["all","grass","cows","eat"]})", R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
              R"({"foo":["all","cows","eat","grass"]})");                                           // A.7
  ExpectPatch(R"({"baz":"qux","foo":["a",2,"c"]})",
              R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
              R"({"baz":"qux","foo":["a",2,"c"]})");                                                // A.8
  EXPECT_EQ(PatchError(R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])").code(),
            absl::StatusCode::kFailedPrecondition);                                                 // A.9
  ExpectPatch(R"({"foo":"bar"})", R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
              R"({"foo":"bar","child":{"grandchild":{}}})");                                        // A.10
  ExpectPatch(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])",
              R"({"foo":"bar","baz":"qux"})");                                                      // A.11
  EXPECT_EQ(PatchError(R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])").code(),
            absl::StatusCode::kInvalidArgument);                                                    // A.12
  // A.13 (a duplicate "op" member) is left to the JSON parser.
  ExpectPatch(R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])", R"({"/":9,"~1":10})");  // A.14
  EXPECT_EQ(PatchError(R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])").code(),
            absl::StatusCode::kFailedPrecondition);                                                 // A.15
  ExpectPatch(R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
              R"({"foo":["bar",["abc","def"]]})");                                                  // A.16
}

TEST(JsonPatchTest, CopyReplaceRootAndRemoveLast) {
  ExpectPatch(R"({"a":{"x":1},"b":2})", R"([{"op":"copy","from":"/a","path":"/c"}])",
              R"({"a":{"x":1},"b":2,"c":{"x":1}})");
  ExpectPatch(R"({"a":1})", R"([{"op":"replace","path":"","value":[1]}])", "[1]");
  ExpectPatch(R"({"a":1})", R"([{"op":"add","path":"","value":{"b":2}}])", R"({"b":2})");
  ExpectPatch("[1,2,3]", R"([{"op":"remove","path":"/2"}])", "[1,2]");
  ExpectPatch("[1]", R"([{"op":"add","path":"/1","value":2}])", "[1,2]");
  ExpectPatch(R"({"a":1})", "[]", R"({"a":1})");
  ExpectPatch(R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])", R"({"a":1})");
}

TEST(JsonPatchTest, ErrorsNameTheOpIndexAndLeaveInputAlone) {
  json::value doc = J(R"({"a":[1,2],"b":{"c":1}})");
  const json::value before = doc;
  struct Case {
    const char* patch;
    const char* needle;
  } cases[] = {
      {R"({"op":"add"})", "array"},
      {R"([1])", "op 0: must be an object"},
      {R"([{"path":"/a"}])", "op 0: 'op' must be a string"},
      {R"([{"op":"add","path":"/x","value":1},{"op":"frob","path":"/a"}])", "op 1 (frob): unknown op"},
      {R"([{"op":"add","path":"a","value":1}])", "op 0 (add): JSON Pointer 'a'"},
      {R"([{"op":"add","path":"/a~2","value":1}])", "op 0 (add)"},
      {R"([{"op":"add","value":1}])", "op 0 (add): 'path'"},
      {R"([{"op":"add","path":"/x"}])", "'value' is required"},
      {R"([{"op":"remove","path":"/nope"}])", "'/nope' does not exist"},
      {R"([{"op":"remove","path":""}])", "whole document"},
      {R"([{"op":"remove","path":"/a/2"}])", "'/a/2' does not exist"},
      {R"([{"op":"remove","path":"/a/01"}])", "does not exist"},
      {R"([{"op":"add","path":"/a/3","value":1}])", "out of range"},
      {R"([{"op":"add","path":"/a/-1","value":1}])", "out of range"},
      {R"([{"op":"replace","path":"/z","value":1}])", "'/z' does not exist"},
      {R"([{"op":"move","from":"/b","path":"/b/c/d"}])", "parent of 'path'"},
      {R"([{"op":"move","path":"/q"}])", "'from'"},
      {R"([{"op":"copy","from":"/nope","path":"/q"}])", "'/nope' does not exist"},
      {R"([{"op":"test","path":"/nope","value":1}])", "'/nope' does not exist"},
      {R"([{"op":"add","path":"/b/c/d","value":1}])", "neither an object nor an array"},
  };
  for (const Case& c : cases) {
    absl::Status s = PatchError(json::serialize(doc), c.patch);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.patch << ": " << s;
    EXPECT_NE(s.message().find(c.needle), std::string_view::npos) << c.patch << ": " << s;
  }
  EXPECT_EQ(doc, before);
}

TEST(JsonPatchTest, FailingTestLaterInThePatchDiscardsEarlierOps) {
  absl::Status s = PatchError(R"({"on":false})",
                              R"([{"op":"replace","path":"/on","value":true},{"op":"test","path":"/on","value":false}])");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("op 1 (test)"), std::string_view::npos) << s;
}

// RFC 7396 Appendix A.
TEST(MergePatchTest, Rfc7396AppendixA) {
  struct Case {
    const char* target;
    const char* patch;
    const char* want;
  } cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const Case& c : cases) {
    json::value got = ApplyMergePatch(J(c.target), J(c.patch));
    EXPECT_TRUE(JsonEqual(got, J(c.want))) << c.target << " + " << c.patch << " = " << json::serialize(got);
  }
}

}  // namespace
}  // namespace edgevault::base
