// The web config parser (--web.config.file) on whole files: the
// exporter-toolkit format, read and checked. Nothing is loaded from the
// paths it names.
//
// Promises checked beyond "no crash": a parse either gives a config or
// says why not, never both; every error is one printable, valid UTF-8
// line of bounded length; a bcrypt hash that was accepted has the shape
// crypt_r expects.

#include "fuzz_input.hpp"

#include "daemon/server/web_config.hpp"
#include "probes/core/valid_text.hpp"

#include <string>

namespace {

constexpr std::size_t max_error_line = 1000;

bool has_control_bytes(const std::string& text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const std::string text(vitals::fuzz::as_text(data, size));
  const auto parsed = vitals::parse_web_config(text, "web.yml", "/nonexistent");

  require(parsed.config.has_value() == parsed.errors.empty(), "a parse gives a config or errors, never both");
  for (const auto& e : parsed.errors) {
    const std::string line = e.str();
    require(!has_control_bytes(line), "a web config error holds a control character (not one printable line)");
    require(vitals::is_valid_utf8(line), "a web config error is not valid UTF-8");
    require(line.size() <= max_error_line, "a web config error is longer than one readable line");
  }
  if (parsed.config)
    for (const auto& [user, hash] : parsed.config->basic_auth_users)
      require(hash.size() == 60 && hash[0] == '$', "an accepted password hash is not a bcrypt hash");
  return 0;
}
