#pragma once

// The one rule for secrets: any substring that came from ${env:…} or
// ${file:…} in the config is shown as "<redacted>" in every output —
// errors, evidence, targets, logs, the API, the state file, notifications —
// whatever key it sat under and wherever a target echoes it back.
//
// A redactor holds the secret values (the substituted pieces, not whole
// scalars) and the forms each takes on its way out: as written, percent-
// encoded (a URL's query, path or userinfo), JSON-escaped, escaped as a
// Prometheus label value, HTML-escaped, and as printable() shows it. It is
// a value: copies share one immutable, compiled set, so it is cheap to pass
// around and safe to use from any thread.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vitals {

class redactor {
public:
  // Knows no secret: redact() changes nothing.
  redactor() = default;
  // Empty values are dropped, repeated ones kept once. Beyond max_secrets
  // values or max_total_bytes, the last ones are dropped.
  explicit redactor(std::vector<std::string> secrets);

  // Every occurrence of a secret, in any of its forms, becomes "<redacted>",
  // in one pass over `text`. A "<redacted>" already there is left as it is,
  // so redacting twice gives the same text as redacting once.
  void redact(std::string& text) const;
  std::string redacted(std::string text) const {
    redact(text);
    return text;
  }

  bool empty() const { return compiled_ == nullptr; }
  // The values, in the order given.
  std::span<const std::string> secrets() const;

  // Every secret of `newer`, then those of `older` as far as the bounds
  // allow: a reload keeps redacting what earlier configs held (a probe's
  // old answer may still quote it), but a daemon reloaded forever with new
  // secrets does not grow without end.
  static redactor merge(const redactor& older, const redactor& newer);

  static constexpr std::size_t max_secrets = 1000;
  static constexpr std::size_t max_total_bytes = 1 << 20;

private:
  struct compiled;
  std::shared_ptr<const compiled> compiled_;
};

// The texts `secret` may take on its way out (see the header comment), the
// secret itself first, each once. For tests and for redactor itself.
std::vector<std::string> secret_forms(std::string_view secret);

}  // namespace vitals
