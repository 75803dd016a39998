#pragma once
// The runtime every EdgeVault service executable shares: flags, configuration,
// logging, the internal key, the HTTP server with its built-in /healthz, /readyz
// and /metrics, and a clean stop on SIGTERM/SIGINT (drain, then exit 0).
//
//   int main(int argc, char** argv) {
//     return services::RunService("api", argc, argv, [](services::ServiceContext& ctx) {
//       api::InstallRoutes(ctx);
//       return absl::OkStatus();
//     });
//   }
//
// Flags: --config FILE (TOML), --set key=value (repeatable), --version, --help.
// Exit codes: 0 after a clean stop, 2 for bad flags or configuration (the message
// names the key), 1 when start-up fails otherwise (the message says why).
// Thread-safety: RunService is called once, from main().

#include <functional>
#include <string_view>

#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/net/router.h"
#include "src/net/signing.h"

namespace edgevault::services {

inline constexpr std::string_view kVersion = "0.1.0";

struct ServiceContext {
  std::string_view name;           // "api", "delivery", ...
  const base::Config& config;
  base::Env* env;
  net::Router& router;             // add routes here; served once the installer returns
  net::SignatureVerifier& verifier;  // for RouteOptions::internal_signed routes
  const net::InternalKey& internal_key;  // to sign calls to other services
};

// Called after configuration is loaded and before the server starts. An error
// stops start-up (exit 1) with its message.
using Installer = std::function<absl::Status(ServiceContext&)>;

int RunService(std::string_view name, int argc, char** argv, const Installer& install);

}  // namespace edgevault::services
