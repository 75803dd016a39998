#pragma once
// The runtime every EdgeVault service executable shares: flags, configuration,
// logging, the service's credential for internal calls, the HTTP server with its built-in /healthz, /readyz
// and /metrics, and a clean stop on SIGTERM/SIGINT (drain, then exit 0).
//
//   int main(int argc, char** argv) {
//     return services::RunService("api", argc, argv, [](services::ServiceContext& ctx) {
//       api::InstallRoutes(ctx);
//       return absl::OkStatus();
//     });
//   }
//
// Flags: --config FILE (TOML), --set key=value (repeatable), --listen-fd N (serve on
// an inherited listening socket instead of binding; `edgevault up` uses it), --version,
// --help.
// Once listening, the service writes the port it got to DATA_DIR/run/<name>.port (so a
// service configured with port 0 can be found; docs/design/data-dir.md) and removes the
// file when it stops cleanly.
// Stop: on SIGTERM/SIGINT the server drains, then the objects the installer handed to
// ServiceContext::Keep are destroyed, newest first (each stops and joins its threads), and
// only then does RunService return, so no thread outlives main(). The last log line,
// "stopped", says how many threads the process still has (1 when the stop was complete).
// Exit codes: 0 after a clean stop, 2 for bad flags or configuration (the message
// names the key), 1 when start-up fails otherwise (the message says why).
// Thread-safety: RunService is called once, from main().

#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/net/http_server.h"
#include "src/net/router.h"
#include "src/net/signing.h"

namespace edgevault::services {

inline constexpr std::string_view kVersion = "0.1.0";

struct ServiceContext {
  std::string_view name;           // "api", "delivery", ...
  const base::Config& config;
  base::Env* env;
  net::Router& router;             // add routes here; served once the installer returns
  net::SignatureVerifier& verifier;  // for RouteOptions::internal_callers routes
  // This service's own key, to sign its calls to other services (HttpClientOptions).
  const net::ServiceCredential& credential;
  net::ServerHooks& hooks;  // the service's own readiness condition and /metrics families

  // Keeps `object` alive while the server runs and destroys it after the server has
  // drained (no handler runs any more), before RunService returns; objects kept later
  // are destroyed first, so keep each object after the ones it uses. Its destructor
  // must stop and join every thread it started. Also destroyed when start-up fails
  // after this call. Returns the object, for wiring.
  template <typename T>
  T* Keep(std::unique_ptr<T> object) {
    T* raw = object.get();
    kept.push_back([p = std::shared_ptr<T>(std::move(object))]() mutable { p.reset(); });
    return raw;
  }
  // Destroyers of the kept objects, oldest first (RunService runs them newest first).
  std::vector<std::function<void()>> kept;
};

// Called after configuration is loaded and before the server starts. An error
// stops start-up (exit 1) with its message.
using Installer = std::function<absl::Status(ServiceContext&)>;

int RunService(std::string_view name, int argc, char** argv, const Installer& install);

}  // namespace edgevault::services
