// Alert annotation templates: {{ $labels.x }}, {{ $value }} and the humanize
// family, rendered with any value (NaN, infinities, huge and tiny numbers).
// Input: eight bytes of a double, the template, a NUL byte, the value of
// the `probe` label.

#include "fuzz_input.hpp"

#include "daemon/alerts/alert_template.hpp"

#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  double value = 0;
  if (size >= sizeof value) {
    std::memcpy(&value, data, sizeof value);
    data += sizeof value;
    size -= sizeof value;
  }
  const auto parts = vitals::fuzz::split_input(vitals::fuzz::as_text(data, size), 2);
  const vitals::alerts::labels label_values{{"probe", std::string(parts[1])}, {"kind", "port"}};

  (void)vitals::alerts::template_problem(parts[0]);
  const auto rendered = vitals::alerts::render_template(parts[0], label_values, value);
  // A template without "{{" has nothing to fill in: it comes back as written.
  if (parts[0].find("{{") == std::string_view::npos)
    vitals::fuzz::require(rendered == parts[0], "a template without {{ is not left as written");
  return 0;
}
