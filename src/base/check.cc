#include "src/base/check.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "src/base/log.h"

namespace edgevault::base {
namespace {
std::atomic<uint64_t> g_bugs{0};
}  // namespace

void CheckFailed(const char* file, int line, const char* expr) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
  std::fflush(stderr);
  std::abort();
}

void ReportBug(const char* file, int line, std::string_view what) {
  g_bugs.fetch_add(1, std::memory_order_relaxed);
  std::string where = std::string(file) + ":" + std::to_string(line);
  Log(LogLevel::kError, "bug", {{"where", where}, {"what", what}});
}

uint64_t Bugs() { return g_bugs.load(std::memory_order_relaxed); }

}  // namespace edgevault::base
