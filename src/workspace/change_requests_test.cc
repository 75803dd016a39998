#include "src/base/status.h"
#include "src/workspace/change_requests.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "src/base/env.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/keyring.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"
#include "src/workspace/webhooks.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

std::string Code(const absl::Status& st) { return base::ErrorCode(st); }

class ChangeRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = *storage::OpenSqliteControlStore({dir_.path() + "/control.db", base::Env::Default()});
    storage::Org org{.id = "org_1", .name = "default"};
    org.created_at = absl::Now();
    ASSERT_TRUE(control_->CreateOrg(org).ok());
    kv_ = *storage::OpenLmdbEdgeKv({.path = dir_.path() + "/edge"});
    stores_ = *storage::OpenSqliteWorkspaceStoreProvider(
        {.dir = dir_.path() + "/workspaces", .env = base::Env::Default(), .max_open = 8});
    crypto::Keyring ring;
    ASSERT_TRUE(ring.Add("m1", crypto::SecureBuffer(std::string(32, 'k'))).ok());
    keyring_ = std::make_unique<crypto::KeyringHolder>(std::move(ring));
    ServiceOptions so{.stores = stores_.get(), .directory = control_.get(), .kv = kv_.get(),
                      .env = base::Env::Default(), .keyring = keyring_.get()};
    service_ = *Service::Create(so);
    crs_ = std::make_unique<ChangeRequests>(service_.get(), stores_.get());

    ws_ = *service_->CreateWorkspace(author_, "shop", "Shop");
    for (const char* env : {"staging", "prod"}) {
      ASSERT_TRUE(service_->CreateEnvironment(author_, ws_, json::object{{"key", env}}, "setup", std::nullopt).ok());
    }
    Put(ItemKind::kConfig, "pool",
        {{"type", "integer"}, {"schema", {{"maximum", 100}}}, {"values", {{"staging", 20}, {"prod", 10}}}});
    Put(ItemKind::kFlag, "checkout",
        {{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
         {"environments", {{"staging", {{"on", true}, {"off_variation", 0}, {"fallthrough", {{"variation", 1}}}}}}}});
    ASSERT_TRUE(service_->PutSecret(author_, ws_, "token", {{"values", {{"staging", "s3cret"}, {"prod", "old"}}}},
                                    "setup", std::nullopt, AllowAnyWrite())
                    .ok());
    ASSERT_TRUE(service_->SetEnvironmentPolicy(author_, ws_, "prod",
                                               json::object{{"required_approvals", 2},
                                                            {"change_requests_required", true}},
                                               "policy", std::nullopt)
                    .ok());
  }

  void Put(ItemKind kind, const std::string& key, json::object body) {
    absl::StatusOr<int64_t> r = service_->PutItem(author_, ws_, kind, key, body, "setup", std::nullopt, AllowAnyWrite());
    ASSERT_TRUE(r.ok()) << r.status();
  }

  absl::StatusOr<json::object> Promote(bool dry_run = false) {
    return crs_->Promote(author_, ws_, json::object{{"from", "staging"}, {"to", "prod"}, {"title", "ship it"},
                                                    {"dry_run", dry_run}});
  }

  std::string ProdSecret() { return Secret("prod"); }
  std::string Secret(const std::string& env) {
    absl::StatusOr<SecretValues> v = service_->ReadSecretValues(
        admin1_, ws_, env, "token", [](std::string_view, bool) { return absl::OkStatus(); });
    return v.ok() ? std::string(v->values.at("token").view()) : v.status().ToString();
  }

  absl::StatusOr<json::object> Propose(json::array changes, bool dry_run = false) {
    return crs_->Propose(author_, ws_, json::object{{"title", "proposed"}, {"changes", std::move(changes)},
                                                    {"dry_run", dry_run}});
  }
  // Two approvals, then apply.
  absl::StatusOr<json::object> ApproveAndApply(int64_t id) {
    EV_RETURN_IF_ERROR(crs_->Review(admin1_, "admin", ws_, id, true, "").status());
    EV_RETURN_IF_ERROR(crs_->Review(admin2_, "admin", ws_, id, true, "").status());
    return crs_->Apply(admin1_, ws_, id, AllowAnyWrite());
  }
  std::string Body(ItemKind kind, const std::string& key) {
    absl::StatusOr<storage::Item> item = service_->GetItem(ws_, kind, key);
    return item.ok() ? item->body : item.status().ToString();
  }

  base::testing::TempDir dir_{"ev-cr"};
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<crypto::KeyringHolder> keyring_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<ChangeRequests> crs_;
  storage::Workspace ws_;
  Actor author_{"user:usr_author", "org_1", "127.0.0.1", "r1"};
  Actor admin1_{"user:usr_a1", "org_1", "127.0.0.1", "r2"};
  Actor admin2_{"user:usr_a2", "org_1", "127.0.0.1", "r3"};
};

