// The example of docs/sdk-cpp.md: follows one environment and prints a flag's evaluation
// for a user, then again after every change, until stopped (or once with --once).
//
//   EDGEVAULT_SDK_KEY=evs_… edgevault-sdk-example http://127.0.0.1:8082 keys.json new-checkout user-42
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include <edgevault/client.h>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: EDGEVAULT_SDK_KEY=… " << argv[0]
              << " BASE_URL PINNED_KEYS_JWKS_FILE FLAG USER [--once] [--bootstrap FILE]\n";
    return 2;
  }
  edgevault::sdk::ClientOptions options;
  options.base_url = argv[1];
  options.document_keys_file = argv[2];
  const char* key = std::getenv("EDGEVAULT_SDK_KEY");
  options.sdk_key = key != nullptr ? key : "";
  bool once = false;
  for (int i = 5; i < argc; ++i) {
    if (std::strcmp(argv[i], "--once") == 0) once = true;
    if (std::strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc) options.bootstrap_file = argv[++i];
  }
  // SIGINT/SIGTERM are blocked before the client starts its thread (which inherits the
  // mask), so only the sigwait below takes them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto client = edgevault::sdk::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "edgevault: " << client.status() << "\n";
    return 1;
  }
  const std::string flag = argv[3];
  edgevault::sdk::Context user(argv[4]);
  auto print = [&] {
    edgevault::sdk::Evaluation<std::string> e = (*client)->JsonValue(flag, user, "null");
    std::cout << flag << " = " << e.value << " variant=" << e.variant << " reason=" << e.reason
              << (e.error_code.empty() ? "" : " error=") << e.error_code << " version=" << e.version
              << std::endl;
  };
  if (!(*client)->WaitUntilReady(std::chrono::seconds(10))) {
    std::cerr << "edgevault: no document yet: " << (*client)->status().last_error << "\n";
    return 1;
  }
  print();
  if (once) return 0;
  (*client)->AddChangeListener([&](const edgevault::sdk::ChangeEvent&) { print(); });
  int sig = 0;
  sigwait(&signals, &sig);
  return 0;
}
