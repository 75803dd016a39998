// edgevault-audit: the audit queue consumer and warehouse writer.
#include "src/services/common/service_main.h"

int main(int argc, char** argv) {
  return edgevault::services::RunService("audit", argc, argv,
                                         [](edgevault::services::ServiceContext&) {
                                           return absl::OkStatus();
                                         });
}
