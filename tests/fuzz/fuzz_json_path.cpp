// JSON paths (`extract:`), the lookup of a path in a response body, and the
// `expect_json:` subset match, over documents from the input. Input: the
// path, a NUL byte, the expected document, a NUL byte, the response body.
//
// Promises checked beyond "no crash": a parsed path keeps its text; the root
// path finds the document itself; every document matches itself; a body
// excerpt is one line, bounded, and cut on a UTF-8 boundary.

#include "fuzz_input.hpp"

#include "probes/core/valid_text.hpp"
#include "probes/net/web_target.hpp"

#include <boost/json/parse.hpp>

#include <optional>
#include <string>

namespace {

// What the HTTP probe keeps of a body as evidence is about this long.
constexpr std::size_t excerpt_bytes = 64;

// As the probes parse a body: default options (depth 32, strict UTF-8).
std::optional<boost::json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return value;
}

void check_excerpt(const std::string& body) {
  using vitals::fuzz::require;
  const auto excerpt = vitals::body_excerpt(body, excerpt_bytes);
  require(excerpt.size() <= excerpt_bytes + 3, "a body excerpt is longer than its limit");  // + "…"
  for (unsigned char c : excerpt) require(c >= 0x20 && c != 0x7f, "a body excerpt holds a control byte");
  if (vitals::is_valid_utf8(body)) require(vitals::is_valid_utf8(excerpt), "a body excerpt cuts a UTF-8 sequence");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vitals::fuzz::require;
  const auto parts = vitals::fuzz::split_input(vitals::fuzz::as_text(data, size), 3);
  const std::string path_text(parts[0]);
  const auto expected = parse_json(parts[1]);
  const auto actual = parse_json(parts[2]);

  const auto path = vitals::parse_json_path(path_text);
  if (path) require(path->text == path_text, "a parsed JSON path does not keep its text");
  if (actual) {
    if (path) {
      (void)vitals::find_json(*actual, *path);
      (void)vitals::json_number(*actual, *path);
    }
    const auto root = vitals::parse_json_path(".");
    require(root && vitals::find_json(*actual, *root) == &*actual, "the path \".\" does not find the document");
    require(vitals::json_subset_mismatch(*actual, *actual).empty(), "a JSON document does not match itself");
    if (expected) (void)vitals::json_subset_mismatch(*expected, *actual);
  }
  check_excerpt(std::string(parts[2]));
  return 0;
}
