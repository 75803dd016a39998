#include "src/workspace/org_webhooks.h"

#include <gtest/gtest.h>

#include "src/base/env.h"
#include "src/base/status.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/keyring.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

class OrgWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = *storage::OpenSqliteControlStore({dir_.path() + "/control.db", base::Env::Default()});
    for (const char* id : {"org_1", "org_2"}) {
      storage::Org org{.id = id, .name = id};
      org.created_at = absl::Now();
      ASSERT_TRUE(control_->CreateOrg(org).ok());
    }
    kv_ = *storage::OpenLmdbEdgeKv({.path = dir_.path() + "/edge"});
    stores_ = *storage::OpenSqliteWorkspaceStoreProvider(
        {.dir = dir_.path() + "/workspaces", .env = base::Env::Default(), .max_open = 8});
    crypto::Keyring ring;
    ASSERT_TRUE(ring.Add("m1", crypto::SecureBuffer(std::string(32, 'k'))).ok());
    keyring_ = std::make_unique<crypto::KeyringHolder>(std::move(ring));
    ServiceOptions so{.stores = stores_.get(), .directory = control_.get(), .kv = kv_.get(),
                      .env = base::Env::Default(), .keyring = keyring_.get()};
    service_ = *Service::Create(so);
    hooks_ = std::make_unique<OrgWebhooks>(service_.get());
  }

  storage::Workspace NewWorkspace(const Actor& actor, const std::string& key) {
    absl::StatusOr<storage::Workspace> ws = service_->CreateWorkspace(actor, key, key);
    EXPECT_TRUE(ws.ok()) << ws.status();
    EXPECT_TRUE(service_->CreateEnvironment(actor, *ws, json::object{{"key", "prod"}}, "setup", std::nullopt).ok());
    return *ws;
  }
  // The webhook rows of `ws` (copies included) as id → secret.
  std::map<std::string, std::string> Rows(const storage::Workspace& ws) {
    std::map<std::string, std::string> out;
    absl::StatusOr<std::vector<storage::WebhookRow>> rows = service_->ListWebhooks(ws);
    if (!rows.ok()) ADD_FAILURE() << rows.status();
    if (!rows.ok()) return out;
    for (const storage::WebhookRow& row : *rows) {
      absl::StatusOr<crypto::SecureBuffer> s = service_->OpenWebhookSecret(ws.id, row);
      out[row.id] = s.ok() ? std::string(s->view()) : s.status().ToString();
    }
    return out;
  }
  size_t Events(const storage::Workspace& ws) {
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = stores_->Open(ws.id);
    if (!store.ok()) return 0;
    absl::StatusOr<std::vector<storage::OutboxRow>> rows = (*store)->PendingOutboxOfKind(kWebhookOutboxKind, 1000);
    return rows.ok() ? rows->size() : 0;
  }

  base::testing::TempDir dir_{"ev-org-hooks"};
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<crypto::KeyringHolder> keyring_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<OrgWebhooks> hooks_;
  Actor admin_{"user:usr_admin", "org_1", "127.0.0.1", "r1"};
  Actor other_{"user:usr_other", "org_2", "127.0.0.1", "r2"};
};

