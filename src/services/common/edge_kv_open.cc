#include "src/services/common/edge_kv_open.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/redis/edge_kv_redis.h"

namespace edgevault::services {
namespace {

using base::StrAppend;
using base::StrCat;

absl::StatusOr<base::EdgeKvUrl> ParseUrl(const base::Config& config) {
  absl::StatusOr<base::EdgeKvUrl> url = base::ParseEdgeKvUrl(config.kv_url);
  if (!url.ok()) {
    // LoadConfig validated the key already; this only guards hand-built Configs.
    return absl::InvalidArgumentError(
        base::StrCat("config key 'kv.url': ", base::ToStd(url.status().message())));
  }
  return url;
}

storage::RedisEdgeKvOptions RedisOptions(const base::EdgeKvUrl& url, const base::Config& config,
                                         bool read_only) {
  storage::RedisEdgeKvOptions o;
  o.host = url.host;
  o.port = url.port;
  o.username = url.username;
  o.password = url.password;
  o.db = url.db;
  o.tls = {.enabled = url.tls, .ca_file = url.tls_ca_file, .cert_file = url.tls_cert_file,
           .key_file = url.tls_key_file, .server_name = url.tls_server_name};
  if (read_only) {
    // Delivery: every request reads the KV from an io thread, so one connection per io
    // thread; and a short timeout, because while Redis hangs each request waits this long
    // before answering from memory (fail-static).
    int threads = config.io_threads > 0
                      ? config.io_threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    o.pool_size = std::clamp(threads, 4, 64);
    o.timeout = absl::Milliseconds(500);
  }
  return o;
}

constexpr std::string_view kStateNames[kEdgeKvStates] = {"ok", "unpopulated", "damaged", "missing",
                                                         "unavailable"};

class RedisManagedKv final : public ManagedEdgeKv {
 public:
  RedisManagedKv(std::unique_ptr<storage::EdgeKv> kv, bool read_only)
      : ManagedEdgeKv(read_only), kv_(std::move(kv)) {}

 protected:
  storage::EdgeKv* Current() const override { return kv_.get(); }
  EdgeKvState Upkeep(std::string*) override { return EdgeKvState::kOk; }
  absl::Status NoStore() const override { return absl::InternalError("edge KV: no Redis store"); }

 private:
  const std::unique_ptr<storage::EdgeKv> kv_;
};

// The embedded store: DATA_DIR/edge, which the api may replace (rebuild) and delivery then
// reopens. Handles are swapped, never freed while this object lives: a reader may still be
// inside a call on the previous one, and the read path takes no lock and counts nothing.
class LmdbManagedKv final : public ManagedEdgeKv {
 public:
  LmdbManagedKv(storage::LmdbEdgeKvOptions options, base::Env* env)
      : ManagedEdgeKv(options.read_only), options_(std::move(options)), env_(env) {}

  // The first open (see OpenEdgeKv in the header).
  absl::Status Start() {
    absl::StatusOr<std::unique_ptr<storage::LmdbEdgeKv>> kv = storage::OpenLmdbStore(options_);
    if (!options_.read_only) {
      if (kv.ok()) {
        Adopt(*std::move(kv));
        return absl::OkStatus();
      }
      if (!absl::IsDataLoss(kv.status())) return kv.status();
      CountDamage();
      std::string detail;
      if (Rebuild(std::string(kv.status().message()), &detail) != EdgeKvState::kOk) {
        return absl::UnavailableError(detail);
      }
      return absl::OkStatus();
    }
    // The api creates the store; `edgevault up` starts both at once, so a reader waits.
    for (int attempt = 0; !kv.ok() && absl::IsNotFound(kv.status()) && attempt < 600; ++attempt) {
      if (attempt == 0) {
        EV_LOG(kInfo, "waiting for the api to create the edge KV", {{"path", options_.path}});
      }
      env_->SleepFor(absl::Milliseconds(100));
      kv = storage::OpenLmdbStore(options_);
    }
    if (kv.ok()) {
      Adopt(*std::move(kv));
      return absl::OkStatus();
    }
    if (absl::IsPermissionDenied(kv.status()) || absl::IsInvalidArgument(kv.status())) {
      return kv.status();
    }
    // Missing, damaged or unreadable: start anyway, not ready; Maintain opens the store once
    // the api has (re)built it.
    if (absl::IsDataLoss(kv.status())) CountDamage();
    NoteFailedOpen(kv.status());
    if (::stat((options_.path + "/data.mdb").c_str(), &failed_) == 0) have_failed_ = true;
    EV_LOG(kError, "edge KV not usable at start-up; serving nothing until it is",
           {{"path", options_.path}, {"error", kv.status().ToString()}});
    return absl::OkStatus();
  }