TEST_F(ChangeRequestsTest, PromotionNeedsTwoDistinctApproversAndAppliesExactlyTheDiffInOneCommit) {
  absl::StatusOr<int64_t> head0 = service_->Head(ws_);
  absl::StatusOr<json::object> preview = Promote(true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->at("changes").as_array().size(), 3u);
  EXPECT_EQ(preview->at("required_approvals").as_int64(), 2);
  EXPECT_EQ(json::serialize(preview->at("environments")), R"(["prod"])");
  // The diff never carries a secret value, only the reference to the sealed one.
  EXPECT_EQ(json::serialize(preview->at("changes")).find("s3cret"), std::string::npos);
  EXPECT_EQ(*service_->Head(ws_), *head0);  // a dry run stores nothing

  absl::StatusOr<json::object> cr = Promote();
  ASSERT_TRUE(cr.ok()) << cr.status();
  int64_t id = cr->at("id").as_int64();
  EXPECT_EQ(cr->at("state").as_string(), "open");

  EXPECT_TRUE(absl::IsPermissionDenied(crs_->Review(author_, "owner", ws_, id, true, "").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(crs_->Review(admin1_, "viewer", ws_, id, true, "").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(crs_->Review(admin1_, "developer", ws_, id, true, "").status()));
  // An API key is not a reviewer (its owner could approve their own request through it).
  Actor key{"key:key_1", "org_1", "127.0.0.1", "r9"};
  EXPECT_TRUE(absl::IsPermissionDenied(crs_->Review(key, "admin", ws_, id, true, "").status()));
  // Not enough approvals yet: apply refuses and writes nothing.
  absl::Status early = crs_->Apply(admin1_, ws_, id, AllowAnyWrite()).status();
  EXPECT_EQ(Code(early), "approvals_required") << early;
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "lgtm").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(crs_->Review(admin1_, "admin", ws_, id, true, "").status()));
  absl::StatusOr<json::object> approved = crs_->Review(admin2_, "owner", ws_, id, true, "");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->at("state").as_string(), "approved");

  // A direct write to prod is flagged as needing a change request.
  WriteEffect seen;
  ASSERT_TRUE(service_
                  ->PutItem(author_, ws_, ItemKind::kConfig, "pool",
                            {{"type", "integer"}, {"schema", {{"maximum", 100}}}, {"values", {{"staging", 20}, {"prod", 11}}}},
                            "direct", std::nullopt,
                            [&](const WriteEffect& e) {
                              seen = e;
                              return absl::PermissionDeniedError("refused by the test");
                            })
                  .status()
                  .ok() == false);
  EXPECT_EQ(seen.change_request_environments, (std::set<std::string>{"prod"}));

  absl::StatusOr<json::object> applied = crs_->Apply(admin1_, ws_, id, AllowAnyWrite());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->at("state").as_string(), "applied");
  EXPECT_EQ(applied->at("applied_revision").as_int64(), *head0 + 3);
  absl::StatusOr<std::vector<storage::Revision>> revs = service_->ListRevisions(ws_, *head0, 10);
  ASSERT_EQ(revs->size(), 3u);
  for (const auto& r : *revs) {
    EXPECT_EQ(r.op, "change_request");
    EXPECT_EQ(r.reason, "change request #" + std::to_string(id) + ": ship it");
  }
  EXPECT_NE(service_->GetItem(ws_, ItemKind::kConfig, "pool")->body.find(R"("prod":20)"), std::string::npos);
  EXPECT_NE(service_->GetItem(ws_, ItemKind::kFlag, "checkout")->body.find(R"("prod":{)"), std::string::npos);
  EXPECT_EQ(ProdSecret(), "s3cret");
  // Applied once only.
  EXPECT_EQ(Code(crs_->Apply(admin1_, ws_, id, AllowAnyWrite()).status()), "change_request_state");
}

