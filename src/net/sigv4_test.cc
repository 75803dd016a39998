#include "src/net/sigv4.h"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "src/base/env.h"
#include "src/crypto/hash.h"

namespace edgevault::net::sigv4 {
namespace {

// The AWS Signature Version 4 test suite (testdata/aws-sigv4/README.md): one directory per
// case with the request, its context (credentials, region, service, time, whether to
// normalise the path and sign the body) and the expected canonical request, string to sign
// and Authorization header.
const std::string kSuiteDir = EV_SIGV4_TESTDATA;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SuiteCase {
  Request request;
  std::string body;
  Credentials credentials;
  SigningParams params;
  std::string canonical_request, string_to_sign, authorization;
};

// request.txt: "METHOD TARGET HTTP/1.1", header lines "Name:value" (a line starting
// with blanks continues the previous value), an empty line, the body.
SuiteCase LoadCase(const std::string& name) {
  const std::string dir = kSuiteDir + "/" + name;
  SuiteCase c;
  std::string text = Slurp(dir + "/request.txt");
  size_t head_end = text.find("\n\n");
  std::string head = text.substr(0, head_end);
  if (head_end != std::string::npos) c.body = text.substr(head_end + 2);
  std::vector<std::string> lines;
  std::istringstream hs(head);
  for (std::string l; std::getline(hs, l);) lines.push_back(l);
  const std::string& first = lines.at(0);
  c.request.method = first.substr(0, first.find(' '));
  std::string target =
      first.substr(first.find(' ') + 1, first.rfind(" HTTP/1.1") - first.find(' ') - 1);
  size_t q = target.find('?');
  c.request.path = target.substr(0, q);
  if (q != std::string::npos) c.request.query = target.substr(q + 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (!lines[i].empty() && (lines[i][0] == ' ' || lines[i][0] == '\t')) {
      c.request.headers.back().second += " " + lines[i];
      continue;
    }
    size_t colon = lines[i].find(':');
    c.request.headers.emplace_back(lines[i].substr(0, colon), lines[i].substr(colon + 1));
  }

  boost::json::object ctx = boost::json::parse(Slurp(dir + "/context.json")).as_object();
  const boost::json::object& cred = ctx.at("credentials").as_object();
  c.credentials.access_key_id = std::string(cred.at("access_key_id").as_string());
  c.credentials.secret_access_key = std::string(cred.at("secret_access_key").as_string());
  if (const boost::json::value* t = cred.if_contains("token")) {
    c.credentials.session_token = std::string(t->as_string());
  }
  c.params.region = std::string(ctx.at("region").as_string());
  c.params.service = std::string(ctx.at("service").as_string());
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, std::string(ctx.at("timestamp").as_string()),
                              &c.params.time, &err))
      << err;
  c.params.normalize_path = ctx.at("normalize").as_bool();
  c.params.add_content_sha256 = ctx.at("sign_body").as_bool();
  if (const boost::json::value* o = ctx.if_contains("omit_session_token")) {
    c.params.sign_session_token = !o->as_bool();
  }

  c.canonical_request = Slurp(dir + "/header-canonical-request.txt");
  c.string_to_sign = Slurp(dir + "/header-string-to-sign.txt");
  std::istringstream ss(Slurp(dir + "/header-signed-request.txt"));
  for (std::string l; std::getline(ss, l);) {
    if (l.rfind("Authorization:", 0) == 0) c.authorization = l.substr(14);
  }
  return c;
}

class SuiteTest : public testing::TestWithParam<std::string> {};

TEST_P(SuiteTest, MatchesPublishedCanonicalRequestStringToSignAndAuthorization) {
  SuiteCase c = LoadCase(GetParam());
  ASSERT_FALSE(c.authorization.empty()) << "no Authorization in the expected signed request";
  c.request.body = c.body;
  absl::StatusOr<Signed> s = Sign(c.request, c.credentials, c.params);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->canonical_request, c.canonical_request);
  EXPECT_EQ(s->string_to_sign, c.string_to_sign);
  EXPECT_EQ(s->authorization, c.authorization);
}

