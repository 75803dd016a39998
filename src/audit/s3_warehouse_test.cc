// The S3 warehouse against a real S3-compatible server (s3rver behind a proxy that checks
// every SigV4 signature: src/net/s3_test_server.h).
#include "src/audit/s3_warehouse.h"

#include "gtest/gtest.h"
#include "src/audit/test_util.h"
#include "src/audit/verify.h"
#include "src/audit/warehouse_open.h"
#include "src/base/testing/temp_dir.h"
#include "src/net/s3_test_server.h"
#include "src/net/tls_test_client.h"

namespace edgevault::audit {
namespace {

using testing::SampleEvent;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15T08:00:00Z
constexpr std::string_view kPrefix = "prod/audit/";

std::vector<AuditEvent> Batch(int from, int n, absl::Time t) {
  std::vector<AuditEvent> out;
  for (int i = from; i < from + n; ++i) out.push_back(SampleEvent(i, t + absl::Seconds(i)));
  return out;
}

class S3WarehouseTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(false); }

  void StartServer(bool conditional) {
    ASSERT_TRUE(server_.Start(conditional)) << server_.error();
    auto c = net::S3Client::Create(server_.ClientOptions());
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  std::unique_ptr<S3Warehouse> Open(std::string node = "node-1") {
    auto w = S3Warehouse::Create({.client = client_.get(), .prefix = std::string(kPrefix),
                                  .node = std::move(node)});
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }
  VerifyReport Verify() {
    S3WarehouseReader reader(client_.get(), std::string(kPrefix));
    auto r = VerifyWarehouse(reader, {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyReport{};
  }
  std::vector<std::string> Keys() {
    auto all = client_->ListAll("");
    EXPECT_TRUE(all.ok()) << all.status();
    std::vector<std::string> out;
    if (all.ok()) {
      for (const auto& o : *all) out.push_back(o.key);
    }
    return out;
  }
  std::string Get(const std::string& key) {
    auto v = client_->GetObject(key);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : "";
  }
  void Put(const std::string& key, const std::string& body) {
    ASSERT_TRUE(client_->PutObject(key, body, {}).ok());
  }

  net::S3TestServer server_;
  std::unique_ptr<net::S3Client> client_;
};

TEST_F(S3WarehouseTest, OneObjectPerBatchAndHourChainedAcrossObjects) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Append(Batch(1, 3, kT0)).ok());
  // A batch spanning two hours: two objects.
  std::vector<AuditEvent> mixed = Batch(4, 2, kT0);
  mixed.push_back(SampleEvent(6, kT0 + absl::Hours(1)));
  ASSERT_TRUE(w->Append(mixed).ok());
  EXPECT_EQ(Keys(), (std::vector<std::string>{
                        "prod/audit/2027/01/15/08/node-1-0000000001.ndjson",
                        "prod/audit/2027/01/15/08/node-1-0000000002.ndjson",
                        "prod/audit/2027/01/15/09/node-1-0000000003.ndjson",
                        "prod/audit/node-1.head"}));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.problem;
  EXPECT_EQ(r.events, 6);
  EXPECT_EQ(r.files, 3);
  EXPECT_EQ(r.nodes, 1);
  // The chain crosses objects: the second object's first prev_hash is the first's last hash.
  std::string first = Get("prod/audit/2027/01/15/08/node-1-0000000001.ndjson");
  std::string second = Get("prod/audit/2027/01/15/08/node-1-0000000002.ndjson");
  first.pop_back();  // the final newline
  auto last_of_first = ParseChainedLine(first.substr(first.rfind('\n') + 1));
  auto first_of_second = ParseChainedLine(second.substr(0, second.find('\n')));
  ASSERT_TRUE(last_of_first.ok() && first_of_second.ok());
  EXPECT_EQ(first_of_second->prev_hash, last_of_first->hash);
  auto head = ParseHeadRecord(Get("prod/audit/node-1.head"), "node-1", "test");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->seq, 3u);
  EXPECT_EQ(head->line, 1);
  EXPECT_EQ(head->hash, w->stats().last_hash);
  EXPECT_EQ(w->stats().files_created, 3);
}

