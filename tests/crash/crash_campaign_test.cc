// The crash campaign (docs/testing.md): while writers store configs, flags and secrets
// through the api, random services of a real `edgevault up` are killed with SIGKILL and
// restarted by `up`. Afterwards:
//   - every acknowledged write reads back (or a later write of the same key, whose answer
//     may have been lost to a kill, replaced it);
//   - the workspace's revisions are gapless (1..head) and the revision each acknowledged
//     write answered with names its item;
//   - delivery converges: for every environment it serves the api's current resolved
//     document (same version and ETag) to that environment's SDK key;
//   - `edgevault audit verify` passes, no audit event id appears twice in the warehouse,
//     and every acknowledged write has exactly one audit event;
//   - no service exited but by our SIGKILLs (a crash or a failed restart shows up in
//     `up`'s log as another exit).
// Short by default (`make test`); EDGEVAULT_CRASH_KILLS=N for a longer run,
// EDGEVAULT_CRASH_SEED=S to replay a victim order (tests/crash/campaign.sh sets both).
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;
using testing::PollUntil;

constexpr int kWriters = 3;
constexpr const char* kKinds[] = {"config", "flag", "secret"};
constexpr const char* kEnvironments[] = {"dev", "staging", "prod"};
constexpr const char* kServices[] = {"console", "api", "delivery", "auth", "audit"};
// Each phase waits for progress, never for a time; this only bounds a failing run.
constexpr int kPhaseLimitMs = 60000;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// One write a writer sent: its outcome is known when acknowledged (200), unknown otherwise
// (a kill may have cut the answer off after the commit).
struct Attempt {
  std::string request_id;
  int64_t value = 0;
  bool acknowledged = false;
  // When acknowledged: the body's "revision" (the one that last changed the item) and the
  // ETag (the workspace head). They differ when the write was a no-op: the HTTP client
  // resends a PUT once when a reused connection breaks before any answer (net/http_client.h),
  // and when the api committed the first copy before it was killed, the second finds the
  // item already so (no new revision) and answers with the head, which may be later.
  int64_t revision = 0;
  int64_t etag = 0;
};

// The writes to one item, in the order its only writer sent them.
struct ItemLog {
  std::string kind;
  std::string key;
  std::vector<Attempt> attempts;
};

json::object WriteBody(const std::string& kind, int64_t value) {
  json::object body;
  if (kind == "config") {
    body = {{"type", "integer"}, {"values", {{"dev", value}, {"staging", value}, {"prod", value}}}};
  } else if (kind == "flag") {
    body = {{"variations", json::array{json::object{{"value", value}}, json::object{{"value", -1}}}},
            {"environments", {{"prod", {{"on", true}, {"off_variation", 1}, {"fallthrough", {{"variation", 0}}}}}}}};
  } else {
    body = {{"values", {{"dev", base::StrCat("secret-", value)}}}};
  }
  body["reason"] = "crash campaign";
  return body;
}

// The value an item holds now, read back through the api; nullopt when absent or unreadable.
std::optional<int64_t> ReadBack(EdgeVaultUp& up, const ItemLog& item, std::string* error) {
  const std::string ws = "/v1/workspaces/storm";
  HttpReply r = item.kind == "secret"
                    ? up.Call("api", "GET", ws + "/environments/dev/secrets/" + item.key, "", up.admin_key())
                    : up.Call("api", "GET", base::StrCat(ws, "/", item.kind, "s/", item.key), "", up.admin_key());
  if (r.status != 200 || !r.json.is_object()) {
    *error = base::StrCat(r.status, " ", r.body);
    return std::nullopt;
  }
  const json::object& o = r.json.get_object();
  if (item.kind == "secret") {
    const json::value* v = o.if_contains("value");
    if (v == nullptr || !v->is_string()) return std::nullopt;
    std::string_view s = v->get_string();
    if (s.substr(0, 7) != "secret-") return std::nullopt;
    return std::atoll(std::string(s.substr(7)).c_str());
  }
  if (item.kind == "config") {
    const json::value* values = o.if_contains("values");
    const json::value* prod = values != nullptr && values->is_object() ? values->get_object().if_contains("prod") : nullptr;
    if (prod == nullptr || !prod->is_int64()) return std::nullopt;
    return prod->get_int64();
  }
  const json::value* variations = o.if_contains("variations");
  if (variations == nullptr || !variations->is_array() || variations->get_array().empty()) return std::nullopt;
  const json::value& first = variations->get_array()[0];
  const json::value* v = first.is_object() ? first.get_object().if_contains("value") : nullptr;
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->get_int64();
}

