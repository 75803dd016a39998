#include "src/scan/leak_scan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace edgevault::scan {
namespace {

namespace json = boost::json;

std::vector<std::string> Kinds(const std::vector<LeakFinding>& found) {
  std::vector<std::string> out;
  for (const auto& f : found) out.push_back(f.kind);
  return out;
}

TEST(LeakScanTest, EntropyOfUniformAndRepeatedStrings) {
  EXPECT_DOUBLE_EQ(ShannonEntropy(""), 0);
  EXPECT_DOUBLE_EQ(ShannonEntropy("aaaa"), 0);
  EXPECT_DOUBLE_EQ(ShannonEntropy("abcd"), 2);
  EXPECT_DOUBLE_EQ(ShannonEntropy("0123456789abcdef"), 4);
}

TEST(LeakScanTest, SecretNames) {
  for (const char* n : {"password", "db_password", "DB-PASSWORD", "apiKey", "client_secret", "auth.token",
                        "stripe.secret_key", "signing_key", "bind_credential"}) {
    EXPECT_TRUE(IsSecretName(n)) << n;
  }
  for (const char* n : {"", "host", "key", "public_key", "token_url", "max_tokens", "cache_key", "description"}) {
    EXPECT_FALSE(IsSecretName(n)) << n;
  }
}

TEST(LeakScanTest, ConfigFindingsNameThePointerAndNeverTheValue) {
  const std::string aws = "AKIAIOSFODNN7EXAMPLE";
  json::object body = json::parse(R"({"type": "json", "schema": null, "values": {
      "prod": {"aws": {"id": ")" + aws + R"("}, "db/password": "q7F!xR2m#Lp9vZ"},
      "dev": {"aws": {"id": "none"}}}})").as_object();
  std::vector<LeakFinding> found = LeakScanner::Get().ScanItem("config", "storage", body);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].pointer, "/values/prod/aws/id");
  EXPECT_EQ(found[0].kind, "aws_access_key_id");
  EXPECT_EQ(found[1].pointer, "/values/prod/db~1password");
  EXPECT_EQ(found[1].kind, "high_entropy_secret");
  for (const auto& f : found) {
    std::string shown = json::serialize(FindingJson(f));
    EXPECT_EQ(shown.find(aws), std::string::npos);
    EXPECT_EQ(shown.find("q7F!"), std::string::npos);
  }
}

TEST(LeakScanTest, AStringConfigIsJudgedByItsKey) {
  json::object body = json::parse(R"({"type": "string", "schema": null,
      "values": {"prod": "hR5kLq9mZ2xPw7"}})").as_object();
  EXPECT_EQ(Kinds(LeakScanner::Get().ScanItem("config", "smtp.password", body)),
            std::vector<std::string>{"high_entropy_secret"});
  EXPECT_TRUE(LeakScanner::Get().ScanItem("config", "smtp.host", body).empty());
}

TEST(LeakScanTest, FlagVariationsAndRulesAreScannedButNotTheSalt) {
  json::object body = json::parse(R"({"salt": "Xk9pQ2vL8mR4tW7zY1bN5cH3",
      "variations": [{"value": "off"}, {"value": "ghp_0123456789abcdefghijklmnopqrstuvwxyz"}],
      "environments": {"prod": {"on": true, "fallthrough": {"variation": 0},
        "rules": [{"clauses": [{"attribute": "db", "op": "in",
                    "values": ["postgres://u:Zx8q2Lm9Rt4w@h/db"]}], "variation": 1}]}}})").as_object();
  std::vector<LeakFinding> found = LeakScanner::Get().ScanItem("flag", "token-rollout", body);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].pointer, "/variations/1/value");
  EXPECT_EQ(found[0].kind, "github_token");
  EXPECT_EQ(found[1].pointer, "/environments/prod/rules/0/clauses/0/values/0");
  EXPECT_EQ(found[1].kind, "url_with_password");
}

TEST(LeakScanTest, DeepValuesDoNotExhaustTheStack) {
  json::value v = "AKIAIOSFODNN7EXAMPLE";
  for (int i = 0; i < 5000; ++i) v = json::array{v};
  EXPECT_TRUE(LeakScanner::Get().ScanValue(v).empty());  // beyond the depth bound: not scanned, no crash
}

// The public corpus (tests/data/leak-corpus): every positive found as its kind, no
// negative reported, and the rates published in docs/secret-scanning.md are these.
struct Case {
  std::string id, name, expect;
  json::value value;
};
std::vector<Case> ReadCorpus(const std::string& file) {
  std::ifstream in(std::string(EV_LEAK_CORPUS_DIR) + "/" + file);
  EXPECT_TRUE(in.good()) << file;
  std::vector<Case> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json::object o = json::parse(line).as_object();
    Case c;
    c.id = std::string(o.at("id").as_string());
    c.name = std::string(o.at("name").as_string());
    if (const json::value* e = o.if_contains("expect")) c.expect = std::string(e->as_string());
    c.value = o.at("value");
    out.push_back(std::move(c));
  }
  return out;
}

std::string Rate(int hits, size_t total) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%zu (%.1f%%)", hits, total, total == 0 ? 0.0 : 100.0 * hits / total);
  return buf;
}

TEST(LeakScanCorpusTest, DetectionAndFalsePositiveRatesMatchTheDocs) {
  std::vector<Case> positives = ReadCorpus("positives.ndjson");
  std::vector<Case> negatives = ReadCorpus("negatives.ndjson");
  ASSERT_GE(positives.size(), 30u);
  ASSERT_GE(negatives.size(), 30u);
  int detected = 0, false_positives = 0;
  for (const Case& c : positives) {
    std::vector<std::string> kinds = Kinds(LeakScanner::Get().ScanValue(c.value, "", c.name));
    bool hit = std::find(kinds.begin(), kinds.end(), c.expect) != kinds.end();
    detected += hit;
    EXPECT_TRUE(hit) << "missed " << c.id << " (expected " << c.expect << ")";
  }
  for (const Case& c : negatives) {
    std::vector<LeakFinding> found = LeakScanner::Get().ScanValue(c.value, "", c.name);
    false_positives += !found.empty();
    EXPECT_TRUE(found.empty()) << "false positive " << c.id << ": " << found[0].kind << " at '"
                               << found[0].pointer << "'";
  }
  std::string detection = "Detection rate: " + Rate(detected, positives.size());
  std::string fp = "False-positive rate: " + Rate(false_positives, negatives.size());
  std::printf("%s\n%s\n", detection.c_str(), fp.c_str());
  std::ifstream doc(std::string(EV_DOCS_DIR) + "/secret-scanning.md");
  std::stringstream text;
  text << doc.rdbuf();
  EXPECT_NE(text.str().find(detection), std::string::npos) << "docs/secret-scanning.md must say: " << detection;
  EXPECT_NE(text.str().find(fp), std::string::npos) << "docs/secret-scanning.md must say: " << fp;
}

}  // namespace
}  // namespace edgevault::scan
