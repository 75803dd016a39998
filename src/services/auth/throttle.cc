#include "src/services/auth/throttle.h"

#include <algorithm>

namespace edgevault::auth {
namespace {
std::string AccountKey(std::string_view account) { return "acct:" + std::string(account); }
std::string AddressKey(std::string_view address) { return "addr:" + std::string(address); }
}  // namespace

void LoginThrottle::Prune(Entry& e, absl::Time now) {
  while (!e.failures.empty() && e.failures.front() <= now - options_.window) {
    e.failures.pop_front();
  }
}

absl::Duration LoginThrottle::WaitFor(const std::string& key, int limit, absl::Time now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return absl::ZeroDuration();
  Prune(it->second, now);
  auto& f = it->second.failures;
  if (static_cast<int>(f.size()) < limit) return absl::ZeroDuration();
  // Allowed again once enough failures age out of the window that fewer than `limit`
  // remain: the (size - limit + 1)-th oldest failure must leave.
  absl::Time free_at = f[f.size() - static_cast<size_t>(limit)] + options_.window;
  return std::max(absl::Seconds(1), free_at - now);
}

absl::Duration LoginThrottle::Check(std::string_view account, std::string_view address,
                                    absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return std::max(WaitFor(AccountKey(account), options_.max_account_failures, now),
                  WaitFor(AddressKey(address), options_.max_address_failures, now));
}

void LoginThrottle::RecordFailure(std::string_view account, std::string_view address,
                                  absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= options_.max_tracked_keys) {
    // Forget keys whose failures have all aged out; if none, drop everything rather
    // than grow without bound (an attacker rotating keys gains nothing lasting).
    for (auto it = entries_.begin(); it != entries_.end();) {
      Prune(it->second, now);
      it = it->second.failures.empty() ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= options_.max_tracked_keys) entries_.clear();
  }
  for (const std::string& key : {AccountKey(account), AddressKey(address)}) {
    Entry& e = entries_[key];
    Prune(e, now);
    e.failures.push_back(now);
    // Never keep more than the largest limit needs.
    size_t cap = static_cast<size_t>(
        std::max(options_.max_account_failures, options_.max_address_failures));
    while (e.failures.size() > cap) e.failures.pop_front();
  }
}

void LoginThrottle::RecordSuccess(std::string_view account) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(AccountKey(account));
}

}  // namespace edgevault::auth
