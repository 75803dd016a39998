// Promotions and change requests (issue 14; docs/design/promotions.md) through the real
// binaries: staging → prod of a config, a flag's configuration and a secret under a
// 2-approval, change-requests-only policy on prod. The author cannot approve, a viewer
// cannot, two admins can; apply writes exactly the diff (one revision per item, tagged with
// the request) and delivery serves the new prod values. A value violating the schema is
// refused at creation; a conflicting prod write gives 409, rebase + re-approval applies;
// a direct write to prod is refused with change_request_required. Also the CLI.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"
#include "tests/integration/reviewers_fixture.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

class PromotionTest : public testing::ReviewersSuite {
 protected:
  static void SetUpTestSuite() { StartWithReviewers("promo"); }

  // staging and prod (roots), a config with a schema, a flag configured in staging, a
  // secret in both; then prod's policy: 2 approvals, change requests only.
  std::string NewWorkspace(const std::string& key) {
    EXPECT_EQ(Admin("POST", "/v1/workspaces", json::object{{"key", key}, {"name", key}}).status, 201);
    std::string base = "/v1/workspaces/" + key;
    for (const char* env : {"staging", "prod"}) {
      EXPECT_EQ(Admin("POST", base + "/environments", json::object{{"key", env}, {"reason", "setup"}}).status, 201);
    }
    EXPECT_EQ(Admin("PUT", base + "/configs/pool",
                    json::object{{"type", "integer"}, {"schema", {{"maximum", 100}}},
                                 {"values", {{"staging", 20}, {"prod", 10}}}, {"reason", "setup"}})
                  .status,
              200);
    EXPECT_EQ(Admin("PUT", base + "/flags/checkout",
                    json::object{{"variations", json::array{json::object{{"value", false}}, json::object{{"value", true}}}},
                                 {"environments", {{"staging", {{"on", true}, {"off_variation", 0},
                                                                {"fallthrough", {{"variation", 1}}}}}}},
                                 {"reason", "setup"}})
                  .status,
              200);
    EXPECT_EQ(Admin("PUT", base + "/secrets/token",
                    json::object{{"values", {{"staging", "s3cret-staging"}, {"prod", "old-prod"}}}, {"reason", "setup"}})
                  .status,
              200);
    HttpReply policy = Admin("PUT", base + "/environments/prod/policy",
                             json::object{{"required_approvals", 2}, {"change_requests_required", true},
                                          {"reason", "prod is reviewed"}});
    EXPECT_EQ(policy.status, 200) << policy.body;
    return base;
  }

  int64_t Head(const std::string& base) {
    HttpReply r = Admin("GET", base);
    return r.status == 200 ? r.json.at("revision").as_int64() : -1;
  }

  HttpReply Promote(const std::string& base, const std::string& token = "") {
    return Api(token.empty() ? author_ : token, "POST", base + "/promotions",
               json::object{{"from", "staging"}, {"to", "prod"}, {"title", "ship checkout"}});
  }

  // prod's resolved document as delivery serves it, once it reached `version`.
  json::value DeliveredProd(const std::string& sdk_key, int64_t version) {
    HttpReply r;
    if (testing::PollUntil([&] {
          r = up_->Call("delivery", "GET", "/v1/config", "", sdk_key);
          return r.status == 200 && r.json.is_object() && r.json.as_object().contains("version") &&
                 r.json.at("version").as_int64() >= version;
        }, 15000)) {
      return r.json;
    }
    ADD_FAILURE() << "delivery never served version " << version << ": " << r.status << " " << r.body;
    return nullptr;
  }

  // `edgevault ARGS` against this suite's api as the holder of `token`.
  testing::CommandResult Cli(const std::string& args, const std::string& token) {
    return testing::RunEdgevault(
        args, base::StrCat("EDGEVAULT_API_URL=http://127.0.0.1:", std::to_string(up_->port("api")),
                           " EDGEVAULT_TOKEN=", token, " EDGEVAULT_PROFILE=/nonexistent"));
  }

