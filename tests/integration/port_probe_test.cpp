// The port probe against real sockets and real processes: listeners bound to
// port 0 in this process, listeners owned by forked children, and a child
// that drops root to see what an unprivileged daemon sees.

#include "probes/port/port_list.hpp"
#include "probes/port/port_probe.hpp"
#include "probes/port/socket_owner_index.hpp"
#include "support/as_nobody.hpp"
#include "support/pool_gate.hpp"
#include "support/run_probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vitals {
namespace {

using tcp = asio::ip::tcp;
using test::run_once;
using test::run_with_deadline;

// --- helpers ----------------------------------------------------------------

std::uint16_t listen_port(const tcp::acceptor& a) { return a.local_endpoint().port(); }

// A port nothing listens on: bound to 0, read back, closed again.
std::uint16_t closed_port(asio::io_context& io, const char* address = "127.0.0.1") {
  tcp::acceptor a(io, {asio::ip::make_address(address), 0});
  return listen_port(a);
}

std::string own_user() {
  const passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : std::to_string(::geteuid());
}

// Basename of this binary's argv[0], however the test binary was named.
std::string own_exe_name() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string argv0;
  std::getline(in, argv0, '\0');
  return argv0.substr(argv0.rfind('/') + 1);
}

std::string own_comm() {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

const sample* find_sample(const probe_result& r, const std::string& name, const std::string& port) {
  for (const auto& s : r.samples)
    if (s.name == name && s.labels.count("port") && s.labels.at("port") == port) return &s;
  return nullptr;
}

std::vector<const sample*> samples_named(const probe_result& r, const std::string& name) {
  std::vector<const sample*> found;
  for (const auto& s : r.samples)
    if (s.name == name) found.push_back(&s);
  return found;
}

std::optional<std::string> evidence(const probe_result& r, const std::string& key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return std::nullopt;
}

double value_of(const probe_result& r, const std::string& name, std::uint16_t port) {
  const auto* s = find_sample(r, name, std::to_string(port));
  return s ? s->value : -1;
}

std::size_t open_fd_count() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                std::filesystem::directory_iterator()));
}

// Closes every fd of a freshly forked child except stdio and `keep`, so it
// holds no socket of ours (which would make it a second owner).
using test::close_fds_except;
using test::read_all;
using test::write_all;

// A forked child that renames itself (prctl PR_SET_NAME), listens on
// 127.0.0.1:0, reports the port through a pipe and waits to be killed.
// The destructor kills and reaps it.
class listening_child {
public:
  explicit listening_child(const char* name) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) child_main(name, fds[1]);  // never returns
    ::close(fds[1]);
    const std::string text = read_line(fds[0]);
    ::close(fds[0]);
    port_ = static_cast<std::uint16_t>(std::stoi(text.empty() ? "0" : text));
  }
  ~listening_child() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  listening_child(const listening_child&) = delete;
  listening_child& operator=(const listening_child&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }

private:
  // Only async-signal-safe calls from here on: the child of a process that
  // may have had threads.
  [[noreturn]] static void child_main(const char* name, int report_fd) {
    close_fds_except(report_fd);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    ::prctl(PR_SET_NAME, name);
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 16) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      ::_exit(1);
    char text[16];
    int n = 0;
    unsigned port = ntohs(addr.sin_port);
    char digits[8];
    int d = 0;
    do {
      digits[d++] = static_cast<char>('0' + port % 10);
      port /= 10;
    } while (port > 0);
    while (d > 0) text[n++] = digits[--d];
    text[n++] = '\n';
    if (::write(report_fd, text, static_cast<std::size_t>(n)) != n) ::_exit(1);
    ::close(report_fd);
    for (;;) ::pause();
  }

  static std::string read_line(int fd) {
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

using test::pool_gate;

class port_probe_test : public ::testing::Test {
protected:
  asio::io_context io;
  asio::thread_pool pool{1};  // declared after io: joined before io is destroyed
  probe_context ctx{io, pool};

  port_probe make(std::vector<std::uint16_t> ports, std::string host = "127.0.0.1") {
    port_probe::settings s;
    s.host = std::move(host);
    s.ports = std::move(ports);
    return port_probe(std::move(s), ctx);
  }
  port_probe make(port_probe::settings s) { return port_probe(std::move(s), ctx); }

  socket_owner_index& index() { return asio::use_service<socket_owner_index>(io); }
};

// --- open and closed ----------------------------------------------------------

TEST_F(port_probe_test, open_port_is_ok_and_reports_open) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto p = make({listen_port(listener)});

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(value_of(r, "vitals_port_open", listen_port(listener)), 1);
  EXPECT_EQ(value_of(r, "vitals_port_conflict", listen_port(listener)), 0);
}