 protected:
  storage::EdgeKv* Current() const override { return current_.load(std::memory_order_acquire); }

  absl::Status NoStore() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return absl::UnavailableError(StrCat("edge KV ", options_.path, " is not open: ", no_store_));
  }

  EdgeKvState Upkeep(std::string* detail) override {
    storage::LmdbEdgeKv* kv = current_.load(std::memory_order_acquire);
    if (kv == nullptr) {
      return options_.read_only ? Reopen(detail) : Rebuild("no store is open", detail);
    }
    std::string why;
    storage::LmdbStoreState found = kv->Inspect(/*deep=*/false, &why);
    if (found == storage::LmdbStoreState::kOk && options_.read_only) found = WalkIfDue(*kv, &why);
    switch (found) {
      case storage::LmdbStoreState::kOk:
        return EdgeKvState::kOk;
      case storage::LmdbStoreState::kDamaged:
        if (damage_counted_ != kv) {
          damage_counted_ = kv;
          CountDamage();
        }
        if (!options_.read_only) return Rebuild(why, detail);
        *detail = StrCat(why, "; answering from memory until the api rebuilds the store");
        return EdgeKvState::kDamaged;
      case storage::LmdbStoreState::kReplaced:
        if (!options_.read_only) return Rebuild(why, detail);
        return Reopen(detail);
    }
    return EdgeKvState::kOk;
  }

 private:
  void Adopt(std::unique_ptr<storage::LmdbEdgeKv> kv) {
    if (current_.load(std::memory_order_relaxed) != nullptr) CountReopen();
    current_.store(kv.get(), std::memory_order_release);
    opened_.push_back(std::move(kv));
    have_failed_ = false;
    // Opening walked every page.
    walked_ok_ = ::stat((options_.path + "/data.mdb").c_str(), &walked_) == 0;
    next_walk_ = env_->MonotonicNow() + kMinWalkInterval;
  }

  // The reader's check of pages no read has touched: a damaged page that LMDB happens to
  // parse as a leaf reads as "absent", and only a walk of every page tells. Done when
  // data.mdb changed since the last walk, at most once per max(5 s, 50 x the last walk's
  // duration), so the cost stays bounded however large the store and however busy the api.
  storage::LmdbStoreState WalkIfDue(storage::LmdbEdgeKv& kv, std::string* why) {
    struct stat st;
    if (::stat((options_.path + "/data.mdb").c_str(), &st) != 0) return storage::LmdbStoreState::kOk;
    const bool changed = !walked_ok_ || st.st_size != walked_.st_size ||
                         st.st_mtim.tv_sec != walked_.st_mtim.tv_sec ||
                         st.st_mtim.tv_nsec != walked_.st_mtim.tv_nsec ||
                         st.st_ctim.tv_sec != walked_.st_ctim.tv_sec ||
                         st.st_ctim.tv_nsec != walked_.st_ctim.tv_nsec;
    const absl::Duration start = env_->MonotonicNow();
    if (!changed || start < next_walk_) return storage::LmdbStoreState::kOk;
    storage::LmdbStoreState found = kv.Inspect(/*deep=*/true, why);
    const absl::Duration took = env_->MonotonicNow() - start;
    next_walk_ = env_->MonotonicNow() + std::max(kMinWalkInterval, 50 * took);
    walked_ = st;
    walked_ok_ = true;
    return found;
  }

  static constexpr absl::Duration kMinWalkInterval = absl::Seconds(5);

  // The writer's answer to a damaged, deleted or replaced store: move whatever is at the
  // path aside and create a fresh one; the republisher re-fills it from the workspaces (the
  // edge KV is derived data). Another store found at the path is never adopted: it may hold
  // SDK keys revoked since, which a republish (it only adds) would not remove.
  EdgeKvState Rebuild(const std::string& why, std::string* detail) {
    EV_LOG(kWarn, "edge KV: rebuilding the store from the workspaces",
           {{"path", options_.path}, {"why", why}});
    absl::StatusOr<std::string> moved = storage::MoveLmdbStoreAside(options_.path, env_->Now());
    if (moved.ok()) {
      EV_LOG(kWarn, "edge KV: the old store was moved aside; delete it once inspected",
             {{"path", options_.path}, {"moved_to", *moved}});
    } else if (!absl::IsNotFound(moved.status())) {
      *detail = StrCat(why, "; moving it aside failed: ", moved.status().message());
      return EdgeKvState::kDamaged;
    }
    absl::StatusOr<std::unique_ptr<storage::LmdbEdgeKv>> kv = storage::OpenLmdbStore(options_);
    if (!kv.ok()) {
      *detail = StrCat(why, "; creating a fresh store failed: ", kv.status().message());
      NoteFailedOpen(kv.status());
      return EdgeKvState::kUnavailable;
    }
    Adopt(*std::move(kv));
    return EdgeKvState::kOk;
  }

