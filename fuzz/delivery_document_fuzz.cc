// Fuzzes the delivery service's read of what the api wrote to the edge KV
// (src/services/delivery/delivery_service.h): the resolved document (BuildSnapshot:
// JSON, flag/segment compilation with eval::FlagSet::Build) and the OFREP request body
// (context parsing), through the real handlers reached by the real Router over an
// in-memory EdgeKv.
// Input (FuzzedDataProvider): the document, the OFREP body, a flag key (path parameter),
// then an If-None-Match value.
// Properties:
//   - BuildSnapshot fails only with InvalidArgument; a document it accepts is served by
//     GET /v1/config byte for byte (200), or 304 when If-None-Match names its ETag;
//   - a document it refuses answers 500 (a broken KV entry is a server fault), never
//     crashes the process;
//   - OFREP answers 200/400/404 with a JSON body; bulk lists every flag of the document,
//     and each single evaluation equals its bulk entry.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "fuzz/fuzz_util.h"
#include "src/crypto/hash.h"
#include "src/services/delivery/delivery_service.h"
#include "src/storage/edge_kv.h"

namespace edgevault::fuzz {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;

constexpr std::string_view kSdkKey = "evs_fuzz";

// Just enough EdgeKv for delivery (Get, GetVersion); one thread.
class MemoryKv : public storage::EdgeKv {
 public:
  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value,
                                  int64_t version) override {
    auto it = entries_.find(std::string(key));
    if (it != entries_.end() && it->second.version >= version) return false;
    entries_[std::string(key)] = {std::string(value), version};
    return true;
  }
  absl::StatusOr<storage::KvEntry> Get(std::string_view key) override {
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return absl::NotFoundError("no such key");
    return it->second;
  }
  absl::StatusOr<int64_t> GetVersion(std::string_view key) override {
    auto it = entries_.find(std::string(key));
    if (it == entries_.end()) return absl::NotFoundError("no such key");
    return it->second.version;
  }
  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view, int64_t) override {
    return absl::UnimplementedError("not used by delivery");
  }
  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view, int) override {
    return absl::UnimplementedError("not used by delivery");
  }
  absl::StatusOr<std::vector<bool>> PutManyIfNewer(const std::vector<storage::KvWrite>&) override {
    return absl::UnimplementedError("not used by delivery");
  }

 private:
  std::map<std::string, storage::KvEntry> entries_;
};

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

struct Call {
  net::Response response;
  json::value body;  // parsed response body (null when empty or not JSON)
};

Call Send(net::Router& router, http::verb method, std::string target, std::string body,
          std::string_view if_none_match) {
  net::RawRequest raw;
  raw.method(method);
  raw.target(target);
  raw.set(http::field::authorization, "Bearer " + std::string(kSdkKey));
  if (!if_none_match.empty()) raw.set(http::field::if_none_match, if_none_match);
  raw.body() = std::move(body);
  net::Request req(raw, "fuzz", "127.0.0.1:1");
  const net::Router::Route* route = nullptr;
  std::string allow;
  FUZZ_CHECK(router.Match(req, &route, &allow) == net::Router::MatchResult::kFound, target);
  Call c;
  c.response = route->handler(req);
  const std::string& text = c.response.shared_body ? *c.response.shared_body : c.response.body;
  boost::system::error_code ec;
  if (!text.empty()) c.body = json::parse(text, ec);
  if (ec) c.body = nullptr;
  return c;
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault;
  using namespace edgevault::fuzz;
  FuzzedDataProvider fdp(data, size);
  std::string document = fdp.ConsumeRandomLengthString(1 << 16);
  std::string ofrep_body = fdp.ConsumeRandomLengthString(4096);
  std::string flag_key = fdp.ConsumeRandomLengthString(128);
  std::string if_none_match = fdp.ConsumeRemainingBytesAsString();
  if (if_none_match.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    if_none_match.clear();  // not a header value Beast would accept
  }

  MemoryKv kv;
  (void)kv.PutIfNewer(storage::EdgeKvSdkKey(crypto::Sha256Hex(kSdkKey)),
                      R"({"org_id":"org_1","workspace_id":"ws_1","environment":"production"})", 1);
  (void)kv.PutIfNewer(storage::EdgeKvDocumentKey("ws_1", "production"), document, 7);
  absl::StatusOr<std::unique_ptr<delivery::DeliveryService>> service =
      delivery::DeliveryService::Create({.kv = &kv});
  FUZZ_CHECK(service.ok(), service.status().ToString());
  net::Router router;
  (*service)->Install(router);

  absl::StatusOr<std::shared_ptr<const delivery::Snapshot>> snap =
      delivery::BuildSnapshot(document, 7);
  if (!snap.ok()) {
    FUZZ_CHECK(snap.status().code() == absl::StatusCode::kInvalidArgument, snap.status().ToString());
  }

  Call config = Send(router, http::verb::get, "/v1/config", "", if_none_match);
  if (!snap.ok()) {
    FUZZ_CHECK(config.response.status == 500, "a refused document answered " +
                                                  std::to_string(config.response.status));
  } else if (config.response.status == 304) {
    FUZZ_CHECK(delivery::IfNoneMatchMatches(if_none_match, (*snap)->etag), "304 without a match");
  } else {
    FUZZ_CHECK(config.response.status == 200, "config answered " + std::to_string(config.response.status));
    FUZZ_CHECK(config.response.shared_body && *config.response.shared_body == document,
               "config does not serve the document as stored");
  }

  Call bulk = Send(router, http::verb::post, "/ofrep/v1/evaluate/flags", ofrep_body, "");
  if (flag_key.empty()) flag_key = "f";
  Call single = Send(router, http::verb::post, "/ofrep/v1/evaluate/flags/" + PercentEncode(flag_key),
                     ofrep_body, "");
  for (const Call* c : {&bulk, &single}) {
    int s = c->response.status;
    FUZZ_CHECK(s == 200 || s == 400 || s == 404 || (!snap.ok() && s == 500),
               "OFREP answered " + std::to_string(s));
    FUZZ_CHECK(c->body.is_object(), "OFREP body is not a JSON object: status " + std::to_string(s) + " " + c->response.body);
  }
  if (snap.ok() && bulk.response.status == 200) {
    const json::value* flags = bulk.body.as_object().if_contains("flags");
    FUZZ_CHECK(flags && flags->is_array(), "bulk without flags");
    FUZZ_CHECK(flags->as_array().size() >= (*snap)->flag_keys.size(), "bulk misses flags");
    const json::object& single_out = single.body.as_object();
    for (const json::value& f : flags->as_array()) {
      const json::value* key = f.is_object() ? f.as_object().if_contains("key") : nullptr;
      FUZZ_CHECK(key && key->is_string(), "bulk entry without a key");
      if (key->as_string() == flag_key) {
        FUZZ_CHECK(single_out == f.as_object(), "single and bulk evaluations differ for " + flag_key +
                                                    ":\n" + json::serialize(single_out) + "\n" +
                                                    json::serialize(f));
      }
    }
  }
  CheckNoBugReported();
  return 0;
}
