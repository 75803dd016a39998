#include "src/workspace/json_schema.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace edgevault::workspace {
namespace {

namespace json = boost::json;

JsonSchema MustCompile(std::string_view schema) {
  absl::StatusOr<JsonSchema> s = JsonSchema::Compile(json::parse(schema));
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

std::string CompileError(std::string_view schema) {
  absl::StatusOr<JsonSchema> s = JsonSchema::Compile(json::parse(schema));
  EXPECT_FALSE(s.ok()) << schema;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

// "" when valid, else the error message.
std::string Check(const JsonSchema& schema, std::string_view instance) {
  absl::Status s = schema.Validate(json::parse(instance));
  if (s.ok()) return "";
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

TEST(JsonSchemaTest, EmptyAndBooleanSchemas) {
  JsonSchema any = MustCompile("{}");
  EXPECT_EQ(Check(any, "null"), "");
  EXPECT_EQ(Check(any, R"({"a":[1,2]})"), "");
  EXPECT_EQ(Check(MustCompile("true"), "5"), "");
  EXPECT_EQ(Check(MustCompile("false"), "5"), "no value is allowed here (the schema is false)");
}

TEST(JsonSchemaTest, TypeNames) {
  struct Case {
    const char* type;
    const char* instance;
    bool ok;
  } cases[] = {
      {"null", "null", true},
      {"null", "0", false},
      {"boolean", "true", true},
      {"boolean", "0", false},
      {"object", "{}", true},
      {"object", "[]", false},
      {"array", "[]", true},
      {"array", "{}", false},
      {"string", "\"x\"", true},
      {"string", "1", false},
      {"number", "1", true},
      {"number", "1.5", true},
      {"number", "\"1\"", false},
      {"integer", "5", true},
      {"integer", "5.0", true},
      {"integer", "-5", true},
      {"integer", "1.5", false},
      {"integer", "true", false},
      {"integer", "false", false},
      {"integer", "\"5\"", false},
      {"integer", "null", false},
      {"integer", "9223372036854775807", true},
      {"integer", "18446744073709551615", true},  // uint64
      {"integer", "1e300", true},                 // a huge but integral double
      {"integer", "-1e300", true},
      {"integer", "1.0000001", false},
      {"number", "18446744073709551615", true},
      {"boolean", "null", false},
  };
  for (const Case& c : cases) {
    JsonSchema s = MustCompile(std::string(R"({"type":")") + c.type + "\"}");
    EXPECT_EQ(Check(s, c.instance).empty(), c.ok) << c.type << " vs " << c.instance;
  }
}

TEST(JsonSchemaTest, TypeErrorMessages) {
  EXPECT_EQ(Check(MustCompile(R"({"type":"integer"})"), "1.5"), "expected integer, got number");
  EXPECT_EQ(Check(MustCompile(R"({"type":"integer"})"), "true"), "expected integer, got boolean");
  EXPECT_EQ(Check(MustCompile(R"({"type":"string"})"), "7"), "expected string, got integer");
  EXPECT_EQ(Check(MustCompile(R"({"type":["string","null"]})"), "[]"),
            "expected one of null, string, got array");
  EXPECT_EQ(Check(MustCompile(R"({"type":["string","null"]})"), "null"), "");
}

TEST(JsonSchemaTest, TypeCompileErrors) {
  EXPECT_EQ(CompileError(R"({"type":"int"})"),
            "schema.type: must be one of null, boolean, object, array, number, integer, string");
  EXPECT_EQ(CompileError(R"({"type":[]})"), "schema.type: must not be an empty array");
  EXPECT_EQ(CompileError(R"({"type":["string","string"]})"),
            "schema.type[1]: lists \"string\" twice");
  EXPECT_EQ(CompileError(R"({"type":5})"),
            "schema.type: must be one of null, boolean, object, array, number, integer, string");
}

TEST(JsonSchemaTest, EnumComparesJsonValues) {
  JsonSchema s = MustCompile(R"({"enum":["red", 1, null, {"a":[1,2]}]})");
  EXPECT_EQ(Check(s, "\"red\""), "");
  EXPECT_EQ(Check(s, "1.0"), "");  // numbers by value
  EXPECT_EQ(Check(s, "null"), "");
  EXPECT_EQ(Check(s, R"({"a":[1,2.0]})"), "");
  EXPECT_EQ(Check(s, "true"),
            R"(true is not one of the allowed values ["red",1,null,{"a":[1,2]}])");
  EXPECT_NE(Check(s, "\"1\""), "");           // type-sensitive
  EXPECT_NE(Check(s, R"({"a":[2,1]})"), "");  // arrays are ordered
  EXPECT_NE(Check(s, R"({"a":[1,2],"b":1})"), "");
  EXPECT_EQ(CompileError(R"({"enum":"red"})"), "schema.enum: must be an array");
}

TEST(JsonSchemaTest, ConstAndBigIntegers) {
  JsonSchema s = MustCompile(R"({"const": 9007199254740993})");
  EXPECT_EQ(Check(s, "9007199254740993"), "");
  // 2^53 + 1 is not representable as a double; the comparison must not round.
  EXPECT_EQ(Check(s, "9007199254740992"),
            "9007199254740992 is not the required value 9007199254740993");
  JsonSchema t = MustCompile(R"({"const": {"x": true}})");
  EXPECT_EQ(Check(t, R"({"x": true})"), "");
  EXPECT_NE(Check(t, R"({"x": 1})"), "");
}

TEST(JsonSchemaTest, NumericBounds) {
  JsonSchema s = MustCompile(R"({"minimum": 1, "maximum": 65535})");
  EXPECT_EQ(Check(s, "1"), "");
  EXPECT_EQ(Check(s, "65535"), "");
  EXPECT_EQ(Check(s, "65535.0"), "");
  EXPECT_EQ(Check(s, "0"), "0 is less than the minimum 1");
  EXPECT_EQ(Check(s, "0.5"), "0.5 is less than the minimum 1");
  EXPECT_EQ(Check(s, "70000"), "70000 is greater than the maximum 65535");
  EXPECT_EQ(Check(s, "\"70000\""), "");  // bounds only constrain numbers

  JsonSchema e = MustCompile(R"({"exclusiveMinimum": 0, "exclusiveMaximum": 1.5})");
  EXPECT_EQ(Check(e, "0.25"), "");
  EXPECT_EQ(Check(e, "0"), "0 is not greater than the exclusive minimum 0");
  EXPECT_EQ(Check(e, "1.5"), "1.5 is not less than the exclusive maximum 1.5");

  JsonSchema big = MustCompile(R"({"maximum": 9223372036854775807})");
  EXPECT_EQ(Check(big, "9223372036854775807"), "");
  EXPECT_EQ(Check(big, "9223372036854775808"),
            "9223372036854775808 is greater than the maximum 9223372036854775807");
  JsonSchema neg = MustCompile(R"({"minimum": -9223372036854775808})");
  EXPECT_EQ(Check(neg, "-9223372036854775808"), "");
  EXPECT_NE(Check(neg, "-1e19"), "");

  EXPECT_EQ(CompileError(R"({"properties":{"port":{"minimum":"1"}}})"),
            "schema.properties.port.minimum: must be a number");
  EXPECT_EQ(CompileError(R"({"exclusiveMinimum": true})"),
            "schema.exclusiveMinimum: must be a number");
}

TEST(JsonSchemaTest, StringLengthCountsCodePoints) {
  JsonSchema s = MustCompile(R"({"minLength": 2, "maxLength": 3})");
  EXPECT_EQ(Check(s, "\"ab\""), "");
  EXPECT_EQ(Check(s, "\"a\""), "is 1 characters long, shorter than the minimum 2");
  EXPECT_EQ(Check(s, "\"abcd\""), "is 4 characters long, longer than the maximum 3");
  // "héé" is 5 bytes but 3 code points; "😀😀" is 8 bytes, 2 code points.
  EXPECT_EQ(Check(s, "\"h\xc3\xa9\xc3\xa9\""), "");
  EXPECT_EQ(Check(s, "\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\""), "");
  EXPECT_EQ(Check(s, "\"\\ud83d\\ude00\""), "is 1 characters long, shorter than the minimum 2");
  EXPECT_EQ(Check(s, "12345"), "");  // only strings are constrained
  EXPECT_EQ(CodePointLength("h\xc3\xa9"), 2u);

  EXPECT_EQ(CompileError(R"({"minLength": -1})"),
            "schema.minLength: must be a non-negative integer");
  EXPECT_EQ(CompileError(R"({"maxLength": 1.5})"),
            "schema.maxLength: must be a non-negative integer");
  EXPECT_EQ(Check(MustCompile(R"({"maxLength": 2.0})"), "\"ab\""), "");
}

TEST(JsonSchemaTest, PatternIsUnanchoredRe2) {
  JsonSchema s = MustCompile(R"({"pattern": "[0-9]+"})");
  EXPECT_EQ(Check(s, "\"abc123def\""), "");
  EXPECT_EQ(Check(s, "\"abc\""), R"("abc" does not match the pattern "[0-9]+")");
  JsonSchema anchored = MustCompile(R"({"pattern": "^[0-9]+$"})");
  EXPECT_NE(Check(anchored, "\"abc123\""), "");
  EXPECT_EQ(Check(anchored, "\"123\""), "");
  JsonSchema unicode = MustCompile(R"({"pattern": "^.{2}$"})");
  EXPECT_EQ(Check(unicode, "\"\xc3\xa9\xc3\xa9\""), "");  // . is a code point, not a byte
  std::string err = CompileError(R"({"pattern": "("})");
  EXPECT_EQ(err.rfind("schema.pattern: invalid regular expression \"(\": ", 0), 0u) << err;
  EXPECT_EQ(CompileError(R"({"pattern": 5})"), "schema.pattern: must be a string");
}

TEST(JsonSchemaTest, ObjectsPropertiesRequiredAdditional) {
  JsonSchema s = MustCompile(R"({
    "type": "object",
    "properties": {"host": {"type": "string"}, "port": {"type": "integer", "maximum": 65535}},
    "required": ["host", "port"],
    "additionalProperties": false})");
  EXPECT_EQ(Check(s, R"({"host":"db","port":5432})"), "");
  EXPECT_EQ(Check(s, R"({"host":"db"})"), "missing required property \"port\"");
  EXPECT_EQ(Check(s, R"({"host":"db","port":70000})"),
            "/port: 70000 is greater than the maximum 65535");
  EXPECT_EQ(Check(s, R"({"host":"db","port":1,"tls":true})"),
            "/tls: property \"tls\" is not allowed (additionalProperties is false)");

  JsonSchema typed_extra =
      MustCompile(R"({"properties": {"a": {}}, "additionalProperties": {"type": "number"}})");
  EXPECT_EQ(Check(typed_extra, R"({"a":"x","b":1})"), "");
  EXPECT_EQ(Check(typed_extra, R"({"a":"x","b":"y"})"), "/b: expected number, got string");
  EXPECT_EQ(Check(typed_extra, "[1]"), "");  // object keywords ignore arrays

  EXPECT_EQ(CompileError(R"({"required": "host"})"),
            "schema.required: must be an array of strings");
  EXPECT_EQ(CompileError(R"({"required": ["a", 1]})"), "schema.required[1]: must be a string");
  EXPECT_EQ(CompileError(R"({"properties": []})"), "schema.properties: must be an object");
  EXPECT_EQ(CompileError(R"({"additionalProperties": 1})"),
            "schema.additionalProperties: must be an object or a boolean");
}

TEST(JsonSchemaTest, PointerEscapesKeys) {
  JsonSchema s = MustCompile(R"({"additionalProperties": {"type": "string"}})");
  EXPECT_EQ(Check(s, R"({"a/b~c": 1})"), "/a~1b~0c: expected string, got integer");
  EXPECT_EQ(CompileError(R"({"properties": {"a b": {"minimum": "x"}}})"),
            "schema.properties[\"a b\"].minimum: must be a number");
}

TEST(JsonSchemaTest, ArraysItemsAndCounts) {
  JsonSchema s = MustCompile(R"({"type":"array","items":{"type":"string","minLength":1},
                                 "minItems":1,"maxItems":3})");
  EXPECT_EQ(Check(s, R"(["a","b"])"), "");
  EXPECT_EQ(Check(s, "[]"), "has 0 items, fewer than the minimum 1");
  EXPECT_EQ(Check(s, R"(["a","b","c","d"])"), "has 4 items, more than the maximum 3");
  EXPECT_EQ(Check(s, R"(["a",""])"), "/1: is 0 characters long, shorter than the minimum 1");
  EXPECT_EQ(
      CompileError(R"({"items":[{}]})"),
      "schema.items: must be a schema (the array form is prefixItems, which is not supported)");
  EXPECT_EQ(CompileError(R"({"minItems":"1"})"), "schema.minItems: must be a non-negative integer");
}

TEST(JsonSchemaTest, NestedPropertiesAndItemsReportDeepPointers) {
  JsonSchema s = MustCompile(R"({
    "properties": {"servers": {"type": "array", "items": {
      "type": "object", "required": ["name"],
      "properties": {"name": {"type": "string"}, "weight": {"type": "integer", "minimum": 0}}}}}})");
  EXPECT_EQ(Check(s, R"({"servers":[{"name":"a","weight":1},{"name":"b","weight":-1}]})"),
            "/servers/1/weight: -1 is less than the minimum 0");
  EXPECT_EQ(Check(s, R"({"servers":[{"weight":1}]})"),
            "/servers/0: missing required property \"name\"");
  EXPECT_EQ(Check(s, R"({"servers":[{"name":"a","weight":1.5}]})"),
            "/servers/0/weight: expected integer, got number");
}

TEST(JsonSchemaTest, AnnotationsAreIgnoredAndUnknownKeywordsRejected) {
  JsonSchema s = MustCompile(R"({"$schema":"https://json-schema.org/draft/2020-12/schema",
      "title":"Port","description":"TCP port","default":80,"$comment":"c","examples":[80],
      "type":"integer"})");
  EXPECT_EQ(Check(s, "443"), "");
  EXPECT_EQ(CompileError(R"({"$ref":"#/defs/x"})"), "schema: unsupported keyword \"$ref\"");
  EXPECT_EQ(CompileError(R"({"properties":{"a":{"oneOf":[]}}})"),
            "schema.properties.a: unsupported keyword \"oneOf\"");
  EXPECT_EQ(CompileError(R"({"format":"email"})"), "schema: unsupported keyword \"format\"");
  EXPECT_EQ(CompileError(R"({"title":5})"), "schema.title: must be a string");
  EXPECT_EQ(CompileError("5"), "schema: must be an object or a boolean");
}

TEST(JsonSchemaTest, DepthLimit) {
  auto nested = [](int levels) {
    std::string s = "{}";
    for (int i = 1; i < levels; ++i) s = R"({"items":)" + s + "}";
    return s;
  };
  json::parse_options opts;
  opts.max_depth = 1000;
  EXPECT_TRUE(JsonSchema::Compile(json::parse(nested(32), {}, opts)).ok());
  absl::StatusOr<JsonSchema> deep = JsonSchema::Compile(json::parse(nested(33), {}, opts));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(std::string(deep.status().message()).find("nested deeper than 32 levels"),
            std::string::npos)
      << deep.status();
}

TEST(JsonSchemaTest, JsonEqualsNumbersByExactValue) {
  EXPECT_TRUE(JsonEquals(json::value(1), json::value(1.0)));
  EXPECT_TRUE(JsonEquals(json::value(uint64_t{5}), json::value(int64_t{5})));
  EXPECT_FALSE(JsonEquals(json::value(int64_t{9007199254740993}), json::value(9007199254740992.0)));
  EXPECT_FALSE(JsonEquals(json::value(true), json::value(1)));
  EXPECT_FALSE(JsonEquals(json::parse("[1]"), json::parse("[1,1]")));
}

}  // namespace
}  // namespace edgevault::workspace