  // The reader's: open what is at the path now (the store the api rebuilt), unless opening
  // that very file failed before.
  EdgeKvState Reopen(std::string* detail) {
    struct stat st;
    const std::string data = options_.path + "/data.mdb";
    if (::stat(data.c_str(), &st) != 0) {
      *detail = StrCat("no store at ", options_.path, " (deleted?); waiting for the api to create it");
      return EdgeKvState::kMissing;
    }
    const bool unchanged = have_failed_ && st.st_dev == failed_.st_dev && st.st_ino == failed_.st_ino &&
                           st.st_size == failed_.st_size && st.st_mtim.tv_sec == failed_.st_mtim.tv_sec &&
                           st.st_mtim.tv_nsec == failed_.st_mtim.tv_nsec;
    absl::Status failure;
    if (unchanged) {
      std::lock_guard<std::mutex> lock(mu_);
      failure = failed_status_;
    } else {
      absl::StatusOr<std::unique_ptr<storage::LmdbEdgeKv>> kv = storage::OpenLmdbStore(options_);
      if (kv.ok()) {
        EV_LOG(kInfo, "edge KV: opened the store the api (re)built", {{"path", options_.path}});
        Adopt(*std::move(kv));
        return EdgeKvState::kOk;
      }
      failure = kv.status();
      if (absl::IsDataLoss(failure)) CountDamage();
      NoteFailedOpen(failure);
      failed_ = st;
      have_failed_ = true;
    }
    *detail = std::string(failure.message());
    if (absl::IsNotFound(failure)) return EdgeKvState::kMissing;
    if (absl::IsDataLoss(failure)) {
      *detail += "; answering from memory until the api rebuilds the store";
      return EdgeKvState::kDamaged;
    }
    return EdgeKvState::kUnavailable;
  }

  void NoteFailedOpen(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    failed_status_ = status;
    no_store_ = std::string(status.message());
  }

  const storage::LmdbEdgeKvOptions options_;
  base::Env* const env_;
  std::atomic<storage::LmdbEdgeKv*> current_{nullptr};
  // Below: only Maintain's thread (and Start, before it) touches them, but mu_.
  std::vector<std::unique_ptr<storage::LmdbEdgeKv>> opened_;  // every store opened
  const storage::LmdbEdgeKv* damage_counted_ = nullptr;
  struct stat failed_ {};  // data.mdb as it was when opening it failed
  bool have_failed_ = false;
  struct stat walked_ {};  // data.mdb as it was at the reader's last walk
  bool walked_ok_ = false;
  absl::Duration next_walk_;  // MonotonicNow() from which the next walk may run
  mutable std::mutex mu_;
  absl::Status failed_status_;  // guarded by mu_
  std::string no_store_ = "not opened yet";  // guarded by mu_
};

class RedisWatch final : public EdgeKvWatch {
 public:
  explicit RedisWatch(std::unique_ptr<storage::RedisKvWatcher> watcher)
      : watcher_(std::move(watcher)) {}
  ~RedisWatch() override { watcher_->Stop(); }

 private:
  std::unique_ptr<storage::RedisKvWatcher> watcher_;
};

}  // namespace

std::string_view EdgeKvStateName(EdgeKvState state) {
  int i = static_cast<int>(state);
  return i >= 0 && i < kEdgeKvStates ? kStateNames[i] : "unknown";
}

ManagedEdgeKv::~ManagedEdgeKv() = default;

