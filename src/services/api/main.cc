// edgevault-api: the control plane: every write, resolution, secrets (later issues fill it in).
#include "src/services/common/service_main.h"

int main(int argc, char** argv) {
  return edgevault::services::RunService("api", argc, argv,
                                         [](edgevault::services::ServiceContext&) {
                                           return absl::OkStatus();
                                         });
}
