#pragma once
// An evaluation context (the JSON object of attributes a flag is evaluated against;
// "key" is the targeting key) and attribute references (paths into it).
// Both are immutable after construction and safe to read from many threads.
//
//   EV_ASSIGN_OR_RETURN(AttributeRef city, AttributeRef::Parse("address.city"));
//   Context ctx(boost::json::object{{"key", "u1"}, {"address", {{"city", "Oslo"}}}});
//   const boost::json::value* v = ctx.Find(city);   // "Oslo"
//
// Attribute syntax (docs/design/flags.md §Attributes):
//   "plan"              top-level attribute "plan"
//   "address.city"      nested: attribute "address", then its member "city"
//   "/address.city/zip" JSON-pointer-like (leading '/'): components split on '/', so a
//                       component may contain '.'; "~1" stands for '/', "~0" for '~'.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"

namespace edgevault::eval {

class AttributeRef {
 public:
  AttributeRef() = default;

  // InvalidArgument: empty text, an empty component in the dotted form ("a..b", ".a"),
  // or a '~' not followed by '0' or '1' in the pointer form.
  static absl::StatusOr<AttributeRef> Parse(std::string_view text);

  const std::string& text() const { return text_; }
  const std::vector<std::string>& path() const { return path_; }
  // True for the targeting key itself ("key" or "/key").
  bool IsKey() const { return path_.size() == 1 && path_[0] == "key"; }

 private:
  std::string text_;
  std::vector<std::string> path_;
};

class Context {
 public:
  Context() = default;
  explicit Context(boost::json::object attributes) : attributes_(std::move(attributes)) {}

  // InvalidArgument when `json` is not an object, or has a "key" that is not a string.
  static absl::StatusOr<Context> FromJson(const boost::json::value& json);

  // The targeting key: "key" when it is a non-empty string, otherwise nullopt.
  std::optional<std::string_view> Key() const;

  // The value at `ref`, or nullptr when a component is missing, an intermediate value is
  // not an object, or the value is JSON null (null counts as missing).
  const boost::json::value* Find(const AttributeRef& ref) const;

  const boost::json::object& attributes() const { return attributes_; }

 private:
  boost::json::object attributes_;
};

}  // namespace edgevault::eval
