#pragma once
// Test harness for integration tests: runs the real `edgevault up` on free loopback ports
// in a temporary data directory and talks to its services over HTTP.
// Thread-safety: Call() may be used from several threads; Start/Stop from one.

#include <sys/types.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "src/net/http_client.h"

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
// Five consecutive free ports, found by binding them.
int FreePortBase();

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
  ~EdgeVaultUp();  // SIGKILLs what is left and removes the directory

  int port(std::string_view service) const;  // console, api, delivery, auth, audit
  const std::string& data_dir() const { return data_; }
  const std::string& admin_key() const { return admin_key_; }  // bootstrap-admin.key
  const std::string& owner_email() const { return email_; }
  const std::string& owner_password() const { return password_; }
  std::string Output() const;  // what `up` printed so far
  pid_t pid() const { return pid_; }
  // The pid of a child service (from DATA_DIR/run/<name>.pid), or -1.
  pid_t ServicePid(std::string_view service) const;
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
  std::string tmp_, data_, out_file_;
  int base_ = 0;
  pid_t pid_ = -1;
  std::string admin_key_, email_, password_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace edgevault::testing
