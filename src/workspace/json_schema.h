#pragma once
// A JSON Schema validator for the subset of draft 2020-12 that config items may carry
// (docs/design/items.md §4): type, enum, const, properties, required, additionalProperties,
// items, minItems/maxItems, minimum/maximum/exclusiveMinimum/exclusiveMaximum,
// minLength/maxLength (in code points), pattern (RE2, unanchored), and the annotations
// $schema, $comment, title, description, default, examples (ignored). Any other keyword
// is rejected when the schema is compiled, so a schema never silently means less than
// it says. A compiled JsonSchema is immutable: copy it freely, validate concurrently.
//
//   EV_ASSIGN_OR_RETURN(JsonSchema schema, JsonSchema::Compile(schema_json));
//   absl::Status s = schema.Validate(instance);
//   // InvalidArgument "/port: 70000 is greater than the maximum 65535"

#include <boost/json.hpp>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::workspace {

class JsonSchema {
 public:
  // Nesting deeper than this (a subschema inside properties/items/additionalProperties
  // counts one level) is rejected by Compile.
  static constexpr int kMaxDepth = 32;

  // Compiles a schema (a JSON object, or true/false). Errors: InvalidArgument naming the
  // place in the schema and what is wrong, e.g. `schema: unsupported keyword "$ref"`,
  // `schema.properties.port.minimum: must be a number`,
  // `schema.pattern: invalid regular expression "(": missing )`.
  static absl::StatusOr<JsonSchema> Compile(const boost::json::value& schema);

  // OK when `instance` satisfies the schema. Errors: InvalidArgument with the JSON Pointer
  // (RFC 6901) of the first failing place and what failed:
  // `/port: 70000 is greater than the maximum 65535`. A failure at the instance root has
  // no pointer prefix: `"abc" does not match the pattern "^[0-9]+$"`.
  absl::Status Validate(const boost::json::value& instance) const;

  struct Node;  // the compiled tree (defined in json_schema.cc)

 private:
  explicit JsonSchema(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;
};

// JSON equality as JSON Schema defines it (enum, const): numbers compare by value
// (1 == 1.0, exact for 64-bit integers), objects by their member sets, arrays element-wise.
bool JsonEquals(const boost::json::value& a, const boost::json::value& b);

// True for an integral JSON number: any int64/uint64, or a finite double with no
// fractional part (5.0 is an integer, 1.5 is not).
bool IsIntegral(const boost::json::value& v);

// The number of Unicode code points in UTF-8 text (bytes that do not start with 10xxxxxx).
size_t CodePointLength(std::string_view utf8);

}  // namespace edgevault::workspace