TEST_F(port_probe_test, open_local_port_names_this_process_as_owner) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = listen_port(listener);
  auto p = make({port});

  auto r = run_once(io, p);

  const auto owners = samples_named(r, "vitals_port_owner_info");
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0]->value, 1);
  EXPECT_EQ(owners[0]->labels.at("port"), std::to_string(port));
  EXPECT_EQ(owners[0]->labels.at("pid"), std::to_string(::getpid()));
  EXPECT_EQ(owners[0]->labels.at("process"), own_comm());
  EXPECT_EQ(owners[0]->labels.at("user"), own_user());
  EXPECT_EQ(evidence(r, "owner"), own_comm() + " (pid " + std::to_string(::getpid()) + ", user " + own_user() + ")");
  EXPECT_EQ(evidence(r, "listen"), "127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(evidence(r, "cmdline").has_value());
  EXPECT_NE(evidence(r, "cmdline")->find(own_exe_name()), std::string::npos);
}

TEST_F(port_probe_test, refused_port_fails_with_reason_refused) {
  const auto port = closed_port(io);
  auto p = make({port});

  auto r = run_once(io, p);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "refused");
  EXPECT_EQ(r.error, "port " + std::to_string(port) + " closed (connection refused)");
  EXPECT_EQ(value_of(r, "vitals_port_open", port), 0);
  EXPECT_TRUE(samples_named(r, "vitals_port_owner_info").empty());
}

TEST_F(port_probe_test, closed_port_is_not_looked_up_in_proc) {
  auto p = make({closed_port(io)});
  run_once(io, p);
  EXPECT_EQ(index().scans(), 0u);
}

TEST_F(port_probe_test, target_names_host_and_ports) {
  EXPECT_EQ(make({3001}).target(), "127.0.0.1:3001");
  EXPECT_EQ(make({3005, 3006, 3007, 3008, 3009, 3010}).target(), "127.0.0.1:3005-3010");
  EXPECT_EQ(make({3001, 3005, 3006}, "::1").target(), "[::1]:3001,3005-3006");
  EXPECT_EQ(make({3001}, "[::1]").target(), "[::1]:3001");
  EXPECT_EQ(make({3001}, "localhost").target(), "localhost:3001");
}

// --- ranges -------------------------------------------------------------------

TEST_F(port_probe_test, range_with_closed_ports_fails_naming_exactly_those) {
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::acceptor b(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::vector<std::uint16_t> closed{closed_port(io), closed_port(io)};
  std::sort(closed.begin(), closed.end());
  if (closed[0] == closed[1] || closed[0] == listen_port(a) || closed[1] == listen_port(b))
    GTEST_SKIP() << "the kernel handed out a port twice; nothing to learn from this run";
  auto p = make({listen_port(a), listen_port(b), closed[0], closed[1]});

  auto r = run_once(io, p);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "refused");
  EXPECT_EQ(r.error, "ports " + format_port_list_readable(closed) + " closed (connection refused)");
  EXPECT_EQ(value_of(r, "vitals_port_open", listen_port(a)), 1);
  EXPECT_EQ(value_of(r, "vitals_port_open", listen_port(b)), 1);
  EXPECT_EQ(value_of(r, "vitals_port_open", closed[0]), 0);
  EXPECT_EQ(value_of(r, "vitals_port_open", closed[1]), 0);
  // Evidence keys name the port when a probe has several.
  EXPECT_TRUE(evidence(r, "port " + std::to_string(listen_port(a)) + " owner").has_value());
  EXPECT_EQ(samples_named(r, "vitals_port_owner_info").size(), 2u);
  EXPECT_EQ(index().scans(), 1u);
}