  static std::string Code(const HttpReply& r) {
    return r.json.is_object() && r.json.as_object().contains("error")
               ? std::string(r.json.at("error").at("code").as_string())
               : "";
  }

};


TEST_F(PromotionTest, TwoApprovalPromotionAppliesExactlyTheDiffAndDeliveryServesIt) {
  std::string base = NewWorkspace("promo-main");
  HttpReply minted = Admin("POST", base + "/environments/prod/sdk-keys", json::object{});
  ASSERT_EQ(minted.status, 201) << minted.body;
  std::string sdk_key(minted.json.at("key").as_string());

  // A direct write to prod is refused, saying to open a change request.
  HttpReply direct = Admin("PUT", base + "/configs/pool",
                           json::object{{"type", "integer"}, {"schema", {{"maximum", 100}}},
                                        {"values", {{"staging", 20}, {"prod", 11}}}, {"reason", "hotfix"}});
  EXPECT_EQ(direct.status, 403) << direct.body;
  EXPECT_EQ(Code(direct), "change_request_required");
  EXPECT_NE(direct.body.find("change request"), std::string::npos);
  // ... and so is a revert that would change prod (revision 3 created the config).
  EXPECT_EQ(Code(Admin("POST", base + "/revisions/3/revert", json::object{{"reason", "undo"}})), "change_request_required");
  // staging is still written directly.
  EXPECT_EQ(Api(author_, "PUT", base + "/configs/region",
                json::object{{"type", "string"}, {"values", {{"staging", "eu"}}}, {"reason", "r"}})
                .status,
            200);

  HttpReply preview = Api(author_, "POST", base + "/promotions",
                          json::object{{"from", "staging"}, {"to", "prod"}, {"dry_run", true}});
  ASSERT_EQ(preview.status, 200) << preview.body;
  EXPECT_EQ(preview.json.at("changes").as_array().size(), 4u);  // pool, region, checkout, token
  EXPECT_EQ(preview.body.find("s3cret"), std::string::npos);    // a reference, never the value
  EXPECT_EQ(Admin("GET", base + "/change-requests").json.at("change_requests").as_array().size(), 0u);

  int64_t before = Head(base);
  HttpReply created = Promote(base);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string cr = base + "/change-requests/" + std::to_string(created.json.at("id").as_int64());
  EXPECT_EQ(created.json.at("state").as_string(), "open");
  EXPECT_EQ(created.json.at("required_approvals").as_int64(), 2);

  EXPECT_EQ(Api(author_, "POST", cr + "/approve", json::object{}).status, 403);  // never your own
  EXPECT_EQ(Api(viewer_, "POST", cr + "/approve", json::object{}).status, 403);
  HttpReply early = Api(admin1_, "POST", cr + "/apply", json::object{});
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_EQ(Code(early), "approvals_required");
  ASSERT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{{"comment", "lgtm"}}).status, 200);
  EXPECT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{}).status, 409);  // once per user
  HttpReply approved = Api(admin2_, "POST", cr + "/approve", json::object{});
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.json.at("state").as_string(), "approved");
  EXPECT_EQ(Head(base), before);  // reviews write no revision

  HttpReply applied = Api(author_, "POST", cr + "/apply", json::object{});
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(applied.json.at("state").as_string(), "applied");
  EXPECT_EQ(applied.json.at("applied_revision").as_int64(), before + 4);
  HttpReply revs = Admin("GET", base + "/revisions?after=" + std::to_string(before));
  ASSERT_EQ(revs.json.at("revisions").as_array().size(), 4u);
  for (const json::value& rev : revs.json.at("revisions").as_array()) {
    EXPECT_EQ(rev.at("op").as_string(), "change_request");
    EXPECT_EQ(rev.at("environment").as_string(), "prod");
    EXPECT_NE(std::string(rev.at("reason").as_string()).find("change request #"), std::string::npos);
  }
  EXPECT_EQ(Api(author_, "POST", cr + "/apply", json::object{}).status, 409);  // never twice

  json::value doc = DeliveredProd(sdk_key, before + 4);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.at("configs").at("pool").at("value").as_int64(), 20);
  EXPECT_EQ(doc.at("configs").at("region").at("value").as_string(), "eu");
  EXPECT_TRUE(doc.at("flags").as_object().contains("checkout"));
  HttpReply secret = Admin("GET", base + "/environments/prod/secrets/token");
  ASSERT_EQ(secret.status, 200) << secret.body;
  EXPECT_EQ(secret.json.at("value").as_string(), "s3cret-staging");
  HttpReply shown = Api(viewer_, "GET", cr);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.json.at("reviews").as_array().size(), 2u);

  // Every step is an audit event naming the request.
  std::string ws_id(Admin("GET", base).json.at("id").as_string());
  std::string id_needle = "\"change_request\":" + std::to_string(created.json.at("id").as_int64());
  auto audited = [&](std::string_view action, int want) {
    return testing::PollUntil(
        [&] { return testing::CountAuditLines(up_->data_dir(), action, {ws_id, id_needle}) >= want; }, 20000);
  };
  EXPECT_TRUE(audited("workspace.change_request.create", 1));
  EXPECT_TRUE(audited("workspace.change_request.approve", 2));
  EXPECT_TRUE(audited("workspace.change_request.apply", 1));
  EXPECT_EQ(testing::CountAuditLines(up_->data_dir(), "workspace.change_request.apply", {"s3cret"}), 0);
}

