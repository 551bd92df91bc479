// The log probe on a Docker root laid out as dockerd writes it with the
// json-file driver: containers/<id>/config.v2.json names the container,
// hostconfig.json names the driver, <id>-json.log holds one JSON envelope
// per piece of output, appended by a real writer process.

#include "fixtures/log_probe_harness.hpp"
#include "fixtures/log_writer.hpp"
#include "support/as_nobody.hpp"
#include "support/temp_env.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace vitals {
namespace {

using test::describe;
using test::evidence_value;
using test::lines;
using test::matches;

class log_docker_probe : public test::log_probe_harness {
 protected:
  test::temp_dir root;

  static std::string id_of(char c) { return std::string(64, c); }
  std::string dir_of(const std::string& id) const { return root.path() + "/containers/" + id; }
  std::string log_of(const std::string& id) const { return dir_of(id) + "/" + id + "-json.log"; }

  // What `docker run --name NAME` leaves on disk before the first output.
  void create_container(const std::string& id, const std::string& name, const std::string& driver = "json-file") {
    std::filesystem::create_directories(dir_of(id));
    std::ofstream(dir_of(id) + "/config.v2.json")
        << R"({"StreamConfig":{},"State":{"Running":true,"Pid":4242,"StartedAt":"2024-05-01T10:00:00Z"},"ID":")" << id
        << R"(","Created":"2024-05-01T09:59:59Z","Path":"node","Args":["server.js"],"Config":{"Hostname":")"
        << id.substr(0, 12) << R"(","Image":"api:latest"},"Image":"sha256:0123","Name":"/)" << name
        << R"(","RestartCount":0,"Driver":"overlay2","LogPath":")" << log_of(id) << R"("})";
    std::ofstream(dir_of(id) + "/hostconfig.json") << R"({"Binds":null,"LogConfig":{"Type":")" << driver
                                                   << R"(","Config":{"max-size":"10m"}},"NetworkMode":"bridge"})";
    std::ofstream(log_of(id), std::ios::app);
  }

  // One envelope as the json-file driver writes it: the text JSON-escaped.
  static std::string envelope(const std::string& text, const std::string& stream = "stdout",
                              const std::string& time = "2024-05-01T10:00:01.123456789Z") {
    std::string escaped;
    for (char c : text) {
      if (c == '"' || c == '\\') escaped += '\\';
      if (c == '\n') {
        escaped += "\\n";
        continue;
      }
      escaped += c;
    }
    return R"({"log":")" + escaped + R"(","stream":")" + stream + R"(","time":")" + time + "\"}\n";
  }

  static void lines_to(test::log_writer& w, int n, const std::string& text, const std::string& stream = "stdout") {
    std::string bytes;
    for (int i = 0; i < n; ++i) bytes += envelope(text + "\n", stream);
    w.write_raw(bytes);
  }

  std::unique_ptr<log_probe> docker_probe(const std::string& name) {
    return file_probe("/unused", [&](log_probe_settings& s) {
      s.source = log_probe_settings::source_kind::docker;
      s.container = name;
      s.docker_root = root.path();
    });
  }
};

TEST_F(log_docker_probe, lines_of_the_named_container_are_counted_exactly_once) {
  create_container(id_of('a'), "api");
  create_container(id_of('b'), "worker");
  test::log_writer api(log_of(id_of('a')));
  test::log_writer worker(log_of(id_of('b')));
  lines_to(api, 2, "listening on :3000");
  auto p = docker_probe("api");
  auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 0);
  EXPECT_EQ(evidence_value(r, "following"), "container api (id aaaaaaaaaaaa)");

  lines_to(api, 6, "ERROR connect ECONNREFUSED 127.0.0.1:6379", "stderr");
  lines_to(worker, 4, "ERROR not ours");
  lines_to(api, 3, "GET /health 200");
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 9);
  EXPECT_EQ(matches(r, "refused"), 6);
  EXPECT_EQ(evidence_value(r, "error #1"), "2024-05-01T10:00:01.123Z api: ERROR connect ECONNREFUSED 127.0.0.1:6379");
  EXPECT_EQ(lines(run(*p)), 9);
}

TEST_F(log_docker_probe, recreated_container_is_followed_into_its_new_log_from_its_start) {
  create_container(id_of('a'), "api");
  auto p = docker_probe("api");
  {
    test::log_writer old(log_of(id_of('a')));
    run(*p);
    lines_to(old, 2, "ERROR the old container's last words");
  }
  std::filesystem::remove_all(dir_of(id_of('a')));  // docker rm before the probe read the last lines
  create_container(id_of('c'), "api");
  test::log_writer fresh(log_of(id_of('c')));
  lines_to(fresh, 5, "ERROR the new container");
  const auto r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 5 + 2) << "the old log was still open: its last lines are read too";
  EXPECT_EQ(evidence_value(r, "following"), "container api (id cccccccccccc)");
}

