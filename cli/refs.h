#pragma once
// `edgevault refs scan PATH` (docs/cli.md): where flag keys appear in a source tree, so a
// stale-flag report can say which files to edit. Files and directories that git would
// ignore are skipped: every .gitignore in the tree applies to the paths under its own
// directory (patterns, `!` negation, a trailing `/` for directories, `*`, `?`, `[...]` and
// `**`), a later pattern wins over an earlier one, and the contents of an ignored
// directory are never looked at (as in git). `.git` itself, symbolic links, binary files
// (a NUL byte in the first 8 KiB) and files over kMaxFileBytes are skipped too. Not read:
// .git/info/exclude and the global excludes file.
//
// A key counts where it stands as a whole token: the characters around it are not key
// characters ([A-Za-z0-9._-]), so "checkout" is not found inside "new-checkout".
//
// Thread-safety: pure functions and an immutable-after-building IgnoreRules.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace edgevault::cli {

class IgnoreRules {
 public:
  // Adds the patterns of the .gitignore in directory `dir` ('/'-separated, relative to the
  // scanned root; "" for the root).
  void Add(std::string_view dir, std::string_view gitignore_text);
  // Whether `path` (relative to the root, '/'-separated) is ignored.
  bool Ignored(std::string_view path, bool is_dir) const;

 private:
  struct Rule {
    std::string dir;      // where the .gitignore is
    std::string pattern;  // without '!', the trailing '/' and a leading '/'
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;  // had a '/' before its end: matched against the whole relative path
  };
  std::vector<Rule> rules_;
};

// Glob matching as .gitignore uses it: '*' and '?' never match '/', "**/" matches any
// number of directories, a trailing "/**" everything inside, '[...]' a class ('!' or '^'
// negates), '\' quotes the next character.
bool GitGlobMatch(std::string_view pattern, std::string_view text);

struct FlagReference {
  std::string flag;
  std::string file;  // relative to the scanned root
  size_t line = 0;   // 1-based
  size_t column = 0;  // 1-based, in bytes
  std::string text;  // the line, trimmed, at most 200 bytes
};

inline constexpr size_t kMaxFileBytes = 4 * 1024 * 1024;

// Every whole-token occurrence of a key of `flags` in `content` (file name `file`), in order.
std::vector<FlagReference> FindFlagReferences(std::string_view file, std::string_view content,
                                              const std::vector<std::string>& flags);

struct RefsScan {
  std::vector<FlagReference> references;
  size_t files_scanned = 0;
  std::vector<std::string> errors;  // unreadable directories and files, with why
};
// Walks `root` (a directory, or a single file) as described above.
RefsScan ScanTree(const std::string& root, const std::vector<std::string>& flags);

}  // namespace edgevault::cli
