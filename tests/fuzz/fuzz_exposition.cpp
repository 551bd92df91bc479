// The Prometheus text exposition parser: the alert engine reads the
// daemon's own /metrics text through it. Any bytes must come back as some
// list of series, without a crash or an exception.
//
// Promise checked beyond "no crash": a label value is built from the input
// with escapes removed, so it is never longer than the input.

#include "fuzz_input.hpp"

#include "daemon/alerts/alert_engine.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto all = vitals::alerts::parse_exposition(vitals::fuzz::as_text(data, size));
  for (const auto& s : all) {
    vitals::fuzz::require(s.name.size() <= size, "a series name is longer than the input");
    for (const auto& [name, value] : s.label_values)
      vitals::fuzz::require(name.size() + value.size() <= size, "a label is longer than the input");
  }
  return 0;
}
