#include "cli/up.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "src/base/strings.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/data_dir.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/log.h"
#include "src/crypto/keyring.h"
#include "src/net/http_client.h"
#include "src/net/http_server.h"

namespace edgevault::cli {

namespace {

// A child that ran at least this long before dying restarts after the initial
// back-off again instead of the doubled one.
constexpr absl::Duration kStableRun = absl::Seconds(10);
constexpr absl::Duration kReadyWait = absl::Seconds(15);

// The fd number a child finds its listening socket at (passed as --listen-fd).
constexpr int kChildListenFd = 3;

struct Child {
  std::string name;
  std::string binary;
  int listen_fd = -1;           // ours; each start of the child inherits it
  pid_t pid = -1;
  absl::Duration started;       // monotonic
  absl::Duration backoff;       // next restart delay
  absl::Duration restart_at;    // monotonic; meaningful while pid == -1
  int restarts = 0;
};

int Fail(int code, std::string_view what, const absl::Status& st) {
  EV_LOG(kError, what, {{"error", st.message()}});
  std::fprintf(stderr, "edgevault up: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(st.message().size()), st.message().data());
  return code;
}

// Binds and listens on host:port (port 0: the kernel picks one) for service `name`; the
// socket is close-on-exec, so only the child it is handed to inherits it. Returns the fd
// and sets *bound to the port it got.
absl::StatusOr<int> Listen(std::string_view name, const std::string& host, uint16_t port,
                           uint16_t* bound) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(base::StrCat("config key 'services.", name, ".host' (", host,
                                                   ") must be an IP address"));
  }
  const std::string where = base::StrCat(host, ":", port, " for the ", name, " service");
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return base::ErrnoStatus("socket", where, errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    return absl::UnavailableError(base::StrCat("cannot listen on ", where, ": ", std::strerror(err),
                                               err == EADDRINUSE ? " (choose other ports with --port-base)" : ""));
  }
  len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound = ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

// "signal N" or "exit code N", for logs.
std::string HowItEnded(int wait_status) {
  return WIFSIGNALED(wait_status) ? base::StrCat("signal ", WTERMSIG(wait_status))
                                  : base::StrCat("exit code ", WEXITSTATUS(wait_status));
}

std::string SelfDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return exe.parent_path().string();
}

class Supervisor {
 public:
  Supervisor(base::Env* env, const base::Config& config, const DataDirLayout& layout,
             std::vector<std::string> child_args, sigset_t signals)
      : env_(env), config_(config), layout_(layout), child_args_(std::move(child_args)),
        signals_(signals) {}

  ~Supervisor() {
    for (Child& c : children_) {
      if (c.listen_fd >= 0) ::close(c.listen_fd);
    }
  }

  void Add(std::string name, std::string binary, int listen_fd) {
    Child c;
    c.name = std::move(name);
    c.binary = std::move(binary);
    c.listen_fd = listen_fd;
    c.backoff = config_.restart_backoff_initial;
    children_.push_back(std::move(c));
  }

  absl::Status StartAll() {
    for (Child& c : children_) EV_RETURN_IF_ERROR(Spawn(c));
    return absl::OkStatus();
  }

  // Runs (restarting children that die) until SIGINT/SIGTERM (returns the signal) or a
  // service cannot start with its configuration (returns 0; unstartable() names it).
  int Run() {
    for (;;) {
      if (!unstartable_.empty()) return 0;
      struct timespec tick = {0, 50 * 1000 * 1000};
      siginfo_t info;
      int sig = sigtimedwait(&signals_, &info, &tick);
      if (sig == SIGINT || sig == SIGTERM) return sig;
      ReapAndScheduleRestarts();
      RestartDue();
    }
  }
  // The first service that exited saying its configuration cannot work; "" when none.
  const std::string& unstartable() const { return unstartable_; }

