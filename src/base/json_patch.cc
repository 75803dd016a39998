#include "src/base/json_patch.h"

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/base/status.h"

namespace edgevault::base {
namespace json = boost::json;

namespace {

// An array index token: "0" or digits without a leading zero. nullopt otherwise (and for "-").
std::optional<size_t> ArrayIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  size_t n = 0;
  for (char ch : token) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(ch - '0');
  }
  return n;
}

std::optional<double> AsNumber(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

// The value at `tokens`, or nullptr when the path does not exist.
json::value* Find(json::value& doc, const std::vector<std::string>& tokens, size_t count) {
  json::value* at = &doc;
  for (size_t i = 0; i < count; ++i) {
    const std::string& t = tokens[i];
    if (json::object* o = at->if_object()) {
      auto it = o->find(t);
      if (it == o->end()) return nullptr;
      at = &it->value();
    } else if (json::array* a = at->if_array()) {
      std::optional<size_t> idx = ArrayIndex(t);
      if (!idx || *idx >= a->size()) return nullptr;
      at = &(*a)[*idx];
    } else {
      return nullptr;
    }
  }
  return at;
}

class Applier {
 public:
  Applier(json::value doc, size_t index, std::string_view op) : doc_(std::move(doc)), index_(index), op_(op) {}

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("op ", index_, " (", op_, "): ", std::string(what)));
  }

  absl::StatusOr<std::vector<std::string>> Pointer(const json::object& op, std::string_view member) const {
    const json::value* v = op.if_contains(member);
    if (!v || !v->is_string()) return Error(absl::StrCat("'", std::string(member), "' must be a JSON Pointer string"));
    absl::StatusOr<std::vector<std::string>> p = ParseJsonPointer(std::string_view(v->get_string()));
    if (!p.ok()) return Error(std::string(p.status().message()));
    return p;
  }

  absl::StatusOr<json::value> Get(const std::vector<std::string>& path) {
    json::value* v = Find(doc_, path, path.size());
    if (!v) return Error(absl::StrCat("path '", JsonPointer(path), "' does not exist"));
    return *v;
  }

  absl::Status Add(const std::vector<std::string>& path, json::value value) {
    if (path.empty()) {
      doc_ = std::move(value);
      return absl::OkStatus();
    }
    json::value* parent = Find(doc_, path, path.size() - 1);
    if (!parent) return Error(absl::StrCat("parent of '", JsonPointer(path), "' does not exist"));
    const std::string& last = path.back();
    if (json::object* o = parent->if_object()) {
      (*o)[last] = std::move(value);
      return absl::OkStatus();
    }
    if (json::array* a = parent->if_array()) {
      if (last == "-") {
        a->push_back(std::move(value));
        return absl::OkStatus();
      }
      std::optional<size_t> idx = ArrayIndex(last);
      if (!idx || *idx > a->size()) {
        return Error(absl::StrCat("'", JsonPointer(path), "': array index out of range or malformed"));
      }
      a->insert(a->begin() + static_cast<std::ptrdiff_t>(*idx), std::move(value));
      return absl::OkStatus();
    }
    return Error(absl::StrCat("parent of '", JsonPointer(path), "' is neither an object nor an array"));
  }

  absl::StatusOr<json::value> Remove(const std::vector<std::string>& path) {
    if (path.empty()) return Error("cannot remove the whole document");
    json::value* parent = Find(doc_, path, path.size() - 1);
    const std::string& last = path.back();
    if (parent) {
      if (json::object* o = parent->if_object()) {
        auto it = o->find(last);
        if (it != o->end()) {
          json::value old = std::move(it->value());
          o->erase(it);
          return old;
        }
      } else if (json::array* a = parent->if_array()) {
        std::optional<size_t> idx = ArrayIndex(last);
        if (idx && *idx < a->size()) {
          json::value old = std::move((*a)[*idx]);
          a->erase(a->begin() + static_cast<std::ptrdiff_t>(*idx));
          return old;
        }
      }
    }
    return Error(absl::StrCat("path '", JsonPointer(path), "' does not exist"));
  }

  absl::Status Apply(const json::object& op) {
    EV_ASSIGN_OR_RETURN(std::vector<std::string> path, Pointer(op, "path"));
    const json::value* value = op.if_contains("value");
    if (op_ == "add" || op_ == "replace" || op_ == "test") {
      if (!value) return Error("'value' is required");
    }
    if (op_ == "add") return Add(path, *value);
    if (op_ == "remove") return Remove(path).status();
    if (op_ == "replace") {
      if (path.empty()) {
        doc_ = *value;
        return absl::OkStatus();
      }
      json::value* at = Find(doc_, path, path.size());
      if (!at) return Error(absl::StrCat("path '", JsonPointer(path), "' does not exist"));
      *at = *value;
      return absl::OkStatus();
    }
    if (op_ == "test") {
      json::value* at = Find(doc_, path, path.size());
      if (!at) return Error(absl::StrCat("path '", JsonPointer(path), "' does not exist"));
      if (!JsonEqual(*at, *value)) {
        return absl::FailedPreconditionError(absl::StrCat("op ", index_, " (test): the value at '",
                                                          JsonPointer(path), "' is ", json::serialize(*at),
                                                          ", not ", json::serialize(*value)));
      }
      return absl::OkStatus();
    }
    if (op_ == "move" || op_ == "copy") {
      EV_ASSIGN_OR_RETURN(std::vector<std::string> from, Pointer(op, "from"));
      if (op_ == "copy") {
        EV_ASSIGN_OR_RETURN(json::value v, Get(from));
        return Add(path, std::move(v));
      }
      if (from == path) {
        return Get(from).status();  // a no-op, but 'from' must exist
      }
      if (from.size() < path.size() && std::equal(from.begin(), from.end(), path.begin())) {
        return Error("'from' must not be a parent of 'path' (cannot move a value into itself)");
      }
      EV_ASSIGN_OR_RETURN(json::value v, Remove(from));
      return Add(path, std::move(v));
    }
    return Error("unknown op; expected add, remove, replace, move, copy or test");
  }

  json::value Take() && { return std::move(doc_); }

 private:
  json::value doc_;
  size_t index_;
  std::string op_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseJsonPointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON Pointer '", std::string(pointer), "' must be empty or start with '/'"));
  }
  std::string cur;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    char ch = pointer[i];
    if (ch == '~') {
      char next = i + 1 < pointer.size() ? pointer[i + 1] : '\0';
      if (next != '0' && next != '1') {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON Pointer '", std::string(pointer), "': '~' must be followed by '0' or '1'"));
      }
      cur.push_back(next == '0' ? '~' : '/');
      ++i;
    } else {
      cur.push_back(ch);
    }
  }
  return tokens;
}

