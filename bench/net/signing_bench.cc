// Internal request signing (src/net/signing.h): what one signed internal call costs the
// caller (Sign) and the callee (Verify, replay cache included) with per-service Ed25519
// credentials, against the baseline of the HMAC-SHA256 over the same canonical string that
// the shared-key scheme before it computed on each side. Run: build/bin/bench_signing.
#include <benchmark/benchmark.h>

#include <string>

#include "src/base/env.h"
#include "src/crypto/hash.h"
#include "src/net/signing.h"

namespace edgevault::net {
namespace {

const std::string kBody(512, 'x');  // a typical internal request body

ServiceCredential Api() {
  return *ServiceCredential::FromKey("api", *crypto::Ed25519PrivateKey::FromRaw(std::string(32, 'a')));
}

void BM_SignEd25519(benchmark::State& state) {
  ServiceCredential api = Api();
  base::Env* env = base::Env::Default();
  for (auto _ : state) {
    benchmark::DoNotOptimize(Sign(api, "auth", "POST", "/internal/v1/sdk-keys", kBody, env->Now(), env));
  }
}
BENCHMARK(BM_SignEd25519);

void BM_VerifyEd25519(benchmark::State& state) {
  ServiceCredential api = Api();
  ServiceTrust trust;
  trust.Add("api", api.key().PublicKey());
  SignatureVerifier verifier("auth", std::move(trust), {.max_nonces = size_t{1} << 24});
  base::Env* env = base::Env::Default();
  std::vector<SignedHeaders> signed_requests;
  for (int i = 0; i < 4096; ++i) {
    signed_requests.push_back(Sign(api, "auth", "POST", "/internal/v1/sdk-keys", kBody, env->Now(), env));
  }
  size_t i = 0;
  for (auto _ : state) {
    if (i == signed_requests.size()) {  // fresh nonces: a replay would be refused early
      state.PauseTiming();
      for (SignedHeaders& h : signed_requests) h = Sign(api, "auth", "POST", "/internal/v1/sdk-keys", kBody, env->Now(), env);
      i = 0;
      state.ResumeTiming();
    }
    const SignedHeaders& h = signed_requests[i++];
    benchmark::DoNotOptimize(verifier.Verify("POST", "/internal/v1/sdk-keys", h.caller, h.timestamp,
                                             h.nonce, h.signature, kBody, env->Now()));
  }
}
BENCHMARK(BM_VerifyEd25519);

// Baseline: the shared-key scheme's per-side work, HMAC-SHA256 of the canonical string.
void BM_BaselineHmacSha256(benchmark::State& state) {
  const std::string key(32, 'k');
  for (auto _ : state) {
    std::string canonical = CanonicalRequest("api", "auth", "POST", "/internal/v1/sdk-keys", "1800000000",
                                             "00112233445566778899aabbccddeeff", kBody);
    benchmark::DoNotOptimize(crypto::HmacSha256(key, canonical));
  }
}
BENCHMARK(BM_BaselineHmacSha256);

}  // namespace
}  // namespace edgevault::net

BENCHMARK_MAIN();
