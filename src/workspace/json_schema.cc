#include "src/workspace/json_schema.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "re2/re2.h"
#include "src/base/status.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

// Exact comparison of int64, uint64 and double: x86-64's and AArch64's long double hold
// every 64-bit integer and every double exactly.
static_assert(std::numeric_limits<long double>::digits >= 64,
              "exact number comparison needs a 64-bit long double mantissa");

long double AsLongDouble(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
      return static_cast<long double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<long double>(v.get_uint64());
    case json::kind::double_:
      return static_cast<long double>(v.get_double());
    default:
      return 0;
  }
}

std::string Quoted(std::string_view s) {
  return json::serialize(json::string(json::string_view(s.data(), s.size())));
}

std::string FormatNumber(const json::value& v) {
  char buf[64];
  std::to_chars_result r{};
  switch (v.kind()) {
    case json::kind::int64:
      r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      break;
    case json::kind::uint64:
      r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      break;
    case json::kind::double_:
      r = std::to_chars(buf, buf + sizeof buf, v.get_double());  // shortest round trip
      break;
    default:
      return json::serialize(v);
  }
  return std::string(buf, r.ptr);
}

// A short rendering of an instance value for messages.
std::string Describe(const json::value& v) {
  if (v.is_number()) return FormatNumber(v);
  std::string s = json::serialize(v);
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  return s;
}

// Bit set of the seven JSON Schema types.
enum TypeBit : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kInteger = 32,
  kString = 64,
};

std::optional<TypeBit> ParseTypeName(std::string_view name) {
  if (name == "null") return kNull;
  if (name == "boolean") return kBoolean;
  if (name == "object") return kObject;
  if (name == "array") return kArray;
  if (name == "number") return kNumber;
  if (name == "integer") return kInteger;
  if (name == "string") return kString;
  return std::nullopt;
}

// The most specific type name of an instance (an integral number is "integer").
std::string_view InstanceTypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "boolean";
    case json::kind::object:
      return "object";
    case json::kind::array:
      return "array";
    case json::kind::string:
      return "string";
    default:
      return IsIntegral(v) ? "integer" : "number";
  }
}

bool TypeMatches(unsigned mask, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return mask & kNull;
    case json::kind::bool_:
      return mask & kBoolean;
    case json::kind::object:
      return mask & kObject;
    case json::kind::array:
      return mask & kArray;
    case json::kind::string:
      return mask & kString;
    default:
      return (mask & kNumber) || ((mask & kInteger) && IsIntegral(v));
  }
}

std::string TypeMaskNames(unsigned mask) {
  static constexpr std::pair<TypeBit, std::string_view> kNames[] = {
      {kNull, "null"},     {kBoolean, "boolean"}, {kObject, "object"}, {kArray, "array"},
      {kNumber, "number"}, {kInteger, "integer"}, {kString, "string"}};
  std::string out;
  int count = 0;
  for (const auto& [bit, name] : kNames) {
    if (!(mask & bit)) continue;
    if (count++ > 0) out += ", ";
    out += name;
  }
  return count > 1 ? "one of " + out : out;
}

// JSON Pointer (RFC 6901) token escaping.
std::string PointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Path of a schema location for compile errors: schema.properties.port, or
// schema.properties["odd key"] when the name is not a plain identifier.
std::string SchemaField(const std::string& path, std::string_view name) {
  bool plain = !name.empty();
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '$';
    if (!ok) plain = false;
  }
  if (plain) return path + "." + std::string(name);
  return path + "[" + Quoted(name) + "]";
}

absl::Status Invalid(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(path + ": " + std::string(what));
}

}  // namespace

struct JsonSchema::Node {
  // A boolean schema: true accepts everything, false nothing (`always` holds which).
  std::optional<bool> always;

  unsigned type_mask = 0;  // 0: no "type" keyword
  std::optional<json::array> enum_values;
  std::optional<json::value> const_value;

  // Objects.
  std::vector<std::pair<std::string, std::shared_ptr<const Node>>> properties;
  std::vector<std::string> required;
  std::shared_ptr<const Node> additional;  // nullptr: any additional property allowed