EdgeKvState ManagedEdgeKv::Maintain() {
  std::string detail;
  EdgeKvState state = Upkeep(&detail);
  if (state == EdgeKvState::kOk) {
    storage::EdgeKv* kv = Current();
    absl::StatusOr<int64_t> marker = kv != nullptr ? kv->GetVersion(kPopulatedKey) : NoStore();
    if (marker.ok()) {
      state = EdgeKvState::kOk;
    } else if (absl::IsNotFound(marker.status())) {
      state = EdgeKvState::kUnpopulated;
      detail = "the api is (re)publishing every document and SDK key into a new or emptied store";
    } else if (absl::IsDataLoss(marker.status())) {
      state = EdgeKvState::kDamaged;  // the next Maintain acts on it
      detail = std::string(marker.status().message());
    } else {
      state = EdgeKvState::kUnavailable;
      detail = std::string(marker.status().message());
    }
  }
  SetState(state, std::move(detail));
  return state;
}

void ManagedEdgeKv::SetState(EdgeKvState state, std::string detail) {
  EdgeKvState before = this->state();
  bool first;
  {
    std::lock_guard<std::mutex> lock(detail_mu_);
    detail_ = std::move(detail);
    first = !state_set_;
    state_set_ = true;
  }
  state_.store(static_cast<int>(state), std::memory_order_release);
  if (first) {
    EV_LOG(kInfo, "edge KV state", {{"state", EdgeKvStateName(state)}, {"detail", StateDetail()}});
  } else if (before != state) {
    base::Log(state == EdgeKvState::kOk ? base::LogLevel::kInfo : base::LogLevel::kWarn,
              "edge KV state changed",
              {{"from", EdgeKvStateName(before)}, {"to", EdgeKvStateName(state)}, {"detail", StateDetail()}});
  }
}

std::string ManagedEdgeKv::StateDetail() const {
  std::lock_guard<std::mutex> lock(detail_mu_);
  return detail_;
}

std::string ManagedEdgeKv::NotReadyReason() const {
  EdgeKvState s = state();
  if (s == EdgeKvState::kOk) return "";
  return StrCat("edge KV ", EdgeKvStateName(s), ": ", StateDetail());
}

void ManagedEdgeKv::AppendMetrics(std::string_view service, std::string* out) const {
  const EdgeKvState now = state();
  StrAppend(out,
            "# HELP edgevault_edge_kv_state The edge KV's state as this service sees it (1 for "
            "the current state).\n"
            "# TYPE edgevault_edge_kv_state gauge\n");
  for (int i = 0; i < kEdgeKvStates; ++i) {
    StrAppend(out, "edgevault_edge_kv_state{service=\"", service, "\",state=\"", kStateNames[i], "\"} ",
              static_cast<int>(now) == i ? 1 : 0, "\n");
  }
  StrAppend(out,
            "# HELP edgevault_edge_kv_damage_detected_total Times the edge KV store was found "
            "damaged.\n"
            "# TYPE edgevault_edge_kv_damage_detected_total counter\n"
            "edgevault_edge_kv_damage_detected_total{service=\"", service, "\"} ",
            damage_detected_.load(std::memory_order_relaxed), "\n",
            "# HELP edgevault_edge_kv_reopened_total Times a new edge KV store replaced the open "
            "one (the api: rebuilt; delivery: reopened after the api rebuilt it).\n"
            "# TYPE edgevault_edge_kv_reopened_total counter\n"
            "edgevault_edge_kv_reopened_total{service=\"", service, "\"} ",
            reopened_.load(std::memory_order_relaxed), "\n");
}

absl::Status ManagedEdgeKv::Translate(absl::Status status) const {
  if (!absl::IsDataLoss(status)) return status;
  return absl::UnavailableError(StrCat(status.message()));
}

absl::Status ManagedEdgeKv::AbsentOrUnpopulated(storage::EdgeKv& kv, absl::Status not_found) const {
  absl::StatusOr<int64_t> marker = kv.GetVersion(kPopulatedKey);
  if (marker.ok()) return not_found;
  if (!absl::IsNotFound(marker.status())) return Translate(marker.status());
  return absl::UnavailableError(
      "the edge KV holds no populated marker (the store is new, rebuilt or lost its data, or "
      "the api has not published yet); the api republishes everything within seconds");
}

absl::StatusOr<bool> ManagedEdgeKv::PutIfNewer(std::string_view key, std::string_view value,
                                               int64_t version) {
  storage::EdgeKv* kv = Current();
  if (kv == nullptr) return NoStore();
  absl::StatusOr<bool> r = kv->PutIfNewer(key, value, version);
  if (!r.ok()) return Translate(r.status());
  return r;
}

