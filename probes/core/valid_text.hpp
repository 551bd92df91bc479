#pragma once

// Text from outside — a target's bytes, a process name, a user's config —
// made safe to show. Every exit (/metrics, JSON, logs, evidence, the state
// store, error messages) goes through one of these. Pure; safe on any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace vitals {

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, no
// code point above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// Offset of the first ill-formed sequence, or npos when there is none.
std::size_t first_invalid_utf8(std::string_view text);

// `text` with every ill-formed sequence replaced by U+FFFD, one per maximal
// ill-formed subpart (the Unicode "best practice" also used by browsers).
// Valid text comes back unchanged.
std::string valid_utf8(std::string_view text);

// In place; does not allocate when the text is already valid.
void make_valid_utf8(std::string& text);

// For messages that quote user input: control characters become C-style
// escapes (\n, \r, \t, \x1b) and ill-formed bytes \xff, so a quoted key or
// value can neither break a line nor smuggle terminal escapes. Printable
// UTF-8 is kept as it is.
std::string printable(std::string_view text);

}  // namespace vitals
