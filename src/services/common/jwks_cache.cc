#include "src/services/common/jwks_cache.h"

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::services {

JwksCache::JwksCache(JwksCacheOptions options) : options_(std::move(options)) {}

int64_t JwksCache::fetches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

std::shared_ptr<const crypto::JwtVerifier> JwksCache::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  return verifier_;
}

absl::Status JwksCache::Refresh() {
  std::lock_guard<std::mutex> fetching(fetch_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_attempt_ = options_.env->Now();
  }
  net::ClientRequest req;
  req.method = "GET";
  req.target = options_.path;
  absl::StatusOr<net::ClientResponse> resp = options_.client->Do(options_.host, options_.port, req);
  if (!resp.ok()) {
    return absl::UnavailableError(base::ToAbsl("fetching the JWKS from auth failed: " +
                                               std::string(resp.status().message())));
  }
  if (resp->status != 200) {
    return absl::UnavailableError(base::ToAbsl("fetching the JWKS from auth answered HTTP " +
                                               std::to_string(resp->status)));
  }
  EV_ASSIGN_OR_RETURN(crypto::JwtVerifier v,
                      crypto::JwtVerifier::FromJwks(resp->body, /*allow_empty=*/true));
  std::lock_guard<std::mutex> lock(mu_);
  verifier_ = std::make_shared<const crypto::JwtVerifier>(std::move(v));
  fetched_at_ = options_.env->Now();
  ++fetches_;
  return absl::OkStatus();
}

absl::Status JwksCache::MaybeRefresh() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.env->Now() - last_attempt_ < options_.min_refresh_interval) {
      return absl::OkStatus();
    }
  }
  return Refresh();
}

absl::StatusOr<crypto::JwtClaims> JwksCache::Verify(std::string_view token) {
  return Verify(token, options_.audience);
}

absl::StatusOr<crypto::JwtClaims> JwksCache::Verify(std::string_view token, std::string_view audience) {
  std::shared_ptr<const crypto::JwtVerifier> v = Current();
  auto age = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return options_.env->Now() - fetched_at_;
  };
  if (!v || age() > options_.max_age) {
    absl::Status st = MaybeRefresh();
    v = Current();
    if (!v && st.ok()) {
      // No set yet and a fetch was attempted within min_refresh_interval: another request
      // may be fetching the first set right now (two requests right after start). Wait for
      // that fetch instead of failing beside it.
      { std::lock_guard<std::mutex> fetched(fetch_mu_); }
      v = Current();
    }
    if (!v) {
      return st.ok() ? absl::UnavailableError("no JWKS fetched from auth yet") : st;
    }
    // A set auth could not confirm keeps verifying while tokens it issued may still be
    // valid, no longer (see JwksCacheOptions::max_stale).
    if (absl::Duration a = age(); a > options_.max_stale) {
      return absl::UnavailableError(base::ToAbsl(
          "the auth service's JWKS could not be refreshed for " + absl::FormatDuration(a) +
          (st.ok() ? std::string() : ": " + std::string(st.message()))));
    }
  }
  absl::Time now = options_.env->Now();
  absl::StatusOr<crypto::JwtClaims> claims = v->Verify(token, now, options_.issuer, audience);
  if (absl::IsNotFound(claims.status())) {
    // A kid we do not know: a key may have rotated in. Refetch (rate-limited), retry once.
    (void)MaybeRefresh();
    std::shared_ptr<const crypto::JwtVerifier> fresh = Current();
    if (fresh && fresh != v) claims = fresh->Verify(token, now, options_.issuer, audience);
    if (absl::IsNotFound(claims.status())) {
      return absl::UnauthenticatedError(base::ToAbsl(std::string(claims.status().message())));
    }
  }
  return claims;
}

}  // namespace edgevault::services
