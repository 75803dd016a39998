#include "src/services/api/edge_kv_republisher.h"

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/services/common/edge_kv_open.h"

namespace edgevault::api {
namespace {

// The document's own "version" (the head revision it was resolved at), which is the KV
// version propagation writes it with (docs/design/resolved-document.md).
absl::StatusOr<int64_t> DocumentVersion(const std::string& doc) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(doc, ec);
  const boost::json::value* version =
      !ec && v.is_object() ? v.get_object().if_contains("version") : nullptr;
  if (version == nullptr || !version->is_int64() || version->get_int64() < 0) {
    return absl::InternalError("a resolved document has no valid \"version\"");
  }
  return version->get_int64();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EdgeKvRepublisher>> EdgeKvRepublisher::Create(
    EdgeKvRepublisherOptions o) {
  if (o.service == nullptr || o.directory == nullptr || o.sdk_keys == nullptr || o.kv == nullptr ||
      o.stores == nullptr) {
    return absl::InvalidArgumentError("EdgeKvRepublisherOptions needs service, directory, sdk_keys, kv and stores");
  }
  if (o.check_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("EdgeKvRepublisherOptions.check_interval must be positive");
  }
  return std::unique_ptr<EdgeKvRepublisher>(new EdgeKvRepublisher(std::move(o)));
}

EdgeKvRepublisher::~EdgeKvRepublisher() { Stop(); }

absl::StatusOr<bool> EdgeKvRepublisher::CheckOnce() {
  absl::StatusOr<int64_t> marker = options_.kv->GetVersion(services::kPopulatedKey);
  if (marker.ok()) return false;
  if (!absl::IsNotFound(marker.status())) return marker.status();
  EV_RETURN_IF_ERROR(RepublishAll());
  if (options_.on_published) options_.on_published();
  EV_RETURN_IF_ERROR(
      options_.kv->PutIfNewer(services::kPopulatedKey, R"({"format":1})", 1).status());
  return true;
}

absl::Status EdgeKvRepublisher::RepublishAll() {
  int docs = 0, sdk_keys = 0;
  // Every workspace that has a store (as workspace::Service::Start finds them).
  EV_ASSIGN_OR_RETURN(std::vector<std::string> ids, options_.stores->List());
  for (const std::string& id : ids) {
    absl::StatusOr<storage::Workspace> ws = options_.directory->GetWorkspaceById(id);
    if (!ws.ok()) {
      if (absl::IsNotFound(ws.status())) continue;  // an orphan store (creation crashed)
      return ws.status();
    }
    if (ws->deleted()) continue;  // deleted: nothing of it is served until a restore
    EV_ASSIGN_OR_RETURN(std::vector<storage::Item> envs, options_.service->ListEnvironments(*ws));
    for (const storage::Item& env : envs) {
      // A concurrent write may make this document newer than a propagation already running;
      // the version rule keeps whichever is newest, so racing with propagation is harmless.
      absl::StatusOr<std::string> doc = options_.service->Resolve(*ws, env.key);
      if (!doc.ok()) {
        if (absl::IsNotFound(doc.status())) continue;  // deleted meanwhile
        return doc.status();
      }
      EV_ASSIGN_OR_RETURN(int64_t version, DocumentVersion(*doc));
      EV_RETURN_IF_ERROR(
          options_.kv->PutIfNewer(storage::EdgeKvDocumentKey(ws->id, env.key), *doc, version).status());
      ++docs;
      // The client document (client-visible items only), at its own version.
      absl::StatusOr<std::string> client =
          options_.service->Resolve(*ws, env.key, workspace::Audience::kClient);
      if (!client.ok()) {
        if (absl::IsNotFound(client.status())) continue;
        return client.status();
      }
      EV_ASSIGN_OR_RETURN(int64_t client_version, DocumentVersion(*client));
      EV_RETURN_IF_ERROR(options_.kv
                             ->PutIfNewer(storage::EdgeKvClientDocumentKey(ws->id, env.key), *client,
                                          client_version)
                             .status());
    }
    EV_ASSIGN_OR_RETURN(std::vector<storage::SdkKey> keys,
                        options_.sdk_keys->ListSdkKeys(ws->org_id, ws->id));
    for (const storage::SdkKey& k : keys) {
      if (k.revoked_at.has_value()) continue;
      EV_RETURN_IF_ERROR(options_.service->PublishSdkKey(k.key_hash, *ws, k.environment, k.kind, k.origins));
      ++sdk_keys;
    }
  }
  EV_LOG(kInfo, "edge KV had no populated marker: republished", {{"documents", docs}, {"sdk_keys", sdk_keys}});
  return absl::OkStatus();
}

void EdgeKvRepublisher::Start() {
  if (task_ != nullptr) return;
  base::Env* env = options_.env != nullptr ? options_.env : base::Env::Default();
  task_ = env->Schedule("edge KV republisher", {.interval = options_.check_interval, .run_at_start = true},
                        [this] { return CheckInBackground(); });
}

void EdgeKvRepublisher::Stop() {
  if (task_ != nullptr) task_->Stop();
  task_.reset();
}

base::NextRun EdgeKvRepublisher::CheckInBackground() {
  if (options_.maintain) options_.maintain();
  absl::StatusOr<bool> checked = CheckOnce();
  // Log a failure once per outage, not once per check.
  if (!checked.ok() && !failing_) {
    EV_LOG(kWarn, "edge KV republish check failed; retrying",
           {{"error", checked.status().ToString()}});
  } else if (checked.ok() && failing_) {
    EV_LOG(kInfo, "edge KV reachable again");
  }
  failing_ = !checked.ok();
  return base::NextRun::Interval();
}

}  // namespace edgevault::api
