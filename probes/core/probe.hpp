#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vitals {

namespace asio = boost::asio;

// Label name -> value. Ordered, so a label set has one spelling.
using label_set = std::map<std::string, std::string>;

// One kind-specific series value produced by a run, e.g.
// {"vitals_port_open", {{"port", "3001"}}, 1}. The `probe` label is added by
// the metrics layer; a probe never touches the registry.
struct sample {
  std::string name;
  label_set labels;
  double value = 0;
};

// Ordered key -> text: what a responder would have looked up by hand.
using evidence_list = std::vector<std::pair<std::string, std::string>>;

struct probe_result {
  bool ok = false;              // -> vitals_probe_success
  std::string error;            // one line naming the cause, empty when ok
  std::string reason;           // short machine label: refused|timeout|conflict|...
  std::vector<sample> samples;  // kind-specific series, see docs/metrics.md
  evidence_list evidence;

  static probe_result success() {
    probe_result r;
    r.ok = true;
    return r;
  }
  static probe_result failure(std::string reason, std::string error) {
    probe_result r;
    r.reason = std::move(reason);
    r.error = std::move(error);
    return r;
  }
};

// What a probe may use besides its own settings. Outlives every probe.
// The pool must be joined before the io_context is destroyed: work finished
// on the pool posts its result back to the loop.
struct probe_context {
  asio::io_context& io;     // the one event loop; also the home of shared
                            // services such as socket_owner_index
  asio::thread_pool& pool;  // for blocking work (/proc scans, SQLite, statvfs)

  asio::any_io_executor loop() const { return io.get_executor(); }
};

// One check of one target. The scheduler owns the deadline: it races run()
// against a timer and cancels the loser, so a probe only has to stop cleanly
// when cancelled. A probe may also end its own I/O shortly before the
// deadline (the web probes do, at 90% of the timeout) so that its account of
// what was missing wins over a bare "timeout"; it then returns reason
// "timeout", and such a run counts as a timeout like one the scheduler
// stopped. A probe never counts its own failures and never touches the
// metrics registry. Used from the loop thread only.
class probe {
public:
  virtual ~probe() = default;
  virtual asio::awaitable<probe_result> run() = 0;
  // Short human description of the target for status output ("127.0.0.1:3001").
  // Never contains a secret.
  virtual std::string target() const = 0;

  // Set by the scheduler that runs the probe; what request_run() calls.
  void set_run_requester(std::function<void()> requester) { run_requester_ = std::move(requester); }

protected:
  // For a probe that learns between runs what its series must show at once
  // (a kept connection the server closed): asks for a run now, or right
  // after the one in flight. The schedule stays as it was and the run counts
  // like any other. Does nothing outside a scheduler (`vitalsd check`).
  void request_run() const {
    if (run_requester_) run_requester_();
  }

private:
  std::function<void()> run_requester_;
};

// Static description of a series a probe kind can produce, so /metrics can
// print HELP and TYPE lines and alert rules can know every metric name.
enum class metric_kind { gauge, counter };
struct metric_info {
  std::string_view name;
  std::string_view help;
  metric_kind kind = metric_kind::gauge;
};

// What a built-in's threshold measures, so `threshold:` can be written the
// way the rest of the config writes it ("200MiB", "10m", "80%").
enum class threshold_unit { number, bytes, bytes_per_second, seconds, ratio };

// A built-in alert rule that a probe kind ships beside its series (DESIGN
// §6), written in the daemon's rule language. Users disable it or change
// its threshold, `for` and severity by name under `alerts.builtin`.
struct builtin_alert {
  std::string_view name;         // alertname, also the runbook's file name
  std::string_view when;         // "{}" stands for the threshold
  double threshold;              // no_threshold: the expression has none to change
  std::chrono::milliseconds for_;
  std::string_view severity;     // critical | high | medium | low
  std::string_view summary;      // templates: {{ $labels.probe }}, {{ $value | humanize }}, ...
  std::string_view description;
  threshold_unit unit = threshold_unit::number;

  static constexpr double no_threshold = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace vitals