TEST_F(ChangeRequestsTest, ConflictingWriteGives409ThenRebaseResetsApprovals) {
  int64_t id = Promote()->at("id").as_int64();
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
  Put(ItemKind::kConfig, "pool",
      {{"type", "integer"}, {"schema", {{"maximum", 100}}}, {"values", {{"staging", 20}, {"prod", 15}}}});
  int64_t head = *service_->Head(ws_);
  absl::Status st = crs_->Apply(admin1_, ws_, id, AllowAnyWrite()).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_EQ(Code(st), "change_request_conflict");
  EXPECT_NE(st.message().find("config:pool"), absl::string_view::npos) << st;
  EXPECT_EQ(*service_->Head(ws_), head);  // nothing written
  EXPECT_EQ(ProdSecret(), "old");

  absl::StatusOr<json::object> rebased = crs_->Rebase(author_, ws_, id);
  ASSERT_TRUE(rebased.ok()) << rebased.status();
  EXPECT_EQ(rebased->at("round").as_int64(), 2);
  EXPECT_EQ(rebased->at("state").as_string(), "open");
  EXPECT_TRUE(rebased->at("approvals").as_array().empty());
  EXPECT_EQ(rebased->at("base_revision").as_int64(), head);
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());  // again, in round 2
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
  absl::StatusOr<json::object> applied = crs_->Apply(admin2_, ws_, id, AllowAnyWrite());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_NE(service_->GetItem(ws_, ItemKind::kConfig, "pool")->body.find(R"("prod":20)"), std::string::npos);
}

TEST_F(ChangeRequestsTest, SchemaViolationRefusedAtCreationAndInvalidAtApplyWritesNothing) {
  // A staging value the schema refuses (stored before a check, written behind the api's back).
  std::shared_ptr<storage::WorkspaceStore> store = *stores_->Open(ws_.id);
  storage::CommitRequest raw{.actor = "test", .reason = "raw", .op = "put", .time = absl::Now()};
  raw.mutations.push_back({ItemKind::kConfig, "pool",
                           R"({"type":"integer","schema":{"maximum":100},"values":{"prod":10,"staging":500}})", ""});
  ASSERT_TRUE(store->Commit(raw).ok());
  absl::Status st = crs_->Promote(author_, ws_, {{"from", "staging"}, {"to", "prod"}, {"title", "x"},
                                                  {"items", json::array{json::object{{"kind", "config"}, {"key", "pool"}}}}})
                        .status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("config \"pool\""), absl::string_view::npos) << st;

  // Valid at creation, invalid at apply: the flag's variations change shape behind the api.
  absl::StatusOr<json::object> cr = crs_->Promote(
      author_, ws_, {{"from", "staging"}, {"to", "prod"}, {"title", "flag"}, {"kinds", json::array{"flag"}}});
  ASSERT_TRUE(cr.ok()) << cr.status();
  int64_t id = cr->at("id").as_int64();
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
  storage::CommitRequest env_change{.actor = "test", .reason = "raw", .op = "put", .time = absl::Now()};
  env_change.mutations.push_back({ItemKind::kEnvironment, "prod", std::nullopt, "prod"});
  ASSERT_TRUE(store->Commit(env_change).ok());  // prod is gone: values for it no longer validate
  int64_t head = *service_->Head(ws_);
  absl::Status at_apply = crs_->Apply(admin1_, ws_, id, AllowAnyWrite()).status();
  EXPECT_EQ(Code(at_apply), "change_request_invalid") << at_apply;
  EXPECT_EQ(*service_->Head(ws_), head);
  absl::StatusOr<json::object> failed = crs_->Show(ws_, id);
  EXPECT_EQ(failed->at("state").as_string(), "failed");
}

TEST_F(ChangeRequestsTest, CloseByAuthorOrAdminOnlyAndCommentsKept) {
  int64_t id = Promote()->at("id").as_int64();
  ASSERT_TRUE(crs_->Comment(admin1_, ws_, id, "why now?").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(crs_->Close(admin1_, false, ws_, id).status()));
  ASSERT_TRUE(crs_->Close(author_, false, ws_, id).ok());
  absl::StatusOr<json::object> shown = crs_->Show(ws_, id);
  EXPECT_EQ(shown->at("state").as_string(), "closed");
  EXPECT_EQ(shown->at("comments").as_array().at(0).as_object().at("text").as_string(), "why now?");
  EXPECT_EQ(Code(crs_->Review(admin1_, "admin", ws_, id, true, "").status()), "change_request_state");
  absl::StatusOr<json::array> list = crs_->List(ws_, 0, 10);
  ASSERT_EQ(list->size(), 1u);
}

