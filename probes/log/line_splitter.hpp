#pragma once

// Cutting a log's bytes into lines. Pure: no I/O, so the splitter is fuzzed
// and tested on byte strings. The reader owns one per followed file, since
// a line cut at max_line keeps being dropped up to its newline across
// reads and runs.

#include <cstddef>
#include <string_view>

namespace vitals {

class line_splitter {
 public:
  static constexpr std::size_t default_max_line = 64 * 1024;

  explicit line_splitter(std::size_t max_line = default_max_line) : max_line_(max_line == 0 ? 1 : max_line) {}

  // Splits `data`, which starts where the bytes used by the last call
  // ended. Calls on_line(text, cut) for every line ended by '\n' (without
  // it, and without a '\r' before it) and, for a line longer than
  // max_line, once with its first max_line bytes and cut = true; the rest
  // of that line, up to its newline, is dropped, also across calls.
  // Returns how many bytes of `data` were used. What is left, a line not
  // yet ended and shorter than max_line, must be given again with the
  // bytes that follow it: a partial last line waits for its newline.
  template <class OnLine>
  std::size_t split(std::string_view data, OnLine&& on_line);

  // The source ends at the end of `rest`, the bytes split() left (a
  // rotated file read to its end, a copy that will not grow): a last line
  // without a newline counts as a line. Forgets any cut line.
  template <class OnLine>
  void finish(std::string_view rest, OnLine&& on_line);

  // True while the rest of a cut line is being dropped.
  bool dropping() const { return dropping_; }
  // Starts in the middle of a line (a read that skipped ahead): its rest is
  // dropped like a cut line's, so no fragment counts as a line.
  void drop_until_newline() { dropping_ = true; }
  void reset() { dropping_ = false; }
  std::size_t max_line() const { return max_line_; }

 private:
  static std::string_view without_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }

  std::size_t max_line_;
  bool dropping_ = false;
};

template <class OnLine>
std::size_t line_splitter::split(std::string_view data, OnLine&& on_line) {
  std::size_t at = 0;
  while (at < data.size()) {
    const auto newline = data.find('\n', at);
    if (dropping_) {
      if (newline == std::string_view::npos) return data.size();  // all of it belongs to the cut line
      dropping_ = false;
      at = newline + 1;
      continue;
    }
    const std::size_t end = newline == std::string_view::npos ? data.size() : newline;
    if (end - at > max_line_) {
      on_line(data.substr(at, max_line_), true);
      dropping_ = true;
      at += max_line_;
      continue;
    }
    if (newline == std::string_view::npos) break;  // wait for the rest of this line
    on_line(without_cr(data.substr(at, end - at)), false);
    at = newline + 1;
  }
  return at;
}

template <class OnLine>
void line_splitter::finish(std::string_view rest, OnLine&& on_line) {
  const std::size_t used = split(rest, on_line);
  rest.remove_prefix(used);
  if (!rest.empty() && !dropping_) on_line(without_cr(rest), false);
  dropping_ = false;
}

}  // namespace vitals
