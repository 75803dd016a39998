#include "src/net/s3_test_server.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <thread>
#include <vector>

namespace edgevault::net {

S3TestServer::S3TestServer() {
  char tmpl[] = "/tmp/ev-s3-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
}

S3TestServer::~S3TestServer() {
  Kill();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

bool S3TestServer::Start(bool conditional_writes) {
  if (dir_.empty()) {
    error_ = "no temporary directory";
    return false;
  }
  const std::string data = dir_ + "/data";
  const std::string port_file = dir_ + "/port";
  std::filesystem::create_directories(data);
  int pipe_fds[2];  // the child's stdin: it stops when the test process goes away
  if (::pipe(pipe_fds) != 0) return false;
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(pipe_fds[0], 0);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    // s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider.
    std::vector<const char*> argv = {EV_NODE_EXECUTABLE, "--openssl-legacy-provider",
                                     EV_S3_SERVER_SCRIPT, "--dir", data.c_str(),
                                     "--port-file", port_file.c_str()};
    if (conditional_writes) argv.push_back("--conditional-writes");
    if (!tls_cert_file_.empty()) {
      for (const char* a : {"--tls-cert", tls_cert_file_.c_str(), "--tls-key", tls_key_file_.c_str()}) {
        argv.push_back(a);
      }
    }
    argv.push_back(nullptr);
    ::execv(EV_NODE_EXECUTABLE, const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  ::close(pipe_fds[0]);
  ::fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC);  // not inherited by other children
  stdin_fd_ = pipe_fds[1];
  pid_ = pid;
  for (int i = 0; i < 3000; ++i) {  // up to ~30 s for node to start
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "the S3 test server exited (is `make e2e-deps` done?) status " + std::to_string(status);
      return false;
    }
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = static_cast<uint16_t>(port);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  error_ = "the S3 test server did not report a port";
  Kill();
  return false;
}

void S3TestServer::Kill() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string S3TestServer::Endpoint() const {
  return (tls_cert_file_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port_);
}

S3ClientOptions S3TestServer::ClientOptions() const {
  S3ClientOptions o;
  o.endpoint = Endpoint();
  o.ca_file = tls_cert_file_;
  o.bucket = "audit";
  o.region = "us-east-1";
  o.credentials = {"S3RVER", "S3RVER", ""};
  return o;
}

}  // namespace edgevault::net
