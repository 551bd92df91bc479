#include "daemon/notify/notifier.hpp"

#include "daemon/metrics/metrics.hpp"
#include "daemon/notify/alert_batcher.hpp"
#include "daemon/notify/alert_payload.hpp"
#include "daemon/notify/delivery_queue.hpp"
#include "probes/core/diagnostics.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/version.hpp"
#include "probes/net/web_stream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace vitals {

namespace {

namespace http = beast::http;
using steady = std::chrono::steady_clock;
using alerts::wall_clock;

constexpr auto request_timeout = std::chrono::seconds(5);

struct receiver {
  explicit receiver(std::size_t max_queue) : queue(max_queue) {}
  std::string kind;  // alertmanager | webhook
  web_url url;
  std::string peer;  // the `peer` label: host:port, redacted
  std::string shown_url;  // for the log: redacted
  std::string bearer;  // webhook only
  delivery_queue queue;
  std::unique_ptr<asio::steady_timer> wake;
  bool running = false;
};

// `text` with the user and password of its authority, if it has any, shown
// as <redacted>: a config error quotes the URL it refuses for carrying them.
// A URL quoted in a config error; "<redacted>" when a reference filled it.
std::string shown_url(node_reader& item, const YAML::Node& n) {
  const auto shown = item.shown_value(n);
  return shown == "<redacted>" ? shown : quoted(userinfo_hidden(n.Scalar()));
}

}  // namespace

std::string notification_peer(const web_url& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

struct notifier::impl : std::enable_shared_from_this<notifier::impl> {
  impl(asio::io_context& io, metrics& m, std::string instance, std::string generator)
      : io(io), telemetry(m), sender{std::move(instance), std::move(generator)} {}

  asio::io_context& io;
  metrics& telemetry;
  alert_sender sender;
  notify_settings settings;
  std::vector<std::shared_ptr<receiver>> receivers;
  alert_batcher batcher;  // outlives reconfigurations: re-sends go on across them

  void enqueue(const std::vector<outgoing_alert>& batch) {
    if (batch.empty()) return;
    for (auto& r : receivers) {
      const auto dropped =
          r->queue.push(r->kind == "webhook" ? webhook_body(batch, sender) : alertmanager_body(batch, sender));
      if (dropped) telemetry.notification_result(r->kind, r->peer, "dropped", static_cast<double>(dropped));
      r->wake->cancel();
    }
    publish_queues();
  }

  // vitals_notification_queue_length per receiver kind and peer; two URLs
  // on the same host:port (paths behind one proxy) share their series.
  void publish_queues() {
    std::map<std::pair<std::string, std::string>, std::size_t> lengths;
    for (const auto& r : receivers) lengths[{r->kind, r->peer}] += r->queue.size();
    for (const auto& [receiver, n] : lengths) telemetry.notification_queue(receiver.first, receiver.second, n);
  }

  // The series of receivers now configured exist from the start, every
  // result at 0 (increase() over a series born at 1 sees no increase); the
  // queue length of one no longer configured goes away.
  void publish_receivers(const std::set<std::pair<std::string, std::string>>& before) {
    std::set<std::pair<std::string, std::string>> now;
    for (const auto& r : receivers) now.emplace(r->kind, r->peer);
    for (const auto& [kind, peer] : before)
      if (!now.contains({kind, peer})) telemetry.notification_queue_removed(kind, peer);
    for (const auto& [kind, peer] : now)
      for (const auto* result : {"ok", "retry", "rejected", "failed", "dropped"})
        telemetry.notification_result(kind, peer, result, 0);
    publish_queues();
  }

  // POSTs one body; the HTTP status, or 0 when no answer came.
  asio::awaitable<unsigned> post(const receiver& r, const std::string& body, std::string& problem) {
    auto ex = co_await asio::this_coro::executor;
    const auto deadline = steady::now() + request_timeout;
    const std::string target = r.kind == "alertmanager" ? alertmanager_alerts_target(r.url.target) : r.url.target;
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, r.url.host_header());
    req.set(http::field::user_agent, "vitalsd/" + std::string(version()));
    req.set(http::field::content_type, "application/json");
    if (!r.bearer.empty()) req.set(http::field::authorization, "Bearer " + r.bearer);
    req.body() = body;
    req.prepare_payload();
    phase_times times;
    http::response<http::string_body> res;
    beast::flat_buffer buffer;
    auto exchange = [&](auto& stream) -> asio::awaitable<unsigned> {
      auto [we, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
      (void)wn;
      if (we) {
        problem = we.message();
        co_return 0;
      }
      auto [re, rn] = co_await http::async_read(stream, buffer, res, asio::as_tuple(asio::use_awaitable));
      (void)rn;
      if (re) {
        problem = re.message();
        co_return 0;
      }
      co_return res.result_int();
    };
    if (r.url.tls) {
      tls_stream stream(ex, *make_client_tls({}));
      beast::get_lowest_layer(stream).expires_at(deadline);
      if (auto f = co_await connect_stream(beast::get_lowest_layer(stream), r.url, times)) {
        problem = f->error;
        co_return 0;
      }
      if (auto f = co_await handshake_tls(stream, r.url, {}, times)) {
        problem = f->error;
        co_return 0;
      }
      co_return co_await exchange(stream);
    }
    beast::tcp_stream stream(ex);
    stream.expires_at(deadline);
    if (auto f = co_await connect_stream(stream, r.url, times)) {
      problem = f->error;
      co_return 0;
    }
    co_return co_await exchange(stream);
  }

  static asio::awaitable<void> send_loop(std::shared_ptr<impl> self, std::shared_ptr<receiver> r) {
    asio::steady_timer backoff(self->io);
    for (;;) {
      if (r->queue.empty()) {
        r->wake->expires_at(steady::time_point::max());
        boost::system::error_code ec;
        co_await r->wake->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!r->running) co_return;
        continue;
      }
      // The queue decides what each answer means; this loop only waits and sends.
      const std::string body = r->queue.start_sending();
      for (;;) {
        std::string problem;
        const unsigned status = co_await self->post(*r, body, problem);
        if (!r->running) co_return;
        const auto step = r->queue.answered(status);
        if (const auto label = result_label(step.result); !label.empty())
          self->telemetry.notification_result(r->kind, r->peer, std::string(label));
        if (step.result == delivery_result::rejected)
          spdlog::warn("notify: {} {} refused a batch with status {}", r->kind, r->shown_url, status);
        if (step.result == delivery_result::failed)
          spdlog::warn("notify: {} {} unreachable after {} attempts ({}); batch dropped", r->kind, r->shown_url,
                       delivery_queue::max_attempts,
                       status ? "status " + std::to_string(status) : self->sender.secrets.redacted(problem));
        if (step.result != delivery_result::retry) break;
        backoff.expires_after(step.retry_after);
        boost::system::error_code ec;
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!r->running) co_return;
      }
      self->publish_queues();
    }
  }

  void stop_receivers() {
    for (auto& r : receivers) {
      r->running = false;
      r->wake->cancel();
    }
  }
};

