#pragma once
// A pool of PostgreSQL connections (pg_db.h) for one database URL, shared by every thread
// of a store. A caller leases a connection for one statement or one transaction and the
// lease gives it back; connections are opened on demand up to max_connections, and a
// connection that broke (server restart, terminated backend) is dropped instead of being
// handed out again.
//
// Thread-safety: every method may be called from any thread. Acquire blocks while all
// max_connections are leased, so a thread must not hold a lease while it waits for a
// second one (with a pool of N, N such threads deadlock); a Lease itself belongs to one
// thread at a time and must not outlive the pool.
//
//   EV_ASSIGN_OR_RETURN(auto pool, PgPool::Create({.connect = {.url = url}}));
//   EV_ASSIGN_OR_RETURN(PgResult r, pool->Query("SELECT name FROM orgs WHERE id = $1", {id}));
//   EV_RETURN_IF_ERROR(pool->InTransaction([&](PgConnection& c) -> absl::Status {
//     EV_RETURN_IF_ERROR(c.Exec("UPDATE ...", {...}).status());
//     return c.Exec("INSERT ...", {...}).status();
//   }));

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/storage/postgres/pg_db.h"

namespace edgevault::storage {

struct PgPoolOptions {
  PgConnectOptions connect;
  int max_connections = 8;  // at least 1
};

class PgPool {
 public:
  // Opens one connection to check the URL and the server. Errors: InvalidArgument (bad
  // URL, max_connections < 1), Unavailable (cannot connect).
  static absl::StatusOr<std::unique_ptr<PgPool>> Create(const PgPoolOptions& options);

  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;
  ~PgPool();  // every Lease must be gone

  // A connection held until the Lease is destroyed. A lease returned while a transaction
  // is still open on it, or on a broken connection, closes that connection instead.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    PgConnection& operator*() const { return *conn_; }
    PgConnection* operator->() const { return conn_.get(); }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // An idle healthy connection, or a new one while fewer than max_connections are open;
  // otherwise waits for a lease to come back. Errors: Unavailable (cannot connect).
  absl::StatusOr<Lease> Acquire();

  // One statement on a leased connection (autocommit). Errors: as PgConnection.
  absl::StatusOr<PgResult> Query(std::string_view sql, const PgParams& params = {});
  absl::StatusOr<int64_t> Exec(std::string_view sql, const PgParams& params = {});

  // Runs `fn` inside BEGIN ... COMMIT on one leased connection; rolls back when `fn` fails
  // and returns its status. When the transaction fails with a serialization failure or
  // a deadlock (Aborted, SQLSTATE 40001 / 40P01) it runs `fn` again on a new transaction, up to max_attempts times
  // in all, so `fn` must have no effects outside the database (or tolerate repeats).
  // Errors: those of `fn`, Commit, Acquire; Aborted after max_attempts.
  absl::Status InTransaction(const std::function<absl::Status(PgConnection&)>& fn,
                             PgIsolation isolation = PgIsolation::kReadCommitted,
                             int max_attempts = 5);

  // Connections open now (leased plus idle), for tests and metrics.
  int OpenConnections() const;
  const PgPoolOptions& options() const { return options_; }

 private:
  explicit PgPool(PgPoolOptions options) : options_(std::move(options)) {}
  void Release(std::unique_ptr<PgConnection> conn);

  const PgPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  int open_ = 0;                                     // guarded by mu_
};

}  // namespace edgevault::storage