TEST_F(PromotionTest, ConflictingProdWriteGives409ThenRebaseAndReapprovalApply) {
  std::string base = NewWorkspace("promo-conflict");
  HttpReply created = Promote(base);
  ASSERT_EQ(created.status, 201) << created.body;
  std::string cr = base + "/change-requests/" + std::to_string(created.json.at("id").as_int64());
  ASSERT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{}).status, 200);
  ASSERT_EQ(Api(admin2_, "POST", cr + "/approve", json::object{}).status, 200);
  // Someone changes prod meanwhile: the admin lifts the policy for a hotfix, then restores it.
  ASSERT_EQ(Admin("PUT", base + "/environments/prod/policy", json::object{{"required_approvals", 2}, {"reason", "hotfix"}})
                .status,
            200);
  ASSERT_EQ(Admin("PUT", base + "/configs/pool",
                  json::object{{"type", "integer"}, {"schema", {{"maximum", 100}}},
                               {"values", {{"staging", 20}, {"prod", 15}}}, {"reason", "hotfix"}})
                .status,
            200);
  int64_t head = Head(base);
  HttpReply conflict = Api(admin1_, "POST", cr + "/apply", json::object{});
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(Code(conflict), "change_request_conflict");
  EXPECT_EQ(Head(base), head);  // nothing written
  EXPECT_EQ(Admin("GET", base + "/environments/prod/secrets/token").json.at("value").as_string(), "old-prod");

  HttpReply rebased = Api(author_, "POST", cr + "/rebase", json::object{});
  ASSERT_EQ(rebased.status, 200) << rebased.body;
  EXPECT_EQ(rebased.json.at("state").as_string(), "open");
  EXPECT_EQ(rebased.json.at("approvals").as_array().size(), 0u);
  EXPECT_EQ(Api(admin1_, "POST", cr + "/apply", json::object{}).status, 409);  // approvals reset
  ASSERT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{}).status, 200);
  ASSERT_EQ(Api(admin2_, "POST", cr + "/approve", json::object{}).status, 200);
  HttpReply applied = Api(admin2_, "POST", cr + "/apply", json::object{});
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 20);
}