TEST_F(port_probe_test, range_of_open_ports_is_ok) {
  std::vector<std::unique_ptr<tcp::acceptor>> listeners;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 5; ++i) {
    listeners.push_back(std::make_unique<tcp::acceptor>(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}));
    ports.push_back(listen_port(*listeners.back()));
  }
  auto p = make(ports);

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(samples_named(r, "vitals_port_open").size(), 5u);
  for (auto port : ports) EXPECT_EQ(value_of(r, "vitals_port_open", port), 1);
}

TEST_F(port_probe_test, contiguous_range_with_a_gap_reports_the_gap) {
  // Find three consecutive free ports, listen on the outer two.
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::uint16_t base = closed_port(io);
    if (base > 65533) continue;
    boost::system::error_code ec1, ec2;
    tcp::acceptor first(io), last(io);
    first.open(tcp::v4());
    first.bind({asio::ip::make_address("127.0.0.1"), base}, ec1);
    last.open(tcp::v4());
    last.bind({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(base + 2)}, ec2);
    if (ec1 || ec2) continue;
    // base+1 must be free too: bind it briefly to make sure, then let it go.
    {
      tcp::acceptor middle(io);
      boost::system::error_code ec3;
      middle.open(tcp::v4());
      middle.bind({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(base + 1)}, ec3);
      if (ec3) continue;
    }
    first.listen();
    last.listen();
    auto p = make(parse_port_list(std::to_string(base) + "-" + std::to_string(base + 2)).ports);
    EXPECT_EQ(p.target(), "127.0.0.1:" + std::to_string(base) + "-" + std::to_string(base + 2));

    auto r = run_once(io, p);

    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "port " + std::to_string(base + 1) + " closed (connection refused)");
    return;
  }
  GTEST_SKIP() << "found no three consecutive free ports";
}

// --- owner checks against another real process ------------------------------

TEST_F(port_probe_test, foreign_owner_with_expect_process_fails_with_reason_conflict) {
  listening_child child("fake-python");
  ASSERT_NE(child.port(), 0) << "child failed to listen";
  port_probe::settings s;
  s.ports = {child.port()};
  s.expect_process = "node";
  auto p = make(s);

  auto r = run_once(io, p);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "conflict");
  EXPECT_EQ(r.error, "port " + std::to_string(child.port()) + " owned by fake-python (pid " +
                         std::to_string(child.pid()) + "), expected node");
  EXPECT_EQ(value_of(r, "vitals_port_conflict", child.port()), 1);
  const auto owners = samples_named(r, "vitals_port_owner_info");
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0]->labels.at("pid"), std::to_string(child.pid()));
  EXPECT_EQ(owners[0]->labels.at("process"), "fake-python");
  EXPECT_EQ(evidence(r, "owner"), "fake-python (pid " + std::to_string(child.pid()) + ", user " + own_user() + ")");
}

TEST_F(port_probe_test, owner_matching_expect_process_by_comm_is_ok) {
  listening_child child("fake-python");
  port_probe::settings s;
  s.ports = {child.port()};
  s.expect_process = "fake-python";
  auto p = make(s);

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(value_of(r, "vitals_port_conflict", child.port()), 0);
}

TEST_F(port_probe_test, owner_matching_expect_process_by_argv0_basename_is_ok) {
  // The child keeps our argv: comm says fake-python, argv[0] says the test binary.
  listening_child child("fake-python");
  port_probe::settings s;
  s.ports = {child.port()};
  s.expect_process = own_exe_name();
  ASSERT_NE(own_exe_name(), "fake-python");
  auto p = make(s);

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
}

// --- expect: closed ---------------------------------------------------------------

TEST_F(port_probe_test, expect_closed_with_a_listener_fails_with_reason_in_use) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = listen_port(listener);
  port_probe::settings s;
  s.ports = {port};
  s.expect_open = false;
  auto p = make(s);

  auto r = run_once(io, p);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "in_use");
  EXPECT_EQ(r.error,
            "port " + std::to_string(port) + " is in use by " + own_comm() + " (pid " + std::to_string(::getpid()) + ")");
  EXPECT_EQ(value_of(r, "vitals_port_open", port), 1);
  EXPECT_EQ(value_of(r, "vitals_port_conflict", port), 1);
  EXPECT_TRUE(evidence(r, "owner").has_value());
}

