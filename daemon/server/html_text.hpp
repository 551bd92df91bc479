#pragma once

// Text placed into the HTML pages the daemon serves (status page, runbooks).

#include <string>
#include <string_view>

namespace vitals {

// & < > " ' as character references: safe in element text and in quoted
// attribute values.
std::string html_escape(std::string_view s);

}  // namespace vitals
