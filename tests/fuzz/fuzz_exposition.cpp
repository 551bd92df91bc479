// The exposition writer: any bytes a probe reports as a label value (a
// process name, a Redis client name) come out of /metrics as one valid,
// escaped label that Prometheus reads back as the same text made valid
// UTF-8, and the line around it stays one line; written in place, as a
// scrape writes it, it is the same bytes.

#include "fuzz_input.hpp"

#include "daemon/metrics/exposition.hpp"
#include "probes/core/valid_text.hpp"
#include "support/exposition_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto value = vitals::fuzz::as_text(data, size);
  std::string line = "vitals_fake_value{";
  vitals::exposition::append_label(line, "process", value, true);
  line += "} ";
  vitals::exposition::append_value(line, static_cast<double>(size) / 7);
  line += '\n';
  vitals::fuzz::require(vitals::is_valid_utf8(line), "a line of /metrics is not valid UTF-8");
  vitals::fuzz::require(line.find('\n') == line.size() - 1, "a label value broke its line");
  const auto all = vitals::test::parse_exposition(line);
  vitals::fuzz::require(all.size() == 1, "the line does not read back as one sample");
  vitals::fuzz::require(all[0].label_values.at("process") == vitals::valid_utf8(value),
                        "the label does not read back as the value made valid UTF-8");
  // The scrape's writer puts the value in place: the same bytes, within its bound.
  std::string appended, written(vitals::exposition::max_label_value_size(value.size()), '\0');
  vitals::exposition::append_label_value(appended, value);
  written.resize(static_cast<std::size_t>(vitals::exposition::write_label_value(written.data(), value) - written.data()));
  vitals::fuzz::require(written == appended, "a label value written in place differs from the appended one");
  return 0;
}
