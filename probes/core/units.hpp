#pragma once

#include <string>

namespace vitals {

// Bytes for people, binary units, one decimal:
// 1536 -> "1.5 KiB", 958398464 -> "914.0 MiB", -2048 -> "-2.0 KiB".
std::string format_bytes(double bytes);

}  // namespace vitals
