#include "src/eval/context.h"

#include "absl/status/status.h"

namespace edgevault::eval {

absl::StatusOr<AttributeRef> AttributeRef::Parse(std::string_view text) {
  AttributeRef ref;
  ref.text_ = std::string(text);
  if (text.empty()) return absl::InvalidArgumentError("attribute is empty");
  if (text[0] == '/') {
    // JSON-pointer-like: "/a/b.c" -> ["a", "b.c"]; "~1" -> '/', "~0" -> '~'.
    std::string_view rest = text.substr(1);
    for (;;) {
      size_t slash = rest.find('/');
      std::string_view raw = rest.substr(0, slash);
      std::string component;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '~') {
          component.push_back(raw[i]);
          continue;
        }
        if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
          component.push_back(raw[i + 1] == '0' ? '~' : '/');
          ++i;
          continue;
        }
        return absl::InvalidArgumentError("attribute \"" + ref.text_ +
                                          "\": '~' must be followed by 0 or 1");
      }
      ref.path_.push_back(std::move(component));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    return ref;
  }
  for (;;) {
    size_t dot = text.find('.');
    std::string_view component = text.substr(0, dot);
    if (component.empty()) {
      return absl::InvalidArgumentError("attribute \"" + ref.text_ +
                                        "\" has an empty path component");
    }
    ref.path_.emplace_back(component);
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return ref;
}

absl::StatusOr<Context> Context::FromJson(const boost::json::value& json) {
  const boost::json::object* obj = json.if_object();
  if (obj == nullptr) return absl::InvalidArgumentError("context must be a JSON object");
  if (const boost::json::value* key = obj->if_contains("key")) {
    if (!key->is_string()) return absl::InvalidArgumentError("context \"key\" must be a string");
  }
  return Context(*obj);
}

std::optional<std::string_view> Context::Key() const {
  const boost::json::value* key = attributes_.if_contains("key");
  if (key == nullptr) return std::nullopt;
  const boost::json::string* s = key->if_string();
  if (s == nullptr || s->empty()) return std::nullopt;
  return std::string_view(*s);
}

const boost::json::value* Context::Find(const AttributeRef& ref) const {
  const boost::json::object* obj = &attributes_;
  const boost::json::value* v = nullptr;
  for (const std::string& component : ref.path()) {
    if (obj == nullptr) return nullptr;
    v = obj->if_contains(component);
    if (v == nullptr) return nullptr;
    obj = v->if_object();
  }
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

}  // namespace edgevault::eval
