// `show_cmdline`: whether a process probe's evidence shows command lines.

#include "probes/process/process_probe.hpp"

#include "support/probe_config_fixture.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

using process_show_cmdline = test::probe_config_fixture<process_probe>;

TEST_F(process_show_cmdline, command_lines_are_shown_by_default) {
  auto* p = create("probes:\n  - {name: app, type: process, match: {name: node}}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_TRUE(p->config().show_cmdline);
}

TEST_F(process_show_cmdline, false_turns_command_line_evidence_off) {
  auto* p = create("probes:\n  - {name: app, type: process, match: {name: node}, show_cmdline: false}\n");
  ASSERT_NE(p, nullptr) << only_error();
  EXPECT_FALSE(p->config().show_cmdline);
}

TEST_F(process_show_cmdline, a_value_that_is_not_a_boolean_is_an_error_at_its_position) {
  auto* p = create("probes:\n  - {name: app, type: process, match: {name: node}, show_cmdline: hide}\n");
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(only_error(), "vitals.yaml:2:67: probes[0].show_cmdline: expected true or false, got \"hide\"");
}

}  // namespace
}  // namespace vitals