// Bad promotions are refused at creation, naming what is wrong, and store nothing. (Each
// changed body is also validated like a write — schemas, flag rules — but with one schema
// per config and flag rules over the whole set, a value the workspace already holds always
// passes; the refusal of an invalid one is covered in change_requests_test.cc with a value
// stored behind the api's back.)
TEST_F(PromotionTest, BadPromotionsAreRefusedAtCreation) {
  std::string base = NewWorkspace("promo-invalid");
  HttpReply unknown = Api(author_, "POST", base + "/promotions",
                          json::object{{"from", "staging"}, {"to", "prod"}, {"title", "t"},
                                       {"items", json::array{json::object{{"key", "nope"}}}}});
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_NE(unknown.body.find("nope"), std::string::npos);
  EXPECT_EQ(Api(author_, "POST", base + "/promotions", json::object{{"from", "prod"}, {"to", "prod"}, {"title", "t"}}).status,
            400);
  EXPECT_EQ(Promote(base, viewer_).status, 403);
  // The policy is the admins' to set, and validated.
  EXPECT_EQ(Api(author_, "PUT", base + "/environments/prod/policy",
                json::object{{"required_approvals", 0}, {"reason", "no reviews please"}})
                .status,
            403);
  HttpReply bad = Admin("PUT", base + "/environments/prod/policy",
                        json::object{{"required_approvals", 11}, {"reason", "r"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("policy.required_approvals"), std::string::npos) << bad.body;
  HttpReply nothing = Api(author_, "POST", base + "/promotions",
                          json::object{{"from", "staging"}, {"to", "prod"}, {"title", "t"}, {"kinds", json::array{"secret"}},
                                       {"items", json::array{json::object{{"key", "pool"}}}}});
  EXPECT_EQ(nothing.status, 409) << nothing.body;  // pool is not a secret: nothing selected
  EXPECT_EQ(Code(nothing), "nothing_to_promote");
  EXPECT_EQ(Admin("GET", base + "/change-requests").json.at("change_requests").as_array().size(), 0u);
}

TEST_F(PromotionTest, CliPromotesReviewsAndApplies) {
  std::string base = NewWorkspace("promo-cli");
  auto cli = [&](const std::string& args, const std::string& token) { return Cli(args, token); };
  testing::CommandResult dry = cli("promote promo-cli --from staging --to prod --items pool --dry-run", author_);
  EXPECT_EQ(dry.code, 0) << dry.out;
  EXPECT_NE(dry.out.find("config pool"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("10 -> 20"), std::string::npos) << dry.out;
  testing::CommandResult opened = cli("promote promo-cli --from staging --to prod --items pool -t 'raise pool'", author_);
  ASSERT_EQ(opened.code, 0) << opened.out;
  EXPECT_NE(opened.out.find("Opened change request #1"), std::string::npos) << opened.out;
  EXPECT_NE(cli("cr approve promo-cli 1", author_).code, 0);
  EXPECT_EQ(cli("cr approve promo-cli 1 -c ok", admin1_).code, 0);
  EXPECT_EQ(cli("cr approve promo-cli 1", admin2_).code, 0);
  EXPECT_EQ(cli("cr comment promo-cli 1 'ship after lunch'", admin2_).code, 0);
  testing::CommandResult list = cli("cr list promo-cli", viewer_);
  EXPECT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("approved"), std::string::npos) << list.out;
  testing::CommandResult applied = cli("cr apply promo-cli 1", author_);
  EXPECT_EQ(applied.code, 0) << applied.out;
  EXPECT_NE(applied.out.find("[applied]"), std::string::npos) << applied.out;
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 20);
  // Revert: a new change request, reviewed and applied like the first.
  testing::CommandResult reverted = cli("cr revert promo-cli 1", author_);
  ASSERT_EQ(reverted.code, 0) << reverted.out;
  EXPECT_NE(reverted.out.find("#2 Revert #1"), std::string::npos) << reverted.out;
  EXPECT_EQ(cli("cr approve promo-cli 2", admin1_).code, 0);
  EXPECT_EQ(cli("cr approve promo-cli 2", admin2_).code, 0);
  testing::CommandResult undone = cli("cr apply promo-cli 2", author_);
  EXPECT_EQ(undone.code, 0) << undone.out;
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 10);
  testing::CommandResult shown = cli("cr show promo-cli 1 --json", viewer_);
  EXPECT_EQ(shown.code, 0);
  EXPECT_NE(shown.out.find("\"applied_revision\""), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("ship after lunch"), std::string::npos) << shown.out;
}