TEST(CrashCampaignTest, KillsDuringAWriteStormLoseNothingAcknowledged) {
  const int kills = EnvInt("EDGEVAULT_CRASH_KILLS", 8);
  const unsigned seed = static_cast<unsigned>(EnvInt("EDGEVAULT_CRASH_SEED", static_cast<int>(std::random_device{}())));
  std::printf("crash campaign: %d kills, EDGEVAULT_CRASH_SEED=%u\n", kills, seed);
  std::mt19937 rng(seed);

  // Restarts come quickly, so the campaign spends its time on writes and checks.
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start(
      {"--set", "up.restart_backoff_initial_ms=50", "--set", "up.restart_backoff_max_ms=400"});
  ASSERT_NE(up, nullptr);
  auto api = [&](std::string method, std::string target, const json::value& body) {
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "storm"}}).status, 201);
  ASSERT_EQ(api("POST", "/v1/workspaces/storm/environments", json::object{{"key", "dev"}, {"name", "Dev"}, {"reason", "setup"}}).status, 201);
  ASSERT_EQ(api("POST", "/v1/workspaces/storm/environments",
                json::object{{"key", "staging"}, {"name", "Staging"}, {"parent", "dev"}, {"reason", "setup"}})
                .status,
            201);
  ASSERT_EQ(api("POST", "/v1/workspaces/storm/environments", json::object{{"key", "prod"}, {"name", "Prod"}, {"reason", "setup"}}).status, 201);
  std::map<std::string, std::string> sdk_keys;
  for (const char* env : kEnvironments) {
    HttpReply r = api("POST", base::StrCat("/v1/workspaces/storm/environments/", env, "/sdk-keys"), json::object{});
    ASSERT_EQ(r.status, 201) << r.body;
    const json::value* key = r.json.is_object() ? r.json.get_object().if_contains("key") : nullptr;
    ASSERT_TRUE(key != nullptr && key->is_string()) << r.body;
    sdk_keys[env] = std::string(key->get_string());
  }

  // ---- the storm ----
  std::mutex mu;  // guards items, acknowledged, statuses
  std::vector<ItemLog> items;
  std::map<std::string, size_t> item_index;  // kind/key -> items
  size_t acknowledged = 0;
  std::map<int, int> statuses;  // answers other than 200, for the report
  for (int t = 0; t < kWriters; ++t) {
    for (const char* kind : kKinds) {
      for (int slot = 0; slot < 3; ++slot) {
        std::string key = base::StrCat(kind, "-t", t, "-", slot);
        item_index[base::StrCat(kind, "/", key)] = items.size();
        items.push_back({kind, key, {}});
      }
    }
  }
  testing::LoadThreads writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.Add([&, t] {
      for (int64_t i = 1; !writers.stopping(); ++i) {
        const std::string kind = kKinds[i % 3];
        const std::string key = base::StrCat(kind, "-t", t, "-", (i / 3) % 3);
        const std::string request_id = base::StrCat("crash-", seed, "-t", t, "-", i);
        HttpReply r = up->Json("api", "PUT", base::StrCat("/v1/workspaces/storm/", kind, "s/", key), WriteBody(kind, i),
                               up->admin_key(), {{"X-Request-Id", request_id}});
        Attempt a{request_id, i, r.status == 200, 0, 0};
        if (a.acknowledged) {
          std::string etag = r.Header("ETag");
          if (etag.size() > 2) a.etag = std::atoll(etag.substr(1, etag.size() - 2).c_str());
          const json::value* rev = r.json.is_object() ? r.json.get_object().if_contains("revision") : nullptr;
          if (rev != nullptr && rev->is_int64()) a.revision = rev->get_int64();
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          items[item_index[base::StrCat(kind, "/", key)]].attempts.push_back(a);
          if (a.acknowledged) {
            ++acknowledged;
          } else {
            ++statuses[r.status];
          }
        }
        // A service is down: give it a moment instead of spinning on refusals.
        if (!a.acknowledged) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  auto acknowledged_now = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acknowledged;
  };
  // True once n more writes were acknowledged.
  auto progress = [&](size_t n) {
    const size_t target = acknowledged_now() + n;
    return PollUntil([&] { return acknowledged_now() >= target; }, kPhaseLimitMs);
  };

  ASSERT_TRUE(progress(5)) << "no writes before the first kill";
  std::map<std::string, int> killed;
  for (int k = 0; k < kills; ++k) {
    const std::string victim = kServices[rng() % std::size(kServices)];
    const pid_t pid = up->ServicePid(victim);
    ASSERT_GT(pid, 0) << victim << " has no pid file";
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << victim;
    ++killed[victim];
    ASSERT_TRUE(PollUntil([&] { return up->ServicePid(victim) > 0 && up->ServicePid(victim) != pid; }, kPhaseLimitMs))
        << victim << " was not restarted\n" << up->Output();
    ASSERT_TRUE(up->WaitHealthy(victim, kPhaseLimitMs)) << victim << " not healthy after restart\n" << up->Output();
    ASSERT_TRUE(progress(3)) << "writes did not resume after killing " << victim << "\n" << up->Output();
  }
  writers.StopAndJoin();
  for (const char* service : kServices) ASSERT_TRUE(up->WaitHealthy(service, kPhaseLimitMs)) << service;
  std::printf("crash campaign: %zu writes acknowledged;", acknowledged);
  for (const auto& [victim, n] : killed) std::printf(" %s killed %d×;", victim.c_str(), n);
  for (const auto& [status, n] : statuses) std::printf(" %d answers with status %d;", n, status);
  std::printf("\n");
  ASSERT_GT(acknowledged, static_cast<size_t>(5 + 3 * kills));

  // ---- every acknowledged write reads back ----
  std::map<std::string, const Attempt*> acked_by_request;
  for (const ItemLog& item : items) {
    size_t last_acked = item.attempts.size();
    for (size_t i = 0; i < item.attempts.size(); ++i) {
      if (item.attempts[i].acknowledged) {
        last_acked = i;
        acked_by_request[item.attempts[i].request_id] = &item.attempts[i];
      }
    }
    if (last_acked == item.attempts.size()) continue;  // nothing acknowledged for it
    std::string error;
    std::optional<int64_t> now = ReadBack(*up, item, &error);
    ASSERT_TRUE(now.has_value()) << item.kind << " " << item.key << " was acknowledged but reads back as " << error;
    bool allowed = false;
    for (size_t i = last_acked; i < item.attempts.size(); ++i) allowed = allowed || item.attempts[i].value == *now;
    EXPECT_TRUE(allowed) << item.kind << " " << item.key << " holds " << *now << ", but its last acknowledged write was "
                         << item.attempts[last_acked].value;
  }

  // ---- gapless revisions; each acknowledged write's revision names its item ----
  HttpReply ws = api("GET", "/v1/workspaces/storm", nullptr);
  ASSERT_EQ(ws.status, 200);
  const int64_t head = ws.json.at("revision").as_int64();
  std::map<int64_t, std::string> revision_item;  // seq -> kind/key
  int64_t expected = 1;
  for (int64_t after = 0;;) {
    HttpReply page = api("GET", base::StrCat("/v1/workspaces/storm/revisions?limit=1000&after=", after), nullptr);
    ASSERT_EQ(page.status, 200) << page.body;
    const json::value* revs = page.json.get_object().if_contains("revisions");
    ASSERT_TRUE(revs != nullptr && revs->is_array()) << page.body;
    if (revs->get_array().empty()) break;
    for (const json::value& rev : revs->get_array()) {
      const int64_t seq = rev.at("seq").as_int64();
      ASSERT_EQ(seq, expected) << "revision " << expected << " is missing";
      ++expected;
      const json::value* kind = rev.get_object().if_contains("kind");
      const json::value* key = rev.get_object().if_contains("key");
      if (kind != nullptr && kind->is_string() && key != nullptr && key->is_string()) {
        revision_item[seq] = base::StrCat(kind->get_string(), "/", key->get_string());
      }
    }
    after = expected - 1;
  }
  EXPECT_EQ(expected - 1, head);
  for (const ItemLog& item : items) {
    for (const Attempt& a : item.attempts) {
      if (!a.acknowledged) continue;
      EXPECT_EQ(revision_item[a.revision], base::StrCat(item.kind, "/", item.key))
          << "the answer to " << a.request_id << " names revision " << a.revision;
      EXPECT_GE(a.etag, a.revision) << a.request_id;
    }
  }

  // ---- delivery converges on the api's resolved documents ----
  for (const char* env : kEnvironments) {
    HttpReply want, got;
    const bool converged = PollUntil(
        [&] {
          want = up->Call("api", "GET", base::StrCat("/v1/workspaces/storm/environments/", env, "/resolved"), "",
                          up->admin_key());
          got = up->Call("delivery", "GET", "/v1/config", "", sdk_keys[env]);
          return want.status == 200 && got.status == 200 && got.Header("EdgeVault-Stale").empty() &&
                 !want.Header("ETag").empty() && got.Header("ETag") == want.Header("ETag");
        },
        kPhaseLimitMs);
    EXPECT_TRUE(converged) << env << ": api " << want.status << " " << want.Header("ETag") << ", delivery " << got.status
                           << " " << got.Header("ETag") << " " << got.Header("EdgeVault-Stale");
  }

  // ---- audit: complete, unique, verifiable ----
  struct Scan {
    std::map<std::string, int> ids;       // event id -> lines
    std::map<std::string, int> requests;  // request id -> workspace write events
    int lines = 0;
  };
  auto scan = [&] {
    Scan s;
    const std::string root = up->data_dir() + "/audit/warehouse";
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() != ".ndjson") continue;
      std::ifstream f(it->path());
      for (std::string line; std::getline(f, line);) {
        ++s.lines;
        boost::system::error_code jec;
        json::value v = json::parse(line, jec);
        if (jec || !v.is_object()) continue;
        const json::object& o = v.get_object();
        const json::value* id = o.if_contains("id");
        if (id != nullptr && id->is_string()) ++s.ids[std::string(id->get_string())];
        const json::value* request = o.if_contains("request_id");
        const json::value* action = o.if_contains("action");
        if (request != nullptr && request->is_string() && action != nullptr && action->is_string() &&
            action->get_string().starts_with("workspace.") && request->get_string().starts_with("crash-")) {
          ++s.requests[std::string(request->get_string())];
        }
      }
    }
    return s;
  };
  Scan audited;
  const bool complete = PollUntil(
      [&] {
        audited = scan();
        for (const auto& [request, attempt] : acked_by_request) {
          if (audited.requests.count(request) == 0) return false;
        }
        return true;
      },
      kPhaseLimitMs);
  EXPECT_TRUE(complete) << "some acknowledged writes have no audit event";
  // A PUT the HTTP client resent after a kill (net/http_client.h) must not be written
  // twice: writing an item's current value, secrets included, is a no-op.
  for (const auto& [request, attempt] : acked_by_request) {
    EXPECT_EQ(audited.requests[request], 1) << request << " (revision " << attempt->revision << ")";
  }
  for (const auto& [id, n] : audited.ids) EXPECT_EQ(n, 1) << "audit event " << id << " is stored " << n << " times";
  EXPECT_EQ(static_cast<int>(audited.ids.size()), audited.lines) << "lines without an event id";
  testing::CommandResult verify = testing::RunEdgevault("audit verify --data-dir " + up->data_dir());
  EXPECT_EQ(verify.code, 0) << verify.out;

  // ---- every exit was one of our kills ----
  EdgeVaultUp::Stopped stopped = up->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  int exits = 0;
  std::string::size_type at = 0;
  while ((at = stopped.output.find("\"service exited; restarting\"", at)) != std::string::npos) {
    const std::string::size_type eol = stopped.output.find('\n', at);
    const std::string line = stopped.output.substr(at, eol - at);
    EXPECT_NE(line.find("\"how\":\"signal 9\""), std::string::npos) << "a service exited by itself: " << line;
    ++exits;
    at = eol;
  }
  EXPECT_EQ(exits, kills);
}

}  // namespace
}  // namespace edgevault
