// edgevault-auth: identity: passwords, sessions, tokens, MFA, API keys.
#include "src/services/common/service_main.h"

int main(int argc, char** argv) {
  return edgevault::services::RunService("auth", argc, argv,
                                         [](edgevault::services::ServiceContext&) {
                                           return absl::OkStatus();
                                         });
}
