#pragma once
// The bench flag sets, shared by bench_eval (the engine alone) and bench_sdk (the C++ SDK's
// getters on the same flags and contexts), so their numbers compare: a flag with 10 rules
// x 3 clauses then a rollout, one with 1000 individual targets, one with 20 rules mixing
// in / starts_with / gte / semver_gt / matches, and a plain on/off flag.

#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "src/base/strings.h"

namespace edgevault::bench {

inline boost::json::value Json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) std::abort();
  return v;
}

inline boost::json::value RulesFlag() {
  std::string rules;
  for (int i = 0; i < 10; ++i) {
    if (i > 0) rules += ",";
    base::StrAppend(&rules, R"({"id":"rule-)", i, R"(","clauses":[
        {"attribute":"country","op":"in","values":["NO","SE","DK","FI","IS","C)", i, R"("]},
        {"attribute":"email","op":"ends_with","values":["@example)", i, R"(.com"]},
        {"attribute":"app.version","op":"semver_gt","values":["2.)", i, R"(.0"]}],
      "variation":1})");
  }
  return Json(base::StrCat(
      R"({"variations":[{"value":"control"},{"value":"treatment"},{"value":"holdout"}],
          "environments":{"prod":{"on":true,"off_variation":0,"rules":[)",
      rules, R"(],"fallthrough":{"rollout":[{"variation":0,"weight":45000},
          {"variation":1,"weight":45000},{"variation":2,"weight":10000}]}}}})"));
}

inline boost::json::value TargetsFlag() {
  std::string keys;
  for (int i = 0; i < 1000; ++i) base::StrAppend(&keys, i > 0 ? "," : "", "\"user-", i, "\"");
  return Json(base::StrCat(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"targets":[{"variation":1,"values":[)",
                           keys, R"(]}],"fallthrough":{"variation":0}}}})"));
}

// 20 rules of 3 clauses each. The first two clauses of every rule hold for the benches'
// contexts (so each rule costs more than one lookup); the third names one rule's user: an
// `in` for even rules, an anchored regex for odd ones (rule 19 is a regex).
inline boost::json::value TwentyRulesFlag() {
  std::string rules;
  for (int i = 0; i < 20; ++i) {
    if (i > 0) rules += ",";
    std::string first;
    switch (i % 3) {
      case 0:
        first = R"({"attribute":"country","op":"in","values":["NO","SE","DK","FI","DE"]})";
        break;
      case 1:
        first = R"({"attribute":"plan","op":"starts_with","values":["free","pro"]})";
        break;
      default:
        first = R"({"attribute":"seats","op":"gte","values":[10]})";
        break;
    }
    std::string second = base::StrCat(R"({"attribute":"app.version","op":"semver_gt","values":["2.)", i, R"(.0"]})");
    std::string third =
        i % 2 == 0
            ? base::StrCat(R"({"attribute":"email","op":"in","values":["user-)", i, R"(@corp.example"]})")
            : base::StrCat(R"({"attribute":"email","op":"matches","values":["^user-)", i, R"(@corp\\.example$"]})");
    base::StrAppend(&rules, R"({"id":"rule-)", i, R"(","clauses":[)", first, ",", second, ",", third,
                    R"(],"variation":1})");
  }
  return Json(base::StrCat(
      R"({"variations":[{"value":"control"},{"value":"treatment"}],
          "environments":{"prod":{"on":true,"off_variation":0,"rules":[)",
      rules, R"(],"fallthrough":{"variation":0}}}})"));
}

inline boost::json::value OnOffFlag() {
  return Json(R"({"variations":[{"value":false},{"value":true}],
      "environments":{"prod":{"on":true,"fallthrough":{"variation":1}}}})");
}

// The flag of bench_delivery's document (bench/delivery/delivery_bench.cc), which
// BM_OfrepEvaluateFlag evaluates for {"targetingKey":"user-1","plan":"pro"}.
inline boost::json::value NewCheckoutFlag() {
  return Json(R"({"variations":[{"value":false,"name":"off"},{"value":true,"name":"on"}],
      "environments":{"prod":{"on":true,"rules":[{"id":"pro","clauses":[
      {"attribute":"plan","op":"in","values":["pro","enterprise"]}],"variation":1}],
      "fallthrough":{"variation":0}}}})");
}

}  // namespace edgevault::bench