TEST_F(ChangeRequestsTest, ParallelApprovalsBothCount) {
  int64_t id = Promote()->at("id").as_int64();
  absl::Status a, b;
  std::thread t1([&] { a = crs_->Review(admin1_, "admin", ws_, id, true, "").status(); });
  std::thread t2([&] { b = crs_->Review(admin2_, "admin", ws_, id, true, "").status(); });
  t1.join();
  t2.join();
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  absl::StatusOr<json::object> shown = crs_->Show(ws_, id);
  EXPECT_EQ(shown->at("approvals").as_array().size(), 2u);
  EXPECT_EQ(shown->at("state").as_string(), "approved");
}

TEST_F(ChangeRequestsTest, RevertRestoresEveryChangedPartIncludingTheSecret) {
  int64_t id = Promote()->at("id").as_int64();
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(crs_->Apply(admin1_, ws_, id, AllowAnyWrite()).ok());
  ASSERT_EQ(ProdSecret(), "s3cret");
  EXPECT_EQ(Code(crs_->Revert(author_, ws_, id + 100).status()), "");  // NotFound, no code
  absl::StatusOr<json::object> revert = crs_->Revert(author_, ws_, id);
  ASSERT_TRUE(revert.ok()) << revert.status();
  EXPECT_EQ(revert->at("type").as_string(), "revert");
  EXPECT_EQ(revert->at("changes").as_array().size(), 3u);
  EXPECT_EQ(json::serialize(revert->at("changes")).find("old"), std::string::npos);  // a reference only
  int64_t rid = revert->at("id").as_int64();
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, rid, true, "").ok());
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, rid, true, "").ok());
  absl::StatusOr<json::object> applied = crs_->Apply(admin2_, ws_, rid, AllowAnyWrite());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_NE(service_->GetItem(ws_, ItemKind::kConfig, "pool")->body.find(R"("prod":10)"), std::string::npos);
  EXPECT_EQ(service_->GetItem(ws_, ItemKind::kFlag, "checkout")->body.find(R"("prod")"), std::string::npos);
  EXPECT_EQ(ProdSecret(), "old");
  // Reverting the revert brings the promotion back; an open request cannot be reverted.
  absl::StatusOr<json::object> again = crs_->Revert(author_, ws_, rid);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Code(crs_->Revert(author_, ws_, again->at("id").as_int64()).status()), "change_request_state");
}

json::object ProdFlagConfig() {
  return {{"on", true}, {"off_variation", 0}, {"fallthrough", {{"variation", 0}}}};
}

TEST_F(ChangeRequestsTest, ProposalAppliesValuesConfigurationsSecretsAndWholeItemsInOneCommit) {
  const int64_t head0 = *service_->Head(ws_);
  json::array changes{
      json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 30}},
      json::object{{"kind", "flag"}, {"key", "checkout"}, {"environment", "prod"}, {"configuration", ProdFlagConfig()}},
      json::object{{"kind", "secret"}, {"key", "token"}, {"environment", "prod"}, {"value", "n3w-prod"}},
      json::object{{"kind", "secret"}, {"key", "token"}, {"environment", "staging"}, {"value", "n3w-staging"}},
      json::object{{"kind", "config"}, {"key", "timeout"}, {"body", {{"type", "integer"}, {"values", {{"prod", 5}}}}}},
  };
  absl::StatusOr<json::object> preview = Propose(changes, true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->at("changes").as_array().size(), 5u);
  EXPECT_EQ(json::serialize(*preview).find("n3w"), std::string::npos);
  EXPECT_EQ(*service_->Head(ws_), head0);

  absl::StatusOr<json::object> cr = Propose(changes);
  ASSERT_TRUE(cr.ok()) << cr.status();
  EXPECT_EQ(cr->at("type").as_string(), "change");
  EXPECT_EQ(cr->at("required_approvals").as_int64(), 2);
  const int64_t id = cr->at("id").as_int64();
  // Neither the answer, nor Show, nor the stored row hold the plaintext; no answer holds
  // the sealed envelope either.
  absl::StatusOr<json::object> shown = crs_->Show(ws_, id);
  ASSERT_TRUE(shown.ok());
  for (const json::object* o : {&*cr, &*shown}) {
    EXPECT_EQ(json::serialize(*o).find("n3w"), std::string::npos);
    EXPECT_FALSE(o->contains("sealed"));
  }
  auto store = *stores_->Open(ws_.id);
  absl::StatusOr<storage::ChangeRequest> row = store->GetChangeRequest(id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->body.find("n3w"), std::string::npos);
  EXPECT_NE(row->body.find("\"sealed\""), std::string::npos);

  absl::StatusOr<json::object> applied = ApproveAndApply(id);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->at("applied_revision").as_int64(), head0 + 5);
  EXPECT_NE(Body(ItemKind::kConfig, "pool").find(R"("prod":30)"), std::string::npos);
  EXPECT_NE(Body(ItemKind::kFlag, "checkout").find(R"("prod":{)"), std::string::npos);
  EXPECT_NE(Body(ItemKind::kConfig, "timeout").find(R"("prod":5)"), std::string::npos);
  // Two values of one secret in one request: both land, neither overwrites the other.
  EXPECT_EQ(Secret("prod"), "n3w-prod");
  EXPECT_EQ(Secret("staging"), "n3w-staging");
}

