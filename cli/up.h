#pragma once
// `edgevault up`: runs the five services on one host as child processes, with an
// embedded default data directory. First run initialises the directory; every run
// checks the key files, takes the directory lock, binds one listening socket per
// service (a configured port 0 gets a free port) and starts the children on them (each
// inherits its socket and is told every peer's real port), prints their URLs, restarts a
// crashed child with back-off on the same socket, and on SIGINT/SIGTERM
// stops them all (SIGTERM, then SIGKILL at the stop timeout) and exits 0.
// Thread-safety: RunUp is called once, from main().

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgevault::cli {

struct UpOptions {
  std::string data_dir = "./edgevault-data";
  std::optional<int> port_base;  // when set, overrides the ports in the config file
  std::vector<std::pair<std::string, std::string>> overrides;  // --set key=value
  std::string bin_dir;  // where edgevault-<service> live; "" = beside this executable
};

// Returns the process exit code: 0 after a clean stop (every service exited 0 after
// SIGTERM), 2 for bad configuration, 1 for any other failure to start or when a service
// did not stop cleanly (each with a message on stderr).
int RunUp(const UpOptions& options);

}  // namespace edgevault::cli
