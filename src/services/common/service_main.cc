#include "src/services/common/service_main.h"

#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "src/base/strings.h"
#include "src/base/log.h"
#include "src/net/http_server.h"

namespace edgevault::services {

namespace {

// Prints a start-up failure both as a JSON log line and, for a person at a
// terminal, as plain text on stderr.
int Fail(int code, std::string_view what, const absl::Status& status) {
  EV_LOG(kError, what, {{"error", status.message()}});
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(status.message().size()), status.message().data());
  return code;
}

}  // namespace

int RunService(std::string_view name, int argc, char** argv, const Installer& install) {
  const std::string binary = base::StrCat("edgevault-", name);
  base::SetLogService(name);

  CLI::App app{base::StrCat(binary, ": the EdgeVault ", name, " service")};
  std::string config_file;
  std::vector<std::string> sets;
  bool show_version = false;
  app.add_option("--config", config_file, "TOML configuration file (normally DATA_DIR/edgevault.toml)");
  app.add_option("--set", sets, "override one configuration key: --set services.api.port=9001")
      ->take_all();
  app.add_flag("--version", show_version, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (show_version) {
    std::printf("%s %.*s\n", binary.c_str(), static_cast<int>(kVersion.size()), kVersion.data());
    return 0;
  }

  base::ConfigSources sources;
  sources.file = config_file;
  sources.env = base::ProcessEnvironment();
  for (const std::string& s : sets) {
    auto kv = base::ParseOverride(s);
    if (!kv.ok()) return Fail(2, "bad --set", kv.status());
    sources.overrides.push_back(*std::move(kv));
  }
  absl::StatusOr<base::Config> config = base::LoadConfig(sources);
  if (!config.ok()) return Fail(2, "invalid configuration", config.status());
  base::SetLogLevel(config->log_level);
  base::Env* env = base::Env::Default();

  const base::ServiceEndpoint* endpoint = config->Endpoint(name);
  if (endpoint == nullptr) {
    return Fail(1, "unknown service", absl::InvalidArgumentError(std::string(name)));
  }

  const std::string key_path = base::StrCat(config->keys_dir, "/internal.key");
  absl::StatusOr<net::InternalKey> key = net::LoadInternalKey(env, key_path);
  if (!key.ok()) return Fail(1, "cannot load the internal key", key.status());
  net::SignatureVerifierOptions verifier_options;
  verifier_options.window = config->internal_signature_window;
  net::SignatureVerifier verifier(*key, verifier_options);

  // Block the stop signals before any thread starts, so that every thread inherits
  // the mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  net::Router router;
  router.Get("/", [name = std::string(name)](net::Request&) {
    std::string body = "{\"service\":";
    base::AppendJsonString(&body, name);
    base::StrAppend(&body, ",\"version\":\"", kVersion, "\"}");
    return net::Response::Json(200, std::move(body));
  });
  // A signed no-op: lets a caller (and the tests) check a service binding end to end.
  router.Add(
      boost::beast::http::verb::post, "/internal/v1/ping",
      [name = std::string(name)](net::Request& req) {
        std::string body = "{\"service\":";
        base::AppendJsonString(&body, name);
        base::StrAppend(&body, ",\"received_bytes\":", req.body().size(), "}");
        return net::Response::Json(200, std::move(body));
      },
      net::RouteOptions{.internal_signed = true});

  ServiceContext ctx{name, *config, env, router, verifier, *key};
  if (absl::Status st = install(ctx); !st.ok()) return Fail(1, "start-up failed", st);

  net::ServerOptions options;
  options.service = std::string(name);
  options.host = endpoint->host;
  options.port = endpoint->port;
  options.io_threads = config->io_threads;
  options.limits = config->limits;
  options.env = env;
  options.verifier = &verifier;
  absl::StatusOr<std::unique_ptr<net::HttpServer>> server =
      net::HttpServer::Create(options, std::move(router));
  if (!server.ok()) return Fail(1, "cannot create the server", server.status());
  if (absl::Status st = (*server)->Start(); !st.ok()) return Fail(1, "cannot start", st);
  EV_LOG(kInfo, "started",
         {{"url", base::StrCat("http://", endpoint->host, ":", (*server)->port())},
          {"version", kVersion}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  EV_LOG(kInfo, "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*server)->Drain();
  EV_LOG(kInfo, "stopped");
  return 0;
}

}  // namespace edgevault::services
