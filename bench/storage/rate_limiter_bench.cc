// Cost of one rate-limit check (src/storage/rate_limiter.h; docs/design/rate-limits.md):
//   - TokenBucket: delivery's lock-free per-SDK-key bucket (the default, rate_limit.url = "");
//   - MemoryRateLimiter::Take: the in-memory limiter (sharded map + lock), one hot key and
//     10 000 keys, and with 2 threads;
//   - RedisRateLimiter::Take: one EVALSHA round trip to a local redis-server (loopback), one
//     thread and 4 threads sharing the connection pool; and the same over TLS (rediss://,
//     TLS 1.3 with a P-256 certificate made by openssl), against the plain one in the same run;
//   - RedisRateLimiter Begin + Withdraw: a login attempt's two scripts over 2 keys.
// Every limit admits everything (huge rate), so each call runs the full "admit and store"
// path. The Redis cases start their own redis-server (redis_test_server.h) on a free port.
// Run: build/bin/bench_rate_limiter

#include <benchmark/benchmark.h>
#include <signal.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/services/delivery/delivery_service.h"
#include "src/storage/testing/test_pki.h"
#include "src/storage/rate_limiter.h"
#include "src/storage/redis/rate_limiter_redis.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::storage {
namespace {

constexpr RateLimit kOpen = {.count = 1'000'000, .period = absl::Seconds(1), .burst = 1'000'000'000};
const std::string kKey = "ofrep:3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea";

void BM_TokenBucket(benchmark::State& state) {
  delivery::TokenBucket bucket(1'000'000, 1'000'000'000);
  base::Env* env = base::Env::Default();
  for (auto _ : state) benchmark::DoNotOptimize(bucket.TryTake(env->MonotonicNow()));
}
BENCHMARK(BM_TokenBucket);

void BM_MemoryTake(benchmark::State& state) {
  static std::unique_ptr<RateLimiter> limiter;
  if (state.thread_index() == 0) limiter = NewMemoryRateLimiter({});
  const int keys = static_cast<int>(state.range(0));
  std::vector<std::string> names;
  for (int i = 0; i < keys; ++i) names.push_back(kKey + std::to_string(i));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter->Take(names[i], kOpen));
    if (++i == names.size()) i = 0;
  }
}
BENCHMARK(BM_MemoryTake)->Arg(1)->Arg(10000);
BENCHMARK(BM_MemoryTake)->Arg(1)->Threads(2)->UseRealTime();

const edgevault::testing::TestPki* Pki() {
  static auto* pki = new edgevault::testing::TestPki();
  return pki->ok() ? pki : nullptr;
}

// Listens for TLS too (tls_port), with the certificate Pki() made.
RedisServer* Server() {
  static RedisServer* server = [] {
    ::signal(SIGPIPE, SIG_IGN);
    if (Pki() == nullptr) return static_cast<RedisServer*>(nullptr);
    auto* s = new RedisServer();
    s->EnableTls(Pki()->File("good.crt"), Pki()->File("good.key"), Pki()->File("ca.crt"), false);
    if (!s->Start()) {
      delete s;
      return static_cast<RedisServer*>(nullptr);
    }
    return s;
  }();
  return server;
}

std::unique_ptr<RedisRateLimiter> OpenRedis(benchmark::State& state, bool tls = false) {
  RedisServer* server = Server();
  if (server == nullptr) {
    state.SkipWithError("could not start redis-server");
    return nullptr;
  }
  RedisRateLimiterOptions options{.port = server->port(), .pool_size = 4};
  if (tls) {
    options.port = server->tls_port();
    options.tls = {.enabled = true, .ca_file = Pki()->File("ca.crt")};
  }
  auto limiter = RedisRateLimiter::Open(options);
  if (!limiter.ok()) {
    state.SkipWithError(std::string(limiter.status().message()).c_str());
    return nullptr;
  }
  return std::move(*limiter);
}

// range(0): 0 = redis://, 1 = rediss:// (TLS).
void BM_RedisTake(benchmark::State& state) {
  static std::unique_ptr<RedisRateLimiter> limiter;
  if (state.thread_index() == 0) limiter = OpenRedis(state, state.range(0) == 1);
  if (limiter == nullptr) return;
  for (auto _ : state) {
    absl::StatusOr<absl::Duration> wait = limiter->Take(kKey, kOpen);
    if (!wait.ok()) state.SkipWithError(std::string(wait.status().message()).c_str());
  }
}
BENCHMARK(BM_RedisTake)->ArgName("tls")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_RedisTake)->ArgName("tls")->Arg(0)->Arg(1)->Threads(4)->UseRealTime();

void BM_RedisLoginAttempt(benchmark::State& state) {
  std::unique_ptr<RedisRateLimiter> limiter = OpenRedis(state);
  if (limiter == nullptr) return;
  const std::vector<AttemptWindow::Key> keys = {{"login:acct:someone@example.com", 1'000'000},
                                               {"login:addr:192.0.2.10", 1'000'000}};
  const std::vector<std::string> names = {keys[0].key, keys[1].key};
  int64_t n = 0;
  for (auto _ : state) {
    const std::string id = "bench:" + std::to_string(n++);
    absl::StatusOr<absl::Duration> wait = limiter->Begin(keys, absl::Minutes(15), id);
    absl::Status withdrawn = limiter->Withdraw(names, id, {});
    if (!wait.ok() || !withdrawn.ok()) state.SkipWithError("redis failed");
  }
}
BENCHMARK(BM_RedisLoginAttempt)->UseRealTime();

}  // namespace
}  // namespace edgevault::storage

BENCHMARK_MAIN();
