#pragma once
// Tests only: a real PostgreSQL server child process (initdb + postgres) in a scratch
// directory of its own (under /dev/shm, a tmpfs, else /tmp), listening on 127.0.0.1 and a
// port of its own plus a unix socket in the scratch directory, with fsync off (speed;
// nothing survives it anyway); shut down (SIGINT, fast) on destruction and killed
// (SIGKILL) when the test process dies. PostgreSQL refuses to run as root: when the test
// runs as root (CI) initdb and postgres run as the `postgres` system user (Debian's
// package), else `nobody`, and the scratch directory belongs to that user. Needs
// PostgreSQL's server binaries: $EDGEVAULT_PG_BINDIR, else the newest
// /usr/lib/postgresql/<v>/bin (Debian package postgresql-15).
//
//   PostgresTestServer* server = PostgresTestServer::Shared();  // once per test binary
//   ASSERT_NE(server, nullptr);
//   absl::StatusOr<std::string> url = server->CreateDatabase();  // fresh, empty database
//   auto pool = PgPool::Create({.connect = {.url = *url}});
//
// Thread-safety: Start/Stop/Restart from one thread; Url, CreateDatabase and Exec from
// any thread.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::storage {

// durable: data on disk (under /var/tmp) with PostgreSQL's own defaults for fsync,
// synchronous_commit and full_page_writes, for benchmarks that compare durable commits
// (bench/api/write_path_bench.cc). Tests leave it off: data on tmpfs, fsync off.
struct PostgresTestServerOptions {
  bool durable = false;
};

class PostgresTestServer {
 public:
  PostgresTestServer() : PostgresTestServer(PostgresTestServerOptions{}) {}
  explicit PostgresTestServer(PostgresTestServerOptions options);
  PostgresTestServer(const PostgresTestServer&) = delete;
  PostgresTestServer& operator=(const PostgresTestServer&) = delete;
  ~PostgresTestServer();  // Stop() and remove the directory

  // initdb (first call only), then postgres on a free port (a few candidates are tried).
  // True once this server answers; else error() says why.
  bool Start();
  // Stop, then start again on the same port and data: every connection breaks.
  bool Restart();
  // Fast shutdown (SIGINT: clients are disconnected, committed data kept) and wait;
  // no-op when not running.
  void Stop();

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  // postgres://postgres@127.0.0.1:<port>/<database> (trust authentication, superuser).
  std::string Url(std::string_view database = "postgres") const;
  // Creates a new empty database test_<n> and returns its Url.
  // Errors: Unavailable (server down), the codes of pg_db.h.
  absl::StatusOr<std::string> CreateDatabase();
  // Runs one statement in the `postgres` database as the superuser (e.g.
  // pg_terminate_backend). Errors: the codes of pg_db.h.
  absl::Status Exec(std::string_view sql);
  const std::string& error() const { return error_; }

  // The process-wide server, started on first use and stopped at exit; null when it
  // cannot start (the reason went to stderr). Call it first from the main thread: the
  // server is killed when the thread that started it ends.
  static PostgresTestServer* Shared();

 private:
  // Forks and execs args[0] as uid_/gid_ in dir_, output appended to `log`; -1 on failure.
  pid_t Spawn(const std::string& log, const std::vector<std::string>& args);
  bool InitDb();
  bool Launch();

  PostgresTestServerOptions options_;
  std::string dir_;
  std::string bindir_;
  uid_t uid_ = 0;  // the user initdb and postgres run as
  gid_t gid_ = 0;
  bool initialised_ = false;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> next_db_{0};
  std::string error_;
};

// For tests: a fresh database on the shared server, or "" after ADD_FAILURE (GoogleTest)
// with the reason. The databases made during earlier tests are dropped first (WITH
// FORCE), so a test's databases live until the next test asks for one: a test must not
// keep a store open past its end.
std::string NewPostgresTestDatabase();

// For tests: how many sessions other than this query's own are connected to the database
// `url` names (a pool's open connections, once its users are done), or -1 after
// ADD_FAILURE with the reason.
int OtherConnectionsTo(const std::string& url);

}  // namespace edgevault::storage
