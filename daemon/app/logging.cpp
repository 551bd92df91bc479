#include "daemon/app/logging.hpp"

#include "probes/core/valid_text.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace vitals {

namespace {

// Pool threads log too: the redactor is swapped under a lock and each
// message works on its own copy (a shared pointer inside), never blocking
// a swap while it redacts.
std::mutex log_secrets_lock;
redactor log_secrets;

redactor current_log_secrets() {
  std::lock_guard lock(log_secrets_lock);
  return log_secrets;
}

// Messages quote targets and the host (a probe's cause, a client's request
// target, a file path), whose bytes can be anything: each line is made
// valid UTF-8 here, once for every message. And whatever a message quotes,
// a secret from the config in it is "<redacted>": this is the one place
// every log line passes, in both formats.
std::string_view valid_payload(const spdlog::details::log_msg& msg, std::string& repaired) {
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  const redactor secrets = current_log_secrets();
  if (secrets.empty() && is_valid_utf8(payload)) return payload;
  repaired = valid_utf8(payload);
  secrets.redact(repaired);
  return repaired;
}

// %* in the json pattern: the message as a JSON string body, escaped.
class json_escaped_message final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    std::string repaired;
    for (char c : valid_payload(msg, repaired)) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', hex[(c >> 4) & 0xf], hex[c & 0xf]};
            dest.append(esc, esc + sizeof esc);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_escaped_message>(); }
};

// %* in the text pattern: the message on one line, control characters
// escaped, so a newline from a target cannot forge a log line and an escape
// sequence cannot reach the reader's terminal.
class printable_message final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string repaired;
    const std::string shown = printable(valid_payload(msg, repaired));
    dest.append(shown.data(), shown.data() + shown.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<printable_message>(); }
};

}  // namespace

void set_log_secrets(redactor secrets) {
  std::lock_guard lock(log_secrets_lock);
  log_secrets = std::move(secrets);
}

bool setup_logging(const log_settings& settings) {
  const auto level = spdlog::level::from_str(settings.level);
  if (level == spdlog::level::off && settings.level != "off") return false;
  if (settings.format != "text" && settings.format != "json") return false;

  std::shared_ptr<spdlog::logger> logger;
  if (settings.format == "json") {
    logger = std::make_shared<spdlog::logger>("vitalsd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<json_escaped_message>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger = std::make_shared<spdlog::logger>("vitalsd", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<printable_message>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %*");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // a daemon's log is read live (journal, tests)
  spdlog::set_default_logger(std::move(logger));
  return true;
}

}  // namespace vitals
