#include "cli/audit.h"

#include <cstdio>
#include <map>
#include <string>

#include "src/audit/verify.h"
#include "src/audit/warehouse_open.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/strings.h"

namespace edgevault::cli {

namespace {

// The data directory to use: the config file's data_dir when DIR/edgevault.toml says
// one, else DIR itself.
std::string ResolveDataDir(base::Env* env, const std::string& dir) {
  std::string config = dir + "/edgevault.toml";
  if (env->Exists(config)) {
    base::ConfigSources sources;
    sources.file = config;
    absl::StatusOr<base::Config> c = base::LoadConfig(sources);
    if (c.ok() && !c->data_dir.empty()) return c->data_dir;
  }
  return dir;
}

std::string_view Msg(const absl::Status& s) { return base::ToStd(s.message()); }

// The warehouse to read: --warehouse-url, else audit.warehouse_url from the environment
// (EDGEVAULT_AUDIT_WAREHOUSE_URL) or DIR/edgevault.toml, else DATA_DIR/audit/warehouse.
absl::StatusOr<std::unique_ptr<audit::OpenedWarehouse>> OpenForReading(
    base::Env* env, const std::string& dir, const std::string& flag_url) {
  std::string url = flag_url;
  if (url.empty()) {
    base::ConfigSources sources;
    std::string config = dir + "/edgevault.toml";
    if (env->Exists(config)) sources.file = config;
    sources.env = base::ProcessEnvironment();
    absl::StatusOr<base::Config> c = base::LoadConfig(sources);
    if (c.ok()) url = c->audit_warehouse_url;
  }
  EV_ASSIGN_OR_RETURN(base::AuditWarehouseUrl parsed, base::ParseAuditWarehouseUrl(url));
  return audit::OpenWarehouse(
      {.url = parsed, .data_dir = ResolveDataDir(env, dir), .env = env,
       .credentials = net::S3CredentialsFromEnvironment(base::ProcessEnvironment())});
}

}  // namespace

int RunAuditVerify(const AuditVerifyOptions& options) {
  audit::VerifyOptions vo;
  if (!options.from.empty()) {
    absl::CivilDay day;
    if (!absl::ParseCivilTime(options.from, &day)) {
      std::fprintf(stderr, "edgevault audit verify: --from expects YYYY-MM-DD, got \"%s\"\n",
                   options.from.c_str());
      return 2;
    }
    vo.from = day;
  }
  base::Env* env = base::Env::Default();
  absl::StatusOr<std::unique_ptr<audit::OpenedWarehouse>> w =
      OpenForReading(env, options.data_dir, options.warehouse_url);
  if (!w.ok()) {
    std::fprintf(stderr, "edgevault audit verify: %.*s\n", static_cast<int>(Msg(w.status()).size()),
                 Msg(w.status()).data());
    return 2;
  }
  const std::string& dir = (*w)->location;
  if ((*w)->is_file && !env->Exists(dir)) {
    std::fprintf(stderr, "edgevault audit verify: no audit warehouse at %s\n", dir.c_str());
    return 1;
  }
  absl::StatusOr<audit::VerifyReport> r = audit::VerifyWarehouse(*(*w)->reader, vo);
  if (!r.ok()) {
    std::fprintf(stderr, "edgevault audit verify: cannot read %s: %.*s\n", dir.c_str(),
                 static_cast<int>(Msg(r.status()).size()), Msg(r.status()).data());
    return 1;
  }
  for (const std::string& n : r->notes) std::printf("note: %s\n", n.c_str());
  if (!r->ok) {
    if (r->line > 0) {
      std::printf("BROKEN: %s line %lld: %s\n", r->file.c_str(), static_cast<long long>(r->line),
                  r->problem.c_str());
    } else {
      std::printf("BROKEN: %s: %s\n", r->file.c_str(), r->problem.c_str());
    }
    std::printf("checked %lld event(s) in %lld file(s) before the break\n",
                static_cast<long long>(r->events), static_cast<long long>(r->files));
    return 1;
  }
  std::printf("OK: %lld event(s) in %lld file(s), %lld chain(s) intact (%s)\n",
              static_cast<long long>(r->events), static_cast<long long>(r->files),
              static_cast<long long>(r->nodes), dir.c_str());
  return 0;
}

namespace {

struct TailFilter {
  std::string actor, action;
  std::optional<absl::Time> since;

