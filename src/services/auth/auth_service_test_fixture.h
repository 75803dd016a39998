#pragma once
// The fixture of the auth service tests: the service over real HTTP on loopback, with a
// real SQLite control DB, real Argon2id, real Ed25519 — and a simulated clock, so expiry
// and throttling windows are tested without waiting. Test-only; not thread-safe except
// Call()/Post(), which the tests use from several threads.

#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "src/crypto/jwt_keys.h"
#include "src/net/http_client.h"
#include "src/net/http_server.h"
#include "src/net/signing.h"
#include "src/services/auth/auth_service.h"
#include "src/services/auth/totp_seal.h"
#include "src/storage/sqlite/control_store_sqlite.h"

namespace edgevault::auth {

namespace json = boost::json;

struct Reply {
  int status = 0;
  json::value body;
  std::string raw;
  std::string retry_after;
};

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ev-auth-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "keys" / "jwt-signing");
    std::filesystem::permissions(dir_ / "keys" / "jwt-signing", std::filesystem::perms::owner_all);
    ASSERT_TRUE(crypto::AddSigningKey(&env_, keys_dir()).ok());
    // The seal key as auth's main.cc makes it: keys/auth/totp-seal.key.
    auto sealer = TotpSealer::LoadOrCreate(&env_, (dir_ / "keys" / "auth").string());
    ASSERT_TRUE(sealer.ok()) << sealer.status();
    sealer_ = *std::move(sealer);
    auto store = storage::OpenSqliteControlStore(
        {.path = (dir_ / "control.db").string(), .env = &env_, .totp_sealer = sealer_.get()});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    Start();
  }

  void Start(ThrottleOptions throttle = {3, 6, absl::Minutes(15), 1000},
             crypto::PasswordParams password = crypto::PasswordParams::ForTests(),
             int blocking_threads = 2) {
    server_.reset();
    service_.reset();
    AuthOptions o;
    o.store = store_.get();
    o.env = &env_;
    o.signing_keys_dir = keys_dir();
    o.password = password;
    o.origins = {"http://localhost:9999"};
    o.throttle = throttle;
    o.blocking_threads = blocking_threads;
    o.correlation_key = std::string(32, 'k');
    if (configure_) configure_(o);
    auto service = AuthService::Create(o);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    net::Router router;
    service_->Install(router);
    net::ServerOptions so;
    so.service = "auth";
    so.io_threads = 1;
    so.access_log = false;
    so.verifier = &verifier_;
    auto server = net::HttpServer::Create(so, std::move(router));
    ASSERT_TRUE(server.ok());
    server_ = *std::move(server);
    ASSERT_TRUE(server_->Start().ok());
    if (!client_) {
      auto client = net::HttpClient::Create({});
      ASSERT_TRUE(client.ok());
      client_ = *std::move(client);
    }
  }

  void TearDown() override {
    service_.reset();
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string keys_dir() const { return (dir_ / "keys" / "jwt-signing").string(); }

  Reply Call(std::string method, std::string target, std::string body = "",
             std::string bearer = "",
             std::vector<std::pair<std::string, std::string>> headers = {},
             net::HttpClient* client = nullptr) {
    net::ClientRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    if (!req.body.empty()) req.headers.push_back({"Content-Type", "application/json"});
    if (!bearer.empty()) req.headers.push_back({"Authorization", "Bearer " + bearer});
    auto resp = (client != nullptr ? client : client_.get())->Do("127.0.0.1", server_->port(), req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    Reply r;
    if (!resp.ok()) return r;
    r.status = resp->status;
    r.raw = resp->body;
    r.retry_after = std::string(resp->Header("Retry-After").value_or(""));
    boost::system::error_code ec;
    r.body = json::parse(resp->body, ec);
    return r;
  }
  Reply Post(std::string target, const json::value& body, std::string bearer = "") {
    return Call("POST", std::move(target), json::serialize(body), std::move(bearer));
  }
  // A client that opens a new connection (a new source port) for every request.
  std::unique_ptr<net::HttpClient> FreshConnectionClient() {
    net::HttpClientOptions o;
    o.max_idle_per_host = 0;
    auto c = net::HttpClient::Create(o);
    EXPECT_TRUE(c.ok());
    return c.ok() ? *std::move(c) : nullptr;
  }

  // Bootstraps and returns (email, one-time password, api key).
  AuthService::BootstrapResult Boot() {
    auto r = service_->Bootstrap("Owner@Example.com",
                                 [](const AuthService::BootstrapResult&) { return absl::OkStatus(); });
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }

  // A logged-in owner with a real password; returns the session token.
  std::string OwnerSession() {
    auto boot = Boot();
    Reply login = Post("/v1/login", {{"email", boot.email}, {"password", boot.password}});
    EXPECT_EQ(login.status, 200) << login.raw;
    std::string s(login.body.at("session").as_string());
    Reply changed = Post("/v1/password",
                         {{"current_password", boot.password}, {"new_password", kOwnerPassword}}, s);
    EXPECT_EQ(changed.status, 200) << changed.raw;
    return std::string(changed.body.at("session").as_string());
  }

  std::string Login(const std::string& email, const std::string& password) {
    Reply r = Post("/v1/login", {{"email", email}, {"password", password}});
    EXPECT_EQ(r.status, 200) << r.raw;
    if (r.status != 200) return "";
    return std::string(r.body.at("session").as_string());
  }

  // The user id of the member with `email`, as the org's member list shows it ("" when
  // not a member).
  std::string MemberId(const std::string& session, const std::string& email) {
    Reply members = Call("GET", "/v1/members", "", session);
    const json::value* list = members.body.is_object() ? members.body.as_object().if_contains("members") : nullptr;
    if (list == nullptr || !list->is_array()) return "";
    for (const auto& m : list->as_array()) {
      const json::value* e = m.is_object() ? m.as_object().if_contains("email") : nullptr;
      const json::value* id = m.is_object() ? m.as_object().if_contains("user_id") : nullptr;
      if (e != nullptr && id != nullptr && *e == json::value(email) && id->is_string()) {
        return std::string(id->as_string());
      }
    }
    return "";
  }

  static constexpr const char* kOwnerPassword = "correct horse battery staple";

  // Applied to the options by every Start() after the defaults (set before calling Start).
  std::function<void(AuthOptions&)> configure_;

  std::filesystem::path dir_;
  base::SimulatedEnv env_{absl::FromUnixSeconds(1'800'000'000), 7};
  static net::ServiceCredential Credential(std::string_view service, char seed) {
    return *net::ServiceCredential::FromKey(service,
                                            *crypto::Ed25519PrivateKey::FromRaw(std::string(32, seed)));
  }
  static net::ServiceTrust Trusting(std::initializer_list<const net::ServiceCredential*> credentials) {
    net::ServiceTrust t;
    for (const net::ServiceCredential* c : credentials) t.Add(c->service(), c->key().PublicKey());
    return t;
  }
  // The api's credential (the caller auth's internal routes list) and delivery's (which
  // they do not list); auth trusts both, as on a real install.
  net::ServiceCredential api_credential_ = Credential("api", 'a');
  net::ServiceCredential delivery_credential_ = Credential("delivery", 'd');
  net::SignatureVerifier verifier_{"auth", Trusting({&api_credential_, &delivery_credential_})};
  std::unique_ptr<TotpSealer> sealer_;  // outlives store_
  std::unique_ptr<storage::ControlStore> store_;
  std::unique_ptr<AuthService> service_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace edgevault::auth