TEST_F(OrgWebhooksTest, OneRegistrationReachesEveryWorkspaceOfTheOrgAndOnlyThem) {
  EXPECT_EQ(base::ErrorCode(hooks_->Create(admin_, json::object{{"url", "http://127.0.0.1:9/h"}, {"events", "*"}})
                                .status()),
            "no_workspace");
  storage::Workspace a = NewWorkspace(admin_, "a");
  storage::Workspace b = NewWorkspace(admin_, "b");
  storage::Workspace theirs = NewWorkspace(other_, "theirs");
  absl::StatusOr<OrgWebhookWithSecret> created =
      hooks_->Create(admin_, json::object{{"url", "https://hooks.example.com/in"}, {"events", "*"}});
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string id = created->hook.id;
  EXPECT_EQ(created->hook.copies.size(), 2u);
  EXPECT_EQ(created->secret.rfind("whsec_", 0), 0u);
  // The same id and secret in each workspace of the org; nothing in the other org.
  EXPECT_EQ(Rows(a), (std::map<std::string, std::string>{{id, created->secret}}));
  EXPECT_EQ(Rows(b), (std::map<std::string, std::string>{{id, created->secret}}));
  EXPECT_TRUE(Rows(theirs).empty());

  // A workspace created later gets it; the other org's new workspace does not.
  storage::Workspace c = NewWorkspace(admin_, "c");
  ASSERT_TRUE(hooks_->Attach(admin_, c).ok());
  storage::Workspace theirs2 = NewWorkspace(other_, "theirs2");
  ASSERT_TRUE(hooks_->Attach(other_, theirs2).ok());
  EXPECT_EQ(Rows(c), (std::map<std::string, std::string>{{id, created->secret}}));
  EXPECT_TRUE(Rows(theirs2).empty());

  // Writes in each of the org's workspaces become events for it; the other org's do not.
  for (const storage::Workspace* ws : {&a, &c, &theirs}) {
    ASSERT_TRUE(service_->PutItem(ws == &theirs ? other_ : admin_, *ws, ItemKind::kConfig, "x",
                                  json::object{{"type", "integer"}, {"values", {{"prod", 1}}}}, "tick", std::nullopt,
                                  AllowAnyWrite())
                    .ok());
  }
  EXPECT_EQ(Events(a), 1u);
  EXPECT_EQ(Events(c), 1u);
  EXPECT_EQ(Events(theirs), 0u);

  // Another org neither sees nor changes it.
  EXPECT_TRUE(hooks_->List("org_2")->empty());
  EXPECT_TRUE(absl::IsNotFound(hooks_->Get("org_2", id).status()));
  EXPECT_TRUE(absl::IsNotFound(hooks_->Update(other_, id, json::object{{"active", false}}).status()));
  EXPECT_TRUE(absl::IsNotFound(hooks_->RotateSecret(other_, id).status()));
  EXPECT_TRUE(absl::IsNotFound(hooks_->Delete(other_, id)));

  // Update and rotation change every copy.
  absl::StatusOr<OrgWebhook> updated =
      hooks_->Update(admin_, id, json::object{{"events", json::array{"revision.written"}}, {"description", "ci"}});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->copies.size(), 3u);
  for (const OrgWebhookCopy& copy : updated->copies) {
    WebhookSpec spec = *WebhookSpecFromStored(copy.row.body);
    EXPECT_TRUE(spec.org);
    EXPECT_EQ(spec.events, std::vector<std::string>{"revision.written"});
    EXPECT_EQ(spec.description, "ci");
  }
  absl::StatusOr<OrgWebhookWithSecret> rotated = hooks_->RotateSecret(admin_, id);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_NE(rotated->secret, created->secret);
  for (const storage::Workspace* ws : {&a, &b, &c}) {
    EXPECT_EQ(Rows(*ws), (std::map<std::string, std::string>{{id, rotated->secret}})) << ws->key;
  }
  ASSERT_EQ(hooks_->List("org_1")->size(), 1u);

  // A workspace webhook is not an org webhook.
  ASSERT_TRUE(service_->CreateWebhook(admin_, a, json::object{{"url", "http://127.0.0.1:9/w"}, {"events", "*"}}).ok());
  EXPECT_EQ(hooks_->List("org_1")->size(), 1u);

  ASSERT_TRUE(hooks_->Delete(admin_, id).ok());
  EXPECT_EQ(Rows(a).size(), 1u);  // the workspace's own webhook stays
  EXPECT_TRUE(Rows(b).empty());
  EXPECT_TRUE(Rows(c).empty());
  EXPECT_TRUE(absl::IsNotFound(hooks_->Delete(admin_, id)));
}

TEST_F(OrgWebhooksTest, ACreateThatCannotReachEveryWorkspaceLeavesNoCopy) {
  storage::Workspace a = NewWorkspace(admin_, "a");
  storage::Workspace full = NewWorkspace(admin_, "full");
  for (size_t i = 0; i < kMaxWebhooksPerWorkspace; ++i) {
    ASSERT_TRUE(service_->CreateWebhook(admin_, full, json::object{{"url", "http://127.0.0.1:9/w"}, {"events", "*"}}).ok());
  }
  absl::StatusOr<OrgWebhookWithSecret> created =
      hooks_->Create(admin_, json::object{{"url", "http://127.0.0.1:9/h"}, {"events", "*"}});
  EXPECT_EQ(base::ErrorCode(created.status()), "too_many_webhooks") << created.status();
  EXPECT_TRUE(Rows(a).empty());
  EXPECT_TRUE(hooks_->List("org_1")->empty());
  EXPECT_EQ(base::ErrorCode(hooks_->Create(admin_, json::object{{"url", "ftp://x/"}, {"events", "*"}}).status()),
            "invalid_url");
}

}  // namespace
}  // namespace edgevault::workspace