// A batch is authorized once on the effect of all its changes, computed as the single
// writes' would be; its dry run is asked the same question and writes nothing. Segments:
// only the environments whose flags reach a segment (directly or through another
// segment's segment_match) are touched, whatever the order of the entries.
TEST_F(ChangeRequestsTest, ABatchAndItsDryRunAreAuthorizedOnTheEffectOfEverySegmentChange) {
  Put(ItemKind::kSegment, "inner", {{"included", json::array{"u1"}}});
  Put(ItemKind::kSegment, "outer", {{"included", json::array{"u2"}}});
  Put(ItemKind::kSegment, "unused", {{"included", json::array{"u3"}}});
  json::object rule{{"clauses", json::array{json::object{{"op", "segment_match"}, {"values", json::array{"outer"}}}}},
                    {"variation", 1}};
  Put(ItemKind::kFlag, "gated",
      {{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
       {"environments", {{"prod", {{"on", true}, {"rules", json::array{rule}}, {"fallthrough", {{"variation", 0}}}}}}}});
  auto segment = [](const std::string& key, json::object body) {
    return json::object{{"kind", "segment"}, {"key", key}, {"body", std::move(body)}};
  };
  json::object inner_rule{{"clauses", json::array{json::object{{"op", "segment_match"}, {"values", json::array{"inner"}}}}}};
  // inner is reached from prod only once outer names it: first inner (untouched), then
  // outer starts naming it (prod), then unused (nothing).
  json::array changes{segment("inner", {{"included", json::array{"u9"}}}),
                      segment("outer", {{"included", json::array{"u2"}}, {"rules", json::array{inner_rule}}}),
                      segment("unused", {{"included", json::array{"u8"}}})};
  std::vector<std::set<std::string>> asked;
  WriteAuthorizer record = [&](const WriteEffect& effect) {
    asked.push_back(effect.environments);
    return absl::OkStatus();
  };
  const int64_t head = *service_->Head(ws_);
  absl::StatusOr<json::object> dry =
      crs_->Batch(author_, ws_, json::object{{"changes", changes}, {"dry_run", true}}, "segments", std::nullopt, record);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->at("base_revision").as_int64(), head);
  EXPECT_FALSE(dry->contains("revision"));
  EXPECT_EQ(*service_->Head(ws_), head);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], (std::set<std::string>{"prod"}));
  // Refused by the authorizer: the dry run says so, exactly as the write does.
  WriteAuthorizer refuse = [](const WriteEffect&) { return absl::PermissionDeniedError("not prod"); };
  EXPECT_TRUE(absl::IsPermissionDenied(
      crs_->Batch(author_, ws_, json::object{{"changes", changes}, {"dry_run", true}}, "x", std::nullopt, refuse).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      crs_->Batch(author_, ws_, json::object{{"changes", changes}}, "x", std::nullopt, refuse).status()));
  // A stale If-Match: the dry run fails as the write would.
  EXPECT_EQ(crs_->Batch(author_, ws_, json::object{{"changes", changes}, {"dry_run", true}}, "x", head - 1, record)
                .status()
                .code(),
            crs_->Batch(author_, ws_, json::object{{"changes", changes}}, "x", head - 1, record).status().code());
  EXPECT_EQ(*service_->Head(ws_), head);
  // The unused segment alone touches nothing; the write lands.
  asked.clear();
  absl::StatusOr<json::object> unused = crs_->Batch(
      author_, ws_, json::object{{"changes", json::array{changes[2]}}}, "unused", std::nullopt, record);
  ASSERT_TRUE(unused.ok()) << unused.status();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_TRUE(asked[0].empty());
  EXPECT_EQ(unused->at("revision").as_int64(), head + 1);
}

