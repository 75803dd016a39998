#pragma once
// Generation of the key files `edgevault up` creates on first run (format spec:
// docs/design/key-files.md). This is key-handling code: the delivery service must
// never link it (see DESIGN.md §1).
// Thread-safety: pure functions.

#include <string>

#include "src/base/env.h"
#include "src/base/status.h"

namespace edgevault::crypto {

// A 256-bit symmetric key file: 64 lower-case hex characters and '\n'
// (the master KEK and the internal signing key share this format).
std::string GenerateSymmetricKeyFile(base::Env* env);

// An Ed25519 private key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
// Errors: Internal when OpenSSL fails.
absl::StatusOr<std::string> GenerateEd25519PrivateKeyPem();

}  // namespace edgevault::crypto
