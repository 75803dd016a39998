#pragma once
// A test suite with one `edgevault up` for all its tests and four users to review change
// requests with (docs/design/promotions.md): a developer who authors, two admins who
// approve, a viewer who may not. Used by the promotion and scheduled-apply tests.

#include <string>
#include <utility>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace edgevault::testing {

class ReviewersSuite : public ::testing::Test {
 protected:
  // Starts the services and makes the users; their emails end in "-<tag>@example.com" so
  // two suites never share one.
  static void StartWithReviewers(const std::string& tag) {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    author_ = up_->TokenForNewUser("author-" + tag + "@example.com", "developer");
    admin1_ = up_->TokenForNewUser("admin1-" + tag + "@example.com", "admin");
    admin2_ = up_->TokenForNewUser("admin2-" + tag + "@example.com", "admin");
    viewer_ = up_->TokenForNewUser("viewer-" + tag + "@example.com", "viewer");
    ASSERT_FALSE(author_.empty() || admin1_.empty() || admin2_.empty() || viewer_.empty());
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }

  HttpReply Api(const std::string& token, std::string method, std::string target,
                const boost::json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", token);
    return up_->Json("api", std::move(method), std::move(target), body, token);
  }
  HttpReply Admin(std::string method, std::string target, const boost::json::value& body = nullptr) {
    return Api(up_->admin_key(), std::move(method), std::move(target), body);
  }

  inline static EdgeVaultUp* up_ = nullptr;
  inline static std::string author_, admin1_, admin2_, viewer_;
};

}  // namespace edgevault::testing