// A batch may create environments in its own commit (an import of a whole workspace):
// the changes may set values in them (a secret's value is sealed for its revision, which
// comes after the environments'), the effect names them as administered, and a refusal
// or a bad entry leaves no environment behind.
TEST_F(ChangeRequestsTest, ABatchCreatesEnvironmentsInTheSameCommitOrNotAtAll) {
  json::array envs{json::object{{"key", "qa"}, {"parent", "staging"}},
                   json::object{{"key", "qa-eu"}, {"name", "QA (EU)"}, {"parent", "qa"}}};
  json::array changes{json::object{{"kind", "secret"}, {"key", "token"}, {"environment", "qa-eu"}, {"value", "eu-secret"}},
                      json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "qa"}, {"value", 30}}};
  std::vector<WriteEffect> asked;
  WriteAuthorizer record = [&](const WriteEffect& effect) {
    asked.push_back(effect);
    return absl::OkStatus();
  };
  WriteAuthorizer refuse = [](const WriteEffect& effect) {
    return effect.environment_settings.empty() ? absl::OkStatus() : absl::PermissionDeniedError("not an admin");
  };
  const int64_t head = *service_->Head(ws_);
  auto batch = [&](json::array e, json::array c, const WriteAuthorizer& a, bool dry_run = false) {
    return crs_->Batch(author_, ws_, json::object{{"environments", std::move(e)}, {"changes", std::move(c)}, {"dry_run", dry_run}},
                       "import", std::nullopt, a);
  };
  EXPECT_TRUE(absl::IsPermissionDenied(batch(envs, changes, refuse).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(batch(envs, changes, refuse, true).status()));
  // A bad entry, an environment taken, a policy, a parent unknown: nothing is written.
  absl::Status st = batch(envs, json::array{json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "qa"}, {"value", 500}}}, record).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  st = batch(json::array{json::object{{"key", "prod"}}}, changes, record).status();
  EXPECT_TRUE(absl::IsAlreadyExists(st)) << st;
  EXPECT_NE(st.message().find("environments[0]: "), std::string::npos) << st;
  st = batch(json::array{json::object{{"key", "qa"}, {"policy", {{"required_approvals", 1}}}}}, changes, record).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("PUT"), std::string::npos) << st;
  st = batch(json::array{json::object{{"key", "qa"}, {"parent", "nowhere"}}}, json::array(), record).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_EQ(*service_->Head(ws_), head);
  EXPECT_TRUE(absl::IsNotFound(service_->GetItem(ws_, ItemKind::kEnvironment, "qa").status()));

  asked.clear();
  absl::StatusOr<json::object> done = batch(envs, changes, record);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->at("revision").as_int64(), head + 4);
  EXPECT_EQ(json::serialize(done->at("environments_created")), R"(["qa","qa-eu"])");
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].environment_settings, (std::set<std::string>{"qa", "qa-eu"}));
  EXPECT_TRUE(asked[0].environments.contains("qa-eu"));
  EXPECT_EQ(Secret("qa-eu"), "eu-secret");
  // Sealed for its own revision, which comes after the two environments'.
  json::value token = json::parse(Body(ItemKind::kSecret, "token"));
  EXPECT_EQ(token.at("values").at("qa-eu").at("version").as_int64(), head + 3) << token;
  EXPECT_NE(Body(ItemKind::kConfig, "pool").find(R"("qa":30)"), std::string::npos) << Body(ItemKind::kConfig, "pool");
  // Environments alone are a batch too; the same ones again are refused whole.
  absl::StatusOr<json::object> alone = batch(json::array{json::object{{"key", "perf"}}}, json::array(), record);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_EQ(alone->at("revision").as_int64(), head + 5);
  EXPECT_TRUE(absl::IsAlreadyExists(batch(envs, changes, record).status()));
  EXPECT_EQ(*service_->Head(ws_), head + 5);
}

