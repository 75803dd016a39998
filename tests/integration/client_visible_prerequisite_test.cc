// Issue 19: a client-visible flag whose prerequisite is server-only would put the server-only
// flag's key in front of client keys (in the client document and in failedPrerequisite) and
// never pass for them. The api refuses every write that would make such a pair — the flag's
// own write or PATCH, the prerequisite made server-only, a revert that brings an old body back
// — with 400 and a JSON error naming both flags, and nothing changes. Through the real
// binaries (`edgevault up`) over HTTP.
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

class ClientVisiblePrerequisiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }
  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }
  HttpReply MergePatch(std::string target, const json::object& patch) {
    return up_->Call("api", "PATCH", std::move(target), json::serialize(patch), up_->admin_key(),
                     {{"Content-Type", "application/merge-patch+json"}});
  }
  static json::object Flag(bool visible, bool requires_billing) {
    json::object prod{{"on", true}, {"off_variation", 0}, {"fallthrough", {{"variation", 1}}}};
    if (requires_billing) prod["prerequisites"] = json::array{json::object{{"flag", "billing"}, {"variation", 1}}};
    json::object f{{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
                   {"environments", {{"prod", prod}}},
                   {"reason", "test"}};
    if (visible) f["client_visible"] = true;
    return f;
  }
  int64_t Head() {
    HttpReply r = Api("GET", "/v1/workspaces/cv");
    return r.status == 200 && r.json.is_object() ? r.json.at("revision").as_int64() : -1;
  }
  // 400, a JSON error naming the server-only prerequisite, and no new revision.
  void ExpectRefused(const HttpReply& r, int64_t head_before) {
    EXPECT_EQ(r.status, 400) << r.body;
    ASSERT_TRUE(r.json.is_object()) << r.body;
    EXPECT_NE(r.body.find("is not client_visible"), std::string::npos) << r.body;
    EXPECT_EQ(Head(), head_before) << "a refused write changed the workspace";
  }

  static EdgeVaultUp* up_;
};
EdgeVaultUp* ClientVisiblePrerequisiteTest::up_ = nullptr;

TEST_F(ClientVisiblePrerequisiteTest, EveryPathToAClientVisibleFlagWithAServerOnlyPrerequisiteIsRefused) {
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "cv"}, {"name", "cv"}}).status, 201);
  ASSERT_EQ(Api("POST", "/v1/workspaces/cv/environments", json::object{{"key", "prod"}, {"reason", "setup"}}).status, 201);
  ASSERT_EQ(Api("PUT", "/v1/workspaces/cv/flags/billing", Flag(false, false)).status, 200);
  ASSERT_EQ(Api("PUT", "/v1/workspaces/cv/flags/checkout", Flag(false, true)).status, 200);

  // 1. The flag written client-visible, by PUT and by a merge PATCH of its shared part.
  int64_t head = Head();
  ExpectRefused(Api("PUT", "/v1/workspaces/cv/flags/checkout", Flag(true, true)), head);
  ExpectRefused(MergePatch("/v1/workspaces/cv/flags/checkout?reason=web",
                           json::object{{"client_visible", true}}),
                head);

  // Both visible is fine.
  ASSERT_EQ(Api("PUT", "/v1/workspaces/cv/flags/billing", Flag(true, false)).status, 200);
  const int64_t billing_visible = Head();
  HttpReply both = Api("PUT", "/v1/workspaces/cv/flags/checkout", Flag(true, true));
  ASSERT_EQ(both.status, 200) << both.body;

  // 2. The prerequisite made server-only later.
  head = Head();
  ExpectRefused(Api("PUT", "/v1/workspaces/cv/flags/billing", Flag(false, false)), head);
  ExpectRefused(MergePatch("/v1/workspaces/cv/flags/billing?reason=hide",
                           json::object{{"client_visible", false}}),
                head);

  // 3. A revert of the revision that made billing visible would bring its server-only body back.
  ExpectRefused(Api("POST", "/v1/workspaces/cv/revisions/" + std::to_string(billing_visible) + "/revert",
                    json::object{{"reason", "undo"}}),
                head);

  // A rollback restores a whole earlier state, which was consistent: allowed (both flags
  // go back to server-only).
  HttpReply rollback = Api("POST", "/v1/workspaces/cv/rollback",
                           json::object{{"to_revision", billing_visible - 1}, {"reason", "back"}});
  EXPECT_EQ(rollback.status, 200) << rollback.body;
}

}  // namespace
}  // namespace edgevault
