// edgevault: the command line tool. Subcommands live in their own files; this one
// only parses and dispatches.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "cli/keys.h"
#include "cli/up.h"
#include "src/base/config.h"

int main(int argc, char** argv) {
  CLI::App app{"edgevault: configuration, feature flags and secrets"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "edgevault 0.1.0");

  edgevault::cli::UpOptions up;
  int port_base = 0;
  std::vector<std::string> sets;
  CLI::App* up_cmd = app.add_subcommand("up", "run all five services on this host");
  up_cmd->add_option("--data-dir", up.data_dir, "data directory (created on first run)")
      ->capture_default_str();
  CLI::Option* port_opt = up_cmd->add_option(
      "--port-base", port_base,
      "console on P, api P+1, delivery P+2, auth P+3, audit P+4 (default: the ports in the "
      "configuration file, 8080.. on first run)");
  up_cmd->add_option("--set", sets, "override a configuration key: --set log.level=debug")
      ->take_all();

  edgevault::cli::KeysRotateOptions rotate;
  CLI::App* keys_cmd = app.add_subcommand("keys", "manage key material");
  keys_cmd->require_subcommand(1);
  CLI::App* rotate_cmd = keys_cmd->add_subcommand(
      "rotate-signing", "add a new JWT signing key; prune keys no longer published");
  rotate_cmd->add_option("--data-dir", rotate.data_dir, "data directory")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (up_cmd->parsed()) {
    if (port_opt->count() > 0) up.port_base = port_base;
    for (const std::string& s : sets) {
      auto kv = edgevault::base::ParseOverride(s);
      if (!kv.ok()) {
        std::fprintf(stderr, "edgevault up: %s\n", std::string(kv.status().message()).c_str());
        return 2;
      }
      up.overrides.push_back(*kv);
    }
    return edgevault::cli::RunUp(up);
  }
  if (rotate_cmd->parsed()) return edgevault::cli::RunKeysRotateSigning(rotate);
  return 2;
}