TEST_F(ChangeRequestsTest, ProposalRefusesBadEntriesNamingThem) {
  auto code_of = [&](json::array changes) { return Propose(std::move(changes)).status(); };
  auto entry = [](json::object o) { return json::array{std::move(o)}; };
  absl::Status st = code_of(entry({{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 500}}));
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(st.message().find("config \"pool\""), std::string::npos) << st;
  st = code_of(entry({{"kind", "config"}, {"key", "pool"}, {"environment", "nowhere"}, {"value", 5}}));
  EXPECT_NE(st.message().find("changes[0]: field 'environment'"), std::string::npos) << st;
  st = code_of(entry({{"kind", "config"}, {"key", "ghost"}, {"environment", "prod"}, {"value", 5}}));
  EXPECT_NE(st.message().find("create it with a whole-item change"), std::string::npos) << st;
  st = code_of(entry({{"kind", "secret"}, {"key", "token"}, {"environment", "prod"}, {"value", 5}}));
  EXPECT_NE(st.message().find("must be a string"), std::string::npos) << st;
  st = code_of(entry({{"kind", "secret"}, {"key", "token"}, {"environment", "prod"}, {"value", {{"sealed", "prp_x"}}}}));
  EXPECT_NE(st.message().find("must be a string"), std::string::npos) << st;
  st = code_of(entry({{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 5}, {"extra", 1}}));
  EXPECT_NE(st.message().find("'extra'"), std::string::npos) << st;
  st = code_of(entry({{"kind", "environment"}, {"key", "prod"}, {"delete", true}}));
  EXPECT_NE(st.message().find("field 'kind'"), std::string::npos) << st;
  st = code_of(entry({{"kind", "segment"}, {"key", "beta"}, {"environment", "prod"}, {"value", 1}}));
  EXPECT_NE(st.message().find("whole body"), std::string::npos) << st;
  st = code_of(json::array{json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 5}},
                           json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 6}}});
  EXPECT_NE(st.message().find("changes[1]"), std::string::npos) << st;
  st = code_of(json::array{json::object{{"kind", "flag"}, {"key", "checkout"}, {"delete", true}},
                           json::object{{"kind", "flag"}, {"key", "checkout"}, {"environment", "prod"},
                                        {"configuration", ProdFlagConfig()}}});
  EXPECT_NE(st.message().find("deleted by an earlier change"), std::string::npos) << st;
  st = code_of(entry({{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 10}}));
  EXPECT_EQ(Code(st), "nothing_to_change") << st;
  EXPECT_TRUE(absl::IsInvalidArgument(code_of(json::array{})));
  EXPECT_TRUE(absl::IsInvalidArgument(
      crs_->Propose(author_, ws_, json::object{{"changes", entry({{"kind", "config"}, {"key", "pool"},
                                                                  {"environment", "prod"}, {"value", 5}})}})
          .status()));  // no title
  // Nothing was stored by any of these.
  EXPECT_TRUE(crs_->List(ws_, 0, 10)->empty());
}

TEST_F(ChangeRequestsTest, ProposalRevertRestoresWholeItemsAndEnvironmentParts) {
  Put(ItemKind::kSegment, "beta", {{"included", json::array{"u1"}}});
  json::array changes{
      json::object{{"kind", "config"}, {"key", "timeout"}, {"body", {{"type", "integer"}, {"values", {{"prod", 5}}}}}},
      json::object{{"kind", "config"}, {"key", "timeout"}, {"environment", "staging"}, {"value", 7}},
      json::object{{"kind", "flag"}, {"key", "checkout"}, {"delete", true}},
      json::object{{"kind", "segment"}, {"key", "beta"}, {"body", {{"included", json::array{"u1", "u2"}}}}},
      json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 40}},
  };
  const std::string checkout_before = Body(ItemKind::kFlag, "checkout");
  absl::StatusOr<json::object> cr = Propose(changes);
  ASSERT_TRUE(cr.ok()) << cr.status();
  ASSERT_TRUE(ApproveAndApply(cr->at("id").as_int64()).ok());
  EXPECT_NE(Body(ItemKind::kConfig, "timeout").find(R"("staging":7)"), std::string::npos);
  EXPECT_NE(Body(ItemKind::kSegment, "beta").find("u2"), std::string::npos);
  EXPECT_NE(Body(ItemKind::kFlag, "checkout").find("no flag"), std::string::npos);

  absl::StatusOr<json::object> revert = crs_->Revert(author_, ws_, cr->at("id").as_int64());
  ASSERT_TRUE(revert.ok()) << revert.status();
  absl::StatusOr<json::object> applied = ApproveAndApply(revert->at("id").as_int64());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_NE(Body(ItemKind::kConfig, "timeout").find("no config"), std::string::npos);  // created → deleted
  EXPECT_EQ(Body(ItemKind::kFlag, "checkout"), checkout_before);                        // deleted → re-created
  EXPECT_EQ(Body(ItemKind::kSegment, "beta").find("u2"), std::string::npos);
  EXPECT_NE(Body(ItemKind::kConfig, "pool").find(R"("prod":10)"), std::string::npos);
}