// Proposed changes (docs/design/promotions.md §2b): a change request that proposes values
// directly, for an environment that takes no direct writes, including a secret value that
// is sealed at once and never shown or stored in the clear.
bool AnyFileHolds(const std::string& dir, const std::string& needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_F(PromotionTest, ProposedChangesToAChangeRequestOnlyEnvironmentApplyAndDeliver) {
  std::string base = NewWorkspace("propose-main");
  HttpReply minted = Admin("POST", base + "/environments/prod/sdk-keys", json::object{});
  ASSERT_EQ(minted.status, 201) << minted.body;
  std::string sdk_key(minted.json.at("key").as_string());
  // The direct write's refusal says how to propose it instead.
  HttpReply direct = Api(author_, "PUT", base + "/configs/pool",
                         json::object{{"type", "integer"}, {"schema", {{"maximum", 100}}},
                                      {"values", {{"staging", 20}, {"prod", 30}}}, {"reason", "hotfix"}});
  EXPECT_EQ(Code(direct), "change_request_required");
  EXPECT_NE(direct.body.find("change-requests"), std::string::npos) << direct.body;

  const std::string plaintext = "rotated-prod-7f3a9c";
  json::array changes{
      json::object{{"kind", "config"}, {"key", "pool"}, {"environment", "prod"}, {"value", 30}},
      json::object{{"kind", "flag"}, {"key", "checkout"}, {"environment", "prod"},
                   {"configuration", {{"on", true}, {"off_variation", 0}, {"fallthrough", {{"variation", 1}}}}}},
      json::object{{"kind", "secret"}, {"key", "token"}, {"environment", "prod"}, {"value", plaintext}},
      json::object{{"kind", "config"}, {"key", "timeout"}, {"body", {{"type", "integer"}, {"values", {{"prod", 5}}}}}}};
  // A viewer proposes nothing; a value the schema refuses is refused at creation.
  EXPECT_EQ(Api(viewer_, "POST", base + "/change-requests", json::object{{"title", "t"}, {"changes", changes}}).status,
            403);
  HttpReply bad = Api(author_, "POST", base + "/change-requests",
                      json::object{{"title", "t"},
                                   {"changes", json::array{json::object{{"kind", "config"}, {"key", "pool"},
                                                                        {"environment", "prod"}, {"value", 500}}}}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("pool"), std::string::npos) << bad.body;
  HttpReply none = Api(author_, "POST", base + "/change-requests",
                       json::object{{"title", "t"},
                                    {"changes", json::array{json::object{{"kind", "config"}, {"key", "pool"},
                                                                         {"environment", "prod"}, {"value", 10}}}}});
  EXPECT_EQ(none.status, 409) << none.body;
  EXPECT_EQ(Code(none), "nothing_to_change");

  HttpReply dry = Api(author_, "POST", base + "/change-requests",
                      json::object{{"changes", changes}, {"dry_run", true}});
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(dry.body.find(plaintext), std::string::npos);
  const int64_t before = Head(base);
  HttpReply created = Api(author_, "POST", base + "/change-requests",
                          json::object{{"title", "prod pool, checkout and token"}, {"changes", changes}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json.at("type").as_string(), "change");
  EXPECT_EQ(created.json.at("required_approvals").as_int64(), 2);
  EXPECT_EQ(created.body.find(plaintext), std::string::npos);
  std::string cr = base + "/change-requests/" + std::to_string(created.json.at("id").as_int64());
  HttpReply shown = Api(viewer_, "GET", cr);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find(plaintext), std::string::npos);
  EXPECT_EQ(shown.body.find("\"sealed\":{"), std::string::npos) << shown.body;  // no envelope either

  EXPECT_EQ(Api(author_, "POST", cr + "/approve", json::object{}).status, 403);
  ASSERT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{}).status, 200);
  ASSERT_EQ(Api(admin2_, "POST", cr + "/approve", json::object{}).status, 200);
  HttpReply applied = Api(author_, "POST", cr + "/apply", json::object{});
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(applied.json.at("applied_revision").as_int64(), before + 4);

  json::value doc = DeliveredProd(sdk_key, before + 4);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.at("configs").at("pool").at("value").as_int64(), 30);
  EXPECT_EQ(doc.at("configs").at("timeout").at("value").as_int64(), 5);
  EXPECT_TRUE(doc.at("flags").as_object().contains("checkout"));
  HttpReply secret = Admin("GET", base + "/environments/prod/secrets/token");
  ASSERT_EQ(secret.status, 200) << secret.body;
  EXPECT_EQ(secret.json.at("value").as_string(), plaintext);
  // Nowhere on disk in the clear: not in the workspace database (the request or the
  // item), the edge KV, the outbox or the audit warehouse.
  std::string ws_id(Admin("GET", base).json.at("id").as_string());
  EXPECT_TRUE(testing::PollUntil(
      [&] { return testing::CountAuditLines(up_->data_dir(), "workspace.change_request.apply", {ws_id}) >= 1; },
      20000));
  EXPECT_FALSE(AnyFileHolds(up_->data_dir(), plaintext));
}