TEST_F(port_probe_test, expect_closed_without_a_listener_is_ok) {
  port_probe::settings s;
  s.ports = {closed_port(io)};
  s.expect_open = false;
  auto p = make(s);

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(value_of(r, "vitals_port_open", s.ports[0]), 0);
  EXPECT_EQ(value_of(r, "vitals_port_conflict", s.ports[0]), 0);
}

// --- IPv6 and names -------------------------------------------------------------

TEST_F(port_probe_test, ipv6_loopback_listener_is_found_with_its_owner) {
  tcp::acceptor listener(io);
  boost::system::error_code ec;
  listener.open(tcp::v6(), ec);
  if (!ec) listener.bind({asio::ip::make_address("::1"), 0}, ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  listener.listen();
  const auto port = listen_port(listener);
  auto p = make({port}, "::1");

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(value_of(r, "vitals_port_open", port), 1);
  EXPECT_EQ(evidence(r, "listen"), "[::1]:" + std::to_string(port));
  const auto owners = samples_named(r, "vitals_port_owner_info");
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0]->labels.at("pid"), std::to_string(::getpid()));
}

TEST_F(port_probe_test, bracketed_ipv6_host_connects) {
  tcp::acceptor listener(io);
  boost::system::error_code ec;
  listener.open(tcp::v6(), ec);
  if (!ec) listener.bind({asio::ip::make_address("::1"), 0}, ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  listener.listen();
  auto p = make({listen_port(listener)}, "[::1]");

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
}

TEST_F(port_probe_test, host_name_is_resolved_and_reported) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto p = make({listen_port(listener)}, "localhost");

  auto r = run_once(io, p);

  EXPECT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(evidence(r, "resolved").has_value());
  EXPECT_NE(evidence(r, "resolved")->find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(samples_named(r, "vitals_port_owner_info").size(), 1u);  // localhost is local
}

TEST_F(port_probe_test, unresolvable_host_fails_with_reason_resolve) {
  // .invalid never resolves (RFC 6761).
  auto p = make({3001}, "no-such-host.invalid");

  auto r = run_once(io, p);

  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "resolve");
  EXPECT_EQ(r.error.rfind("cannot resolve no-such-host.invalid: ", 0), 0u) << r.error;
  EXPECT_EQ(value_of(r, "vitals_port_open", 3001), 0);
}

// --- one /proc scan for many probes -------------------------------------------

TEST_F(port_probe_test, two_hundred_concurrent_probes_share_one_proc_scan) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = listen_port(listener);
  std::vector<std::unique_ptr<port_probe>> probes;
  for (int i = 0; i < 200; ++i) {
    port_probe::settings s;
    s.ports = {port};
    probes.push_back(std::make_unique<port_probe>(s, ctx));
  }
  std::vector<probe_result> results;
  int failed = 0;

  {
    // The scan cannot finish until every probe is waiting for it.
    pool_gate gate(pool);
    for (auto& p : probes)
      asio::co_spawn(io, p->run(), [&](std::exception_ptr e, probe_result r) {
        if (e) ++failed;
        else results.push_back(std::move(r));
      });
    while (index().waiting() + results.size() + static_cast<std::size_t>(failed) < probes.size()) io.run_one();
    EXPECT_EQ(index().scans(), 1u);
  }
  while (results.size() + static_cast<std::size_t>(failed) < probes.size()) io.run_one();

  EXPECT_EQ(failed, 0);
  EXPECT_EQ(index().scans(), 1u);
  for (const auto& r : results) {
    EXPECT_TRUE(r.ok) << r.error;
    const auto owners = samples_named(r, "vitals_port_owner_info");
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0]->labels.at("pid"), std::to_string(::getpid()));
  }
}

TEST_F(port_probe_test, probes_within_max_age_reuse_the_snapshot) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto p = make({listen_port(listener)});
  run_once(io, p);
  run_once(io, p);
  EXPECT_EQ(index().scans(), 1u);
}

