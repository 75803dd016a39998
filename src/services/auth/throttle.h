#pragma once
// Login throttling (issue 3 §4): counts failed attempts per account and per client
// address in a sliding window and refuses attempts while a key is over its limit.
// A successful login clears the account's failures but not the address's, so one
// good password cannot be used to reset an address that is guessing other accounts.
// Keys are opaque strings (callers pass "acct:<email>" / "addr:<ip>"). In memory, per
// process: a restart forgets failures (documented in docs/auth.md).
//
// Thread-safety: all methods are safe to call concurrently.

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/time/time.h"

namespace edgevault::auth {

struct ThrottleOptions {
  int max_account_failures = 5;      // within `window`
  int max_address_failures = 20;     // within `window`
  absl::Duration window = absl::Minutes(15);
  size_t max_tracked_keys = 100000;  // oldest keys are forgotten beyond this
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottleOptions options) : options_(options) {}

  // Zero when an attempt for (account, address) may proceed at `now`; otherwise how
  // long until it may (the Retry-After).
  absl::Duration Check(std::string_view account, std::string_view address, absl::Time now);

  void RecordFailure(std::string_view account, std::string_view address, absl::Time now);
  void RecordSuccess(std::string_view account);

 private:
  struct Entry {
    std::deque<absl::Time> failures;
  };
  // Waiting time for one key with `limit` failures allowed in the window.
  absl::Duration WaitFor(const std::string& key, int limit, absl::Time now);
  void Prune(Entry& e, absl::Time now);

  ThrottleOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace edgevault::auth
