#include "src/services/common/edge_kv_open.h"

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

// Delivery's view of a shared KV: "absent" is only believed while the populated marker is
// present (see OpenEdgeKv in the header).
class PopulatedGuardKv final : public storage::EdgeKv {
 public:
  explicit PopulatedGuardKv(std::unique_ptr<storage::EdgeKv> inner) : inner_(std::move(inner)) {}

  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override {
    return inner_->PutIfNewer(key, value, version);
  }
  absl::StatusOr<storage::KvEntry> Get(std::string_view key) override {
    absl::StatusOr<storage::KvEntry> entry = inner_->Get(key);
    if (!entry.ok() && absl::IsNotFound(entry.status())) return AbsentOrUnpopulated(entry.status());
    return entry;
  }
  absl::StatusOr<int64_t> GetVersion(std::string_view key) override {
    absl::StatusOr<int64_t> version = inner_->GetVersion(key);
    if (!version.ok() && absl::IsNotFound(version.status())) {
      return AbsentOrUnpopulated(version.status());
    }
    return version;
  }
  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override {
    return inner_->DeleteIfNotNewer(key, version);
  }
  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix, int limit) override {
    return inner_->ListKeys(prefix, limit);
  }

 private:
  absl::Status AbsentOrUnpopulated(const absl::Status& not_found) {
    absl::StatusOr<int64_t> marker = inner_->GetVersion(kPopulatedKey);
    if (marker.ok()) return not_found;
    if (!absl::IsNotFound(marker.status())) return marker.status();
    return absl::UnavailableError(
        "the edge KV holds no populated marker (Redis lost its data or the api has not "
        "published yet); the api republishes everything within seconds");
  }

  const std::unique_ptr<storage::EdgeKv> inner_;
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

bool EdgeKvIsShared(const base::Config& config) {
  absl::StatusOr<base::EdgeKvUrl> url = base::ParseEdgeKvUrl(config.kv_url);
  return url.ok() && url->kind == base::EdgeKvUrl::Kind::kRedis;
}

absl::StatusOr<std::unique_ptr<storage::EdgeKv>> OpenEdgeKv(const base::Config& config,
                                                            bool read_only) {
  EV_ASSIGN_OR_RETURN(base::EdgeKvUrl url, ParseUrl(config));
  if (url.kind == base::EdgeKvUrl::Kind::kRedis) {
    storage::RedisEdgeKvOptions o = RedisOptions(url, config, read_only);
    EV_LOG(kInfo, "edge KV: redis",
           {{"host", o.host}, {"port", static_cast<int>(o.port)}, {"db", o.db}});
    EV_ASSIGN_OR_RETURN(std::unique_ptr<storage::EdgeKv> kv, storage::OpenRedisEdgeKv(o));
    if (!read_only) return kv;
    return std::unique_ptr<storage::EdgeKv>(new PopulatedGuardKv(std::move(kv)));
  }
  storage::LmdbEdgeKvOptions o;
  o.path = config.data_dir + "/edge";
  o.read_only = read_only;
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> kv = storage::OpenLmdbEdgeKv(o);
  // The api creates the store; `edgevault up` starts both at once, so a reader waits for it.
  for (int attempt = 0; read_only && !kv.ok() && absl::IsNotFound(kv.status()) && attempt < 600;
       ++attempt) {
    if (attempt == 0) EV_LOG(kInfo, "waiting for the api to create the edge KV", {{"path", o.path}});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kv = storage::OpenLmdbEdgeKv(o);
  }
  return kv;
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