  void PrintWhenReady() {
    auto client = net::HttpClient::Create(net::HttpClientOptions{});
    if (!client.ok()) return;
    const absl::Duration deadline = env_->MonotonicNow() + kReadyWait;
    for (Child& c : children_) {
      if (!unstartable_.empty()) return;  // never "up": RunUp says why
      const base::ServiceEndpoint* ep = config_.Endpoint(c.name);
      bool ready = false;
      const bool tls = c.name == "console" && !config_.console_settings.tls_cert_file.empty();
      while (!ready && env_->MonotonicNow() < deadline && unstartable_.empty()) {
        if (tls) {
          ready = net::TlsHealthy(ep->host, ep->port, absl::Seconds(2));
        } else {
          net::ClientRequest req;
          req.method = "GET";
          req.target = "/healthz";
          auto resp = (*client)->Do(ep->host, ep->port, req);
          ready = resp.ok() && resp->status == 200;
        }
        if (!ready) {
          // Let a signal (Ctrl-C during start-up) through while waiting.
          struct timespec t = {0, 50 * 1000 * 1000};
          siginfo_t info;
          int sig = sigtimedwait(&signals_, &info, &t);
          if (sig == SIGINT || sig == SIGTERM) {
            pending_signal_ = sig;
            return;
          }
          ReapAndScheduleRestarts();
          RestartDue();
        }
      }
      std::printf("  %-9s %s://%s:%d%s\n", c.name.c_str(), tls ? "https" : "http",
                  ep->host.c_str(), ep->port,
                  ready ? "" : "   (not answering yet)");
    }
    if (!unstartable_.empty()) return;  // never "up": RunUp says why
    PrintFirstStart();  // before the "is up" line scripts wait for
    std::printf("EdgeVault is up (data directory %s). Press Ctrl-C to stop.\n",
                layout_.root.c_str());
    std::fflush(stdout);
  }

  // On the first start auth leaves the owner's one-time password in run/first-start
  // (FirstStartFile()) instead of printing it between the services' logs: print it once
  // here, after the URLs, in a block of its own, then delete the file.
  void PrintFirstStart() {
    const std::string path = FirstStartFile();
    absl::StatusOr<std::string> text = env_->ReadFile(path);
    if (!text.ok()) return;
    ::unlink(path.c_str());
    std::vector<std::string> lines = absl::StrSplit(*text, '\n');
    if (lines.size() < 2) return;
    const base::ServiceEndpoint* console = config_.Endpoint("console");
    const base::ServiceEndpoint* api = config_.Endpoint("api");
    const std::string key_file = layout_.root + "/bootstrap-admin.key";
    const std::string rule(72, '=');
    std::printf("\n%s\nFirst start: EdgeVault created the owner account. Shown once; keep it now.\n\n", rule.c_str());
    if (console != nullptr) std::printf("  console:  http://%s:%d\n", console->host.c_str(), console->port);
    std::printf("  email:    %s\n  password: %s\n            (one-time: you choose a new one at the first login)\n",
                lines[0].c_str(), lines[1].c_str());
    std::printf("  owner API key: %s (mode 0600)\n", key_file.c_str());
    if (api != nullptr) {
      std::printf("\n  From the command line:\n    edgevault login --api-url http://%s:%d --api-key \"$(cat %s)\"\n",
                  api->host.c_str(), api->port, key_file.c_str());
    }
    std::printf("%s\n\n", rule.c_str());
  }

  std::string FirstStartFile() const { return layout_.run_dir + "/first-start"; }

