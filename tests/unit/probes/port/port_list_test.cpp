#include "probes/port/port_list.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace vitals {
namespace {

using ports = std::vector<std::uint16_t>;

TEST(port_list, single_port_parses) {
  auto r = parse_port_list("3001");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.ports, ports{3001});
}

TEST(port_list, range_is_inclusive) {
  auto r = parse_port_list("3005-3008");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.ports, (ports{3005, 3006, 3007, 3008}));
}

TEST(port_list, list_of_ports_and_ranges_is_sorted_and_deduplicated) {
  auto r = parse_port_list(" 3010 , 3001,3005-3006,3005 ");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.ports, (ports{3001, 3005, 3006, 3010}));
}

TEST(port_list, port_zero_and_above_65535_are_rejected) {
  EXPECT_EQ(parse_port_list("0").error, "0 is not a valid port (1-65535)");
  EXPECT_EQ(parse_port_list("3001,70000").error, "70000 is not a valid port (1-65535)");
  EXPECT_EQ(parse_port_list("99999999999999999999").error, "99999999999999999999 is not a valid port (1-65535)");
}

TEST(port_list, non_numbers_are_rejected) {
  EXPECT_EQ(parse_port_list("http").error, "\"http\" is not a port number");
  EXPECT_EQ(parse_port_list("+80").error, "\"+80\" is not a port number");
  EXPECT_EQ(parse_port_list("3005-").error, "\"\" is not a port number");
}

TEST(port_list, reversed_range_is_rejected) {
  EXPECT_EQ(parse_port_list("3010-3005").error, "\"3010-3005\" is not a valid range (start after end)");
}

TEST(port_list, empty_text_or_item_is_rejected) {
  EXPECT_NE(parse_port_list("").error.find("is not a port list"), std::string::npos);
  EXPECT_NE(parse_port_list("3001,,3002").error.find("has an empty item"), std::string::npos);
}

TEST(port_list, more_than_1024_ports_are_rejected) {
  EXPECT_EQ(parse_port_list("1-1024").error, "");
  EXPECT_NE(parse_port_list("1-1025").error.find("covers more than 1024 ports"), std::string::npos);
  EXPECT_NE(parse_port_list("1-1000,2000-2100").error.find("covers more than 1024 ports"), std::string::npos);
  EXPECT_NE(parse_port_list("1-65535").error.find("covers more than 1024 ports"), std::string::npos);
}

TEST(port_list, formatting_collapses_runs_into_ranges) {
  EXPECT_EQ(format_port_list({3001}), "3001");
  EXPECT_EQ(format_port_list({3005, 3006, 3007, 3008, 3009, 3010}), "3005-3010");
  EXPECT_EQ(format_port_list({3001, 3005, 3006, 3007, 3009}), "3001,3005-3007,3009");
  EXPECT_EQ(format_port_list_readable({3001, 3005, 3006}), "3001, 3005-3006");
}

TEST(port_list, normalize_rejects_empty_and_oversized_lists) {
  ports none;
  EXPECT_EQ(normalize_port_list(none), "lists no port");
  ports many;
  for (std::uint32_t p = 1; p <= 1025; ++p) many.push_back(static_cast<std::uint16_t>(p));
  EXPECT_EQ(normalize_port_list(many), "covers 1025 ports; at most 1024 per probe");
  ports some{5, 3, 5};
  EXPECT_EQ(normalize_port_list(some), std::nullopt);
  EXPECT_EQ(some, (ports{3, 5}));
}

}  // namespace
}  // namespace vitals
