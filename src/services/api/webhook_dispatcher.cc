#include "src/services/api/webhook_dispatcher.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>

#include <boost/json.hpp>

#include "src/base/encoding.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/workspace/webhooks.h"

namespace edgevault::api {

namespace json = boost::json;

namespace {

constexpr int kPage = 100;

// The "type" of an event body (written by workspace::WebhookOutboxRow); "" when unreadable.
std::string EventType(const std::string& payload) {
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) return "";
  const json::value* t = v.get_object().if_contains("type");
  return t != nullptr && t->is_string() ? std::string(t->get_string()) : "";
}

std::string EventId(const std::string& payload) {
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) return "";
  const json::value* t = v.get_object().if_contains("id");
  return t != nullptr && t->is_string() ? std::string(t->get_string()) : "";
}

}  // namespace

std::string WebhookSignatureHeader(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  std::string t = std::to_string(unix_seconds);
  std::string message = t + "." + std::string(body);
  return "t=" + t + ",v1=" + base::HexEncode(crypto::HmacSha256(secret, message));
}

absl::StatusOr<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::Create(WebhookDispatcherOptions options) {
  if (options.service == nullptr || options.stores == nullptr || options.client == nullptr ||
      options.env == nullptr) {
    return absl::InvalidArgumentError("WebhookDispatcherOptions needs service, stores, client and env");
  }
  if (options.retry_initial <= absl::ZeroDuration() || options.retry_max < options.retry_initial ||
      options.max_attempts < 1) {
    return absl::InvalidArgumentError("webhook retry settings must be positive, and the maximum at least the initial");
  }
  if (options.lease <= absl::ZeroDuration() || options.lease > absl::Hours(1) || options.node_id.empty() ||
      options.node_id.size() > 64) {
    return absl::InvalidArgumentError("webhook lease: a node id of 1..64 bytes and a lease of up to an hour");
  }
  return std::unique_ptr<WebhookDispatcher>(new WebhookDispatcher(std::move(options)));
}

WebhookDispatcher::WebhookDispatcher(WebhookDispatcherOptions options)
    : o_(std::move(options)), holder_(o_.node_id + "/" + o_.env->RandomHex(8)) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

absl::Status WebhookDispatcher::Start() {
  EV_ASSIGN_OR_RETURN(std::vector<std::string> ids, o_.stores->List());
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& id : ids) pending_.emplace(id, absl::ZeroDuration());
  if (stop_ || task_ != nullptr) return absl::OkStatus();
  task_ = o_.env->Schedule("webhook delivery", {.interval = absl::InfiniteDuration(), .run_at_start = true},
                           [this] { return RunNextDue(); });
  return absl::OkStatus();
}

void WebhookDispatcher::Stop() {
  base::PeriodicTask* task = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    task = task_.get();  // never reset: Wake may still read it
  }
  if (task != nullptr) task->Stop();
}

void WebhookDispatcher::Wake(const std::string& workspace_id) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_[workspace_id] = absl::ZeroDuration();  // due now
  if (task_ != nullptr) task_->Wake();
}

base::NextRun WebhookDispatcher::RunNextDue() {
  std::string pick;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Duration now = o_.env->MonotonicNow();
    std::optional<absl::Duration> next_due;
    for (const auto& [id, due] : pending_) {
      if (due <= now) {
        pick = id;
        break;
      }
      if (!next_due || due < *next_due) next_due = due;
    }
    if (pick.empty()) {
      return next_due ? base::NextRun::After(*next_due - now) : base::NextRun::Interval();
    }
    pending_.erase(pick);
  }
  std::optional<absl::Duration> again = RunOnce(pick);
  std::lock_guard<std::mutex> lock(mu_);
  if (again) {
    auto [it, inserted] = pending_.emplace(pick, *again);
    if (!inserted) it->second = std::min(it->second, *again);
  }
  return base::NextRun::Immediately();  // the next due workspace, or the wait for it
}

