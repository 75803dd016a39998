#pragma once
// Server-Sent Events: the wire format (FormatSseEvent) and an open stream a handler
// keeps to push events to one client (see Response::sse in router.h).
//
//   response.sse = [hub](std::shared_ptr<net::SseStream> s) { hub->Subscribe(s); };
//   ...
//   stream->Send({.id = "42", .event = "config", .data = json});
//
// Thread-safety: SseStream methods may be called from any thread; writes are
// queued and performed in order on the connection's io thread.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace edgevault::net {

struct SseEvent {
  std::string id;     // sent as "id:" when non-empty (clients resume with Last-Event-ID)
  std::string event;  // sent as "event:" when non-empty
  std::string data;   // split on newlines into "data:" lines
  int retry_ms = -1;  // sent as "retry:" when >= 0
};

// The text of one event, terminated by a blank line. CR, LF and CRLF in `data`
// each start a new "data:" line; CR and LF in id/event are dropped so a value can
// never inject fields.
std::string FormatSseEvent(const SseEvent& event);
// A comment line (": text\n\n"), used as a heartbeat.
std::string FormatSseComment(std::string_view text);

class SseStream {
 public:
  virtual ~SseStream() = default;
  // Queues an event. Returns false when the stream is closed (client gone, server
  // draining); the caller should then drop its reference.
  virtual bool Send(const SseEvent& event) = 0;
  virtual bool SendComment(std::string_view text) = 0;
  // Ends the stream and closes the connection after queued events are written.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // Called once, on the io thread, when the stream closes for any reason.
  virtual void OnClose(std::function<void()> callback) = 0;
  // The Last-Event-ID the client sent when it connected ("" when none).
  virtual std::string_view last_event_id() const = 0;
};

}  // namespace edgevault::net