TEST_F(port_probe_test, listener_newer_than_the_cached_snapshot_is_found_by_a_fresh_scan) {
  tcp::acceptor first(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto p1 = make({listen_port(first)});
  run_once(io, p1);
  ASSERT_EQ(index().scans(), 1u);

  tcp::acceptor second(io, {asio::ip::make_address("127.0.0.1"), 0});  // not in that snapshot
  auto p2 = make({listen_port(second)});
  auto r = run_once(io, p2);

  EXPECT_EQ(index().scans(), 2u);
  const auto owners = samples_named(r, "vitals_port_owner_info");
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0]->labels.at("pid"), std::to_string(::getpid()));
}

// --- cancellation -----------------------------------------------------------------

TEST_F(port_probe_test, cancellation_while_waiting_for_the_scan_stops_the_run) {
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto p = make({listen_port(listener)});
  pool_gate gate(pool);  // the scan cannot finish before the deadline

  auto r = run_with_deadline(io, p, std::chrono::milliseconds(50));

  EXPECT_FALSE(r.has_value()) << "the deadline should have won";
  EXPECT_EQ(index().waiting(), 0u);
  gate.release();
  // The abandoned scan still completes and serves the next run.
  auto next = run_once(io, p);
  EXPECT_TRUE(next.ok) << next.error;
  EXPECT_EQ(samples_named(next, "vitals_port_owner_info").size(), 1u);
  EXPECT_EQ(index().scans(), 1u);
}

// Linux drops a SYN when the listener's accept queue is full, so a connect
// to it hangs (retransmitting) instead of failing: a cheap unresponsive host.
int full_listener(std::uint16_t& port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 0) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return -1;
  port = ntohs(addr.sin_port);
  return s;
}

// Queue depth of a listening socket (tcpi_unacked is sk_ack_backlog there).
unsigned accept_queue_length(int listener) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(listener, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_unacked;
}

