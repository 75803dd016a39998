#include "src/net/sse.h"

#include "gtest/gtest.h"

namespace edgevault::net {
namespace {

TEST(SseFormatTest, FieldsInOrderAndBlankLineAtEnd) {
  EXPECT_EQ(FormatSseEvent({.id = "7", .event = "config", .data = "{\"a\":1}"}),
            "id: 7\nevent: config\ndata: {\"a\":1}\n\n");
}

TEST(SseFormatTest, MultiLineDataBecomesSeveralDataLines) {
  EXPECT_EQ(FormatSseEvent({.data = "a\nb\r\nc\rd"}), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(FormatSseEvent({.data = ""}), "data: \n\n");
}

TEST(SseFormatTest, NewlinesInIdAndEventCannotInjectFields) {
  EXPECT_EQ(FormatSseEvent({.id = "1\ndata: evil", .event = "x\r\ny", .data = "ok"}),
            "id: 1data: evil\nevent: xy\ndata: ok\n\n");
}

TEST(SseFormatTest, RetryAndComment) {
  EXPECT_EQ(FormatSseEvent({.data = "d", .retry_ms = 1500}), "retry: 1500\ndata: d\n\n");
  EXPECT_EQ(FormatSseComment("heartbeat\n"), ": heartbeat\n\n");
}

}  // namespace
}  // namespace edgevault::net
