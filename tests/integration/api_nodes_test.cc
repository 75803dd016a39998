// Two api nodes on one PostgreSQL workspace store (docs/deploy.md): `up`'s api and a second
// edgevault-api process with its own data directory, sharing the database, the keys and
// auth. An event stream (GET .../events) on either node sees every revision, whichever node
// wrote it, in order and once (LISTEN/NOTIFY, docs/design/postgres-workspace-store.md);
// when the listening connections are cut, the nodes reconnect and catch up by head, so
// a revision written meanwhile still reaches both streams. Both nodes' webhook dispatchers
// share a webhook through a lease: its receiver gets each event once, in order.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/http_client.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "tests/integration/harness.h"
#include "tests/integration/webhook_receiver.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int kDeadlineMs = 30000;  // only bounds how long a failure waits

// An open GET .../events stream and what it has received so far.
class EventStream {
 public:
  EventStream(int port, const std::string& path, const std::string& bearer) {
    fd_ = testing::ConnectLoopback(port);
    if (fd_ < 0) return;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bearer + "\r\n\r\n";
    ::send(fd_, req.data(), req.size(), 0);
    testing::PollUntil([&] { return Read().find(": connected") != std::string::npos; }, kDeadlineMs);
  }
  ~EventStream() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return buffer_.find(": connected") != std::string::npos; }
  // The ids of the revision events received after revision `after`, in order. A node may
  // learn of a revision committed through the other node just before the stream connected
  // only after it did, and then streams it (the CI run of stop 31 saw the warm-up write).
  std::vector<int64_t> Ids(int64_t after = 0) {
    Read();
    std::vector<int64_t> ids;
    for (size_t at = buffer_.find("\nid: "); at != std::string::npos; at = buffer_.find("\nid: ", at + 1)) {
      int64_t id = std::atoll(buffer_.c_str() + at + 5);
      if (id > after) ids.push_back(id);
    }
    return ids;
  }
  // Waits until revision `id` arrived.
  bool WaitFor(int64_t id) {
    return testing::PollUntil([&] {
      std::vector<int64_t> ids = Ids();
      return !ids.empty() && ids.back() >= id;
    }, kDeadlineMs);
  }

 private:
  const std::string& Read() {
    char buf[8192];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      buffer_.append(buf, static_cast<size_t>(n));
    }
    return buffer_;
  }
  int fd_ = -1;
  std::string buffer_;
};

// The second api node: its own data directory, the installation's keys, the same
// database and audit queue, up's auth and delivery. *port is its port, 0 when it did not
// start.
testing::Proc SpawnSecondApi(EdgeVaultUp& up, const std::string& url, int* port) {
  const std::string data = up.data_dir();
  const std::string second_dir = data + "/../api-2";
  std::error_code ec;
  std::filesystem::create_directories(second_dir, ec);
  testing::Proc second = testing::Spawn(
      {testing::BinDir() + "/edgevault-api", "--config", data + "/edgevault.toml",
       "--set", "data_dir=" + second_dir, "--set", "keys.dir=" + data + "/keys",
       "--set", "keys.trust_dir=" + data + "/trust", "--set", "node_id=api-2",
       "--set", "services.api.port=0",
       "--set", base::StrCat("services.auth.port=", up.port("auth")),
       "--set", base::StrCat("services.delivery.port=", up.port("delivery")),
       "--set", base::StrCat("services.console.port=", up.port("console")),
       "--set", "api.workspace_db_url=" + url, "--set", "audit.queue_url=" + url},
      second_dir + "/../api-2.out");
  *port = 0;
  if (second.pid > 0) {
    testing::PollUntil([&] { return (*port = testing::ReadPortFile(second_dir, "api")) > 0; }, kDeadlineMs);
  }
  return second;
}

// `edgevault up` with the workspaces and the audit queue in the database at `url`.
std::unique_ptr<EdgeVaultUp> StartOn(const std::string& url) {
  return EdgeVaultUp::Start({"--set", "api.workspace_db_url=" + url, "--set", "audit.queue_url=" + url});
}