TEST_F(log_docker_probe, restart_appends_to_the_same_log) {
  create_container(id_of('a'), "api");
  test::log_writer w(log_of(id_of('a')));
  auto p = docker_probe("api");
  run(*p);
  lines_to(w, 2, "ERROR before the restart");
  run(*p);
  create_container(id_of('a'), "api");  // the daemon rewrites config.v2.json on restart
  lines_to(w, 3, "starting again");
  EXPECT_EQ(lines(run(*p)), 5);
}

TEST_F(log_docker_probe, driver_rotation_at_max_size_loses_and_doubles_nothing) {
  create_container(id_of('a'), "api");
  test::log_writer w(log_of(id_of('a')));
  auto p = docker_probe("api");
  run(*p);
  lines_to(w, 4, "ERROR before the rotation");
  std::filesystem::rename(log_of(id_of('a')), log_of(id_of('a')) + ".1");
  w.reopen();
  lines_to(w, 3, "ERROR after the rotation");
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 7) << describe(r);
  EXPECT_EQ(lines(run(*p)), 7);
}

TEST_F(log_docker_probe, output_split_into_pieces_is_one_line) {
  create_container(id_of('a'), "api");
  test::log_writer w(log_of(id_of('a')));
  auto p = docker_probe("api");
  run(*p);
  const std::string piece(16 * 1024, 'x');
  w.write_raw(envelope("ERROR " + piece) + envelope(piece) + envelope("end\n"));
  const auto r = run(*p);
  EXPECT_EQ(lines(r), 1) << describe(r);
  EXPECT_EQ(matches(r, "error"), 1);
}

TEST_F(log_docker_probe, unknown_container_fails_with_missing) {
  create_container(id_of('a'), "api");
  auto p = docker_probe("apii");
  const auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "missing");
  EXPECT_EQ(r.error, "no container named apii under " + root.path() + "/containers");
}

TEST_F(log_docker_probe, container_logging_elsewhere_fails_with_log_driver) {
  create_container(id_of('a'), "api", "journald");
  auto p = docker_probe("api");
  const auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "log_driver");
  EXPECT_EQ(r.error, "container api logs through the journald driver; only json-file logs can be read");
}

TEST_F(log_docker_probe, root_only_docker_directory_fails_with_permission) {
  create_container(id_of('a'), "api");
  ::chmod(root.path().c_str(), 0755);
  ::chmod((root.path() + "/containers").c_str(), 0700);  // as dockerd leaves it
  settle_pool();
  const auto report = test::parse_report(test::run_as_nobody([&]() -> std::string {
    asio::io_context child_io;
    asio::thread_pool child_pool{1};
    probe_context child_ctx{child_io, child_pool};
    log_probe_settings s;
    s.source = log_probe_settings::source_kind::docker;
    s.container = "api";
    s.docker_root = root.path();
    s.patterns = test::runbook_patterns();
    log_probe p(s, child_ctx);
    const auto r = test::run_once(child_io, p);
    child_pool.join();
    return "reason=" + r.reason + "\nerror=" + r.error + "\n";
  }));
  EXPECT_EQ(report.at("reason"), "permission") << report.at("error");
  EXPECT_EQ(report.at("error"),
            "cannot read " + root.path() + "/containers: permission denied (vitalsd runs as uid 65534)");
}

TEST_F(log_docker_probe, a_config_unreadable_for_one_run_fails_it_and_reads_nothing_twice) {
  create_container(id_of('a'), "api");
  test::log_writer w(log_of(id_of('a')));
  auto p = docker_probe("api");
  run(*p);
  lines_to(w, 4, "ERROR before");
  EXPECT_EQ(lines(run(*p)), 4);

  // The container cannot be told apart for a run (its config is a directory
  // now): that is no proof it is gone, so its log is kept as it was.
  const std::string config = dir_of(id_of('a')) + "/config.v2.json";
  std::filesystem::rename(config, config + ".saved");
  std::filesystem::create_directory(config);
  auto r = run(*p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "error") << describe(r);

  std::filesystem::remove(config);
  std::filesystem::rename(config + ".saved", config);
  lines_to(w, 2, "ERROR after");
  r = run(*p);
  ASSERT_TRUE(r.ok) << describe(r);
  EXPECT_EQ(lines(r), 6) << "read on from where it was, not again from the start";
  EXPECT_EQ(matches(r, "error"), 6);
}

}  // namespace
}  // namespace vitals