  // Arrays.
  std::shared_ptr<const Node> items;
  std::optional<uint64_t> min_items, max_items;

  // Numbers (each holds a JSON number).
  std::optional<json::value> minimum, maximum, exclusive_minimum, exclusive_maximum;

  // Strings.
  std::optional<uint64_t> min_length, max_length;
  std::shared_ptr<const re2::RE2> pattern;

  const Node* FindProperty(std::string_view name) const {
    for (const auto& [key, node] : properties) {
      if (key == name) return node.get();
    }
    return nullptr;
  }
};

namespace {

using Node = JsonSchema::Node;

absl::StatusOr<uint64_t> NonNegativeInteger(const json::value& v, const std::string& path) {
  if (!IsIntegral(v) || AsLongDouble(v) < 0) return Invalid(path, "must be a non-negative integer");
  if (v.is_int64()) return static_cast<uint64_t>(v.get_int64());
  if (v.is_uint64()) return v.get_uint64();
  long double d = AsLongDouble(v);
  if (d >= 18446744073709551616.0L) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(d);
}

absl::StatusOr<std::shared_ptr<const Node>> CompileNode(const json::value& v,
                                                        const std::string& path, int depth) {
  if (depth > JsonSchema::kMaxDepth) {
    return Invalid(path, "schemas nested deeper than " + std::to_string(JsonSchema::kMaxDepth) +
                             " levels are not supported");
  }
  auto node = std::make_shared<Node>();
  if (v.is_bool()) {
    node->always = v.get_bool();
    return std::shared_ptr<const Node>(std::move(node));
  }
  const json::object* obj = v.if_object();
  if (obj == nullptr) return Invalid(path, "must be an object or a boolean");

  for (const auto& member : *obj) {
    std::string_view key = member.key();
    const json::value& kv = member.value();
    std::string kpath = SchemaField(path, key);
    if (key == "$schema") {
      if (!kv.is_string()) return Invalid(kpath, "must be a string");
    } else if (key == "title" || key == "description" || key == "$comment") {
      if (!kv.is_string()) return Invalid(kpath, "must be a string");
    } else if (key == "default") {
      // An annotation: any value, never applied.
    } else if (key == "examples") {
      if (!kv.is_array()) return Invalid(kpath, "must be an array");
    } else if (key == "type") {
      auto add = [&](const json::value& t, const std::string& tpath) -> absl::Status {
        const json::string* s = t.if_string();
        std::optional<TypeBit> bit;
        if (s != nullptr) bit = ParseTypeName(*s);
        if (!bit) {
          return Invalid(tpath,
                         "must be one of null, boolean, object, array, number, integer, string");
        }
        if (node->type_mask & *bit) return Invalid(tpath, "lists " + Quoted(*s) + " twice");
        node->type_mask |= *bit;
        return absl::OkStatus();
      };
      if (const json::array* list = kv.if_array()) {
        if (list->empty()) return Invalid(kpath, "must not be an empty array");
        for (size_t i = 0; i < list->size(); ++i) {
          EV_RETURN_IF_ERROR(add((*list)[i], kpath + "[" + std::to_string(i) + "]"));
        }
      } else {
        EV_RETURN_IF_ERROR(add(kv, kpath));
      }
    } else if (key == "enum") {
      const json::array* list = kv.if_array();
      if (list == nullptr) return Invalid(kpath, "must be an array");
      node->enum_values = *list;
    } else if (key == "const") {
      node->const_value = kv;
    } else if (key == "properties") {
      const json::object* props = kv.if_object();
      if (props == nullptr) return Invalid(kpath, "must be an object");
      for (const auto& p : *props) {
        EV_ASSIGN_OR_RETURN(std::shared_ptr<const Node> child,
                            CompileNode(p.value(), SchemaField(kpath, p.key()), depth + 1));
        node->properties.emplace_back(std::string(p.key()), std::move(child));
      }
    } else if (key == "required") {
      const json::array* list = kv.if_array();
      if (list == nullptr) return Invalid(kpath, "must be an array of strings");
      for (size_t i = 0; i < list->size(); ++i) {
        const json::string* s = (*list)[i].if_string();
        std::string ipath = kpath + "[" + std::to_string(i) + "]";
        if (s == nullptr) return Invalid(ipath, "must be a string");
        for (const std::string& seen : node->required) {
          if (seen == std::string_view(*s)) return Invalid(ipath, "lists " + Quoted(*s) + " twice");
        }
        node->required.emplace_back(s->data(), s->size());
      }
    } else if (key == "additionalProperties") {
      EV_ASSIGN_OR_RETURN(node->additional, CompileNode(kv, kpath, depth + 1));
    } else if (key == "items") {
      if (kv.is_array()) {
        return Invalid(kpath,
                       "must be a schema (the array form is prefixItems, which is not supported)");
      }
      EV_ASSIGN_OR_RETURN(node->items, CompileNode(kv, kpath, depth + 1));
    } else if (key == "minItems") {
      EV_ASSIGN_OR_RETURN(node->min_items, NonNegativeInteger(kv, kpath));
    } else if (key == "maxItems") {
      EV_ASSIGN_OR_RETURN(node->max_items, NonNegativeInteger(kv, kpath));
    } else if (key == "minLength") {
      EV_ASSIGN_OR_RETURN(node->min_length, NonNegativeInteger(kv, kpath));
    } else if (key == "maxLength") {
      EV_ASSIGN_OR_RETURN(node->max_length, NonNegativeInteger(kv, kpath));
    } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" ||
               key == "exclusiveMaximum") {
      if (!kv.is_number()) return Invalid(kpath, "must be a number");
      if (key == "minimum") node->minimum = kv;
      if (key == "maximum") node->maximum = kv;
      if (key == "exclusiveMinimum") node->exclusive_minimum = kv;
      if (key == "exclusiveMaximum") node->exclusive_maximum = kv;
    } else if (key == "pattern") {
      const json::string* s = kv.if_string();
      if (s == nullptr) return Invalid(kpath, "must be a string");
      RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_shared<const re2::RE2>(re2::StringPiece(s->data(), s->size()), options);
      if (!re->ok()) {
        return Invalid(kpath, "invalid regular expression " + Quoted(*s) + ": " + re->error());
      }
      node->pattern = std::move(re);
    } else {
      return Invalid(path, "unsupported keyword " + Quoted(key));
    }
  }
  return std::shared_ptr<const Node>(std::move(node));
}

