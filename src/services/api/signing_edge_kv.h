#pragma once
// The api's edge KV with document signatures (docs/design/resolved-document.md §8): every
// write of a resolved document (doc/…) or client document (cdoc/…) carries its signature
// (sig/…, csig/…) in the same batch and at the same version, written first, so a reader
// that sees a document version also finds its signature; a document delete removes its
// signature too. Wrapping the KV, rather than signing at each call site, means no path
// (propagation, a client key's first client document, the republisher) can put a
// document into the KV unsigned.
//
// A document refused because the KV already holds that version is re-signed when the
// stored bytes equal the resolved ones and its signature is missing or by another key
// than the active one: that is how a republish re-signs everything after a rotation (and
// signs a KV written before signatures existed). The bytes come from the system of record,
// never from the KV, so a party that can write the KV cannot get its own document signed.
//
// MaintainKeys (the api's KV upkeep, every second) publishes the key set to
// meta/document-keys when it changed, and when the active key changed it records it in
// meta/document-signer and removes the populated marker, so the republisher re-signs every
// document.
//
//   api::SigningEdgeKv kv(managed_kv, signer, env);
//   kv.MaintainKeys();   // on the upkeep thread
//   so.kv = &kv;
//
// Thread-safety: as storage::EdgeKv; MaintainKeys from one thread at a time.

#include <mutex>
#include <string>

#include "src/base/env.h"
#include "src/crypto/document_signer.h"
#include "src/storage/edge_kv.h"

namespace edgevault::api {

class SigningEdgeKv : public storage::EdgeKv {
 public:
  // Not owned; all must outlive this object.
  SigningEdgeKv(storage::EdgeKv* inner, crypto::DocumentSigner* signer, base::Env* env)
      : inner_(inner), signer_(signer), env_(env) {}

  // Publishes the key set and starts a re-signing republish when the active key changed
  // (see above). Errors: the KV's; nothing is recorded then, so the next call repeats it.
  absl::Status MaintainKeys();

  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override;
  absl::StatusOr<std::vector<bool>> PutManyIfNewer(const std::vector<storage::KvWrite>& writes) override;
  absl::StatusOr<storage::KvEntry> Get(std::string_view key) override { return inner_->Get(key); }
  absl::StatusOr<int64_t> GetVersion(std::string_view key) override { return inner_->GetVersion(key); }
  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override;
  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix, int limit) override {
    return inner_->ListKeys(prefix, limit);
  }

 private:
  // A document write refused at `w.version`: re-sign when the stored document is these
  // bytes at this version and its signature is not the active key's.
  absl::Status ResignIfStale(const storage::KvWrite& w, const std::string& sig_key,
                             const std::string& signature);
  // Writes `value` under `key` at a version above the stored one (the clock's seconds, or
  // one more than stored), unless it already holds `value` and !force.
  absl::Status PutMeta(std::string_view key, const std::string& value, bool force);

  storage::EdgeKv* const inner_;
  crypto::DocumentSigner* const signer_;
  base::Env* const env_;
  std::mutex maintain_mu_;
  std::string recorded_active_;  // the kid last written to meta/document-signer
};

}  // namespace edgevault::api