// Fills the accept queue of a full_listener (backlog 0 admits one
// connection) with a connection that is not accepted: further SYNs are
// dropped. Returns false when the queue did not fill within 5 s.
bool fill_accept_queue(int listener, std::uint16_t port, tcp::socket& filler) {
  filler.connect({asio::ip::make_address("127.0.0.1"), port});
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (accept_queue_length(listener) < 1 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  return accept_queue_length(listener) >= 1;
}

TEST_F(port_probe_test, cancellation_during_connect_stops_the_run_and_closes_the_socket) {
  std::uint16_t port = 0;
  const int listener = full_listener(port);
  ASSERT_GE(listener, 0);
  tcp::socket filler(io);
  ASSERT_TRUE(fill_accept_queue(listener, port, filler));
  const auto fds_before = open_fd_count();
  auto p = make({port});

  const auto started = std::chrono::steady_clock::now();
  auto r = run_with_deadline(io, p, std::chrono::milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - started;

  EXPECT_FALSE(r.has_value()) << "connect should hang until the deadline, got: " << (r ? r->error : "");
  EXPECT_LT(took, std::chrono::seconds(1)) << "run() must stop when cancelled, not when the SYN retry ends";
  EXPECT_EQ(open_fd_count(), fds_before) << "the probe's socket must be closed on cancellation";
  ::close(listener);
}

TEST_F(port_probe_test, a_connect_still_in_flight_is_awaited_until_the_port_accepts) {
  std::uint16_t port = 0;
  const int listener = full_listener(port);
  ASSERT_GE(listener, 0);
  tcp::socket filler(io);
  ASSERT_TRUE(fill_accept_queue(listener, port, filler));
  // The probe's SYN is dropped while the queue is full, so its connect is
  // still in flight after connect() returns. Once the run waits, room is
  // made; the kernel sends the SYN again about a second later.
  asio::steady_timer make_room(io, std::chrono::milliseconds(100));
  make_room.async_wait([listener](const boost::system::error_code&) {
    if (const int accepted = ::accept(listener, nullptr, nullptr); accepted >= 0) ::close(accepted);
  });
  auto p = make({port});

  auto r = run_with_deadline(io, p, std::chrono::seconds(5));

  ASSERT_TRUE(r.has_value()) << "the connect should complete once the queue has room";
  EXPECT_TRUE(r->ok) << r->error;
  ::close(listener);
}

// --- permission denied: what an unprivileged daemon sees -------------------------

using test::parse_report;
using test::run_as_nobody;

// No fixture: the child forks from a process without a running thread pool.
TEST(port_probe_permission, unprivileged_scan_hides_roots_listener_and_flags_permission_denied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534 (CI runs as root)";
  asio::io_context io;
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = listen_port(listener);

  const auto report = parse_report(run_as_nobody([port]() -> std::string {
    const auto snap = socket_owner_index::scan("/proc");
    const auto found = snap.find(port);
    std::string out;
    out += "found=" + std::to_string(found.size()) + "\n";
    out += "hidden=" + std::string(!found.empty() && !found[0]->owner ? "1" : "0") + "\n";
    out += "denied=" + std::string(snap.permission_denied ? "1" : "0") + "\n";
    out += "socket_uid=" + (found.empty() ? std::string("?") : std::to_string(found[0]->socket_uid)) + "\n";
    return out;
  }));

  ASSERT_EQ(report.count("error"), 0u) << report.at("error");
  EXPECT_EQ(report.at("found"), "1");  // /proc/net/tcp is world-readable
  EXPECT_EQ(report.at("hidden"), "1");
  EXPECT_EQ(report.at("denied"), "1");
  EXPECT_EQ(report.at("socket_uid"), "0");
}

TEST(port_probe_permission, unprivileged_probe_still_reports_open_with_unknown_owner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534 (CI runs as root)";
  asio::io_context io;
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = listen_port(listener);

  const auto report = parse_report(run_as_nobody([port]() -> std::string {
    asio::io_context child_io;
    asio::thread_pool child_pool{1};
    probe_context child_ctx{child_io, child_pool};
    port_probe::settings s;
    s.ports = {port};
    port_probe p(s, child_ctx);
    const auto r = run_once(child_io, p);
    std::string out;
    out += "ok=" + std::string(r.ok ? "1" : "0") + "\n";
    out += "error_text=" + r.error + "\n";
    out += "open=" + std::to_string(static_cast<int>(value_of(r, "vitals_port_open", port))) + "\n";
    out += "owner=" + evidence(r, "owner").value_or("(none)") + "\n";
    out += "socket_user=" + evidence(r, "socket_user").value_or("(none)") + "\n";
    out += "owner_infos=" + std::to_string(samples_named(r, "vitals_port_owner_info").size()) + "\n";
    return out;
  }));

  ASSERT_EQ(report.count("error"), 0u) << report.at("error");
  EXPECT_EQ(report.at("ok"), "1") << report.at("error_text");
  EXPECT_EQ(report.at("open"), "1");
  EXPECT_EQ(report.at("owner"), "unknown (permission denied)");
  EXPECT_EQ(report.at("socket_user"), "root (uid 0)");
  EXPECT_EQ(report.at("owner_infos"), "0");
}

TEST(port_probe_permission, unprivileged_probe_with_expect_process_fails_with_owner_unknown) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534 (CI runs as root)";
  asio::io_context io;
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = listen_port(listener);

  const auto report = parse_report(run_as_nobody([port]() -> std::string {
    asio::io_context child_io;
    asio::thread_pool child_pool{1};
    probe_context child_ctx{child_io, child_pool};
    port_probe::settings s;
    s.ports = {port};
    s.expect_process = "node";
    port_probe p(s, child_ctx);
    const auto r = run_once(child_io, p);
    return "ok=" + std::string(r.ok ? "1" : "0") + "\nreason=" + r.reason + "\nerror_text=" + r.error + "\n";
  }));

  ASSERT_EQ(report.count("error"), 0u) << report.at("error");
  EXPECT_EQ(report.at("ok"), "0");
  EXPECT_EQ(report.at("reason"), "owner_unknown");
  EXPECT_NE(report.at("error_text").find("permission denied"), std::string::npos) << report.at("error_text");
}

}  // namespace
}  // namespace vitals
