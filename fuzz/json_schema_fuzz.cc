// Fuzzes the JSON Schema subset config items may carry (src/workspace/json_schema.h).
// Input (FuzzedDataProvider): the schema's JSON text, then the instance's JSON text.
// Properties:
//   - Compile and Validate fail only with InvalidArgument, and never throw;
//   - validation is deterministic;
//   - {"const": x} and {"enum": [1, x]} accept x, and {"not"-free} {"type": T} agrees
//     with the instance's JSON type (JsonEquals is reflexive, IsIntegral is consistent);
//   - JsonEquals is symmetric; CodePointLength never exceeds the byte length.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json.hpp>

#include "fuzz/fuzz_util.h"
#include "src/base/json_finite.h"
#include "src/services/common/http_json.h"
#include "src/workspace/json_schema.h"

namespace edgevault::fuzz {
namespace {

namespace json = boost::json;
using workspace::JsonSchema;

std::string TypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    default: return workspace::IsIntegral(v) ? "integer" : "number";
  }
}

void MustAccept(const json::value& schema, const json::value& instance, const char* what) {
  absl::StatusOr<JsonSchema> s = JsonSchema::Compile(schema);
  FUZZ_CHECK(s.ok(), std::string(what) + " does not compile: " + s.status().ToString());
  absl::Status st = s->Validate(instance);
  FUZZ_CHECK(st.ok(), std::string(what) + " refuses its own value " + json::serialize(instance) +
                          ": " + st.ToString());
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault::fuzz;
  using edgevault::workspace::JsonEquals;
  using edgevault::workspace::JsonSchema;
  namespace json = boost::json;
  FuzzedDataProvider fdp(data, size);
  std::string schema_text = fdp.ConsumeRandomLengthString(4096);
  std::string instance_text = fdp.ConsumeRemainingBytesAsString();

  boost::system::error_code ec;
  json::value schema = json::parse(schema_text, ec);
  if (ec) return 0;
  json::value instance = json::parse(instance_text, ec);
  if (ec) instance = json::value(instance_text);  // any string is an instance too
  // The api's ParseJsonBody refuses Infinity and NaN before any schema sees them.
  if (edgevault::base::FindNonFiniteNumber(schema) || edgevault::base::FindNonFiniteNumber(instance)) {
    return 0;
  }

  FUZZ_CHECK(JsonEquals(instance, instance), "JsonEquals(x, x) is false for " + json::serialize(instance));
  FUZZ_CHECK(JsonEquals(schema, instance) == JsonEquals(instance, schema), "JsonEquals is not symmetric");
  if (instance.is_string()) {
    FUZZ_CHECK(edgevault::workspace::CodePointLength(instance.as_string()) <= instance.as_string().size(),
               "CodePointLength > bytes");
  }

  absl::StatusOr<JsonSchema> compiled = JsonSchema::Compile(schema);
  if (!compiled.ok()) {
    FUZZ_CHECK(compiled.status().code() == absl::StatusCode::kInvalidArgument,
               compiled.status().ToString());
  } else {
    absl::Status first = compiled->Validate(instance);
    FUZZ_CHECK(first.ok() || first.code() == absl::StatusCode::kInvalidArgument, first.ToString());
    absl::Status second = compiled->Validate(instance);
    FUZZ_CHECK(first == second, "Validate is not deterministic");
    // The schema validates itself as an instance too (a schema is JSON like any other).
    absl::Status self = compiled->Validate(schema);
    FUZZ_CHECK(self.ok() || self.code() == absl::StatusCode::kInvalidArgument, self.ToString());
  }

  MustAccept(json::object{{"const", instance}}, instance, "{\"const\": x}");
  MustAccept(json::object{{"enum", json::array{1, instance}}}, instance, "{\"enum\": [1, x]}");
  MustAccept(json::object{{"type", TypeName(instance)}}, instance, "{\"type\": typeof x}");
  if (TypeName(instance) == "integer") {
    MustAccept(json::object{{"type", "number"}}, instance, "{\"type\": \"number\"}");
  }
  CheckNoBugReported();
  return 0;
}