  int pending_signal() const { return pending_signal_; }
  // Stops every child, callers before the services they call, so nothing is cut off in the
  // middle of a last call: delivery (its final usage flush goes to the api) and the console
  // first, then the api, then auth, then audit (it drains what the others queued). Each stage
  // gets SIGTERM and waits until its children are gone or the overall stop timeout is near;
  // children still alive then get SIGKILL. Returns true when each exited with code 0; each
  // other outcome is logged.
  bool StopAll() {
    static constexpr std::string_view kStages[][2] = {
        {"delivery", "console"}, {"api", ""}, {"auth", ""}, {"audit", ""}};
    bool clean = true;
    auto note = [&clean](const std::vector<std::pair<Child*, int>>& exited) {
      for (const auto& [c, status] : exited) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
        clean = false;
        EV_LOG(kError, "service did not stop cleanly", {{"service", c->name}, {"how", HowItEnded(status)}});
      }
    };
    const absl::Duration deadline = env_->MonotonicNow() + config_.stop_timeout -
                                    absl::Milliseconds(250);
    auto in_stage = [](const Child& c, const std::string_view (&stage)[2]) {
      return c.name == stage[0] || (!stage[1].empty() && c.name == stage[1]);
    };
    auto stage_alive = [&](const std::string_view (&stage)[2]) {
      for (const Child& c : children_) {
        if (c.pid > 0 && in_stage(c, stage)) return true;
      }
      return false;
    };
    for (const auto& stage : kStages) {
      for (Child& c : children_) {
        if (c.pid > 0 && in_stage(c, stage)) ::kill(c.pid, SIGTERM);
      }
      while (stage_alive(stage) && env_->MonotonicNow() < deadline) {
        note(Reap());
        if (stage_alive(stage)) env_->SleepFor(absl::Milliseconds(10));
      }
    }
    // A child not named in a stage (none today) still gets its SIGTERM and the rest of the time.
    for (Child& c : children_) {
      if (c.pid > 0) ::kill(c.pid, SIGTERM);
    }
    while (AnyAlive() && env_->MonotonicNow() < deadline) {
      note(Reap());
      if (AnyAlive()) env_->SleepFor(absl::Milliseconds(10));
    }
    for (Child& c : children_) {
      if (c.pid > 0) {
        EV_LOG(kWarn, "service did not stop in time; killing it",
               {{"service", c.name}, {"pid", static_cast<int>(c.pid)}});
        ::kill(c.pid, SIGKILL);
      }
    }
    while (AnyAlive()) {
      note(Reap(/*block=*/true));
    }
    return clean;
  }

 private:
  absl::Status Spawn(Child& c) {
    std::vector<std::string> args = {c.binary, "--config", layout_.config_file, "--listen-fd",
                                     std::to_string(kChildListenFd)};
    args.insert(args.end(), child_args_.begin(), child_args_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return base::ErrnoStatus("fork", c.binary, errno);
    if (pid == 0) {
      // Child: die with the launcher, get the default signal mask back, exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      // The service's listening socket at kChildListenFd, without close-on-exec (dup2
      // clears it; the other children's sockets keep it and are not inherited).
      if (c.listen_fd == kChildListenFd) {
        ::fcntl(kChildListenFd, F_SETFD, 0);
      } else if (::dup2(c.listen_fd, kChildListenFd) < 0) {
        ::_exit(126);
      }
      // Auth leaves the first start's one-time password here for PrintFirstStart.
      if (c.name == "auth") ::setenv("EDGEVAULT_FIRST_START_FILE", FirstStartFile().c_str(), 1);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      std::fprintf(stderr, "edgevault up: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    c.pid = pid;
    c.started = env_->MonotonicNow();
    std::string pid_text = base::StrCat(pid, "\n");
    (void)env_->WriteFileAtomically(base::StrCat(layout_.run_dir, "/", c.name, ".pid"),
                                    pid_text, 0600);
    EV_LOG(kInfo, "service started", {{"service", c.name}, {"pid", static_cast<int>(pid)},
                                      {"restarts", c.restarts}});
    return absl::OkStatus();
  }

  bool AnyAlive() const {
    for (const Child& c : children_) {
      if (c.pid > 0) return true;
    }
    return false;
  }

  // Reaps exited children; returns them (pid set to -1) with their wait status.
  std::vector<std::pair<Child*, int>> Reap(bool block = false) {
    std::vector<std::pair<Child*, int>> out;
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, block ? 0 : WNOHANG);
      if (pid <= 0) break;
      for (Child& c : children_) {
        if (c.pid == pid) {
          c.pid = -1;
          ::unlink(base::StrCat(layout_.run_dir, "/", c.name, ".pid").c_str());
          out.emplace_back(&c, status);
        }
      }
      if (block) break;
    }
    return out;
  }

  void ReapAndScheduleRestarts() {
    const absl::Duration now = env_->MonotonicNow();
    for (auto [c, status] : Reap()) {
      const std::string how = HowItEnded(status);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        // The service says its configuration cannot work (service_main: exit 2): a restart
        // would fail the same way, forever. Everything stops (Run returns) with the reason.
        EV_LOG(kError, "service cannot start with this configuration; stopping EdgeVault",
               {{"service", c->name}, {"how", how}});
        if (unstartable_.empty()) unstartable_ = c->name;
        continue;
      }
      if (now - c->started >= kStableRun) c->backoff = config_.restart_backoff_initial;
      c->restart_at = now + c->backoff;
      EV_LOG(kWarn, "service exited; restarting",
             {{"service", c->name}, {"how", how},
              {"restart_in_ms", absl::ToInt64Milliseconds(c->backoff)}});
      c->backoff = std::min(c->backoff * 2, config_.restart_backoff_max);
    }
  }