TEST_F(PromotionTest, CliProposesASecretFromStandardInputAndAProtectedApplyNeedsAnAdmin) {
  std::string base = NewWorkspace("propose-cli");
  ASSERT_EQ(Admin("PATCH", base + "/environments/prod", json::object{{"protected", true}, {"reason", "r"}}).status, 200);
  auto cli = [&](const std::string& args, const std::string& token) { return Cli(args, token); };
  const std::string input = up_->data_dir() + "/../propose-cli-secret.txt";
  {
    std::ofstream f(input);
    f << "cli-rotated-91b2\n";
  }
  testing::CommandResult dry =
      cli("cr propose propose-cli --config pool@prod=40 --secret token@prod --dry-run < " + input, author_);
  EXPECT_EQ(dry.code, 0) << dry.out;
  EXPECT_NE(dry.out.find("10 -> 40"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("sealed, never shown"), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find("cli-rotated"), std::string::npos) << dry.out;
  testing::CommandResult missing = cli("cr propose propose-cli --config pool@prod=40", author_);
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("title"), std::string::npos) << missing.out;
  testing::CommandResult opened =
      cli("cr propose propose-cli -t 'rotate token' --config pool@prod=40 --secret token@prod < " + input, author_);
  ASSERT_EQ(opened.code, 0) << opened.out;
  EXPECT_NE(opened.out.find("Opened change request #1"), std::string::npos) << opened.out;
  EXPECT_EQ(cli("cr approve propose-cli 1", admin1_).code, 0);
  EXPECT_EQ(cli("cr approve propose-cli 1", admin2_).code, 0);
  // prod is protected: the developer who proposed it may not apply it; an admin may.
  testing::CommandResult dev = cli("cr apply propose-cli 1", author_);
  EXPECT_NE(dev.code, 0) << dev.out;
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 10);
  testing::CommandResult applied = cli("cr apply propose-cli 1", admin1_);
  EXPECT_EQ(applied.code, 0) << applied.out;
  EXPECT_EQ(Admin("GET", base + "/configs/pool").json.at("values").at("prod").as_int64(), 40);
  EXPECT_EQ(Admin("GET", base + "/environments/prod/secrets/token").json.at("value").as_string(), "cli-rotated-91b2");
}

