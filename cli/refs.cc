#include "cli/refs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace edgevault::cli {

namespace fs = std::filesystem;

namespace {

bool IsKeyChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '.' || c == '_' || c == '-';
}

// One '[...]' class at the start of `p` (just after '['); sets *len to its length with the
// brackets. False when the class is unterminated (then '[' is a literal).
bool ClassMatch(std::string_view p, char c, size_t* len) {
  size_t i = 0;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i];
    if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      char hi = p[i + 2];
      matched = matched || (c >= lo && c <= hi);
      i += 3;
    } else {
      matched = matched || c == lo;
      ++i;
    }
  }
  if (i >= p.size()) return false;
  *len = i + 2;  // '[' ... ']'
  return matched != negate && c != '/';
}

}  // namespace

bool GitGlobMatch(std::string_view p, std::string_view t) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      std::string_view rest = p.substr(2);
      if (rest.empty()) return true;  // "**" at the end: everything
      if (rest.front() == '/') {
        rest.remove_prefix(1);  // "**/": zero or more directories
        if (GitGlobMatch(rest, t)) return true;
        for (size_t i = 0; i < t.size(); ++i) {
          if (t[i] == '/' && GitGlobMatch(rest, t.substr(i + 1))) return true;
        }
        return false;
      }
      for (size_t i = 0; i <= t.size(); ++i) {
        if (GitGlobMatch(rest, t.substr(i))) return true;
      }
      return false;
    }
    char c = p.front();
    if (c == '*') {
      std::string_view rest = p.substr(1);
      for (size_t i = 0; i <= t.size(); ++i) {
        if (GitGlobMatch(rest, t.substr(i))) return true;
        if (i < t.size() && t[i] == '/') break;
      }
      return false;
    }
    if (t.empty()) return false;
    if (c == '?') {
      if (t.front() == '/') return false;
      p.remove_prefix(1);
      t.remove_prefix(1);
      continue;
    }
    if (c == '[') {
      size_t len = 0;
      if (ClassMatch(p.substr(1), t.front(), &len)) {
        p.remove_prefix(len);
        t.remove_prefix(1);
        continue;
      }
      if (len != 0) return false;  // a class that did not match
      // unterminated: a literal '['
    }
    if (c == '\\' && p.size() > 1) {
      p.remove_prefix(1);
      c = p.front();
    }
    if (t.front() != c) return false;
    p.remove_prefix(1);
    t.remove_prefix(1);
  }
  return t.empty();
}

void IgnoreRules::Add(std::string_view dir, std::string_view text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Trailing spaces are ignored unless quoted with a backslash.
    while (!line.empty() && line.back() == ' ' && !(line.size() > 1 && line[line.size() - 2] == '\\')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    Rule r;
    r.dir = std::string(dir);
    if (line.front() == '!') {
      r.negate = true;
      line.erase(0, 1);
    } else if (line.rfind("\\!", 0) == 0 || line.rfind("\\#", 0) == 0) {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      r.dir_only = true;
      line.pop_back();
    }
    if (line.empty()) continue;
    r.anchored = line.find('/') != std::string::npos;
    if (line.front() == '/') line.erase(0, 1);
    r.pattern = std::move(line);
    rules_.push_back(std::move(r));
    if (end == text.size()) break;
  }
}

bool IgnoreRules::Ignored(std::string_view path, bool is_dir) const {
  bool ignored = false;
  for (const Rule& r : rules_) {
    std::string_view rel = path;
    if (!r.dir.empty()) {
      if (path.size() <= r.dir.size() || path.substr(0, r.dir.size()) != r.dir || path[r.dir.size()] != '/') continue;
      rel = path.substr(r.dir.size() + 1);
    }
    if (r.dir_only && !is_dir) continue;
    std::string_view subject = rel;
    if (!r.anchored) {
      size_t slash = rel.rfind('/');
      if (slash != std::string_view::npos) subject = rel.substr(slash + 1);
    }
    if (GitGlobMatch(r.pattern, subject)) ignored = !r.negate;
  }
  return ignored;
}

