#include "src/crypto/cbor.h"

#include <limits>
#include <set>

#include "src/base/check.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::crypto::cbor {
namespace {

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

absl::Status Malformed(std::string_view what, size_t offset) {
  return absl::InvalidArgumentError(base::StrCat("CBOR: ", what, " at offset ", offset));
}

// Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF), as RFC 8949 §3.1 asks of
// text strings.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  size_t position() const { return pos_; }

  absl::StatusOr<Value> Item(int depth) {
    const size_t start = pos_;
    if (pos_ >= data_.size()) return Malformed("unexpected end of input", pos_);
    const auto initial = static_cast<uint8_t>(data_[pos_++]);
    const int major = initial >> 5;
    const int info = initial & 0x1F;

    if (major == 7) return Simple(info, start);
    if (info == 31) return Malformed("indefinite-length items are not supported", start);
    if (major == 6) return Malformed("tags are not supported", start);
    EV_ASSIGN_OR_RETURN(uint64_t arg, Argument(info, start));

    switch (major) {
      case 0:
        if (arg > kInt64Max) return Malformed("unsigned integer exceeds int64", start);
        return Value::Integer(static_cast<int64_t>(arg));
      case 1:
        if (arg > kInt64Max) return Malformed("negative integer below int64", start);
        return Value::Integer(-1 - static_cast<int64_t>(arg));
      case 2:
      case 3: {
        if (arg > Remaining()) return Malformed("string length exceeds input", start);
        std::string s(data_.substr(pos_, static_cast<size_t>(arg)));
        pos_ += static_cast<size_t>(arg);
        if (major == 2) return Value::Bytes(std::move(s));
        if (!IsValidUtf8(s)) return Malformed("text string is not valid UTF-8", start);
        return Value::Text(std::move(s));
      }
      case 4: {
        if (depth > kMaxDepth) return Malformed("nesting too deep", start);
        // Every element takes at least one byte, so a larger count cannot be satisfied.
        if (arg > Remaining()) return Malformed("array length exceeds input", start);
        Value::Array items;
        items.reserve(static_cast<size_t>(arg));
        for (uint64_t i = 0; i < arg; ++i) {
          EV_ASSIGN_OR_RETURN(Value v, Item(depth + 1));
          items.push_back(std::move(v));
        }
        return Value::FromArray(std::move(items));
      }
      case 5: {
        if (depth > kMaxDepth) return Malformed("nesting too deep", start);
        if (arg > Remaining() / 2) return Malformed("map length exceeds input", start);
        Value::Map entries;
        entries.reserve(static_cast<size_t>(arg));
        std::set<int64_t> int_keys;
        std::set<std::string> text_keys;
        for (uint64_t i = 0; i < arg; ++i) {
          const size_t key_at = pos_;
          EV_ASSIGN_OR_RETURN(Value key, Item(depth + 1));
          bool fresh = false;
          if (key.is_integer()) {
            fresh = int_keys.insert(key.integer()).second;
          } else if (key.is_text()) {
            fresh = text_keys.insert(key.text()).second;
          } else {
            return Malformed("map key is neither an integer nor text", key_at);
          }
          if (!fresh) return Malformed("duplicate map key", key_at);
          EV_ASSIGN_OR_RETURN(Value v, Item(depth + 1));
          entries.emplace_back(std::move(key), std::move(v));
        }
        return Value::FromMap(std::move(entries));
      }
    }
    return Malformed("unknown major type", start);  // unreachable: major is 3 bits
  }

 private:
  size_t Remaining() const { return data_.size() - pos_; }

  absl::StatusOr<uint64_t> Argument(int info, size_t start) {
    if (info < 24) return static_cast<uint64_t>(info);
    size_t width = 0;
    switch (info) {
      case 24:
        width = 1;
        break;
      case 25:
        width = 2;
        break;
      case 26:
        width = 4;
        break;
      case 27:
        width = 8;
        break;
      default:
        return Malformed("reserved additional information value", start);
    }
    if (Remaining() < width) return Malformed("truncated length or value", start);
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += width;
    return v;
  }

  absl::StatusOr<Value> Simple(int info, size_t start) {
    switch (info) {
      case 20:
        return Value::Bool(false);
      case 21:
        return Value::Bool(true);
      case 22:
        return Value();
      case 25:
      case 26:
      case 27:
        return Malformed("floating-point values are not supported", start);
      case 31:
        return Malformed("unexpected break", start);
      default:
        return Malformed("unsupported simple value", start);
    }
  }

  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

Value::Type Value::type() const {
  switch (data_.index()) {
    case 0:
      return Type::kNull;
    case 1:
      return Type::kInteger;
    case 2:
      return Type::kBool;
    case 3:
      return std::get<Str>(data_).type;
    case 4:
      return Type::kArray;
    default:
      return Type::kMap;
  }
}

int64_t Value::integer() const {
  EV_CHECK(is_integer());
  return std::get<int64_t>(data_);
}

const std::string& Value::bytes() const {
  EV_CHECK(is_bytes());
  return std::get<Str>(data_).s;
}

const std::string& Value::text() const {
  EV_CHECK(is_text());
  return std::get<Str>(data_).s;
}

const Value::Array& Value::array() const {
  EV_CHECK(is_array());
  return std::get<Array>(data_);
}

const Value::Map& Value::map() const {
  EV_CHECK(is_map());
  return std::get<Map>(data_);
}

bool Value::boolean() const {
  EV_CHECK(is_bool());
  return std::get<bool>(data_);
}

const Value* Value::Find(int64_t key) const {
  if (!is_map()) return nullptr;
  for (const auto& [k, v] : map()) {
    if (k.is_integer() && k.integer() == key) return &v;
  }
  return nullptr;
}

const Value* Value::Find(std::string_view key) const {
  if (!is_map()) return nullptr;
  for (const auto& [k, v] : map()) {
    if (k.is_text() && k.text() == key) return &v;
  }
  return nullptr;
}

absl::StatusOr<Value> DecodePrefix(std::string_view data, size_t* consumed) {
  Decoder decoder(data);
  EV_ASSIGN_OR_RETURN(Value v, decoder.Item(1));
  *consumed = decoder.position();
  return v;
}

absl::StatusOr<Value> Decode(std::string_view data) {
  size_t consumed = 0;
  EV_ASSIGN_OR_RETURN(Value v, DecodePrefix(data, &consumed));
  if (consumed != data.size()) {
    return Malformed(base::StrCat(data.size() - consumed, " trailing bytes"), consumed);
  }
  return v;
}

}  // namespace edgevault::crypto::cbor