// The api is SIGKILLed while it applies a large change request, at a few different moments
// after the request is sent (the moment only varies where the kill lands; nothing asserted
// depends on it). After `up` restarts the api, either every item changed and the request is
// applied, or nothing changed and it can still be applied — never half.
TEST_F(PromotionTest, ApiKilledDuringApplyLeavesAllOrNothing) {
  std::string base = NewWorkspace("promo-crash");
  constexpr int kItems = 60;
  int round = 0;
  for (int delay_ms : {0, 1, 2, 3, 4, 6}) {
    ++round;
    for (int i = 0; i < kItems; ++i) {
      // A new staging value; prod keeps what the last round promoted (prod takes change
      // requests only, so a body without it would be refused).
      json::object values{{"staging", 1000 * round + i}};
      if (round > 1) values["prod"] = 1000 * (round - 1) + i;
      HttpReply put = Admin("PUT", base + "/configs/c" + std::to_string(i),
                            json::object{{"type", "integer"}, {"values", values}, {"reason", "setup"}});
      ASSERT_EQ(put.status, 200) << put.body;
    }
    HttpReply created = Api(author_, "POST", base + "/promotions",
                            json::object{{"from", "staging"}, {"to", "prod"}, {"title", "bulk"},
                                         {"items", json::array{}}, {"kinds", json::array{"config"}}});
    ASSERT_EQ(created.status, 201) << created.body;
    const int64_t changes = static_cast<int64_t>(created.json.at("changes").as_array().size());
    std::string cr = base + "/change-requests/" + std::to_string(created.json.at("id").as_int64());
    ASSERT_EQ(Api(admin1_, "POST", cr + "/approve", json::object{}).status, 200);
    ASSERT_EQ(Api(admin2_, "POST", cr + "/approve", json::object{}).status, 200);
    const int64_t head = Head(base);

    const pid_t api = up_->ServicePid("api");
    ASSERT_GT(api, 0);
    auto apply = std::async(std::launch::async, [&] { return Api(author_, "POST", cr + "/apply", json::object{}); });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ASSERT_EQ(::kill(api, SIGKILL), 0);
    const int answered = apply.get().status;
    ASSERT_TRUE(testing::PollUntil([&] { return up_->ServicePid("api") > 0 && up_->ServicePid("api") != api; }, 60000));
    ASSERT_TRUE(up_->WaitHealthy("api", 60000)) << up_->Output();

    int64_t after = Head(base);
    HttpReply state = Admin("GET", cr);
    ASSERT_EQ(state.status, 200) << state.body;
    int changed = 0;
    for (int i = 0; i < kItems; ++i) {
      HttpReply item = Admin("GET", base + "/configs/c" + std::to_string(i));
      const json::object& values = item.json.at("values").as_object();
      changed += values.contains("prod") && values.at("prod").as_int64() == 1000 * round + i;
    }
    std::printf("[   INFO   ] after %d ms the SIGKILL landed %s\n", delay_ms,
                after == head ? "before the apply's commit"
                              : (answered == 200 ? "after the answer" : "after the commit, before the answer"));
    if (after == head) {  // nothing happened: nothing changed, and it still applies
      EXPECT_EQ(changed, 0);
      EXPECT_EQ(state.json.at("state").as_string(), "approved");
      HttpReply applied = Api(author_, "POST", cr + "/apply", json::object{});
      ASSERT_EQ(applied.status, 200) << applied.body;
      after = Head(base);
      changed = kItems;
    } else {
      EXPECT_EQ(state.json.at("state").as_string(), "applied");
      EXPECT_EQ(state.json.at("applied_revision").as_int64(), after);
    }
    EXPECT_EQ(after, head + changes);
    EXPECT_EQ(changed, kItems);
  }
}

}  // namespace
}  // namespace edgevault
