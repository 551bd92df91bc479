// What `vitalsd init` reads from a command line and a process name.

#include "daemon/cli/host_survey.hpp"

#include <gtest/gtest.h>

namespace vitals {
namespace {

TEST(host_survey, the_program_a_runtime_runs_is_its_script_module_or_jar) {
  EXPECT_EQ(program_of("node /srv/app/server.js --port 3001"), "server.js");
  EXPECT_EQ(program_of("/usr/bin/python3 -u -m http.server 3001"), "http.server");
  EXPECT_EQ(program_of("java -Xmx512m -jar /opt/app/billing.jar"), "billing.jar");
  EXPECT_EQ(program_of("node --inspect dist/index.js"), "index.js");
  EXPECT_EQ(program_of("python3 -c import time; time.sleep(60)"), "");
  EXPECT_EQ(program_of("node -e require('http').createServer().listen(3000)"), "");
  EXPECT_EQ(program_of("python3"), "");
  EXPECT_EQ(program_of(""), "");
}

TEST(host_survey, runtimes_are_known_by_name_including_versioned_pythons) {
  for (const char* name : {"node", "python3", "python3.11", "java", "ruby", "beam.smp", "gunicorn"})
    EXPECT_TRUE(is_runtime_name(name)) << name;
  for (const char* name : {"bash", "sshd", "python3.", "redis-server", "postgres", "nodes"})
    EXPECT_FALSE(is_runtime_name(name)) << name;
}

}  // namespace
}  // namespace vitals
