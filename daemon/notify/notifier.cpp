#include "daemon/notify/notifier.hpp"

#include "daemon/metrics/metrics.hpp"
#include "probes/core/node_reader.hpp"
#include "probes/core/time_format.hpp"
#include "probes/core/version.hpp"
#include "probes/net/web_stream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <deque>
#include <map>

namespace vitals {

namespace {

namespace http = beast::http;
using steady = std::chrono::steady_clock;
using alerts::wall_clock;

constexpr int max_attempts = 5;
constexpr auto request_timeout = std::chrono::seconds(5);
constexpr int resend_resolved_for = 4;  // resend intervals a resolved alert is repeated
constexpr int ends_at_intervals = 4;    // a firing alert's endsAt, in resend intervals ahead

struct receiver {
  std::string kind;  // alertmanager | webhook
  web_url url;
  std::string bearer;  // webhook only
  std::deque<std::string> queue;
  std::unique_ptr<asio::steady_timer> wake;
  bool running = false;
};

struct outgoing {
  alerts::alert_instance alert;
  bool resolved = false;
  wall_clock::time_point ends_at;
};

}  // namespace

struct notifier::impl : std::enable_shared_from_this<notifier::impl> {
  impl(asio::io_context& io, metrics& m, std::string instance, std::string generator)
      : io(io), telemetry(m), instance(std::move(instance)), generator_url(std::move(generator)) {}

  asio::io_context& io;
  metrics& telemetry;
  std::string instance;
  std::string generator_url;
  notify_settings settings;
  std::vector<std::shared_ptr<receiver>> receivers;
  std::map<alerts::labels, wall_clock::time_point> last_sent;  // firing alerts
  struct resolved_entry {
    alerts::alert_instance alert;
    wall_clock::time_point resolved_at;
    wall_clock::time_point last_sent;
  };
  std::map<alerts::labels, resolved_entry> resolved;

  boost::json::object alert_json(const outgoing& o) const {
    boost::json::object labels;
    for (const auto& [k, v] : o.alert.label_values) labels[k] = v;
    labels["instance"] = instance;
    boost::json::object annotations;
    if (!o.alert.summary.empty()) annotations["summary"] = o.alert.summary;
    if (!o.alert.description.empty()) annotations["description"] = o.alert.description;
    if (!o.alert.runbook_url.empty()) annotations["runbook_url"] = o.alert.runbook_url;
    if (!o.alert.evidence.empty()) annotations["evidence"] = o.alert.evidence;
    boost::json::object a;
    a["labels"] = std::move(labels);
    a["annotations"] = std::move(annotations);
    a["startsAt"] = rfc3339(o.alert.fired_at);
    a["endsAt"] = rfc3339(o.ends_at);
    a["generatorURL"] = generator_url;
    return a;
  }

  std::string alertmanager_body(const std::vector<outgoing>& batch) const {
    boost::json::array out;
    for (const auto& o : batch) out.push_back(alert_json(o));
    return boost::json::serialize(out);
  }

  // The shape of Alertmanager's own webhook payload, so receivers written
  // for it work unchanged.
  std::string webhook_body(const std::vector<outgoing>& batch) const {
    boost::json::array list;
    bool any_firing = false;
    for (const auto& o : batch) {
      auto a = alert_json(o);
      a["status"] = o.resolved ? "resolved" : "firing";
      any_firing = any_firing || !o.resolved;
      list.push_back(std::move(a));
    }
    boost::json::object body;
    body["version"] = "4";
    body["receiver"] = "vitals";
    body["status"] = any_firing ? "firing" : "resolved";
    body["groupKey"] = "vitalsd:" + instance;
    body["groupLabels"] = boost::json::object{};
    body["commonLabels"] = boost::json::object{{"instance", instance}};
    body["commonAnnotations"] = boost::json::object{};
    body["externalURL"] = generator_url;
    body["alerts"] = std::move(list);
    return boost::json::serialize(body);
  }

  void enqueue(const std::vector<outgoing>& batch) {
    if (batch.empty()) return;
    for (auto& r : receivers) {
      r->queue.push_back(r->kind == "webhook" ? webhook_body(batch) : alertmanager_body(batch));
      while (r->queue.size() > settings.max_queue) {
        r->queue.pop_front();
        telemetry.notification_result(r->kind, "dropped");
      }
      r->wake->cancel();
    }
    publish_queues();
  }

  // vitals_notification_queue_length per receiver kind, summed over URLs.
  void publish_queues() {
    std::map<std::string, std::size_t> lengths{{"alertmanager", 0}, {"webhook", 0}};
    for (const auto& r : receivers) lengths[r->kind] += r->queue.size();
    for (const auto& [kind, n] : lengths) telemetry.notification_queue(kind, n);
  }

