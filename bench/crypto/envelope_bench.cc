// Secret envelope Seal and Open throughput for a 100-byte secret (src/crypto/envelope.h),
// next to the primitives each call is made of, so the numbers can be set beside
// bench/crypto/openssl_speed.sh (`openssl speed -evp aes-256-gcm`).
//   BUILD/bin/bench_envelope --benchmark_min_time=2   (seconds; Debian 12 benchmark 1.7)
// Seal = 1 HKDF-SHA256 + 2 AES-256-GCM seals + 44 random bytes; Open = 1 HKDF + 2 opens.
#include <benchmark/benchmark.h>

#include <string>

#include "src/base/env.h"
#include "src/crypto/aead.h"
#include "src/crypto/envelope.h"
#include "src/crypto/keyring.h"

namespace edgevault::crypto {
namespace {

const std::string kSecret(100, 's');

Keyring BenchKeyring() {
  Keyring keyring;
  (void)keyring.Add("m1", SecureBuffer(std::string(32, '\x42')));
  return keyring;
}

EnvelopeContext BenchContext() {
  return {"ws_01HZX5K3M9Q7T2V8W4Y6B1N0PC", "STRIPE_SECRET_KEY", "production", 42};
}

void BM_EnvelopeSeal(benchmark::State& state) {
  Keyring keyring = BenchKeyring();
  EnvelopeContext ctx = BenchContext();
  base::Env* env = base::Env::Default();  // the real CSPRNG (getrandom), as in production
  for (auto _ : state) {
    absl::StatusOr<SealedValue> sealed = Seal(keyring, ctx, kSecret, env);
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kSecret.size()));
}
BENCHMARK(BM_EnvelopeSeal);

void BM_EnvelopeOpen(benchmark::State& state) {
  Keyring keyring = BenchKeyring();
  EnvelopeContext ctx = BenchContext();
  SealedValue sealed = *Seal(keyring, ctx, kSecret, base::Env::Default());
  for (auto _ : state) {
    absl::StatusOr<SecureBuffer> opened = Open(keyring, ctx, sealed.envelope, sealed.data_key);
    benchmark::DoNotOptimize(opened);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kSecret.size()));
}
BENCHMARK(BM_EnvelopeOpen);

// The parts.
void BM_WorkspaceKekHkdf(benchmark::State& state) {
  SecureBuffer master(std::string(32, '\x42'));
  for (auto _ : state) {
    absl::StatusOr<SecureBuffer> kek = DeriveWorkspaceKek(master, "ws_01HZX5K3M9Q7T2V8W4Y6B1N0PC");
    benchmark::DoNotOptimize(kek);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WorkspaceKekHkdf);

void BM_AesGcmSeal(benchmark::State& state) {
  std::string key(32, 'k'), nonce(12, 'n'), plain(static_cast<size_t>(state.range(0)), 'p');
  for (auto _ : state) {
    absl::StatusOr<std::string> sealed = AesGcmSeal(key, nonce, plain, "aad");
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
// The block sizes `openssl speed` reports, plus the 100-byte secret.
BENCHMARK(BM_AesGcmSeal)->Arg(16)->Arg(64)->Arg(100)->Arg(256)->Arg(1024)->Arg(8192)->Arg(16384);

void BM_AesGcmOpen(benchmark::State& state) {
  std::string key(32, 'k'), nonce(12, 'n'), plain(static_cast<size_t>(state.range(0)), 'p');
  std::string sealed = *AesGcmSeal(key, nonce, plain, "aad");
  for (auto _ : state) {
    absl::StatusOr<SecureBuffer> opened = AesGcmOpen(key, nonce, sealed, "aad");
    benchmark::DoNotOptimize(opened);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AesGcmOpen)->Arg(100)->Arg(16384);

void BM_RandomBytes44(benchmark::State& state) {
  base::Env* env = base::Env::Default();
  char buf[44];
  for (auto _ : state) {
    env->RandomBytes(buf, sizeof buf);
    benchmark::DoNotOptimize(buf);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RandomBytes44);

}  // namespace
}  // namespace edgevault::crypto

BENCHMARK_MAIN();