  bool Matches(const audit::AuditEvent& e) const {
    if (!actor.empty() && e.actor.id != actor) return false;
    if (!action.empty()) {
      if (action.size() >= 2 && action.substr(action.size() - 2) == ".*") {
        std::string prefix = action.substr(0, action.size() - 1);  // keep the '.'
        if (e.action.compare(0, prefix.size(), prefix) != 0) return false;
      } else if (e.action != action) {
        return false;
      }
    }
    if (since && e.time < *since) return false;
    return true;
  }
};

std::string Summary(const audit::AuditEvent& e) {
  std::string s = base::StrCat(audit::FormatEventTime(e.time), " ", e.service, " ", e.action, " ",
                               e.outcome, " actor=", e.actor.id);
  auto add = [&](std::string_view k, const std::string& v) {
    if (!v.empty()) base::StrAppend(&s, " ", k, "=", v);
  };
  add("org", e.org);
  add("ws", e.workspace);
  add("env", e.environment);
  add("target", e.target);
  add("addr", e.actor.address);
  add("req", e.request_id);
  if (!e.details.empty()) base::StrAppend(&s, " ", boost::json::serialize(e.details));
  return s;
}

}  // namespace

int RunAuditTail(const AuditTailOptions& options) {
  TailFilter filter{options.actor, options.action, std::nullopt};
  if (!options.since.empty()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, options.since, &t, &err)) {
      std::fprintf(stderr, "edgevault audit tail: --since expects RFC 3339 (2026-03-04T05:06:07Z): %s\n",
                   err.c_str());
      return 2;
    }
    filter.since = t;
  }
  base::Env* env = base::Env::Default();
  absl::StatusOr<std::unique_ptr<audit::OpenedWarehouse>> w =
      OpenForReading(env, options.data_dir, options.warehouse_url);
  if (!w.ok()) {
    std::fprintf(stderr, "edgevault audit tail: %.*s\n", static_cast<int>(Msg(w.status()).size()),
                 Msg(w.status()).data());
    return 2;
  }
  const std::string& dir = (*w)->location;
  audit::WarehouseReader& reader = *(*w)->reader;
  std::map<std::string, size_t> consumed;  // path → bytes already printed
  for (;;) {
    if (!(*w)->is_file || env->Exists(dir)) {
      absl::StatusOr<std::vector<audit::WarehouseFile>> files = reader.ListFiles();
      if (!files.ok()) {
        std::fprintf(stderr, "edgevault audit tail: cannot read %s: %.*s\n", dir.c_str(),
                     static_cast<int>(Msg(files.status()).size()), Msg(files.status()).data());
        return 1;
      }
      for (const audit::WarehouseFile& f : *files) {
        absl::StatusOr<std::string> content = reader.ReadFile(f.path);
        if (!content.ok()) continue;
        size_t& pos = consumed[f.path];
        while (pos < content->size()) {
          size_t nl = content->find('\n', pos);
          if (nl == std::string::npos) break;  // a record being written: next time
          std::string_view line(content->data() + pos, nl - pos);
          pos = nl + 1;
          absl::StatusOr<audit::ParsedLine> p = audit::ParseChainedLine(line);
          absl::StatusOr<audit::AuditEvent> e =
              p.ok() ? audit::ParseAuditEvent(p->canonical) : absl::StatusOr<audit::AuditEvent>(p.status());
          if (!e.ok()) {
            std::fprintf(stderr, "%s: unreadable record: %.*s\n", reader.Describe(f.path).c_str(),
                         static_cast<int>(Msg(e.status()).size()), Msg(e.status()).data());
            continue;
          }
          if (!filter.Matches(*e)) continue;
          if (options.json) {
            std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
          } else {
            std::printf("%s\n", Summary(*e).c_str());
          }
        }
      }
      std::fflush(stdout);
    } else if (!options.follow) {
      std::fprintf(stderr, "edgevault audit tail: no audit warehouse at %s\n", dir.c_str());
      return 1;
    }
    if (!options.follow) return 0;
    env->SleepFor(options.poll_interval);
  }
}

}  // namespace edgevault::cli
