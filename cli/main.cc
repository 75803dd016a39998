// edgevault: the command line tool. Subcommands live in their own files; this one
// only parses and dispatches.
#include <cstdio>
#include <exception>

#include "CLI/CLI.hpp"
#include "cli/account_cmds.h"
#include "cli/api_cmds.h"
#include "cli/ai_cmds.h"
#include "cli/item_cmds.h"
#include "cli/audit.h"
#include "cli/completion.h"
#include "cli/keys.h"
#include "cli/master_keys.h"
#include "cli/migrate.h"
#include "cli/suggest.h"
#include "cli/up.h"
#include "src/base/config.h"

namespace {

int Main(int argc, char** argv) {
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
      "configuration file, 8080.. on first run); 0 = any free ports, printed and written to "
      "DATA_DIR/run/<service>.port");
  up_cmd->add_option("--set", sets, "override a configuration key: --set log.level=debug")
      ->take_all();

  edgevault::cli::KeysRotateOptions rotate;
  edgevault::cli::KeysRotateOptions rotate_documents;
  CLI::App* keys_cmd = app.add_subcommand("keys", "manage key material");
  keys_cmd->require_subcommand(1);
  CLI::App* rotate_cmd = keys_cmd->add_subcommand(
      "rotate-signing", "add a new JWT signing key; prune keys no longer published");
  rotate_cmd->add_option("--data-dir", rotate.data_dir, "data directory")->capture_default_str();
  CLI::App* rotate_documents_cmd = keys_cmd->add_subcommand(
      "rotate-document-signing",
      "add a new document-signing key (signs resolved documents); prune keys no longer published");
  rotate_documents_cmd->add_option("--data-dir", rotate_documents.data_dir, "data directory")
      ->capture_default_str();
  edgevault::cli::KeysInitServicesOptions init_services;
  CLI::App* init_services_cmd = keys_cmd->add_subcommand(
      "init-services",
      "give each service its own credential for internal calls and publish the public keys "
      "(`up` does this at every start)");
  init_services_cmd->add_option("--data-dir", init_services.data_dir, "data directory")
      ->capture_default_str();
  edgevault::cli::KeysRevokeOptions revoke;
  CLI::App* revoke_cmd = keys_cmd->add_subcommand(
      "revoke-signing",
      "revoke a (compromised) JWT signing key: auth stops publishing and signing with it at "
      "once, verifiers refuse its tokens within seconds");
  revoke_cmd->add_option("kid", revoke.kid, "the key id (the JWT header's kid)")->required();
  revoke_cmd->add_option("--data-dir", revoke.data_dir, "data directory")->capture_default_str();
  edgevault::cli::RotateMasterOptions rotate_master;
  double settle_seconds = 2;
  CLI::App* rotate_master_cmd = keys_cmd->add_subcommand(
      "rotate-master",
      "add a master key, make it active and re-wrap every data key under it (while the api "
      "keeps serving); --resume finishes an interrupted rotation");
  rotate_master_cmd->add_option("--data-dir", rotate_master.data_dir, "data directory")
      ->capture_default_str();
  rotate_master_cmd->add_flag("--resume", rotate_master.resume,
                              "add no key: finish re-wrapping under the active key");
  rotate_master_cmd->add_option("--settle", settle_seconds,
                                "seconds between the last passes (writes in flight finish)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  rotate_master_cmd->add_option("--batch", rotate_master.batch, "data keys per transaction")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  edgevault::cli::RetireMasterOptions retire_master;
  CLI::App* retire_master_cmd = keys_cmd->add_subcommand(
      "retire-master", "delete an old master key file once no data key is wrapped under it");
  retire_master_cmd->add_option("key_id", retire_master.key_id, "the master key id (e.g. m1)")
      ->required();
  retire_master_cmd->add_option("--data-dir", retire_master.data_dir, "data directory")
      ->capture_default_str();

  edgevault::cli::MigrateOptions migrate;
  CLI::App* migrate_cmd = app.add_subcommand(
      "migrate",
      "copy this single-host installation (control DB, every workspace with its history, "
      "the audit warehouse) into PostgreSQL and S3 for a fleet, and verify the copy; "
      "resumable: run it again after an interruption");
  migrate_cmd->add_option("--data-dir", migrate.data_dir, "data directory (its services stopped)")
      ->capture_default_str();
  migrate_cmd->add_option("--to", migrate.to,
                          "postgres://USER:PASSWORD@HOST/DB: the fleet's auth.control_db_url "
                          "and api.workspace_db_url")
      ->required();
  migrate_cmd->add_option("--audit-to", migrate.audit_to,
                          "s3://BUCKET/PREFIX?endpoint=...&region=...: the fleet's "
                          "audit.warehouse_url (credentials from AWS_ACCESS_KEY_ID/"
                          "AWS_SECRET_ACCESS_KEY)")
      ->required();
  migrate_cmd->add_option("--batch", migrate.batch, "rows per transaction")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));

  auto api_commands = edgevault::cli::AddApiCommands(app);
  auto item_commands = edgevault::cli::AddItemCommands(app);
  auto account_commands = edgevault::cli::AddAccountCommands(app);
  auto ai_commands = edgevault::cli::AddAiCommands(app);

  edgevault::cli::AuditVerifyOptions audit_verify;
  edgevault::cli::AuditTailOptions audit_tail;
  CLI::App* audit_cmd = app.add_subcommand("audit", "inspect the audit warehouse (verify, tail) or ask the api (events)");
  audit_cmd->require_subcommand(1);
  CLI::App* verify_cmd = audit_cmd->add_subcommand(
      "verify", "check the hash chain; exit 0 intact, 1 broken (names the first broken place)");
  verify_cmd->add_option("--data-dir", audit_verify.data_dir, "data directory")->capture_default_str();
  verify_cmd->add_option("--from", audit_verify.from, "start at this day (YYYY-MM-DD)");
  verify_cmd->add_option("--warehouse-url", audit_verify.warehouse_url,
                         "read this warehouse (s3://bucket/prefix?endpoint=...) instead of the "
                         "configured audit.warehouse_url");
  CLI::App* tail_cmd = audit_cmd->add_subcommand("tail", "print audit records");
  tail_cmd->add_option("--data-dir", audit_tail.data_dir, "data directory")->capture_default_str();
  tail_cmd->add_option("--warehouse-url", audit_tail.warehouse_url,
                       "read this warehouse instead of the configured audit.warehouse_url");
  tail_cmd->add_flag("--follow,-f", audit_tail.follow, "keep printing new records");
  tail_cmd->add_flag("--json", audit_tail.json, "print the raw warehouse lines");
  tail_cmd->add_option("--actor", audit_tail.actor, "only this actor id (user:..., key:...)");
  tail_cmd->add_option("--action", audit_tail.action, "only this action, or a prefix like auth.*");
  tail_cmd->add_option("--since", audit_tail.since, "only records at or after this RFC 3339 time");
  edgevault::cli::AddAuditEventsCommand(*audit_cmd, *api_commands);

  std::string completion_shell;
  CLI::App* completion_cmd = app.add_subcommand(
      "completion", "print the shell completion script: eval \"$(edgevault completion bash)\" (or zsh)");
  completion_cmd->add_option("shell", completion_shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  // `edgevault __complete WORD...`: what the completion scripts ask (cli/completion.h).
  if (argc >= 2 && std::string_view(argv[1]) == "__complete") {
    for (const std::string& c : edgevault::cli::CompletionCandidates(app, std::vector<std::string>(argv + 2, argv + argc))) {
      std::printf("%s\n", c.c_str());
    }
    return 0;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    if (rc != 0) {
      if (std::string hint = edgevault::cli::Hint(app, e); !hint.empty()) std::fprintf(stderr, "%s\n", hint.c_str());
    }
    return rc == 0 ? 0 : 2;
  }

  if (completion_cmd->parsed()) {
    std::fputs(edgevault::cli::CompletionScript(completion_shell).value_or("").c_str(), stdout);
    return 0;
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
  if (rotate_documents_cmd->parsed()) return edgevault::cli::RunKeysRotateDocumentSigning(rotate_documents);
  if (init_services_cmd->parsed()) return edgevault::cli::RunKeysInitServices(init_services);
  if (revoke_cmd->parsed()) return edgevault::cli::RunKeysRevokeSigning(revoke);
  if (rotate_master_cmd->parsed()) {
    rotate_master.settle = absl::Seconds(settle_seconds);
    return edgevault::cli::RunKeysRotateMaster(rotate_master);
  }
  if (retire_master_cmd->parsed()) return edgevault::cli::RunKeysRetireMaster(retire_master);
  if (migrate_cmd->parsed()) return edgevault::cli::RunMigrate(migrate);
  if (verify_cmd->parsed()) return edgevault::cli::RunAuditVerify(audit_verify);
  if (tail_cmd->parsed()) return edgevault::cli::RunAuditTail(audit_tail);
  if (int rc = edgevault::cli::RunApiCommands(*api_commands); rc >= 0) return rc;
  if (int rc = edgevault::cli::RunItemCommands(*item_commands); rc >= 0) return rc;
  if (int rc = edgevault::cli::RunAccountCommands(*account_commands); rc >= 0) return rc;
  if (int rc = edgevault::cli::RunAiCommands(*ai_commands); rc >= 0) return rc;
  return 2;
}

}  // namespace

// Commands never throw on purpose (a reply of an unexpected shape is reported and exits 1);
// an exception that escapes anyway is a bug, reported the same way instead of a core dump.
int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    return edgevault::cli::ReportUncaughtException(e.what());
  } catch (...) {
    return edgevault::cli::ReportUncaughtException("an exception of an unknown type");
  }
}
