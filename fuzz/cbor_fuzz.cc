// Fuzzes the strict CBOR decoder behind WebAuthn (src/crypto/cbor.h).
// Input: raw bytes, decoded as one item and as a prefix.
// Properties:
//   - errors are InvalidArgument; nothing reads past the input (ASan) or throws;
//   - Decode succeeds exactly when DecodePrefix succeeds and consumes everything;
//   - DecodePrefix's `consumed` is within the input, and that prefix Decodes alone;
//   - the decoded value respects the documented limits (depth, unique map keys that are
//     integers or text);
//   - re-encoding the value (shortest form, here) decodes back to an equal value.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "src/crypto/cbor.h"

namespace edgevault::fuzz {
namespace {

using crypto::cbor::Value;

void Head(std::string* out, int major, uint64_t arg) {
  const auto m = static_cast<uint8_t>(major << 5);
  if (arg < 24) {
    out->push_back(static_cast<char>(m | arg));
    return;
  }
  int bytes = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffULL ? 4 : 8;
  out->push_back(static_cast<char>(m | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27)));
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>(arg >> (8 * i)));
}

void Encode(const Value& v, std::string* out) {
  switch (v.type()) {
    case Value::Type::kInteger: {
      int64_t i = v.integer();
      if (i >= 0) {
        Head(out, 0, static_cast<uint64_t>(i));
      } else {
        Head(out, 1, static_cast<uint64_t>(-(i + 1)));
      }
      break;
    }
    case Value::Type::kBytes: Head(out, 2, v.bytes().size()); *out += v.bytes(); break;
    case Value::Type::kText: Head(out, 3, v.text().size()); *out += v.text(); break;
    case Value::Type::kArray:
      Head(out, 4, v.array().size());
      for (const Value& e : v.array()) Encode(e, out);
      break;
    case Value::Type::kMap:
      Head(out, 5, v.map().size());
      for (const auto& [k, e] : v.map()) {
        Encode(k, out);
        Encode(e, out);
      }
      break;
    case Value::Type::kBool: out->push_back(v.boolean() ? '\xf5' : '\xf4'); break;
    case Value::Type::kNull: out->push_back('\xf6'); break;
  }
}

bool Equal(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kInteger: return a.integer() == b.integer();
    case Value::Type::kBytes: return a.bytes() == b.bytes();
    case Value::Type::kText: return a.text() == b.text();
    case Value::Type::kBool: return a.boolean() == b.boolean();
    case Value::Type::kNull: return true;
    case Value::Type::kArray:
      if (a.array().size() != b.array().size()) return false;
      for (size_t i = 0; i < a.array().size(); ++i) {
        if (!Equal(a.array()[i], b.array()[i])) return false;
      }
      return true;
    case Value::Type::kMap:
      if (a.map().size() != b.map().size()) return false;
      for (size_t i = 0; i < a.map().size(); ++i) {
        if (!Equal(a.map()[i].first, b.map()[i].first) ||
            !Equal(a.map()[i].second, b.map()[i].second)) {
          return false;
        }
      }
      return true;
  }
  return false;
}

// The documented limits hold; `depth` of the top-level item is 1, and the limit is on
// arrays and maps (a scalar inside the deepest array is fine).
void CheckShape(const Value& v, int depth) {
  if (v.is_array() || v.is_map()) {
    FUZZ_CHECK(depth <= crypto::cbor::kMaxDepth, "an array or map nested deeper than kMaxDepth");
  }
  if (v.is_array()) {
    for (const Value& e : v.array()) CheckShape(e, depth + 1);
  } else if (v.is_map()) {
    const auto& m = v.map();
    for (size_t i = 0; i < m.size(); ++i) {
      FUZZ_CHECK(m[i].first.is_integer() || m[i].first.is_text(), "map key is not int/text");
      for (size_t j = 0; j < i; ++j) FUZZ_CHECK(!Equal(m[i].first, m[j].first), "duplicate map key");
      // Find returns the first (only) entry with that key.
      const Value* found = m[i].first.is_integer() ? v.Find(m[i].first.integer())
                                                   : v.Find(std::string_view(m[i].first.text()));
      FUZZ_CHECK(found == &m[i].second, "Find does not return the entry");
      CheckShape(m[i].second, depth + 1);
    }
  }
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault::fuzz;
  namespace cbor = edgevault::crypto::cbor;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<cbor::Value> whole = cbor::Decode(in);
  size_t consumed = 0;
  absl::StatusOr<cbor::Value> prefix = cbor::DecodePrefix(in, &consumed);
  if (!whole.ok()) {
    FUZZ_CHECK(whole.status().code() == absl::StatusCode::kInvalidArgument, whole.status().ToString());
  }
  if (!prefix.ok()) {
    FUZZ_CHECK(prefix.status().code() == absl::StatusCode::kInvalidArgument, prefix.status().ToString());
    FUZZ_CHECK(!whole.ok(), "Decode accepts what DecodePrefix refuses");
    return 0;
  }
  FUZZ_CHECK(consumed >= 1 && consumed <= size, "consumed " + std::to_string(consumed));
  FUZZ_CHECK(whole.ok() == (consumed == size), "Decode and DecodePrefix disagree on trailing bytes");
  absl::StatusOr<cbor::Value> alone = cbor::Decode(in.substr(0, consumed));
  FUZZ_CHECK(alone.ok() && Equal(*alone, *prefix), "the consumed prefix does not decode alone");

  CheckShape(*prefix, 1);
  std::string encoded;
  Encode(*prefix, &encoded);
  absl::StatusOr<cbor::Value> back = cbor::Decode(encoded);
  FUZZ_CHECK(back.ok(), "re-encoded value does not decode: " + back.status().ToString());
  FUZZ_CHECK(Equal(*back, *prefix), "re-encoded value decodes differently");
  FUZZ_CHECK(encoded.size() <= consumed, "shortest-form encoding is longer than the input");
  return 0;
}
