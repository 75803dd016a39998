// JWT sign and verify throughput with the claims an access token really carries.
//   build/bin/bench_jwt --benchmark_min_time=1s
#include <benchmark/benchmark.h>

#include <string>

#include <openssl/evp.h>

#include "src/crypto/jwt.h"

namespace edgevault::crypto {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

Ed25519PrivateKey Key() { return *Ed25519PrivateKey::FromRaw(std::string(32, '\x5a')); }

JwtClaims Claims() {
  JwtClaims c;
  c.iss = "https://auth.edgevault.example.com";
  c.sub = "usr_01HZX5K3M9Q7T2V8W4Y6B1N0PC";
  c.aud = "edgevault-api";
  c.org = "org_01HZX5JQ2R8S4T6V0W2Y4A6C8E";
  c.jti = "tok_01HZX5MB7D9F1H3K5M7P9R1T3V";
  c.roles = {"admin", "editor"};
  c.scopes = {"flags:read", "flags:write", "secrets:read", "environments:promote"};
  c.iat = kNow;
  c.exp = kNow + absl::Minutes(5);
  c.extra["sid"] = "ses_01HZX5N2Q4S6U8W0Y2A4C6E8G0";
  return c;
}

void BM_SignJwt(benchmark::State& state) {
  Ed25519PrivateKey key = Key();
  std::string kid = key.Kid();
  JwtClaims claims = Claims();
  for (auto _ : state) {
    std::string token = SignJwt(key, kid, claims);
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignJwt);

void BM_VerifyJwt(benchmark::State& state) {
  Ed25519PrivateKey key = Key();
  // A verifier holding the current and previous key, as right after a rotation.
  JwtVerifier verifier;
  verifier.AddKey(key.Kid(), key.PublicKey());
  Ed25519PrivateKey old = *Ed25519PrivateKey::FromRaw(std::string(32, '\x11'));
  verifier.AddKey(old.Kid(), old.PublicKey());
  std::string token = SignJwt(key, key.Kid(), Claims());
  state.SetLabel(std::to_string(token.size()) + "-byte token");
  for (auto _ : state) {
    absl::StatusOr<JwtClaims> c =
        verifier.Verify(token, kNow, "https://auth.edgevault.example.com", "edgevault-api");
    if (!c.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyJwt);

void BM_RejectBadSignature(benchmark::State& state) {
  Ed25519PrivateKey key = Key();
  JwtVerifier verifier;
  verifier.AddKey(key.Kid(), key.PublicKey());
  std::string token = SignJwt(key, key.Kid(), Claims());
  token[token.rfind('.') + 5] ^= 1;  // stays in the base64url alphabet for letters
  for (auto _ : state) {
    absl::StatusOr<JwtClaims> c =
        verifier.Verify(token, kNow, "https://auth.edgevault.example.com", "edgevault-api");
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RejectBadSignature);

// Baselines: one raw Ed25519 signature / verification with OpenSSL's EVP API over a
// message of the same size as a token's signing input, so the JWT overhead (JSON,
// base64url, claim checks) reads as the ratio to these.
void BM_BaselineOpensslEd25519Sign(benchmark::State& state) {
  std::string seed(32, '\x5a');
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(seed.data()), 32);
  std::string msg(SignJwt(Key(), Key().Kid(), Claims()));
  msg.resize(msg.rfind('.'));
  unsigned char sig[64];
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey);
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(sig);
  }
  EVP_PKEY_free(pkey);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineOpensslEd25519Sign);

void BM_BaselineOpensslEd25519Verify(benchmark::State& state) {
  std::string seed(32, '\x5a');
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(seed.data()), 32);
  std::string msg(SignJwt(Key(), Key().Kid(), Claims()));
  msg.resize(msg.rfind('.'));
  unsigned char sig[64];
  size_t len = sizeof sig;
  EVP_MD_CTX* sctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(sctx, nullptr, nullptr, nullptr, pkey);
  EVP_DigestSign(sctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  EVP_MD_CTX_free(sctx);
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey);
    int ok = EVP_DigestVerify(ctx, sig, len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(ok);
  }
  EVP_PKEY_free(pkey);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineOpensslEd25519Verify);

}  // namespace
}  // namespace edgevault::crypto

BENCHMARK_MAIN();
