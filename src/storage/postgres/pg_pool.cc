#include "src/storage/postgres/pg_pool.h"

#include <algorithm>
#include <string>
#include <utility>

#include "src/base/status.h"

namespace edgevault::storage {

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(const PgPoolOptions& options) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("postgres: the pool needs at least one connection");
  }
  EV_RETURN_IF_ERROR(ValidatePostgresUrl(options.connect.url));
  std::unique_ptr<PgPool> pool(new PgPool(options));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> first, PgConnection::Connect(options.connect));
  pool->idle_.push_back(std::move(first));
  pool->open_ = 1;
  return pool;
}

PgPool::~PgPool() = default;

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_));
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->CheckIdle()) return Lease(this, std::move(conn));
      --open_;  // broke while idle (server restarted, backend terminated): drop it
    }
    if (open_ < options_.max_connections) break;
    released_.wait(lock);
  }
  ++open_;  // reserve the slot, connect without holding the lock
  lock.unlock();
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(options_.connect);
  if (!conn.ok()) {
    lock.lock();
    --open_;
    released_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void PgPool::Release(std::unique_ptr<PgConnection> conn) {
  // A connection left inside a transaction (a caller bug, or a rollback that could not be
  // sent) must never serve another caller: drop it.
  const bool reusable = conn->Healthy() && !conn->InTransaction();
  if (!reusable) conn.reset();  // closes it, outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  if (reusable) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  released_.notify_one();
}

absl::StatusOr<PgResult> PgPool::Query(std::string_view sql, const PgParams& params) {
  EV_ASSIGN_OR_RETURN(Lease conn, Acquire());
  return conn->Query(sql, params);
}

absl::StatusOr<int64_t> PgPool::Exec(std::string_view sql, const PgParams& params) {
  EV_ASSIGN_OR_RETURN(Lease conn, Acquire());
  return conn->Exec(sql, params);
}

absl::Status PgPool::InTransaction(const std::function<absl::Status(PgConnection&)>& fn,
                                   PgIsolation isolation, int max_attempts) {
  absl::Status last;
  for (int attempt = 0; attempt < std::max(1, max_attempts); ++attempt) {
    EV_ASSIGN_OR_RETURN(Lease conn, Acquire());
    EV_ASSIGN_OR_RETURN(PgTransaction tx, PgTransaction::Begin(*conn, isolation));
    last = fn(*conn);
    if (last.ok()) last = tx.Commit();
    const std::string state = PgSqlState(last);
    if (!absl::IsAborted(last) || (state != "40001" && state != "40P01")) return last;
    // tx rolls back (if still open) before the lease goes back.
  }
  return last;
}

int PgPool::OpenConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

}  // namespace edgevault::storage
