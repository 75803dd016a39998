#include "src/net/router.h"

#include "gtest/gtest.h"

#include "src/net/raw_request.h"

namespace edgevault::net {
namespace {

namespace http = boost::beast::http;

struct Fixture {
  RawRequest raw;
  Request Make(http::verb method, std::string target) {
    raw = RawRequest(method, target, 11);
    return Request(raw, "rid", "127.0.0.1:1");
  }
};

Response Ok(Request&) { return Response::Json(200, "{}"); }

TEST(RouterTest, ExactAndParamRoutesMatchAndFillParams) {
  Router router;
  router.Get("/v1/config", Ok);
  router.Put("/v1/workspaces/{ws}/configs/{key}", Ok);
  Fixture f;
  const Router::Route* route = nullptr;

  Request a = f.Make(http::verb::get, "/v1/config?x=1");
  ASSERT_EQ(router.Match(a, &route, nullptr), Router::MatchResult::kFound);
  EXPECT_EQ(route->pattern, "/v1/config");
  EXPECT_EQ(a.query(), "x=1");

  Request b = f.Make(http::verb::put, "/v1/workspaces/acme/configs/db.pool%2Dsize");
  ASSERT_EQ(router.Match(b, &route, nullptr), Router::MatchResult::kFound);
  EXPECT_EQ(b.Param("ws"), "acme");
  EXPECT_EQ(b.Param("key"), "db.pool-size");
  EXPECT_EQ(b.route(), "/v1/workspaces/{ws}/configs/{key}");
  EXPECT_EQ(b.Param("missing"), "");
}

TEST(RouterTest, WrongMethodIs405WithAllow) {
  Router router;
  router.Get("/v1/things/{id}", Ok);
  router.Delete("/v1/things/{id}", Ok);
  Fixture f;
  const Router::Route* route = nullptr;
  std::string allow;
  Request r = f.Make(http::verb::post, "/v1/things/7");
  EXPECT_EQ(router.Match(r, &route, &allow), Router::MatchResult::kMethodNotAllowed);
  EXPECT_EQ(allow, "GET, DELETE");
}

TEST(RouterTest, UnknownAndPartialPathsAre404) {
  Router router;
  router.Get("/v1/things/{id}", Ok);
  Fixture f;
  const Router::Route* route = nullptr;
  for (const char* target : {"/v1/things", "/v1/things/", "/v1/things/1/2", "/other", ""}) {
    Request r = f.Make(http::verb::get, target);
    EXPECT_EQ(router.Match(r, &route, nullptr), Router::MatchResult::kNotFound) << target;
  }
}

TEST(RouterTest, HeadFallsBackToGet) {
  Router router;
  router.Get("/healthz", Ok);
  Fixture f;
  const Router::Route* route = nullptr;
  Request r = f.Make(http::verb::head, "/healthz");
  EXPECT_EQ(router.Match(r, &route, nullptr), Router::MatchResult::kFound);
}

TEST(RouterTest, RestParameterTakesTheRemainder) {
  Router router;
  router.Get("/static/{path...}", Ok);
  Fixture f;
  const Router::Route* route = nullptr;
  Request r = f.Make(http::verb::get, "/static/js/app.js");
  ASSERT_EQ(router.Match(r, &route, nullptr), Router::MatchResult::kFound);
  EXPECT_EQ(r.Param("path"), "js/app.js");
}

TEST(RouterTest, QueryParamsAreDecoded) {
  Fixture f;
  Request r = f.Make(http::verb::get, "/x?after=10&name=a+b%21&flag");
  EXPECT_EQ(r.QueryParam("after"), "10");
  EXPECT_EQ(r.QueryParam("name"), "a b!");
  EXPECT_EQ(r.QueryParam("flag"), "");
  EXPECT_EQ(r.QueryParam("none"), std::nullopt);
}

TEST(RouterTest, PercentDecodeKeepsInvalidEscapes) {
  EXPECT_EQ(PercentDecode("%41%zz%4", false), "A%zz%4");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
}

TEST(ResponseTest, ErrorIsJsonWithCodeAndEscapedMessage) {
  Response r = Response::Error(400, "bad_request", "field \"x\" is\nwrong");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"error\":{\"code\":\"bad_request\",\"message\":\"field \\\"x\\\" is\\nwrong\"}}");
}

}  // namespace
}  // namespace edgevault::net