TEST_F(S3WarehouseTest, RestartContinuesTheChainAndSkipsARetriedBatch) {
  {
    auto w = Open();
    ASSERT_TRUE(w->Append(Batch(1, 4, kT0)).ok());
  }
  auto w = Open();
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Append(Batch(1, 4, kT0)).ok());  // re-delivered: nothing new
  EXPECT_EQ(w->stats().duplicates_skipped, 4);
  EXPECT_EQ(w->stats().events_written, 0);
  ASSERT_TRUE(w->Append(Batch(5, 2, kT0)).ok());
  EXPECT_EQ(w->stats().head_seq, 2u);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.events, 6);
  EXPECT_EQ(r.files, 2);
}

TEST_F(S3WarehouseTest, ObjectWrittenBeforeACrashIsAdoptedFromHead) {
  auto w = Open();
  ASSERT_TRUE(w->Append(Batch(1, 2, kT0)).ok());
  const std::string old_head = Get("prod/audit/node-1.head");
  ASSERT_TRUE(w->Append(Batch(3, 2, kT0)).ok());
  w.reset();
  Put("prod/audit/node-1.head", old_head);  // the writer died between the object and HEAD
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->stats().head_seq, 2u);
  EXPECT_EQ(again->stats().head_line, 2);
  auto head = ParseHeadRecord(Get("prod/audit/node-1.head"), "node-1", "test");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->seq, 2u);  // HEAD moved forward on open
  ASSERT_TRUE(again->Append(Batch(3, 3, kT0)).ok());  // 3 and 4 are known
  EXPECT_EQ(again->stats().duplicates_skipped, 2);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.events, 5);
}

TEST_F(S3WarehouseTest, VerifyFindsAnEditedRecordInAnObject) {
  auto w = Open();
  ASSERT_TRUE(w->Append(Batch(1, 3, kT0)).ok());
  const std::string key = "prod/audit/2027/01/15/08/node-1-0000000001.ndjson";
  std::string body = Get(key);
  size_t at = body.find("user:u2");
  ASSERT_NE(at, std::string::npos);
  body.replace(at, 7, "user:u9");
  Put(key, body);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file, "s3://audit/" + key);
  EXPECT_EQ(r.line, 2);
  EXPECT_NE(r.problem.find("hash mismatch"), std::string::npos) << r.problem;
}

TEST_F(S3WarehouseTest, VerifyFindsRecordsRemovedAtTheEnd) {
  auto w = Open();
  ASSERT_TRUE(w->Append(Batch(1, 3, kT0)).ok());
  const std::string key = "prod/audit/2027/01/15/08/node-1-0000000001.ndjson";
  std::string body = Get(key);
  body.erase(body.rfind('\n', body.size() - 2) + 1);  // drop the last line
  Put(key, body);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("records missing at the end"), std::string::npos) << r.problem;
}

TEST_F(S3WarehouseTest, VerifyFindsAStrayObjectName) {
  auto w = Open();
  ASSERT_TRUE(w->Append(Batch(1, 1, kT0)).ok());
  ASSERT_TRUE(w->Append(Batch(2, 1, kT0)).ok());
  // An object named like a chain object but with a bad hour.
  Put("prod/audit/2027/01/15/25/node-1-0000000009.ndjson", "x\n");
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("unexpected file name"), std::string::npos) << r.problem;
}

TEST_F(S3WarehouseTest, TwoNodesWriteTwoChainsSideBySide) {
  auto a = Open("node-a");
  auto b = Open("node-b");
  ASSERT_TRUE(a->Append(Batch(1, 2, kT0)).ok());
  ASSERT_TRUE(b->Append(Batch(10, 2, kT0)).ok());
  ASSERT_TRUE(a->Append(Batch(3, 1, kT0)).ok());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.nodes, 2);
  EXPECT_EQ(r.events, 5);
}

