#!/usr/bin/env bash
# OpenSSL's own AES-256-GCM throughput on this machine (the EVP path our aead.cc uses), to set
# beside bench_envelope's BM_AesGcmSeal rows: same block sizes, one thread.
#   bench/crypto/openssl_speed.sh [seconds-per-size]   (default 2)
# Needs the `openssl` command (Debian package openssl; scripts/install-deps installs it).
set -euo pipefail

seconds="${1:-2}"
if ! command -v openssl >/dev/null 2>&1; then
  echo "openssl_speed.sh: the openssl command is missing; run scripts/install-deps" >&2
  exit 1
fi
openssl version
# -evp goes through EVP_EncryptUpdate like src/crypto/aead.cc; -seconds bounds each size.
openssl speed -evp aes-256-gcm -seconds "$seconds" 2>/dev/null
