#pragma once
// The text of OpenSSL's oldest queued error, for Status messages ("what: <text>"); clears
// the thread's error queue so the next failure reports its own cause.
// Thread-safety: OpenSSL's error queue is per thread; safe to call from any thread.

#include <string>

namespace edgevault::crypto {

// "unknown OpenSSL error" when the queue is empty.
std::string OpenSslErrorString();

}  // namespace edgevault::crypto
