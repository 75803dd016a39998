#include "sdk/cpp/src/transport.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace edgevault::sdk::internal {
namespace {

std::vector<SseEvent> FeedInPieces(std::string_view text, size_t piece) {
  SseParser parser(1 << 20);
  std::vector<SseEvent> events;
  for (size_t i = 0; i < text.size(); i += piece) {
    EXPECT_TRUE(parser.Feed(text.substr(i, piece), [&](SseEvent e) { events.push_back(std::move(e)); }).ok());
  }
  return events;
}

TEST(SseParserTest, EventsSurviveEverySplitAndLineEnding) {
  const std::string text =
      ": heartbeat\n\nid: 7\nevent: signature\ndata: kid=a; sig=b\n\r\n"
      "id: 7\r\nevent: config\r\ndata: {\"a\":1}\r\ndata: second\r\r"
      "data:no-space\n\n";
  for (size_t piece = 1; piece <= text.size(); ++piece) {
    std::vector<SseEvent> events = FeedInPieces(text, piece);
    ASSERT_EQ(events.size(), 3u) << "piece " << piece;
    EXPECT_EQ(events[0].event, "signature");
    EXPECT_EQ(events[0].id, "7");
    EXPECT_EQ(events[0].data, "kid=a; sig=b");
    EXPECT_EQ(events[1].event, "config");
    EXPECT_EQ(events[1].data, "{\"a\":1}\nsecond");
    EXPECT_EQ(events[2].data, "no-space");
  }
}

TEST(SseParserTest, AnEventLargerThanTheBoundIsAnError) {
  SseParser parser(16);
  int events = 0;
  absl::Status s = parser.Feed("data: " + std::string(100, 'x') + "\n", [&](SseEvent) { ++events; });
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(events, 0);
}

// Decodes `body` fed in pieces of `piece` bytes; "" and false on error.
std::pair<std::string, bool> Dechunk(std::string_view body, size_t piece) {
  ChunkedDecoder d;
  std::string out;
  bool done = false, stop = false;
  for (size_t i = 0; i < body.size() && !done; i += piece) {
    absl::StatusOr<bool> r = d.Feed(body.substr(i, piece), [&](std::string_view p) {
      out.append(p);
      return true;
    }, &stop);
    if (!r.ok()) return {"", false};
    done = *r;
  }
  return {out, done};
}

TEST(ChunkedDecoderTest, EverySplitDecodesTheSameAndMalformedBodiesFail) {
  const std::string body = "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t piece = 1; piece <= body.size(); ++piece) {
    auto [out, done] = Dechunk(body, piece);
    EXPECT_TRUE(done) << piece;
    EXPECT_EQ(out, "hello 0123456789") << piece;
  }
  EXPECT_FALSE(Dechunk("zz\r\nhello\r\n", 100).second);
  EXPECT_FALSE(Dechunk("5\r\nhelloXX0\r\n\r\n", 100).second);
  EXPECT_FALSE(Dechunk(std::string(5000, '1'), 100).second);
  EXPECT_FALSE(Dechunk("ffffffffffffffffff\r\n", 100).second);  // size overflows 64 bits
}

TEST(BaseUrlTest, ParsesHostPortAndPrefix) {
  absl::StatusOr<BaseUrl> u = ParseBaseUrl("http://127.0.0.1:8082");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8082);
  EXPECT_EQ(u->prefix, "");
  u = ParseBaseUrl("http://flags.example/edge/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->prefix, "/edge");
  u = ParseBaseUrl("http://[::1]:9000");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  u = ParseBaseUrl("HTTPS://flags.example/edge");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->prefix, "/edge");
  u = ParseBaseUrl("https://127.0.0.1:8443");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->port, 8443);
  EXPECT_FALSE(ParseBaseUrl("http://x").value().tls);
  for (const char* bad : {"https://", "ftp://x", "http://", "http://h:0", "http://h:99999", "http://h/?q",
                          "http://u@h", "127.0.0.1:8082"}) {
    EXPECT_FALSE(ParseBaseUrl(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace edgevault::sdk::internal
