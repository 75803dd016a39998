// edgevault-delivery: the data plane: pre-resolved configs and flag evaluation for SDKs.
#include "src/services/common/service_main.h"

int main(int argc, char** argv) {
  return edgevault::services::RunService("delivery", argc, argv,
                                         [](edgevault::services::ServiceContext&) {
                                           return absl::OkStatus();
                                         });
}
