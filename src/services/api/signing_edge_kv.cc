#include "src/services/api/signing_edge_kv.h"

#include <algorithm>

#include <boost/json.hpp>

#include "src/base/log.h"
#include "src/services/common/edge_kv_open.h"

namespace edgevault::api {
namespace json = boost::json;

absl::StatusOr<bool> SigningEdgeKv::PutIfNewer(std::string_view key, std::string_view value,
                                               int64_t version) {
  if (storage::EdgeKvSignatureKeyFor(key).empty()) return inner_->PutIfNewer(key, value, version);
  EV_ASSIGN_OR_RETURN(std::vector<bool> written, PutManyIfNewer({{key, value, version}}));
  return written.front();
}

absl::StatusOr<std::vector<bool>> SigningEdgeKv::PutManyIfNewer(
    const std::vector<storage::KvWrite>& writes) {
  EV_RETURN_IF_ERROR(storage::ValidateEdgeKvWrites(writes));
  // Per document write: its signature key and value (kept alive for the batch's views).
  std::vector<std::string> sig_keys(writes.size()), sigs(writes.size());
  std::vector<storage::KvWrite> batch;
  batch.reserve(writes.size() * 2);
  std::vector<size_t> position(writes.size());  // index of writes[i] in the batch
  for (size_t i = 0; i < writes.size(); ++i) {
    sig_keys[i] = storage::EdgeKvSignatureKeyFor(writes[i].key);
    if (!sig_keys[i].empty()) {
      sigs[i] = signer_->Sign(writes[i].value);
      // The signature first: with a backend that applies a batch entry by entry (Redis),
      // a reader never finds a document version whose signature is not there yet.
      batch.push_back({sig_keys[i], sigs[i], writes[i].version});
    }
    position[i] = batch.size();
    batch.push_back(writes[i]);
  }
  EV_ASSIGN_OR_RETURN(std::vector<bool> written, inner_->PutManyIfNewer(batch));
  std::vector<bool> out(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    out[i] = written[position[i]];
    if (!out[i] && !sig_keys[i].empty()) {
      EV_RETURN_IF_ERROR(ResignIfStale(writes[i], sig_keys[i], sigs[i]));
    }
  }
  return out;
}

absl::Status SigningEdgeKv::ResignIfStale(const storage::KvWrite& w, const std::string& sig_key,
                                          const std::string& signature) {
  absl::StatusOr<storage::KvEntry> doc = inner_->Get(w.key);
  if (absl::IsNotFound(doc.status())) return absl::OkStatus();
  EV_RETURN_IF_ERROR(doc.status());
  if (doc->version != w.version || doc->value != w.value) return absl::OkStatus();  // newer
  absl::StatusOr<storage::KvEntry> sig = inner_->Get(sig_key);
  if (sig.ok()) {
    if (sig->version > w.version) return absl::OkStatus();  // a newer pair is being written
    const std::string active = signature.substr(0, signature.find('.'));
    if (sig->version == w.version && sig->value.substr(0, sig->value.find('.')) == active) {
      return absl::OkStatus();  // signed by the active key already
    }
    // Same version, another key: the version rule keeps equal versions, so remove it first.
    // A reader holding this version keeps the pair it has; one that reads in between finds
    // no signature for a moment and keeps its previous pair (docs/delivery.md).
    absl::Status del = inner_->DeleteIfNotNewer(sig_key, w.version).status();
    if (!del.ok() && !absl::IsNotFound(del)) return del;
  } else if (!absl::IsNotFound(sig.status())) {
    return sig.status();
  }
  return inner_->PutIfNewer(sig_key, signature, w.version).status();
}

absl::StatusOr<bool> SigningEdgeKv::DeleteIfNotNewer(std::string_view key, int64_t version) {
  absl::StatusOr<bool> removed = inner_->DeleteIfNotNewer(key, version);
  std::string sig_key = storage::EdgeKvSignatureKeyFor(key);
  if (!sig_key.empty() && (removed.ok() || absl::IsNotFound(removed.status()))) {
    absl::Status st = inner_->DeleteIfNotNewer(sig_key, version).status();
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return removed;
}

absl::Status SigningEdgeKv::PutMeta(std::string_view key, const std::string& value, bool force) {
  absl::StatusOr<storage::KvEntry> stored = inner_->Get(key);
  if (!stored.ok() && !absl::IsNotFound(stored.status())) return stored.status();
  if (stored.ok() && stored->value == value && !force) return absl::OkStatus();
  int64_t version = std::max<int64_t>(1, absl::ToUnixSeconds(env_->Now()));
  if (stored.ok()) version = std::max(version, stored->version + 1);
  return inner_->PutIfNewer(key, value, version).status();
}

absl::Status SigningEdgeKv::MaintainKeys() {
  std::lock_guard<std::mutex> lock(maintain_mu_);
  // The keys first: a new key is published before anything it signs can be read.
  EV_RETURN_IF_ERROR(PutMeta(storage::kEdgeKvDocumentKeysKey, signer_->Jwks(), false));
  const std::string active = signer_->ActiveKid();
  if (active == recorded_active_) return absl::OkStatus();
  const std::string record = json::serialize(json::object{{"format", 1}, {"active", active}});
  absl::StatusOr<storage::KvEntry> stored = inner_->Get(storage::kEdgeKvDocumentSignerKey);
  if (!stored.ok() && !absl::IsNotFound(stored.status())) return stored.status();
  if (!stored.ok() || stored->value != record) {
    // Re-sign everything: the republisher sees the marker gone and writes every document
    // again; each is refused (same version) and re-signed by ResignIfStale.
    EV_LOG(kInfo, "document-signing key changed: re-signing every document", {{"kid", active}});
    absl::Status st = inner_->DeleteIfNotNewer(services::kPopulatedKey, INT64_MAX).status();
    if (!st.ok() && !absl::IsNotFound(st)) return st;
    EV_RETURN_IF_ERROR(PutMeta(storage::kEdgeKvDocumentSignerKey, record, true));
  }
  recorded_active_ = active;
  return absl::OkStatus();
}

}  // namespace edgevault::api
