#pragma once

#include <string_view>

namespace vitals {

std::string_view version();   // "0.1.0"
std::string_view revision();  // source revision at build time, or "unknown"

}  // namespace vitals