TEST_F(ChangeRequestsTest, ProposalRebaseKeepsTheSealedSecretAndAppliesOnTheNewBase) {
  absl::StatusOr<json::object> cr = Propose(json::array{
      json::object{{"kind", "secret"}, {"key", "token"}, {"environment", "prod"}, {"value", "rotated"}},
      json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 30}}});
  ASSERT_TRUE(cr.ok()) << cr.status();
  const int64_t id = cr->at("id").as_int64();
  // Someone changes staging's token meanwhile: the request's base is stale.
  ASSERT_TRUE(service_->PutSecret(author_, ws_, "token", {{"values", {{"staging", "s4"}}}}, "direct", std::nullopt,
                                  AllowAnyWrite())
                  .ok());
  EXPECT_EQ(Code(ApproveAndApply(id).status()), "change_request_conflict");
  absl::StatusOr<json::object> rebased = crs_->Rebase(author_, ws_, id);
  ASSERT_TRUE(rebased.ok()) << rebased.status();
  EXPECT_EQ(rebased->at("round").as_int64(), 2);
  ASSERT_TRUE(crs_->Review(admin1_, "admin", ws_, id, true, "").ok());
  ASSERT_TRUE(crs_->Review(admin2_, "admin", ws_, id, true, "").ok());
  absl::StatusOr<json::object> applied = crs_->Apply(admin1_, ws_, id, AllowAnyWrite());
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(Secret("prod"), "rotated");
  EXPECT_EQ(Secret("staging"), "s4");
}

// Change-request webhook events say which kind of request they are about (promotion, change
// or revert), from the request's stored type (docs/design/webhooks.md "Events").
TEST_F(ChangeRequestsTest, WebhookEventsNameTheRequestType) {
  ASSERT_TRUE(service_->CreateWebhook(author_, ws_, json::object{{"url", "http://127.0.0.1:9/h"}, {"events", "*"}}).ok());
  int64_t promotion = Promote()->at("id").as_int64();
  ASSERT_TRUE(ApproveAndApply(promotion).ok());
  absl::StatusOr<json::object> revert = crs_->Revert(author_, ws_, promotion);
  ASSERT_TRUE(revert.ok()) << revert.status();
  absl::StatusOr<json::object> change =
      Propose(json::array{json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 30}}});
  ASSERT_TRUE(change.ok()) << change.status();

  auto store = *stores_->Open(ws_.id);
  absl::StatusOr<std::vector<storage::OutboxRow>> rows = store->PendingOutboxOfKind(kWebhookOutboxKind, 100);
  ASSERT_TRUE(rows.ok());
  std::map<int64_t, std::set<std::string>> types;  // change request → the types its events named
  int change_request_events = 0;
  for (const storage::OutboxRow& row : *rows) {
    json::value event = json::parse(row.payload);
    std::string_view type = event.at("type").as_string();
    if (type == "revision.written") continue;
    ++change_request_events;
    const json::object& data = event.at("data").as_object();
    ASSERT_TRUE(data.contains("type")) << row.payload;
    types[data.at("change_request").as_int64()].insert(std::string(data.at("type").as_string()));
  }
  // opened, approved, applied, promotion.applied; opened of the revert; opened of the change.
  EXPECT_GE(change_request_events, 6);
  EXPECT_EQ(types[promotion], std::set<std::string>{"promotion"});
  EXPECT_EQ(types[revert->at("id").as_int64()], std::set<std::string>{"revert"});
  EXPECT_EQ(types[change->at("id").as_int64()], std::set<std::string>{"change"});
}

}  // namespace
}  // namespace edgevault::workspace
