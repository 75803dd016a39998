#pragma once
// Certificates for TLS tests made with the openssl command line (the Redis backend's TLS
// tests; tests/integration: webhooks_test.cc, ai_test.cc, redis_tls_test.cc). Needs
// `openssl` on PATH. Thread-safety: construct on one thread.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "src/base/strings.h"

namespace edgevault::testing {

// A CA and certificates it issues, in a scratch directory: "good" for 127.0.0.1 and the name
// localhost (also usable as a client certificate), "elsewhere"
// for another address and name only; "stranger" is issued by a second CA the api never trusts.
class TestPki {
 public:
  TestPki() : dir_(base::StrCat("/tmp/ev-test-pki-", std::to_string(::getpid()), "-", std::to_string(next_++))) {
    Run("rm -rf " + dir_ + " && mkdir -p " + dir_);
    ok_ = Ca("ca") && Ca("ca2") && Leaf("good", "ca", "IP:127.0.0.1,DNS:localhost") &&
          Leaf("elsewhere", "ca", "IP:127.0.0.2,DNS:elsewhere.example.test") && Leaf("stranger", "ca2", "IP:127.0.0.1");
  }
  ~TestPki() { Run("rm -rf " + dir_); }
  bool ok() const { return ok_; }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }

 private:
  static bool Run(const std::string& command) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return false;
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int st = ::pclose(p);
    const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) std::fprintf(stderr, "%s failed: %s\n", command.c_str(), out.c_str());
    return ok;
  }
  bool Ca(const std::string& name) {
    return Run(base::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=",
                            name, "-edgevault-test -addext basicConstraints=critical,CA:TRUE",
                            " -addext keyUsage=critical,keyCertSign -keyout ", File(name + ".key"), " -out ",
                            File(name + ".crt")));
  }
  bool Leaf(const std::string& name, const std::string& ca, const std::string& san) {
    std::string ext = File(name + ".ext");
    return Run(base::StrCat("printf 'subjectAltName=", san, "\\n' > ", ext)) &&
           Run(base::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=", name,
                            " -keyout ", File(name + ".key"), " -out ", File(name + ".csr"))) &&
           Run(base::StrCat("openssl x509 -req -in ", File(name + ".csr"), " -CA ", File(ca + ".crt"), " -CAkey ",
                            File(ca + ".key"), " -CAcreateserial -days 2 -extfile ", ext, " -out ",
                            File(name + ".crt"))) &&
           Run("chmod 600 " + File(name + ".key"));
  }

  static inline int next_ = 0;
  std::string dir_;
  bool ok_ = false;
};

}  // namespace edgevault::testing