// Workspace "shop" with environment "prod", through up's api.
void CreateShop(EdgeVaultUp& up) {
  ASSERT_EQ(up.Json("api", "POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}, up.admin_key())
                .status,
            201);
  ASSERT_EQ(up.Json("api", "POST", "/v1/workspaces/shop/environments",
                    json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}}, up.admin_key())
                .status,
            201);
}

struct Put {
  int status = -1;        // -1: no answer
  int64_t revision = -1;  // workspace_revision of a 200
};
// PUT shop's string config `key` = `value` on the api node at `port`, as the admin key.
Put PutConfig(EdgeVaultUp& up, int port, const std::string& key, const std::string& value) {
  auto client = net::HttpClient::Create({});
  if (!client.ok()) return {};
  net::ClientRequest req;
  req.method = "PUT";
  req.target = "/v1/workspaces/shop/configs/" + key;
  req.body = json::serialize(json::object{{"type", "string"}, {"values", {{"prod", value}}}, {"reason", value}});
  req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + up.admin_key()}};
  auto r = (*client)->Do("127.0.0.1", static_cast<uint16_t>(port), req);
  if (!r.ok()) return {};
  Put out{r->status, -1};
  boost::system::error_code ec;
  json::value body = json::parse(r->body, ec);
  if (!ec && body.is_object() && body.as_object().contains("workspace_revision")) {
    out.revision = body.at("workspace_revision").to_number<int64_t>();
  }
  return out;
}

