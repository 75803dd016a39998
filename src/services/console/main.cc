// edgevault-console: the web UI and its backend-for-frontend.
#include "src/services/common/service_main.h"

int main(int argc, char** argv) {
  return edgevault::services::RunService("console", argc, argv,
                                         [](edgevault::services::ServiceContext&) {
                                           return absl::OkStatus();
                                         });
}
