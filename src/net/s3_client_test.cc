#include "src/net/s3_client.h"

#include <gtest/gtest.h>

#include "src/base/status.h"
#include "src/base/testing/temp_dir.h"
#include "src/net/s3_test_server.h"
#include "src/net/tls_test_client.h"

namespace edgevault::net {
namespace {

class S3ClientTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()) << server_.error(); }

  std::unique_ptr<S3Client> Client(S3ClientOptions o) {
    absl::StatusOr<std::unique_ptr<S3Client>> c = S3Client::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  S3TestServer server_;
};

TEST_F(S3ClientTest, PutGetRoundTripsKeysThatNeedEncoding) {
  auto s3 = Client(server_.ClientOptions());
  ASSERT_NE(s3, nullptr);
  for (std::string key : {"2026/03/04/05/node-1-0000000001.ndjson", "odd key/é+x~(1).ndjson"}) {
    std::string body = "{\"a\":1}\n" + key + "\n";
    ASSERT_TRUE(s3->PutObject(key, body, {}).ok()) << key;
    absl::StatusOr<std::string> got = s3->GetObject(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, body);
  }
  EXPECT_EQ(s3->GetObject("no/such.ndjson").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(S3ClientTest, ListAllFollowsContinuationTokensAndDelimiters) {
  auto s3 = Client(server_.ClientOptions());
  ASSERT_NE(s3, nullptr);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(s3->PutObject("p/2026/obj-" + std::to_string(i), "x", {}).ok());
  }
  ASSERT_TRUE(s3->PutObject("p/n.head", "h", {}).ok());
  ASSERT_TRUE(s3->PutObject("q/other", "y", {}).ok());
  absl::StatusOr<S3ListPage> first = s3->ListPage("p/", "", "", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->objects.size(), 2u);
  EXPECT_TRUE(first->truncated);
  absl::StatusOr<std::vector<S3Object>> all = s3->ListAll("p/", "", nullptr, 2);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[0].key, "p/2026/obj-1");
  EXPECT_EQ((*all)[4].key, "p/2026/obj-5");
  EXPECT_EQ((*all)[5].key, "p/n.head");
  EXPECT_EQ((*all)[0].size, 1);
  std::vector<std::string> prefixes;
  absl::StatusOr<std::vector<S3Object>> top = s3->ListAll("p/", "/", &prefixes);
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].key, "p/n.head");
  EXPECT_EQ(prefixes, std::vector<std::string>{"p/2026/"});
}

TEST_F(S3ClientTest, VirtualHostStyleNamesTheBucketInTheHost) {
  S3ClientOptions o = server_.ClientOptions();
  o.endpoint = "http://s3.localhost:" + std::to_string(server_.port());
  o.connect_address = "127.0.0.1";  // no DNS record for audit.s3.localhost
  o.virtual_host_style = true;
  auto vhost = Client(o);
  ASSERT_NE(vhost, nullptr);
  ASSERT_TRUE(vhost->PutObject("v/one", "1", {}).ok());
  // The same object through path-style: both address the one bucket.
  auto path = Client(server_.ClientOptions());
  absl::StatusOr<std::string> got = path->GetObject("v/one");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "1");
  absl::StatusOr<std::vector<S3Object>> listed = vhost->ListAll("v/");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(S3ClientTest, WrongSecretIsPermissionDenied) {
  S3ClientOptions o = server_.ClientOptions();
  o.credentials.secret_access_key = "not-the-secret";
  auto s3 = Client(o);
  ASSERT_NE(s3, nullptr);
  absl::Status st = s3->PutObject("k", "v", {});
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_NE(st.message().find("SignatureDoesNotMatch"), absl::string_view::npos) << st;
}

