#pragma once
// A small, strict, bounded CBOR decoder (RFC 8949) for WebAuthn attestation objects, COSE keys
// and authenticator extensions. Supports integers, definite-length byte/text strings, arrays,
// maps and the simple values false/true/null; rejects floats, tags, indefinite lengths, other
// simple values, duplicate map keys and map keys that are not integers or text. Never reads
// past the input. Pure functions and immutable values; thread-safe.
//
//   size_t used = 0;
//   EV_ASSIGN_OR_RETURN(cbor::Value key, cbor::DecodePrefix(auth_data.substr(55), &used));
//   const cbor::Value* alg = key.Find(3);
//   if (alg == nullptr || !alg->is_integer()) return absl::InvalidArgumentError("no alg");

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace edgevault::crypto::cbor {

// Nesting limit for arrays and maps (the top-level item is depth 1). COSE keys and attestation
// objects need 3.
inline constexpr int kMaxDepth = 16;

class Value {
 public:
  enum class Type { kInteger, kBytes, kText, kArray, kMap, kBool, kNull };
  using Array = std::vector<Value>;
  // In encoded order; keys are integers or text and are unique.
  using Map = std::vector<std::pair<Value, Value>>;

  Value() : data_(nullptr) {}  // null
  static Value Integer(int64_t v) { return Value(v); }
  static Value Bytes(std::string b) { return Value(Type::kBytes, std::move(b)); }
  static Value Text(std::string t) { return Value(Type::kText, std::move(t)); }
  static Value FromArray(Array a) { return Value(std::move(a)); }
  static Value FromMap(Map m) { return Value(std::move(m)); }
  static Value Bool(bool b) { return Value(b); }

  Type type() const;
  bool is_integer() const { return type() == Type::kInteger; }
  bool is_bytes() const { return type() == Type::kBytes; }
  bool is_text() const { return type() == Type::kText; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_map() const { return type() == Type::kMap; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_null() const { return type() == Type::kNull; }

  // Accessors; each requires the matching type (checked: a mismatch aborts).
  int64_t integer() const;
  const std::string& bytes() const;
  const std::string& text() const;
  const Array& array() const;
  const Map& map() const;
  bool boolean() const;

  // For maps: the value under an integer or text key, or nullptr (also for non-maps).
  const Value* Find(int64_t key) const;
  const Value* Find(std::string_view key) const;

 private:
  struct Str {
    Type type;
    std::string s;
  };
  explicit Value(int64_t v) : data_(v) {}
  explicit Value(bool b) : data_(b) {}
  Value(Type t, std::string s) : data_(Str{t, std::move(s)}) {}
  explicit Value(Array a) : data_(std::move(a)) {}
  explicit Value(Map m) : data_(std::move(m)) {}

  std::variant<std::nullptr_t, int64_t, bool, Str, Array, Map> data_;
};

// Decodes exactly one item that must span all of `data`.
// InvalidArgument: malformed or truncated input, trailing bytes, unsupported feature (float,
// tag, indefinite length, other simple values), an integer outside int64, a declared length
// larger than the remaining input, nesting deeper than kMaxDepth, a duplicate or non-integer,
// non-text map key.
absl::StatusOr<Value> Decode(std::string_view data);

// Decodes the first item of `data` and stores how many bytes it occupied in `*consumed`;
// bytes after it are left alone. Same errors as Decode, except trailing bytes are allowed.
absl::StatusOr<Value> DecodePrefix(std::string_view data, size_t* consumed);

}  // namespace edgevault::crypto::cbor
