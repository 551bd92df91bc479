// The bytes of a log, as the log probe reads them: cut into lines by the
// line splitter, in pieces of the sizes the input chooses; each line parsed
// as a JSON log line and its fields compared, as a Docker json-file
// envelope decoded, and its time read as RFC 3339. Input: one byte choosing
// the piece size, then the log.
//
// Promises checked beyond "no crash": a line holds no newline and is never
// longer than the limit; how the bytes are cut into pieces changes neither
// the lines nor whether they were cut; a field's text is bounded.

#include "fuzz_input.hpp"

#include "probes/log/docker_source.hpp"
#include "probes/log/json_fields.hpp"
#include "probes/log/line_splitter.hpp"
#include "probes/log/log_tally.hpp"

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace {

using vitals::fuzz::require;

// Small, so that cut lines happen on short inputs.
constexpr std::size_t max_line = 64;

using line_list = std::vector<std::pair<std::string, bool>>;

// Splits `log` fed in pieces of `piece` bytes, as a reader does: what a call
// left is given again in front of the next piece; the end finishes it.
line_list split(std::string_view log, std::size_t piece) {
  vitals::line_splitter splitter(max_line);
  line_list lines;
  auto keep = [&](std::string_view text, bool cut) {
    require(text.find('\n') == std::string_view::npos, "a line holds a newline");
    require(text.size() <= max_line, "a line is longer than the limit");
    lines.emplace_back(std::string(text), cut);
  };
  std::string pending;
  for (std::size_t at = 0; at < log.size(); at += piece) {
    pending.append(log.substr(at, piece));
    const auto used = splitter.split(pending, keep);
    require(used <= pending.size(), "the splitter used more bytes than it was given");
    pending.erase(0, used);
    require(pending.size() <= max_line, "the splitter left more than a line's worth unused");
  }
  splitter.finish(pending, keep);
  return lines;
}

const std::vector<vitals::json_condition>& conditions() {
  using op = vitals::json_condition::op;
  static const std::vector<vitals::json_condition> all = [] {
    std::vector<vitals::json_condition> c;
    c.push_back({*vitals::parse_field_path("level"), op::gte, {}, 50});
    c.push_back({*vitals::parse_field_path("level"), op::eq, {"error", "fatal", "50"}});
    c.push_back({*vitals::parse_field_path("err.code"), op::ne, {"ECONNREFUSED"}});
    c.push_back({*vitals::parse_field_path("log.level"), op::exists, {}});
    c.push_back({*vitals::parse_field_path("a.b.c.d.e.f.g.h"), op::lt, {}, -1e300});
    return c;
  }();
  return all;
}

void check_json(vitals::json_line& parser, const std::string& line) {
  const auto* object = parser.parse(line);
  if (object == nullptr) return;
  for (const auto& c : conditions()) {
    (void)c.holds(*object);
    if (const auto* v = vitals::find_field(*object, c.field))
      require(vitals::field_text(*v, 128).size() <= 128, "a field's text is longer than its bound");
  }
}

std::shared_ptr<const vitals::log_pattern_set> every_line() {
  std::string error;
  std::vector<vitals::log_pattern> patterns;
  patterns.push_back(*vitals::log_pattern::compile({"any", "", {conditions()[0]}, "err.code"}, error));
  return std::make_shared<const vitals::log_pattern_set>(std::move(patterns));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 97;
  const auto log = vitals::fuzz::as_text(data + 1, size - 1);

  const auto whole = split(log, log.size() + 1);
  require(split(log, piece) == whole, "the lines depend on how the bytes were cut into pieces");

  static vitals::json_line parser;
  static vitals::log_tally tally(every_line());
  static std::atomic<bool> stop{false};
  vitals::read_pass pass{
      tally, 1 << 20,      stop, std::chrono::steady_clock::time_point::max(), vitals::wall_clock::now(), false,
      false, std::nullopt, {}};
  vitals::docker_log_decoder decoder("fuzz");
  for (const auto& [line, cut] : whole) {
    check_json(parser, line);
    decoder.line(line, cut, "fuzz-json.log", pass);
    (void)vitals::parse_rfc3339(line);
  }
  tally.start_window();
  return 0;
}