TEST(S3ClientCreateTest, RejectsBadEndpointsBucketsAndMissingCredentials) {
  S3ClientOptions o{.endpoint = "http://127.0.0.1:9000", .bucket = "audit",
                    .credentials = {"a", "b", ""}};
  EXPECT_TRUE(S3Client::Create(o).ok());
  o.endpoint = "https://s3.amazonaws.com";
  EXPECT_TRUE(S3Client::Create(o).ok());
  for (const char* bad : {"ftp://x", "http://", "http://h:0", "http://h:99999", "http://h/path",
                          "https://", "https://h/path"}) {
    o.endpoint = bad;
    EXPECT_EQ(S3Client::Create(o).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  // A CA file only means something over https, and must hold a certificate.
  o.endpoint = "http://127.0.0.1:9000";
  o.ca_file = "/etc/hostname";
  EXPECT_EQ(S3Client::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.endpoint = "https://127.0.0.1:9000";
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(S3Client::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.ca_file = "";
  o.endpoint = "http://127.0.0.1:9000";
  o.bucket = "Bad_Bucket";
  EXPECT_EQ(S3Client::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.bucket = "audit";
  o.credentials = {};
  EXPECT_EQ(S3Client::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(S3ConditionalWriteTest, IfNoneMatchRefusesToReplaceAnObject) {
  S3TestServer server;
  ASSERT_TRUE(server.Start(/*conditional_writes=*/true)) << server.error();
  auto s3 = S3Client::Create(server.ClientOptions());
  ASSERT_TRUE(s3.ok());
  ASSERT_TRUE((*s3)->PutObject("once", "first", {.if_none_match = true}).ok());
  absl::Status again = (*s3)->PutObject("once", "second", {.if_none_match = true});
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(*(*s3)->GetObject("once"), "first");
}

// S3 over https: the test server behind TLS with a self-signed certificate for 127.0.0.1.
// Trusted through the CA file, every call works (the signature covers the same Host);
// without the CA file the store's certificate is refused and nothing is sent.
class S3HttpsTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TlsFiles> files = MakeSelfSignedCert(dir_.path(), "s3");
    ASSERT_TRUE(files.ok()) << files.status();
    server_.UseTls(files->cert_file, files->key_file);
    ASSERT_TRUE(server_.Start(/*conditional_writes=*/true)) << server_.error();
  }
  base::testing::TempDir dir_{"ev-s3-https"};
  S3TestServer server_;
};

TEST_F(S3HttpsTest, TrustedThroughTheCaFileEveryCallWorks) {
  S3ClientOptions o = server_.ClientOptions();
  ASSERT_EQ(o.endpoint.rfind("https://", 0), 0u) << o.endpoint;
  auto s3 = S3Client::Create(o);
  ASSERT_TRUE(s3.ok()) << s3.status();
  ASSERT_TRUE((*s3)->PutObject("tls/one.ndjson", "{\"a\":1}\n", {.if_none_match = true}).ok());
  EXPECT_EQ((*s3)->PutObject("tls/one.ndjson", "x", {.if_none_match = true}).code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::string> got = (*s3)->GetObject("tls/one.ndjson");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "{\"a\":1}\n");
  absl::StatusOr<std::vector<S3Object>> listed = (*s3)->ListAll("tls/");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(S3HttpsTest, AnUntrustedCertificateIsRefused) {
  S3ClientOptions o = server_.ClientOptions();
  o.ca_file = "";  // the system's CAs only: they never signed a test certificate
  auto s3 = S3Client::Create(o);
  ASSERT_TRUE(s3.ok()) << s3.status();
  absl::Status put = (*s3)->PutObject("tls/two.ndjson", "x", {});
  EXPECT_EQ(put.code(), absl::StatusCode::kUnavailable) << put;
  EXPECT_EQ(base::ErrorCode(put), "tls_certificate") << put;
  // Plain http to the TLS port fails too: no silent downgrade.
  o.endpoint = "http://127.0.0.1:" + std::to_string(server_.port());
  auto plain = S3Client::Create(o);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->PutObject("tls/three.ndjson", "x", {}).ok());
  auto trusted = S3Client::Create(server_.ClientOptions());
  ASSERT_TRUE(trusted.ok());
  EXPECT_EQ((*trusted)->GetObject("tls/two.ndjson").status().code(), absl::StatusCode::kNotFound);
}

TEST(ListObjectsV2XmlTest, ParsesEntitiesAndRejectsOtherDocuments) {
  absl::StatusOr<S3ListPage> p = ParseListObjectsV2(
      "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
      "<Contents><Key>a&amp;b&#233;</Key><Size>12</Size><ETag>&quot;e&quot;</ETag></Contents>"
      "<NextContinuationToken>t/=</NextContinuationToken></ListBucketResult>");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->objects.size(), 1u);
  EXPECT_EQ(p->objects[0].key, "a&b\xC3\xA9");
  EXPECT_EQ(p->objects[0].size, 12);
  EXPECT_EQ(p->objects[0].etag, "\"e\"");
  EXPECT_EQ(p->next_continuation_token, "t/=");
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>x</Code></Error>").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").ok());
}

}  // namespace
}  // namespace edgevault::net
