#include "src/storage/postgres/pg_revision_listener.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <utility>

#include <libpq-fe.h>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/pg_pool.h"

namespace edgevault::storage {

using base::StrCat;

std::string FormatRevisionNotice(const RevisionNotice& n) {
  return StrCat(n.workspace_id, " ", n.first, " ", n.last);
}

std::optional<RevisionNotice> ParseRevisionNotice(std::string_view payload) {
  const size_t a = payload.find(' ');
  if (a == 0 || a == std::string_view::npos) return std::nullopt;
  const size_t b = payload.find(' ', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  RevisionNotice n;
  n.workspace_id = std::string(payload.substr(0, a));
  auto number = [](std::string_view s, int64_t* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  };
  if (!number(payload.substr(a + 1, b - a - 1), &n.first) || !number(payload.substr(b + 1), &n.last) ||
      n.first < 1 || n.last < n.first) {
    return std::nullopt;
  }
  return n;
}

std::string FormatWorkspaceListNotice(const WorkspaceListNotice& n) { return StrCat(n.org_id, " ", n.sender); }

std::optional<WorkspaceListNotice> ParseWorkspaceListNotice(std::string_view payload) {
  const size_t a = payload.find(' ');
  if (a == 0 || a == std::string_view::npos || a + 1 == payload.size() ||
      payload.find(' ', a + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return WorkspaceListNotice{std::string(payload.substr(0, a)), std::string(payload.substr(a + 1))};
}

absl::Status NotifyWorkspaceListChanged(PgPool& pool, const WorkspaceListNotice& n) {
  return pool.Query("SELECT pg_notify($1, $2)", {kWorkspaceListChannel, FormatWorkspaceListNotice(n)}).status();
}

absl::StatusOr<std::unique_ptr<PgRevisionListener>> PgRevisionListener::Start(PgRevisionListenerOptions options) {
  EV_RETURN_IF_ERROR(ValidatePostgresUrl(options.url));
  if (options.env == nullptr || !options.on_notice || !options.on_resync) {
    return absl::InvalidArgumentError("PgRevisionListener: env, on_notice and on_resync are required");
  }
  EV_ASSIGN_OR_RETURN(std::unique_ptr<base::StopSignal> stop, base::StopSignal::Create());
  std::unique_ptr<PgRevisionListener> l(new PgRevisionListener(std::move(options), std::move(stop)));
  PgRevisionListener* raw = l.get();
  l->task_ = l->options_.env->Schedule("revision listener",
                                       {.interval = absl::Milliseconds(50),
                                        .run_at_start = true,
                                        .backoff_initial = absl::Milliseconds(100),
                                        .backoff_max = absl::Seconds(5)},
                                       [raw] {
                                         if (raw->stop_->stopping()) return base::NextRun::Interval();
                                         return raw->RunOneConnection() ? base::NextRun::Interval()
                                                                        : base::NextRun::BackOff();
                                       });
  return l;
}

PgRevisionListener::~PgRevisionListener() { Stop(); }

void PgRevisionListener::Stop() {
  // Unblocks a connection waiting for notices; the task then finishes its run.
  stop_->Stop();
  if (task_ != nullptr) task_->Stop();
}

bool PgRevisionListener::RunOneConnection() {
  absl::StatusOr<std::unique_ptr<PgConnection>> connected =
      PgConnection::Connect({.url = options_.url, .application_name = "edgevault-revision-listener"});
  if (!connected.ok()) return false;  // PgConnection logged libpq's reason
  PgConnection& conn = **connected;
  std::string listen = StrCat("LISTEN ", kRevisionChannel);
  if (options_.on_workspace_list) listen += StrCat("; LISTEN ", kWorkspaceListChannel);
  if (absl::Status st = conn.ExecScript(listen); !st.ok()) {
    EV_LOG(kWarn, "revision listener: LISTEN failed", {{"error", st.ToString()}});
    return false;
  }
  listens_.fetch_add(1);
  // Anything committed while no connection listened is found by comparing heads.
  options_.on_resync();
  const int idle_ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.idle_check)));
  for (;;) {
    while (PGnotify* n = PQnotifies(conn.raw())) {
      const std::string_view payload = n->extra != nullptr ? n->extra : "";
      if (std::string_view(n->relname != nullptr ? n->relname : "") == kWorkspaceListChannel) {
        std::optional<WorkspaceListNotice> notice = ParseWorkspaceListNotice(payload);
        PQfreemem(n);
        if (notice && options_.on_workspace_list) options_.on_workspace_list(*notice);
        continue;
      }
      std::optional<RevisionNotice> notice = ParseRevisionNotice(payload);
      PQfreemem(n);
      if (notice) options_.on_notice(*notice);
    }
    const int fd = PQsocket(conn.raw());
    if (fd < 0) return true;
    const base::StopSignal::Wait waited = stop_->WaitReadable(fd, idle_ms);
    if (waited == base::StopSignal::Wait::kStopped || waited == base::StopSignal::Wait::kFailed) return true;
    if (waited == base::StopSignal::Wait::kTimeout) {
      // Quiet for a while: make sure the connection is still there.
      if (!conn.Exec("SELECT 1").ok()) {
        EV_LOG(kWarn, "revision listener: the connection was lost; reconnecting");
        return true;
      }
      continue;
    }
    if (PQconsumeInput(conn.raw()) == 0 || !conn.Healthy()) {
      EV_LOG(kWarn, "revision listener: the connection was lost; reconnecting");
      return true;
    }
  }
}

}  // namespace edgevault::storage