notifier::notifier(asio::io_context& io, metrics& m, std::string instance, std::string generator_url)
    : impl_(std::make_shared<impl>(io, m, std::move(instance), std::move(generator_url))) {}

notifier::~notifier() { impl_->stop_receivers(); }

void notifier::configure(const notify_settings& s, redactor secrets) {
  impl_->sender.secrets = std::move(secrets);
  // Unchanged settings keep their receivers and whatever they have queued.
  if (!impl_->receivers.empty() && s == impl_->settings) return;
  // The old loops own their receivers and end at their next wake-up.
  std::set<std::pair<std::string, std::string>> before;
  for (const auto& r : impl_->receivers) before.emplace(r->kind, r->peer);
  impl_->stop_receivers();
  impl_->receivers.clear();
  impl_->settings = s;
  auto add = [&](const std::string& kind, const std::string& url_text, const std::string& bearer) {
    std::string why;
    auto url = parse_web_url(url_text, false, why);
    if (!url) return;
    auto r = std::make_shared<receiver>(s.max_queue);
    r->kind = kind;
    r->url = *url;
    r->peer = impl_->sender.secrets.redacted(notification_peer(*url));
    r->shown_url = impl_->sender.secrets.redacted(url->text());
    r->bearer = bearer;
    r->wake = std::make_unique<asio::steady_timer>(impl_->io);
    r->running = true;
    impl_->receivers.push_back(r);
    asio::co_spawn(impl_->io, impl::send_loop(impl_, r), asio::detached);
  };
  for (const auto& u : s.alertmanager_urls) add("alertmanager", u, "");
  if (!s.webhook_url.empty()) add("webhook", s.webhook_url, s.webhook_bearer_token);
  impl_->publish_receivers(before);
}

void notifier::after_evaluation(const std::vector<alerts::transition>& changes,
                                const std::vector<alerts::alert_instance>& active, wall_clock::time_point now) {
  auto& m = *impl_;
  if (m.receivers.empty()) return;
  m.enqueue(m.batcher.after_evaluation(changes, active, now, m.settings.resend_interval));
}

std::size_t notifier::queued() const {
  std::size_t n = 0;
  for (const auto& r : impl_->receivers) n += r->queue.size();
  return n;
}

bool read_notify_settings(node_reader& r, notify_settings& out) {
  if (auto am = r.map("alertmanager")) {
    if (web_url url; am->has("url") && read_web_url(*am, false, url)) out.alertmanager_urls.push_back(url.text());
    if (auto items = am->sequence("urls")) {
      for (auto& item : *items) {
        const auto& n = item.node();
        std::string why;
        if (!n.IsScalar())
          item.error_here("expected a URL");
        else if (!parse_web_url(n.Scalar(), false, why))
          item.error_here(shown_url(item, n) + " " + why);
        else
          out.alertmanager_urls.push_back(n.Scalar());
      }
    }
    if (out.alertmanager_urls.empty() && !am->failed()) am->error_here("needs url or urls");
    am->finish();
  }
  if (auto wh = r.map("webhook")) {
    if (web_url url; read_web_url(*wh, false, url)) out.webhook_url = url.text();
    wh->read("bearer_token", out.webhook_bearer_token);
    wh->finish();
  }
  r.read("resend_interval", out.resend_interval);
  r.read("max_queue", out.max_queue, between{1, 1000000});
  return !r.failed();
}

}  // namespace vitals