TEST(S3WarehouseConditionalTest, SecondWriterWithTheSameNodeIdIsRefusedThenContinuesTheChain) {
  net::S3TestServer server;
  ASSERT_TRUE(server.Start(/*conditional_writes=*/true)) << server.error();
  auto client = net::S3Client::Create(server.ClientOptions());
  ASSERT_TRUE(client.ok());
  auto open = [&] {
    auto w = S3Warehouse::Create({.client = client->get(), .prefix = "", .node = "node-1"});
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(*w);
  };
  auto first = open();
  auto second = open();  // both see an empty chain: both would write seq 1
  ASSERT_TRUE(first->Append(Batch(1, 2, kT0)).ok());
  absl::Status st = second->Append(Batch(3, 2, kT0));
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists) << st;
  // The retry re-reads the chain and continues after the other writer's object.
  ASSERT_TRUE(second->Append(Batch(3, 2, kT0)).ok());
  EXPECT_EQ(second->stats().head_seq, 2u);
  S3WarehouseReader reader(client->get(), "");
  auto r = VerifyWarehouse(reader, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->file << ": " << r->problem;
  EXPECT_EQ(r->events, 4);
}

TEST(OpenWarehouseTest, S3UrlOpensTheS3BackendAndNeedsCredentials) {
  net::S3TestServer server;
  ASSERT_TRUE(server.Start()) << server.error();
  auto url = base::ParseAuditWarehouseUrl("s3://audit/x?endpoint=" + server.Endpoint());
  ASSERT_TRUE(url.ok()) << url.status();
  OpenWarehouseOptions o{.url = *url, .node = "n1", .writer = true};
  EXPECT_EQ(OpenWarehouse(o).status().code(), absl::StatusCode::kInvalidArgument);  // no keys
  o.credentials = net::S3CredentialsFromEnvironment(
      {{"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"}, {"HOME", "/"}});
  auto w = OpenWarehouse(o);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_FALSE((*w)->is_file);
  EXPECT_EQ((*w)->location, "s3://audit/x/");
  ASSERT_TRUE((*w)->writer->Append(Batch(1, 2, kT0)).ok());
  EXPECT_EQ((*w)->writer_stats().events_written, 2);
  auto r = VerifyWarehouse(*(*w)->reader, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->events, 2);
}

// audit.warehouse_url with an https endpoint and ca_file=: the warehouse written and
// verified over TLS, the store's certificate trusted only through the CA file.
TEST(OpenWarehouseTest, HttpsEndpointWithCaFileWritesAndVerifies) {
  base::testing::TempDir dir("ev-s3-wh-https");
  absl::StatusOr<net::TlsFiles> files = net::MakeSelfSignedCert(dir.path(), "s3");
  ASSERT_TRUE(files.ok()) << files.status();
  net::S3TestServer server;
  server.UseTls(files->cert_file, files->key_file);
  ASSERT_TRUE(server.Start()) << server.error();
  auto url = base::ParseAuditWarehouseUrl("s3://audit/tls?endpoint=" + server.Endpoint() +
                                          "&ca_file=" + files->cert_file);
  ASSERT_TRUE(url.ok()) << url.status();
  OpenWarehouseOptions o{.url = *url, .node = "n1", .writer = true};
  o.credentials = {"S3RVER", "S3RVER", ""};
  auto w = OpenWarehouse(o);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->writer->Append(Batch(1, 3, kT0)).ok());
  auto r = VerifyWarehouse(*(*w)->reader, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok) << r->problem;
  EXPECT_EQ(r->events, 3);
  // The same URL without ca_file does not trust the store: the writer cannot even start
  // (it reads the chain's head first).
  url = base::ParseAuditWarehouseUrl("s3://audit/tls?endpoint=" + server.Endpoint());
  ASSERT_TRUE(url.ok());
  o.url = *url;
  EXPECT_EQ(OpenWarehouse(o).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace edgevault::audit
