#pragma once
// How users and programs prove who they are, as the control DB keeps it: login sessions,
// API keys, SDK keys, passkeys and one-shot challenges (DESIGN.md §7). Tokens and keys are
// kept only as SHA-256 hex digests. The auth service owns it. SdkKeyLister is the one
// slice another service needs (the api's edge-KV republisher lists a workspace's SDK
// keys), so it is an interface of its own that a remote client can implement.
//
// Thread-safety: every method may be called concurrently; each call is atomic.
//
// Error codes (every backend; driver errors never leak):
//   NotFound           the row does not exist (or is expired/used, where stated)
//   AlreadyExists      a unique key is taken (key hash, credential id, session token hash)
//   InvalidArgument    a value the store cannot hold (empty id, unknown role)
//   FailedPrecondition a row it refers to is missing (an SDK key of an unknown workspace),
//                      or its state forbids the change (revoking a revoked key)
//   Unavailable        the database (or, for a remote lister, the service) is busy or
//                      unreachable; the caller may retry
//   Internal           anything else
//
//   EV_ASSIGN_OR_RETURN(std::vector<storage::SdkKey> keys, lister.ListSdkKeys(org, ws));

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/control_types.h"

namespace edgevault::storage {

class SdkKeyLister {
 public:
  virtual ~SdkKeyLister() = default;
  // Every SDK key of the workspace (revoked ones too), oldest first; empty for an unknown
  // workspace.
  virtual absl::StatusOr<std::vector<SdkKey>> ListSdkKeys(std::string_view org_id,
                                                         std::string_view workspace_id) = 0;
};

class CredentialStore : public SdkKeyLister {
 public:
  // Sessions.
  virtual absl::Status CreateSession(const Session& s) = 0;
  virtual absl::StatusOr<Session> GetSession(std::string_view token_hash) = 0;
  virtual absl::Status TouchSession(std::string_view token_hash, absl::Time last_seen_at,
                                    absl::Time idle_expires_at) = 0;
  virtual absl::Status DeleteSession(std::string_view token_hash) = 0;  // NotFound if absent
  // Returns how many were deleted; `except_token_hash` (may be empty) survives.
  virtual absl::StatusOr<int64_t> DeleteSessionsOfUser(std::string_view user_id,
                                                       std::string_view except_token_hash) = 0;
  // The same, limited to the sessions opened for `org_id`: what an org's admin may end.
  virtual absl::StatusOr<int64_t> DeleteSessionsOfUserInOrg(std::string_view user_id,
                                                            std::string_view org_id,
                                                            std::string_view except_token_hash) = 0;
  virtual absl::StatusOr<int64_t> DeleteExpiredSessions(absl::Time now) = 0;
  // The user's sessions (in every org) still live at `now` (both deadlines after it), most
  // recently used first.
  virtual absl::StatusOr<std::vector<Session>> ListSessionsOfUser(std::string_view user_id,
                                                                   absl::Time now) = 0;

  // API keys.
  virtual absl::Status CreateApiKey(const ApiKey& key) = 0;
  virtual absl::StatusOr<ApiKey> GetApiKeyByHash(std::string_view key_hash) = 0;
  virtual absl::StatusOr<ApiKey> GetApiKey(std::string_view org_id, std::string_view id) = 0;
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(std::string_view org_id) = 0;
  // NotFound when absent; FailedPrecondition when already revoked.
  virtual absl::Status RevokeApiKey(std::string_view org_id, std::string_view id,
                                    absl::Time at) = 0;
  virtual absl::Status TouchApiKey(std::string_view id, absl::Time at) = 0;

  // SDK keys (listing: SdkKeyLister).
  virtual absl::Status CreateSdkKey(const SdkKey& key) = 0;
  virtual absl::StatusOr<SdkKey> GetSdkKeyByHash(std::string_view key_hash) = 0;
  virtual absl::Status RevokeSdkKey(std::string_view org_id, std::string_view id,
                                    absl::Time at) = 0;

  // Passkeys.
  virtual absl::Status AddPasskey(const PasskeyCredential& c) = 0;
  virtual absl::StatusOr<PasskeyCredential> GetPasskey(std::string_view credential_id) = 0;
  virtual absl::StatusOr<std::vector<PasskeyCredential>> ListPasskeys(
      std::string_view user_id) = 0;
  virtual absl::Status UpdatePasskeyUse(std::string_view credential_id, uint32_t sign_count,
                                        absl::Time at) = 0;
  virtual absl::Status DeletePasskey(std::string_view user_id,
                                     std::string_view credential_id) = 0;

  // Challenges: Take returns and deletes in one step, so each is usable once. NotFound
  // when absent, already taken, of another kind, or expired at `now`.
  virtual absl::Status PutChallenge(const Challenge& c) = 0;
  virtual absl::StatusOr<Challenge> TakeChallenge(std::string_view id, std::string_view kind,
                                                  absl::Time now) = 0;
  // Reads without taking (OAuth grants are listed and rechecked; docs/design/oauth.md §6).
  // Get: NotFound when absent, of another kind, or expired at `now`. List: the live
  // challenges of `kind` whose user is `user_id`, by id, at most `limit` (1..1000).
  virtual absl::StatusOr<Challenge> GetChallenge(std::string_view id, std::string_view kind, absl::Time now) = 0;
  virtual absl::StatusOr<std::vector<Challenge>> ListChallengesOfUser(std::string_view user_id,
                                                                      std::string_view kind, absl::Time now,
                                                                      int limit) = 0;
};

}  // namespace edgevault::storage
