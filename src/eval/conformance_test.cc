// Runs the conformance vectors in tests/eval/vectors/: files with "cases" carrying
// "expected_bucket" are bucketing vectors; files with "suites" are evaluation vectors
// (a document + env, and contexts with expected variation/value/reason). The format is
// described in docs/design/flags.md §Conformance vectors.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/eval/evaluator.h"
#include "src/eval/values.h"

namespace edgevault::eval {
namespace {

namespace fs = std::filesystem;

boost::json::value LoadJson(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text.str(), ec);
  EXPECT_FALSE(ec) << path << ": " << ec.message();
  return v;
}

std::vector<fs::path> VectorFiles() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(EV_EVAL_VECTORS_DIR)) {
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

double Number(const boost::json::value& v) { return NumberValue(v).value_or(-1); }

TEST(ConformanceTest, VectorsArePresent) {
  std::vector<fs::path> files = VectorFiles();
  auto has = [&](std::string_view name) {
    return std::any_of(files.begin(), files.end(),
                       [&](const fs::path& p) { return p.filename() == name; });
  };
  EXPECT_TRUE(has("bucketing.json"));
  EXPECT_TRUE(has("evaluation.json"));
  EXPECT_TRUE(has("ld_rollouts.json"));
}

TEST(ConformanceTest, Bucketing) {
  int checked = 0;
  for (const fs::path& file : VectorFiles()) {
    boost::json::value doc = LoadJson(file);
    const boost::json::array* cases = doc.is_object() && doc.as_object().contains("cases")
                                          ? doc.as_object().at("cases").if_array()
                                          : nullptr;
    if (cases == nullptr) continue;
    double file_tolerance = Number(doc.as_object().at("tolerance"));
    for (const boost::json::value& cv : *cases) {
      const boost::json::object& c = cv.as_object();
      std::string scratch;
      std::optional<std::string_view> value = BucketableString(c.at("value"), &scratch);
      std::optional<int64_t> seed;
      if (c.contains("seed")) seed = IntegerValue(c.at("seed"));
      double got = value ? Bucket(c.at("flag_key").as_string(), c.at("salt").as_string(), *value,
                                  seed)
                         : 0.0;
      double tolerance = c.contains("tolerance") ? Number(c.at("tolerance")) : file_tolerance;
      EXPECT_NEAR(got, Number(c.at("expected_bucket")), tolerance)
          << file.filename() << ": " << boost::json::serialize(cv);
      ++checked;
    }
  }
  EXPECT_GE(checked, 16);
}

TEST(ConformanceTest, Evaluation) {
  int checked = 0;
  for (const fs::path& file : VectorFiles()) {
    boost::json::value doc = LoadJson(file);
    const boost::json::array* suites = doc.is_object() && doc.as_object().contains("suites")
                                           ? doc.as_object().at("suites").if_array()
                                           : nullptr;
    if (suites == nullptr) continue;
    for (const boost::json::value& sv : *suites) {
      const boost::json::object& suite = sv.as_object();
      std::string suite_name(suite.at("name").as_string());
      absl::StatusOr<std::shared_ptr<const FlagSet>> set =
          FlagSet::Build(suite.at("flags").as_object(), suite.at("segments").as_object(),
                         suite.at("env").as_string());
      ASSERT_TRUE(set.ok()) << file.filename() << " / " << suite_name << ": " << set.status();
      // Every flag in a vector document also passes write-time validation.
      for (const auto& flag : suite.at("flags").as_object()) {
        EXPECT_TRUE(ValidateFlag(flag.value().as_object()).ok())
            << suite_name << " / " << flag.key() << ": " << ValidateFlag(flag.value().as_object());
      }
      for (const boost::json::value& cv : suite.at("cases").as_array()) {
        const boost::json::object& c = cv.as_object();
        std::string where = std::string(file.filename()) + " / " + suite_name + " / " +
                            std::string(c.at("name").as_string());
        EvalResult r = Evaluate(**set, c.at("flag").as_string(),
                                Context(c.at("context").as_object()));
        const boost::json::object& want = c.at("expected").as_object();
        if (const boost::json::value* v = want.if_contains("variation")) {
          EXPECT_EQ(r.variation, *IntegerValue(*v)) << where;
        }
        if (const boost::json::value* v = want.if_contains("value")) {
          if (v->is_null()) {
            EXPECT_EQ(r.value, nullptr) << where;
          } else {
            ASSERT_NE(r.value, nullptr) << where;
            EXPECT_TRUE(JsonEqual(*r.value, *v))
                << where << ": got " << boost::json::serialize(*r.value);
          }
        }
        if (const boost::json::value* v = want.if_contains("reason")) {
          EXPECT_EQ(r.reason, std::string_view(v->as_string())) << where << " " << r.error_message;
        }
        if (const boost::json::value* v = want.if_contains("rule_index")) {
          EXPECT_EQ(r.rule_index, *IntegerValue(*v)) << where;
        }
        if (const boost::json::value* v = want.if_contains("rule_id")) {
          EXPECT_EQ(r.rule_id, std::string_view(v->as_string())) << where;
        }
        if (const boost::json::value* v = want.if_contains("error_code")) {
          EXPECT_EQ(r.error_code, std::string_view(v->as_string())) << where;
        }
        if (const boost::json::value* v = want.if_contains("failed_prerequisite")) {
          EXPECT_EQ(r.failed_prerequisite, std::string_view(v->as_string())) << where;
        }
        if (const boost::json::value* v = want.if_contains("in_experiment")) {
          EXPECT_EQ(r.in_experiment, v->as_bool()) << where;
        }
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 30);
}

}  // namespace
}  // namespace edgevault::eval
