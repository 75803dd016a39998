// The server half of bench/http: net::HttpServer with one route returning a fixed
// 1 KiB JSON body (pre-serialised), no access log. Prints its port on stdout.
#include <signal.h>

#include <cstdio>
#include <string>

#include "src/base/log.h"
#include "src/net/http_server.h"

int main(int argc, char** argv) {
  using namespace edgevault;
  base::SetLogLevel(base::LogLevel::kWarn);
  std::string body = "{\"data\":\"";
  body += std::string(1024 - body.size() - 2, 'x');
  body += "\"}";
  auto shared = std::make_shared<const std::string>(body);
  net::Router router;
  router.Get("/1k.json", [shared](net::Request&) {
    net::Response r;
    r.shared_body = shared;
    return r;
  });
  net::ServerOptions o;
  o.service = "bench";
  o.port = argc > 1 ? static_cast<uint16_t>(std::stoi(argv[1])) : 0;
  o.io_threads = argc > 2 ? std::stoi(argv[2]) : 0;
  o.access_log = false;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  auto server = net::HttpServer::Create(o, std::move(router));
  if (!server.ok() || !(*server)->Start().ok()) return 1;
  std::printf("%d\n", (*server)->port());
  std::fflush(stdout);
  int sig;
  sigwait(&s, &sig);
  (*server)->Drain();
  return 0;
}
