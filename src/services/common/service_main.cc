#include "src/services/common/service_main.h"

#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <filesystem>
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

// Destroys the objects the installer kept, newest first.
void DestroyKept(ServiceContext& ctx) {
  while (!ctx.kept.empty()) {
    std::function<void()> destroy = std::move(ctx.kept.back());
    ctx.kept.pop_back();
    destroy();
  }
}

// The threads this process has right now (/proc/self/task); 0 when unknown.
int ThreadCount() {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec ? 0 : n;
}

// Checks that `fd` is a listening TCP socket (what `edgevault up` hands its children).
absl::Status CheckListeningSocket(int fd) {
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) {
    return absl::InvalidArgumentError(
        base::StrCat("--listen-fd ", fd, " is not a listening socket"));
  }
  return absl::OkStatus();
}

}  // namespace

int RunService(std::string_view name, int argc, char** argv, const Installer& install) {
  const std::string binary = base::StrCat("edgevault-", name);
  base::SetLogService(name);

  CLI::App app{base::StrCat(binary, ": the EdgeVault ", name, " service")};
  std::string config_file;
  std::vector<std::string> sets;
  bool show_version = false;
  int listen_fd = -1;
  app.add_option("--config", config_file, "TOML configuration file (normally DATA_DIR/edgevault.toml)");
  app.add_option("--listen-fd", listen_fd,
                 "serve on this inherited listening socket instead of binding "
                 "services.<name>.host/port (`edgevault up` passes it)");
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

  // The service's own credential is the only file under keys/ this code opens (the
  // installer may open what its service alone needs: auth its keys/auth/, api the master
  // keys); the trust directory holds only public keys.
  absl::StatusOr<net::ServiceCredential> credential = net::ServiceCredential::Load(
      env, net::ServiceCredentialPath(config->keys_dir, name), name);
  if (!credential.ok()) return Fail(1, "cannot load the service credential", credential.status());
  net::SignatureVerifierOptions verifier_options;
  verifier_options.window = config->internal_signature_window;
  absl::StatusOr<std::unique_ptr<net::SignatureVerifier>> verifier = net::SignatureVerifier::WithLoader(
      std::string(name), net::TrustDirLoader(env, config->trust_dir), env->Now(), verifier_options);
  if (!verifier.ok()) return Fail(1, "cannot load the trusted service keys", verifier.status());

  // Block the stop signals before any thread starts, so that every thread inherits
  // the mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  net::Router router;
  // The console serves its web app at / (docs/console.md); every other service says who it is.
  if (name != "console") {
    router.Get("/", [name = std::string(name)](net::Request&) {
      std::string body = "{\"service\":";
      base::AppendJsonString(&body, name);
      base::StrAppend(&body, ",\"version\":\"", kVersion, "\"}");
      return net::Response::Json(200, std::move(body));
    });
  }
  // A signed no-op: lets a caller (and the tests) check a service binding end to end.
  router.Add(
      boost::beast::http::verb::post, "/internal/v1/ping",
      [name = std::string(name)](net::Request& req) {
        std::string body = "{\"service\":";
        base::AppendJsonString(&body, name);
        base::StrAppend(&body, ",\"received_bytes\":", req.body().size(), "}");
        return net::Response::Json(200, std::move(body));
      },
      net::RouteOptions{.internal_callers = {std::begin(base::kServiceNames), std::end(base::kServiceNames)}});

  if (listen_fd >= 0) {
    if (absl::Status st = CheckListeningSocket(listen_fd); !st.ok()) return Fail(2, "bad --listen-fd", st);
  }

  net::ServerHooks hooks;
  ServiceContext ctx{name, *config, env, router, **verifier, *credential, hooks};
  if (absl::Status st = install(ctx); !st.ok()) {
    DestroyKept(ctx);
    // Exit 2: what is configured cannot work (a bad or missing file, a refused setting) and
    // starting again will not help, so `edgevault up` stops instead of restarting it. Exit
    // 1: possibly passing (a database not reachable yet), worth restarting.
    const bool configuration = absl::IsInvalidArgument(st) || absl::IsFailedPrecondition(st) ||
                               absl::IsNotFound(st) || absl::IsPermissionDenied(st);
    return Fail(configuration ? 2 : 1, "start-up failed", st);
  }

  net::ServerOptions options;
  options.service = std::string(name);
  options.host = endpoint->host;
  options.port = endpoint->port;
  options.io_threads = config->io_threads;
  options.limits = config->limits;
  options.env = env;
  options.verifier = verifier->get();
  options.listen_fd = listen_fd;
  options.hooks = std::move(hooks);
  if (name == "console") {
    options.tls_cert_file = config->console_settings.tls_cert_file;
    options.tls_key_file = config->console_settings.tls_key_file;
  }
  absl::StatusOr<std::unique_ptr<net::HttpServer>> server =
      net::HttpServer::Create(options, std::move(router));
  if (!server.ok()) {
    DestroyKept(ctx);
    return Fail(1, "cannot create the server", server.status());
  }
  if (absl::Status st = (*server)->Start(); !st.ok()) {
    DestroyKept(ctx);
    return Fail(1, "cannot start", st);
  }
  const uint16_t port = (*server)->port();
  EV_LOG(kInfo, "started",
         {{"url", base::StrCat(options.tls_cert_file.empty() ? "http://" : "https://", endpoint->host, ":", port)}, {"version", kVersion}});
  // Reports the port (a service configured with port 0 gets one from the kernel). Not
  // fatal: a data-plane node may have no writable data directory.
  const std::string port_file = base::StrCat(config->data_dir, "/run/", name, ".port");
  absl::Status reported = env->CreateDirs(base::StrCat(config->data_dir, "/run"), 0700);
  if (reported.ok()) reported = env->WriteFileAtomically(port_file, base::StrCat(port, "\n"), 0600);
  if (!reported.ok()) EV_LOG(kWarn, "cannot record the port", {{"error", reported.message()}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  EV_LOG(kInfo, "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*server)->Drain();
  DestroyKept(ctx);
  if (reported.ok()) {
    // Only our own report: a newer instance may have replaced it.
    absl::StatusOr<std::string> text = env->ReadFile(port_file);
    if (text.ok() && *text == base::StrCat(port, "\n")) (void)env->DeleteFile(port_file);
  }
  const int threads = ThreadCount();
  if (threads > 1) EV_LOG(kError, "threads still running at exit", {{"threads", threads}});
  EV_LOG(kInfo, "stopped", {{"threads", threads}});
  return 0;
}

}  // namespace edgevault::services
