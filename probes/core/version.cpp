#include "probes/core/version.hpp"

namespace vitals {

std::string_view version() { return VITALS_VERSION; }
std::string_view revision() { return VITALS_REVISION; }

}  // namespace vitals