absl::Status Fail(const std::string& pointer, std::string_view what) {
  if (pointer.empty()) return absl::InvalidArgumentError(std::string(what));
  return absl::InvalidArgumentError(pointer + ": " + std::string(what));
}

absl::Status ValidateNode(const Node& node, const json::value& v, const std::string& pointer) {
  if (node.always.has_value()) {
    if (*node.always) return absl::OkStatus();
    return Fail(pointer, "no value is allowed here (the schema is false)");
  }
  if (node.type_mask != 0 && !TypeMatches(node.type_mask, v)) {
    return Fail(pointer, "expected " + TypeMaskNames(node.type_mask) + ", got " +
                             std::string(InstanceTypeName(v)));
  }
  if (node.enum_values.has_value()) {
    bool found = false;
    for (const json::value& e : *node.enum_values) {
      if (JsonEquals(e, v)) {
        found = true;
        break;
      }
    }
    if (!found) {
      std::string allowed = json::serialize(*node.enum_values);
      if (allowed.size() > 120) allowed = allowed.substr(0, 117) + "...";
      return Fail(pointer, Describe(v) + " is not one of the allowed values " + allowed);
    }
  }
  if (node.const_value.has_value() && !JsonEquals(*node.const_value, v)) {
    return Fail(pointer, Describe(v) + " is not the required value " + Describe(*node.const_value));
  }

  if (v.is_number()) {
    long double x = AsLongDouble(v);
    if (node.minimum && x < AsLongDouble(*node.minimum)) {
      return Fail(pointer,
                  FormatNumber(v) + " is less than the minimum " + FormatNumber(*node.minimum));
    }
    if (node.maximum && x > AsLongDouble(*node.maximum)) {
      return Fail(pointer,
                  FormatNumber(v) + " is greater than the maximum " + FormatNumber(*node.maximum));
    }
    if (node.exclusive_minimum && !(x > AsLongDouble(*node.exclusive_minimum))) {
      return Fail(pointer, FormatNumber(v) + " is not greater than the exclusive minimum " +
                               FormatNumber(*node.exclusive_minimum));
    }
    if (node.exclusive_maximum && !(x < AsLongDouble(*node.exclusive_maximum))) {
      return Fail(pointer, FormatNumber(v) + " is not less than the exclusive maximum " +
                               FormatNumber(*node.exclusive_maximum));
    }
  } else if (const json::string* s = v.if_string()) {
    if (node.min_length || node.max_length) {
      uint64_t length = CodePointLength(*s);
      if (node.min_length && length < *node.min_length) {
        return Fail(pointer, "is " + std::to_string(length) +
                                 " characters long, shorter than the minimum " +
                                 std::to_string(*node.min_length));
      }
      if (node.max_length && length > *node.max_length) {
        return Fail(pointer, "is " + std::to_string(length) +
                                 " characters long, longer than the maximum " +
                                 std::to_string(*node.max_length));
      }
    }
    if (node.pattern &&
        !re2::RE2::PartialMatch(re2::StringPiece(s->data(), s->size()), *node.pattern)) {
      return Fail(pointer,
                  Describe(v) + " does not match the pattern " + Quoted(node.pattern->pattern()));
    }
  } else if (const json::array* a = v.if_array()) {
    if (node.min_items && a->size() < *node.min_items) {
      return Fail(pointer, "has " + std::to_string(a->size()) + " items, fewer than the minimum " +
                               std::to_string(*node.min_items));
    }
    if (node.max_items && a->size() > *node.max_items) {
      return Fail(pointer, "has " + std::to_string(a->size()) + " items, more than the maximum " +
                               std::to_string(*node.max_items));
    }
    if (node.items) {
      for (size_t i = 0; i < a->size(); ++i) {
        EV_RETURN_IF_ERROR(ValidateNode(*node.items, (*a)[i], pointer + "/" + std::to_string(i)));
      }
    }
  } else if (const json::object* o = v.if_object()) {
    for (const std::string& name : node.required) {
      if (!o->contains(name)) return Fail(pointer, "missing required property " + Quoted(name));
    }
    for (const auto& member : *o) {
      std::string child = pointer + "/" + PointerToken(member.key());
      if (const Node* prop = node.FindProperty(member.key())) {
        EV_RETURN_IF_ERROR(ValidateNode(*prop, member.value(), child));
      } else if (node.additional) {
        if (node.additional->always == false) {
          return Fail(child, "property " + Quoted(member.key()) +
                                 " is not allowed (additionalProperties is false)");
        }
        EV_RETURN_IF_ERROR(ValidateNode(*node.additional, member.value(), child));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsIntegral(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (!v.is_double()) return false;
  double d = v.get_double();
  return std::isfinite(d) && std::trunc(d) == d;
}

size_t CodePointLength(std::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool JsonEquals(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return AsLongDouble(a) == AsLongDouble(b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::kind::null:
      return true;
    case json::kind::bool_:
      return a.get_bool() == b.get_bool();
    case json::kind::string:
      return a.get_string() == b.get_string();
    case json::kind::array: {
      const json::array& x = a.get_array();
      const json::array& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!JsonEquals(x[i], y[i])) return false;
      }
      return true;
    }
    case json::kind::object: {
      const json::object& x = a.get_object();
      const json::object& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& member : x) {
        const json::value* other = y.if_contains(member.key());
        if (other == nullptr || !JsonEquals(member.value(), *other)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

absl::StatusOr<JsonSchema> JsonSchema::Compile(const json::value& schema) {
  EV_ASSIGN_OR_RETURN(std::shared_ptr<const Node> root, CompileNode(schema, "schema", 1));
  return JsonSchema(std::move(root));
}

absl::Status JsonSchema::Validate(const json::value& instance) const {
  return ValidateNode(*root_, instance, "");
}

}  // namespace edgevault::workspace