absl::Status WebhookDispatcher::Send(const storage::WebhookRow& hook, std::string_view url_text,
                                     std::string_view secret, const std::string& payload) {
  EV_ASSIGN_OR_RETURN(workspace::WebhookUrl url, workspace::ParseWebhookUrl(url_text));
  if (!workspace::WebhookHostAllowed(url.host, o_.allowed_hosts)) {
    return absl::FailedPreconditionError(
        base::ToAbsl("host \"" + url.host + "\" is not in api.webhook_allowed_hosts; not sent"));
  }
  net::ClientRequest req;
  req.method = "POST";
  req.target = url.target;
  req.body = payload;
  req.headers = {{"Content-Type", "application/json"},
                 {"User-Agent", "EdgeVault-Webhooks/1"},
                 {"X-EdgeVault-Event", EventType(payload)},
                 {"X-EdgeVault-Event-Id", EventId(payload)},
                 {"X-EdgeVault-Webhook-Id", hook.id},
                 {"X-EdgeVault-Signature", WebhookSignatureHeader(secret, absl::ToUnixSeconds(o_.env->Now()), payload)}};
  absl::StatusOr<net::ClientResponse> resp =
      o_.client->Do(url.host, url.port, req, url.tls ? net::Scheme::kHttps : net::Scheme::kHttp);
  if (!resp.ok()) return absl::UnavailableError(base::ToAbsl(std::string(resp.status().message()).substr(0, 300)));
  if (resp->status < 200 || resp->status > 299) {
    return absl::UnavailableError(base::ToAbsl("the receiver answered HTTP " + std::to_string(resp->status)));
  }
  return absl::OkStatus();
}