TEST(ApiNodesTest, EventStreamsOnEveryNodeSeeEveryRevisionInOrder) {
  const std::string url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  std::unique_ptr<EdgeVaultUp> up = StartOn(url);
  ASSERT_NE(up, nullptr) << "edgevault up did not start with the workspaces in PostgreSQL";
  const std::string ws = "/v1/workspaces/shop";
  CreateShop(*up);

  int second_port = 0;
  testing::Proc second = SpawnSecondApi(*up, url, &second_port);
  testing::KillOnExit second_guard{&second.pid};
  ASSERT_GT(second_port, 0) << testing::ReadFile(second.out_file);
  auto client = net::HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  const int ports[2] = {up->port("api"), second_port};
  auto put = [&](int node, const std::string& key, const std::string& reason) -> int {
    return PutConfig(*up, ports[node], key, reason).status;
  };
  auto head = [&]() -> int64_t {
    auto pool = storage::PgPool::Create({.connect = {.url = url}, .max_connections = 1});
    if (!pool.ok()) return -1;
    auto r = (*pool)->Query("SELECT COALESCE(MAX(seq), 0) FROM ws_revisions");
    return r.ok() ? r->Int64(0, 0) : -1;
  };
  // Wait until the second node answers (it serves once started).
  ASSERT_TRUE(testing::PollUntil([&] { return put(1, "warmup", "warm up") == 200; }, kDeadlineMs))
      << testing::ReadFile(second.out_file);

  EventStream on_first(ports[0], ws + "/events", up->admin_key());
  EventStream on_second(ports[1], ws + "/events", up->admin_key());
  ASSERT_TRUE(on_first.connected());
  ASSERT_TRUE(on_second.connected());
  const int64_t start = head();
  ASSERT_GT(start, 0);

  // Writes alternate between the nodes (and between keys): each stream gets them all,
  // in order, once.
  constexpr int kWrites = 24;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_EQ(put(i % 2, base::StrCat("k", i % 3), base::StrCat("storm ", i)), 200) << i;
  }
  const int64_t end = head();
  ASSERT_EQ(end, start + kWrites);
  for (EventStream* s : {&on_first, &on_second}) {
    ASSERT_TRUE(s->WaitFor(end)) << (s == &on_first ? "first" : "second") << " node's stream";
    std::vector<int64_t> want;
    for (int64_t id = start + 1; id <= end; ++id) want.push_back(id);
    EXPECT_EQ(s->Ids(start), want) << (s == &on_first ? "first" : "second") << " node's stream";
  }

  // Cut both nodes' listening connections; a revision written right then still reaches
  // both streams (notified after the reconnection, or found by comparing heads).
  auto pool = storage::PgPool::Create({.connect = {.url = url}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto cut = (*pool)->Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'edgevault-revision-listener'");
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(cut->Rows(), 2);
  ASSERT_EQ(put(1, "after", "after the cut"), 200);
  ASSERT_EQ(put(0, "after", "after the cut again"), 200);
  for (EventStream* s : {&on_first, &on_second}) {
    ASSERT_TRUE(s->WaitFor(end + 2)) << (s == &on_first ? "first" : "second") << " node's stream";
    std::vector<int64_t> ids = s->Ids(start);
    ASSERT_EQ(ids.size(), static_cast<size_t>(kWrites + 2));
    EXPECT_EQ(ids[kWrites], end + 1);
    EXPECT_EQ(ids[kWrites + 1], end + 2);
  }
  // Both listeners are back.
  EXPECT_TRUE(testing::PollUntil([&] {
    auto r = (*pool)->Query("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = "
                            "'edgevault-revision-listener'");
    return r.ok() && r->Int64(0, 0) == 2;
  }, kDeadlineMs));

  // An MCP session on the second node that listed its resources hears of an environment
  // and of a workspace created through the first node (notifications/resources/list_changed,
  // docs/design/mcp.md §1c).
  auto mcp = [&](const json::object& message, const std::string& session) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/mcp";
    req.body = json::serialize(message);
    req.headers = {{"Content-Type", "application/json"},
                   {"Accept", "application/json, text/event-stream"},
                   {"Authorization", "Bearer " + up->admin_key()}};
    if (!session.empty()) req.headers.emplace_back("Mcp-Session-Id", session);
    return (*client)->Do("127.0.0.1", static_cast<uint16_t>(ports[1]), req);
  };
  auto init = mcp(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                               {"params", {{"protocolVersion", "2025-06-18"},
                                           {"capabilities", json::object()},
                                           {"clientInfo", {{"name", "nodes-agent"}, {"version", "1.0"}}}}}},
                  "");
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_EQ(init->status, 200) << init->body;
  const std::string session(init->Header("Mcp-Session-Id").value_or(""));
  ASSERT_FALSE(session.empty());
  auto listed = mcp(json::object{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "resources/list"}}, session);
  ASSERT_TRUE(listed.ok() && listed->status == 200) << (listed.ok() ? listed->body : listed.status().ToString());
  ASSERT_NE(listed->body.find("edgevault://shop/"), std::string::npos) << listed->body;
  int fd = testing::ConnectLoopback(ports[1]);
  ASSERT_GE(fd, 0);
  const std::string get = base::StrCat("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ",
                                       up->admin_key(), "\r\nMcp-Session-Id: ", session, "\r\n\r\n");
  ASSERT_EQ(::send(fd, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  std::string heard;
  testing::ReadUntil(fd, heard, ": edgevault mcp session stream");
  ASSERT_NE(heard.find("text/event-stream"), std::string::npos) << heard;
  auto changes = [&] {
    size_t n = 0;
    for (size_t at = heard.find("list_changed"); at != std::string::npos; at = heard.find("list_changed", at + 1)) ++n;
    return n;
  };
  ASSERT_EQ(changes(), 0u);
  ASSERT_EQ(up->Json("api", "POST", ws + "/environments",
                     json::object{{"key", "staging"}, {"name", "Staging"}, {"reason", "more"}}, up->admin_key())
                .status,
            201);
  testing::ReadUntil(fd, heard, "notifications/resources/list_changed");
  EXPECT_EQ(changes(), 1u) << "an environment created through the first node: " << heard;
  ASSERT_EQ(up->Json("api", "POST", "/v1/workspaces", json::object{{"key", "blog"}, {"name", "Blog"}}, up->admin_key())
                .status,
            201);
  ASSERT_TRUE(testing::PollUntil([&] {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) heard.append(buf, static_cast<size_t>(n));
    return changes() >= 2;
  }, kDeadlineMs)) << "a workspace created through the first node: " << heard;
  ::close(fd);

  ::kill(second.pid, SIGTERM);
  EXPECT_EQ(testing::WaitExit(second.pid, 20000), 0) << testing::ReadFile(second.out_file);
  second.pid = -1;
  EdgeVaultUp::Stopped stopped = up->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
}