  void RestartDue() {
    const absl::Duration now = env_->MonotonicNow();
    for (Child& c : children_) {
      if (c.pid == -1 && now >= c.restart_at) {
        ++c.restarts;
        if (absl::Status st = Spawn(c); !st.ok()) {
          EV_LOG(kError, "restart failed", {{"service", c.name}, {"error", st.message()}});
          c.restart_at = now + c.backoff;
        }
      }
    }
  }

  base::Env* env_;
  const base::Config& config_;
  const DataDirLayout& layout_;
  std::vector<std::string> child_args_;
  sigset_t signals_;
  std::vector<Child> children_;
  int pending_signal_ = 0;
  std::string unstartable_;
};

}  // namespace

int RunUp(const UpOptions& options) {
  base::SetLogService("up");
  base::Env* env = base::Env::Default();
  DataDirLayout layout = DataDirLayout::For(options.data_dir);

  if (options.port_base && (*options.port_base < 0 || *options.port_base > 65531)) {
    return Fail(2, "invalid --port-base",
                absl::InvalidArgumentError(base::StrCat(
                    "expected a port in 1..65531 (five ports from it are used) or 0 (any free "
                    "ports), got ",
                    *options.port_base)));
  }
  if (absl::Status st = env->CreateDirs(layout.root, 0700); !st.ok()) {
    return Fail(1, "cannot create the data directory", st);
  }
  auto lock = DataDirLock::Acquire(layout);
  if (!lock.ok()) return Fail(1, "data directory in use", lock.status());

  absl::StatusOr<bool> created = InitDataDir(env, layout, options.port_base.value_or(8080));
  if (!created.ok()) return Fail(1, "cannot initialise the data directory", created.status());

  // Children get the same overrides as the configuration checked here.
  std::vector<std::pair<std::string, std::string>> overrides = options.overrides;
  if (options.port_base) {
    int i = 0;
    for (std::string_view name : base::kServiceNames) {
      // 0: every service on a port the kernel picks (tests; see DATA_DIR/run/<name>.port).
      overrides.emplace_back(base::StrCat("services.", name, ".port"),
                             base::StrCat(*options.port_base == 0 ? 0 : *options.port_base + i++));
    }
  }
  base::ConfigSources sources;
  sources.file = layout.config_file;
  sources.env = base::ProcessEnvironment();
  sources.overrides = overrides;
  absl::StatusOr<base::Config> config = base::LoadConfig(sources);
  if (!config.ok()) return Fail(2, "invalid configuration", config.status());
  base::SetLogLevel(config->log_level);
  // Every start: retire an older release's shared internal.key, and give each service
  // its own credential (new installs got them from InitDataDir; this also replaces a
  // deleted one and re-publishes a missing public key).
  if (absl::StatusOr<bool> migrated = MigrateLegacyInternalKey(env, config->keys_dir); !migrated.ok()) {
    return Fail(1, "cannot retire the shared internal key", migrated.status());
  } else if (*migrated) {
    EV_LOG(kInfo, "retired keys/internal.key: each service now signs with its own credential",
           {{"keys_dir", config->keys_dir}});
  }
  absl::StatusOr<std::vector<std::string>> minted =
      EnsureServiceCredentials(env, config->keys_dir, config->trust_dir);
  if (!minted.ok()) return Fail(1, "cannot create the services' credentials", minted.status());
  if (absl::Status st = CheckKeyFiles(env, config->keys_dir, config->trust_dir); !st.ok()) {
    return Fail(1, "refusing to start", st);
  }
  // The api would refuse the same way; saying it here names the problem before any
  // service starts.
  if (absl::Status st = crypto::LoadKeyring(env, crypto::MasterKeySource(*config)).status();
      !st.ok()) {
    return Fail(1, "refusing to start", st);
  }

  // The console would refuse the same TLS files (docs/console.md#tls); say so before any
  // service starts.
  if (!config->console_settings.tls_cert_file.empty()) {
    if (absl::Status st = net::CheckTlsFiles(config->console_settings.tls_cert_file,
                                             config->console_settings.tls_key_file);
        !st.ok()) {
      return Fail(1, "refusing to start", st);
    }
  }

  // One listening socket per service, bound here and inherited by every start of that
  // service (--listen-fd): a port 0 is resolved once, each child is told its peers' real
  // ports, and a restarted child serves the same socket, so connections made while it
  // was down wait in the backlog instead of being refused.
  std::vector<int> listen_fds;
  auto close_all = [&listen_fds] {
    for (int fd : listen_fds) ::close(fd);
  };
  for (std::string_view name : base::kServiceNames) {
    base::ServiceEndpoint* ep = config->MutableEndpoint(name);
    uint16_t bound = 0;
    absl::StatusOr<int> fd = Listen(name, ep->host, ep->port, &bound);
    if (!fd.ok()) {
      close_all();
      return Fail(1, "cannot start the services", fd.status());
    }
    listen_fds.push_back(*fd);
    ep->port = bound;
    overrides.emplace_back(base::StrCat("services.", name, ".port"), base::StrCat(bound));
  }

  // The console forwards each browser's address to auth in X-Forwarded-For (replacing any
  // the browser sent) so login throttling stays per browser (docs/console.md). Unless the
  // operator configured a proxy setup of their own, auth believes that header from the
  // console's address only.
  if (config->auth_settings.client_address_header.empty() &&
      config->auth_settings.trusted_proxies.empty()) {
    const std::string& console_host = config->console.host;
    const bool wildcard = console_host == "0.0.0.0" || console_host == "::";
    overrides.emplace_back("auth.client_address_header", "X-Forwarded-For");
    overrides.emplace_back("auth.trusted_proxies", wildcard ? "127.0.0.1, ::1" : console_host);
  }

  const std::string bin_dir = options.bin_dir.empty() ? SelfDir() : options.bin_dir;
  std::vector<std::string> child_args;
  for (const auto& [k, v] : overrides) {
    child_args.push_back("--set");
    child_args.push_back(base::StrCat(k, "=", v));
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  for (std::string_view name : base::kServiceNames) {
    std::string binary = base::StrCat(bin_dir, "/edgevault-", name);
    if (::access(binary.c_str(), X_OK) != 0) {
      close_all();
      return Fail(1, "missing executable",
                  absl::NotFoundError(base::StrCat(binary, " is not there; run `make` first")));
    }
  }
  Supervisor sup(env, *config, layout, child_args, signals);
  size_t i = 0;
  for (std::string_view name : base::kServiceNames) {
    sup.Add(std::string(name), base::StrCat(bin_dir, "/edgevault-", name), listen_fds[i++]);
  }
  if (*created) {
    std::printf("Initialised %s (configuration edgevault.toml, keys in keys/).\n",
                layout.root.c_str());
  }
  if (absl::Status st = sup.StartAll(); !st.ok()) {
    sup.StopAll();
    return Fail(1, "cannot start the services", st);
  }
  sup.PrintWhenReady();
  int sig = sup.pending_signal();
  if (sig == 0 && sup.unstartable().empty()) sig = sup.Run();
  if (!sup.unstartable().empty()) {
    sup.StopAll();
    std::fprintf(stderr,
                 "edgevault up: the %s service cannot start with this configuration (its \"start-up failed\" "
                 "line above says why); fix it and run edgevault up again\n",
                 sup.unstartable().c_str());
    return 2;
  }
  const bool clean = sup.StopAll();
  EV_LOG(kInfo, "stopped", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}, {"clean", clean}});
  std::printf("EdgeVault stopped.\n");
  if (!clean) {
    std::fprintf(stderr, "edgevault up: a service did not stop cleanly (see \"service did not stop cleanly\" above)\n");
    return 1;
  }
  return 0;
}

}  // namespace edgevault::cli