std::string JsonPointer(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) {
    out.push_back('/');
    for (char ch : t) {
      if (ch == '~') {
        out += "~0";
      } else if (ch == '/') {
        out += "~1";
      } else {
        out.push_back(ch);
      }
    }
  }
  return out;
}

bool JsonEqual(const json::value& a, const json::value& b) {
  std::optional<double> na = AsNumber(a), nb = AsNumber(b);
  if (na || nb) {
    if (!na || !nb) return false;
    // Integers of the same kind compare exactly (doubles lose precision above 2^53).
    if (a.kind() == b.kind() && !a.is_double()) return a == b;
    return *na == *nb;
  }
  if (a.kind() != b.kind()) return false;
  if (const json::object* oa = a.if_object()) {
    const json::object& ob = b.get_object();
    if (oa->size() != ob.size()) return false;
    for (const auto& kv : *oa) {
      const json::value* other = ob.if_contains(kv.key());
      if (!other || !JsonEqual(kv.value(), *other)) return false;
    }
    return true;
  }
  if (const json::array* aa = a.if_array()) {
    const json::array& ab = b.get_array();
    if (aa->size() != ab.size()) return false;
    for (size_t i = 0; i < aa->size(); ++i) {
      if (!JsonEqual((*aa)[i], ab[i])) return false;
    }
    return true;
  }
  return a == b;
}

absl::StatusOr<json::value> ApplyJsonPatch(const json::value& document, const json::value& patch) {
  const json::array* ops = patch.if_array();
  if (!ops) return absl::InvalidArgumentError("a JSON Patch must be an array of operations");
  json::value doc = document;
  for (size_t i = 0; i < ops->size(); ++i) {
    const json::object* op = (*ops)[i].if_object();
    if (!op) return absl::InvalidArgumentError(absl::StrCat("op ", i, ": must be an object"));
    const json::value* name = op->if_contains("op");
    if (!name || !name->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("op ", i, ": 'op' must be a string"));
    }
    Applier a(std::move(doc), i, std::string_view(name->get_string()));
    absl::Status s = a.Apply(*op);
    if (!s.ok()) return s;
    doc = std::move(a).Take();
  }
  return doc;
}

json::value ApplyMergePatch(const json::value& target, const json::value& patch) {
  const json::object* p = patch.if_object();
  if (!p) return patch;
  json::object out;
  if (const json::object* t = target.if_object()) out = *t;
  for (const auto& kv : *p) {
    if (kv.value().is_null()) {
      out.erase(kv.key());
      continue;
    }
    const json::value* existing = out.if_contains(kv.key());
    json::value merged = ApplyMergePatch(existing ? *existing : json::value(nullptr), kv.value());
    out[kv.key()] = std::move(merged);
  }
  return out;
}

}  // namespace edgevault::base
