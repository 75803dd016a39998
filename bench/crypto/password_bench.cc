// Cost of the auth service's per-login crypto: Argon2id hash and verify at the default (OWASP
// minimum) and a stronger setting, and TOTP matching. Run: build/bin/bench_password.
#include <benchmark/benchmark.h>

#include <string>

#include "src/base/env.h"
#include "src/crypto/password.h"
#include "src/crypto/totp.h"

namespace edgevault::crypto {
namespace {

constexpr const char* kPassword = "correct horse battery staple";

PasswordParams ParamsFor(const benchmark::State& state) {
  PasswordParams params;
  params.memory_kib = static_cast<uint32_t>(state.range(0));
  params.iterations = static_cast<uint32_t>(state.range(1));
  return params;
}

void BM_HashPassword(benchmark::State& state) {
  const PasswordParams params = ParamsFor(state);
  for (auto _ : state) {
    absl::StatusOr<std::string> phc = HashPassword(kPassword, params);
    if (!phc.ok()) state.SkipWithError("HashPassword failed");
    benchmark::DoNotOptimize(phc);
  }
}
BENCHMARK(BM_HashPassword)
    ->ArgNames({"m_kib", "t"})
    ->Args({19456, 2})
    ->Args({65536, 3})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

void BM_VerifyPassword(benchmark::State& state) {
  const PasswordParams params = ParamsFor(state);
  absl::StatusOr<std::string> phc = HashPassword(kPassword, params);
  if (!phc.ok()) {
    state.SkipWithError("HashPassword failed");
    return;
  }
  for (auto _ : state) {
    bool ok = VerifyPassword(kPassword, *phc);
    if (!ok) state.SkipWithError("VerifyPassword rejected the right password");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_VerifyPassword)
    ->ArgNames({"m_kib", "t"})
    ->Args({19456, 2})
    ->Args({65536, 3})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

void BM_MatchTotp(benchmark::State& state) {
  base::SimulatedEnv env;
  const std::string secret = GenerateTotpSecret(&env);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const std::string code = TotpCode(secret, TotpStep(now) + 1);  // worst case: last candidate
  for (auto _ : state) {
    std::optional<int64_t> step = MatchTotp(secret, code, now);
    benchmark::DoNotOptimize(step);
  }
}
BENCHMARK(BM_MatchTotp)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace edgevault::crypto

BENCHMARK_MAIN();
