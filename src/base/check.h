#pragma once
// Assertions, in the three levels the style guide asks for:
//   EV_DCHECK(cond)  debug builds only: a programming error, free in Release;
//   EV_CHECK(cond)   always: the process cannot go on safely, so it aborts with the place;
//   EV_ENVOY_BUG-like EV_BUG_IF(cond, what): logs, counts (Bugs()), and continues.
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <string_view>

namespace edgevault::base {

// Prints "file:line: check failed: expr" to stderr and aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

// Logs a non-fatal invariant violation and bumps the counter returned by Bugs().
void ReportBug(const char* file, int line, std::string_view what);

// How many EV_BUG_IF conditions have fired in this process.
uint64_t Bugs();

}  // namespace edgevault::base

#define EV_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::edgevault::base::CheckFailed(__FILE__, __LINE__, #cond))

#ifdef NDEBUG
#define EV_DCHECK(cond) static_cast<void>(sizeof(static_cast<bool>(cond)))
#else
#define EV_DCHECK(cond) EV_CHECK(cond)
#endif

#define EV_BUG_IF(cond, what) \
  ((cond) ? ::edgevault::base::ReportBug(__FILE__, __LINE__, (what)) : static_cast<void>(0))
