#pragma once
// Test harness for integration tests: runs the real `edgevault up --port-base 0` (every
// service on a port the kernel picks; nothing is probed) in a temporary data directory,
// reads the ports the services report in DATA_DIR/run/<name>.port, and talks to them over
// HTTP.
// Thread-safety: Call() may be used from several threads; Start/Stop from one.

#include <sys/types.h>

#include <atomic>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "src/net/http_client.h"
#include "src/net/signing.h"

namespace edgevault::testing {

std::string BinDir();

// A shell command's exit code (-1 when it did not exit normally) and its output.
struct CommandResult {
  int code = -1;
  std::string out;
};
// Runs `command` with /bin/sh, stdout and stderr (2>&1 appended) captured together.
CommandResult RunShell(const std::string& command);
// Runs `BinDir()/edgevault ARGS` with `env` ("NAME=value ..." prefix, may be empty).
CommandResult RunEdgevault(const std::string& args, const std::string& env = "");
// The port service `name` reported in DATA_DIR/run/<name>.port; 0 when there is none.
int ReadPortFile(const std::string& data_dir, std::string_view name);

// A TCP connection to 127.0.0.1:`port` whose reads time out after 100 ms (for raw-socket
// tests of streams, e.g. SSE); -1 when it cannot connect. The caller closes it.
int ConnectLoopback(int port);
// Appends what `fd` receives to `buffer` until `marker` appears, the peer closes, or about
// 10 s of reads (100 timeouts of ConnectLoopback's socket) pass. Returns `buffer`.
std::string ReadUntil(int fd, std::string& buffer, std::string_view marker);

// A loopback port that refuses connections for as long as this object lives: a socket is
// bound to it but never listens, so nobody else can take the port meanwhile (unlike a port
// probed and released). For tests of "nothing answers there".
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  int port() const { return port_; }  // 0 when no socket could be bound

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A child process with stdout and stderr going to a file.
struct Proc {
  pid_t pid = -1;
  std::string out_file;
};
Proc Spawn(std::vector<std::string> args, const std::string& out_file,
           const std::vector<std::string>& env = {});
// Exit code of `pid` (128 + signal when killed), waiting at most `limit_ms`; -1 when it
// is still running then.
int WaitExit(pid_t pid, int limit_ms);
// Kills (SIGKILL) and reaps `*pid` when it goes out of scope, unless the test has set it
// to -1 (it stopped the process itself): no child outlives a test that ends early.
struct KillOnExit {
  pid_t* pid;
  ~KillOnExit();
};
std::string ReadFile(const std::string& path);
// Polls `done` every 20 ms until it returns true (then true) or `limit_ms` passes (false).
// The limit only bounds how long a failing test waits.
bool PollUntil(const std::function<bool()>& done, int limit_ms);
// Lines of the audit warehouse (DATA_DIR/audit/warehouse/**.ndjson) whose action is
// `action` and that contain every needle. The warehouse fills asynchronously: poll.
int CountAuditLines(const std::string& data_dir, std::string_view action,
                    const std::vector<std::string>& needles);

// Background load for a test: threads that run until stopped. The destructor stops and
// joins them, so an ASSERT that returns early never leaves a joinable std::thread behind.
class LoadThreads {
 public:
  LoadThreads() = default;
  LoadThreads(const LoadThreads&) = delete;
  LoadThreads& operator=(const LoadThreads&) = delete;
  ~LoadThreads() { StopAndJoin(); }

  // Starts a thread running `body`, which should return soon after stopping() is true.
  void Add(std::function<void()> body) { threads_.emplace_back(std::move(body)); }
  bool stopping() const { return stop_.load(); }
  void StopAndJoin() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

struct HttpReply {
  int status = 0;
  std::string body;
  boost::json::value json;  // null when the body is not JSON
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(std::string_view name) const;
};

class EdgeVaultUp {
 public:
  // Starts `edgevault up` and waits until it reports being up (60 s at most).
  static std::unique_ptr<EdgeVaultUp> Start(std::vector<std::string> extra_args = {});
  ~EdgeVaultUp();  // Stop() if still running, SIGKILLs what is left, removes the directory

  // SIGTERMs `up` and waits (60 s at most) for it to stop its services and exit.
  struct Stopped {
    int exit_code = -1;  // -1: it did not exit in time (then it was SIGKILLed)
    std::string output;  // everything `up` and the services printed
  };
  Stopped Stop();
  // After Stop(): starts `up` again on the same data directory (with other arguments,
  // e.g. --set overrides) and waits as Start does; false when it did not come up.
  bool Restart(std::vector<std::string> extra_args = {});

  int port(std::string_view service) const;  // console, api, delivery, auth, audit
  const std::string& data_dir() const { return data_; }
  const std::string& admin_key() const { return admin_key_; }  // bootstrap-admin.key
  const std::string& owner_email() const { return email_; }
  const std::string& owner_password() const { return password_; }
  std::string Output() const;  // what `up` printed so far
  pid_t pid() const { return pid_; }
  // The pid of a child service (from DATA_DIR/run/<name>.pid), or -1.
  pid_t ServicePid(std::string_view service) const;
  // Re-reads the ports from DATA_DIR/run (a restarted service keeps its socket, so they
  // do not change while `up` runs). False when a file is missing.
  bool ReloadPorts();
  // Polls /healthz of `service` until 200 (limit in ms); false on timeout.
  bool WaitHealthy(std::string_view service, int limit_ms = 30000);

  HttpReply Call(std::string_view service, std::string method, std::string target,
                 std::string body = "", std::string bearer = "",
                 std::vector<std::pair<std::string, std::string>> headers = {});
  HttpReply Json(std::string_view service, std::string method, std::string target,
                 const boost::json::value& body, std::string bearer = "",
                 std::vector<std::pair<std::string, std::string>> headers = {});

  // Creates (as owner, via the bootstrap key) a user with `role`, logs them in, and
  // returns a JWT for them from auth's POST /v1/token.
  std::string TokenForNewUser(const std::string& email, const std::string& role);

 private:
  EdgeVaultUp() = default;
  bool Launch(std::vector<std::string> extra_args);
  std::string tmp_, data_, out_file_;
  int restarts_ = 0;
  std::map<std::string, int, std::less<>> ports_;
  pid_t pid_ = -1;
  std::string admin_key_, email_, password_;
  std::unique_ptr<net::HttpClient> client_;
};

// Requests signed with the real credential of one of up's services (from DATA_DIR/keys):
// what that service, or an attacker holding its key, can send to the internal routes.
class SignedCaller {
 public:
  // Loads `as_service`'s credential; the Env's error when its key file cannot be read.
  static absl::StatusOr<std::unique_ptr<SignedCaller>> Load(const EdgeVaultUp& up, std::string_view as_service);

  // POSTs `body` (sent as JSON) to `target` of `to_service`, signed for `audience`
  // (`to_service` when empty). A transport failure is status 0 with the error as the body.
  net::ClientResponse Post(std::string_view to_service, const std::string& target, const std::string& body,
                           std::string_view audience = "");

 private:
  SignedCaller(const EdgeVaultUp& up, net::ServiceCredential credential)
      : up_(up), credential_(std::move(credential)) {}
  const EdgeVaultUp& up_;
  net::ServiceCredential credential_;
};

}  // namespace edgevault::testing