std::vector<FlagReference> FindFlagReferences(std::string_view file, std::string_view content,
                                              const std::vector<std::string>& flags) {
  std::vector<FlagReference> out;
  size_t line_no = 0, start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(start, end - start);
    ++line_no;
    std::vector<FlagReference> here;
    for (const std::string& key : flags) {
      if (key.empty()) continue;
      for (size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
        bool left = at == 0 || !IsKeyChar(line[at - 1]);
        bool right = at + key.size() == line.size() || !IsKeyChar(line[at + key.size()]);
        if (!left || !right) continue;
        std::string_view shown = line;
        while (!shown.empty() && (shown.front() == ' ' || shown.front() == '\t')) shown.remove_prefix(1);
        while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\t' || shown.back() == '\r')) shown.remove_suffix(1);
        here.push_back({key, std::string(file), line_no, at + 1, std::string(shown.substr(0, 200))});
      }
    }
    std::sort(here.begin(), here.end(), [](const FlagReference& a, const FlagReference& b) {
      return a.column != b.column ? a.column < b.column : a.flag < b.flag;
    });
    out.insert(out.end(), here.begin(), here.end());
    start = end + 1;
  }
  return out;
}

namespace {

void ScanFile(const fs::path& path, const std::string& rel, const std::vector<std::string>& flags, RefsScan& out) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxFileBytes) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.errors.push_back(rel + ": cannot be read");
    return;
  }
  std::string content((std::istreambuf_iterator<char>(in)), {});
  if (content.substr(0, 8192).find('\0') != std::string::npos) return;  // binary
  ++out.files_scanned;
  std::vector<FlagReference> found = FindFlagReferences(rel, content, flags);
  out.references.insert(out.references.end(), found.begin(), found.end());
}

void Walk(const fs::path& dir, const std::string& rel, IgnoreRules& rules, const std::vector<std::string>& flags,
          RefsScan& out, int depth) {
  if (depth > 64) return;
  std::error_code ec;
  fs::path gitignore = dir / ".gitignore";
  if (fs::is_regular_file(fs::symlink_status(gitignore, ec))) {
    std::ifstream in(gitignore, std::ios::binary);
    rules.Add(rel, std::string((std::istreambuf_iterator<char>(in)), {}));
  }
  std::vector<fs::directory_entry> entries;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    out.errors.push_back((rel.empty() ? "." : rel) + ": " + ec.message());
    return;
  }
  for (const fs::directory_entry& e : it) entries.push_back(e);
  std::sort(entries.begin(), entries.end(),
            [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path().filename() < b.path().filename(); });
  for (const fs::directory_entry& e : entries) {
    std::string name = e.path().filename().string();
    if (name == ".git") continue;
    fs::file_status st = e.symlink_status(ec);
    if (ec || fs::is_symlink(st)) continue;
    bool is_dir = fs::is_directory(st);
    if (!is_dir && !fs::is_regular_file(st)) continue;
    std::string child = rel.empty() ? name : rel + "/" + name;
    if (rules.Ignored(child, is_dir)) continue;
    if (is_dir) {
      Walk(e.path(), child, rules, flags, out, depth + 1);
    } else {
      ScanFile(e.path(), child, flags, out);
    }
  }
}

}  // namespace

RefsScan ScanTree(const std::string& root, const std::vector<std::string>& flags) {
  RefsScan out;
  std::error_code ec;
  fs::file_status st = fs::status(root, ec);
  if (ec) {
    out.errors.push_back(root + ": " + ec.message());
  } else if (fs::is_directory(st)) {
    IgnoreRules rules;
    Walk(root, "", rules, flags, out, 0);
  } else {
    ScanFile(root, fs::path(root).filename().string(), flags, out);
  }
  return out;
}

}  // namespace edgevault::cli
