#include "src/services/auth/throttle.h"

#include <algorithm>

namespace edgevault::auth {

std::string LoginThrottle::MapKey(const ThrottleKey& k) {
  switch (k.scope) {
    case ThrottleScope::kAccount:
      return "acct:" + k.id;
    case ThrottleScope::kAddress:
      return "addr:" + k.id;
    case ThrottleScope::kSecondFactor:
      return "2fa:" + k.id;
    case ThrottleScope::kRegistration:
      return "reg:" + k.id;
    case ThrottleScope::kTokenAddress:
      return "tok:addr:" + k.id;
    case ThrottleScope::kTokenClient:
      return "tok:client:" + k.id;
  }
  return "?:" + k.id;
}

int LoginThrottle::LimitFor(ThrottleScope scope) const {
  switch (scope) {
    case ThrottleScope::kAccount:
      return options_.max_account_failures;
    case ThrottleScope::kAddress:
      return options_.max_address_failures;
    case ThrottleScope::kSecondFactor:
      return options_.max_second_factor_failures;
    case ThrottleScope::kRegistration:
      return options_.max_registrations;
    case ThrottleScope::kTokenAddress:
      return options_.max_token_requests_per_address;
    case ThrottleScope::kTokenClient:
      return options_.max_token_requests_per_client;
  }
  return 1;
}

void LoginThrottle::Prune(Entry& e, absl::Time now) const {
  while (!e.attempts.empty() && e.attempts.front() <= now - options_.window) {
    e.attempts.pop_front();
  }
}

absl::Duration LoginThrottle::WaitFor(Entry& e, absl::Time now) const {
  Prune(e, now);
  if (static_cast<int>(e.attempts.size()) < e.limit) return absl::ZeroDuration();
  // Allowed again once enough attempts age out of the window that fewer than `limit`
  // remain: the (size - limit + 1)-th oldest must leave.
  absl::Time free_at = e.attempts[e.attempts.size() - static_cast<size_t>(e.limit)] + options_.window;
  return std::max(absl::Seconds(1), free_at - now);
}

void LoginThrottle::Touch(Entry& e) { lru_.splice(lru_.end(), lru_, e.lru); }

void LoginThrottle::MakeRoom(absl::Time now) {
  // 1. Keys whose attempts have all left the window (the least recently used first:
  //    their newest attempt is the oldest).
  while (!lru_.empty()) {
    auto front = entries_.find(lru_.front());
    Prune(front->second, now);
    if (!front->second.attempts.empty()) break;
    entries_.erase(front);
    lru_.pop_front();
  }
  if (entries_.size() < options_.max_tracked_keys || lru_.empty()) return;
  // 2. The least recently used key that is not locked out.
  size_t scanned = 0;
  for (auto it = lru_.begin(); it != lru_.end() && scanned < kEvictionScan; ++it, ++scanned) {
    auto e = entries_.find(*it);
    if (WaitFor(e->second, now) == absl::ZeroDuration()) {
      entries_.erase(e);
      lru_.erase(it);
      return;
    }
  }
  // 3. Every scanned key is locked out: the least recently used one goes.
  entries_.erase(lru_.front());
  lru_.pop_front();
}

LoginThrottle::Entry& LoginThrottle::Insert(const std::string& key, int limit, absl::Time now) {
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second;
  while (entries_.size() >= std::max<size_t>(options_.max_tracked_keys, 1)) MakeRoom(now);
  Entry& e = entries_[key];
  e.limit = limit;
  e.lru = lru_.insert(lru_.end(), key);
  return e;
}

void LoginThrottle::SharedFailed(const absl::Status& error, absl::Time now) {
  local_until_ns_.store(absl::ToUnixNanos(now + kSharedRetry), std::memory_order_relaxed);
  if (options_.on_shared_error) options_.on_shared_error(error);
}

std::optional<absl::Duration> LoginThrottle::BeginShared(std::initializer_list<ThrottleKey> keys,
                                                         absl::Time now, Attempt* attempt) {
  if (options_.shared == nullptr ||
      absl::ToUnixNanos(now) < local_until_ns_.load(std::memory_order_relaxed)) {
    return std::nullopt;
  }
  std::vector<storage::AttemptWindow::Key> window_keys;
  window_keys.reserve(keys.size());
  for (const ThrottleKey& k : keys) window_keys.push_back({"login:" + MapKey(k), LimitFor(k.scope)});
  std::string id = options_.instance_id + ":" +
                   std::to_string(next_attempt_.fetch_add(1, std::memory_order_relaxed));
  absl::StatusOr<absl::Duration> wait = options_.shared->Begin(window_keys, options_.window, id);
  if (!wait.ok()) {
    SharedFailed(wait.status(), now);
    return std::nullopt;
  }
  if (*wait > absl::ZeroDuration()) return std::max(absl::Seconds(1), *wait);
  attempt->keys.clear();
  for (const ThrottleKey& k : keys) attempt->keys.push_back(MapKey(k));
  attempt->at = now;
  attempt->admitted = true;
  attempt->shared_id = std::move(id);
  return absl::ZeroDuration();
}

absl::Duration LoginThrottle::Begin(std::initializer_list<ThrottleKey> keys, absl::Time now,
                                    Attempt* attempt) {
  if (std::optional<absl::Duration> shared = BeginShared(keys, now, attempt)) return *shared;
  std::lock_guard<std::mutex> lock(mu_);
  absl::Duration wait = absl::ZeroDuration();
  for (const ThrottleKey& k : keys) {
    auto it = entries_.find(MapKey(k));
    if (it == entries_.end()) continue;
    // A key that is being tried stays recent, so a flood of other keys does not push
    // out the lockout of an account under attack.
    Touch(it->second);
    wait = std::max(wait, WaitFor(it->second, now));
  }
  if (wait > absl::ZeroDuration()) return wait;
  attempt->keys.clear();
  attempt->at = now;
  attempt->admitted = true;
  attempt->shared_id.clear();
  for (const ThrottleKey& k : keys) {
    std::string key = MapKey(k);
    Entry& e = Insert(key, LimitFor(k.scope), now);
    Prune(e, now);
    e.attempts.push_back(now);
    Touch(e);
    attempt->keys.push_back(std::move(key));
  }
  return absl::ZeroDuration();
}

void LoginThrottle::Succeeded(const Attempt& attempt, ThrottleScope clear) {
  if (!attempt.admitted) return;
  const std::string clear_prefix = MapKey({clear, ""});
  if (!attempt.shared_id.empty()) {
    std::vector<std::string> keys, forget;
    for (const std::string& key : attempt.keys) {
      keys.push_back("login:" + key);
      if (clear != ThrottleScope::kAddress && key.compare(0, clear_prefix.size(), clear_prefix) == 0) {
        forget.push_back(keys.back());
      }
    }
    absl::Status withdrawn = options_.shared->Withdraw(keys, attempt.shared_id, forget);
    // Not withdrawn: the attempt stays counted and ages out with the window (fails safe).
    if (!withdrawn.ok() && options_.on_shared_error) options_.on_shared_error(withdrawn);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : attempt.keys) {
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;  // forgotten meanwhile: nothing to withdraw
    Entry& e = it->second;
    if (clear != ThrottleScope::kAddress && key.compare(0, clear_prefix.size(), clear_prefix) == 0) {
      e.attempts.clear();
      continue;
    }
    // Withdraw this attempt (attempts at the same instant are interchangeable).
    auto at = std::find(e.attempts.rbegin(), e.attempts.rend(), attempt.at);
    if (at != e.attempts.rend()) e.attempts.erase(std::next(at).base());
  }
}

size_t LoginThrottle::tracked_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace edgevault::auth
