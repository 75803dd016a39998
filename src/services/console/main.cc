// edgevault-console: the web UI and its backend-for-frontend (docs/console.md).
#include <filesystem>
#include <memory>
#include <string>

#include "src/services/common/service_main.h"
#include "src/services/console/console_service.h"

namespace {

// <directory of this executable>/../web: build/web next to build/bin in a source build.
std::string DefaultWebDir() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) exe = std::filesystem::current_path(ec) / "edgevault-console";
  return (exe.parent_path().parent_path() / "web").lexically_normal().string();
}

}  // namespace

int main(int argc, char** argv) {
  namespace services = edgevault::services;
  namespace console = edgevault::console;
  return services::RunService("console", argc, argv, [](services::ServiceContext& ctx) -> absl::Status {
    console::ConsoleOptions options;
    options.web_dir = ctx.config.console_settings.web_dir.empty() ? DefaultWebDir()
                                                                  : ctx.config.console_settings.web_dir;
    options.auth_host = ctx.config.auth.host;
    options.auth_port = ctx.config.auth.port;
    options.api_host = ctx.config.api.host;
    options.api_port = ctx.config.api.port;
    options.env = ctx.env;
    options.tls = !ctx.config.console_settings.tls_cert_file.empty();
    EV_ASSIGN_OR_RETURN(std::unique_ptr<console::ConsoleService> service,
                        console::ConsoleService::Create(std::move(options)));
    ctx.Keep(std::move(service))->InstallRoutes(ctx.router);
    return absl::OkStatus();
  });
}