absl::StatusOr<std::vector<bool>> ManagedEdgeKv::PutManyIfNewer(
    const std::vector<storage::KvWrite>& writes) {
  storage::EdgeKv* kv = Current();
  if (kv == nullptr) return NoStore();
  absl::StatusOr<std::vector<bool>> r = kv->PutManyIfNewer(writes);
  if (!r.ok()) return Translate(r.status());
  return r;
}

absl::StatusOr<storage::KvEntry> ManagedEdgeKv::Get(std::string_view key) {
  storage::EdgeKv* kv = Current();
  if (kv == nullptr) return NoStore();
  absl::StatusOr<storage::KvEntry> r = kv->Get(key);
  if (r.ok()) return r;
  if (read_only_ && absl::IsNotFound(r.status())) return AbsentOrUnpopulated(*kv, r.status());
  return Translate(r.status());
}

absl::StatusOr<int64_t> ManagedEdgeKv::GetVersion(std::string_view key) {
  storage::EdgeKv* kv = Current();
  if (kv == nullptr) return NoStore();
  absl::StatusOr<int64_t> r = kv->GetVersion(key);
  if (r.ok()) return r;
  if (read_only_ && absl::IsNotFound(r.status())) return AbsentOrUnpopulated(*kv, r.status());
  return Translate(r.status());
}

absl::StatusOr<bool> ManagedEdgeKv::DeleteIfNotNewer(std::string_view key, int64_t version) {
  storage::EdgeKv* kv = Current();
  if (kv == nullptr) return NoStore();
  absl::StatusOr<bool> r = kv->DeleteIfNotNewer(key, version);
  if (!r.ok()) return Translate(r.status());
  return r;
}

absl::StatusOr<std::vector<std::string>> ManagedEdgeKv::ListKeys(std::string_view prefix, int limit) {
  storage::EdgeKv* kv = Current();
  if (kv == nullptr) return NoStore();
  absl::StatusOr<std::vector<std::string>> r = kv->ListKeys(prefix, limit);
  if (!r.ok()) return Translate(r.status());
  return r;
}

bool EdgeKvIsShared(const base::Config& config) {
  absl::StatusOr<base::EdgeKvUrl> url = base::ParseEdgeKvUrl(config.kv_url);
  return url.ok() && url->kind == base::EdgeKvUrl::Kind::kRedis;
}

absl::StatusOr<std::unique_ptr<ManagedEdgeKv>> OpenEdgeKv(const base::Config& config, bool read_only,
                                                         base::Env* env) {
  if (env == nullptr) env = base::Env::Default();
  EV_ASSIGN_OR_RETURN(base::EdgeKvUrl url, ParseUrl(config));
  std::unique_ptr<ManagedEdgeKv> managed;
  if (url.kind == base::EdgeKvUrl::Kind::kRedis) {
    storage::RedisEdgeKvOptions o = RedisOptions(url, config, read_only);
    EV_LOG(kInfo, "edge KV: redis",
           {{"host", o.host}, {"port", static_cast<int>(o.port)}, {"db", o.db},
            {"tls", o.tls.enabled ? "on" : "off"}});
    EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::EdgeKv> kv, storage::OpenRedisEdgeKv(o));
    managed = std::make_unique<RedisManagedKv>(std::move(kv), read_only);
  } else {
    storage::LmdbEdgeKvOptions o;
    o.path = config.data_dir + "/edge";
    o.read_only = read_only;
    auto lmdb = std::make_unique<LmdbManagedKv>(o, env);
    EV_RETURN_IF_ERROR(lmdb->Start());
    managed = std::move(lmdb);
  }
  managed->Maintain();
  return managed;
}

absl::StatusOr<std::unique_ptr<EdgeKvWatch>> WatchEdgeKv(const base::Config& config,
                                                         std::function<void()> on_change) {
  EV_ASSIGN_OR_RETURN(base::EdgeKvUrl url, ParseUrl(config));
  if (url.kind != base::EdgeKvUrl::Kind::kRedis) return std::unique_ptr<EdgeKvWatch>();
  if (!on_change) return absl::InvalidArgumentError("WatchEdgeKv: on_change is empty");
  EV_ASSIGN_OR_RETURN(
      std::unique_ptr<storage::RedisKvWatcher> watcher,
      storage::RedisKvWatcher::Create(
          RedisOptions(url, config, /*read_only=*/true),
          [on_change](std::string, int64_t) { on_change(); }, on_change));
  EV_RETURN_IF_ERROR(watcher->Start());
  return std::unique_ptr<EdgeKvWatch>(new RedisWatch(std::move(watcher)));
}

}  // namespace edgevault::services
