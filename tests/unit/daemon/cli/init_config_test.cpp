// The config `vitalsd init` writes for a given survey (no --http: no
// network). The e2e test runs it against real services.

#include "daemon/cli/init_command.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vitals {
namespace {

port_listener listening(std::uint16_t port, int pid, const std::string& name) {
  port_listener l;
  l.address = "127.0.0.1";
  l.port = port;
  socket_owner o;
  o.pid = pid;
  o.process = name;
  o.user = "dev";
  l.owner = o;
  return l;
}

TEST(init_config, a_program_holding_several_ports_gets_one_probe_with_the_list) {
  host_survey s;
  s.listeners = {listening(3000, 42, "node"), listening(3001, 42, "node"), listening(3002, 42, "node"),
                 listening(3005, 42, "node"), listening(8080, 7, "python3")};
  const auto text = init_config_text(s, false);
  EXPECT_NE(text.find("  # ports 3000-3002, 3005 are owned by node (pid 42, user dev)\n"
                      "  - name: \"ports-node\"\n    type: port\n    ports: \"3000-3002,3005\"\n"
                      "    expect_process: \"node\"\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    port: 8080\n    expect_process: \"python3\"\n"), std::string::npos) << text;
}

TEST(init_config, text_from_the_host_stays_on_its_line_and_one_program_is_one_probe) {
  host_survey s;
  s.listeners = {listening(3000, 1, "a\nb")};
  survey_process p;
  p.who.pid = 5;
  p.who.process = "node";
  p.who.user = "dev";
  p.who.cmdline = "node server.js";
  s.programs = {p, p};  // two workers of one program
  s.unseen = {"something\n  - name: injected"};
  const auto text = init_config_text(s, false);
  EXPECT_NE(text.find("expect_process: \"a\\x0ab\""), std::string::npos) << text;
  EXPECT_NE(text.find("# Not seen: something\\n  - name: injected\n"), std::string::npos) << text;
  EXPECT_NE(text.find("match: {name: \"node\", cmdline: \"server\\\\.js\"}\n    min_count: 2\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("\n  - name: injected"), std::string::npos) << text;
}

TEST(init_config, nothing_found_is_still_a_valid_config) {
  EXPECT_NE(init_config_text(host_survey{}, false).find("\nprobes: []\n"), std::string::npos);
}

}  // namespace
}  // namespace vitals