std::optional<absl::Duration> WebhookDispatcher::RunOnce(const std::string& workspace_id) {
  const std::string_view kind = workspace::kWebhookOutboxKind;
  auto retry_later = [&](const absl::Status& st) -> std::optional<absl::Duration> {
    EV_LOG(kWarn, "webhook dispatch could not read a workspace; retrying",
           {{"workspace", workspace_id}, {"error", st.ToString()}});
    return o_.env->MonotonicNow() + o_.retry_initial;
  };
  // A deleted workspace sends nothing (NotFound): its events wait for a restore.
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = o_.service->OpenLive(workspace_id);
  if (absl::IsNotFound(store.status())) return std::nullopt;
  if (!store.ok()) return retry_later(store.status());
  absl::StatusOr<std::vector<storage::WebhookRow>> hooks = (*store)->ListWebhooks();
  if (!hooks.ok()) return retry_later(hooks.status());

  const std::string prefix = workspace_id + "/";
  std::optional<absl::Duration> again;
  auto want_again = [&](absl::Duration at) { again = again ? std::min(*again, at) : at; };
  int64_t min_cursor = std::numeric_limits<int64_t>::max();
  std::set<std::string> seen;
  for (const storage::WebhookRow& hook : *hooks) {
    const std::string key = prefix + hook.id;
    seen.insert(key);
    int64_t cursor = hook.cursor;
    absl::StatusOr<workspace::WebhookSpec> spec = workspace::WebhookSpecFromStored(hook.body);
    if (!spec.ok() || !spec->active || hook.failing) {
      // Paused or failing: nothing is sent, its events are kept (its cursor stays).
      backoff_.erase(key);
      min_cursor = std::min(min_cursor, cursor);
      continue;
    }
    absl::Duration now = o_.env->MonotonicNow();
    Backoff& b = backoff_[key];
    if (b.attempts > 0 && b.due > now) {
      want_again(b.due);
      min_cursor = std::min(min_cursor, cursor);
      continue;
    }
    bool leased = false;  // this node holds the webhook's lease (released below unless kept)
    absl::StatusOr<std::vector<storage::OutboxRow>> rows = (*store)->PendingOutboxOfKindAfter(kind, cursor, kPage);
    if (rows.ok() && !rows->empty()) {
      // Events to send: only as this webhook's one sender. Another node's lease (it is
      // sending, or waiting to retry) is looked at again soon: it is released as soon as
      // that node has nothing more to send. Once held, the cursor is read again: the
      // other node may have moved it since the list above.
      absl::StatusOr<absl::Duration> held = (*store)->LeaseWebhook(hook.id, holder_, o_.lease);
      if (absl::IsNotFound(held.status())) continue;  // deleted meanwhile
      if (!held.ok() || *held > absl::ZeroDuration()) {
        min_cursor = std::min(min_cursor, cursor);
        // A lease longer than o_.lease is a back-off: the holder retries when it has
        // o_.lease left, and nothing can be sent before (events go out in order).
        absl::Duration wait = !held.ok() ? o_.retry_initial
                              : *held > o_.lease ? *held - o_.lease
                                                 : std::min(*held, o_.retry_initial);
        want_again(now + wait);
        continue;
      }
      leased = true;
      absl::StatusOr<storage::WebhookRow> fresh = (*store)->GetWebhook(hook.id);
      if (absl::IsNotFound(fresh.status())) continue;
      if (fresh.ok() && fresh->cursor != cursor) {
        cursor = fresh->cursor;
        rows = (*store)->PendingOutboxOfKindAfter(kind, cursor, kPage);
      } else if (!fresh.ok()) {
        rows = fresh.status();
      }
      if (fresh.ok() && fresh->failing) {  // the other node gave up meanwhile
        (void)(*store)->ReleaseWebhook(hook.id, holder_);
        min_cursor = std::min(min_cursor, cursor);
        continue;
      }
    }
    if (!rows.ok()) {
      if (leased) (void)(*store)->ReleaseWebhook(hook.id, holder_);
      min_cursor = std::min(min_cursor, cursor);
      want_again(now + o_.retry_initial);
      continue;
    }
    std::optional<crypto::SecureBuffer> secret;
    bool stopped = false;   // a failure (or the webhook is gone): the rest waits
    bool recorded = true;   // the stored cursor equals `cursor`
    bool keep_lease = false;  // held over a retry's back-off
    int sends = 0;
    for (const storage::OutboxRow& row : *rows) {
      if (!spec->Subscribes(EventType(row.payload))) {
        cursor = row.id;  // not for this webhook: passed over, in order
        recorded = false;
        continue;
      }
      absl::Status sent;
      if (!secret) {
        absl::StatusOr<crypto::SecureBuffer> opened = o_.service->OpenWebhookSecret(workspace_id, hook);
        if (opened.ok()) {
          secret = std::move(*opened);
        } else {
          sent = absl::InternalError(base::ToAbsl("the signing secret cannot be opened: " +
                                                  std::string(opened.status().message())));
        }
      }
      if (sent.ok() && sends++ > 0) {
        // Renewed before each event after the first: a node slower than its lease (a
        // receiver that takes long) finds it taken and stops, not sending what another
        // node now sends.
        absl::StatusOr<absl::Duration> still = (*store)->LeaseWebhook(hook.id, holder_, o_.lease);
        if (!still.ok() || *still > absl::ZeroDuration()) {
          leased = still.ok() ? false : leased;
          want_again(o_.env->MonotonicNow() + o_.retry_initial);
          stopped = true;
          break;
        }
      }
      if (sent.ok()) sent = Send(hook, spec->url, secret->view(), row.payload);
      if (sent.ok()) {
        cursor = row.id;
        b = Backoff{};
        absl::Status saved = (*store)->SetWebhookDelivery(hook.id, cursor, false, "");
        recorded = saved.ok();
        if (absl::IsNotFound(saved)) {  // deleted meanwhile: nothing more
          stopped = true;
          break;
        }
        continue;
      }
      ++b.attempts;
      std::string error(sent.message());
      bool give_up = b.attempts >= o_.max_attempts;
      absl::Duration delay = o_.retry_initial;
      for (int i = 1; i < b.attempts && delay < o_.retry_max; ++i) delay *= 2;
      delay = std::min(delay, o_.retry_max);
      if (give_up) {
        EV_LOG(kError, "webhook delivery failed too often; the webhook is marked failing",
               {{"workspace", workspace_id}, {"webhook", hook.id}, {"attempts", std::to_string(b.attempts)},
                {"error", error}});
      } else {
        EV_LOG(kWarn, "webhook delivery failed; retrying later",
               {{"workspace", workspace_id}, {"webhook", hook.id}, {"attempts", std::to_string(b.attempts)},
                {"error", error}, {"retry_in_ms", std::to_string(absl::ToInt64Milliseconds(delay))}});
      }
      recorded = (*store)->SetWebhookDelivery(hook.id, cursor, give_up, error).ok();
      if (give_up) {
        backoff_.erase(key);
      } else {
        b.due = o_.env->MonotonicNow() + delay;
        want_again(b.due);
        // No other node tries meanwhile: the back-off and the attempt count are this node's.
        keep_lease = (*store)->LeaseWebhook(hook.id, holder_, delay + o_.lease).ok();
      }
      stopped = true;
      break;
    }
    if (!recorded) {
      absl::Status saved = (*store)->SetWebhookDelivery(hook.id, cursor, false, "");
      if (!saved.ok() && !absl::IsNotFound(saved)) want_again(o_.env->MonotonicNow() + o_.retry_initial);
    }
    if (!stopped && rows->size() == static_cast<size_t>(kPage)) want_again(o_.env->MonotonicNow());
    if (leased && !keep_lease) (void)(*store)->ReleaseWebhook(hook.id, holder_);
    min_cursor = std::min(min_cursor, cursor);
  }
  for (auto it = backoff_.lower_bound(prefix); it != backoff_.end() && it->first.starts_with(prefix);) {
    it = seen.contains(it->first) ? std::next(it) : backoff_.erase(it);
  }
  // Events every webhook has moved past (all of them when there is no webhook) are done.
  if (absl::StatusOr<int64_t> done = (*store)->MarkOutboxOfKindDoneThrough(kind, min_cursor); !done.ok()) {
    EV_LOG(kWarn, "marking delivered webhook events done failed", {{"workspace", workspace_id},
                                                                   {"error", done.status().ToString()}});
  }
  return again;
}

}  // namespace edgevault::api
