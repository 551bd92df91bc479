// What a postgres probe run costs the server: the statistics statement runs
// prepared on the kept connection (the server then neither parses nor plans
// it again), falling back to its text when the session does not keep it, as
// behind a pooler in transaction mode; and pg_database_size(), which stats
// every file of the database, is not read on every run. Against a real
// cluster, and through a proxy that moves the probe to a new server session
// the way such a pooler does.

#include "probes/postgres/postgres_probe.hpp"

#include "probes/core/node_reader.hpp"
#include "probes/core/probe_settings.hpp"
#include "support/postgres_cluster.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vitals {
namespace {

using test::postgres_cluster;

std::unique_ptr<postgres_probe> make_probe(const probe_context& ctx, const std::string& conninfo) {
  YAML::Node node;
  node["conninfo"] = conninfo;
  node["password"] = postgres_cluster::password();
  diagnostics diags("vitals.yaml");
  node_reader reader(node, "probes[0]", diags);
  probe_settings common;
  common.timeout = std::chrono::seconds(5);
  auto build = postgres_probe::create(common, reader);
  reader.finish();
  if (!build || !diags.ok()) throw std::runtime_error("config rejected");
  return std::unique_ptr<postgres_probe>(static_cast<postgres_probe*>(build(ctx).release()));
}

double database_size(const probe_result& r) {
  for (const auto& s : r.samples)
    if (s.name == "vitals_postgres_database_size_bytes") return s.value;
  return 0;
}

// How many times the server logged `text` (log_statement = all).
int logged(const postgres_cluster& cluster, const std::string& text) {
  std::ifstream in(cluster.socket_dir() + "/server.log");
  std::stringstream all;
  all << in.rdbuf();
  const std::string log = all.str();
  int n = 0;
  for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

// Stands between one client and the cluster's unix socket, like a pooler in
// transaction mode: switch_session() hands the client to a fresh server
// session before its next message, replaying the client's startup message
// (trust authentication on the socket) and swallowing the server's answer
// up to ReadyForQuery. The client does not notice; its session state
// (a prepared statement) is gone.
class session_switching_proxy {
public:
  explicit session_switching_proxy(std::string socket_path) : socket_path_(std::move(socket_path)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("proxy: cannot listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~session_switching_proxy() {
    stop_ = true;
    thread_.join();
    for (int fd : {listener_, client_, server_})
      if (fd >= 0) ::close(fd);
  }

  std::uint16_t port() const { return port_; }
  void switch_session() { switch_ = true; }

private:
  int connect_server() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, socket_path_.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("proxy: no server");
    return fd;
  }

  static void read_exactly(int fd, char* out, std::size_t n) {
    for (std::size_t got = 0; got < n;) {
      const auto r = ::read(fd, out + got, n - got);
      if (r <= 0) throw std::runtime_error("proxy: server closed");
      got += static_cast<std::size_t>(r);
    }
  }

  // A new server session, logged in with the client's startup message.
  void new_session() {
    if (server_ >= 0) ::close(server_);
    server_ = connect_server();
    if (::write(server_, startup_.data(), startup_.size()) != static_cast<ssize_t>(startup_.size()))
      throw std::runtime_error("proxy: cannot log in");
    for (char type = 0; type != 'Z';) {  // AuthenticationOk, ParameterStatus…, ReadyForQuery
      char header[5];
      read_exactly(server_, header, 5);
      type = header[0];
      std::uint32_t length = 0;
      std::memcpy(&length, header + 1, 4);
      std::vector<char> body(ntohl(length) - 4);
      read_exactly(server_, body.data(), body.size());
    }
  }

  // Copies what is there from `from` to `to`; false when `from` closed.
  bool pass(int from, int to) {
    char buffer[16384];
    const auto n = ::read(from, buffer, sizeof buffer);
    if (n <= 0) return false;
    if (from == client_ && startup_.empty()) startup_.assign(buffer, buffer + n);  // libpq's first write
    return ::write(to, buffer, static_cast<std::size_t>(n)) == n;
  }

  void serve() {
    pollfd accept_wait{listener_, POLLIN, 0};
    while (!stop_ && ::poll(&accept_wait, 1, 50) == 0) {
    }
    if (stop_) return;
    client_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    server_ = connect_server();
    while (!stop_) {
      pollfd fds[2] = {{client_, POLLIN, 0}, {server_, POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      if (fds[0].revents != 0) {
        if (switch_.exchange(false)) new_session();
        if (!pass(client_, server_)) return;
      }
      if (fds[1].revents != 0 && !pass(server_, client_)) return;
    }
  }

  std::string socket_path_;
  int listener_ = -1;
  int client_ = -1;
  int server_ = -1;
  std::uint16_t port_ = 0;
  std::vector<char> startup_;
  std::atomic<bool> switch_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class postgres_server_cost : public ::testing::Test {
protected:
  postgres_cluster cluster;
  asio::io_context io;
  asio::thread_pool pool{1};
  probe_context ctx{io, pool};
};

TEST_F(postgres_server_cost, database_size_is_not_read_again_on_the_next_run) {
  auto probe = make_probe(ctx, cluster.conninfo());
  const auto first = test::run_once(io, *probe);
  ASSERT_TRUE(first.ok) << first.error;
  const double size = database_size(first);
  ASSERT_GT(size, 1e6);
  cluster.psql("app", "CREATE TABLE grown AS SELECT repeat('x', 1000) AS filler FROM generate_series(1, 4000)");
  ASSERT_GT(std::stod(cluster.psql("app", "SELECT pg_database_size('app')")), size + 2e6);

  const auto second = test::run_once(io, *probe);

  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_EQ(database_size(second), size) << "read on the first run, then at most once a minute";
}

TEST_F(postgres_server_cost, later_runs_execute_the_prepared_statement) {
  cluster.psql("postgres", "ALTER ROLE monitor SET log_statement = 'all'");
  auto probe = make_probe(ctx, cluster.conninfo());

  for (int i = 0; i < 4; ++i) ASSERT_TRUE(test::run_once(io, *probe).ok) << "run " << i;

  // The first run sends the text (with the database size); the next three
  // execute what the second one prepared.
  EXPECT_EQ(logged(cluster, "execute probe_activity"), 3);
  EXPECT_EQ(logged(cluster, "pg_database_size(current_database())"), 1);
}

TEST_F(postgres_server_cost, session_that_loses_the_statement_gets_the_text_in_the_same_run) {
  session_switching_proxy proxy(cluster.socket_dir() + "/.s.PGSQL." + std::to_string(cluster.port()));
  auto probe = make_probe(ctx, "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                                   " dbname=app user=monitor sslmode=disable");
  ASSERT_TRUE(test::run_once(io, *probe).ok);
  ASSERT_TRUE(test::run_once(io, *probe).ok);  // prepares the statement in the first server session

  proxy.switch_session();
  const auto moved = test::run_once(io, *probe);
  const auto after = test::run_once(io, *probe);

  EXPECT_TRUE(moved.ok) << moved.reason << ": " << moved.error;
  EXPECT_TRUE(after.ok) << after.reason << ": " << after.error;
}

}  // namespace
}  // namespace vitals