std::vector<std::string> SuiteCases() {
  absl::StatusOr<std::vector<std::string>> names = base::Env::Default()->ListDir(kSuiteDir);
  std::vector<std::string> out;
  if (names.ok()) {
    for (const std::string& n : *names) {
      if (n.find('.') == std::string::npos) out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(AwsSigV4TestSuite, SuiteTest, testing::ValuesIn(SuiteCases()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

TEST(SuiteTest, HasTheWholeSuite) {
  // A test data directory that went missing must not pass by running no case.
  std::vector<std::string> cases = SuiteCases();
  EXPECT_EQ(cases.size(), 38u);
  for (const char* want : {"get-vanilla", "get-vanilla-query-order-key-case",
                           "post-x-www-form-urlencoded", "get-utf8", "get-space-normalized",
                           "get-relative-relative-normalized", "get-slashes-unnormalized"}) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), want), cases.end()) << want;
  }
}

// ---------------------------------------------------------------- S3 rules

// The worked examples of the Amazon S3 API reference ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk").
const Credentials kS3DocCredentials{"AKIAIOSFODNN7EXAMPLE",
                                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

SigningParams S3DocParams() {
  return {.region = "us-east-1", .service = "s3", .time = absl::FromUnixSeconds(1369353600),
          .s3 = true};
}

TEST(S3SigningTest, GetObjectDocumentationExample) {
  Request r{.method = "GET", .path = "/test.txt",
            .headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}}};
  absl::StatusOr<Signed> s = Sign(r, kS3DocCredentials, S3DocParams());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // x-amz-content-sha256 is sent as well as signed.
  bool sent = false;
  for (const auto& [k, v] : s->headers) sent = sent || (k == "x-amz-content-sha256" && v == kEmptySha256);
  EXPECT_TRUE(sent);
}

TEST(S3SigningTest, PutObjectDocumentationExampleHashesTheBody) {
  Request r{.method = "PUT", .path = "/" + UriEncode("test$file.text", true),
            .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                        {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
            .body = "Welcome to Amazon S3."};
  EXPECT_EQ(r.path, "/test%24file.text");
  absl::StatusOr<Signed> s = Sign(r, kS3DocCredentials, S3DocParams());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(S3SigningTest, ListObjectsDocumentationExamplesSortTheQuery) {
  Request r{.method = "GET", .path = "/", .query = "prefix=J&max-keys=2",
            .headers = {{"Host", "examplebucket.s3.amazonaws.com"}}};
  absl::StatusOr<Signed> s = Sign(r, kS3DocCredentials, S3DocParams());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  r.query = "lifecycle";  // a parameter without '=' signs as "lifecycle="
  s = Sign(r, kS3DocCredentials, S3DocParams());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(S3SigningTest, PathIsSignedAsSentNotEncodedTwice) {
  Request r{.method = "GET", .path = "/bucket/a%20b/c%2Bd/../e",
            .headers = {{"host", "h"}}};
  SigningParams p = S3DocParams();
  absl::StatusOr<Signed> s3 = Sign(r, kS3DocCredentials, p);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->canonical_request.substr(0, s3->canonical_request.find('\n', 4)),
            "GET\n/bucket/a%20b/c%2Bd/../e");
  // Outside S3 the same path is normalised and encoded again.
  p.s3 = false;
  absl::StatusOr<Signed> other = Sign(r, kS3DocCredentials, p);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->canonical_request.substr(0, other->canonical_request.find('\n', 4)),
            "GET\n/bucket/a%2520b/e");
}

TEST(S3SigningTest, UnsignedPayloadIsSignedAndSent) {
  Request r{.method = "PUT", .path = "/b/k", .headers = {{"host", "h"}}, .body = "data"};
  SigningParams p = S3DocParams();
  p.payload_hash = std::string(kUnsignedPayload);
  absl::StatusOr<Signed> s = Sign(r, kS3DocCredentials, p);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->canonical_request.find("\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"), std::string::npos);
  EXPECT_EQ(s->canonical_request.substr(s->canonical_request.rfind('\n') + 1), "UNSIGNED-PAYLOAD");
  // The body's hash would sign differently: the payload hash is part of the signature.
  p.payload_hash.clear();
  absl::StatusOr<Signed> hashed = Sign(r, kS3DocCredentials, p);
  ASSERT_TRUE(hashed.ok());
  EXPECT_EQ(hashed->canonical_request.substr(hashed->canonical_request.rfind('\n') + 1),
            crypto::Sha256Hex("data"));
  EXPECT_NE(hashed->signature, s->signature);
}

TEST(S3SigningTest, RejectsMissingHostCredentialsAndPresetAuthorization) {
  SigningParams p = S3DocParams();
  EXPECT_EQ(Sign({.method = "GET", .path = "/"}, kS3DocCredentials, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  Request r{.method = "GET", .path = "/", .headers = {{"host", "h"}, {"Authorization", "x"}}};
  EXPECT_EQ(Sign(r, kS3DocCredentials, p).status().code(), absl::StatusCode::kInvalidArgument);
  r.headers.pop_back();
  EXPECT_EQ(Sign(r, Credentials{}, p).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Sign(r, kS3DocCredentials, p).ok());
}

TEST(UriEncodeTest, EncodesEverythingButUnreserved) {
  EXPECT_EQ(UriEncode("a b+c/d~e_f.g-h%", false), "a%20b%2Bc%2Fd~e_f.g-h%25");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(UriEncode("\xE1\x88\xB4", false), "%E1%88%B4");
}

}  // namespace
}  // namespace edgevault::net::sigv4