  // POSTs one body; the HTTP status, or 0 when no answer came.
  asio::awaitable<unsigned> post(const receiver& r, const std::string& body, std::string& problem) {
    auto ex = co_await asio::this_coro::executor;
    const auto deadline = steady::now() + request_timeout;
    std::string target = r.url.target;
    if (r.kind == "alertmanager") {
      while (!target.empty() && target.back() == '/') target.pop_back();
      target += "/api/v2/alerts";
    }
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
      const std::string body = r->queue.front();
      int attempt = 0;
      for (;;) {
        std::string problem;
        const unsigned status = co_await self->post(*r, body, problem);
        if (!r->running) co_return;
        if (status >= 200 && status < 300) {
          self->telemetry.notification_result(r->kind, "ok");
          break;
        }
        if (status >= 400 && status < 500) {
          // The receiver refuses this batch: retrying it whole cannot help.
          self->telemetry.notification_result(r->kind, "rejected");
          spdlog::warn("notify: {} {} refused a batch with status {}", r->kind, r->url.text(), status);
          break;
        }
        if (++attempt >= max_attempts) {
          self->telemetry.notification_result(r->kind, "failed");
          spdlog::warn("notify: {} {} unreachable after {} attempts ({}); batch dropped", r->kind, r->url.text(),
                       attempt, status ? "status " + std::to_string(status) : problem);
          break;
        }
        self->telemetry.notification_result(r->kind, "retry");
        backoff.expires_after(std::chrono::seconds(1 << std::min(attempt - 1, 5)));
        boost::system::error_code ec;
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!r->running) co_return;
      }
      if (!r->queue.empty()) r->queue.pop_front();
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

void notifier::configure(const notify_settings& s) {
  // Unchanged settings keep their receivers and whatever they have queued.
  if (!impl_->receivers.empty() && s == impl_->settings) return;
  // The old loops own their receivers and end at their next wake-up.
  impl_->stop_receivers();
  impl_->receivers.clear();
  impl_->settings = s;
  auto add = [&](const std::string& kind, const std::string& url_text, const std::string& bearer) {
    std::string why;
    auto url = parse_web_url(url_text, false, why);
    if (!url) return;
    auto r = std::make_shared<receiver>();
    r->kind = kind;
    r->url = *url;
    r->bearer = bearer;
    r->wake = std::make_unique<asio::steady_timer>(impl_->io);
    r->running = true;
    impl_->receivers.push_back(r);
    asio::co_spawn(impl_->io, impl::send_loop(impl_, r), asio::detached);
  };
  for (const auto& u : s.alertmanager_urls) add("alertmanager", u, "");
  if (!s.webhook_url.empty()) add("webhook", s.webhook_url, s.webhook_bearer_token);
  impl_->publish_queues();
}

void notifier::after_evaluation(const std::vector<alerts::transition>& changes,
                                const std::vector<alerts::alert_instance>& active, wall_clock::time_point now) {
  auto& m = *impl_;
  if (m.receivers.empty()) return;
  const auto interval = m.settings.resend_interval;
  std::vector<outgoing> batch;
  for (const auto& t : changes) {
    if (t.what == alerts::transition::kind::resolved) {
      m.last_sent.erase(t.alert.label_values);
      auto a = t.alert;
      m.resolved[t.alert.label_values] = {a, now, now};
      batch.push_back({a, true, now});
    }
  }
  for (const auto& a : active) {
    if (a.state != alerts::alert_state::firing) continue;
    auto it = m.last_sent.find(a.label_values);
    if (it != m.last_sent.end() && now - it->second < interval) continue;
    m.last_sent[a.label_values] = now;
    m.resolved.erase(a.label_values);
    batch.push_back({a, false, now + interval * ends_at_intervals});
  }
  for (auto it = m.resolved.begin(); it != m.resolved.end();) {
    auto& r = it->second;
    if (now - r.resolved_at > interval * resend_resolved_for) {
      it = m.resolved.erase(it);
      continue;
    }
    if (now - r.last_sent >= interval) {
      r.last_sent = now;
      batch.push_back({r.alert, true, r.resolved_at});
    }
    ++it;
  }
  m.enqueue(batch);
}

std::size_t notifier::queued() const {
  std::size_t n = 0;
  for (const auto& r : impl_->receivers) n += r->queue.size();
  return n;
}

bool read_notify_settings(node_reader& r, notify_settings& out) {
  bool valid = true;
  if (r.has("alertmanager")) {
    if (auto am = r.map("alertmanager")) {
      if (am->has("url")) {
        if (web_url url; read_web_url(*am, false, url))
          out.alertmanager_urls.push_back(url.text());
        else
          valid = false;
      }
      if (am->has("urls")) {
        if (auto items = am->sequence("urls")) {
          for (auto& item : *items) {
            const auto& n = item.node();
            if (!n.IsScalar()) {
              item.error_here("expected a URL");
              valid = false;
              continue;
            }
            std::string why;
            if (!parse_web_url(n.Scalar(), false, why)) {
              item.error_here("\"" + n.Scalar() + "\" " + why);
              valid = false;
            } else {
              out.alertmanager_urls.push_back(n.Scalar());
            }
          }
        }
      }
      if (out.alertmanager_urls.empty() && valid) {
        am->error_here("needs url or urls");
        valid = false;
      }
      am->finish();
    } else {
      valid = false;
    }
  }
  if (r.has("webhook")) {
    if (auto wh = r.map("webhook")) {
      if (web_url url; read_web_url(*wh, false, url))
        out.webhook_url = url.text();
      else
        valid = false;
      if (wh->has("bearer_token")) out.webhook_bearer_token = wh->string("bearer_token").value_or("");
      wh->finish();
    } else {
      valid = false;
    }
  }
  if (r.has("resend_interval")) {
    if (auto d = r.duration("resend_interval"))
      out.resend_interval = *d;
    else
      valid = false;
  }
  if (r.has("max_queue")) {
    if (auto n = r.integer("max_queue", 1, 1000000))
      out.max_queue = static_cast<std::size_t>(*n);
    else
      valid = false;
  }
  return valid;
}

}  // namespace vitals
