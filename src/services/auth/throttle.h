#pragma once
// Login throttling (DESIGN.md §7, docs/auth.md "Throttling"): counts attempts per
// account, per client address and per account's second factor in a sliding window and
// refuses attempts while any key is at its limit.
//
// Check and count are one step: Begin admits an attempt only when every key it names is
// below its limit, and counts it against each key at once, as a failure, before the
// credential is checked. Parallel guesses therefore see each other: no more than the
// limit are ever admitted in a window — across nodes too, when the failures are counted in
// a shared store (ThrottleOptions::shared, below). When the credential proves right, Succeeded
// withdraws the attempt again (and clears what a success clears); an attempt that is
// never reported stays counted, so an error path fails safe.
//
// What a success clears: a correct password clears the account's password failures
// (not the address's: one good password must not reset an address that is guessing other
// accounts); a correct second factor clears the second-factor failures. A correct
// password never clears second-factor failures, so rounds of (password, wrong codes) run
// out like any other guessing.
//
// Memory is bounded by max_tracked_keys. When the table is full, keys whose failures have
// all left the window go first, then the least recently used key that is not at its
// limit (among the kEvictionScan oldest), and only when all of those are locked out the
// least recently used key: the table is never cleared, and the lockout of an account
// under attack outlives a flood of other keys. In memory, per process: a restart forgets
// failures (docs/auth.md).
//
// Shared (config rate_limit.url; docs/design/rate-limits.md): with ThrottleOptions::shared
// set, every key is counted in that AttemptWindow instead (a Redis every auth node uses:
// keys "login:" + "acct:<email>" / "addr:<address>" / "2fa:<user id>"), with the same
// limits, window and success rules, so N nodes allow the guesses of one and a restart
// forgets nothing. When the shared window fails, Begin counts in this process's table
// instead, and keeps doing so for kSharedRetry before asking the shared one again (guessing
// stays limited per node; never fails closed); an attempt admitted by the shared window is
// withdrawn from it, and when that fails it stays counted (fails safe).
//
// Thread-safety: all methods are safe to call concurrently.
//
//   LoginThrottle::Attempt attempt;
//   absl::Duration wait = throttle.Begin({AccountKey(email), AddressKey(ip)}, now, &attempt);
//   if (wait > absl::ZeroDuration()) return TooManyAttempts(wait);
//   if (password_ok) throttle.Succeeded(attempt, ThrottleScope::kAccount);

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/storage/rate_limiter.h"

namespace edgevault::auth {

struct ThrottleOptions {
  int max_account_failures = 5;      // password failures per account within `window`
  int max_address_failures = 20;     // failures of any kind per client address
  absl::Duration window = absl::Minutes(15);
  size_t max_tracked_keys = 100000;  // see the header comment for what goes first
  int max_second_factor_failures = 5;  // TOTP, recovery-code and passkey failures per account
  int max_registrations = 20;  // open OAuth client registrations per client address (never cleared)
  // Requests to the open OAuth token endpoint (never cleared): per client address, and per
  // OAuth client (its reference, docs/design/oauth.md §3).
  int max_token_requests_per_address = 600;
  int max_token_requests_per_client = 60;
  // Where failures are counted across nodes; nullptr = this process only. Not owned.
  storage::AttemptWindow* shared = nullptr;
  // Unique per process (AuthService::Create sets a random one): prefixes the ids of attempts
  // in the shared window.
  std::string instance_id;
  // Called (on the calling thread) when the shared window failed and this process's table
  // decided instead, or a withdrawal failed. May be empty.
  std::function<void(const absl::Status&)> on_shared_error;
};

// What a key counts; each has its own limit.
enum class ThrottleScope { kAccount, kAddress, kSecondFactor, kRegistration, kTokenAddress, kTokenClient };

struct ThrottleKey {
  ThrottleScope scope;
  std::string id;  // an email, a client address key, a user id
};
inline ThrottleKey AccountKey(std::string_view email) { return {ThrottleScope::kAccount, std::string(email)}; }
inline ThrottleKey AddressKey(std::string_view address) { return {ThrottleScope::kAddress, std::string(address)}; }
inline ThrottleKey SecondFactorKey(std::string_view user_id) {
  return {ThrottleScope::kSecondFactor, std::string(user_id)};
}
// OAuth client registrations from one client address (counted, never withdrawn).
inline ThrottleKey RegistrationKey(std::string_view address) {
  return {ThrottleScope::kRegistration, std::string(address)};
}
// OAuth token requests from one client address, and by one client (counted, never withdrawn).
inline ThrottleKey TokenAddressKey(std::string_view address) {
  return {ThrottleScope::kTokenAddress, std::string(address)};
}
inline ThrottleKey TokenClientKey(std::string_view client_ref) {
  return {ThrottleScope::kTokenClient, std::string(client_ref)};
}

class LoginThrottle {
 public:
  // Scans at most this many least-recently-used keys for one that is not locked out.
  static constexpr size_t kEvictionScan = 64;
  // After the shared window fails, this process's table decides for this long.
  static constexpr absl::Duration kSharedRetry = absl::Seconds(1);

  explicit LoginThrottle(ThrottleOptions options) : options_(std::move(options)) {}

  // An admitted attempt, counted against its keys until Succeeded withdraws it.
  struct Attempt {
    std::vector<std::string> keys;
    absl::Time at;
    bool admitted = false;
    std::string shared_id;  // non-empty: admitted by (and counted in) the shared window
  };

  // Zero when the attempt is admitted (and counted against every key, filling
  // `attempt`); otherwise how long until it may be (the Retry-After), counting nothing.
  absl::Duration Begin(std::initializer_list<ThrottleKey> keys, absl::Time now, Attempt* attempt);

  // The attempt's credential was right: withdraws it from every key, and forgets every
  // failure of its key of scope `clear` (kAccount after a correct password,
  // kSecondFactor after a correct second factor; kAddress clears nothing extra).
  void Succeeded(const Attempt& attempt, ThrottleScope clear);

  size_t tracked_keys() const;  // for tests

 private:
  struct Entry {
    std::deque<absl::Time> attempts;  // oldest first, at most the scope's limit
    int limit = 0;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  static std::string MapKey(const ThrottleKey& k);
  // The shared window's verdict, or nullopt when it is not used or failed (then the local
  // table decides).
  std::optional<absl::Duration> BeginShared(std::initializer_list<ThrottleKey> keys,
                                            absl::Time now, Attempt* attempt);
  void SharedFailed(const absl::Status& error, absl::Time now);
  int LimitFor(ThrottleScope scope) const;
  void Prune(Entry& e, absl::Time now) const;
  absl::Duration WaitFor(Entry& e, absl::Time now) const;
  void Touch(Entry& e);
  Entry& Insert(const std::string& key, int limit, absl::Time now);
  void MakeRoom(absl::Time now);

  const ThrottleOptions options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // least recently used first
  std::atomic<int64_t> local_until_ns_{0};  // unix ns before which the shared window is skipped
  std::atomic<uint64_t> next_attempt_{0};   // numbers the shared attempt ids
};

}  // namespace edgevault::auth
