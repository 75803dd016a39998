#pragma once
// ConsoleService: edgevault-console's routes (docs/design/console.md). It serves the built
// web app from a directory, and `/bff/`: login into an HttpOnly session cookie, the
// session document with its CSRF token, and proxies to auth (`/bff/auth/`, the session as
// bearer) and the api (`/bff/api/`, a short-lived JWT kept here, never sent to the
// browser), including a relay of the api's SSE stream. Every upstream call runs on the
// service's own blocking pool, never on an io thread.
//
//   ConsoleOptions o{.web_dir = dir, .auth_host = ..., .auth_port = ..., ...};
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<ConsoleService> console, ConsoleService::Create(o));
//   console->InstallRoutes(ctx.router);
//   ctx.Keep(std::move(console));   // destroyed after the server drained
//
// Thread-safety: InstallRoutes is called once, before the server starts; the installed
// handlers run on any thread. The destructor ends every SSE relay and joins its threads;
// call it only after the server has drained.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/net/router.h"

namespace edgevault::console {

struct ConsoleOptions {
  std::string web_dir;  // absolute; need not exist (then a built-in page says so)
  std::string auth_host = "127.0.0.1";
  uint16_t auth_port = 0;
  std::string api_host = "127.0.0.1";
  uint16_t api_port = 0;
  // The console listener serves TLS (cookie name and Secure, the expected Origin scheme).
  // Not built yet: always false.
  bool tls = false;
  int blocking_threads = 16;  // upstream calls and file reads in flight at once
  base::Env* env = nullptr;   // nullptr = base::Env::Default(); clock and the CSRF key
};

class ConsoleService {
 public:
  // Draws the CSRF key and starts the HTTP client and pool. Errors: InvalidArgument for a
  // port 0 upstream or a relative web_dir; Internal when the client cannot start.
  static absl::StatusOr<std::unique_ptr<ConsoleService>> Create(ConsoleOptions options);
  ~ConsoleService();

  ConsoleService(const ConsoleService&) = delete;
  ConsoleService& operator=(const ConsoleService&) = delete;

  void InstallRoutes(net::Router& router);

  struct Impl;

 private:
  explicit ConsoleService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace edgevault::console
