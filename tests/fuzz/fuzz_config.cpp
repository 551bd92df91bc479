// The config loader on whole files, with every built-in probe kind: read,
// substitute secrets, validate. Nothing is built (no loop, no pool), as
// `vitalsd validate` does it.
//
// Promises checked beyond "no crash": a load either gives a config or says
// why not; every error is one printable line of bounded length; and a
// value that came from ${env:…} is never echoed in an error.

#include "fuzz_input.hpp"

#include "daemon/app/config.hpp"
#include "probes/core/probe_registry.hpp"
#include "probes/core/valid_text.hpp"

#include <cstdlib>
#include <string>

namespace {

// The seeds and the dictionary reference this variable, so the fuzzer puts
// a secret in every kind of place and the check below can look for it.
constexpr const char* secret_variable = "VITALS_FUZZ_SECRET";
constexpr const char* secret_value = "s3cret-from-env-5e1f";

// One readable line, however big the input (tests/e2e/test_hostile_config.py
// holds `vitalsd validate` to the same bound).
constexpr std::size_t max_error_line = 1000;

const vitals::probe_registry& registry() {
  static const vitals::probe_registry kinds = [] {
    vitals::probe_registry r;
    vitals::register_builtin_probes(r);
    return r;
  }();
  return kinds;
}

bool has_control_bytes(const std::string& text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv(secret_variable, secret_value, 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const std::string text(vitals::fuzz::as_text(data, size));
  const auto loaded = vitals::load_config_text(text, "fuzz.yaml", registry());
  // The fuzzer learns the secret's text from comparisons and may write it
  // into the file itself; quoting the file's own text is no leak.
  const bool secret_only_from_env = text.find(secret_value) == std::string::npos;

  require((loaded.cfg == nullptr) == !loaded.errors.empty(), "a load without a config must say why, and only then");
  for (const auto& e : loaded.errors) {
    const std::string line = e.str();
    require(!has_control_bytes(line), "a config error holds a control character (not one printable line)");
    require(vitals::is_valid_utf8(line), "a config error is not valid UTF-8");
    require(line.size() <= max_error_line, "a config error is longer than one readable line");
    if (secret_only_from_env)
      require(line.find(secret_value) == std::string::npos, "a config error echoes a value from ${env:}");
  }
  return 0;
}