// Both nodes run a webhook dispatcher over the same store; a webhook's events are sent by
// one of them at a time (a lease in the store, docs/design/webhooks.md), so a receiver gets
// each event once and in order, whichever node committed it. Before, each node sent what
// it found after the stored cursor: with a slow receiver, the same events twice, and out
// of order.
TEST(ApiNodesTest, OneNodeAtATimeSendsAWebhooksEventsOnceAndInOrder) {
  const std::string url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  std::unique_ptr<EdgeVaultUp> up = StartOn(url);
  ASSERT_NE(up, nullptr) << "edgevault up did not start with the workspaces in PostgreSQL";
  CreateShop(*up);
  testing::Receiver receiver;
  ASSERT_GT(receiver.port(), 0);
  receiver.SetDelayMs(20);  // slow enough that both nodes would be sending at once
  receiver.Listen();
  HttpReply hook = up->Json("api", "POST", "/v1/workspaces/shop/webhooks",
                            json::object{{"url", receiver.Url()}, {"events", json::array{"revision.written"}}},
                            up->admin_key());
  ASSERT_EQ(hook.status, 201) << hook.body;

  int second_port = 0;
  testing::Proc second = SpawnSecondApi(*up, url, &second_port);
  testing::KillOnExit second_guard{&second.pid};
  ASSERT_GT(second_port, 0) << testing::ReadFile(second.out_file);
  const int ports[2] = {up->port("api"), second_port};
  std::set<int64_t> written;
  Put warm;
  ASSERT_TRUE(testing::PollUntil([&] { return (warm = PutConfig(*up, ports[1], "warmup", "warm up")).status == 200; },
                                 kDeadlineMs))
      << testing::ReadFile(second.out_file);
  written.insert(warm.revision);
  constexpr int kWrites = 30;
  for (int i = 0; i < kWrites; ++i) {
    Put p = PutConfig(*up, ports[i % 2], base::StrCat("k", i % 4), base::StrCat("v", i));
    ASSERT_EQ(p.status, 200) << i;
    written.insert(p.revision);
  }
  const int64_t last = *written.rbegin();
  auto revisions = [&] {
    std::vector<int64_t> out;
    for (const testing::Receiver::Request& r : receiver.Delivered()) {
      boost::system::error_code ec;
      json::value v = json::parse(r.body, ec);
      out.push_back(!ec && v.is_object() ? v.at("data").at("first_revision").to_number<int64_t>() : -1);
    }
    return out;
  };
  ASSERT_TRUE(testing::PollUntil([&] {
    std::vector<int64_t> got = revisions();
    return std::find(got.begin(), got.end(), last) != got.end();
  }, kDeadlineMs));
  // A second node's copy of an event would come right behind: one more event, sent
  // after the others, marks the end of what either node had to send.
  Put marker = PutConfig(*up, ports[0], "marker", "end");
  ASSERT_EQ(marker.status, 200);
  written.insert(marker.revision);
  ASSERT_TRUE(testing::PollUntil([&] {
    std::vector<int64_t> got = revisions();
    return std::find(got.begin(), got.end(), marker.revision) != got.end();
  }, kDeadlineMs));
  std::vector<int64_t> got = revisions();
  EXPECT_EQ(got, std::vector<int64_t>(written.begin(), written.end()))
      << "each revision once, in order: " << ::testing::PrintToString(got);
  std::set<std::string> ids;
  for (const testing::Receiver::Request& r : receiver.Delivered()) {
    EXPECT_TRUE(ids.insert(r.Header("X-EdgeVault-Event-Id")).second) << r.body;
  }

  ::kill(second.pid, SIGTERM);
  EXPECT_EQ(testing::WaitExit(second.pid, 20000), 0) << testing::ReadFile(second.out_file);
  second.pid = -1;
}

}  // namespace
}  // namespace edgevault
