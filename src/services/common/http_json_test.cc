#include "src/services/common/http_json.h"

#include <gtest/gtest.h>

#include "src/net/raw_request.h"

namespace edgevault::services {
namespace {

absl::StatusOr<boost::json::object> Parse(const std::string& body) {
  net::RawRequest raw;
  raw.body() = body;
  net::Request req(raw, "id", "127.0.0.1:1");
  return ParseJsonBody(req);
}

TEST(HttpJsonTest, ParseJsonBodyAcceptsAnObject) {
  absl::StatusOr<boost::json::object> o = Parse(R"({"a":[1,2.5,-0.0,1e308],"b":{"c":null}})");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->size(), 2u);
}

TEST(HttpJsonTest, ParseJsonBodyRefusesWhatIsNotAnObject) {
  for (const char* body : {"", "[]", "1", "{", "{\"a\":}"}) {
    absl::StatusOr<boost::json::object> o = Parse(body);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(HttpStatusFor(o.status().code()), 400) << body;
  }
}

// Regression (fuzz/corpus/api_request_body_fuzz/regress-nan-number): Boost.JSON parses
// 1e400 as Infinity and 0e4009 as NaN, which the api stored and serialised as
// `Infinity` / `NaN` — text no JSON parser reads back, so a config value 1e400 would
// have broken its environment's resolved document for delivery.
TEST(HttpJsonTest, ParseJsonBodyRefusesNonFiniteNumbers) {
  for (const char* body : {R"({"v":1e400})", R"({"v":-1e400})", R"({"v":0e4009})",
                           R"({"values":{"prod":[1,{"x":-0e999}]}})"}) {
    absl::StatusOr<boost::json::object> o = Parse(body);
    ASSERT_FALSE(o.ok()) << body << " parsed as " << boost::json::serialize(*o);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(ErrorResponse(o.status()).status, 400);
  }
}

}  // namespace
}  // namespace edgevault::services
