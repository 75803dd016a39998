#pragma once
// A temporary directory for a test (mode 0700, from mkdtemp under /tmp or `parent`), removed with
// everything in it when the object goes. path() is empty if it could not be created.
// Test-only; not thread-safe.
//
//   base::testing::TempDir dir("ev-audit");
//   ASSERT_FALSE(dir.path().empty());

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace edgevault::base::testing {

class TempDir {
 public:
  // Under `parent` (e.g. "/dev/shm" for a test about descriptors rather than fsync).
  explicit TempDir(std::string_view prefix = "ev-test", std::string_view parent = "/tmp") {
    std::string tmpl = std::string(parent) + "/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace edgevault::base::testing
